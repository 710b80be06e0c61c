//! Subject models: Hugging Face-style folders (`config.json`,
//! `model.safetensors`, `tokenizer.json`) or GGUF files, run with libtorch,
//! reporting the activations at the hook points asked for. Start from [`load`], which
//! gives a [`SubjectModel`]:
//!
//! ```no_run
//! use featurescope::model::{self, HookPoint, HookSite};
//! # fn main() -> featurescope::model::Result<()> {
//! let model = model::load("model".as_ref(), tch::Device::Cpu)?;
//! let ids = tch::Tensor::from_slice(&[101i64, 2023, 102]).view([1, 3]);
//! let mask = ids.ones_like();
//! let hook = HookPoint { layer: 0, site: HookSite::Mlp };
//! let acts = model.forward(&ids, &mask, &[hook])?; // [1, 3, mlp width]
//! # Ok(()) }
//! ```
mod bert;
pub mod config;
mod decoder;
pub mod gguf;
pub mod hooks;
mod layers;
pub mod tokenizer;
pub(crate) mod weights;

pub use config::{Architecture, ModelConfig};
pub use decoder::{Decoder, KvCache};
pub use hooks::{HookPoint, HookSite};
pub use tokenizer::{TextTokenizer, TokenizedText};

use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: {problem}")]
    Config { path: PathBuf, problem: String },
    #[error("{path}: weight `{name}`: {problem}")]
    Weight {
        path: PathBuf,
        name: String,
        problem: String,
    },
    /// A GGUF file's header or metadata.
    #[error("{path}: {problem}")]
    Gguf { path: PathBuf, problem: String },
    #[error("{path}: tokenizer: {problem}")]
    Tokenizer { path: PathBuf, problem: String },
    #[error("hook point {hook}: {problem}")]
    Hook { hook: String, problem: String },
    #[error("layer {layer} does not exist (the model has {layers})")]
    NoLayer { layer: u32, layers: u32 },
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// An intervention: the activation at `hook` is replaced by `replace(activation)`.
#[derive(Clone, Copy)]
pub struct Patch<'a> {
    pub hook: HookPoint,
    pub replace: &'a dyn Fn(&Tensor) -> Tensor,
}

/// What every subject model can do: run a batch of token ids and hand back the
/// activations at the requested hook points, each `[batch, seq, width]`.
pub trait SubjectModel: Send {
    fn config(&self) -> &ModelConfig;

    /// `ids` and `attention_mask` are `[batch, seq]` int64 on the model's device;
    /// the mask is 1 for real tokens and 0 for padding (on the right).
    fn forward(
        &self,
        ids: &Tensor,
        attention_mask: &Tensor,
        hooks: &[HookPoint],
    ) -> Result<Vec<Tensor>>;

    /// The activations at `hooks` of several windows of token ids, each
    /// run on its own, their rows one window after the other: `[total
    /// tokens, width]` per hook. Here the windows run as a batch padded to
    /// the longest; a causal model packs them into one sequence instead.
    fn forward_packed(
        &self,
        windows: &[&[i64]],
        hooks: &[HookPoint],
        device: Device,
    ) -> Result<Vec<Tensor>> {
        let (ids, real) = padded_batch(windows, device);
        let outputs = self.forward(&ids, &real, hooks)?;
        let rows = real.flatten(0, 1).nonzero().squeeze_dim(1);
        Ok(outputs
            .iter()
            .map(|out| out.flatten(0, 1).index_select(0, &rows))
            .collect())
    }

    /// Next-token logits `[batch, seq, vocab]`, with `patch` applied on the
    /// way. Only causal language models have them.
    fn logits(
        &self,
        _ids: &Tensor,
        _attention_mask: &Tensor,
        _patch: Option<Patch>,
    ) -> Result<Tensor> {
        Err(ModelError::Hook {
            hook: "logits".into(),
            problem: format!(
                "{} is not a causal language model: it has no next-token loss",
                self.config().architecture.as_str()
            ),
        })
    }

    /// Next-token logits at each row's last real token only, `[batch,
    /// vocab]`, with `patch` applied on the way: what a prompt predicts,
    /// without the whole vocabulary at every position.
    fn final_logits(
        &self,
        ids: &Tensor,
        attention_mask: &Tensor,
        patch: Option<Patch>,
    ) -> Result<Tensor> {
        let logits = self.logits(ids, attention_mask, patch)?;
        Ok(last_positions(&logits, attention_mask))
    }

    /// What each MLP neuron of `layer` writes to the residual stream, `[ff,
    /// d]`: its column of the MLP's output projection (through the scale of
    /// a norm on the MLP's output, where the model has one).
    fn neuron_directions(&self, layer: u32) -> Result<Tensor>;

    /// Width of the activation at a hook site (MLP neurons or residual stream).
    fn width(&self, site: HookSite) -> i64 {
        self.config().width(site)
    }

    /// Every hook point of the model.
    fn hook_points(&self) -> Vec<HookPoint> {
        (0..self.config().num_layers)
            .flat_map(|layer| HookSite::ALL.map(|site| HookPoint { layer, site }))
            .collect()
    }
}

/// Token ids and attention mask `[window, longest]` of `windows` on
/// `device`, padded on the right.
pub fn padded_batch(windows: &[&[i64]], device: Device) -> (Tensor, Tensor) {
    let longest = windows.iter().map(|w| w.len()).max().unwrap_or(0);
    let mut ids = vec![0i64; windows.len() * longest];
    let mut mask = vec![0i64; windows.len() * longest];
    for (row, w) in windows.iter().enumerate() {
        ids[row * longest..row * longest + w.len()].copy_from_slice(w);
        mask[row * longest..row * longest + w.len()].fill(1);
    }
    let shape = [windows.len() as i64, longest as i64];
    let ids = Tensor::from_slice(&ids).view(shape).to_device(device);
    let mask = Tensor::from_slice(&mask).view(shape).to_device(device);
    (ids, mask)
}

/// Each row of `t` `[batch, seq, ..]` at its last real token (the mask is
/// 1 for real tokens, padding on the right): `[batch, ..]`.
pub fn last_positions(t: &Tensor, attention_mask: &Tensor) -> Tensor {
    let last = attention_mask.sum_dim_intlist([1i64].as_slice(), false, tch::Kind::Int64) - 1;
    let rows = Tensor::arange(t.size()[0], (tch::Kind::Int64, t.device()));
    t.index(&[Some(rows), Some(last.to_device(t.device()))])
}

/// Whether `path` names a GGUF file (a model folder is the other kind).
pub fn is_gguf(path: &Path) -> bool {
    path.is_file()
        || path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

/// The configuration and weights of the model at `path`: a Hugging
/// Face-style folder or a GGUF file.
fn read(path: &Path, device: Device) -> Result<(ModelConfig, weights::Weights)> {
    Ok(if is_gguf(path) {
        let file = gguf::GgufFile::open(path)?;
        let config = gguf::model::config(&file)?;
        let weights = gguf::model::weights(&file, &config, device)?;
        (config, weights)
    } else {
        (
            ModelConfig::read(path)?,
            weights::Weights::read(path, device)?,
        )
    })
}

/// A subject model as loaded: a causal language model can also write.
pub enum Subject {
    Causal(Box<Decoder>),
    Encoder(Box<dyn SubjectModel>),
}

/// Loads the model at `path` on `device` (a Hugging Face-style folder or a
/// GGUF file), its weights read once whatever it turns out to be.
pub fn load_subject(path: &Path, device: Device) -> Result<Subject> {
    let (config, weights) = read(path, device)?;
    Ok(match config.architecture {
        Architecture::Bert => Subject::Encoder(Box::new(bert::Bert::new(config, &weights)?)),
        _ => Subject::Causal(Box::new(decoder::Decoder::new(config, &weights)?)),
    })
}

/// Loads the model at `path` on `device`: a Hugging Face-style folder or a
/// GGUF file.
pub fn load(path: &Path, device: Device) -> Result<Box<dyn SubjectModel>> {
    Ok(match load_subject(path, device)? {
        Subject::Causal(decoder) => decoder,
        Subject::Encoder(encoder) => encoder,
    })
}

/// Loads the causal language model at `path` for generation and scoring
/// (an encoder such as BERT is refused).
pub fn load_decoder(path: &Path, device: Device) -> Result<Decoder> {
    match load_subject(path, device)? {
        Subject::Causal(decoder) => Ok(*decoder),
        Subject::Encoder(_) => Err(not_causal(path)),
    }
}

/// Why the encoder at `path` cannot serve where a causal model must.
pub fn not_causal(path: &Path) -> ModelError {
    ModelError::Config {
        path: path.into(),
        problem: "BERT is an encoder, not a causal language model: it cannot generate".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_positions_skip_the_padding_on_the_right() {
        let t = Tensor::arange(2 * 3 * 2, (tch::Kind::Float, Device::Cpu)).view([2, 3, 2]);
        let mask = Tensor::from_slice(&[1i64, 1, 0, 1, 1, 1]).view([2, 3]);
        let last = Vec::<f32>::try_from(last_positions(&t, &mask).view([-1])).unwrap();
        assert_eq!(last, [2.0, 3.0, 10.0, 11.0]);
    }
}
