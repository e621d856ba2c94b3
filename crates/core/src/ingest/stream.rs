//! [`LeadReader`]: a lead file read a batch of rows at a time, with memory bounded by the batch
//! rather than the file, and exactly what [`super::read_csv`] reads: the same encoding, delimiter,
//! leads, row numbers, issues and errors.
//!
//! Reading is two passes over the source. The first checks the encoding end to end the way
//! [`super::decode`] does (a file is UTF-8 only when all of it is, and an undecodable byte is an
//! error before any row is looked at), keeping nothing but a few counters. The second decodes a
//! chunk at a time (encoding_rs's streaming decoder; UTF-8 is passed through) into a window of
//! text that the CSV reader reads and the row loop looks back into; the window is trimmed to
//! the current record as the loop moves on.

use std::io::{Read, Seek, SeekFrom};

use encoding_rs::{DecoderResult, Encoding, GB18030, UTF_8};

use super::{
    LeadIds, RawRows, Rows, SNIFF_BYTES, Text, choose_delimiter, describe_bad, encoding_name,
    newline_run, sniff_utf16, wanted_columns,
};
use crate::dataset::{IngestOptions, IngestReport, Lead, Schema};
use crate::error::{Error, Result};
use crate::spec::Spec;

/// Bytes read from the source at a time.
const CHUNK: usize = 1 << 16;
/// Bytes [`super::sniff_utf16`] and a byte-order mark are looked for in.
const HEAD: usize = 4096;

/// A lead file read a batch of rows at a time; see the module documentation.
///
/// ```no_run
/// # fn main() -> leadladder_core::Result<()> {
/// use leadladder_core::ingest::{LeadReader, RawRows};
/// use leadladder_core::{IngestOptions, Spec};
/// let spec = Spec::from_toml(&std::fs::read_to_string("leads.toml")?)?;
/// let opts = IngestOptions::default();
/// let file = std::fs::File::open("leads.csv")?;
/// let mut reader = LeadReader::new(file, &spec, &opts)?;
/// let (mut leads, mut raw) = (Vec::new(), RawRows::default());
/// while reader.read_batch(1000, &mut leads, Some(&mut raw))? > 0 {
///     // ... use the leads and their raw cells ...
///     leads.clear();
///     raw.clear();
/// }
/// let end = reader.finish()?; // the ingest report; errors as `read_csv`
/// # Ok(()) }
/// ```
pub struct LeadReader<'a, R: Read + Seek> {
    rows: Rows<'a, Decoded<R>>,
}

impl<R: Read + Seek> std::fmt::Debug for LeadReader<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeadReader")
            .field("header", &self.rows.header)
            .field("rows", &self.rows.row)
            .finish_non_exhaustive()
    }
}

/// What a finished [`LeadReader`] leaves besides the leads.
#[derive(Debug)]
pub struct ReadSummary {
    /// The file's own header (what an export writes).
    pub header: Vec<String>,
    pub schema: Schema,
    pub report: IngestReport,
    /// The loaded leads' ids and rows, in load order.
    pub ids: LeadIds,
}

impl<'a, R: Read + Seek> LeadReader<'a, R> {
    /// Checks the encoding of `source` (read from its start) and reads the header, as
    /// [`super::read_csv`] does.
    ///
    /// # Errors
    ///
    /// What [`super::read_csv`] reports before its first data row ([`Error::Encoding`],
    /// [`Error::Empty`], [`Error::Header`], [`Error::MissingColumns`], a bad mapping or forced
    /// delimiter), and [`Error::Io`] when the source cannot be read.
    pub fn new(source: R, spec: &'a Spec, opts: &'a IngestOptions) -> Result<Self> {
        Self::with_chunk(source, spec, opts, CHUNK)
    }

    /// [`LeadReader::new`] reading `chunk` bytes of the source at a time (at least 1; tests use
    /// tiny chunks to put every boundary inside a character, a quote or a line break).
    ///
    /// # Errors
    ///
    /// As [`LeadReader::new`].
    pub fn with_chunk(
        mut source: R,
        spec: &'a Spec,
        opts: &'a IngestOptions,
        chunk: usize,
    ) -> Result<Self> {
        let chunk = chunk.max(1);
        let wanted = wanted_columns(spec, opts);
        let found = detect(&mut source, opts.encoding.as_deref(), chunk)?;
        if found.blank {
            return Err(Error::Empty {
                expected: wanted.iter().map(|w| w.name.clone()).collect(),
            });
        }
        source.seek(SeekFrom::Start(found.start))?;
        let mut text = Decoded::new(source, found.encoding, chunk);
        text.fill(SNIFF_BYTES + 1)?;
        let delimiter = choose_delimiter(&text.text, opts)?;
        let rows = Rows::start(text, spec, opts, &wanted, found.name, delimiter)?;
        Ok(Self { rows })
    }

    /// The file's own header.
    pub fn header(&self) -> &[String] {
        &self.rows.header
    }

    /// The columns every lead's values follow.
    pub fn schema(&self) -> &Schema {
        self.rows.loader.parser.schema()
    }

    /// What has been read so far.
    pub fn report(&self) -> &IngestReport {
        &self.rows.loader.report
    }

    /// The ids of the leads loaded so far.
    pub fn ids(&self) -> &LeadIds {
        &self.rows.loader.ids
    }

    /// Makes room for `additional` more leads' ids, for a caller that can estimate how many the
    /// file holds (nothing then grows, or leaves holes in the heap, as it is read).
    pub fn reserve(&mut self, additional: usize) {
        self.rows.loader.ids.reserve(additional);
    }

    /// Bytes of the source read so far (for progress; the reader reads a little ahead).
    pub fn bytes_read(&self) -> u64 {
        self.rows.reader.get_ref().bytes_in
    }

    /// True once the source is exhausted.
    pub fn is_done(&self) -> bool {
        self.rows.done
    }

    /// Reads rows until `max` more leads are loaded or the file ends, and appends them to
    /// `leads` (with `raw`, their cells as read to `raw`). Returns the number loaded: 0 only at
    /// the end of the file.
    ///
    /// # Errors
    ///
    /// As [`super::read_csv`] for a bad row under [`crate::Policy::Strict`]; [`Error::Io`] and
    /// [`Error::Encoding`] when the source fails or changed since it was checked.
    pub fn read_batch(
        &mut self,
        max: usize,
        leads: &mut Vec<Lead>,
        raw: Option<&mut RawRows>,
    ) -> Result<usize> {
        self.rows.next_batch(max.max(1), leads, raw)
    }

    /// Parses again the cells of a lead this reader loaded (e.g. kept on disk) into the same
    /// [`Lead`]: `row` is its [`Lead::row`].
    ///
    /// # Errors
    ///
    /// [`Error::Row`] when the cells do not make a lead (never for cells the reader loaded).
    pub fn parse_cells<'c>(
        &self,
        cells: impl IntoIterator<Item = &'c str>,
        row: u64,
    ) -> Result<Lead> {
        let record: csv::StringRecord = cells.into_iter().collect();
        self.rows.loader.parser.parse(&record, row)
    }

    /// Reads to the end of the file and returns the report and the loaded leads' ids (after
    /// which [`LeadReader::ids`] is empty; [`LeadReader::parse_cells`] still works). For a file
    /// whose every lead was read, this only checks what [`super::read_csv`] checks last.
    ///
    /// # Errors
    ///
    /// A bad row still unread (strict policy), [`Error::HeaderOnly`], [`Error::NoUsableRows`].
    pub fn finish(&mut self) -> Result<ReadSummary> {
        let mut rest = Vec::new();
        while self.rows.next_batch(1024, &mut rest, None)? > 0 {
            rest.clear();
        }
        let end = self.rows.finish()?;
        Ok(ReadSummary {
            header: end.header,
            schema: end.schema,
            report: end.report,
            ids: end.ids,
        })
    }
}

/// The encoding [`detect`] settled on.
struct Detected {
    encoding: &'static Encoding,
    /// Where the text starts (after a byte-order mark).
    start: u64,
    /// As [`IngestReport::encoding`].
    name: String,
    /// True when the text is only whitespace and byte-order marks.
    blank: bool,
}

/// [`super::decode`]'s choice of encoding, made by reading the source once from its start
/// without keeping it; the same errors, word for word.
fn detect<R: Read + Seek>(src: &mut R, forced: Option<&str>, chunk: usize) -> Result<Detected> {
    src.seek(SeekFrom::Start(0))?;
    let mut head = Vec::with_capacity(HEAD);
    src.by_ref().take(HEAD as u64).read_to_end(&mut head)?;
    if let Some((enc, bom_len)) = Encoding::for_bom(&head) {
        let start = bom_len as u64;
        return match scan(src, enc, start, chunk)? {
            Ok(blank) => Ok(Detected {
                encoding: enc,
                start,
                name: format!("{} (BOM)", encoding_name(enc)),
                blank,
            }),
            Err((at, line)) => Err(Error::Encoding(format!(
                "the file starts with a {} byte-order mark but is not valid {}: {}",
                encoding_name(enc),
                encoding_name(enc),
                describe_at(src, start, at, line)?
            ))),
        };
    }
    if let Some(label) = forced {
        let enc = Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| {
            Error::Encoding(format!(
                "unknown encoding {label:?} (try utf-8, utf-16le, utf-16be, gbk, gb18030, \
                 windows-1252)"
            ))
        })?;
        return match scan(src, enc, 0, chunk)? {
            Ok(blank) => Ok(Detected {
                encoding: enc,
                start: 0,
                name: encoding_name(enc).to_string(),
                blank,
            }),
            Err((at, line)) => Err(Error::Encoding(format!(
                "the file is not valid {}: {}",
                encoding_name(enc),
                describe_at(src, 0, at, line)?
            ))),
        };
    }
    if let Some(enc) = sniff_utf16(&head) {
        return match scan(src, enc, 0, chunk)? {
            Ok(blank) => Ok(Detected {
                encoding: enc,
                start: 0,
                name: encoding_name(enc).to_string(),
                blank,
            }),
            Err((at, line)) => Err(Error::Encoding(format!(
                "the file looks like {} without a byte-order mark (NUL bytes between characters) \
                 but is not valid {}: {}",
                encoding_name(enc),
                encoding_name(enc),
                describe_at(src, 0, at, line)?
            ))),
        };
    }
    let (utf8_at, utf8_line) = match scan(src, UTF_8, 0, chunk)? {
        Ok(blank) => {
            return Ok(Detected {
                encoding: UTF_8,
                start: 0,
                name: UTF_8.name().to_string(),
                blank,
            });
        }
        Err(bad) => bad,
    };
    match scan(src, GB18030, 0, chunk)? {
        Ok(blank) => Ok(Detected {
            encoding: GB18030,
            start: 0,
            name: encoding_name(GB18030).to_string(),
            blank,
        }),
        Err((at, line)) => {
            let utf8 = describe_at(src, 0, utf8_at, utf8_line)?;
            let where_ = if at == utf8_at {
                utf8
            } else {
                format!(
                    "as UTF-8 {utf8}; as GBK/GB18030 {}",
                    describe_at(src, 0, at, line)?
                )
            };
            Err(Error::Encoding(format!(
                "the file is neither UTF-8 nor GBK/GB18030: {where_}; save it as UTF-8 or name \
                 its encoding"
            )))
        }
    }
}

/// Describes the bad bytes at `at` bytes past `start`, reading them from the source.
fn describe_at<R: Read + Seek>(src: &mut R, start: u64, at: usize, line: u64) -> Result<String> {
    src.seek(SeekFrom::Start(start + at as u64))?;
    let mut found = Vec::with_capacity(4);
    src.by_ref().take(4).read_to_end(&mut found)?;
    Ok(describe_bad(
        &found,
        at,
        usize::try_from(start).unwrap_or(usize::MAX),
        line,
    ))
}

/// Reads until `buf` is full or the source ends; the bytes read.
fn read_full(src: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(buf.get_mut(n..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Whether `c` leaves a text blank ([`super::is_blank`]).
fn blank_char(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

/// Decodes the source from `start` to its end under `enc` without keeping the text:
/// `Ok(blank)` when it all decodes, else the offset (from `start`) and line of the first bad
/// bytes, as [`super::decode_strict`] finds them.
fn scan<R: Read + Seek>(
    src: &mut R,
    enc: &'static Encoding,
    start: u64,
    chunk: usize,
) -> std::io::Result<Result<bool, (usize, u64)>> {
    src.seek(SeekFrom::Start(start))?;
    let mut buf = vec![0u8; chunk];
    let mut blank = true;
    let mut newlines = 0u64;
    if enc == UTF_8 {
        // `carry` holds a character cut by the end of a chunk; `pos` is where it starts.
        let (mut carry, mut pos) = (Vec::new(), 0usize);
        loop {
            let n = read_full(src, &mut buf)?;
            if n == 0 {
                return Ok(if carry.is_empty() {
                    Ok(blank)
                } else {
                    Err((pos, 1 + newlines))
                });
            }
            carry.extend_from_slice(buf.get(..n).unwrap_or_default());
            let (valid, bad) = match std::str::from_utf8(&carry) {
                Ok(s) => (s, false),
                Err(e) => (
                    std::str::from_utf8(carry.get(..e.valid_up_to()).unwrap_or_default())
                        .unwrap_or_default(),
                    e.error_len().is_some(),
                ),
            };
            blank = blank && valid.chars().all(blank_char);
            newlines += valid.bytes().filter(|&b| b == b'\n').count() as u64;
            let used = valid.len();
            if bad {
                return Ok(Err((pos + used, 1 + newlines)));
            }
            pos += used;
            carry.drain(..used);
        }
    }
    let mut decoder = enc.new_decoder_without_bom_handling();
    let mut out = Vec::new();
    let mut read_total = 0usize;
    loop {
        let n = read_full(src, &mut buf)?;
        let last = n == 0;
        let mut input = buf.get(..n).unwrap_or_default();
        loop {
            let room = decoder
                .max_utf8_buffer_length_without_replacement(input.len())
                .unwrap_or(usize::MAX)
                .clamp(16, 4 * chunk + 16);
            out.resize(room, 0);
            let (result, read, written) =
                decoder.decode_to_utf8_without_replacement(input, &mut out, last);
            read_total += read;
            input = input.get(read..).unwrap_or_default();
            let text = std::str::from_utf8(out.get(..written).unwrap_or_default()).unwrap_or("");
            blank = blank && text.chars().all(blank_char);
            newlines += text.bytes().filter(|&b| b == b'\n').count() as u64;
            match result {
                DecoderResult::InputEmpty => break,
                DecoderResult::OutputFull => {}
                DecoderResult::Malformed(bad, after) => {
                    let at = read_total.saturating_sub(usize::from(bad) + usize::from(after));
                    return Ok(Err((at, 1 + newlines)));
                }
            }
        }
        if last {
            return Ok(Ok(blank));
        }
    }
}

/// The decoded text of a source, a chunk at a time, for the CSV reader. Keeps the text from the
/// start of the record the row loop is at ([`Text::release`]) to what has been decoded.
struct Decoded<R> {
    src: R,
    /// `None` for UTF-8, which is checked and passed through.
    decoder: Option<encoding_rs::Decoder>,
    buf: Vec<u8>,
    /// UTF-8 bytes of a character cut by the end of a chunk.
    carry: Vec<u8>,
    /// The window of decoded text.
    text: Vec<u8>,
    /// Offset in the whole text of `text[0]`.
    start: u64,
    /// Bytes of `text` already handed to the CSV reader.
    handed: usize,
    /// Offset before which the text is no longer needed.
    keep: u64,
    /// Source bytes read.
    bytes_in: u64,
    /// The source is exhausted and the decoder flushed.
    finished: bool,
    /// Reading or decoding failed: nothing more is decoded.
    broken: bool,
    failure: Option<Error>,
}

impl<R: Read> Decoded<R> {
    fn new(src: R, enc: &'static Encoding, chunk: usize) -> Self {
        Self {
            src,
            decoder: (enc != UTF_8).then(|| enc.new_decoder_without_bom_handling()),
            buf: vec![0; chunk],
            carry: Vec::new(),
            text: Vec::new(),
            start: 0,
            handed: 0,
            keep: 0,
            bytes_in: 0,
            finished: false,
            broken: false,
            failure: None,
        }
    }

    /// Decodes until the window holds `len` bytes or the text ends.
    fn fill(&mut self, len: usize) -> Result<()> {
        while self.text.len() < len && !self.finished {
            if let Err(e) = self.decode_more() {
                return Err(self.failure.take().unwrap_or(Error::Io(e)));
            }
        }
        Ok(())
    }

    /// Decodes the next chunk of the source onto the window (after trimming what is no
    /// longer needed).
    fn decode_more(&mut self) -> std::io::Result<()> {
        if self.broken {
            return Err(std::io::Error::other("the source failed"));
        }
        let spent = usize::try_from(self.keep.saturating_sub(self.start))
            .unwrap_or(usize::MAX)
            .min(self.handed);
        if spent > 0 && spent * 2 >= self.text.len() {
            self.text.drain(..spent);
            self.start += spent as u64;
            self.handed -= spent;
        }
        let n = match read_full(&mut self.src, &mut self.buf) {
            Ok(n) => n,
            Err(e) => return Err(self.fail(Error::Io(e))),
        };
        self.bytes_in += n as u64;
        let last = n == 0;
        let input = self.buf.get(..n).unwrap_or_default();
        let bad = match &mut self.decoder {
            None => push_utf8(&mut self.carry, &mut self.text, input, last),
            Some(decoder) => push_decoded(decoder, &mut self.text, input, last),
        };
        if let Some(encoding) = bad {
            return Err(self.fail(changed(encoding)));
        }
        self.finished = last;
        Ok(())
    }

    /// Keeps `e` to be reported by [`Text::take_failure`]; the I/O error for the CSV reader.
    fn fail(&mut self, e: Error) -> std::io::Error {
        let io = std::io::Error::other(e.to_string());
        self.broken = true;
        self.failure = Some(e);
        io
    }
}

/// Appends the complete UTF-8 characters of `carry` + `input` to `text` and keeps a cut one in
/// `carry`; the encoding's name when the bytes are not UTF-8 (the source changed since
/// [`scan`]).
fn push_utf8(
    carry: &mut Vec<u8>,
    text: &mut Vec<u8>,
    input: &[u8],
    last: bool,
) -> Option<&'static str> {
    carry.extend_from_slice(input);
    let (valid, bad) = match std::str::from_utf8(carry) {
        Ok(_) => (carry.len(), false),
        Err(e) => (e.valid_up_to(), e.error_len().is_some() || last),
    };
    text.extend_from_slice(carry.get(..valid).unwrap_or_default());
    carry.drain(..valid);
    bad.then_some("UTF-8")
}

/// Decodes `input` onto `text`; the encoding's name on malformed bytes.
fn push_decoded(
    decoder: &mut encoding_rs::Decoder,
    text: &mut Vec<u8>,
    mut input: &[u8],
    last: bool,
) -> Option<&'static str> {
    loop {
        let room = decoder
            .max_utf8_buffer_length_without_replacement(input.len())
            .unwrap_or(usize::MAX)
            .clamp(16, 4 * input.len() + 16);
        let old = text.len();
        text.resize(old + room, 0);
        let (result, read, written) = decoder.decode_to_utf8_without_replacement(
            input,
            text.get_mut(old..).unwrap_or_default(),
            last,
        );
        text.truncate(old + written);
        input = input.get(read..).unwrap_or_default();
        match result {
            DecoderResult::InputEmpty => return None,
            DecoderResult::OutputFull => {}
            DecoderResult::Malformed(..) => return Some(encoding_name(decoder.encoding())),
        }
    }
}

/// The error for a source whose bytes no longer decode on the second pass.
fn changed(encoding: &str) -> Error {
    Error::Encoding(format!(
        "the file is no longer valid {encoding}: it changed while it was being read"
    ))
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.handed >= self.text.len() {
            if self.finished {
                return Ok(0);
            }
            self.decode_more()?;
        }
        let rest = self.text.get(self.handed..).unwrap_or_default();
        let n = rest.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.handed += n;
        Ok(n)
    }
}

impl<R: Read> Text for Decoded<R> {
    fn newlines_at(&mut self, at: u64) -> u64 {
        // The run may reach past what is decoded: decode more (never trimming before `at`,
        // which is not before the start of the current record).
        let mut pos = at;
        let mut newlines = 0;
        loop {
            let Some(from) = pos
                .checked_sub(self.start)
                .and_then(|d| usize::try_from(d).ok())
            else {
                return newlines;
            };
            let rest = self.text.get(from..).unwrap_or_default();
            let run = rest
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            newlines += newline_run(rest.get(..run).unwrap_or_default());
            pos += run as u64;
            if run < rest.len() || self.finished || self.decode_more().is_err() {
                return newlines;
            }
        }
    }

    fn release(&mut self, at: u64) {
        self.keep = self.keep.max(at);
    }

    fn take_failure(&mut self) -> Option<Error> {
        self.failure.take()
    }
}
