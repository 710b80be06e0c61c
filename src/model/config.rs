//! `config.json` of a Hugging Face model folder, reduced to what the forward
//! passes need. Architectures name their fields differently; this is the one
//! place that knows those names. A field that changes the computation and is
//! not implemented is refused by name rather than ignored.
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
    /// Gemma 1, 2 and 3: Llama-like with `(1 + w)` RMSNorm and embeddings
    /// scaled by √d; 2 and 3 add sandwich norms and sliding windows, 3 QK-norm.
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
            "gemma" | "gemma2" | "gemma3" | "gemma3_text" => Self::Gemma,
            _ => return None,
        })
    }
}

/// How rotary frequencies are stretched for long contexts.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    None,
    /// Positions divided by `factor` (transformers' "linear").
    Linear(f64),
    /// Llama 3's: low frequencies divided by `factor`, high ones kept, a
    /// smooth blend between.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_positions: f64,
    },
    /// One divisor per frequency, as llama.cpp stores Llama 3's scaling
    /// (the `rope_freqs.weight` tensor of a GGUF file).
    Divisors(Vec<f32>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rope {
    pub theta: f64,
    pub scaling: RopeScaling,
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
    /// Rotary embedding of full-attention layers.
    pub rope: Rope,
    /// Rotary embedding of sliding-window layers, where it differs (Gemma 3).
    pub local_rope: Option<Rope>,
    /// Dimensions of each head that are rotated, even (GPT-NeoX rotates a part).
    pub rotary_dims: i64,
    /// GPT-NeoX: attention and MLP read the same input and add together.
    pub parallel_residual: bool,
    /// Per layer, how many positions back a query sees (itself included);
    /// `None` is full causal attention.
    pub windows: Vec<Option<i64>>,
    /// Multiplies q·k before the softmax: 1/√head_dim unless the model says
    /// otherwise (Gemma's `query_pre_attn_scalar`).
    pub attention_scale: f64,
    /// Gemma 2: attention scores and final logits pass through `c·tanh(x/c)`.
    pub attn_softcap: Option<f64>,
    pub final_softcap: Option<f64>,
    /// Gemma 2 and 3 normalise each sublayer's output before adding it back.
    pub sandwich_norms: bool,
    /// Gemma 3 normalises each head's queries and keys.
    pub qk_norm: bool,
}

struct Fields<'a> {
    path: &'a Path,
    value: &'a Value,
}

impl Fields<'_> {
    fn error(&self, problem: String) -> ModelError {
        ModelError::Config {
            path: self.path.to_owned(),
            problem,
        }
    }

    fn missing(&self, names: &[&str]) -> ModelError {
        self.error(format!("missing or invalid field `{}`", names[0]))
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.value.get(name).filter(|v| !v.is_null())
    }

    /// The first of `names` present, as an integer.
    fn int(&self, names: &[&str]) -> Result<i64> {
        names
            .iter()
            .find_map(|n| self.get(n).and_then(Value::as_i64))
            .ok_or_else(|| self.missing(names))
    }

    fn float(&self, names: &[&str]) -> Option<f64> {
        names
            .iter()
            .find_map(|n| self.get(n).and_then(Value::as_f64))
    }

    fn float_or(&self, names: &[&str], default: f64) -> f64 {
        self.float(names).unwrap_or(default)
    }

    fn flag(&self, name: &str) -> bool {
        self.get(name).and_then(Value::as_bool).unwrap_or(false)
    }

    fn string_or(&self, names: &[&str], default: &str) -> String {
        names
            .iter()
            .find_map(|n| self.get(n).and_then(Value::as_str))
            .unwrap_or(default)
            .to_owned()
    }

    /// The rotary settings of one kind of layer. transformers 5 writes them
    /// under `rope_parameters` (keyed by layer type for Gemma 3); older
    /// files have `rope_theta` and `rope_scaling` at the top level.
    fn rope(&self, layer_type: &str, default_theta: f64) -> Result<Rope> {
        let nested = self.get("rope_parameters");
        let params = nested
            .and_then(|p| p.get(layer_type))
            .or(nested)
            .filter(|p| p.is_object());
        let legacy_scaling = self.get("rope_scaling").filter(|s| s.is_object());
        let theta = params
            .and_then(|p| p.get("rope_theta"))
            .and_then(Value::as_f64)
            .unwrap_or_else(|| self.float_or(&["rope_theta", "rotary_emb_base"], default_theta));
        let scaling = params
            .filter(|p| p.get("rope_type").is_some() || p.get("type").is_some())
            .or(legacy_scaling);
        let Some(scaling) = scaling else {
            return Ok(Rope {
                theta,
                scaling: RopeScaling::None,
            });
        };
        let field = |name: &str| scaling.get(name).and_then(Value::as_f64);
        let kind = scaling
            .get("rope_type")
            .or_else(|| scaling.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("default");
        let required = |name: &str| {
            field(name).ok_or_else(|| {
                self.error(format!("rope scaling `{kind}` without a number `{name}`"))
            })
        };
        let scaling = match kind {
            "default" => RopeScaling::None,
            "linear" => RopeScaling::Linear(required("factor")?),
            "llama3" => RopeScaling::Llama3 {
                factor: required("factor")?,
                low_freq_factor: required("low_freq_factor")?,
                high_freq_factor: required("high_freq_factor")?,
                original_max_positions: required("original_max_position_embeddings")?,
            },
            other => {
                return Err(self.error(format!(
                    "rope scaling type `{other}` (field `rope_type`) is not implemented \
                     (implemented: default, linear, llama3)"
                )));
            }
        };
        Ok(Rope { theta, scaling })
    }

    /// Which layers attend through a sliding window, and how wide.
    fn windows(&self, model_type: &str, layers: u32) -> Result<Vec<Option<i64>>> {
        let window = self.int(&["sliding_window"]).ok();
        let sliding = |slides: &dyn Fn(u32) -> bool| {
            layer_windows(layers, window, slides).ok_or_else(|| self.missing(&["sliding_window"]))
        };
        if let Some(types) = self.get("layer_types").and_then(Value::as_array) {
            if types.len() != layers as usize {
                return Err(self.error(format!(
                    "`layer_types` lists {} layers, the model has {layers}",
                    types.len()
                )));
            }
            for t in types {
                match t.as_str() {
                    Some("full_attention" | "sliding_attention") => {}
                    _ => {
                        return Err(self.error(format!(
                            "layer type {t} in `layer_types` is not implemented \
                             (implemented: full_attention, sliding_attention)"
                        )));
                    }
                }
            }
            return sliding(&|i| types[i as usize] == "sliding_attention");
        }
        match model_type {
            // Gemma 2 alternates, local first.
            "gemma2" => sliding(&periodic(2)),
            "gemma3" | "gemma3_text" => {
                let pattern = self.int(&["sliding_window_pattern", "_sliding_window_pattern"]);
                sliding(&periodic(pattern.unwrap_or(6).max(0) as u64))
            }
            "mistral" => sliding(&|_| window.is_some()),
            "qwen2" if self.flag("use_sliding_window") => {
                // transformers' default.
                let from = self.int(&["max_window_layers"]).unwrap_or(28);
                sliding(&|i| i64::from(i) >= from)
            }
            _ => Ok(vec![None; layers as usize]),
        }
    }

    /// Settings that change the computation and that no path here implements.
    fn refuse_unimplemented(&self, model_type: &str) -> Result<()> {
        let truthy = [
            ("scale_attn_by_inverse_layer_idx", "gpt2"),
            ("reorder_and_upcast_attn", "gpt2"),
            ("use_bidirectional_attention", "gemma3"),
        ];
        for (name, _) in truthy.iter().filter(|(_, t)| model_type.starts_with(t)) {
            if self.flag(name) {
                return Err(self.error(format!("`{name}` = true is not implemented")));
            }
        }
        if model_type == "gpt2" && self.get("scale_attn_weights") == Some(&Value::Bool(false)) {
            return Err(self.error("`scale_attn_weights` = false is not implemented".into()));
        }
        if self.get("text_config").is_some() {
            return Err(self.error(
                "`text_config`: multimodal checkpoints are not implemented (a text-only \
                 checkpoint, model_type gemma3_text for Gemma 3, is)"
                    .into(),
            ));
        }
        if self.int(&["pretraining_tp"]).is_ok_and(|tp| tp > 1) {
            return Err(self.error("`pretraining_tp` > 1 is not implemented".into()));
        }
        Ok(())
    }
}

/// Layer `i` slides unless it is the last of each `period` (Gemma's
/// local:global patterns, as llama.cpp and transformers define them); a
/// period of 0 makes every layer slide, as in llama.cpp.
pub(crate) fn periodic(period: u64) -> impl Fn(u32) -> bool {
    move |i| period == 0 || u64::from(i) % period < period - 1
}

/// Per layer, `window` where `slides` says so and `None` elsewhere; `None`
/// as a whole when a layer slides and there is no window.
pub(crate) fn layer_windows(
    layers: u32,
    window: Option<i64>,
    slides: &dyn Fn(u32) -> bool,
) -> Option<Vec<Option<i64>>> {
    (0..layers)
        .map(|i| match (slides(i), window) {
            (false, _) => Some(None),
            (true, Some(w)) => Some(Some(w)),
            (true, None) => None,
        })
        .collect()
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

    /// The model's configuration: from `config.json` in a model folder, or
    /// from the metadata of a GGUF file.
    pub fn read(path: &Path) -> Result<Self> {
        if super::is_gguf(path) {
            return super::gguf::model::config(&super::gguf::GgufFile::open(path)?);
        }
        let path = path.join("config.json");
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
            return Err(f.error(format!(
                "unsupported model_type {model_type:?} (supported: bert, gpt2, gpt_neox, llama, \
                 mistral, qwen2, gemma, gemma2, gemma3, gemma3_text)"
            )));
        };
        f.refuse_unimplemented(&model_type)?;
        let hidden_size = f.int(&["hidden_size", "n_embd"])?;
        let num_heads = f.int(&["num_attention_heads", "n_head"])?;
        let num_layers = u32::try_from(f.int(&["num_hidden_layers", "n_layer"])?)
            .map_err(|_| f.missing(&["num_hidden_layers"]))?;
        let head_dim = f
            .int(&["head_dim"])
            .unwrap_or(hidden_size / num_heads.max(1));
        let gemma2_or_3 = matches!(model_type.as_str(), "gemma2" | "gemma3" | "gemma3_text");
        let is_gemma3 = model_type.starts_with("gemma3");
        let local_rope = if is_gemma3 {
            let local_theta = f.float_or(&["rope_local_base_freq"], 10_000.0);
            Some(
                if f.get("rope_parameters")
                    .is_some_and(|p| p.get("sliding_attention").is_some())
                {
                    f.rope("sliding_attention", local_theta)?
                } else {
                    Rope {
                        theta: local_theta,
                        scaling: RopeScaling::None,
                    }
                },
            )
        } else {
            None
        };
        let config = Self {
            architecture,
            hidden_size,
            intermediate_size: f
                .int(&["intermediate_size", "n_inner"])
                .unwrap_or(4 * hidden_size),
            num_layers,
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
            head_dim,
            // Gemma 3's global layers default to a base of 1e6 in transformers.
            rope: f.rope("full_attention", if is_gemma3 { 1e6 } else { 10_000.0 })?,
            local_rope,
            // transformers: int(head_dim * partial_rotary_factor), rounded down to even.
            rotary_dims: (head_dim as f64
                * f.get("rope_parameters")
                    .and_then(|r| r.get("partial_rotary_factor"))
                    .and_then(Value::as_f64)
                    .unwrap_or_else(|| f.float_or(&["partial_rotary_factor", "rotary_pct"], 1.0)))
                as i64
                / 2
                * 2,
            parallel_residual: f
                .get("use_parallel_residual")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            windows: f.windows(&model_type, num_layers)?,
            attention_scale: f
                .float(&["query_pre_attn_scalar"])
                .unwrap_or(head_dim as f64)
                .powf(-0.5),
            attn_softcap: f.float(&["attn_logit_softcapping"]),
            final_softcap: f.float(&["final_logit_softcapping"]),
            sandwich_norms: gemma2_or_3,
            qk_norm: is_gemma3,
            model_type,
        };
        config.check(&path)?;
        Ok(config)
    }

    /// Shape checks every source of a configuration needs.
    pub(crate) fn check(&self, path: &Path) -> Result<()> {
        let problem = if self.num_heads <= 0 || self.num_kv_heads <= 0 {
            Some(format!(
                "{} heads and {} key/value heads",
                self.num_heads, self.num_kv_heads
            ))
        } else if self.num_heads % self.num_kv_heads != 0 {
            Some(format!(
                "{} query heads are not a multiple of {} key/value heads",
                self.num_heads, self.num_kv_heads
            ))
        } else if let Some(w) = self.windows.iter().flatten().find(|&&w| w < 1) {
            Some(format!("a sliding window of {w} tokens (at least 1)"))
        } else if self.windows.len() != self.num_layers as usize {
            Some(format!(
                "{} layer windows for {} layers",
                self.windows.len(),
                self.num_layers
            ))
        } else if self.rotary_dims < 0
            || self.rotary_dims > self.head_dim
            || self.rotary_dims % 2 != 0
        {
            Some(format!(
                "{} rotary dimensions in heads of {}",
                self.rotary_dims, self.head_dim
            ))
        } else if self.architecture != Architecture::Llama
            && self.architecture != Architecture::Gemma
            && self.hidden_size % self.num_heads != 0
        {
            Some(format!(
                "hidden size {} is not a multiple of {} heads",
                self.hidden_size, self.num_heads
            ))
        } else {
            None
        };
        match problem {
            Some(problem) => Err(ModelError::Config {
                path: path.to_owned(),
                problem,
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(fields: serde_json::Value) -> Result<ModelConfig> {
        let dir = tempfile::tempdir().unwrap();
        let mut config = serde_json::json!({
            "model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
            "num_hidden_layers": 2, "vocab_size": 100, "max_position_embeddings": 128,
        });
        config
            .as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        ModelConfig::read(dir.path())
    }

    fn refused(fields: serde_json::Value) -> String {
        read(fields).expect_err("refused").to_string()
    }

    #[test]
    fn unimplemented_settings_are_refused_by_name() {
        for (fields, named) in [
            (
                serde_json::json!({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}),
                "`yarn`",
            ),
            (
                serde_json::json!({"rope_parameters": {"rope_type": "dynamic", "rope_theta": 1e4}}),
                "`dynamic`",
            ),
            (
                serde_json::json!({"layer_types": ["full_attention", "chunked_attention"]}),
                "chunked_attention",
            ),
            (
                serde_json::json!({"layer_types": ["sliding_attention", "full_attention"]}),
                "sliding_window",
            ),
            (serde_json::json!({"pretraining_tp": 2}), "pretraining_tp"),
            (
                serde_json::json!({"rope_scaling": {"rope_type": "llama3", "factor": 8.0}}),
                "low_freq_factor",
            ),
            (
                serde_json::json!({"model_type": "mistral", "sliding_window": 0}),
                "a sliding window of 0 tokens",
            ),
            (
                serde_json::json!({"partial_rotary_factor": 1.5}),
                "24 rotary dimensions in heads of 16",
            ),
            (
                serde_json::json!({"num_hidden_layers": -1}),
                "num_hidden_layers",
            ),
            (
                serde_json::json!({"model_type": "gemma3", "text_config": {}}),
                "text_config",
            ),
        ] {
            let error = refused(fields.clone());
            assert!(error.contains(named), "{fields}: {error}");
        }
        let error = refused(
            serde_json::json!({"model_type": "gpt2", "n_embd": 64, "n_head": 4,
            "n_layer": 2, "n_positions": 128, "scale_attn_by_inverse_layer_idx": true}),
        );
        assert!(error.contains("scale_attn_by_inverse_layer_idx"), "{error}");
        let error = refused(
            serde_json::json!({"model_type": "gpt2", "n_embd": 64, "n_head": 4,
            "n_layer": 2, "n_positions": 128, "scale_attn_weights": false}),
        );
        assert!(error.contains("scale_attn_weights"), "{error}");
    }

    #[test]
    fn rotary_and_window_settings_are_read_in_both_layouts() {
        let legacy = read(serde_json::json!({"rope_theta": 5e5, "rope_scaling":
            {"type": "linear", "factor": 2.0}}))
        .unwrap();
        assert_eq!(
            legacy.rope,
            Rope {
                theta: 5e5,
                scaling: RopeScaling::Linear(2.0)
            }
        );
        let gemma3 = read(
            serde_json::json!({"model_type": "gemma3_text", "num_hidden_layers": 7,
            "sliding_window": 8, "rope_local_base_freq": 1e4, "rope_theta": 1e6}),
        )
        .unwrap();
        assert_eq!(gemma3.windows[4], Some(8));
        assert_eq!(gemma3.windows[5], None);
        assert_eq!(gemma3.local_rope.as_ref().map(|r| r.theta), Some(1e4));
        assert_eq!(gemma3.rope.theta, 1e6);
        let qwen2 = read(
            serde_json::json!({"model_type": "qwen2", "use_sliding_window": true,
            "sliding_window": 16, "max_window_layers": 1}),
        )
        .unwrap();
        assert_eq!(qwen2.windows, vec![None, Some(16)]);
        // transformers' defaults: Qwen2 slides from layer 28 on, Gemma 3's
        // global base is 1e6.
        let qwen2 = read(
            serde_json::json!({"model_type": "qwen2", "use_sliding_window": true,
            "sliding_window": 16}),
        )
        .unwrap();
        assert_eq!(qwen2.windows, vec![None, None]);
        let gemma3 =
            read(serde_json::json!({"model_type": "gemma3_text", "sliding_window": 8})).unwrap();
        assert_eq!(gemma3.rope.theta, 1e6);
        assert_eq!(gemma3.windows, vec![Some(8), Some(8)]);
    }
}
