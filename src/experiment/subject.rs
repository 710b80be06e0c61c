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

/// Where the unit is read and what it is there.
pub struct Site {
    pub hook: HookPoint,
    /// The neuron's index, or the dictionary's feature.
    pub index: i64,
    pub dictionary: Option<Dictionary>,
}

impl Site {
    /// The unit's activation `[.., seq]` on what the hook carries.
    pub fn activation(&self, t: &Tensor) -> Tensor {
        match &self.dictionary {
            Some(d) => d.feature_contribution(t, self.index).0,
            None => t.select(-1, self.index).to_kind(Kind::Float),
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
        let manifest = ds.manifest();
        let input = ExperimentError::Input;
        let manifest_path = ds.dir().join("manifest.json");
        let source = (manifest.sources.iter())
            .find(|s| (s.first_unit_id..s.first_unit_id + s.units).contains(&unit))
            .ok_or_else(|| {
                input(format!(
                    "unit {unit}: {} lists no source holding it",
                    manifest_path.display()
                ))
            })?;
        let hook = HookPoint::parse(&source.hook).ok_or_else(|| {
            input(format!(
                "{}: source hook {:?} is not a hook name like blocks.3.mlp",
                manifest_path.display(),
                source.hook
            ))
        })?;
        let model_path = model_path(ds, model)?;
        let dictionary = load_dictionary(ds, source, device)?;
        let model = crate::model::load(&model_path, device)?;
        let index = (unit - source.first_unit_id) as i64;
        // What the model and dictionary are must fit where the manifest
        // says the unit is read, or the forward pass would fail inside libtorch.
        let misfit = |problem: String| input(format!("{}: {problem}", model_path.display()));
        model
            .config()
            .check_layer(hook.layer)
            .map_err(|e| misfit(e.to_string()))?;
        let width = model.width(hook.site);
        match &dictionary {
            Some(d) if d.d_in() != width || index >= d.d_sae() => {
                return Err(misfit(format!(
                    "{hook} has width {width}, but the dictionary of unit {unit} reads {} \
                     and has {} features (feature {index} asked for)",
                    d.d_in(),
                    d.d_sae()
                )));
            }
            None if index >= width => {
                return Err(misfit(format!(
                    "{hook} has width {width}: there is no neuron {index} (unit {unit})"
                )));
            }
            _ => {}
        }
        Ok(Self {
            model,
            tokenizer: TextTokenizer::load(&model_path)?,
            device,
            site: Site {
                hook,
                index,
                dictionary,
            },
        })
    }
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
