//! [`StoredTensors`]: a bundle's checked tensors kept as the file stores them (f32, f16, or int8
//! with a per-row f32 scale), inside the file's bytes, and dequantized only when asked: one tensor,
//! one row or a set of rows at a time. A 0.5 GB int8 bundle stays 0.5 GB in memory; a loader
//! turns a tensor into f32 just before handing it to a device, or gathers the embedding rows a
//! batch needs without ever building the f32 table.
//!
//! Every accessor gives the same f32 values: `x` for F32, `f16 → f32` for F16 and
//! `(q as f32) * scale[row]` for int8.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use half::f16;
use half::slice::HalfFloatSliceExt;

use serde::{Deserialize, Serialize};

/// Tensors by name: shape and row-major f32 values.
pub type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// How the 2-D weight matrices are stored (1-D tensors are always F32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreDtype {
    /// Plain `F32`.
    F32,
    /// `F16`, round to nearest.
    F16,
    /// `I8` with a per-output-row `F32` `<name>.scale` of shape `[rows]`:
    /// `value = i8 * scale[row]`, `scale = max|row| / 127` (0 for an all-zero row).
    Int8,
}

impl StoreDtype {
    /// The name used in the config's `dtype` field (`f32`, `f16`, `int8`).
    pub fn name(self) -> &'static str {
        match self {
            StoreDtype::F32 => "f32",
            StoreDtype::F16 => "f16",
            StoreDtype::Int8 => "int8",
        }
    }

    /// The safetensors dtype of the 2-D weights (`F32`, `F16`, `I8`).
    pub fn safetensors_dtype(self) -> &'static str {
        match self {
            StoreDtype::F32 => "F32",
            StoreDtype::F16 => "F16",
            StoreDtype::Int8 => "I8",
        }
    }
}

/// How one tensor's elements are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredKind {
    /// Little-endian f32.
    F32,
    /// Little-endian IEEE half.
    F16,
    /// i8, scaled per row by an f32 (`<name>.scale`).
    Int8,
}

impl StoredKind {
    /// Bytes per element.
    pub fn element_bytes(self) -> usize {
        match self {
            StoredKind::F32 => 4,
            StoredKind::F16 => 2,
            StoredKind::Int8 => 1,
        }
    }
}

/// Where one checked tensor lies in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) shape: Vec<usize>,
    pub(crate) kind: StoredKind,
    /// Byte range of the elements in the file.
    pub(crate) data: Range<usize>,
    /// Byte range of the per-row f32 scales (int8 only).
    pub(crate) scales: Option<Range<usize>>,
}

/// The checked tensors of a bundle, by name, over the file's bytes (shared, never copied: clones
/// and [`TensorRef`]s of several scorers point at one buffer).
#[derive(Debug, Clone)]
pub struct StoredTensors {
    bytes: Arc<Vec<u8>>,
    entries: BTreeMap<String, Entry>,
}

impl PartialEq for StoredTensors {
    /// Equal when they hold the same names, shapes and f32 values (however stored).
    fn eq(&self, other: &Self) -> bool {
        self.entries.len() == other.entries.len()
            && self.iter().zip(other.iter()).all(|(a, b)| {
                a.0 == b.0 && a.1.shape() == b.1.shape() && a.1.to_f32() == b.1.to_f32()
            })
    }
}

impl StoredTensors {
    pub(crate) fn new(bytes: Arc<Vec<u8>>, entries: BTreeMap<String, Entry>) -> Self {
        Self { bytes, entries }
    }

    /// Number of tensors (scale companions not counted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no tensor.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a tensor of that name is present.
    pub fn contains_key(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Tensor names, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// One tensor.
    pub fn get(&self, name: &str) -> Option<TensorRef<'_>> {
        self.entries
            .get_key_value(name)
            .map(|(n, e)| TensorRef::new(n, e, &self.bytes))
    }

    /// Every tensor, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, TensorRef<'_>)> {
        self.entries
            .iter()
            .map(|(n, e)| (n.as_str(), TensorRef::new(n, e, &self.bytes)))
    }

    /// Every tensor dequantized to f32 (for tests and re-encoding: this is the full f32 copy the
    /// loaders avoid).
    pub fn to_f32(&self) -> Tensors {
        self.iter()
            .map(|(n, t)| (n.to_string(), (t.shape().to_vec(), t.to_f32())))
            .collect()
    }

    /// Total number of elements.
    pub fn element_count(&self) -> usize {
        self.entries
            .values()
            .map(|e| e.shape.iter().product::<usize>())
            .sum()
    }

    /// The file's bytes these tensors point into.
    pub fn shared_bytes(&self) -> &Arc<Vec<u8>> {
        &self.bytes
    }

    /// A handle on one tensor that keeps the file's bytes alive on its own (for a model that
    /// dequantizes a tensor each time it uses it).
    pub fn owned(&self, name: &str) -> Option<OwnedTensor> {
        self.entries.get_key_value(name).map(|(n, e)| OwnedTensor {
            name: n.clone(),
            entry: e.clone(),
            bytes: Arc::clone(&self.bytes),
        })
    }
}

/// One stored tensor, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct TensorRef<'a> {
    name: &'a str,
    shape: &'a [usize],
    kind: StoredKind,
    data: &'a [u8],
    scales: &'a [u8],
}

impl<'a> TensorRef<'a> {
    fn new(name: &'a str, e: &'a Entry, bytes: &'a [u8]) -> Self {
        // Ranges were checked against these bytes when the bundle was read.
        let data = bytes.get(e.data.clone()).unwrap_or(&[]);
        let scales = e
            .scales
            .as_ref()
            .and_then(|r| bytes.get(r.clone()))
            .unwrap_or(&[]);
        Self {
            name,
            shape: &e.shape,
            kind: e.kind,
            data,
            scales,
        }
    }

    /// The tensor's name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// Its shape.
    pub fn shape(&self) -> &'a [usize] {
        self.shape
    }

    /// How its elements are stored.
    pub fn kind(&self) -> StoredKind {
        self.kind
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.kind.element_bytes()
    }

    /// True for a tensor without elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Row length (the last dimension; 1 for a scalar).
    pub fn cols(&self) -> usize {
        self.shape.last().copied().unwrap_or(1).max(1)
    }

    /// Number of rows (elements / row length).
    pub fn rows(&self) -> usize {
        self.len() / self.cols()
    }

    fn scale(&self, row: usize) -> f32 {
        let b = self.scales.get(row * 4..row * 4 + 4).unwrap_or(&[0; 4]);
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Dequantizes elements `[start, start + out.len())` (flat, row-major) into `out`.
    pub fn read_into(&self, start: usize, out: &mut [f32]) {
        let cols = self.cols();
        match self.kind {
            StoredKind::F32 => {
                let src = &self.data[start * 4..(start + out.len()) * 4];
                for (o, c) in out.iter_mut().zip(src.chunks_exact(4)) {
                    *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
            StoredKind::F16 => {
                // A block at a time through half's slice conversion, which uses the CPU's F16C
                // instructions where it has them (the same values as one at a time).
                const BLOCK: usize = 1024;
                let src = &self.data[start * 2..(start + out.len()) * 2];
                let mut block = [f16::ZERO; BLOCK];
                for (o, c) in out.chunks_mut(BLOCK).zip(src.chunks(2 * BLOCK)) {
                    let halves = &mut block[..o.len()];
                    for (h, b) in halves.iter_mut().zip(c.chunks_exact(2)) {
                        *h = f16::from_le_bytes([b[0], b[1]]);
                    }
                    halves.convert_to_f32_slice(o);
                }
            }
            StoredKind::Int8 => {
                // Row by row, so each row's scale is read once.
                let mut pos = start;
                let mut done = 0;
                while done < out.len() {
                    let row = pos / cols;
                    let n = (cols - pos % cols).min(out.len() - done);
                    let scale = self.scale(row);
                    for (o, &q) in out[done..done + n].iter_mut().zip(&self.data[pos..pos + n]) {
                        *o = f32::from(q as i8) * scale;
                    }
                    pos += n;
                    done += n;
                }
            }
        }
    }

    /// The whole tensor in f32, row-major.
    pub fn to_f32(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.len()];
        self.read_into(0, &mut out);
        out
    }

    /// A 2-D `[rows, cols]` tensor transposed to `[cols, rows]` in f32 (a Hugging Face `[out,
    /// in]` weight as the `[in, out]` matrix of `x @ w`), a row at a time.
    pub fn to_f32_transposed(&self) -> Vec<f32> {
        let (rows, cols) = (self.rows(), self.cols());
        let mut out = vec![0f32; rows * cols];
        let mut row = vec![0f32; cols];
        for r in 0..rows {
            self.read_into(r * cols, &mut row);
            for (c, &v) in row.iter().enumerate() {
                out[c * rows + r] = v;
            }
        }
        out
    }

    /// Rows `ids` of a 2-D tensor in f32, `[ids.len(), cols]` (an embedding lookup). Ids must be
    /// below [`TensorRef::rows`].
    pub fn gather_rows(&self, ids: &[usize]) -> Vec<f32> {
        let cols = self.cols();
        let mut out = vec![0f32; ids.len() * cols];
        for (o, &id) in out.chunks_exact_mut(cols).zip(ids) {
            self.read_into(id * cols, o);
        }
        out
    }
}

/// One stored tensor that owns a share of the file's bytes.
#[derive(Debug, Clone)]
pub struct OwnedTensor {
    name: String,
    entry: Entry,
    bytes: Arc<Vec<u8>>,
}

impl OwnedTensor {
    /// The tensor, borrowed.
    pub fn get(&self) -> TensorRef<'_> {
        TensorRef::new(&self.name, &self.entry, &self.bytes)
    }

    /// Bytes it occupies in the file (elements and scales).
    pub fn stored_bytes(&self) -> usize {
        self.entry.data.len() + self.entry.scales.as_ref().map_or(0, |r| r.len())
    }
}
