//! The trainer's own Qwen2, written with differentiable candle ops only.
//!
//! candle's fused `rms_norm`, `softmax_last_dim` and `rotary_emb::rope` have no backward pass
//! (the graph is cut silently) and candle-transformers' Qwen2 has private linears and a
//! padding-only mask, so this module re-implements the Hugging Face `Qwen2ForCausalLM` forward
//! with basic ops: one struct per HF module, with HF field and tensor names, so checkpoints load
//! and export by name.
//!
//! Shapes: `b` batch, `t` sequence length, `h` hidden size, `nh`/`nkv` query/key-value heads,
//! `d` head dim, `v` vocabulary.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Device, Tensor};
use candle_nn::VarMap;
use leadladder_bundle::ModelConfig;

use crate::error::{Error, Result};
use crate::lora::{DropoutKey, LoraConfig, LoraLinear};
use crate::params::{
    CheckpointParams, FreshParams, Init, ParamSource, read_hf_weights, write_json,
    write_safetensors,
};

/// Additive bias for masked attention scores: finite so that a fully masked row gives a uniform
/// (finite) softmax instead of NaN, and large enough that `exp` underflows to exactly 0.
pub const MASKED: f32 = -1e9;

/// The trainer's model configuration: the project's one Qwen2 shape ([`ModelConfig`], owned by
/// the bundle crate, parsed strictly from a Hugging Face `config.json`, and stored in every
/// bundle) plus what only training reads, the scale of fresh weights.
///
/// Deserialises from `config.json` (the shape by [`ModelConfig`]'s rules; `initializer_range`
/// defaults to HF's 0.02) and serialises to the same flat HF keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The Qwen2 shape: what a bundle stores and every runtime runs.
    pub model: ModelConfig,
    /// Std of the normal init of fresh weights (HF `initializer_range`).
    pub initializer_range: f64,
}

fn default_initializer_range() -> f64 {
    0.02
}

/// `config.json` as read: the shape's keys plus the training-only one.
#[derive(serde::Deserialize)]
struct RawConfig {
    #[serde(flatten)]
    model: ModelConfig,
    #[serde(default = "default_initializer_range")]
    initializer_range: f64,
}

impl<'de> serde::Deserialize<'de> for Config {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = RawConfig::deserialize(d)?;
        Ok(Config {
            model: raw.model,
            initializer_range: raw.initializer_range,
        })
    }
}

impl serde::Serialize for Config {
    /// Flat HF keys: the shape's, `hidden_act` (always SiLU) and `initializer_range`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Flat<'a> {
            #[serde(flatten)]
            model: &'a ModelConfig,
            hidden_act: &'static str,
            initializer_range: f64,
        }
        Flat {
            model: &self.model,
            hidden_act: "silu",
            initializer_range: self.initializer_range,
        }
        .serialize(s)
    }
}

impl Config {
    /// A tiny config for tests and smoke runs: hidden 64, 2 layers, 4 heads, 2 kv heads.
    pub fn tiny(vocab_size: usize) -> Self {
        Self {
            model: ModelConfig {
                vocab_size,
                hidden_size: 64,
                intermediate_size: 128,
                num_hidden_layers: 2,
                num_attention_heads: 4,
                num_key_value_heads: 2,
                max_position_embeddings: 512,
                rope_theta: 10_000.0,
                rms_norm_eps: 1e-6,
                tie_word_embeddings: true,
            },
            initializer_range: default_initializer_range(),
        }
    }

    /// Checks that the shape is one this module (and every scorer) can run.
    pub fn validate(&self) -> Result<()> {
        self.model.check().map_err(Error::Config)
    }

    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.into(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| Error::Json {
            path: path.into(),
            source,
        })
    }

    /// The config as a Hugging Face `config.json` value ([`ModelConfig::to_hf_json`] plus
    /// `initializer_range`).
    pub fn to_hf_json(&self) -> serde_json::Value {
        let mut v = self.model.to_hf_json();
        v["initializer_range"] = serde_json::json!(self.initializer_range);
        v
    }
}

/// RMSNorm `x / sqrt(mean(x^2) + eps) * weight`, written with basic (differentiable) ops.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    /// `[h]`.
    pub weight: Tensor,
    pub eps: f64,
}

impl RmsNorm {
    fn build(src: &mut dyn ParamSource, name: &str, size: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: src.take(&format!("{name}.weight"), &[size], Init::Ones)?,
            eps,
        })
    }

    /// `x: [..., h]` → `[..., h]`. Normalises in f32 and casts back to `x`'s dtype before
    /// the weight, as HF's `Qwen2RMSNorm` does (a no-op for f32 models).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let xf = x.to_dtype(DType::F32)?;
        let ms = xf.sqr()?.mean_keepdim(D::Minus1)?;
        let x = xf
            .broadcast_div(&(ms + self.eps)?.sqrt()?)?
            .to_dtype(dtype)?;
        Ok(x.broadcast_mul(&self.weight)?)
    }
}

/// RoPE tables for positions `0..t`: `(cos, sin)`, each `[t, d]`, HF layout
/// (`emb = cat(freqs, freqs)`, `inv_freq_i = theta^(-2i/d)`), computed in f64 then cast to f32.
pub fn rope_tables(
    t: usize,
    head_dim: usize,
    theta: f64,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let half = head_dim / 2;
    let mut cos = Vec::with_capacity(t * head_dim);
    let mut sin = Vec::with_capacity(t * head_dim);
    for pos in 0..t {
        for _ in 0..2 {
            for i in 0..half {
                let inv_freq = theta.powf(-((2 * i) as f64) / head_dim as f64);
                let angle = pos as f64 * inv_freq;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
    }
    Ok((
        Tensor::from_vec(cos, (t, head_dim), device)?,
        Tensor::from_vec(sin, (t, head_dim), device)?,
    ))
}

/// `rotate_half(x) = cat(-x2, x1)` over the last dim. `x: [..., d]` → `[..., d]`.
pub fn rotate_half(x: &Tensor) -> Result<Tensor> {
    let d = x.dim(D::Minus1)?;
    let x1 = x.narrow(D::Minus1, 0, d / 2)?;
    let x2 = x.narrow(D::Minus1, d / 2, d - d / 2)?;
    Ok(Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?)
}

/// HF Qwen2 RoPE: `x * cos + rotate_half(x) * sin`. `x: [b, n, t, d]`, `cos`/`sin`: `[t, d]`.
pub fn apply_rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    Ok((x.broadcast_mul(cos)? + rotate_half(x)?.broadcast_mul(sin)?)?)
}

/// Qwen2 self-attention: q/k/v projections with bias, o_proj without, grouped-query attention.
#[derive(Debug, Clone)]
pub struct Attention {
    pub q_proj: LoraLinear,
    pub k_proj: LoraLinear,
    pub v_proj: LoraLinear,
    pub o_proj: LoraLinear,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
}

impl Attention {
    fn build(src: &mut dyn ParamSource, name: &str, cfg: &Config) -> Result<Self> {
        let (h, d) = (cfg.model.hidden_size, cfg.model.head_dim());
        let std = cfg.initializer_range;
        let (nh, nkv) = (cfg.model.num_attention_heads, cfg.model.num_key_value_heads);
        Ok(Self {
            q_proj: LoraLinear::build(src, &format!("{name}.q_proj"), h, nh * d, true, std)?,
            k_proj: LoraLinear::build(src, &format!("{name}.k_proj"), h, nkv * d, true, std)?,
            v_proj: LoraLinear::build(src, &format!("{name}.v_proj"), h, nkv * d, true, std)?,
            o_proj: LoraLinear::build(src, &format!("{name}.o_proj"), nh * d, h, false, std)?,
            num_heads: nh,
            num_kv_heads: nkv,
            head_dim: d,
        })
    }

    /// `[b, nkv, t, d]` → `[b, nh, t, d]`, each kv head repeated for its `nh / nkv` query heads
    /// (HF `repeat_kv`: query head `i` uses kv head `i / n_rep`).
    fn repeat_kv(&self, x: &Tensor) -> Result<Tensor> {
        let n_rep = self.num_heads / self.num_kv_heads;
        if n_rep == 1 {
            return Ok(x.clone());
        }
        let (b, nkv, t, d) = x.dims4()?;
        Ok(x.unsqueeze(2)?
            .broadcast_as((b, nkv, n_rep, t, d))?
            .reshape((b, nkv * n_rep, t, d))?)
    }

    /// `x: [b, t, h]` → `[b, t, h]`, with the pass's RoPE tables and attention bias.
    pub fn forward(&self, x: &Tensor, pass: &Pass, dropout: Option<DropoutKey>) -> Result<Tensor> {
        let Pass {
            cos,
            sin,
            mask_bias,
        } = pass;
        let (b, t, _) = x.dims3()?;
        let (nh, nkv, d) = (self.num_heads, self.num_kv_heads, self.head_dim);
        // `[b, t, n*d]` projection → `[b, n, t, d]`.
        let heads = |proj: &LoraLinear, n: usize| -> Result<Tensor> {
            Ok(proj
                .forward(x, dropout)?
                .reshape((b, t, n, d))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let q = heads(&self.q_proj, nh)?;
        let k = heads(&self.k_proj, nkv)?;
        let v = heads(&self.v_proj, nkv)?;
        let q = apply_rope(&q, cos, sin)?;
        let k = self.repeat_kv(&apply_rope(&k, cos, sin)?)?.contiguous()?;
        let v = self.repeat_kv(&v)?.contiguous()?;
        // [b, nh, t, t]
        let scores = (q.matmul(&k.t()?)? * (1.0 / (d as f64).sqrt()))?.broadcast_add(mask_bias)?;
        // Softmax in f32 whatever the model dtype (HF eager attention does the same).
        let probs = candle_nn::ops::softmax(&scores.to_dtype(DType::F32)?, D::Minus1)?
            .to_dtype(x.dtype())?;
        let out = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, nh * d))?;
        self.o_proj.forward(&out, dropout)
    }
}

/// What every layer of one forward pass shares.
#[derive(Debug, Clone)]
pub struct Pass {
    /// RoPE tables `[t, d]` (HF layout, see [`rope_tables`]).
    pub cos: Tensor,
    pub sin: Tensor,
    /// `[b, 1, t, t]`: 0 = attend, [`MASKED`] = blocked (see [`attention_bias`]).
    pub mask_bias: Tensor,
}

/// SwiGLU MLP: `down(silu(gate(x)) * up(x))`, no biases.
#[derive(Debug, Clone)]
pub struct Mlp {
    pub gate_proj: LoraLinear,
    pub up_proj: LoraLinear,
    pub down_proj: LoraLinear,
}

impl Mlp {
    fn build(src: &mut dyn ParamSource, name: &str, cfg: &Config) -> Result<Self> {
        let (h, i, std) = (
            cfg.model.hidden_size,
            cfg.model.intermediate_size,
            cfg.initializer_range,
        );
        Ok(Self {
            gate_proj: LoraLinear::build(src, &format!("{name}.gate_proj"), h, i, false, std)?,
            up_proj: LoraLinear::build(src, &format!("{name}.up_proj"), h, i, false, std)?,
            down_proj: LoraLinear::build(src, &format!("{name}.down_proj"), i, h, false, std)?,
        })
    }

    /// `x: [b, t, h]` → `[b, t, h]`.
    pub fn forward(&self, x: &Tensor, dropout: Option<DropoutKey>) -> Result<Tensor> {
        let gate = self.gate_proj.forward(x, dropout)?.silu()?;
        let up = self.up_proj.forward(x, dropout)?;
        self.down_proj.forward(&(gate * up)?, dropout)
    }
}

/// Pre-norm decoder layer: `x + attn(norm(x))`, then `x + mlp(norm(x))`.
#[derive(Debug, Clone)]
pub struct DecoderLayer {
    pub self_attn: Attention,
    pub mlp: Mlp,
    pub input_layernorm: RmsNorm,
    pub post_attention_layernorm: RmsNorm,
}

impl DecoderLayer {
    fn build(src: &mut dyn ParamSource, name: &str, cfg: &Config) -> Result<Self> {
        let (h, eps) = (cfg.model.hidden_size, cfg.model.rms_norm_eps);
        Ok(Self {
            self_attn: Attention::build(src, &format!("{name}.self_attn"), cfg)?,
            mlp: Mlp::build(src, &format!("{name}.mlp"), cfg)?,
            input_layernorm: RmsNorm::build(src, &format!("{name}.input_layernorm"), h, eps)?,
            post_attention_layernorm: RmsNorm::build(
                src,
                &format!("{name}.post_attention_layernorm"),
                h,
                eps,
            )?,
        })
    }

    /// `x: [b, t, h]` → `[b, t, h]`.
    pub fn forward(&self, x: &Tensor, pass: &Pass, dropout: Option<DropoutKey>) -> Result<Tensor> {
        let a = self
            .self_attn
            .forward(&self.input_layernorm.forward(x)?, pass, dropout)?;
        let x = (x + a)?;
        let m = self
            .mlp
            .forward(&self.post_attention_layernorm.forward(&x)?, dropout)?;
        Ok((x + m)?)
    }
}

/// Lengths of a right-padded 0/1 `attention_mask: [b, t]` (any dtype), checked on the host.
/// A row may be all zeros (length 0); a 1 after a 0 (left or inner padding) is an error.
pub fn mask_lengths(attention_mask: &Tensor) -> Result<Vec<usize>> {
    let rows = attention_mask.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    let mut lengths = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let mut len = 0;
        let mut ended = false;
        for (j, &m) in row.iter().enumerate() {
            if m == 1.0 {
                if ended {
                    return Err(Error::Input(format!(
                        "attention_mask row {i} is not right-padded (1 at position {j} after a 0)"
                    )));
                }
                len += 1;
            } else if m == 0.0 {
                ended = true;
            } else {
                return Err(Error::Input(format!(
                    "attention_mask row {i} holds {m}, not 0/1"
                )));
            }
        }
        lengths.push(len);
    }
    Ok(lengths)
}

/// Causal and padding-aware additive attention bias `[b, 1, t, t]`: 0 where query `i` may attend
/// key `j` (`j <= i` and `j < len`), a large negative finite value elsewhere.
pub fn attention_bias(lengths: &[usize], t: usize, device: &Device) -> Result<Tensor> {
    let mut causal = vec![0f32; t * t];
    for i in 0..t {
        for j in (i + 1)..t {
            causal[i * t + j] = MASKED;
        }
    }
    let mut keys = vec![0f32; lengths.len() * t];
    for (bi, &len) in lengths.iter().enumerate() {
        for j in len..t {
            keys[bi * t + j] = MASKED;
        }
    }
    let causal = Tensor::from_vec(causal, (1, 1, t, t), device)?;
    let keys = Tensor::from_vec(keys, (lengths.len(), 1, 1, t), device)?;
    Ok(causal.broadcast_add(&keys)?)
}

/// Hidden state of each sequence's last non-pad token.
/// `hidden: [b, t, h]`, `attention_mask: [b, t]` (right-padded, every row non-empty) → `[b, h]`.
pub fn last_token_pool(hidden: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
    let (b, t, h) = hidden.dims3()?;
    if attention_mask.dims() != [b, t] {
        return Err(Error::Input(format!(
            "attention_mask shape {:?} does not match hidden {:?}",
            attention_mask.dims(),
            hidden.dims()
        )));
    }
    let lengths = mask_lengths(attention_mask)?;
    let mut idx = Vec::with_capacity(b);
    for (bi, &len) in lengths.iter().enumerate() {
        if len == 0 {
            return Err(Error::Input(format!("sequence {bi} has no tokens to pool")));
        }
        idx.push((bi * t + len - 1) as u32);
    }
    let idx = Tensor::from_vec(idx, b, hidden.device())?;
    Ok(hidden.reshape((b * t, h))?.index_select(&idx, 0)?)
}

/// What the score heads read, `[b, h]`: the hidden state of each sequence's last real token
/// ([`last_token_pool`]), plus, with `also = Some(p)`, the hidden state at position `p` (the last
/// field token of a `leadladder-prompt/2` lead, which sees the fields alone under causal
/// attention). `hidden: [b, t, h]`, `attention_mask: [b, t]`.
pub fn pool(hidden: &Tensor, attention_mask: &Tensor, also: Option<usize>) -> Result<Tensor> {
    let last = last_token_pool(hidden, attention_mask)?;
    let Some(p) = also else { return Ok(last) };
    let (_, t, _) = hidden.dims3()?;
    if let Some(bi) = mask_lengths(attention_mask)?
        .iter()
        .position(|&len| len <= p)
    {
        return Err(Error::Input(format!(
            "sequence {bi} is too short to pool position {p} (of {t})"
        )));
    }
    Ok((last + hidden.narrow(1, p, 1)?.squeeze(1)?)?)
}

/// `Qwen2ForCausalLM`: `model.embed_tokens`, `model.layers.{i}`, `model.norm`, and `lm_head`
/// (absent when `tie_word_embeddings`: the embedding matrix is used instead).
#[derive(Debug, Clone)]
pub struct Model {
    cfg: Config,
    /// Dtype of the base weights and of the activations (f32, or bf16/f16 for a frozen base).
    dtype: DType,
    /// `[v, h]`.
    pub embed_tokens: Tensor,
    pub layers: Vec<DecoderLayer>,
    pub norm: RmsNorm,
    /// `None` when tied.
    pub lm_head: Option<LoraLinear>,
    /// Ordinal blocks of the embedding (see [`Model::set_ordinal_blocks`]): `(first id, len)`.
    ordinal: Vec<(usize, usize)>,
    device: Device,
}

impl Model {
    fn build(
        cfg: &Config,
        src: &mut dyn ParamSource,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        cfg.validate()?;
        let (v, h) = (cfg.model.vocab_size, cfg.model.hidden_size);
        let embed_tokens = src.take(
            "model.embed_tokens.weight",
            &[v, h],
            Init::Normal(cfg.initializer_range),
        )?;
        let layers = (0..cfg.model.num_hidden_layers)
            .map(|i| DecoderLayer::build(src, &format!("model.layers.{i}"), cfg))
            .collect::<Result<Vec<_>>>()?;
        let norm = RmsNorm::build(src, "model.norm", h, cfg.model.rms_norm_eps)?;
        let lm_head = if cfg.model.tie_word_embeddings {
            None
        } else {
            Some(LoraLinear::build(
                src,
                "lm_head",
                h,
                v,
                false,
                cfg.initializer_range,
            )?)
        };
        Ok(Self {
            cfg: cfg.clone(),
            dtype,
            embed_tokens,
            layers,
            norm,
            lm_head,
            ordinal: Vec::new(),
            device: device.clone(),
        })
    }

    /// Reads the rows `first..first + len` of `embed_tokens` as an ordinal block, for each
    /// `(first, len)` of `blocks`: the embedding the model uses for id `first + i` is the sum of
    /// rows `first..=first + i` (a thermometer code times the rows, as in piecewise-linear
    /// numeric embeddings), so neighbouring quantile bins of a number share all but one term
    /// and what the model learns for one bin carries to the bins above it. Weight decay on the
    /// rows then pulls neighbouring bins together. Training-time only: [`Model::hf_tensors`]
    /// exports the summed table, so a bundle reads like any other.
    ///
    /// Blocks must lie inside the vocabulary, in increasing order, and not overlap.
    pub fn set_ordinal_blocks(&mut self, blocks: Vec<(usize, usize)>) -> Result<()> {
        let v = self.cfg.model.vocab_size;
        let mut at = 0;
        for &(first, len) in &blocks {
            if first < at || first + len > v {
                return Err(Error::Config(format!(
                    "ordinal embedding block {first}..{} overlaps another or lies outside the \
                     vocabulary of {v}",
                    first + len
                )));
            }
            at = first + len;
        }
        self.ordinal = blocks.into_iter().filter(|&(_, len)| len > 1).collect();
        Ok(())
    }

    /// The embedding table the model reads: `embed_tokens`, with its ordinal blocks summed
    /// ([`Model::set_ordinal_blocks`]).
    pub fn embedding(&self) -> Result<Tensor> {
        if self.ordinal.is_empty() {
            return Ok(self.embed_tokens.clone());
        }
        let v = self.cfg.model.vocab_size;
        let mut parts = Vec::with_capacity(2 * self.ordinal.len() + 1);
        let mut at = 0;
        for &(first, len) in &self.ordinal {
            if first > at {
                parts.push(self.embed_tokens.narrow(0, at, first - at)?);
            }
            parts.push(self.embed_tokens.narrow(0, first, len)?.cumsum(0)?);
            at = first + len;
        }
        if at < v {
            parts.push(self.embed_tokens.narrow(0, at, v - at)?);
        }
        Ok(Tensor::cat(&parts, 0)?)
    }

    /// A fresh model with seeded HF-style init (normal(0, `initializer_range`) weights, zero
    /// biases, unit norms); every weight is a trainable variable registered in `varmap` under its
    /// HF name.
    pub fn new(cfg: &Config, varmap: &VarMap, seed: u64, device: &Device) -> Result<Self> {
        let mut src = FreshParams {
            varmap,
            seed,
            device: device.clone(),
        };
        Self::build(cfg, &mut src, device, DType::F32)
    }

    /// A model from HF-named tensors (any float dtype, converted to f32 and moved to `device`).
    ///
    /// `trainable`: `None` keeps the weights frozen (plain tensors, e.g. for LoRA);
    /// `Some(varmap)` copies them into trainable variables registered there (full fine-tuning).
    ///
    /// Strict: a missing or mis-shaped tensor fails naming it, and so do unused tensors. Ignored:
    /// `*.rotary_emb.inv_freq` buffers, and `lm_head.weight` of a tied model when it equals the
    /// embedding.
    pub fn from_tensors(
        cfg: &Config,
        tensors: HashMap<String, Tensor>,
        device: &Device,
        trainable: Option<&VarMap>,
    ) -> Result<Self> {
        Self::from_tensors_as(cfg, tensors, device, DType::F32, trainable)
    }

    /// As [`Model::from_tensors`], with the weights converted to `dtype` (f32, bf16 or f16).
    /// A non-f32 model computes in that dtype (norms and softmax in f32, as HF does); it must be
    /// frozen (`trainable: None`): trainable weights are kept in f32.
    pub fn from_tensors_as(
        cfg: &Config,
        mut tensors: HashMap<String, Tensor>,
        device: &Device,
        dtype: DType,
        trainable: Option<&VarMap>,
    ) -> Result<Self> {
        if !matches!(dtype, DType::F32 | DType::BF16 | DType::F16) {
            return Err(Error::Config(format!(
                "model dtype {dtype:?} is not supported (f32, bf16, f16)"
            )));
        }
        if dtype != DType::F32 && trainable.is_some() {
            return Err(Error::Config(format!(
                "trainable weights are kept in f32, not {dtype:?}; only a frozen base can be {dtype:?}"
            )));
        }
        tensors.retain(|name, _| !name.ends_with(".rotary_emb.inv_freq"));
        if cfg.model.tie_word_embeddings
            && let Some(head) = tensors.remove("lm_head.weight")
        {
            let same = match tensors.get("model.embed_tokens.weight") {
                Some(e) if e.dims() == head.dims() => {
                    let diff = (e.to_dtype(DType::F32)? - head.to_dtype(DType::F32)?)?
                        .abs()?
                        .max_all()?
                        .to_scalar::<f32>()?;
                    diff == 0.0
                }
                _ => false,
            };
            if !same {
                return Err(Error::Config(
                    "tie_word_embeddings is true but lm_head.weight differs from \
                     model.embed_tokens.weight"
                        .into(),
                ));
            }
        }
        let mut src = CheckpointParams {
            tensors,
            device: device.clone(),
            dtype,
            trainable,
        };
        let model = Self::build(cfg, &mut src, device, dtype)?;
        src.finish()?;
        Ok(model)
    }

    /// Loads a Hugging Face Qwen2 folder (`config.json`, `model.safetensors` or sharded
    /// `model.safetensors.index.json`; f32/f16/bf16 → f32) with frozen base weights.
    pub fn from_hf_dir(dir: &Path, device: &Device) -> Result<Self> {
        Self::from_hf_dir_as(dir, device, DType::F32)
    }

    /// As [`Model::from_hf_dir`], with the frozen weights held (and computed) in `dtype`.
    pub fn from_hf_dir_as(dir: &Path, device: &Device, dtype: DType) -> Result<Self> {
        let cfg = Config::from_file(&dir.join("config.json"))?;
        Self::from_tensors_as(&cfg, read_hf_weights(dir)?, device, dtype, None)
    }

    /// As [`Model::from_hf_dir`], but every base weight becomes a trainable variable in `varmap`.
    pub fn from_hf_dir_trainable(dir: &Path, varmap: &VarMap, device: &Device) -> Result<Self> {
        let cfg = Config::from_file(&dir.join("config.json"))?;
        Self::from_tensors(&cfg, read_hf_weights(dir)?, device, Some(varmap))
    }

    /// The model's config.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Dtype of the base weights and of the hidden states [`Model::forward`] returns.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Every linear layer, in HF order (lm_head last when untied).
    pub fn linears(&self) -> Vec<&LoraLinear> {
        let mut out = Vec::new();
        for l in &self.layers {
            let (a, m) = (&l.self_attn, &l.mlp);
            out.extend([&a.q_proj, &a.k_proj, &a.v_proj, &a.o_proj]);
            out.extend([&m.gate_proj, &m.up_proj, &m.down_proj]);
        }
        out.extend(self.lm_head.as_ref());
        out
    }

    fn layer_linears_mut(&mut self) -> Vec<&mut LoraLinear> {
        let mut out = Vec::new();
        for l in &mut self.layers {
            let (a, m) = (&mut l.self_attn, &mut l.mlp);
            out.extend([&mut a.q_proj, &mut a.k_proj, &mut a.v_proj, &mut a.o_proj]);
            out.extend([&mut m.gate_proj, &mut m.up_proj, &mut m.down_proj]);
        }
        out
    }

    /// Attaches LoRA adapters to the decoder linears whose last name component is in
    /// `lora.targets`; their `A`/`B` variables are registered in `varmap` as
    /// `{linear}.lora_A.weight` / `{linear}.lora_B.weight`. Returns how many layers were adapted.
    /// Fails on a target that matches nothing (`lm_head` cannot be adapted).
    pub fn enable_lora(&mut self, lora: &LoraConfig, varmap: &VarMap) -> Result<usize> {
        let mut count = 0;
        let mut matched = vec![false; lora.targets.len()];
        for lin in self.layer_linears_mut() {
            let short = lin
                .name()
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .to_string();
            if let Some(k) = lora.targets.iter().position(|t| *t == short) {
                lin.add_lora(lora, varmap)?;
                matched[k] = true;
                count += 1;
            }
        }
        if let Some(k) = matched.iter().position(|m| !m) {
            return Err(Error::Config(format!(
                "LoRA target `{}` matches no decoder linear",
                lora.targets[k]
            )));
        }
        Ok(count)
    }

    /// Final-norm hidden states, in the model's dtype.
    ///
    /// `input_ids: [b, t]` (u32; i64 accepted), `attention_mask: [b, t]` 0/1, right-padded →
    /// `[b, t, h]`. Positions are `0..t`; attention is causal and never looks at padding, so the
    /// states of non-pad tokens do not depend on later tokens or on how much padding follows.
    /// Pad positions get finite, meaningless states. `dropout` (training) enables LoRA dropout
    /// with the masks of that key; `None` (evaluation, scoring) applies none.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        dropout: Option<DropoutKey>,
    ) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        if attention_mask.dims() != [b, t] {
            return Err(Error::Input(format!(
                "attention_mask shape {:?} != input_ids shape {:?}",
                attention_mask.dims(),
                input_ids.dims()
            )));
        }
        if t > self.cfg.model.max_position_embeddings {
            return Err(Error::Input(format!(
                "sequence length {t} exceeds max_position_embeddings {}",
                self.cfg.model.max_position_embeddings
            )));
        }
        let ids = match input_ids.dtype() {
            DType::U32 => input_ids.clone(),
            DType::I64 | DType::U8 => input_ids.to_dtype(DType::U32)?,
            other => {
                return Err(Error::Input(format!(
                    "input_ids dtype {other:?} is not u32"
                )));
            }
        };
        let lengths = mask_lengths(attention_mask)?;
        let h = self.cfg.model.hidden_size;
        let mut x = self
            .embedding()?
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, h))?;
        let (cos, sin) = rope_tables(
            t,
            self.cfg.model.head_dim(),
            self.cfg.model.rope_theta,
            &self.device,
        )?;
        let pass = Pass {
            cos: cos.to_dtype(self.dtype)?,
            sin: sin.to_dtype(self.dtype)?,
            mask_bias: attention_bias(&lengths, t, &self.device)?.to_dtype(self.dtype)?,
        };
        for layer in &self.layers {
            x = layer.forward(&x, &pass, dropout)?;
        }
        self.norm.forward(&x)
    }

    /// Next-token logits `hidden: [..., h]` → `[..., v]` with `lm_head` (or the tied embedding).
    pub fn lm_logits(&self, hidden: &Tensor) -> Result<Tensor> {
        match &self.lm_head {
            Some(head) => head.forward(hidden, None),
            None => {
                let dims = hidden.dims().to_vec();
                let Some((&h, lead)) = dims.split_last() else {
                    return Err(Error::Input("hidden must have rank >= 1".into()));
                };
                let n: usize = lead.iter().product();
                let logits = hidden.reshape((n, h))?.matmul(&self.embedding()?.t()?)?;
                let mut shape = lead.to_vec();
                shape.push(self.cfg.model.vocab_size);
                Ok(logits.reshape(shape)?)
            }
        }
    }

    /// HF-named base tensors (detached), LoRA merged into the weights; `lm_head.weight` omitted
    /// when tied (as `save_pretrained` does).
    pub fn hf_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = vec![(
            "model.embed_tokens.weight".to_string(),
            self.embedding()?.detach(),
        )];
        for (i, l) in self.layers.iter().enumerate() {
            for lin in [
                &l.self_attn.q_proj,
                &l.self_attn.k_proj,
                &l.self_attn.v_proj,
                &l.self_attn.o_proj,
            ] {
                lin.export(&mut out)?;
            }
            for lin in [&l.mlp.gate_proj, &l.mlp.up_proj, &l.mlp.down_proj] {
                lin.export(&mut out)?;
            }
            out.push((
                format!("model.layers.{i}.input_layernorm.weight"),
                l.input_layernorm.weight.detach(),
            ));
            out.push((
                format!("model.layers.{i}.post_attention_layernorm.weight"),
                l.post_attention_layernorm.weight.detach(),
            ));
        }
        out.push(("model.norm.weight".to_string(), self.norm.weight.detach()));
        if let Some(head) = &self.lm_head {
            head.export(&mut out)?;
        }
        Ok(out)
    }

    /// The LoRA adapters (detached), `{linear}.lora_A.weight` `[r, in]` and
    /// `{linear}.lora_B.weight` `[out, r]`.
    pub fn lora_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for lin in self.linears() {
            lin.export_lora(&mut out);
        }
        out
    }

    /// Writes `config.json` and `model.safetensors` (f32, LoRA merged) into `dir`, loadable by
    /// [`Model::from_hf_dir`] and by transformers' `Qwen2ForCausalLM.from_pretrained`.
    pub fn save_hf_dir(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.into(),
            source,
        })?;
        write_json(&self.cfg.to_hf_json(), &dir.join("config.json"))?;
        write_safetensors(&self.hf_tensors()?, &dir.join("model.safetensors"))
    }
}
