//! The PEFT adapter export against what real PEFT writes for the same LoRA settings on the same
//! checkpoint (`fixtures/peft/peft_reference.json`, recorded by `make_peft_reference.py`), and
//! against the committed export `fixtures/peft/ours/` that the same script loads with
//! `PeftModel.from_pretrained` and checks against the trainer's hidden states (`--check`).
//! `LEADLADDER_REGEN_PEFT=1` rewrites `ours/` instead of comparing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use common::values;
use leadladder_trainer::params::{named_vars, read_safetensors, write_safetensors};
use leadladder_trainer::peft::{ADAPTER_CONFIG, ADAPTER_WEIGHTS, save_adapter};
use leadladder_trainer::{LoraConfig, Model, last_token_pool};
use serde_json::Value;

const CPU: Device = Device::Cpu;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The tiny checkpoint with the reference's LoRA settings and trained-looking adapters: every
/// `lora_B` (zero at init, which would make any check vacuous) gets deterministic values.
fn adapted_model(golden: &Value) -> (Model, LoraConfig) {
    let l = &golden["lora"];
    let lora = LoraConfig {
        r: l["r"].as_u64().unwrap() as usize,
        alpha: l["lora_alpha"].as_f64().unwrap(),
        dropout: l["lora_dropout"].as_f64().unwrap() as f32,
        targets: l["target_modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect(),
        seed: 11,
    };
    let mut model = Model::from_hf_dir(&fixtures().join("tiny_qwen2/untied"), &CPU).unwrap();
    let varmap = VarMap::new();
    model.enable_lora(&lora, &varmap).unwrap();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for (name, var) in named_vars(&varmap).unwrap() {
        if name.ends_with("lora_B.weight") {
            let n = var.as_tensor().elem_count();
            let v: Vec<f32> = (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
                })
                .collect();
            var.set(&Tensor::from_vec(v, var.as_tensor().dims(), &CPU).unwrap())
                .unwrap();
        }
    }
    (model, lora)
}

fn same_number(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-12,
        _ => a == b,
    }
}

#[test]
fn peft_export_matches_real_peft_and_the_committed_export() {
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("peft/peft_reference.json")).unwrap(),
    )
    .unwrap();
    let (model, lora) = adapted_model(&golden);
    let out = std::env::temp_dir().join(format!("leadladder-peft-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    save_adapter(&model, None, &lora, "tiny_qwen2/untied", &out).unwrap();

    // Tensor names, shapes and dtype exactly as PEFT writes them.
    let ours = read_safetensors(&out.join(ADAPTER_WEIGHTS)).unwrap();
    let ours_shapes: BTreeMap<String, Vec<usize>> = ours
        .iter()
        .map(|(n, t)| (n.clone(), t.dims().to_vec()))
        .collect();
    let peft_shapes: BTreeMap<String, Vec<usize>> = golden["tensors"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(n, v)| {
            assert_eq!(v["dtype"], "float32", "{n}");
            let shape = v["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            (n.clone(), shape)
        })
        .collect();
    assert_eq!(ours_shapes, peft_shapes);
    assert!(ours.values().all(|t| t.dtype() == DType::F32));

    // Config: every key we write is one PEFT writes, with PEFT's value for these settings.
    let ours_cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(ADAPTER_CONFIG)).unwrap()).unwrap();
    let peft_cfg = golden["adapter_config"].as_object().unwrap();
    let ours_obj = ours_cfg.as_object().unwrap();
    for key in [
        "peft_type",
        "task_type",
        "r",
        "lora_alpha",
        "lora_dropout",
        "target_modules",
        "base_model_name_or_path",
        "bias",
        "fan_in_fan_out",
        "use_rslora",
        "use_dora",
        "inference_mode",
    ] {
        assert!(ours_obj.contains_key(key), "adapter_config lacks `{key}`");
    }
    for (key, value) in ours_obj {
        let want = peft_cfg
            .get(key)
            .unwrap_or_else(|| panic!("`{key}` is not a key PEFT writes"));
        match key.as_str() {
            "base_model_name_or_path" => assert_eq!(value, "tiny_qwen2/untied"),
            _ => assert!(
                same_number(value, want),
                "`{key}`: ours {value}, PEFT {want}"
            ),
        }
    }

    // The trainer's own hidden states with the adapters, for the PEFT check.
    let exp = candle_core::safetensors::load(
        fixtures().join("tiny_qwen2/untied/expected.safetensors"),
        &CPU,
    )
    .unwrap();
    let ids = exp["input_ids"].clone();
    let mask = exp["attention_mask"].clone();
    let hidden = model
        .forward(
            &ids.to_dtype(DType::U32).unwrap(),
            &mask.to_dtype(DType::F32).unwrap(),
            None,
        )
        .unwrap();
    let last = last_token_pool(&hidden, &mask.to_dtype(DType::F32).unwrap()).unwrap();
    let base_last = exp["last_hidden"].clone();
    let moved = values(&(&last - &base_last).unwrap())
        .iter()
        .fold(0f32, |m, x| m.max(x.abs()));
    assert!(
        moved > 1e-2,
        "the adapters move the hidden states ({moved})"
    );

    let committed = fixtures().join("peft/ours");
    if std::env::var_os("LEADLADDER_REGEN_PEFT").is_some() {
        std::fs::create_dir_all(&committed).unwrap();
        for f in [ADAPTER_CONFIG, ADAPTER_WEIGHTS] {
            std::fs::copy(out.join(f), committed.join(f)).unwrap();
        }
        write_safetensors(
            &[
                ("input_ids".to_string(), ids),
                ("attention_mask".to_string(), mask),
                ("last_hidden".to_string(), last),
            ],
            &committed.join("outputs.safetensors"),
        )
        .unwrap();
        eprintln!("rewrote {}", committed.display());
    } else {
        assert_eq!(
            std::fs::read_to_string(committed.join(ADAPTER_CONFIG)).unwrap(),
            std::fs::read_to_string(out.join(ADAPTER_CONFIG)).unwrap()
        );
        let theirs = read_safetensors(&committed.join(ADAPTER_WEIGHTS)).unwrap();
        assert_eq!(theirs.len(), ours.len());
        for (name, t) in &ours {
            assert_eq!(values(&theirs[name]), values(t), "{name}");
        }
        let rec =
            candle_core::safetensors::load(committed.join("outputs.safetensors"), &CPU).unwrap();
        let diff = values(&(&rec["last_hidden"] - &last).unwrap())
            .iter()
            .fold(0f32, |m, x| m.max(x.abs()));
        assert!(
            diff <= 1e-5,
            "hidden states drift from the committed export by {diff}"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_model_without_adapters_has_nothing_to_export() {
    let model = Model::from_hf_dir(&fixtures().join("tiny_qwen2/untied"), &CPU).unwrap();
    let out = std::env::temp_dir().join(format!("leadladder-peft-none-{}", std::process::id()));
    let err = save_adapter(&model, None, &LoraConfig::default(), "x", &out).unwrap_err();
    assert!(err.to_string().contains("no LoRA adapters"), "{err}");
    assert!(!out.exists());
}
