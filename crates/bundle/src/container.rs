//! The safetensors container's header, read and checked once for every reader in the project:
//! the bundle loader (a whole file in memory, in the browser too) and the trainer's streaming
//! reader of Hugging Face checkpoints and its own training checkpoints (header first, then one
//! read per tensor).
//!
//! Checked with checked arithmetic throughout: the header length against a limit and the file, the
//! JSON, every tensor's dtype, shape and byte range (the right size, inside the data section, one
//! after the other with no gap or overlap, nothing after the last).
//!
//! Must not: read tensor data (callers do, from the ranges it returns), or decide which dtypes
//! or names a caller accepts.

use std::collections::BTreeMap;
use std::io::Read;

use serde::Deserialize;

use crate::error::{Error, Result};

/// Largest accepted container header (the JSON with the metadata), in bytes.
pub const MAX_HEADER_BYTES: usize = 100_000_000;

/// One tensor's entry: its dtype (safetensors' name, e.g. `F32`), shape and byte range within the
/// data section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's name in the header.
    pub name: String,
    /// Its safetensors dtype name (`F32`, `F16`, `BF16`, `I8`, ...).
    pub dtype: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// First byte of its data, counted from the start of the data section.
    pub start: usize,
    /// One past its last byte, counted the same way.
    pub end: usize,
}

/// A checked header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The `__metadata__` string map (empty when absent).
    pub metadata: BTreeMap<String, String>,
    /// The tensors in the order of their data.
    pub tensors: Vec<TensorInfo>,
    /// Where the data section starts in the file: 8 + the header's length.
    pub data_start: usize,
}

#[derive(Deserialize)]
struct RawInfo {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// Byte size of one element of a safetensors dtype (`None`: unknown or sub-byte dtype).
pub fn dtype_size(dtype: &str) -> Option<usize> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 1,
        "U16" | "I16" | "F16" | "BF16" => 2,
        "U32" | "I32" | "F32" => 4,
        "U64" | "I64" | "F64" | "C64" => 8,
        _ => return None,
    })
}

fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Reads and checks the header of a container of `file_len` bytes from `r`, positioned at its
/// first byte; leaves `r` at the start of the data section.
pub fn read_header(r: &mut impl Read, file_len: u64) -> Result<Header> {
    let mut len_bytes = [0u8; 8];
    if file_len < 8 || r.read_exact(&mut len_bytes).is_err() {
        return Err(Error::Truncated(format!(
            "{file_len} bytes, fewer than the 8-byte header length"
        )));
    }
    let n = u64::from_le_bytes(len_bytes);
    let n = usize::try_from(n)
        .ok()
        .filter(|&n| n <= MAX_HEADER_BYTES)
        .ok_or_else(|| {
            Error::Container(format!(
                "header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit"
            ))
        })?;
    let rest = file_len - 8;
    if rest < n as u64 {
        return Err(Error::Truncated(format!(
            "the header declares {n} bytes but only {rest} follow"
        )));
    }
    let mut header = vec![0u8; n];
    r.read_exact(&mut header)
        .map_err(|e| Error::Truncated(format!("reading the {n}-byte header: {e}")))?;
    let data_len = rest - n as u64;
    let header = std::str::from_utf8(&header)
        .map_err(|e| Error::Container(format!("header is not UTF-8: {e}")))?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_str(header)
        .map_err(|e| Error::Container(format!("header is not a JSON object: {e}")))?;

    let mut metadata = BTreeMap::new();
    let mut tensors: Vec<TensorInfo> = Vec::new();
    for (name, value) in header {
        if name == "__metadata__" {
            metadata = serde_json::from_value(value).map_err(|e| {
                Error::Container(format!("`__metadata__` is not a string map: {e}"))
            })?;
            continue;
        }
        let info: RawInfo = serde_json::from_value(value)
            .map_err(|e| Error::Container(format!("tensor `{name}`: bad header entry: {e}")))?;
        let too_big = || Error::Container(format!("tensor `{name}`: size overflows"));
        let shape = info
            .shape
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| too_big()))
            .collect::<Result<Vec<usize>>>()?;
        let Some(size) = dtype_size(&info.dtype) else {
            return Err(Error::Dtype {
                name,
                expected: "a safetensors dtype of whole bytes (F32, F16, BF16, I8, ...)".into(),
                found: info.dtype,
            });
        };
        let nbytes = element_count(&shape)
            .and_then(|c| c.checked_mul(size))
            .ok_or_else(too_big)?;
        let [start, end] = info.data_offsets;
        let start = usize::try_from(start).map_err(|_| too_big())?;
        let end = usize::try_from(end).map_err(|_| too_big())?;
        if end < start || end - start != nbytes {
            return Err(Error::Container(format!(
                "tensor `{name}`: data offsets {start}..{end} do not hold {nbytes} bytes \
                 ({} {:?})",
                info.dtype, shape
            )));
        }
        tensors.push(TensorInfo {
            name,
            dtype: info.dtype,
            shape,
            start,
            end,
        });
    }
    // Truncation first: it is the most common way a file goes bad.
    if let Some(t) = tensors.iter().find(|t| t.end as u64 > data_len) {
        return Err(Error::Truncated(format!(
            "tensor `{}` needs bytes {}..{} of the data section, which has only {data_len}",
            t.name, t.start, t.end
        )));
    }
    tensors.sort_by_key(|t| (t.start, t.end));
    let mut cursor = 0usize;
    for t in &tensors {
        if t.start != cursor {
            return Err(Error::Container(format!(
                "tensor `{}`: data starts at {}, expected {cursor} (gap or overlap)",
                t.name, t.start
            )));
        }
        cursor = t.end;
    }
    if cursor as u64 != data_len {
        return Err(Error::Container(format!(
            "{} bytes after the last tensor's data",
            data_len - cursor as u64
        )));
    }
    Ok(Header {
        metadata,
        tensors,
        data_start: 8 + n,
    })
}

/// [`read_header`] of a whole container in memory.
pub fn parse_header(bytes: &[u8]) -> Result<Header> {
    read_header(&mut &bytes[..], bytes.len() as u64)
}
