//! GGUF files (llama.cpp's format, versions 2 and 3): the header, the
//! metadata, the tensor index with its alignment, and the tensor data,
//! memory-mapped and dequantised to float32 here, without Python. Start from
//! [`GgufFile::open`]:
//!
//! ```no_run
//! use featurescope::model::gguf::GgufFile;
//! # fn main() -> featurescope::model::Result<()> {
//! let file = GgufFile::open("gemma-3-270m-q4_k_m.gguf".as_ref())?;
//! let blocks = file.metadata_u64("gemma3.block_count")?;
//! let embedding = file.tensor("token_embd.weight")?; // [vocab, width], float32
//! println!("{blocks} blocks, embedding {:?}", embedding.size());
//! # Ok(()) }
//! ```
//!
//! Every length and offset read from the file is checked against the file's
//! size before it is used, so a truncated or corrupt file is an error naming
//! the file (and the tensor or key), never a panic or a huge allocation.
mod dequant;
mod metadata;
pub mod model;
pub mod tokenizer;

pub use dequant::GgmlType;
pub use metadata::Value;

use super::{ModelError, Result};
use memmap2::Mmap;
use metadata::Cursor;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"GGUF";
/// Data alignment when `general.alignment` is absent.
const DEFAULT_ALIGNMENT: u64 = 32;

/// One tensor of the index.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// As libtorch orders them: slowest-varying first (GGUF lists the
    /// fastest first).
    pub shape: Vec<i64>,
    pub kind: GgmlType,
    /// From the start of the data section.
    offset: u64,
}

impl TensorInfo {
    pub fn elements(&self) -> u64 {
        self.shape.iter().map(|&d| d as u64).product()
    }
}

pub struct GgufFile {
    path: PathBuf,
    map: Mmap,
    pub version: u32,
    metadata: BTreeMap<String, Value>,
    tensors: Vec<TensorInfo>,
    /// Where the data section starts in the file.
    data_start: u64,
}

impl GgufFile {
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|cause| ModelError::Io {
            path: path.to_owned(),
            cause,
        })?;
        // SAFETY: the file is only read; a model file changed under us while
        // it is open is outside what the format promises (as for safetensors).
        let map = unsafe { Mmap::map(&file) }.map_err(|cause| ModelError::Io {
            path: path.to_owned(),
            cause,
        })?;
        let bad = |problem: String| ModelError::Gguf {
            path: path.to_owned(),
            problem,
        };
        let mut cursor = Cursor::new(&map);
        let magic = cursor.bytes(4).map_err(&bad)?;
        if magic != MAGIC {
            return Err(bad(format!(
                "not a GGUF file (it starts with {magic:02x?}, not \"GGUF\")"
            )));
        }
        let version = cursor.u32().map_err(&bad)?;
        if !(2..=3).contains(&version) {
            return Err(bad(format!(
                "unsupported GGUF version {version} (this featurescope reads versions 2 and 3)"
            )));
        }
        let tensor_count = cursor.u64().map_err(&bad)?;
        let kv_count = cursor.u64().map_err(&bad)?;
        let mut metadata = BTreeMap::new();
        for i in 0..kv_count {
            let key = cursor
                .string()
                .map_err(|e| bad(format!("metadata entry {i}: {e}")))?;
            let value = cursor
                .value()
                .map_err(|e| bad(format!("metadata `{key}`: {e}")))?;
            metadata.insert(key, value);
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() => a,
                _ => {
                    return Err(bad(format!(
                        "general.alignment {v:?} is not a power of two"
                    )));
                }
            },
        };
        // Each index entry takes at least 32 bytes (name length, one
        // dimension, type, offset): no count beyond that is read.
        if tensor_count > cursor.remaining() as u64 / 32 {
            return Err(bad(format!(
                "{tensor_count} tensors cannot fit in the file's {} remaining bytes (truncated?)",
                cursor.remaining()
            )));
        }
        let mut tensors = Vec::with_capacity((tensor_count as usize).min(1 << 16));
        for i in 0..tensor_count {
            let name = cursor
                .string()
                .map_err(|e| bad(format!("tensor {i}: {e}")))?;
            let info = read_tensor_info(&mut cursor, name.clone())
                .map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
            tensors.push(info);
        }
        let data_start = (cursor.position() as u64).div_ceil(alignment) * alignment;
        let gguf = Self {
            path: path.to_owned(),
            map,
            version,
            metadata,
            tensors,
            data_start,
        };
        for info in &gguf.tensors {
            if info.offset % alignment != 0 {
                return Err(gguf.tensor_error(
                    &info.name,
                    format!(
                        "offset {} is not a multiple of the alignment {alignment}",
                        info.offset
                    ),
                ));
            }
            gguf.data(info)?;
        }
        Ok(gguf)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn metadata(&self) -> &BTreeMap<String, Value> {
        &self.metadata
    }

    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// An error about metadata entry `key`.
    pub(crate) fn metadata_error(&self, key: &str, problem: impl std::fmt::Display) -> ModelError {
        ModelError::Gguf {
            path: self.path.clone(),
            problem: format!("metadata `{key}`: {problem}"),
        }
    }

    /// A metadata value that must be there.
    pub fn metadata_value(&self, key: &str) -> Result<&Value> {
        self.metadata
            .get(key)
            .ok_or_else(|| self.metadata_error(key, "missing"))
    }

    /// An unsigned integer of any width.
    pub fn metadata_u64(&self, key: &str) -> Result<u64> {
        let value = self.metadata_value(key)?;
        value.as_u64().ok_or_else(|| {
            self.metadata_error(key, format!("{value:?} is not an unsigned integer"))
        })
    }

    /// A float of either width, or an integer.
    pub fn metadata_f64(&self, key: &str) -> Result<f64> {
        let value = self.metadata_value(key)?;
        value
            .as_f64()
            .ok_or_else(|| self.metadata_error(key, format!("{value:?} is not a number")))
    }

    pub fn metadata_str(&self, key: &str) -> Result<&str> {
        let value = self.metadata_value(key)?;
        value
            .as_str()
            .ok_or_else(|| self.metadata_error(key, format!("{value:?} is not a string")))
    }

    fn tensor_error(&self, name: &str, problem: String) -> ModelError {
        ModelError::Weight {
            path: self.path.clone(),
            name: name.into(),
            problem,
        }
    }

    /// The tensor's bytes, checked to lie within the file.
    fn data(&self, info: &TensorInfo) -> Result<&[u8]> {
        let row = info.shape.last().copied().unwrap_or(1).max(1) as u64;
        let bytes = info
            .kind
            .bytes_for(info.elements() / row, row)
            .ok_or_else(|| {
                self.tensor_error(
                    &info.name,
                    format!(
                        "rows of {row} values ({:?}) do not divide into {} blocks of {}",
                        info.shape,
                        info.kind.name(),
                        info.kind.block_values()
                    ),
                )
            })?;
        let start = self.data_start.checked_add(info.offset);
        let end = start.and_then(|s| s.checked_add(bytes));
        match (start, end) {
            (Some(start), Some(end)) if end <= self.map.len() as u64 => {
                Ok(&self.map[start as usize..end as usize])
            }
            _ => Err(self.tensor_error(
                &info.name,
                format!(
                    "its {bytes} bytes at offset {} run past the end of the file ({} bytes; truncated?)",
                    info.offset,
                    self.map.len()
                ),
            )),
        }
    }

    /// A tensor's values dequantised to float32, in libtorch's order.
    pub fn values(&self, name: &str) -> Result<Vec<f32>> {
        let info = self.info(name)?;
        Ok(info.kind.dequantize(self.data(info)?))
    }

    /// A tensor dequantised to a float32 libtorch tensor of its shape.
    pub fn tensor(&self, name: &str) -> Result<tch::Tensor> {
        let info = self.info(name)?;
        let values = info.kind.dequantize(self.data(info)?);
        Ok(tch::Tensor::from_slice(&values).view(info.shape.as_slice()))
    }

    fn info(&self, name: &str) -> Result<&TensorInfo> {
        self.tensor_info(name)
            .ok_or_else(|| self.tensor_error(name, "not in the file".into()))
    }
}

fn read_tensor_info(cursor: &mut Cursor, name: String) -> std::result::Result<TensorInfo, String> {
    let dims = cursor.u32()?;
    if dims == 0 || dims > 4 {
        return Err(format!("{dims} dimensions (GGUF tensors have 1 to 4)"));
    }
    let mut shape = Vec::with_capacity(dims as usize);
    for _ in 0..dims {
        let d = cursor.u64()?;
        let d = i64::try_from(d).map_err(|_| format!("dimension {d} is too large"))?;
        shape.push(d);
    }
    shape.reverse();
    let type_id = cursor.u32()?;
    let kind = GgmlType::from_id(type_id)?;
    let offset = cursor.u64()?;
    if shape
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
        .is_none()
    {
        return Err(format!("shape {shape:?} has too many elements"));
    }
    Ok(TensorInfo {
        name,
        shape,
        kind,
        offset,
    })
}
