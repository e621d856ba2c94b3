//! The ranked queue of a file read a batch at a time ([`crate::ingest::LeadReader`]), for files
//! too large to hold: the same order and the same CSV bytes as [`crate::Queue`], keeping in
//! memory per lead only what the order needs (its two scores, created_at and, through
//! [`LeadIds`], its id) and where its cells are in a scratch file.
//!
//! One of the two [`RankedStore`]s of the ranking pipeline ([`crate::pipeline::file`] drives
//! it). A run pushes each batch of leads as it is read ([`DiskQueue::push`]: their cells go to
//! the scratch file), stores their scores as they come ([`RankedStore::set_scores`], in any
//! order), hands over the ids when the read is over ([`DiskQueue::finish_read`]), then orders,
//! explains the top leads (their cells are read back: [`DiskQueue::cells`]) and writes
//! ([`RankedStore::write_csv`]: the rows are read back in rank order).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};

use crate::dataset::Lead;
use crate::error::{Error, Result};
use crate::export::{RankedExtra, RankedWriter, grade_for_rank};
use crate::fs::ScratchFile;
use crate::ingest::{LeadIds, RawRows};
use crate::pipeline::{RankedStore, Score};
use crate::queue::queue_cmp;

/// Leads per base offset of [`DiskQueue`]'s 32-bit row offsets.
const BASE_EVERY: usize = 1 << 12;

/// A ranked queue whose rows wait in a scratch file; see the module documentation.
#[derive(Debug)]
pub struct DiskQueue {
    /// The file's own header.
    header: Vec<String>,
    scratch: ScratchFile,
    /// Appends rows while the file is read; `None` after [`DiskQueue::finish_read`].
    writer: Option<BufWriter<File>>,
    /// Where each lead's row starts in the scratch file: `bases[j].1 + offsets[k]` for the last
    /// base `j` whose first lead `bases[j].0` is not after `k` (a new base every
    /// [`BASE_EVERY`] leads, or when an offset would not fit in 32 bits).
    offsets: Vec<u32>,
    bases: Vec<(usize, u64)>,
    /// Where the next row goes.
    end: u64,
    created_at: Vec<i64>,
    /// Rank score and p_convert; NaN until scored.
    scores: Vec<[f32; 2]>,
    reasons: BTreeMap<usize, String>,
    ids: LeadIds,
}

impl DiskQueue {
    /// An empty queue for a file with this header, keeping rows in `scratch`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the scratch file cannot be opened a second time for writing.
    pub fn new(scratch: ScratchFile, header: Vec<String>) -> Result<Self> {
        let writer = BufWriter::with_capacity(1 << 16, scratch.file().try_clone()?);
        Ok(Self {
            header,
            scratch,
            writer: Some(writer),
            offsets: Vec::new(),
            bases: Vec::new(),
            end: 0,
            created_at: Vec::new(),
            scores: Vec::new(),
            reasons: BTreeMap::new(),
            ids: LeadIds::default(),
        })
    }

    /// Makes room for `additional` more leads, for a caller that can estimate how many the file
    /// holds (nothing then grows, or leaves holes in the heap, as it is read).
    pub fn reserve(&mut self, additional: usize) {
        self.offsets.reserve(additional);
        self.created_at.reserve(additional);
        self.scores.reserve(additional);
    }

    /// Where the k-th lead's row starts in the scratch file; the end of the last row for
    /// `k == len`.
    fn start(&self, k: usize) -> Option<u64> {
        if k == self.len() {
            return Some(self.end);
        }
        let j = self.bases.partition_point(|&(first, _)| first <= k);
        let (_, base) = *self.bases.get(j.checked_sub(1)?)?;
        Some(base + u64::from(*self.offsets.get(k)?))
    }

    /// Leads pushed.
    pub fn len(&self) -> usize {
        self.created_at.len()
    }

    /// True when no lead was pushed.
    pub fn is_empty(&self) -> bool {
        self.created_at.is_empty()
    }

    /// Appends the next leads as read, with their raw cells (`raw.get(i)` for `leads[i]`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when a lead has no raw row, after the read is over, or for a
    /// cell over 4 GiB; [`Error::Io`] when the scratch file cannot be written.
    pub fn push(&mut self, leads: &[Lead], raw: &RawRows) -> Result<()> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(Error::InvalidArgument(
                "leads pushed after the read was finished".into(),
            ));
        };
        let mut lens = Vec::new();
        for (i, lead) in leads.iter().enumerate() {
            let no_row = || Error::InvalidArgument(format!("lead `{}` has no raw row", lead.id));
            lens.clear();
            for cell in raw.get(i).ok_or_else(no_row)?.iter() {
                lens.push(u32::try_from(cell.len()).map_err(|_| {
                    Error::InvalidArgument(format!(
                        "lead `{}` (row {}) has a cell over 4 GiB",
                        lead.id, lead.row
                    ))
                })?);
            }
            let count = u32::try_from(lens.len()).map_err(|_| {
                Error::InvalidArgument(format!("lead `{}` has too many cells", lead.id))
            })?;
            writer.write_all(&count.to_le_bytes())?;
            for len in &lens {
                writer.write_all(&len.to_le_bytes())?;
            }
            for cell in raw.get(i).ok_or_else(no_row)?.iter() {
                writer.write_all(cell.as_bytes())?;
            }
            let k = self.created_at.len();
            let base = match self.bases.last() {
                Some(&(first, at)) if k - first < BASE_EVERY => u32::try_from(self.end - at).ok(),
                _ => None,
            };
            let offset = base.unwrap_or_else(|| {
                self.bases.push((k, self.end));
                0
            });
            self.offsets.push(offset);
            self.end +=
                4 * (1 + lens.len() as u64) + lens.iter().map(|&l| u64::from(l)).sum::<u64>();
            self.created_at.push(lead.created_at);
            self.scores.push([f32::NAN; 2]);
        }
        Ok(())
    }

    /// Ends the read: flushes the scratch file and takes the ids of the pushed leads.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when `ids` does not hold one id per pushed lead,
    /// [`Error::Io`] when the scratch file cannot be written.
    pub fn finish_read(&mut self, ids: LeadIds) -> Result<()> {
        if ids.len() != self.len() {
            return Err(Error::InvalidArgument(format!(
                "{} ids for {} leads",
                ids.len(),
                self.len()
            )));
        }
        if let Some(mut w) = self.writer.take() {
            w.flush()?;
        }
        self.ids = ids;
        Ok(())
    }

    /// The k-th lead's id (after [`DiskQueue::finish_read`]).
    pub fn id(&self, k: usize) -> Option<&str> {
        self.ids.get(k)
    }

    /// The k-th lead's data row (after [`DiskQueue::finish_read`]).
    pub fn row(&self, k: usize) -> Option<u64> {
        self.ids.row(k)
    }

    /// The k-th lead's rank score and p_convert (NaN until scored).
    pub fn score(&self, k: usize) -> Option<(f32, f32)> {
        self.scores.get(k).map(|&[s, p]| (s, p))
    }

    /// The k-th lead's cells as read, from the scratch file.
    ///
    /// # Errors
    ///
    /// [`Error::NoLead`] for a bad index, [`Error::Io`] when the scratch file cannot be read.
    pub fn cells(&self, k: usize) -> Result<csv::StringRecord> {
        let mut buf = Vec::new();
        let mut record = csv::StringRecord::new();
        self.read_cells(k, &mut buf, &mut record)?;
        Ok(record)
    }

    fn read_cells(
        &self,
        k: usize,
        buf: &mut Vec<u8>,
        record: &mut csv::StringRecord,
    ) -> Result<()> {
        let (Some(start), Some(end)) = (self.start(k), self.start(k + 1)) else {
            return Err(Error::NoLead {
                index: k,
                len: self.len(),
            });
        };
        let len = usize::try_from(end - start)
            .map_err(|_| Error::InvalidArgument(format!("row {k} is too large to read")))?;
        buf.resize(len, 0);
        let mut file = self.scratch.file();
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(buf)?;
        let corrupt = || {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the scratch file's row {k} is damaged"),
            ))
        };
        let word = |at: usize| -> Result<usize> {
            let b = buf.get(at..at + 4).ok_or_else(corrupt)?;
            Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        };
        let count = word(0)?;
        let mut at = 4 + 4 * count;
        record.clear();
        for c in 0..count {
            let len = word(4 + 4 * c)?;
            let bytes = buf.get(at..at + len).ok_or_else(corrupt)?;
            record.push_field(std::str::from_utf8(bytes).map_err(|_| corrupt())?);
            at += len;
        }
        Ok(())
    }

    /// Keeps a lead's reasons (one line) for the export.
    ///
    /// # Errors
    ///
    /// [`Error::NoLead`] for a bad index.
    pub fn set_reasons(&mut self, k: usize, reasons: String) -> Result<()> {
        if k >= self.len() {
            return Err(Error::NoLead {
                index: k,
                len: self.len(),
            });
        }
        self.reasons.insert(k, reasons);
        Ok(())
    }
}

impl RankedStore for DiskQueue {
    fn len(&self) -> usize {
        DiskQueue::len(self)
    }

    /// Scores may arrive in any order, before the read is over. The pipeline's scoring step
    /// has already refused a non-finite score naming the lead ([`crate::pipeline::score_block`]);
    /// the queue, which learns ids only at the end of the read, names it by index.
    fn set_scores(&mut self, start: usize, scores: &[Score]) -> Result<()> {
        let len = self.len();
        let end = start.saturating_add(scores.len());
        let ids = &self.ids;
        let Some(slots) = self.scores.get_mut(start..end) else {
            return Err(Error::LeadRange { start, end, len });
        };
        for (k, (slot, s)) in slots.iter_mut().zip(scores).enumerate() {
            let index = start + k;
            match ids.get(index) {
                Some(id) => s.check_for(id, ids.row(index).unwrap_or(0))?,
                None if !(s.rank.is_finite() && s.p_convert.is_finite()) => {
                    return Err(Error::InvalidArgument(format!(
                        "lead {index} got a non-finite score ({}, p {})",
                        s.rank, s.p_convert
                    )));
                }
                None => {}
            }
            *slot = [s.rank, s.p_convert];
        }
        Ok(())
    }

    /// [`crate::queue::queue_order`]'s order, by [`queue_cmp`].
    ///
    /// Also [`Error::InvalidArgument`] before [`DiskQueue::finish_read`].
    fn order(&self) -> Result<Vec<u32>> {
        if self.writer.is_some() {
            return Err(Error::InvalidArgument(
                "the queue is ordered once the read is finished".into(),
            ));
        }
        if let Some(index) = self.scores.iter().position(|s| s[0].is_nan()) {
            return Err(Error::NotScored {
                index,
                row: self.row(index).unwrap_or(0),
            });
        }
        // At most u32::MAX - 1 leads: LeadIds refuses more.
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        let key = |i: u32| {
            let i = i as usize;
            (
                self.scores.get(i).map_or(f32::NAN, |s| s[0]),
                self.created_at.get(i).copied().unwrap_or(i64::MIN),
                self.ids.get(i).unwrap_or(""),
            )
        };
        // Ids are unique, so no two leads compare equal and an unstable sort (which needs no
        // buffer) gives queue_order's order.
        order.sort_unstable_by(|&a, &b| queue_cmp(key(a), key(b)));
        Ok(order)
    }

    fn set_reasons(&mut self, index: usize, reasons: String) -> Result<()> {
        DiskQueue::set_reasons(self, index, reasons)
    }

    /// The rows are read back from the scratch file in rank order.
    fn write_csv(&self, w: &mut dyn Write, order: &[u32]) -> Result<u64> {
        let n = order.len();
        let mut out = RankedWriter::new(w, &self.header)?;
        let (mut buf, mut record) = (Vec::new(), csv::StringRecord::new());
        for (k, &i) in order.iter().enumerate() {
            let i = i as usize;
            self.read_cells(i, &mut buf, &mut record)?;
            let (score, p_convert) = self.score(i).unwrap_or((f32::NAN, f32::NAN));
            let extra = RankedExtra {
                rank: k + 1,
                score,
                p_convert,
                grade: grade_for_rank(k + 1, n),
                reasons: self.reasons.get(&i).cloned(),
            };
            out.row(record.iter(), &extra)?;
        }
        out.finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Cursor;

    use super::*;
    use crate::dataset::IngestOptions;
    use crate::ingest::LeadReader;
    use crate::testing::{csv, spec};
    use crate::{Error, Queue};

    /// A stand-in score per lead: few distinct values, so the order leans on created_at and id.
    fn fake(i: usize) -> Score {
        let r = ((i * 37) % 5) as f32 / 2.0 - 1.0;
        Score {
            rank: r,
            logit: r,
            p_convert: 1.0 / (1.0 + (-r).exp()),
        }
    }

    fn scratch(name: &str) -> (std::path::PathBuf, ScratchFile) {
        let dir = std::env::temp_dir().join(format!(
            "leadladder-disk-queue-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let f = ScratchFile::beside(&dir.join("out.csv"), "rows").unwrap();
        (dir, f)
    }

    #[test]
    fn writes_the_bytes_of_the_in_memory_queue() {
        let n = 300;
        let bytes = csv(n);
        let spec = spec().scoring();
        let opts = IngestOptions::default();
        let mut q = Queue::read(&spec, bytes.clone(), opts.clone()).unwrap();
        let idx: Vec<usize> = (0..n).collect();
        let scores: Vec<Score> = idx.iter().map(|&i| fake(i)).collect();
        q.set_scores_at(&idx, &scores).unwrap();
        let top = q.order().unwrap()[0] as usize;
        q.set_reasons(top, "channel (+0.50)".into()).unwrap();
        let want = q.export_csv().unwrap();

        let (dir, file) = scratch("same");
        let mut reader = LeadReader::new(Cursor::new(bytes), &spec, &opts).unwrap();
        let mut dq = DiskQueue::new(file, reader.header().to_vec()).unwrap();
        dq.reserve(10);
        let (mut leads, mut raw) = (Vec::new(), crate::ingest::RawRows::default());
        while reader.read_batch(7, &mut leads, Some(&mut raw)).unwrap() > 0 {
            let start = dq.len();
            dq.push(&leads, &raw).unwrap();
            // Scores arrive in any order; the first batch's last.
            if start > 0 {
                dq.set_scores(start, &scores[start..start + leads.len()])
                    .unwrap();
            }
            leads.clear();
            raw.clear();
        }
        assert!(matches!(dq.order(), Err(Error::InvalidArgument(_))));
        dq.finish_read(reader.finish().unwrap().ids).unwrap();
        assert!(matches!(
            dq.order(),
            Err(Error::NotScored { index: 0, row: 1 })
        ));
        dq.set_scores(0, &scores[..7]).unwrap();
        let order = dq.order().unwrap();
        assert_eq!(order[0] as usize, top);
        assert_eq!(dq.cells(3).unwrap().get(0), Some("L003"));
        dq.set_reasons(top, "channel (+0.50)".into()).unwrap();
        let mut got = Vec::new();
        assert_eq!(dq.write_csv(&mut got, &order).unwrap(), n as u64);
        assert_eq!(String::from_utf8(got).unwrap(), want);

        let nan = Score {
            rank: f32::NAN,
            ..fake(0)
        };
        let err = dq.set_scores(4, &[nan]).unwrap_err();
        assert!(err.to_string().contains("`L004` (row 5)"), "{err}");
        assert!(dq.set_scores(299, &scores[..2]).is_err());
        assert!(dq.cells(n).is_err() && dq.set_reasons(n, String::new()).is_err());
        drop(dq);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
