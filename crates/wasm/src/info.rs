//! Plain descriptions of a bundle and its spec, as the page shows them.

use leadladder_bundle::{Bundle, BundleConfig, BundleMeta, Provenance};
use leadladder_core::spec::{Condition, Role, Spec};
use serde::Serialize;

/// What `inspectBundle` and `Scorer.bundleInfo` return (see API.md).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleInfo {
    pub format: String,
    pub bytes: usize,
    pub dtype: String,
    pub parameters: usize,
    pub max_tokens: usize,
    pub vocab_size: usize,
    pub prompt_version: String,
    pub spec: SpecInfo,
    pub metrics: serde_json::Value,
    pub provenance: serde_json::Value,
}

/// The columns a bundle's spec reads, by role.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpecInfo {
    pub name: String,
    pub id: String,
    pub created_at: String,
    pub categorical: Vec<String>,
    pub numeric: Vec<String>,
    pub boolean: Vec<String>,
    pub text: Vec<String>,
    pub score: Vec<String>,
    pub outcome_columns: Vec<String>,
    pub label: String,
    pub tiers: Vec<String>,
}

impl SpecInfo {
    pub fn new(spec: &Spec) -> Self {
        let c = &spec.columns;
        let outcome_columns = spec
            .column_uses()
            .into_iter()
            .filter(|u| u.role == Role::Outcome)
            .map(|u| u.name)
            .collect();
        Self {
            name: spec.name.clone(),
            id: c.id.clone(),
            created_at: c.created_at.clone(),
            categorical: c.categorical.clone(),
            numeric: c.numeric.clone(),
            boolean: c.boolean.clone(),
            text: c.text.clone(),
            score: c.score.clone(),
            outcome_columns,
            label: describe(&spec.label),
            tiers: spec.tiers.iter().map(|t| t.name.clone()).collect(),
        }
    }
}

/// A condition as a rep reads it: `outcome = locked_in`, `visits ≥ 2`, `a or (b and not c)`.
pub fn describe(c: &Condition) -> String {
    let col = c.column.as_deref().unwrap_or("?");
    let join = |parts: &[Condition], word: &str| {
        parts
            .iter()
            .map(|p| {
                let s = describe(p);
                if p.any.is_some() || p.all.is_some() {
                    format!("({s})")
                } else {
                    s
                }
            })
            .collect::<Vec<_>>()
            .join(word)
    };
    let mut tests = Vec::new();
    if let Some(v) = &c.equals {
        tests.push(format!("{col} = {v}"));
    }
    if let Some(vs) = &c.one_of {
        let vs: Vec<String> = vs.iter().map(ToString::to_string).collect();
        tests.push(format!("{col} in {{{}}}", vs.join(", ")));
    }
    for (op, v) in [("≥", c.gte), (">", c.gt), ("≤", c.lte), ("<", c.lt)] {
        if let Some(v) = v {
            tests.push(format!("{col} {op} {v}"));
        }
    }
    match c.missing {
        Some(true) => tests.push(format!("{col} is missing")),
        Some(false) => tests.push(format!("{col} is present")),
        None => {}
    }
    if let Some(any) = &c.any {
        tests.push(join(any, " or "));
    }
    if let Some(all) = &c.all {
        tests.push(join(all, " and "));
    }
    if let Some(not) = &c.not {
        tests.push(format!("not ({})", describe(not)));
    }
    tests.join(" and ")
}

fn json_or_null(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

impl BundleInfo {
    pub fn new(
        meta: &BundleMeta,
        config: &BundleConfig,
        spec: &Spec,
        provenance: &Provenance,
        bytes: usize,
        parameters: usize,
    ) -> Self {
        Self {
            format: meta.format.clone(),
            bytes,
            dtype: config.dtype.name().to_string(),
            parameters,
            max_tokens: config.max_tokens,
            vocab_size: config.model.vocab_size,
            prompt_version: meta.prompt_version.clone(),
            spec: SpecInfo::new(spec),
            metrics: json_or_null(&meta.metrics_json),
            provenance: serde_json::to_value(provenance).unwrap_or(serde_json::Value::Null),
        }
    }

    /// Checks a bundle fully (the scorer's own loader) and describes it.
    pub fn inspect(bytes: &[u8]) -> crate::Result<Self> {
        let b = Bundle::from_bytes(bytes)?;
        let parameters = b.tensors.values().map(|(_, v)| v.len()).sum();
        Ok(Self::new(
            &b.meta,
            &b.config,
            &b.ladder,
            &b.provenance,
            bytes.len(),
            parameters,
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn spec_info_names_roles_and_label() {
        let spec = Spec::from_toml(leadladder_synth::spec_toml()).unwrap();
        let info = SpecInfo::new(&spec);
        assert_eq!(info.id, spec.columns.id);
        assert!(!info.label.is_empty());
        assert!(
            info.label.contains(" = ") || info.label.contains(" in "),
            "{}",
            info.label
        );
        // Outcome columns are never model inputs.
        for c in &info.outcome_columns {
            assert!(
                !info.categorical.contains(c) && !info.text.contains(c),
                "{c}"
            );
        }
        let cond: Condition = toml::from_str(
            "any = [{ column = \"a\", gte = 2.0 }, { column = \"b\", missing = true }]",
        )
        .unwrap();
        assert_eq!(describe(&cond), "a ≥ 2 or b is missing");
    }
}
