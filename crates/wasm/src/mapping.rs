//! Column mapping: which CSV column feeds which column of the model's spec.
//!
//! A mapping `{ specColumn: csvColumn }` is applied by renaming header cells before ingest, so
//! the prompt still says `budget_band: …` whatever the file calls that column. The ranked CSV is
//! written with the file's own header.

use std::collections::BTreeMap;

use leadladder_core::dataset::IngestOptions;
use leadladder_core::ingest::{decode, read_header, sniff_delimiter};
use leadladder_core::spec::{Role, Spec, normalize_name};
use serde::Serialize;

use crate::{Error, Result};

/// A suggested mapping and the required spec columns no header cell matches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub mapping: BTreeMap<String, String>,
    pub missing: Vec<String>,
}

/// Spec columns a file must have to be scored: id, created_at and the model's inputs.
pub fn required_columns(spec: &Spec) -> Vec<String> {
    let mut out = vec![spec.columns.id.clone(), spec.columns.created_at.clone()];
    out.extend(spec.input_columns().into_iter().map(|(n, _)| n));
    out
}

/// Spec columns used only by the audit panel: existing scores and outcomes.
pub fn optional_columns(spec: &Spec) -> Vec<String> {
    spec.column_uses()
        .into_iter()
        .filter(|u| matches!(u.role, Role::Score | Role::Outcome))
        .map(|u| u.name)
        .collect()
}

/// A file's header as ingest reads it, with the encoding and delimiter it detected.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeaderSniff {
    pub header: Vec<String>,
    pub encoding: String,
    pub delimiter: String,
}

/// Reads only the header row with ingest's own encoding and delimiter sniffing, so a mapping
/// form built from it agrees with what `loadCsv` will read.
pub fn sniff_header(bytes: &[u8]) -> Result<HeaderSniff> {
    let header = read_header(bytes, &IngestOptions::default())?;
    let (text, encoding) = decode(bytes, None)?;
    let delimiter = sniff_delimiter(text.strip_prefix('\u{feff}').unwrap_or(&text));
    Ok(HeaderSniff {
        header,
        encoding,
        delimiter: char::from(delimiter).to_string(),
    })
}

/// Matches spec columns to header cells by normalized name (case, spaces, punctuation).
pub fn suggest(spec: &Spec, header: &[String]) -> Suggestion {
    let mut mapping = BTreeMap::new();
    let mut missing = Vec::new();
    let required = required_columns(spec);
    let targets = required
        .into_iter()
        .map(|c| (c, true))
        .chain(optional_columns(spec).into_iter().map(|c| (c, false)));
    for (col, is_required) in targets {
        let key = normalize_name(&col);
        match header.iter().find(|h| normalize_name(h) == key) {
            Some(h) => {
                mapping.insert(col, h.clone());
            }
            None if is_required => missing.push(col),
            None => {}
        }
    }
    Suggestion { mapping, missing }
}

/// The CSV as UTF-8 with its header renamed per `mapping`, plus the file's original header,
/// its detected encoding and delimiter. A header cell that would collide with a mapped name is
/// renamed `<name> (unmapped)` so no column is read twice.
pub fn remap(
    bytes: &[u8],
    mapping: &BTreeMap<String, String>,
    encoding: Option<&str>,
) -> Result<(Vec<u8>, Vec<String>, String, u8)> {
    let (decoded, encoding_name) = decode(bytes, encoding)?;
    let text: &str = decoded.strip_prefix('\u{feff}').unwrap_or(&decoded);
    let delimiter = sniff_delimiter(text);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let read = reader
        .read_record(&mut record)
        .map_err(|e| Error::Input(format!("reading the header row: {e}")))?;
    if !read {
        return Err(Error::Input("the file is empty".into()));
    }
    let body_start = usize::try_from(reader.position().byte())
        .map_err(|_| Error::Input("header position out of range".into()))?;
    let original: Vec<String> = record.iter().map(|s| s.trim().to_string()).collect();
    // csv column → spec column
    let mut rename: BTreeMap<&str, &str> = BTreeMap::new();
    for (spec_col, csv_col) in mapping {
        let csv_col = csv_col.trim();
        if !original.iter().any(|h| h == csv_col) {
            return Err(Error::Input(format!(
                "the mapping sends column `{csv_col}` to `{spec_col}`, but the file has no column `{csv_col}`"
            )));
        }
        if let Some(prev) = rename.insert(csv_col, spec_col.as_str()) {
            return Err(Error::Input(format!(
                "column `{csv_col}` is mapped to both `{prev}` and `{spec_col}`"
            )));
        }
    }
    let mapped_targets: Vec<String> = rename.values().map(|s| normalize_name(s)).collect();
    let new_header: Vec<String> = original
        .iter()
        .map(|h| match rename.get(h.as_str()) {
            Some(target) => (*target).to_string(),
            None if mapped_targets.contains(&normalize_name(h)) => format!("{h} (unmapped)"),
            None => h.clone(),
        })
        .collect();
    let mut out = Vec::with_capacity(text.len() + 64);
    {
        let mut w = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut out);
        w.write_record(&new_header)
            .map_err(|e| Error::Input(format!("writing the header row: {e}")))?;
        w.flush()
            .map_err(|e| Error::Input(format!("writing the header row: {e}")))?;
    }
    out.extend_from_slice(text.as_bytes().get(body_start..).unwrap_or_default());
    Ok((out, original, encoding_name, delimiter))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn spec() -> Spec {
        Spec::from_toml(leadladder_synth::spec_toml()).unwrap()
    }

    #[test]
    fn suggestion_matches_normalized_names_and_lists_missing() {
        let header: Vec<String> = ["Lead ID", "created_at", "Channel", "dialogue"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let s = suggest(&spec(), &header);
        assert_eq!(
            s.mapping.get("lead_id").map(String::as_str),
            Some("Lead ID")
        );
        assert_eq!(
            s.mapping.get("channel").map(String::as_str),
            Some("Channel")
        );
        assert!(s.missing.contains(&"budget_band".to_string()));
        assert!(!s.missing.contains(&"channel".to_string()));
    }

    #[test]
    fn remap_renames_header_and_keeps_body() {
        let csv = "Source;id\nweb;1\nshop;2\n";
        let mut m = BTreeMap::new();
        m.insert("channel".to_string(), "Source".to_string());
        let (out, original, enc, d) = remap(csv.as_bytes(), &m, None).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "channel;id\r\nweb;1\nshop;2\n"
        );
        assert_eq!(original, vec!["Source", "id"]);
        assert_eq!(enc, "UTF-8");
        assert_eq!(d, b';');
        m.insert("lead_id".to_string(), "nope".to_string());
        let err = remap(csv.as_bytes(), &m, None).unwrap_err().to_string();
        assert!(err.contains("`nope`"), "{err}");
    }

    #[test]
    fn sniffed_header_uses_ingest_rules() {
        let s = sniff_header("Lead ID;Channel\n1;web\n".as_bytes()).unwrap();
        assert_eq!(s.header, vec!["Lead ID", "Channel"]);
        assert_eq!(s.delimiter, ";");
        assert_eq!(s.encoding, "UTF-8");
        let (gbk, _, _) = encoding_rs::GBK.encode("客户,渠道\n1,网站\n");
        let s = sniff_header(&gbk).unwrap();
        assert_eq!(s.header, vec!["客户", "渠道"]);
        assert_ne!(s.encoding, "utf-8");
        assert!(sniff_header(b"").is_err());
    }

    #[test]
    fn remap_moves_a_colliding_column_aside() {
        let csv = "channel,source\na,b\n";
        let mut m = BTreeMap::new();
        m.insert("channel".to_string(), "source".to_string());
        let (out, ..) = remap(csv.as_bytes(), &m, None).unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .starts_with("channel (unmapped),channel\r\n")
        );
    }
}
