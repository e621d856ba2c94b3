//! Fuzzes CSV ingest: `read_csv` under both policies (default options, then options chosen by the
//! input's last byte), `read_csv_keeping_text` against it (the same leads, parsed back from the
//! kept text), `read_header`, `decode` and `sniff_delimiter`. Seed the corpus from
//! `tests/fixtures/bad_csv/*.csv`.
#![no_main]

use std::sync::OnceLock;

use leadladder_core::ingest::{decode, read_csv, read_csv_keeping_text, read_header, sniff_delimiter};
use leadladder_core::{Dataset, Error, IngestOptions, Policy, Spec};
use libfuzzer_sys::fuzz_target;

static SPEC_TOML: &str = include_str!("../../tests/fixtures/bad_csv/spec.toml");
static SPEC: OnceLock<Spec> = OnceLock::new();

fn spec() -> &'static Spec {
    SPEC.get_or_init(|| match Spec::from_toml(SPEC_TOML) {
        Ok(spec) => spec,
        Err(e) => panic!("corpus spec: {e}"),
    })
}

/// Options derived from one control byte.
fn options(ctl: u8) -> IngestOptions {
    IngestOptions {
        policy: Policy::Strict,
        delimiter: [
            None,
            Some(b','),
            Some(b';'),
            Some(b'\t'),
            Some(b'|'),
            Some(b'"'),
            Some(0xFF),
            None,
        ][usize::from(ctl & 7)],
        encoding: [None, Some("utf-8"), Some("gbk"), Some("utf-16be")][usize::from((ctl >> 3) & 3)]
            .map(str::to_string),
        max_field_bytes: if ctl & 0x20 != 0 { 4 } else { 1 << 20 },
        extra_scores: if ctl & 0x40 != 0 {
            vec!["crm score".to_string()]
        } else {
            Vec::new()
        },
        ..IngestOptions::default()
    }
}

fn check(ds: &Dataset, policy: Policy) {
    let r = &ds.report;
    assert_eq!(r.rows_read, r.rows_loaded + r.rows_skipped);
    assert_eq!(ds.leads.len() as u64, r.rows_loaded);
    assert!(r.rows_loaded > 0);
    assert!(policy == Policy::Skip || r.rows_skipped == 0);
    for lead in &ds.leads {
        assert_eq!(lead.values.len(), ds.schema.columns.len());
    }
    for issue in &r.issues {
        assert!(issue.value.chars().count() <= 80);
    }
}

fn read_both(data: &[u8], base: &IngestOptions) {
    let strict = read_csv(
        data,
        spec(),
        &IngestOptions {
            policy: Policy::Strict,
            ..base.clone()
        },
    );
    let skip = read_csv(
        data,
        spec(),
        &IngestOptions {
            policy: Policy::Skip,
            ..base.clone()
        },
    );
    for (res, policy) in [(&strict, Policy::Strict), (&skip, Policy::Skip)] {
        match res {
            Ok(ds) => check(ds, policy),
            Err(e) => drop(e.to_string()),
        }
    }
    // The reader that keeps only the text gives the same leads, each parsed back from its place.
    let kept = read_csv_keeping_text(
        data.to_vec(),
        spec(),
        &IngestOptions {
            policy: Policy::Skip,
            ..base.clone()
        },
    );
    match (&skip, &kept) {
        (Ok(ds), Ok(read)) => {
            assert_eq!(ds.report, read.report);
            assert_eq!(ds.leads.len(), read.keys.len());
            for (i, lead) in ds.leads.iter().enumerate() {
                let record = read.raw.get(i).expect("a kept record");
                assert_eq!(&read.parser.parse(&record, lead.row).expect("parses again"), lead);
            }
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("read_csv and read_csv_keeping_text disagree"),
    }
    match (&strict, &skip) {
        (Ok(a), Ok(b)) => assert_eq!(a.report, b.report),
        (Err(Error::Row(issue)), Ok(ds)) => assert_eq!(ds.report.issues.first(), Some(issue)),
        (Err(Error::Row(_)), Err(Error::NoUsableRows { .. })) => {}
        (Err(a), Err(b)) => {
            assert!(!matches!(b, Error::Row(_)));
            assert_eq!(a.to_string(), b.to_string());
        }
        _ => panic!("the policies disagree"),
    }
}

fuzz_target!(|data: &[u8]| {
    read_both(data, &IngestOptions::default());
    if let Some(&ctl) = data.last() {
        let opts = options(ctl);
        read_both(data, &opts);
        let _ = read_header(data, &opts);
    }
    if let Ok((text, _)) = decode(data, None) {
        let d = sniff_delimiter(&text);
        assert!(matches!(d, b',' | b';' | b'\t' | b'|'));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sniff_delimiter(text);
    }
});
