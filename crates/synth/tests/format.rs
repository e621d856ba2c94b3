//! Output format: CSV shape and quoting, ids, languages, progress reporting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use leadladder_synth::{HEADER, Lang, SynthConfig, write_csv};

fn records(cfg: &SynthConfig) -> Vec<csv::StringRecord> {
    let mut out = Vec::new();
    write_csv(cfg, &mut out, |_| {}).unwrap();
    let mut rdr = csv::Reader::from_reader(out.as_slice());
    assert_eq!(rdr.headers().unwrap().iter().collect::<Vec<_>>(), HEADER);
    rdr.records().map(Result::unwrap).collect()
}

fn cfg(leads: usize, lang: Lang) -> SynthConfig {
    SynthConfig {
        leads,
        lang,
        ..SynthConfig::default()
    }
}

const DIALOGUE: usize = 13;
const OUTCOME: usize = 17;

#[test]
fn rows_are_well_formed() {
    let rows = records(&cfg(5_000, Lang::En));
    assert_eq!(rows.len(), 5_000);
    assert_eq!(HEADER[DIALOGUE], "dialogue");
    assert_eq!(HEADER[OUTCOME], "outcome");
    let mut quoted = 0;
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.len(), HEADER.len());
        assert_eq!(&r[0], format!("L{:07}", i + 1));
        assert_eq!(r[1].len(), 20, "{}", &r[1]);
        assert!(r[1].starts_with("2025-") && r[1].ends_with('Z'));
        assert!(["1", "2", "3", "4"].contains(&&r[3]));
        assert!(["", "yes", "no"].contains(&&r[7]));
        let crm: u32 = r[12].parse().unwrap();
        assert!(crm <= 100);
        for turn in r[DIALOGUE].split('\n').filter(|t| !t.is_empty()) {
            assert!(
                turn.starts_with("rep: ") || turn.starts_with("customer: "),
                "{turn:?}"
            );
        }
        quoted += usize::from(r[DIALOGUE].contains('"'));
        assert!(["locked_in", "defeated", "open"].contains(&&r[OUTCOME]));
        let _: f64 = r[18].parse().unwrap();
    }
    // Quotes inside the dialogue survive the round trip.
    assert!(quoted > 0);
}

#[test]
fn languages_share_everything_but_the_words() {
    let en = records(&cfg(2_000, Lang::En));
    let zh = records(&cfg(2_000, Lang::Zh));
    let mixed = records(&cfg(2_000, Lang::Mixed));
    let (mut zh_rows, mut en_rows) = (0, 0);
    for ((e, z), m) in en.iter().zip(&zh).zip(&mixed) {
        for c in (0..HEADER.len()).filter(|&c| c != DIALOGUE) {
            assert_eq!(&e[c], &z[c], "column {}", HEADER[c]);
            assert_eq!(&e[c], &m[c], "column {}", HEADER[c]);
        }
        // Same conversation, translated: the same number of turns, by the same speakers.
        let speakers = |d: &str| -> Vec<bool> {
            d.split('\n')
                .filter(|t| !t.is_empty())
                .map(|t| t.starts_with("rep: ") || t.starts_with("销售："))
                .collect()
        };
        assert_eq!(speakers(&e[DIALOGUE]), speakers(&z[DIALOGUE]));
        for t in z[DIALOGUE].split('\n').filter(|t| !t.is_empty()) {
            assert!(t.starts_with("销售：") || t.starts_with("客户："), "{t:?}");
        }
        let d = &m[DIALOGUE];
        if !d.is_empty() {
            assert!(d == &e[DIALOGUE] || d == &z[DIALOGUE]);
            if d == &z[DIALOGUE] {
                zh_rows += 1;
            } else {
                en_rows += 1;
            }
        }
    }
    assert!(zh_rows > 500 && en_rows > 500, "{zh_rows} zh, {en_rows} en");
    assert!(zh.iter().any(|r| r[DIALOGUE].contains("不需要贷款")));
    assert!(zh.iter().any(|r| r[DIALOGUE].contains("提车")));
}

#[test]
fn progress_is_reported() {
    let mut calls = Vec::new();
    let s = write_csv(&cfg(25_000, Lang::En), std::io::sink(), |n| calls.push(n)).unwrap();
    assert_eq!(s.leads, 25_000);
    assert_eq!(calls, [10_000, 20_000, 25_000]);

    let mut out = Vec::new();
    let mut calls = Vec::new();
    let s = write_csv(&cfg(0, Lang::En), &mut out, |n| calls.push(n)).unwrap();
    assert_eq!(s.leads, 0);
    assert_eq!(String::from_utf8(out).unwrap(), HEADER.join(",") + "\n");
    assert_eq!(calls, [0]);
}

#[test]
fn a_short_custom_period_is_honoured() {
    let c = SynthConfig {
        leads: 3_000,
        start_epoch: 1_767_225_600, // 2026-01-01
        days: 30,
        ..SynthConfig::default()
    };
    let rows = records(&c);
    assert!(rows.iter().all(|r| r[1].starts_with("2026-01-")));
    assert!(rows.windows(2).all(|w| w[0][1] <= w[1][1]));
    // A month-long window: the export comes before most deals can close.
    let open = rows.iter().filter(|r| &r[OUTCOME] == "open").count();
    assert!(open > rows.len() / 2);
}
