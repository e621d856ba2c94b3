//! Named training presets.

use std::path::Path;

use crate::device::{DeviceSpec, Precision};
use crate::error::{Error, Result};
use crate::lora::LoraConfig;
use crate::parallel::Parallel;
use crate::qwen2::Config;
use leadladder_core::fields::FitOptions;

use crate::train::{Encoding, NumericEmbedding, Objective, TrainOptions, load_base};

/// Presets that train a model from scratch, accepted by [`preset`].
pub const PRESETS: &[&str] = &["tiny", "demo"];

/// The preset that fine-tunes a Hugging Face Qwen2 checkpoint with LoRA ([`qwen2_lora`]).
pub const LORA_PRESET: &str = "qwen2-lora";

/// The options of a named preset.
///
/// * `tiny` — for tests and smoke runs: hidden 64, 2 layers, a 1k-token BPE, 128-token prompts.
/// * `demo` — the built-in demo model: an ensemble of 3 members of `tiny`'s shape with 64-token
///   prompts (the field tokens, then the newest dialogue turns), 2 epochs each over the whole
///   training period, numeric bins embedded ordinally (each bin the running sum of its field's
///   rows, so neighbouring bins share what they learn). Chosen on the validation slices of the benchmark's datasets
///   (bench/quality/tuning.md): 3 members raised the mean validation AUC over the five funnels and
///   narrowed the seed spread; ordinal bins raised it on every funnel with numeric fields;
///   out-of-range tokens, field dropout and recency weights did not help;
///   a hidden-96, 3-layer model ran at 0.43x the tokens/s and was no better after an epoch;
///   128-token prompts made an epoch 2.5x longer. Training costs 3x a single model.
pub fn preset(name: &str) -> Result<TrainOptions> {
    let base = |model: Config, vocab_size, max_tokens| TrainOptions {
        preset: name.to_string(),
        model,
        vocab_size,
        max_tokens,
        encoding: Encoding::Fields,
        field_fit: FitOptions::default(),
        pool_fields: false,
        objective: Objective::Hpro,
        lambda_point: 1.0,
        lambda_pair: 1.0,
        lambda_sem: 0.1,
        batch_size: 32,
        grad_accum: 1,
        epochs: 3,
        lr: 2e-3,
        warmup_fraction: 0.05,
        min_lr_ratio: 0.1,
        weight_decay: 0.01,
        grad_clip: 1.0,
        pair_cap: 256,
        boost_share: 0.25,
        train_fraction: 0.7,
        val_fraction: 0.1,
        train_sample: None,
        patience: 2,
        seed: 7,
        bootstrap: 1000,
        checkpoint_every: 0,
        checkpoint_path: None,
        resume: false,
        max_steps_this_run: None,
        base: None,
        lora: None,
        device: DeviceSpec::Cpu,
        precision: Precision::F32,
        field_dropout: 0.0,
        recency_half_life: None,
        ensemble: 1,
        numeric_embedding: NumericEmbedding::Bins,
        parallel: Parallel::default(),
    };
    match name {
        "tiny" => {
            let mut model = Config::tiny(1024);
            model.model.max_position_embeddings = 128;
            Ok(TrainOptions {
                epochs: 2,
                ..base(model, 1024, 128)
            })
        }
        "demo" => {
            let mut model = Config::tiny(1024);
            model.model.max_position_embeddings = 64;
            Ok(TrainOptions {
                epochs: 2,
                ensemble: 3,
                numeric_embedding: NumericEmbedding::Ordinal,
                ..base(model, 1024, 64)
            })
        }
        LORA_PRESET => Err(Error::Config(format!(
            "the `{LORA_PRESET}` preset fine-tunes a Hugging Face Qwen2 checkpoint: give its \
             folder (`--base <dir>`)"
        ))),
        other => Err(Error::Config(format!(
            "unknown preset `{other}`; known: {}, {LORA_PRESET}",
            PRESETS.join(", ")
        ))),
    }
}

/// The `qwen2-lora` preset: LoRA fine-tuning of the Hugging Face Qwen2 checkpoint in `base`
/// (`config.json`, `model.safetensors` or shards, `tokenizer.json`), whose weights stay frozen.
/// The model shape and vocabulary are the checkpoint's; the prompt budget is 256 tokens (or the
/// checkpoint's `max_position_embeddings`, if smaller); one epoch over a 24k-lead sample, batches
/// of 16 with 2 accumulation steps, AdamW at 3e-4 without weight decay (PEFT's usual setting).
pub fn qwen2_lora(base: &Path, lora: LoraConfig) -> Result<TrainOptions> {
    let (tokenizer, model) = load_base(base)?;
    let max_tokens = 256.min(model.model.max_position_embeddings);
    Ok(TrainOptions {
        preset: LORA_PRESET.to_string(),
        vocab_size: tokenizer.vocab_size(),
        model,
        max_tokens,
        batch_size: 16,
        grad_accum: 2,
        epochs: 1,
        lr: 3e-4,
        weight_decay: 0.0,
        train_sample: Some(24_000),
        base: Some(base.to_path_buf()),
        lora: Some(lora),
        encoding: Encoding::Text,
        ..preset("tiny")?
    })
}
