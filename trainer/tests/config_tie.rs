//! The trainer's Qwen2 `Config` and the bundle's `ModelConfig` describe the same model; this ties
//! them together for every preset, so a field added to one without the other fails here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use leadladder_bundle::ModelConfig;
use leadladder_trainer::Config;
use leadladder_trainer::LoraConfig;
use leadladder_trainer::preset::{LORA_PRESET, PRESETS, preset, qwen2_lora};

#[test]
fn every_preset_config_maps_onto_the_bundle_model_config_and_back() {
    let base = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tiny_qwen2/untied");
    let mut configs: Vec<(&str, Config)> = PRESETS
        .iter()
        .map(|name| (*name, preset(name).unwrap().model))
        .collect();
    // The LoRA preset's model is its base checkpoint's.
    configs.push((
        LORA_PRESET,
        qwen2_lora(&base, LoraConfig::default()).unwrap().model,
    ));
    for (name, cfg) in configs {
        let bundle: ModelConfig = serde_json::from_value(cfg.to_hf_json()).unwrap();
        bundle.validate().unwrap();
        assert_eq!(bundle.vocab_size, cfg.vocab_size, "{name}: vocab_size");
        assert_eq!(bundle.hidden_size, cfg.hidden_size, "{name}: hidden_size");
        assert_eq!(
            bundle.intermediate_size, cfg.intermediate_size,
            "{name}: intermediate_size"
        );
        assert_eq!(
            bundle.num_hidden_layers, cfg.num_hidden_layers,
            "{name}: num_hidden_layers"
        );
        assert_eq!(
            bundle.num_attention_heads, cfg.num_attention_heads,
            "{name}: num_attention_heads"
        );
        assert_eq!(
            bundle.num_key_value_heads, cfg.num_key_value_heads,
            "{name}: num_key_value_heads"
        );
        assert_eq!(
            bundle.max_position_embeddings, cfg.max_position_embeddings,
            "{name}: max_position_embeddings"
        );
        assert_eq!(bundle.rope_theta, cfg.rope_theta, "{name}: rope_theta");
        assert_eq!(
            bundle.rms_norm_eps, cfg.rms_norm_eps,
            "{name}: rms_norm_eps"
        );
        assert_eq!(
            bundle.tie_word_embeddings, cfg.tie_word_embeddings,
            "{name}: tie_word_embeddings"
        );

        // Back: the bundle's config, as stored, must rebuild the same architecture in the trainer
        // (the two trainer-only fields, activation and init std, fall back to HF's defaults).
        let back: Config = serde_json::from_value(serde_json::to_value(&bundle).unwrap()).unwrap();
        assert_eq!(back.hidden_act, "silu", "{name}");
        let expected = Config {
            initializer_range: back.initializer_range,
            ..cfg.clone()
        };
        assert_eq!(
            back, expected,
            "{name}: round trip through the bundle config"
        );
    }
}
