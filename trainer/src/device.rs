//! Where training runs (`cpu`, `cuda:N`) and in which precision a frozen base is held.

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Device};

use crate::error::{Error, Result};

/// A training device, written `cpu` or `cuda:N` (`cuda` means `cuda:0`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum DeviceSpec {
    /// The CPU (candle's rayon-parallel kernels; `RAYON_NUM_THREADS` sets the threads).
    #[default]
    Cpu,
    /// A CUDA GPU by ordinal. Needs a build with the trainer's `cuda` feature.
    Cuda(usize),
}

/// Whether this build of the trainer can use CUDA (its `cuda` feature).
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

impl DeviceSpec {
    /// Opens the device. On a build without the `cuda` feature, a CUDA device fails with a
    /// message that says how to rebuild.
    pub fn open(self) -> Result<Device> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda(n) if !CUDA_BUILT => Err(Error::Config(format!(
                "`cuda:{n}` needs a build with CUDA support, and this one has none: rebuild \
                 with `--features cuda` (e.g. `cargo build --release -p leadladder-cli \
                 --features leadladder-trainer/cuda`; needs the CUDA toolkit's nvcc), or train \
                 with `--device cpu`"
            ))),
            Self::Cuda(n) => Device::new_cuda(n)
                .map_err(|e| Error::Config(format!("cannot open CUDA device {n}: {e}"))),
        }
    }

    /// True for a CUDA device.
    pub fn is_cuda(self) -> bool {
        matches!(self, Self::Cuda(_))
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("cpu") {
            return Ok(Self::Cpu);
        }
        if s.eq_ignore_ascii_case("cuda") {
            return Ok(Self::Cuda(0));
        }
        if let Some(n) = s.strip_prefix("cuda:")
            && let Ok(n) = n.parse::<usize>()
        {
            return Ok(Self::Cuda(n));
        }
        Err(Error::Config(format!(
            "device `{s}` is not `cpu` or `cuda:N` (e.g. cuda:0)"
        )))
    }
}

impl From<DeviceSpec> for String {
    fn from(d: DeviceSpec) -> Self {
        d.to_string()
    }
}

impl TryFrom<String> for DeviceSpec {
    type Error = Error;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

/// The dtype a frozen LoRA base is held and computed in. Adapters, heads and optimiser state
/// are always f32; norms, softmax and the losses compute in f32.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Full precision (the default on the CPU, and the only choice for from-scratch presets).
    #[default]
    F32,
    /// bfloat16 base weights and activations (the default on CUDA).
    Bf16,
}

impl Precision {
    /// The candle dtype.
    pub fn dtype(self) -> DType {
        match self {
            Self::F32 => DType::F32,
            Self::Bf16 => DType::BF16,
        }
    }

    /// bf16 on CUDA, f32 on the CPU (candle's CPU matmul widens bf16 to f32 anyway).
    pub fn default_for(device: DeviceSpec) -> Self {
        if device.is_cuda() {
            Self::Bf16
        } else {
            Self::F32
        }
    }
}
