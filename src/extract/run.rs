//! The extraction passes. Pass 0 (tokenizer only) counts the windows and
//! draws a seeded sample of them, keeping the sample's windows; pass 1 runs
//! the model on the sample to estimate each unit's quantile boundaries and
//! range, keeping the sample's activations in a spill file when they fit
//! (spill.rs); pass 2 selects, from the spilled sample and then from the
//! model over every other window (or over every window, when the sample
//! was too large to keep); pass 3 (tokenizer only) collects the text of the
//! selected windows. Model work is thus one pass over the corpus (plus the
//! sample again, without a spill file). In passes 1 and 2 the selection
//! reads each batch on a thread of its own while the model computes the
//! next (overlap.rs), and the corpus is tokenised ahead on another.
use super::groups::{SourceBatch, UnitGroup, for_each_group_window, unit_groups};
use super::overlap::{BatchActivations, overlapped};
use super::select::{
    Calibration, Candidate, Reservoir, Selected, SelectionConfig, TokenStats, UnitSelector,
    unit_rng,
};
use super::spill::{SPILL_LIMIT, Spill};
use super::{ExtractError, Result};
use crate::activations::{
    BadDocument, Batcher, Corpus, Progress, Window, Windower, display_name, for_each_batch_of,
    for_each_window, forward_windows,
};
use crate::dataset::manifest::{
    CorpusInfo, DictionaryInfo, SubjectModel as SubjectInfo, UnitSourceInfo,
};
use crate::dataset::{
    DatasetWriter, Manifest, NewRecord, NewUnit, Sample, UnitKind, UnitStats, WriterOptions,
};
use crate::model::{self, HookPoint, HookSite, SubjectModel, TextTokenizer};
use crate::sae::Dictionary;
use rand::SeedableRng;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Dictionary checkpoints whose features become units too, each read at
    /// its own hook point (`hook_name` in its cfg.json).
    pub dictionaries: Vec<PathBuf>,
    /// The most bytes of calibration activations kept in a file for the
    /// main pass (above it the sample runs through the model again).
    pub spill_limit: u64,
    /// Write each unit's logit effects too, when the model is causal.
    pub logit_effects: bool,
}

impl ExtractConfig {
    /// The extraction that made the dataset described by `manifest`, again,
    /// into `out`, with the features of `extra` dictionaries added: after a
    /// new SAE is trained, this puts its features beside the dataset's units.
    pub fn repeat(manifest: &Manifest, out: PathBuf, extra: &[PathBuf]) -> Result<Self> {
        let unrecorded = |field: &str| ExtractError::Input {
            what: "manifest.json".into(),
            problem: format!(
                "no {field}: the dataset does not record how it was extracted \
                 (only datasets written by `featurescope extract` do)"
            ),
        };
        let model_dir = manifest
            .subject_model
            .as_ref()
            .and_then(|m| m.source.clone())
            .ok_or_else(|| unrecorded("subject_model.source"))?;
        let corpus = manifest.corpus.as_ref();
        let corpus_path = corpus
            .and_then(|c| c.source.clone())
            .ok_or_else(|| unrecorded("corpus.source"))?;
        if manifest.sources.is_empty() {
            return Err(unrecorded("sources"));
        }
        let (mut layers, mut sites, mut dictionaries) = (Vec::new(), Vec::new(), Vec::new());
        for source in &manifest.sources {
            match &source.dictionary {
                Some(d) => dictionaries.push(PathBuf::from(
                    d.source
                        .clone()
                        .ok_or_else(|| unrecorded("dictionary source"))?,
                )),
                None => {
                    let hook =
                        HookPoint::parse(&source.hook).ok_or_else(|| ExtractError::Input {
                            what: format!("manifest.json: source hook {:?}", source.hook),
                            problem: "not a hook name like blocks.3.mlp".into(),
                        })?;
                    layers.push(hook.layer);
                    sites.push(hook.site);
                }
            }
        }
        sites.dedup();
        let site = match sites.as_slice() {
            [] => HookSite::Mlp,
            [site] => *site,
            _ => {
                return Err(ExtractError::Input {
                    what: "manifest.json: sources".into(),
                    problem: "neurons from several hook sites; extraction reads one".into(),
                });
            }
        };
        for dictionary in extra {
            if !dictionaries.contains(dictionary) {
                dictionaries.push(dictionary.clone());
            }
        }
        let mut selection = SelectionConfig::default();
        if let Some(s) = &manifest.selection {
            selection.top_k = s.top_k as usize;
            selection.random_k = s.random_k as usize;
            selection.quantile_k = s.quantile_k as usize;
            selection.quantile_levels = s.quantile_levels.clone();
            selection.seed = s.seed.unwrap_or(selection.seed);
        }
        Ok(Self {
            model_dir: model_dir.into(),
            corpus: corpus_path.into(),
            text_field: corpus
                .and_then(|c| c.text_field.clone())
                .unwrap_or_else(|| "text".into()),
            layers,
            site,
            out,
            window_tokens: manifest.window_tokens.unwrap_or(64) as usize,
            batch_size: 32,
            device: Device::Cpu,
            selection,
            calibration_windows: 1024,
            dictionaries,
            spill_limit: SPILL_LIMIT,
            logit_effects: true,
        })
    }
}

/// Where a group of units comes from: a hook's neurons, or a dictionary's
/// features at its hook.
struct UnitSource {
    hook: HookPoint,
    kind: UnitKind,
    width: usize,
    dictionary: Option<(PathBuf, Dictionary)>,
}

impl UnitSource {
    /// This source's activations of a batch, `[window, token, unit]`.
    fn activations(&self, hook_output: &Tensor) -> Tensor {
        match &self.dictionary {
            Some((_, d)) => d.encode(hook_output),
            None => hook_output.shallow_clone(),
        }
    }
}

fn unit_sources(config: &ExtractConfig, model: &dyn SubjectModel) -> Result<Vec<UnitSource>> {
    let model_config = model.config();
    if config.layers.is_empty() && config.dictionaries.is_empty() {
        return Err(ExtractError::Input {
            what: "--layers".into(),
            problem: "no layers given".into(),
        });
    }
    for &layer in &config.layers {
        model_config
            .check_layer(layer)
            .map_err(|e| ExtractError::Input {
                what: "--layers".into(),
                problem: e.to_string(),
            })?;
    }
    let mut sources: Vec<UnitSource> = config
        .layers
        .iter()
        .map(|&layer| UnitSource {
            hook: HookPoint {
                layer,
                site: config.site,
            },
            kind: UnitKind::Neuron,
            width: model.width(config.site) as usize,
            dictionary: None,
        })
        .collect();
    for path in &config.dictionaries {
        let bad = |problem: String| ExtractError::Input {
            what: format!("--dictionary {}", path.display()),
            problem,
        };
        let dictionary = Dictionary::load(path)
            .map_err(|e| bad(e.to_string()))?
            .to_device(config.device);
        let hook = dictionary.hook.ok_or_else(|| {
            bad(
                "its cfg.json names no hook point featurescope can read (metadata.hook_name)"
                    .into(),
            )
        })?;
        model_config
            .check_layer(hook.layer)
            .map_err(|e| bad(e.to_string()))?;
        let width = model.width(hook.site);
        if dictionary.d_in() != width {
            return Err(bad(format!(
                "d_in is {}, but {hook} of this model has width {width}",
                dictionary.d_in()
            )));
        }
        sources.push(UnitSource {
            hook,
            kind: dictionary.kind,
            width: dictionary.d_sae() as usize,
            dictionary: Some((path.clone(), dictionary)),
        });
    }
    Ok(sources)
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

/// Runs a batch: each unit source's activations.
fn activations(
    model: &dyn SubjectModel,
    batch: &[(u64, Window)],
    sources: &[UnitSource],
    hooks: &[HookPoint],
    device: Device,
) -> Result<Vec<SourceBatch>> {
    let outputs = forward_windows(model, batch, hooks, device)?;
    sources
        .iter()
        .map(|source| {
            let output = &outputs[hooks
                .iter()
                .position(|h| *h == source.hook)
                .expect("hook run")];
            let t = tch::no_grad(|| source.activations(output))
                .to_kind(Kind::Float)
                .to_device(Device::Cpu)
                .contiguous();
            Ok(SourceBatch {
                longest: t.size()[1] as usize,
                width: source.width,
                values: Vec::<f32>::try_from(t.flatten(0, -1))?,
            })
        })
        .collect()
}

/// Stops the model's side of a pass once the selection has gone (it
/// panicked; `overlapped` passes the panic on, so this error is not seen).
fn stop_unless(selection_listens: bool) -> Result<()> {
    if selection_listens {
        Ok(())
    } else {
        Err(ExtractError::Cancelled)
    }
}

/// Runs the extraction; setting `cancel` stops it at the next batch, before
/// anything is written. For a causal model (unless `logit_effects` is off)
/// each unit's logit effects are then written into the new dataset.
pub fn extract(
    config: &ExtractConfig,
    cancel: &AtomicBool,
    progress: impl FnMut(Progress),
) -> Result<ExtractReport> {
    let report = extract_dataset(config, cancel, progress)?;
    let causal = crate::model::ModelConfig::read(&config.model_dir)?.architecture
        != crate::model::Architecture::Bert;
    if config.logit_effects && causal {
        let dataset = crate::dataset::Dataset::open(&config.out)?;
        let effects = crate::experiment::logit_effects::compute(
            &dataset,
            Some(&config.model_dir),
            crate::experiment::logit_effects::TOKENS,
            config.device,
        )
        .map_err(|e| ExtractError::LogitEffects(Box::new(e)))?;
        if let Some(effects) = effects {
            dataset.write_logit_effects(&effects)?;
        }
    }
    Ok(report)
}

fn extract_dataset(
    config: &ExtractConfig,
    cancel: &AtomicBool,
    mut progress: impl FnMut(Progress),
) -> Result<ExtractReport> {
    let check_cancel = || {
        if cancel.load(Ordering::Relaxed) {
            Err(ExtractError::Cancelled)
        } else {
            Ok(())
        }
    };
    let model = model::load(&config.model_dir, config.device)?;
    let tokenizer = TextTokenizer::load(&config.model_dir)?;
    let windower = Windower::new(&tokenizer, config.window_tokens)?;
    let corpus = Corpus::open(&config.corpus, &config.text_field)?;
    let sources = unit_sources(config, model.as_ref())?;
    let mut hooks: Vec<HookPoint> = sources.iter().map(|s| s.hook).collect();
    hooks.sort();
    hooks.dedup();
    let units: usize = sources.iter().map(|s| s.width).sum();
    let seed = config.selection.seed;

    // Pass 0: count, and draw the calibration sample as the windows go by
    // (a seeded reservoir), keeping its windows, so that the calibration
    // pass does not read and tokenise the corpus again to find them.
    let mut report = ExtractReport::default();
    let mut documents = HashSet::new();
    let mut sampler = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut reservoir = Reservoir::new(config.calibration_windows);
    let mut sample_windows: Vec<(u64, Window)> = Vec::new();
    for_each_window::<ExtractError>(
        &corpus,
        &windower,
        |b| report.bad_documents.push(b),
        |i, w| {
            documents.insert(w.document_id);
            report.windows += 1;
            report.tokens += w.ids.len() as u64;
            match reservoir.offer(&mut sampler) {
                Some(slot) if slot == sample_windows.len() => sample_windows.push((i, w)),
                Some(slot) => sample_windows[slot] = (i, w),
                None => {}
            }
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
    // In corpus order, as the main pass meets windows.
    sample_windows.sort_by_key(|(i, _)| *i);
    let sample: HashSet<u64> = sample_windows.iter().map(|(i, _)| *i).collect();
    // At most this many bytes of activations for the sample (padding included).
    let sample_bytes = sample.len() as u64 * config.window_tokens as u64 * units as u64 * 4;
    // Without a spill file (too large, or not writable) the sample runs again.
    let mut spill = if sample_bytes <= config.spill_limit {
        Spill::create(&config.out).ok()
    } else {
        None
    };
    let sample_tokens = sample.len() as u64 * config.window_tokens as u64;
    progress(Progress::Planned {
        windows: report.windows,
        model_tokens: match spill {
            Some(_) => report.tokens,
            None => report.tokens + sample_tokens.min(report.tokens),
        },
    });
    // The model's side of a pass: a batch's activations, sent on to the
    // selection.
    let forward = |batch: &[(u64, Window)],
                   send: &mut dyn FnMut(BatchActivations) -> bool,
                   progress: &mut dyn FnMut(Progress)|
     -> Result<()> {
        check_cancel()?;
        let acts = activations(model.as_ref(), batch, &sources, &hooks, config.device)?;
        progress(Progress::Tokens(
            batch.iter().map(|(_, w)| w.ids.len() as u64).sum(),
        ));
        let spans = batch.iter().map(|(i, w)| (*i, w.ids.len())).collect();
        stop_unless(send((spans, acts)))
    };
    // The sample, in the batches the main pass would make of it.
    let forward_sample = |send: &mut dyn FnMut(BatchActivations) -> bool,
                          progress: &mut dyn FnMut(Progress)| {
        let mut batcher = Batcher::new(config.batch_size);
        let mut run = |batch: &[(u64, Window)]| forward(batch, send, progress);
        for (i, w) in &sample_windows {
            batcher.push(*i, w.clone(), &mut run)?;
        }
        batcher.flush(&mut run)
    };
    let widths: Vec<usize> = sources.iter().map(|s| s.width).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());

    // Pass 1: calibrate on the sample.
    let mut calibrations = unit_groups(&widths, threads, |u| {
        (Calibration::new(), unit_rng(seed, u as u64, 0))
    });
    overlapped(
        |send| forward_sample(send, &mut progress),
        |(spans, acts)| {
            for_each_group_window(
                &mut calibrations,
                &spans,
                &acts,
                |group, b, (_, len), source| {
                    group.extremes.of_window(source.rows(b, len, group.units()));
                    let extremes = &group.extremes;
                    for (k, (calibration, rng)) in group.state.iter_mut().enumerate() {
                        calibration.observe_window(rng, extremes.max[k], extremes.min[k]);
                    }
                },
            );
            if let Some(file) = &mut spill
                && file.write(&spans, &acts).is_err()
            {
                spill = None; // removes what was written; the sample runs again
            }
        },
    )?;

    // Pass 2: select, from the sample first (spilled, or run again in the
    // same batches), then from the model over the other windows: the same
    // order either way.
    let mut selectors: Vec<UnitGroup<UnitSelector>> = calibrations
        .into_iter()
        .map(|group| {
            let group = group.map(|unit, (calibration, _)| {
                UnitSelector::new(
                    &config.selection,
                    &calibration,
                    config.window_tokens,
                    unit_rng(seed, unit as u64, 1),
                )
            });
            UnitGroup {
                stats: Some(TokenStats::new(&group.state)),
                ..group
            }
        })
        .collect();
    overlapped(
        |send| {
            match spill {
                Some(spill) => spill.read_each(&widths, |batch| {
                    check_cancel()?;
                    stop_unless(send(batch))
                })?,
                None => forward_sample(send, &mut progress)?,
            }
            for_each_batch_of(
                &corpus,
                &windower,
                config.batch_size,
                |i| !sample.contains(&i),
                |batch| forward(batch, send, &mut progress),
            )
        },
        |(spans, acts)| {
            for_each_group_window(
                &mut selectors,
                &spans,
                &acts,
                |group, b, (index, len), source| {
                    let units = group.units();
                    group.extremes.of_window(source.rows(b, len, units.clone()));
                    if let Some(stats) = &mut group.stats {
                        source
                            .rows(b, len, units)
                            .for_each(|row| stats.add_row(row));
                    }
                    let extremes = &group.extremes;
                    for (k, selector) in group.state.iter_mut().enumerate() {
                        let unit = source.unit(b, len, group.first + k);
                        selector.observe_window(index, extremes.max[k], extremes.min[k], unit);
                    }
                },
            );
        },
    )?;
    check_cancel()?;
    let selected: Vec<Selected> = selectors
        .into_iter()
        .flat_map(|group| {
            let stats = group.stats.expect("the main pass keeps totals");
            group
                .state
                .into_iter()
                .enumerate()
                .map(move |(k, s)| s.finish(config.selection.random_k, stats.unit(k)))
        })
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
    for_each_window::<ExtractError>(
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
        manifest(config, model.as_ref(), &sources, &report),
        WriterOptions::default(),
    )?;
    let (unit_source, unit_index): (Vec<&UnitSource>, Vec<u32>) = sources
        .iter()
        .flat_map(|source| (0..source.width as u32).map(move |i| (source, i)))
        .unzip();
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
            layer: unit_source[u].hook.layer,
            index: unit_index[u],
            kind: unit_source[u].kind,
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

fn manifest(
    config: &ExtractConfig,
    model: &dyn SubjectModel,
    sources: &[UnitSource],
    report: &ExtractReport,
) -> Manifest {
    let c = model.config();
    let name = display_name;
    let mut m = Manifest::new();
    m.subject_model = Some(SubjectInfo {
        name: name(&config.model_dir),
        architecture: Some(c.architecture.as_str().into()),
        layers: Some(c.num_layers),
        source: Some(config.model_dir.display().to_string()),
    });
    let mut first_unit_id = 0u64;
    m.sources = sources
        .iter()
        .map(|source| {
            let info = UnitSourceInfo {
                kind: source.kind,
                hook: source.hook.to_string(),
                layer: source.hook.layer,
                first_unit_id,
                units: source.width as u64,
                dictionary: source.dictionary.as_ref().map(|(path, d)| DictionaryInfo {
                    kind: d.kind.as_str().into(),
                    source: Some(path.display().to_string()),
                    d_in: Some(d.d_in() as u32),
                    d_hidden: Some(d.d_sae() as u32),
                }),
            };
            first_unit_id += source.width as u64;
            info
        })
        .collect();
    let mut sites: Vec<&str> = sources.iter().map(|s| s.hook.site.as_str()).collect();
    sites.dedup();
    if let [site] = sites.as_slice() {
        m.hook_point = Some((*site).into());
    }
    if let [only] = m.sources.as_slice() {
        m.dictionary = only.dictionary.clone();
    }
    m.corpus = Some(CorpusInfo {
        name: name(&config.corpus),
        source: Some(config.corpus.display().to_string()),
        documents: Some(report.documents),
        tokens: Some(report.tokens),
        text_field: Some(config.text_field.clone()),
    });
    m.window_tokens = Some(config.window_tokens as u32);
    m.selection = Some(config.selection.params());
    m
}
