//! Loading a model bundle the user named, and the messages that say which file an input or
//! drift error concerns (shared by `rank`, `audit`, `profile` and `bench`).

use std::path::Path;

use anyhow::{Context, Result};
use leadladder_bundle::Bundle;
use leadladder_core::Error as CoreError;
use leadladder_core::spec::Spec;
use leadladder_model::{DeviceKind, Scorer};

/// An ingest error of `path`, said as `leadladder rank` says it (a missing column is named with
/// the model's spec).
pub(crate) fn read_error(path: &Path, spec: &Spec, e: CoreError) -> anyhow::Error {
    match e {
        e @ CoreError::MissingColumns { .. } => anyhow::Error::new(e).context(format!(
            "{} lacks column(s) that the model reads (ladder spec `{}` in the bundle)",
            path.display(),
            spec.name
        )),
        e => anyhow::Error::new(e).context(format!("reading {}", path.display())),
    }
}

/// Reads and checks a bundle file; its tensors stay as stored in the file's bytes, which every
/// scorer made from it shares.
pub(crate) fn load_bundle(path: &Path) -> Result<Bundle> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading the model {}", path.display()))?;
    Bundle::from_vec(bytes).with_context(|| format!("loading the model {}", path.display()))
}

/// Loads a bundle file onto a device.
pub(crate) fn load_scorer(path: &Path, device: DeviceKind) -> Result<Scorer> {
    Scorer::from_bundle(&load_bundle(path)?, device)
        .with_context(|| format!("loading the model {}", path.display()))
}

/// A drift check's error, said with the files it concerns.
pub(crate) fn drift_error(input: &Path, model: &Path, e: CoreError) -> anyhow::Error {
    anyhow::Error::new(e).context(format!(
        "checking {} against the training data of {}",
        input.display(),
        model.display()
    ))
}
