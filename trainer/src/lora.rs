//! The one linear layer type of the trainer's Qwen2: a base weight (+ optional bias) and an
//! optional LoRA adapter.
//!
//! Trained from scratch, the base weight and bias are themselves trainable [`Var`]s (registered in
//! a [`VarMap`]); loaded from a checkpoint they are plain, frozen tensors and only the adapter
//! (and the score heads) train.
//!
//! The adapter's input dropout draws its masks from the project's seeded generator through a
//! [`DropoutKey`] (never from candle's unseeded one), so a training run is reproducible bit for
//! bit and a resumed run continues exactly.

use candle_core::{D, Device, Tensor, Var};
use candle_nn::VarMap;
use leadladder_core::hash::Fnv;
use leadladder_core::rng::Rng;

use crate::error::{Error, Result};
use crate::params::{Init, ParamSource, fresh_var};

/// Which linear layers get LoRA adapters, and how.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoraConfig {
    /// Adapter rank `r` (> 0).
    pub r: usize,
    /// Scale numerator: the adapter output is multiplied by `alpha / r`.
    pub alpha: f64,
    /// Dropout probability on the adapter's input, applied only in training mode (masks from the
    /// pass's [`DropoutKey`]); in `[0, 1)`.
    pub dropout: f32,
    /// Last name component of the adapted linears (`q_proj`, `k_proj`, `v_proj`, `o_proj`,
    /// `gate_proj`, `up_proj`, `down_proj`). Every target must match at least one layer.
    pub targets: Vec<String>,
    /// Seed of the `A` initialisation.
    pub seed: u64,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            r: 8,
            alpha: 16.0,
            dropout: 0.05,
            targets: [
                "q_proj",
                "k_proj",
                "v_proj",
                "o_proj",
                "gate_proj",
                "up_proj",
                "down_proj",
            ]
            .iter()
            .map(|s| (*s).to_string())
            .collect(),
            seed: 0,
        }
    }
}

/// Where the LoRA dropout masks of one training forward pass come from: the run's seed and the
/// micro-batch's number in the run. Each adapted layer mixes in its own name, so the mask of a
/// (run, micro-batch, layer) is fixed: the same in an uninterrupted run and in one resumed from a
/// checkpoint, on any device and any number of threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropoutKey {
    /// The run's seed.
    pub seed: u64,
    /// The micro-batch's number in the run: optimiser steps taken × gradient accumulation + its
    /// place in the step (what a resume, which restarts at a step boundary, recomputes).
    pub micro_batch: u64,
}

/// Mask values drawn from one stream; longer masks use several, so they can be drawn in parallel
/// with the same result.
const MASK_CHUNK: usize = 1 << 16;

impl DropoutKey {
    /// The inverted-dropout mask of `layer` for `n` inputs: each value is 0 with probability `p`
    /// (in `[0, 1)`) and `1 / (1 - p)` otherwise, so the expected output equals the input.
    pub fn mask(&self, layer: &str, n: usize, p: f32) -> Vec<f32> {
        let mut h = Fnv::of(b"leadladder-lora-dropout");
        h.u64(self.seed);
        h.u64(self.micro_batch);
        h.bytes(layer.as_bytes());
        let stream = h.value();
        // A value is dropped when 32 random bits fall below `p * 2^32` (exact to 2^-32).
        let threshold = (f64::from(p.clamp(0.0, 1.0)) * 4_294_967_296.0).round() as u64;
        let keep = 1.0 / (1.0 - p);
        let fill = |chunk: usize, out: &mut [f32]| {
            let mut rng = Rng::derive(stream, chunk as u64);
            for pair in out.chunks_mut(2) {
                let bits = rng.next_u64();
                for (v, half) in pair.iter_mut().zip([bits & 0xFFFF_FFFF, bits >> 32]) {
                    *v = if half < threshold { 0.0 } else { keep };
                }
            }
        };
        let mut mask = vec![0f32; n];
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
        if n <= MASK_CHUNK || threads == 1 {
            for (c, out) in mask.chunks_mut(MASK_CHUNK).enumerate() {
                fill(c, out);
            }
        } else {
            let chunks: Vec<(usize, &mut [f32])> =
                mask.chunks_mut(MASK_CHUNK).enumerate().collect();
            let per = chunks.len().div_ceil(threads);
            let mut chunks = chunks.into_iter();
            std::thread::scope(|s| {
                loop {
                    let group: Vec<_> = chunks.by_ref().take(per).collect();
                    if group.is_empty() {
                        break;
                    }
                    s.spawn(move || {
                        for (c, out) in group {
                            fill(c, out);
                        }
                    });
                }
            });
        }
        mask
    }
}

/// A LoRA adapter: `scale * B (A dropout(x))`.
#[derive(Debug, Clone)]
pub struct LoraAdapter {
    /// `[r, in]`, small uniform init (PEFT's Kaiming-uniform bound `1/sqrt(in)`).
    pub a: Var,
    /// `[out, r]`, zero init, so a fresh adapter leaves the layer unchanged.
    pub b: Var,
    /// `alpha / r`.
    pub scale: f64,
    /// Input dropout probability (training mode only).
    pub dropout: f32,
}

/// `y = x W^T + b (+ scale * dropout(x) A^T B^T)`.
#[derive(Debug, Clone)]
pub struct LoraLinear {
    name: String,
    weight: Tensor,
    bias: Option<Tensor>,
    lora: Option<LoraAdapter>,
}

impl LoraLinear {
    /// Takes `{name}.weight` `[out, in]` (and `{name}.bias` `[out]` when `bias`) from `src`.
    pub(crate) fn build(
        src: &mut dyn ParamSource,
        name: &str,
        in_dim: usize,
        out_dim: usize,
        bias: bool,
        std: f64,
    ) -> Result<Self> {
        let weight = src.take(
            &format!("{name}.weight"),
            &[out_dim, in_dim],
            Init::Normal(std),
        )?;
        let bias = if bias {
            Some(src.take(&format!("{name}.bias"), &[out_dim], Init::Zeros)?)
        } else {
            None
        };
        Ok(Self {
            name: name.to_string(),
            weight,
            bias,
            lora: None,
        })
    }

    /// HF name prefix, e.g. `model.layers.0.self_attn.q_proj`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Base weight `[out, in]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// Base bias `[out]`, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// The adapter, if LoRA is enabled on this layer.
    pub fn lora(&self) -> Option<&LoraAdapter> {
        self.lora.as_ref()
    }

    /// Attaches a fresh adapter; `A` and `B` are registered in `varmap` as
    /// `{name}.lora_A.weight` `[r, in]` and `{name}.lora_B.weight` `[out, r]`.
    pub(crate) fn add_lora(&mut self, cfg: &LoraConfig, varmap: &VarMap) -> Result<()> {
        if self.lora.is_some() {
            return Err(Error::Config(format!(
                "LoRA is already enabled on {}",
                self.name
            )));
        }
        if cfg.r == 0 {
            return Err(Error::Config("LoRA rank must be > 0".into()));
        }
        if !(0.0..1.0).contains(&cfg.dropout) {
            return Err(Error::Config(format!(
                "LoRA dropout {} not in [0, 1)",
                cfg.dropout
            )));
        }
        let (out_dim, in_dim) = self.weight.dims2()?;
        let device: Device = self.weight.device().clone();
        let bound = 1.0 / (in_dim as f64).sqrt();
        let a = fresh_var(
            varmap,
            &format!("{}.lora_A.weight", self.name),
            &[cfg.r, in_dim],
            Init::Uniform(bound),
            cfg.seed,
            &device,
        )?;
        let b = fresh_var(
            varmap,
            &format!("{}.lora_B.weight", self.name),
            &[out_dim, cfg.r],
            Init::Zeros,
            cfg.seed,
            &device,
        )?;
        self.lora = Some(LoraAdapter {
            a,
            b,
            scale: cfg.alpha / cfg.r as f64,
            dropout: cfg.dropout,
        });
        Ok(())
    }

    /// `x: [..., in]` → `[..., out]`. `dropout` (training) turns on the adapter's input dropout,
    /// with this layer's mask of that key; `None` (evaluation, inference) applies none.
    pub fn forward(&self, x: &Tensor, dropout: Option<DropoutKey>) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let Some((&in_dim, lead)) = dims.split_last() else {
            return Err(Error::Input(format!(
                "{}: input must have rank >= 1",
                self.name
            )));
        };
        let (out_dim, w_in) = self.weight.dims2()?;
        if in_dim != w_in {
            return Err(Error::Input(format!(
                "{}: input has {in_dim} features, layer expects {w_in}",
                self.name
            )));
        }
        let n: usize = lead.iter().product();
        let x2 = x.reshape((n, in_dim))?;
        let mut y = x2.matmul(&self.weight.t()?)?;
        if let Some(b) = &self.bias {
            y = y.broadcast_add(b)?;
        }
        if let Some(l) = &self.lora {
            // The adapter computes in its own dtype (f32) whatever the base's.
            let x2 = x2.to_dtype(l.a.dtype())?;
            let xin = match dropout {
                Some(key) if l.dropout > 0.0 => {
                    let mask = key.mask(&self.name, n * in_dim, l.dropout);
                    let mask = Tensor::from_vec(mask, (n, in_dim), x2.device())?;
                    let mask = mask.to_dtype(x2.dtype())?;
                    (x2 * mask)?
                }
                _ => x2,
            };
            let delta = xin
                .matmul(&l.a.as_tensor().t()?)?
                .matmul(&l.b.as_tensor().t()?)?;
            let delta = (delta * l.scale)?.to_dtype(y.dtype())?;
            y = (y + delta)?;
        }
        let mut out_shape = lead.to_vec();
        out_shape.push(out_dim);
        Ok(y.reshape(out_shape)?)
    }

    /// The weight with the adapter folded in, `W + scale * B A` `[out, in]` (detached), for export.
    /// Merged in f32 when an adapter is attached (whatever the base dtype); otherwise the base
    /// weight as stored.
    pub fn merged_weight(&self) -> Result<Tensor> {
        let w = self.weight.detach();
        match &self.lora {
            None => Ok(w),
            Some(l) => {
                let ba = l.b.as_tensor().detach().matmul(&l.a.as_tensor().detach())?;
                Ok((w.to_dtype(ba.dtype())? + (ba * l.scale)?)?)
            }
        }
    }

    /// HF-named tensors of this layer with LoRA merged: `{name}.weight` (+ `{name}.bias`).
    pub(crate) fn export(&self, out: &mut Vec<(String, Tensor)>) -> Result<()> {
        out.push((format!("{}.weight", self.name), self.merged_weight()?));
        if let Some(b) = &self.bias {
            out.push((format!("{}.bias", self.name), b.detach()));
        }
        Ok(())
    }

    /// `{name}.lora_A.weight` and `{name}.lora_B.weight`, if an adapter is attached.
    pub(crate) fn export_lora(&self, out: &mut Vec<(String, Tensor)>) {
        if let Some(l) = &self.lora {
            out.push((
                format!("{}.lora_A.weight", self.name),
                l.a.as_tensor().detach(),
            ));
            out.push((
                format!("{}.lora_B.weight", self.name),
                l.b.as_tensor().detach(),
            ));
        }
    }
}

/// Drops the trailing size-1 dimension: `[n, 1]` → `[n]`.
pub(crate) fn squeeze_last(x: &Tensor) -> Result<Tensor> {
    Ok(x.squeeze(D::Minus1)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const KEY: DropoutKey = DropoutKey {
        seed: 7,
        micro_batch: 12,
    };
    const Q: &str = "model.layers.0.self_attn.q_proj";

    #[test]
    fn dropout_masks_are_fixed_by_key_and_layer() {
        let p = 0.1f32;
        let n = 50_000;
        let mask = KEY.mask(Q, n, p);
        assert_eq!(mask.len(), n);
        assert_eq!(mask, KEY.mask(Q, n, p), "same key, same layer: same mask");
        let keep = 1.0 / (1.0 - p);
        assert!(mask.iter().all(|&v| v == 0.0 || v == keep));
        let kept = mask.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
        // 0.9 ± 5 standard deviations (0.0013).
        assert!((kept - 0.9).abs() < 0.007, "keep rate {kept}");

        // Another micro-batch, layer or seed: another mask.
        let others = [
            DropoutKey {
                micro_batch: 13,
                ..KEY
            }
            .mask(Q, n, p),
            KEY.mask("model.layers.1.self_attn.q_proj", n, p),
            KEY.mask("model.layers.0.self_attn.k_proj", n, p),
            DropoutKey { seed: 8, ..KEY }.mask(Q, n, p),
        ];
        for other in &others {
            let differ = mask.iter().zip(other).filter(|(a, b)| a != b).count();
            // Two independent masks differ at 2·0.1·0.9 = 18% of the positions.
            assert!(differ > n / 10, "{differ} of {n} positions differ");
        }

        // No dropout keeps everything as is; a shorter mask is a prefix of a longer one.
        assert!(KEY.mask(Q, 1000, 0.0).iter().all(|&v| v == 1.0));
        assert_eq!(KEY.mask(Q, 777, p), mask[..777]);
    }

    #[test]
    fn long_masks_are_drawn_in_chunks_with_the_same_result() {
        let p = 0.3f32;
        let n = 3 * MASK_CHUNK + 5;
        let long = KEY.mask(Q, n, p);
        assert_eq!(long, KEY.mask(Q, n, p));
        assert_eq!(long[..MASK_CHUNK], KEY.mask(Q, MASK_CHUNK, p));
        let kept = long.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
        assert!((kept - 0.7).abs() < 0.01, "keep rate {kept}");
        // Each chunk has its own stream.
        assert_ne!(long[..MASK_CHUNK], long[MASK_CHUNK..2 * MASK_CHUNK]);
    }

    #[test]
    fn dropout_applies_only_with_a_key() {
        let varmap = VarMap::new();
        let mut src = crate::params::FreshParams {
            varmap: &varmap,
            seed: 1,
            device: Device::Cpu,
        };
        let mut lin = LoraLinear::build(&mut src, "proj", 8, 4, true, 0.5).unwrap();
        let cfg = LoraConfig {
            r: 2,
            dropout: 0.5,
            ..LoraConfig::default()
        };
        lin.add_lora(&cfg, &varmap).unwrap();
        let l = lin.lora().unwrap();
        l.b.set(&Tensor::ones((4, 2), candle_core::DType::F32, &Device::Cpu).unwrap())
            .unwrap();
        let x = Tensor::ones((3, 8), candle_core::DType::F32, &Device::Cpu).unwrap();
        let rows = |y: Tensor| -> Vec<Vec<f32>> { y.to_vec2().unwrap() };
        let eval = rows(lin.forward(&x, None).unwrap());
        assert_eq!(eval, rows(lin.forward(&x, None).unwrap()));
        let train = rows(lin.forward(&x, Some(KEY)).unwrap());
        assert_ne!(train, eval);
        assert_eq!(train, rows(lin.forward(&x, Some(KEY)).unwrap()));
    }
}
