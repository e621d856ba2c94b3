//! leadladder's trainer: a small Qwen2 language model, fine-tuned with HPRO to rank leads.
//!
//! * [`qwen2`] — the trainer's own differentiable Qwen2 (HF names; loads HF checkpoints,
//!   builds fresh seeded models, exports back).
//! * [`lora`] — the single linear layer type, with an optional LoRA adapter.
//! * [`heads`] — ranking / pointwise score heads and the losses (BCE, pairwise, LM).
//! * [`params`] — reading and writing safetensors weights, trainable variable listing.
//! * [`checkpoint`] — atomic training checkpoints for `--resume`.
//! * [`device`] — `cpu` / `cuda:N` and the precision of a frozen base.
//! * [`peft`] — the LoRA adapters as a Hugging Face PEFT adapter folder.
//! * [`parallel`] — data-parallel training: ranks, their all-reduce (TCP or NCCL), launchers.
//!
//! Must not: define a second model configuration (the shape is `leadladder_bundle::ModelConfig`;
//! [`Config`] adds only what training reads), render or tokenize leads itself (core and the
//! bundle's tokenizer do, identically for scoring), or write a file other than through
//! `leadladder_core::fs::write_atomic`.

pub mod checkpoint;
pub mod data;
pub mod device;
pub mod error;
pub mod heads;
pub mod lora;
pub mod optim;
pub mod parallel;
pub mod params;
pub mod peft;
pub mod preset;
pub mod qwen2;
pub mod train;

pub use device::{DeviceSpec, Precision};
pub use error::{Error, Result};
pub use heads::ScoreHeads;
pub use lora::{DropoutKey, LoraConfig, LoraLinear};
pub use params::named_vars;
pub use qwen2::{Config, Model, last_token_pool};
