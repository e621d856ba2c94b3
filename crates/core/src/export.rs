//! The ranked queue as a CSV a sales team opens in a spreadsheet: every input column as it was
//! read, then `rank`, `score`, `p_convert`, `grade` and `reasons`.
//!
//! Three promises:
//! - **No formula injection.** A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage
//!   return gets a leading `'` ([`sanitize_cell`]), header cells included, so a spreadsheet shows
//!   it as text instead of evaluating it.
//! - **No data overwritten.** When the input already has a column called e.g. `rank`, the new one
//!   is named `rank_leadladder` (then `rank_leadladder_2`, …), compared the way headers are
//!   matched everywhere ([`normalize_name`]).
//! - **Deterministic bytes.** Comma-separated, `\n` line ends, quoted only where needed, floats in
//!   the shortest form that parses back to the same `f32`.

use std::borrow::Cow;
use std::io::Write;

use crate::error::{Error, Result};
use crate::ingest::RawRows;
use crate::spec::normalize_name;

/// Characters that make a spreadsheet treat a cell as a formula (or hide its start).
pub const DANGEROUS_PREFIXES: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// The columns appended to every output row, in order.
pub const EXTRA_COLUMNS: [&str; 5] = ["rank", "score", "p_convert", "grade", "reasons"];

/// Suffix for an appended column whose name the input already uses.
pub const COLLISION_SUFFIX: &str = "_leadladder";

/// Prefixes `'` to a cell that a spreadsheet would evaluate as a formula: one that starts with
/// `=`, `+`, `-`, `@`, a tab or a carriage return. Other cells are borrowed unchanged.
///
/// This also quotes negative numbers (`-3` becomes `'-3`): a spreadsheet shows them as text,
/// which is the price of never running `-2+3+cmd|' /C calc'!A0`.
pub fn sanitize_cell(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(DANGEROUS_PREFIXES) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A letter for a lead's place in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grade {
    /// The top 5% of the file.
    A,
    /// The next 15% (down to 20%).
    B,
    /// The next 30% (down to 50%).
    C,
    /// The rest.
    D,
}

impl Grade {
    /// `"A"`, `"B"`, `"C"` or `"D"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::A => "A",
            Grade::B => "B",
            Grade::C => "C",
            Grade::D => "D",
        }
    }
}

impl std::fmt::Display for Grade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `ceil(n * percent / 100)` without overflow.
fn ceil_percent(n: usize, percent: u128) -> u128 {
    (n as u128 * percent).div_ceil(100)
}

/// The grade of the lead at 1-based `rank` among `n` leads.
///
/// Cut-offs are cumulative and rounded up, so every non-empty file has at least one A: rank `r`
/// is A when `r <= ceil(0.05 n)`, B when `r <= ceil(0.20 n)`, C when `r <= ceil(0.50 n)`, else D.
/// For `n = 1` the only lead is A; for `n = 10`: ranks 1 A, 2 B, 3–5 C, 6–10 D; for `n = 100`:
/// 1–5 A, 6–20 B, 21–50 C, 51–100 D. A rank of 0 counts as 1; a rank beyond `n` is D.
pub fn grade_for_rank(rank: usize, n: usize) -> Grade {
    let r = rank.max(1) as u128;
    if r > n as u128 {
        Grade::D
    } else if r <= ceil_percent(n, 5) {
        Grade::A
    } else if r <= ceil_percent(n, 20) {
        Grade::B
    } else if r <= ceil_percent(n, 50) {
        Grade::C
    } else {
        Grade::D
    }
}

/// What the ranker adds to one input row.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedExtra {
    /// 1-based place in the queue.
    pub rank: usize,
    /// The ranking head's score (higher ranks first).
    pub score: f32,
    /// The calibrated probability of conversion.
    pub p_convert: f32,
    pub grade: Grade,
    /// Why the model ranked it here (only for the leads that were explained).
    pub reasons: Option<String>,
}

/// Names of the appended columns, suffixed where `header` already uses the name.
///
/// Names are compared with [`normalize_name`] (`Rank`, ` rank ` and `RANK` all collide with
/// `rank`), against the input header and against each other.
pub fn extra_column_names(header: &[String]) -> [String; 5] {
    let mut taken: Vec<String> = header.iter().map(|h| normalize_name(h)).collect();
    EXTRA_COLUMNS.map(|base| {
        let mut name = base.to_string();
        let mut k = 1;
        while taken.contains(&normalize_name(&name)) {
            name = if k == 1 {
                format!("{base}{COLLISION_SUFFIX}")
            } else {
                format!("{base}{COLLISION_SUFFIX}_{k}")
            };
            k += 1;
        }
        taken.push(normalize_name(&name));
        name
    })
}

/// Writes a ranked queue with [`write_ranked_csv`]: `order` lists indices into `raw` best first;
/// the k-th gets rank k + 1, the grade of that rank among `order.len()` leads, and what
/// `lead(i)` returns for its input index: `(score, p_convert, reasons)`. The one row loop behind
/// `leadladder rank` and the page's export, so both write the same bytes.
///
/// # Errors
///
/// As [`write_ranked_csv`]; an index with no raw row is written as an empty row, which fails
/// naming the output row.
pub fn write_queue_csv<W, F>(
    w: W,
    header: &[String],
    raw: &RawRows,
    order: &[usize],
    lead: F,
) -> Result<u64>
where
    W: Write,
    F: FnMut(usize) -> (f32, f32, Option<String>),
{
    write_queue_csv_part(w, header, raw, order, 0..order.len(), lead)
}

/// Part of [`write_queue_csv`]'s output: the header line when `part` starts at 0, then the rows
/// of queue positions `part` (clamped to `order`). Writing `0..a`, `a..b`, ... `..order.len()`
/// one after another gives exactly the bytes of [`write_queue_csv`], a part at a time (for an
/// export that streams). Returns the rows written.
///
/// # Errors
///
/// As [`write_queue_csv`].
pub fn write_queue_csv_part<W, F>(
    w: W,
    header: &[String],
    raw: &RawRows,
    order: &[usize],
    part: std::ops::Range<usize>,
    mut lead: F,
) -> Result<u64>
where
    W: Write,
    F: FnMut(usize) -> (f32, f32, Option<String>),
{
    let n = order.len();
    let end = part.end.min(n);
    let start = part.start.min(end);
    let mut out = if start == 0 {
        RankedWriter::new(w, header)?
    } else {
        RankedWriter::resuming(w, header, start as u64)
    };
    for (k, &i) in order.iter().enumerate().take(end).skip(start) {
        let (score, p_convert, reasons) = lead(i);
        let extra = RankedExtra {
            rank: k + 1,
            score,
            p_convert,
            grade: grade_for_rank(k + 1, n),
            reasons,
        };
        match raw.get(i) {
            Some(cells) => out.row(cells.iter(), &extra)?,
            None => out.row(std::iter::empty::<&str>(), &extra)?,
        }
    }
    Ok(out.finish()? - start as u64)
}

/// Writes the ranked queue: `header` (names without a leading byte-order mark) then one line per
/// row, each input cell sanitized, followed
/// by `rank, score, p_convert, grade, reasons` (names from [`extra_column_names`]).
///
/// `rows` yields each row's raw cells as read and what the ranker adds, in the order they are to
/// be written (rank order). A row may carry blank cells past the header's width (a trailing
/// delimiter); they are dropped. Returns the number of data rows written.
///
/// # Errors
///
/// [`Error::Export`] naming the output row when a row has fewer cells than the header, or a
/// non-blank cell beyond it (its data would have no column); [`Error::Io`] when writing fails.
pub fn write_ranked_csv<W, I, C, S>(w: W, header: &[String], rows: I) -> Result<u64>
where
    W: Write,
    I: IntoIterator<Item = (C, RankedExtra)>,
    C: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = RankedWriter::new(w, header)?;
    for (cells, extra) in rows {
        out.row(cells, &extra)?;
    }
    out.finish()
}

/// [`write_ranked_csv`] a row at a time, for a writer whose rows come from somewhere that can
/// fail (e.g. a file of rows read back in rank order): the same bytes.
#[derive(Debug)]
pub struct RankedWriter<W: Write> {
    out: csv::Writer<W>,
    header: Vec<String>,
    width: usize,
    line: Vec<String>,
    written: u64,
}

impl<W: Write> RankedWriter<W> {
    /// Writes the header line.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when writing fails.
    pub fn new(w: W, header: &[String]) -> Result<Self> {
        let mut me = Self::resuming(w, header, 0);
        let line = &mut me.line;
        // A byte-order mark is never part of a name (ingest drops it too), and a reader would
        // take one at the start of the file for the file's own.
        line.extend(
            header
                .iter()
                .map(|h| sanitize_cell(h.trim_start_matches('\u{feff}')).into_owned()),
        );
        line.extend(
            extra_column_names(header)
                .iter()
                .map(|h| sanitize_cell(h).into_owned()),
        );
        me.out.write_record(&me.line).map_err(|e| csv_error(e, 0))?;
        Ok(me)
    }

    /// A writer that goes on after `written` rows another writer wrote (no header line), for
    /// an output written a part at a time.
    pub fn resuming(w: W, header: &[String], written: u64) -> Self {
        let out = csv::WriterBuilder::new()
            .has_headers(false)
            .flexible(false)
            .from_writer(w);
        Self {
            out,
            header: header.to_vec(),
            width: header.len(),
            line: Vec::with_capacity(header.len() + EXTRA_COLUMNS.len()),
            written,
        }
    }

    /// Writes the next row: its raw cells as read, then what the ranker adds.
    ///
    /// # Errors
    ///
    /// As [`write_ranked_csv`].
    pub fn row<C, S>(&mut self, cells: C, extra: &RankedExtra) -> Result<()>
    where
        C: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let row = self.written + 1;
        let width = self.width;
        let line = &mut self.line;
        line.clear();
        for (i, cell) in cells.into_iter().enumerate() {
            let cell = cell.as_ref();
            if i < width {
                line.push(sanitize_cell(cell).into_owned());
            } else if !cell.trim().is_empty() {
                return Err(Error::Export {
                    row,
                    reason: format!(
                        "cell {} ({:?}) lies beyond the header's {width} columns",
                        i + 1,
                        shorten(cell)
                    ),
                });
            }
        }
        if line.len() < width {
            return Err(Error::Export {
                row,
                reason: format!(
                    "{} cells, the header has {width} columns{}",
                    line.len(),
                    self.header
                        .get(line.len())
                        .map(|h| format!(" (first missing: `{h}`)"))
                        .unwrap_or_default()
                ),
            });
        }
        line.push(extra.rank.to_string());
        line.push(extra.score.to_string());
        line.push(extra.p_convert.to_string());
        line.push(extra.grade.as_str().to_string());
        line.push(
            extra
                .reasons
                .as_deref()
                .map(|r| sanitize_cell(r).into_owned())
                .unwrap_or_default(),
        );
        self.out
            .write_record(&*line)
            .map_err(|e| csv_error(e, row))?;
        self.written += 1;
        Ok(())
    }

    /// Flushes; returns the number of data rows written.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when writing fails.
    pub fn finish(mut self) -> Result<u64> {
        self.out.flush()?;
        Ok(self.written)
    }
}

fn csv_error(e: csv::Error, row: u64) -> Error {
    if e.is_io_error() {
        match e.into_kind() {
            csv::ErrorKind::Io(io) => Error::Io(io),
            other => Error::Export {
                row,
                reason: format!("{other:?}"),
            },
        }
    } else {
        Error::Export {
            row,
            reason: e.to_string(),
        }
    }
}

fn shorten(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", s.get(..end).unwrap_or_default()),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use proptest::prelude::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn extra(rank: usize, score: f32) -> RankedExtra {
        RankedExtra {
            rank,
            score,
            p_convert: 0.25,
            grade: grade_for_rank(rank, 3),
            reasons: None,
        }
    }

    fn read_back(bytes: &[u8]) -> Vec<Vec<String>> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes)
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn sanitizes_every_dangerous_prefix() {
        for s in ["=1+2", "+1", "-3.5", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(sanitize_cell(s), format!("'{s}"));
        }
        for s in ["", "a=b", " =x", "1-2", "'=x", "试驾"] {
            assert!(matches!(sanitize_cell(s), Cow::Borrowed(_)), "{s:?}");
        }
    }

    #[test]
    fn grades_follow_the_documented_cutoffs() {
        assert_eq!(grade_for_rank(1, 1), Grade::A);
        let ten: String = (1..=10).map(|r| grade_for_rank(r, 10).as_str()).collect();
        assert_eq!(ten, "ABCCCDDDDD");
        let count = |g: Grade| (1..=100).filter(|&r| grade_for_rank(r, 100) == g).count();
        assert_eq!(
            [Grade::A, Grade::B, Grade::C, Grade::D].map(count),
            [5, 15, 30, 50]
        );
        // 21 leads: ceil(1.05) = 2 A, ceil(4.2) = 5, ceil(10.5) = 11.
        let g21: String = (1..=21).map(|r| grade_for_rank(r, 21).as_str()).collect();
        assert_eq!(g21, "AABBBCCCCCCDDDDDDDDDD");
        assert_eq!(grade_for_rank(0, 10), Grade::A);
        assert_eq!(grade_for_rank(11, 10), Grade::D);
        assert_eq!(grade_for_rank(usize::MAX, usize::MAX), Grade::D);
        assert_eq!(grade_for_rank(1, usize::MAX), Grade::A);
    }

    #[test]
    fn colliding_columns_get_a_suffix() {
        let names = extra_column_names(&strings(&["id", "Rank", "grade_leadladder", "grade"]));
        assert_eq!(
            names,
            [
                "rank_leadladder",
                "score",
                "p_convert",
                "grade_leadladder_2",
                "reasons"
            ]
        );
    }

    #[test]
    fn writes_every_column_and_the_extras() {
        let header = strings(&["id", "=note", "rank"]);
        let rows = vec![
            (strings(&["b", "-2", "7"]), extra(1, 1.5)),
            (strings(&["a", "x,y\n\"z\"", ""]), extra(2, -0.1)),
            (strings(&["c", "@x", "1", "", " "]), {
                let mut e = extra(3, f32::MIN_POSITIVE);
                e.reasons = Some("=turn 3 (+0.41)".into());
                e
            }),
        ];
        let mut buf = Vec::new();
        let n = write_ranked_csv(&mut buf, &header, rows).unwrap();
        assert_eq!(n, 3);
        let back = read_back(&buf);
        assert_eq!(
            back[0],
            strings(&[
                "id",
                "'=note",
                "rank",
                "rank_leadladder",
                "score",
                "p_convert",
                "grade",
                "reasons"
            ])
        );
        assert_eq!(
            back[1],
            strings(&["b", "'-2", "7", "1", "1.5", "0.25", "A", ""])
        );
        assert_eq!(back[2][1], "x,y\n\"z\"");
        assert_eq!(back[2][4], "-0.1");
        assert_eq!(back[3][4].parse::<f32>().unwrap(), f32::MIN_POSITIVE);
        assert_eq!(back[3][7], "'=turn 3 (+0.41)");
        assert_eq!(back[3].len(), 8);
        // The same input gives the same bytes.
        let mut again = Vec::new();
        write_ranked_csv(
            &mut again,
            &header,
            vec![
                (strings(&["b", "-2", "7"]), extra(1, 1.5)),
                (strings(&["a", "x,y\n\"z\"", ""]), extra(2, -0.1)),
                (strings(&["c", "@x", "1", "", " "]), {
                    let mut e = extra(3, f32::MIN_POSITIVE);
                    e.reasons = Some("=turn 3 (+0.41)".into());
                    e
                }),
            ],
        )
        .unwrap();
        assert_eq!(buf, again);
        assert!(!buf.contains(&b'\r'));
    }

    #[test]
    fn rejects_rows_that_do_not_fit_the_header() {
        let header = strings(&["id", "name"]);
        let short = vec![(strings(&["a"]), extra(1, 0.0))];
        let e = write_ranked_csv(Vec::new(), &header, short).unwrap_err();
        assert!(matches!(e, Error::Export { row: 1, .. }), "{e}");
        assert!(e.to_string().contains("`name`"), "{e}");
        let long = vec![
            (strings(&["a", "b"]), extra(1, 0.0)),
            (strings(&["a", "b", "data"]), extra(2, 0.0)),
        ];
        let e = write_ranked_csv(Vec::new(), &header, long).unwrap_err();
        assert!(matches!(e, Error::Export { row: 2, .. }), "{e}");
        assert!(e.to_string().contains("data"), "{e}");
    }

    #[test]
    fn raw_rows_match_the_loaded_leads() {
        use crate::ingest::{read_csv, read_csv_with_raw};
        use crate::{IngestOptions, Policy, Spec};
        let spec = Spec::from_toml(
            "name = \"t\"\n[columns]\nid = \"id\"\ncreated_at = \"at\"\n\
             numeric = [\"n\"]\n[label]\ncolumn = \"won\"\nequals = true\n",
        )
        .unwrap();
        let csv = "\u{feff}id;at;n;won;note\n\
                   a;2025-01-01;1;true; =x \n\
                   ;;;;\n\
                   b;2025-01-02;oops;false;bad\n\
                   c;2025-01-03;3;false;\"multi\nline\";\n";
        let opts = IngestOptions {
            policy: Policy::Skip,
            ..IngestOptions::default()
        };
        let (ds, raw) = read_csv_with_raw(csv.as_bytes(), &spec, &opts).unwrap();
        assert_eq!(raw.header, strings(&["id", "at", "n", "won", "note"]));
        assert_eq!(ds.leads.len(), 2);
        assert_eq!(raw.len(), 2);
        let cells: Vec<Vec<String>> = (0..2)
            .map(|i| raw.get(i).unwrap().iter().map(str::to_string).collect())
            .collect();
        assert_eq!(cells[0], vec!["a", "2025-01-01", "1", "true", " =x "]);
        assert_eq!(
            cells[1],
            vec!["c", "2025-01-03", "3", "false", "multi\nline", ""]
        );
        assert_eq!(&*ds.leads[1].id, "c");
        assert!(raw.get(2).is_none());
        // The plain reader loads the same leads.
        assert_eq!(
            read_csv(csv.as_bytes(), &spec, &opts).unwrap().leads,
            ds.leads
        );
        // And the export keeps the trailing blank cell out of the output.
        let rows = (0..2).map(|i| (cells[i].clone(), extra(i + 1, 0.5)));
        let mut buf = Vec::new();
        write_ranked_csv(&mut buf, &raw.header, rows).unwrap();
        let back = read_back(&buf);
        assert_eq!(back[1][4], " =x ");
        assert_eq!(back[2].len(), 10);
    }

    proptest! {
        #[test]
        fn sanitized_cells_never_start_dangerously(s in ".*") {
            let out = sanitize_cell(&s);
            prop_assert!(!out.starts_with(DANGEROUS_PREFIXES));
            let quoted = format!("'{s}");
            prop_assert!(out == s || out == quoted);
        }

        #[test]
        fn round_trips_through_the_csv_reader(
            header in proptest::collection::vec("[^\u{0}]{0,8}", 1..5),
            cells in proptest::collection::vec(proptest::collection::vec("[^\u{0}]{0,12}", 4), 0..6),
            scores in proptest::collection::vec(any::<f32>().prop_filter("finite", |x| x.is_finite()), 6),
        ) {
            let width = header.len();
            let rows: Vec<(Vec<String>, RankedExtra)> = cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let mut c = c.clone();
                    c.resize(width, String::new());
                    (c, RankedExtra {
                        rank: i + 1,
                        score: scores[i],
                        p_convert: scores[i].abs().min(1.0),
                        grade: grade_for_rank(i + 1, cells.len()),
                        reasons: (i % 2 == 0).then(|| format!("-x {i}")),
                    })
                })
                .collect();
            let mut buf = Vec::new();
            let n = write_ranked_csv(&mut buf, &header, rows.clone()).unwrap();
            prop_assert_eq!(n as usize, rows.len());
            let back = read_back(&buf);
            prop_assert_eq!(back.len(), rows.len() + 1);
            for (i, cell) in back[0].iter().take(width).enumerate() {
                let name = header[i].trim_start_matches('\u{feff}');
                prop_assert_eq!(cell, &sanitize_cell(name).into_owned());
            }
            for (line, (raw, extra)) in back[1..].iter().zip(&rows) {
                prop_assert_eq!(line.len(), width + EXTRA_COLUMNS.len());
                for (got, want) in line.iter().zip(raw) {
                    prop_assert!(!got.starts_with(DANGEROUS_PREFIXES));
                    prop_assert_eq!(got, &sanitize_cell(want).into_owned());
                }
                prop_assert_eq!(line[width].parse::<usize>().unwrap(), extra.rank);
                prop_assert_eq!(line[width + 1].parse::<f32>().unwrap(), extra.score);
                prop_assert_eq!(line[width + 2].parse::<f32>().unwrap(), extra.p_convert);
                prop_assert_eq!(&line[width + 3], extra.grade.as_str());
            }
        }
    }
}
