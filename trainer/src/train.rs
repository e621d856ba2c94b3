//! The HPRO training loop: temporal split, tokenizer, stratified batches, the three-part loss,
//! AdamW with warmup + cosine, evaluation every epoch with early stopping on validation P@1%,
//! Platt calibration, the final test-period report and bundle export.
//!
//! `L = w·BCE(p, y) + λ_pair · mean softplus(−(r_i − r_j − m_ij)) + λ_sem · LM loss on text tokens`
//! (DESIGN.md). With `Objective::Binary` the pair term is replaced by BCE on the ranking logit,
//! so both ablations rank by the same head.

use std::path::PathBuf;
use web_time::Instant;

use candle_core::{DType, Tensor};
use candle_nn::VarMap;
use leadladder_bundle::{
    BundleConfig, BundleMeta, CalibratedHead, Calibration, LeadEncoder, LeadTokenizer, Provenance,
    StoreDtype, train_bpe, write_bundle,
};
use leadladder_core::audit::{AuditOptions, ExternalScore, audit};
use leadladder_core::drift::DriftProfile;
use leadladder_core::fields::{Field, FieldCodec, FieldKind, FitOptions};
use leadladder_core::guard::Guard;
use leadladder_core::ladder::{Ladder, PairBuilder};
use leadladder_core::metrics::{EvalConfig, auc, precision_at_k};
use leadladder_core::prompt::{ApproxCounter, render, render_dialogue};
use leadladder_core::report::AuditReport;
use leadladder_core::rng::Rng;
use leadladder_core::split::temporal_split;
use leadladder_core::{Dataset, Spec};
use serde::{Deserialize, Serialize};

pub use crate::checkpoint::EpochLog;
use crate::checkpoint::{self, Fnv, LoopState};
use crate::data::{Example, Sampler, encode, make_batch};
use crate::device::{DeviceSpec, Precision};
use crate::error::{Error, Result};
use crate::heads::{
    RANK_BIAS, ScoreHeads, lm_loss, pairwise_softplus, pairwise_softplus_weighted, softplus,
};
use crate::lora::{DropoutKey, LoraConfig};
use crate::optim::{AdamW, AdamWConfig, GradAccumulator, clip_grad_norm, lr_at};
use crate::parallel::Parallel;
use crate::params::named_vars;
use crate::qwen2::{Config, Model, pool};

/// How a lead becomes token ids (the bundle's `prompt_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// `leadladder-prompt/1`: every field as `name: value` text, then the dialogue (what a
    /// pretrained checkpoint reads).
    #[default]
    Text,
    /// `leadladder-prompt/2`: one token per structured field (fitted on the fit period), then
    /// the dialogue as text.
    Fields,
}

/// What the ranking head learns from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// The binary label only (the ablation without HPRO).
    Binary,
    /// Funnel-ladder preference pairs with margins (HPRO).
    Hpro,
}

/// Training options. [`crate::preset`] fills them for the named presets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainOptions {
    pub preset: String,
    /// Model shape (its `vocab_size` is replaced by the trained tokenizer's).
    pub model: Config,
    /// Byte-level BPE vocabulary trained on the training leads.
    pub vocab_size: usize,
    /// Prompt budget in tokens (EOS included).
    pub max_tokens: usize,
    /// Field tokens or text (see [`Encoding`]).
    #[serde(default)]
    pub encoding: Encoding,
    /// How field tokens are fitted (bins, rare values); [`Encoding::Fields`] only.
    #[serde(default)]
    pub field_fit: FitOptions,
    /// [`Encoding::Fields`] only: the heads also read the hidden state of the last field token
    /// (which, under causal attention, sees the fields alone), summed with the last token's.
    #[serde(default)]
    pub pool_fields: bool,
    pub objective: Objective,
    pub lambda_point: f64,
    pub lambda_pair: f64,
    /// Weight of the semantic (LM) loss; 0 disables it.
    pub lambda_sem: f64,
    pub batch_size: usize,
    pub grad_accum: usize,
    pub epochs: usize,
    pub lr: f64,
    pub warmup_fraction: f64,
    pub min_lr_ratio: f64,
    pub weight_decay: f64,
    pub grad_clip: f64,
    /// Most pairs per batch (fairly shared across rungs).
    pub pair_cap: usize,
    /// Share of each batch drawn from leads that are `better` at the top two rungs.
    pub boost_share: f64,
    /// Training share of the temporal split.
    pub train_fraction: f64,
    /// Newest share of the training period held out for early stopping and calibration.
    pub val_fraction: f64,
    /// Train on at most this many leads of the training period (a seeded sample); the test
    /// period is always scored whole.
    pub train_sample: Option<usize>,
    /// Stop after this many epochs without a better validation P@1%.
    pub patience: usize,
    pub seed: u64,
    /// Bootstrap resamples of the final report.
    pub bootstrap: usize,
    /// Write a checkpoint to `checkpoint_path` every this many optimiser steps (0: never).
    /// Checkpoints never change the result.
    #[serde(default)]
    pub checkpoint_every: u64,
    /// Where checkpoints go (written atomically: a temporary file beside it, fsync, rename).
    #[serde(default)]
    pub checkpoint_path: Option<PathBuf>,
    /// Continue from `checkpoint_path` when that file exists (else start afresh). The result is
    /// bit-identical to an uninterrupted run; a checkpoint from other options or data is refused.
    #[serde(default)]
    pub resume: bool,
    /// For tests and time-boxing: stop after this many optimiser steps of this call, writing a
    /// checkpoint first when `checkpoint_path` is set, and fail with [`Error::Stopped`].
    #[serde(default)]
    pub max_steps_this_run: Option<u64>,
    /// Fine-tune this Hugging Face Qwen2 folder (`config.json`, `model.safetensors` or shards
    /// with `model.safetensors.index.json`, `tokenizer.json`) with LoRA instead of training a
    /// model from scratch: the base weights stay frozen, the tokenizer is the folder's, and
    /// `model`/`vocab_size` are taken from the folder (see [`crate::preset::qwen2_lora`]).
    #[serde(default)]
    pub base: Option<PathBuf>,
    /// The adapters (required with `base`). Their initialisation seed is derived from `seed`.
    #[serde(default)]
    pub lora: Option<LoraConfig>,
    /// Where to train.
    #[serde(default)]
    pub device: DeviceSpec,
    /// Precision of the frozen base (`base` only; from-scratch presets train in f32).
    #[serde(default)]
    pub precision: Precision,
    /// Field dropout ([`Encoding::Fields`] only): each field token of a training lead is
    /// replaced, with this probability per field and batch, by its field's "unknown" token (a
    /// category the fit period did not keep, a number below or above the fitted range on the
    /// side its bin lies, a missing yes/no), so no single field carries the ranking and the
    /// tokens a drifted file brings (unseen categories, out-of-range numbers) are trained.
    #[serde(default)]
    pub field_dropout: f64,
    /// Weigh newer training leads more: a lead's weight in the pointwise and pairwise losses
    /// halves every this many fit periods back from its newest lead (e.g. 0.5: the oldest lead
    /// of the fit period weighs a quarter of the newest). `None`: every lead weighs the same.
    #[serde(default)]
    pub recency_half_life: Option<f64>,
    /// Members of the ensemble: this many models trained on the same data with different seeds
    /// (member 0 with `seed` itself), whose rank scores are averaged. 1: a single model.
    #[serde(default = "one")]
    pub ensemble: usize,
    /// How a numeric field's quantile bins are embedded while training ([`Encoding::Fields`]
    /// only): independent rows, or ordinal (each bin's embedding the running sum of the rows up
    /// to it, see [`Model::set_ordinal_blocks`]). The bundle stores the resulting table either
    /// way, so ranking is unchanged.
    #[serde(default, skip_serializing_if = "NumericEmbedding::is_bins")]
    pub numeric_embedding: NumericEmbedding,
    /// Data parallelism: this process's rank and its link to the others (see
    /// [`crate::parallel`]); one process by default. Not part of the options' JSON: `world`
    /// ranks with `grad_accum = a` train exactly like one process with `grad_accum = world·a`,
    /// and their checkpoints are interchangeable.
    #[serde(skip)]
    pub parallel: Parallel,
}

fn one() -> usize {
    1
}

/// How the trainer parameterises a numeric field's bin embeddings ([`TrainOptions::numeric_embedding`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumericEmbedding {
    /// One free row per bin.
    #[default]
    Bins,
    /// Bin `i`'s embedding is the sum of rows `0..=i` of its field's bins.
    Ordinal,
}

impl NumericEmbedding {
    fn is_bins(&self) -> bool {
        *self == Self::Bins
    }
}

/// The ordinal blocks of the vocabulary: per numeric field with two or more bins, `(id of its
/// first bin, number of bins)` (the field tokens follow the tokenizer's `base` ids).
pub fn ordinal_blocks(codec: &FieldCodec, base: usize) -> Vec<(usize, usize)> {
    codec
        .fields
        .iter()
        .zip(codec.offsets())
        .filter_map(|(f, off)| match &f.kind {
            FieldKind::Numeric { edges, .. } if !edges.is_empty() => {
                Some((base + off + f.first_bin(), edges.len() + 1))
            }
            _ => None,
        })
        .collect()
}

/// Scales rows `1..` of each ordinal block of a fresh embedding by `1/sqrt(len)`, so the summed
/// embedding of a block's last bin starts at the spread of any other token's.
fn scale_ordinal_init(varmap: &VarMap, blocks: &[(usize, usize)]) -> Result<()> {
    let data = varmap.data().lock().map_err(|_| {
        Error::Config("the parameter map's lock was poisoned by a failed step".into())
    })?;
    let Some(var) = data.get("model.embed_tokens.weight") else {
        return Err(Error::Config(
            "ordinal numeric embeddings need a trainable model.embed_tokens.weight".into(),
        ));
    };
    let t = var.as_tensor();
    let mut rows: Vec<Vec<f32>> = t.to_vec2()?;
    for &(first, len) in blocks {
        let s = 1.0 / (len as f32).sqrt();
        for row in &mut rows[first + 1..first + len] {
            for x in row.iter_mut() {
                *x *= s;
            }
        }
    }
    let flat: Vec<f32> = rows.into_iter().flatten().collect();
    var.set(&Tensor::from_vec(flat, t.dims(), t.device())?)?;
    Ok(())
}

/// What the caller sees while training runs.
#[derive(Debug, Clone)]
pub enum Progress {
    Stage(String),
    /// After an optimiser step: steps taken in total, planned in total, the last batch's loss,
    /// and the real (non-pad) tokens trained on so far in this call.
    Step {
        step: u64,
        total: u64,
        loss: f64,
        tokens: usize,
    },
    Epoch(EpochLog),
}

/// A trained ranker, ready to report on and export.
#[derive(Debug)]
pub struct Trained {
    /// The model (the first member of an ensemble).
    pub model: Model,
    pub heads: ScoreHeads,
    /// The other members of an ensemble ([`TrainOptions::ensemble`]), in order.
    pub more_members: Vec<(Model, ScoreHeads)>,
    pub encoder: LeadEncoder,
    pub config: Config,
    pub calibration: Calibration,
    pub max_tokens: usize,
    /// The heads' second pooled position ([`crate::qwen2::pool`]), if any.
    pub pool_position: Option<usize>,
    /// The test-period audit: baselines and this model, with bootstrap CIs.
    pub report: AuditReport,
    /// The test period's leads (dataset indices) and their rank scores, in the same order.
    pub test_scores: Vec<(usize, f32)>,
    pub log: Vec<EpochLog>,
    /// Training throughput (real tokens per second of training steps).
    pub tokens_per_s: f64,
    pub options: TrainOptions,
    /// The fit period's field distributions (the drift check's reference).
    pub drift_profile: DriftProfile,
}

/// Scores examples: (ranking scores, pointwise logits), in example order. `pool_also` is the
/// model's second pooled position ([`crate::qwen2::pool`]; `Trained::pool_position`).
pub fn score(
    model: &Model,
    heads: &ScoreHeads,
    examples: &[Example],
    pad_id: u32,
    batch: usize,
    pool_also: Option<usize>,
) -> Result<(Vec<f32>, Vec<f32>)> {
    score_shared(
        model,
        heads,
        examples,
        pad_id,
        batch,
        pool_also,
        &Parallel::single(),
    )
}

/// [`score`] shared by the ranks of a data-parallel run: rank `r` scores the batches
/// `r, r + world, …` of the same length-sorted batching and the scores are summed over the ranks
/// (zeros elsewhere), so every rank gets every score, bit for bit what one process computes.
pub fn score_shared(
    model: &Model,
    heads: &ScoreHeads,
    examples: &[Example],
    pad_id: u32,
    batch: usize,
    pool_also: Option<usize>,
    parallel: &Parallel,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let (rank, world) = (parallel.rank(), parallel.world_size());
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by_key(|&k| examples[k].ids.len());
    let mut r = vec![0f32; examples.len()];
    let mut z = vec![0f32; examples.len()];
    let ones = vec![1f32; examples.len()];
    for (ci, chunk) in order.chunks(batch.max(1)).enumerate() {
        if ci % world != rank {
            continue;
        }
        let b = make_batch(
            examples,
            chunk,
            &ones[..chunk.len()],
            pad_id,
            model.device(),
        )?;
        let hidden = model.forward(&b.input_ids, &b.attention_mask, None)?;
        let pooled = pool(&hidden, &b.attention_mask, pool_also)?;
        let rs: Vec<f32> = heads.rank_scores(&pooled)?.detach().to_vec1()?;
        let zs: Vec<f32> = heads.point_logits(&pooled)?.detach().to_vec1()?;
        for (i, &k) in chunk.iter().enumerate() {
            r[k] = rs[i];
            z[k] = zs[i];
        }
    }
    if parallel.comm().is_none() {
        return Ok((r, z));
    }
    let n = examples.len();
    let mut both = r;
    both.extend(z);
    let both: Vec<f32> = parallel
        .sum(&Tensor::from_vec(both, 2 * n, model.device())?)?
        .to_vec1()?;
    Ok((both[..n].to_vec(), both[n..].to_vec()))
}

/// Weighted mean BCE with logits: `Σ w·(softplus(x) − x·y) / Σ w`.
fn weighted_bce(logits: &Tensor, labels: &Tensor, weights: &Tensor) -> Result<Tensor> {
    let per = (softplus(logits)? - (logits * labels)?)?;
    let num = (per * weights)?.sum_all()?;
    let den = weights.sum_all()?;
    Ok(num.broadcast_div(&den)?)
}

/// Fits Platt scaling `p = σ(a·z + b)` on (score, label) pairs: maximum likelihood by Newton's
/// method with step halving (the loss never goes up, so it cannot diverge), on standardised
/// scores (a rank score's offset is arbitrary: a pairwise loss fixes differences only, so scores
/// may sit far from 0 with a small spread), then mapped back. A tiny ridge keeps the fit finite
/// on separable data. Degenerate input (no scores, one class, constant scores) gives the
/// identity.
pub fn fit_platt(z: &[f32], y: &[bool]) -> Calibration {
    let identity = Calibration {
        a: 1.0,
        b: 0.0,
        ..Calibration::default()
    };
    if z.is_empty() || z.len() != y.len() || y.iter().all(|&v| v) || y.iter().all(|&v| !v) {
        return identity;
    }
    let n = z.len() as f64;
    let mean = z.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let sd = (z
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    if !(sd.is_finite() && sd > 0.0 && mean.is_finite()) {
        return identity;
    }
    let xs: Vec<f64> = z.iter().map(|&v| (f64::from(v) - mean) / sd).collect();
    const RIDGE: f64 = 1e-6;
    // Mean negative log-likelihood (plus the ridge on the slope).
    let loss = |a: f64, b: f64| {
        let mut l = 0.0;
        for (&x, &t) in xs.iter().zip(y) {
            let m = a * x + b;
            // log(1 + e^m) - t·m, stably.
            l += m.max(0.0) + (-m.abs()).exp().ln_1p() - if t { m } else { 0.0 };
        }
        l / n + 0.5 * RIDGE * a * a
    };
    let pos = y.iter().filter(|&&v| v).count() as f64;
    let (mut a, mut b) = (0.0f64, (pos / (n - pos)).ln());
    let mut current = loss(a, b);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (RIDGE * a, 0.0, RIDGE, 0.0, 0.0);
        for (&x, &t) in xs.iter().zip(y) {
            let p = 1.0 / (1.0 + (-(a * x + b)).exp());
            let d = (p - f64::from(u8::from(t))) / n;
            ga += d * x;
            gb += d;
            let w = p * (1.0 - p) / n;
            haa += w * x * x;
            hab += w * x;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if !(det.is_finite() && det > 1e-300) {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        let mut step = 1.0;
        let mut improved = false;
        for _ in 0..40 {
            let (na, nb) = (a - step * da, b - step * db);
            let l = loss(na, nb);
            if l.is_finite() && l <= current {
                (a, b, current) = (na, nb, l);
                improved = true;
                break;
            }
            step *= 0.5;
        }
        if !improved || (step * (da.abs() + db.abs())) < 1e-12 {
            break;
        }
    }
    // Back to raw scores: a·(z − mean)/sd + b.
    let (raw_a, raw_b) = (a / sd, b - a * mean / sd);
    if raw_a.is_finite() && raw_b.is_finite() {
        Calibration {
            a: raw_a,
            b: raw_b,
            ..Calibration::default()
        }
    } else {
        identity
    }
}

/// [`fit_platt`] held to a slope of at least 0: p(convert) never rises going down the queue. A
/// score that ranks the slice backwards gets the flat calibration at the slice's base rate.
pub fn fit_platt_monotone(z: &[f32], y: &[bool]) -> Calibration {
    let cal = fit_platt(z, y);
    if cal.a >= 0.0 {
        return cal;
    }
    let pos = y.iter().filter(|&&v| v).count() as f64;
    let neg = y.len() as f64 - pos;
    Calibration {
        a: 0.0,
        b: (pos / neg).ln(),
        ..Calibration::default()
    }
}

/// Hash of everything that decides a run's result: the options (less the checkpoint and
/// resume settings), the ladder spec and the encoded examples (token ids, text masks, labels,
/// lead indices).
fn fingerprint(opts: &TrainOptions, spec: &Spec, sets: [&[Example]; 3]) -> Result<String> {
    let o = TrainOptions {
        checkpoint_every: 0,
        checkpoint_path: None,
        resume: false,
        max_steps_this_run: None,
        // What decides the steps is the window of micro-batches per optimiser step, not how
        // the ranks share it.
        grad_accum: window(opts),
        ..opts.clone()
    };
    let json = serde_json::to_string(&(o, spec))
        .map_err(|e| Error::Input(format!("options to JSON: {e}")))?;
    let mut h = Fnv::default();
    h.bytes(json.as_bytes());
    for set in sets {
        h.u64(set.len() as u64);
        for e in set {
            h.u64(e.lead as u64);
            h.u64(u64::from(e.label));
            h.u64(e.ids.len() as u64);
            for &id in &e.ids {
                h.u64(u64::from(id));
            }
            h.bytes(&e.text_mask);
        }
    }
    Ok(h.finish())
}

/// Micro-batches per optimiser step over all ranks: `grad_accum × world size`.
fn window(opts: &TrainOptions) -> usize {
    opts.grad_accum.max(1) * opts.parallel.world_size()
}

/// The data side of a run: the ladder, the temporal split, the tokenizer, the model config and
/// the encoded fit / validation / test examples. It depends only on the options in
/// [`data_key`], so runs that differ only in their objective or loss weights (an ablation) can
/// share one and skip re-tokenising the data.
#[derive(Debug)]
pub struct Prepared {
    key: String,
    ladder: Ladder,
    encoder: LeadEncoder,
    config: Config,
    /// The second pooled position, if any (see [`TrainOptions::pool_fields`]).
    pool_position: Option<usize>,
    fit: Vec<Example>,
    val: Vec<Example>,
    test: Vec<Example>,
    /// The fit period's field distributions, kept in the bundle for the drift check.
    drift_profile: DriftProfile,
}

impl Prepared {
    /// How leads became token ids (tokenizer, and field tables for the fields encoding).
    pub fn encoder(&self) -> &LeadEncoder {
        &self.encoder
    }

    /// The model configuration (vocabulary sized to the encoder).
    pub fn config(&self) -> &Config {
        &self.config
    }
}

/// The options that decide a [`Prepared`]: preset, model shape, vocabulary, prompt budget, split
/// fractions, training sample, seed and base checkpoint.
pub fn data_key(opts: &TrainOptions) -> Result<String> {
    serde_json::to_string(&(
        &opts.preset,
        &opts.model,
        opts.vocab_size,
        opts.max_tokens,
        opts.encoding,
        opts.field_fit,
        opts.pool_fields,
        opts.train_fraction,
        opts.val_fraction,
        opts.train_sample,
        opts.seed,
        &opts.base,
    ))
    .map_err(|e| Error::Input(format!("options to JSON: {e}")))
}

/// Splits, tokenises (training the BPE, or loading the base's tokenizer) and encodes `data`.
pub fn prepare(
    spec: &Spec,
    data: &Dataset,
    opts: &TrainOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Prepared> {
    let ladder = Ladder::assign(spec, data).map_err(|e| Error::Input(e.to_string()))?;
    let split = temporal_split(data, ladder.labels(), opts.train_fraction)
        .map_err(|e| Error::Input(e.to_string()))?;
    let n_val = ((split.train.len() as f64) * opts.val_fraction).round() as usize;
    if n_val == 0 || n_val >= split.train.len() {
        return Err(Error::Input(format!(
            "a validation share of {} leaves no validation or no training leads ({} in the training period)",
            opts.val_fraction,
            split.train.len()
        )));
    }
    let (fit_period, val_idx) = split.train.split_at(split.train.len() - n_val);
    // The whole fit period (before any training sample), as the bundle's drift reference.
    let drift_profile = DriftProfile::fit(&data.schema, fit_period.iter().map(|&i| &data.leads[i]))
        .map_err(|e| Error::Input(format!("the fit period's drift profile: {e}")))?;
    let mut fit_idx = fit_period.to_vec();
    if let Some(cap) = opts.train_sample
        && cap < fit_idx.len()
    {
        let mut rng = Rng::derive(opts.seed, 0x5A3F);
        rng.shuffle(&mut fit_idx);
        fit_idx.truncate(cap);
        fit_idx.sort_unstable();
    }
    let sep = spec.parse.turn_separator.as_str();

    let (encoder, config) = match &opts.base {
        Some(dir) => {
            if opts.encoding != Encoding::Text {
                return Err(Error::Config(
                    "a pretrained base reads text: LoRA fine-tuning uses the text encoding".into(),
                ));
            }
            progress(Progress::Stage(format!(
                "loading the tokenizer and config of {}",
                dir.display()
            )));
            let (tokenizer, config) = load_base(dir)?;
            if opts.max_tokens > config.model.max_position_embeddings {
                return Err(Error::Config(format!(
                    "max_tokens {} exceeds the base's max_position_embeddings {}",
                    opts.max_tokens, config.model.max_position_embeddings
                )));
            }
            (LeadEncoder::text(tokenizer), config)
        }
        None => {
            progress(Progress::Stage(format!(
                "training a {}-token BPE tokenizer on {} leads",
                opts.vocab_size,
                fit_idx.len()
            )));
            let text_of = |i: usize| {
                let lead = &data.leads[i];
                match opts.encoding {
                    Encoding::Text => render(&data.schema, lead, sep, &ApproxCounter, 0).text,
                    Encoding::Fields => {
                        render_dialogue(&data.schema, lead, sep, &ApproxCounter, 0).text
                    }
                }
            };
            let texts: Vec<String> = fit_idx.iter().map(|&i| text_of(i)).collect();
            let tokenizer = train_bpe(texts.into_iter(), opts.vocab_size)
                .map_err(|e| Error::Input(format!("tokenizer: {e}")))?;
            let encoder = match opts.encoding {
                Encoding::Text => LeadEncoder::text(tokenizer),
                Encoding::Fields => {
                    let codec = FieldCodec::fit(
                        &data.schema,
                        fit_idx.iter().map(|&i| &data.leads[i]),
                        &opts.field_fit,
                    )
                    .map_err(|e| Error::Input(e.to_string()))?;
                    progress(Progress::Stage(format!(
                        "fitted {} field tokens for {} input fields on {} leads",
                        codec.len(),
                        codec.fields.len(),
                        fit_idx.len()
                    )));
                    LeadEncoder::with_fields(tokenizer, codec)
                }
            };
            let mut config = opts.model.clone();
            config.model.vocab_size = encoder.vocab_size();
            config.model.max_position_embeddings =
                config.model.max_position_embeddings.max(opts.max_tokens);
            config.validate()?;
            (encoder, config)
        }
    };

    progress(Progress::Stage(format!(
        "encoding {} training, {} validation and {} test leads",
        fit_idx.len(),
        val_idx.len(),
        split.test.len()
    )));
    let fit = encode(&encoder, data, &ladder, &fit_idx, sep, opts.max_tokens)?;
    let val = encode(&encoder, data, &ladder, val_idx, sep, opts.max_tokens)?;
    let test = encode(&encoder, data, &ladder, &split.test, sep, opts.max_tokens)?;
    if !fit.is_empty() {
        let mut lens: Vec<usize> = fit.iter().map(|e| e.ids.len()).collect();
        lens.sort_unstable();
        let cut = fit
            .iter()
            .filter(|e| e.ids.len() >= opts.max_tokens)
            .count();
        progress(Progress::Stage(format!(
            "training leads: {:.1} tokens on average, median {}, 95th percentile {}; {} at the {}-token budget",
            lens.iter().sum::<usize>() as f64 / lens.len() as f64,
            lens[lens.len() / 2],
            lens[lens.len() * 95 / 100],
            cut,
            opts.max_tokens
        )));
    }
    let pool_position = match (opts.pool_fields, encoder.fields()) {
        (false, _) => None,
        (true, Some(f)) if !f.is_empty() && f.fields.len() + 1 < opts.max_tokens => {
            Some(f.fields.len() - 1)
        }
        (true, _) => {
            return Err(Error::Config(
                "pooling the last field token needs field tokens (the fields encoding, at least \
                 one input field) and room for the dialogue in max_tokens"
                    .into(),
            ));
        }
    };
    Ok(Prepared {
        key: data_key(opts)?,
        ladder,
        encoder,
        pool_position,
        config,
        fit,
        val,
        test,
        drift_profile,
    })
}

/// Trains a ranker on `data` per `opts`. `progress` hears about stages, steps and epochs.
pub fn train(
    spec: &Spec,
    data: &Dataset,
    opts: &TrainOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Trained> {
    opts.device.open()?;
    let prepared = prepare(spec, data, opts, progress)?;
    train_prepared(spec, data, opts, &prepared, progress)
}

/// [`train`] on data already [`prepare`]d with the same [`data_key`] options: build the model,
/// resume from a checkpoint if asked, train epoch by epoch with early stopping on the validation
/// AUC, then calibrate and audit the test period once.
pub fn train_prepared(
    spec: &Spec,
    data: &Dataset,
    opts: &TrainOptions,
    prepared: &Prepared,
    progress: &mut dyn FnMut(Progress),
) -> Result<Trained> {
    if opts.ensemble == 0 {
        return Err(Error::Config(
            "an ensemble needs at least one member".into(),
        ));
    }
    let mut members = Vec::with_capacity(opts.ensemble);
    let mut steps_before = 0;
    for m in 0..opts.ensemble {
        if opts.ensemble > 1 {
            progress(Progress::Stage(format!(
                "ensemble member {} of {} (seed {})",
                m + 1,
                opts.ensemble,
                member_seed(opts.seed, m)
            )));
        }
        let mut run = Run::build(spec, opts, prepared, m, progress)?;
        run.steps_before = steps_before;
        run.resume(progress)?;
        if !run.finished {
            while run.epoch < opts.epochs {
                let sums = run.train_epoch(progress)?;
                if run.end_epoch(sums, progress)? {
                    break;
                }
            }
            run.save_finished()?;
        }
        steps_before += run.run_steps;
        members.push(run.into_member()?);
    }
    finish(spec, data, opts, prepared, members, progress)
}

/// Values per all-reduce of a data-parallel run's gradients: 25 MiB of f32, PyTorch DDP's
/// default bucket. Variables are packed into buckets up to this size; a larger variable makes a
/// bucket of its own.
pub const GRAD_BUCKET: usize = (25 << 20) / 4;

/// A `GradStore` with nothing in it (candle has no public constructor): the store of a constant's
/// backward pass, less the constant.
fn empty_grad_store(device: &candle_core::Device) -> Result<candle_core::backprop::GradStore> {
    let c = Tensor::zeros((), DType::F32, device)?;
    let mut store = c.backward()?;
    store.remove(&c);
    Ok(store)
}

/// Where member `member`'s checkpoints go: the run's path for member 0, `<path>.member<m>` for
/// the others.
pub fn member_checkpoint_path(path: &std::path::Path, member: usize) -> PathBuf {
    if member == 0 {
        return path.to_path_buf();
    }
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".member{member}"));
    PathBuf::from(s)
}

/// One trained ensemble member: its best epoch's weights and validation scores.
#[derive(Debug)]
struct Member {
    model: Model,
    heads: ScoreHeads,
    val_scores: Vec<f32>,
    log: Vec<EpochLog>,
    steps: u64,
    train_tokens: usize,
    train_secs: f64,
}

/// Running sums of the epoch in progress (what a checkpoint saves mid-epoch).
#[derive(Debug, Clone, Copy, Default)]
struct EpochSums {
    /// Total, point, pair and semantic loss, summed over micro-batches.
    loss: [f64; 4],
    /// Micro-batches summed.
    count: usize,
    /// Real tokens trained on.
    tokens: usize,
    /// Seconds spent in the epoch before this process (resume); timing only.
    seconds_before: f64,
}

/// The best epoch so far: its validation AUC, weights and validation scores (the latter absent
/// when it was restored from a checkpoint).
#[derive(Debug)]
struct Best {
    auc: f64,
    weights: Vec<(String, Tensor)>,
    val_scores: Option<Vec<f32>>,
}

/// One training run: the model, its optimiser and where the loop stands.
struct Run<'a> {
    opts: &'a TrainOptions,
    prepared: &'a Prepared,
    /// Which ensemble member this run trains, and its seed (`opts.seed` for member 0).
    member: usize,
    seed: u64,
    /// Per fit example: its recency weight (1 without [`TrainOptions::recency_half_life`]).
    time_weight: Vec<f32>,
    /// Optimiser steps earlier members took in this call (for `max_steps_this_run`).
    steps_before: u64,
    /// The run had already finished when its checkpoint was loaded.
    finished: bool,
    device: candle_core::Device,
    model: Model,
    heads: ScoreHeads,
    params: Vec<(String, candle_core::Var)>,
    opt: AdamW,
    sampler: Sampler,
    pairs: PairBuilder,
    /// Planned optimiser steps and warm-up steps.
    total: u64,
    warmup: u64,
    fingerprint: String,
    /// Optimiser steps taken in total, and by this process.
    step: u64,
    run_steps: u64,
    /// Real tokens trained on by this process (progress only).
    run_tokens: usize,
    /// The epoch to run next, and how many of its batches a resumed run skips.
    epoch: usize,
    skip: usize,
    resumed_sums: EpochSums,
    train_tokens: usize,
    train_secs: f64,
    best: Option<Best>,
    since_best: usize,
    log: Vec<EpochLog>,
    acc: GradAccumulator,
}

impl std::fmt::Debug for Run<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("step", &self.step)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl<'a> Run<'a> {
    /// The model (fresh, or the frozen base with LoRA adapters), heads, optimiser and sampler.
    fn build(
        spec: &Spec,
        opts: &'a TrainOptions,
        prepared: &'a Prepared,
        member: usize,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Self> {
        let device = opts.device.open()?;
        let seed = member_seed(opts.seed, member);
        if !(0.0..1.0).contains(&opts.field_dropout) {
            return Err(Error::Config(format!(
                "field dropout must lie in [0, 1), got {}",
                opts.field_dropout
            )));
        }
        if opts.field_dropout > 0.0 && prepared.encoder.fields().is_none() {
            return Err(Error::Config(
                "field dropout needs the field-token encoding (a from-scratch preset)".into(),
            ));
        }
        if opts.ensemble == 0 {
            return Err(Error::Config(
                "an ensemble needs at least one member".into(),
            ));
        }
        if opts.base.is_none() && opts.precision != Precision::F32 {
            return Err(Error::Config(format!(
                "precision {:?} applies to a frozen LoRA base; the `{}` preset trains from scratch in f32",
                opts.precision, opts.preset
            )));
        }
        if data_key(opts)? != prepared.key {
            return Err(Error::Input(
                "the prepared data was made with other split, sample, tokenizer or model options"
                    .into(),
            ));
        }
        let config = &prepared.config;
        let varmap = VarMap::new();
        let model = match &opts.base {
            Some(dir) => {
                let Some(lora) = &opts.lora else {
                    return Err(Error::Config(
                        "a base checkpoint is fine-tuned with LoRA: the options need `lora`".into(),
                    ));
                };
                progress(Progress::Stage(format!(
                    "loading the frozen base from {} ({:?}) and adding rank-{} LoRA adapters",
                    dir.display(),
                    opts.precision,
                    lora.r
                )));
                let mut model = Model::from_hf_dir_as(dir, &device, opts.precision.dtype())?;
                let lora = LoraConfig {
                    seed: seed ^ 0x10_4A,
                    ..lora.clone()
                };
                model.enable_lora(&lora, &varmap)?;
                model
            }
            None => {
                let mut model = Model::new(config, &varmap, seed, &device)?;
                if opts.numeric_embedding == NumericEmbedding::Ordinal {
                    let Some(codec) = prepared.encoder.fields() else {
                        return Err(Error::Config(
                            "ordinal numeric embeddings need the field-token encoding (a \
                             from-scratch preset)"
                                .into(),
                        ));
                    };
                    let base = prepared.encoder.tokenizer().vocab_size();
                    let blocks = ordinal_blocks(codec, base);
                    scale_ordinal_init(&varmap, &blocks)?;
                    model.set_ordinal_blocks(blocks)?;
                }
                model
            }
        };
        let heads = ScoreHeads::new(
            config.model.hidden_size,
            config.initializer_range,
            &varmap,
            seed ^ 0x4EAD,
            &device,
        )?;
        let mut params = named_vars(&varmap)?;
        if opts.objective == Objective::Hpro {
            // The pairwise loss depends on rank scores only through differences, so the rank
            // head's bias gets exactly zero gradient in theory; in floating point it gets a ~1e-9
            // residue (the +g and -g of each pair summed in different orders), which Adam's
            // normalisation (m / sqrt(v)) would turn into full learning-rate steps. It stays at
            // its initial zero.
            params.retain(|(name, _)| name != RANK_BIAS);
        }
        let opt = AdamW::new(
            params.clone(),
            AdamWConfig {
                weight_decay: opts.weight_decay,
                ..AdamWConfig::default()
            },
        )?;
        let ladder = &prepared.ladder;
        let sampler = Sampler::new(
            &prepared.fit,
            ladder,
            2.min(ladder.n_rungs().max(1)),
            opts.boost_share,
        );
        let steps_per_epoch = prepared
            .fit
            .len()
            .div_ceil(opts.batch_size.max(1))
            .div_ceil(window(opts)) as u64;
        let total = steps_per_epoch * opts.epochs as u64;
        let time_weight = recency_weights(&prepared.fit, opts.recency_half_life)?;
        Ok(Self {
            opts,
            prepared,
            member,
            seed,
            time_weight,
            steps_before: 0,
            finished: false,
            device,
            model,
            heads,
            params,
            opt,
            sampler,
            pairs: PairBuilder {
                cap: opts.pair_cap,
                seed,
            },
            total,
            warmup: ((total as f64) * opts.warmup_fraction).round() as u64,
            fingerprint: member_fingerprint(
                fingerprint(opts, spec, [&prepared.fit, &prepared.val, &prepared.test])?,
                member,
            ),
            step: 0,
            run_steps: 0,
            run_tokens: 0,
            epoch: 0,
            skip: 0,
            resumed_sums: EpochSums::default(),
            train_tokens: 0,
            train_secs: 0.0,
            best: None,
            since_best: 0,
            log: Vec::new(),
            acc: GradAccumulator::default(),
        })
    }

    /// Continues from the checkpoint when `resume` is set and one exists (refusing one written
    /// by a run with other options or data).
    fn resume(&mut self, progress: &mut dyn FnMut(Progress)) -> Result<()> {
        let Some(path) = self.checkpoint_path() else {
            return Ok(());
        };
        let path = &path;
        if !self.opts.resume || !path.exists() {
            return Ok(());
        }
        let ck = checkpoint::load(path)?;
        let st = ck.state;
        if st.fingerprint != self.fingerprint {
            return Err(Error::Input(format!(
                "{}: the checkpoint was written by a run with other options or data \
                 ({} here, {} in the checkpoint); delete it or train without resume",
                path.display(),
                self.fingerprint,
                st.fingerprint
            )));
        }
        let take = |name: &str| {
            ck.tensors
                .get(name)
                .cloned()
                .ok_or_else(|| Error::Input(format!("{}: lacks `{name}`", path.display())))
        };
        for (name, var) in &self.params {
            var.set(&take(name)?)?;
        }
        self.opt.load_state(&ck.tensors, st.step)?;
        if let Some(auc) = st.best_val_auc {
            let weights = self
                .params
                .iter()
                .map(|(n, _)| Ok((n.clone(), take(&format!("best.{n}"))?)))
                .collect::<Result<Vec<_>>>()?;
            self.best = Some(Best {
                auc,
                weights,
                val_scores: None,
            });
        }
        self.step = st.step;
        self.finished = st.finished;
        self.since_best = st.since_best;
        self.train_tokens = st.train_tokens;
        self.train_secs = st.train_seconds;
        self.epoch = st.epoch;
        self.skip = st.batch;
        // The checkpoint's sums cover every rank's micro-batches so far; rank 0 carries them on
        // and the others start from zero, so the sum over ranks stays whole.
        self.resumed_sums = if self.opts.parallel.is_leader() {
            EpochSums {
                loss: st.sums,
                count: st.count,
                tokens: st.epoch_tokens,
                seconds_before: st.epoch_seconds,
            }
        } else {
            EpochSums {
                seconds_before: st.epoch_seconds,
                ..EpochSums::default()
            }
        };
        progress(Progress::Stage(format!(
            "resuming from {} at step {} (epoch {}, batch {})",
            path.display(),
            st.step,
            st.epoch,
            st.batch
        )));
        for e in &st.log {
            progress(Progress::Epoch(e.clone()));
        }
        self.log = st.log;
        Ok(())
    }

    /// The batches of epoch `self.epoch` (from the resume point), each forward and backward,
    /// an optimiser step every window of `grad_accum × world` micro-batches and one for any
    /// remainder. With several ranks, rank `r` computes the micro-batches
    /// `r·grad_accum .. (r+1)·grad_accum` of each window and the window's gradients are summed
    /// over the ranks ([`crate::parallel`]). Returns the epoch's sums over all ranks.
    fn train_epoch(&mut self, progress: &mut dyn FnMut(Progress)) -> Result<EpochSums> {
        let t0 = Instant::now();
        let (skip, mut sums) = if self.skip > 0 || self.resumed_sums.count > 0 {
            (self.skip, self.resumed_sums)
        } else {
            (0, EpochSums::default())
        };
        self.skip = 0;
        self.resumed_sums = EpochSums::default();
        let fit = &self.prepared.fit;
        let batches = self
            .sampler
            .epoch(fit, self.opts.batch_size, self.seed, self.epoch as u64);
        let n_batches = batches.len();
        let accum = self.opts.grad_accum.max(1);
        let window = window(self.opts);
        let rank = self.opts.parallel.rank();
        let mut last_loss = f64::NAN;
        for (bi, members) in batches.into_iter().enumerate().skip(skip) {
            let pos = bi % window;
            if pos / accum == rank {
                // The micro-batch's number in the run (the same after a resume, which restarts
                // at a step boundary, and whatever the world size): it keys the LoRA dropout
                // masks, the field dropout and the pair sampling.
                let micro_batch = self.step * window as u64 + pos as u64;
                let (loss, parts, tokens) = self.batch_loss(&members, micro_batch)?;
                sums.tokens += tokens;
                self.run_tokens += tokens;
                self.acc.add(loss.backward()?, &self.params)?;
                for (s, p) in sums.loss.iter_mut().zip(parts) {
                    *s += p;
                }
                sums.count += 1;
                last_loss = parts[0];
            }
            if pos + 1 == window
                && let Some(grads) = self.window_grads()?
            {
                self.optimiser_step(grads, bi + 1, &sums, t0)?;
                progress(Progress::Step {
                    step: self.step,
                    total: self.total,
                    loss: last_loss,
                    tokens: self.run_tokens,
                });
            }
        }
        // A last, shorter window (every rank knows whether there is one).
        if !n_batches.is_multiple_of(window)
            && skip < n_batches
            && let Some(grads) = self.window_grads()?
        {
            self.optimiser_step(grads, n_batches, &sums, t0)?;
        }
        sums.seconds_before += t0.elapsed().as_secs_f64();
        self.global_sums(&sums)
    }

    /// The window's mean gradient over all ranks' micro-batches (`None` when no rank computed
    /// one). One process: the accumulator's mean. Several: each rank's sums and its count of
    /// micro-batches, all-reduced in buckets ([`GRAD_BUCKET`] values), then divided by the
    /// total count; a variable gets a gradient when any rank's micro-batches gave it one.
    fn window_grads(&mut self) -> Result<Option<candle_core::backprop::GradStore>> {
        let parallel = &self.opts.parallel;
        if parallel.comm().is_none() {
            return Ok(self.acc.finish(&self.params)?);
        }
        let (local, count) = self.acc.take_sums(&self.params);
        let dtype = DType::F32;
        // Presence flags per variable, then the micro-batch count.
        let mut meta: Vec<f32> = local
            .iter()
            .map(|g| if g.is_some() { 1.0 } else { 0.0 })
            .collect();
        meta.push(count as f32);
        let n_meta = meta.len();
        let meta = parallel.sum(&Tensor::from_vec(meta, n_meta, &self.device)?)?;
        let meta: Vec<f32> = meta.to_vec1()?;
        let total = f64::from(meta[n_meta - 1]);
        if total == 0.0 {
            return Ok(None);
        }
        let flat: Vec<Tensor> = self
            .params
            .iter()
            .zip(&local)
            .map(|((_, p), g)| match g {
                Some(g) => Ok(g.flatten_all()?),
                None => Ok(Tensor::zeros(
                    p.as_tensor().elem_count(),
                    dtype,
                    &self.device,
                )?),
            })
            .collect::<Result<_>>()?;
        let mut summed: Vec<Tensor> = Vec::with_capacity(flat.len());
        let mut start = 0;
        while start < flat.len() {
            let mut end = start + 1;
            let mut size = flat[start].elem_count();
            while end < flat.len() && size + flat[end].elem_count() <= GRAD_BUCKET {
                size += flat[end].elem_count();
                end += 1;
            }
            let bucket = parallel.sum(&Tensor::cat(&flat[start..end], 0)?)?;
            let mut at = 0;
            for f in &flat[start..end] {
                summed.push(bucket.narrow(0, at, f.elem_count())?);
                at += f.elem_count();
            }
            start = end;
        }
        let mut store = empty_grad_store(&self.device)?;
        for (((_, p), s), present) in self.params.iter().zip(summed).zip(&meta) {
            if *present > 0.0 {
                let g = (s.reshape(p.as_tensor().shape())? / total)?;
                store.insert(p.as_tensor(), g);
            }
        }
        Ok(Some(store))
    }

    /// `sums` added over the ranks (timing stays this rank's).
    fn global_sums(&self, sums: &EpochSums) -> Result<EpochSums> {
        if self.opts.parallel.comm().is_none() {
            return Ok(*sums);
        }
        let mut v = sums.loss.to_vec();
        v.push(sums.count as f64);
        v.push(sums.tokens as f64);
        let v: Vec<f64> = self
            .opts
            .parallel
            .sum(&Tensor::from_vec(v, 6, &self.device)?)?
            .to_vec1()?;
        Ok(EpochSums {
            loss: [v[0], v[1], v[2], v[3]],
            count: v[4].round() as usize,
            tokens: v[5].round() as usize,
            seconds_before: sums.seconds_before,
        })
    }

    /// Copies of the batch's examples with field dropout applied ([`TrainOptions::field_dropout`]):
    /// each field token is replaced, with that probability, by its field's unknown token
    /// ([`unknown_local`]). Keyed by the run's seed and the micro-batch, so a resumed run drops
    /// the same fields.
    fn drop_fields(&self, members: &[usize], micro_batch: u64) -> Vec<Example> {
        let fit = &self.prepared.fit;
        let Some(codec) = self.prepared.encoder.fields() else {
            return members.iter().map(|&k| fit[k].clone()).collect();
        };
        let base = self.prepared.encoder.tokenizer().vocab_size() as u32;
        let offsets = codec.offsets();
        let mut rng = Rng::derive(self.seed ^ 0xF1E1_D0D0, micro_batch);
        members
            .iter()
            .map(|&k| {
                let mut e = fit[k].clone();
                for (f, field) in codec.fields.iter().enumerate() {
                    let drop = rng.chance(self.opts.field_dropout);
                    let Some(id) = e.ids.get_mut(f) else { break };
                    if drop {
                        let local = (*id - base) as usize - offsets[f];
                        *id = base + (offsets[f] + unknown_local(field, local)) as u32;
                    }
                }
                e
            })
            .collect()
    }

    /// One micro-batch, number `micro_batch` of the run: the loss and its parts (total, point,
    /// pair, semantic) and its real tokens.
    fn batch_loss(&self, members: &[usize], micro_batch: u64) -> Result<(Tensor, [f64; 4], usize)> {
        let (opts, device) = (self.opts, &self.device);
        let fit = &self.prepared.fit;
        let weights: Vec<f32> = members
            .iter()
            .map(|&k| self.sampler.weight(k) * self.time_weight[k])
            .collect();
        let b = if opts.field_dropout > 0.0 {
            let dropped = self.drop_fields(members, micro_batch);
            let all: Vec<usize> = (0..dropped.len()).collect();
            make_batch(
                &dropped,
                &all,
                &weights,
                self.prepared.encoder.pad_id(),
                device,
            )?
        } else {
            make_batch(
                fit,
                members,
                &weights,
                self.prepared.encoder.pad_id(),
                device,
            )?
        };
        let dropout = DropoutKey {
            seed: self.seed,
            micro_batch,
        };
        let hidden = self
            .model
            .forward(&b.input_ids, &b.attention_mask, Some(dropout))?;
        let pooled = pool(&hidden, &b.attention_mask, self.prepared.pool_position)?;
        let r = self.heads.rank_scores(&pooled)?;
        let z = self.heads.point_logits(&pooled)?;
        let loss_point = weighted_bce(&z, &b.labels, &b.weights)?;
        let loss_pair = match opts.objective {
            Objective::Binary => weighted_bce(&r, &b.labels, &b.weights)?,
            Objective::Hpro => {
                let leads: Vec<usize> = members.iter().map(|&k| fit[k].lead).collect();
                let ps = self.pairs.build(&self.prepared.ladder, &leads, micro_batch);
                if ps.is_empty() {
                    Tensor::zeros((), DType::F32, device)?
                } else {
                    let hi: Vec<u32> = ps.iter().map(|p| p.better as u32).collect();
                    let lo: Vec<u32> = ps.iter().map(|p| p.worse as u32).collect();
                    let m: Vec<f32> = ps.iter().map(|p| p.margin as f32).collect();
                    let n = ps.len();
                    // With recency weights a pair weighs the mean of its two leads' weights.
                    let pair_w = opts.recency_half_life.map(|_| {
                        ps.iter()
                            .map(|p| {
                                0.5 * (self.time_weight[members[p.better]]
                                    + self.time_weight[members[p.worse]])
                            })
                            .collect::<Vec<f32>>()
                    });
                    let s_hi = r.index_select(&Tensor::from_vec(hi, n, device)?, 0)?;
                    let s_lo = r.index_select(&Tensor::from_vec(lo, n, device)?, 0)?;
                    let margin = Tensor::from_vec(m, n, device)?;
                    match pair_w {
                        None => pairwise_softplus(&s_hi, &s_lo, Some(&margin))?,
                        Some(w) => pairwise_softplus_weighted(
                            &s_hi,
                            &s_lo,
                            Some(&margin),
                            &Tensor::from_vec(w, n, device)?,
                        )?,
                    }
                }
            }
        };
        let mut loss = ((&loss_point * opts.lambda_point)? + (&loss_pair * opts.lambda_pair)?)?;
        let mut sem_value = 0.0;
        if opts.lambda_sem > 0.0 {
            let sem = lm_loss(&self.model, &hidden, &b.input_ids, &b.text_mask)?;
            sem_value = f64::from(sem.to_scalar::<f32>()?);
            loss = (loss + (sem * opts.lambda_sem)?)?;
        }
        let loss_value = f64::from(loss.to_scalar::<f32>()?);
        if !loss_value.is_finite() {
            return Err(Error::Input(format!(
                "loss became {loss_value} at step {} (epoch {})",
                self.step, self.epoch
            )));
        }
        let parts = [
            loss_value,
            f64::from(loss_point.to_scalar::<f32>()?),
            f64::from(loss_pair.to_scalar::<f32>()?),
            sem_value,
        ];
        Ok((loss, parts, b.tokens))
    }

    /// Clips and applies accumulated gradients, then checkpoints when one is due (or this run's
    /// step budget is spent, which stops it). `batch` is how many batches of the epoch are done
    /// (the resume point); `sums` and `t0` describe the epoch so far.
    fn optimiser_step(
        &mut self,
        mut grads: candle_core::backprop::GradStore,
        batch: usize,
        sums: &EpochSums,
        t0: Instant,
    ) -> Result<()> {
        let opts = self.opts;
        clip_grad_norm(&mut grads, &self.params, opts.grad_clip)?;
        self.opt.step(
            &grads,
            lr_at(
                self.step,
                self.total,
                self.warmup,
                opts.lr,
                opts.min_lr_ratio,
            ),
        )?;
        self.step += 1;
        self.run_steps += 1;
        let stop = opts
            .max_steps_this_run
            .is_some_and(|m| self.steps_before + self.run_steps >= m);
        let due = opts.checkpoint_every > 0 && self.step.is_multiple_of(opts.checkpoint_every);
        if stop || due {
            // Every rank takes part in summing the epoch so far; rank 0 writes.
            let sums = self.global_sums(sums)?;
            self.write_checkpoint(
                batch,
                &sums,
                sums.seconds_before + t0.elapsed().as_secs_f64(),
                false,
            )?;
        }
        if stop {
            return Err(Error::Stopped { step: self.step });
        }
        Ok(())
    }

    /// This member's checkpoint file, if checkpoints are on.
    fn checkpoint_path(&self) -> Option<PathBuf> {
        self.opts
            .checkpoint_path
            .as_deref()
            .map(|p| member_checkpoint_path(p, self.member))
    }

    /// Writes the checkpoint (when checkpoints are on): every variable, the optimiser state, the
    /// best snapshot and the loop's position; `finished` marks a member whose training is over.
    fn write_checkpoint(
        &self,
        batch: usize,
        sums: &EpochSums,
        epoch_seconds: f64,
        finished: bool,
    ) -> Result<()> {
        let Some(path) = self.checkpoint_path() else {
            return Ok(());
        };
        if !self.opts.parallel.is_leader() {
            return Ok(());
        }
        let state = LoopState {
            format: checkpoint::FORMAT.into(),
            fingerprint: self.fingerprint.clone(),
            step: self.step,
            epoch: self.epoch,
            batch,
            sums: sums.loss,
            count: sums.count,
            epoch_tokens: sums.tokens,
            epoch_seconds,
            train_tokens: self.train_tokens,
            train_seconds: self.train_secs,
            best_val_auc: self.best.as_ref().map(|b| b.auc),
            since_best: self.since_best,
            log: self.log.clone(),
            finished,
        };
        let mut tensors: Vec<(String, Tensor)> = self
            .params
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        let mut adam: Vec<(String, Tensor)> = self.opt.state().into_iter().collect();
        adam.sort_by(|a, b| a.0.cmp(&b.0));
        tensors.extend(adam);
        if let Some(best) = &self.best {
            tensors.extend(
                best.weights
                    .iter()
                    .map(|(n, t)| (format!("best.{n}"), t.clone())),
            );
        }
        checkpoint::save(&path, &tensors, &state)
    }

    /// After the last epoch (or an early stop): a checkpoint marked finished, so a resumed
    /// ensemble run skips this member.
    fn save_finished(&self) -> Result<()> {
        self.write_checkpoint(0, &EpochSums::default(), 0.0, true)
    }

    /// Scores the validation slice (the test period is read once, at the end), logs the epoch,
    /// keeps the weights of the best validation AUC, and says whether to stop early.
    fn end_epoch(&mut self, sums: EpochSums, progress: &mut dyn FnMut(Progress)) -> Result<bool> {
        let epoch = self.epoch;
        self.epoch += 1;
        self.train_tokens += sums.tokens;
        self.train_secs += sums.seconds_before;
        let pad = self.prepared.encoder.pad_id();
        let val = &self.prepared.val;
        let (val_r, _) = score_shared(
            &self.model,
            &self.heads,
            val,
            pad,
            64,
            self.prepared.pool_position,
            &self.opts.parallel,
        )?;
        let labels: Vec<bool> = val.iter().map(|e| e.label).collect();
        let s = as_f64(&val_r);
        let n = sums.count.max(1) as f64;
        let entry = EpochLog {
            member: self.member,
            epoch,
            step: self.step,
            train_loss: sums.loss[0] / n,
            loss_point: sums.loss[1] / n,
            loss_pair: sums.loss[2] / n,
            loss_sem: sums.loss[3] / n,
            val_auc: auc(&s, &labels).unwrap_or(0.5),
            val_p_at_1: precision_at_k(&s, &labels, 1.0).unwrap_or(0.0),
            val_p_at_10: precision_at_k(&s, &labels, 10.0).unwrap_or(0.0),
            tokens_per_s: sums.tokens as f64 / sums.seconds_before.max(1e-9),
            seconds: sums.seconds_before,
        };
        progress(Progress::Epoch(entry.clone()));
        let improved = self.best.as_ref().is_none_or(|b| entry.val_auc > b.auc);
        let auc_now = entry.val_auc;
        self.log.push(entry);
        if improved {
            let weights = self
                .params
                .iter()
                .map(|(n, v)| Ok((n.clone(), v.as_tensor().copy()?)))
                .collect::<Result<Vec<_>>>()?;
            self.best = Some(Best {
                auc: auc_now,
                weights,
                val_scores: Some(val_r),
            });
            self.since_best = 0;
            return Ok(false);
        }
        self.since_best += 1;
        if self.since_best >= self.opts.patience.max(1) {
            progress(Progress::Stage(format!(
                "early stop after epoch {epoch}: validation AUC stopped improving"
            )));
            return Ok(true);
        }
        Ok(false)
    }

    /// Restores the best epoch's weights and returns them with that epoch's validation scores.
    fn into_member(self) -> Result<Member> {
        let prepared = self.prepared;
        let mut best_val = None;
        if let Some(best) = self.best {
            for ((_, var), (_, t)) in self.params.iter().zip(&best.weights) {
                var.set(t)?;
            }
            best_val = best.val_scores;
        }
        // The best epoch's weights scored the validation slice when that epoch ended; scoring
        // is deterministic, so reuse those scores (a resumed run whose best epoch came before
        // the checkpoint rescores).
        let val_scores = match best_val {
            Some(s) => s,
            None => {
                score_shared(
                    &self.model,
                    &self.heads,
                    &prepared.val,
                    prepared.encoder.pad_id(),
                    64,
                    prepared.pool_position,
                    &self.opts.parallel,
                )?
                .0
            }
        };
        Ok(Member {
            model: self.model,
            heads: self.heads,
            val_scores,
            log: self.log,
            steps: self.step,
            train_tokens: self.train_tokens,
            train_secs: self.train_secs,
        })
    }
}

/// The mean of the members' scores, lead by lead: summed in member order, then divided by the
/// number of members (the order and operations every scorer uses, so ensembles score alike).
pub fn mean_scores(per_member: &[Vec<f32>]) -> Vec<f32> {
    let Some(first) = per_member.first() else {
        return Vec::new();
    };
    if per_member.len() == 1 {
        return first.clone();
    }
    let mut acc = first.clone();
    for m in &per_member[1..] {
        for (a, &x) in acc.iter_mut().zip(m) {
            *a += x;
        }
    }
    let k = per_member.len() as f32;
    acc.iter_mut().for_each(|a| *a /= k);
    acc
}

/// Scores examples with every member and averages: (ranking scores, pointwise logits).
pub fn score_ensemble(
    members: &[(&Model, &ScoreHeads)],
    examples: &[Example],
    pad_id: u32,
    batch: usize,
    pool_also: Option<usize>,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let mut rs = Vec::with_capacity(members.len());
    let mut zs = Vec::with_capacity(members.len());
    for (model, heads) in members {
        let (r, z) = score(model, heads, examples, pad_id, batch, pool_also)?;
        rs.push(r);
        zs.push(z);
    }
    Ok((mean_scores(&rs), mean_scores(&zs)))
}

/// Calibrates the (ensemble's) rank score on the validation slice and audits the test period
/// once, next to the baselines.
fn finish(
    spec: &Spec,
    data: &Dataset,
    opts: &TrainOptions,
    prepared: &Prepared,
    members: Vec<Member>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Trained> {
    let pad = prepared.encoder.pad_id();
    progress(Progress::Stage(
        "calibrating on the validation slice and auditing the test period".into(),
    ));
    let val_labels: Vec<bool> = prepared.val.iter().map(|e| e.label).collect();
    let mut members = members;
    if members.len() > 1 {
        // Members' rank scores live on different scales (a pairwise loss fixes differences, not
        // units), so a plain mean would let the widest member dominate. Each member's own Platt
        // fit on the validation slice is folded into its rank head (`w·a`, `b·a + c`): the
        // ensemble then averages log-odds, and every scorer computes exactly that with no extra
        // step.
        for m in &mut members {
            // A member that ranks the validation slice backwards gets no say (slope 0).
            let cal = fit_platt_monotone(&m.val_scores, &val_labels);
            let a = cal.a;
            m.heads = m.heads.with_rank_affine(a, cal.b)?;
            for v in &mut m.val_scores {
                *v = (a * f64::from(*v) + cal.b) as f32;
            }
        }
    }
    let val_r = mean_scores(
        &members
            .iter()
            .map(|m| m.val_scores.clone())
            .collect::<Vec<_>>(),
    );
    // p(convert) calibrates the rank score, which orders the queue, so the probability shown
    // beside the queue never rises going down it.
    let calibration = Calibration {
        head: CalibratedHead::Rank,
        ..fit_platt_monotone(&val_r, &val_labels)
    };
    let pairs: Vec<(&Model, &ScoreHeads)> = members.iter().map(|m| (&m.model, &m.heads)).collect();
    let mut test_rs = Vec::with_capacity(pairs.len());
    for (model, heads) in &pairs {
        let (r, _) = score_shared(
            model,
            heads,
            &prepared.test,
            pad,
            64,
            prepared.pool_position,
            &opts.parallel,
        )?;
        test_rs.push(r);
    }
    let test_r = mean_scores(&test_rs);
    let mut scores = vec![f64::NAN; data.len()];
    let mut probs = vec![0.0; data.len()];
    for (k, e) in prepared.test.iter().enumerate() {
        scores[e.lead] = f64::from(test_r[k]);
        probs[e.lead] = calibration.probability(f64::from(test_r[k]));
    }
    let name = format!("leadladder {} ({})", opts.preset, objective_label(opts));
    let train_tokens: usize = members.iter().map(|m| m.train_tokens).sum();
    let train_secs: f64 = members.iter().map(|m| m.train_secs).sum();
    let tokens_per_s = train_tokens as f64 / train_secs.max(1e-9);
    let steps: u64 = members.iter().map(|m| m.steps).sum();
    let epochs: usize = members.iter().map(|m| m.log.len()).sum();
    let report = audit(
        spec,
        data,
        &AuditOptions {
            eval: EvalConfig {
                bootstrap: opts.bootstrap,
                seed: opts.seed,
                ..EvalConfig::default()
            },
            temporal_split: Some(opts.train_fraction),
            external: vec![ExternalScore {
                name,
                scores,
                probs: Some(probs),
            }],
            title: format!("Test period of a {} model", opts.preset),
            ..AuditOptions::default()
        },
    )
    .map_err(|e| Error::Input(e.to_string()))?
    .with_note(format!(
        "validation slice: AUC {:.4}{} (the selection metric; the test period chose nothing)",
        auc(&as_f64(&val_r), &val_labels).unwrap_or(0.5),
        if members.len() > 1 {
            " for the ensemble's mean score"
        } else {
            ""
        }
    ))
    .with_note(format!(
        "trained on {} leads of the training period ({} validation leads, newest); {}{} epochs run, {} optimiser steps; {:.0} tokens/s",
        prepared.fit.len(),
        prepared.val.len(),
        if members.len() > 1 {
            format!("an ensemble of {} members, ", members.len())
        } else {
            String::new()
        },
        epochs,
        steps,
        tokens_per_s
    ));
    let mut log = Vec::new();
    for (m, member) in members.iter().enumerate() {
        log.extend(member.log.iter().map(|e| EpochLog { member: m, ..*e }));
    }
    let mut members = members.into_iter();
    let Some(first) = members.next() else {
        return Err(Error::Config(
            "an ensemble needs at least one member".into(),
        ));
    };
    Ok(Trained {
        model: first.model,
        heads: first.heads,
        more_members: members.map(|m| (m.model, m.heads)).collect(),
        encoder: prepared.encoder.clone(),
        config: prepared.config.clone(),
        calibration,
        max_tokens: opts.max_tokens,
        pool_position: prepared.pool_position,
        report,
        test_scores: prepared
            .test
            .iter()
            .map(|e| e.lead)
            .zip(test_r.iter().copied())
            .collect(),
        log,
        tokens_per_s,
        options: opts.clone(),
        drift_profile: prepared.drift_profile.clone(),
    })
}

/// The token a field dropout puts in place of local id `local` of `field`: "other" for a
/// category, `below` / `above` for a number in the lower / upper half of its bins (with
/// out-of-range tokens; else "missing"), "missing" for a yes/no. A missing value stays missing,
/// and an out-of-range token stays as it is.
pub fn unknown_local(field: &Field, local: usize) -> usize {
    use leadladder_core::fields::{ABOVE, BELOW, MISSING, OTHER};
    if local == MISSING {
        return MISSING;
    }
    match &field.kind {
        FieldKind::Categorical { .. } => OTHER,
        FieldKind::Numeric { edges, .. } if field.out_of_range => {
            if local < field.first_bin() {
                local
            } else if 2 * (local - field.first_bin()) < edges.len() + 1 {
                BELOW
            } else {
                ABOVE
            }
        }
        FieldKind::Numeric { .. } | FieldKind::Boolean => MISSING,
    }
}

/// The seed of ensemble member `member`: the run's seed for member 0 (so a one-member run is
/// exactly a plain run), a derived one for the others.
pub fn member_seed(seed: u64, member: usize) -> u64 {
    if member == 0 {
        seed
    } else {
        Rng::derive(seed ^ 0xE45E_4B1E, member as u64).next_u64()
    }
}

/// A member's checkpoint fingerprint: the run's, plus the member number for members after the
/// first (member 0 keeps the plain run's fingerprint, so its checkpoints stay compatible).
fn member_fingerprint(fp: String, member: usize) -> String {
    if member == 0 {
        fp
    } else {
        format!("{fp}.member{member}")
    }
}

/// Per fit example, `0.5^(age / (half_life · span))`, where `age` is the time from the lead to
/// the newest fit lead and `span` the fit period's length; all 1 without a half-life.
fn recency_weights(fit: &[Example], half_life: Option<f64>) -> Result<Vec<f32>> {
    let Some(h) = half_life else {
        return Ok(vec![1.0; fit.len()]);
    };
    if !(h.is_finite() && h > 0.0) {
        return Err(Error::Config(format!(
            "the recency half-life must be a positive number of fit periods, got {h}"
        )));
    }
    let newest = fit.iter().map(|e| e.created_at).max().unwrap_or(0);
    let oldest = fit.iter().map(|e| e.created_at).min().unwrap_or(0);
    let span = (newest - oldest).max(1) as f64;
    Ok(fit
        .iter()
        .map(|e| 0.5f64.powf((newest - e.created_at) as f64 / (h * span)) as f32)
        .collect())
}

fn as_f64(scores: &[f32]) -> Vec<f64> {
    scores.iter().map(|&x| f64::from(x)).collect()
}

/// The tokenizer (`tokenizer.json`, through [`LeadTokenizer`]: EOS `<|endoftext|>`, pad
/// `<|pad|>` if present, else EOS, as Qwen pads) and the config (`config.json`) of a Hugging
/// Face Qwen2 folder, checked against each other.
pub fn load_base(dir: &std::path::Path) -> Result<(LeadTokenizer, Config)> {
    let path = dir.join("tokenizer.json");
    let json = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let tokenizer = LeadTokenizer::from_json(&json)
        .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    let config = Config::from_file(&dir.join("config.json"))?;
    if tokenizer.vocab_size() > config.model.vocab_size {
        return Err(Error::Config(format!(
            "{}: the tokenizer has {} ids but the model's vocab_size is {}",
            dir.display(),
            tokenizer.vocab_size(),
            config.model.vocab_size
        )));
    }
    Ok((tokenizer, config))
}

/// The ablation's runs on the options of one: binary (no semantic loss), hpro (no semantic
/// loss) and hpro+semantic (the options' semantic weight, at least 0.1), in that order. They
/// share one [`prepare`] (same split, tokenizer and encoded leads).
pub fn ablation(opts: &TrainOptions) -> Vec<TrainOptions> {
    vec![
        TrainOptions {
            objective: Objective::Binary,
            lambda_sem: 0.0,
            ..opts.clone()
        },
        TrainOptions {
            objective: Objective::Hpro,
            lambda_sem: 0.0,
            ..opts.clone()
        },
        TrainOptions {
            objective: Objective::Hpro,
            lambda_sem: opts.lambda_sem.max(0.1),
            ..opts.clone()
        },
    ]
}

/// One test-period report for several runs on the same split: the first run's report (its
/// baselines and its model) plus every later run's model row and notes. With more than one run,
/// the table ends with the last run's lift over the first (the binary run of an [`ablation`]).
pub fn combine_reports(reports: &[AuditReport], preset: &str) -> Option<AuditReport> {
    let (first, rest) = reports.split_first()?;
    let mut report = first.clone();
    for r in rest {
        if let Some(m) = r.methods.last() {
            report.methods.push(m.clone());
        }
        report.notes.extend(r.notes.iter().cloned());
    }
    if !rest.is_empty() {
        let first_model = report.methods.len() - reports.len();
        let name = report.methods[first_model].name.clone();
        report = report.relative_to(name);
        report.title = format!("Ablation on the test period ({preset} preset)");
    }
    Some(report)
}

/// "binary", "hpro" or "hpro+semantic".
pub fn objective_label(opts: &TrainOptions) -> &'static str {
    match (opts.objective, opts.lambda_sem > 0.0) {
        (Objective::Binary, false) => "binary",
        (Objective::Binary, true) => "binary+semantic",
        (Objective::Hpro, false) => "hpro",
        (Objective::Hpro, true) => "hpro+semantic",
    }
}

impl Trained {
    /// Every member of the model: the first, then the rest of an ensemble.
    pub fn members(&self) -> Vec<(&Model, &ScoreHeads)> {
        std::iter::once((&self.model, &self.heads))
            .chain(self.more_members.iter().map(|(m, h)| (m, h)))
            .collect()
    }

    /// Scores encoded examples as the exported bundle does: (rank scores, point logits), the
    /// mean over the ensemble's members.
    pub fn score(&self, examples: &[Example], batch: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        score_ensemble(
            &self.members(),
            examples,
            self.encoder.pad_id(),
            batch,
            self.pool_position,
        )
    }

    /// Writes the LoRA adapters as a Hugging Face PEFT adapter folder (`adapter_config.json`,
    /// `adapter_model.safetensors`, plus `score_heads.safetensors`): see [`crate::peft`]. Only for
    /// a LoRA fine-tune of a base checkpoint (`base_model_name_or_path` is the base folder).
    pub fn export_peft(&self, dir: &std::path::Path) -> Result<()> {
        let (Some(base), Some(lora)) = (&self.options.base, &self.options.lora) else {
            return Err(Error::Config(format!(
                "the `{}` preset trains from scratch: there is no LoRA adapter to export",
                self.options.preset
            )));
        };
        crate::peft::save_adapter(
            &self.model,
            Some(&self.heads),
            lora,
            &base.display().to_string(),
            dir,
        )
    }

    /// The bundle bytes (`leadladder-bundle/1`) in `dtype`.
    pub fn export(&self, spec: &Spec, dtype: StoreDtype, data_hash: &str) -> Result<Vec<u8>> {
        let mut tensors = Vec::new();
        for (m, (model, heads)) in self.members().into_iter().enumerate() {
            for (name, t) in model.hf_tensors()?.into_iter().chain(heads.tensors()?) {
                let shape = t.dims().to_vec();
                let values: Vec<f32> = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
                tensors.push((
                    leadladder_bundle::member_tensor_name(m, &name),
                    shape,
                    values,
                ));
            }
        }
        let mut cfg = BundleConfig::new(
            self.config.model.clone(),
            self.max_tokens,
            self.encoder.pad_id(),
            self.encoder.eos_id(),
        );
        cfg.calibration = self.calibration;
        cfg.pool_position = self.pool_position;
        cfg.ensemble = 1 + self.more_members.len();
        let provenance = Provenance {
            data_hash: data_hash.to_string(),
            seed: self.options.seed,
            code_version: env!("CARGO_PKG_VERSION").to_string(),
            preset: self.options.preset.clone(),
            created: leadladder_core::value::format_rfc3339(
                web_time::SystemTime::now()
                    .duration_since(web_time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64),
            ),
        };
        let metrics = serde_json::json!({
            "report": self.report,
            "log": self.log,
            "tokens_per_s": self.tokens_per_s,
            "options": self.options,
        })
        .to_string();
        let bad = |e: leadladder_bundle::Error| Error::Input(format!("bundle: {e}"));
        let mut meta = BundleMeta::new(&cfg, &self.encoder, spec, metrics, &provenance)
            .and_then(|m| m.with_drift_profile(&self.drift_profile))
            .map_err(bad)?;
        // The guard's verdict on the test period (the model is the report's last method); a
        // report it cannot judge (no recency line) leaves the bundle without one.
        if let Some(guard) = self.guard() {
            meta = meta.with_guard(&guard).map_err(bad)?;
        }
        write_bundle(&tensors, &meta, dtype).map_err(bad)
    }

    /// The guard's verdict on the test-period report: does the model rank worse than recency or
    /// the hand tier sort beyond the bootstrap intervals? `None` when the report cannot be
    /// judged (no model line or no recency line).
    pub fn guard(&self) -> Option<Guard> {
        let model = self.report.methods.last()?;
        Guard::check(&self.report, &model.name).ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Labels drawn from `σ(slope·(z − offset))` with a fixed generator.
    fn sample(n: usize, offset: f32, spread: f32, slope: f64) -> (Vec<f32>, Vec<bool>) {
        let mut rng = Rng::new(3);
        let z: Vec<f32> = (0..n)
            .map(|_| offset + spread * rng.normal() as f32)
            .collect();
        let y = z
            .iter()
            .map(|&v| rng.chance(1.0 / (1.0 + (-slope * f64::from(v - offset)).exp())))
            .collect();
        (z, y)
    }

    #[test]
    fn platt_recovers_the_slope_whatever_the_offset_and_spread() {
        // Rank scores far from 0 with a small spread, as a pairwise loss leaves them: the old
        // Newton fit from (1, 0) diverged on such scores (a = -6.8e9 on one real funnel).
        for (offset, spread, slope) in [
            (0.0f32, 1.0f32, 1.0f64),
            (150.0, 0.02, 40.0),
            (-3000.0, 5.0, 0.3),
        ] {
            let (z, y) = sample(4000, offset, spread, slope);
            let c = fit_platt(&z, &y);
            assert!(
                (c.a - slope).abs() < 0.2 * slope,
                "offset {offset}, spread {spread}: slope {} for {slope}",
                c.a
            );
            let mid = c.probability(f64::from(offset));
            assert!((mid - 0.5).abs() < 0.1, "p at the offset: {mid}");
        }
    }

    #[test]
    fn platt_degenerate_and_backward_inputs() {
        assert_eq!(fit_platt(&[], &[]).a, 1.0);
        assert_eq!(fit_platt(&[1.0, 2.0], &[true, true]).a, 1.0);
        assert_eq!(fit_platt(&[3.0, 3.0, 3.0], &[true, false, false]).a, 1.0);
        // Separable data stays finite.
        let c = fit_platt(&[0.0, 1.0, 2.0, 3.0], &[false, false, true, true]);
        assert!(c.a.is_finite() && c.a > 0.0 && c.b.is_finite(), "{c:?}");
        // A score that ranks backwards: the plain fit has a negative slope, the monotone one
        // is flat at the base rate.
        let (z, y) = sample(2000, 10.0, 1.0, -2.0);
        assert!(fit_platt(&z, &y).a < 0.0);
        let m = fit_platt_monotone(&z, &y);
        assert_eq!(m.a, 0.0);
        let rate = y.iter().filter(|&&v| v).count() as f64 / y.len() as f64;
        assert!((m.probability(10.0) - rate).abs() < 1e-9);
    }
}
