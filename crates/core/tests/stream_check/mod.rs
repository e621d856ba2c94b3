//! Shared by the ingest tests: a file read a batch at a time ([`LeadReader`]) must give exactly
//! what [`read_csv_with_raw`] gives for the whole file (leads, raw cells, report, ids, errors),
//! whatever the chunk of bytes read and the rows per batch.
#![allow(clippy::unwrap_used, dead_code)]

use std::io::Cursor;

use leadladder_core::ingest::{LeadReader, RawRows, read_csv_keeping_text, read_csv_with_raw};
use leadladder_core::{Dataset, IngestOptions, Result, Spec};

/// Byte chunks and batch sizes tried: boundaries inside characters, quotes and CRLFs, and one
/// batch for everything.
const READS: [(usize, usize); 4] = [(1, 1), (3, 2), (7, 1000), (1 << 16, 5)];

fn streamed(
    bytes: &[u8],
    spec: &Spec,
    opts: &IngestOptions,
    chunk: usize,
    batch: usize,
) -> Result<(Dataset, RawRows)> {
    let mut reader = LeadReader::with_chunk(Cursor::new(bytes), spec, opts, chunk)?;
    let (mut leads, mut raw) = (Vec::new(), RawRows::default());
    while reader.read_batch(batch, &mut leads, Some(&mut raw))? > 0 {
        assert_eq!(leads.len(), raw.len());
    }
    let end = reader.finish()?;
    assert_eq!(end.ids.len(), leads.len());
    for (k, lead) in leads.iter().enumerate() {
        assert_eq!(end.ids.get(k), Some(&*lead.id));
        assert_eq!(end.ids.row(k), Some(lead.row));
        // A lead parsed again from its raw cells is the same lead.
        let again = reader
            .parse_cells(raw.get(k).unwrap().iter(), lead.row)
            .unwrap();
        assert_eq!(&again, lead);
    }
    raw.header = end.header;
    let ds = Dataset {
        schema: end.schema,
        leads,
        report: end.report,
    };
    Ok((ds, raw))
}

/// [`read_csv_keeping_text`] as the whole-file reader's result: every lead parsed back from its
/// place in the kept text, checked against its key.
fn kept(bytes: &[u8], spec: &Spec, opts: &IngestOptions) -> Result<(Dataset, RawRows)> {
    let read = read_csv_keeping_text(bytes.to_vec(), spec, opts)?;
    assert_eq!(read.keys.len(), read.raw.len());
    let mut leads = Vec::with_capacity(read.keys.len());
    for (i, key) in read.keys.iter().enumerate() {
        let lead = read.parser.parse(&read.raw.get(i).unwrap(), key.row)?;
        assert_eq!(
            (&lead.id, lead.created_at, lead.row),
            (&key.id, key.created_at, key.row)
        );
        leads.push(lead);
    }
    let ds = Dataset {
        schema: read.parser.schema().clone(),
        leads,
        report: read.report,
    };
    Ok((ds, read.raw))
}

/// Asserts that streaming `bytes`, and reading them while keeping only the text
/// ([`read_csv_keeping_text`]), read what the whole-file reader reads.
pub fn assert_stream_matches(bytes: &[u8], spec: &Spec, opts: &IngestOptions) {
    let want = read_csv_with_raw(bytes, spec, opts);
    let kept = kept(bytes, spec, opts);
    let reads = READS.iter().map(|&(chunk, batch)| {
        let ctx = format!("chunk {chunk}, batch {batch}, {} bytes", bytes.len());
        (ctx, streamed(bytes, spec, opts, chunk, batch))
    });
    let all = std::iter::once((format!("text kept, {} bytes", bytes.len()), kept)).chain(reads);
    for (ctx, got) in all {
        match (&want, &got) {
            (Ok((a, raw_a)), Ok((b, raw_b))) => {
                assert_eq!(a.schema, b.schema, "{ctx}");
                assert_eq!(a.leads, b.leads, "{ctx}");
                assert_eq!(a.report, b.report, "{ctx}");
                assert_eq!(raw_a.header, raw_b.header, "{ctx}");
                assert_eq!(raw_a.len(), raw_b.len(), "{ctx}");
                for i in 0..raw_a.len() {
                    let (x, y) = (raw_a.get(i).unwrap(), raw_b.get(i).unwrap());
                    assert_eq!(
                        x.iter().collect::<Vec<_>>(),
                        y.iter().collect::<Vec<_>>(),
                        "{ctx}, lead {i}"
                    );
                }
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{ctx}"),
            (a, b) => panic!(
                "{ctx}: whole file {:?}, streamed {:?}",
                a.as_ref().map(|d| &d.0.report),
                b.as_ref().map(|d| &d.0.report)
            ),
        }
    }
}
