//! Column mapping: which column of a file feeds which column of a spec.
//!
//! A mapping `{ spec column: file column }` is an ingest option
//! ([`crate::IngestOptions::rename`]): ingest reads the mapped file column under the spec's name,
//! so the prompt still says `budget_band: …` whatever the file calls that column. A file column
//! whose own name would collide with a mapped name is read as `<name> (unmapped)`, so no column
//! is read twice. Writers keep the file's own header ([`crate::ingest::RawRows::header`]).
//!
//! [`suggest`] proposes a mapping for a header, with every column a spec reads and its role, in
//! the order a mapping form lists them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::spec::{Role, Spec, normalize_name};

/// One column a spec reads, as a mapping form shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MappedColumn {
    /// The spec's name for it.
    pub column: String,
    pub role: Role,
    /// True for what scoring needs (id, created_at, the model's inputs); false for what only
    /// the audit reads (existing scores, outcomes).
    pub required: bool,
    /// The header cell that matches it by normalised name, if any.
    pub file: Option<String>,
}

/// A suggested mapping for a header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// `{ spec column: file column }` for every spec column a header cell matches.
    pub mapping: BTreeMap<String, String>,
    /// Required spec columns no header cell matches.
    pub missing: Vec<String>,
    /// Every column the spec reads, once each: id, created_at, inputs (categorical, numeric,
    /// boolean, text), then existing scores and outcomes.
    pub columns: Vec<MappedColumn>,
}

/// The spec's columns with their roles, in form order, each name once.
fn spec_columns(spec: &Spec) -> Vec<(String, Role, bool)> {
    let mut out = vec![
        (spec.columns.id.clone(), Role::Id, true),
        (spec.columns.created_at.clone(), Role::CreatedAt, true),
    ];
    out.extend(
        spec.input_columns()
            .into_iter()
            .map(|(name, role)| (name, role, true)),
    );
    out.extend(
        spec.column_uses()
            .into_iter()
            .filter(|u| matches!(u.role, Role::Score | Role::Outcome))
            .map(|u| (u.name, u.role, false)),
    );
    let mut seen = Vec::new();
    out.retain(|(name, ..)| {
        let fresh = !seen.contains(name);
        seen.push(name.clone());
        fresh
    });
    out
}

/// Matches the spec's columns to header cells by normalised name (case, spaces, punctuation):
/// the rule ingest applies when no mapping is given.
pub fn suggest(spec: &Spec, header: &[String]) -> Suggestion {
    let mut mapping = BTreeMap::new();
    let mut missing = Vec::new();
    let mut columns = Vec::new();
    for (column, role, required) in spec_columns(spec) {
        let key = normalize_name(&column);
        let file = header.iter().find(|h| normalize_name(h) == key).cloned();
        match &file {
            Some(h) => {
                mapping.insert(column.clone(), h.clone());
            }
            None if required => missing.push(column.clone()),
            None => {}
        }
        columns.push(MappedColumn {
            column,
            role,
            required,
            file,
        });
    }
    Suggestion {
        mapping,
        missing,
        columns,
    }
}

/// The header ingest matches against the spec when `rename` (`{ spec column: file column }`)
/// is applied to the file's `header`: each mapped file column takes its spec name, and an
/// unmapped column whose name would collide with a mapped one becomes `<name> (unmapped)`.
///
/// # Errors
///
/// [`Error::MappedColumnMissing`] when a mapped file column is not in the header,
/// [`Error::MappedTwice`] when one file column is mapped to two spec columns.
pub fn renamed_header(header: &[String], rename: &BTreeMap<String, String>) -> Result<Vec<String>> {
    // file column → spec column
    let mut by_file: BTreeMap<&str, &str> = BTreeMap::new();
    for (target, column) in rename {
        let column = column.trim();
        if !header.iter().any(|h| h == column) {
            return Err(Error::MappedColumnMissing {
                column: column.to_string(),
                target: target.clone(),
            });
        }
        if let Some(first) = by_file.insert(column, target.as_str()) {
            return Err(Error::MappedTwice {
                column: column.to_string(),
                first: first.to_string(),
                second: target.clone(),
            });
        }
    }
    let targets: Vec<String> = by_file.values().map(|t| normalize_name(t)).collect();
    Ok(header
        .iter()
        .map(|h| match by_file.get(h.as_str()) {
            Some(target) => (*target).to_string(),
            None if targets.contains(&normalize_name(h)) => format!("{h} (unmapped)"),
            None => h.clone(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::spec;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn suggestion_matches_normalized_names_lists_missing_and_roles() {
        let header = strings(&["Lead ID", "created_at", "Channel", "Outcome", "notes"]);
        let s = suggest(&spec(), &header);
        assert_eq!(
            s.mapping.get("lead_id").map(String::as_str),
            Some("Lead ID")
        );
        assert_eq!(
            s.mapping.get("channel").map(String::as_str),
            Some("Channel")
        );
        assert_eq!(s.missing, vec!["dialogue"]);
        let listed: Vec<(&str, Role, bool)> = s
            .columns
            .iter()
            .map(|c| (c.column.as_str(), c.role, c.required))
            .collect();
        assert_eq!(
            listed,
            vec![
                ("lead_id", Role::Id, true),
                ("created_at", Role::CreatedAt, true),
                ("channel", Role::Categorical, true),
                ("dialogue", Role::Text, true),
                ("crm_score", Role::Score, false),
                ("outcome", Role::Outcome, false),
            ]
        );
        assert_eq!(s.columns[5].file.as_deref(), Some("Outcome"));
        assert_eq!(s.columns[4].file, None);
    }

    #[test]
    fn renaming_checks_the_mapping_and_moves_collisions_aside() {
        let header = strings(&["Source", "id"]);
        let mut m = BTreeMap::new();
        m.insert("channel".to_string(), "Source".to_string());
        assert_eq!(
            renamed_header(&header, &m).unwrap(),
            strings(&["channel", "id"])
        );
        let collide = strings(&["channel", "source"]);
        m.insert("channel".to_string(), "source".to_string());
        assert_eq!(
            renamed_header(&collide, &m).unwrap(),
            strings(&["channel (unmapped)", "channel"])
        );
        m.insert("lead_id".to_string(), "nope".to_string());
        let err = renamed_header(&collide, &m).unwrap_err().to_string();
        assert!(err.contains("`nope`") && err.contains("`lead_id`"), "{err}");
        let mut twice = BTreeMap::new();
        twice.insert("a".to_string(), "id".to_string());
        twice.insert("b".to_string(), "id".to_string());
        let err = renamed_header(&header, &twice).unwrap_err();
        assert!(matches!(err, Error::MappedTwice { .. }), "{err}");
    }
}
