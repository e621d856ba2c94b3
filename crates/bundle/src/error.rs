//! The one error type of `leadladder-bundle`. Every variant about a bundle names the tensor or the
//! metadata key at fault.

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong reading, writing or using a bundle.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes end before the container says they should (header or tensor data cut off).
    #[error("bundle is truncated: {0}")]
    Truncated(String),

    /// The safetensors container itself is malformed (bad header length, JSON, offsets).
    #[error("bundle container is malformed: {0}")]
    Container(String),

    /// The `format` metadata key holds something other than [`crate::FORMAT`].
    #[error("metadata key `format`: unknown bundle format {found:?} (expected {expected:?})")]
    UnknownFormat {
        /// The stored tag.
        found: String,
        /// [`crate::FORMAT`].
        expected: String,
    },

    /// A required metadata key is absent.
    #[error("metadata key `{key}` is missing")]
    MissingMetadata {
        /// The absent key.
        key: String,
    },

    /// A metadata value does not parse or is inconsistent.
    #[error("metadata key `{key}`: {reason}")]
    BadMetadata {
        /// The metadata key at fault.
        key: String,
        /// What is wrong with its value.
        reason: String,
    },

    /// A tensor the config requires is absent.
    #[error("tensor `{name}` is missing{hint}")]
    MissingTensor {
        /// The absent tensor.
        name: String,
        /// Extra context appended to the message (may be empty).
        hint: String,
    },

    /// A tensor the config does not use is present.
    #[error("tensor `{name}` is not used by this config (unexpected tensor)")]
    UnusedTensor {
        /// The unexpected tensor.
        name: String,
    },

    /// A tensor has the wrong shape.
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    Shape {
        /// The tensor.
        name: String,
        /// Shape the config implies.
        expected: Vec<usize>,
        /// Shape stored (or given).
        found: Vec<usize>,
    },

    /// A tensor is stored with the wrong element type.
    #[error("tensor `{name}` is stored as {found}, expected {expected}")]
    Dtype {
        /// The tensor.
        name: String,
        /// Safetensors dtype(s) expected (`F32`, `F16`, `I8`).
        expected: String,
        /// Safetensors dtype stored.
        found: String,
    },

    /// A tensor holds a NaN or an infinity (or a value that does not fit the storage type).
    #[error("tensor `{name}` holds a non-finite value {value} at element {index}")]
    NonFinite {
        /// The tensor.
        name: String,
        /// Flat (row-major) index of the first bad element.
        index: usize,
        /// The bad value, as text.
        value: String,
    },

    /// A tensor value is finite but invalid (e.g. a negative int8 scale).
    #[error("tensor `{name}`: {reason}")]
    BadTensor {
        /// The tensor.
        name: String,
        /// What is wrong.
        reason: String,
    },

    /// The tokenizer has more token ids than the model's embedding has rows.
    #[error(
        "metadata key `tokenizer`: tokenizer has {tokenizer} token ids but config `vocab_size` is \
         {config}"
    )]
    TokenizerVocab {
        /// Token ids in the tokenizer (largest id + 1).
        tokenizer: usize,
        /// The config's `vocab_size`.
        config: usize,
    },

    /// The tokenizer cannot be loaded or used.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// An argument given by the caller is out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// An error from `leadladder-core` (e.g. an invalid ladder spec).
    #[error(transparent)]
    Core(#[from] leadladder_core::Error),

    /// An I/O error (native file helpers only).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub(crate) fn bad_meta(key: &str, reason: impl std::fmt::Display) -> Self {
        Error::BadMetadata {
            key: key.to_string(),
            reason: reason.to_string(),
        }
    }
}
