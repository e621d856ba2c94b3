//! The crate's one error type; it crosses to JavaScript as a `JsError` with this message.

/// What can go wrong in the page's calls.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Core(#[from] leadladder_core::Error),
    #[error("{0}")]
    Bundle(#[from] leadladder_bundle::Error),
    #[error("{0}")]
    Model(#[from] leadladder_model::Error),
    /// A call that does not fit the page's state (no file loaded, leads not scored yet…).
    #[error("{0}")]
    State(String),
    /// Bad arguments from the page (unknown column in a mapping, a bad index…).
    #[error("{0}")]
    Input(String),
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
