//! Steering with a unit (Neuronpedia's steering, Templeton et al.'s
//! feature clamping): the subject model continues a prompt twice from the
//! same seed, as it is and with the unit steered at every position, prompt
//! and continuation alike: so much of the unit added along its direction,
//! or the unit clamped at a value ([`Site::steered`]).
use super::subject::{Site, Steer, model_path};
use super::{ExperimentError, Result};
use crate::dataset::Dataset;
use crate::llm::{Continuation, Generation};
use crate::model::{Decoder, KvCache, Patch, TextTokenizer};
use std::path::Path;
use std::rc::Rc;
use tch::Device;

/// Tokens written unless asked otherwise.
pub const TOKENS: usize = 32;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub unit_id: u64,
    pub prompt: String,
    pub steer: Steer,
    /// Tokens written (at most).
    pub tokens: usize,
    /// 0 is greedy.
    pub temperature: f64,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Steered {
    pub plan: Plan,
    pub hook: String,
    /// The continuation as the model writes it.
    pub unsteered: String,
    /// The continuation with the unit steered.
    pub steered: String,
}

/// A causal subject model and a unit of a dataset in it, ready to steer.
pub struct Steerer {
    /// Both shared with the probes of the same model, in the explorer.
    decoder: Rc<Decoder>,
    tokenizer: Rc<TextTokenizer>,
    finished: Vec<u32>,
    site: Site,
    unit_id: u64,
}

impl Steerer {
    /// Unit `unit` of `ds` in its subject model (`model`, else the
    /// manifest's), which must be a causal language model.
    pub fn load(ds: &Dataset, unit: u64, model: Option<&Path>, device: Device) -> Result<Self> {
        let path = model_path(ds, model)?;
        let decoder = crate::model::load_decoder(&path, device)?;
        let tokenizer = Rc::new(TextTokenizer::load(&path)?);
        Self::with_decoder(ds, unit, Rc::new(decoder), tokenizer, &path, device)
    }

    /// The same with `decoder` and its `tokenizer`, loaded from `path`.
    pub fn with_decoder(
        ds: &Dataset,
        unit: u64,
        decoder: Rc<Decoder>,
        tokenizer: Rc<TextTokenizer>,
        path: &Path,
        device: Device,
    ) -> Result<Self> {
        if !decoder.has_head() {
            return Err(ExperimentError::Input(format!(
                "{}: the checkpoint has no output head, so it cannot write a continuation",
                path.display()
            )));
        }
        Ok(Self {
            site: Site::of(ds, unit, decoder.as_ref(), path, device)?,
            finished: tokenizer.special_ids(),
            decoder,
            tokenizer,
            unit_id: unit,
        })
    }

    /// Both continuations of `plan.prompt` (its unit must be this one's).
    pub fn steer(&self, plan: &Plan) -> Result<Steered> {
        if plan.unit_id != self.unit_id {
            return Err(ExperimentError::Input(format!(
                "loaded for unit {}, asked to steer unit {}",
                self.unit_id, plan.unit_id
            )));
        }
        if !plan.steer.value().is_finite() {
            return Err(ExperimentError::Input(format!(
                "a steering value must be finite, not {}",
                plan.steer.value()
            )));
        }
        let ids: Vec<i64> = (self.tokenizer.encode(&plan.prompt, true)?.ids.iter())
            .map(|&i| i as i64)
            .collect();
        if ids.is_empty() {
            return Err(ExperimentError::Input("the prompt has no tokens".into()));
        }
        let settings = Generation {
            max_tokens: plan.tokens,
            temperature: plan.temperature,
            top_p: 0.9,
            seed: plan.seed,
            stop: Vec::new(),
        };
        let steer = |t: &tch::Tensor| self.site.steered(t, plan.steer);
        let write = |patch: Option<Patch>| -> Result<String> {
            let _no_grad = tch::no_grad_guard();
            let mut cache = KvCache::default();
            let residual = self.decoder.extend_patched(&mut cache, &ids, patch)?;
            let last = residual.get(residual.size()[0] - 1).unsqueeze(0);
            let continuation = Continuation {
                decoder: &self.decoder,
                tokenizer: &self.tokenizer,
                finished: &self.finished,
                settings: &settings,
                patch,
            };
            Ok(continuation.write(&mut cache, last, || {})?)
        };
        Ok(Steered {
            plan: plan.clone(),
            hook: self.site.hook.to_string(),
            unsteered: write(None)?,
            steered: write(Some(Patch {
                hook: self.site.hook,
                replace: &steer,
            }))?,
        })
    }
}
