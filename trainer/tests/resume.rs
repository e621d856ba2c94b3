//! Checkpoints and resume: an interrupted-and-resumed run ends bit-identical to an uninterrupted
//! one (from scratch, and LoRA fine-tuning with adapter dropout), and a checkpoint of other
//! options is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::{assert_same_weights, funnel, losses, weights};
use leadladder_trainer::preset::qwen2_lora;
use leadladder_trainer::train::{TrainOptions, train};
use leadladder_trainer::{Error, LoraConfig};

/// 2 epochs of 13 micro-batches, 2 per step: 7 steps an epoch, the 7th a flush of one.
fn options() -> TrainOptions {
    TrainOptions {
        grad_accum: 2,
        ..common::tiny(2, 200, 64, 300)
    }
}

/// The `qwen2-lora` preset on the tiny Hugging Face checkpoint with adapter dropout 0.1: 2 epochs
/// of 5 micro-batches, 2 per step: 3 steps an epoch, the 3rd a flush of one.
fn lora_options() -> TrainOptions {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_qwen2/untied");
    let lora = LoraConfig {
        r: 4,
        alpha: 8.0,
        dropout: 0.1,
        ..LoraConfig::default()
    };
    let mut o = qwen2_lora(&base, lora).unwrap();
    o.epochs = 2;
    o.train_sample = Some(80);
    o.batch_size = 16;
    o.grad_accum = 2;
    o.max_tokens = 64;
    o.bootstrap = 0;
    o.lr = 1e-2;
    o
}

/// `name` in a scratch folder of this process's `test`.
fn tmp(test: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("leadladder-resume-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn interrupted_and_resumed_training_is_bit_identical() {
    let (spec, data) = funnel(1500, 5);
    let plain = train(&spec, &data, &options(), &mut |_| {}).unwrap();
    assert_eq!(plain.log.len(), 2);
    assert_eq!(plain.log[1].step, 14);

    // Checkpointing every 5 steps changes nothing.
    let ckpt = tmp("tiny", "every5.ckpt");
    let with_ckpt = TrainOptions {
        checkpoint_every: 5,
        checkpoint_path: Some(ckpt.clone()),
        ..options()
    };
    let a = train(&spec, &data, &with_ckpt, &mut |_| {}).unwrap();
    assert_same_weights(&a, &plain);
    assert_eq!(losses(&a), losses(&plain));
    assert!(ckpt.exists(), "checkpoint written");
    assert!(
        leadladder_core::fs::temporaries(&ckpt).is_empty(),
        "no temporary left"
    );

    // Stop at step 7 (the end-of-epoch flush), then at step 11 (mid epoch 1, with a best
    // snapshot), then run to the end.
    let path = tmp("tiny", "stopped.ckpt");
    let _ = std::fs::remove_file(&path);
    let piece = |max: Option<u64>| TrainOptions {
        checkpoint_every: 5,
        checkpoint_path: Some(path.clone()),
        resume: true,
        max_steps_this_run: max,
        ..options()
    };
    let mut resumed_at = Vec::new();
    for (max, stop) in [(7, 7), (4, 11)] {
        match train(&spec, &data, &piece(Some(max)), &mut |_| {}) {
            Err(Error::Stopped { step }) => assert_eq!(step, stop),
            other => panic!("expected a stop at step {stop}, got {other:?}"),
        }
    }
    let b = train(&spec, &data, &piece(None), &mut |p| {
        if let leadladder_trainer::train::Progress::Stage(s) = p
            && s.starts_with("resuming")
        {
            resumed_at.push(s);
        }
    })
    .unwrap();
    assert_eq!(resumed_at.len(), 1, "{resumed_at:?}");
    assert!(resumed_at[0].contains("step 11"), "{resumed_at:?}");
    assert_same_weights(&b, &plain);
    assert_eq!(losses(&b), losses(&plain));
    assert_eq!(b.calibration, plain.calibration);

    // A checkpoint of other options is refused with a clear error.
    let other = TrainOptions {
        seed: 99,
        ..piece(None)
    };
    let err = train(&spec, &data, &other, &mut |_| {}).unwrap_err();
    assert!(
        err.to_string().contains("other options or data"),
        "unexpected error: {err}"
    );
    let _ = std::fs::remove_dir_all(ckpt.parent().unwrap());
}

/// An ensemble of two members with field dropout, out-of-range tokens and recency weights:
/// stopped inside the first member, then inside the second, then run to the end, it ends
/// bit-identical to an uninterrupted run; field dropout is seeded (the same run twice agrees)
/// and does something (without it the weights differ).
#[test]
fn an_ensemble_with_field_dropout_resumes_bit_identical() {
    let (spec, data) = funnel(1500, 5);
    let opts = || TrainOptions {
        ensemble: 2,
        field_dropout: 0.2,
        recency_half_life: Some(0.5),
        field_fit: leadladder_core::fields::FitOptions {
            out_of_range: true,
            ..options().field_fit
        },
        ..options()
    };
    let plain = train(&spec, &data, &opts(), &mut |_| {}).unwrap();
    assert_eq!(plain.more_members.len(), 1);
    assert_eq!(plain.log.len(), 4, "two epochs per member");
    assert_eq!(
        plain.log.iter().map(|e| e.member).collect::<Vec<_>>(),
        [0, 0, 1, 1]
    );
    let again = train(&spec, &data, &opts(), &mut |_| {}).unwrap();
    assert_same_weights(&again, &plain);
    let undropped = train(
        &spec,
        &data,
        &TrainOptions {
            field_dropout: 0.0,
            ..opts()
        },
        &mut |_| {},
    )
    .unwrap();
    assert_ne!(weights(&undropped), weights(&plain));

    let path = tmp("ensemble", "stopped.ckpt");
    let _ = std::fs::remove_file(&path);
    let piece = |max: Option<u64>| TrainOptions {
        checkpoint_every: 3,
        checkpoint_path: Some(path.clone()),
        resume: true,
        max_steps_this_run: max,
        ..opts()
    };
    // 14 steps a member: stop at member 0's step 10, then (4 + 6 steps) at member 1's step 6.
    for stop in [10, 6] {
        match train(&spec, &data, &piece(Some(10)), &mut |_| {}) {
            Err(Error::Stopped { step }) => assert_eq!(step, stop),
            other => panic!("expected a stop at step {stop}, got {other:?}"),
        }
    }
    let b = train(&spec, &data, &piece(None), &mut |_| {}).unwrap();
    assert_same_weights(&b, &plain);
    assert_eq!(losses(&b), losses(&plain));
    assert_eq!(b.calibration, plain.calibration);
    assert_eq!(b.test_scores, plain.test_scores);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

/// LoRA dropout draws its masks from the run's seed and the micro-batch, so a `qwen2-lora` run is
/// reproducible and resumes exactly, like a from-scratch one.
#[test]
fn lora_training_with_dropout_is_reproducible_and_resumes_bit_identical() {
    let (spec, data) = funnel(1200, 5);
    let plain = train(&spec, &data, &lora_options(), &mut |_| {}).unwrap();
    assert_eq!(plain.log.len(), 2);
    assert_eq!(plain.log[1].step, 6);

    // The same seed twice: the same weights and losses.
    let again = train(&spec, &data, &lora_options(), &mut |_| {}).unwrap();
    assert_same_weights(&again, &plain);
    assert_eq!(losses(&again), losses(&plain));

    // The dropout is applied: without it the run ends elsewhere.
    let mut no_dropout = lora_options();
    no_dropout.lora.as_mut().unwrap().dropout = 0.0;
    let undropped = train(&spec, &data, &no_dropout, &mut |_| {}).unwrap();
    assert_ne!(weights(&undropped), weights(&plain));

    // Stop at step 2 (mid epoch 0), then at step 4 (mid epoch 1, after the flush and with a best
    // snapshot), then run to the end.
    let path = tmp("lora", "stopped.ckpt");
    let _ = std::fs::remove_file(&path);
    let piece = |max: Option<u64>| TrainOptions {
        checkpoint_every: 1,
        checkpoint_path: Some(path.clone()),
        resume: true,
        max_steps_this_run: max,
        ..lora_options()
    };
    for stop in [2, 4] {
        match train(&spec, &data, &piece(Some(2)), &mut |_| {}) {
            Err(Error::Stopped { step }) => assert_eq!(step, stop),
            other => panic!("expected a stop at step {stop}, got {other:?}"),
        }
    }
    let mut resumed_at = Vec::new();
    let b = train(&spec, &data, &piece(None), &mut |p| {
        if let leadladder_trainer::train::Progress::Stage(s) = p
            && s.starts_with("resuming")
        {
            resumed_at.push(s);
        }
    })
    .unwrap();
    assert_eq!(resumed_at.len(), 1, "{resumed_at:?}");
    assert!(resumed_at[0].contains("step 4"), "{resumed_at:?}");
    assert_same_weights(&b, &plain);
    assert_eq!(losses(&b), losses(&plain));
    assert_eq!(b.calibration, plain.calibration);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
