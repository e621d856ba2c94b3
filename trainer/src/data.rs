//! From loaded leads to training batches: encoding, the stratified sampler and padding.

use candle_core::{Device, Tensor};
use leadladder_bundle::LeadEncoder;
use leadladder_core::Dataset;
use leadladder_core::ladder::Ladder;
use leadladder_core::rng::Rng;

use crate::error::{Error, Result};

/// One encoded lead.
#[derive(Debug, Clone)]
pub struct Example {
    /// Index of the lead in the dataset.
    pub lead: usize,
    pub ids: Vec<u32>,
    /// 1 on dialogue tokens (the semantic head's targets).
    pub text_mask: Vec<u8>,
    pub label: bool,
    /// The lead's creation time (seconds since the epoch).
    pub created_at: i64,
}

/// Encodes the leads at `indices` with the shared encoding (field tokens or text) and truncation.
pub fn encode(
    encoder: &LeadEncoder,
    data: &Dataset,
    ladder: &Ladder,
    indices: &[usize],
    turn_separator: &str,
    max_tokens: usize,
) -> Result<Vec<Example>> {
    indices
        .iter()
        .map(|&i| {
            let lead = &data.leads[i];
            let enc = encoder
                .encode_lead(&data.schema, lead, turn_separator, max_tokens)
                .map_err(|e| Error::Input(format!("lead `{}` (row {}): {e}", lead.id, lead.row)))?;
            Ok(Example {
                lead: i,
                ids: enc.ids,
                text_mask: enc.text_mask,
                label: ladder.labels()[i],
                created_at: lead.created_at,
            })
        })
        .collect()
}

/// A padded batch on a device.
#[derive(Debug)]
pub struct Batch {
    /// Positions of the batch's examples in the example list.
    pub members: Vec<usize>,
    /// `[b, t]` u32, right-padded with `pad_id`.
    pub input_ids: Tensor,
    /// `[b, t]` f32, 1 on real tokens.
    pub attention_mask: Tensor,
    /// `[b, t]` f32, 1 on dialogue tokens.
    pub text_mask: Tensor,
    /// `[b]` f32 labels.
    pub labels: Tensor,
    /// `[b]` f32 importance weights for the pointwise loss.
    pub weights: Tensor,
    /// Real (non-pad) tokens in the batch.
    pub tokens: usize,
}

/// Pads `members` of `examples` into one batch.
pub fn make_batch(
    examples: &[Example],
    members: &[usize],
    weights: &[f32],
    pad_id: u32,
    device: &Device,
) -> Result<Batch> {
    let b = members.len();
    let t = members
        .iter()
        .map(|&m| examples[m].ids.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let mut ids = vec![pad_id; b * t];
    let mut mask = vec![0f32; b * t];
    let mut text = vec![0f32; b * t];
    let mut tokens = 0;
    for (r, &m) in members.iter().enumerate() {
        let ex = &examples[m];
        for (j, &id) in ex.ids.iter().enumerate() {
            ids[r * t + j] = id;
            mask[r * t + j] = 1.0;
            text[r * t + j] = f32::from(ex.text_mask.get(j).copied().unwrap_or(0));
        }
        tokens += ex.ids.len();
    }
    let labels: Vec<f32> = members
        .iter()
        .map(|&m| f32::from(u8::from(examples[m].label)))
        .collect();
    Ok(Batch {
        members: members.to_vec(),
        input_ids: Tensor::from_vec(ids, (b, t), device)?,
        attention_mask: Tensor::from_vec(mask, (b, t), device)?,
        text_mask: Tensor::from_vec(text, (b, t), device)?,
        labels: Tensor::from_vec(labels, b, device)?,
        weights: Tensor::from_vec(weights.to_vec(), b, device)?,
        tokens,
    })
}

/// The training sampler.
///
/// Leads that are `better` at one of the top rungs are rare (a buyer is ~1.4% of leads), so a
/// uniform batch often holds no top-rung pair at all. Each batch therefore draws a share
/// `boost_share` of its members from that pool and the rest uniformly; the pointwise loss weighs
/// each member by (natural frequency / sampled frequency) of its stratum, so p(convert) stays
/// calibrated. Deterministic for a seed and epoch.
///
/// Batches are NOT bucketed by length by default: HPRO pairs are formed within a batch, and
/// dialogue length follows activity (more calls, longer talks), so length-sorted batches would
/// only ever compare leads of similar activity and leave the ranking across activity levels
/// unlearned (bench/quality/tuning.md: validation AUC 0.81 with bucketing against 0.84 for
/// fields alone). [`Sampler::bucketed`] turns it on; the trainer never does, for any objective.
#[derive(Debug, Clone)]
pub struct Sampler {
    boosted: Vec<usize>,
    all: Vec<usize>,
    boost_share: f64,
    weight_boosted: f32,
    weight_rest: f32,
    is_boosted: Vec<bool>,
    bucketing: bool,
}

impl Sampler {
    /// `examples[k]` is boosted when its lead is `better` at a rung `< top_rungs`.
    pub fn new(examples: &[Example], ladder: &Ladder, top_rungs: usize, boost_share: f64) -> Self {
        let is_boosted: Vec<bool> = examples
            .iter()
            .map(|e| ladder.highest_better(e.lead).is_some_and(|r| r < top_rungs))
            .collect();
        let boosted: Vec<usize> = (0..examples.len()).filter(|&k| is_boosted[k]).collect();
        let n = examples.len().max(1) as f64;
        let f = boosted.len() as f64 / n;
        let share = if boosted.is_empty() {
            0.0
        } else {
            boost_share.clamp(0.0, 0.9)
        };
        // Sampled frequency of a stratum = share drawn from the pool + its part of the uniform rest.
        let sampled_boosted = share + (1.0 - share) * f;
        let sampled_rest = (1.0 - share) * (1.0 - f);
        let weight_boosted = if sampled_boosted > 0.0 {
            (f / sampled_boosted) as f32
        } else {
            1.0
        };
        let weight_rest = if sampled_rest > 0.0 {
            ((1.0 - f) / sampled_rest) as f32
        } else {
            1.0
        };
        Self {
            boosted,
            all: (0..examples.len()).collect(),
            boost_share: share,
            weight_boosted,
            weight_rest,
            is_boosted,
            bucketing: false,
        }
    }

    /// Sorts members by length within windows of 16 batches (less padding), keeping each
    /// batch's boosted share. Only for losses that never compare leads across batches' members
    /// (see the type's docs).
    pub fn bucketed(mut self, on: bool) -> Self {
        self.bucketing = on;
        self
    }

    /// Importance weight of example `k` in the pointwise loss.
    pub fn weight(&self, k: usize) -> f32 {
        if self.is_boosted[k] {
            self.weight_boosted
        } else {
            self.weight_rest
        }
    }

    /// Size of the boosted pool.
    pub fn boosted(&self) -> usize {
        self.boosted.len()
    }

    /// The batches (example positions) of one epoch: about `len / batch_size` of them.
    pub fn epoch(
        &self,
        examples: &[Example],
        batch_size: usize,
        seed: u64,
        epoch: u64,
    ) -> Vec<Vec<usize>> {
        let batch_size = batch_size.max(1);
        let mut rng = Rng::derive(seed, 0xE90C_0000 + epoch);
        let mut rest = self.all.clone();
        rng.shuffle(&mut rest);
        let n_batches = self.all.len().div_ceil(batch_size);
        let n_boost = ((batch_size as f64) * self.boost_share).round() as usize;
        let mut pool = self.boosted.clone();
        rng.shuffle(&mut pool);
        let (mut pi, mut ri) = (0, 0);
        let mut batches: Vec<Vec<usize>> = Vec::with_capacity(n_batches);
        for _ in 0..n_batches {
            let mut b = Vec::with_capacity(batch_size);
            for _ in 0..n_boost {
                if pi == pool.len() {
                    rng.shuffle(&mut pool);
                    pi = 0;
                }
                if let Some(&k) = pool.get(pi) {
                    b.push(k);
                    pi += 1;
                }
            }
            while b.len() < batch_size && ri < rest.len() {
                b.push(rest[ri]);
                ri += 1;
            }
            if !b.is_empty() {
                batches.push(b);
            }
        }
        if !self.bucketing {
            return batches;
        }
        // Length bucketing inside windows of 16 batches: boosted and uniform members are each
        // sorted by length and dealt back in the same per-batch counts, so every batch keeps its
        // boosted share while similar lengths share a batch.
        let mut out = Vec::with_capacity(batches.len());
        for window in batches.chunks(16) {
            let by_len = |mut v: Vec<usize>| {
                v.sort_by_key(|&k| (examples[k].ids.len(), k));
                v.into_iter()
            };
            let mut boosted = by_len(
                window
                    .iter()
                    .flat_map(|b| b[..n_boost.min(b.len())].iter().copied())
                    .collect(),
            );
            let mut uniform = by_len(
                window
                    .iter()
                    .flat_map(|b| b[n_boost.min(b.len())..].iter().copied())
                    .collect(),
            );
            for b in window {
                let nb = n_boost.min(b.len());
                let mut batch: Vec<usize> = boosted.by_ref().take(nb).collect();
                batch.extend(uniform.by_ref().take(b.len() - nb));
                out.push(batch);
            }
        }
        rng.shuffle(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use leadladder_core::ladder::Membership::{Better as B, Neither as N, Worse as W};

    #[test]
    fn sampler_boosts_rare_rungs_and_reweights() {
        let n = 1000;
        let mut membership = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n {
            let top = i % 100 == 0;
            membership.extend([if top { B } else { W }, N]);
            labels.push(top);
        }
        let ladder = Ladder::from_parts(
            vec!["a".into(), "b".into()],
            vec![1.0, 0.5],
            membership,
            labels,
        )
        .unwrap();
        let examples: Vec<Example> = (0..n)
            .map(|i| Example {
                lead: i,
                ids: vec![1; 1 + i % 7],
                text_mask: vec![0; 1 + i % 7],
                label: i % 100 == 0,
                created_at: i as i64,
            })
            .collect();
        let s = Sampler::new(&examples, &ladder, 1, 0.25).bucketed(true);
        assert_eq!(s.boosted(), 10);
        let batches = s.epoch(&examples, 16, 3, 0);
        assert_eq!(batches, s.epoch(&examples, 16, 3, 0));
        assert!(
            batches.iter().all(|b| b.iter().any(|&k| examples[k].label)),
            "every batch holds a buyer"
        );
        // Weighted share of positives equals the natural rate.
        let (mut wpos, mut wall) = (0.0f64, 0.0f64);
        for b in &batches {
            for &k in b {
                wall += f64::from(s.weight(k));
                if examples[k].label {
                    wpos += f64::from(s.weight(k));
                }
            }
        }
        assert!((wpos / wall - 0.01).abs() < 0.003, "{}", wpos / wall);
    }

    #[test]
    fn default_batches_mix_lengths_so_pairs_span_activity_levels() {
        let n = 2000;
        let ladder = Ladder::from_parts(
            vec!["a".into()],
            vec![1.0],
            (0..n).map(|i| if i % 10 == 0 { B } else { W }).collect(),
            (0..n).map(|i| i % 10 == 0).collect(),
        )
        .unwrap();
        // Length grows with the lead index (as dialogue grows with activity).
        let examples: Vec<Example> = (0..n)
            .map(|i| Example {
                lead: i,
                ids: vec![1; 5 + i / 20],
                text_mask: vec![0; 5 + i / 20],
                label: i % 10 == 0,
                created_at: i as i64,
            })
            .collect();
        let spread = |batches: &[Vec<usize>]| {
            let total: usize = batches
                .iter()
                .map(|b| {
                    let lens = b.iter().map(|&k| examples[k].ids.len());
                    lens.clone().max().unwrap() - lens.min().unwrap()
                })
                .sum();
            total as f64 / batches.len() as f64
        };
        let s = Sampler::new(&examples, &ladder, 1, 0.25);
        let mixed = spread(&s.epoch(&examples, 32, 1, 0));
        let bucketed = spread(&s.clone().bucketed(true).epoch(&examples, 32, 1, 0));
        // Lengths span 5..105: a random batch of 32 spans most of it, a bucketed one a sliver.
        assert!(mixed > 80.0, "{mixed}");
        assert!(bucketed < 40.0, "{bucketed}");
    }
}
