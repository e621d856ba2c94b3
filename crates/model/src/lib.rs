//! The Burn Qwen2 ranker: bundle loading from bytes (no filesystem, so it runs on wasm32),
//! batched scoring on Flex CPU or wgpu (Vulkan natively, WebGPU in the browser), and
//! occlusion explanations.
//!
//! ```no_run
//! # fn main() -> leadladder_model::Result<()> {
//! use leadladder_model::{DeviceKind, Scorer};
//! let bytes = std::fs::read("web/models/demo.int8.safetensors").map_err(|e| leadladder_model::Error::Input(e.to_string()))?;
//! let scorer = Scorer::from_bytes(&bytes, DeviceKind::Cpu)?;
//! let ids = vec![vec![5u32, 9, 0]];
//! let scores = scorer.score_ids(&ids)?;
//! println!("rank {} p {}", scores[0].rank, scores[0].p_convert);
//! # Ok(()) }
//! ```

mod error;
pub mod explain;
pub mod qwen2;
mod scorer;

pub use error::{Error, Result};
pub use explain::{Factor, FactorKind};
pub use qwen2::Ranker;
pub use scorer::{BundleInfo, DeviceInfo, DeviceKind, Score, Scorer};
