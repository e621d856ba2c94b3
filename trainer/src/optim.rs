//! Optimisation: AdamW with state that can be checkpointed, warmup + cosine learning rate,
//! global-norm gradient clipping and gradient accumulation.
//!
//! candle's own `AdamW` keeps its moments private, so a resumed run could not continue exactly
//! where it stopped; this one exposes them.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};

/// AdamW hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Decoupled weight decay, applied to matrices only (never to norms or biases).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// AdamW over named trainable variables.
#[derive(Debug)]
pub struct AdamW {
    params: Vec<(String, Var)>,
    m: Vec<Var>,
    v: Vec<Var>,
    step: u64,
    cfg: AdamWConfig,
}

impl AdamW {
    /// An optimiser over `params` (name, variable), with zeroed moments.
    pub fn new(params: Vec<(String, Var)>, cfg: AdamWConfig) -> candle_core::Result<Self> {
        let mut m = Vec::with_capacity(params.len());
        let mut v = Vec::with_capacity(params.len());
        for (_, p) in &params {
            m.push(Var::zeros(p.shape(), DType::F32, p.device())?);
            v.push(Var::zeros(p.shape(), DType::F32, p.device())?);
        }
        Ok(Self {
            params,
            m,
            v,
            step: 0,
            cfg,
        })
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The optimised variables.
    pub fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    /// One update with learning rate `lr`. Variables without a gradient are left unchanged.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> candle_core::Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let (b1, b2) = (self.cfg.beta1, self.cfg.beta2);
        let bias1 = 1.0 - b1.powi(t);
        let bias2 = 1.0 - b2.powi(t);
        for ((_, p), (m, v)) in self.params.iter().zip(self.m.iter().zip(&self.v)) {
            let Some(g) = grads.get(p.as_tensor()) else {
                continue;
            };
            let g = g.to_dtype(DType::F32)?;
            let m_new = ((m.as_tensor() * b1)? + (&g * (1.0 - b1))?)?;
            let v_new = ((v.as_tensor() * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let m_hat = (&m_new / bias1)?;
            let v_hat = (&v_new / bias2)?;
            let update = (m_hat / (v_hat.sqrt()? + self.cfg.eps)?)?;
            let mut theta = p.as_tensor().to_dtype(DType::F32)?;
            if self.cfg.weight_decay > 0.0 && p.rank() >= 2 {
                theta = (theta * (1.0 - lr * self.cfg.weight_decay))?;
            }
            let theta = (theta - (update * lr)?)?;
            p.set(&theta.to_dtype(p.dtype())?)?;
            m.set(&m_new)?;
            v.set(&v_new)?;
        }
        Ok(())
    }

    /// The optimiser state as named tensors (`adam.m.<param>`, `adam.v.<param>`), for checkpoints.
    pub fn state(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for ((name, _), (m, v)) in self.params.iter().zip(self.m.iter().zip(&self.v)) {
            out.insert(format!("adam.m.{name}"), m.as_tensor().clone());
            out.insert(format!("adam.v.{name}"), v.as_tensor().clone());
        }
        out
    }

    /// Restores moments and the step count saved by [`AdamW::state`].
    pub fn load_state(
        &mut self,
        state: &HashMap<String, Tensor>,
        step: u64,
    ) -> candle_core::Result<()> {
        for ((name, _), (m, v)) in self.params.iter().zip(self.m.iter().zip(&self.v)) {
            for (key, var) in [(format!("adam.m.{name}"), m), (format!("adam.v.{name}"), v)] {
                let t = state.get(&key).ok_or_else(|| {
                    candle_core::Error::Msg(format!("checkpoint lacks optimiser tensor `{key}`"))
                })?;
                var.set(t)?;
            }
        }
        self.step = step;
        Ok(())
    }
}

/// Learning rate at `step` (0-based): linear warmup to `base` over `warmup` steps, then cosine
/// decay to `base * min_ratio` at `total`.
pub fn lr_at(step: u64, total: u64, warmup: u64, base: f64, min_ratio: f64) -> f64 {
    if warmup > 0 && step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1);
    let progress = ((step - warmup.min(step)) as f64 / span as f64).min(1.0);
    let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
    base * (min_ratio + (1.0 - min_ratio) * cosine)
}

/// Sums gradients over micro-batches (gradient accumulation), by variable.
#[derive(Debug, Default)]
pub struct GradAccumulator {
    sums: HashMap<candle_core::TensorId, Tensor>,
    /// The latest store, reused as the container of the averaged gradients (candle offers no
    /// public constructor for an empty `GradStore`).
    store: Option<GradStore>,
    micro_batches: usize,
}

impl GradAccumulator {
    /// Adds one micro-batch's gradients for `params`.
    pub fn add(&mut self, grads: GradStore, params: &[(String, Var)]) -> candle_core::Result<()> {
        for (_, p) in params {
            if let Some(g) = grads.get(p.as_tensor()) {
                let id = p.as_tensor().id();
                let sum = match self.sums.remove(&id) {
                    Some(s) => (s + g)?,
                    None => g.clone(),
                };
                self.sums.insert(id, sum);
            }
        }
        self.micro_batches += 1;
        self.store = Some(grads);
        Ok(())
    }

    /// Micro-batches added since the last [`GradAccumulator::finish`].
    pub fn len(&self) -> usize {
        self.micro_batches
    }

    pub fn is_empty(&self) -> bool {
        self.micro_batches == 0
    }

    /// The summed gradient of each of `params` (`None` where no micro-batch gave one) and the
    /// number of micro-batches summed; resets. What a rank all-reduces before averaging.
    pub fn take_sums(&mut self, params: &[(String, Var)]) -> (Vec<Option<Tensor>>, usize) {
        let sums = params
            .iter()
            .map(|(_, p)| self.sums.remove(&p.as_tensor().id()))
            .collect();
        let n = self.micro_batches;
        self.sums.clear();
        self.store = None;
        self.micro_batches = 0;
        (sums, n)
    }

    /// The mean gradient over the micro-batches, as a `GradStore` keyed like `params`; resets.
    /// `None` when nothing was added.
    pub fn finish(&mut self, params: &[(String, Var)]) -> candle_core::Result<Option<GradStore>> {
        let n = self.micro_batches.max(1) as f64;
        let Some(mut store) = self.store.take() else {
            return Ok(None);
        };
        for (_, p) in params {
            store.remove(p.as_tensor());
            if let Some(s) = self.sums.remove(&p.as_tensor().id()) {
                store.insert(p.as_tensor(), (s / n)?);
            }
        }
        self.sums.clear();
        self.micro_batches = 0;
        Ok(Some(store))
    }
}

/// Scales gradients so their global L2 norm is at most `max_norm`; returns the norm before
/// clipping. A non-finite norm is returned as is and nothing is scaled (the caller skips the step).
pub fn clip_grad_norm(
    grads: &mut GradStore,
    params: &[(String, Var)],
    max_norm: f64,
) -> candle_core::Result<f64> {
    let mut sq = 0.0f64;
    for (_, p) in params {
        if let Some(g) = grads.get(p.as_tensor()) {
            sq += g
                .to_dtype(DType::F32)?
                .sqr()?
                .sum_all()?
                .to_scalar::<f32>()? as f64;
        }
    }
    let norm = sq.sqrt();
    if norm.is_finite() && max_norm > 0.0 && norm > max_norm {
        let scale = max_norm / (norm + 1e-6);
        for (_, p) in params {
            if let Some(g) = grads.remove(p.as_tensor()) {
                grads.insert(p.as_tensor(), (g * scale)?);
            }
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use candle_core::Device;

    #[test]
    fn schedule_warms_up_then_decays() {
        assert!((lr_at(0, 100, 10, 1.0, 0.1) - 0.1).abs() < 1e-12);
        assert!((lr_at(9, 100, 10, 1.0, 0.1) - 1.0).abs() < 1e-12);
        assert!((lr_at(10, 100, 10, 1.0, 0.1) - 1.0).abs() < 1e-12);
        assert!((lr_at(100, 100, 10, 1.0, 0.1) - 0.1).abs() < 1e-12);
        assert!(lr_at(55, 100, 10, 1.0, 0.1) < 1.0);
    }

    #[test]
    fn adamw_minimises_a_quadratic_and_state_round_trips() {
        let dev = Device::Cpu;
        let w = Var::from_tensor(&Tensor::new(&[[3.0f32, -2.0]], &dev).unwrap()).unwrap();
        let params = vec![("w".to_string(), w.clone())];
        let mut opt = AdamW::new(
            params.clone(),
            AdamWConfig {
                weight_decay: 0.0,
                ..Default::default()
            },
        )
        .unwrap();
        for _ in 0..300 {
            let loss = w.as_tensor().sqr().unwrap().sum_all().unwrap();
            let mut grads = loss.backward().unwrap();
            clip_grad_norm(&mut grads, &params, 10.0).unwrap();
            opt.step(&grads, 0.05).unwrap();
        }
        let v: Vec<f32> = w.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        assert!(v.iter().all(|x| x.abs() < 0.05), "{v:?}");
        let state = opt.state();
        let mut other = AdamW::new(params, AdamWConfig::default()).unwrap();
        other.load_state(&state, opt.steps()).unwrap();
        assert_eq!(other.steps(), 300);
    }

    #[test]
    fn accumulation_averages_and_clipping_bounds_the_norm() {
        let dev = Device::Cpu;
        let w = Var::from_tensor(&Tensor::new(&[1.0f32, 1.0], &dev).unwrap()).unwrap();
        let params = vec![("w".to_string(), w.clone())];
        let mut acc = GradAccumulator::default();
        for k in [1.0f64, 3.0] {
            let loss = (w.as_tensor() * k).unwrap().sum_all().unwrap();
            acc.add(loss.backward().unwrap(), &params).unwrap();
        }
        let mut g = acc.finish(&params).unwrap().unwrap();
        let gv: Vec<f32> = g.get(w.as_tensor()).unwrap().to_vec1().unwrap();
        assert_eq!(gv, vec![2.0, 2.0]);
        let norm = clip_grad_norm(&mut g, &params, 1.0).unwrap();
        assert!((norm - 8f64.sqrt()).abs() < 1e-6);
        let gv: Vec<f32> = g.get(w.as_tensor()).unwrap().to_vec1().unwrap();
        let clipped = (gv[0] * gv[0] + gv[1] * gv[1]).sqrt();
        assert!((clipped - 1.0).abs() < 1e-4, "{clipped}");
    }
}
