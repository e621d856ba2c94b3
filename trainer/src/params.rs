//! Where a model's weights come from: fresh seeded initialisation into a [`VarMap`] (trainable),
//! or a checkpoint's tensors (frozen plain tensors, or copied into trainable variables), with
//! strict name and shape checks. Also reading and writing Hugging Face safetensors checkpoints.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use leadladder_core::hash::Fnv;
use leadladder_core::rng::Rng;

use crate::error::{Error, Result};

/// How a freshly created parameter is initialised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Init {
    /// Normal with mean 0 and this standard deviation.
    Normal(f64),
    /// Uniform in `[-bound, bound]`.
    Uniform(f64),
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
}

/// A supplier of named parameters for building a model.
pub(crate) trait ParamSource {
    /// The tensor called `name` (HF naming), of exactly `shape`, on the model's device.
    fn take(&mut self, name: &str, shape: &[usize], init: Init) -> Result<Tensor>;
}

/// Host values for `init`, drawn from the stream `(seed, name)`: the name's hash gives each
/// parameter its own stream, independent of build order.
fn init_values(init: Init, n: usize, seed: u64, name: &str) -> Vec<f32> {
    let mut rng = Rng::derive(seed, Fnv::of(name.as_bytes()).value());
    match init {
        Init::Zeros => vec![0.0; n],
        Init::Ones => vec![1.0; n],
        Init::Normal(std) => (0..n).map(|_| (rng.normal() * std) as f32).collect(),
        Init::Uniform(bound) => (0..n)
            .map(|_| ((rng.uniform() * 2.0 - 1.0) * bound) as f32)
            .collect(),
    }
}

/// Registers `var` under `name`, refusing to overwrite an existing variable.
pub(crate) fn insert_var(varmap: &VarMap, name: &str, var: Var) -> Result<()> {
    let mut data = varmap.data().lock().map_err(|_| Error::Poisoned)?;
    if data.contains_key(name) {
        return Err(Error::DuplicateTensor(name.to_string()));
    }
    data.insert(name.to_string(), var);
    Ok(())
}

/// A new f32 variable of `shape` initialised by `init` from the stream `(seed, name)`, registered
/// in `varmap` under `name`.
pub(crate) fn fresh_var(
    varmap: &VarMap,
    name: &str,
    shape: &[usize],
    init: Init,
    seed: u64,
    device: &Device,
) -> Result<Var> {
    let n = shape.iter().product();
    let var = Var::from_vec(init_values(init, n, seed, name), shape, device)?;
    insert_var(varmap, name, var.clone())?;
    Ok(var)
}

/// Fresh, seeded, trainable parameters registered in a [`VarMap`].
pub(crate) struct FreshParams<'a> {
    pub varmap: &'a VarMap,
    pub seed: u64,
    pub device: Device,
}

impl ParamSource for FreshParams<'_> {
    fn take(&mut self, name: &str, shape: &[usize], init: Init) -> Result<Tensor> {
        let var = fresh_var(self.varmap, name, shape, init, self.seed, &self.device)?;
        Ok(var.as_tensor().clone())
    }
}

/// Parameters taken from a checkpoint's tensors. Every tensor must be taken exactly once:
/// [`CheckpointParams::finish`] fails on leftovers.
pub(crate) struct CheckpointParams<'a> {
    pub tensors: HashMap<String, Tensor>,
    pub device: Device,
    /// Dtype the tensors are converted to.
    pub dtype: DType,
    /// `Some`: copy each tensor into a trainable variable registered here; `None`: frozen.
    pub trainable: Option<&'a VarMap>,
}

impl ParamSource for CheckpointParams<'_> {
    fn take(&mut self, name: &str, shape: &[usize], _init: Init) -> Result<Tensor> {
        let t = self
            .tensors
            .remove(name)
            .ok_or_else(|| Error::MissingTensor {
                name: name.to_string(),
                expected: shape.to_vec(),
            })?;
        if t.dims() != shape {
            return Err(Error::ShapeMismatch {
                name: name.to_string(),
                expected: shape.to_vec(),
                found: t.dims().to_vec(),
            });
        }
        let t = t.to_dtype(self.dtype)?.to_device(&self.device)?;
        match self.trainable {
            None => Ok(t.detach()),
            Some(varmap) => {
                let var = Var::from_tensor(&t)?;
                insert_var(varmap, name, var.clone())?;
                Ok(var.as_tensor().clone())
            }
        }
    }
}

impl CheckpointParams<'_> {
    /// Fails with [`Error::UnusedTensors`] if any checkpoint tensor was not taken.
    pub fn finish(self) -> Result<()> {
        if self.tensors.is_empty() {
            return Ok(());
        }
        let mut names: Vec<String> = self.tensors.into_keys().collect();
        names.sort();
        Err(Error::UnusedTensors { names })
    }
}

/// Reads every tensor of one safetensors file onto the CPU in its stored dtype (f32, f16 or
/// bf16; any other dtype is an error naming the tensor).
pub fn read_safetensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    Ok(read_safetensors_with_metadata(path)?.0)
}

/// [`read_safetensors`], and the file's `__metadata__` string map.
///
/// The file is streamed tensor by tensor (header, then one `read` per tensor) rather than read
/// whole, so a checkpoint never sits in memory twice: the peak is the tensors themselves. This is
/// what candle's memory-mapped loader amounts to on the CPU (it copies every tensor out of the
/// map), without the `unsafe` that mapping a file needs and the workspace forbids. The header is
/// checked by the bundle's container reader ([`leadladder_bundle::container`]), the one the
/// bundle loader uses: offsets in order, contiguous, matching each tensor's size and the file's
/// length.
pub fn read_safetensors_with_metadata(
    path: &Path,
) -> Result<(HashMap<String, Tensor>, BTreeMap<String, String>)> {
    use std::io::{BufReader, Read, Seek, SeekFrom};
    let bad = |message: String| Error::Safetensors {
        path: path.into(),
        message,
    };
    let io = |source| Error::Io {
        path: path.into(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let mut file = BufReader::new(file);
    let header = leadladder_bundle::container::read_header(&mut file, file_len)
        .map_err(|e| bad(e.to_string()))?;
    let mut file = file.into_inner();
    let mut out = HashMap::with_capacity(header.tensors.len());
    for t in header.tensors {
        let dtype = match t.dtype.as_str() {
            "F32" => DType::F32,
            "F16" => DType::F16,
            "BF16" => DType::BF16,
            other => {
                return Err(Error::UnsupportedDType {
                    name: t.name,
                    dtype: other.to_string(),
                });
            }
        };
        let mut bytes = vec![0u8; t.end - t.start];
        file.seek(SeekFrom::Start((header.data_start + t.start) as u64))
            .map_err(io)?;
        file.read_exact(&mut bytes)
            .map_err(|e| bad(format!("reading tensor `{}`: {e}", t.name)))?;
        let tensor = Tensor::from_raw_buffer(&bytes, dtype, &t.shape, &Device::Cpu)?;
        if out.insert(t.name.clone(), tensor).is_some() {
            return Err(Error::DuplicateTensor(t.name));
        }
    }
    Ok((out, header.metadata))
}

/// Reads a Hugging Face weights folder: `model.safetensors`, or the shards listed by
/// `model.safetensors.index.json`, streamed with [`read_safetensors`]. Tensors come back on the
/// CPU in their stored dtype (f32, f16 or bf16); the model converts each as it takes it.
///
/// With an index, every shard tensor must be listed in the index for that shard, every indexed
/// tensor must be found, and no name may appear twice.
pub fn read_hf_weights(dir: &Path) -> Result<HashMap<String, Tensor>> {
    let index_path = dir.join("model.safetensors.index.json");
    if !index_path.exists() {
        return read_safetensors(&dir.join("model.safetensors"));
    }
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: HashMap<String, String>,
    }
    let text = std::fs::read_to_string(&index_path).map_err(|source| Error::Io {
        path: index_path.clone(),
        source,
    })?;
    let index: Index = serde_json::from_str(&text).map_err(|source| Error::Json {
        path: index_path.clone(),
        source,
    })?;
    let shards: BTreeSet<&String> = index.weight_map.values().collect();
    let mut out = HashMap::new();
    for shard in shards {
        let path: PathBuf = dir.join(shard);
        for (name, t) in read_safetensors(&path)? {
            if index.weight_map.get(&name) != Some(shard) {
                return Err(Error::Safetensors {
                    path: path.clone(),
                    message: format!("tensor `{name}` is not listed for this shard in the index"),
                });
            }
            if out.insert(name.clone(), t).is_some() {
                return Err(Error::DuplicateTensor(name));
            }
        }
    }
    let mut missing: Vec<&String> = index
        .weight_map
        .keys()
        .filter(|n| !out.contains_key(*n))
        .collect();
    missing.sort();
    if let Some(name) = missing.first() {
        return Err(Error::Safetensors {
            path: index_path,
            message: format!("indexed tensor `{name}` is in none of the shards"),
        });
    }
    Ok(out)
}

/// Writes `value` as pretty-printed JSON to `path` (atomically).
pub fn write_json(value: &serde_json::Value, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|source| Error::Json {
        path: path.into(),
        source,
    })?;
    Ok(leadladder_core::fs::write_file_atomic(
        path,
        text.as_bytes(),
    )?)
}

/// Writes `tensors` (any device, any dtype) as one safetensors file (atomically).
pub fn write_safetensors(tensors: &[(String, Tensor)], path: &Path) -> Result<()> {
    let mut cpu = Vec::with_capacity(tensors.len());
    let mut seen = BTreeSet::new();
    for (name, t) in tensors {
        if !seen.insert(name.as_str()) {
            return Err(Error::DuplicateTensor(name.clone()));
        }
        cpu.push((name.as_str(), t.to_device(&Device::Cpu)?.contiguous()?));
    }
    let bytes = safetensors::serialize(cpu.iter().map(|(n, t)| (*n, t)), None).map_err(|e| {
        Error::Safetensors {
            path: path.into(),
            message: e.to_string(),
        }
    })?;
    Ok(leadladder_core::fs::write_file_atomic(path, &bytes)?)
}

/// The variables in `varmap` with their names, sorted by name (the order is stable across runs,
/// which optimiser state and checkpoints rely on).
pub fn named_vars(varmap: &VarMap) -> Result<Vec<(String, Var)>> {
    let data = varmap.data().lock().map_err(|_| Error::Poisoned)?;
    let mut out: Vec<(String, Var)> = data.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
