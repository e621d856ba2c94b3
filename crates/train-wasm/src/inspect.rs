//! The columns of a CSV as the ladder editor shows them: each column's name (as ingest reads
//! the header), how many rows fill it, whether its values are all numbers, all yes/no values
//! or timestamps, its most frequent values, and a suggested role. The suggestion is only the
//! form's starting point; the spec the user builds is validated by core like any other.

use std::collections::BTreeMap;

use leadladder_core::IngestOptions;
use leadladder_core::ingest::{decode, sniff_header};
use leadladder_core::value::{DateOrder, parse_bool, parse_number, parse_timestamp};
use serde::Serialize;

use crate::Result;

/// Most frequent values kept per column.
const TOP_VALUES: usize = 12;
/// Distinct values counted per column before it counts as "many".
const DISTINCT_CAP: usize = 1000;

/// A column of the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Column {
    pub name: String,
    /// Rows with a non-blank cell.
    pub filled: usize,
    /// Every non-blank cell is a number.
    pub numeric: bool,
    /// Every non-blank cell is a yes/no value (true/false, yes/no, 1/0 …).
    pub boolean: bool,
    /// Every non-blank cell is a date or timestamp.
    pub timestamp: bool,
    /// Distinct values (capped at 1,000: `distinctCapped`).
    pub distinct: usize,
    pub distinct_capped: bool,
    /// Mean length of a non-blank cell, in characters.
    pub mean_chars: f64,
    /// The most frequent values with their counts, most frequent first.
    pub top: Vec<(String, usize)>,
    /// A starting role for the editor: id, created_at, categorical, numeric, boolean, text or
    /// ignore.
    pub suggested: String,
}

/// What the editor needs about a file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CsvColumns {
    pub encoding: String,
    pub delimiter: char,
    /// Data rows (records after the header).
    pub rows: usize,
    pub columns: Vec<Column>,
}

/// Reads the file's columns with ingest's own decoding and delimiter sniffing.
pub fn inspect(bytes: &[u8]) -> Result<CsvColumns> {
    let opts = IngestOptions::default();
    let sniff = sniff_header(bytes, &opts)?;
    let (text, _) = decode(bytes, None)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .delimiter(sniff.delimiter as u8)
        .from_reader(text.as_bytes());
    let n = sniff.header.len();
    let mut counts: Vec<BTreeMap<String, usize>> = vec![BTreeMap::new(); n];
    let mut capped = vec![false; n];
    let mut filled = vec![0usize; n];
    let mut chars = vec![0usize; n];
    let mut numeric = vec![true; n];
    let mut boolean = vec![true; n];
    let mut timestamp = vec![true; n];
    let mut rows = 0usize;
    let mut record = csv::StringRecord::new();
    // A malformed record stops the sample here; reading the file for training reports it with
    // its row.
    while reader.read_record(&mut record).unwrap_or(false) {
        rows += 1;
        for (c, cell) in record.iter().enumerate().take(n) {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            filled[c] += 1;
            chars[c] += cell.chars().count();
            numeric[c] &= parse_number(cell).is_some();
            boolean[c] &= parse_bool(cell).is_some();
            timestamp[c] &= parse_number(cell).is_none()
                && parse_timestamp(cell, DateOrder::default()).is_some();
            let map = &mut counts[c];
            if let Some(k) = map.get_mut(cell) {
                *k += 1;
            } else if map.len() < DISTINCT_CAP {
                map.insert(cell.to_string(), 1);
            } else {
                capped[c] = true;
            }
        }
    }
    let mut columns = Vec::with_capacity(n);
    let mut have_id = false;
    let mut have_time = false;
    for (c, name) in sniff.header.iter().enumerate() {
        let mut top: Vec<(String, usize)> =
            counts[c].iter().map(|(v, &k)| (v.clone(), k)).collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let distinct = counts[c].len();
        top.truncate(TOP_VALUES);
        let any = filled[c] > 0;
        let mean_chars = if any {
            chars[c] as f64 / filled[c] as f64
        } else {
            0.0
        };
        let lower = name.to_ascii_lowercase();
        let unique = any && !capped[c] && distinct == filled[c] && filled[c] == rows;
        let suggested = if !any {
            "ignore"
        } else if !have_id
            && (lower == "id" || lower.ends_with("_id") || lower.ends_with(" id"))
            && (unique || capped[c])
        {
            have_id = true;
            "id"
        } else if !have_time && timestamp[c] {
            have_time = true;
            "created_at"
        } else if boolean[c] && distinct <= 2 {
            "boolean"
        } else if numeric[c] {
            "numeric"
        } else if mean_chars >= 40.0 || capped[c] {
            "text"
        } else {
            "categorical"
        };
        columns.push(Column {
            name: name.clone(),
            filled: filled[c],
            numeric: any && numeric[c],
            boolean: any && boolean[c],
            timestamp: any && timestamp[c],
            distinct,
            distinct_capped: capped[c],
            mean_chars,
            top,
            suggested: suggested.to_string(),
        });
    }
    Ok(CsvColumns {
        encoding: sniff.encoding,
        delimiter: sniff.delimiter,
        rows,
        columns,
    })
}
