//! A ladder spec written as TOML, for the page's ladder editor: the form builds the spec in its
//! serde shape (as JSON), [`Spec::from_json`] validates it (the CLI's messages, leakage
//! included), and [`to_toml`] writes the text `leadladder train --ladder` reads, parsed back
//! with [`Spec::from_toml`] and compared before it is handed out.

use leadladder_core::Spec;
use serde_json::Value;

use crate::{Error, Result};

/// The spec as TOML text that [`Spec::from_toml`] reads back into an equal spec.
pub fn to_toml(spec: &Spec) -> Result<String> {
    let value = serde_json::to_value(spec)
        .map_err(|e| Error::Argument(format!("the spec as JSON: {e}")))?;
    let Value::Object(top) = value else {
        return Err(Error::Argument("the spec is not a table".into()));
    };
    let mut out = String::new();
    let mut tables = Vec::new();
    let mut arrays = Vec::new();
    for (key, v) in &top {
        match v {
            Value::Object(_) => tables.push((key, v)),
            Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
                arrays.push((key, items))
            }
            // An empty list of rungs or tiers is the default: leave it out.
            Value::Array(items) if items.is_empty() && matches!(key.as_str(), "rung" | "tier") => {}
            _ => out.push_str(&format!("{} = {}\n", key_text(key), inline(v)?)),
        }
    }
    for (key, v) in tables {
        out.push_str(&format!("\n[{}]\n", key_text(key)));
        table_body(v, &mut out)?;
    }
    for (key, items) in arrays {
        for item in items {
            out.push_str(&format!("\n[[{}]]\n", key_text(key)));
            table_body(item, &mut out)?;
        }
    }
    let back = Spec::from_toml(&out)?;
    if &back != spec {
        return Err(Error::Argument(
            "the spec does not survive being written as TOML (please report this)".into(),
        ));
    }
    Ok(out)
}

/// The editor's spec (JSON in the spec's serde shape) as validated TOML.
pub fn json_to_toml(json: &str) -> Result<String> {
    to_toml(&Spec::from_json(json)?)
}

fn table_body(v: &Value, out: &mut String) -> Result<()> {
    if let Value::Object(map) = v {
        for (k, v) in map {
            out.push_str(&format!("{} = {}\n", key_text(k), inline(v)?));
        }
    }
    Ok(())
}

fn key_text(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_string()
    } else {
        string_text(key)
    }
}

/// A TOML basic string: JSON's escapes are TOML's, except that TOML also wants DEL escaped.
fn string_text(s: &str) -> String {
    Value::String(s.to_string())
        .to_string()
        .replace('\u{7f}', "\\u007F")
}

fn inline(v: &Value) -> Result<String> {
    Ok(match v {
        Value::Null => {
            return Err(Error::Argument(
                "a spec value is missing (null has no TOML form)".into(),
            ));
        }
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            let text = n.to_string();
            // Numbers in a spec are floats (margins, thresholds): keep them floats in TOML.
            if n.is_f64() && !text.contains(['.', 'e', 'E']) {
                format!("{text}.0")
            } else {
                text
            }
        }
        Value::String(s) => string_text(s),
        Value::Array(items) => {
            let parts = items.iter().map(inline).collect::<Result<Vec<_>>>()?;
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let parts = map
                .iter()
                .map(|(k, v)| Ok(format!("{} = {}", key_text(k), inline(v)?)))
                .collect::<Result<Vec<_>>>()?;
            format!("{{ {} }}", parts.join(", "))
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SPEC: &str = r#"
name = "nev \"retail\""

[columns]
id = "lead_id"
created_at = "created at"
categorical = ["channel"]
numeric = ["calls_so_far"]
text = ["dialogue"]
ignore = ["outcome", "test_drive"]

[label]
column = "outcome"
equals = "locked_in"

[[rung]]
name = "won"
margin = 1
better = { column = "outcome", equals = "locked_in" }
worse = { column = "outcome", equals = "defeated" }

[[rung]]
name = "drive"
margin = 0.5
better = { column = "test_drive", gte = 1 }
worse = { not = { column = "test_drive", gte = 1.5 } }

[[tier]]
name = "busy"
when = { column = "calls_so_far", gte = 3 }

[parse]
turn_separator = " | "
"#;

    #[test]
    fn round_trips_through_toml() {
        let spec = Spec::from_toml(SPEC).unwrap();
        let text = to_toml(&spec).unwrap();
        assert_eq!(Spec::from_toml(&text).unwrap(), spec, "{text}");
        let json = spec.to_json().unwrap();
        assert_eq!(json_to_toml(&json).unwrap(), text);
    }

    #[test]
    fn leakage_is_refused_with_the_cli_message() {
        let leaking = SPEC.replace(
            "categorical = [\"channel\"]",
            "categorical = [\"channel\", \"outcome\"]",
        );
        let leaking = leaking.replace("ignore = [\"outcome\", \"test_drive\"]", "");
        let cli = Spec::from_toml(&leaking).unwrap_err().to_string();
        assert!(cli.contains("leaks the answer"), "{cli}");
        let spec: serde_json::Value = toml_to_json_for_test(&leaking);
        let err = json_to_toml(&spec.to_string()).unwrap_err().to_string();
        assert_eq!(err, cli);
    }

    /// The leaking spec in JSON, built without validation (what a form could send).
    fn toml_to_json_for_test(text: &str) -> serde_json::Value {
        let ok = text.replace(", \"outcome\"]", "]");
        let mut v = serde_json::to_value(Spec::from_toml(&ok).unwrap()).unwrap();
        v["columns"]["categorical"] = serde_json::json!(["channel", "outcome"]);
        v
    }
}
