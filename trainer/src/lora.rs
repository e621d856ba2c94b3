//! The one linear layer type of the trainer's Qwen2: a base weight (+ optional bias) and an
//! optional LoRA adapter.
//!
//! Trained from scratch, the base weight and bias are themselves trainable [`Var`]s (registered in
//! a [`VarMap`]); loaded from a checkpoint they are plain, frozen tensors and only the adapter
//! (and the score heads) train.

use candle_core::{D, Device, Tensor, Var};
use candle_nn::VarMap;

use crate::error::{Error, Result};
use crate::params::{Init, ParamSource, fresh_var};

/// Which linear layers get LoRA adapters, and how.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoraConfig {
    /// Adapter rank `r` (> 0).
    pub r: usize,
    /// Scale numerator: the adapter output is multiplied by `alpha / r`.
    pub alpha: f64,
    /// Dropout probability on the adapter's input, applied only in training mode; in `[0, 1)`.
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

    /// `x: [..., in]` → `[..., out]`. `train` turns on the adapter's input dropout.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
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
            let xin = if train && l.dropout > 0.0 {
                candle_nn::ops::dropout(&x2, l.dropout)?
            } else {
                x2
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
