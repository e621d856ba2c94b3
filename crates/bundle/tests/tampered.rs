//! A corpus of bundles tampered with in every way the contract names; each must fail with its
//! own error, whose message names the tensor or metadata key, and never panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use leadladder_bundle::{Bundle, Error, StoreDtype, keys};
use safetensors::Dtype;

/// Loads `bytes`, expects an error matching `pred` whose message contains `needle`.
fn rejects(case: &str, bytes: &[u8], pred: fn(&Error) -> bool, needle: &str) {
    match Bundle::from_bytes(bytes) {
        Ok(_) => panic!("{case}: tampered bundle loaded"),
        Err(e) => {
            let msg = e.to_string();
            assert!(pred(&e), "{case}: wrong error kind: {e:?}");
            assert!(
                msg.contains(needle),
                "{case}: message {msg:?} does not name {needle:?}"
            );
        }
    }
}

fn edit(dtype: StoreDtype, f: impl FnOnce(&mut Parts)) -> Vec<u8> {
    let mut p = split(&good_bundle(dtype));
    f(&mut p);
    join(&p)
}

/// Edits the stored config JSON.
fn with_config(p: &mut Parts, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_str(&p.meta["config"]).unwrap();
    f(&mut v);
    p.meta.insert("config".into(), v.to_string());
}

fn edit_config(dtype: StoreDtype, f: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    edit(dtype, |p| with_config(p, f))
}

/// A container with a hand-written header.
fn raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

const Q: &str = "model.layers.0.self_attn.q_proj.weight";

#[test]
fn good_bundles_load() {
    for d in [StoreDtype::F32, StoreDtype::F16, StoreDtype::Int8] {
        Bundle::from_bytes(&good_bundle(d)).unwrap();
    }
}

#[test]
fn truncated_at_many_offsets() {
    let good = good_bundle(StoreDtype::Int8);
    let header_end = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    for cut in [
        0,
        1,
        7,
        8,
        9,
        100,
        header_end - 1,
        header_end,
        header_end + 1,
        header_end + 333,
        good.len() - 4,
        good.len() - 1,
    ] {
        rejects(
            &format!("cut at {cut}"),
            &good[..cut],
            |e| matches!(e, Error::Truncated(_)),
            "truncated",
        );
    }
    // Cut inside the data: the message names the tensor that no longer fits.
    let last_f32 = &good[..good.len() - 1];
    let msg = Bundle::from_bytes(last_f32).unwrap_err().to_string();
    assert!(msg.contains("tensor `"), "{msg}");
}

#[test]
fn wrong_format_tag() {
    let b = edit(StoreDtype::F32, |p| {
        p.meta.insert("format".into(), "leadladder-bundle/9".into());
    });
    rejects(
        "format",
        &b,
        |e| matches!(e, Error::UnknownFormat { .. }),
        "`format`",
    );
    // A plain safetensors file (no metadata at all) is not a bundle.
    let b = edit(StoreDtype::F32, |p| p.meta.clear());
    rejects(
        "no metadata",
        &b,
        |e| matches!(e, Error::MissingMetadata { .. }),
        "`format`",
    );
}

#[test]
fn missing_tensor() {
    let name = "model.layers.1.mlp.up_proj.weight";
    let b = edit(StoreDtype::F16, |p| p.remove(name));
    rejects(
        "missing",
        &b,
        |e| matches!(e, Error::MissingTensor { .. }),
        name,
    );
    let b = edit(StoreDtype::F32, |p| p.remove("score.rank.bias"));
    rejects(
        "missing head",
        &b,
        |e| matches!(e, Error::MissingTensor { .. }),
        "score.rank.bias",
    );
}

#[test]
fn extra_tensor() {
    let name = "model.layers.2.mlp.up_proj.weight";
    let b = edit(StoreDtype::F32, |p| {
        let t = p.get_mut("model.layers.1.mlp.up_proj.weight").clone();
        p.tensors.push((name.into(), t));
    });
    rejects(
        "extra",
        &b,
        |e| matches!(e, Error::UnusedTensor { .. }),
        name,
    );
    // Tied embeddings: an lm_head is unused.
    let tied = bundle_config(true);
    let good =
        leadladder_bundle::write_bundle(&weights(&tied.model, 2), &meta(&tied), StoreDtype::F32)
            .unwrap();
    let mut p = split(&good);
    let emb = p.get_mut("model.embed_tokens.weight").clone();
    p.tensors.push(("lm_head.weight".into(), emb));
    rejects(
        "lm_head when tied",
        &join(&p),
        |e| matches!(e, Error::UnusedTensor { .. }),
        "lm_head.weight",
    );
    // A `.scale` in an f32 bundle is unused.
    let b = edit(StoreDtype::F32, |p| {
        p.tensors.push((
            format!("{Q}.scale"),
            Raw {
                dtype: Dtype::F32,
                shape: vec![16],
                data: vec![0; 64],
            },
        ));
    });
    rejects(
        "scale in f32",
        &b,
        |e| matches!(e, Error::UnusedTensor { .. }),
        &format!("{Q}.scale"),
    );
}

#[test]
fn wrong_shape() {
    let b = edit(StoreDtype::F32, |p| p.get_mut(Q).shape = vec![8, 32]);
    rejects("shape", &b, |e| matches!(e, Error::Shape { .. }), Q);
    let b = edit(StoreDtype::Int8, |p| {
        p.get_mut(&format!("{Q}.scale")).shape = vec![4, 4]
    });
    rejects(
        "scale shape",
        &b,
        |e| matches!(e, Error::Shape { .. }),
        &format!("{Q}.scale"),
    );
    let b = edit(StoreDtype::F32, |p| {
        p.get_mut("score.point.bias").shape = vec![1, 1]
    });
    rejects(
        "bias shape",
        &b,
        |e| matches!(e, Error::Shape { .. }),
        "score.point.bias",
    );
}

#[test]
fn bad_config() {
    let b = edit(StoreDtype::F32, |p| {
        p.meta
            .insert("config".into(), "{\"architecture\": \"qwen2\",".into());
    });
    rejects(
        "config not JSON",
        &b,
        |e| matches!(e, Error::BadMetadata { .. }),
        "`config`",
    );
    for (field, value, needle) in [
        ("architecture", serde_json::json!("llama"), "architecture"),
        ("hidden_size", serde_json::json!(0), "hidden_size"),
        (
            "num_attention_heads",
            serde_json::json!(5),
            "num_attention_heads",
        ),
        (
            "num_hidden_layers",
            serde_json::json!(1_000_000_000u64),
            "num_hidden_layers",
        ),
        ("heads", serde_json::json!(["rank"]), "heads"),
        ("max_tokens", serde_json::json!(100_000), "max_tokens"),
        ("dtype", serde_json::json!("bf16"), "dtype"),
        ("rms_norm_eps", serde_json::json!(-1.0), "rms_norm_eps"),
        ("eos_token_id", serde_json::json!(1), "eos_token_id"),
        ("pad_token_id", serde_json::json!(10_000), "pad_token_id"),
        // Shapes and settings the scorers cannot run: refused at load, naming the field.
        (
            "num_attention_heads",
            serde_json::json!(16),
            "odd head dimension",
        ),
        ("head_dim", serde_json::json!(8), "head_dim"),
        ("hidden_act", serde_json::json!("gelu"), "hidden_act"),
        ("model_type", serde_json::json!("llama"), "model_type"),
        (
            "use_sliding_window",
            serde_json::json!(true),
            "use_sliding_window",
        ),
        (
            "rope_scaling",
            serde_json::json!({"rope_type": "yarn", "factor": 4.0}),
            "rope_scaling",
        ),
    ] {
        let b = edit_config(StoreDtype::F32, |v| {
            v[field] = value;
        });
        rejects(
            field,
            &b,
            |e| matches!(e, Error::BadMetadata { key, .. } if key == "config"),
            needle,
        );
    }
    let b = edit_config(StoreDtype::F32, |v| {
        v.as_object_mut().unwrap().remove("vocab_size");
    });
    rejects(
        "config lacks vocab_size",
        &b,
        |e| matches!(e, Error::BadMetadata { .. }),
        "vocab_size",
    );
    // A config that says int8 over f16 weights: the tensor's dtype is wrong.
    let b = edit_config(StoreDtype::F16, |v| v["dtype"] = serde_json::json!("int8"));
    rejects(
        "dtype mismatch",
        &b,
        |e| matches!(e, Error::Dtype { .. }),
        "model.embed_tokens.weight",
    );
}

#[test]
fn missing_metadata_keys() {
    for key in keys::REQUIRED {
        let b = edit(StoreDtype::F32, |p| {
            p.meta.remove(key);
        });
        rejects(
            key,
            &b,
            |e| matches!(e, Error::MissingMetadata { .. }),
            &format!("`{key}`"),
        );
    }
}

#[test]
fn bad_metadata_values() {
    for (key, value) in [
        ("tokenizer", "{not a tokenizer"),
        (
            "tokenizer",
            "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
        ),
        ("ladder", "{\"name\": \"x\"}"),
        ("prompt_version", "leadladder-prompt/0"),
        ("metrics", "{\"auc\": "),
        ("provenance", "{\"seed\": 1}"),
    ] {
        let b = edit(StoreDtype::F32, |p| {
            p.meta.insert(key.into(), value.into());
        });
        rejects(
            key,
            &b,
            |e| matches!(e, Error::BadMetadata { .. }),
            &format!("`{key}`"),
        );
    }
}

#[test]
fn non_finite_weights_and_scales() {
    let b = edit(StoreDtype::F32, |p| {
        p.get_mut("model.norm.weight").data[12..16].copy_from_slice(&f32::NAN.to_le_bytes());
    });
    rejects(
        "NaN f32",
        &b,
        |e| matches!(e, Error::NonFinite { index: 3, .. }),
        "model.norm.weight",
    );
    let b = edit(StoreDtype::F16, |p| {
        p.get_mut(Q).data[0..2].copy_from_slice(&half::f16::INFINITY.to_le_bytes());
    });
    rejects(
        "inf f16",
        &b,
        |e| matches!(e, Error::NonFinite { index: 0, .. }),
        Q,
    );
    let scale = format!("{Q}.scale");
    let b = edit(StoreDtype::Int8, |p| {
        p.get_mut(&scale).data[4..8].copy_from_slice(&f32::INFINITY.to_le_bytes());
    });
    rejects(
        "inf scale",
        &b,
        |e| matches!(e, Error::NonFinite { index: 1, .. }),
        &scale,
    );
    // Finite, but 127 × scale is not: the weights would dequantize to infinity.
    let b = edit(StoreDtype::Int8, |p| {
        p.get_mut(&scale).data[8..12].copy_from_slice(&3.0e38f32.to_le_bytes());
    });
    rejects(
        "overflowing scale",
        &b,
        |e| matches!(e, Error::BadTensor { reason, .. } if reason.contains("row 2")),
        &scale,
    );
    let b = edit(StoreDtype::Int8, |p| {
        p.get_mut(&scale).data[0..4].copy_from_slice(&(-0.5f32).to_le_bytes());
    });
    rejects(
        "negative scale",
        &b,
        |e| matches!(e, Error::BadTensor { .. }),
        &scale,
    );
    let b = edit(StoreDtype::Int8, |p| {
        p.get_mut("score.rank.bias")
            .data
            .copy_from_slice(&f32::NEG_INFINITY.to_le_bytes());
    });
    rejects(
        "-inf bias",
        &b,
        |e| matches!(e, Error::NonFinite { .. }),
        "score.rank.bias",
    );
}

#[test]
fn int8_without_scale() {
    let scale = "model.layers.1.mlp.down_proj.weight.scale";
    let b = edit(StoreDtype::Int8, |p| p.remove(scale));
    rejects(
        "no scale",
        &b,
        |e| matches!(e, Error::MissingTensor { .. }),
        scale,
    );
    let b = edit(StoreDtype::Int8, |p| {
        let t = p.get_mut(&format!("{Q}.scale"));
        t.dtype = Dtype::F16;
        t.data.truncate(32);
    });
    rejects(
        "f16 scale",
        &b,
        |e| matches!(e, Error::Dtype { .. }),
        &format!("{Q}.scale"),
    );
}

#[test]
fn tokenizer_bigger_than_vocab() {
    let b = edit_config(StoreDtype::F32, |v| {
        v["vocab_size"] = serde_json::json!(280)
    });
    rejects(
        "vocab",
        &b,
        |e| {
            matches!(
                e,
                Error::TokenizerVocab {
                    tokenizer: 300,
                    config: 280
                }
            )
        },
        "`tokenizer`",
    );
}

#[test]
fn wrong_dtypes() {
    let b = edit(StoreDtype::F32, |p| {
        p.get_mut("model.norm.weight").dtype = Dtype::I32
    });
    rejects(
        "I32 norm",
        &b,
        |e| matches!(e, Error::Dtype { .. }),
        "model.norm.weight",
    );
    let b = edit(StoreDtype::F32, |p| p.get_mut(Q).dtype = Dtype::U32);
    rejects("U32 weight", &b, |e| matches!(e, Error::Dtype { .. }), Q);
    let b = edit(StoreDtype::Int8, |p| p.get_mut(Q).dtype = Dtype::U8);
    rejects("U8 weight", &b, |e| matches!(e, Error::Dtype { .. }), Q);
    // 1-D tensors stay F32 in every variant.
    let b = edit(StoreDtype::F16, |p| {
        let t = p.get_mut("model.norm.weight");
        t.dtype = Dtype::F16;
        t.data.truncate(32);
    });
    rejects(
        "F16 norm",
        &b,
        |e| matches!(e, Error::Dtype { .. }),
        "model.norm.weight",
    );
    // A dtype string no reader knows.
    let b = raw(
        r#"{"w":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}"#,
        &[0],
    );
    rejects("F4", &b, |e| matches!(e, Error::Dtype { .. }), "`w`");
}

#[test]
fn malformed_containers() {
    let good = good_bundle(StoreDtype::F32);
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"junk");
    rejects(
        "trailing",
        &trailing,
        |e| matches!(e, Error::Container(_)),
        "after the last tensor",
    );
    let mut huge = good.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    rejects(
        "header length",
        &huge,
        |e| matches!(e, Error::Container(_)),
        "header length",
    );
    rejects(
        "not json",
        &raw("[1, 2]   ", &[]),
        |e| matches!(e, Error::Container(_)),
        "JSON",
    );
    let mut bad_utf8 = 8u64.to_le_bytes().to_vec();
    bad_utf8.extend_from_slice(&[b'{', 0xff, 0xfe, b'}', b' ', b' ', b' ', b' ']);
    rejects(
        "bad utf8",
        &bad_utf8,
        |e| matches!(e, Error::Container(_)),
        "UTF-8",
    );
    let bad_entry = raw(r#"{"w":{"dtype":"F32","shape":[2]}}"#, &[]);
    rejects(
        "no offsets",
        &bad_entry,
        |e| matches!(e, Error::Container(_)),
        "`w`",
    );
    let gap = raw(
        r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#,
        &[0, 0],
    );
    rejects("gap", &gap, |e| matches!(e, Error::Container(_)), "`a`");
    let overlap = raw(
        r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}"#,
        &[0, 0, 0],
    );
    rejects(
        "overlap",
        &overlap,
        |e| matches!(e, Error::Container(_)),
        "`b`",
    );
    let lie = raw(
        r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
        &[0; 4],
    );
    rejects(
        "size lie",
        &lie,
        |e| matches!(e, Error::Container(_)),
        "`a`",
    );
    // Offsets summing to u64::MAX - 8: safetensors 0.8.0's reader panics on this header with
    // overflow checks on (`buffer_end + N_LEN + n` in `read_metadata`); here a clean error.
    let chunk: u64 = (1 << 61) - 1;
    let mut entries = Vec::new();
    let mut start = 0u64;
    for i in 0..8u64 {
        let size = if i < 7 { chunk } else { u64::MAX - 8 - start };
        entries.push(format!(
            r#""t{i}":{{"dtype":"U8","shape":[{size}],"data_offsets":[{start},{}]}}"#,
            start + size
        ));
        start += size;
    }
    let header = format!("{{{}}}", entries.join(","));
    rejects(
        "offsets near u64::MAX",
        &raw(&header, &[]),
        |e| matches!(e, Error::Truncated(_)),
        "`t0`",
    );
    let overflow = raw(
        r#"{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#,
        &[0; 8],
    );
    rejects(
        "shape overflow",
        &overflow,
        |e| matches!(e, Error::Container(_)),
        "`a`",
    );
}

/// The same container as [`join`], byte-deterministic: metadata keys and tensors in name order.
fn canonical_join(p: &Parts) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let meta: serde_json::Map<String, serde_json::Value> = p
        .meta
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    header.insert("__metadata__".into(), serde_json::Value::Object(meta));
    let mut tensors: Vec<&(String, Raw)> = p.tensors.iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let mut data = Vec::new();
    for (name, t) in tensors {
        let start = data.len();
        data.extend_from_slice(&t.data);
        header.insert(
            name.clone(),
            serde_json::json!({
                "dtype": format!("{:?}", t.dtype),
                "shape": t.shape,
                "data_offsets": [start, data.len()],
            }),
        );
    }
    let mut text = serde_json::Value::Object(header).to_string();
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    raw(&text, &data)
}

fn canonical_edit(dtype: StoreDtype, f: impl FnOnce(&mut Parts)) -> Vec<u8> {
    let mut p = split(&good_bundle(dtype));
    f(&mut p);
    canonical_join(&p)
}

/// What a tampered file must fail with: the error kind and a text its message contains.
type Expect = (fn(&Error) -> bool, String);

/// One committed file of `tests/fixtures/tampered/`: how it is made and how it must fail.
struct Case {
    file: &'static str,
    bytes: Vec<u8>,
    /// `None`: the file is a valid bundle (a seed for the fuzzer).
    expect: Option<Expect>,
}

/// The committed corpus, generated from the tiny bundle of `common` (seeded weights, trained
/// tokenizer), every container written canonically so the files are reproducible byte for byte.
fn corpus_cases() -> Vec<Case> {
    let good = canonical_edit(StoreDtype::Int8, |_| {});
    let header_end = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let case = |file, bytes, pred: fn(&Error) -> bool, needle: &str| Case {
        file,
        bytes,
        expect: Some((pred, needle.to_string())),
    };
    let scale = "model.layers.1.mlp.down_proj.weight.scale";
    let mut huge_header = good.clone();
    huge_header[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    vec![
        Case {
            file: "valid.int8.safetensors",
            bytes: good.clone(),
            expect: None,
        },
        Case {
            file: "valid.f32.safetensors",
            bytes: canonical_edit(StoreDtype::F32, |_| {}),
            expect: None,
        },
        case(
            "truncated_header.safetensors",
            good[..header_end - 1].to_vec(),
            |e| matches!(e, Error::Truncated(_)),
            "header declares",
        ),
        case(
            "truncated_data.safetensors",
            good[..good.len() - 1].to_vec(),
            |e| matches!(e, Error::Truncated(_)),
            "tensor `",
        ),
        case(
            "wrong_format_tag.safetensors",
            canonical_edit(StoreDtype::Int8, |p| {
                p.meta.insert("format".into(), "leadladder-bundle/9".into());
            }),
            |e| matches!(e, Error::UnknownFormat { .. }),
            "`format`",
        ),
        case(
            "missing_tensor.safetensors",
            canonical_edit(StoreDtype::F16, |p| {
                p.remove("model.layers.1.mlp.up_proj.weight")
            }),
            |e| matches!(e, Error::MissingTensor { .. }),
            "model.layers.1.mlp.up_proj.weight",
        ),
        case(
            "extra_tensor.safetensors",
            canonical_edit(StoreDtype::F32, |p| {
                let t = p.get_mut("model.layers.1.mlp.up_proj.weight").clone();
                p.tensors
                    .push(("model.layers.2.mlp.up_proj.weight".into(), t));
            }),
            |e| matches!(e, Error::UnusedTensor { .. }),
            "model.layers.2.mlp.up_proj.weight",
        ),
        case(
            "wrong_shape.safetensors",
            canonical_edit(StoreDtype::F32, |p| p.get_mut(Q).shape = vec![8, 32]),
            |e| matches!(e, Error::Shape { .. }),
            Q,
        ),
        case(
            "wrong_dtype.safetensors",
            canonical_edit(StoreDtype::F32, |p| {
                p.get_mut("model.norm.weight").dtype = Dtype::I32
            }),
            |e| matches!(e, Error::Dtype { .. }),
            "model.norm.weight",
        ),
        case(
            "bad_config_json.safetensors",
            canonical_edit(StoreDtype::Int8, |p| {
                p.meta
                    .insert("config".into(), "{\"architecture\": \"qwen2\",".into());
            }),
            |e| matches!(e, Error::BadMetadata { key, .. } if key == "config"),
            "`config`",
        ),
        case(
            "odd_head_dim.safetensors",
            canonical_edit(StoreDtype::Int8, |p| {
                with_config(p, |v| v["num_attention_heads"] = serde_json::json!(16))
            }),
            |e| matches!(e, Error::BadMetadata { key, .. } if key == "config"),
            "odd head dimension",
        ),
        case(
            "bad_ladder_json.safetensors",
            canonical_edit(StoreDtype::Int8, |p| {
                p.meta.insert("ladder".into(), "{\"columns\": [".into());
            }),
            |e| matches!(e, Error::BadMetadata { key, .. } if key == "ladder"),
            "`ladder`",
        ),
        case(
            "missing_tokenizer_key.safetensors",
            canonical_edit(StoreDtype::Int8, |p| {
                p.meta.remove("tokenizer");
            }),
            |e| matches!(e, Error::MissingMetadata { .. }),
            "`tokenizer`",
        ),
        case(
            "nan_weight.safetensors",
            canonical_edit(StoreDtype::F32, |p| {
                p.get_mut("model.norm.weight").data[12..16]
                    .copy_from_slice(&f32::NAN.to_le_bytes());
            }),
            |e| matches!(e, Error::NonFinite { index: 3, .. }),
            "model.norm.weight",
        ),
        case(
            "inf_weight.f16.safetensors",
            canonical_edit(StoreDtype::F16, |p| {
                p.get_mut(Q).data[0..2].copy_from_slice(&half::f16::INFINITY.to_le_bytes());
            }),
            |e| matches!(e, Error::NonFinite { index: 0, .. }),
            Q,
        ),
        case(
            "int8_without_scale.safetensors",
            canonical_edit(StoreDtype::Int8, |p| p.remove(scale)),
            |e| matches!(e, Error::MissingTensor { .. }),
            scale,
        ),
        case(
            "tokenizer_vocab_mismatch.safetensors",
            canonical_edit(StoreDtype::Int8, |p| {
                with_config(p, |v| v["vocab_size"] = serde_json::json!(280))
            }),
            |e| {
                matches!(
                    e,
                    Error::TokenizerVocab {
                        tokenizer: 300,
                        config: 280
                    }
                )
            },
            "`tokenizer`",
        ),
        case(
            "header_length_overflow.safetensors",
            huge_header,
            |e| matches!(e, Error::Container(_)),
            "header length",
        ),
        case(
            "overlapping_offsets.safetensors",
            raw(
                r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}"#,
                &[0, 0, 0],
            ),
            |e| matches!(e, Error::Container(_)),
            "`b`",
        ),
    ]
}

fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tampered")
}

/// Every committed file is what the generator makes and fails (or loads) as its case says.
/// `LEADLADDER_REGENERATE_TAMPERED=1` rewrites the files instead.
#[test]
fn committed_corpus() {
    let dir = corpus_dir();
    let cases = corpus_cases();
    assert!(cases.len() >= 14);
    if std::env::var_os("LEADLADDER_REGENERATE_TAMPERED").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for c in &cases {
            std::fs::write(dir.join(c.file), &c.bytes).unwrap();
        }
    }
    // Generation is deterministic.
    let again = corpus_cases();
    for (a, b) in cases.iter().zip(&again) {
        assert!(
            a.bytes == b.bytes,
            "{}: generator is not deterministic",
            a.file
        );
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".safetensors"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = cases.iter().map(|c| c.file.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "tests/fixtures/tampered and the case list differ"
    );
    for c in &cases {
        let bytes = std::fs::read(dir.join(c.file)).unwrap();
        assert!(
            bytes == c.bytes,
            "{}: committed file differs from the generator's output; rerun with \
             LEADLADDER_REGENERATE_TAMPERED=1",
            c.file
        );
        match &c.expect {
            None => {
                Bundle::from_bytes(&bytes).unwrap();
            }
            Some((pred, needle)) => rejects(c.file, &bytes, *pred, needle),
        }
    }
}

#[test]
fn weights_that_do_not_match_their_hash() {
    for dtype in [StoreDtype::F32, StoreDtype::F16, StoreDtype::Int8] {
        let good = good_bundle(dtype);
        let p = split(&good);
        assert!(
            p.meta[keys::WEIGHTS_HASH].starts_with("fnv1a64:"),
            "every written bundle carries its weights' hash"
        );
        // One low bit flipped in one weight: still a finite, well-formed tensor.
        let flipped = edit(dtype, |p| {
            p.get_mut("model.layers.0.mlp.up_proj.weight").data[0] ^= 1;
        });
        rejects(
            &format!("{dtype:?} flipped bit"),
            &flipped,
            |e| matches!(e, Error::BadMetadata { .. }),
            keys::WEIGHTS_HASH,
        );
        // The same bytes without the key load: bundles written before it existed still work.
        let unhashed = edit(dtype, |p| {
            p.get_mut("model.layers.0.mlp.up_proj.weight").data[0] ^= 1;
            p.meta.remove(keys::WEIGHTS_HASH);
        });
        Bundle::from_bytes(&unhashed).unwrap();
        // Another writer's layout of the same tensors keeps the hash valid.
        Bundle::from_bytes(&join(&p)).unwrap();
    }
}
