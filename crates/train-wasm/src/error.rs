//! The crate's errors: the core's, the trainer's and the bundle's pass through with their own
//! text (the text `leadladder train` prints as the cause), plus the binding's own.

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the spec or the file (the CLI's messages: row, column, leakage …).
    #[error(transparent)]
    Core(#[from] leadladder_core::Error),
    /// Training or exporting.
    #[error(transparent)]
    Trainer(#[from] leadladder_trainer::Error),
    /// A JavaScript argument of the wrong shape or value.
    #[error("{0}")]
    Argument(String),
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
