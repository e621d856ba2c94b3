//! The Qwen2 trunk and the two score heads in Burn, weights taken by Hugging Face name.
//!
//! Numerically this mirrors the trainer's candle model (`trainer/src/qwen2.rs`): pre-norm
//! decoder layers, RMSNorm, rotate-half RoPE (Hugging Face layout, not Burn's interleaved
//! `RotaryEncoding`), grouped-query attention with q/k/v biases, a causal AND padding mask, a
//! SwiGLU MLP, the final norm, last-real-token pooling, then `score.rank` and `score.point`.

use std::collections::BTreeSet;

use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use leadladder_bundle::{ModelConfig, OwnedTensor, StoredTensors, TensorRef, member_tensor_name};

use crate::{Error, Result};

/// Additive attention bias for a blocked (query, key) pair; finite, like the trainer's.
pub const MASKED: f32 = -1e9;

/// Where a loaded model keeps its weights. The device copy is the fast default; keeping a
/// tensor as the bundle stores it (int8, f16 or f32, in the bundle's bytes) on the host trades a
/// little work per forward pass for memory: a real-size model's f32 weights are four times its
/// int8 bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Residency {
    /// Keep the embedding table on the host and gather the rows a batch needs (scoring never
    /// needs the whole table; on a GPU it may exceed one buffer's limit).
    pub host_embedding: bool,
    /// Keep the decoder layers' matrices on the host and dequantize each as a forward pass
    /// reaches it, so at most one f32 matrix exists at a time (CPU devices).
    pub host_layers: bool,
}

/// Takes tensors by name from a bundle's stored tensors, each exactly once;
/// [`WeightSource::finish`] fails on any tensor left over. Each tensor is dequantized when taken
/// and copied to the device (or kept as stored, per [`Residency`]), so the host never holds a
/// second full copy of the weights.
pub(crate) struct WeightSource<'a> {
    tensors: &'a StoredTensors,
    taken: BTreeSet<&'a str>,
    device: Device,
    residency: Residency,
    /// The ensemble member whose tensors are taken ([`member_tensor_name`]).
    member: usize,
}

impl<'a> WeightSource<'a> {
    pub(crate) fn new(tensors: &'a StoredTensors, device: Device, residency: Residency) -> Self {
        Self {
            tensors,
            taken: BTreeSet::new(),
            device,
            residency,
            member: 0,
        }
    }

    fn take_raw(&mut self, name: &str, shape: &[usize]) -> Result<TensorRef<'a>> {
        let full = member_tensor_name(self.member, name);
        let name = full.as_str();
        let missing = || Error::Tensor {
            name: name.to_string(),
            reason: "missing from the bundle".into(),
        };
        let t = self.tensors.get(name).ok_or_else(missing)?;
        if !self.taken.insert(t.name()) {
            return Err(missing());
        }
        if t.shape() != shape {
            return Err(Error::Tensor {
                name: name.to_string(),
                reason: format!("shape {:?}, the model needs {shape:?}", t.shape()),
            });
        }
        Ok(t)
    }

    fn vector(&mut self, name: &str, n: usize) -> Result<Tensor<1>> {
        let v = self.take_raw(name, &[n])?.to_f32();
        Ok(Tensor::from_data(TensorData::new(v, [n]), &self.device))
    }

    fn embedding(&mut self, name: &str, rows: usize, cols: usize) -> Result<Embedding> {
        let t = self.take_raw(name, &[rows, cols])?;
        if self.residency.host_embedding {
            return Ok(Embedding::Host(self.owned(name)?));
        }
        Ok(Embedding::Device(Tensor::from_data(
            TensorData::new(t.to_f32(), [rows, cols]),
            &self.device,
        )))
    }

    /// A Hugging Face `[out, in]` weight as the `[in, out]` matrix of `x @ w`: on the device, or
    /// kept as stored on the host ([`Residency::host_layers`]).
    fn linear_weight(&mut self, name: &str, out: usize, inp: usize) -> Result<Weight> {
        let t = self.take_raw(name, &[out, inp])?;
        if self.residency.host_layers {
            return Ok(Weight::Host(self.owned(name)?));
        }
        Ok(Weight::Device(Tensor::from_data(
            TensorData::new(t.to_f32_transposed(), [inp, out]),
            &self.device,
        )))
    }

    fn owned(&self, name: &str) -> Result<OwnedTensor> {
        let full = member_tensor_name(self.member, name);
        let name = full.as_str();
        self.tensors.owned(name).ok_or_else(|| Error::Tensor {
            name: name.to_string(),
            reason: "missing from the bundle".into(),
        })
    }

    /// Drops a tensor the scorer does not compute with (the untied LM head), after checking it.
    fn skip(&mut self, name: &str, shape: &[usize]) -> Result<()> {
        self.take_raw(name, shape).map(drop)
    }

    pub(crate) fn finish(self) -> Result<()> {
        match self.tensors.keys().find(|n| !self.taken.contains(n)) {
            None => Ok(()),
            Some(name) => Err(Error::Tensor {
                name: name.to_string(),
                reason: "in the bundle but not used by the model".into(),
            }),
        }
    }
}

/// The token embedding: the table on the device, or kept as stored on the host with the rows a
/// batch needs gathered there (the same f32 values either way).
// The device variant is the common one (every small model); boxing it would add an indirection
// to every use for no saving.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Embedding {
    /// `[v, h]`.
    Device(Tensor<2>),
    Host(OwnedTensor),
}

impl Embedding {
    /// Rows `ids` → `[ids.len(), h]`.
    fn lookup(&self, ids: &[i32], device: &Device) -> Tensor<2> {
        match self {
            Embedding::Device(table) => {
                let n = ids.len();
                let ids = Tensor::<1, Int>::from_data(TensorData::new(ids.to_vec(), [n]), device);
                table.clone().select(0, ids)
            }
            Embedding::Host(t) => {
                let t = t.get();
                let rows: Vec<usize> = ids.iter().map(|&i| i as usize).collect();
                Tensor::from_data(
                    TensorData::new(t.gather_rows(&rows), [rows.len(), t.cols()]),
                    device,
                )
            }
        }
    }
}

/// A linear layer's `[in, out]` matrix: on the device, or kept as stored on the host and
/// dequantized each time it is used (into its stored `[out, in]` layout, a sequential pass; the
/// product reads it through a transposed view, which Flex's strided matmul takes without a copy).
// The device variant is the common one (every small model); boxing it would add an indirection
// to every use for no saving.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Weight {
    Device(Tensor<2>),
    /// The Hugging Face `[out, in]` tensor.
    Host(OwnedTensor),
}

impl Weight {
    /// `x: [n, in]` → `x @ w`, `[n, out]`.
    fn apply(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Weight::Device(w) => x.matmul(w.clone()),
            Weight::Host(t) => {
                let t = t.get();
                let w: Tensor<2> = Tensor::from_data(
                    TensorData::new(t.to_f32(), [t.rows(), t.cols()]),
                    &x.device(),
                );
                x.matmul(w.transpose())
            }
        }
    }
}

/// `x @ w + b` on 2-D activations.
#[derive(Debug, Clone)]
struct Linear {
    /// `[in, out]`.
    weight: Weight,
    /// `[out]`.
    bias: Option<Tensor<1>>,
}

impl Linear {
    fn load(
        src: &mut WeightSource,
        name: &str,
        inp: usize,
        out: usize,
        bias: bool,
    ) -> Result<Self> {
        Ok(Self {
            weight: src.linear_weight(&format!("{name}.weight"), out, inp)?,
            bias: if bias {
                Some(src.vector(&format!("{name}.bias"), out)?)
            } else {
                None
            },
        })
    }

    /// `x: [n, in]` → `[n, out]`.
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let y = self.weight.apply(x);
        match &self.bias {
            Some(b) => y + b.clone().unsqueeze_dim::<2>(0),
            None => y,
        }
    }
}

#[derive(Debug, Clone)]
struct RmsNorm {
    /// `[1, h]`.
    weight: Tensor<2>,
    eps: f64,
}

impl RmsNorm {
    fn load(src: &mut WeightSource, name: &str, h: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: src
                .vector(&format!("{name}.weight"), h)?
                .unsqueeze_dim::<2>(0),
            eps,
        })
    }

    /// `x: [n, h]` → `[n, h]`.
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let ms = x.clone().square().mean_dim(1);
        x / ms.add_scalar(self.eps).sqrt() * self.weight.clone()
    }
}

#[derive(Debug, Clone)]
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
}

/// `rotate_half(x) = cat(-x2, x1)` over the last dim of `[b, n, t, d]`.
fn rotate_half(x: Tensor<4>) -> Tensor<4> {
    let d = x.dims()[3];
    let x1 = x.clone().narrow(3, 0, d / 2);
    let x2 = x.narrow(3, d / 2, d - d / 2);
    Tensor::cat(vec![x2.neg(), x1], 3)
}

/// `x * cos + rotate_half(x) * sin`; `x: [b, n, t, d]`, tables `[1, 1, t, d]`.
fn apply_rope(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    x.clone() * cos.clone() + rotate_half(x) * sin.clone()
}

impl Attention {
    fn load(src: &mut WeightSource, name: &str, cfg: &ModelConfig) -> Result<Self> {
        let (h, d) = (cfg.hidden_size, cfg.head_dim());
        let (nh, nkv) = (cfg.num_attention_heads, cfg.num_key_value_heads);
        Ok(Self {
            q_proj: Linear::load(src, &format!("{name}.q_proj"), h, nh * d, true)?,
            k_proj: Linear::load(src, &format!("{name}.k_proj"), h, nkv * d, true)?,
            v_proj: Linear::load(src, &format!("{name}.v_proj"), h, nkv * d, true)?,
            o_proj: Linear::load(src, &format!("{name}.o_proj"), nh * d, h, false)?,
            num_heads: nh,
            num_kv_heads: nkv,
            head_dim: d,
        })
    }

    /// `[b, nkv, t, d]` → `[b, nh, t, d]`: query head `i` uses kv head `i / n_rep`.
    fn repeat_kv(&self, x: Tensor<4>) -> Tensor<4> {
        let n_rep = self.num_heads / self.num_kv_heads;
        if n_rep == 1 {
            return x;
        }
        let [b, nkv, t, d] = x.dims();
        x.unsqueeze_dim::<5>(2)
            .expand([b, nkv, n_rep, t, d])
            .reshape([b, nkv * n_rep, t, d])
    }

    /// `x: [b*t, h]` → `[b*t, h]`. `mask: [b, 1, t, t]` additive.
    fn forward(
        &self,
        x: Tensor<2>,
        (b, t): (usize, usize),
        rope: &(Tensor<4>, Tensor<4>),
        mask: &Tensor<4>,
    ) -> Tensor<2> {
        let (nh, nkv, d) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let heads = |y: Tensor<2>, n: usize| y.reshape([b, t, n, d]).swap_dims(1, 2);
        let q = heads(self.q_proj.forward(x.clone()), nh);
        let k = heads(self.k_proj.forward(x.clone()), nkv);
        let v = heads(self.v_proj.forward(x), nkv);
        let q = apply_rope(q, &rope.0, &rope.1);
        let k = self.repeat_kv(apply_rope(k, &rope.0, &rope.1));
        let v = self.repeat_kv(v);
        let scores = q
            .matmul(k.swap_dims(2, 3))
            .mul_scalar(1.0 / (d as f64).sqrt())
            + mask.clone();
        let probs = softmax(scores, 3);
        let out = probs.matmul(v).swap_dims(1, 2).reshape([b * t, nh * d]);
        self.o_proj.forward(out)
    }
}

#[derive(Debug, Clone)]
struct Mlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl Mlp {
    fn load(src: &mut WeightSource, name: &str, cfg: &ModelConfig) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(Self {
            gate_proj: Linear::load(src, &format!("{name}.gate_proj"), h, i, false)?,
            up_proj: Linear::load(src, &format!("{name}.up_proj"), h, i, false)?,
            down_proj: Linear::load(src, &format!("{name}.down_proj"), i, h, false)?,
        })
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let gate = silu(self.gate_proj.forward(x.clone()));
        self.down_proj.forward(gate * self.up_proj.forward(x))
    }
}

#[derive(Debug, Clone)]
struct DecoderLayer {
    self_attn: Attention,
    mlp: Mlp,
    input_layernorm: RmsNorm,
    post_attention_layernorm: RmsNorm,
}

impl DecoderLayer {
    fn load(src: &mut WeightSource, name: &str, cfg: &ModelConfig) -> Result<Self> {
        let (h, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
        Ok(Self {
            self_attn: Attention::load(src, &format!("{name}.self_attn"), cfg)?,
            mlp: Mlp::load(src, &format!("{name}.mlp"), cfg)?,
            input_layernorm: RmsNorm::load(src, &format!("{name}.input_layernorm"), h, eps)?,
            post_attention_layernorm: RmsNorm::load(
                src,
                &format!("{name}.post_attention_layernorm"),
                h,
                eps,
            )?,
        })
    }

    fn forward(
        &self,
        x: Tensor<2>,
        bt: (usize, usize),
        rope: &(Tensor<4>, Tensor<4>),
        mask: &Tensor<4>,
    ) -> Tensor<2> {
        let a = self
            .self_attn
            .forward(self.input_layernorm.forward(x.clone()), bt, rope, mask);
        let x = x + a;
        let m = self
            .mlp
            .forward(self.post_attention_layernorm.forward(x.clone()));
        x + m
    }
}

/// One model of a ranker: the Qwen2 trunk and its two heads.
#[derive(Debug, Clone)]
struct Member {
    embed_tokens: Embedding,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    /// `[h, 2]`: column 0 the rank head, column 1 the point head.
    heads_weight: Tensor<2>,
    /// `[1, 2]`.
    heads_bias: Tensor<2>,
}

impl Member {
    fn load(src: &mut WeightSource, cfg: &ModelConfig, device: &Device) -> Result<Self> {
        let h = cfg.hidden_size;
        let embed_tokens = src.embedding("model.embed_tokens.weight", cfg.vocab_size, h)?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|l| DecoderLayer::load(src, &format!("model.layers.{l}"), cfg))
            .collect::<Result<Vec<_>>>()?;
        let norm = RmsNorm::load(src, "model.norm", h, cfg.rms_norm_eps)?;
        if !cfg.tie_word_embeddings {
            src.skip("lm_head.weight", &[cfg.vocab_size, h])?;
        }
        let rank_w = src.take_raw("score.rank.weight", &[1, h])?.to_f32();
        let rank_b = src.take_raw("score.rank.bias", &[1])?.to_f32();
        let point_w = src.take_raw("score.point.weight", &[1, h])?.to_f32();
        let point_b = src.take_raw("score.point.bias", &[1])?.to_f32();
        let mut w = Vec::with_capacity(2 * h);
        for i in 0..h {
            w.push(rank_w[i]);
            w.push(point_w[i]);
        }
        Ok(Self {
            embed_tokens,
            layers,
            norm,
            heads_weight: Tensor::from_data(TensorData::new(w, [h, 2]), device),
            heads_bias: Tensor::from_data(
                TensorData::new(vec![rank_b[0], point_b[0]], [1, 2]),
                device,
            ),
        })
    }
}

/// The ranker: Qwen2 trunk + `score.rank` and `score.point` heads, or an ensemble of such
/// models whose outputs are averaged.
#[derive(Debug, Clone)]
pub struct Ranker {
    cfg: ModelConfig,
    members: Vec<Member>,
    /// A second pooled position whose hidden state is added to the last token's (the bundle
    /// config's `pool_position`).
    pool_also: Option<usize>,
    device: Device,
}

impl Ranker {
    /// Builds the model from a bundle's checked f32 tensors, taking every tensor exactly once
    /// (the untied `lm_head.weight`, which scoring never needs, is checked and dropped):
    /// `ensemble` members, member `m`'s tensors named by [`member_tensor_name`].
    pub(crate) fn load(
        cfg: &ModelConfig,
        ensemble: usize,
        tensors: &StoredTensors,
        device: &Device,
        residency: Residency,
    ) -> Result<Self> {
        let mut src = WeightSource::new(tensors, device.clone(), residency);
        let mut members = Vec::with_capacity(ensemble.max(1));
        for m in 0..ensemble.max(1) {
            src.member = m;
            members.push(Member::load(&mut src, cfg, device)?);
        }
        src.finish()?;
        Ok(Self {
            cfg: cfg.clone(),
            members,
            pool_also: None,
            device: device.clone(),
        })
    }

    /// Also pools position `p` (summed with the last token), as the bundle config says.
    pub(crate) fn with_pool_position(mut self, p: Option<usize>) -> Self {
        self.pool_also = p;
        self
    }

    /// The model's configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// How many models the ranker averages (1 unless the bundle holds an ensemble).
    pub fn members(&self) -> usize {
        self.members.len()
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Rank score and point logit of each sequence, still on the device: `[b, 2]`; for an
    /// ensemble, the members' outputs summed in member order and divided by their number (as
    /// the trainer averages them).
    ///
    /// `ids` are `b` sequences (each non-empty, at most `max_position_embeddings` long, ids below
    /// `vocab_size`), right-padded here with `pad_id` to the longest.
    pub fn forward(&self, ids: &[Vec<u32>], pad_id: u32) -> Result<Tensor<2>> {
        let input = self.input(ids, pad_id)?;
        let mut out: Option<Tensor<2>> = None;
        for m in &self.members {
            let y = self.member_forward(m, &input, ids)?;
            out = Some(match out {
                None => y,
                Some(acc) => acc + y,
            });
        }
        let out = out.ok_or_else(|| Error::Input("the ranker has no members".into()))?;
        Ok(if self.members.len() > 1 {
            out.div_scalar(self.members.len() as f32)
        } else {
            out
        })
    }

    fn member_forward(&self, m: &Member, input: &Input, ids: &[Vec<u32>]) -> Result<Tensor<2>> {
        let x = self.trunk(m, input);
        let mut pooled = m.norm.forward(x.clone().select(0, input.last.clone()));
        if let Some(p) = self.pool_also {
            let t = input.t;
            if let Some(bi) = ids.iter().position(|s| s.len() <= p) {
                return Err(Error::Input(format!(
                    "sequence {bi} is too short to pool position {p}"
                )));
            }
            let at: Vec<i32> = (0..ids.len()).map(|bi| (bi * t + p) as i32).collect();
            let at = Tensor::<1, Int>::from_data(TensorData::new(at, [ids.len()]), &self.device);
            pooled = pooled + m.norm.forward(x.select(0, at));
        }
        Ok(pooled.matmul(m.heads_weight.clone()) + m.heads_bias.clone())
    }

    /// The final-norm hidden state of every position, `[b, t, hidden]` (padding positions
    /// included; they never influence the real ones), of the first member.
    pub fn hidden_states(&self, ids: &[Vec<u32>], pad_id: u32) -> Result<Tensor<3>> {
        let input = self.input(ids, pad_id)?;
        let m = self
            .members
            .first()
            .ok_or_else(|| Error::Input("the ranker has no members".into()))?;
        let x = self.trunk(m, &input);
        let b = ids.len();
        let [n, h] = x.dims();
        Ok(m.norm.forward(x).reshape([b, n / b, h]))
    }

    /// Checks and pads a batch of sequences: the ids, the flat index of each sequence's last
    /// real token, the attention mask and the RoPE tables (shared by the members).
    fn input(&self, ids: &[Vec<u32>], pad_id: u32) -> Result<Input> {
        let b = ids.len();
        if b == 0 {
            return Err(Error::Input("no sequences to score".into()));
        }
        let t = ids.iter().map(Vec::len).max().unwrap_or(0);
        if t > self.cfg.max_position_embeddings {
            return Err(Error::Input(format!(
                "sequence length {t} exceeds max_position_embeddings {}",
                self.cfg.max_position_embeddings
            )));
        }
        let mut flat = Vec::with_capacity(b * t);
        let mut last = Vec::with_capacity(b);
        for (bi, seq) in ids.iter().enumerate() {
            if seq.is_empty() {
                return Err(Error::Input(format!("sequence {bi} has no tokens")));
            }
            for &id in seq {
                if id as usize >= self.cfg.vocab_size {
                    return Err(Error::Input(format!(
                        "token id {id} in sequence {bi} is outside the vocabulary ({})",
                        self.cfg.vocab_size
                    )));
                }
                flat.push(id as i32);
            }
            flat.extend(std::iter::repeat_n(pad_id as i32, t - seq.len()));
            last.push((bi * t + seq.len() - 1) as i32);
        }
        let lengths: Vec<usize> = ids.iter().map(Vec::len).collect();
        let device = &self.device;
        let rope = rope_tables(t, self.cfg.head_dim(), self.cfg.rope_theta, device);
        let mask = Tensor::<4>::from_data(
            TensorData::new(attention_bias(&lengths, t), [b, 1, t, t]),
            device,
        );
        let last = Tensor::<1, Int>::from_data(TensorData::new(last, [b]), device);
        Ok(Input {
            flat,
            last,
            b,
            t,
            rope,
            mask,
        })
    }

    /// Runs one member's decoder layers: `[b*t, hidden]` before the final norm.
    fn trunk(&self, m: &Member, input: &Input) -> Tensor<2> {
        let mut x = m.embed_tokens.lookup(&input.flat, &self.device);
        for layer in &m.layers {
            x = layer.forward(x, (input.b, input.t), &input.rope, &input.mask);
        }
        x
    }
}

/// A checked, padded batch ([`Ranker::input`]).
struct Input {
    flat: Vec<i32>,
    last: Tensor<1, Int>,
    b: usize,
    t: usize,
    rope: (Tensor<4>, Tensor<4>),
    mask: Tensor<4>,
}

/// Causal and padding-aware additive bias, row-major `[b, 1, t, t]`: 0 where query `i` may
/// attend key `j` (`j <= i` and `j < len`), [`MASKED`] elsewhere.
pub fn attention_bias(lengths: &[usize], t: usize) -> Vec<f32> {
    let mut out = vec![0f32; lengths.len() * t * t];
    for (bi, &len) in lengths.iter().enumerate() {
        let base = bi * t * t;
        for i in 0..t {
            for j in 0..t {
                let blocked = (j > i) as u8 + (j >= len) as u8;
                out[base + i * t + j] = f32::from(blocked) * MASKED;
            }
        }
    }
    out
}

/// RoPE tables `[1, 1, t, d]` in the Hugging Face layout (`emb = cat(freqs, freqs)`), computed
/// in f64 then cast, exactly like the trainer.
fn rope_tables(t: usize, d: usize, theta: f64, device: &Device) -> (Tensor<4>, Tensor<4>) {
    let half = d / 2;
    let mut cos = Vec::with_capacity(t * d);
    let mut sin = Vec::with_capacity(t * d);
    for pos in 0..t {
        for _ in 0..2 {
            for i in 0..half {
                let angle = pos as f64 * theta.powf(-((2 * i) as f64) / d as f64);
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
    }
    (
        Tensor::from_data(TensorData::new(cos, [1, 1, t, d]), device),
        Tensor::from_data(TensorData::new(sin, [1, 1, t, d]), device),
    )
}
