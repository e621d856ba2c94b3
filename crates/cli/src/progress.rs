//! Progress of long jobs (train, rank, synth): a bar on a terminal, and periodic plain lines when
//! stderr is a log file or a CI console, so a 30-minute run never goes silent.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

/// How often a plain progress line is printed when stderr is not a terminal (the environment
/// variable `LEADLADDER_PROGRESS_EVERY`, in seconds, overrides it).
const LINE_EVERY: Duration = Duration::from_secs(30);

fn line_every() -> Duration {
    std::env::var("LEADLADDER_PROGRESS_EVERY")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(LINE_EVERY, Duration::from_secs_f64)
}

/// One job's progress: `set(position, message)` as work advances.
#[derive(Debug)]
pub struct Progress {
    what: String,
    total: u64,
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    last_line: Instant,
    every: Duration,
    /// Position and time of the first update: the rate counts from there, so set-up time
    /// before the first unit of work does not inflate the ETA.
    first: Option<(u64, Instant)>,
    unit: &'static str,
    /// Prints nothing (a data-parallel run's ranks other than 0).
    silent: bool,
}

impl Progress {
    /// A job of `total` units (`unit` names them, e.g. "steps" or "leads"; 0 = not yet known).
    pub fn new(what: &str, total: u64, unit: &'static str) -> Self {
        Self::with_terminal(what, total, unit, std::io::stderr().is_terminal())
    }

    /// As [`Progress::new`], choosing the bar or the plain lines explicitly.
    pub fn with_terminal(what: &str, total: u64, unit: &'static str, terminal: bool) -> Self {
        let bar = terminal.then(|| crate::progress_bar(total, what));
        let now = Instant::now();
        Self {
            what: what.to_string(),
            total,
            bar,
            started: now,
            last_line: now,
            every: line_every(),
            first: None,
            unit,
            silent: false,
        }
    }

    /// From now on prints nothing, neither bar nor lines.
    pub fn hide(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        self.silent = true;
    }

    /// Sets the total (when it becomes known).
    pub fn set_total(&mut self, total: u64) {
        self.total = total;
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    /// Moves to `pos`; `detail` (e.g. "loss 0.41, 8,100 tokens/s") is shown beside it.
    pub fn set(&mut self, pos: u64, detail: &str) {
        if let Some(bar) = &self.bar {
            bar.set_position(pos);
            bar.set_message(format!("{} {detail}", self.what));
            return;
        }
        if self.silent {
            return;
        }
        let now = Instant::now();
        let (first_pos, _) = *self.first.get_or_insert((pos, now));
        // The first line waits for a second update, so it can give a rate.
        if pos > first_pos && now.duration_since(self.last_line) >= self.every {
            eprintln!("{}", self.line(pos, detail, now));
            self.last_line = now;
        }
    }

    /// The plain progress line at `pos`.
    fn line(&self, pos: u64, detail: &str, now: Instant) -> String {
        let (from, since) = self.first.unwrap_or((0, self.started));
        let elapsed = now.duration_since(since).as_secs_f64();
        let rate = if elapsed > 0.0 {
            pos.saturating_sub(from) as f64 / elapsed
        } else {
            0.0
        };
        let mut out = format!("  {}: {pos}", self.what);
        if self.total > 0 {
            out.push_str(&format!(
                "/{} {} ({:.0}%)",
                self.total,
                self.unit,
                100.0 * pos as f64 / self.total as f64
            ));
        } else {
            out.push_str(&format!(" {}", self.unit));
        }
        out.push_str(&format!(", {rate:.1} {}/s", self.unit));
        if self.total > pos && rate > 0.0 {
            let eta = (self.total - pos) as f64 / rate;
            out.push_str(&format!(", eta {}", human_duration(eta)));
        }
        if !detail.is_empty() {
            out.push_str(", ");
            out.push_str(detail);
        }
        out
    }

    /// Prints a message without breaking the bar.
    pub fn println(&self, msg: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{msg}")),
            None if self.silent => {}
            None => eprintln!("{msg}"),
        }
    }

    /// Removes the bar (plain lines need no clean-up).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `1h02m`, `5m12s`, `42s`.
pub fn human_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_line_has_position_rate_and_eta() {
        let mut p = Progress::with_terminal("training", 100, "steps", false);
        p.started = Instant::now() - Duration::from_secs(10);
        let line = p.line(25, "loss 0.5000", Instant::now());
        assert!(
            line.starts_with("  training: 25/100 steps (25%), 2.5 steps/s, eta 30s"),
            "{line}"
        );
        assert!(line.ends_with("loss 0.5000"), "{line}");
        // Set-up before the first unit of work (30 s here) does not count toward the rate.
        let mut p = Progress::with_terminal("training", 100, "steps", false);
        let t0 = Instant::now();
        p.started = t0 - Duration::from_secs(40);
        p.first = Some((1, t0 - Duration::from_secs(10)));
        let line = p.line(21, "", t0);
        assert!(
            line.starts_with("  training: 21/100 steps (21%), 2.0 steps/s, eta 40s"),
            "{line}"
        );
        assert_eq!(human_duration(3725.0), "1h02m");
        assert_eq!(human_duration(312.0), "5m12s");
    }
}
