//! [`Scorer`]: a checked bundle on a device, from token ids or leads to scores.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor};
use leadladder_bundle::{Bundle, BundleConfig, BundleInfo, LeadEncoder, LeadTokenizer};
use leadladder_core::dataset::{Lead, Schema};
use leadladder_core::pipeline::ScorePolicy;
pub use leadladder_core::queue::Score;
use leadladder_core::spec::Spec;
use serde::Serialize;

use crate::explain::{self, Factor};
use crate::qwen2::{Ranker, Residency};
use crate::{Error, Result};

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// Burn's Flex backend: pure Rust on the CPU (native and wasm32).
    Cpu,
    /// Burn's wgpu backend: Vulkan/Metal/DX12 natively, WebGPU in a browser. Needs the
    /// crate feature `wgpu`.
    Wgpu,
}

impl std::str::FromStr for DeviceKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" | "flex" => Ok(Self::Cpu),
            "wgpu" | "gpu" | "webgpu" | "vulkan" => Ok(Self::Wgpu),
            other => Err(Error::Device(format!(
                "unknown device `{other}` (expected cpu or wgpu)"
            ))),
        }
    }
}

/// Which device a scorer runs on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceInfo {
    /// `cpu` or `wgpu`.
    pub kind: DeviceKind,
    /// Burn's description of the device.
    pub description: String,
}

/// A bundle loaded onto a device.
#[derive(Debug)]
pub struct Scorer {
    ranker: Ranker,
    encoder: LeadEncoder,
    config: BundleConfig,
    spec: Spec,
    info: BundleInfo,
    device_info: DeviceInfo,
}

/// Burn's wgpu runtime can be initialised once per process: later scorers reuse the device.
#[cfg(feature = "wgpu")]
static WGPU_DEVICE: std::sync::OnceLock<Device> = std::sync::OnceLock::new();

fn native_device(kind: DeviceKind) -> Result<Device> {
    match kind {
        DeviceKind::Cpu => Ok(Device::flex()),
        #[cfg(all(feature = "wgpu", not(target_arch = "wasm32")))]
        DeviceKind::Wgpu => {
            if let Some(d) = WGPU_DEVICE.get() {
                return Ok(d.clone());
            }
            let d = Device::wgpu_options()
                .init()
                .map_err(|e| Error::Device(format!("no usable wgpu adapter: {e}")))?;
            Ok(WGPU_DEVICE.get_or_init(|| d).clone())
        }
        #[cfg(all(feature = "wgpu", target_arch = "wasm32"))]
        DeviceKind::Wgpu => Err(Error::Device(
            "in a browser the WebGPU device must be created asynchronously: use Scorer::from_bundle_async"
                .into(),
        )),
        #[cfg(not(feature = "wgpu"))]
        DeviceKind::Wgpu => Err(no_gpu()),
    }
}

/// The largest single buffer a GPU whose adapter reports `limits` (WebGPU names:
/// `maxStorageBufferBindingSize`, `maxBufferSize`; the smaller wins) can hold, if a forward pass
/// that needs `needed` bytes in one buffer
/// ([`BundleConfig::gpu_bytes_needed_without_embedding`]) fits; when not, the reason in words a
/// user can act on: which limit, and by how much it falls short. An adapter that reports no such
/// limit is given the benefit of the doubt (`u64::MAX`; the warm-up forward pass,
/// [`Scorer::check_device_async`], still has to succeed).
pub fn gpu_limits_fit(
    limits: &BTreeMap<String, f64>,
    needed: u64,
) -> std::result::Result<u64, String> {
    let mib = |b: f64| format!("{:.1} MiB", b / (1024.0 * 1024.0));
    let (name, limit) = ["maxStorageBufferBindingSize", "maxBufferSize"]
        .iter()
        .filter_map(|k| limits.get(*k).map(|v| (*k, *v)))
        .fold(("maxStorageBufferBindingSize", f64::INFINITY), |a, b| {
            if b.1 < a.1 { b } else { a }
        });
    let needed = needed as f64;
    if needed > limit {
        return Err(format!(
            "this GPU allows buffers of at most {} ({name}) and the model needs {} in one buffer \
             ({} short), so it runs on the CPU",
            mib(limit),
            mib(needed),
            mib(needed - limit)
        ));
    }
    Ok(if limit.is_finite() {
        limit as u64
    } else {
        u64::MAX
    })
}

/// f32 bytes above which the CPU keeps the embedding table as stored and gathers rows.
pub const CPU_HOST_EMBEDDING_BYTES: u64 = 64 << 20;
/// f32 bytes of the decoder layers' matrices above which the CPU keeps them as stored and
/// dequantizes one at a time per forward pass (a real-size model; the demo model stays resident).
pub const CPU_HOST_LAYERS_BYTES: u64 = 256 << 20;
/// The largest storage buffer WebGPU guarantees without asking (`maxStorageBufferBindingSize`).
pub const WEBGPU_DEFAULT_BINDING_BYTES: u64 = 128 << 20;

impl Residency {
    /// What the CPU keeps as stored: the embedding table past [`CPU_HOST_EMBEDDING_BYTES`] in
    /// f32, the layers past [`CPU_HOST_LAYERS_BYTES`].
    pub fn cpu(config: &BundleConfig) -> Self {
        let m = &config.model;
        Self {
            host_embedding: m.embedding_f32_bytes() > CPU_HOST_EMBEDDING_BYTES,
            host_layers: m.layer_matrices_f32_bytes() > CPU_HOST_LAYERS_BYTES,
        }
    }

    /// What a GPU whose buffers hold at most `binding_limit` bytes keeps on the host: the
    /// embedding table when it does not fit one buffer (its rows are gathered on the host and
    /// only those are uploaded). The layers always go to the GPU.
    pub fn gpu(config: &BundleConfig, binding_limit: u64) -> Self {
        Self {
            host_embedding: config.model.embedding_f32_bytes() > binding_limit,
            host_layers: false,
        }
    }
}

impl Residency {
    /// [`Residency::cpu`], or for a GPU [`Residency::gpu`] at WebGPU's default buffer limit.
    fn default_for(kind: DeviceKind, config: &BundleConfig) -> Self {
        match kind {
            DeviceKind::Cpu => Self::cpu(config),
            DeviceKind::Wgpu => Self::gpu(config, WEBGPU_DEFAULT_BINDING_BYTES),
        }
    }
}

impl Scorer {
    /// Checks a bundle ([`Bundle::from_bytes`]: format, metadata, every tensor) and uploads it
    /// to a device created synchronously (native only for wgpu).
    pub fn from_bytes(bytes: &[u8], kind: DeviceKind) -> Result<Self> {
        Self::from_bundle(&Bundle::from_bytes(bytes)?, kind)
    }

    /// Uploads a checked bundle to a device created synchronously (native only for wgpu). The
    /// bundle is not parsed again: a caller that must decide something from it first (the page
    /// checks the GPU's limits against its config) parses it once and passes it here.
    pub fn from_bundle(bundle: &Bundle, kind: DeviceKind) -> Result<Self> {
        let device = native_device(kind)?;
        Self::on_device(bundle, kind, device)
    }

    /// Like [`Scorer::from_bundle`], creating the device asynchronously (required for WebGPU in
    /// a browser).
    pub async fn from_bundle_async(bundle: &Bundle, kind: DeviceKind) -> Result<Self> {
        Self::from_bundle_async_with(bundle, kind, Residency::default_for(kind, &bundle.config))
            .await
    }

    /// [`Scorer::from_bundle_async`] with an explicit [`Residency`].
    pub async fn from_bundle_async_with(
        bundle: &Bundle,
        kind: DeviceKind,
        residency: Residency,
    ) -> Result<Self> {
        let device = match kind {
            DeviceKind::Cpu => Device::flex(),
            #[cfg(feature = "wgpu")]
            DeviceKind::Wgpu => match WGPU_DEVICE.get() {
                Some(d) => d.clone(),
                None => {
                    let d = Device::wgpu_options()
                        .init_async()
                        .await
                        .map_err(|e| Error::Device(format!("no usable WebGPU adapter: {e}")))?;
                    WGPU_DEVICE.get_or_init(|| d).clone()
                }
            },
            #[cfg(not(feature = "wgpu"))]
            DeviceKind::Wgpu => return Err(no_gpu()),
        };
        Self::on_device_with(bundle, kind, device, residency)
    }

    /// Uploads a checked bundle to an existing device, keeping on the host what
    /// [`Residency::cpu`] or (for a GPU, assuming WebGPU's default buffer limit)
    /// [`Residency::gpu`] says.
    pub fn on_device(bundle: &Bundle, kind: DeviceKind, device: Device) -> Result<Self> {
        Self::on_device_with(
            bundle,
            kind,
            device,
            Residency::default_for(kind, &bundle.config),
        )
    }

    /// [`Scorer::on_device`] with an explicit [`Residency`] (any choice gives the same scores).
    pub fn on_device_with(
        bundle: &Bundle,
        kind: DeviceKind,
        device: Device,
        residency: Residency,
    ) -> Result<Self> {
        let ranker = Ranker::load(
            &bundle.config.model,
            bundle.config.ensemble,
            &bundle.tensors,
            &device,
            residency,
        )?
        .with_pool_position(bundle.config.pool_position);
        Ok(Self {
            ranker,
            encoder: bundle.encoder.clone(),
            config: bundle.config.clone(),
            spec: bundle.ladder.clone(),
            info: bundle.info(),
            device_info: DeviceInfo {
                kind,
                description: format!("{device:?}"),
            },
        })
    }

    /// The bundle described (built once, at load).
    pub fn info(&self) -> &BundleInfo {
        &self.info
    }

    /// The bundle's config (architecture, heads, dtype, calibration, max_tokens…).
    pub fn config(&self) -> &BundleConfig {
        &self.config
    }

    /// The ladder spec the model was trained with.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The device in use.
    pub fn device_info(&self) -> DeviceInfo {
        self.device_info.clone()
    }

    /// The bundle's BPE tokenizer.
    pub fn tokenizer(&self) -> &LeadTokenizer {
        self.encoder.tokenizer()
    }

    /// The bundle's lead encoding (prompt version, tokenizer and field tables).
    pub fn encoder(&self) -> &LeadEncoder {
        &self.encoder
    }

    /// The ranker itself.
    pub fn ranker(&self) -> &Ranker {
        &self.ranker
    }

    /// Token ids of a lead: the trainer's encoding (field tokens or text), truncation and EOS.
    pub fn encode(&self, schema: &Schema, lead: &Lead) -> Result<Vec<u32>> {
        self.encoder
            .check_schema(schema)
            .map_err(|e| Error::Input(e.to_string()))?;
        let enc = self
            .encoder
            .encode_lead(
                schema,
                lead,
                &self.spec.parse.turn_separator,
                self.config.max_tokens,
            )
            .map_err(|source| Error::Encode {
                id: lead.id.to_string(),
                row: lead.row,
                source,
            })?;
        Ok(enc.ids)
    }

    /// Proves the device computes before it is trusted: scores one EOS-only sequence and
    /// checks the result is finite (asynchronous read, for a browser's GPU).
    pub async fn check_device_async(&self) -> Result<()> {
        let eos = self.encoder.tokenizer().eos_id();
        let warm = self
            .score_ids_async(&[vec![eos]])
            .await
            .map_err(|e| Error::Device(format!("a test forward pass failed: {e}")))?;
        if warm.iter().all(|s| s.rank.is_finite()) {
            Ok(())
        } else {
            Err(Error::Device(
                "a test forward pass gave non-finite scores".into(),
            ))
        }
    }

    fn forward(&self, batch: &[Vec<u32>]) -> Result<Tensor<2>> {
        self.ranker.forward(batch, self.encoder.pad_id())
    }

    fn finish(&self, values: Vec<f32>, n: usize) -> Result<Vec<Score>> {
        if values.len() != 2 * n {
            return Err(Error::Read(format!(
                "expected {} values back, got {}",
                2 * n,
                values.len()
            )));
        }
        let cal = self.config.calibration;
        Ok(values
            .chunks_exact(2)
            .map(|c| Score {
                rank: c[0],
                logit: c[1],
                p_convert: cal.p_convert(f64::from(c[0]), f64::from(c[1])) as f32,
            })
            .collect())
    }

    /// Scores one batch of token-id sequences (synchronous read; not for the browser).
    pub fn score_ids(&self, batch: &[Vec<u32>]) -> Result<Vec<Score>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let data = self
            .forward(batch)?
            .try_into_data()
            .map_err(|e| Error::Read(format!("{e:?}")))?;
        let values = data
            .try_to_vec::<f32>()
            .map_err(|e| Error::Read(format!("{e:?}")))?;
        self.finish(values, batch.len())
    }

    /// Scores one batch with an asynchronous read (what a browser needs).
    pub async fn score_ids_async(&self, batch: &[Vec<u32>]) -> Result<Vec<Score>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let data = self
            .forward(batch)?
            .into_data_async()
            .await
            .map_err(|e| Error::Read(format!("{e:?}")))?;
        let values = data
            .try_to_vec::<f32>()
            .map_err(|e| Error::Read(format!("{e:?}")))?;
        self.finish(values, batch.len())
    }

    /// Scores leads in batches of similar length (less padding); results in input order.
    /// `progress` gets the number of leads scored so far after each batch.
    pub fn score_leads(
        &self,
        schema: &Schema,
        leads: &[Lead],
        batch_size: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<Score>> {
        let ids = leads
            .iter()
            .map(|l| self.encode(schema, l))
            .collect::<Result<Vec<_>>>()?;
        self.score_many(&ids, batch_size, progress)
    }

    /// Scores many sequences in length-sorted batches; results in input order.
    /// `progress` gets the number of sequences scored so far after each batch.
    pub fn score_many(
        &self,
        ids: &[Vec<u32>],
        batch_size: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<Score>> {
        let mut out = vec![UNSCORED; ids.len()];
        let mut done = 0;
        for chunk in length_sorted_batches(ids, batch_size) {
            let scores = self.score_ids(&gather(ids, &chunk))?;
            place(&mut out, &chunk, scores);
            done += chunk.len();
            progress(done);
        }
        Ok(out)
    }

    /// [`Scorer::score_many`] with asynchronous reads (for the browser).
    pub async fn score_many_async(
        &self,
        ids: &[Vec<u32>],
        batch_size: usize,
    ) -> Result<Vec<Score>> {
        let mut out = vec![UNSCORED; ids.len()];
        for chunk in length_sorted_batches(ids, batch_size) {
            let scores = self.score_ids_async(&gather(ids, &chunk)).await?;
            place(&mut out, &chunk, scores);
        }
        Ok(out)
    }

    /// The lead's top factors by occlusion: each field set to missing and each dialogue turn
    /// removed in turn, re-scored; `delta` = full rank score − occluded rank score.
    pub fn explain(&self, schema: &Schema, lead: &Lead, top_n: usize) -> Result<Vec<Factor>> {
        let (base_ids, variants) = self.explain_inputs(schema, lead)?;
        let mut all = vec![base_ids];
        all.extend(variants.iter().map(|(_, _, ids)| ids.clone()));
        let scores = self.score_many(&all, 32, &mut |_| {})?;
        Ok(explain::rank_factors(
            scores[0].rank,
            &with_scores(&variants, &scores[1..]),
            top_n,
        ))
    }

    /// [`Scorer::explain`] with asynchronous reads (for the browser).
    pub async fn explain_async(
        &self,
        schema: &Schema,
        lead: &Lead,
        top_n: usize,
    ) -> Result<Vec<Factor>> {
        let (base_ids, variants) = self.explain_inputs(schema, lead)?;
        let mut all = vec![base_ids];
        all.extend(variants.iter().map(|(_, _, ids)| ids.clone()));
        let scores = self.score_many_async(&all, 16).await?;
        Ok(explain::rank_factors(
            scores[0].rank,
            &with_scores(&variants, &scores[1..]),
            top_n,
        ))
    }

    #[allow(clippy::type_complexity)]
    fn explain_inputs(
        &self,
        schema: &Schema,
        lead: &Lead,
    ) -> Result<(Vec<u32>, Vec<(String, explain::FactorKind, Vec<u32>)>)> {
        let base = self.encode(schema, lead)?;
        let variants = explain::occlusions(schema, lead, &self.spec.parse.turn_separator)
            .into_iter()
            .map(|(name, kind, l)| Ok((name, kind, self.encode(schema, &l)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok((base, variants))
    }
}

/// A placeholder for a sequence not scored yet.
const UNSCORED: Score = Score {
    rank: 0.0,
    logit: 0.0,
    p_convert: 0.0,
};

/// Indices of `ids` in the pipeline's batches of at most `batch_size`, shortest sequences
/// first ([`ScorePolicy::batches`]).
fn length_sorted_batches(ids: &[Vec<u32>], batch_size: usize) -> Vec<Vec<usize>> {
    let lengths: Vec<usize> = ids.iter().map(Vec::len).collect();
    ScorePolicy::DEFAULT
        .with_batch(batch_size)
        .batches(&lengths)
}

fn gather(ids: &[Vec<u32>], chunk: &[usize]) -> Vec<Vec<u32>> {
    chunk.iter().map(|&i| ids[i].clone()).collect()
}

fn place(out: &mut [Score], chunk: &[usize], scores: Vec<Score>) {
    for (&i, s) in chunk.iter().zip(scores) {
        out[i] = s;
    }
}

fn with_scores(
    variants: &[(String, explain::FactorKind, Vec<u32>)],
    scores: &[Score],
) -> Vec<(String, explain::FactorKind, f32)> {
    variants
        .iter()
        .zip(scores)
        .map(|((n, k, _), s)| (n.clone(), *k, s.rank))
        .collect()
}

#[cfg(not(feature = "wgpu"))]
fn no_gpu() -> Error {
    Error::Device(
        "this build has no GPU support (rebuild leadladder-model with the `wgpu` feature)".into(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use super::gpu_limits_fit;

    #[test]
    fn gpu_limits_name_the_limit_and_both_sizes_when_too_small() {
        let mut limits = BTreeMap::new();
        limits.insert(
            "maxStorageBufferBindingSize".to_string(),
            128.0 * 1024.0 * 1024.0,
        );
        assert_eq!(gpu_limits_fit(&limits, 64 << 20), Ok(128 << 20));
        assert_eq!(gpu_limits_fit(&limits, 128 << 20), Ok(128 << 20));
        let err = gpu_limits_fit(&limits, 300 << 20).unwrap_err();
        assert!(err.contains("128.0 MiB"), "{err}");
        assert!(err.contains("300.0 MiB"), "{err}");
        assert!(err.contains("172.0 MiB short"), "{err}");
        assert!(err.contains("maxStorageBufferBindingSize"), "{err}");
        assert_eq!(gpu_limits_fit(&BTreeMap::new(), u64::MAX), Ok(u64::MAX));
        // The smaller of the two limits is the one that binds, and is named.
        limits.insert("maxBufferSize".to_string(), 64.0 * 1024.0 * 1024.0);
        let err = gpu_limits_fit(&limits, 100 << 20).unwrap_err();
        assert!(err.contains("64.0 MiB (maxBufferSize)"), "{err}");
    }
}
