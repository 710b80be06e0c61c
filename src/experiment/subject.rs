//! A dataset's unit in its subject model: the model and tokenizer the
//! manifest names, the hook the unit is read at, and what the unit is
//! there (a neuron's index, or a dictionary's feature). The causal
//! experiments start from [`Subject::load`].
use super::{ExperimentError, Result};
use crate::dataset::Dataset;
use crate::dataset::manifest::UnitSourceInfo;
use crate::model::{HookPoint, SubjectModel, TextTokenizer};
use crate::sae::Dictionary;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// How steering moves a unit at every position.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Steer {
    /// This much of the unit's activation added along its direction.
    Add(f64),
    /// The unit's activation set to this value.
    Clamp(f64),
}

impl std::fmt::Display for Steer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Add(amount) => write!(f, "{amount:+} along its direction"),
            Self::Clamp(value) => write!(f, "clamped at {value}"),
        }
    }
}

impl Steer {
    /// `+8` (adds 8), `-3` (adds −3) or `=5` (clamps at 5), as the
    /// explorer's steering prompt takes it.
    pub fn parse(text: &str) -> Option<Self> {
        let steer = match text.strip_prefix('=') {
            Some(value) => Self::Clamp(value.parse().ok()?),
            None if text.starts_with(['+', '-']) => Self::Add(text.parse().ok()?),
            None => return None,
        };
        steer.value().is_finite().then_some(steer)
    }

    /// The amount added, or the value clamped at.
    pub fn value(self) -> f64 {
        match self {
            Self::Add(v) | Self::Clamp(v) => v,
        }
    }
}

/// Where the unit is read and what it is there.
pub struct Site {
    pub hook: HookPoint,
    /// The neuron's index, or the dictionary's feature.
    pub index: i64,
    pub dictionary: Option<Dictionary>,
}

impl Site {
    /// Where unit `unit` of `ds` is read in `model` (loaded from `model_path`).
    pub fn of(
        ds: &Dataset,
        unit: u64,
        model: &dyn SubjectModel,
        model_path: &Path,
        device: tch::Device,
    ) -> Result<Self> {
        let (_, source) = (ds.manifest().source_of(unit)).ok_or_else(|| {
            ExperimentError::Input(format!(
                "unit {unit}: {} lists no source holding it",
                ds.dir().join("manifest.json").display()
            ))
        })?;
        let hook = source_hook(ds, source)?;
        let dictionary = load_dictionary(ds, source, device)?;
        let index = (unit - source.first_unit_id) as i64;
        let what = format!("unit {unit}");
        check_fit(model, model_path, (hook, &what), dictionary.as_ref(), index)?;
        Ok(Self {
            hook,
            index,
            dictionary,
        })
    }

    /// The unit's activation `[.., seq]` on what the hook carries.
    pub fn activation(&self, t: &Tensor) -> Tensor {
        match &self.dictionary {
            Some(d) => d.feature_contribution(t, self.index).0,
            None => t.select(-1, self.index).to_kind(Kind::Float),
        }
    }

    /// What the hook carries with the unit steered: `amount` of it added
    /// along its direction, or it clamped at a value.
    pub fn steered(&self, t: &Tensor, steer: Steer) -> Tensor {
        match &self.dictionary {
            Some(d) => {
                let amount = match steer {
                    Steer::Add(amount) => {
                        Tensor::full(&t.size()[..t.dim() - 1], amount, (Kind::Float, t.device()))
                    }
                    Steer::Clamp(value) => {
                        let (activation, _) = d.feature_contribution(t, self.index);
                        activation.neg() + value
                    }
                };
                t + d.feature_shift(t, self.index, &amount).to_kind(t.kind())
            }
            None => {
                let out = t.copy();
                let mut unit = out.narrow(-1, self.index, 1);
                let _ = match steer {
                    Steer::Add(amount) => unit.g_add_scalar_(amount),
                    Steer::Clamp(value) => unit.fill_(value),
                };
                out
            }
        }
    }

    /// What the hook carries with the unit scaled by `scale`.
    pub fn scaled(&self, t: &Tensor, scale: f64) -> Tensor {
        match &self.dictionary {
            Some(d) => {
                let (_, share) = d.feature_contribution(t, self.index);
                t + (share * (scale - 1.0)).to_kind(t.kind())
            }
            None => {
                let out = t.copy();
                let _ = out.narrow(-1, self.index, 1).g_mul_scalar_(scale);
                out
            }
        }
    }
}

pub struct Subject {
    pub model: Box<dyn SubjectModel>,
    pub tokenizer: TextTokenizer,
    pub device: tch::Device,
    pub site: Site,
}

impl Subject {
    /// Unit `unit` of `ds`, in the subject model its manifest names (or
    /// `model`), on `device`.
    pub fn load(
        ds: &Dataset,
        unit: u64,
        model: Option<&Path>,
        device: tch::Device,
    ) -> Result<Self> {
        let model_path = model_path(ds, model)?;
        let model = crate::model::load(&model_path, device)?;
        Ok(Self {
            site: Site::of(ds, unit, model.as_ref(), &model_path, device)?,
            model,
            tokenizer: TextTokenizer::load(&model_path)?,
            device,
        })
    }
}

/// Refuses a model and dictionary that do not fit where the manifest says
/// unit `index` (a neuron, or the dictionary's feature) is read: the
/// forward pass would otherwise fail inside libtorch. `what` names the
/// units in the error (`unit 4100`, `the sae source at blocks.6.resid_post`).
pub fn check_fit(
    model: &dyn SubjectModel,
    model_path: &Path,
    (hook, what): (HookPoint, &str),
    dictionary: Option<&Dictionary>,
    index: i64,
) -> Result<()> {
    let misfit = |problem: String| {
        ExperimentError::Input(format!("{}: {what}: {problem}", model_path.display()))
    };
    model
        .config()
        .check_layer(hook.layer)
        .map_err(|e| misfit(e.to_string()))?;
    let width = model.width(hook.site);
    match dictionary {
        Some(d) if d.d_in() != width || index >= d.d_sae() => Err(misfit(format!(
            "{hook} has width {width}, but the dictionary read there reads {} \
             and has {} features (feature {index} asked for)",
            d.d_in(),
            d.d_sae()
        ))),
        None if index >= width => Err(misfit(format!(
            "{hook} has width {width}: there is no neuron {index}"
        ))),
        _ => Ok(()),
    }
}

/// Where `source`'s units are read, from its hook's name in the manifest of `ds`.
pub fn source_hook(ds: &Dataset, source: &UnitSourceInfo) -> Result<HookPoint> {
    HookPoint::parse(&source.hook).ok_or_else(|| {
        ExperimentError::Input(format!(
            "{}: source hook {:?} is not a hook name like blocks.3.mlp",
            ds.dir().join("manifest.json").display(),
            source.hook
        ))
    })
}

/// The subject model of `ds`: `model`, else the one its manifest names.
pub fn model_path(ds: &Dataset, model: Option<&Path>) -> Result<PathBuf> {
    match (model, &ds.manifest().subject_model) {
        (Some(path), _) => Ok(path.to_owned()),
        (None, Some(m)) if m.source.is_some() => Ok(m.source.clone().unwrap_or_default().into()),
        _ => Err(ExperimentError::Input(format!(
            "{}: no subject_model.source; name the model",
            ds.dir().join("manifest.json").display()
        ))),
    }
}

/// The dictionary `source`'s units are features of, on `device` (`None`
/// for neurons).
pub fn load_dictionary(
    ds: &Dataset,
    source: &UnitSourceInfo,
    device: tch::Device,
) -> Result<Option<Dictionary>> {
    let Some(d) = &source.dictionary else {
        return Ok(None);
    };
    let input = ExperimentError::Input;
    let dir = d.source.as_ref().ok_or_else(|| {
        input(format!(
            "{}: the dictionary of {} has no source",
            ds.dir().join("manifest.json").display(),
            source.hook
        ))
    })?;
    let loaded =
        Dictionary::load(Path::new(dir)).map_err(|e| input(format!("dictionary {dir}: {e}")))?;
    Ok(Some(loaded.to_device(device)))
}

/// A token as text (its name for one, such as `<eos>`, that has none).
pub fn token_text(tokenizer: &TextTokenizer, id: i64) -> String {
    match tokenizer.decode(&[id as u32]) {
        Ok(text) if !text.is_empty() => text,
        _ => tokenizer.token_name(id as u32).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::UnitKind;
    use crate::sae::Activation;

    /// Two features over three coordinates, the second with a decoder row of norm 2.
    fn site(rescale: bool) -> Site {
        let w_enc = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0, 0.0, 0.0]).view([3, 2]);
        let w_dec = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 0.0, 2.0, 0.0]).view([2, 3]);
        let mut d = Dictionary::new(UnitKind::Sae, Activation::Relu, w_enc, w_dec);
        d.rescale_acts_by_decoder_norm = rescale;
        Site {
            hook: HookPoint::parse("blocks.0.resid_post").unwrap(),
            index: 1,
            dictionary: Some(d),
        }
    }

    fn values(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()
    }

    #[test]
    fn steering_adds_along_the_decoder_row_or_clamps_the_activation() {
        let x = Tensor::from_slice(&[0.5f32, 3.0, 7.0]).view([1, 3]);
        let (site, rescaled) = (site(false), site(true));
        // Feature 1 reads coordinate 1 (3.0) and writes twice that along it.
        assert_eq!(values(&site.steered(&x, Steer::Add(1.5))), [0.5, 6.0, 7.0]);
        // Clamped at its own value nothing moves; at 0 its share is gone.
        assert_eq!(
            values(&site.steered(&x, Steer::Clamp(3.0))),
            [0.5, 3.0, 7.0]
        );
        assert_eq!(
            values(&site.steered(&x, Steer::Clamp(0.0))),
            [0.5, -3.0, 7.0]
        );
        // With decoder-norm rescaling the row is a unit vector.
        assert_eq!(
            values(&rescaled.steered(&x, Steer::Add(1.5))),
            [0.5, 4.5, 7.0]
        );
        let neuron = Site {
            dictionary: None,
            ..site
        };
        assert_eq!(
            values(&neuron.steered(&x, Steer::Add(-1.0))),
            [0.5, 2.0, 7.0]
        );
        assert_eq!(
            values(&neuron.steered(&x, Steer::Clamp(9.0))),
            [0.5, 9.0, 7.0]
        );
    }

    #[test]
    fn steering_reads_plus_minus_and_equals() {
        assert_eq!(Steer::parse("+8"), Some(Steer::Add(8.0)));
        assert_eq!(Steer::parse("-3.5"), Some(Steer::Add(-3.5)));
        assert_eq!(Steer::parse("=5"), Some(Steer::Clamp(5.0)));
        assert_eq!(Steer::parse("=-1"), Some(Steer::Clamp(-1.0)));
        for bad in ["8", "+inf", "=nan", "=", "+", "louder"] {
            assert_eq!(Steer::parse(bad), None, "{bad}");
        }
        assert_eq!(Steer::Add(8.0).to_string(), "+8 along its direction");
        assert_eq!(Steer::Clamp(5.0).to_string(), "clamped at 5");
    }
}
