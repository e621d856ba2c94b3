//! The one error type of `leadladder-core`.

use serde::Serialize;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A problem with one cell or one row of an input file.
///
/// `row` is the 1-based data row (the header is not counted), `line` the 1-based physical line in
/// the file where the record starts (they differ when quoted cells hold newlines).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowIssue {
    pub row: u64,
    pub line: u64,
    /// Column name as written in the file's header; empty when the problem is the whole row.
    pub column: String,
    /// The offending value, shortened to at most 80 characters.
    pub value: String,
    pub reason: String,
}

impl std::fmt::Display for RowIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "row {} (line {})", self.row, self.line)?;
        if !self.column.is_empty() {
            write!(f, ", column `{}`", self.column)?;
        }
        if !self.value.is_empty() {
            write!(f, ", value {:?}", self.value)?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Everything that can go wrong in `leadladder-core`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ladder spec is malformed or inconsistent.
    #[error("ladder spec: {0}")]
    Spec(String),

    /// A field-token table ([`crate::fields::FieldCodec`]) is malformed or does not match the
    /// spec's input columns.
    #[error("field tokens: {0}")]
    Fields(String),

    /// A drift profile ([`crate::drift::DriftProfile`]) is malformed or does not fit the file.
    #[error("drift check: {0}")]
    Drift(String),

    /// A test-period report cannot be judged by the guard ([`crate::guard::Guard`]).
    #[error("guard: {0}")]
    Guard(String),

    /// A column that defines an outcome (label, rung or tier source) is also declared as an input.
    #[error(
        "ladder spec: column `{column}` is used by {used_by} and is also an input ({role}); \
         an outcome used as an input leaks the answer"
    )]
    Leakage {
        column: String,
        role: String,
        used_by: String,
    },

    /// The file has no bytes (or only whitespace).
    #[error("the file is empty: expected a header row with the columns {expected:?}")]
    Empty { expected: Vec<String> },

    /// The file has a header but no data rows.
    #[error("the file has a header but no data rows (header: {found:?})")]
    HeaderOnly { found: Vec<String> },

    /// Required columns are missing from the header.
    #[error("missing column(s) {missing:?}; expected {expected:?}; found {found:?}")]
    MissingColumns {
        missing: Vec<String>,
        expected: Vec<String>,
        found: Vec<String>,
    },

    /// The header itself is unusable (e.g. two columns with the same name).
    #[error("header: {0}")]
    Header(String),

    /// The bytes cannot be decoded as text.
    #[error("encoding: {0}")]
    Encoding(String),

    /// A problem with one row or cell (strict policy).
    #[error("{0}")]
    Row(RowIssue),

    /// Every row was skipped (skip policy): nothing usable is left.
    #[error("no usable rows: all {skipped} data rows were skipped; first problems: {first}")]
    NoUsableRows { skipped: u64, first: String },

    /// An argument given by the caller is out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A ranked row cannot be written (see [`crate::export::write_ranked_csv`]).
    #[error("export, output row {row}: {reason}")]
    Export { row: u64, reason: String },

    /// An I/O error while reading or writing.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),

    /// Writing a file failed (see [`crate::fs::write_atomic`]).
    #[error("writing {}: {source}", path.display())]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },

    /// A column mapping names a file column the header does not have.
    #[error(
        "the mapping sends column `{column}` to `{target}`, but the file has no column `{column}`"
    )]
    MappedColumnMissing { column: String, target: String },

    /// A column mapping sends one file column to two spec columns.
    #[error("column `{column}` is mapped to both `{first}` and `{second}`")]
    MappedTwice {
        column: String,
        first: String,
        second: String,
    },

    /// A queue operation needs every lead scored (see [`crate::queue::Queue`]).
    #[error("lead {index} (row {row}) is not scored yet")]
    NotScored { index: usize, row: u64 },

    /// The model gave a lead a NaN or infinite score.
    #[error("the model gave lead `{id}` (row {row}) a non-finite score ({rank}, p {p_convert})")]
    NonFiniteScore {
        id: String,
        row: u64,
        rank: f32,
        p_convert: f32,
    },

    /// A lead index or range outside the loaded leads.
    #[error("no lead {index} (the file has {len})")]
    NoLead { index: usize, len: usize },

    /// A lead range outside the loaded leads.
    #[error("lead range {start}..{end} is outside 0..{len}")]
    LeadRange {
        start: usize,
        end: usize,
        len: usize,
    },

    /// The file lacks the spec's outcome columns, so it cannot be audited.
    #[error("this file has no outcome columns, so there is nothing to audit against")]
    NoOutcomes,

    /// A JSON (de)serialisation error.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}
