//! The HPRO training loop: temporal split, tokenizer, stratified batches, the three-part loss,
//! AdamW with warmup + cosine, evaluation every epoch with early stopping on validation P@1%,
//! Platt calibration, the final test-period report and bundle export.
//!
//! `L = w·BCE(p, y) + λ_pair · mean softplus(−(r_i − r_j − m_ij)) + λ_sem · LM loss on text tokens`
//! (DESIGN.md). With `Objective::Binary` the pair term is replaced by BCE on the ranking logit,
//! so both ablations rank by the same head.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Tensor};
use candle_nn::VarMap;
use leadladder_bundle::{
    BundleConfig, BundleMeta, Calibration, LeadTokenizer, Provenance, StoreDtype, train_bpe,
    write_bundle,
};
use leadladder_core::audit::{AuditOptions, ExternalScore, audit};
use leadladder_core::ladder::{Ladder, PairBuilder};
use leadladder_core::metrics::{EvalConfig, precision_at_k};
use leadladder_core::prompt::{ApproxCounter, render};
use leadladder_core::report::AuditReport;
use leadladder_core::rng::Rng;
use leadladder_core::split::temporal_split;
use leadladder_core::{Dataset, Spec};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, Fnv, LoopState};
use crate::data::{Example, Sampler, encode, make_batch};
use crate::device::{DeviceSpec, Precision};
use crate::error::{Error, Result};
use crate::heads::{RANK_BIAS, ScoreHeads, lm_loss, pairwise_softplus, softplus};
use crate::lora::LoraConfig;
use crate::optim::{AdamW, AdamWConfig, GradAccumulator, clip_grad_norm, lr_at};
use crate::params::named_vars;
use crate::qwen2::{Config, Model, last_token_pool};

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
    /// Where checkpoints go (written atomically: `<path>.tmp`, fsync, rename).
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
}

/// One line of the metrics log (JSONL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub step: u64,
    pub train_loss: f64,
    pub loss_point: f64,
    pub loss_pair: f64,
    pub loss_sem: f64,
    pub val_p_at_1: f64,
    pub test_p_at_1: f64,
    pub test_p_at_0_1: f64,
    pub tokens_per_s: f64,
    pub seconds: f64,
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
    pub model: Model,
    pub heads: ScoreHeads,
    pub tokenizer: LeadTokenizer,
    pub config: Config,
    pub calibration: Calibration,
    pub max_tokens: usize,
    /// The test-period audit: baselines and this model, with bootstrap CIs.
    pub report: AuditReport,
    pub log: Vec<EpochLog>,
    /// Training throughput (real tokens per second of training steps).
    pub tokens_per_s: f64,
    pub options: TrainOptions,
}

/// Scores examples: (ranking scores, pointwise logits), in example order.
pub fn score(
    model: &Model,
    heads: &ScoreHeads,
    examples: &[Example],
    pad_id: u32,
    batch: usize,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by_key(|&k| examples[k].ids.len());
    let mut r = vec![0f32; examples.len()];
    let mut z = vec![0f32; examples.len()];
    let ones = vec![1f32; examples.len()];
    for chunk in order.chunks(batch.max(1)) {
        let b = make_batch(
            examples,
            chunk,
            &ones[..chunk.len()],
            pad_id,
            model.device(),
        )?;
        let hidden = model.forward(&b.input_ids, &b.attention_mask, false)?;
        let pooled = last_token_pool(&hidden, &b.attention_mask)?;
        let rs: Vec<f32> = heads.rank_scores(&pooled)?.detach().to_vec1()?;
        let zs: Vec<f32> = heads.point_logits(&pooled)?.detach().to_vec1()?;
        for (i, &k) in chunk.iter().enumerate() {
            r[k] = rs[i];
            z[k] = zs[i];
        }
    }
    Ok((r, z))
}

/// Weighted mean BCE with logits: `Σ w·(softplus(x) − x·y) / Σ w`.
fn weighted_bce(logits: &Tensor, labels: &Tensor, weights: &Tensor) -> Result<Tensor> {
    let per = (softplus(logits)? - (logits * labels)?)?;
    let num = (per * weights)?.sum_all()?;
    let den = weights.sum_all()?;
    Ok(num.broadcast_div(&den)?)
}

/// Fits Platt scaling `p = σ(a·z + b)` by Newton's method on (logit, label) pairs.
pub fn fit_platt(z: &[f32], y: &[bool]) -> Calibration {
    let (mut a, mut b) = (1.0f64, 0.0f64);
    if z.is_empty() || y.iter().all(|&v| v) || y.iter().all(|&v| !v) {
        return Calibration { a, b };
    }
    for _ in 0..50 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 1e-9, 0.0, 1e-9);
        for (&zi, &yi) in z.iter().zip(y) {
            let x = f64::from(zi);
            let p = 1.0 / (1.0 + (-(a * x + b)).exp());
            let d = p - f64::from(u8::from(yi));
            ga += d * x;
            gb += d;
            let w = p * (1.0 - p);
            haa += w * x * x;
            hab += w * x;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-12 {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        a -= da;
        b -= db;
        if da.abs() + db.abs() < 1e-10 {
            break;
        }
    }
    if a.is_finite() && b.is_finite() {
        Calibration { a, b }
    } else {
        Calibration::default()
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

/// Called after every optimiser step (the gradient accumulator is empty): writes a checkpoint
/// when one is due or this run's step budget is spent, and stops in the latter case.
fn at_step_boundary(
    opts: &TrainOptions,
    run_steps: u64,
    step: u64,
    params: &[(String, candle_core::Var)],
    opt: &AdamW,
    best: Option<&(f64, Vec<(String, Tensor)>)>,
    state: impl FnOnce() -> LoopState,
) -> Result<()> {
    let stop = opts.max_steps_this_run.is_some_and(|m| run_steps >= m);
    let due = opts.checkpoint_every > 0 && step.is_multiple_of(opts.checkpoint_every);
    if (stop || due)
        && let Some(path) = &opts.checkpoint_path
    {
        let mut tensors: Vec<(String, Tensor)> = params
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        let mut adam: Vec<(String, Tensor)> = opt.state().into_iter().collect();
        adam.sort_by(|a, b| a.0.cmp(&b.0));
        tensors.extend(adam);
        if let Some((_, snapshot)) = best {
            tensors.extend(
                snapshot
                    .iter()
                    .map(|(n, t)| (format!("best.{n}"), t.clone())),
            );
        }
        checkpoint::save(path, &tensors, &state())?;
    }
    if stop {
        return Err(Error::Stopped { step });
    }
    Ok(())
}

/// The data side of a run: the ladder, the temporal split, the tokenizer, the model config and
/// the encoded fit / validation / test examples. It depends only on the options in
/// [`data_key`], so runs that differ only in their objective or loss weights (an ablation) can
/// share one and skip re-tokenising the data.
#[derive(Debug)]
pub struct Prepared {
    key: String,
    ladder: Ladder,
    tokenizer: LeadTokenizer,
    config: Config,
    fit: Vec<Example>,
    val: Vec<Example>,
    test: Vec<Example>,
}

/// The options that decide a [`Prepared`]: preset, model shape, vocabulary, prompt budget, split
/// fractions, training sample, seed and base checkpoint.
pub fn data_key(opts: &TrainOptions) -> Result<String> {
    serde_json::to_string(&(
        &opts.preset,
        &opts.model,
        opts.vocab_size,
        opts.max_tokens,
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

    let (tokenizer, config) = match &opts.base {
        Some(dir) => {
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
            (tokenizer, config)
        }
        None => {
            progress(Progress::Stage(format!(
                "training a {}-token BPE tokenizer on {} leads",
                opts.vocab_size,
                fit_idx.len()
            )));
            let texts: Vec<String> = fit_idx
                .iter()
                .map(|&i| render(&data.schema, &data.leads[i], sep, &ApproxCounter, 0).text)
                .collect();
            let tokenizer = train_bpe(texts.into_iter(), opts.vocab_size)
                .map_err(|e| Error::Input(format!("tokenizer: {e}")))?;
            let mut config = opts.model.clone();
            config.model.vocab_size = tokenizer.vocab_size();
            config.model.max_position_embeddings =
                config.model.max_position_embeddings.max(opts.max_tokens);
            config.validate()?;
            (tokenizer, config)
        }
    };

    progress(Progress::Stage(format!(
        "encoding {} training, {} validation and {} test leads",
        fit_idx.len(),
        val_idx.len(),
        split.test.len()
    )));
    let fit = encode(&tokenizer, data, &ladder, &fit_idx, sep, opts.max_tokens)?;
    let val = encode(&tokenizer, data, &ladder, val_idx, sep, opts.max_tokens)?;
    let test = encode(&tokenizer, data, &ladder, &split.test, sep, opts.max_tokens)?;
    Ok(Prepared {
        key: data_key(opts)?,
        ladder,
        tokenizer,
        config,
        fit,
        val,
        test,
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

/// [`train`] on data already [`prepare`]d with the same [`data_key`] options.
pub fn train_prepared(
    spec: &Spec,
    data: &Dataset,
    opts: &TrainOptions,
    prepared: &Prepared,
    progress: &mut dyn FnMut(Progress),
) -> Result<Trained> {
    let device = opts.device.open()?;
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
    let Prepared {
        ladder,
        tokenizer,
        config,
        fit,
        val,
        test,
        ..
    } = prepared;
    let pad = tokenizer.pad_id();

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
                seed: opts.seed ^ 0x10_4A,
                ..lora.clone()
            };
            model.enable_lora(&lora, &varmap)?;
            model
        }
        None => Model::new(config, &varmap, opts.seed, &device)?,
    };
    let heads = ScoreHeads::new(
        config.model.hidden_size,
        config.initializer_range,
        &varmap,
        opts.seed ^ 0x4EAD,
        &device,
    )?;
    let mut params = named_vars(&varmap)?;
    if opts.objective == Objective::Hpro {
        // The pairwise loss depends on rank scores only through differences, so the rank head's
        // bias gets exactly zero gradient in theory; in floating point it gets a ~1e-9 residue
        // (the +g and -g of each pair summed in different orders), which Adam's normalisation
        // (m / sqrt(v)) would turn into full learning-rate steps. It stays at its initial zero.
        params.retain(|(name, _)| name != RANK_BIAS);
    }
    let mut opt = AdamW::new(
        params.clone(),
        AdamWConfig {
            weight_decay: opts.weight_decay,
            ..AdamWConfig::default()
        },
    )?;
    let sampler = Sampler::new(
        fit,
        ladder,
        2.min(ladder.n_rungs().max(1)),
        opts.boost_share,
    );
    let pairs = PairBuilder {
        cap: opts.pair_cap,
        seed: opts.seed,
    };
    let steps_per_epoch = fit
        .len()
        .div_ceil(opts.batch_size.max(1))
        .div_ceil(opts.grad_accum.max(1)) as u64;
    let total = steps_per_epoch * opts.epochs as u64;
    let warmup = ((total as f64) * opts.warmup_fraction).round() as u64;

    let val_labels: Vec<bool> = val.iter().map(|e| e.label).collect();
    let test_labels: Vec<bool> = test.iter().map(|e| e.label).collect();
    let p_at = |scores: &[f32], labels: &[bool], k: f64| -> f64 {
        let s: Vec<f64> = scores.iter().map(|&x| f64::from(x)).collect();
        precision_at_k(&s, labels, k).unwrap_or(0.0)
    };

    let fingerprint = fingerprint(opts, spec, [fit, val, test])?;
    let mut log = Vec::new();
    let mut best: Option<(f64, Vec<(String, Tensor)>)> = None;
    let mut since_best = 0;
    let mut step = 0u64;
    let (mut train_tokens, mut train_secs) = (0usize, 0f64);
    // Where to start: (epoch, batches of it already done, its running sums, count, tokens, secs).
    let mut start = (0usize, 0usize, [0f64; 4], 0usize, 0usize, 0f64);
    if opts.resume
        && let Some(path) = &opts.checkpoint_path
        && path.exists()
    {
        let ck = checkpoint::load(path)?;
        let st = ck.state;
        if st.fingerprint != fingerprint {
            return Err(Error::Input(format!(
                "{}: the checkpoint was written by a run with other options or data \
                 ({} here, {} in the checkpoint); delete it or train without resume",
                path.display(),
                fingerprint,
                st.fingerprint
            )));
        }
        let take = |name: &str| {
            ck.tensors
                .get(name)
                .cloned()
                .ok_or_else(|| Error::Input(format!("{}: lacks `{name}`", path.display())))
        };
        for (name, var) in &params {
            var.set(&take(name)?)?;
        }
        opt.load_state(&ck.tensors, st.step)?;
        if let Some(p) = st.best_p_at_1 {
            let snapshot = params
                .iter()
                .map(|(n, _)| Ok((n.clone(), take(&format!("best.{n}"))?)))
                .collect::<Result<Vec<_>>>()?;
            best = Some((p, snapshot));
        }
        step = st.step;
        since_best = st.since_best;
        train_tokens = st.train_tokens;
        train_secs = st.train_seconds;
        start = (
            st.epoch,
            st.batch,
            st.sums,
            st.count,
            st.epoch_tokens,
            st.epoch_seconds,
        );
        progress(Progress::Stage(format!(
            "resuming from {} at step {step} (epoch {}, batch {})",
            path.display(),
            st.epoch,
            st.batch
        )));
        for e in &st.log {
            progress(Progress::Epoch(e.clone()));
        }
        log = st.log;
    }
    let mut run_steps = 0u64;
    let mut best_scores: Option<(Vec<f32>, Vec<f32>, Vec<f32>)> = None;
    let mut run_tokens = 0usize;
    let mut acc = GradAccumulator::default();
    for epoch in start.0..opts.epochs {
        let t0 = Instant::now();
        let (
            skip,
            [mut sum, mut sum_point, mut sum_pair, mut sum_sem],
            mut count,
            mut epoch_tokens,
            secs_before,
        ) = if epoch == start.0 {
            (start.1, start.2, start.3, start.4, start.5)
        } else {
            (0, [0.0; 4], 0, 0, 0.0)
        };
        let batches = sampler.epoch(fit, opts.batch_size, opts.seed, epoch as u64);
        let n_batches = batches.len();
        // One optimiser step on accumulated gradients, then a checkpoint when one is due. `$batch`
        // is how many batches of the epoch are done (the resume point).
        macro_rules! optimiser_step {
            ($grads:expr, $batch:expr) => {{
                let mut grads = $grads;
                clip_grad_norm(&mut grads, &params, opts.grad_clip)?;
                opt.step(
                    &grads,
                    lr_at(step, total, warmup, opts.lr, opts.min_lr_ratio),
                )?;
                step += 1;
                run_steps += 1;
                at_step_boundary(opts, run_steps, step, &params, &opt, best.as_ref(), || {
                    LoopState {
                        format: checkpoint::FORMAT.into(),
                        fingerprint: fingerprint.clone(),
                        step,
                        epoch,
                        batch: $batch,
                        sums: [sum, sum_point, sum_pair, sum_sem],
                        count,
                        epoch_tokens,
                        epoch_seconds: secs_before + t0.elapsed().as_secs_f64(),
                        train_tokens,
                        train_seconds: train_secs,
                        best_p_at_1: best.as_ref().map(|b| b.0),
                        since_best,
                        log: log.clone(),
                    }
                })?;
            }};
        }
        for (bi, members) in batches.into_iter().enumerate().skip(skip) {
            let weights: Vec<f32> = members.iter().map(|&k| sampler.weight(k)).collect();
            let b = make_batch(fit, &members, &weights, pad, &device)?;
            epoch_tokens += b.tokens;
            run_tokens += b.tokens;
            let hidden = model.forward(&b.input_ids, &b.attention_mask, true)?;
            let pooled = last_token_pool(&hidden, &b.attention_mask)?;
            let r = heads.rank_scores(&pooled)?;
            let z = heads.point_logits(&pooled)?;
            let loss_point = weighted_bce(&z, &b.labels, &b.weights)?;
            let loss_pair = match opts.objective {
                Objective::Binary => weighted_bce(&r, &b.labels, &b.weights)?,
                Objective::Hpro => {
                    let leads: Vec<usize> = members.iter().map(|&k| fit[k].lead).collect();
                    let ps = pairs.build(
                        ladder,
                        &leads,
                        step * opts.grad_accum.max(1) as u64 + acc.len() as u64,
                    );
                    if ps.is_empty() {
                        Tensor::zeros((), DType::F32, &device)?
                    } else {
                        let hi: Vec<u32> = ps.iter().map(|p| p.better as u32).collect();
                        let lo: Vec<u32> = ps.iter().map(|p| p.worse as u32).collect();
                        let m: Vec<f32> = ps.iter().map(|p| p.margin as f32).collect();
                        let n = ps.len();
                        pairwise_softplus(
                            &r.index_select(&Tensor::from_vec(hi, n, &device)?, 0)?,
                            &r.index_select(&Tensor::from_vec(lo, n, &device)?, 0)?,
                            Some(&Tensor::from_vec(m, n, &device)?),
                        )?
                    }
                }
            };
            let mut loss = ((&loss_point * opts.lambda_point)? + (&loss_pair * opts.lambda_pair)?)?;
            let mut sem_value = 0.0;
            if opts.lambda_sem > 0.0 {
                let sem = lm_loss(&model, &hidden, &b.input_ids, &b.text_mask)?;
                sem_value = f64::from(sem.to_scalar::<f32>()?);
                loss = (loss + (sem * opts.lambda_sem)?)?;
            }
            let loss_value = f64::from(loss.to_scalar::<f32>()?);
            if !loss_value.is_finite() {
                return Err(Error::Input(format!(
                    "loss became {loss_value} at step {step} (epoch {epoch})"
                )));
            }
            acc.add(loss.backward()?, &params)?;
            sum += loss_value;
            sum_point += f64::from(loss_point.to_scalar::<f32>()?);
            sum_pair += f64::from(loss_pair.to_scalar::<f32>()?);
            sum_sem += sem_value;
            count += 1;
            if acc.len() >= opts.grad_accum.max(1)
                && let Some(grads) = acc.finish(&params)?
            {
                optimiser_step!(grads, bi + 1);
                progress(Progress::Step {
                    step,
                    total,
                    loss: loss_value,
                    tokens: run_tokens,
                });
            }
        }
        if let Some(grads) = acc.finish(&params)? {
            optimiser_step!(grads, n_batches);
        }
        let secs = secs_before + t0.elapsed().as_secs_f64();
        train_tokens += epoch_tokens;
        train_secs += secs;
        let (val_r, val_z) = score(&model, &heads, val, pad, 64)?;
        let (test_r, test_z) = score(&model, &heads, test, pad, 64)?;
        let n = count.max(1) as f64;
        let entry = EpochLog {
            epoch,
            step,
            train_loss: sum / n,
            loss_point: sum_point / n,
            loss_pair: sum_pair / n,
            loss_sem: sum_sem / n,
            val_p_at_1: p_at(&val_r, &val_labels, 1.0),
            test_p_at_1: p_at(&test_r, &test_labels, 1.0),
            test_p_at_0_1: p_at(&test_r, &test_labels, 0.1),
            tokens_per_s: epoch_tokens as f64 / secs.max(1e-9),
            seconds: secs,
        };
        progress(Progress::Epoch(entry.clone()));
        let improved = best.as_ref().is_none_or(|(b, _)| entry.val_p_at_1 > *b);
        log.push(entry);
        if improved {
            let snapshot = params
                .iter()
                .map(|(n, v)| Ok((n.clone(), v.as_tensor().copy()?)))
                .collect::<Result<Vec<_>>>()?;
            best = Some((log[log.len() - 1].val_p_at_1, snapshot));
            best_scores = Some((val_z, test_r, test_z));
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= opts.patience.max(1) {
                progress(Progress::Stage(format!(
                    "early stop after epoch {epoch}: validation P@1% stopped improving"
                )));
                break;
            }
        }
    }
    if let Some((_, snapshot)) = &best {
        for ((_, var), (_, t)) in params.iter().zip(snapshot) {
            var.set(t)?;
        }
    }

    progress(Progress::Stage(
        "calibrating on the validation slice and auditing the test period".into(),
    ));
    // The best epoch's weights scored these sets when that epoch ended; scoring is deterministic,
    // so reuse those scores (a resumed run whose best epoch came before the checkpoint rescores).
    let (val_z, test_r, test_z) = match best_scores {
        Some(s) => s,
        None => {
            let (_, val_z) = score(&model, &heads, val, pad, 64)?;
            let (test_r, test_z) = score(&model, &heads, test, pad, 64)?;
            (val_z, test_r, test_z)
        }
    };
    let calibration = fit_platt(&val_z, &val_labels);
    let mut scores = vec![f64::NAN; data.len()];
    let mut probs = vec![0.0; data.len()];
    for (k, e) in test.iter().enumerate() {
        scores[e.lead] = f64::from(test_r[k]);
        probs[e.lead] = calibration.probability(f64::from(test_z[k]));
    }
    let name = format!("leadladder {} ({})", opts.preset, objective_label(opts));
    let report = audit(
        spec,
        data,
        &AuditOptions {
            eval: EvalConfig { bootstrap: opts.bootstrap, seed: opts.seed, ..EvalConfig::default() },
            temporal_split: Some(opts.train_fraction),
            external: vec![ExternalScore { name, scores, probs: Some(probs) }],
            title: format!("Test period of a {} model", opts.preset),
            ..AuditOptions::default()
        },
    )
    .map_err(|e| Error::Input(e.to_string()))?
    .with_note(format!(
        "trained on {} leads of the training period ({} validation leads, newest); {} epochs run, {} optimiser steps; {:.0} tokens/s",
        fit.len(),
        val.len(),
        log.len(),
        step,
        train_tokens as f64 / train_secs.max(1e-9)
    ));
    Ok(Trained {
        model,
        heads,
        tokenizer: tokenizer.clone(),
        config: config.clone(),
        calibration,
        max_tokens: opts.max_tokens,
        report,
        log,
        tokens_per_s: train_tokens as f64 / train_secs.max(1e-9),
        options: opts.clone(),
    })
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
        for (name, t) in self
            .model
            .hf_tensors()?
            .into_iter()
            .chain(self.heads.tensors()?)
        {
            let shape = t.dims().to_vec();
            let values: Vec<f32> = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
            tensors.push((name, shape, values));
        }
        let mut cfg = BundleConfig::new(
            self.config.model.clone(),
            self.max_tokens,
            self.tokenizer.pad_id(),
            self.tokenizer.eos_id(),
        );
        cfg.calibration = self.calibration;
        let provenance = Provenance {
            data_hash: data_hash.to_string(),
            seed: self.options.seed,
            code_version: env!("CARGO_PKG_VERSION").to_string(),
            preset: self.options.preset.clone(),
            created: leadladder_core::value::format_rfc3339(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
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
        let meta =
            BundleMeta::new(&cfg, &self.tokenizer, spec, metrics, &provenance).map_err(bad)?;
        write_bundle(&tensors, &meta, dtype).map_err(bad)
    }
}
