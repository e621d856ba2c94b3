//! The model configuration carried in a bundle's `config` metadata key.
//!
//! [`ModelConfig`] holds the Hugging Face Qwen2 fields under their `config.json` names, so an HF
//! `config.json` deserialises into it (unknown keys ignored). [`BundleConfig`] flattens those
//! fields next to the ranker's own keys, so the stored JSON is an HF-style config plus
//! `architecture`, `max_tokens`, `heads`, `dtype`, `calibration`, `pad_token_id`, `eos_token_id`.
//! [`ModelConfig::expected_tensors`] is the single list of tensor names and shapes that the
//! exporter, every loader and the tests agree on.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::format::StoreDtype;

/// The only architecture a bundle may declare.
pub const ARCHITECTURE: &str = "qwen2";

/// The scoring heads, in the order the config lists them: `rank` (pairwise rank score) and
/// `point` (the logit behind p(convert)).
pub const HEADS: [&str; 2] = ["rank", "point"];

/// Largest accepted `num_hidden_layers` (guards loaders against absurd configs).
pub const MAX_LAYERS: usize = 1024;

fn default_max_position_embeddings() -> usize {
    32768
}
fn default_rope_theta() -> f64 {
    10000.0
}
fn default_rms_norm_eps() -> f64 {
    1e-6
}

/// The Hugging Face Qwen2 configuration fields a scorer needs. Field names match `config.json`;
/// defaults for the optional ones match `transformers.Qwen2Config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Rows of the embedding (and of `lm_head` when untied); may exceed the tokenizer's ids.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Number of decoder layers (at most [`MAX_LAYERS`]).
    pub num_hidden_layers: usize,
    /// Query heads (divides `hidden_size`).
    pub num_attention_heads: usize,
    /// Grouped-query attention: key/value heads (divides `num_attention_heads`).
    pub num_key_value_heads: usize,
    /// Longest sequence the RoPE tables cover (default 32768).
    #[serde(default = "default_max_position_embeddings")]
    pub max_position_embeddings: usize,
    /// RoPE base (default 10000).
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    /// RMSNorm epsilon (default 1e-6).
    #[serde(default = "default_rms_norm_eps")]
    pub rms_norm_eps: f64,
    /// When true there is no `lm_head.weight`: the LM head reuses `model.embed_tokens.weight`.
    #[serde(default)]
    pub tie_word_embeddings: bool,
}

impl ModelConfig {
    /// Dimension of one attention head (`hidden_size / num_attention_heads`; 0 if heads is 0).
    pub fn head_dim(&self) -> usize {
        self.hidden_size
            .checked_div(self.num_attention_heads)
            .unwrap_or(0)
    }

    /// Checks that the dimensions are positive and consistent. The error names the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::bad_meta("config", reason));
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if v == 0 {
                return bad(format!("`{name}` must be positive"));
            }
        }
        if self.num_hidden_layers > MAX_LAYERS {
            return bad(format!(
                "`num_hidden_layers` is {}, more than the supported {MAX_LAYERS}",
                self.num_hidden_layers
            ));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(format!(
                "`hidden_size` {} is not a multiple of `num_attention_heads` {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if !self
            .num_attention_heads
            .is_multiple_of(self.num_key_value_heads)
        {
            return bad(format!(
                "`num_attention_heads` {} is not a multiple of `num_key_value_heads` {}",
                self.num_attention_heads, self.num_key_value_heads
            ));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
            return bad(format!(
                "`rope_theta` must be finite and positive, got {}",
                self.rope_theta
            ));
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps > 0.0) {
            return bad(format!(
                "`rms_norm_eps` must be finite and positive, got {}",
                self.rms_norm_eps
            ));
        }
        Ok(())
    }

    /// Every tensor a Qwen2 ranker with the [`HEADS`] has, with its shape (`[out, in]` for
    /// linear weights, as in Hugging Face checkpoints), in a fixed order: embeddings, layers in
    /// order, final norm, `lm_head` (untied only), heads. Int8 `.scale` companions are not
    /// listed (they follow from the storage dtype).
    ///
    /// Call it on a [validated](Self::validate) config: the list has
    /// `12 * num_hidden_layers + 6 or 7` entries.
    pub fn expected_tensors(&self) -> Vec<(String, Vec<usize>)> {
        let h = self.hidden_size;
        let kv = self.num_key_value_heads * self.head_dim();
        let i = self.intermediate_size;
        let v = self.vocab_size;
        let mut out = Vec::with_capacity(12 * self.num_hidden_layers.min(MAX_LAYERS) + 7);
        out.push(("model.embed_tokens.weight".to_string(), vec![v, h]));
        for l in 0..self.num_hidden_layers.min(MAX_LAYERS) {
            let p = format!("model.layers.{l}");
            out.push((format!("{p}.self_attn.q_proj.weight"), vec![h, h]));
            out.push((format!("{p}.self_attn.q_proj.bias"), vec![h]));
            out.push((format!("{p}.self_attn.k_proj.weight"), vec![kv, h]));
            out.push((format!("{p}.self_attn.k_proj.bias"), vec![kv]));
            out.push((format!("{p}.self_attn.v_proj.weight"), vec![kv, h]));
            out.push((format!("{p}.self_attn.v_proj.bias"), vec![kv]));
            out.push((format!("{p}.self_attn.o_proj.weight"), vec![h, h]));
            out.push((format!("{p}.mlp.gate_proj.weight"), vec![i, h]));
            out.push((format!("{p}.mlp.up_proj.weight"), vec![i, h]));
            out.push((format!("{p}.mlp.down_proj.weight"), vec![h, i]));
            out.push((format!("{p}.input_layernorm.weight"), vec![h]));
            out.push((format!("{p}.post_attention_layernorm.weight"), vec![h]));
        }
        out.push(("model.norm.weight".to_string(), vec![h]));
        if !self.tie_word_embeddings {
            out.push(("lm_head.weight".to_string(), vec![v, h]));
        }
        for head in HEADS {
            out.push((format!("score.{head}.weight"), vec![1, h]));
            out.push((format!("score.{head}.bias"), vec![1]));
        }
        out
    }
}

/// Platt scaling of the `point` head: `p(convert) = sigmoid(a * point_logit + b)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Slope.
    pub a: f64,
    /// Intercept.
    pub b: f64,
}

impl Default for Calibration {
    /// The identity calibration (`a = 1`, `b = 0`).
    fn default() -> Self {
        Self { a: 1.0, b: 0.0 }
    }
}

impl Calibration {
    /// p(convert) for a `point` head logit.
    pub fn probability(&self, point_logit: f64) -> f64 {
        let z = self.a * point_logit + self.b;
        1.0 / (1.0 + (-z).exp())
    }
}

/// The bundle's `config` metadata: the Qwen2 fields (flattened, HF names) plus the ranker's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleConfig {
    /// Always [`ARCHITECTURE`] (`"qwen2"`).
    pub architecture: String,
    /// The Qwen2 fields (flattened into the same JSON object).
    #[serde(flatten)]
    pub model: ModelConfig,
    /// Prompt budget in tokens, EOS included.
    pub max_tokens: usize,
    /// Head names; always [`HEADS`].
    pub heads: Vec<String>,
    /// How the 2-D weights are stored.
    pub dtype: StoreDtype,
    /// Platt scaling of the `point` head.
    pub calibration: Calibration,
    /// Padding id (the tokenizer's [`crate::LeadTokenizer::pad_id`]).
    pub pad_token_id: u32,
    /// End-of-sequence id (the tokenizer's [`crate::LeadTokenizer::eos_id`]).
    pub eos_token_id: u32,
}

impl BundleConfig {
    /// A config with the qwen2 architecture, the standard heads, f32 storage and identity
    /// calibration.
    pub fn new(
        model: ModelConfig,
        max_tokens: usize,
        pad_token_id: u32,
        eos_token_id: u32,
    ) -> Self {
        Self {
            architecture: ARCHITECTURE.to_string(),
            model,
            max_tokens,
            heads: HEADS.iter().map(|h| h.to_string()).collect(),
            dtype: StoreDtype::F32,
            calibration: Calibration::default(),
            pad_token_id,
            eos_token_id,
        }
    }

    /// Parses and validates the `config` metadata value.
    pub fn from_json(text: &str) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::bad_meta("config", e))?;
        let c: BundleConfig = serde_json::from_value(value.clone()).map_err(|e| {
            // Flattened structs lose the field name in serde's message: find it.
            Error::bad_meta(
                "config",
                field_error(&value).unwrap_or_else(|| e.to_string()),
            )
        })?;
        c.validate()?;
        Ok(c)
    }

    /// Serialises to the JSON stored under `config`.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::bad_meta("config", e))
    }

    /// Checks architecture, dimensions, heads, budget, calibration and special token ids.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::bad_meta("config", reason));
        if self.architecture != ARCHITECTURE {
            return bad(format!(
                "`architecture` is {:?}, expected {ARCHITECTURE:?}",
                self.architecture
            ));
        }
        self.model.validate()?;
        if self.heads.len() != HEADS.len() || self.heads.iter().zip(HEADS).any(|(a, b)| a != b) {
            return bad(format!("`heads` is {:?}, expected {HEADS:?}", self.heads));
        }
        if self.max_tokens < 2 || self.max_tokens > self.model.max_position_embeddings {
            return bad(format!(
                "`max_tokens` is {}, expected 2..={} (`max_position_embeddings`)",
                self.max_tokens, self.model.max_position_embeddings
            ));
        }
        if !(self.calibration.a.is_finite() && self.calibration.b.is_finite()) {
            return bad(format!(
                "`calibration` must be finite, got a = {}, b = {}",
                self.calibration.a, self.calibration.b
            ));
        }
        for (name, id) in [
            ("pad_token_id", self.pad_token_id),
            ("eos_token_id", self.eos_token_id),
        ] {
            if id as usize >= self.model.vocab_size {
                return bad(format!(
                    "`{name}` {id} is not below `vocab_size` {}",
                    self.model.vocab_size
                ));
            }
        }
        Ok(())
    }
}

/// The first field of a config JSON object whose value has the wrong type, as a message.
fn field_error(v: &serde_json::Value) -> Option<String> {
    fn check<T: serde::de::DeserializeOwned>(v: &serde_json::Value, key: &str) -> Option<String> {
        let x = v.get(key)?;
        serde_json::from_value::<T>(x.clone())
            .err()
            .map(|e| format!("`{key}`: {e}"))
    }
    let usizes = [
        "vocab_size",
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "max_position_embeddings",
        "max_tokens",
    ];
    if !v.is_object() {
        return Some("not a JSON object".into());
    }
    check::<String>(v, "architecture")
        .or_else(|| usizes.iter().find_map(|k| check::<usize>(v, k)))
        .or_else(|| check::<f64>(v, "rope_theta"))
        .or_else(|| check::<f64>(v, "rms_norm_eps"))
        .or_else(|| check::<bool>(v, "tie_word_embeddings"))
        .or_else(|| check::<Vec<String>>(v, "heads"))
        .or_else(|| check::<StoreDtype>(v, "dtype"))
        .or_else(|| check::<Calibration>(v, "calibration"))
        .or_else(|| check::<u32>(v, "pad_token_id"))
        .or_else(|| check::<u32>(v, "eos_token_id"))
}
