//! [`Scorer`]: a loaded bundle on a device, from token ids or leads to scores.

use burn::tensor::{Device, Tensor};
use leadladder_bundle::{Bundle, BundleConfig, BundleMeta, LeadTokenizer, Provenance};
use leadladder_core::dataset::{Lead, Schema};
use leadladder_core::spec::Spec;
use serde::Serialize;

use crate::explain::{self, Factor};
use crate::qwen2::Ranker;
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

/// Scores of one lead.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Score {
    /// Ranking-head score: higher ranks first.
    pub rank: f32,
    /// Pointwise-head logit before calibration.
    pub logit: f32,
    /// Calibrated probability of conversion, `sigmoid(a * logit + b)`.
    pub p_convert: f32,
}

/// Which device a scorer runs on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceInfo {
    /// `cpu` or `wgpu`.
    pub kind: DeviceKind,
    /// Burn's description of the device.
    pub description: String,
}

/// Everything in a bundle except its weights (those live on the device).
#[derive(Debug, Clone)]
pub struct BundleInfo {
    /// The metadata as stored (format, config, tokenizer, ladder, metrics, provenance…).
    pub meta: BundleMeta,
    /// The parsed config (architecture, heads, dtype, calibration, max_tokens…).
    pub config: BundleConfig,
    /// The ladder spec the model was trained with.
    pub spec: Spec,
    /// Data hash, seed, code version.
    pub provenance: Provenance,
    /// Size of the bundle in bytes.
    pub bytes: usize,
    /// Number of parameters.
    pub parameters: usize,
}

/// A bundle loaded onto a device.
#[derive(Debug)]
pub struct Scorer {
    ranker: Ranker,
    tokenizer: LeadTokenizer,
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
            "in a browser the WebGPU device must be created asynchronously: use Scorer::from_bytes_async"
                .into(),
        )),
        #[cfg(not(feature = "wgpu"))]
        DeviceKind::Wgpu => Err(no_gpu()),
    }
}

impl Scorer {
    /// Checks a bundle ([`Bundle::from_bytes`]: format, metadata, every tensor) and uploads it
    /// to a device created synchronously (native only for wgpu).
    pub fn from_bytes(bytes: &[u8], kind: DeviceKind) -> Result<Self> {
        let device = native_device(kind)?;
        Self::on_device(bytes, kind, device)
    }

    /// Like [`Scorer::from_bytes`], creating the device asynchronously (required for WebGPU in
    /// a browser).
    pub async fn from_bytes_async(bytes: &[u8], kind: DeviceKind) -> Result<Self> {
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
        Self::on_device(bytes, kind, device)
    }

    /// Loads a checked bundle onto an existing device.
    pub fn on_device(bytes: &[u8], kind: DeviceKind, device: Device) -> Result<Self> {
        let bundle = Bundle::from_bytes(bytes)?;
        let Bundle {
            meta,
            config,
            tokenizer,
            ladder,
            provenance,
            tensors,
        } = bundle;
        let parameters = tensors.values().map(|(_, v)| v.len()).sum();
        let ranker = Ranker::load(&config.model, tensors, &device)?;
        Ok(Self {
            ranker,
            tokenizer,
            info: BundleInfo {
                meta,
                config,
                spec: ladder,
                provenance,
                bytes: bytes.len(),
                parameters,
            },
            device_info: DeviceInfo {
                kind,
                description: format!("{device:?}"),
            },
        })
    }

    /// The bundle's metadata, config and spec.
    pub fn bundle(&self) -> &BundleInfo {
        &self.info
    }

    /// The device in use.
    pub fn device_info(&self) -> DeviceInfo {
        self.device_info.clone()
    }

    /// The bundle's tokenizer.
    pub fn tokenizer(&self) -> &LeadTokenizer {
        &self.tokenizer
    }

    /// The ranker itself.
    pub fn ranker(&self) -> &Ranker {
        &self.ranker
    }

    /// Token ids of a lead: the trainer's rendering, truncation and EOS.
    pub fn encode(&self, schema: &Schema, lead: &Lead) -> Result<Vec<u32>> {
        let enc = self
            .tokenizer
            .encode_lead(
                schema,
                lead,
                &self.info.spec.parse.turn_separator,
                self.info.config.max_tokens,
            )
            .map_err(|e| Error::Input(format!("lead `{}` (row {}): {e}", lead.id, lead.row)))?;
        Ok(enc.ids)
    }

    fn forward(&self, batch: &[Vec<u32>]) -> Result<Tensor<2>> {
        self.ranker.forward(batch, self.tokenizer.pad_id())
    }

    fn finish(&self, values: Vec<f32>, n: usize) -> Result<Vec<Score>> {
        if values.len() != 2 * n {
            return Err(Error::Read(format!(
                "expected {} values back, got {}",
                2 * n,
                values.len()
            )));
        }
        let cal = self.info.config.calibration;
        Ok(values
            .chunks_exact(2)
            .map(|c| Score {
                rank: c[0],
                logit: c[1],
                p_convert: cal.probability(f64::from(c[1])) as f32,
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
    pub fn score_many(
        &self,
        ids: &[Vec<u32>],
        batch_size: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<Score>> {
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let mut out = vec![
            Score {
                rank: 0.0,
                logit: 0.0,
                p_convert: 0.0
            };
            ids.len()
        ];
        let mut done = 0;
        for chunk in order.chunks(batch_size.max(1)) {
            let batch: Vec<Vec<u32>> = chunk.iter().map(|&i| ids[i].clone()).collect();
            let scores = self.score_ids(&batch)?;
            for (&i, s) in chunk.iter().zip(scores) {
                out[i] = s;
            }
            done += chunk.len();
            progress(done);
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
        let mut scores = Vec::with_capacity(all.len());
        for chunk in all.chunks(16) {
            scores.extend(self.score_ids_async(chunk).await?);
        }
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
        let variants = explain::occlusions(schema, lead, &self.info.spec.parse.turn_separator)
            .into_iter()
            .map(|(name, kind, l)| Ok((name, kind, self.encode(schema, &l)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok((base, variants))
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
