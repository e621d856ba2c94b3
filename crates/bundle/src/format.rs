//! The bundle file: one safetensors container holding the weights (f32, f16, or int8 with
//! per-row scales) and string metadata (format tag, config, tokenizer, ladder spec, prompt
//! version, metrics, provenance).
//!
//! The container is read and written here rather than through the `safetensors` crate: the
//! reader does every offset computation with checked arithmetic (a crafted header cannot make
//! it panic or overflow, on 32-bit wasm included), and the writer is byte-deterministic (sorted
//! metadata and tensor names). Files are standard safetensors; the test suite cross-reads them
//! with the `safetensors` crate.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use half::f16;
use leadladder_core::Spec;
use leadladder_core::drift::DriftProfile;
use leadladder_core::fields::FieldCodec;
use leadladder_core::guard::Guard;
use leadladder_core::hash::Fnv;
use leadladder_core::prompt::PROMPT_VERSION;
use serde::{Deserialize, Serialize};

use crate::config::{BundleConfig, CalibratedHead};
use crate::container::{dtype_size, parse_header};
use crate::encoder::LeadEncoder;
use crate::error::{Error, Result};
use crate::stored::{Entry, StoreDtype, StoredKind, StoredTensors};
use crate::tokenizer::LeadTokenizer;

/// The `format` metadata value this build writes.
///
/// `leadladder-bundle/2` added field-token encodings (`prompt_version` `leadladder-prompt/2`
/// with the `fields` metadata key) and a calibration that may apply to the rank head
/// (`calibration.head`). `leadladder-bundle/3` added ensembles (`config.ensemble`, member
/// tensors under `ensemble.<m>.`) and out-of-range field tokens (`leadladder-prompt/3`). Builds
/// that know only older formats refuse newer files by their format tag, so no older scorer can
/// mis-read them.
pub const FORMAT: &str = "leadladder-bundle/3";

/// The field-token format without ensembles or out-of-range tokens. Still read; never written.
pub const FORMAT_V2: &str = "leadladder-bundle/2";

/// The first format: text prompts only (`leadladder-prompt/1`), calibration of the point head.
/// Still read (and scored exactly as before); never written.
pub const FORMAT_V1: &str = "leadladder-bundle/1";

/// Every format tag this build reads.
pub const FORMATS_READ: [&str; 3] = [FORMAT_V1, FORMAT_V2, FORMAT];

/// Metadata keys every bundle carries.
pub mod keys {
    /// Always [`super::FORMAT`].
    pub const FORMAT: &str = "format";
    /// [`crate::BundleConfig`] as JSON.
    pub const CONFIG: &str = "config";
    /// The `tokenizer.json` text.
    pub const TOKENIZER: &str = "tokenizer";
    /// The ladder spec as JSON (`Spec::to_json`).
    pub const LADDER: &str = "ladder";
    /// `leadladder_core::prompt::PROMPT_VERSION` at training time.
    pub const PROMPT_VERSION: &str = "prompt_version";
    /// The evaluation report (any JSON).
    pub const METRICS: &str = "metrics";
    /// [`crate::Provenance`] as JSON.
    pub const PROVENANCE: &str = "provenance";
    /// The field tables ([`leadladder_core::fields::FieldCodec`] JSON) of a
    /// `leadladder-prompt/2` bundle; absent otherwise.
    pub const FIELDS: &str = "fields";
    /// FNV-1a 64 over every stored tensor in name order (its name, a 0 byte, its bytes as
    /// stored; int8 scales are tensors too), tagged `fnv1a64:`, so it does not depend on how a
    /// writer lays the container out; written by every writer since it was added, checked by the loader when
    /// present, so a corrupted copy (a damaged download or browser cache) is refused.
    pub const WEIGHTS_HASH: &str = "weights_fnv1a64";
    /// The fit period's per-field distributions ([`leadladder_core::drift::DriftProfile`]
    /// JSON), so a scorer can tell how far a file has drifted from the training data; absent
    /// in bundles written before it was added (their scorers say the check is unavailable).
    /// Optional in every format: builds that predate it keep it as an unknown key.
    pub const DRIFT_PROFILE: &str = "drift_profile";
    /// The guard's verdict on the model's test period ([`leadladder_core::guard::Guard`]
    /// JSON); optional, like [`DRIFT_PROFILE`].
    pub const GUARD: &str = "guard";
    /// All required keys, in the order a loader checks them.
    pub const REQUIRED: [&str; 7] = [
        FORMAT,
        CONFIG,
        TOKENIZER,
        LADDER,
        PROMPT_VERSION,
        METRICS,
        PROVENANCE,
    ];
}

/// Largest per-row int8 scale whose products with `-127..=127` stay finite in f32.
const MAX_INT8_SCALE: f32 = f32::MAX / 127.0;

/// Suffix of the per-row scale companion of an int8 tensor.
pub const SCALE_SUFFIX: &str = ".scale";

pub use crate::container::MAX_HEADER_BYTES;

/// Where the bundle came from (the `provenance` metadata key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Hash of the training data.
    pub data_hash: String,
    /// Training seed.
    pub seed: u64,
    /// Code version (e.g. git describe) of the trainer.
    pub code_version: String,
    /// Training preset name.
    pub preset: String,
    /// Creation time (RFC 3339).
    pub created: String,
}

/// The bundle's string metadata, each JSON value kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleMeta {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`BundleConfig`] JSON.
    pub config_json: String,
    /// `tokenizer.json` text.
    pub tokenizer_json: String,
    /// Ladder spec JSON.
    pub ladder_json: String,
    /// Prompt rendering version (`leadladder-prompt/1` text or `/2` field tokens).
    pub prompt_version: String,
    /// Field tables of a `leadladder-prompt/2` bundle (the `fields` key).
    pub fields_json: Option<String>,
    /// The fit period's drift profile (the `drift_profile` key), if stored.
    pub drift_profile_json: Option<String>,
    /// The guard's verdict (the `guard` key), if stored.
    pub guard_json: Option<String>,
    /// Evaluation report JSON (any JSON value).
    pub metrics_json: String,
    /// [`Provenance`] JSON.
    pub provenance_json: String,
    /// Any further metadata keys (kept as is; may not reuse a required key).
    pub extra: BTreeMap<String, String>,
}

impl BundleMeta {
    /// Metadata for the current format from typed parts; the prompt version and field tables
    /// are the encoder's.
    pub fn new(
        config: &BundleConfig,
        encoder: &LeadEncoder,
        ladder: &Spec,
        metrics_json: String,
        provenance: &Provenance,
    ) -> Result<Self> {
        Ok(Self {
            format: FORMAT.to_string(),
            config_json: config.to_json()?,
            tokenizer_json: encoder.tokenizer().to_json()?,
            ladder_json: ladder.to_json()?,
            prompt_version: encoder.prompt_version().to_string(),
            fields_json: encoder
                .fields()
                .map(FieldCodec::to_json)
                .transpose()
                .map_err(|e| Error::bad_meta(keys::FIELDS, e))?,
            drift_profile_json: None,
            guard_json: None,
            metrics_json,
            provenance_json: serde_json::to_string(provenance)
                .map_err(|e| Error::bad_meta(keys::PROVENANCE, e))?,
            extra: BTreeMap::new(),
        })
    }

    /// Stores the fit period's drift profile (the `drift_profile` key). Its fields must be the
    /// ladder spec's structured inputs (checked when the bundle is written and loaded).
    ///
    /// # Errors
    ///
    /// [`Error::BadMetadata`] naming the key if the profile cannot be serialised.
    pub fn with_drift_profile(mut self, profile: &DriftProfile) -> Result<Self> {
        self.drift_profile_json = Some(
            profile
                .to_json()
                .map_err(|e| Error::bad_meta(keys::DRIFT_PROFILE, e))?,
        );
        Ok(self)
    }

    /// Stores the guard's verdict on the model's test period (the `guard` key).
    ///
    /// # Errors
    ///
    /// [`Error::BadMetadata`] naming the key if the verdict cannot be serialised.
    pub fn with_guard(mut self, guard: &Guard) -> Result<Self> {
        self.guard_json = Some(
            guard
                .to_json()
                .map_err(|e| Error::bad_meta(keys::GUARD, e))?,
        );
        Ok(self)
    }

    /// The stored drift profile, parsed and checked against the ladder spec's inputs; `None`
    /// when the bundle has none.
    ///
    /// # Errors
    ///
    /// [`Error::BadMetadata`] naming `drift_profile` (or `ladder`) when a value is malformed.
    pub fn drift_profile(&self) -> Result<Option<DriftProfile>> {
        let Some(text) = &self.drift_profile_json else {
            return Ok(None);
        };
        let ladder =
            Spec::from_json(&self.ladder_json).map_err(|e| Error::bad_meta(keys::LADDER, e))?;
        parse_drift_profile(text, &ladder).map(Some)
    }

    /// The stored guard verdict, parsed; `None` when the bundle has none.
    ///
    /// # Errors
    ///
    /// [`Error::BadMetadata`] naming `guard` when the value is malformed.
    pub fn guard(&self) -> Result<Option<Guard>> {
        self.guard_json.as_deref().map(parse_guard).transpose()
    }

    fn to_map(&self) -> Result<BTreeMap<String, String>> {
        let mut map = BTreeMap::new();
        for (k, v) in [
            (keys::FORMAT, &self.format),
            (keys::CONFIG, &self.config_json),
            (keys::TOKENIZER, &self.tokenizer_json),
            (keys::LADDER, &self.ladder_json),
            (keys::PROMPT_VERSION, &self.prompt_version),
            (keys::METRICS, &self.metrics_json),
            (keys::PROVENANCE, &self.provenance_json),
        ] {
            map.insert(k.to_string(), v.clone());
        }
        for (key, value) in [
            (keys::FIELDS, &self.fields_json),
            (keys::DRIFT_PROFILE, &self.drift_profile_json),
            (keys::GUARD, &self.guard_json),
        ] {
            if let Some(v) = value {
                map.insert(key.to_string(), v.clone());
            }
        }
        for (k, v) in &self.extra {
            if map.contains_key(k) {
                return Err(Error::bad_meta(
                    k,
                    "an `extra` entry may not reuse a metadata key the bundle defines",
                ));
            }
            map.insert(k.clone(), v.clone());
        }
        Ok(map)
    }

    fn from_map(mut map: BTreeMap<String, String>) -> Result<Self> {
        let mut take = |key: &str| {
            map.remove(key).ok_or_else(|| Error::MissingMetadata {
                key: key.to_string(),
            })
        };
        let format = take(keys::FORMAT)?;
        check_format(&format)?;
        Ok(Self {
            format,
            config_json: take(keys::CONFIG)?,
            tokenizer_json: take(keys::TOKENIZER)?,
            ladder_json: take(keys::LADDER)?,
            prompt_version: take(keys::PROMPT_VERSION)?,
            metrics_json: take(keys::METRICS)?,
            provenance_json: take(keys::PROVENANCE)?,
            fields_json: map.remove(keys::FIELDS),
            drift_profile_json: map.remove(keys::DRIFT_PROFILE),
            guard_json: map.remove(keys::GUARD),
            extra: map,
        })
    }

    /// Parses and cross-checks every value: format, config, tokenizer (loads; EOS/pad ids agree
    /// with the config), prompt version and field tables (the encoder's ids fit the config's
    /// `vocab_size`; the fields are the spec's inputs), ladder spec, metrics JSON, provenance,
    /// and when present the drift profile (its fields are the spec's structured inputs) and the
    /// guard. A `leadladder-bundle/1` file must use the text prompt and the point-head
    /// calibration. Errors name the metadata key.
    pub fn validate(&self) -> Result<(BundleConfig, LeadEncoder, Spec, Provenance)> {
        let v = self.checked()?;
        Ok((v.config, v.encoder, v.ladder, v.provenance))
    }

    /// [`BundleMeta::validate`], keeping every parsed value.
    fn checked(&self) -> Result<Checked> {
        check_format(&self.format)?;
        let config = BundleConfig::from_json(&self.config_json)?;
        let tokenizer = LeadTokenizer::from_json(&self.tokenizer_json)
            .map_err(|e| Error::bad_meta(keys::TOKENIZER, e))?;
        if self.format == FORMAT_V1 {
            if self.prompt_version != PROMPT_VERSION || self.fields_json.is_some() {
                return Err(Error::bad_meta(
                    keys::PROMPT_VERSION,
                    format!(
                        "a {FORMAT_V1} bundle uses prompt version {PROMPT_VERSION:?} and no \
                         field tables, found {:?}{}",
                        self.prompt_version,
                        if self.fields_json.is_some() {
                            " with field tables"
                        } else {
                            ""
                        }
                    ),
                ));
            }
            if config.calibration.head != CalibratedHead::Point
                || config.pool_position.is_some()
                || config.ensemble != 1
            {
                return Err(Error::bad_meta(
                    keys::CONFIG,
                    format!(
                        "a {FORMAT_V1} bundle calibrates the point head, pools the last token \
                         only and holds one model"
                    ),
                ));
            }
        }
        let fields = self
            .fields_json
            .as_deref()
            .map(FieldCodec::from_json)
            .transpose()
            .map_err(|e| Error::bad_meta(keys::FIELDS, e))?;
        let encoder = LeadEncoder::for_version(&self.prompt_version, tokenizer, fields)
            .map_err(|e| Error::bad_meta(keys::PROMPT_VERSION, e))?;
        if self.format != FORMAT
            && (config.ensemble != 1 || encoder.fields().is_some_and(FieldCodec::has_out_of_range))
        {
            return Err(Error::bad_meta(
                keys::FORMAT,
                format!(
                    "{:?} predates ensembles and out-of-range field tokens, which this bundle \
                     uses (they need {FORMAT:?})",
                    self.format
                ),
            ));
        }
        if let Some(p) = config.pool_position {
            let fields = encoder.fields().map_or(0, |f| f.fields.len());
            if fields == 0 || p != fields - 1 {
                return Err(Error::bad_meta(
                    keys::CONFIG,
                    format!(
                        "`pool_position` {p} is not the last field token (the encoding has {fields} field tokens)"
                    ),
                ));
            }
        }
        if encoder.vocab_size() > config.model.vocab_size {
            return Err(Error::TokenizerVocab {
                tokenizer: encoder.vocab_size(),
                config: config.model.vocab_size,
            });
        }
        let tokenizer = encoder.tokenizer();
        for (field, ours, theirs) in [
            ("eos_token_id", config.eos_token_id, tokenizer.eos_id()),
            ("pad_token_id", config.pad_token_id, tokenizer.pad_id()),
        ] {
            if ours != theirs {
                return Err(Error::bad_meta(
                    keys::CONFIG,
                    format!("`{field}` is {ours} but the tokenizer's is {theirs}"),
                ));
            }
        }
        let ladder =
            Spec::from_json(&self.ladder_json).map_err(|e| Error::bad_meta(keys::LADDER, e))?;
        if let Some(f) = encoder.fields() {
            let inputs: Vec<String> = ladder
                .input_columns()
                .into_iter()
                .filter(|(_, role)| *role != leadladder_core::Role::Text)
                .map(|(name, _)| name)
                .collect();
            let names: Vec<&str> = f.fields.iter().map(|f| f.name.as_str()).collect();
            if inputs != names {
                return Err(Error::bad_meta(
                    keys::FIELDS,
                    format!(
                        "the field tables are for {names:?} but the ladder spec's inputs are {inputs:?}"
                    ),
                ));
            }
        }
        serde_json::from_str::<serde_json::Value>(&self.metrics_json)
            .map_err(|e| Error::bad_meta(keys::METRICS, e))?;
        let provenance: Provenance = serde_json::from_str(&self.provenance_json)
            .map_err(|e| Error::bad_meta(keys::PROVENANCE, e))?;
        let drift_profile = self
            .drift_profile_json
            .as_deref()
            .map(|text| parse_drift_profile(text, &ladder))
            .transpose()?;
        let guard = self.guard_json.as_deref().map(parse_guard).transpose()?;
        Ok(Checked {
            config,
            encoder,
            ladder,
            provenance,
            drift_profile,
            guard,
        })
    }
}

/// Every metadata value of a bundle, parsed and checked.
struct Checked {
    config: BundleConfig,
    encoder: LeadEncoder,
    ladder: Spec,
    provenance: Provenance,
    drift_profile: Option<DriftProfile>,
    guard: Option<Guard>,
}

fn parse_drift_profile(text: &str, ladder: &Spec) -> Result<DriftProfile> {
    let profile =
        DriftProfile::from_json(text).map_err(|e| Error::bad_meta(keys::DRIFT_PROFILE, e))?;
    profile
        .check_inputs(&ladder.input_columns())
        .map_err(|e| Error::bad_meta(keys::DRIFT_PROFILE, e))?;
    Ok(profile)
}

fn parse_guard(text: &str) -> Result<Guard> {
    Guard::from_json(text).map_err(|e| Error::bad_meta(keys::GUARD, e))
}

fn check_format(found: &str) -> Result<()> {
    if FORMATS_READ.contains(&found) {
        Ok(())
    } else {
        Err(Error::UnknownFormat {
            found: found.to_string(),
            expected: FORMATS_READ.join(" or "),
        })
    }
}

/// A loaded, fully checked bundle. Weights stay as stored, inside the file's bytes
/// ([`StoredTensors`]); loaders dequantize a tensor at a time.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The metadata as stored.
    pub meta: BundleMeta,
    /// The parsed `config`.
    pub config: BundleConfig,
    /// The parsed `tokenizer`, `prompt_version` and `fields`: how a lead becomes token ids.
    pub encoder: LeadEncoder,
    /// The parsed `ladder`.
    pub ladder: Spec,
    /// The parsed `provenance`.
    pub provenance: Provenance,
    /// The parsed `drift_profile`, if the bundle has one ([`Bundle::drift_profile`]).
    pub drift_profile: Option<DriftProfile>,
    /// The parsed `guard`, if the bundle has one ([`Bundle::guard`]).
    pub guard: Option<Guard>,
    /// Every tensor of [`crate::ModelConfig::expected_tensors`] (int8 scales ride with their
    /// tensor), checked, as stored.
    pub tensors: StoredTensors,
    /// Size in bytes of the file it was read from.
    pub size: usize,
}

impl Bundle {
    /// Parses and checks a bundle: container integrity (truncation, offsets), format tag,
    /// metadata (see [`BundleMeta::validate`]), then tensors: none missing, none unused, each
    /// with the expected shape and dtype, int8 tensors with a valid `.scale`, all values finite.
    /// Never panics; every error names the tensor or metadata key.
    ///
    /// Copies the bytes once; [`Bundle::from_vec`] takes them without a copy.
    pub fn from_bytes(bytes: &[u8]) -> Result<Bundle> {
        Self::from_vec(bytes.to_vec())
    }

    /// [`Bundle::from_bytes`] on bytes it keeps: the tensors are not decoded but checked in
    /// place, so the bundle takes the file's size in memory and no more. A bundle carrying
    /// [`keys::WEIGHTS_HASH`] must match it.
    pub fn from_vec(bytes: Vec<u8>) -> Result<Bundle> {
        let bytes = Arc::new(bytes);
        let (meta_map, raw) = read_container(&bytes)?;
        let meta = BundleMeta::from_map(meta_map)?;
        let Checked {
            config,
            encoder,
            ladder,
            provenance,
            drift_profile,
            guard,
        } = meta.checked()?;
        let entries = check_tensors(&config, &raw)?;
        if let Some(stored) = meta.extra.get(keys::WEIGHTS_HASH) {
            let found = weights_hash(raw.iter().map(|(n, t)| (n.as_str(), t.data)));
            if *stored != found {
                return Err(Error::bad_meta(
                    keys::WEIGHTS_HASH,
                    format!(
                        "the weights do not match their hash (stored {stored}, computed \
                         {found}): the file is corrupted"
                    ),
                ));
            }
        }
        drop(raw);
        let size = bytes.len();
        Ok(Bundle {
            meta,
            config,
            encoder,
            ladder,
            provenance,
            drift_profile,
            guard,
            tensors: StoredTensors::new(bytes, entries),
            size,
        })
    }

    /// The fit period's drift profile, if the bundle stores one (bundles written before it was
    /// added do not: a scorer then says the drift check is unavailable).
    pub fn drift_profile(&self) -> Option<&DriftProfile> {
        self.drift_profile.as_ref()
    }

    /// The guard's verdict on the model's test period, if the bundle stores one.
    pub fn guard(&self) -> Option<&Guard> {
        self.guard.as_ref()
    }

    /// A tensor's shape and f32 values.
    pub fn tensor(&self, name: &str) -> Option<(Vec<usize>, Vec<f32>)> {
        self.tensors
            .get(name)
            .map(|t| (t.shape().to_vec(), t.to_f32()))
    }

    /// This bundle's bytes with other metadata (e.g. a drift profile or guard added with
    /// [`BundleMeta::with_drift_profile`] and [`BundleMeta::with_guard`]): every tensor is kept
    /// exactly as stored, so the model scores as before. The config may not change.
    ///
    /// # Errors
    ///
    /// [`Error::BadMetadata`] naming `config` when it differs, or any error of
    /// [`BundleMeta::validate`] on the new metadata.
    pub fn with_meta(&self, meta: &BundleMeta) -> Result<Vec<u8>> {
        let mut meta = meta.clone();
        if meta.config_json != self.meta.config_json {
            return Err(Error::bad_meta(
                keys::CONFIG,
                "new metadata for stored tensors must keep the config they were stored with",
            ));
        }
        meta.extra.remove(keys::WEIGHTS_HASH);
        meta.checked()?;
        let (_, raw) = read_container(self.tensors.shared_bytes())?;
        let mut tensors = Vec::with_capacity(raw.len());
        for (name, t) in raw {
            let dtype = match t.dtype.as_str() {
                "F32" => "F32",
                "F16" => "F16",
                "I8" => "I8",
                other => {
                    return Err(Error::Dtype {
                        name,
                        expected: "F32, F16 or I8".into(),
                        found: other.to_string(),
                    });
                }
            };
            tensors.push((name, dtype, t.shape, t.data.to_vec()));
        }
        Ok(write_container(
            meta.to_map()?,
            tensors,
            Some(keys::WEIGHTS_HASH),
        ))
    }

    /// Re-encodes this bundle's (dequantized) weights with another storage dtype.
    pub fn to_bytes(&self, dtype: StoreDtype) -> Result<Vec<u8>> {
        let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = self
            .tensors
            .to_f32()
            .into_iter()
            .map(|(n, (s, v))| (n, s, v))
            .collect();
        write_bundle(&tensors, &self.meta, dtype)
    }
}

/// Writes a bundle. `tensors` must be exactly [`crate::ModelConfig::expected_tensors`] of the
/// config in `meta` (any order), as row-major f32. 2-D tensors are stored per `dtype`; 1-D stay
/// F32. The `dtype` field of the stored config is set to `dtype` (other config keys are kept as
/// given). Everything a loader checks is checked here first, so a written bundle always loads.
/// The output is byte-deterministic.
pub fn write_bundle(
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    meta: &BundleMeta,
    dtype: StoreDtype,
) -> Result<Vec<u8>> {
    let mut meta = meta.clone();
    let mut config_value: serde_json::Value =
        serde_json::from_str(&meta.config_json).map_err(|e| Error::bad_meta(keys::CONFIG, e))?;
    let Some(obj) = config_value.as_object_mut() else {
        return Err(Error::bad_meta(keys::CONFIG, "not a JSON object"));
    };
    obj.insert(
        "dtype".to_string(),
        serde_json::Value::String(dtype.name().to_string()),
    );
    meta.config_json =
        serde_json::to_string(&config_value).map_err(|e| Error::bad_meta(keys::CONFIG, e))?;
    meta.extra.remove(keys::WEIGHTS_HASH);
    let (config, ..) = meta.validate()?;
    let meta_map = meta.to_map()?;

    let mut given: BTreeMap<&str, (&[usize], &[f32])> = BTreeMap::new();
    for (name, shape, data) in tensors {
        if given
            .insert(name.as_str(), (shape.as_slice(), data.as_slice()))
            .is_some()
        {
            return Err(Error::BadTensor {
                name: name.clone(),
                reason: "given twice".into(),
            });
        }
    }
    let expected = config.expected_tensors();
    let expected_names: BTreeSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    if let Some(name) = given.keys().find(|n| !expected_names.contains(*n)) {
        return Err(Error::UnusedTensor {
            name: name.to_string(),
        });
    }
    let mut out: Vec<(String, &'static str, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, shape) in &expected {
        let Some(&(given_shape, data)) = given.get(name.as_str()) else {
            return Err(Error::MissingTensor {
                name: name.clone(),
                hint: String::new(),
            });
        };
        if given_shape != shape.as_slice() {
            return Err(Error::Shape {
                name: name.clone(),
                expected: shape.clone(),
                found: given_shape.to_vec(),
            });
        }
        let n = element_count(shape).unwrap_or(usize::MAX);
        if data.len() != n {
            return Err(Error::BadTensor {
                name: name.clone(),
                reason: format!("{} values given for shape {shape:?} ({n})", data.len()),
            });
        }
        check_finite(name, data)?;
        let matrix = shape.len() == 2;
        match dtype {
            _ if !matrix => out.push((name.clone(), "F32", shape.clone(), f32_bytes(data))),
            StoreDtype::F32 => out.push((name.clone(), "F32", shape.clone(), f32_bytes(data))),
            StoreDtype::F16 => {
                let mut bytes = Vec::with_capacity(data.len() * 2);
                for (i, &x) in data.iter().enumerate() {
                    let h = f16::from_f32(x);
                    if !h.is_finite() {
                        return Err(Error::NonFinite {
                            name: name.clone(),
                            index: i,
                            value: format!("{x} (overflows f16)"),
                        });
                    }
                    bytes.extend_from_slice(&h.to_le_bytes());
                }
                out.push((name.clone(), "F16", shape.clone(), bytes));
            }
            StoreDtype::Int8 => {
                let cols = shape[1].max(1);
                let (q, scales) = quantize_rows(data, cols);
                out.push((
                    format!("{name}{SCALE_SUFFIX}"),
                    "F32",
                    vec![shape[0]],
                    f32_bytes(&scales),
                ));
                out.push((
                    name.clone(),
                    "I8",
                    shape.clone(),
                    q.iter().map(|&v| v as u8).collect(),
                ));
            }
        }
    }
    Ok(write_container(meta_map, out, Some(keys::WEIGHTS_HASH)))
}

/// Symmetric per-row int8: `scale = max|row| / 127`, `q = round(x / scale)` in `-127..=127`;
/// an all-zero row (or one whose scale underflows to 0) gets scale 0 and zeros.
fn quantize_rows(data: &[f32], cols: usize) -> (Vec<i8>, Vec<f32>) {
    let mut q = Vec::with_capacity(data.len());
    let mut scales = Vec::with_capacity(data.len() / cols);
    for row in data.chunks(cols) {
        let max = row.iter().fold(0f32, |m, x| m.max(x.abs()));
        let scale = max / 127.0;
        scales.push(scale);
        if scale == 0.0 {
            q.extend(std::iter::repeat_n(0i8, row.len()));
        } else {
            q.extend(
                row.iter()
                    .map(|&x| (x / scale).round().clamp(-127.0, 127.0) as i8),
            );
        }
    }
    (q, scales)
}

fn f32_bytes(data: &[f32]) -> Vec<u8> {
    data.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn check_finite(name: &str, data: &[f32]) -> Result<()> {
    match data.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(Error::NonFinite {
            name: name.to_string(),
            index: i,
            value: format!("{}", data[i]),
        }),
        None => Ok(()),
    }
}

fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// One tensor as found in the container.
struct RawTensor<'a> {
    dtype: String,
    shape: Vec<usize>,
    data: &'a [u8],
    /// Where `data` starts in the file.
    offset: usize,
}

type Container<'a> = (BTreeMap<String, String>, BTreeMap<String, RawTensor<'a>>);

/// Parses a safetensors container ([`crate::container`] checks the header and the byte ranges).
fn read_container(bytes: &[u8]) -> Result<Container<'_>> {
    let header = parse_header(bytes)?;
    let data = &bytes[header.data_start..];
    let mut tensors = BTreeMap::new();
    for t in header.tensors {
        let Some(slice) = data.get(t.start..t.end) else {
            return Err(Error::Truncated(format!("tensor `{}`", t.name)));
        };
        tensors.insert(
            t.name,
            RawTensor {
                dtype: t.dtype,
                shape: t.shape,
                data: slice,
                offset: header.data_start + t.start,
            },
        );
    }
    Ok((header.metadata, tensors))
}

/// Writes a safetensors container: tensors ordered by alignment (4, 2, 1 bytes) then name, so
/// every tensor stays aligned to its element size; header padded with spaces to 8 bytes. With
/// `hash_key`, the FNV-1a 64 of the data section is stored under that metadata key.
fn write_container(
    mut metadata: BTreeMap<String, String>,
    mut tensors: Vec<(String, &'static str, Vec<usize>, Vec<u8>)>,
    hash_key: Option<&str>,
) -> Vec<u8> {
    tensors.sort_by(|a, b| {
        let (sa, sb) = (dtype_size(a.1).unwrap_or(1), dtype_size(b.1).unwrap_or(1));
        sb.cmp(&sa).then_with(|| a.0.cmp(&b.0))
    });
    if let Some(key) = hash_key {
        let mut by_name: Vec<(&str, &[u8])> = tensors
            .iter()
            .map(|(n, .., b)| (n.as_str(), b.as_slice()))
            .collect();
        by_name.sort_by(|a, b| a.0.cmp(b.0));
        metadata.insert(key.to_string(), weights_hash(by_name.into_iter()));
    }
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".to_string(), serde_json::json!(metadata));
    let mut offset = 0usize;
    for (name, dtype, shape, bytes) in &tensors {
        header.insert(
            name.clone(),
            serde_json::json!({
                "dtype": dtype,
                "shape": shape,
                "data_offsets": [offset, offset + bytes.len()],
            }),
        );
        offset += bytes.len();
    }
    let mut header = serde_json::Value::Object(header).to_string().into_bytes();
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    for (.., bytes) in &tensors {
        out.extend_from_slice(bytes);
    }
    out
}

/// Checks the raw tensors against the config (names, dtypes, shapes, int8 scales, every value
/// finite) without decoding them, and says where each lies in the file.
fn check_tensors(
    config: &BundleConfig,
    raw: &BTreeMap<String, RawTensor<'_>>,
) -> Result<BTreeMap<String, Entry>> {
    let expected = config.expected_tensors();
    let int8 = config.dtype == StoreDtype::Int8;
    let mut known: BTreeSet<String> = BTreeSet::new();
    for (name, shape) in &expected {
        known.insert(name.clone());
        if int8 && shape.len() == 2 {
            known.insert(format!("{name}{SCALE_SUFFIX}"));
        }
    }
    if let Some(name) = raw.keys().find(|n| !known.contains(*n)) {
        return Err(Error::UnusedTensor { name: name.clone() });
    }
    let mut out = BTreeMap::new();
    for (name, shape) in expected {
        let Some(t) = raw.get(&name) else {
            return Err(Error::MissingTensor {
                name,
                hint: String::new(),
            });
        };
        let want = if shape.len() == 2 {
            config.dtype.safetensors_dtype()
        } else {
            "F32"
        };
        check_dtype_shape(&name, t, want, &shape)?;
        let range = t.offset..t.offset + t.data.len();
        let (kind, scales) = match want {
            "F32" => {
                check_f32(&name, t.data)?;
                (StoredKind::F32, None)
            }
            "F16" => {
                let bad = t
                    .data
                    .chunks_exact(2)
                    .map(|c| f16::from_le_bytes([c[0], c[1]]))
                    .position(|h| !h.is_finite());
                if let Some(i) = bad {
                    let h = f16::from_le_bytes([t.data[2 * i], t.data[2 * i + 1]]);
                    return Err(Error::NonFinite {
                        name,
                        index: i,
                        value: format!("{}", h.to_f32()),
                    });
                }
                (StoredKind::F16, None)
            }
            _ => {
                let scale_name = format!("{name}{SCALE_SUFFIX}");
                let Some(s) = raw.get(&scale_name) else {
                    return Err(Error::MissingTensor {
                        name: scale_name,
                        hint: format!(" (the int8 tensor `{name}` needs its per-row F32 scale)"),
                    });
                };
                let rows = shape.first().copied().unwrap_or(0);
                check_dtype_shape(&scale_name, s, "F32", &[rows])?;
                let scales = decode_f32(&scale_name, s.data)?;
                if let Some(i) = scales.iter().position(|&x| x < 0.0) {
                    return Err(Error::BadTensor {
                        name: scale_name,
                        reason: format!("negative scale {} at row {i}", scales[i]),
                    });
                }
                // 127 × scale must stay finite, or the dequantized weights would not be.
                if let Some(i) = scales.iter().position(|&x| x > MAX_INT8_SCALE) {
                    return Err(Error::BadTensor {
                        name: scale_name,
                        reason: format!(
                            "scale {} at row {i} overflows f32 when multiplied by 127 (largest \
                             valid scale {MAX_INT8_SCALE})",
                            scales[i]
                        ),
                    });
                }
                (StoredKind::Int8, Some(s.offset..s.offset + s.data.len()))
            }
        };
        out.insert(
            name,
            Entry {
                shape,
                kind,
                data: range,
                scales,
            },
        );
    }
    Ok(out)
}

/// [`keys::WEIGHTS_HASH`] of tensors given in name order.
fn weights_hash<'a>(tensors: impl Iterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut h = Fnv::default();
    for (name, data) in tensors {
        h.bytes(name.as_bytes());
        h.bytes(&[0]);
        h.bytes(data);
    }
    h.finish()
}

/// Fails on the first non-finite little-endian f32 in `data`.
fn check_f32(name: &str, data: &[u8]) -> Result<()> {
    let bad = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .enumerate()
        .find(|(_, x)| !x.is_finite());
    match bad {
        Some((i, x)) => Err(Error::NonFinite {
            name: name.to_string(),
            index: i,
            value: format!("{x}"),
        }),
        None => Ok(()),
    }
}

fn check_dtype_shape(name: &str, t: &RawTensor<'_>, dtype: &str, shape: &[usize]) -> Result<()> {
    if t.dtype != dtype {
        return Err(Error::Dtype {
            name: name.to_string(),
            expected: dtype.to_string(),
            found: t.dtype.clone(),
        });
    }
    if t.shape != shape {
        return Err(Error::Shape {
            name: name.to_string(),
            expected: shape.to_vec(),
            found: t.shape.clone(),
        });
    }
    Ok(())
}

fn decode_f32(name: &str, data: &[u8]) -> Result<Vec<f32>> {
    let v: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    check_finite(name, &v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn int8_rows_edge_cases() {
        let tiny = f32::from_bits(1); // smallest subnormal: its scale underflows to 0
        let data = [
            0.0, 0.0, 0.0, 1.0, -2.54, 0.005, tiny, -tiny, 0.0, 3e38, -3e38, 1.0,
        ];
        let (q, s) = quantize_rows(&data, 3);
        assert_eq!(s[0], 0.0);
        assert_eq!(&q[0..3], &[0, 0, 0]);
        assert_eq!((q[4], s[1]), (-127, 2.54 / 127.0));
        assert_eq!((q[3], q[5]), (50, 0));
        assert_eq!((s[2], &q[6..9]), (0.0, &[0i8, 0, 0][..]));
        assert_eq!((q[9], q[10], q[11]), (127, -127, 0));
        assert!(s.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn container_round_trip_and_alignment() {
        let mut meta = BTreeMap::new();
        meta.insert("k".to_string(), "v \"quoted\" 中文".to_string());
        let bytes = write_container(
            meta.clone(),
            vec![
                ("z8".into(), "I8", vec![3], vec![1, 2, 3]),
                ("a16".into(), "F16", vec![1], vec![0, 60]),
                ("m32".into(), "F32", vec![1], 1.5f32.to_le_bytes().to_vec()),
            ],
            None,
        );
        let (m, t) = read_container(&bytes).unwrap();
        assert_eq!(m, meta);
        assert_eq!(t["z8"].data, &[1, 2, 3]);
        assert_eq!(t["a16"].dtype, "F16");
        // F32 first, then F16, then I8: every tensor aligned to its element size.
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0);
        assert_eq!(&bytes[8 + n..8 + n + 4], &1.5f32.to_le_bytes());
    }
}
