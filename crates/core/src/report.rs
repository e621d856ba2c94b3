//! The audit report: how several rankings of the same leads compare, shaped like Table 2 of the
//! paper (one row per method; AUC and precision in the top 0.1%, 1% and 10% of the queue).
//!
//! Build the rows with [`crate::metrics::evaluate`], collect them in an [`AuditReport`], then
//! render with [`AuditReport::to_markdown`] (terminal and GitHub) or [`AuditReport::to_json`].

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::metrics::{Estimate, EvalConfig, MethodReport};

/// How the evaluated leads were split off from the training leads (free-form; filled by whoever
/// made the split).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitSummary {
    /// Kind of split, e.g. `"temporal"`.
    pub kind: String,
    /// Creation time of the first test lead, as text (e.g. RFC 3339), for temporal splits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_time: Option<String>,
    /// Leads in the training side.
    pub train_n: usize,
    /// Leads in the evaluated (test) side.
    pub test_n: usize,
    /// Share of positive labels in the training side.
    pub train_positive_rate: f64,
    /// Share of positive labels in the test side.
    pub test_positive_rate: f64,
}

/// Several ranking methods evaluated on the same leads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditReport {
    /// Heading of the rendered report.
    pub title: String,
    /// Leads evaluated.
    pub n: usize,
    /// Positive labels among them.
    pub positives: usize,
    /// `positives / n`.
    pub base_rate: f64,
    /// How the evaluated leads were split off, if they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<SplitSummary>,
    /// Free-form notes rendered under the table.
    #[serde(default)]
    pub notes: Vec<String>,
    /// One row per method, in display order.
    pub methods: Vec<MethodReport>,
    /// The configuration the methods were evaluated with.
    pub config: EvalConfig,
    /// When set, the Markdown table ends with a "Relative lift" row comparing the **last** method
    /// with the method of this name (see [`AuditReport::relative_to`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_to: Option<String>,
}

impl AuditReport {
    /// An empty report over `n` leads with `positives` positive labels.
    pub fn new(title: impl Into<String>, n: usize, positives: usize, config: EvalConfig) -> Self {
        Self {
            title: title.into(),
            n,
            positives,
            base_rate: if n == 0 {
                0.0
            } else {
                positives as f64 / n as f64
            },
            split: None,
            notes: Vec::new(),
            methods: Vec::new(),
            config,
            relative_to: None,
        }
    }

    /// Sets the split description.
    pub fn with_split(mut self, split: SplitSummary) -> Self {
        self.split = Some(split);
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Appends a method row.
    pub fn with_method(mut self, method: MethodReport) -> Self {
        self.methods.push(method);
        self
    }

    /// Requests a final "Relative lift" row: the last method's AUC and P@K relative to those of
    /// the method named `baseline` (`+25.0%` means 1.25 times the baseline's value).
    pub fn relative_to(mut self, baseline: impl Into<String>) -> Self {
        self.relative_to = Some(baseline.into());
        self
    }

    /// Pretty-printed JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Parses a report written by [`AuditReport::to_json`].
    pub fn from_json(text: &str) -> Result<Self> {
        Ok(serde_json::from_str(text)?)
    }

    /// The K percentages of the table's columns: every K of every method, in first-seen order.
    fn k_columns(&self) -> Vec<f64> {
        let mut ks: Vec<f64> = Vec::new();
        for a in self.methods.iter().flat_map(|m| &m.at_k) {
            if !ks.iter().any(|&k| same_k(k, a.k_percent)) {
                ks.push(a.k_percent);
            }
        }
        ks
    }

    /// Renders the report as Markdown: a title, a header line (leads, positives, base rate,
    /// split), the table (one row per method; AUC with 4 decimals, P@K as percentages with 2
    /// decimals, bootstrap intervals in brackets such as `13.33% [11.2, 15.1]`, lift at each K
    /// such as `8.2x`), an optional relative-lift row, calibration when probabilities were scored,
    /// and the notes. Columns are padded so the table also reads well in a terminal.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "## {}\n", self.title);
        let _ = writeln!(out, "{}\n", self.header_line());

        let ks = self.k_columns();
        let mut header = vec!["Method".to_string(), "AUC".to_string()];
        for &k in &ks {
            let counts: Vec<usize> = self
                .methods
                .iter()
                .filter_map(|m| m.at(k).map(|a| a.k_count))
                .collect();
            let k_note = match counts.first() {
                Some(&c) if counts.iter().all(|&x| x == c) => {
                    format!(" (k={})", thousands(c as u64))
                }
                _ => String::new(),
            };
            header.push(format!("P@{k}%{k_note}"));
            header.push(format!("Lift@{k}%"));
        }
        let mut rows: Vec<Vec<String>> = self
            .methods
            .iter()
            .map(|m| {
                let mut row = vec![escape(&m.name), fmt_auc(&m.auc)];
                for &k in &ks {
                    match m.at(k) {
                        Some(a) => {
                            row.push(fmt_precision(&a.precision));
                            row.push(format!("{:.1}x", a.lift));
                        }
                        None => row.extend(["-".to_string(), "-".to_string()]),
                    }
                }
                row
            })
            .collect();
        let mut missing_baseline = None;
        if let Some(baseline) = &self.relative_to {
            match (
                self.methods.iter().find(|m| &m.name == baseline),
                self.methods.last(),
            ) {
                (Some(base), Some(last)) => rows.push(relative_row(last, base, &ks)),
                _ => missing_baseline = Some(baseline),
            }
        }
        render_table(&mut out, &header, &rows);

        let _ = writeln!(out);
        let _ = writeln!(out, "{}", self.legend());
        for m in &self.methods {
            if self.config.bootstrap > 0 && m.bootstrap_used < self.config.bootstrap {
                let _ = writeln!(
                    out,
                    "- `{}`: {} of {} resamples used (the others had no positive or no negative).",
                    m.name, m.bootstrap_used, self.config.bootstrap
                );
            }
        }
        if let Some(b) = missing_baseline {
            let _ = writeln!(out, "- Relative lift not shown: no method named `{b}`.");
        }

        let calibrated: Vec<&MethodReport> = self
            .methods
            .iter()
            .filter(|m| m.brier.is_some() || m.ece.is_some())
            .collect();
        if !calibrated.is_empty() {
            let _ = writeln!(
                out,
                "\nCalibration ({} equal-width bins):\n",
                self.config.ece_bins
            );
            let rows: Vec<Vec<String>> = calibrated
                .iter()
                .map(|m| {
                    let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
                    vec![escape(&m.name), f(m.brier), f(m.ece)]
                })
                .collect();
            render_table(
                &mut out,
                &["Method".into(), "Brier".into(), "ECE".into()],
                &rows,
            );
        }

        if !self.notes.is_empty() {
            let _ = writeln!(out);
            for note in &self.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        out
    }

    fn header_line(&self) -> String {
        let mut line = format!(
            "n = {} leads, {} positives (base rate {:.2}%)",
            thousands(self.n as u64),
            thousands(self.positives as u64),
            100.0 * self.base_rate
        );
        if let Some(s) = &self.split {
            let _ = write!(line, "; split: {}", s.kind);
            if let Some(cut) = &s.cut_time {
                let _ = write!(line, " at {cut}");
            }
            let _ = write!(
                line,
                ", train {} ({:.2}% positive) / test {} ({:.2}% positive)",
                thousands(s.train_n as u64),
                100.0 * s.train_positive_rate,
                thousands(s.test_n as u64),
                100.0 * s.test_positive_rate
            );
        }
        line
    }

    fn legend(&self) -> String {
        let mut legend = "AUC: ROC AUC (ties count 1/2). P@K%: precision in the top K% of the \
                          queue (score descending, ties in input order); Lift = P@K / base rate."
            .to_string();
        if self.config.bootstrap > 0 {
            let _ = write!(
                legend,
                " Brackets: {}% percentile bootstrap interval ({} resamples, seed {}).",
                fmt_trimmed(100.0 * self.config.confidence),
                thousands(self.config.bootstrap as u64),
                self.config.seed
            );
        }
        legend
    }
}

fn same_k(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(1.0)
}

/// `1234567` → `1,234,567` (the counts in reports, drift warnings and the page's messages).
pub fn thousands(x: u64) -> String {
    let digits = x.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A number with up to 2 decimals and no trailing zeros (`95`, `97.5`).
fn fmt_trimmed(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Escapes a cell for a Markdown table.
fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// `0.7312 [0.701, 0.760]`.
fn fmt_auc(e: &Estimate) -> String {
    match (e.lo, e.hi) {
        (Some(lo), Some(hi)) => format!("{:.4} [{lo:.3}, {hi:.3}]", e.value),
        _ => format!("{:.4}", e.value),
    }
}

/// `13.33% [11.2, 15.1]`.
fn fmt_precision(e: &Estimate) -> String {
    match (e.lo, e.hi) {
        (Some(lo), Some(hi)) => format!(
            "{:.2}% [{:.1}, {:.1}]",
            100.0 * e.value,
            100.0 * lo,
            100.0 * hi
        ),
        _ => format!("{:.2}%", 100.0 * e.value),
    }
}

/// `+25.0%`, or `n/a` against a zero baseline.
fn fmt_relative(value: f64, baseline: f64) -> String {
    if baseline > 0.0 {
        format!("{:+.1}%", 100.0 * (value / baseline - 1.0))
    } else {
        "n/a".to_string()
    }
}

fn relative_row(last: &MethodReport, base: &MethodReport, ks: &[f64]) -> Vec<String> {
    let mut row = vec![
        format!(
            "Relative lift: {} vs {}",
            escape(&last.name),
            escape(&base.name)
        ),
        fmt_relative(last.auc.value, base.auc.value),
    ];
    for &k in ks {
        match (last.at(k), base.at(k)) {
            (Some(a), Some(b)) => row.push(fmt_relative(a.precision.value, b.precision.value)),
            _ => row.push("-".to_string()),
        }
        row.push(String::new());
    }
    row
}

/// Writes a padded Markdown table: the first column left-aligned, the others right-aligned.
fn render_table(out: &mut String, header: &[String], rows: &[Vec<String>]) {
    let width = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h).max(3)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, &w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        format!("| {} |", padded.join(" | "))
    };
    let _ = writeln!(out, "{}", line(header));
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            if i == 0 {
                format!(":{}", "-".repeat(w - 1))
            } else {
                format!("{}:", "-".repeat(w - 1))
            }
        })
        .collect();
    let _ = writeln!(out, "| {} |", rule.join(" | "));
    for row in rows {
        let _ = writeln!(out, "{}", line(row));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::metrics::AtK;

    fn method(name: &str, auc: f64, p: [f64; 2], ci: bool) -> MethodReport {
        let est = |v: f64| Estimate {
            value: v,
            lo: ci.then_some(v - 0.02),
            hi: ci.then_some(v + 0.03),
        };
        let at = |k_percent: f64, k_count: usize, precision: f64| AtK {
            k_percent,
            k_count,
            hits: (precision * k_count as f64).round() as usize,
            precision: est(precision),
            recall: 0.0,
            lift: precision / 0.03,
        };
        MethodReport {
            name: name.into(),
            n: 3000,
            positives: 90,
            auc: est(auc),
            at_k: vec![at(1.0, 30, p[0]), at(10.0, 300, p[1])],
            brier: None,
            ece: None,
            bootstrap_used: if ci { 1000 } else { 0 },
        }
    }

    fn report() -> AuditReport {
        let cfg = EvalConfig {
            k_percents: vec![1.0, 10.0],
            ..EvalConfig::default()
        };
        AuditReport::new("Audit: demo", 3000, 90, cfg)
            .with_method(method("recency", 0.5123, [0.0333, 0.04], true))
            .with_method(method("model", 0.78126, [0.4, 0.1], true))
            .with_note("scores from the CRM export of 2025-03-01")
    }

    #[test]
    fn markdown_has_header_table_and_legend() {
        let md = report()
            .with_split(SplitSummary {
                kind: "temporal".into(),
                cut_time: Some("2025-02-01T00:00:00Z".into()),
                train_n: 12_000,
                test_n: 3000,
                train_positive_rate: 0.0283,
                test_positive_rate: 0.03,
            })
            .to_markdown();
        assert!(md.starts_with("## Audit: demo\n\n"), "{md}");
        assert!(
            md.contains(
                "n = 3,000 leads, 90 positives (base rate 3.00%); split: temporal at \
                 2025-02-01T00:00:00Z, train 12,000 (2.83% positive) / test 3,000 (3.00% positive)"
            ),
            "{md}"
        );
        assert!(md.contains("| Method  |"), "{md}");
        assert!(
            md.contains("P@1% (k=30)") && md.contains("P@10% (k=300)"),
            "{md}"
        );
        assert!(md.contains("Lift@1%") && md.contains("Lift@10%"), "{md}");
        assert!(md.contains("0.7813 [0.761, 0.811]"), "{md}");
        assert!(md.contains("40.00% [38.0, 43.0]"), "{md}");
        assert!(md.contains("3.33% [1.3, 6.3]"), "{md}");
        assert!(md.contains("13.3x"), "{md}");
        assert!(md.contains("| :-----"), "{md}");
        assert!(md.contains("95% percentile bootstrap interval (1,000 resamples, seed 0)"));
        assert!(md.contains("- scores from the CRM export of 2025-03-01"));
        assert!(!md.contains("Relative lift"), "{md}");
        assert!(!md.contains("Calibration"), "{md}");
        // Every table line has the same width.
        let table: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(table.len(), 4);
        let w = table[0].chars().count();
        assert!(table.iter().all(|l| l.chars().count() == w), "{md}");
    }

    #[test]
    fn markdown_exact_rows_without_ci() {
        let cfg = EvalConfig {
            bootstrap: 0,
            ..EvalConfig::default()
        };
        let md = AuditReport::new("t", 3000, 90, cfg)
            .with_method(method("a|b", 0.5, [0.1, 0.05], false))
            .to_markdown();
        let expected = "\
| Method |    AUC | P@1% (k=30) | Lift@1% | P@10% (k=300) | Lift@10% |
| :----- | -----: | ----------: | ------: | ------------: | -------: |
| a\\|b   | 0.5000 |      10.00% |    3.3x |         5.00% |     1.7x |
";
        assert!(md.contains(expected), "{md}");
        assert!(!md.contains("Brackets"), "{md}");
    }

    #[test]
    fn relative_lift_row_only_when_requested() {
        let md = report().relative_to("recency").to_markdown();
        let row = md
            .lines()
            .find(|l| l.contains("Relative lift: model vs recency"))
            .expect("relative row");
        // AUC 0.78126 / 0.5123 − 1 = +52.5%; P@1% 0.4 / 0.0333 − 1 = +1101.2%; P@10% +150.0%.
        assert!(row.contains("+52.5%"), "{row}");
        assert!(row.contains("+1101.2%"), "{row}");
        assert!(row.contains("+150.0%"), "{row}");
        let md = report().relative_to("nobody").to_markdown();
        assert!(md.contains("Relative lift not shown: no method named `nobody`"));
    }

    #[test]
    fn calibration_and_partial_bootstrap_are_reported() {
        let mut m = method("model", 0.7, [0.2, 0.1], true);
        m.brier = Some(0.0281);
        m.ece = Some(0.004_56);
        m.bootstrap_used = 990;
        let md = report().with_method(m).to_markdown();
        assert!(md.contains("Calibration (10 equal-width bins)"), "{md}");
        assert!(md.contains("| model  | 0.0281 | 0.0046 |"), "{md}");
        assert!(md.contains("`model`: 990 of 1000 resamples used"), "{md}");
    }

    /// Equal up to float parsing (serde_json's default float parser may be 1 ulp off).
    fn json_close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        use serde_json::Value as V;
        match (a, b) {
            (V::Number(x), V::Number(y)) => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => (x - y).abs() <= 1e-15 * x.abs().max(1.0),
                _ => x == y,
            },
            (V::Array(x), V::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_close(x, y))
            }
            (V::Object(x), V::Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .all(|(k, v)| y.get(k).is_some_and(|w| json_close(v, w)))
            }
            _ => a == b,
        }
    }

    #[test]
    fn json_round_trips() {
        let r = report().relative_to("recency");
        let json = r.to_json().unwrap();
        assert!(json.contains("\n  \"title\": \"Audit: demo\""), "{json}");
        let back = AuditReport::from_json(&json).unwrap();
        assert_eq!(back.methods.len(), 2);
        assert_eq!(back.relative_to.as_deref(), Some("recency"));
        let a: serde_json::Value = serde_json::from_str(&json).unwrap();
        let b: serde_json::Value = serde_json::from_str(&back.to_json().unwrap()).unwrap();
        assert!(json_close(&a, &b), "{json}");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(fmt_trimmed(95.0), "95");
        assert_eq!(fmt_trimmed(97.5), "97.5");
    }
}
