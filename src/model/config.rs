//! `config.json` of a Hugging Face model folder, reduced to what the forward
//! passes need. Architectures name their fields differently; this is the one
//! place that knows those names.
use super::{ModelError, Result};
use serde_json::Value;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// BERT-family encoders (MiniLM).
    Bert,
    Gpt2,
    /// GPT-NeoX (Pythia).
    GptNeox,
    /// Llama-family decoders: Llama, Mistral, Qwen2 (RMSNorm, rotary, gated MLP).
    Llama,
    /// Gemma: Llama-like with `(1 + w)` RMSNorm and embeddings scaled by √d.
    Gemma,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bert => "bert",
            Self::Gpt2 => "gpt2",
            Self::GptNeox => "gpt-neox",
            Self::Llama => "llama",
            Self::Gemma => "gemma",
        }
    }

    fn from_model_type(model_type: &str) -> Option<Self> {
        Some(match model_type {
            "bert" => Self::Bert,
            "gpt2" => Self::Gpt2,
            "gpt_neox" => Self::GptNeox,
            "llama" | "mistral" | "qwen2" => Self::Llama,
            "gemma" => Self::Gemma,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub architecture: Architecture,
    /// `model_type` as the file says it.
    pub model_type: String,
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub num_layers: u32,
    pub num_heads: i64,
    pub vocab_size: i64,
    pub max_positions: i64,
    pub norm_eps: f64,
    pub hidden_act: String,
    pub type_vocab_size: i64,
    /// Key/value heads (fewer than query heads with grouped-query attention).
    pub num_kv_heads: i64,
    pub head_dim: i64,
    pub rope_theta: f64,
    /// Fraction of each head's dimensions that are rotated (GPT-NeoX rotates a part).
    pub rotary_fraction: f64,
    /// GPT-NeoX: attention and MLP read the same input and add together.
    pub parallel_residual: bool,
}

struct Fields<'a> {
    path: &'a Path,
    value: &'a Value,
}

impl Fields<'_> {
    fn missing(&self, names: &[&str]) -> ModelError {
        ModelError::Config {
            path: self.path.to_owned(),
            problem: format!("missing or invalid field `{}`", names[0]),
        }
    }

    /// The first of `names` present, as an integer.
    fn int(&self, names: &[&str]) -> Result<i64> {
        names
            .iter()
            .find_map(|n| self.value.get(n).and_then(Value::as_i64))
            .ok_or_else(|| self.missing(names))
    }

    fn float_or(&self, names: &[&str], default: f64) -> f64 {
        names
            .iter()
            .find_map(|n| self.value.get(n).and_then(Value::as_f64))
            .unwrap_or(default)
    }

    /// A rotary setting: transformers 5 nests them under `rope_parameters`.
    fn rope_or(&self, names: &[&str], default: f64) -> f64 {
        let nested = self.value.get("rope_parameters");
        names
            .iter()
            .find_map(|n| nested.and_then(|r| r.get(n)).and_then(Value::as_f64))
            .unwrap_or_else(|| self.float_or(names, default))
    }

    fn string_or(&self, names: &[&str], default: &str) -> String {
        names
            .iter()
            .find_map(|n| self.value.get(n).and_then(Value::as_str))
            .unwrap_or(default)
            .to_owned()
    }
}

impl ModelConfig {
    /// Width of the activation at a hook site (MLP neurons or residual stream).
    pub fn width(&self, site: super::HookSite) -> i64 {
        match site {
            super::HookSite::Mlp => self.intermediate_size,
            super::HookSite::ResidPre | super::HookSite::ResidPost => self.hidden_size,
        }
    }

    /// Whether `layer` exists, with the message every command gives when it does not.
    pub fn check_layer(&self, layer: u32) -> Result<()> {
        if layer < self.num_layers {
            Ok(())
        } else {
            Err(ModelError::NoLayer {
                layer,
                layers: self.num_layers,
            })
        }
    }

    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|cause| ModelError::Io {
            path: path.clone(),
            cause,
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|e| ModelError::Config {
            path: path.clone(),
            problem: format!("not JSON: {e}"),
        })?;
        let f = Fields {
            path: &path,
            value: &value,
        };
        let model_type = f.string_or(&["model_type"], "");
        let Some(architecture) = Architecture::from_model_type(&model_type) else {
            return Err(ModelError::Config {
                path,
                problem: format!(
                    "unsupported model_type {model_type:?} (supported: bert, gpt2, gpt_neox, llama, mistral, qwen2, gemma)"
                ),
            });
        };
        let hidden_size = f.int(&["hidden_size", "n_embd"])?;
        let num_heads = f.int(&["num_attention_heads", "n_head"])?;
        let config = Self {
            architecture,
            model_type,
            hidden_size,
            intermediate_size: f
                .int(&["intermediate_size", "n_inner"])
                .unwrap_or(4 * hidden_size),
            num_layers: f.int(&["num_hidden_layers", "n_layer"])? as u32,
            num_heads,
            vocab_size: f.int(&["vocab_size"])?,
            max_positions: f.int(&["max_position_embeddings", "n_positions"])?,
            norm_eps: f.float_or(
                &["layer_norm_eps", "layer_norm_epsilon", "rms_norm_eps"],
                1e-5,
            ),
            hidden_act: f.string_or(
                &["hidden_activation", "hidden_act", "activation_function"],
                "gelu",
            ),
            type_vocab_size: f.int(&["type_vocab_size"]).unwrap_or(0),
            num_kv_heads: f.int(&["num_key_value_heads"]).unwrap_or(num_heads),
            head_dim: f
                .int(&["head_dim"])
                .unwrap_or(hidden_size / num_heads.max(1)),
            rope_theta: f.rope_or(&["rope_theta", "rotary_emb_base"], 10_000.0),
            rotary_fraction: f.rope_or(&["partial_rotary_factor", "rotary_pct"], 1.0),
            parallel_residual: f
                .value
                .get("use_parallel_residual")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        };
        if config.hidden_size % config.num_heads != 0 {
            return Err(ModelError::Config {
                path,
                problem: format!(
                    "hidden size {} is not a multiple of {} heads",
                    config.hidden_size, config.num_heads
                ),
            });
        }
        Ok(config)
    }
}
