//! What `leadladder rank` and `leadladder audit --model` say about drift and the guard: the
//! lines on stderr and the JSON of `--drift-json`. The check itself is core's
//! ([`leadladder_core::drift`]); the verdict the bundle carries is core's [`Guard`].

use std::path::Path;

use anyhow::{Context, Result};
use leadladder_core::drift::{DriftReport, UNAVAILABLE, check_json};
use leadladder_core::guard::Guard;

/// The lines about a file's drift: the summary, then one warning per drifted field; for a
/// bundle without a profile, that the check is unavailable.
pub(crate) fn lines(report: Option<&DriftReport>) -> Vec<String> {
    match report {
        Some(r) => r.lines(),
        None => vec![UNAVAILABLE.to_string()],
    }
}

/// Prints [`lines`] to stderr and, with `json_out`, writes [`check_json`] there.
pub(crate) fn report(report: Option<&DriftReport>, json_out: Option<&Path>) -> Result<()> {
    for line in lines(report) {
        eprintln!("{line}");
    }
    if let Some(path) = json_out {
        let text = serde_json::to_string_pretty(&check_json(report))?;
        leadladder_core::fs::write_file_atomic(path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote the drift numbers to {}", path.display());
    }
    Ok(())
}

/// Prints the bundle's guard warning to stderr when it fired on the model's test period.
pub(crate) fn warn_guard(guard: Option<&Guard>) {
    if let Some(g) = guard.filter(|g| g.fires()) {
        for line in g.lines() {
            eprintln!("{line}");
        }
    }
}
