//! A dataset in Neuronpedia's export layout (what
//! `import::neuronpedia` reads): per source,
//! `v1/{modelId}/{sourceId}/{features,activations,explanations,explanation_scores}/batch-N.jsonl.gz`,
//! a batch per 1,024 unit indices, the rows in the columns of Neuronpedia's
//! database tables, and beside them the SAELens-format dictionary of each
//! dictionary source, so that uploading our SAE is one step. What Neuronpedia
//! has no column for (a record's sample and rank, a unit's moments) travels
//! in each row's `featurescope` object, so our import of this export gives
//! the dataset back whole. `docs/interop.md` maps every field.
use super::{ExportError, Result, io};
use crate::dataset::format_rfc3339_ms;
use crate::dataset::manifest::DictionaryInfo;
use crate::dataset::{Dataset, Explanation, LogitEffect, Record, Sample, Score, Unit};
use crate::import::neuronpedia::{OURS, SCORE_TYPES, SCORES_FOLDER};
use crate::sae::dictionary::{CONFIG_FILE, WEIGHTS_FILE};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Units per batch file, as Neuronpedia's exporter writes them.
const BATCH_UNITS: u32 = 1024;

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct NeuronpediaExport {
    pub model_id: String,
    /// `v1/{modelId}/{sourceId}` of each source written.
    pub sources: Vec<String>,
    pub units: u64,
    pub records: u64,
    pub explanations: u64,
    pub scores: u64,
    /// SAELens folders copied, `saelens/{sourceId}`.
    pub dictionaries: Vec<PathBuf>,
    /// Dictionaries the manifest names that could not be found.
    pub dictionaries_missing: Vec<String>,
}

/// Lowercase letters, digits, `.` and `_`, the rest `-`: a path segment
/// Neuronpedia's ids allow.
fn slug(text: &str) -> String {
    let mapped: String = (text.chars())
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '.' | '_') => c,
            _ => '-',
        })
        .collect();
    let joined = mapped
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if joined.is_empty() {
        "units".into()
    } else {
        joined
    }
}

/// The creator and author Neuronpedia's tables require, as its exporter
/// puts a placeholder in their place.
const CREATOR: &str = "featurescope";

/// Where units go: a folder per source, named `{layer}-{kind}-{hook}`
/// (read back by `import::neuronpedia::source_layer_and_kind`), with a
/// number after it where two sources would share a name.
#[derive(Debug, Clone)]
struct Source {
    id: String,
    set_name: String,
    hook: String,
    kind: String,
    dictionary: Option<DictionaryInfo>,
}

#[derive(Default)]
struct Sources {
    /// By the manifest source's position, or, for units outside any, by
    /// (layer, kind).
    named: HashMap<(Option<usize>, u32, String), Source>,
    taken: HashSet<String>,
}

impl Sources {
    fn of(&mut self, dataset: &Dataset, unit: &Unit) -> Source {
        let manifest = dataset.manifest();
        let found = manifest.source_of(unit.unit_id);
        let key = (found.map(|(i, _)| i), unit.layer, unit.kind.to_string());
        if let Some(source) = self.named.get(&key) {
            return source.clone();
        }
        let (hook, dictionary) = match found {
            Some((_, s)) => (s.hook.clone(), s.dictionary.clone()),
            None => (
                manifest
                    .hook_point
                    .clone()
                    .unwrap_or_else(|| "units".into()),
                None,
            ),
        };
        let base = format!("{}-{}", unit.kind, slug(&hook));
        let mut set_name = base.clone();
        for n in 2.. {
            if !self.taken.contains(&format!("{}-{set_name}", unit.layer)) {
                break;
            }
            set_name = format!("{base}-{n}");
        }
        let source = Source {
            id: format!("{}-{set_name}", unit.layer),
            set_name,
            hook,
            kind: unit.kind.to_string(),
            dictionary,
        };
        self.taken.insert(source.id.clone());
        self.named.insert(key, source.clone());
        source
    }
}

/// The rows of one source folder, by table and batch.
struct Folder {
    source: Source,
    rows: BTreeMap<(&'static str, u32), Vec<Value>>,
}

impl Folder {
    fn push(&mut self, table: &'static str, index: u32, row: Value) {
        (self.rows.entry((table, index / BATCH_UNITS)).or_default()).push(row);
    }
}

fn feature_row(model: &str, source: &Source, unit: &Unit, effect: Option<&LogitEffect>) -> Value {
    let s = &unit.stats;
    let centres: Vec<f64> = s
        .histogram_edges
        .windows(2)
        .map(|w| (w[0] + w[1]) / 2.0)
        .collect();
    let (raised, lowered) = effect.map_or((&[][..], &[][..]), |e| (&e.raised[..], &e.lowered[..]));
    json!({
        "modelId": model,
        "layer": source.id,
        "index": unit.index.to_string(),
        "creatorId": CREATOR,
        "hookName": source.hook,
        "sourceSetName": source.set_name,
        "maxActApprox": s.max,
        "frac_nonzero": s.density,
        "freq_hist_data_bar_values": centres,
        "freq_hist_data_bar_heights": s.histogram_counts,
        "pos_str": raised.iter().map(|t| &t.token).collect::<Vec<_>>(),
        "pos_values": raised.iter().map(|t| t.effect).collect::<Vec<_>>(),
        "neg_str": lowered.iter().map(|t| &t.token).collect::<Vec<_>>(),
        "neg_values": lowered.iter().map(|t| t.effect).collect::<Vec<_>>(),
        OURS: {
            "mean": s.mean,
            "variance": s.variance,
            "quantile_boundaries": s.quantile_boundaries,
            "histogram_edges": s.histogram_edges,
        },
    })
}

/// The interval Neuronpedia shows a record under: -1 and the maximum for
/// the top group, the bin's edges for a quantile bin (the next bin's lower
/// edge, or the maximum, above), none for random records.
fn bin_of(unit: &Unit, sample: Sample, levels: &[f64]) -> (Option<f64>, Option<f64>, Option<f64>) {
    let b = &unit.stats.quantile_boundaries;
    match sample {
        Sample::Top => (Some(-1.0), Some(unit.stats.max), Some(-1.0)),
        Sample::Quantile(bin) => {
            let bin = bin as usize;
            let upper = b.get(bin + 1).copied().unwrap_or(unit.stats.max);
            let share = levels
                .get(bin)
                .map(|lo| levels.get(bin + 1).unwrap_or(&1.0) - lo);
            (b.get(bin).copied(), Some(upper), share)
        }
        Sample::Random => (None, None, None),
    }
}

fn activation_row(
    model: &str,
    source: &str,
    unit: &Unit,
    record: &Record,
    id: &str,
    levels: &[f64],
) -> Value {
    let (at, max) =
        (record.activations.iter().enumerate()).fold((0, f32::NEG_INFINITY), |best, (i, &a)| {
            if a > best.1 { (i, a) } else { best }
        });
    let min = record
        .activations
        .iter()
        .copied()
        .fold(f32::INFINITY, f32::min);
    let (bin_min, bin_max, bin_contains) = bin_of(unit, record.sample, levels);
    json!({
        "id": id,
        "modelId": model,
        "layer": source,
        "index": unit.index.to_string(),
        "creatorId": CREATOR,
        "tokens": record.tokens,
        "values": record.activations,
        "maxValue": max,
        "minValue": min,
        "maxValueTokenIndex": at,
        "binMin": bin_min,
        "binMax": bin_max,
        "binContains": bin_contains,
        "dataIndex": record.document_id,
        OURS: {
            "sample": record.sample.kind_str(),
            "bin": record.sample.quantile_bin(),
            "rank": record.rank,
            "token_offset": record.token_offset,
        },
    })
}

fn explanation_row(
    model: &str,
    source: &str,
    unit: &Unit,
    e: &Explanation,
    activation_id: &dyn Fn(u64) -> String,
) -> Value {
    json!({
        "id": e.explanation_id,
        "modelId": model,
        "layer": source,
        "index": unit.index.to_string(),
        "authorId": CREATOR,
        "description": e.text,
        "typeName": e.method,
        "explanationModelName": e.explainer_model,
        "createdAt": format_rfc3339_ms(e.created_at_ms),
        OURS: {
            "parent_id": e.parent_id,
            "evidence_activation_ids": e.evidence_record_ids.iter().map(|&r| activation_id(r)).collect::<Vec<_>>(),
        },
    })
}

/// A row of Neuronpedia's `ExplanationScore`; what it has no column for
/// goes in its `jsonDetails` text.
fn score_row(s: &Score, activation_id: &dyn Fn(u64) -> String) -> Value {
    let kind = (SCORE_TYPES.iter())
        .find(|(_, ours)| *ours == s.method)
        .map_or(s.method.as_str(), |(theirs, _)| theirs);
    let details = json!({
        "record_set": s.record_set,
        "r_squared": s.r_squared,
        "absolute_dev_explained": s.absolute_dev_explained,
        "activation_ids": s.record_ids.iter().map(|&r| activation_id(r)).collect::<Vec<_>>(),
        "simulated": s.simulated,
    });
    json!({
        "id": s.score_id,
        "explanationId": s.explanation_id,
        "value": s.score,
        "explanationScoreTypeName": kind,
        "explanationScoreModelName": s.simulator_model,
        "jsonDetails": details.to_string(),
        "createdAt": format_rfc3339_ms(s.created_at_ms),
    })
}

/// Writes `units` of `dataset` (each once) in Neuronpedia's export layout
/// into the folder `out` (built beside it and put in place whole; an
/// existing `out` is replaced only if it is an earlier export).
pub fn write_export(dataset: &Dataset, units: &[u64], out: &Path) -> Result<NeuronpediaExport> {
    let mut units = units.to_vec();
    units.sort_unstable();
    units.dedup();
    if units.is_empty() {
        return Err(ExportError::NoUnits);
    }
    super::write_folder(out, "neuronpedia", |dir| write_into(dataset, &units, dir))
}

fn write_into(dataset: &Dataset, units: &[u64], dir: &Path) -> Result<NeuronpediaExport> {
    let manifest = dataset.manifest();
    let model = slug(
        manifest
            .subject_model
            .as_ref()
            .map_or("unknown-model", |m| m.name.as_str()),
    );
    let levels: Vec<f64> = (manifest.selection.as_ref())
        .map(|s| s.quantile_levels.clone())
        .unwrap_or_default();
    // Activation ids are the record ids, under a prefix of this export so
    // that two exports uploaded to one Neuronpedia do not collide.
    let prefix = crate::dataset::new_id()[..12].to_owned();
    let activation_id = |record: u64| format!("{prefix}-{record}");
    let super::Annotations {
        mut explanations,
        mut scores,
        effects,
    } = super::Annotations::read(dataset)?;
    let mut report = NeuronpediaExport {
        model_id: model.clone(),
        ..NeuronpediaExport::default()
    };
    let mut sources = Sources::default();
    let mut folders: BTreeMap<String, Folder> = BTreeMap::new();
    let mut widest = 0;
    for &unit_id in units {
        let unit = dataset.unit(unit_id)?;
        let source = sources.of(dataset, &unit);
        let folder = (folders.entry(source.id.clone())).or_insert_with(|| Folder {
            source: source.clone(),
            rows: BTreeMap::new(),
        });
        let (i, id) = (unit.index, source.id.as_str());
        widest = widest.max(i + 1);
        folder.push(
            "features",
            i,
            feature_row(&model, &source, &unit, effects.get(&unit.unit_id)),
        );
        for record in dataset.records(unit.unit_id)? {
            let row = activation_row(
                &model,
                id,
                &unit,
                &record,
                &activation_id(record.record_id),
                &levels,
            );
            folder.push("activations", i, row);
            report.records += 1;
        }
        for e in explanations.remove(&unit.unit_id).unwrap_or_default() {
            folder.push(
                "explanations",
                i,
                explanation_row(&model, id, &unit, &e, &activation_id),
            );
            report.explanations += 1;
            for s in scores.remove(&e.explanation_id).unwrap_or_default() {
                folder.push(SCORES_FOLDER, i, score_row(&s, &activation_id));
                report.scores += 1;
            }
        }
        report.units += 1;
    }
    // Neuronpedia's Model row, with what its importer requires, and the
    // manifest's parts it has no column for.
    let subject = manifest.subject_model.as_ref();
    let model_row = json!({
        "id": model,
        "displayName": subject.map_or(model.as_str(), |m| m.name.as_str()),
        "layers": subject.and_then(|m| m.layers),
        "neuronsPerLayer": widest,
        "owner": CREATOR,
        "creatorId": CREATOR,
        OURS: {
            "subject_model": manifest.subject_model,
            "selection": manifest.selection,
            "window_tokens": manifest.window_tokens,
        },
    });
    for (id, folder) in folders {
        let base = dir.join("v1").join(&model).join(&id);
        write_source(&base, &model, &model_row, &folder)?;
        if let Some(path) = folder
            .source
            .dictionary
            .as_ref()
            .and_then(|d| d.source.as_ref())
        {
            let to = Path::new("saelens").join(&id);
            match copy_dictionary(Path::new(path), &dir.join(&to))? {
                true => report.dictionaries.push(to),
                false => report.dictionaries_missing.push(path.clone()),
            }
        }
        report.sources.push(format!("v1/{model}/{id}"));
    }
    Ok(report)
}

/// The source's table folders of gzip batches, and its plain
/// `model.jsonl`, `source.jsonl` and `sourceset.jsonl` as the exporter
/// leaves them.
fn write_source(base: &Path, model: &str, model_row: &Value, folder: &Folder) -> Result<()> {
    for ((table, batch), rows) in &folder.rows {
        let dir = base.join(table);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(format!("batch-{batch}.jsonl.gz"));
        let file = std::fs::File::create(&path).map_err(io(&path))?;
        let mut gz = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(file),
            flate2::Compression::default(),
        );
        for row in rows {
            writeln!(gz, "{row}").map_err(io(&path))?;
        }
        gz.finish().and_then(|mut w| w.flush()).map_err(io(&path))?;
    }
    let source = &folder.source;
    let plain = [
        ("model.jsonl", model_row.clone()),
        (
            "source.jsonl",
            json!({"id": source.id, "modelId": model, "setName": source.set_name, "creatorId": CREATOR,
                OURS: {"dictionary": source.dictionary}}),
        ),
        (
            "sourceset.jsonl",
            json!({"modelId": model, "name": source.set_name, "type": source.kind,
                "description": "exported by featurescope", "creatorName": CREATOR, "creatorId": CREATOR}),
        ),
    ];
    for (name, row) in plain {
        let path = base.join(name);
        std::fs::write(&path, format!("{row}\n")).map_err(io(&path))?;
    }
    Ok(())
}

/// Copies a dictionary's SAELens files (and its `sparsity.safetensors`,
/// when there is one); false when the folder is not there any more.
fn copy_dictionary(from: &Path, to: &Path) -> Result<bool> {
    if !from.join(CONFIG_FILE).is_file() || !from.join(WEIGHTS_FILE).is_file() {
        return Ok(false);
    }
    std::fs::create_dir_all(to).map_err(io(to))?;
    for name in [CONFIG_FILE, WEIGHTS_FILE, "sparsity.safetensors"] {
        let src = from.join(name);
        if src.is_file() {
            std::fs::copy(&src, to.join(name)).map_err(io(&src))?;
        }
    }
    Ok(true)
}
