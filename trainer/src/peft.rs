//! LoRA adapters as a Hugging Face PEFT adapter folder (`adapter_config.json` +
//! `adapter_model.safetensors`), loadable with `PeftModel.from_pretrained(base, dir)` on top of
//! the same base checkpoint.
//!
//! Tensor names are PEFT's for a `Qwen2ForCausalLM` wrapped in a `PeftModelForCausalLM`:
//! `base_model.model.{linear}.lora_A.weight` `[r, in]` and `...lora_B.weight` `[out, r]`, e.g.
//! `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`. PEFT scales by
//! `lora_alpha / r` (no rsLoRA), as [`crate::lora::LoraLinear`] does. The score heads are not part
//! of a causal-LM adapter; they ride in the bundle (and in `score_heads.safetensors` here).
//! `trainer/tests/fixtures/peft/make_peft_reference.py` records what real PEFT writes and checks
//! an exported folder with PEFT itself.

use std::path::Path;

use candle_core::{DType, Tensor};

use crate::error::{Error, Result};
use crate::heads::ScoreHeads;
use crate::lora::LoraConfig;
use crate::params::{write_json, write_safetensors};
use crate::qwen2::Model;

/// Prefix PEFT puts before the transformers parameter name.
pub const PEFT_PREFIX: &str = "base_model.model.";

/// The adapter file name.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
/// The adapter config file name.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// The score heads, beside the adapter (PEFT ignores the file).
pub const HEADS_FILE: &str = "score_heads.safetensors";

/// `adapter_config.json` for `lora` on the base `base_model_name_or_path`.
///
/// Writes the keys every PEFT version since 0.9 reads, with PEFT's defaults for the features this
/// trainer does not use (DoRA, rsLoRA, per-module rank/alpha patterns, layer selection, modules
/// to save); newer PEFT versions fill the keys they added with their defaults.
pub fn adapter_config(lora: &LoraConfig, base_model_name_or_path: &str) -> serde_json::Value {
    let mut targets = lora.targets.clone();
    targets.sort();
    targets.dedup();
    // PEFT types `lora_alpha` as an int (a float loads too); the dropout is written as its
    // shortest decimal (0.05, not the f32's 0.05000000074505806).
    let alpha = if lora.alpha.fract() == 0.0 && lora.alpha.abs() < 1e15 {
        serde_json::json!(lora.alpha as i64)
    } else {
        serde_json::json!(lora.alpha)
    };
    let dropout: f64 = lora
        .dropout
        .to_string()
        .parse()
        .unwrap_or(f64::from(lora.dropout));
    serde_json::json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model_name_or_path,
        "revision": null,
        "inference_mode": true,
        "r": lora.r,
        "lora_alpha": alpha,
        "lora_dropout": dropout,
        "target_modules": targets,
        "bias": "none",
        "fan_in_fan_out": false,
        "init_lora_weights": true,
        "use_rslora": false,
        "use_dora": false,
        "modules_to_save": null,
        "layers_to_transform": null,
        "layers_pattern": null,
        "rank_pattern": {},
        "alpha_pattern": {},
        "megatron_config": null,
        "megatron_core": "megatron.core",
        "loftq_config": {},
        "layer_replication": null,
        "auto_mapping": null,
    })
}

/// The adapter tensors under PEFT's names (f32, detached), sorted by name.
pub fn adapter_tensors(model: &Model) -> Result<Vec<(String, Tensor)>> {
    let mut out: Vec<(String, Tensor)> = model
        .lora_tensors()
        .into_iter()
        .map(|(name, t)| Ok((format!("{PEFT_PREFIX}{name}"), t.to_dtype(DType::F32)?)))
        .collect::<Result<_>>()?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Writes the PEFT adapter folder `dir` (created if missing): `adapter_config.json`,
/// `adapter_model.safetensors` and, when `heads` is given, `score_heads.safetensors`. Fails if
/// the model has no adapters.
pub fn save_adapter(
    model: &Model,
    heads: Option<&ScoreHeads>,
    lora: &LoraConfig,
    base_model_name_or_path: &str,
    dir: &Path,
) -> Result<()> {
    let tensors = adapter_tensors(model)?;
    if tensors.is_empty() {
        return Err(Error::Config(
            "the model has no LoRA adapters to export".into(),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.into(),
        source,
    })?;
    write_json(
        &adapter_config(lora, base_model_name_or_path),
        &dir.join(ADAPTER_CONFIG),
    )?;
    write_safetensors(&tensors, &dir.join(ADAPTER_WEIGHTS))?;
    if let Some(heads) = heads {
        write_safetensors(&heads.tensors()?, &dir.join(HEADS_FILE))?;
    }
    Ok(())
}
