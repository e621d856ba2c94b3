//! Score heads on the pooled last-token hidden state, and the losses that train them.
//!
//! * ranking head `score.rank` — `Linear(h, 1)`, trained with pairwise (Bradley-Terry) losses;
//!   its bias `score.rank.bias` cancels in every difference `s_hi - s_lo`, so the pairwise loss
//!   gives it no gradient (only a float residue of ~1e-9, which Adam would amplify into
//!   learning-rate-sized steps, so HPRO training leaves it out of the optimiser) and it stays at
//!   its initial value (zero); this is expected: ranks do not depend on it, and probabilities
//!   come from the pointwise head's Platt-calibrated logit;
//! * pointwise head `score.point` — `Linear(h, 1)`, a conversion logit trained with BCE;
//! * semantic head — the language-model loss through the (possibly tied) `lm_head`
//!   ([`lm_loss`]).

use std::collections::HashMap;

use candle_core::{D, DType, Device, Tensor};
use candle_nn::VarMap;

use crate::error::{Error, Result};
use crate::lora::{LoraLinear, squeeze_last};
use crate::params::{CheckpointParams, FreshParams};
use crate::qwen2::Model;

/// Name of the ranking head's bias (untrained under the pairwise loss; see the module docs).
pub const RANK_BIAS: &str = "score.rank.bias";

/// The ranking and pointwise heads.
#[derive(Debug, Clone)]
pub struct ScoreHeads {
    /// `score.rank.weight` `[1, h]`, `score.rank.bias` `[1]`.
    pub rank: LoraLinear,
    /// `score.point.weight` `[1, h]`, `score.point.bias` `[1]`.
    pub point: LoraLinear,
}

impl ScoreHeads {
    /// Fresh heads (normal(0, `std`) weights, zero biases), trainable, registered in `varmap`.
    pub fn new(
        hidden: usize,
        std: f64,
        varmap: &VarMap,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let mut src = FreshParams {
            varmap,
            seed,
            device: device.clone(),
        };
        Ok(Self {
            rank: LoraLinear::build(&mut src, "score.rank", hidden, 1, true, std)?,
            point: LoraLinear::build(&mut src, "score.point", hidden, 1, true, std)?,
        })
    }

    /// Heads from the four `score.*` tensors (strict: missing, mis-shaped or extra tensors fail).
    /// `trainable`: `Some(varmap)` registers them as variables there, `None` keeps them frozen.
    pub fn from_tensors(
        hidden: usize,
        tensors: HashMap<String, Tensor>,
        device: &Device,
        trainable: Option<&VarMap>,
    ) -> Result<Self> {
        let mut src = CheckpointParams {
            tensors,
            device: device.clone(),
            dtype: DType::F32,
            trainable,
        };
        let heads = Self {
            rank: LoraLinear::build(&mut src, "score.rank", hidden, 1, true, 0.0)?,
            point: LoraLinear::build(&mut src, "score.point", hidden, 1, true, 0.0)?,
        };
        src.finish()?;
        Ok(heads)
    }

    /// The same heads with the rank score mapped to `a·r + c` (the weight scaled by `a`, the bias
    /// to `a·bias + c`); frozen copies. An ensemble folds each member's calibration in this way.
    pub fn with_rank_affine(&self, a: f64, c: f64) -> Result<Self> {
        let mut tensors: HashMap<String, Tensor> = self.tensors()?.into_iter().collect();
        let device = self.rank.weight().device().clone();
        let hidden = self.rank.weight().dim(1)?;
        let w = tensors
            .remove("score.rank.weight")
            .ok_or_else(|| Error::Input("heads without score.rank.weight".into()))?;
        let b = tensors
            .remove("score.rank.bias")
            .ok_or_else(|| Error::Input("heads without score.rank.bias".into()))?;
        tensors.insert("score.rank.weight".into(), (w * a)?);
        tensors.insert("score.rank.bias".into(), ((b * a)? + c)?);
        Self::from_tensors(hidden, tensors, &device, None)
    }

    /// Ranking scores: `pooled: [b, h]` (any float dtype; the heads compute in f32) → `[b]`.
    pub fn rank_scores(&self, pooled: &Tensor) -> Result<Tensor> {
        squeeze_last(&self.rank.forward(&pooled.to_dtype(DType::F32)?, None)?)
    }

    /// Pointwise (conversion) logits: `pooled: [b, h]` (any float dtype) → `[b]`.
    pub fn point_logits(&self, pooled: &Tensor) -> Result<Tensor> {
        squeeze_last(&self.point.forward(&pooled.to_dtype(DType::F32)?, None)?)
    }

    /// The four `score.*` tensors (detached).
    pub fn tensors(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        self.rank.export(&mut out)?;
        self.point.export(&mut out)?;
        Ok(out)
    }
}

/// `log(1 + exp(x))`, numerically stable and differentiable: `relu(x) + log(1 + exp(-|x|))`.
/// Any shape.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    let tail = (x.abs()?.neg()?.exp()? + 1.0)?.log()?;
    Ok((x.relu()? + tail)?)
}

/// Log-softmax over the last dim with the max subtracted (detached, so the backward pass does
/// not route through the max). `x: [..., v]` → `[..., v]`.
pub fn log_softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let shifted = x.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok(shifted.broadcast_sub(&lse)?)
}

/// Mean binary cross-entropy with logits. `logits: [n]`, `targets: [n]` in `[0, 1]` → scalar.
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if logits.dims() != targets.dims() {
        return Err(Error::Input(format!(
            "bce: logits {:?} vs targets {:?}",
            logits.dims(),
            targets.dims()
        )));
    }
    let targets = targets.to_dtype(logits.dtype())?;
    // softplus(x) - x*y == -[y log σ(x) + (1-y) log(1-σ(x))]
    Ok((softplus(logits)? - (logits * targets)?)?.mean_all()?)
}

/// Margin-aware pairwise logistic (Bradley-Terry) loss `mean(softplus(margin - (s_hi - s_lo)))`,
/// where each `s_hi[k]` should outrank `s_lo[k]` by at least `margin[k]`.
/// `s_hi`, `s_lo`: `[p]`; `margin`: `[p]` or `None` (0) → scalar.
pub fn pairwise_softplus(s_hi: &Tensor, s_lo: &Tensor, margin: Option<&Tensor>) -> Result<Tensor> {
    let mut z = (s_lo - s_hi)?;
    if let Some(m) = margin {
        let m = m.to_dtype(z.dtype())?;
        z = (z + m)?;
    }
    Ok(softplus(&z)?.mean_all()?)
}

/// [`pairwise_softplus`] with a weight per pair: `Σ w·softplus(margin − (s_hi − s_lo)) / Σ w`.
pub fn pairwise_softplus_weighted(
    s_hi: &Tensor,
    s_lo: &Tensor,
    margin: Option<&Tensor>,
    weights: &Tensor,
) -> Result<Tensor> {
    let mut z = (s_lo - s_hi)?;
    if let Some(m) = margin {
        let m = m.to_dtype(z.dtype())?;
        z = (z + m)?;
    }
    let w = weights.to_dtype(z.dtype())?;
    let num = (softplus(&z)? * &w)?.sum_all()?;
    Ok(num.broadcast_div(&w.sum_all()?)?)
}

/// Mean next-token cross-entropy (the semantic head).
///
/// `hidden: [b, t, h]` (from [`Model::forward`]), `input_ids: [b, t]`, `loss_mask: [b, t]` 0/1:
/// `loss_mask[i, j] = 1` means token `j` of sequence `i` is a text token to predict, from the
/// hidden state at `j - 1` (position 0 is never predicted). Only the selected rows go through
/// `lm_head`. Returns a scalar; 0 when nothing is selected.
pub fn lm_loss(
    model: &Model,
    hidden: &Tensor,
    input_ids: &Tensor,
    loss_mask: &Tensor,
) -> Result<Tensor> {
    let (b, t, h) = hidden.dims3()?;
    if input_ids.dims() != [b, t] || loss_mask.dims() != [b, t] {
        return Err(Error::Input(format!(
            "lm_loss: hidden {:?}, input_ids {:?}, loss_mask {:?}",
            hidden.dims(),
            input_ids.dims(),
            loss_mask.dims()
        )));
    }
    let ids = input_ids.to_dtype(DType::U32)?.to_vec2::<u32>()?;
    let mask = loss_mask.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    for bi in 0..b {
        for j in 1..t {
            if mask[bi][j] != 0.0 {
                rows.push((bi * t + j - 1) as u32);
                targets.push(ids[bi][j]);
            }
        }
    }
    let device = hidden.device();
    if rows.is_empty() {
        return Ok(Tensor::new(0f32, device)?);
    }
    let n = rows.len();
    let rows = Tensor::from_vec(rows, n, device)?;
    let targets = Tensor::from_vec(targets, (n, 1), device)?;
    let selected = hidden.reshape((b * t, h))?.index_select(&rows, 0)?;
    let logp = log_softmax_last_dim(&model.lm_logits(&selected)?.to_dtype(DType::F32)?)?;
    Ok(logp.gather(&targets, D::Minus1)?.mean_all()?.neg()?)
}
