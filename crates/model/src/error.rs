//! The one error type of leadladder-model.

/// What can go wrong loading a bundle or scoring with it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bundle failed its checks (format, metadata, tensors); the message names the key or tensor.
    #[error("bundle: {0}")]
    Bundle(#[from] leadladder_bundle::Error),
    /// A tensor the model needs is missing or has the wrong shape (names the tensor).
    #[error("tensor `{name}`: {reason}")]
    Tensor { name: String, reason: String },
    /// A queue or lead error from `leadladder-core` (bad lead index, non-finite score…).
    #[error(transparent)]
    Core(#[from] leadladder_core::Error),
    /// A lead could not be turned into token ids.
    #[error("lead `{id}` (row {row}): {source}")]
    Encode {
        id: String,
        row: u64,
        source: leadladder_bundle::Error,
    },
    /// Bad input to the scorer (empty sequence, too long, token id out of range…).
    #[error("{0}")]
    Input(String),
    /// The requested device is not available (not compiled in, or no adapter).
    #[error("device: {0}")]
    Device(String),
    /// Reading results back from the device failed.
    #[error("device read: {0}")]
    Read(String),
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
