//! Acceptance tests: funnel rates, determinism, and that the data is learnable but not trivial.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use leadladder_core::Spec;
use leadladder_core::hash::Fnv;
use leadladder_synth::{HEADER, Lang, SynthConfig, SynthSummary, spec_toml, write_csv};

fn config(leads: usize, seed: u64, lang: Lang) -> SynthConfig {
    SynthConfig {
        leads,
        seed,
        lang,
        ..SynthConfig::default()
    }
}

/// FNV-1a over everything written: compares outputs without holding them in memory.
fn hash(cfg: &SynthConfig) -> (u64, SynthSummary) {
    let mut w = Fnv::default();
    let s = write_csv(cfg, &mut w, |_| {}).unwrap();
    (w.value(), s)
}

fn generate(cfg: &SynthConfig) -> (Vec<u8>, SynthSummary) {
    let mut out = Vec::new();
    let s = write_csv(cfg, &mut out, |_| {}).unwrap();
    (out, s)
}

/// The columns the checks need, parsed from the CSV (so quoting is exercised too).
#[derive(Debug)]
struct Row {
    created_at: String,
    visit_booked: bool,
    longest_call_s: u32,
    app_sessions: u32,
    crm_score: f64,
    keywords: f64,
    long_call: bool,
    test_drive: bool,
    outcome: String,
    z: f64,
}

impl Row {
    /// 0 = "visit booked", 1 = "engaged", 2 = no tier.
    fn tier(&self) -> u8 {
        if self.visit_booked {
            0
        } else if self.longest_call_s >= 120 || self.app_sessions >= 3 {
            1
        } else {
            2
        }
    }
    fn locked_in(&self) -> bool {
        self.outcome == "locked_in"
    }
}

/// A naive bag-of-words score of the customer's turns: positive minus negative keywords.
fn keyword_score(dialogue: &str) -> f64 {
    const POS: [&str; 7] = [
        "hurry",
        "delivery",
        "test drive",
        "deposit",
        "interested",
        "fine",
        "trade-in",
    ];
    const NEG: [&str; 6] = [
        "not ",
        "maybe",
        "just looking",
        "expensive",
        "ask my wife",
        "competitor",
    ];
    let mut s = 0.0;
    for turn in dialogue.lines().filter(|t| t.starts_with("customer:")) {
        let t = turn.to_lowercase();
        s += POS.iter().filter(|w| t.contains(*w)).count() as f64;
        s -= NEG.iter().filter(|w| t.contains(*w)).count() as f64;
    }
    s
}

fn parse(csv_bytes: &[u8]) -> Vec<Row> {
    let mut rdr = csv::Reader::from_reader(csv_bytes);
    let headers = rdr.headers().unwrap().clone();
    assert_eq!(headers.iter().collect::<Vec<_>>(), HEADER);
    let col = |name: &str| HEADER.iter().position(|h| *h == name).unwrap();
    let (c_created, c_visit, c_longest, c_app, c_crm, c_dialogue) = (
        col("created_at"),
        col("visit_booked"),
        col("longest_call_s"),
        col("app_sessions"),
        col("crm_score"),
        col("dialogue"),
    );
    let (c_long, c_td, c_outcome, c_z) = (
        col("long_call"),
        col("test_drive"),
        col("outcome"),
        col("latent_intent"),
    );
    let yes = |s: &str| match s {
        "yes" => true,
        "no" => false,
        other => panic!("not yes/no: {other:?}"),
    };
    rdr.records()
        .map(|r| {
            let r = r.unwrap();
            assert_eq!(r.len(), HEADER.len());
            Row {
                created_at: r[c_created].to_string(),
                visit_booked: yes(&r[c_visit]),
                longest_call_s: r[c_longest].parse().unwrap(),
                app_sessions: r[c_app].parse().unwrap(),
                crm_score: r[c_crm].parse().unwrap(),
                keywords: keyword_score(&r[c_dialogue]),
                long_call: yes(&r[c_long]),
                test_drive: yes(&r[c_td]),
                outcome: r[c_outcome].to_string(),
                z: r[c_z].parse().unwrap(),
            }
        })
        .collect()
}

/// Precision among the top `ceil(frac · n)` by score, highest first; ties keep input order (a
/// stable sort).
fn precision_at(scores: &[f64], labels: &[bool], frac: f64) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let k = ((frac * scores.len() as f64).ceil() as usize).max(1);
    idx[..k].iter().filter(|&&i| labels[i]).count() as f64 / k as f64
}

/// ROC AUC with ties counted half (rank-sum form).
fn auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut pos) = (0.0, 0usize);
    let mut k = 0;
    while k < idx.len() {
        let mut j = k;
        while j < idx.len() && scores[idx[j]] == scores[idx[k]] {
            j += 1;
        }
        let mid = (k + j + 1) as f64 / 2.0; // average 1-based rank of the tie group
        for &i in &idx[k..j] {
            if labels[i] {
                rank_sum += mid;
                pos += 1;
            }
        }
        k = j;
    }
    let neg = idx.len() - pos;
    (rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos as f64 * neg as f64)
}

fn rate(x: u64, n: u64) -> f64 {
    x as f64 / n as f64
}

#[test]
fn spec_parses_and_matches_the_header() {
    let spec = Spec::from_toml(spec_toml()).unwrap();
    assert_eq!(spec.name, "nev-synth");
    assert_eq!(spec.rungs.len(), 3);
    assert_eq!(
        spec.rungs.iter().map(|r| r.margin).collect::<Vec<_>>(),
        [1.0, 0.5, 0.1]
    );
    assert_eq!(spec.tiers.len(), 2);
    let c = &spec.columns;
    let mut declared: Vec<&str> = [&c.id, &c.created_at]
        .into_iter()
        .chain(&c.categorical)
        .chain(&c.numeric)
        .chain(&c.boolean)
        .chain(&c.text)
        .chain(&c.score)
        .chain(&c.ignore)
        .map(String::as_str)
        .collect();
    // Outcome columns are read by the label and the rungs.
    declared.extend(["outcome", "test_drive", "long_call"]);
    declared.sort_unstable();
    let mut header = HEADER.to_vec();
    header.sort_unstable();
    assert_eq!(declared, header);
}

#[test]
fn rates_at_200k_seed_7_and_determinism() {
    let cfg = config(200_000, 7, Lang::En);
    let (h1, s) = hash(&cfg);
    let n = s.leads;
    assert_eq!(n, 200_000);
    assert_eq!(s.locked_in + s.defeated + s.open, n);
    let (locked, td, lc, open) = (
        rate(s.locked_in, n),
        rate(s.test_drive, n),
        rate(s.long_call, n),
        rate(s.open, n),
    );
    eprintln!(
        "200k seed 7: locked_in {:.3}%  defeated {:.2}%  open {:.2}%  test drive {:.2}%  long call {:.2}%  store visit {:.2}%",
        100.0 * locked,
        100.0 * rate(s.defeated, n),
        100.0 * open,
        100.0 * td,
        100.0 * lc,
        100.0 * rate(s.store_visit, n)
    );
    assert!((0.012..=0.016).contains(&locked), "locked_in {locked}");
    assert!((0.08..=0.12).contains(&td), "test drive {td}");
    assert!((0.20..=0.30).contains(&lc), "long call {lc}");
    assert!(td > 5.0 * locked && lc > 2.0 * td);
    assert!((0.15..=0.5).contains(&open), "open {open}");

    let (h2, s2) = hash(&cfg);
    assert_eq!(h1, h2, "same seed, different bytes");
    assert_eq!(s, s2);
    let (h3, _) = hash(&config(200_000, 8, Lang::En));
    assert_ne!(h1, h3, "different seeds, same bytes");
}

#[test]
fn locked_in_rate_holds_across_seeds() {
    for seed in [1, 2, 3, 42] {
        let (_, s) = hash(&config(100_000, seed, Lang::En));
        let r = rate(s.locked_in, s.leads);
        eprintln!("seed {seed}: locked_in {:.3}%", 100.0 * r);
        assert!((0.012..=0.016).contains(&r), "seed {seed}: {r}");
    }
}

#[test]
fn learnable_but_not_trivial() {
    let (bytes, summary) = generate(&config(200_000, 7, Lang::En));
    let rows = parse(&bytes);
    assert_eq!(rows.len() as u64, summary.leads);
    assert!(rows.windows(2).all(|w| w[0].created_at <= w[1].created_at));
    // Test period: the newest 30% of leads.
    let test = &rows[rows.len() - rows.len() * 3 / 10..];
    let labels: Vec<bool> = test.iter().map(Row::locked_in).collect();
    let base = labels.iter().filter(|&&l| l).count() as f64 / labels.len() as f64;
    let n = test.len() as f64;
    let recency: Vec<f64> = (0..test.len()).map(|i| i as f64).collect();
    let tier: Vec<f64> = test
        .iter()
        .enumerate()
        .map(|(i, r)| f64::from(2 - r.tier()) * n + i as f64)
        .collect();
    let oracle: Vec<f64> = test.iter().map(|r| r.z).collect();
    let crm: Vec<f64> = test.iter().map(|r| r.crm_score).collect();
    let p_rec = precision_at(&recency, &labels, 0.01);
    let p_tier = precision_at(&tier, &labels, 0.01);
    let p_oracle = precision_at(&oracle, &labels, 0.01);
    let p_crm = precision_at(&crm, &labels, 0.01);
    eprintln!(
        "test period ({} leads, base {:.3}%): P@1% recency {:.2}%  tier {:.2}%  crm {:.2}%  oracle {:.2}%",
        test.len(),
        100.0 * base,
        100.0 * p_rec,
        100.0 * p_tier,
        100.0 * p_crm,
        100.0 * p_oracle
    );
    eprintln!(
        "test period AUC: recency {:.3}  tier {:.3}  crm {:.3}  oracle {:.3}",
        auc(&recency, &labels),
        auc(&tier, &labels),
        auc(&crm, &labels),
        auc(&oracle, &labels)
    );
    assert!(p_tier > p_rec, "tier {p_tier} <= recency {p_rec}");
    assert!(
        p_oracle >= 1.5 * p_tier,
        "oracle {p_oracle} vs tier {p_tier}"
    );
    assert!(p_oracle < 0.6, "oracle too good: {p_oracle}");

    // Text carries signal beyond the tiers: within each tier a keyword count ranks buyers above
    // chance, but well below the oracle.
    for t in 0..3 {
        let group: Vec<&Row> = rows.iter().filter(|r| r.tier() == t).collect();
        let labels: Vec<bool> = group.iter().map(|r| r.locked_in()).collect();
        let kw: Vec<f64> = group.iter().map(|r| r.keywords).collect();
        let z: Vec<f64> = group.iter().map(|r| r.z).collect();
        let (a_kw, a_z) = (auc(&kw, &labels), auc(&z, &labels));
        eprintln!(
            "tier {t}: {} leads, locked_in {:.2}%, keyword AUC {a_kw:.3}, oracle AUC {a_z:.3}",
            group.len(),
            100.0 * labels.iter().filter(|&&l| l).count() as f64 / labels.len() as f64
        );
        assert!(a_kw > 0.55, "tier {t}: keywords carry no signal ({a_kw})");
        assert!(
            a_kw + 0.05 < a_z,
            "tier {t}: keywords {a_kw} vs oracle {a_z}"
        );
    }

    // The intermediate rungs are far more common than the label and rise with intent.
    let td: Vec<bool> = rows.iter().map(|r| r.test_drive).collect();
    let lc: Vec<bool> = rows.iter().map(|r| r.long_call).collect();
    let z: Vec<f64> = rows.iter().map(|r| r.z).collect();
    assert!(auc(&z, &td) > 0.7 && auc(&z, &lc) > 0.6);
    // ... and carry information about buying: test drivers lock in far more often.
    let buy_rate = |with_td: bool| {
        let g: Vec<&Row> = rows.iter().filter(|r| r.test_drive == with_td).collect();
        g.iter().filter(|r| r.locked_in()).count() as f64 / g.len() as f64
    };
    assert!(buy_rate(true) > 5.0 * buy_rate(false));
}

#[test]
fn censoring_grows_towards_the_export() {
    let (bytes, _) = generate(&config(50_000, 11, Lang::En));
    let rows = parse(&bytes);
    let open_share = |month: &str| {
        let m: Vec<&Row> = rows
            .iter()
            .filter(|r| r.created_at.starts_with(month))
            .collect();
        assert!(!m.is_empty());
        m.iter().filter(|r| r.outcome == "open").count() as f64 / m.len() as f64
    };
    let (first, last) = (open_share("2025-01"), open_share("2025-12"));
    eprintln!("open share: January {first:.3}, December {last:.3}");
    assert!(last > first + 0.2, "{first} vs {last}");
    // Seasonality: campaign months are busier than the New Year dip.
    let count = |month: &str| {
        rows.iter()
            .filter(|r| r.created_at.starts_with(month))
            .count()
    };
    assert!(count("2025-04") > count("2025-02") * 3 / 2);
    assert!(count("2025-10") > count("2025-07") * 3 / 2);
}
