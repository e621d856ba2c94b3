//! CPU vs CUDA agreement, built only with the `cuda` feature and run on a GPU machine
//! (`trainer/bench/gpu_check.sh` runs it; it needs GPU 0). Tolerances:
//! * the same weights on both devices: the tiny preset's rank scores within 1e-4, the
//!   0.5B-shaped fixture's last hidden states within 1e-3 relative to their scale in f32 and 5e-2
//!   in bf16 (cuBLAS sums in another order than the CPU's gemm; bf16 keeps 8 bits of mantissa);
//! * one epoch of the tiny preset trained on each device: every epoch's training loss within
//!   1e-3 relative and the test AUC within 0.01 (the differences above compound over steps).
#![cfg(feature = "cuda")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use common::funnel;
use leadladder_trainer::train::{TrainOptions, train};
use leadladder_trainer::{DeviceSpec, Model, ScoreHeads};

fn options(device: DeviceSpec) -> TrainOptions {
    TrainOptions {
        device,
        ..common::tiny(1, 400, 64, 300)
    }
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn tiny_preset_agrees_on_cpu_and_cuda() {
    let (spec, data) = funnel(2000, 5);
    let cpu = train(&spec, &data, &options(DeviceSpec::Cpu), &mut |_| {}).unwrap();
    let gpu = train(&spec, &data, &options(DeviceSpec::Cuda(0)), &mut |_| {}).unwrap();
    for (a, b) in cpu.log.iter().zip(&gpu.log) {
        let rel = (a.train_loss - b.train_loss).abs() / a.train_loss.abs().max(1e-9);
        assert!(
            rel <= 1e-3,
            "epoch {}: loss {} vs {}",
            a.epoch,
            a.train_loss,
            b.train_loss
        );
    }
    let auc = |t: &leadladder_trainer::train::Trained| t.report.methods.last().unwrap().auc.value;
    assert!(
        (auc(&cpu) - auc(&gpu)).abs() <= 0.01,
        "test AUC {} (cpu) vs {} (cuda)",
        auc(&cpu),
        auc(&gpu)
    );

    // The CPU-trained weights scored on CUDA: the same scores.
    let cuda = Device::new_cuda(0).unwrap();
    let to = |ts: Vec<(String, Tensor)>| -> HashMap<String, Tensor> {
        ts.into_iter()
            .map(|(n, t)| (n, t.to_device(&cuda).unwrap()))
            .collect()
    };
    let model = Model::from_tensors(
        cpu.model.config(),
        to(cpu.model.hf_tensors().unwrap()),
        &cuda,
        None,
    )
    .unwrap();
    let heads = ScoreHeads::from_tensors(
        cpu.config.model.hidden_size,
        to(cpu.heads.tensors().unwrap()),
        &cuda,
        None,
    )
    .unwrap();
    let (examples, rank_cpu, _) = common::score_test_period(&cpu, &spec, &data, 0.7, 64);
    let (rank_gpu, _) = leadladder_trainer::train::score(
        &model,
        &heads,
        &examples,
        cpu.encoder.pad_id(),
        32,
        cpu.pool_position,
    )
    .unwrap();
    let d = max_abs(&rank_cpu, &rank_gpu);
    assert!(d <= 1e-4, "same weights: max |Δscore| = {d}");
}

/// The 0.5B-shaped fixture (`LEADLADDER_REAL_SIZE`, made by scripts/real-size-fixture.sh): one
/// forward pass of the same token ids on both devices, in f32 and with the base in bf16.
#[test]
fn real_size_forward_agrees_on_cpu_and_cuda() {
    let dir = PathBuf::from(
        std::env::var("LEADLADDER_REAL_SIZE")
            .expect("set LEADLADDER_REAL_SIZE to the folder scripts/real-size-fixture.sh prints"),
    )
    .join("base");
    let cuda = Device::new_cuda(0).unwrap();
    let (b, t) = (4usize, 48usize);
    let ids: Vec<u32> = (0..b * t)
        .map(|i| ((i * 7919 + 13) % 150_000) as u32)
        .collect();
    let mask = vec![1f32; b * t];
    let run = |device: &Device, dtype: DType| -> Vec<f32> {
        let model = Model::from_hf_dir_as(&dir, device, dtype).unwrap();
        let ids = Tensor::from_vec(ids.clone(), (b, t), device).unwrap();
        let mask = Tensor::from_vec(mask.clone(), (b, t), device).unwrap();
        common::values(&model.forward(&ids, &mask, None).unwrap())
    };
    let cpu = run(&Device::Cpu, DType::F32);
    let scale = cpu.iter().map(|x| x.abs()).fold(0.0, f32::max).max(1e-6);
    let f32_gpu = run(&cuda, DType::F32);
    let d = max_abs(&cpu, &f32_gpu) / scale;
    assert!(d <= 1e-3, "f32: max |Δhidden| / scale = {d}");
    let bf16_gpu = run(&cuda, DType::BF16);
    let d = max_abs(&cpu, &bf16_gpu) / scale;
    assert!(d <= 5e-2, "bf16 base: max |Δhidden| / scale = {d}");
}
