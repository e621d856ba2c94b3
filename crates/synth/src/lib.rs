//! # leadladder-synth
//!
//! A synthetic car-retail (NEV) sales funnel with a known latent purchase intent: the demo, test
//! and benchmark data of leadladder. [`write_csv`] streams one CSV row per lead, [`spec_toml`] is
//! the ladder spec that reads it.
//!
//! ```
//! use leadladder_synth::{SynthConfig, write_csv};
//! let cfg = SynthConfig { leads: 1000, ..SynthConfig::default() };
//! let mut csv = Vec::new();
//! let summary = write_csv(&cfg, &mut csv, |_| {}).unwrap();
//! assert_eq!(summary.leads, 1000);
//! ```
//!
//! Must not: be a dependency of the trainer, the model or the CLI's ranking path at run time
//! (it is data for demos, tests and benchmarks), or read anything but its config: no files, no
//! clock, no ambient randomness.
//!
//! Output is deterministic: the same [`SynthConfig`] gives byte-identical output on every
//! platform. Lead `i` draws from its own stream `Rng::derive(seed, i)` (and its dialogue from a
//! second, salted one), so leads are independent of each other and generation could run in
//! parallel. The dialogue stream consumes the same draws whatever the language, so the `en` and
//! `zh` files of one seed hold the same leads and the same conversations, translated.
//!
//! ## Generative story
//!
//! All constants live in `src/model.rs` (the funnel) and `src/dialogue.rs` (the text).
//!
//! **Creation time.** Lead `i` of `n` is created at `F⁻¹((i + U) / n)`, `U ~ Uniform(0, 1)`,
//! where `F` is the CDF of a piecewise-constant density over the hours of the period
//! (`start_epoch` plus `days`, default 2025-01-01 and 365 days): a month weight (spring and autumn
//! campaigns: March-May and September-October are busiest, February is the New Year dip), an
//! hour-of-day weight (business hours in UTC+8) and a weekend boost. Stratified draws make rows
//! come out in `created_at` order without sorting. `τ ∈ [0, 1)` is the fraction of the period
//! elapsed at creation and drives slow drift.
//!
//! **Fields** (inputs):
//! - `channel`: `web_form`, `app`, `dealer_walkin`, `phone_in`, `referral`, `social_ad`,
//!   `auto_portal`. Shares drift linearly in `τ` (social ads grow from 15% to ~27%); each channel
//!   adds a base intent that also drifts (referral +1.0, walk-in +0.85, phone +0.45, app +0.15 →
//!   +0.25, web 0 → -0.05, auto portal -0.35 → -0.6, social ad -0.8 → -0.45).
//! - `city_tier` 1-4 (+0.15, +0.05, -0.05, -0.2).
//! - `model_interest`: Pulse, Aurora S, Aurora X, Nova GT, Terra LR, each with a price band.
//! - `budget_band` (`<150k`, `150-250k`, `250-350k`, `>350k`): usually the model's band, sometimes
//!   off by one or two. A model above budget costs 0.55 intent per band, below budget 0.2.
//! - `trade_in` yes/no (+0.25), `financing_interest` yes/no/blank (+0.1, 0, -0.15).
//!
//! **Latents** (never inputs): urgency `u ~ N(0,1)`, engagement `e ~ N(0,1)` and
//! `z = fields + 0.85 u + 0.75 ε`, `ε ~ N(0,1)`. `z` is written as `latent_intent` (the oracle).
//! Urgency is part of `z` but shows only in the dialogue; engagement is not part of `z` but raises
//! activity, test drives and conversion, so the intermediate rungs carry information about buying
//! that the final label alone does not.
//!
//! **Activity at the snapshot** (3 days after creation; inputs):
//! - `calls_so_far ~ Poisson(1.3 exp(0.15 z + 0.3 e) (+0.5 for walk-in/phone))`, at most 8; each
//!   call is answered with probability `σ(0.4 + 0.5 z + 0.7 e)` and lasts
//!   `exp(ln 70 + 0.3 z + 0.35 e + 0.8 N)` seconds; `longest_call_s` is the longest answered call
//!   (0 if none).
//! - `visit_booked ~ Bernoulli(σ(-3.3 + 0.8 z + 0.6 e (+0.7 walk-in)))`.
//! - `app_sessions ~ Poisson(exp(-0.4 + 0.25 z + 0.7 e (+1 for the app channel)))`.
//! - `crm_score`, the legacy vendor score: `50 + 14·(static channel table) + 2.5·min(calls, 4) +
//!   0.9·fields + 16 N`, rounded and clamped to 0-100. Weakly informative, blind to drift.
//!
//! **Dialogue** (input; `rep: …` / `customer: …` turns, or `销售：…` / `客户：…` in Chinese, one per
//! line). One segment per call: an unanswered call is `rep: [call not answered]`; an answered one
//! is a greeting, maybe a "sorry, I'm driving" brush-off on short calls, then 1-4 topics (more for
//! longer calls), then a sign-off. In each call the customer's stance is `s = z + 0.8 N`. Topics
//! and how they read the latents:
//! - urgency: `u + 0.6 N` above 0.5 gives "I am in a hurry…", below -0.5 "I'm not in a hurry,
//!   maybe next year" (the same words, negated), else "sometime in the next few months";
//! - price: an objection, the rep's offer, then "with that the price is fine" or "…is not
//!   fine for us" by `s + 0.4 u + 0.7 N > 0.2`; once the price is settled an urgent customer
//!   (`σ(1.5 u)`) asks about delivery. Asking about delivery *before* the price comes up is mere
//!   curiosity and is followed (with probability `0.8 σ(-s)`) by an objection that is rarely
//!   resolved, so the same words carry signal only in their order;
//! - test drive: `0.6 s + 0.6 e + 0.7 N` asks for a slot (> 0.5), declines (< -0.5) or hedges;
//! - competitors: "already put a deposit on a Volta 7" (`s + 0.6 N < -1.7`, ends the call),
//!   "comparing with…" (mild), or "haven't put a deposit anywhere yet" (positive);
//! - family ("need to ask my wife" vs "my wife already agreed"), interest ("very interested" /
//!   "not really interested anymore", with "put a deposit on the Aurora S today" at the top),
//!   trade-in valuation, financing (from the field: "not interested in financing" is neutral),
//!   hedges ("just looking"), chit-chat and app usage.
//!
//! Leads nobody called have an empty dialogue or one SMS from the rep. A bag of words cannot read
//! this reliably: "hurry", "interested", "deposit", "price … fine" and "delivery" appear with both
//! polarities.
//!
//! **Outcomes after the snapshot** (never inputs), censored at the export (end of the period):
//! - a long call (≥ 5 min) with `σ(-1.45 + 0.6 z + 0.9 e)`, after `Exp(6 d)`;
//! - a test drive with `σ(-3.35 + 0.85 z + 0.9 e + 0.8·long call + 0.7·visit booked)`, after
//!   `1 d + Exp(8 d)`;
//! - a store visit after every test drive, otherwise with `σ(-2.7 + 0.5 z + 0.4 e + 1.6·visit
//!   booked)`;
//! - a purchase with `σ(-6.15 + 1.05 z + 0.6 e + 1.8·test drive)`, closing after
//!   `4 d + Exp(22 d · exp(-0.35 u))`; 72% of non-buyers are marked defeated after
//!   `7 d + Exp(40 d)`, the rest stay open.
//!
//! `outcome` is `locked_in` or `defeated` if that happened before the export, else `open`, so the
//! newest leads are mostly open. At the defaults about 1.4% of leads lock in, ~10% test drive and
//! ~25% have a long call.
//!
//! **Drift** (`SynthConfig::drift`, `synth --drift d`; off by default). Real funnels split by time
//! drift: the buyer rate moves, period-level fields (economic indices) leave the range a model
//! was trained on or change their relation to buying, new channels and products appear. With
//! `d > 0` the file gains `rate_index`, `confidence_index` and `stock_index` (one value per week)
//! and the funnel drifts from about 60% of the period on; at `d = 1` the test period of a 70:30
//! split holds live-stream leads and a new car model the training period never saw, a rate
//! index below its training range, a confidence index whose relation to buying has flipped,
//! and about twice the buyer rate. The formulas are on `model::Drift`.

mod dialogue;
mod model;
mod phrases;

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use leadladder_core::value::format_rfc3339;
use serde::{Deserialize, Serialize};

use model::{BUDGETS, CHANNELS, Lead, MODELS, Outcome, World};

/// Language of the dialogue column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Simplified Chinese.
    Zh,
    /// English or Chinese, chosen per lead at random.
    Mixed,
}

impl FromStr for Lang {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" => Ok(Lang::En),
            "zh" => Ok(Lang::Zh),
            "mixed" => Ok(Lang::Mixed),
            other => Err(format!(
                "unknown language `{other}` (expected en, zh or mixed)"
            )),
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lang::En => "en",
            Lang::Zh => "zh",
            Lang::Mixed => "mixed",
        })
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// Number of leads (rows).
    pub leads: usize,
    /// Random seed: the same config gives byte-identical output.
    pub seed: u64,
    /// Dialogue language.
    pub lang: Lang,
    /// Start of the period, seconds since the Unix epoch (default 2025-01-01T00:00:00Z).
    pub start_epoch: i64,
    /// Length of the period in days (default 365; at least 1). The export happens at its end.
    pub days: u32,
    /// Drift between the early and the late part of the period, `0..=1` (default 0: none, and
    /// the same bytes as ever). Above 0 the file gains three period-level numeric fields
    /// ([`DRIFT_COLUMNS`]) and the funnel drifts as the crate docs describe.
    pub drift: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            leads: 50_000,
            seed: 7,
            lang: Lang::En,
            start_epoch: 1_735_689_600,
            days: 365,
            drift: 0.0,
        }
    }
}

/// Counts of what was generated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynthSummary {
    pub leads: u64,
    pub locked_in: u64,
    pub defeated: u64,
    pub open: u64,
    pub test_drive: u64,
    pub long_call: u64,
    pub store_visit: u64,
}

impl SynthSummary {
    fn add(&mut self, lead: &Lead) {
        self.leads += 1;
        match lead.outcome {
            Outcome::LockedIn => self.locked_in += 1,
            Outcome::Defeated => self.defeated += 1,
            Outcome::Open => self.open += 1,
        }
        self.test_drive += u64::from(lead.test_drive);
        self.long_call += u64::from(lead.long_call);
        self.store_visit += u64::from(lead.store_visit);
    }
}

/// The CSV header, in column order.
pub const HEADER: &[&str] = &[
    "lead_id",
    "created_at",
    "channel",
    "city_tier",
    "model_interest",
    "budget_band",
    "trade_in",
    "financing_interest",
    "calls_so_far",
    "longest_call_s",
    "visit_booked",
    "app_sessions",
    "crm_score",
    "dialogue",
    "long_call",
    "test_drive",
    "store_visit",
    "outcome",
    "latent_intent",
];

/// The period-level numeric columns a drifting file adds after `app_sessions`.
pub const DRIFT_COLUMNS: &[&str] = &["rate_index", "confidence_index", "stock_index"];

/// The ladder spec (TOML) for the CSV [`write_csv`] writes without drift.
pub fn spec_toml() -> &'static str {
    include_str!("ladder.toml")
}

/// The ladder spec (TOML) for the CSV [`write_csv`] writes with `cfg`: [`spec_toml`], plus the
/// period-level fields as numeric inputs when `cfg.drift > 0`.
pub fn spec_toml_for(cfg: &SynthConfig) -> String {
    const NUMERIC: &str = r#"numeric = ["calls_so_far", "longest_call_s", "app_sessions"]"#;
    let base = spec_toml();
    if cfg.drift <= 0.0 {
        return base.to_string();
    }
    let extra: String = DRIFT_COLUMNS.iter().map(|c| format!(", \"{c}\"")).collect();
    let with = format!(
        "# Period-level fields (one value per week, like economic indices): they drift.\n{}{extra}]",
        &NUMERIC[..NUMERIC.len() - 1]
    );
    base.replacen(NUMERIC, &with, 1)
}

/// Checks a config: `drift` must lie in `0..=1`.
///
/// # Errors
///
/// A message naming the bad setting.
pub fn check_config(cfg: &SynthConfig) -> Result<(), String> {
    if !(0.0..=1.0).contains(&cfg.drift) {
        return Err(format!("drift must lie in 0..=1, got {}", cfg.drift));
    }
    Ok(())
}

/// The synthetic funnel as tests and benchmarks use it: `cfg.leads` leads written by
/// [`write_csv`] and read back through core's ingest with the spec of [`spec_toml`].
///
/// # Errors
///
/// Only if the generator and the ingest disagree (a bug): the spec or a row is refused.
pub fn dataset(
    cfg: &SynthConfig,
) -> leadladder_core::Result<(leadladder_core::Spec, leadladder_core::Dataset)> {
    let mut csv = Vec::new();
    write_csv(cfg, &mut csv, |_| {})?;
    let spec = leadladder_core::Spec::from_toml(&spec_toml_for(cfg))?;
    let data =
        leadladder_core::ingest::read_csv(&csv, &spec, &leadladder_core::IngestOptions::default())?;
    Ok((spec, data))
}

/// How many leads between two progress calls.
const PROGRESS_EVERY: u64 = 10_000;
/// Bytes buffered before a write to the output.
const CHUNK: usize = 1 << 16;

/// Streams `cfg.leads` leads as CSV (header first, rows in `created_at` order) into `out` and
/// returns the counts. `progress` is called with the number of leads written so far every 10,000
/// leads and once at the end. `out` is written in chunks of about 64 KiB and flushed at the end.
pub fn write_csv<W: Write>(
    cfg: &SynthConfig,
    mut out: W,
    mut progress: impl FnMut(u64),
) -> io::Result<SynthSummary> {
    check_config(cfg).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let world = World::new(cfg.seed, cfg.leads, cfg.start_epoch, cfg.days, cfg.drift);
    let mut buf = String::with_capacity(CHUNK + 8192);
    for (k, name) in HEADER.iter().enumerate() {
        if k > 0 {
            buf.push(',');
        }
        buf.push_str(name);
        if cfg.drift > 0.0 && *name == "app_sessions" {
            for c in DRIFT_COLUMNS {
                buf.push(',');
                buf.push_str(c);
            }
        }
    }
    buf.push('\n');
    let mut summary = SynthSummary::default();
    let n = cfg.leads as u64;
    for i in 0..n {
        let lead = world.lead(i);
        write_row(&mut buf, &lead, i, cfg);
        summary.add(&lead);
        if buf.len() >= CHUNK {
            out.write_all(buf.as_bytes())?;
            buf.clear();
        }
        if (i + 1).is_multiple_of(PROGRESS_EVERY) {
            progress(i + 1);
        }
    }
    out.write_all(buf.as_bytes())?;
    out.flush()?;
    if n == 0 || !n.is_multiple_of(PROGRESS_EVERY) {
        progress(n);
    }
    Ok(summary)
}

/// Appends the decimal digits of `x`, left-padded with zeros to `width`.
fn push_uint(buf: &mut String, x: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut k = digits.len();
    let mut v = x;
    loop {
        k -= 1;
        digits[k] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for _ in (digits.len() - k)..width {
        buf.push('0');
    }
    for &d in &digits[k..] {
        buf.push(char::from(d));
    }
}

/// Appends `x` with exactly four decimals (no `-0.0000`).
fn push_fixed4(buf: &mut String, x: f64) {
    let scaled = (x * 10_000.0).round();
    if !scaled.is_finite() {
        buf.push_str("0.0000");
        return;
    }
    let v = scaled as i64;
    if v < 0 {
        buf.push('-');
    }
    let a = v.unsigned_abs();
    push_uint(buf, a / 10_000, 1);
    buf.push('.');
    push_uint(buf, a % 10_000, 4);
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Appends one CSV row (with its newline).
fn write_row(buf: &mut String, lead: &Lead, i: u64, cfg: &SynthConfig) {
    buf.push('L');
    push_uint(buf, i + 1, 7);
    buf.push(',');
    buf.push_str(&format_rfc3339(lead.created_at));
    buf.push(',');
    buf.push_str(CHANNELS[lead.channel]);
    buf.push(',');
    push_uint(buf, lead.city_tier as u64 + 1, 1);
    buf.push(',');
    buf.push_str(MODELS[lead.model].0);
    buf.push(',');
    buf.push_str(BUDGETS[lead.budget]);
    buf.push(',');
    buf.push_str(yes_no(lead.trade_in));
    buf.push(',');
    if let Some(f) = lead.financing {
        buf.push_str(yes_no(f));
    }
    buf.push(',');
    push_uint(buf, lead.calls as u64, 1);
    buf.push(',');
    push_uint(buf, u64::from(lead.longest_call_s), 1);
    buf.push(',');
    buf.push_str(yes_no(lead.visit_booked));
    buf.push(',');
    push_uint(buf, u64::from(lead.app_sessions), 1);
    buf.push(',');
    if cfg.drift > 0.0 {
        for x in [
            lead.period.rate_index,
            lead.period.confidence_index,
            lead.period.stock_index,
        ] {
            push_fixed4(buf, x);
            buf.push(',');
        }
    }
    push_uint(buf, u64::from(lead.crm_score), 1);
    buf.push(',');
    // The dialogue cell is always quoted (it holds newlines, commas and quotes); an empty
    // dialogue is an empty cell.
    let mark = buf.len();
    buf.push('"');
    dialogue::write(buf, lead, cfg.seed, i, cfg.lang);
    if buf.len() == mark + 1 {
        buf.truncate(mark);
    } else {
        buf.push('"');
    }
    buf.push(',');
    buf.push_str(yes_no(lead.long_call));
    buf.push(',');
    buf.push_str(yes_no(lead.test_drive));
    buf.push(',');
    buf.push_str(yes_no(lead.store_visit));
    buf.push(',');
    buf.push_str(lead.outcome.as_str());
    buf.push(',');
    push_fixed4(buf, lead.z);
    buf.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formatting() {
        let mut s = String::new();
        push_uint(&mut s, 42, 7);
        s.push(' ');
        push_uint(&mut s, 12_345_678, 7);
        s.push(' ');
        push_fixed4(&mut s, -0.00001);
        s.push(' ');
        push_fixed4(&mut s, -1.23456);
        s.push(' ');
        push_fixed4(&mut s, 2.5);
        assert_eq!(s, "0000042 12345678 0.0000 -1.2346 2.5000");
    }

    #[test]
    fn lang_round_trips() {
        for l in [Lang::En, Lang::Zh, Lang::Mixed] {
            assert_eq!(l.to_string().parse::<Lang>(), Ok(l));
        }
        assert!("fr".parse::<Lang>().is_err());
    }
}
