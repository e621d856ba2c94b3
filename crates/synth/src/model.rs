//! The generative story: latents, fields, activity at the snapshot, and outcomes after it.
//!
//! Every constant of the story lives here so the crate docs can point at one place. All draws for
//! lead `i` come from `Rng::derive(seed, i)` in a fixed order; the dialogue has its own stream
//! (see [`crate::dialogue`]), so the numeric columns do not depend on the language.

use leadladder_core::rng::Rng;
use leadladder_core::value::civil_from_days;

/// Seconds in a day.
pub(crate) const DAY: i64 = 86_400;
/// The scoring snapshot is taken this many days after a lead is created.
pub(crate) const SNAPSHOT_DAYS: i64 = 3;

/// Acquisition channels.
pub(crate) const CHANNELS: [&str; 8] = [
    "web_form",
    "app",
    "dealer_walkin",
    "phone_in",
    "referral",
    "social_ad",
    "auto_portal",
    // Only with drift: live-stream selling appears late in the period (see [`Drift`]).
    "live_stream",
];
/// Channel share (relative weight) at the start and at the end of the period; linear in between.
/// Social ads grow from 15% to about 27% of the leads.
const CHANNEL_SHARE: [(f64, f64); 7] = [
    (0.24, 0.20),
    (0.14, 0.15),
    (0.10, 0.08),
    (0.10, 0.08),
    (0.07, 0.07),
    (0.15, 0.27),
    (0.20, 0.15),
];
/// Channel contribution to intent at the start and at the end of the period (drift: social-ad
/// targeting improves, auto-portal leads get worse as the portals resell them).
const CHANNEL_INTENT: [(f64, f64); 7] = [
    (0.00, -0.05),
    (0.15, 0.25),
    (0.85, 0.80),
    (0.45, 0.40),
    (1.00, 1.00),
    (-0.80, -0.45),
    (-0.35, -0.60),
];
/// The legacy vendor score's (static, start-of-year) view of each channel.
const CRM_CHANNEL: [f64; 7] = [0.0, 0.3, 0.9, 0.5, 0.8, -0.5, -0.5];

/// City tiers 1-4: share and intent.
const CITY_SHARE: [f64; 4] = [0.22, 0.33, 0.28, 0.17];
const CITY_INTENT: [f64; 4] = [0.15, 0.05, -0.05, -0.20];

/// A car model: name, price band (index into [`BUDGETS`]) and share of interest.
pub(crate) const MODELS: [(&str, u8, f64); 6] = [
    ("Pulse", 0, 0.22),
    ("Aurora S", 1, 0.28),
    ("Aurora X", 2, 0.22),
    ("Nova GT", 2, 0.12),
    ("Terra LR", 3, 0.16),
    // Only with drift: a model launched late in the period (see [`Drift`]).
    ("Nova EV", 1, 0.0),
];
/// Budget bands (CNY).
pub(crate) const BUDGETS: [&str; 4] = ["<150k", "150-250k", "250-350k", ">350k"];
/// Offset of the budget band from the model's price band: -2..=2.
const BUDGET_OFFSET: [f64; 5] = [0.04, 0.16, 0.58, 0.16, 0.06];
/// Intent penalty per band the model is above the budget, and per band below it.
const OVER_BUDGET: f64 = 0.55;
const UNDER_BUDGET: f64 = 0.20;

/// Lead share per calendar month (spring and autumn campaigns, a Chinese New Year dip).
const MONTH_WEIGHT: [f64; 12] = [
    0.75, 0.60, 1.15, 1.30, 1.15, 0.90, 0.80, 0.85, 1.25, 1.35, 1.05, 0.95,
];
/// Lead share per hour of the day (UTC+8 business hours, shifted to UTC).
const HOUR_WEIGHT: [f64; 24] = [
    1.0, 1.3, 1.5, 1.6, 1.5, 1.3, 1.4, 1.5, 1.4, 1.3, 1.2, 1.1, 1.0, 0.9, 0.6, 0.4, 0.2, 0.1, 0.1,
    0.1, 0.1, 0.2, 0.4, 0.7,
];
/// Weekend days bring more leads (walk-ins, browsing).
const WEEKEND_WEIGHT: f64 = 1.2;

/// Per-lead constants of the outcome model (logistic intercepts and slopes). Tuned so that seed 7
/// at 200k leads gives ~1.4% locked_in, ~10% test drives and ~25% long calls.
const LONG_CALL: [f64; 3] = [-1.30, 0.60, 0.90]; // intercept, z, e
const TEST_DRIVE: [f64; 5] = [-3.35, 0.85, 0.90, 0.80, 0.70]; // + long call, + visit booked
const STORE_VISIT: [f64; 4] = [-2.70, 0.50, 0.40, 1.60]; // + visit booked
const BUY: [f64; 4] = [-6.02, 1.05, 0.60, 1.80]; // intercept, z, e, test drive
/// Share of non-buyers the CRM eventually marks as defeated (the rest stay open).
const DEFEAT_SHARE: f64 = 0.80;

/// Drift between the training and the test period (`synth --drift d`, `d` in `[0, 1]`), shaped
/// like the drift of real funnels split by time: period-level fields (one value per week, like
/// economic indices) whose relation to buying changes, a base rate that rises, and categories
/// that appear only late. At `d = 0` nothing here runs: no extra draws, no extra columns, the
/// same bytes as a build without drift. Every effect scales with `d`; `ramp(τ, a, b)` rises
/// linearly from 0 at `τ = a` to 1 at `τ = b` (`τ` = fraction of the period elapsed).
///
/// - A market cycle `c(τ) = sin(2π · 2.5 τ)` (weekly steps) moves the buy logit by
///   `1.6 d · c` all year (about 5x the odds from trough to peak): a real period effect the
///   fields below stand in for, as strong as what a lead's own fields say.
/// - `rate_index = 3.2 − 0.9 c − 2.6 d · ramp(τ, 0.62, 0.85)` (like a lending rate): low rates go
///   with buying during training, then the rate falls below anything seen in training for most
///   test leads, whatever the cycle does.
/// - `confidence_index = −38 + 9 c · (1 − 2 d · ramp(τ, 0.6, 0.75))`: tracks the cycle during
///   training, then its relation to buying flips while its values stay inside the training range.
/// - `stock_index = 100 + 5 sin(2π · 6 τ) + 60 d · ramp(τ, 0.65, 1)`: unrelated to buying; it
///   climbs above the training range late.
/// - The base rate rises: `+1.3 d · ramp(τ, 0.5, 1)` on the buy logit (about 3.7x the odds at
///   the end of a full-drift year).
/// - `channel = live_stream` (intent +0.5) takes a weight of `0.25 d · ramp(τ, 0.68, 0.9)`, and
///   `model_interest = Nova EV` (the 150-250k band) a weight of `0.3 d · ramp(τ, 0.7, 0.9)`:
///   values the training period never saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Drift(pub f64);

/// Intent of a live-stream lead (the channel drift adds).
const LIVE_STREAM_INTENT: f64 = 0.5;

fn ramp(t: f64, a: f64, b: f64) -> f64 {
    ((t - a) / (b - a)).clamp(0.0, 1.0)
}

/// The period-level fields of a lead created at `tau` (see [`Drift`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PeriodFields {
    pub rate_index: f64,
    pub confidence_index: f64,
    pub stock_index: f64,
}

impl Drift {
    pub(crate) fn on(self) -> bool {
        self.0 > 0.0
    }

    /// `tau` rounded down to its week (period-level fields change once a week).
    fn week(tau: f64) -> f64 {
        (tau * 52.0).floor() / 52.0
    }

    fn cycle(tau: f64) -> f64 {
        (std::f64::consts::TAU * 2.5 * Self::week(tau)).sin()
    }

    pub(crate) fn fields(self, tau: f64) -> PeriodFields {
        let d = self.0;
        let w = Self::week(tau);
        let c = Self::cycle(tau);
        PeriodFields {
            rate_index: 3.2 - 0.9 * c - 2.6 * d * ramp(w, 0.62, 0.85),
            confidence_index: -38.0 + 9.0 * c * (1.0 - 2.0 * d * ramp(w, 0.6, 0.75)),
            stock_index: 100.0
                + 5.0 * (std::f64::consts::TAU * 6.0 * w).sin()
                + 60.0 * d * ramp(w, 0.65, 1.0),
        }
    }

    /// What the period adds to the buy logit: the market cycle and the rising base rate.
    fn buy_shift(self, tau: f64) -> f64 {
        let d = self.0;
        1.6 * d * Self::cycle(tau) + 1.3 * d * ramp(tau, 0.5, 1.0)
    }

    /// Channel weights: the seven channels, plus live streams once drift is on.
    fn channel_weights(self, tau: f64, base: [f64; 7]) -> Vec<f64> {
        let mut w = base.to_vec();
        if self.on() {
            w.push(0.25 * self.0 * ramp(tau, 0.68, 0.9));
        }
        w
    }

    /// Model weights: the five models, plus the late launch once drift is on.
    fn model_weights(self, tau: f64) -> Vec<f64> {
        let mut w: Vec<f64> = MODELS[..5].iter().map(|m| m.2).collect();
        if self.on() {
            w.push(0.3 * self.0 * ramp(tau, 0.7, 0.9));
        }
        w
    }
}

#[inline]
pub(crate) fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Poisson draw (Knuth), capped at `cap`.
fn poisson(rng: &mut Rng, lambda: f64, cap: u32) -> u32 {
    let l = (-lambda).exp();
    let mut k = 0;
    let mut p = rng.uniform();
    while p > l && k < cap {
        k += 1;
        p *= rng.uniform();
    }
    k
}

/// Exponential draw with the given mean.
#[inline]
fn exponential(rng: &mut Rng, mean: f64) -> f64 {
    -mean * (1.0 - rng.uniform()).ln()
}

/// Maps a uniform in `[0, 1)` to a creation time, following the seasonal density. Monotone, so
/// stratified uniforms `(i + u) / n` give timestamps already in order.
#[derive(Debug, Clone)]
pub(crate) struct Calendar {
    start: i64,
    /// Cumulative weight per hour bucket.
    cdf: Vec<f64>,
}

impl Calendar {
    pub(crate) fn new(start: i64, days: u32) -> Self {
        let days = days.max(1);
        let mut cdf = Vec::with_capacity(days as usize * 24);
        let mut acc = 0.0;
        for d in 0..i64::from(days) {
            let day = (start + d * DAY).div_euclid(DAY);
            let (_, month, _) = civil_from_days(day);
            // 1970-01-01 was a Thursday: (day + 4) % 7 == 0 is a Sunday.
            let weekday = (day + 4).rem_euclid(7);
            let w_day = MONTH_WEIGHT[(month as usize - 1) % 12]
                * if weekday == 0 || weekday == 6 {
                    WEEKEND_WEIGHT
                } else {
                    1.0
                };
            for h in 0..24 {
                let hour = ((start + d * DAY + h * 3600).rem_euclid(DAY) / 3600) as usize;
                acc += w_day * HOUR_WEIGHT[hour];
                cdf.push(acc);
            }
        }
        Self { start, cdf }
    }

    /// The creation time at quantile `q` in `[0, 1)`.
    pub(crate) fn at(&self, q: f64) -> i64 {
        let total = self.cdf.last().copied().unwrap_or(1.0);
        let x = q.clamp(0.0, 1.0) * total;
        let b = self
            .cdf
            .partition_point(|&c| c <= x)
            .min(self.cdf.len() - 1);
        let lo = if b == 0 { 0.0 } else { self.cdf[b - 1] };
        let frac = ((x - lo) / (self.cdf[b] - lo)).clamp(0.0, 0.999_999);
        self.start + b as i64 * 3600 + (frac * 3600.0) as i64
    }
}

/// What happened to a lead after the snapshot, as seen at the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    LockedIn,
    Defeated,
    Open,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::LockedIn => "locked_in",
            Outcome::Defeated => "defeated",
            Outcome::Open => "open",
        }
    }
}

/// Most calls a lead has before the snapshot.
pub(crate) const MAX_CALLS: usize = 8;

/// One generated lead (everything but the dialogue text).
#[derive(Debug, Clone)]
pub(crate) struct Lead {
    pub created_at: i64,
    pub channel: usize,
    pub city_tier: usize,
    pub model: usize,
    pub budget: usize,
    pub trade_in: bool,
    /// `None` = left blank on the form.
    pub financing: Option<bool>,
    /// Latent purchase intent z (the oracle).
    pub z: f64,
    /// Hidden urgency (part of z, visible only in the dialogue).
    pub urgency: f64,
    /// Engagement latent (raises activity, test drives and conversion; not part of z).
    pub engagement: f64,
    pub calls: usize,
    /// Duration in seconds of each call before the snapshot; 0 = not answered.
    pub call_secs: [u32; MAX_CALLS],
    pub longest_call_s: u32,
    pub visit_booked: bool,
    pub app_sessions: u32,
    pub crm_score: u32,
    /// The period-level fields (only written with drift).
    pub period: PeriodFields,
    pub long_call: bool,
    pub test_drive: bool,
    pub store_visit: bool,
    pub outcome: Outcome,
}

/// Per-run generator state: the calendar and the time bounds.
#[derive(Debug, Clone)]
pub(crate) struct World {
    seed: u64,
    n: f64,
    start: i64,
    export: i64,
    span: f64,
    calendar: Calendar,
    drift: Drift,
}

impl World {
    pub(crate) fn new(seed: u64, leads: usize, start: i64, days: u32, drift: f64) -> Self {
        let days = days.max(1);
        Self {
            seed,
            n: leads.max(1) as f64,
            start,
            export: start + i64::from(days) * DAY,
            span: f64::from(days) * DAY as f64,
            calendar: Calendar::new(start, days),
            drift: Drift(drift),
        }
    }

    /// Generates lead `i` (0-based; leads come out in creation order).
    pub(crate) fn lead(&self, i: u64) -> Lead {
        let mut r = Rng::derive(self.seed, i);
        let created_at = self.calendar.at((i as f64 + r.uniform()) / self.n);
        let tau = ((created_at - self.start) as f64 / self.span).clamp(0.0, 1.0);
        let lerp = |(a, b): (f64, f64)| a + (b - a) * tau;

        // Fields.
        let drift = self.drift;
        let share = drift.channel_weights(tau, CHANNEL_SHARE.map(lerp));
        let channel = r.weighted(&share);
        let city_tier = r.weighted(&CITY_SHARE);
        let model = r.weighted(&drift.model_weights(tau));
        let band = MODELS[model].1 as i64;
        let budget = (band + r.weighted(&BUDGET_OFFSET) as i64 - 2).clamp(0, 3) as usize;
        let trade_in = r.chance(0.30);
        let financing = match r.weighted(&[0.38, 0.34, 0.28]) {
            0 => Some(true),
            1 => Some(false),
            _ => None,
        };

        // Latents.
        let gap = band - budget as i64;
        let fit = if gap > 0 {
            -OVER_BUDGET * gap as f64
        } else {
            UNDER_BUDGET * gap as f64
        };
        let channel_intent = match CHANNEL_INTENT.get(channel) {
            Some(&range) => lerp(range),
            None => LIVE_STREAM_INTENT,
        };
        let from_fields = channel_intent
            + CITY_INTENT[city_tier]
            + fit
            + if trade_in { 0.25 } else { 0.0 }
            + match financing {
                Some(true) => 0.10,
                Some(false) => 0.0,
                None => -0.15,
            };
        let urgency = r.normal();
        let engagement = r.normal();
        let z = from_fields + 0.85 * urgency + 0.75 * r.normal();
        let e = engagement;

        // Activity up to the snapshot.
        let inbound = matches!(CHANNELS[channel], "dealer_walkin" | "phone_in");
        let lambda = 1.3 * (0.15 * z + 0.30 * e).exp() + if inbound { 0.5 } else { 0.0 };
        let calls = poisson(&mut r, lambda, MAX_CALLS as u32) as usize;
        let mut call_secs = [0u32; MAX_CALLS];
        let p_answer = sigmoid(0.4 + 0.5 * z + 0.7 * e);
        for secs in call_secs.iter_mut().take(calls) {
            let answered = r.chance(p_answer);
            let d = (70f64.ln() + 0.30 * z + 0.35 * e + 0.8 * r.normal()).exp();
            if answered {
                *secs = d.clamp(15.0, 3600.0) as u32;
            }
        }
        let longest_call_s = call_secs.iter().copied().max().unwrap_or(0);
        let walkin = CHANNELS[channel] == "dealer_walkin";
        let visit_booked = r.chance(sigmoid(
            -3.3 + 0.8 * z + 0.6 * e + if walkin { 0.7 } else { 0.0 },
        ));
        let app_bonus = if CHANNELS[channel] == "app" { 1.0 } else { 0.0 };
        let app_sessions = poisson(&mut r, (-0.4 + 0.25 * z + 0.7 * e + app_bonus).exp(), 40);
        let crm = 50.0
            + 10.0 * CRM_CHANNEL.get(channel).copied().unwrap_or(0.0)
            + 1.5 * (calls.min(4) as f64)
            + 3.0 * (0.3 * from_fields)
            + 18.0 * r.normal();
        let crm_score = crm.round().clamp(0.0, 100.0) as u32;

        // Outcomes after the snapshot, censored at the export.
        let snap = created_at + SNAPSHOT_DAYS * DAY;
        let by_export = |days: f64| snap + (days * DAY as f64) as i64 <= self.export;
        let lc = r.chance(sigmoid(LONG_CALL[0] + LONG_CALL[1] * z + LONG_CALL[2] * e));
        let lc_days = exponential(&mut r, 6.0);
        let td = r.chance(sigmoid(
            TEST_DRIVE[0]
                + TEST_DRIVE[1] * z
                + TEST_DRIVE[2] * e
                + if lc { TEST_DRIVE[3] } else { 0.0 }
                + if visit_booked { TEST_DRIVE[4] } else { 0.0 },
        ));
        let td_days = 1.0 + exponential(&mut r, 8.0);
        let sv = td
            || r.chance(sigmoid(
                STORE_VISIT[0]
                    + STORE_VISIT[1] * z
                    + STORE_VISIT[2] * e
                    + if visit_booked { STORE_VISIT[3] } else { 0.0 },
            ));
        let sv_days = if td {
            td_days
        } else {
            exponential(&mut r, 7.0)
        };
        let period_shift = if drift.on() {
            drift.buy_shift(tau)
        } else {
            0.0
        };
        let buys = r.chance(sigmoid(
            BUY[0] + BUY[1] * z + BUY[2] * e + if td { BUY[3] } else { 0.0 } + period_shift,
        ));
        let close_days = if buys {
            2.0 + exponential(
                &mut r,
                14.0 * (-0.35 * urgency - if visit_booked { 0.4 } else { 0.0 }).exp(),
            )
        } else {
            7.0 + exponential(&mut r, 40.0)
        };
        let defeated = !buys && r.chance(DEFEAT_SHARE);
        let outcome = if (buys || defeated) && by_export(close_days) {
            if buys {
                Outcome::LockedIn
            } else {
                Outcome::Defeated
            }
        } else {
            Outcome::Open
        };

        Lead {
            created_at,
            channel,
            city_tier,
            model,
            budget,
            trade_in,
            financing,
            z,
            urgency,
            engagement,
            calls,
            call_secs,
            longest_call_s,
            visit_booked,
            app_sessions,
            crm_score,
            period: drift.fields(tau),
            long_call: lc && by_export(lc_days),
            test_drive: td && by_export(td_days),
            store_visit: sv && by_export(sv_days),
            outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_is_monotone_and_in_range() {
        let start = 1_735_689_600; // 2025-01-01
        let cal = Calendar::new(start, 365);
        let mut prev = i64::MIN;
        for k in 0..10_000 {
            let t = cal.at(k as f64 / 10_000.0);
            assert!(t >= prev);
            assert!(t >= start && t < start + 365 * DAY);
            prev = t;
        }
        // Spring campaign month (April) is busier than February.
        let month_of = |q: f64| civil_from_days(cal.at(q).div_euclid(DAY)).1;
        let mut counts = [0u32; 13];
        for k in 0..10_000 {
            counts[month_of((k as f64 + 0.5) / 10_000.0) as usize] += 1;
        }
        assert!(counts[4] > counts[2] * 3 / 2, "{counts:?}");
    }

    #[test]
    fn poisson_mean() {
        let mut r = Rng::new(1);
        let n = 20_000;
        let s: u32 = (0..n).map(|_| poisson(&mut r, 1.7, 40)).sum();
        let mean = f64::from(s) / f64::from(n);
        assert!((mean - 1.7).abs() < 0.05, "{mean}");
    }
}
