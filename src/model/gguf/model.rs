//! A GGUF file as a subject model: the configuration from its metadata and
//! the weights under Hugging Face's names, with llama.cpp's conversions
//! undone (Gemma's norms are stored as `1 + w`; Llama's query and key rows
//! are permuted for its interleaved rotary kernels). What the file describes
//! and the decoder does not implement (a scaling type, mixture of experts,
//! a tensor it has no place for) is refused by name.
use super::GgufFile;
use crate::model::config::{Architecture, ModelConfig, Rope, RopeScaling, layer_windows, periodic};
use crate::model::weights::Weights;
use crate::model::{ModelError, Result};
use std::collections::HashMap;
use tch::{Device, Tensor};

/// The GGUF architectures the decoder runs.
const SUPPORTED: &str = "llama, mistral, qwen2, gemma, gemma2, gemma3";

/// Metadata keys of features the decoder does not implement.
const UNIMPLEMENTED_KEYS: &[&str] = &[
    "expert_count",
    "attention.q_lora_rank",
    "attention.kv_lora_rank",
    "ssm.conv_kernel",
];

pub fn config(file: &GgufFile) -> Result<ModelConfig> {
    let arch = file.metadata_str("general.architecture")?.to_owned();
    let architecture = match arch.as_str() {
        "llama" | "mistral" | "qwen2" => Architecture::Llama,
        "gemma" | "gemma2" | "gemma3" => Architecture::Gemma,
        other => {
            return Err(file.metadata_error(
                "general.architecture",
                format!("architecture {other:?} is not supported (supported: {SUPPORTED})"),
            ));
        }
    };
    let key = |k: &str| format!("{arch}.{k}");
    let has = |k: &str| file.metadata().contains_key(&key(k));
    let int = |k: &str| {
        let v = file.metadata_u64(&key(k))?;
        i64::try_from(v).map_err(|_| file.metadata_error(&key(k), format!("{v} is too large")))
    };
    let int_or = |k: &str, default: i64| if has(k) { int(k) } else { Ok(default) };
    let float_or = |k: &str, default: f64| {
        if has(k) {
            file.metadata_f64(&key(k))
        } else {
            Ok(default)
        }
    };
    if let Some(k) = UNIMPLEMENTED_KEYS.iter().find(|k| has(k)) {
        return Err(file.metadata_error(&key(k), "this feature is not implemented"));
    }
    let hidden_size = int("embedding_length")?;
    let num_heads = int("attention.head_count")?;
    let num_layers = u32::try_from(int("block_count")?)
        .map_err(|_| file.metadata_error(&key("block_count"), "too many blocks"))?;
    let head_dim = int_or("attention.key_length", hidden_size / num_heads.max(1))?;
    if int_or("attention.value_length", head_dim)? != head_dim {
        return Err(file.metadata_error(
            &key("attention.value_length"),
            "value heads of another size than key heads are not implemented",
        ));
    }
    let rotary_dims = int_or("rope.dimension_count", head_dim)?;
    let vocab_size = match file.tensor_info("token_embd.weight") {
        Some(info) if info.shape.len() == 2 => info.shape[0],
        _ => {
            return Err(ModelError::Weight {
                path: file.path().to_owned(),
                name: "token_embd.weight".into(),
                problem: "missing or not a matrix".into(),
            });
        }
    };
    let scaling = match has("rope.scaling.type") {
        false => RopeScaling::None,
        true => match file.metadata_str(&key("rope.scaling.type"))? {
            "none" => RopeScaling::None,
            "linear" => RopeScaling::Linear(file.metadata_f64(&key("rope.scaling.factor"))?),
            other => {
                return Err(file.metadata_error(
                    &key("rope.scaling.type"),
                    format!(
                        "rope scaling {other:?} is not implemented (implemented: none, linear)"
                    ),
                ));
            }
        },
    };
    // Llama 3's frequency scaling travels as a tensor of per-frequency divisors.
    let scaling = match (file.tensor_info("rope_freqs.weight"), scaling) {
        (None, scaling) => scaling,
        (Some(_), RopeScaling::None) => {
            let divisors = file.values("rope_freqs.weight")?;
            if divisors.len() as i64 != rotary_dims / 2 {
                return Err(ModelError::Weight {
                    path: file.path().to_owned(),
                    name: "rope_freqs.weight".into(),
                    problem: format!(
                        "{} divisors for {} rotary frequencies",
                        divisors.len(),
                        rotary_dims / 2
                    ),
                });
            }
            RopeScaling::Divisors(divisors)
        }
        (Some(_), _) => {
            return Err(file.metadata_error(
                &key("rope.scaling.type"),
                "both a scaling type and rope_freqs.weight: not implemented",
            ));
        }
    };
    let window = int("attention.sliding_window").ok();
    // Which layers slide: `attention.sliding_window_pattern` when the file
    // has it (a period, or a flag per layer), else the pattern llama.cpp
    // fixes in code for Gemma 2 (every other) and 3 (five of six).
    let pattern_key = key("attention.sliding_window_pattern");
    let slides: Option<Box<dyn Fn(u32) -> bool>> = match file.metadata().get(&pattern_key) {
        Some(value) => Some(match (value.as_u64(), value.as_array()) {
            (Some(period), _) => Box::new(periodic(period)),
            (None, Some(flags)) if flags.len() == num_layers as usize => {
                let flags = flags
                    .iter()
                    .map(|f| match f {
                        super::Value::Bool(b) => Ok(*b),
                        other => Err(file.metadata_error(
                            &pattern_key,
                            format!("{other:?} is not true or false"),
                        )),
                    })
                    .collect::<Result<Vec<bool>>>()?;
                Box::new(move |i| flags[i as usize])
            }
            _ => {
                return Err(file.metadata_error(
                    &pattern_key,
                    format!("{value:?} is neither a period nor a flag per layer"),
                ));
            }
        }),
        None => match arch.as_str() {
            "gemma2" => Some(Box::new(periodic(2))),
            "gemma3" => Some(Box::new(periodic(6))),
            _ => None,
        },
    };
    let windows = match slides {
        Some(slides) if architecture == Architecture::Gemma => {
            layer_windows(num_layers, window, &slides)
                .ok_or_else(|| file.metadata_error(&key("attention.sliding_window"), "missing"))?
        }
        _ if window.is_some() || slides.is_some() => {
            return Err(file.metadata_error(
                &key("attention.sliding_window"),
                format!("a sliding window on {arch} is not implemented"),
            ));
        }
        _ => vec![None; num_layers as usize],
    };
    // llama.cpp's rule: queries scaled by 1/√head_dim, except Gemma 2 and 3
    // at 27B (46 and 62 blocks), scaled by 1/√(width / heads).
    let is_27b = (arch == "gemma2" && num_layers == 46) || (arch == "gemma3" && num_layers == 62);
    let attention_scale = if is_27b {
        (hidden_size as f64 / num_heads as f64).powf(-0.5)
    } else {
        (head_dim as f64).powf(-0.5)
    };
    let gemma = architecture == Architecture::Gemma;
    let config = ModelConfig {
        architecture,
        model_type: arch.clone(),
        hidden_size,
        intermediate_size: int("feed_forward_length")?,
        num_layers,
        num_heads,
        vocab_size,
        max_positions: int("context_length")?,
        norm_eps: file.metadata_f64(&key("attention.layer_norm_rms_epsilon"))?,
        hidden_act: if gemma { "gelu_pytorch_tanh" } else { "silu" }.into(),
        type_vocab_size: 0,
        num_kv_heads: int_or("attention.head_count_kv", num_heads)?,
        head_dim,
        rope: Rope {
            theta: float_or("rope.freq_base", 10_000.0)?,
            scaling,
        },
        local_rope: (arch == "gemma3")
            .then(|| {
                Ok::<_, ModelError>(Rope {
                    theta: float_or("rope.freq_base_swa", 10_000.0)?,
                    scaling: RopeScaling::None,
                })
            })
            .transpose()?,
        rotary_dims,
        parallel_residual: false,
        windows,
        attention_scale,
        attn_softcap: has("attn_logit_softcapping")
            .then(|| file.metadata_f64(&key("attn_logit_softcapping")))
            .transpose()?,
        final_softcap: has("final_logit_softcapping")
            .then(|| file.metadata_f64(&key("final_logit_softcapping")))
            .transpose()?,
        sandwich_norms: arch == "gemma2" || arch == "gemma3",
        qk_norm: arch == "gemma3",
    };
    config.check(file.path())?;
    Ok(config)
}

/// The Hugging Face name of a GGUF tensor, or `None` for one the decoder
/// has no place for.
fn hugging_face_name(name: &str, sandwich_norms: bool) -> Option<String> {
    let global = match name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(global) = global {
        return Some(global.into());
    }
    let rest = name.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    layer.parse::<u32>().ok()?;
    let (part, kind) = rest.rsplit_once('.')?;
    if kind != "weight" && kind != "bias" {
        return None;
    }
    let part = match part {
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "attn_q_norm" => "self_attn.q_norm",
        "attn_k_norm" => "self_attn.k_norm",
        "attn_norm" => "input_layernorm",
        "ffn_norm" if sandwich_norms => "pre_feedforward_layernorm",
        "ffn_norm" => "post_attention_layernorm",
        "post_attention_norm" if sandwich_norms => "post_attention_layernorm",
        "post_ffw_norm" if sandwich_norms => "post_feedforward_layernorm",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{part}.{kind}"))
}

/// Undoes llama.cpp's permutation of Llama's query and key rows: per head it
/// wrote the two rotary halves interleaved, `[x0, x_half, x1, ...]`. `None`
/// when the rows do not divide into `heads` pairs of halves.
fn unpermute_rows(t: &Tensor, heads: i64) -> Option<Tensor> {
    let shape = t.size();
    let rows = *shape.first()?;
    if heads <= 0 || rows % (2 * heads) != 0 {
        return None;
    }
    Some(
        t.view([heads, rows / heads / 2, 2, -1])
            .transpose(1, 2)
            .reshape(shape.as_slice()),
    )
}

/// The file's tensors, dequantised to float32 on `device` and renamed.
pub fn weights(file: &GgufFile, config: &ModelConfig, device: Device) -> Result<Weights> {
    let gemma = config.architecture == Architecture::Gemma;
    // The permutation is in llama.cpp's converter for its `llama` architecture only.
    let permuted = config.model_type == "llama" || config.model_type == "mistral";
    let mut tensors = HashMap::new();
    for info in file.tensors() {
        if info.name == "rope_freqs.weight" {
            continue; // read into the configuration
        }
        let Some(name) = hugging_face_name(&info.name, config.sandwich_norms) else {
            return Err(ModelError::Weight {
                path: file.path().to_owned(),
                name: info.name.clone(),
                problem: format!(
                    "not a tensor of the {} models featurescope implements",
                    config.model_type
                ),
            });
        };
        let mut t = file.tensor(&info.name)?;
        if gemma && name.ends_with("norm.weight") {
            t -= 1.0;
        }
        let heads = if name.contains(".q_proj.") {
            config.num_heads
        } else {
            config.num_kv_heads
        };
        if permuted && (name.contains(".q_proj.") || name.contains(".k_proj.")) {
            t = unpermute_rows(&t, heads).ok_or_else(|| ModelError::Weight {
                path: file.path().to_owned(),
                name: info.name.clone(),
                problem: format!("shape {:?} is not {heads} heads of rotary pairs", t.size()),
            })?;
        }
        tensors.insert(name, t.to_device(device));
    }
    Ok(Weights::from_tensors(file.path().to_owned(), tensors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_as_transformers_maps_them() {
        let name = |n| hugging_face_name(n, false);
        assert_eq!(
            name("blk.3.attn_q.weight").as_deref(),
            Some("model.layers.3.self_attn.q_proj.weight")
        );
        assert_eq!(
            name("blk.0.ffn_norm.weight").as_deref(),
            Some("model.layers.0.post_attention_layernorm.weight")
        );
        assert_eq!(
            hugging_face_name("blk.0.ffn_norm.weight", true).as_deref(),
            Some("model.layers.0.pre_feedforward_layernorm.weight")
        );
        assert_eq!(name("blk.0.post_ffw_norm.weight"), None);
        assert_eq!(name("blk.x.attn_q.weight"), None);
        assert_eq!(name("blk.0.ffn_gate_exps.weight"), None);
    }

    #[test]
    fn unpermuting_inverts_llama_cpps_permutation() {
        // llama.cpp: reshape(heads, 2, rows/heads/2, cols).swapaxes(1, 2);
        // three rows per half, so the permutation is not its own inverse.
        let heads = 2;
        let w = Tensor::arange(12 * 3, (tch::Kind::Float, Device::Cpu)).view([12, 3]);
        let permute = |x: &Tensor| x.view([heads, 2, 3, 3]).transpose(1, 2).reshape([12, 3]);
        let permuted = permute(&w);
        assert!(unpermute_rows(&permuted, heads).unwrap().equal(&w));
        assert!(!permute(&permuted).equal(&w));
        assert!(unpermute_rows(&w.narrow(0, 0, 10), heads).is_none());
    }
}
