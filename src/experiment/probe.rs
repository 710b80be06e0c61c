//! Every unit of a dataset on any text (Neuronpedia's activation testing,
//! sae_vis's prompt-centric view): the subject model runs the text, cut
//! into windows as extraction cuts a document, and each source of the
//! dataset reads its hook as extraction reads it, neurons as they are and
//! dictionary features through their encoder. Start from [`Prober::load`].
use super::subject::{check_fit, load_dictionary, model_path, source_hook};
use super::{ExperimentError, Result};
use crate::activations::{Document, Windower};
use crate::dataset::Dataset;
use crate::model::{HookPoint, SubjectModel, TextTokenizer};
use crate::sae::Dictionary;
use std::path::Path;
use std::rc::Rc;
use tch::{Device, Kind, Tensor};

/// Windows run at once, at most.
const BATCH: usize = 8;

/// Unit activations a batch holds at most (128 MB of floats): fewer windows
/// run at once where a dataset has very many units.
const BATCH_VALUES: usize = 1 << 25;

/// Unit activations a probe holds at most (512 MB of floats): 14,000 tokens
/// of the demo, 400 at GPT-2 XL's 307,200 neurons.
const PROBE_VALUES: usize = 1 << 27;

/// One source of units: a hook's neurons or a dictionary's features there.
pub struct ProbeSource {
    pub hook: HookPoint,
    pub first_unit_id: u64,
    pub units: i64,
    pub dictionary: Option<Dictionary>,
}

/// The subject model of a dataset with every one of its sources, loaded once.
pub struct Prober {
    /// Both shared with the steering of the same model, in the explorer.
    model: Rc<dyn SubjectModel>,
    tokenizer: Rc<TextTokenizer>,
    window_tokens: usize,
    sources: Vec<ProbeSource>,
    hooks: Vec<HookPoint>,
    /// One more than the largest unit id a source holds.
    units: usize,
    device: Device,
}

/// The activation of every unit at every token of a text.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The text probed.
    pub text: String,
    /// The text's tokens, windows one after the other, each with its
    /// special tokens as extraction writes them.
    pub tokens: Vec<String>,
    /// Per token, whether it is a special token the windows add (`<bos>`).
    pub special: Vec<bool>,
    /// Units per token: unit ids run from 0 to `units - 1`.
    pub units: usize,
    /// `[token][unit]`, row by row.
    pub activations: Vec<f32>,
}

impl Probe {
    /// Unit `unit`'s activation at each token (`None` past the last unit).
    pub fn unit(&self, unit: u64) -> Option<Vec<f32>> {
        let unit = usize::try_from(unit).ok().filter(|&u| u < self.units)?;
        Some(
            (0..self.tokens.len())
                .map(|t| self.activations[t * self.units + unit])
                .collect(),
        )
    }

    /// Each unit's largest activation over the text's own tokens (the
    /// special tokens left out: many units are largest at `<bos>`
    /// whatever follows).
    pub fn maxima(&self) -> Vec<f32> {
        let mut maxima = vec![f32::NEG_INFINITY; self.units];
        let rows = self.activations.chunks_exact(self.units.max(1));
        for (row, _) in rows.zip(&self.special).filter(|(_, special)| !**special) {
            for (m, &a) in maxima.iter_mut().zip(row) {
                *m = m.max(a);
            }
        }
        maxima
    }

    /// Every unit's activation at token `token`.
    pub fn row(&self, token: usize) -> Option<&[f32]> {
        self.activations
            .get(token * self.units..(token + 1) * self.units)
    }

    /// The `k` units with the largest maxima on the text, the largest
    /// first, each with its maximum and the first text token where it is reached.
    pub fn top(&self, k: usize) -> Vec<(u64, f32, usize)> {
        let maxima = self.maxima();
        let mut ranked: Vec<usize> = (0..self.units).collect();
        ranked.sort_by(|&a, &b| maxima[b].total_cmp(&maxima[a]).then(a.cmp(&b)));
        ranked.truncate(k);
        (ranked.into_iter())
            .map(|u| {
                let at = (0..self.tokens.len()).find(|&t| {
                    !self.special[t] && self.activations[t * self.units + u] == maxima[u]
                });
                (u as u64, maxima[u], at.unwrap_or(0))
            })
            .collect()
    }
}

impl Prober {
    /// The subject model of `ds` (`model`, else the manifest's) on
    /// `device`, with the dictionary of every source its manifest lists.
    pub fn load(ds: &Dataset, model: Option<&Path>, device: Device) -> Result<Self> {
        let path = model_path(ds, model)?;
        let subject = crate::model::load(&path, device)?;
        let tokenizer = Rc::new(TextTokenizer::load(&path)?);
        Self::with_model(ds, Rc::from(subject), tokenizer, &path, device)
    }

    /// The same with `subject` and its `tokenizer`, loaded from `path`.
    pub fn with_model(
        ds: &Dataset,
        subject: Rc<dyn SubjectModel>,
        tokenizer: Rc<TextTokenizer>,
        path: &Path,
        device: Device,
    ) -> Result<Self> {
        let manifest = ds.manifest();
        let manifest_path = ds.dir().join("manifest.json");
        if manifest.sources.is_empty() {
            return Err(ExperimentError::Input(format!(
                "{}: lists no sources, so where each unit is read is unknown",
                manifest_path.display()
            )));
        }
        let mut sources = Vec::new();
        for source in &manifest.sources {
            let hook = source_hook(ds, source)?;
            let dictionary = load_dictionary(ds, source, device)?;
            let last = source.units.saturating_sub(1) as i64;
            let what = format!("the {} source at {hook}", source.kind);
            check_fit(
                subject.as_ref(),
                path,
                (hook, &what),
                dictionary.as_ref(),
                last,
            )?;
            sources.push(ProbeSource {
                hook,
                first_unit_id: source.first_unit_id,
                units: source.units as i64,
                dictionary,
            });
        }
        let mut hooks: Vec<HookPoint> = sources.iter().map(|s| s.hook).collect();
        hooks.sort();
        hooks.dedup();
        let units = (sources.iter())
            .map(|s| (s.first_unit_id + s.units as u64) as usize)
            .max()
            .unwrap_or(0);
        Ok(Self {
            model: subject,
            tokenizer,
            window_tokens: manifest.window_tokens.unwrap_or(64) as usize,
            sources,
            hooks,
            units,
            device,
        })
    }

    /// Windows of the dataset's length, with their special tokens.
    pub fn windower(&self) -> Result<Windower<'_>> {
        Ok(Windower::new(&self.tokenizer, self.window_tokens)?)
    }

    /// Every unit on `text`.
    pub fn probe(&self, text: &str) -> Result<Probe> {
        let document = Document {
            id: 0,
            text: text.to_owned(),
        };
        let windower = self.windower()?;
        let windows = windower.split(&document)?;
        if windows.is_empty() {
            return Err(ExperimentError::Input("the text has no tokens".into()));
        }
        let (before, after) = windower.special_counts();
        let count: usize = windows.iter().map(|w| w.tokens.len()).sum();
        let most = PROBE_VALUES / self.units.max(1);
        if count > most {
            return Err(ExperimentError::Input(format!(
                "the text is {count} tokens: with {} units a probe takes at most {most}",
                self.units
            )));
        }
        let tokens = windows.iter().flat_map(|w| w.tokens.clone()).collect();
        let special = (windows.iter())
            .flat_map(|w| {
                (0..w.tokens.len()).map(move |i| i < before || i + after >= w.tokens.len())
            })
            .collect();
        let ids: Vec<Vec<i64>> = windows.into_iter().map(|w| w.ids).collect();
        let mut activations =
            Vec::with_capacity(ids.iter().map(Vec::len).sum::<usize>() * self.units);
        self.run_each(&ids, |_, t| {
            activations.extend(Vec::<f32>::try_from(t.flatten(0, -1))?);
            Ok(())
        })?;
        Ok(Probe {
            text: text.to_owned(),
            tokens,
            special,
            units: self.units,
            activations,
        })
    }

    /// Every unit's activations on each window of token ids in turn,
    /// `visit(window index, [len, units] float tensor on the CPU)`, run a
    /// few windows at a time (packed into one sequence where the model is
    /// causal, so that a text's short last window costs no padding).
    pub fn run_each(
        &self,
        windows: &[Vec<i64>],
        mut visit: impl FnMut(usize, Tensor) -> Result<()>,
    ) -> Result<()> {
        let longest = windows.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let per_batch = (BATCH_VALUES / (longest * self.units.max(1))).clamp(1, BATCH);
        for (c, chunk) in windows.chunks(per_batch).enumerate() {
            let packed: Vec<&[i64]> = chunk.iter().map(Vec::as_slice).collect();
            let outputs =
                tch::no_grad(|| (self.model).forward_packed(&packed, &self.hooks, self.device))?;
            let rows = outputs[0].size()[0];
            let all = Tensor::zeros([rows, self.units as i64], (Kind::Float, Device::Cpu));
            tch::no_grad(|| {
                for source in &self.sources {
                    let at = self.hooks.iter().position(|h| *h == source.hook);
                    let output = &outputs[at.expect("every source's hook runs")];
                    let acts = match &source.dictionary {
                        Some(d) => d.encode(output),
                        None => output.shallow_clone(),
                    };
                    all.narrow(-1, source.first_unit_id as i64, source.units)
                        .copy_(
                            &acts
                                .narrow(-1, 0, source.units)
                                .to_kind(Kind::Float)
                                .to_device(Device::Cpu),
                        );
                }
            });
            let mut start = 0;
            for (row, ids) in chunk.iter().enumerate() {
                visit(c * per_batch + row, all.narrow(0, start, ids.len() as i64))?;
                start += ids.len() as i64;
            }
        }
        Ok(())
    }

    /// Units probed (one more than the largest unit id).
    pub fn units(&self) -> usize {
        self.units
    }

    pub fn model(&self) -> &dyn SubjectModel {
        self.model.as_ref()
    }

    /// The source holding unit `unit`.
    pub fn source_of(&self, unit: u64) -> Result<&ProbeSource> {
        (self.sources.iter())
            .find(|s| (s.first_unit_id..s.first_unit_id + s.units as u64).contains(&unit))
            .ok_or_else(|| {
                ExperimentError::Input(format!(
                    "unit {unit}: no source of the dataset's manifest holds it"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> Probe {
        Probe {
            text: "a b".into(),
            tokens: vec!["<bos>".into(), "a".into(), " b".into()],
            special: vec![true, false, false],
            units: 3,
            activations: vec![0.0, 1.0, 2.0, 5.0, -1.0, 0.5, 0.25, 4.0, 0.5],
        }
    }

    #[test]
    fn a_probe_reads_by_unit_by_maximum_and_by_token() {
        let p = probe();
        assert_eq!(p.unit(1), Some(vec![1.0, -1.0, 4.0]));
        assert_eq!(p.unit(3), None);
        // The special token's values are left out of the maxima.
        assert_eq!(p.maxima(), [5.0, 4.0, 0.5]);
        assert_eq!(p.row(2), Some(&[0.25, 4.0, 0.5][..]));
        assert_eq!(p.row(3), None);
        // Ties go to the lower id; the token is the first of the text's own at the maximum.
        assert_eq!(p.top(2), [(0, 5.0, 1), (1, 4.0, 2)]);
        assert_eq!(p.top(5)[2], (2, 0.5, 1));
    }
}
