//! The `qwen2-lora` preset end to end on the tiny random Hugging Face checkpoint (with its small
//! Qwen-style tokenizer.json): only the adapters and the heads train, the base stays
//! bit-identical, the merged bundle scores like the unmerged model, and the PEFT folder is
//! written. Also the bf16 base and the device checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use common::{funnel, score_test_period, values};
use leadladder_bundle::{Bundle, LeadTokenizer, StoreDtype};
use leadladder_trainer::params::{read_hf_weights, read_safetensors};
use leadladder_trainer::preset::{LORA_PRESET, preset, qwen2_lora};
use leadladder_trainer::train::{TrainOptions, score, train};
use leadladder_trainer::{
    Config, DeviceSpec, Error, LoraConfig, Model, Precision, ScoreHeads, last_token_pool,
};

const CPU: Device = Device::Cpu;

fn base() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_qwen2/untied")
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("leadladder-lora-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn lora() -> LoraConfig {
    LoraConfig {
        r: 4,
        alpha: 8.0,
        dropout: 0.05,
        ..LoraConfig::default()
    }
}

fn options() -> TrainOptions {
    let mut o = qwen2_lora(&base(), lora()).unwrap();
    o.epochs = 1;
    o.train_sample = Some(64);
    o.batch_size = 16;
    o.grad_accum = 1;
    o.max_tokens = 96;
    o.bootstrap = 0;
    // Large enough that four steps visibly move every adapter.
    o.lr = 1e-2;
    o
}

/// The base tensors of a model, unmerged, by HF name (what must never change).
fn base_tensors(model: &Model) -> HashMap<String, Vec<f32>> {
    let mut out = HashMap::new();
    out.insert(
        "model.embed_tokens.weight".to_string(),
        values(&model.embed_tokens),
    );
    for lin in model.linears() {
        out.insert(format!("{}.weight", lin.name()), values(lin.weight()));
        if let Some(b) = lin.bias() {
            out.insert(format!("{}.bias", lin.name()), values(b));
        }
    }
    for (i, l) in model.layers.iter().enumerate() {
        out.insert(
            format!("model.layers.{i}.input_layernorm.weight"),
            values(&l.input_layernorm.weight),
        );
        out.insert(
            format!("model.layers.{i}.post_attention_layernorm.weight"),
            values(&l.post_attention_layernorm.weight),
        );
    }
    out.insert("model.norm.weight".to_string(), values(&model.norm.weight));
    out
}

#[test]
fn qwen2_lora_trains_only_adapters_and_heads_and_exports_a_merged_bundle() {
    let (spec, data) = funnel(1200, 5);
    let o = options();
    assert_eq!(o.preset, LORA_PRESET);
    let trained = train(&spec, &data, &o, &mut |_| {}).unwrap();
    let cfg = Config::from_file(&base().join("config.json")).unwrap();
    assert_eq!(trained.config, cfg, "the model shape is the checkpoint's");
    assert_eq!(trained.log.len(), 1);
    assert!(trained.log[0].train_loss.is_finite());

    // The tokenizer is the folder's: Qwen's specials after the base vocabulary, and, as Qwen has
    // no pad token, padding with <|endoftext|>.
    let json = std::fs::read_to_string(base().join("tokenizer.json")).unwrap();
    let folder = LeadTokenizer::from_json(&json).unwrap();
    assert_eq!(
        trained.encoder.tokenizer().to_json().unwrap(),
        folder.to_json().unwrap()
    );
    assert_eq!(trained.encoder.eos_id(), 509);
    assert_eq!(trained.encoder.pad_id(), 509);
    assert_eq!(trained.encoder.vocab_size(), 512);

    // The base is bit-identical to the checkpoint and not a variable.
    let stored = read_hf_weights(&base()).unwrap();
    let now = base_tensors(&trained.model);
    assert_eq!(now.len(), stored.len());
    for (name, t) in &stored {
        assert_eq!(now[name], values(t), "base tensor {name} changed");
    }
    assert!(!trained.model.embed_tokens.is_variable());
    // Every adapter of every targeted linear moved (B starts at zero, so any change shows).
    let adapted: Vec<_> = trained
        .model
        .linears()
        .into_iter()
        .filter(|l| l.lora().is_some())
        .collect();
    assert_eq!(adapted.len(), 2 * 7);
    for lin in &adapted {
        assert!(!lin.weight().is_variable(), "{}", lin.name());
        let b = values(lin.lora().unwrap().b.as_tensor());
        assert!(
            b.iter().any(|&x| x != 0.0),
            "{}: lora_B never moved",
            lin.name()
        );
    }
    // The heads trained away from their seeded initial values.
    let fresh = ScoreHeads::new(
        cfg.model.hidden_size,
        cfg.initializer_range,
        &VarMap::new(),
        o.seed ^ 0x4EAD,
        &CPU,
    )
    .unwrap();
    for ((name, a), (_, b)) in trained
        .heads
        .tensors()
        .unwrap()
        .iter()
        .zip(fresh.tensors().unwrap())
    {
        if name == "score.rank.bias" {
            // Cancels in every pairwise difference: no gradient (see heads.rs).
            assert_eq!(values(a), values(&b));
        } else {
            assert_ne!(values(a), values(&b), "{name} never moved");
        }
    }

    // The merged f32 bundle scores the test period like the unmerged model.
    let (test, want_r, want_z) = score_test_period(&trained, &spec, &data, o.train_fraction, 120);
    let pad = trained.encoder.pad_id();
    let bytes = trained.export(&spec, StoreDtype::F32, "test-hash").unwrap();
    let bundle = Bundle::from_bytes(&bytes).unwrap();
    assert_eq!(bundle.meta.tokenizer_json, folder.to_json().unwrap());
    let bcfg: Config = serde_json::from_str(&bundle.meta.config_json).unwrap();
    let mut tensors = HashMap::new();
    let mut heads = HashMap::new();
    for (name, (shape, v)) in &bundle.tensors.to_f32() {
        assert!(!name.contains("lora_"), "{name}: adapters are merged");
        let t = Tensor::from_vec(v.clone(), shape.as_slice(), &CPU).unwrap();
        if name.starts_with("score.") {
            heads.insert(name.clone(), t);
        } else {
            tensors.insert(name.clone(), t);
        }
    }
    let merged = Model::from_tensors(&bcfg, tensors, &CPU, None).unwrap();
    let heads = ScoreHeads::from_tensors(bcfg.model.hidden_size, heads, &CPU, None).unwrap();
    let (r, z) = score(&merged, &heads, &test, pad, 32, None).unwrap();
    let mut worst = 0f32;
    for (a, b) in r.iter().zip(&want_r).chain(z.iter().zip(&want_z)) {
        worst = worst.max((a - b).abs());
    }
    assert!(worst <= 1e-5, "merged bundle vs unmerged model: {worst}");
    // ... and the merge is not a no-op: the base alone scores differently.
    let plain = Model::from_hf_dir(&base(), &CPU).unwrap();
    let (r0, _) = score(&plain, &trained.heads, &test, pad, 32, None).unwrap();
    let moved = r0
        .iter()
        .zip(&want_r)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(moved > 1e-3, "the adapters change the scores ({moved})");

    // The PEFT folder: PEFT's names for every adapter, the heads beside them.
    let dir = scratch_dir("peft");
    trained.export_peft(&dir).unwrap();
    let adapter = read_safetensors(&dir.join("adapter_model.safetensors")).unwrap();
    assert_eq!(adapter.len(), 2 * 7 * 2);
    let q = &adapter["base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight"];
    assert_eq!(q.dims(), &[64, 4]);
    assert_eq!(
        values(q),
        values(
            adapted
                .iter()
                .find(|l| l.name() == "model.layers.1.self_attn.q_proj")
                .unwrap()
                .lora()
                .unwrap()
                .b
                .as_tensor()
        )
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(config["r"], 4);
    assert_eq!(config["lora_alpha"], 8);
    assert_eq!(
        config["base_model_name_or_path"],
        base().display().to_string()
    );
    assert_eq!(
        read_safetensors(&dir.join("score_heads.safetensors"))
            .unwrap()
            .len(),
        4
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bf16_base_stays_bf16_and_close_to_f32() {
    // Forward parity: the bf16 base against transformers' f64 reference of the same checkpoint.
    let exp = candle_core::safetensors::load(base().join("expected.safetensors"), &CPU).unwrap();
    let ids = exp["input_ids"].to_dtype(DType::U32).unwrap();
    let mask = exp["attention_mask"].to_dtype(DType::F32).unwrap();
    let bf16 = Model::from_hf_dir_as(&base(), &CPU, DType::BF16).unwrap();
    assert_eq!(bf16.embed_tokens.dtype(), DType::BF16);
    let hidden = bf16.forward(&ids, &mask, None).unwrap();
    assert_eq!(hidden.dtype(), DType::BF16);
    let pooled = last_token_pool(&hidden, &mask)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap();
    let want = exp["last_hidden"].to_dtype(DType::F32).unwrap();
    let scale = values(&want).iter().fold(0f32, |m, x| m.max(x.abs()));
    let diff = values(&(pooled - &want).unwrap())
        .iter()
        .fold(0f32, |m, x| m.max(x.abs()));
    assert!(
        diff <= 0.05 * scale,
        "bf16 drifts by {diff} (values up to {scale})"
    );

    // Training with a bf16 base: the losses stay finite, the base stays bf16 and unchanged.
    let (spec, data) = funnel(1200, 5);
    let mut o = options();
    o.precision = Precision::Bf16;
    o.train_sample = Some(32);
    let trained = train(&spec, &data, &o, &mut |_| {}).unwrap();
    assert!(trained.log[0].train_loss.is_finite());
    assert_eq!(trained.model.dtype(), DType::BF16);
    let stored = read_hf_weights(&base()).unwrap();
    let q = trained.model.linears()[0];
    assert_eq!(q.weight().dtype(), DType::BF16);
    assert_eq!(
        values(q.weight()),
        values(
            &stored[&format!("{}.weight", q.name())]
                .to_dtype(DType::BF16)
                .unwrap()
        )
    );
    assert_eq!(q.lora().unwrap().a.dtype(), DType::F32, "adapters stay f32");
    assert!(
        trained
            .report
            .methods
            .last()
            .unwrap()
            .name
            .contains(LORA_PRESET)
    );
}

#[test]
fn lora_preset_and_device_errors_say_what_to_do() {
    let err = preset(LORA_PRESET).unwrap_err().to_string();
    assert!(err.contains("--base"), "{err}");

    // A tokenizer with more ids than the model's embedding is refused.
    let dir = scratch_dir("vocab");
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(base().join(f), dir.join(f)).unwrap();
    }
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    cfg["vocab_size"] = 500.into();
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    match qwen2_lora(&dir, lora()) {
        Err(Error::Config(m)) => assert!(m.contains("512") && m.contains("500"), "{m}"),
        other => panic!("expected a vocab error, got {other:?}"),
    }
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    match qwen2_lora(&dir, lora()) {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("tokenizer.json")),
        other => panic!("expected a missing tokenizer.json, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);

    // An unknown LoRA target matches nothing.
    let (spec, data) = funnel(600, 5);
    let mut o = options();
    o.lora = Some(LoraConfig {
        targets: vec!["qkv_proj".into()],
        ..lora()
    });
    let err = train(&spec, &data, &o, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("qkv_proj"), "{err}");

    // bf16 is for a frozen base only.
    let mut scratch = preset("tiny").unwrap();
    scratch.precision = Precision::Bf16;
    let err = train(&spec, &data, &scratch, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("f32"), "{err}");

    // Devices.
    assert_eq!("cpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
    assert_eq!("cuda:1".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(1));
    assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
    assert!("gpu".parse::<DeviceSpec>().is_err());
    assert_eq!(Precision::default_for(DeviceSpec::Cuda(0)), Precision::Bf16);
    assert_eq!(Precision::default_for(DeviceSpec::Cpu), Precision::F32);
    #[cfg(not(feature = "cuda"))]
    {
        let err = DeviceSpec::Cuda(0).open().unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
        let mut o = preset("tiny").unwrap();
        o.device = DeviceSpec::Cuda(0);
        let err = train(&spec, &data, &o, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }
}

/// Qwen's real tokenizer.json (fetched by crates/bundle/tests/fetch_qwen_tokenizer.sh, not
/// committed), as the bundle's tests find it.
fn qwen_tokenizer() -> Option<PathBuf> {
    let path = std::env::var_os("LEADLADDER_QWEN_TOKENIZER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/qwen-tokenizer/tokenizer.json")
        });
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("LEADLADDER_QWEN_TOKENIZER").is_none(),
        "LEADLADDER_QWEN_TOKENIZER={} does not exist",
        path.display()
    );
    eprintln!(
        "SKIPPED: Qwen tokenizer not found at {} (run crates/bundle/tests/fetch_qwen_tokenizer.sh \
         or set LEADLADDER_QWEN_TOKENIZER)",
        path.display()
    );
    None
}

#[test]
fn qwen2_lora_with_the_real_qwen_vocabulary() {
    let Some(tok) = qwen_tokenizer() else { return };
    // A random checkpoint with Qwen2's real vocabulary size (151,936 rows, as in the released
    // checkpoints: more than the tokenizer's 151,665 ids) and a tiny trunk.
    let dir = scratch_dir("qwen-vocab");
    let mut cfg = Config::tiny(151_936);
    cfg.model.max_position_embeddings = 32_768;
    Model::new(&cfg, &VarMap::new(), 3, &CPU)
        .unwrap()
        .save_hf_dir(&dir)
        .unwrap();
    std::fs::copy(&tok, dir.join("tokenizer.json")).unwrap();

    let (spec, data) = funnel(300, 5);
    let mut o = qwen2_lora(&dir, lora()).unwrap();
    assert_eq!(o.max_tokens, 256);
    o.epochs = 1;
    // One step of 8 short leads: the LM loss over 151,936 ids is the costly part.
    o.train_sample = Some(8);
    o.batch_size = 8;
    o.grad_accum = 1;
    o.max_tokens = 128;
    o.bootstrap = 0;
    let trained = train(&spec, &data, &o, &mut |_| {}).unwrap();
    assert!(trained.log[0].train_loss.is_finite());
    assert!(
        trained.log[0].loss_sem > 10.0,
        "LM loss over 151,936 ids starts near ln(151936)"
    );
    let t = trained.encoder.tokenizer();
    assert_eq!(t.eos_id(), 151_643, "<|endoftext|>");
    assert_eq!(t.pad_id(), 151_643, "Qwen pads with <|endoftext|>");
    assert!(t.vocab_size() <= 151_936);
    let bundle =
        Bundle::from_bytes(&trained.export(&spec, StoreDtype::Int8, "h").unwrap()).unwrap();
    let bcfg: Config = serde_json::from_str(&bundle.meta.config_json).unwrap();
    assert_eq!(bcfg.model.vocab_size, 151_936);
    let _ = std::fs::remove_dir_all(&dir);
}
