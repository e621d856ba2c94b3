//! The model configuration carried in a bundle's `config` metadata key: the project's one Qwen2
//! configuration, used by the trainer, the bundle loader and the Burn scorer alike.
//!
//! [`ModelConfig`] holds the Hugging Face Qwen2 fields under their `config.json` names and
//! deserialises straight from an HF `config.json` (unknown keys ignored) with strict rules: a
//! config that asks for something the runtimes cannot run (another `model_type`, an activation
//! other than SiLU, sliding-window attention, scaled RoPE, an odd head dimension, inconsistent
//! head counts…) is refused with a message naming the field. [`BundleConfig`] flattens those
//! fields next to the ranker's own keys, so the stored JSON is an HF-style config plus
//! `architecture`, `max_tokens`, `heads`, `dtype`, `calibration`, `pad_token_id`, `eos_token_id`.
//! [`ModelConfig::expected_tensors`] is the single list of tensor names and shapes that the
//! exporter, every loader and the tests agree on; [`ModelConfig::forward_flops`] and
//! [`BundleConfig::gpu_bytes_needed`] are the cost formulas of a forward pass.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::stored::StoreDtype;

/// The only architecture a bundle may declare.
pub const ARCHITECTURE: &str = "qwen2";

/// The scoring heads, in the order the config lists them: `rank` (pairwise rank score) and
/// `point` (the logit behind p(convert)).
pub const HEADS: [&str; 2] = ["rank", "point"];

/// Largest accepted `num_hidden_layers` (guards loaders against absurd configs).
pub const MAX_LAYERS: usize = 1024;

/// The Hugging Face Qwen2 configuration fields a model needs. Field names match `config.json`;
/// defaults for the optional ones match `transformers.Qwen2Config` (`num_key_value_heads`: the
/// query heads; `max_position_embeddings` 32768; `rope_theta` 10000, also read from
/// transformers 5's `rope_parameters`; `rms_norm_eps` 1e-6; untied embeddings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawConfig")]
pub struct ModelConfig {
    /// Rows of the embedding (and of `lm_head` when untied); may exceed the tokenizer's ids.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Number of decoder layers (at most [`MAX_LAYERS`]).
    pub num_hidden_layers: usize,
    /// Query heads (divides `hidden_size` into an even head dimension).
    pub num_attention_heads: usize,
    /// Grouped-query attention: key/value heads (divides `num_attention_heads`).
    pub num_key_value_heads: usize,
    /// Longest sequence the RoPE tables cover.
    pub max_position_embeddings: usize,
    /// RoPE base.
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// When true there is no `lm_head.weight`: the LM head reuses `model.embed_tokens.weight`.
    pub tie_word_embeddings: bool,
}

/// A RoPE block of `config.json` (`rope_parameters` or the older `rope_scaling`).
#[derive(Deserialize)]
struct RawRope {
    rope_theta: Option<f64>,
    rope_type: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `config.json` as written, before the rules of [`ModelConfig`] are applied.
#[derive(Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    max_position_embeddings: Option<usize>,
    rope_theta: Option<f64>,
    rope_parameters: Option<RawRope>,
    rope_scaling: Option<RawRope>,
    rms_norm_eps: Option<f64>,
    tie_word_embeddings: Option<bool>,
    hidden_act: Option<String>,
    use_sliding_window: Option<bool>,
    head_dim: Option<usize>,
}

impl TryFrom<RawConfig> for ModelConfig {
    /// The reason, naming the field.
    type Error = String;

    fn try_from(raw: RawConfig) -> std::result::Result<Self, String> {
        if let Some(mt) = &raw.model_type
            && mt != ARCHITECTURE
        {
            return Err(format!(
                "`model_type` is {mt:?}; only {ARCHITECTURE:?} models can be run"
            ));
        }
        if let Some(act) = &raw.hidden_act
            && act != "silu"
        {
            return Err(format!(
                "`hidden_act` is {act:?}; only \"silu\" (the SwiGLU MLP) is supported"
            ));
        }
        if raw.use_sliding_window == Some(true) {
            return Err(
                "`use_sliding_window` is true; sliding-window attention is not supported".into(),
            );
        }
        for (key, rope) in [
            ("rope_parameters", &raw.rope_parameters),
            ("rope_scaling", &raw.rope_scaling),
        ] {
            let Some(rope) = rope else { continue };
            let kind = rope
                .rope_type
                .as_deref()
                .or(rope.kind.as_deref())
                .unwrap_or("default");
            if kind != "default" {
                return Err(format!(
                    "`{key}` asks for RoPE type {kind:?}; only the default RoPE is supported"
                ));
            }
        }
        let cfg = ModelConfig {
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            intermediate_size: raw.intermediate_size,
            num_hidden_layers: raw.num_hidden_layers,
            num_attention_heads: raw.num_attention_heads,
            num_key_value_heads: raw.num_key_value_heads.unwrap_or(raw.num_attention_heads),
            max_position_embeddings: raw.max_position_embeddings.unwrap_or(32_768),
            rope_theta: raw
                .rope_parameters
                .as_ref()
                .and_then(|r| r.rope_theta)
                .or(raw.rope_theta)
                .unwrap_or(10_000.0),
            rms_norm_eps: raw.rms_norm_eps.unwrap_or(1e-6),
            tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(false),
        };
        cfg.check()?;
        if let Some(hd) = raw.head_dim
            && hd != cfg.head_dim()
        {
            return Err(format!(
                "`head_dim` is {hd}, but `hidden_size` / `num_attention_heads` is {}",
                cfg.head_dim()
            ));
        }
        Ok(cfg)
    }
}

impl ModelConfig {
    /// Bytes of the embedding table in f32 (`vocab_size × hidden_size × 4`).
    pub fn embedding_f32_bytes(&self) -> u64 {
        self.vocab_size as u64 * self.hidden_size as u64 * 4
    }

    /// Bytes of every decoder layer's weight matrices in f32 (q, k, v, o, gate, up, down).
    pub fn layer_matrices_f32_bytes(&self) -> u64 {
        let (h, i) = (self.hidden_size as u64, self.intermediate_size as u64);
        let kv = (self.num_key_value_heads * self.head_dim()) as u64;
        let per_layer = 2 * h * h + 2 * kv * h + 3 * h * i;
        per_layer * self.num_hidden_layers as u64 * 4
    }

    /// Dimension of one attention head (`hidden_size / num_attention_heads`; 0 if heads is 0).
    pub fn head_dim(&self) -> usize {
        self.hidden_size
            .checked_div(self.num_attention_heads)
            .unwrap_or(0)
    }

    /// Checks that the runtimes can run this shape: dimensions positive and consistent, an even
    /// head dimension, finite positive RoPE base and norm epsilon. The error names the field
    /// (as metadata key `config`).
    pub fn validate(&self) -> Result<()> {
        self.check()
            .map_err(|reason| Error::bad_meta("config", reason))
    }

    /// [`ModelConfig::validate`]'s rules, with the reason as plain text (for callers that
    /// report it as their own configuration error, like the trainer).
    pub fn check(&self) -> std::result::Result<(), String> {
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
                return Err(format!("`{name}` must be positive"));
            }
        }
        if self.num_hidden_layers > MAX_LAYERS {
            return Err(format!(
                "`num_hidden_layers` is {}, more than the supported {MAX_LAYERS}",
                self.num_hidden_layers
            ));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "`hidden_size` {} is not a multiple of `num_attention_heads` {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if !self
            .num_attention_heads
            .is_multiple_of(self.num_key_value_heads)
        {
            return Err(format!(
                "`num_attention_heads` {} is not a multiple of `num_key_value_heads` {}",
                self.num_attention_heads, self.num_key_value_heads
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(format!(
                "`hidden_size` / `num_attention_heads` = {} is an odd head dimension; RoPE \
                 rotates the two halves of each head, so it must be even",
                self.head_dim()
            ));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
            return Err(format!(
                "`rope_theta` must be finite and positive, got {}",
                self.rope_theta
            ));
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps > 0.0) {
            return Err(format!(
                "`rms_norm_eps` must be finite and positive, got {}",
                self.rms_norm_eps
            ));
        }
        Ok(())
    }

    /// The config as a Hugging Face `config.json` value (`Qwen2ForCausalLM`, f32, SiLU, no
    /// sliding window), which deserialises back to the same [`ModelConfig`]. Writes
    /// `rope_theta` both at top level and in `rope_parameters`, which old and new transformers
    /// read.
    pub fn to_hf_json(&self) -> serde_json::Value {
        serde_json::json!({
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": ARCHITECTURE,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "max_position_embeddings": self.max_position_embeddings,
            "rope_theta": self.rope_theta,
            "rope_parameters": {"rope_theta": self.rope_theta, "rope_type": "default"},
            "rms_norm_eps": self.rms_norm_eps,
            "tie_word_embeddings": self.tie_word_embeddings,
            "hidden_act": "silu",
            "use_sliding_window": false,
            "attention_dropout": 0.0,
            "torch_dtype": "float32",
        })
    }

    /// Forward FLOPs of one batch of `b` sequences padded to `p` tokens (2 per multiply-add).
    ///
    /// Per layer and token: q and o projections `h·h` each, k and v `h·kv` each (kv = key/value
    /// heads × head dim), the SwiGLU MLP `3·h·i`; per layer and sequence the attention scores
    /// and the weighted sum, `p·p·h` each (every query against every padded key, as computed).
    /// The two heads add `2·h` per sequence. Norms, RoPE, softmax and the embedding lookup are
    /// not counted.
    pub fn forward_flops(&self, b: usize, p: usize) -> f64 {
        let h = self.hidden_size as f64;
        let kv = (self.num_key_value_heads * self.head_dim()) as f64;
        let i = self.intermediate_size as f64;
        let (b, p) = (b as f64, p as f64);
        let per_token = 2.0 * (2.0 * h * h + 2.0 * h * kv + 3.0 * h * i);
        let attention = 2.0 * 2.0 * p * p * h;
        let per_layer = b * (p * per_token + attention);
        self.num_hidden_layers as f64 * per_layer + b * 2.0 * 2.0 * h
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

/// Which head's score a [`Calibration`] turns into p(convert).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CalibratedHead {
    /// The rank head, which orders the queue: p(convert) is then monotone down the queue
    /// (what `leadladder-bundle/2` trainers write).
    Rank,
    /// The pointwise head (every `leadladder-bundle/1` bundle; the default when the key is
    /// absent).
    #[default]
    Point,
}

/// Platt scaling: `p(convert) = sigmoid(a * s + b)`, where `s` is the score of `head`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Slope.
    pub a: f64,
    /// Intercept.
    pub b: f64,
    /// The head whose score is calibrated (absent in `leadladder-bundle/1`: the point head).
    #[serde(default)]
    pub head: CalibratedHead,
}

impl Default for Calibration {
    /// The identity calibration (`a = 1`, `b = 0`) of the point head.
    fn default() -> Self {
        Self {
            a: 1.0,
            b: 0.0,
            head: CalibratedHead::Point,
        }
    }
}

impl Calibration {
    /// `sigmoid(a * score + b)` for a score of the calibrated head.
    pub fn probability(&self, score: f64) -> f64 {
        let z = self.a * score + self.b;
        1.0 / (1.0 + (-z).exp())
    }

    /// p(convert) of a lead from both head outputs: the calibrated head's score goes through
    /// [`Calibration::probability`].
    pub fn p_convert(&self, rank: f64, point_logit: f64) -> f64 {
        self.probability(match self.head {
            CalibratedHead::Rank => rank,
            CalibratedHead::Point => point_logit,
        })
    }
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

/// Most members an ensemble may have.
pub const MAX_ENSEMBLE: usize = 16;

/// The stored name of tensor `name` of ensemble member `member`: the name itself for member 0,
/// `ensemble.<member>.<name>` for the others.
pub fn member_tensor_name(member: usize, name: &str) -> String {
    if member == 0 {
        name.to_string()
    } else {
        format!("ensemble.{member}.{name}")
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
    /// Platt scaling of one head's score into p(convert).
    pub calibration: Calibration,
    /// When set, the heads read the sum of the final-norm hidden states of the last real token
    /// and of this position (the last field token of a `leadladder-prompt/2` encoding). Absent:
    /// the last real token alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_position: Option<usize>,
    /// Members of an ensemble: this many models of the same shape, whose rank scores and point
    /// logits are averaged (summed in member order, then divided by their number). Member 0's
    /// tensors have the plain Hugging Face names, member `m`'s the prefix `ensemble.<m>.`
    /// ([`member_tensor_name`]). Absent: 1.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub ensemble: usize,
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
            pool_position: None,
            ensemble: 1,
            pad_token_id,
            eos_token_id,
        }
    }

    /// Every tensor of the bundle: [`ModelConfig::expected_tensors`] once per ensemble member,
    /// named by [`member_tensor_name`].
    pub fn expected_tensors(&self) -> Vec<(String, Vec<usize>)> {
        let one = self.model.expected_tensors();
        (0..self.ensemble.max(1))
            .flat_map(|m| {
                one.iter()
                    .map(move |(n, s)| (member_tensor_name(m, n), s.clone()))
            })
            .collect()
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
        if let Some(p) = self.pool_position
            && p + 1 >= self.max_tokens
        {
            return bad(format!(
                "`pool_position` {p} leaves no room for a last token within `max_tokens` {}",
                self.max_tokens
            ));
        }
        if !(1..=MAX_ENSEMBLE).contains(&self.ensemble) {
            return bad(format!(
                "`ensemble` is {}, expected 1..={MAX_ENSEMBLE}",
                self.ensemble
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

    /// Bytes of the largest GPU buffer a forward pass of `batch` sequences of `max_tokens`
    /// tokens needs: the attention scores, the MLP activations or the embedding matrix (f32).
    pub fn gpu_bytes_needed(&self, batch: usize) -> u64 {
        self.gpu_bytes_needed_without_embedding(batch)
            .max(self.model.embedding_f32_bytes())
    }

    /// The largest single GPU buffer a forward pass of `batch` prompts needs when the embedding
    /// table stays on the host (its gathered rows are uploaded instead): the attention scores,
    /// the MLP activations, or the largest decoder matrix, in f32.
    pub fn gpu_bytes_needed_without_embedding(&self, batch: usize) -> u64 {
        let m = &self.model;
        let (b, t) = (batch as u64, self.max_tokens as u64);
        let attention = b * m.num_attention_heads as u64 * t * t * 4;
        let mlp = b * t * m.intermediate_size as u64 * 4;
        let matrix = m.intermediate_size as u64 * m.hidden_size as u64 * 4;
        attention.max(mlp).max(matrix)
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
        .or_else(|| check::<Option<usize>>(v, "pool_position"))
        .or_else(|| check::<u32>(v, "pad_token_id"))
        .or_else(|| check::<u32>(v, "eos_token_id"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tiny() -> ModelConfig {
        ModelConfig {
            vocab_size: 10,
            hidden_size: 4,
            intermediate_size: 6,
            num_hidden_layers: 2,
            num_attention_heads: 2,
            num_key_value_heads: 1,
            max_position_embeddings: 16,
            rope_theta: 10000.0,
            rms_norm_eps: 1e-6,
            tie_word_embeddings: false,
        }
    }

    #[test]
    fn flops_count_projections_attention_and_heads() {
        let cfg = tiny();
        // kv = 1 head × 2 dims = 2. Per token: 2·(2·16 + 2·8 + 3·24) = 240. Attention for p = 3:
        // 4·9·4 = 144. One sequence of 3 tokens: 2 layers · (3·240 + 144) + 2·2·4 = 1744.
        assert_eq!(cfg.forward_flops(1, 3), 1744.0);
        assert_eq!(cfg.forward_flops(2, 3), 2.0 * 1744.0);
    }

    #[test]
    fn gpu_bytes_are_the_largest_buffer() {
        let cfg = BundleConfig::new(tiny(), 16, 0, 1);
        // attention 8·2·16·16·4 = 16384 > mlp 8·16·6·4 = 3072 > embedding 10·4·4 = 160.
        assert_eq!(cfg.gpu_bytes_needed(8), 16384);
        assert_eq!(cfg.gpu_bytes_needed(0), 160);
        // Without the embedding the largest matrix (gate/up/down, 6·4·4 = 96) is the floor.
        assert_eq!(cfg.gpu_bytes_needed_without_embedding(8), 16384);
        assert_eq!(cfg.gpu_bytes_needed_without_embedding(0), 96);
        assert_eq!(cfg.model.embedding_f32_bytes(), 160);
        // 2 layers · (2·4·4 + 2·2·4 + 3·4·6) · 4 bytes.
        assert_eq!(cfg.model.layer_matrices_f32_bytes(), 2 * (32 + 16 + 72) * 4);
    }

    #[test]
    fn hf_json_round_trips_and_strict_rules_name_the_field() {
        let cfg = tiny();
        let back: ModelConfig = serde_json::from_value(cfg.to_hf_json()).unwrap();
        assert_eq!(back, cfg);
        // Optional fields take transformers' defaults.
        let min: ModelConfig = serde_json::from_str(
            r#"{"vocab_size": 10, "hidden_size": 8, "intermediate_size": 6,
                "num_hidden_layers": 1, "num_attention_heads": 2,
                "rope_parameters": {"rope_theta": 500.0, "rope_type": "default"}}"#,
        )
        .unwrap();
        assert_eq!(min.num_key_value_heads, 2);
        assert_eq!(min.max_position_embeddings, 32768);
        assert_eq!(min.rope_theta, 500.0);
        assert!(!min.tie_word_embeddings);
        for (key, value, needle) in [
            ("model_type", serde_json::json!("llama"), "model_type"),
            ("hidden_act", serde_json::json!("gelu"), "hidden_act"),
            (
                "use_sliding_window",
                serde_json::json!(true),
                "use_sliding_window",
            ),
            (
                "rope_scaling",
                serde_json::json!({"type": "linear", "factor": 2.0}),
                "rope_scaling",
            ),
            ("head_dim", serde_json::json!(4), "head_dim"),
            ("hidden_size", serde_json::json!(6), "odd head dimension"),
            (
                "num_key_value_heads",
                serde_json::json!(3),
                "num_key_value_heads",
            ),
            ("rms_norm_eps", serde_json::json!(0.0), "rms_norm_eps"),
        ] {
            let mut v = cfg.to_hf_json();
            v[key] = value;
            let err = serde_json::from_value::<ModelConfig>(v)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{key}: {err}");
        }
    }
}
