//! How many helper workers the page's CPU build may score on, and why not more: the decision the
//! scoring worker asks for before it starts helpers (`helperPlan` in `API.md`). Each helper is a
//! wasm instance of its own holding the model, the file and scratch, so the helpers together may
//! use a quarter of the memory the browser reports (`navigator.deviceMemory`, which browsers round
//! and cap at 8 GB), at least 512 MB and at most 2 GB (1 GB where it is not reported); one helper
//! costs what the scoring worker's wasm memory holds now (an upper bound for a fresh instance).
//! The demo model keeps one worker per core, a 0.5 GB bundle gets two or three helpers, a 1 GB one
//! at most one. Helpers read the model themselves (the Cache API or the picked file); a model
//! kept nowhere they can read gets none.

use leadladder_core::report::thousands;
use serde::{Deserialize, Serialize};

const MB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MB;
/// Most workers scoring one file (the scoring worker and its helpers).
pub const MAX_WORKERS: u32 = 8;

/// What the scoring worker knows when it plans its helpers.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HelperInput {
    /// The page's `workers` option (scoring workers in all), if given.
    pub requested: Option<u32>,
    /// `navigator.hardwareConcurrency`.
    pub cores: Option<u32>,
    /// `navigator.deviceMemory` in GB, if the browser reports it.
    pub device_memory_gb: Option<f64>,
    /// The scoring worker's wasm memory now (bytes).
    pub per_worker_bytes: f64,
    /// Whether helpers can read the model themselves (the Cache API or the picked file).
    pub model_readable: bool,
}

/// The plan: `allowed` of the `wanted` helpers, and in words why not all of them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HelperPlan {
    pub wanted: u32,
    pub allowed: u32,
    pub per_worker_bytes: f64,
    pub budget_bytes: f64,
    pub device_bytes: Option<f64>,
    /// Empty when every wanted helper is allowed.
    pub reason: String,
}

/// Scoring workers wanted in all: the `workers` option, else one per core; 1 to [`MAX_WORKERS`].
pub fn wanted_workers(requested: Option<u32>, cores: Option<u32>) -> u32 {
    let n = requested
        .filter(|&n| n > 0)
        .or(cores.filter(|&n| n > 0))
        .unwrap_or(1);
    n.clamp(1, MAX_WORKERS)
}

/// The helpers the scoring worker may start (see the module docs).
pub fn helper_plan(input: &HelperInput) -> HelperPlan {
    let wanted = wanted_workers(input.requested, input.cores) - 1;
    let device_bytes = input
        .device_memory_gb
        .filter(|gb| gb.is_finite() && *gb > 0.0)
        .map(|gb| gb * GIB);
    let budget_bytes = device_bytes
        .map_or(GIB, |b| b / 4.0)
        .clamp(512.0 * MB, 2.0 * GIB);
    let per_worker_bytes = input.per_worker_bytes.max(0.0);
    let mut plan = HelperPlan {
        wanted,
        allowed: wanted,
        per_worker_bytes,
        budget_bytes,
        device_bytes,
        reason: String::new(),
    };
    if wanted == 0 {
        return plan;
    }
    if !input.model_readable {
        plan.allowed = 0;
        plan.reason = "the model is not kept where helper workers can read it themselves (not in \
                       this browser’s storage), and copying it to each would hold it several times over"
            .into();
        return plan;
    }
    let fit = (budget_bytes / per_worker_bytes.max(1.0)).floor();
    if fit < f64::from(wanted) {
        plan.allowed = fit.max(0.0) as u32;
        let device = match device_bytes {
            Some(b) => format!("a quarter of this device’s {}, at most 2 GB", mb_text(b)),
            None => "1 GB: this browser does not report its memory".to_string(),
        };
        plan.reason = format!(
            "each helper holds its own copy of the model ({} of wasm memory) and helpers may use \
             {} in all ({device})",
            mb_text(per_worker_bytes),
            mb_text(budget_bytes)
        );
    }
    plan
}

/// `1,536 MB`: whole megabytes with thousands separators.
fn mb_text(bytes: f64) -> String {
    format!("{} MB", thousands((bytes / MB).round().max(0.0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(per_worker_mb: f64, device_gb: Option<f64>) -> HelperInput {
        HelperInput {
            requested: None,
            cores: Some(8),
            device_memory_gb: device_gb,
            per_worker_bytes: per_worker_mb * MB,
            model_readable: true,
        }
    }

    #[test]
    fn the_demo_model_gets_a_helper_per_core() {
        let p = helper_plan(&input(60.0, Some(8.0)));
        assert_eq!((p.wanted, p.allowed, p.reason.as_str()), (7, 7, ""));
        assert_eq!(p.budget_bytes, 2.0 * GIB);
    }

    #[test]
    fn a_real_size_model_gets_what_the_budget_holds_and_says_why() {
        // A 0.5 GB bundle: a little over 0.5 GB per instance; 8 GB reported → 2 GB for helpers.
        let p = helper_plan(&input(600.0, Some(8.0)));
        assert_eq!((p.wanted, p.allowed), (7, 3));
        assert_eq!(
            p.reason,
            "each helper holds its own copy of the model (600 MB of wasm memory) and helpers may \
             use 2,048 MB in all (a quarter of this device’s 8,192 MB, at most 2 GB)"
        );
        // Not reported: 1 GB; 4 GB reported: a quarter is 1 GB; 1 GB reported: at least 512 MB.
        assert_eq!(helper_plan(&input(600.0, None)).allowed, 1);
        assert!(
            helper_plan(&input(600.0, None))
                .reason
                .ends_with("(1 GB: this browser does not report its memory)")
        );
        assert_eq!(helper_plan(&input(600.0, Some(4.0))).allowed, 1);
        assert_eq!(
            helper_plan(&input(300.0, Some(1.0))).budget_bytes,
            512.0 * MB
        );
        assert_eq!(helper_plan(&input(1100.0, Some(8.0))).allowed, 1);
    }

    #[test]
    fn no_helpers_for_a_model_they_cannot_read_or_when_one_worker_is_asked_for() {
        let mut i = input(60.0, Some(8.0));
        i.model_readable = false;
        let p = helper_plan(&i);
        assert_eq!((p.wanted, p.allowed), (7, 0));
        assert!(
            p.reason
                .contains("not kept where helper workers can read it")
        );
        i.requested = Some(1);
        assert_eq!(helper_plan(&i).wanted, 0);
        assert_eq!(wanted_workers(Some(20), None), MAX_WORKERS);
        assert_eq!(wanted_workers(None, None), 1);
        assert_eq!(wanted_workers(Some(0), Some(3)), 3);
    }

    #[test]
    fn megabytes_read_like_the_page_writes_them() {
        assert_eq!(mb_text(0.0), "0 MB");
        assert_eq!(mb_text(999.0 * MB), "999 MB");
        assert_eq!(mb_text(1536.0 * MB), "1,536 MB");
        assert_eq!(mb_text(1_234_567.0 * MB), "1,234,567 MB");
    }
}
