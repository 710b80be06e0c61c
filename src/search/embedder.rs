//! A sentence-transformers model folder (an encoder, mean pooling, unit
//! length) run with the project's own BERT.
use super::{Result, SearchError};
use crate::model::{self, HookPoint, HookSite, SubjectModel, TextTokenizer};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// The sentence model search uses when none is named: all-MiniLM-L6-v2,
/// which `make setup` links into the project's virtual environment.
pub const BUNDLED_EMBEDDER: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/models/all-MiniLM-L6-v2");

/// Texts embedded per forward pass.
const BATCH: usize = 32;

pub struct SentenceEmbedder {
    name: String,
    model: Box<dyn SubjectModel>,
    tokenizer: TextTokenizer,
    /// Tokens kept of a text, special tokens included (longer texts are cut,
    /// as sentence-transformers cuts them).
    max_tokens: usize,
}

impl SentenceEmbedder {
    /// The sentence model in the folder `path`: its encoder, tokenizer,
    /// `sentence_bert_config.json` (the length cut) and pooling, which must
    /// be the mean of the token embeddings.
    pub fn load(path: &Path) -> Result<Self> {
        let refuse = |problem: String| SearchError::Embedder {
            path: path.display().to_string(),
            problem,
        };
        if !path.is_dir() {
            return Err(refuse(
                "not a sentence model folder (`make setup` links all-MiniLM-L6-v2 there)".into(),
            ));
        }
        let pooling = path.join("1_Pooling/config.json");
        if let Some(config) = read_json(&pooling).map_err(refuse)? {
            let mean = config.get("pooling_mode_mean_tokens") == Some(&true.into());
            if !mean {
                return Err(refuse(format!(
                    "{} asks for a pooling other than the mean of the tokens, which is the only one \
                     featurescope computes",
                    pooling.display()
                )));
            }
        }
        let model = model::load(path, Device::Cpu)?;
        let limit = read_json(&path.join("sentence_bert_config.json"))
            .map_err(refuse)?
            .and_then(|c| c.get("max_seq_length")?.as_u64())
            .unwrap_or(model.config().max_positions as u64);
        Ok(Self {
            name: path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into(),
            ),
            max_tokens: (limit as usize).min(model.config().max_positions as usize),
            tokenizer: TextTokenizer::load(path)?,
            model,
        })
    }

    /// What the cache calls this model: its folder's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Each text's embedding: the mean of the encoder's last hidden states
    /// over the text's tokens, special tokens included, scaled to unit length.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let _no_grad = tch::no_grad_guard();
        let last = HookPoint {
            layer: self.model.config().num_layers - 1,
            site: HookSite::ResidPost,
        };
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            let ids = chunk
                .iter()
                .map(|text| self.ids(text))
                .collect::<Result<Vec<_>>>()?;
            let width = ids.iter().map(Vec::len).max().unwrap_or(1);
            let (mut flat, mut mask) = (Vec::new(), Vec::new());
            for row in &ids {
                flat.extend(row.iter().map(|&id| id as i64));
                flat.extend(std::iter::repeat_n(0, width - row.len()));
                mask.extend(std::iter::repeat_n(1i64, row.len()));
                mask.extend(std::iter::repeat_n(0, width - row.len()));
            }
            let shape = [chunk.len() as i64, width as i64];
            let ids = Tensor::from_slice(&flat).view(shape);
            let mask = Tensor::from_slice(&mask).view(shape);
            let hidden = self.model.forward(&ids, &mask, &[last])?.remove(0);
            let weights = mask.to_kind(Kind::Float).unsqueeze(-1);
            let summed = (hidden * &weights).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
            let counts = weights
                .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
                .clamp_min(1e-9);
            let mean = summed / counts;
            // As sentence-transformers' Normalize (torch's normalize, eps 1e-12).
            let norms = mean
                .norm_scalaropt_dim(2.0, [1i64].as_slice(), true)
                .clamp_min(1e-12);
            let unit = (mean / norms).contiguous();
            let d = unit.size()[1] as usize;
            let values = Vec::<f32>::try_from(unit.view([-1]))?;
            out.extend(values.chunks(d).map(<[f32]>::to_vec));
        }
        Ok(out)
    }

    /// A text's token ids with the special tokens, cut to `max_tokens` (the
    /// closing special token kept).
    fn ids(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = self.tokenizer.encode(text, true)?.ids;
        if ids.len() > self.max_tokens {
            let close = ids[ids.len() - 1];
            ids.truncate(self.max_tokens - 1);
            ids.push(close);
        }
        Ok(ids)
    }
}

/// A JSON file's contents, or `None` where there is no such file.
fn read_json(path: &Path) -> Result<Option<serde_json::Value>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}
