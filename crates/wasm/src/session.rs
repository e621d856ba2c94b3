//! One loaded CSV and its scores: what the page ranks, explains, exports and audits. Pure Rust
//! (no JavaScript types), so it is tested natively; the bindings only convert.

use std::collections::BTreeMap;

use crate::queue::{queue_order, scoring_spec};
use leadladder_core::audit::{AuditOptions, ExternalScore, audit};
use leadladder_core::dataset::{Dataset, IngestOptions, Policy};
use leadladder_core::export::{grade_for_rank, write_queue_csv};
use leadladder_core::ingest::{RawRows, read_csv, read_csv_with_raw};
use leadladder_core::metrics::EvalConfig;
use leadladder_core::spec::{Role, Spec, normalize_name};
use leadladder_model::explain::format_factors;
use leadladder_model::{Factor, Score};
use serde::Serialize;

use crate::mapping::remap;
use crate::{Error, Result};

/// What `loadCsv` returns.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadReport {
    pub rows: usize,
    pub skipped: u64,
    pub skipped_reasons: Vec<String>,
    pub encoding: String,
    pub delimiter: String,
    pub header: Vec<String>,
    pub unused_columns: Vec<String>,
    pub has_outcomes: bool,
    pub formula_cells: u64,
}

/// One lead of the ranked queue.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RankedLead {
    pub index: usize,
    pub id: String,
    pub rank: usize,
    pub score: f32,
    pub p_convert: f32,
    pub grade: String,
}

/// Raw cells for display.
#[derive(Debug, Clone, Serialize)]
pub struct RowsView {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// One method's line in the audit panel.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditMethod {
    pub name: String,
    pub auc: f64,
    pub at_k: Vec<AuditAtK>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditAtK {
    pub k: f64,
    pub precision: f64,
    pub lift: f64,
    pub hits: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CurvePoint {
    pub k: f64,
    pub precision: f64,
    pub lift: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Curve {
    pub name: String,
    pub points: Vec<CurvePoint>,
}

/// What `audit` returns.
#[derive(Debug, Clone, Serialize)]
pub struct AuditResult {
    pub n: usize,
    pub positives: usize,
    pub methods: Vec<AuditMethod>,
    pub curve: Vec<Curve>,
}

/// Name of the model's line in the audit.
pub const MODEL_METHOD: &str = "score";

/// K values (percent) of the lift curve.
const CURVE_KS: [f64; 12] = [
    0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0,
];

/// A loaded file.
#[derive(Debug)]
pub struct Session {
    /// The file's own header (the export keeps it).
    header: Vec<String>,
    data: Dataset,
    raw: RawRows,
    /// The bytes ingest read (UTF-8 with the header renamed when a mapping was given).
    source: Vec<u8>,
    opts: IngestOptions,
    scores: Vec<Option<Score>>,
    reasons: Vec<Option<String>>,
    has_outcomes: bool,
}

fn policy(on_error: &str) -> Result<Policy> {
    match on_error {
        "strict" => Ok(Policy::Strict),
        "skip" => Ok(Policy::Skip),
        other => Err(Error::Input(format!(
            "onError must be \"strict\" or \"skip\", not {other:?}"
        ))),
    }
}

impl Session {
    /// Reads a CSV for scoring with the model's spec. `mapping` renames file columns to spec
    /// columns (`{ specColumn: csvColumn }`); `None` matches names as they are.
    pub fn load(
        spec: &Spec,
        bytes: &[u8],
        mapping: Option<&BTreeMap<String, String>>,
        on_error: &str,
    ) -> Result<(Self, LoadReport)> {
        let mut opts = IngestOptions {
            policy: policy(on_error)?,
            ..IngestOptions::default()
        };
        let (source, original_header, encoding) = match mapping {
            Some(m) => {
                let (utf8, header, encoding, delimiter) = remap(bytes, m, None)?;
                opts.encoding = Some("utf-8".into());
                opts.delimiter = Some(delimiter);
                (utf8, Some(header), Some(encoding))
            }
            None => (bytes.to_vec(), None, None),
        };
        let (data, raw) = read_csv_with_raw(&source, &scoring_spec(spec), &opts)?;
        let header = original_header.unwrap_or_else(|| raw.header.clone());
        let present: Vec<String> = raw.header.iter().map(|h| normalize_name(h)).collect();
        let outcome_cols: Vec<String> = spec
            .column_uses()
            .into_iter()
            .filter(|u| u.role == Role::Outcome)
            .map(|u| u.name)
            .collect();
        let has_outcomes = !outcome_cols.is_empty()
            && outcome_cols
                .iter()
                .all(|c| present.contains(&normalize_name(c)));
        let r = &data.report;
        let report = LoadReport {
            rows: data.leads.len(),
            skipped: r.rows_skipped,
            skipped_reasons: r.issues.iter().map(ToString::to_string).collect(),
            encoding: encoding.unwrap_or_else(|| r.encoding.clone()),
            delimiter: r.delimiter.to_string(),
            header: header.clone(),
            unused_columns: r.unused_columns.clone(),
            has_outcomes,
            formula_cells: r.formula_like_cells,
        };
        let n = data.leads.len();
        Ok((
            Self {
                header,
                data,
                raw,
                source,
                opts,
                scores: vec![None; n],
                reasons: vec![None; n],
                has_outcomes,
            },
            report,
        ))
    }

    /// Leads loaded.
    pub fn len(&self) -> usize {
        self.data.leads.len()
    }

    /// True when no lead was loaded.
    pub fn is_empty(&self) -> bool {
        self.data.leads.is_empty()
    }

    /// The loaded dataset (scoring columns only).
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    fn check_range(&self, start: usize, end: usize) -> Result<()> {
        if start > end || end > self.len() {
            return Err(Error::Input(format!(
                "lead range {start}..{end} is outside 0..{}",
                self.len()
            )));
        }
        Ok(())
    }

    /// Raw cells of leads `[start, end)`, with the file's header.
    pub fn rows(&self, start: usize, end: usize) -> Result<RowsView> {
        let end = end.min(self.len());
        self.check_range(start.min(end), end)?;
        let rows = (start.min(end)..end)
            .map(|i| {
                self.raw
                    .get(i)
                    .map(|cells| cells.map(str::to_string).collect())
                    .unwrap_or_default()
            })
            .collect();
        Ok(RowsView {
            header: self.header.clone(),
            rows,
        })
    }

    /// Encodes leads `[start, end)` with `encode`, shortest first (less padding per batch).
    pub fn encode_range(
        &self,
        start: usize,
        end: usize,
        encode: impl Fn(&leadladder_core::dataset::Lead) -> leadladder_model::Result<Vec<u32>>,
    ) -> Result<Vec<(usize, Vec<u32>)>> {
        self.check_range(start, end)?;
        let mut out = Vec::with_capacity(end - start);
        for i in start..end {
            out.push((i, encode(&self.data.leads[i])?));
        }
        out.sort_by_key(|(_, ids)| ids.len());
        Ok(out)
    }

    /// Stores scores for the given lead indices.
    pub fn set_scores(&mut self, indices: &[usize], scores: &[Score]) -> Result<()> {
        if indices.len() != scores.len() {
            return Err(Error::State("scores do not match the leads scored".into()));
        }
        for (&i, s) in indices.iter().zip(scores) {
            if !(s.rank.is_finite() && s.p_convert.is_finite()) {
                let lead = &self.data.leads[i];
                return Err(Error::State(format!(
                    "the model gave lead `{}` (row {}) a non-finite score",
                    lead.id, lead.row
                )));
            }
            *self
                .scores
                .get_mut(i)
                .ok_or_else(|| Error::Input(format!("no lead {i}")))? = Some(*s);
        }
        Ok(())
    }

    fn all_scores(&self) -> Result<Vec<Score>> {
        self.scores
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.ok_or_else(|| {
                    Error::State(format!(
                        "lead {i} (row {}) is not scored yet",
                        self.data.leads[i].row
                    ))
                })
            })
            .collect()
    }

    /// The ranked queue, best first.
    pub fn ranking(&self) -> Result<Vec<RankedLead>> {
        let scores = self.all_scores()?;
        let order = queue_order(&self.data.leads, &scores);
        let n = order.len();
        Ok(order
            .iter()
            .enumerate()
            .map(|(k, &i)| RankedLead {
                index: i,
                id: self.data.leads[i].id.to_string(),
                rank: k + 1,
                score: scores[i].rank,
                p_convert: scores[i].p_convert,
                grade: grade_for_rank(k + 1, n).as_str().to_string(),
            })
            .collect())
    }

    /// The lead at `index`, checked.
    pub fn lead(&self, index: usize) -> Result<&leadladder_core::dataset::Lead> {
        self.data
            .leads
            .get(index)
            .ok_or_else(|| Error::Input(format!("no lead {index} (the file has {})", self.len())))
    }

    /// Keeps a lead's reasons for the export.
    pub fn set_reasons(&mut self, index: usize, factors: &[Factor]) -> Result<()> {
        self.lead(index)?;
        self.reasons[index] = Some(format_factors(factors));
        Ok(())
    }

    /// The ranked CSV, byte for byte what `leadladder rank` writes for the same file, scores and
    /// explained leads.
    pub fn export_csv(&self) -> Result<String> {
        let scores = self.all_scores()?;
        let order = queue_order(&self.data.leads, &scores);
        let mut out = Vec::new();
        write_queue_csv(&mut out, &self.header, &self.raw, &order, |i| {
            (scores[i].rank, scores[i].p_convert, self.reasons[i].clone())
        })?;
        String::from_utf8(out).map_err(|e| Error::State(format!("export is not UTF-8: {e}")))
    }

    /// P@K of the model against recency, the hand tier sort and the file's existing score
    /// columns, on every loaded lead (no split): the numbers `leadladder audit --score score`
    /// gives on the exported CSV.
    pub fn audit(&self, spec: &Spec, k_percents: &[f64]) -> Result<AuditResult> {
        if !self.has_outcomes {
            return Err(Error::State(
                "this file has no outcome columns, so there is nothing to audit against".into(),
            ));
        }
        let scores = self.all_scores()?;
        let present: Vec<String> = self.raw.header.iter().map(|h| normalize_name(h)).collect();
        let mut audit_spec = spec.clone();
        audit_spec
            .columns
            .score
            .retain(|c| present.contains(&normalize_name(c)));
        let full = read_csv(&self.source, &audit_spec, &self.opts)?;
        let by_row: BTreeMap<u64, usize> = self
            .data
            .leads
            .iter()
            .enumerate()
            .map(|(i, l)| (l.row, i))
            .collect();
        let mut model = Vec::with_capacity(full.leads.len());
        let mut probs = Vec::with_capacity(full.leads.len());
        for lead in &full.leads {
            let i = by_row.get(&lead.row).ok_or_else(|| {
                Error::State(format!(
                    "lead `{}` (row {}) has outcomes but was not scored",
                    lead.id, lead.row
                ))
            })?;
            model.push(f64::from(scores[*i].rank));
            probs.push(f64::from(scores[*i].p_convert));
        }
        let mut ks: Vec<f64> = k_percents.to_vec();
        for k in CURVE_KS {
            if !ks.contains(&k) {
                ks.push(k);
            }
        }
        let opts = AuditOptions {
            eval: EvalConfig {
                k_percents: ks,
                bootstrap: 0,
                ..EvalConfig::default()
            },
            external: vec![ExternalScore {
                name: MODEL_METHOD.into(),
                scores: model,
                probs: Some(probs),
            }],
            title: "Audit of the loaded file".into(),
            ..AuditOptions::default()
        };
        let report = audit(&audit_spec, &full, &opts)?;
        let methods = report
            .methods
            .iter()
            .map(|m| AuditMethod {
                name: m.name.clone(),
                auc: m.auc.value,
                at_k: m
                    .at_k
                    .iter()
                    .filter(|a| k_percents.contains(&a.k_percent))
                    .map(|a| AuditAtK {
                        k: a.k_percent,
                        precision: a.precision.value,
                        lift: a.lift,
                        hits: a.hits,
                    })
                    .collect(),
            })
            .collect();
        let curve = report
            .methods
            .iter()
            .map(|m| {
                let mut points: Vec<CurvePoint> = m
                    .at_k
                    .iter()
                    .filter(|a| CURVE_KS.contains(&a.k_percent))
                    .map(|a| CurvePoint {
                        k: a.k_percent,
                        precision: a.precision.value,
                        lift: a.lift,
                    })
                    .collect();
                points.sort_by(|a, b| a.k.total_cmp(&b.k));
                Curve {
                    name: m.name.clone(),
                    points,
                }
            })
            .collect();
        Ok(AuditResult {
            n: report.n,
            positives: report.positives,
            methods,
            curve,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use leadladder_synth::{SynthConfig, write_csv};

    fn fixture(leads: usize) -> (Spec, Vec<u8>) {
        let spec = Spec::from_toml(leadladder_synth::spec_toml()).unwrap();
        let mut csv = Vec::new();
        let cfg = SynthConfig {
            leads,
            seed: 11,
            ..SynthConfig::default()
        };
        write_csv(&cfg, &mut csv, |_| {}).unwrap();
        (spec, csv)
    }

    /// A stand-in score per lead (the session never looks inside the model).
    fn fake(i: usize) -> Score {
        let r = ((i * 37) % 101) as f32 / 10.0 - 5.0;
        Score {
            rank: r,
            logit: r,
            p_convert: 1.0 / (1.0 + (-r).exp()),
        }
    }

    fn scored(spec: &Spec, csv: &[u8]) -> Session {
        let (mut s, report) = Session::load(spec, csv, None, "strict").unwrap();
        assert_eq!(report.rows, s.len());
        assert!(report.has_outcomes);
        let idx: Vec<usize> = (0..s.len()).collect();
        let scores: Vec<Score> = idx.iter().map(|&i| fake(i)).collect();
        s.set_scores(&idx, &scores).unwrap();
        s
    }

    #[test]
    fn ranking_is_best_first_with_grades() {
        let (spec, csv) = fixture(120);
        let s = scored(&spec, &csv);
        let ranked = s.ranking().unwrap();
        assert_eq!(ranked.len(), 120);
        for w in ranked.windows(2) {
            assert!(w[0].score >= w[1].score);
            assert_eq!(w[1].rank, w[0].rank + 1);
        }
        assert_eq!(ranked[0].grade, "A");
        assert_eq!(ranked[119].grade, "D");
        let mut seen: Vec<usize> = ranked.iter().map(|r| r.index).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..120).collect::<Vec<_>>());
    }

    #[test]
    fn unscored_leads_block_ranking_and_export() {
        let (spec, csv) = fixture(30);
        let (mut s, _) = Session::load(&spec, &csv, None, "strict").unwrap();
        s.set_scores(&[0, 1], &[fake(0), fake(1)]).unwrap();
        let err = s.ranking().unwrap_err().to_string();
        assert!(
            err.contains("lead 2") && err.contains("not scored"),
            "{err}"
        );
        assert!(s.export_csv().is_err());
        assert!(s.rows(0, 5).unwrap().rows.len() == 5);
        assert!(s.encode_range(3, 2, |_| Ok(vec![])).is_err());
        assert!(s.set_scores(&[0], &[]).is_err());
    }

    #[test]
    fn export_keeps_the_file_columns_and_adds_the_ranking() {
        let (spec, csv) = fixture(40);
        let s = scored(&spec, &csv);
        let out = s.export_csv().unwrap();
        let mut lines = out.lines();
        let header = lines.next().unwrap();
        assert!(header.starts_with("lead_id,created_at,"), "{header}");
        for col in ["rank", "score", "p_convert", "grade"] {
            assert!(header.split(',').any(|h| h == col), "{header}");
        }
        let first_id = &s.ranking().unwrap()[0].id;
        assert!(lines.next().unwrap().starts_with(first_id.as_str()));
        // Dialogue cells hold newlines: count CSV records, not lines.
        let records = csv::Reader::from_reader(out.as_bytes()).records().count();
        assert_eq!(records, 40);
    }

    #[test]
    fn audit_names_the_model_score_and_echoes_k() {
        let (spec, csv) = fixture(300);
        let s = scored(&spec, &csv);
        let ks = [1.0, 5.0, 12.5];
        let a = s.audit(&spec, &ks).unwrap();
        assert_eq!(a.n, 300);
        let model = a.methods.iter().find(|m| m.name == MODEL_METHOD).unwrap();
        let got: Vec<f64> = model.at_k.iter().map(|x| x.k).collect();
        assert_eq!(got, ks.to_vec());
        // hits at 12.5% are counted among the top ceil(0.125 · 300) = 38 leads.
        assert!(model.at_k[2].hits <= 38);
        assert!(
            a.methods.len() >= 3,
            "model, recency and the tier sort at least"
        );
        assert!(a.curve.iter().all(|c| !c.points.is_empty()));
    }

    #[test]
    fn a_mapping_renames_columns_before_ingest_and_export_keeps_the_file_header() {
        let (spec, csv) = fixture(20);
        let text = String::from_utf8(csv).unwrap();
        let renamed = text.replacen("channel", "Source", 1);
        assert!(Session::load(&spec, renamed.as_bytes(), None, "strict").is_err());
        let mut m = BTreeMap::new();
        m.insert("channel".to_string(), "Source".to_string());
        let (s, report) = Session::load(&spec, renamed.as_bytes(), Some(&m), "strict").unwrap();
        assert_eq!(report.rows, 20);
        assert!(report.header.iter().any(|h| h == "Source"));
        assert!(Session::load(&spec, renamed.as_bytes(), Some(&m), "lenient").is_err());
        drop(s);
    }
}
