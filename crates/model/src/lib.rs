//! The Burn Qwen2 ranker: a checked bundle uploaded once to Flex CPU or wgpu (Vulkan natively,
//! WebGPU in the browser), batched scoring, occlusion explanations, and the model's side of the
//! ranking pipeline (the scorer is `leadladder_core::pipeline`'s `LeadScorer`; it scores and
//! explains the leads of a [`leadladder_core::Queue`] by the pipeline's policy), which
//! `leadladder rank` and the page both use.
//!
//! Must not: read files (bundles arrive as bytes or as a parsed [`leadladder_bundle::Bundle`],
//! so it runs on wasm32), parse a bundle more than once per load, or hold pipeline logic the
//! pipeline owns (blocks, batches, order, export, audit); its config and cost formulas are the
//! bundle crate's.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use leadladder_model::{DeviceKind, Scorer};
//! let bytes = std::fs::read("web/models/demo.int8.safetensors")?;
//! let scorer = Scorer::from_bytes(&bytes, DeviceKind::Cpu)?;
//! let ids = vec![vec![5u32, 9, 0]];
//! let scores = scorer.score_ids(&ids)?;
//! println!("rank {} p {}", scores[0].rank, scores[0].p_convert);
//! # Ok(()) }
//! ```

mod error;
pub mod explain;
mod queue;
pub mod qwen2;
mod scorer;

pub use error::{Error, Result};
pub use explain::{Explanation, Factor, FactorKind};
pub use qwen2::{Ranker, Residency};
pub use scorer::{
    CPU_HOST_EMBEDDING_BYTES, CPU_HOST_LAYERS_BYTES, DeviceInfo, DeviceKind, Score, Scorer,
    WEBGPU_DEFAULT_BINDING_BYTES, gpu_limits_fit,
};
