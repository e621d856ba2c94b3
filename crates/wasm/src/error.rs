//! The binding's own errors; everything else arrives typed from core, bundle and model. All
//! cross to JavaScript as a thrown `Error` with the `Display` message.

/// A call that does not fit the page's state or arguments.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call that needs a loaded file came first.
    #[error("no CSV is loaded yet")]
    NoFile,
    /// A JavaScript argument of the wrong shape or value.
    #[error("{0}")]
    Argument(String),
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
