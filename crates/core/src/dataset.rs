//! Leads in memory: the schema that the spec and the file's header agree on, and one compact
//! record per lead.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::RowIssue;
use crate::spec::{CellKind, Role, normalize_name};
use crate::value::Value;

/// One loaded column (id and created_at are kept on [`Lead`] directly and are not listed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    /// Name as the spec writes it (used by conditions, prompts and reports).
    pub name: String,
    /// Name as the file's header writes it.
    pub header: String,
    pub role: Role,
    /// Value kind stored for this column.
    pub kind: CellKind,
}

/// The loaded columns, parallel to [`Lead::values`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Schema {
    pub columns: Vec<Column>,
}

impl Schema {
    /// Index of a column by name (spec or header spelling; matched via [`normalize_name`]).
    pub fn index(&self, name: &str) -> Option<usize> {
        let key = normalize_name(name);
        self.columns
            .iter()
            .position(|c| normalize_name(&c.name) == key || normalize_name(&c.header) == key)
    }

    /// Indices of the columns with a role, in schema order.
    pub fn with_role(&self, role: Role) -> Vec<usize> {
        self.columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.role == role)
            .map(|(i, _)| i)
            .collect()
    }
}

/// One lead. Values are parallel to [`Schema::columns`].
#[derive(Debug, Clone, PartialEq)]
pub struct Lead {
    pub id: Box<str>,
    /// Creation time, seconds since the Unix epoch (UTC).
    pub created_at: i64,
    pub values: Box<[Value]>,
    /// 1-based data row in the source file (for messages).
    pub row: u64,
}

/// What happens to a bad row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Stop at the first problem with an error naming row, column, value and reason.
    #[default]
    Strict,
    /// Skip bad rows; the report counts them and keeps the first [`MAX_REPORTED_ISSUES`] reasons.
    Skip,
}

impl std::str::FromStr for Policy {
    type Err = crate::Error;

    /// `strict` or `skip`.
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "strict" => Ok(Policy::Strict),
            "skip" => Ok(Policy::Skip),
            other => Err(crate::Error::InvalidArgument(format!(
                "the bad-row policy must be \"strict\" or \"skip\", not {other:?}"
            ))),
        }
    }
}

/// How many skipped-row reasons a report keeps.
pub const MAX_REPORTED_ISSUES: usize = 20;

/// Options for reading a CSV.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub policy: Policy,
    /// Force an encoding by WHATWG label (`utf-8`, `utf-16le`, `gbk`, `gb18030`, …); `None` sniffs.
    pub encoding: Option<String>,
    /// Force a delimiter; `None` sniffs among `,` `;` tab `|`.
    pub delimiter: Option<u8>,
    /// Largest accepted cell, in bytes (default 1 MiB).
    pub max_field_bytes: usize,
    /// Extra numeric columns to load as scores (e.g. `audit --score COL`), beyond the spec's.
    pub extra_scores: Vec<String>,
    /// A column mapping `{ spec column: file column }` (see [`crate::mapping`]): each mapped
    /// file column is read under its spec name. Empty: names are matched as they are.
    pub rename: BTreeMap<String, String>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            policy: Policy::Strict,
            encoding: None,
            delimiter: None,
            max_field_bytes: 1 << 20,
            extra_scores: Vec::new(),
            rename: BTreeMap::new(),
        }
    }
}

/// What ingest saw, beyond the leads themselves. Nothing is dropped without being counted here.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IngestReport {
    /// Encoding used to decode the bytes (e.g. `UTF-8`, `UTF-8 (BOM)`, `UTF-16LE`, `GB18030`).
    pub encoding: String,
    /// Delimiter used.
    pub delimiter: char,
    /// Data rows read (header excluded).
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_skipped: u64,
    /// Records with no content in any cell (`,,,,` or spaces only): not data rows, not counted in
    /// `rows_read`. Fully empty lines are not records and are not counted at all.
    pub blank_rows: u64,
    /// The first [`MAX_REPORTED_ISSUES`] problems (skip policy).
    pub issues: Vec<RowIssue>,
    /// Header columns the spec does not mention (present in the file, not read).
    pub unused_columns: Vec<String>,
    /// Rows whose id repeated an earlier row's id.
    pub duplicate_ids: u64,
    /// Text cells that start like a spreadsheet formula (`=`, `+`, `-`, `@`): loaded as text,
    /// escaped on export.
    pub formula_like_cells: u64,
}

/// A loaded file.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub schema: Schema,
    pub leads: Vec<Lead>,
    pub report: IngestReport,
}

impl Dataset {
    /// The value of column `name` for lead `i`, if that column is loaded.
    pub fn value(&self, i: usize, name: &str) -> Option<&Value> {
        let c = self.schema.index(name)?;
        self.leads.get(i)?.values.get(c)
    }

    pub fn len(&self) -> usize {
        self.leads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leads.is_empty()
    }
}
