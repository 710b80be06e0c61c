//! The weights of a model under Hugging Face's names (from safetensors, or
//! renamed from a GGUF file), looked up by name with a clear error for a
//! missing or misshapen tensor.
use super::{ModelError, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

pub struct Weights {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl Weights {
    pub fn read(dir: &Path, device: Device) -> Result<Self> {
        let path = dir.join("model.safetensors");
        if !path.exists() {
            return Err(ModelError::Io {
                path,
                cause: std::io::Error::new(std::io::ErrorKind::NotFound, "no model.safetensors"),
            });
        }
        let tensors = Tensor::read_safetensors(&path).map_err(|e| ModelError::Weight {
            path: path.clone(),
            name: "*".into(),
            problem: e.to_string(),
        })?;
        let tensors = tensors
            .into_iter()
            .map(|(name, t)| {
                let t = if t.is_floating_point() {
                    t.to_kind(Kind::Float)
                } else {
                    t
                };
                (name, t.to_device(device))
            })
            .collect();
        Ok(Self { path, tensors })
    }

    /// Tensors already named as the forward passes expect; errors name `path`.
    pub fn from_tensors(path: PathBuf, tensors: HashMap<String, Tensor>) -> Self {
        Self { path, tensors }
    }

    /// The tensor `name`, checked to have `shape`.
    pub fn get(&self, name: &str, shape: &[i64]) -> Result<Tensor> {
        let t = self.tensors.get(name).ok_or_else(|| ModelError::Weight {
            path: self.path.clone(),
            name: name.into(),
            problem: "missing".into(),
        })?;
        if t.size() != shape {
            return Err(ModelError::Weight {
                path: self.path.clone(),
                name: name.into(),
                problem: format!("shape {:?}, expected {shape:?}", t.size()),
            });
        }
        Ok(t.shallow_clone())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}
