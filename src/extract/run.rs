//! The extraction passes. Pass 0 (tokenizer only) counts the windows; pass 1
//! runs the model on a seeded sample of them to estimate each unit's quantile
//! boundaries and range; pass 2 runs it on every window and selects; pass 3
//! (tokenizer only) collects the text of the selected windows. Model work is
//! thus one pass plus the sample.
use super::corpus::{BadDocument, Corpus};
use super::select::{Calibration, Candidate, Selected, SelectionConfig, UnitSelector, unit_rng};
use super::windows::{Window, Windower};
use super::{ExtractError, Result};
use crate::dataset::manifest::{CorpusInfo, SubjectModel as SubjectInfo};
use crate::dataset::{
    DatasetWriter, Manifest, NewRecord, NewUnit, Sample, SelectionParams, UnitKind, UnitStats,
    WriterOptions,
};
use crate::model::{self, HookPoint, HookSite, SubjectModel, TextTokenizer};
use rand::SeedableRng;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone)]
pub struct ExtractConfig {
    pub model_dir: PathBuf,
    pub corpus: PathBuf,
    /// JSONL field or Parquet column holding the text.
    pub text_field: String,
    pub layers: Vec<u32>,
    pub site: HookSite,
    pub out: PathBuf,
    pub window_tokens: usize,
    pub batch_size: usize,
    pub device: Device,
    pub selection: SelectionConfig,
    /// Windows the model sees in the calibration pass.
    pub calibration_windows: usize,
}

/// Progress reports, for a progress bar.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Pass 0 is done: the work ahead, in tokens through the model.
    Planned { windows: u64, model_tokens: u64 },
    /// More tokens went through the model.
    Tokens(u64),
    /// The selection is being written.
    Writing,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ExtractReport {
    pub documents: u64,
    pub windows: u64,
    pub tokens: u64,
    pub units: u64,
    pub records: u64,
    #[serde(skip)]
    pub bad_documents: Vec<BadDocument>,
}

/// Calls `visit` for every window of the corpus, in order, with its index.
fn for_each_window(
    corpus: &Corpus,
    windower: &Windower,
    mut bad: impl FnMut(BadDocument),
    mut visit: impl FnMut(u64, Window) -> Result<()>,
) -> Result<()> {
    let mut index = 0u64;
    corpus.for_each(|doc| {
        match doc {
            Ok(doc) => {
                for window in windower.split(&doc)? {
                    visit(index, window)?;
                    index += 1;
                }
            }
            Err(b) => bad(b),
        }
        Ok(())
    })
}

/// Windows pooled before batching. Fixed, so the order in which units see
/// windows (and so the selection) does not depend on the batch size.
const POOL_WINDOWS: usize = 1024;

/// Groups windows of similar length into batches, so that little compute goes
/// to padding (short documents make many short windows).
struct Batcher {
    pool: Vec<(u64, Window)>,
    batch_size: usize,
}

impl Batcher {
    fn new(batch_size: usize) -> Self {
        Self {
            pool: Vec::with_capacity(POOL_WINDOWS),
            batch_size: batch_size.max(1),
        }
    }

    fn push(
        &mut self,
        index: u64,
        window: Window,
        run: &mut impl FnMut(&[(u64, Window)]) -> Result<()>,
    ) -> Result<()> {
        self.pool.push((index, window));
        if self.pool.len() >= POOL_WINDOWS {
            self.flush(run)?;
        }
        Ok(())
    }

    fn flush(&mut self, run: &mut impl FnMut(&[(u64, Window)]) -> Result<()>) -> Result<()> {
        self.pool.sort_by_key(|(i, w)| (w.ids.len(), *i));
        for batch in self.pool.chunks(self.batch_size) {
            run(batch)?;
        }
        self.pool.clear();
        Ok(())
    }
}

/// Runs a batch and returns, per hook, activations laid out `[window][unit][token]`.
fn activations(
    model: &dyn SubjectModel,
    batch: &[(u64, Window)],
    hooks: &[HookPoint],
    device: Device,
) -> Result<Vec<Vec<f32>>> {
    let longest = batch.iter().map(|(_, w)| w.ids.len()).max().unwrap_or(0);
    let mut ids = vec![0i64; batch.len() * longest];
    let mut mask = vec![0i64; batch.len() * longest];
    for (b, (_, w)) in batch.iter().enumerate() {
        ids[b * longest..b * longest + w.ids.len()].copy_from_slice(&w.ids);
        mask[b * longest..b * longest + w.ids.len()].fill(1);
    }
    let shape = [batch.len() as i64, longest as i64];
    let ids = Tensor::from_slice(&ids).view(shape).to_device(device);
    let mask = Tensor::from_slice(&mask).view(shape).to_device(device);
    let outputs = tch::no_grad(|| model.forward(&ids, &mask, hooks))?;
    outputs
        .into_iter()
        .map(|t| {
            let t = t
                .transpose(1, 2)
                .to_kind(Kind::Float)
                .to_device(Device::Cpu)
                .contiguous();
            Ok(Vec::<f32>::try_from(t.flatten(0, -1))?)
        })
        .collect()
}

/// Feeds every window of `batch` for every unit to `observe(unit, window, acts)`.
fn dispatch(
    batch: &[(u64, Window)],
    per_hook: &[Vec<f32>],
    width: usize,
    mut observe: impl FnMut(usize, u64, &[f32]),
) {
    let longest = batch.iter().map(|(_, w)| w.ids.len()).max().unwrap_or(0);
    for (h, acts) in per_hook.iter().enumerate() {
        for (b, (index, w)) in batch.iter().enumerate() {
            for u in 0..width {
                let start = (b * width + u) * longest;
                observe(h * width + u, *index, &acts[start..start + w.ids.len()]);
            }
        }
    }
}

pub fn extract(
    config: &ExtractConfig,
    mut progress: impl FnMut(Progress),
) -> Result<ExtractReport> {
    let model = model::load(&config.model_dir, config.device)?;
    let tokenizer = TextTokenizer::load(&config.model_dir)?;
    let windower = Windower::new(&tokenizer, config.window_tokens)?;
    let corpus = Corpus::open(&config.corpus, &config.text_field)?;
    let layers = model.config().num_layers;
    if config.layers.is_empty() {
        return Err(ExtractError::Input {
            what: "--layers".into(),
            problem: "no layers given".into(),
        });
    }
    if let Some(bad) = config.layers.iter().find(|&&l| l >= layers) {
        return Err(ExtractError::Input {
            what: "--layers".into(),
            problem: format!("layer {bad} does not exist (the model has {layers})"),
        });
    }
    let hooks: Vec<HookPoint> = config
        .layers
        .iter()
        .map(|&layer| HookPoint {
            layer,
            site: config.site,
        })
        .collect();
    let width = model.width(config.site) as usize;
    let units = hooks.len() * width;
    let seed = config.selection.seed;

    // Pass 0: count.
    let mut report = ExtractReport::default();
    let mut documents = HashSet::new();
    for_each_window(
        &corpus,
        &windower,
        |b| report.bad_documents.push(b),
        |_, w| {
            documents.insert(w.document_id);
            report.windows += 1;
            report.tokens += w.ids.len() as u64;
            Ok(())
        },
    )?;
    report.documents = documents.len() as u64;
    if report.windows == 0 {
        return Err(ExtractError::Input {
            what: config.corpus.display().to_string(),
            problem: "the corpus has no text".into(),
        });
    }
    let mut sampler = rand::rngs::SmallRng::seed_from_u64(seed);
    let sample: HashSet<u64> = rand::seq::index::sample(
        &mut sampler,
        report.windows as usize,
        config.calibration_windows.min(report.windows as usize),
    )
    .into_iter()
    .map(|i| i as u64)
    .collect();
    let sample_tokens = sample.len() as u64 * config.window_tokens as u64;
    progress(Progress::Planned {
        windows: report.windows,
        model_tokens: report.tokens + sample_tokens.min(report.tokens),
    });

    // Pass 1: calibrate on the sample.
    let mut calibrations: Vec<Calibration> = (0..units).map(|_| Calibration::new()).collect();
    let mut rngs: Vec<_> = (0..units as u64).map(|u| unit_rng(seed, u, 0)).collect();
    let mut run_calibration = |batch: &[(u64, Window)]| -> Result<()> {
        let acts = activations(model.as_ref(), batch, &hooks, config.device)?;
        dispatch(batch, &acts, width, |u, _, a| {
            calibrations[u].observe(&mut rngs[u], a)
        });
        progress(Progress::Tokens(
            batch.iter().map(|(_, w)| w.ids.len() as u64).sum(),
        ));
        Ok(())
    };
    let mut batcher = Batcher::new(config.batch_size);
    for_each_window(
        &corpus,
        &windower,
        |_| {},
        |i, w| {
            if sample.contains(&i) {
                batcher.push(i, w, &mut run_calibration)?;
            }
            Ok(())
        },
    )?;
    batcher.flush(&mut run_calibration)?;

    // Pass 2: select.
    let mut selectors: Vec<UnitSelector> = calibrations
        .iter()
        .enumerate()
        .map(|(u, c)| {
            UnitSelector::new(
                &config.selection,
                c,
                config.window_tokens,
                unit_rng(seed, u as u64, 1),
            )
        })
        .collect();
    drop(calibrations);
    let mut run_selection = |batch: &[(u64, Window)]| -> Result<()> {
        let acts = activations(model.as_ref(), batch, &hooks, config.device)?;
        dispatch(batch, &acts, width, |u, i, a| selectors[u].observe(i, a));
        progress(Progress::Tokens(
            batch.iter().map(|(_, w)| w.ids.len() as u64).sum(),
        ));
        Ok(())
    };
    for_each_window(
        &corpus,
        &windower,
        |_| {},
        |i, w| batcher.push(i, w, &mut run_selection),
    )?;
    batcher.flush(&mut run_selection)?;
    let selected: Vec<Selected> = selectors
        .into_iter()
        .map(|s| s.finish(config.selection.random_k))
        .collect();

    // Pass 3: the text of the selected windows.
    progress(Progress::Writing);
    let wanted: HashSet<u64> = selected
        .iter()
        .flat_map(|s| {
            s.top
                .iter()
                .chain(s.quantile.iter().flatten())
                .chain(&s.random)
        })
        .map(|c| c.window)
        .collect();
    let mut texts: HashMap<u64, Window> = HashMap::with_capacity(wanted.len());
    for_each_window(
        &corpus,
        &windower,
        |_| {},
        |i, w| {
            if wanted.contains(&i) {
                texts.insert(i, w);
            }
            Ok(())
        },
    )?;

    let mut writer = DatasetWriter::create(
        &config.out,
        manifest(config, model.as_ref(), &report),
        WriterOptions::default(),
    )?;
    for (u, s) in selected.into_iter().enumerate() {
        let record = |sample: Sample, rank: usize, c: Candidate| {
            let w = &texts[&c.window];
            NewRecord {
                sample,
                rank: rank as u32,
                document_id: Some(w.document_id),
                token_offset: Some(w.token_offset),
                tokens: w.tokens.clone(),
                activations: c.activations,
            }
        };
        let mut records: Vec<NewRecord> = Vec::new();
        records.extend(
            s.top
                .into_iter()
                .enumerate()
                .map(|(r, c)| record(Sample::Top, r, c)),
        );
        for (bin, samples) in s.quantile.into_iter().enumerate() {
            records.extend(
                samples
                    .into_iter()
                    .enumerate()
                    .map(|(r, c)| record(Sample::Quantile(bin as u32), r, c)),
            );
        }
        records.extend(
            s.random
                .into_iter()
                .enumerate()
                .map(|(r, c)| record(Sample::Random, r, c)),
        );
        report.records += records.len() as u64;
        let unit = NewUnit {
            layer: hooks[u / width].layer,
            index: (u % width) as u32,
            kind: UnitKind::Neuron,
            stats: UnitStats {
                max: s.max,
                mean: Some(s.mean),
                variance: Some(s.variance),
                density: Some(s.density),
                quantile_boundaries: s.quantile_boundaries,
                histogram_edges: s.histogram_edges,
                histogram_counts: s.histogram_counts,
            },
        };
        writer.add_unit(unit, records)?;
    }
    report.units = units as u64;
    writer.finish()?;
    Ok(report)
}

fn manifest(config: &ExtractConfig, model: &dyn SubjectModel, report: &ExtractReport) -> Manifest {
    let c = model.config();
    let name = |p: &std::path::Path| {
        p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    let mut m = Manifest::new();
    m.subject_model = Some(SubjectInfo {
        name: name(&config.model_dir),
        architecture: Some(c.architecture.as_str().into()),
        layers: Some(c.num_layers),
    });
    m.hook_point = Some(config.site.as_str().into());
    m.corpus = Some(CorpusInfo {
        name: name(&config.corpus),
        source: Some(config.corpus.display().to_string()),
        documents: Some(report.documents),
        tokens: Some(report.tokens),
    });
    m.window_tokens = Some(config.window_tokens as u32);
    let s = &config.selection;
    m.selection = Some(SelectionParams {
        top_k: s.top_k as u32,
        random_k: s.random_k as u32,
        quantile_levels: s.quantile_levels.clone(),
        quantile_k: s.quantile_k as u32,
        seed: Some(s.seed),
    });
    m
}
