//! [`BundleInfo`]: what a bundle is, in the words a page shows (and `inspectBundle` returns).

use leadladder_core::SpecInfo;
use leadladder_core::guard::Guard;
use serde::Serialize;

use crate::format::Bundle;

/// A checked bundle described: format, size, storage, shape, prompt version, the spec it was
/// trained with, its stored metrics and provenance, whether it can check a file for drift, and
/// the guard's verdict. Built once per loaded bundle
/// ([`Bundle::info`]).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleInfo {
    /// The `format` tag.
    pub format: String,
    /// Size of the bundle file in bytes.
    pub bytes: usize,
    /// How the 2-D weights are stored (`f32`, `f16`, `int8`).
    pub dtype: String,
    /// Total parameter count ([`Bundle::parameters`]).
    pub parameters: usize,
    /// Prompt budget in tokens.
    pub max_tokens: usize,
    /// Rows of the embedding.
    pub vocab_size: usize,
    /// The prompt rendering version.
    pub prompt_version: String,
    /// The columns the model reads, by role, and its label.
    pub spec: SpecInfo,
    /// The stored evaluation report.
    pub metrics: serde_json::Value,
    /// Data hash, seed, code version, preset, creation time.
    pub provenance: serde_json::Value,
    /// Leads of the fit period the stored drift profile was fitted on; `None` when the bundle
    /// has no profile (it predates them), so no file can be checked for drift against it.
    pub drift_profile_leads: Option<u64>,
    /// The input fields the drift profile covers (empty without one).
    pub drift_fields: Vec<String>,
    /// The guard's verdict on the model's test period, when stored.
    pub guard: Option<Guard>,
}

impl Bundle {
    /// Number of parameters (elements of every tensor, heads included).
    pub fn parameters(&self) -> usize {
        self.tensors.element_count()
    }

    /// The bundle described.
    pub fn info(&self) -> BundleInfo {
        BundleInfo {
            format: self.meta.format.clone(),
            bytes: self.size,
            dtype: self.config.dtype.name().to_string(),
            parameters: self.parameters(),
            max_tokens: self.config.max_tokens,
            vocab_size: self.config.model.vocab_size,
            prompt_version: self.meta.prompt_version.clone(),
            spec: SpecInfo::new(&self.ladder),
            // Both were checked to be JSON when the bundle was read.
            metrics: serde_json::from_str(&self.meta.metrics_json)
                .unwrap_or(serde_json::Value::Null),
            provenance: serde_json::to_value(&self.provenance).unwrap_or(serde_json::Value::Null),
            drift_profile_leads: self.drift_profile.as_ref().map(|p| p.leads),
            drift_fields: self.drift_profile.as_ref().map_or_else(Vec::new, |p| {
                p.field_names().into_iter().map(str::to_string).collect()
            }),
            guard: self.guard.clone(),
        }
    }
}
