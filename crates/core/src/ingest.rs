//! CSV ingest: bytes from a CRM export in, typed [`Lead`]s out.
//!
//! The pipeline is decode ([`decode`]: BOM, UTF-16, UTF-8, else GB18030) → delimiter
//! ([`sniff_delimiter`] or forced) → header matching against the spec (tolerant, see
//! [`normalize_name`]) → one typed [`Lead`] per data row. Every problem names the row, the physical
//! line, the column, the value and the reason; under [`Policy::Skip`] bad rows are counted in the
//! [`IngestReport`] instead. No input makes this module panic, and nothing here needs threads or a
//! file system (except [`read_csv_path`]), so it builds for `wasm32-unknown-unknown`.

use std::borrow::Cow;

use encoding_rs::{DecoderResult, Encoding, GB18030, UTF_8, UTF_16BE, UTF_16LE};

use crate::dataset::{
    Column, Dataset, IngestOptions, IngestReport, Lead, MAX_REPORTED_ISSUES, Policy, Schema,
};
use serde::Serialize;

use crate::drift::{DriftChecker, DriftProfile, DriftReport};
use crate::error::{Error, Result, RowIssue};
use crate::mapping;
use crate::spec::{CellKind, Role, Spec, normalize_name};
use crate::value::{Value, parse_bool, parse_number, parse_timestamp};

mod ids;
mod stream;

pub use ids::LeadIds;
pub use stream::{LeadReader, ReadSummary};

/// Delimiters [`sniff_delimiter`] chooses among, in tie-break priority order.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];
/// Logical lines (outside quotes) [`sniff_delimiter`] looks at.
const SNIFF_LINES: usize = 20;
/// Bytes [`sniff_delimiter`] looks at, at most.
const SNIFF_BYTES: usize = 1 << 16;
/// Longest value quoted in a [`RowIssue`], in characters.
const MAX_VALUE_CHARS: usize = 80;

/// Reads a CRM export from a file. See [`read_csv`]; I/O errors name the path.
pub fn read_csv_path(path: &std::path::Path, spec: &Spec, opts: &IngestOptions) -> Result<Dataset> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    })?;
    read_csv(&bytes, spec, opts)
}

/// Reads a CRM export held in memory into a [`Dataset`] shaped by `spec`.
///
/// The schema lists the spec's columns in [`Spec::column_uses`] order, then `opts.extra_scores`
/// (as numeric scores). Rows whose cells are all blank (`,,,,`) are not data rows; they are counted
/// in [`IngestReport::blank_rows`]. A row longer than the header is accepted when every extra cell
/// is blank (a trailing delimiter).
///
/// # Errors
///
/// [`Error::Encoding`] for undecodable bytes, [`Error::Empty`], [`Error::Header`] (a used column
/// appears twice), [`Error::MissingColumns`], [`Error::HeaderOnly`]; under [`Policy::Strict`]
/// [`Error::Row`] for the first bad row, under [`Policy::Skip`] [`Error::NoUsableRows`] when
/// every row was bad. [`Error::InvalidArgument`] for an unusable forced delimiter.
pub fn read_csv(bytes: &[u8], spec: &Spec, opts: &IngestOptions) -> Result<Dataset> {
    read(bytes, spec, opts, false).map(|(ds, _)| ds)
}

/// The input's own cells, kept beside a [`Dataset`] for writers that reproduce every column
/// (the ranked CSV export): the file's own header as [`read_header`] returns it (a column
/// mapping does not change it) and, for each loaded lead in order, its record exactly as the CSV
/// reader split it (cells untrimmed, all columns, used by the spec or not).
///
/// A batch reader keeps the records themselves ([`read_csv_with_raw`], [`LeadReader`]); a file
/// held whole keeps its decoded text once and where each record lies in it
/// ([`read_csv_keeping_text`]), splitting a record again when it is asked for.
#[derive(Debug, Clone, Default)]
pub struct RawRows {
    pub header: Vec<String>,
    store: RawStore,
}

#[derive(Debug, Clone)]
enum RawStore {
    Records(Vec<csv::StringRecord>),
    /// `text[start..end]` is the k-th loaded lead's record (with its line break).
    Spans {
        text: String,
        delimiter: u8,
        spans: Vec<(usize, usize)>,
    },
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore::Records(Vec::new())
    }
}

impl RawRows {
    /// The cells of the `i`-th loaded lead (`dataset.leads[i]`).
    pub fn get(&self, i: usize) -> Option<Cow<'_, csv::StringRecord>> {
        match &self.store {
            RawStore::Records(records) => records.get(i).map(Cow::Borrowed),
            RawStore::Spans {
                text,
                delimiter,
                spans,
            } => {
                let &(start, end) = spans.get(i)?;
                let record = text.get(start..end)?;
                // Split as the read split it (the same settings), with a buffer sized to the record.
                let mut reader = csv_reader_builder(*delimiter)
                    .buffer_capacity(record.len().clamp(64, 1 << 16))
                    .from_reader(record.as_bytes());
                let mut out = csv::StringRecord::new();
                // The text was split this way once already, so this cannot fail or find nothing.
                match reader.read_record(&mut out) {
                    Ok(true) => Some(Cow::Owned(out)),
                    _ => None,
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        match &self.store {
            RawStore::Records(records) => records.len(),
            RawStore::Spans { spans, .. } => spans.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The decoded text of the whole file, when the rows are kept as places in it
    /// ([`read_csv_keeping_text`]).
    pub fn text(&self) -> Option<&str> {
        match &self.store {
            RawStore::Records(_) => None,
            RawStore::Spans { text, .. } => Some(text),
        }
    }

    /// Forgets the records (the header stays); for a reader that reuses one `RawRows` per batch.
    pub fn clear(&mut self) {
        match &mut self.store {
            RawStore::Records(records) => records.clear(),
            RawStore::Spans { spans, .. } => spans.clear(),
        }
    }

    fn push_record(&mut self, record: &csv::StringRecord) {
        if let RawStore::Records(records) = &mut self.store {
            records.push(record.clone());
        }
    }
}

/// [`read_csv`] that also keeps each loaded lead's raw cells, parallel to `Dataset::leads`
/// (skipped rows keep nothing). Costs about the decoded file's size in memory.
///
/// # Errors
///
/// As [`read_csv`].
pub fn read_csv_with_raw(
    bytes: &[u8],
    spec: &Spec,
    opts: &IngestOptions,
) -> Result<(Dataset, RawRows)> {
    read(bytes, spec, opts, true)
}

/// A file read to be held once ([`read_csv_keeping_text`]): its decoded text with each loaded
/// lead's place in it, what the queue order needs of each lead, and the parser that turns a
/// lead's record back into the [`Lead`] the read made of it.
#[derive(Debug)]
pub struct TextRead {
    /// The file's text and the places of the loaded leads' records.
    pub raw: RawRows,
    /// Per loaded lead, in order.
    pub keys: Vec<LeadKey>,
    pub parser: LeadParser,
    pub report: IngestReport,
}

/// What a queue keeps of a lead besides its record: what the order needs, and its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadKey {
    pub id: Box<str>,
    /// As [`Lead::created_at`].
    pub created_at: i64,
    /// As [`Lead::row`].
    pub row: u64,
}

/// [`read_csv_with_raw`] for a file handed over whole, to be held once: the bytes become the
/// decoded text (valid UTF-8 is kept where it is, without a copy; other encodings are decoded
/// once and the bytes dropped), each loaded lead is kept as its place in that text and its key,
/// and [`TextRead::parser`] turns a record back into its lead when it is needed. So the file is
/// held once rather than as bytes, a copy of every record and every parsed lead.
/// [`RawRows::text`] gives the text back (for a second read, e.g. of the outcome columns, as
/// UTF-8).
///
/// # Errors
///
/// As [`read_csv`].
pub fn read_csv_keeping_text(
    bytes: Vec<u8>,
    spec: &Spec,
    opts: &IngestOptions,
) -> Result<TextRead> {
    read_csv_keeping_text_checked(bytes, spec, opts, None).map(|(read, _)| read)
}

/// [`read_csv_keeping_text`] that also compares every loaded lead with a drift profile as it
/// is read, so the check costs no second pass over the file. The report is `None` without a
/// profile.
///
/// # Errors
///
/// As [`read_csv`]; [`Error::Drift`] when the file's columns lack a field of the profile.
pub fn read_csv_keeping_text_checked(
    bytes: Vec<u8>,
    spec: &Spec,
    opts: &IngestOptions,
    profile: Option<&DriftProfile>,
) -> Result<(TextRead, Option<DriftReport>)> {
    let (text, encoding) = into_text(bytes, opts.encoding.as_deref())?;
    let mut keys = Vec::new();
    let mut spans = Vec::new();
    let mut checker: Option<DriftChecker<'_>>;
    let (end, parser, delimiter) = {
        let (mut rows, delimiter) = rows_in(&text, encoding, spec, opts)?;
        checker = profile
            .map(|p| p.checker(rows.loader.parser.schema()))
            .transpose()?;
        let mut one = Vec::with_capacity(1);
        while rows.each_row(1, &mut one, |_, span| spans.push(span))? > 0 {
            for lead in one.drain(..) {
                if let Some(c) = checker.as_mut() {
                    c.add(&lead);
                }
                keys.push(LeadKey {
                    id: lead.id,
                    created_at: lead.created_at,
                    row: lead.row,
                });
            }
        }
        let end = rows.finish()?;
        (end, rows.loader.parser, delimiter)
    };
    keys.shrink_to_fit();
    spans.shrink_to_fit();
    let drift = checker.map(DriftChecker::finish);
    let read = TextRead {
        raw: RawRows {
            header: end.header,
            store: RawStore::Spans {
                text,
                delimiter,
                spans,
            },
        },
        keys,
        parser,
        report: end.report,
    };
    Ok((read, drift))
}

/// [`decode`] into an owned string: valid UTF-8 (after any byte-order mark) keeps its buffer.
fn into_text(mut bytes: Vec<u8>, forced: Option<&str>) -> Result<(String, String)> {
    let (borrowed, encoding) = {
        let (text, encoding) = decode(&bytes, forced)?;
        match text {
            Cow::Borrowed(s) => {
                // Where the text lies in `bytes` (after a byte-order mark); a copy otherwise.
                let start = (s.as_ptr() as usize).checked_sub(bytes.as_ptr() as usize);
                match start {
                    Some(start) if start + s.len() <= bytes.len() => {
                        (Some((start, s.len())), encoding)
                    }
                    _ => return Ok((s.to_string(), encoding)),
                }
            }
            Cow::Owned(s) => return Ok((s, encoding)),
        }
    };
    if let Some((start, len)) = borrowed {
        bytes.truncate(start + len);
        bytes.drain(..start);
    }
    let text = String::from_utf8(bytes)
        .map_err(|e| Error::Encoding(format!("not valid UTF-8 after decoding: {e}")))?;
    Ok((text, encoding))
}

fn read(
    bytes: &[u8],
    spec: &Spec,
    opts: &IngestOptions,
    keep_raw: bool,
) -> Result<(Dataset, RawRows)> {
    let (text, encoding) = decode(bytes, opts.encoding.as_deref())?;
    let (mut rows, _) = rows_in(&text, encoding, spec, opts)?;
    let mut leads = Vec::new();
    let mut raw = RawRows::default();
    rows.next_batch(usize::MAX, &mut leads, keep_raw.then_some(&mut raw))?;
    let end = rows.finish()?;
    if keep_raw {
        raw.header = end.header;
    }
    let ds = Dataset {
        schema: end.schema,
        leads,
        report: end.report,
    };
    Ok((ds, raw))
}

/// The row loop over text held in memory, past its header, and the delimiter it splits on.
fn rows_in<'a>(
    text: &'a str,
    encoding: String,
    spec: &'a Spec,
    opts: &'a IngestOptions,
) -> Result<(Rows<'a, MemText<'a>>, u8)> {
    let wanted = wanted_columns(spec, opts);
    if is_blank(text) {
        return Err(Error::Empty {
            expected: wanted.iter().map(|w| w.name.clone()).collect(),
        });
    }
    let delimiter = choose_delimiter(text.as_bytes(), opts)?;
    let rows = Rows::start(
        MemText::new(text.as_bytes()),
        spec,
        opts,
        &wanted,
        encoding,
        delimiter,
    )?;
    Ok((rows, delimiter))
}

/// A source of decoded text for the row loop: the CSV reader reads it, and the loop asks it
/// about the text around a record (which may already be in the CSV reader's buffer).
trait Text: std::io::Read {
    /// The number of `\n` in the run of line breaks (`\r`, `\n`) that starts at byte `at`.
    fn newlines_at(&mut self, at: u64) -> u64;
    /// The loop will not ask about anything before byte `at` again.
    fn release(&mut self, _at: u64) {}
    /// The error behind a failed read of the source, when there was one (it is reported
    /// instead of the CSV reader's wrapping of it).
    fn take_failure(&mut self) -> Option<Error> {
        None
    }
}

/// Text already decoded in memory.
struct MemText<'t> {
    text: &'t [u8],
    pos: usize,
}

impl<'t> MemText<'t> {
    fn new(text: &'t [u8]) -> Self {
        Self { text, pos: 0 }
    }
}

impl std::io::Read for MemText<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = self.text.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pos += n;
        Ok(n)
    }
}

impl Text for MemText<'_> {
    fn newlines_at(&mut self, at: u64) -> u64 {
        let start = usize::try_from(at).unwrap_or(usize::MAX);
        newline_run(self.text.get(start..).unwrap_or_default())
    }
}

/// `\n`s in the run of `\r` and `\n` bytes at the start of `rest`.
fn newline_run(rest: &[u8]) -> u64 {
    rest.iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .filter(|&&b| b == b'\n')
        .count() as u64
}

/// What a finished read leaves besides the leads.
#[derive(Debug)]
pub(crate) struct ReadEnd {
    /// The file's own header.
    pub(crate) header: Vec<String>,
    pub(crate) schema: Schema,
    pub(crate) report: IngestReport,
    pub(crate) ids: LeadIds,
}

/// The row loop over decoded text: the one place where records become leads, for a file held
/// in memory and for one read a batch at a time.
struct Rows<'a, T: Text> {
    reader: csv::Reader<T>,
    record: csv::StringRecord,
    /// The file's own header.
    header: Vec<String>,
    loader: Loader<'a>,
    /// Data rows seen (1-based numbering of the next one minus one).
    row: u64,
    done: bool,
}

impl<'a, T: Text> Rows<'a, T> {
    /// Reads the header and matches it against the spec.
    fn start(
        text: T,
        spec: &'a Spec,
        opts: &'a IngestOptions,
        wanted: &[Wanted],
        encoding: String,
        delimiter: u8,
    ) -> Result<Self> {
        let mut reader = csv_reader(text, delimiter);
        let mut record = csv::StringRecord::new();
        let header = read_header_record(&mut reader, &mut record, opts.max_field_bytes)?
            .ok_or_else(|| Error::Empty {
                expected: wanted.iter().map(|w| w.name.clone()).collect(),
            })?;
        // The spec's names for the file's columns: the header itself, or renamed by the mapping.
        let names = if opts.rename.is_empty() {
            header.clone()
        } else {
            mapping::renamed_header(&header, &opts.rename)?
        };
        let layout = match_header(spec, wanted, &names)?;
        let report = IngestReport {
            encoding,
            delimiter: char::from(delimiter),
            unused_columns: layout.unused.clone(),
            ..IngestReport::default()
        };
        Ok(Self {
            reader,
            record,
            header,
            loader: Loader {
                opts,
                parser: LeadParser {
                    date_order: spec.parse.date_order,
                    max_field_bytes: opts.max_field_bytes,
                    header: names,
                    layout,
                    delimiter,
                },
                ids: LeadIds::default(),
                report,
            },
            row: 0,
            done: false,
        })
    }

    /// Reads rows until `max` more leads are loaded or the text ends; appends the leads (and,
    /// with `raw`, their records). Returns the number of leads loaded.
    fn next_batch(
        &mut self,
        max: usize,
        leads: &mut Vec<Lead>,
        mut raw: Option<&mut RawRows>,
    ) -> Result<usize> {
        self.each_row(max, leads, |record, _| {
            if let Some(raw) = raw.as_mut() {
                raw.push_record(record);
            }
        })
    }

    /// The row loop: reads rows until `max` more leads are loaded or the text ends, calling
    /// `keep` with each loaded lead's record and its byte span in the text.
    fn each_row(
        &mut self,
        max: usize,
        leads: &mut Vec<Lead>,
        mut keep: impl FnMut(&csv::StringRecord, (usize, usize)),
    ) -> Result<usize> {
        let mut loaded = 0;
        while loaded < max && !self.done {
            let before = self.reader.position().clone();
            self.reader.get_mut().release(before.byte());
            match self.reader.read_record(&mut self.record) {
                Ok(false) => self.done = true,
                Ok(true) => {
                    if self.record.iter().all(|f| f.trim().is_empty()) {
                        self.loader.report.blank_rows += 1;
                        continue;
                    }
                    self.row += 1;
                    self.loader.report.rows_read += 1;
                    let pos = self.record.position().unwrap_or(&before).clone();
                    let line = pos.line() + self.reader.get_mut().newlines_at(pos.byte());
                    if self.loader.row(&self.record, self.row, line, leads)? {
                        let to = |b: u64| usize::try_from(b).unwrap_or(usize::MAX);
                        let span = (to(pos.byte()), to(self.reader.position().byte()));
                        keep(&self.record, span);
                        loaded += 1;
                    }
                }
                Err(e) => {
                    if let Some(failure) = self.reader.get_mut().take_failure() {
                        return Err(failure);
                    }
                    // Not expected from decoded text; reported as a bad row.
                    self.row += 1;
                    self.loader.report.rows_read += 1;
                    let pos = e.position().unwrap_or(&before).clone();
                    let line = pos.line() + self.reader.get_mut().newlines_at(pos.byte());
                    let issue = RowIssue {
                        row: self.row,
                        line,
                        column: String::new(),
                        value: String::new(),
                        reason: format!("unreadable CSV record: {e}"),
                    };
                    self.loader.reject(issue)?;
                }
            }
        }
        Ok(loaded)
    }

    /// Ends the read: [`Error::HeaderOnly`] when the file had no data row,
    /// [`Error::NoUsableRows`] when none was loaded.
    fn finish(&mut self) -> Result<ReadEnd> {
        let report = &self.loader.report;
        if report.rows_read == 0 {
            return Err(Error::HeaderOnly {
                found: self.header.clone(),
            });
        }
        if report.rows_loaded == 0 {
            let first = report
                .issues
                .iter()
                .take(3)
                .map(ToString::to_string)
                .collect::<Vec<_>>();
            return Err(Error::NoUsableRows {
                skipped: report.rows_skipped,
                first: first.join("; "),
            });
        }
        let mut ids = std::mem::take(&mut self.loader.ids);
        ids.drop_index();
        Ok(ReadEnd {
            header: self.header.clone(),
            schema: self.loader.parser.layout.schema.clone(),
            report: report.clone(),
            ids,
        })
    }
}

/// Reads only the header row (names trimmed, BOM removed), for UIs that map columns by hand.
///
/// # Errors
///
/// As [`sniff_header`].
pub fn read_header(bytes: &[u8], opts: &IngestOptions) -> Result<Vec<String>> {
    sniff_header(bytes, opts).map(|s| s.header)
}

/// A file's header row with the encoding and delimiter ingest detects for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeaderSniff {
    /// Names trimmed, BOM removed, as [`read_csv`] matches them.
    pub header: Vec<String>,
    /// As in [`IngestReport::encoding`].
    pub encoding: String,
    pub delimiter: char,
}

/// Reads the header row with ingest's own decoding and delimiter sniffing (the 20-line vote of
/// [`sniff_delimiter`]), so a column-mapping form built from it agrees with what [`read_csv`]
/// will read.
///
/// # Errors
///
/// [`Error::Encoding`], [`Error::Empty`] (with no expected columns), [`Error::Header`] for a header
/// cell over `opts.max_field_bytes`, [`Error::InvalidArgument`] for an unusable forced delimiter.
pub fn sniff_header(bytes: &[u8], opts: &IngestOptions) -> Result<HeaderSniff> {
    sniff_decoded(bytes, opts, true)?.ok_or(Error::Empty {
        expected: Vec::new(),
    })
}

/// As [`sniff_header`], from the first bytes of a file, so a page need not read a whole file to
/// show its columns. `complete` says whether `prefix` is the whole file. A partial prefix is cut
/// back to its last whole line (a character or a row split by the cut is not read) and the
/// delimiter vote runs on the lines it holds.
///
/// `Ok(None)` when the prefix does not yet hold the whole header row (no line break, or a
/// header that runs to the cut): read more bytes and ask again.
///
/// # Errors
///
/// As [`sniff_header`].
pub fn sniff_header_prefix(
    prefix: &[u8],
    complete: bool,
    opts: &IngestOptions,
) -> Result<Option<HeaderSniff>> {
    if complete {
        return sniff_header(prefix, opts).map(Some);
    }
    let wide = match Encoding::for_bom(prefix) {
        Some((enc, _)) => Some(enc),
        None => match opts.encoding.as_deref() {
            Some(label) => Encoding::for_label(label.trim().as_bytes()),
            None => sniff_utf16(prefix),
        },
    };
    // The end of the last line feed, aligned to whole code units in UTF-16.
    let cut = if wide == Some(UTF_16LE) {
        (0..prefix.len().saturating_sub(1))
            .rev()
            .find(|&i| i % 2 == 0 && prefix[i] == b'\n' && prefix[i + 1] == 0)
            .map(|i| i + 2)
    } else if wide == Some(UTF_16BE) {
        (0..prefix.len().saturating_sub(1))
            .rev()
            .find(|&i| i % 2 == 0 && prefix[i] == 0 && prefix[i + 1] == b'\n')
            .map(|i| i + 2)
    } else {
        prefix.iter().rposition(|&b| b == b'\n').map(|i| i + 1)
    };
    match cut {
        Some(cut) => sniff_decoded(&prefix[..cut], opts, false),
        None => Ok(None),
    }
}

/// The header of `bytes`; `None` for a file with no record, or, when `bytes` is a cut prefix
/// (`complete` false), for a header that runs to the cut.
fn sniff_decoded(
    bytes: &[u8],
    opts: &IngestOptions,
    complete: bool,
) -> Result<Option<HeaderSniff>> {
    let (text, encoding) = decode(bytes, opts.encoding.as_deref())?;
    if is_blank(&text) {
        return if complete {
            Err(Error::Empty {
                expected: Vec::new(),
            })
        } else {
            Ok(None)
        };
    }
    let delimiter = choose_delimiter(text.as_bytes(), opts)?;
    let mut reader = csv_reader(MemText::new(text.as_bytes()), delimiter);
    let mut record = csv::StringRecord::new();
    let Some(header) = read_header_record(&mut reader, &mut record, opts.max_field_bytes)? else {
        return Ok(None);
    };
    if !complete && reader.position().byte() >= text.len() as u64 {
        // The header may go on past the cut (a quoted name with a line break in it).
        return Ok(None);
    }
    Ok(Some(HeaderSniff {
        header,
        encoding,
        delimiter: char::from(delimiter),
    }))
}

/// Decodes a file's bytes to text and names the encoding used.
///
/// A byte-order mark always wins (`UTF-8 (BOM)`, `UTF-16LE (BOM)`, `UTF-16BE (BOM)`) and is
/// removed. Otherwise `forced` (a WHATWG label such as `utf-8`, `utf-16le`, `gbk`, `gb18030`,
/// `windows-1252`) is used if given. Otherwise BOM-less UTF-16 is recognised by its pattern of NUL
/// bytes, then valid UTF-8 is borrowed without copying, and anything else is decoded as GB18030
/// (a superset of GBK, what Chinese CRMs export). Decoding never substitutes replacement
/// characters: malformed input is an error.
///
/// # Errors
///
/// [`Error::Encoding`] naming the byte offset and line of the first undecodable bytes, or an
/// unknown label.
pub fn decode<'a>(bytes: &'a [u8], forced: Option<&str>) -> Result<(Cow<'a, str>, String)> {
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        let body = bytes.get(bom_len..).unwrap_or_default();
        let text = decode_strict(enc, body).map_err(|(at, line)| {
            Error::Encoding(format!(
                "the file starts with a {} byte-order mark but is not valid {}: {}",
                encoding_name(enc),
                encoding_name(enc),
                describe_bad_bytes(body, at, bom_len, line)
            ))
        })?;
        return Ok((text, format!("{} (BOM)", encoding_name(enc))));
    }
    if let Some(label) = forced {
        let enc = Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| {
            Error::Encoding(format!(
                "unknown encoding {label:?} (try utf-8, utf-16le, utf-16be, gbk, gb18030, \
                 windows-1252)"
            ))
        })?;
        let text = decode_strict(enc, bytes).map_err(|(at, line)| {
            Error::Encoding(format!(
                "the file is not valid {}: {}",
                encoding_name(enc),
                describe_bad_bytes(bytes, at, 0, line)
            ))
        })?;
        return Ok((text, encoding_name(enc).to_string()));
    }
    if let Some(enc) = sniff_utf16(bytes) {
        let text = decode_strict(enc, bytes).map_err(|(at, line)| {
            Error::Encoding(format!(
                "the file looks like {} without a byte-order mark (NUL bytes between characters) \
                 but is not valid {}: {}",
                encoding_name(enc),
                encoding_name(enc),
                describe_bad_bytes(bytes, at, 0, line)
            ))
        })?;
        return Ok((text, encoding_name(enc).to_string()));
    }
    let utf8_err = match std::str::from_utf8(bytes) {
        Ok(text) => return Ok((Cow::Borrowed(text), UTF_8.name().to_string())),
        Err(e) => e.valid_up_to(),
    };
    match decode_strict(GB18030, bytes) {
        Ok(text) => Ok((text, encoding_name(GB18030).to_string())),
        Err((at, line)) => {
            let utf8 = describe_bad_bytes(bytes, utf8_err, 0, line_of(bytes, utf8_err));
            let where_ = if at == utf8_err {
                utf8
            } else {
                format!(
                    "as UTF-8 {utf8}; as GBK/GB18030 {}",
                    describe_bad_bytes(bytes, at, 0, line)
                )
            };
            Err(Error::Encoding(format!(
                "the file is neither UTF-8 nor GBK/GB18030: {where_}; save it as UTF-8 or name \
                 its encoding"
            )))
        }
    }
}

/// Guesses the delimiter among `,` `;` tab `|` from the first lines of `text`.
///
/// Occurrences are counted outside double quotes in up to 20 non-blank logical lines. The
/// delimiter whose count is the same, and non-zero, on every line wins (ties go to `,` then `;`,
/// tab, `|`). Failing that (ragged files), the candidate on the header line whose count most
/// lines repeat wins; a file with none of them is comma-separated.
pub fn sniff_delimiter(text: &str) -> u8 {
    sniff_delimiter_bytes(text.as_bytes())
}

/// [`sniff_delimiter`] on the text's bytes; looks at no more than the first
/// `SNIFF_BYTES + 1` bytes, so a prefix of that length gives the same answer as the whole text.
fn sniff_delimiter_bytes(text: &[u8]) -> u8 {
    let mut lines: Vec<[usize; 4]> = Vec::new();
    let mut current = [0usize; 4];
    let mut has_content = false;
    let mut in_quotes = false;
    let mut truncated = false;
    for (i, &b) in text.iter().enumerate() {
        if i >= SNIFF_BYTES {
            truncated = true;
            break;
        }
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' | b'\r' if !in_quotes => {
                if has_content {
                    lines.push(current);
                    if lines.len() >= SNIFF_LINES {
                        truncated = true;
                        break;
                    }
                }
                current = [0; 4];
                has_content = false;
                continue;
            }
            _ if !in_quotes => {
                if let Some(k) = DELIMITERS.iter().position(|&d| d == b) {
                    current[k] += 1;
                }
            }
            _ => {}
        }
        if !b.is_ascii_whitespace() {
            has_content = true;
        }
    }
    if !truncated && has_content {
        lines.push(current);
    }
    let Some(first) = lines.first().copied() else {
        return b',';
    };
    let consistent = (0..DELIMITERS.len())
        .find(|&k| first[k] > 0 && lines.iter().all(|counts| counts[k] == first[k]));
    if let Some(k) = consistent {
        return DELIMITERS[k];
    }
    // Ragged sample: the header's delimiter is the one most lines agree with.
    let mut best: Option<(usize, usize, usize)> = None; // (agreeing lines, header count, index)
    for (k, &count) in first.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let agree = lines.iter().filter(|counts| counts[k] == count).count();
        if best.is_none_or(|(a, c, _)| (agree, count) > (a, c)) {
            best = Some((agree, count, k));
        }
    }
    best.map_or(b',', |(_, _, k)| DELIMITERS[k])
}

/// A column the spec (or `extra_scores`) needs from the file.
#[derive(Debug)]
struct Wanted {
    /// Name as written in the spec.
    name: String,
    role: Role,
    kind: CellKind,
}

/// Id, created_at, every [`Spec::column_uses`] entry, then the extra scores not already scores.
fn wanted_columns(spec: &Spec, opts: &IngestOptions) -> Vec<Wanted> {
    let mut wanted = vec![
        Wanted {
            name: spec.columns.id.clone(),
            role: Role::Id,
            kind: CellKind::Str,
        },
        Wanted {
            name: spec.columns.created_at.clone(),
            role: Role::CreatedAt,
            kind: CellKind::Num,
        },
    ];
    for u in spec.column_uses() {
        let kind = match u.role {
            Role::Numeric | Role::Score => CellKind::Num,
            Role::Boolean => CellKind::Bool,
            Role::Outcome => u.kind,
            _ => CellKind::Str,
        };
        wanted.push(Wanted {
            name: u.name,
            role: u.role,
            kind,
        });
    }
    for name in &opts.extra_scores {
        let key = normalize_name(name);
        let known = wanted
            .iter()
            .any(|w| w.role == Role::Score && normalize_name(&w.name) == key);
        if !known && !key.is_empty() {
            wanted.push(Wanted {
                name: name.clone(),
                role: Role::Score,
                kind: CellKind::Num,
            });
        }
    }
    wanted
}

/// How the file's header maps onto the spec.
#[derive(Debug, Clone)]
struct Layout {
    id: usize,
    created_at: usize,
    /// Header index of each schema column, parallel to `schema.columns`.
    sources: Vec<usize>,
    schema: Schema,
    unused: Vec<String>,
}

fn match_header(spec: &Spec, wanted: &[Wanted], header: &[String]) -> Result<Layout> {
    let keys: Vec<String> = header.iter().map(|h| normalize_name(h)).collect();
    let mut missing = Vec::new();
    let mut positions = Vec::with_capacity(wanted.len());
    for w in wanted {
        let key = normalize_name(&w.name);
        let mut hits = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| **k == key)
            .map(|(i, _)| i);
        match (hits.next(), hits.next()) {
            (Some(i), None) => positions.push(i),
            (Some(i), Some(j)) => {
                return Err(Error::Header(format!(
                    "columns {} (`{}`) and {} (`{}`) both match `{}`, which the spec uses as {}; \
                     rename or remove one",
                    i + 1,
                    header.get(i).map_or("", String::as_str),
                    j + 1,
                    header.get(j).map_or("", String::as_str),
                    w.name,
                    w.role.name()
                )));
            }
            (None, _) => missing.push(w.name.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(Error::MissingColumns {
            missing,
            expected: wanted.iter().map(|w| w.name.clone()).collect(),
            found: header.to_vec(),
        });
    }
    let ignored: Vec<String> = spec
        .columns
        .ignore
        .iter()
        .map(|n| normalize_name(n))
        .collect();
    let unused = header
        .iter()
        .enumerate()
        .filter(|(i, _)| !positions.contains(i))
        .filter(|(i, _)| keys.get(*i).is_none_or(|k| !ignored.contains(k)))
        .map(|(i, h)| {
            if h.is_empty() {
                format!("(unnamed column {})", i + 1)
            } else {
                h.clone()
            }
        })
        .collect();
    let (id, created_at) = match positions.as_slice() {
        [id, created_at, ..] => (*id, *created_at),
        _ => {
            return Err(Error::Spec(
                "the spec must name the id and created_at columns".into(),
            ));
        }
    };
    let columns = wanted
        .iter()
        .zip(&positions)
        .skip(2)
        .map(|(w, &i)| Column {
            name: w.name.clone(),
            header: header.get(i).cloned().unwrap_or_default(),
            role: w.role,
            kind: w.kind,
        })
        .collect();
    Ok(Layout {
        id,
        created_at,
        sources: positions.get(2..).unwrap_or_default().to_vec(),
        schema: Schema { columns },
        unused,
    })
}

/// Per-file state while rows are turned into leads.
struct Loader<'a> {
    opts: &'a IngestOptions,
    parser: LeadParser,
    /// The id of each loaded lead, with the row and line it was read from.
    ids: LeadIds,
    report: IngestReport,
}

/// How one file's records become [`Lead`]s: the columns its header matched and the options that
/// shape a value. It owns what it needs, so a reader that keeps records (or their place in the
/// text) can turn one back into the lead it was read as ([`LeadParser::parse`]).
#[derive(Debug, Clone)]
pub struct LeadParser {
    date_order: crate::value::DateOrder,
    max_field_bytes: usize,
    /// The spec's names for the file's columns.
    header: Vec<String>,
    layout: Layout,
    delimiter: u8,
}

impl LeadParser {
    /// The lead a loaded record was read as; `row` is its [`Lead::row`].
    ///
    /// # Errors
    ///
    /// [`Error::Row`] when the cells do not make a lead (never for a record the read loaded).
    pub fn parse(&self, record: &csv::StringRecord, row: u64) -> Result<Lead> {
        self.parse_row(record, row, 0)
            .map(|(lead, _)| lead)
            .map_err(Error::Row)
    }

    /// The schema of the leads it makes.
    pub fn schema(&self) -> &Schema {
        &self.layout.schema
    }
}

impl Loader<'_> {
    /// Loads one non-blank data row into `leads`, or handles its problem according to the
    /// policy. True when the row was loaded.
    fn row(
        &mut self,
        record: &csv::StringRecord,
        row: u64,
        line: u64,
        leads: &mut Vec<Lead>,
    ) -> Result<bool> {
        let (lead, formulas) = match self.parser.parse_row(record, row, line) {
            Ok(parsed) => parsed,
            Err(issue) => return self.reject(issue).map(|()| false),
        };
        if let Some((first_row, first_line)) = self.ids.find(&lead.id) {
            self.report.duplicate_ids += 1;
            let issue = self.parser.issue(
                row,
                line,
                self.parser.layout.id,
                &lead.id,
                format!("duplicate id: row {first_row} (line {first_line}) has the same id"),
            );
            return self.reject(issue).map(|()| false);
        }
        self.ids.push(&lead.id, row, line)?;
        self.report.formula_like_cells += formulas;
        self.report.rows_loaded += 1;
        leads.push(lead);
        Ok(true)
    }

    /// Strict: the issue becomes the error. Skip: the row is counted and the issue kept.
    fn reject(&mut self, issue: RowIssue) -> Result<()> {
        match self.opts.policy {
            Policy::Strict => Err(Error::Row(issue)),
            Policy::Skip => {
                self.report.rows_skipped += 1;
                if self.report.issues.len() < MAX_REPORTED_ISSUES {
                    self.report.issues.push(issue);
                }
                Ok(())
            }
        }
    }
}

impl LeadParser {
    fn issue(&self, row: u64, line: u64, col: usize, value: &str, reason: String) -> RowIssue {
        let column = match self.header.get(col) {
            Some(h) if !h.is_empty() => h.clone(),
            _ => format!("#{}", col + 1),
        };
        RowIssue {
            row,
            line,
            column,
            value: shorten(value),
            reason,
        }
    }

    /// Parses one row into a lead and its count of formula-like cells.
    fn parse_row(
        &self,
        record: &csv::StringRecord,
        row: u64,
        line: u64,
    ) -> Result<(Lead, u64), RowIssue> {
        let expected = self.header.len();
        let found = record.len();
        if found != expected
            && (found < expected || record.iter().skip(expected).any(|f| !f.trim().is_empty()))
        {
            return Err(RowIssue {
                row,
                line,
                column: String::new(),
                value: shorten(&join_record(record, self.delimiter)),
                reason: ragged_reason(record, expected, self.delimiter),
            });
        }
        let limit = self.max_field_bytes;
        if let Some((i, cell)) = record.iter().enumerate().find(|(_, f)| f.len() > limit) {
            let reason = format!("cell is {} bytes, limit {limit}", cell.len());
            return Err(self.issue(row, line, i, cell, reason));
        }
        let cell = |i: usize| -> Result<&str, RowIssue> {
            let raw = record.get(i).unwrap_or_default();
            if raw.contains('\0') {
                return Err(self.issue(row, line, i, raw, "NUL byte in cell".to_string()));
            }
            Ok(raw.trim())
        };

        let id = cell(self.layout.id)?;
        if id.is_empty() {
            return Err(self.issue(row, line, self.layout.id, id, "the id is empty".to_string()));
        }
        let created = cell(self.layout.created_at)?;
        if created.is_empty() {
            let reason = "created_at is empty".to_string();
            return Err(self.issue(row, line, self.layout.created_at, created, reason));
        }
        let order = self.date_order;
        let Some(created_at) = parse_timestamp(created, order) else {
            let order = match order {
                crate::value::DateOrder::Mdy => "month first",
                crate::value::DateOrder::Dmy => "day first",
            };
            let reason = format!(
                "not a date/time; accepted: 2025-03-04, 2025-03-04T10:20:30Z, 2025/03/04 10:20, \
                 2025年3月4日, 04.03.2025, 03/04/2025 ({order}), epoch seconds or milliseconds"
            );
            return Err(self.issue(row, line, self.layout.created_at, created, reason));
        };

        let mut formulas = 0;
        let mut values = Vec::with_capacity(self.layout.sources.len());
        for (column, &src) in self.layout.schema.columns.iter().zip(&self.layout.sources) {
            let text = cell(src)?;
            if text.is_empty() {
                values.push(Value::Missing);
                continue;
            }
            let value = match column.kind {
                CellKind::Num => Value::Num(parse_number(text).ok_or_else(|| {
                    let reason = "not a number (e.g. 12, -3.5, 1,234.5, 12%, $1,200)".to_string();
                    self.issue(row, line, src, text, reason)
                })?),
                CellKind::Bool => Value::Bool(parse_bool(text).ok_or_else(|| {
                    let reason =
                        "not a yes/no value (yes/no, true/false, y/n, 1/0, 是/否)".to_string();
                    self.issue(row, line, src, text, reason)
                })?),
                CellKind::Str => {
                    if text.starts_with(['=', '+', '-', '@']) {
                        formulas += 1;
                    }
                    Value::Str(text.into())
                }
            };
            values.push(value);
        }
        let lead = Lead {
            id: id.into(),
            created_at,
            values: values.into_boxed_slice(),
            row,
        };
        Ok((lead, formulas))
    }
}

/// Explains a row whose field count differs from the header's.
fn ragged_reason(record: &csv::StringRecord, expected: usize, delimiter: u8) -> String {
    let found = record.len();
    // A cell left open by a stray quote runs to the end of the file, final newline included.
    let spanned: usize = record
        .iter()
        .map(|f| f.trim_end_matches(['\r', '\n']).matches('\n').count())
        .sum();
    let base = format!("expected {expected} fields, found {found}");
    if spanned > 0 {
        format!(
            "{base}: a quoted cell here runs over {} lines, probably an unclosed `\"`",
            spanned + 1
        )
    } else if found < expected {
        format!(
            "{base}: cells are missing, or the delimiter is not `{}`",
            delimiter_name(delimiter)
        )
    } else {
        format!(
            "{base}: a cell may hold an unquoted `{}`",
            delimiter_name(delimiter)
        )
    }
}

fn delimiter_name(d: u8) -> String {
    match d {
        b'\t' => "\\t".to_string(),
        _ => char::from(d).to_string(),
    }
}

fn join_record(record: &csv::StringRecord, delimiter: u8) -> String {
    let sep = char::from(delimiter).to_string();
    // Only the start is shown; avoid joining megabytes.
    let mut out = String::new();
    for (i, f) in record.iter().enumerate() {
        if i > 0 {
            out.push_str(&sep);
        }
        out.push_str(f.get(..f.len().min(4 * MAX_VALUE_CHARS)).unwrap_or(f));
        if out.len() > 4 * MAX_VALUE_CHARS {
            break;
        }
    }
    out
}

/// Shortens `s` to at most [`MAX_VALUE_CHARS`] characters (`…` marks a cut).
fn shorten(s: &str) -> String {
    match s.char_indices().nth(MAX_VALUE_CHARS - 1) {
        Some((end, _))
            if s.get(end..)
                .is_some_and(|rest| rest.chars().nth(1).is_some()) =>
        {
            format!("{}…", s.get(..end).unwrap_or_default())
        }
        _ => s.to_string(),
    }
}

fn is_blank(text: &str) -> bool {
    text.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
        .is_empty()
}

/// The forced delimiter, or the one sniffed from the start of the text (a prefix of at least
/// `SNIFF_BYTES + 1` bytes gives the same answer as the whole text).
fn choose_delimiter(text: &[u8], opts: &IngestOptions) -> Result<u8> {
    match opts.delimiter {
        None => Ok(sniff_delimiter_bytes(text)),
        Some(d) if d.is_ascii() && !matches!(d, b'"' | b'\n' | b'\r') => Ok(d),
        Some(d) => Err(Error::InvalidArgument(format!(
            "delimiter {:?} cannot separate CSV fields (use an ASCII character other than a quote \
             or line break)",
            char::from(d)
        ))),
    }
}

fn csv_reader<T: Text>(text: T, delimiter: u8) -> csv::Reader<T> {
    csv_reader_builder(delimiter).from_reader(text)
}

/// How ingest splits records: every reader of a file's text uses these settings.
fn csv_reader_builder(delimiter: u8) -> csv::ReaderBuilder {
    let mut b = csv::ReaderBuilder::new();
    b.has_headers(false).flexible(true).delimiter(delimiter);
    b
}

/// Reads the header row; `None` when the text has no record at all.
fn read_header_record<T: Text>(
    reader: &mut csv::Reader<T>,
    record: &mut csv::StringRecord,
    max_field_bytes: usize,
) -> Result<Option<Vec<String>>> {
    let found = match reader.read_record(record) {
        Ok(found) => found,
        Err(e) => {
            return Err(reader
                .get_mut()
                .take_failure()
                .unwrap_or_else(|| Error::Header(e.to_string())));
        }
    };
    if !found {
        return Ok(None);
    }
    if let Some((i, f)) = record
        .iter()
        .enumerate()
        .find(|(_, f)| f.len() > max_field_bytes)
    {
        return Err(Error::Header(format!(
            "header cell {} is {} bytes, limit {max_field_bytes} (an unclosed `\"` in the header?)",
            i + 1,
            f.len()
        )));
    }
    let names = record
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    Ok(Some(names))
}

/// The encoding's WHATWG name, upper-cased where encoding_rs writes `gb18030`.
fn encoding_name(enc: &'static Encoding) -> &'static str {
    if enc == GB18030 {
        "GB18030"
    } else {
        enc.name()
    }
}

/// Recognises BOM-less UTF-16 by NUL bytes on one side of most code units (ASCII text).
fn sniff_utf16(bytes: &[u8]) -> Option<&'static Encoding> {
    let sample = bytes.get(..bytes.len().min(4096)).unwrap_or(bytes);
    let (mut even, mut odd, mut units) = (0usize, 0usize, 0usize);
    for unit in sample.chunks_exact(2) {
        if let [a, b] = unit {
            units += 1;
            even += usize::from(*a == 0);
            odd += usize::from(*b == 0);
        }
    }
    if units < 2 {
        None
    } else if odd * 4 >= units && even * 8 <= odd {
        Some(UTF_16LE)
    } else if even * 4 >= units && odd * 8 <= even {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// Decodes without replacement; on malformed input returns the byte offset and line of the
/// first bad bytes.
fn decode_strict<'a>(
    enc: &'static Encoding,
    bytes: &'a [u8],
) -> Result<Cow<'a, str>, (usize, u64)> {
    if enc == UTF_8 {
        return std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| {
            let at = e.valid_up_to();
            (at, line_of(bytes, at))
        });
    }
    // encoding_rs panics if its output buffer size overflows usize (only possible on 32-bit).
    if enc
        .new_decoder_without_bom_handling()
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .is_none()
    {
        return Err((0, 1));
    }
    enc.decode_without_bom_handling_and_without_replacement(bytes)
        .ok_or_else(|| first_malformed(enc, bytes))
}

/// Offset and line of the first malformed sequence in `bytes` under `enc`.
fn first_malformed(enc: &'static Encoding, bytes: &[u8]) -> (usize, u64) {
    let mut decoder = enc.new_decoder_without_bom_handling();
    let mut buf = String::with_capacity(1 << 16);
    let (mut pos, mut line) = (0usize, 1u64);
    loop {
        buf.clear();
        let rest = bytes.get(pos..).unwrap_or_default();
        let (result, read) = decoder.decode_to_string_without_replacement(rest, &mut buf, true);
        line += buf.matches('\n').count() as u64;
        pos += read;
        match result {
            DecoderResult::Malformed(bad, after) => {
                return (
                    pos.saturating_sub(usize::from(bad) + usize::from(after)),
                    line,
                );
            }
            DecoderResult::InputEmpty => return (pos, line),
            DecoderResult::OutputFull if read == 0 && buf.is_empty() => return (pos, line),
            DecoderResult::OutputFull => {}
        }
    }
}

/// 1-based line of byte offset `at` (counting `\n` bytes, right for ASCII-compatible encodings).
fn line_of(bytes: &[u8], at: usize) -> u64 {
    let head = bytes.get(..at).unwrap_or(bytes);
    1 + head.iter().filter(|&&b| b == b'\n').count() as u64
}

/// "invalid bytes FF 20 at byte offset 123 (line 4)"; `base` is added to offsets (a BOM).
fn describe_bad_bytes(bytes: &[u8], at: usize, base: usize, line: u64) -> String {
    let shown = bytes.get(at..).unwrap_or_default();
    describe_bad(shown.get(..4).unwrap_or(shown), at, base, line)
}

/// [`describe_bad_bytes`] given the (up to 4) bytes found at `at`.
fn describe_bad(found: &[u8], at: usize, base: usize, line: u64) -> String {
    let shown = found
        .iter()
        .take(4)
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>();
    if shown.is_empty() {
        format!(
            "truncated at the end of the file (byte offset {}, line {line})",
            at + base
        )
    } else {
        format!(
            "invalid bytes {} at byte offset {} (line {line})",
            shown.join(" "),
            at + base
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_delimiters() {
        assert_eq!(sniff_delimiter("a,b,c\n1,2,3\n"), b',');
        assert_eq!(sniff_delimiter("a;b;c\n1;2,5;3\n"), b';');
        assert_eq!(sniff_delimiter("a\tb\tc\n1\t2\t3"), b'\t');
        assert_eq!(sniff_delimiter("a|b|c\r\n1|2|3\r\n"), b'|');
        // Delimiters inside quotes do not count, even across lines.
        assert_eq!(sniff_delimiter("a;b\n\"x,y\n,z\";2\n"), b';');
        // Ties go to the comma.
        assert_eq!(sniff_delimiter("a,b;c\n1,2;3\n"), b',');
        // Ragged: the header's delimiter that most lines agree with.
        assert_eq!(sniff_delimiter("a,b,c\n1,2,3\n1,2\n4,5,6\n"), b',');
        assert_eq!(sniff_delimiter(""), b',');
        assert_eq!(sniff_delimiter("single\nvalue\n"), b',');
        // Blank lines are ignored.
        assert_eq!(sniff_delimiter("a;b\n\n   \n1;2\n"), b';');
    }

    #[test]
    fn decodes_utf8_without_copying() {
        let (text, name) = decode(b"a,b\n", None).unwrap();
        assert!(matches!(text, Cow::Borrowed(_)));
        assert_eq!(name, "UTF-8");
        let (text, name) = decode(b"\xEF\xBB\xBFa,b\n", None).unwrap();
        assert!(matches!(text, Cow::Borrowed("a,b\n")));
        assert_eq!(name, "UTF-8 (BOM)");
    }

    #[test]
    fn decodes_utf16_with_and_without_bom() {
        let le: Vec<u8> = "id,名\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let be: Vec<u8> = "id,名\n"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        let with_bom = |bom: &[u8], body: &[u8]| [bom, body].concat();
        let cases = [
            (with_bom(&[0xFF, 0xFE], &le), "UTF-16LE (BOM)"),
            (with_bom(&[0xFE, 0xFF], &be), "UTF-16BE (BOM)"),
            (le.clone(), "UTF-16LE"),
            (be.clone(), "UTF-16BE"),
        ];
        for (bytes, want) in cases {
            let (text, name) = decode(&bytes, None).unwrap();
            assert_eq!((text.as_ref(), name.as_str()), ("id,名\n", want));
        }
        let mut odd = with_bom(&[0xFF, 0xFE], &le);
        odd.push(b'x');
        let msg = decode(&odd, None).unwrap_err().to_string();
        assert!(
            msg.contains("UTF-16LE") && msg.contains("78 at byte offset 12"),
            "{msg}"
        );
    }

    #[test]
    fn decodes_gbk_and_names_bad_bytes() {
        // "渠道" in GBK.
        let gbk = b"id,\xC7\xFE\xB5\xC0\n";
        let (text, name) = decode(gbk, None).unwrap();
        assert_eq!((text.as_ref(), name.as_str()), ("id,渠道\n", "GB18030"));
        let (text, name) = decode(gbk, Some("GBK")).unwrap();
        assert_eq!((text.as_ref(), name.as_str()), ("id,渠道\n", "GBK"));
        let bad = b"id,name\n1,ok\n2,\xFF\n";
        let msg = decode(bad, None).unwrap_err().to_string();
        assert!(
            msg.contains("offset 15") && msg.contains("line 3") && msg.contains("FF"),
            "{msg}"
        );
        let msg = decode(gbk, Some("utf-8")).unwrap_err().to_string();
        assert!(
            msg.contains("not valid UTF-8") && msg.contains("offset 3"),
            "{msg}"
        );
        assert!(
            decode(b"x", Some("klingon"))
                .unwrap_err()
                .to_string()
                .contains("unknown encoding")
        );
    }

    #[test]
    fn shortens_on_char_boundaries() {
        assert_eq!(shorten("abc"), "abc");
        let exact: String = "é".repeat(80);
        assert_eq!(shorten(&exact), exact);
        let long: String = "名".repeat(200);
        let short = shorten(&long);
        assert_eq!(short.chars().count(), 80);
        assert!(short.ends_with('…'));
    }

    const SPEC: &str = r#"
[columns]
id = "Lead ID"
created_at = "created_at"
categorical = ["channel"]
ignore = ["owner"]
[label]
column = "outcome"
equals = "won"
"#;

    #[test]
    fn matches_header_tolerantly() {
        let spec = Spec::from_toml(SPEC).unwrap();
        let opts = IngestOptions::default();
        let csv =
            "\u{feff}LEAD_ID , Created-At,Channel,OUTCOME,owner,notes\nL1,2025-01-02,web,won,a,b\n";
        let ds = read_csv(csv.as_bytes(), &spec, &opts).unwrap();
        assert_eq!(ds.report.unused_columns, vec!["notes"]);
        let names: Vec<_> = ds
            .schema
            .columns
            .iter()
            .map(|c| c.header.as_str())
            .collect();
        assert_eq!(names, vec!["Channel", "OUTCOME"]);
        assert_eq!(&*ds.leads[0].id, "L1");

        let dup = "lead id,created_at,channel,Channel,outcome\nL1,2025-01-02,a,b,won\n";
        let err = read_csv(dup.as_bytes(), &spec, &opts).unwrap_err();
        assert!(
            matches!(&err, Error::Header(m) if m.contains("`channel`") && m.contains("columns 3"))
        );
        // Duplicates the spec does not use are fine.
        let dup = "lead id,created_at,channel,outcome,x,X\nL1,2025-01-02,a,won,1,2\n";
        let ds = read_csv(dup.as_bytes(), &spec, &opts).unwrap();
        assert_eq!(ds.report.unused_columns, vec!["x", "X"]);

        let missing = "lead id,channel\nL1,a\n";
        match read_csv(missing.as_bytes(), &spec, &opts).unwrap_err() {
            Error::MissingColumns {
                missing,
                expected,
                found,
            } => {
                assert_eq!(missing, vec!["created_at", "outcome"]);
                assert_eq!(
                    expected,
                    vec!["Lead ID", "created_at", "channel", "outcome"]
                );
                assert_eq!(found, vec!["lead id", "channel"]);
            }
            e => panic!("{e}"),
        }
        assert_eq!(
            read_header(b" a ;b;\xEF\xBB\xBFc\n1;2;3", &opts).unwrap(),
            vec!["a", "b", "c"]
        );
    }

    #[test]
    fn rows_and_lines_count_past_blank_lines_and_crlf() {
        let spec = Spec::from_toml(SPEC).unwrap();
        let opts = IngestOptions {
            policy: Policy::Skip,
            ..Default::default()
        };
        let csv = "lead id,created_at,channel,outcome\r\nL1,2025-01-02,\"a\r\nb\",won\r\n\r\n\r\n \r\nL2,never,b,won\r\nL3,2025-01-02,c,won\r\n";
        let ds = read_csv(csv.as_bytes(), &spec, &opts).unwrap();
        let issue = &ds.report.issues[0];
        assert_eq!((issue.row, issue.line), (2, 7), "{issue}");
        assert_eq!(ds.leads[1].row, 3);
        assert_eq!(ds.report.blank_rows, 1);
        assert_eq!(ds.value(0, "channel"), Some(&Value::Str("a\r\nb".into())));
    }

    #[test]
    fn extra_scores_and_trailing_delimiters() {
        let spec = Spec::from_toml(SPEC).unwrap();
        let opts = IngestOptions {
            extra_scores: vec!["Score".into()],
            ..Default::default()
        };
        let csv = "lead id,created_at,channel,outcome,score\nL1,2025-01-02,web,won,0.5,,\n,,,,\n";
        let ds = read_csv(csv.as_bytes(), &spec, &opts).unwrap();
        let last = ds.schema.columns.last().unwrap();
        assert_eq!((last.role, last.kind), (Role::Score, CellKind::Num));
        assert_eq!(ds.value(0, "score"), Some(&Value::Num(0.5)));
        assert_eq!((ds.report.rows_read, ds.report.blank_rows), (1, 1));
    }

    #[test]
    fn a_mapping_reads_file_columns_under_spec_names_and_keeps_the_file_header() {
        let spec = Spec::from_toml(SPEC).unwrap();
        let csv = "id;when;Source;outcome;channel\nL1;2025-01-02;web;won;x\nL2;2025-01-03;;won;y\n";
        assert!(matches!(
            read_csv(csv.as_bytes(), &spec, &IngestOptions::default()),
            Err(Error::MissingColumns { .. })
        ));
        let mut opts = IngestOptions {
            policy: Policy::Skip,
            ..IngestOptions::default()
        };
        for (target, column) in [
            ("Lead ID", "id"),
            ("created_at", "when"),
            ("channel", "Source"),
        ] {
            opts.rename.insert(target.to_string(), column.to_string());
        }
        let (ds, raw) = read_csv_with_raw(csv.as_bytes(), &spec, &opts).unwrap();
        assert_eq!(ds.value(0, "channel"), Some(&Value::Str("web".into())));
        // The file's own `channel` collides with the mapped name and is not read.
        assert_eq!(ds.report.unused_columns, vec!["channel (unmapped)"]);
        assert_eq!(
            raw.header,
            vec!["id", "when", "Source", "outcome", "channel"]
        );
        assert_eq!(ds.report.delimiter, ';');
        opts.rename
            .insert("outcome".to_string(), "nope".to_string());
        let err = read_csv(csv.as_bytes(), &spec, &opts)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`nope`"), "{err}");
    }

    #[test]
    fn sniffed_header_uses_ingest_rules() {
        let opts = IngestOptions::default();
        let s = sniff_header("Lead ID;Channel\n1;web\n".as_bytes(), &opts).unwrap();
        assert_eq!(s.header, vec!["Lead ID", "Channel"]);
        assert_eq!((s.delimiter, s.encoding.as_str()), (';', "UTF-8"));
        // The delimiter is voted over the first lines, not guessed from the header alone.
        let s = sniff_header("a,b;c\n1;2\n3;4\n".as_bytes(), &opts).unwrap();
        assert_eq!(s.delimiter, ';');
        let (gbk, _, _) = encoding_rs::GBK.encode("客户,渠道\n1,网站\n");
        let s = sniff_header(&gbk, &opts).unwrap();
        assert_eq!(s.header, vec!["客户", "渠道"]);
        assert_eq!(s.encoding, "GB18030");
        assert!(matches!(sniff_header(b"", &opts), Err(Error::Empty { .. })));
    }

    #[test]
    fn a_header_sniffed_from_any_cut_of_a_file_is_the_whole_files() {
        let opts = IngestOptions::default();
        let mut text = String::from("客户;渠道;\"备注\"\n");
        for i in 0..40 {
            text.push_str(&format!("{i};网站;\"第{i}行\"\n"));
        }
        let utf16le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let utf16be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let (gbk, _, _) = encoding_rs::GBK.encode(&text);
        for bytes in [text.as_bytes(), &utf16le[..], &utf16be[..], &gbk[..]] {
            let whole = sniff_header(bytes, &opts).unwrap();
            assert_eq!(whole.header, vec!["客户", "渠道", "备注"]);
            let header_end = (1..bytes.len())
                .find(|&n| {
                    sniff_header_prefix(&bytes[..n], false, &opts)
                        .unwrap()
                        .is_some()
                })
                .unwrap();
            // Every cut past the header's line (mid-character and mid-code-unit included)
            // gives the whole file's answer; no shorter cut gives an answer at all.
            for n in header_end..bytes.len() {
                let got = sniff_header_prefix(&bytes[..n], false, &opts).unwrap();
                assert_eq!(got.as_ref(), Some(&whole), "cut at {n} of {}", bytes.len());
            }
            assert!(
                header_end > bytes.len() / 50,
                "the header needs its own line"
            );
            assert_eq!(
                sniff_header_prefix(bytes, true, &opts).unwrap(),
                Some(whole)
            );
        }
        // A quoted header name with a line break: a cut inside it asks for more.
        let quoted = b"\"a\nb\",c\n1,2\n";
        assert_eq!(
            sniff_header_prefix(&quoted[..4], false, &opts).unwrap(),
            None
        );
        let s = sniff_header_prefix(&quoted[..12], false, &opts)
            .unwrap()
            .unwrap();
        assert_eq!(s.header, vec!["a\nb", "c"]);
        assert_eq!(sniff_header_prefix(b"id,name", false, &opts).unwrap(), None);
    }
}
