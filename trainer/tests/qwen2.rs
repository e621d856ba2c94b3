//! The trainer's Qwen2: Hugging Face parity, strict loading, export, causal/padding masking, and
//! gradient flow (from scratch and with LoRA).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use leadladder_trainer::heads::{bce_with_logits, lm_loss, pairwise_softplus};
use leadladder_trainer::params::{read_hf_weights, write_safetensors};
use leadladder_trainer::{
    Config, DropoutKey, Error, LoraConfig, Model, ScoreHeads, last_token_pool, named_vars,
};

const CPU: Device = Device::Cpu;

fn fixture(variant: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tiny_qwen2")
        .join(variant)
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("leadladder-trainer-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

struct Expected {
    ids: Tensor,
    mask: Tensor,
    hidden: Tensor,
    last_hidden: Tensor,
    last_logits: Tensor,
}

fn expected(variant: &str) -> Expected {
    let mut m = candle_core::safetensors::load(fixture(variant).join("expected.safetensors"), &CPU)
        .unwrap();
    let mut take = |n: &str| m.remove(n).unwrap();
    Expected {
        ids: take("input_ids").to_dtype(DType::U32).unwrap(),
        mask: take("attention_mask").to_dtype(DType::U32).unwrap(),
        hidden: take("hidden"),
        last_hidden: take("last_hidden"),
        last_logits: take("last_logits"),
    }
}

/// Compares hidden states at non-pad positions, the pooled last token and its logits.
fn check_parity(model: &Model, exp: &Expected, tol: f32) {
    let hidden = model.forward(&exp.ids, &exp.mask, None).unwrap();
    let lengths: Vec<u32> = exp.mask.sum(1).unwrap().to_vec1().unwrap();
    for (b, &len) in lengths.iter().enumerate() {
        let ours = hidden.get(b).unwrap().narrow(0, 0, len as usize).unwrap();
        let theirs = exp
            .hidden
            .get(b)
            .unwrap()
            .narrow(0, 0, len as usize)
            .unwrap();
        let d = max_abs_diff(&ours, &theirs);
        assert!(d < tol, "sequence {b}: hidden differs by {d}");
    }
    let pooled = last_token_pool(&hidden, &exp.mask).unwrap();
    let d = max_abs_diff(&pooled, &exp.last_hidden);
    assert!(d < tol, "last-token hidden differs by {d}");
    let logits = model.lm_logits(&pooled).unwrap();
    let dl = max_abs_diff(&logits, &exp.last_logits);
    eprintln!("parity: max |Δ| last hidden {d:.2e}, last logits {dl:.2e}");
    assert!(dl < tol, "last-token logits differ by {dl}");
}

#[test]
fn hf_parity_untied_f32() {
    let model = Model::from_hf_dir(&fixture("untied"), &CPU).unwrap();
    assert!(!model.config().model.tie_word_embeddings);
    assert!(model.lm_head.is_some());
    check_parity(&model, &expected("untied"), 1e-4);
}

#[test]
fn hf_parity_tied_bf16_sharded() {
    let dir = fixture("tied_bf16");
    assert!(dir.join("model.safetensors.index.json").exists());
    let model = Model::from_hf_dir(&dir, &CPU).unwrap();
    assert!(model.config().model.tie_word_embeddings);
    assert!(model.lm_head.is_none());
    assert_eq!(model.embed_tokens.dtype(), DType::F32);
    check_parity(&model, &expected("tied_bf16"), 1e-4);
}

#[test]
fn f16_checkpoint_converts_exactly() {
    let src = fixture("untied");
    let dir = scratch_dir("f16");
    std::fs::copy(src.join("config.json"), dir.join("config.json")).unwrap();
    let tensors = read_hf_weights(&src).unwrap();
    let mut f16: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.to_dtype(DType::F16).unwrap()))
        .collect();
    f16.sort_by(|a, b| a.0.cmp(&b.0));
    write_safetensors(&f16, &dir.join("model.safetensors")).unwrap();
    let loaded = Model::from_hf_dir(&dir, &CPU).unwrap();
    // Reference: the same f16-rounded values handed over as f32.
    let rounded: HashMap<String, Tensor> = f16
        .iter()
        .map(|(n, t)| (n.clone(), t.to_dtype(DType::F32).unwrap()))
        .collect();
    let reference = Model::from_tensors(loaded.config(), rounded, &CPU, None).unwrap();
    let exp = expected("untied");
    let a = loaded.forward(&exp.ids, &exp.mask, None).unwrap();
    let b = reference.forward(&exp.ids, &exp.mask, None).unwrap();
    assert_eq!(max_abs_diff(&a, &b), 0.0);
    // And f16 weights stay close to the f32 model's outputs.
    let pooled = last_token_pool(&a, &exp.mask).unwrap();
    let d = max_abs_diff(&pooled, &exp.last_hidden);
    assert!(d < 5e-2, "f16 model drifts by {d}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn loading_is_strict_and_names_the_tensor() {
    let dir = fixture("untied");
    let cfg = Config::from_file(&dir.join("config.json")).unwrap();
    let full = read_hf_weights(&dir).unwrap();

    let mut missing = full.clone();
    missing.remove("model.layers.1.mlp.up_proj.weight");
    match Model::from_tensors(&cfg, missing, &CPU, None) {
        Err(Error::MissingTensor { name, expected }) => {
            assert_eq!(name, "model.layers.1.mlp.up_proj.weight");
            assert_eq!(expected, vec![128, 64]);
        }
        other => panic!("expected MissingTensor, got {other:?}"),
    }

    let mut extra = full.clone();
    extra.insert(
        "model.layers.2.mlp.up_proj.weight".into(),
        Tensor::zeros((128, 64), DType::F32, &CPU).unwrap(),
    );
    extra.insert(
        "score.rank.weight".into(),
        Tensor::zeros((1, 64), DType::F32, &CPU).unwrap(),
    );
    match Model::from_tensors(&cfg, extra, &CPU, None) {
        Err(Error::UnusedTensors { names }) => {
            assert_eq!(
                names,
                vec!["model.layers.2.mlp.up_proj.weight", "score.rank.weight"]
            );
        }
        other => panic!("expected UnusedTensors, got {other:?}"),
    }

    let mut bad = full.clone();
    bad.insert(
        "model.layers.0.self_attn.k_proj.bias".into(),
        Tensor::zeros(64, DType::F32, &CPU).unwrap(),
    );
    match Model::from_tensors(&cfg, bad, &CPU, None) {
        Err(Error::ShapeMismatch {
            name,
            expected,
            found,
        }) => {
            assert_eq!(name, "model.layers.0.self_attn.k_proj.bias");
            assert_eq!((expected, found), (vec![32], vec![64]));
        }
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }

    let mut ints = full;
    ints.insert(
        "model.norm.weight".into(),
        Tensor::zeros(64, DType::U32, &CPU).unwrap(),
    );
    let d = scratch_dir("u32");
    let mut v: Vec<(String, Tensor)> = ints.into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    write_safetensors(&v, &d.join("model.safetensors")).unwrap();
    match read_hf_weights(&d) {
        Err(Error::UnsupportedDType { name, .. }) => assert_eq!(name, "model.norm.weight"),
        other => panic!("expected UnsupportedDType, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn config_reads_hf_json_variants() {
    let old = r#"{"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","vocab_size":100,
        "hidden_size":32,"intermediate_size":64,"num_hidden_layers":1,"num_attention_heads":4,
        "rope_theta":1000000.0,"rms_norm_eps":1e-5,"sliding_window":4096,"use_sliding_window":false,
        "torch_dtype":"bfloat16","bos_token_id":1,"some_future_key":{"x":1}}"#;
    let cfg: Config = serde_json::from_str(old).unwrap();
    assert_eq!(cfg.model.num_key_value_heads, 4);
    assert_eq!(cfg.model.rope_theta, 1_000_000.0);
    assert_eq!(cfg.model.rms_norm_eps, 1e-5);
    assert!(!cfg.model.tie_word_embeddings);
    assert_eq!(cfg.model.max_position_embeddings, 32_768);
    let new = Config::from_file(&fixture("untied").join("config.json")).unwrap();
    assert_eq!(new.model.rope_theta, 10_000.0);
    assert_eq!(
        (new.model.num_attention_heads, new.model.num_key_value_heads),
        (4, 2)
    );
    // What we write reads back identically.
    let back: Config = serde_json::from_value(new.to_hf_json()).unwrap();
    assert_eq!(back, new);
    for bad in [
        old.replace(r#""rms_norm_eps":1e-5"#, r#""hidden_act":"gelu""#),
        old.replace(
            r#""num_attention_heads":4"#,
            r#""num_attention_heads":4,"num_key_value_heads":3"#,
        ),
        old.replace(
            r#""use_sliding_window":false"#,
            r#""use_sliding_window":true"#,
        ),
        old.replace(
            r#""rope_theta":1000000.0"#,
            r#""rope_scaling":{"type":"yarn","factor":4.0}"#,
        ),
    ] {
        assert!(
            serde_json::from_str::<Config>(&bad).is_err(),
            "accepted: {bad}"
        );
    }
}

fn tiny_batch(vocab: u32) -> (Tensor, Tensor) {
    let lengths = [9usize, 5, 7, 3];
    let t = 9;
    let mut ids = Vec::new();
    let mut mask = Vec::new();
    for (b, &len) in lengths.iter().enumerate() {
        for j in 0..t {
            let real = j < len;
            ids.push(if real {
                1 + (b * 31 + j * 17) as u32 % (vocab - 1)
            } else {
                0
            });
            mask.push(u32::from(real));
        }
    }
    (
        Tensor::from_vec(ids, (lengths.len(), t), &CPU).unwrap(),
        Tensor::from_vec(mask, (lengths.len(), t), &CPU).unwrap(),
    )
}

#[test]
fn export_roundtrip_through_hf_folder() {
    let varmap = VarMap::new();
    let mut cfg = Config::tiny(97);
    cfg.model.tie_word_embeddings = false;
    let model = Model::new(&cfg, &varmap, 7, &CPU).unwrap();
    let dir = scratch_dir("export");
    model.save_hf_dir(&dir).unwrap();
    let loaded = Model::from_hf_dir(&dir, &CPU).unwrap();
    let (ids, mask) = tiny_batch(97);
    let a = model.forward(&ids, &mask, None).unwrap();
    let b = loaded.forward(&ids, &mask, None).unwrap();
    assert_eq!(max_abs_diff(&a, &b), 0.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fresh_init_is_seeded() {
    let cfg = Config::tiny(50);
    let (m1, m2, m3) = (VarMap::new(), VarMap::new(), VarMap::new());
    let a = Model::new(&cfg, &m1, 1, &CPU).unwrap();
    let b = Model::new(&cfg, &m2, 1, &CPU).unwrap();
    let c = Model::new(&cfg, &m3, 2, &CPU).unwrap();
    assert_eq!(max_abs_diff(&a.embed_tokens, &b.embed_tokens), 0.0);
    assert!(max_abs_diff(&a.embed_tokens, &c.embed_tokens) > 0.0);
}

// ---------------------------------------------------------------- masking

#[test]
fn causal_mask_later_tokens_never_change_earlier_states() {
    let model = Model::from_hf_dir(&fixture("untied"), &CPU).unwrap();
    let t = 10;
    let base: Vec<u32> = (0..t as u32).map(|j| 3 + j * 41 % 500).collect();
    let mask = Tensor::ones((1, t), DType::U32, &CPU).unwrap();
    let h0 = model
        .forward(
            &Tensor::from_vec(base.clone(), (1, t), &CPU).unwrap(),
            &mask,
            None,
        )
        .unwrap();
    for k in [1usize, 4, 9] {
        let mut changed = base.clone();
        changed[k] = 511 - changed[k];
        let h1 = model
            .forward(
                &Tensor::from_vec(changed, (1, t), &CPU).unwrap(),
                &mask,
                None,
            )
            .unwrap();
        let before = max_abs_diff(&h0.narrow(1, 0, k).unwrap(), &h1.narrow(1, 0, k).unwrap());
        assert!(
            before <= 1e-6,
            "changing token {k} moved earlier states by {before}"
        );
        let at = max_abs_diff(&h0.narrow(1, k, 1).unwrap(), &h1.narrow(1, k, 1).unwrap());
        assert!(at > 1e-3, "changing token {k} did not change its own state");
    }
}

#[test]
fn right_padding_does_not_change_real_tokens() {
    let model = Model::from_hf_dir(&fixture("untied"), &CPU).unwrap();
    let seq: Vec<u32> = vec![5, 77, 301, 12, 480, 9];
    let n = seq.len();
    let alone = model
        .forward(
            &Tensor::from_vec(seq.clone(), (1, n), &CPU).unwrap(),
            &Tensor::ones((1, n), DType::U32, &CPU).unwrap(),
            None,
        )
        .unwrap();
    let t = n + 5;
    let mut padded = seq.clone();
    padded.extend([0, 1, 2, 3, 4]); // junk ids under padding
    let mut mask = vec![1u32; n];
    mask.extend([0; 5]);
    // Also batched next to a longer sequence.
    let mut ids = padded.clone();
    ids.extend((0..t as u32).map(|j| 100 + j));
    mask.extend([1u32; 11]);
    let ids = Tensor::from_vec(ids, (2, t), &CPU).unwrap();
    let mask = Tensor::from_vec(mask, (2, t), &CPU).unwrap();
    let h = model.forward(&ids, &mask, None).unwrap();
    let d = max_abs_diff(
        &h.get(0).unwrap().narrow(0, 0, n).unwrap(),
        &alone.get(0).unwrap(),
    );
    assert!(d <= 1e-5, "padding changed real-token states by {d}");
    let pooled = last_token_pool(&h, &mask).unwrap();
    let d = max_abs_diff(
        &pooled.get(0).unwrap(),
        &alone.get(0).unwrap().get(n - 1).unwrap(),
    );
    assert!(d <= 1e-5, "padding changed the pooled state by {d}");
}

#[test]
fn fully_masked_rows_are_finite_and_bad_masks_rejected() {
    let model = Model::from_hf_dir(&fixture("tied_bf16"), &CPU).unwrap();
    let ids = Tensor::from_vec(vec![1u32, 2, 3, 4, 5, 6], (2, 3), &CPU).unwrap();
    let mask = Tensor::from_vec(vec![1u32, 1, 0, 0, 0, 0], (2, 3), &CPU).unwrap();
    let h = model.forward(&ids, &mask, None).unwrap();
    let flat: Vec<f32> = h.flatten_all().unwrap().to_vec1().unwrap();
    assert!(flat.iter().all(|x| x.is_finite()));
    assert!(matches!(last_token_pool(&h, &mask), Err(Error::Input(_))));
    let left = Tensor::from_vec(vec![0u32, 1, 1, 1, 1, 1], (2, 3), &CPU).unwrap();
    assert!(matches!(
        model.forward(&ids, &left, None),
        Err(Error::Input(_))
    ));
}

// ---------------------------------------------------------------- gradients

/// A training pass's dropout key.
const TRAIN: DropoutKey = DropoutKey {
    seed: 3,
    micro_batch: 0,
};

/// Point BCE + margin-aware pairwise softplus + LM loss over a tiny batch, in training mode.
fn total_loss(model: &Model, heads: &ScoreHeads) -> Tensor {
    let (ids, mask) = tiny_batch(model.config().model.vocab_size as u32);
    let hidden = model.forward(&ids, &mask, Some(TRAIN)).unwrap();
    let pooled = last_token_pool(&hidden, &mask).unwrap();
    let point = heads.point_logits(&pooled).unwrap();
    let rank = heads.rank_scores(&pooled).unwrap();
    let targets = Tensor::new(&[1f32, 0., 1., 0.], &CPU).unwrap();
    let bce = bce_with_logits(&point, &targets).unwrap();
    let hi = rank
        .index_select(&Tensor::new(&[0u32, 2, 0], &CPU).unwrap(), 0)
        .unwrap();
    let lo = rank
        .index_select(&Tensor::new(&[1u32, 3, 3], &CPU).unwrap(), 0)
        .unwrap();
    let margin = Tensor::new(&[0.5f32, 1.0, 0.25], &CPU).unwrap();
    let pair = pairwise_softplus(&hi, &lo, Some(&margin)).unwrap();
    let lm = lm_loss(model, &hidden, &ids, &mask).unwrap();
    ((bce + pair).unwrap() + lm).unwrap()
}

/// Names of variables whose gradient is missing, non-finite or all zero.
fn bad_grads(vars: &[(String, Var)], grads: &GradStore) -> Vec<String> {
    let mut bad = Vec::new();
    for (name, var) in vars {
        let Some(g) = grads.get(var.as_tensor()) else {
            bad.push(format!("{name} (no grad)"));
            continue;
        };
        let v: Vec<f32> = g.flatten_all().unwrap().to_vec1().unwrap();
        if v.iter().any(|x| !x.is_finite()) {
            bad.push(format!("{name} (non-finite)"));
        } else if v.iter().all(|x| *x == 0.0) {
            bad.push(format!("{name} (zero)"));
        }
    }
    bad
}

/// The ranking head's bias cancels in every pairwise difference `s_hi - s_lo`, so it can never
/// receive gradient from the pairwise loss; it is checked separately.
const RANK_BIAS: &str = "score.rank.bias";

fn assert_all_trained(varmap: &VarMap, grads: &GradStore) {
    let vars = named_vars(varmap).unwrap();
    let (bias, rest): (Vec<_>, Vec<_>) = vars.into_iter().partition(|(n, _)| n == RANK_BIAS);
    let bad = bad_grads(&rest, grads);
    assert!(
        bad.is_empty(),
        "variables without a useful gradient: {bad:?}"
    );
    let g = grads.get(bias[0].1.as_tensor()).map(|g| {
        g.abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    });
    assert!(
        g.unwrap_or(0.0) < 1e-6,
        "rank bias unexpectedly gets gradient {g:?}"
    );
}

#[test]
fn gradients_reach_every_trainable_var_from_scratch() {
    for tied in [false, true] {
        let varmap = VarMap::new();
        let mut cfg = Config::tiny(61);
        cfg.model.tie_word_embeddings = tied;
        let model = Model::new(&cfg, &varmap, 11, &CPU).unwrap();
        let heads = ScoreHeads::new(cfg.model.hidden_size, 0.02, &varmap, 11, &CPU).unwrap();
        let n_vars = named_vars(&varmap).unwrap().len();
        // embed + 2 layers * (4 linears + 3 biases + 3 mlp + 2 norms) + norm (+ lm_head) + 4 head tensors
        assert_eq!(n_vars, 1 + 2 * 12 + 1 + usize::from(!tied) + 4);
        let loss = total_loss(&model, &heads);
        assert!(loss.to_scalar::<f32>().unwrap().is_finite());
        let grads = loss.backward().unwrap();
        assert_all_trained(&varmap, &grads);
    }
}

fn sgd_step(vars: &[(String, Var)], grads: &GradStore, lr: f64) {
    for (_, v) in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            v.set(&(v.as_tensor() - (g * lr).unwrap()).unwrap())
                .unwrap();
        }
    }
}

#[test]
fn lora_adapters_train_and_base_stays_frozen() {
    let mut model = Model::from_hf_dir(&fixture("untied"), &CPU).unwrap();
    let varmap = VarMap::new();
    let lora = LoraConfig {
        r: 4,
        alpha: 8.0,
        dropout: 0.1,
        ..LoraConfig::default()
    };
    assert_eq!(model.enable_lora(&lora, &varmap).unwrap(), 2 * 7);
    let heads = ScoreHeads::new(64, 0.02, &varmap, 3, &CPU).unwrap();
    let vars = named_vars(&varmap).unwrap();
    assert_eq!(vars.len(), 2 * 7 * 2 + 4);
    assert!(
        vars.iter()
            .all(|(n, _)| n.contains(".lora_") || n.starts_with("score."))
    );
    for lin in model.linears() {
        assert!(
            !lin.weight().is_variable(),
            "{} base weight is trainable",
            lin.name()
        );
        assert!(lin.bias().is_none_or(|b| !b.is_variable()));
    }
    assert!(!model.embed_tokens.is_variable() && !model.norm.weight.is_variable());

    // Step 0: B is zero, so dL/dA = 0 exactly; B (and the heads) get gradient.
    let grads = total_loss(&model, &heads).backward().unwrap();
    let (a_vars, others): (Vec<_>, Vec<_>) = vars
        .iter()
        .cloned()
        .partition(|(n, _)| n.contains(".lora_A."));
    for (name, a) in &a_vars {
        let g = grads.get(a.as_tensor()).expect("A is in the graph");
        assert_eq!(
            g.abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap(),
            0.0,
            "{name}"
        );
    }
    let bias: Vec<_> = others
        .iter()
        .filter(|(n, _)| n == RANK_BIAS)
        .cloned()
        .collect();
    let rest: Vec<_> = others
        .iter()
        .filter(|(n, _)| n != RANK_BIAS)
        .cloned()
        .collect();
    assert!(
        bad_grads(&rest, &grads).is_empty(),
        "{:?}",
        bad_grads(&rest, &grads)
    );
    assert_eq!(bias.len(), 1);
    for lin in model.linears() {
        assert!(
            grads.get(lin.weight()).is_none(),
            "{} base weight got a gradient",
            lin.name()
        );
    }
    assert!(grads.get(&model.embed_tokens).is_none());

    // After one step B != 0 and every adapter matrix gets gradient.
    sgd_step(&vars, &grads, 0.05);
    let grads = total_loss(&model, &heads).backward().unwrap();
    assert_all_trained(&varmap, &grads);
}

#[test]
fn lora_is_identity_at_init_dropout_only_when_training_and_merges_on_export() {
    let dir = fixture("untied");
    let base = Model::from_hf_dir(&dir, &CPU).unwrap();
    let mut model = base.clone();
    let varmap = VarMap::new();
    let lora = LoraConfig {
        r: 2,
        alpha: 4.0,
        dropout: 0.5,
        targets: vec!["q_proj".into(), "down_proj".into()],
        seed: 5,
    };
    assert_eq!(model.enable_lora(&lora, &varmap).unwrap(), 4);
    let exp = expected("untied");
    let h_base = base.forward(&exp.ids, &exp.mask, None).unwrap();
    assert_eq!(
        max_abs_diff(&model.forward(&exp.ids, &exp.mask, None).unwrap(), &h_base),
        0.0
    );

    // Give B values, then: eval is deterministic, training applies dropout.
    for (name, v) in named_vars(&varmap).unwrap() {
        if name.contains("lora_B") {
            v.set(&Tensor::randn(0f32, 0.3, v.shape(), &CPU).unwrap())
                .unwrap();
        }
    }
    let e1 = model.forward(&exp.ids, &exp.mask, None).unwrap();
    let e2 = model.forward(&exp.ids, &exp.mask, None).unwrap();
    assert_eq!(max_abs_diff(&e1, &e2), 0.0);
    assert!(max_abs_diff(&e1, &h_base) > 1e-3);
    let t1 = model.forward(&exp.ids, &exp.mask, Some(TRAIN)).unwrap();
    assert!(
        max_abs_diff(&e1, &t1) > 1e-4,
        "dropout had no effect in training mode"
    );
    // The masks are the key's: the same key drops the same inputs, the next micro-batch others.
    let t2 = model.forward(&exp.ids, &exp.mask, Some(TRAIN)).unwrap();
    assert_eq!(max_abs_diff(&t1, &t2), 0.0);
    let next = DropoutKey {
        micro_batch: 1,
        ..TRAIN
    };
    let t3 = model.forward(&exp.ids, &exp.mask, Some(next)).unwrap();
    assert!(max_abs_diff(&t1, &t3) > 1e-4);

    // Exported (merged) weights reproduce the adapted model; adapters export under PEFT names.
    let merged: HashMap<String, Tensor> = model.hf_tensors().unwrap().into_iter().collect();
    let reloaded = Model::from_tensors(model.config(), merged, &CPU, None).unwrap();
    let d = max_abs_diff(&reloaded.forward(&exp.ids, &exp.mask, None).unwrap(), &e1);
    assert!(d < 1e-5, "merged export differs by {d}");
    let names: Vec<String> = model.lora_tensors().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 8);
    assert!(names.contains(&"model.layers.1.mlp.down_proj.lora_B.weight".to_string()));
    assert!(matches!(
        model.clone().enable_lora(
            &LoraConfig {
                targets: vec!["qproj".into()],
                ..lora
            },
            &VarMap::new()
        ),
        Err(Error::Config(_))
    ));
}
