//! Property tests for CSV ingest: no input panics, reports stay consistent, the two policies agree,
//! and well-formed files round-trip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod stream_check;

use leadladder_core::ingest::{decode, read_csv, read_header, sniff_delimiter};
use leadladder_core::value::format_timestamp;
use leadladder_core::{Dataset, Error, IngestOptions, Policy, Result, Spec, Value};
use proptest::prelude::*;

const SPEC: &str = r#"
[columns]
id = "lead_id"
created_at = "created_at"
categorical = ["channel"]
numeric = ["calls"]
boolean = ["visit_booked"]
text = ["dialogue"]
ignore = ["owner"]
[label]
column = "outcome"
equals = "won"
[[rung]]
name = "test drive"
margin = 0.5
better = { column = "test_drive", equals = true }
worse = { column = "test_drive", equals = false }
"#;

const HEADER: [&str; 8] = [
    "lead_id",
    "created_at",
    "channel",
    "calls",
    "visit_booked",
    "dialogue",
    "outcome",
    "test_drive",
];

fn spec() -> Spec {
    Spec::from_toml(SPEC).unwrap()
}

fn check_report(ds: &Dataset, policy: Policy) {
    let r = &ds.report;
    assert_eq!(r.rows_read, r.rows_loaded + r.rows_skipped, "{r:?}");
    assert_eq!(ds.leads.len() as u64, r.rows_loaded);
    assert!(r.rows_loaded > 0);
    if policy == Policy::Strict {
        assert_eq!(r.rows_skipped, 0);
        assert!(r.issues.is_empty());
    }
    for lead in &ds.leads {
        assert_eq!(lead.values.len(), ds.schema.columns.len());
    }
    for issue in &r.issues {
        assert!(issue.value.chars().count() <= 80);
    }
}

/// Reads under both policies and checks the invariants and how the two results relate, and that
/// a read a batch at a time agrees with each.
fn read_both(bytes: &[u8], base: &IngestOptions) {
    let spec = spec();
    for policy in [Policy::Strict, Policy::Skip] {
        let opts = IngestOptions {
            policy,
            ..base.clone()
        };
        stream_check::assert_stream_matches(bytes, &spec, &opts);
    }
    let strict = read_csv(
        bytes,
        &spec,
        &IngestOptions {
            policy: Policy::Strict,
            ..base.clone()
        },
    );
    let skip = read_csv(
        bytes,
        &spec,
        &IngestOptions {
            policy: Policy::Skip,
            ..base.clone()
        },
    );
    for (res, policy) in [(&strict, Policy::Strict), (&skip, Policy::Skip)] {
        match res {
            Ok(ds) => check_report(ds, policy),
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    match (&strict, &skip) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.leads, b.leads);
            assert_eq!(a.report, b.report);
        }
        (Err(Error::Row(issue)), Ok(ds)) => assert_eq!(ds.report.issues.first(), Some(issue)),
        (Err(Error::Row(_)), Err(Error::NoUsableRows { .. })) => {}
        (Err(a), Err(b)) => {
            assert!(
                !matches!(b, Error::Row(_)),
                "skip policy returned a row error: {b}"
            );
            assert_eq!(a.to_string(), b.to_string());
        }
        (a, b) => panic!(
            "policies disagree: strict {:?} / skip {:?}",
            a.as_ref().map(|d| &d.report),
            b.as_ref().map(|d| &d.report)
        ),
    }
    let _ = read_header(bytes, base);
}

fn options() -> impl Strategy<Value = IngestOptions> {
    (
        prop::option::of(prop::sample::select(vec![
            b',', b';', b'\t', b'|', b'"', b'\n', 0xE9,
        ])),
        prop::option::of(prop::sample::select(vec![
            "utf-8", "utf-16le", "utf-16be", "gbk", "latin1", "x",
        ])),
        prop::sample::select(vec![1usize << 20, 8, 1, 0]),
        prop::sample::select(vec![
            vec![],
            vec!["score".to_string()],
            vec!["calls".to_string()],
        ]),
    )
        .prop_map(
            |(delimiter, encoding, max_field_bytes, extra_scores)| IngestOptions {
                policy: Policy::Strict,
                encoding: encoding.map(str::to_string),
                delimiter,
                max_field_bytes,
                extra_scores,
                ..IngestOptions::default()
            },
        )
}

/// Cells that exercise the parsers and the CSV syntax.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("L1".to_string()),
        Just("L2".to_string()),
        Just("2025-03-04".to_string()),
        Just("03/04/2025 10:20".to_string()),
        Just("2025年3月4日".to_string()),
        Just("1741046400".to_string()),
        Just("1,234.5".to_string()),
        Just("-3".to_string()),
        Just("yes".to_string()),
        Just("否".to_string()),
        Just("won".to_string()),
        Just("=SUM(A1)".to_string()),
        Just("\"quoted, cell\"".to_string()),
        Just("\"unclosed".to_string()),
        Just("a\"b".to_string()),
        Just("\"multi\nline\"".to_string()),
        Just("\0".to_string()),
        Just("\u{feff}".to_string()),
        Just("想试驾".to_string()),
        Just(" ".to_string()),
        "[a-z0-9,;|\t\"\r\n -]{0,12}",
        any::<String>(),
    ]
}

fn header_line() -> impl Strategy<Value = Vec<String>> {
    let names: Vec<String> = HEADER
        .iter()
        .map(|s| (*s).to_string())
        .chain(["owner".into(), "extra".into(), "LEAD ID".into()])
        .collect();
    prop_oneof![
        3 => Just(HEADER.iter().map(|s| (*s).to_string()).collect::<Vec<_>>()),
        1 => prop::sample::subsequence(names.clone(), 0..names.len()).prop_shuffle(),
        1 => prop::collection::vec(prop::sample::select(names), 0..12),
    ]
}

fn near_csv() -> impl Strategy<Value = (Vec<u8>, IngestOptions)> {
    (
        header_line(),
        prop::collection::vec(prop::collection::vec(cell(), 0..11), 0..8),
        prop::sample::select(vec![",", ";", "\t", "|"]),
        prop::sample::select(vec!["\n", "\r\n", "\r"]),
        0u8..5,
        options(),
    )
        .prop_map(|(header, rows, sep, eol, enc, opts)| {
            let mut text = header.join(sep);
            for row in rows {
                text.push_str(eol);
                text.push_str(&row.join(sep));
            }
            let bytes = match enc {
                0 => text.into_bytes(),
                1 => [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
                2 => [0xFF, 0xFE]
                    .into_iter()
                    .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
                    .collect(),
                3 => text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
                _ => encoding_rs::GB18030.encode(&text).0.into_owned(),
            };
            (bytes, opts)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), opts in options()) {
        read_both(&bytes, &opts);
        let _ = decode(&bytes, None);
        let _ = decode(&bytes, opts.encoding.as_deref());
    }

    #[test]
    fn near_csv_never_panics((bytes, opts) in near_csv()) {
        read_both(&bytes, &opts);
        read_both(&bytes, &IngestOptions::default());
    }

    #[test]
    fn sniffing_any_text_never_panics(text in any::<String>()) {
        let d = sniff_delimiter(&text);
        prop_assert!([b',', b';', b'\t', b'|'].contains(&d));
    }

    #[test]
    fn plain_utf8_is_borrowed_unchanged(text in any::<String>()) {
        prop_assume!(!text.contains('\0') && !text.starts_with('\u{feff}'));
        let (decoded, name) = decode(text.as_bytes(), None).unwrap();
        prop_assert!(matches!(decoded, std::borrow::Cow::Borrowed(_)));
        prop_assert_eq!(decoded.as_ref(), text.as_str());
        prop_assert_eq!(name, "UTF-8");
    }
}

#[derive(Debug, Clone)]
struct GenLead {
    created_days: i64,
    channel: String,
    calls: Option<i32>,
    booked: Option<bool>,
    dialogue: String,
    outcome: String,
    test_drive: Option<bool>,
}

fn gen_lead() -> impl Strategy<Value = GenLead> {
    let text = "[ a-zA-Z0-9,;|\t\"\n'=+@-]{0,30}|[想试驾价格，。]{0,8}";
    (
        0i64..40_000,
        text,
        prop::option::of(-100_000i32..100_000),
        prop::option::of(any::<bool>()),
        text,
        text,
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            |(created_days, channel, calls, booked, dialogue, outcome, test_drive)| GenLead {
                created_days,
                channel,
                calls,
                booked,
                dialogue,
                outcome,
                test_drive,
            },
        )
}

fn write_csv(leads: &[GenLead], delimiter: u8) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(Vec::new());
    w.write_record(HEADER).unwrap();
    let b = |v: Option<bool>| {
        v.map_or(
            String::new(),
            |b| if b { "yes".into() } else { "false".into() },
        )
    };
    for (i, l) in leads.iter().enumerate() {
        w.write_record([
            format!("L{i}"),
            format_timestamp(l.created_days * 86_400 + 3_600),
            l.channel.clone(),
            l.calls
                .map_or(String::new(), |c| format!("{:.2}", f64::from(c) / 100.0)),
            b(l.booked),
            l.dialogue.clone(),
            l.outcome.clone(),
            b(l.test_drive),
        ])
        .unwrap();
    }
    w.into_inner().unwrap()
}

fn text_value(s: &str) -> Value {
    let t = s.trim();
    if t.is_empty() {
        Value::Missing
    } else {
        Value::Str(t.into())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn well_formed_files_round_trip(
        leads in prop::collection::vec(gen_lead(), 1..20),
        delimiter in prop::sample::select(vec![b',', b';', b'\t', b'|']),
    ) {
        let bytes = write_csv(&leads, delimiter);
        let res: Result<Dataset> = read_csv(&bytes, &spec(), &IngestOptions::default());
        let ds = res.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(ds.report.delimiter, char::from(delimiter));
        prop_assert_eq!(ds.leads.len(), leads.len());
        for (i, (got, want)) in ds.leads.iter().zip(&leads).enumerate() {
            prop_assert_eq!(&*got.id, format!("L{i}"));
            prop_assert_eq!(got.row, i as u64 + 1);
            prop_assert_eq!(got.created_at, want.created_days * 86_400 + 3_600);
            let calls = want.calls.map_or(Value::Missing, |c| Value::Num(f64::from(c) / 100.0));
            let expected = [
                text_value(&want.channel),
                calls,
                want.booked.map_or(Value::Missing, Value::Bool),
                text_value(&want.dialogue),
                text_value(&want.outcome),
                want.test_drive.map_or(Value::Missing, Value::Bool),
            ];
            prop_assert_eq!(&*got.values, &expected[..]);
        }
    }
}
