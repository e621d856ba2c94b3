//! Round trips of a tiny random Qwen2 ranker through every storage dtype, quantization error
//! bounds, determinism, and interoperability with the official `safetensors` crate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use leadladder_bundle::{
    Bundle, Calibration, Error, HEADS, ModelConfig, StoreDtype, read_file, write_bundle,
};
use safetensors::{Dtype, SafeTensors};

const DTYPES: [StoreDtype; 3] = [StoreDtype::F32, StoreDtype::F16, StoreDtype::Int8];

#[test]
fn round_trip_every_dtype_tied_and_untied() {
    for tie in [false, true] {
        let config = bundle_config(tie);
        let w = weights(&config.model, 3);
        for dtype in DTYPES {
            let bytes = write_bundle(&w, &meta(&config), dtype).unwrap();
            let b = Bundle::from_bytes(&bytes).unwrap();
            assert_eq!(b.config.dtype, dtype);
            assert_eq!(b.config.model, config.model);
            assert_eq!(b.config.heads, HEADS);
            assert_eq!(b.ladder, spec());
            assert_eq!(b.provenance, provenance());
            assert_eq!(b.encoder.tokenizer().vocab_size(), tokenizer().vocab_size());
            assert_eq!(b.tensors.len(), w.len());
            assert_eq!(
                b.tensors.contains_key("lm_head.weight"),
                !tie,
                "lm_head only when untied"
            );
            for (name, shape, want) in &w {
                let (s, got) = b.tensor(name).unwrap();
                let got = got.as_slice();
                assert_eq!(s, *shape, "{name}");
                assert_eq!(got.len(), want.len(), "{name}");
                if shape.len() == 1 || dtype == StoreDtype::F32 {
                    assert_eq!(got, want.as_slice(), "{name} must be exact");
                    continue;
                }
                match dtype {
                    StoreDtype::F16 => {
                        for (x, y) in want.iter().zip(got) {
                            // Round to nearest: half an ulp, relative 2^-11 (2^-25 absolute for
                            // subnormals); and exactly what the one-value conversion gives.
                            let tol = x.abs() * half::f16::EPSILON.to_f32() / 2.0 + 2f32.powi(-25);
                            assert!((x - y).abs() <= tol, "{name}: {x} vs {y}");
                            assert_eq!(*y, half::f16::from_f32(*x).to_f32(), "{name}");
                        }
                        // A read from any offset, across the decoder's 1024-value blocks.
                        let t = b.tensors.get(name).unwrap();
                        for (start, n) in [(1, got.len() - 1), (1023, 1030), (got.len() - 3, 3)] {
                            if start + n <= got.len() {
                                let mut part = vec![0f32; n];
                                t.read_into(start, &mut part);
                                assert_eq!(part, got[start..start + n], "{name} from {start}");
                            }
                        }
                    }
                    StoreDtype::Int8 => {
                        let cols = shape[1];
                        for (r, (wr, gr)) in want.chunks(cols).zip(got.chunks(cols)).enumerate() {
                            let scale = wr.iter().fold(0f32, |m, x| m.max(x.abs())) / 127.0;
                            let err = wr
                                .iter()
                                .zip(gr)
                                .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
                            assert!(
                                err <= scale / 2.0 * (1.0 + 1e-5),
                                "{name} row {r}: error {err} > scale/2 = {}",
                                scale / 2.0
                            );
                            if scale == 0.0 {
                                assert!(gr.iter().all(|&y| y == 0.0), "zero row stays exactly 0");
                            }
                        }
                    }
                    StoreDtype::F32 => unreachable!(),
                }
            }
        }
    }
}

#[test]
fn writer_is_deterministic_and_compacts() {
    let sizes: Vec<usize> = DTYPES
        .iter()
        .map(|&d| {
            let a = good_bundle(d);
            assert_eq!(a, good_bundle(d), "{d:?} bytes differ between two writes");
            a.len()
        })
        .collect();
    assert!(sizes[0] > sizes[1] && sizes[1] > sizes[2], "{sizes:?}");
}

#[test]
fn official_safetensors_reads_ours_and_we_read_theirs() {
    for dtype in DTYPES {
        let bytes = good_bundle(dtype);
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let (n, _) = SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(n % 8, 0, "header padded to 8 bytes");
        let q = st.tensor("model.layers.0.self_attn.q_proj.weight").unwrap();
        let expected = match dtype {
            StoreDtype::F32 => Dtype::F32,
            StoreDtype::F16 => Dtype::F16,
            StoreDtype::Int8 => Dtype::I8,
        };
        assert_eq!(q.dtype(), expected);
        assert_eq!(
            st.tensor("model.norm.weight").unwrap().dtype(),
            Dtype::F32,
            "1-D stays F32"
        );
        let scale = st.tensor("model.layers.0.self_attn.q_proj.weight.scale");
        assert_eq!(scale.is_ok(), dtype == StoreDtype::Int8);
        if let Ok(s) = scale {
            assert_eq!((s.dtype(), s.shape()), (Dtype::F32, &[16usize][..]));
        }
        // Written by the official writer (different order, alignment) → still loads, same values.
        let theirs = join(&split(&bytes));
        let a = Bundle::from_bytes(&bytes).unwrap();
        let b = Bundle::from_bytes(&theirs).unwrap();
        assert_eq!(a.tensors, b.tensors);
        assert_eq!(a.meta, b.meta);
    }
}

#[test]
fn reencoding_a_loaded_bundle() {
    let b = Bundle::from_bytes(&good_bundle(StoreDtype::F32)).unwrap();
    let int8 = Bundle::from_bytes(&b.to_bytes(StoreDtype::Int8).unwrap()).unwrap();
    assert_eq!(int8.config.dtype, StoreDtype::Int8);
    assert_eq!(int8.tensors.len(), b.tensors.len());
    assert_eq!(
        b.to_bytes(StoreDtype::F32).unwrap(),
        good_bundle(StoreDtype::F32)
    );
}

#[test]
fn hf_qwen2_config_json_deserialises() {
    // Qwen2.5-0.5B's config.json.
    let hf = r#"{
      "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
      "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896,
      "initializer_range": 0.02, "intermediate_size": 4864, "max_position_embeddings": 32768,
      "max_window_layers": 24, "model_type": "qwen2", "num_attention_heads": 14,
      "num_hidden_layers": 24, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
      "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true,
      "torch_dtype": "bfloat16", "transformers_version": "4.40.1", "use_cache": true,
      "use_sliding_window": false, "vocab_size": 151936
    }"#;
    let c: ModelConfig = serde_json::from_str(hf).unwrap();
    c.validate().unwrap();
    assert_eq!(
        (c.hidden_size, c.head_dim(), c.num_key_value_heads),
        (896, 64, 2)
    );
    assert_eq!(c.rope_theta, 1e6);
    let t = c.expected_tensors();
    assert_eq!(t.len(), 12 * 24 + 2 + 4);
    assert!(t.contains(&(
        "model.layers.23.self_attn.k_proj.weight".into(),
        vec![128, 896]
    )));
    assert!(t.contains(&(
        "model.layers.0.mlp.down_proj.weight".into(),
        vec![896, 4864]
    )));
    assert!(t.contains(&("score.point.weight".into(), vec![1, 896])));
    assert!(t.contains(&("score.rank.bias".into(), vec![1])));
    assert!(!t.iter().any(|(n, _)| n == "lm_head.weight"));
    let untied = ModelConfig {
        tie_word_embeddings: false,
        ..c
    };
    assert!(
        untied
            .expected_tensors()
            .contains(&("lm_head.weight".into(), vec![151936, 896]))
    );
    // The stored bundle config is the HF fields flattened next to ours.
    let v: serde_json::Value =
        serde_json::from_str(&bundle_config(false).to_json().unwrap()).unwrap();
    for key in [
        "architecture",
        "vocab_size",
        "rope_theta",
        "max_tokens",
        "heads",
        "dtype",
        "calibration",
        "pad_token_id",
        "eos_token_id",
    ] {
        assert!(v.get(key).is_some(), "config JSON lacks `{key}`");
    }
}

#[test]
fn calibration_identity() {
    let c = Calibration::default();
    assert_eq!((c.a, c.b), (1.0, 0.0));
    assert!((c.probability(0.0) - 0.5).abs() < 1e-12);
    assert!(c.probability(5.0) > 0.99);
}

#[test]
fn writer_refuses_what_a_loader_would() {
    let config = bundle_config(false);
    let m = meta(&config);
    let good = weights(&config.model, 1);
    let err =
        |w: &[(String, Vec<usize>, Vec<f32>)], d| write_bundle(w, &m, d).unwrap_err().to_string();

    let mut w = good.clone();
    w[3].2[5] = f32::NAN;
    assert!(err(&w, StoreDtype::F32).contains(&w[3].0));
    let mut w = good.clone();
    w[0].2[0] = 1e6;
    let e = err(&w, StoreDtype::F16);
    assert!(
        e.contains("model.embed_tokens.weight") && e.contains("f16"),
        "{e}"
    );
    let mut w = good.clone();
    w.pop();
    assert!(err(&w, StoreDtype::Int8).contains("score.point.bias"));
    let mut w = good.clone();
    w.push((
        "model.layers.9.mlp.up_proj.weight".into(),
        vec![1, 1],
        vec![0.0],
    ));
    assert!(err(&w, StoreDtype::F32).contains("model.layers.9.mlp.up_proj.weight"));
    let mut w = good.clone();
    w[1].2.pop();
    assert!(err(&w, StoreDtype::F32).contains(&w[1].0));
    let mut w = good.clone();
    w[1].1 = vec![16, 15];
    assert!(err(&w, StoreDtype::F32).contains(&w[1].0));
    let mut bad = m.clone();
    bad.format = "leadladder-bundle/9".into();
    assert!(matches!(
        write_bundle(&good, &bad, StoreDtype::F32),
        Err(Error::UnknownFormat { .. })
    ));
    let mut bad = m.clone();
    bad.extra.insert("config".into(), "{}".into());
    assert!(write_bundle(&good, &bad, StoreDtype::F32).is_err());
    let mut ok = m.clone();
    ok.extra.insert("note".into(), "hello".into());
    let b = Bundle::from_bytes(&write_bundle(&good, &ok, StoreDtype::F32).unwrap()).unwrap();
    assert_eq!(b.meta.extra.get("note").map(String::as_str), Some("hello"));
}

#[test]
fn native_read_file() {
    let path = std::env::temp_dir().join(format!(
        "leadladder-bundle-{}.safetensors",
        std::process::id()
    ));
    std::fs::write(&path, good_bundle(StoreDtype::Int8)).unwrap();
    let b = read_file(&path).unwrap();
    assert_eq!(b.config.dtype, StoreDtype::Int8);
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(read_file(&path), Err(Error::Io(_))));
}
