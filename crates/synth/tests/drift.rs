//! `--drift`: off by default (the same bytes as ever), and when on, the drift the crate docs
//! promise between the training and the test period of a 70:30 split.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use leadladder_core::Spec;
use leadladder_synth::{DRIFT_COLUMNS, SynthConfig, check_config, spec_toml_for, write_csv};

fn generate(cfg: &SynthConfig) -> Vec<u8> {
    let mut out = Vec::new();
    write_csv(cfg, &mut out, |_| {}).unwrap();
    out
}

#[test]
fn no_drift_writes_the_committed_sample_byte_for_byte() {
    // web/samples/demo-leads.csv was written by `leadladder synth --leads 300 --seed 11` before
    // drift existed.
    let committed = include_bytes!("../../../web/samples/demo-leads.csv");
    let cfg = SynthConfig {
        leads: 300,
        seed: 11,
        ..SynthConfig::default()
    };
    assert_eq!(cfg.drift, 0.0);
    assert!(generate(&cfg) == committed.as_slice());
    assert_eq!(spec_toml_for(&cfg), leadladder_synth::spec_toml());
}

#[test]
fn drift_out_of_range_is_refused() {
    for d in [-0.1, 1.5, f64::NAN] {
        let cfg = SynthConfig {
            drift: d,
            ..SynthConfig::default()
        };
        assert!(check_config(&cfg).is_err(), "{d}");
        let e = write_csv(&cfg, Vec::new(), |_| {}).unwrap_err();
        assert!(e.to_string().contains("drift"), "{e}");
    }
}

struct Row {
    tau: f64,
    channel: String,
    model: String,
    rate: f64,
    confidence: f64,
    stock: f64,
    bought: bool,
    week: i64,
}

fn rows(cfg: &SynthConfig) -> Vec<Row> {
    let bytes = generate(cfg);
    let mut rdr = csv::Reader::from_reader(bytes.as_slice());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (created, channel, model, outcome) = (
        at("created_at"),
        at("channel"),
        at("model_interest"),
        at("outcome"),
    );
    let cols: Vec<usize> = DRIFT_COLUMNS.iter().map(|c| at(c)).collect();
    let mut out = Vec::new();
    for r in rdr.records() {
        let r = r.unwrap();
        let t = leadladder_core::value::parse_timestamp(&r[created], Default::default()).unwrap();
        let tau = (t - cfg.start_epoch) as f64 / (f64::from(cfg.days) * 86_400.0);
        out.push(Row {
            tau,
            channel: r[channel].to_string(),
            model: r[model].to_string(),
            rate: r[cols[0]].parse().unwrap(),
            confidence: r[cols[1]].parse().unwrap(),
            stock: r[cols[2]].parse().unwrap(),
            bought: &r[outcome] == "locked_in",
            week: (tau * 52.0).floor() as i64,
        });
    }
    out
}

/// Pearson correlation.
fn corr(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    sxy / (sxx * syy).sqrt()
}

#[test]
fn full_drift_shifts_the_test_period() {
    let cfg = SynthConfig {
        leads: 60_000,
        seed: 7,
        drift: 1.0,
        ..SynthConfig::default()
    };
    // The spec reads the new columns as numeric inputs.
    let spec = Spec::from_toml(&spec_toml_for(&cfg)).unwrap();
    let (_, data) = leadladder_synth::dataset(&SynthConfig {
        leads: 500,
        ..cfg.clone()
    })
    .unwrap();
    for c in DRIFT_COLUMNS {
        let i = data.schema.index(c).unwrap();
        assert_eq!(data.schema.columns[i].role, leadladder_core::Role::Numeric);
    }
    assert!(!spec.columns.numeric.is_empty());

    let rows = rows(&cfg);
    // Leads come in time order: the first 70% are the training period.
    let cut = rows.len() * 7 / 10;
    let (train, test) = rows.split_at(cut);

    // Period-level: one value per week.
    for w in rows.windows(2) {
        if w[0].week == w[1].week {
            assert_eq!(w[0].rate, w[1].rate);
            assert_eq!(w[0].confidence, w[1].confidence);
        }
    }
    // The rate index falls below its training range for most test leads; the stock index
    // climbs above it.
    let min_rate = train.iter().map(|r| r.rate).fold(f64::INFINITY, f64::min);
    let max_stock = train
        .iter()
        .map(|r| r.stock)
        .fold(f64::NEG_INFINITY, f64::max);
    let share =
        |f: &dyn Fn(&Row) -> bool| test.iter().filter(|r| f(r)).count() as f64 / test.len() as f64;
    let below = share(&|r| r.rate < min_rate);
    let above = share(&|r| r.stock > max_stock);
    eprintln!(
        "test leads with rate_index below training: {below:.2}, stock_index above: {above:.2}"
    );
    assert!(below > 0.6, "{below}");
    assert!(above > 0.5, "{above}");
    // The confidence index stays in range but its relation to buying flips: weekly buy rates
    // correlate with it positively in training and negatively in the test period.
    let weekly = |part: &[Row]| {
        let mut by: std::collections::BTreeMap<i64, (f64, f64, f64)> = Default::default();
        for r in part {
            let e = by.entry(r.week).or_default();
            e.0 += r.confidence;
            e.1 += f64::from(u8::from(r.bought));
            e.2 += 1.0;
        }
        let (xs, ys): (Vec<f64>, Vec<f64>) = by
            .values()
            .filter(|e| e.2 >= 200.0)
            .map(|e| (e.0 / e.2, e.1 / e.2))
            .unzip();
        corr(&xs, &ys)
    };
    let (c_train, c_test) = (weekly(train), weekly(&test[..test.len() * 2 / 3]));
    eprintln!("weekly corr(confidence, buy rate): training {c_train:.2}, test {c_test:.2}");
    assert!(c_train > 0.2, "{c_train}");
    assert!(c_test < 0.0, "{c_test}");
    // The buyer rate rises; late categories appear only late.
    let rate = |part: &[Row]| part.iter().filter(|r| r.bought).count() as f64 / part.len() as f64;
    eprintln!(
        "buy rate: training {:.4}, test {:.4}",
        rate(train),
        rate(test)
    );
    assert!(rate(test) > 1.5 * rate(train));
    let late = |part: &[Row], pred: &dyn Fn(&Row) -> bool| part.iter().filter(|r| pred(r)).count();
    let live = |r: &Row| r.channel == "live_stream";
    let ev = |r: &Row| r.model == "Nova EV";
    assert!(late(&train[..train.len() * 9 / 10], &live) == 0);
    assert!(late(&train[..train.len() * 9 / 10], &ev) == 0);
    assert!(late(test, &live) > test.len() / 20);
    assert!(late(test, &ev) > test.len() / 20);
    assert!(train.iter().all(|r| r.tau < 0.8) && test.iter().all(|r| r.tau > 0.5));
}

#[test]
fn drift_is_deterministic() {
    let cfg = SynthConfig {
        leads: 2_000,
        seed: 3,
        drift: 0.5,
        ..SynthConfig::default()
    };
    assert!(generate(&cfg) == generate(&cfg));
}
