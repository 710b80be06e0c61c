//! A dictionary: an encoder from a hook point's activations to feature
//! activations and a decoder back, stored in SAELens's layout: `cfg.json` and
//! `sae_weights.safetensors` with `W_enc` [d_in, d_sae], `b_enc` [d_sae],
//! `W_dec` [d_sae, d_in], `b_dec` [d_in] (and `threshold` for JumpReLU).
//!
//! Encoding follows SAELens: optional run-time input normalisation, `b_dec`
//! subtracted from the input when `apply_b_dec_to_input`, `x W_enc + b_enc`,
//! then the activation. Baselines (PCA, ICA, random directions, the neuron
//! basis) use the `linear` activation: their features are projections.
use super::{Result, SaeError, format_error, io_error};
use crate::dataset::UnitKind;
use crate::model::HookPoint;
use crate::publish::write_atomically;
use serde_json::{Value, json};
use std::path::Path;
use tch::{Device, Kind, Tensor};

pub const CONFIG_FILE: &str = "cfg.json";
pub const WEIGHTS_FILE: &str = "sae_weights.safetensors";

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// ReLU (SAELens `standard`; the tied SAE of Cunningham et al. is saved as this).
    Relu,
    /// The k largest pre-activations, through a ReLU (SAELens `topk`).
    TopK { k: i64 },
    /// ReLU zeroed below a learned per-feature threshold (SAELens `jumprelu`).
    JumpRelu,
    /// No nonlinearity: the baselines' projections.
    Linear,
}

impl Activation {
    fn architecture(self) -> &'static str {
        match self {
            Self::Relu => "standard",
            Self::TopK { .. } => "topk",
            Self::JumpRelu => "jumprelu",
            Self::Linear => "linear",
        }
    }
}

/// SAELens's run-time input normalisations (`normalize_activations`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InputNorm {
    None,
    /// Scale each input to norm sqrt(d_in), undone after decoding.
    ConstantNormRescale,
    /// Standardise each input over its features, undone after decoding.
    LayerNorm,
}

impl InputNorm {
    fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ConstantNormRescale => "constant_norm_rescale",
            Self::LayerNorm => "layer_norm",
        }
    }
}

/// What undoing the input normalisation needs: a scale and a shift per row.
struct Denormalize {
    scale: Tensor,
    shift: Option<Tensor>,
}

pub struct Dictionary {
    pub kind: UnitKind,
    /// Where its input is read, when known.
    pub hook: Option<HookPoint>,
    pub model_name: Option<String>,
    pub w_enc: Tensor,
    pub b_enc: Tensor,
    pub w_dec: Tensor,
    pub b_dec: Tensor,
    /// JumpReLU thresholds [d_sae].
    pub threshold: Option<Tensor>,
    pub apply_b_dec_to_input: bool,
    pub activation: Activation,
    pub input_norm: InputNorm,
    /// TopK: pre-activations are scaled by the decoder row norms before selection.
    pub rescale_acts_by_decoder_norm: bool,
    /// Facts about how it was made, kept under `featurescope` in cfg.json.
    pub provenance: Value,
}

impl Dictionary {
    /// A dictionary with the given weights and the defaults of its kind.
    pub fn new(kind: UnitKind, activation: Activation, w_enc: Tensor, w_dec: Tensor) -> Self {
        let (d_in, d_sae) = (w_enc.size()[0], w_enc.size()[1]);
        let options = (Kind::Float, w_enc.device());
        Self {
            kind,
            hook: None,
            model_name: None,
            b_enc: Tensor::zeros([d_sae], options),
            b_dec: Tensor::zeros([d_in], options),
            w_enc,
            w_dec,
            threshold: None,
            apply_b_dec_to_input: false,
            activation,
            input_norm: InputNorm::None,
            rescale_acts_by_decoder_norm: false,
            provenance: json!({}),
        }
    }

    pub fn d_in(&self) -> i64 {
        self.w_enc.size()[0]
    }

    pub fn d_sae(&self) -> i64 {
        self.w_enc.size()[1]
    }

    pub fn device(&self) -> Device {
        self.w_enc.device()
    }

    pub fn to_device(self, device: Device) -> Self {
        Self {
            w_enc: self.w_enc.to_device(device),
            b_enc: self.b_enc.to_device(device),
            w_dec: self.w_dec.to_device(device),
            b_dec: self.b_dec.to_device(device),
            threshold: self.threshold.map(|t| t.to_device(device)),
            ..self
        }
    }

    fn normalize(&self, x: &Tensor) -> (Tensor, Option<Denormalize>) {
        match self.input_norm {
            InputNorm::None => (x.shallow_clone(), None),
            InputNorm::ConstantNormRescale => {
                let norm = x.norm_scalaropt_dim(2, [-1], true);
                let coeff = (self.d_in() as f64).sqrt() / norm;
                let scaled = x * &coeff;
                (
                    scaled,
                    Some(Denormalize {
                        scale: coeff.reciprocal(),
                        shift: None,
                    }),
                )
            }
            InputNorm::LayerNorm => {
                let mu = x.mean_dim([-1i64].as_slice(), true, Kind::Float);
                let centred = x - &mu;
                let std = centred.std_dim([-1i64].as_slice(), true, true);
                let out = &centred / (&std + 1e-5);
                (
                    out,
                    Some(Denormalize {
                        scale: std,
                        shift: Some(mu),
                    }),
                )
            }
        }
    }

    fn pre_activations(&self, x: &Tensor) -> Tensor {
        let sae_in = if self.apply_b_dec_to_input {
            x - &self.b_dec
        } else {
            x.shallow_clone()
        };
        let hidden = sae_in.matmul(&self.w_enc) + &self.b_enc;
        if self.rescale_acts_by_decoder_norm {
            hidden * self.decoder_norms()
        } else {
            hidden
        }
    }

    fn decoder_norms(&self) -> Tensor {
        self.w_dec.norm_scalaropt_dim(2, [-1], false)
    }

    fn activate(&self, hidden: Tensor) -> Tensor {
        match self.activation {
            Activation::Relu => hidden.relu(),
            Activation::Linear => hidden,
            Activation::TopK { k } => {
                let (values, indices) = hidden.topk(k.min(self.d_sae()), -1, true, false);
                hidden.zeros_like().scatter(-1, &indices, &values.relu())
            }
            Activation::JumpRelu => {
                let threshold = self
                    .threshold
                    .as_ref()
                    .expect("a JumpReLU dictionary is loaded with its thresholds");
                let mask = hidden.gt_tensor(threshold).to_kind(Kind::Float);
                hidden.relu() * mask
            }
        }
    }

    /// Feature activations `[.., d_sae]` of activations `[.., d_in]`.
    pub fn encode(&self, x: &Tensor) -> Tensor {
        let x = x.to_kind(Kind::Float);
        let (x, _) = self.normalize(&x);
        self.activate(self.pre_activations(&x))
    }

    /// Features `[.., d_sae]` along their decoder rows, in the normalised
    /// space and without the decoder bias.
    fn directions(&self, features: &Tensor) -> Tensor {
        let features = if self.rescale_acts_by_decoder_norm {
            features / self.decoder_norms()
        } else {
            features.shallow_clone()
        };
        features.matmul(&self.w_dec)
    }

    fn decode_normalized(&self, features: &Tensor) -> Tensor {
        self.directions(features) + &self.b_dec
    }

    /// Features and the reconstruction of `x`, in `x`'s own scale.
    pub fn encode_decode(&self, x: &Tensor) -> (Tensor, Tensor) {
        let x = x.to_kind(Kind::Float);
        let (normalized, denormalize) = self.normalize(&x);
        let features = self.activate(self.pre_activations(&normalized));
        let mut reconstruction = self.decode_normalized(&features);
        if let Some(d) = denormalize {
            reconstruction *= d.scale;
            if let Some(shift) = d.shift {
                reconstruction += shift;
            }
        }
        (features, reconstruction)
    }

    /// Feature `feature`'s activation `[..]` on activations `x` `[.., d_in]`,
    /// and its share of the reconstruction `[.., d_in]` in `x`'s own scale:
    /// what ablating the feature takes away.
    pub fn feature_contribution(&self, x: &Tensor, feature: i64) -> (Tensor, Tensor) {
        let x = x.to_kind(Kind::Float);
        let (normalized, _) = self.normalize(&x);
        // All pre-activations: TopK's choice depends on the others.
        let activation = self
            .activate(self.pre_activations(&normalized))
            .select(-1, feature);
        let share = self.feature_shift(&x, feature, &activation);
        (activation, share)
    }

    /// What `amount` `[..]` of feature `feature` adds to activations `x`
    /// `[.., d_in]`, in `x`'s own scale: `amount` times its decoder row
    /// (steering adds it; a feature's activation gives its share).
    pub fn feature_shift(&self, x: &Tensor, feature: i64, amount: &Tensor) -> Tensor {
        let x = x.to_kind(Kind::Float);
        let (_, denormalize) = self.normalize(&x);
        let mut row = self.w_dec.get(feature);
        if self.rescale_acts_by_decoder_norm {
            row = &row / row.norm();
        }
        let mut shift = amount.unsqueeze(-1) * row;
        if let Some(d) = denormalize {
            shift *= d.scale;
        }
        shift
    }

    /// How the features on `target` differ from those on `x` (both `[..,
    /// d_in]`) at each position: c̄ − c, `[.., d_sae]`.
    pub fn feature_difference(&self, x: &Tensor, target: &Tensor) -> Tensor {
        self.encode(target) - self.encode(x)
    }

    /// `x` `[.., d_in]` moved, at each position, by the `features` largest
    /// (in magnitude) of `difference` ([`Dictionary::feature_difference`])
    /// along their decoder rows, in `x`'s own scale: x′ = x + Σ_{j∈F}(c̄ⱼ −
    /// cⱼ)·fⱼ. The rest of `x`, the dictionary's error included, stays
    /// (Cunningham et al.'s patching). Under input normalisation the moved
    /// features are decoded in `x`'s scale.
    pub fn patched(&self, x: &Tensor, difference: &Tensor, features: i64) -> Tensor {
        let features = features.min(self.d_sae());
        if features <= 0 {
            return x.shallow_clone();
        }
        let x32 = x.to_kind(Kind::Float);
        let (_, denormalize) = self.normalize(&x32);
        let (_, chosen) = difference.abs().topk(features, -1, true, false);
        let moved =
            (difference.zeros_like()).scatter(-1, &chosen, &difference.gather(-1, &chosen, false));
        let mut shift = self.directions(&moved);
        if let Some(d) = denormalize {
            shift *= d.scale;
        }
        (x32 + shift).to_kind(x.kind())
    }

    /// Reads a dictionary saved by featurescope or SAELens.
    pub fn load(dir: &Path) -> Result<Self> {
        let cfg_path = dir.join(CONFIG_FILE);
        if !cfg_path.exists() {
            return Err(format_error(
                dir,
                "not a dictionary: no cfg.json (an SAELens-style checkpoint folder is expected)",
            ));
        }
        let text = std::fs::read_to_string(&cfg_path).map_err(io_error(&cfg_path))?;
        let cfg: Value = serde_json::from_str(&text)
            .map_err(|e| format_error(&cfg_path, format!("not JSON: {e}")))?;
        let field = |name: &str| cfg.get(name);
        let str_field = |name: &str, default: &'static str| -> Result<String> {
            match field(name) {
                None | Some(Value::Null) => Ok(default.to_owned()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(format_error(
                    &cfg_path,
                    format!("`{name}` is {other}, expected a string"),
                )),
            }
        };
        let int_field = |name: &str| -> Result<i64> {
            field(name)
                .and_then(Value::as_i64)
                .filter(|&v| v > 0)
                .ok_or_else(|| {
                    format_error(
                        &cfg_path,
                        format!("`{name}` is missing or not a positive integer"),
                    )
                })
        };
        let d_in = int_field("d_in")?;
        let d_sae = int_field("d_sae")?;
        let architecture = str_field("architecture", "standard")?;
        let activation = match architecture.as_str() {
            "standard" => Activation::Relu,
            "topk" => Activation::TopK { k: int_field("k")? },
            "jumprelu" => Activation::JumpRelu,
            "linear" => Activation::Linear,
            other => {
                return Err(format_error(
                    &cfg_path,
                    format!(
                        "architecture {other:?} is not supported (standard, topk, jumprelu or linear)"
                    ),
                ));
            }
        };
        let input_norm = match str_field("normalize_activations", "none")?.as_str() {
            // `expected_average_only_in` scales inputs during training only; a
            // saved SAELens checkpoint has the factor folded in (or expects
            // pre-scaled inputs, as SAELens's own encode does).
            "none" | "expected_average_only_in" => InputNorm::None,
            "constant_norm_rescale" => InputNorm::ConstantNormRescale,
            "layer_norm" => InputNorm::LayerNorm,
            other => {
                return Err(format_error(
                    &cfg_path,
                    format!("normalize_activations {other:?} is not supported"),
                ));
            }
        };
        let reshape = str_field("reshape_activations", "none")?;
        if reshape != "none" {
            return Err(format_error(
                &cfg_path,
                format!("reshape_activations {reshape:?} (attention-head SAEs) is not supported"),
            ));
        }
        let ours = cfg
            .get("featurescope")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let kind = match ours.get("kind").and_then(Value::as_str) {
            Some(k) => k
                .parse()
                .map_err(|e: crate::names::UnknownName| format_error(&cfg_path, e.to_string()))?,
            None => UnitKind::Sae,
        };
        let metadata = cfg.get("metadata");
        let meta_str = |name: &str| {
            metadata
                .and_then(|m| m.get(name))
                .or_else(|| cfg.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let hook = meta_str("hook_name").and_then(|h| HookPoint::parse(&h));

        let weights_path = dir.join(WEIGHTS_FILE);
        if !weights_path.exists() {
            return Err(format_error(
                dir,
                "cfg.json without sae_weights.safetensors",
            ));
        }
        let tensors = Tensor::read_safetensors(&weights_path)
            .map_err(|e| format_error(&weights_path, format!("not a safetensors file: {e}")))?;
        let get = |name: &str, shape: &[i64]| -> Result<Tensor> {
            let t = tensors
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t)
                .ok_or_else(|| format_error(&weights_path, format!("no tensor `{name}`")))?;
            if t.size() != shape {
                return Err(format_error(
                    &weights_path,
                    format!(
                        "`{name}` has shape {:?}, expected {shape:?} (d_in {d_in}, d_sae {d_sae} in cfg.json)",
                        t.size()
                    ),
                ));
            }
            let t = t.to_kind(Kind::Float);
            if !bool::try_from(t.isfinite().all())? {
                return Err(format_error(
                    &weights_path,
                    format!("`{name}` holds NaN or infinite values"),
                ));
            }
            Ok(t)
        };
        let threshold = match activation {
            Activation::JumpRelu => Some(get("threshold", &[d_sae])?),
            _ => None,
        };
        Ok(Self {
            kind,
            hook,
            model_name: meta_str("model_name"),
            w_enc: get("W_enc", &[d_in, d_sae])?,
            b_enc: get("b_enc", &[d_sae])?,
            w_dec: get("W_dec", &[d_sae, d_in])?,
            b_dec: get("b_dec", &[d_in])?,
            threshold,
            apply_b_dec_to_input: field("apply_b_dec_to_input")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            activation,
            input_norm,
            rescale_acts_by_decoder_norm: field("rescale_acts_by_decoder_norm")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            provenance: ours,
        })
    }

    /// The cfg.json SAELens reads (and we do), with our facts under `featurescope`.
    pub fn config_json(&self) -> Value {
        let mut provenance = self.provenance.clone();
        if !provenance.is_object() {
            provenance = json!({});
        }
        provenance["kind"] = json!(self.kind.as_str());
        let mut cfg = json!({
            "architecture": self.activation.architecture(),
            "d_in": self.d_in(),
            "d_sae": self.d_sae(),
            "dtype": "float32",
            "device": "cpu",
            "apply_b_dec_to_input": self.apply_b_dec_to_input,
            "normalize_activations": self.input_norm.as_str(),
            "reshape_activations": "none",
            "metadata": {
                "sae_lens_version": "6.0.0",
                "sae_lens_training_version": null,
                "model_name": self.model_name,
                "hook_name": self.hook.map(HookPoint::saelens_name),
                "hook_head_index": null,
                "prepend_bos": true,
            },
            "featurescope": provenance,
        });
        if let Activation::TopK { k } = self.activation {
            cfg["k"] = json!(k);
            cfg["rescale_acts_by_decoder_norm"] = json!(self.rescale_acts_by_decoder_norm);
        }
        cfg
    }

    /// Writes the dictionary into `dir` (created if needed). cfg.json goes
    /// last and is removed first, so a crash never leaves a cfg.json that
    /// describes other weights: a folder without it is not a dictionary.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let cfg_path = dir.join(CONFIG_FILE);
        if cfg_path.exists() {
            std::fs::remove_file(&cfg_path).map_err(io_error(&cfg_path))?;
        }
        let cpu = |t: &Tensor| t.to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
        let mut tensors = vec![
            ("W_enc", cpu(&self.w_enc)),
            ("b_enc", cpu(&self.b_enc)),
            ("W_dec", cpu(&self.w_dec)),
            ("b_dec", cpu(&self.b_dec)),
        ];
        if let Some(t) = &self.threshold {
            tensors.push(("threshold", cpu(t)));
        }
        write_atomically(&dir.join(WEIGHTS_FILE), |tmp| {
            Tensor::write_safetensors(&tensors, tmp).map_err(SaeError::from)
        })?;
        let text = serde_json::to_string_pretty(&self.config_json()).expect("JSON value");
        write_atomically(&cfg_path, |tmp| {
            std::fs::write(tmp, text.as_bytes()).map_err(io_error(tmp))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Patched with every feature, x moves by the difference of the two
    /// reconstructions (the decoder bias cancels); with one, along the
    /// decoder row of the feature that differs most.
    #[test]
    fn patching_moves_x_along_the_features_that_differ_most() {
        tch::manual_seed(3);
        let x = Tensor::randn([2, 4, 8], (Kind::Float, Device::Cpu));
        let target = Tensor::randn([2, 4, 8], (Kind::Float, Device::Cpu));
        for rescale in [false, true] {
            let mut d = Dictionary::new(
                UnitKind::Sae,
                Activation::Relu,
                Tensor::randn([8, 6], (Kind::Float, Device::Cpu)),
                Tensor::randn([6, 8], (Kind::Float, Device::Cpu)),
            );
            d.b_dec = Tensor::randn([8], (Kind::Float, Device::Cpu));
            d.rescale_acts_by_decoder_norm = rescale;
            let difference = d.feature_difference(&x, &target);
            let whole = d.patched(&x, &difference, 6);
            let want = &x + d.encode_decode(&target).1 - d.encode_decode(&x).1;
            assert!(
                whole.allclose(&want, 1e-5, 1e-5, false),
                "rescale {rescale}"
            );
            assert!(d.patched(&x, &difference, 0).equal(&x));
            let one = d.patched(&x, &difference, 1) - &x;
            let j = difference.abs().argmax(-1, false);
            let mut rows = d.w_dec.index_select(0, &j.view([-1])).view([2, 4, 8]);
            if rescale {
                rows = &rows / rows.norm_scalaropt_dim(2, [-1], true);
            }
            let along = difference.gather(-1, &j.unsqueeze(-1), false) * rows;
            assert!(one.allclose(&along, 1e-5, 1e-5, false), "rescale {rescale}");
        }
    }

    /// With a linear decoder, the features' shares and the decoder bias
    /// (both in the input's scale) add up to the reconstruction.
    #[test]
    fn feature_shares_add_up_to_the_reconstruction() {
        tch::manual_seed(7);
        let x = Tensor::randn([3, 5, 8], (Kind::Float, Device::Cpu)) * 40.0;
        for norm in [InputNorm::None, InputNorm::ConstantNormRescale] {
            let mut d = Dictionary::new(
                UnitKind::Sae,
                Activation::Relu,
                Tensor::randn([8, 6], (Kind::Float, Device::Cpu)),
                Tensor::randn([6, 8], (Kind::Float, Device::Cpu)),
            );
            d.b_dec = Tensor::randn([8], (Kind::Float, Device::Cpu));
            d.input_norm = norm;
            d.rescale_acts_by_decoder_norm = true;
            let (features, reconstruction) = d.encode_decode(&x);
            let mut total = Tensor::zeros_like(&x);
            for j in 0..6 {
                let (activation, share) = d.feature_contribution(&x, j);
                assert!(activation.allclose(&features.select(-1, j), 1e-6, 1e-6, false));
                total += share;
            }
            let bias = match norm {
                InputNorm::None => d.b_dec.shallow_clone().expand_as(&x),
                _ => {
                    let scale = x.norm_scalaropt_dim(2, [-1], true) / (8f64).sqrt();
                    &d.b_dec * scale
                }
            };
            let diff = (total + bias - reconstruction)
                .abs()
                .max()
                .double_value(&[]);
            assert!(diff < 1e-3, "{norm:?}: {diff}");
        }
    }
}
