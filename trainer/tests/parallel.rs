//! Data-parallel training on the CPU: two ranks (threads joined over loopback TCP, the same
//! communicator a multi-process CPU run uses) train exactly like one process that accumulates
//! their two micro-batches per step, and a stopped-and-resumed two-rank run is exact — also when
//! the checkpoint is resumed by a single process with the same window.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::{assert_same_weights, funnel, weights};
use leadladder_core::{Dataset, Spec};
use leadladder_trainer::Error;
use leadladder_trainer::parallel::{Parallel, TcpCommunicator};
use leadladder_trainer::train::{TrainOptions, Trained, train};

/// Tiny preset, 2 epochs of 13 micro-batches (a window of 2: 7 steps an epoch, the 7th a single
/// micro-batch that only rank 0 computes), with field dropout, whose masks are keyed by the
/// micro-batch's number in the run.
fn options(grad_accum: usize) -> TrainOptions {
    TrainOptions {
        grad_accum,
        field_dropout: 0.2,
        ..common::tiny(2, 200, 64, 300)
    }
}

/// Runs `opts` on `world` ranks (threads over loopback), each with its own communicator;
/// returns every rank's result, rank 0 first.
fn on_ranks(
    world: usize,
    spec: &Spec,
    data: &Dataset,
    opts: &TrainOptions,
) -> Vec<leadladder_trainer::Result<Trained>> {
    let comms = TcpCommunicator::local(world).unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = comms
            .into_iter()
            .map(|c| {
                let opts = TrainOptions {
                    parallel: Parallel::new(Arc::new(c)),
                    ..opts.clone()
                };
                s.spawn(move || train(spec, data, &opts, &mut |_| {}))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// The largest absolute difference between two runs' weights, by tensor.
fn max_abs_diff(a: &Trained, b: &Trained) -> f32 {
    let (a, b) = (weights(a), weights(b));
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(&b)
        .flat_map(|((n, x), (m, y))| {
            assert_eq!(n, m);
            x.iter()
                .zip(y)
                .map(|(p, q)| (f32::from_bits(*p) - f32::from_bits(*q)).abs())
        })
        .fold(0.0, f32::max)
}

fn tmp(test: &str, name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("leadladder-parallel-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn two_ranks_train_like_one_process_with_twice_the_accumulation() {
    let (spec, data) = funnel(1500, 5);
    let single = train(&spec, &data, &options(2), &mut |_| {}).unwrap();
    assert_eq!(single.log.len(), 2);
    assert_eq!(single.log[1].step, 14);

    let ranks = on_ranks(2, &spec, &data, &options(1));
    let ranks: Vec<Trained> = ranks.into_iter().map(Result::unwrap).collect();
    // The ranks hold the same model: every rank applied the same summed gradients.
    assert_same_weights(&ranks[0], &ranks[1]);
    // And it is the single process's, within 1e-6 (in fact bit for bit: the hub adds rank 0's
    // sum and rank 1's in the order the accumulator adds the two micro-batches).
    let diff = max_abs_diff(&ranks[0], &single);
    assert!(diff <= 1e-6, "two ranks vs one process: max |Δw| = {diff}");
    assert_same_weights(&ranks[0], &single);
    // The same steps, validation metrics and calibration; the epoch's training loss is summed
    // per rank first, so it agrees to rounding.
    for (a, b) in ranks[0].log.iter().zip(&single.log) {
        assert_eq!(
            (a.step, a.val_auc, a.val_p_at_1),
            (b.step, b.val_auc, b.val_p_at_1)
        );
        assert!((a.train_loss - b.train_loss).abs() <= 1e-9 * b.train_loss.abs().max(1.0));
    }
    assert_eq!(ranks[0].calibration, single.calibration);
    assert_eq!(ranks[0].test_scores, single.test_scores);

    // Without the all-reduce each rank would train on half the data: the weights would differ.
    let alone = train(&spec, &data, &options(1), &mut |_| {}).unwrap();
    assert_ne!(weights(&alone), weights(&single));
}

#[test]
fn a_stopped_two_rank_run_resumes_exactly_on_two_ranks_or_one() {
    let (spec, data) = funnel(1500, 5);
    let plain = on_ranks(2, &spec, &data, &options(1))
        .into_iter()
        .next()
        .unwrap()
        .unwrap();

    let path = tmp("resume", "stopped.ckpt");
    let _ = std::fs::remove_file(&path);
    let piece = |grad_accum: usize, max: Option<u64>| TrainOptions {
        checkpoint_every: 3,
        checkpoint_path: Some(path.clone()),
        resume: true,
        max_steps_this_run: max,
        ..options(grad_accum)
    };
    // Stop at step 5 (mid epoch 0), then at step 10 (mid epoch 1, after the flush), on 2 ranks.
    for stop in [5, 10] {
        for (rank, r) in on_ranks(2, &spec, &data, &piece(1, Some(5)))
            .into_iter()
            .enumerate()
        {
            match r {
                Err(Error::Stopped { step }) => assert_eq!(step, stop, "rank {rank}"),
                other => panic!("rank {rank}: expected a stop at step {stop}, got {other:?}"),
            }
        }
    }
    let copy = tmp("resume", "copy.ckpt");
    std::fs::copy(&path, &copy).unwrap();

    // The rest on 2 ranks: the uninterrupted run's weights, bit for bit.
    let resumed = on_ranks(2, &spec, &data, &piece(1, None));
    for r in resumed {
        let r = r.unwrap();
        assert_same_weights(&r, &plain);
        assert_eq!(r.calibration, plain.calibration);
    }

    // The same checkpoint resumed by one process with a window of 2 micro-batches: the same.
    std::fs::copy(&copy, &path).unwrap();
    let one = train(&spec, &data, &piece(2, None), &mut |_| {}).unwrap();
    assert_same_weights(&one, &plain);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
