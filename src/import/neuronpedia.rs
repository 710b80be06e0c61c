//! Import of a Neuronpedia export: the layout neuronpedia-utils'
//! `export-data.py` writes to the `neuronpedia-datasets` bucket,
//! `v1/{modelId}/{sourceId}/{features,activations,explanations}/batch-N.jsonl[.gz]`,
//! one JSON object a line, rows of its database tables (`Neuron`,
//! `Activation`, `Explanation` in `apps/webapp/prisma/schema.prisma`).
//! The bulk export holds no scores; rows of its `ExplanationScore` table are
//! read from an `explanation_scores/` folder, which our export writes.
//! Batches of different tables do not line up, so rows are grouped by
//! (`modelId`, `layer`, `index`), where `layer` is the source id
//! (`20-gemmascope-res-16k`) and `index` a string or a number.
//! `docs/interop.md` maps every field.
use super::ImportError;
use crate::dataset::{
    DatasetWriter, Explanation, LogitEffect, Manifest, NewRecord, NewUnit, Sample, Score,
    SelectionParams, TokenEffect, UnitKind, UnitStats, WriterOptions,
    manifest::{SubjectModel, UnitSourceInfo},
    new_id, now_ms,
};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The object in each row that carries what Neuronpedia has no column for
/// (a record's sample and rank, a unit's moments), so that our own export
/// comes back whole; Neuronpedia's importer reads named columns only and
/// passes over it.
pub const OURS: &str = "featurescope";
/// The folder of `ExplanationScore` rows.
pub const SCORES_FOLDER: &str = "explanation_scores";
/// Neuronpedia's score types and ours, where they are the same measure.
pub const SCORE_TYPES: [(&str, &str); 3] = [
    ("eleuther_fuzz", "fuzz"),
    ("eleuther_recall", "detection"),
    ("eleuther_embedding", "embedding"),
];

/// The tables of an export, told apart by the folder a file sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Table {
    Features,
    Activations,
    Explanations,
    Scores,
}

impl Table {
    /// Some sources hold several explanation folders
    /// (`explanations-gpt-4o-mini/`).
    fn of(path: &Path) -> Option<Table> {
        let folder = path.parent()?.file_name()?.to_str()?;
        match folder {
            "features" => Some(Self::Features),
            "activations" => Some(Self::Activations),
            SCORES_FOLDER => Some(Self::Scores),
            f if f.starts_with("explanations") => Some(Self::Explanations),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Features => "features",
            Self::Activations => "activations",
            Self::Explanations => "explanations",
            Self::Scores => SCORES_FOLDER,
        }
    }
}

/// What an import read, and what it could not use.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct NeuronpediaReport {
    pub units: u64,
    pub records: u64,
    pub explanations: u64,
    pub scores: u64,
    pub logit_effects: u64,
    /// Features that came without an activation (a unit needs a record).
    pub features_without_activations: u64,
    /// Explanations and scores of units or explanations that are not there.
    pub orphan_explanations: u64,
    pub orphan_scores: u64,
    /// `table.field`: how many rows carried a value we have no place for.
    pub unmapped_fields: BTreeMap<String, u64>,
    /// `.jsonl` files that are not one of the tables (`model.jsonl`, the
    /// `config/` lookup tables).
    pub files_not_read: Vec<PathBuf>,
}

fn invalid(path: &Path, problem: impl Into<String>) -> ImportError {
    ImportError::Invalid {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

/// One row, its fields taken out as they are mapped; what is left is reported.
struct Row<'a> {
    path: &'a Path,
    line: usize,
    fields: Map<String, Value>,
}

impl Row<'_> {
    fn error(&self, problem: impl std::fmt::Display) -> ImportError {
        invalid(self.path, format!("line {}: {problem}", self.line))
    }

    /// The field's value, `None` when absent or null.
    fn take(&mut self, field: &str) -> Option<Value> {
        self.fields.remove(field).filter(|v| !v.is_null())
    }

    fn wrong(&self, field: &str, wanted: &str, found: &Value) -> ImportError {
        let kind = match found {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "a list",
            Value::Object(_) => "an object",
        };
        self.error(format!("field `{field}` should be {wanted}, not {kind}"))
    }

    fn opt_string(&mut self, field: &str) -> Result<Option<String>, ImportError> {
        match self.take(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(field, "a string", &other)),
        }
    }

    fn string(&mut self, field: &str) -> Result<String, ImportError> {
        self.opt_string(field)?
            .ok_or_else(|| self.error(format!("missing field `{field}`")))
    }

    fn opt_number(&mut self, field: &str) -> Result<Option<f64>, ImportError> {
        match self.take(field) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(other) => Err(self.wrong(field, "a number", &other)),
        }
    }

    /// A list of numbers; absent or null is empty.
    fn numbers(&mut self, field: &str) -> Result<Vec<f64>, ImportError> {
        match self.take(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => (items.iter())
                .map(|v| v.as_f64())
                .collect::<Option<Vec<f64>>>()
                .ok_or_else(|| {
                    self.error(format!(
                        "field `{field}` holds a value that is not a number"
                    ))
                }),
            Some(other) => Err(self.wrong(field, "a list of numbers", &other)),
        }
    }

    fn strings(&mut self, field: &str) -> Result<Vec<String>, ImportError> {
        match self.take(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => (items.into_iter())
                .map(|v| match v {
                    Value::String(s) => Some(s),
                    _ => None,
                })
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| {
                    self.error(format!(
                        "field `{field}` holds a value that is not a string"
                    ))
                }),
            Some(other) => Err(self.wrong(field, "a list of strings", &other)),
        }
    }

    /// `index` is text in Neuronpedia's database and a number in files
    /// SAEDashboard converted.
    fn index(&mut self) -> Result<u32, ImportError> {
        let parsed = match self.take("index") {
            None => return Err(self.error("missing field `index`")),
            Some(Value::String(s)) => s.parse().ok(),
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Some(other) => return Err(self.wrong("index", "a string or a number", &other)),
        };
        parsed.ok_or_else(|| self.error("field `index` is not a whole number below 2^32"))
    }

    fn key(&mut self, model: &mut ModelId) -> Result<(String, u32), ImportError> {
        let model_id = self.string("modelId")?;
        model.check(&model_id, self)?;
        Ok((self.string("layer")?, self.index()?))
    }

    /// Our own object, when the row came from our export.
    fn ours(&mut self) -> Map<String, Value> {
        match self.take(OURS) {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// Counts the fields left that hold something.
    fn report_rest(self, table: Table, report: &mut NeuronpediaReport) {
        for (field, value) in self.fields {
            let empty = match &value {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                Value::Bool(b) => !b,
                Value::Number(_) => false,
            };
            if !empty {
                *(report.unmapped_fields)
                    .entry(format!("{}.{field}", table.name()))
                    .or_default() += 1;
            }
        }
    }
}

/// The one model an import holds.
#[derive(Default)]
struct ModelId(Option<(String, String)>);

impl ModelId {
    fn check(&mut self, id: &str, row: &Row) -> Result<(), ImportError> {
        match &self.0 {
            None => {
                self.0 = Some((id.to_owned(), format!("{}", row.path.display())));
                Ok(())
            }
            Some((first, _)) if first == id => Ok(()),
            Some((first, at)) => Err(row.error(format!(
                "modelId {id:?}, but {at} holds {first:?}; import one model at a time"
            ))),
        }
    }
}

/// Reads each JSON line of `path` (gzip when it ends in `.gz`).
fn for_each_row(
    path: &Path,
    mut each: impl FnMut(Row) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    let file = std::fs::File::open(path).map_err(|cause| ImportError::Io {
        path: path.to_owned(),
        cause,
    })?;
    let gzip = path.extension().is_some_and(|e| e == "gz");
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    for (i, line) in BufReader::new(reader).lines().enumerate() {
        let number = i + 1;
        let line = line.map_err(|e| {
            let what = if gzip {
                "truncated or corrupt gzip"
            } else {
                "unreadable"
            };
            invalid(path, format!("line {number}: {what}: {e}"))
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let fields = match serde_json::from_str(&line) {
            Ok(Value::Object(fields)) => fields,
            Ok(_) => return Err(invalid(path, format!("line {number}: not a JSON object"))),
            Err(e) => return Err(invalid(path, format!("line {number}: not JSON: {e}"))),
        };
        each(Row {
            path,
            line: number,
            fields,
        })?;
    }
    Ok(())
}

/// The table files under `inputs` (folders are searched through), in
/// batch order.
fn table_files(
    inputs: &[PathBuf],
    report: &mut NeuronpediaReport,
) -> Result<Vec<(Table, PathBuf)>, ImportError> {
    let mut files = Vec::new();
    let mut folders: Vec<PathBuf> = Vec::new();
    for input in inputs {
        if input.is_dir() {
            folders.push(input.clone());
        } else if let Some(table) = Table::of(input) {
            files.push((table, input.clone()));
        } else if input.exists() {
            return Err(invalid(
                input,
                "not in a features/, activations/, explanations/ or explanation_scores/ folder",
            ));
        } else {
            return Err(ImportError::Io {
                path: input.clone(),
                cause: std::io::ErrorKind::NotFound.into(),
            });
        }
    }
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|cause| ImportError::Io {
            path: folder.clone(),
            cause,
        })?;
        for entry in entries {
            let path = entry
                .map_err(|cause| ImportError::Io {
                    path: folder.clone(),
                    cause,
                })?
                .path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                folders.push(path);
            } else if name.ends_with(".jsonl") || name.ends_with(".jsonl.gz") {
                match Table::of(&path) {
                    Some(table) => files.push((table, path)),
                    None => report.files_not_read.push(path),
                }
            }
        }
    }
    files.sort_by_key(|(table, path)| {
        (
            *table,
            path.parent().map(Path::to_owned),
            batch_number(path),
            path.clone(),
        )
    });
    files.dedup();
    report.files_not_read.sort();
    Ok(files)
}

/// N of `batch-N.jsonl.gz`, so batch-10 follows batch-9.
fn batch_number(path: &Path) -> u64 {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let digits: String = (name.chars())
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().unwrap_or(0)
}

/// The layer a source id names (`20-gemmascope-res-16k` is layer 20), and
/// the kind of its units: ours name it (`3-pca-blocks-3-mlp`), Neuronpedia's
/// neuron sources say `neurons`, anything else is a dictionary's.
pub fn source_layer_and_kind(source: &str) -> (u32, UnitKind) {
    let mut parts = source.split('-');
    let layer = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let named = parts.next().and_then(|p| p.parse::<UnitKind>().ok());
    let kind = named.unwrap_or(if source.contains("neurons") {
        UnitKind::Neuron
    } else {
        UnitKind::Sae
    });
    (layer, kind)
}

struct Feature {
    max: Option<f64>,
    density: Option<f64>,
    histogram_centres: Vec<f64>,
    histogram_heights: Vec<f64>,
    raised: Vec<TokenEffect>,
    lowered: Vec<TokenEffect>,
    ours: Map<String, Value>,
}

struct Activation {
    id: Option<String>,
    tokens: Vec<String>,
    values: Vec<f32>,
    document_id: Option<i64>,
    /// `None` for the top group (`binMin` -1, or no bins).
    interval: Option<(f64, f64)>,
    ours: Map<String, Value>,
}

struct ExplanationRow {
    key: (String, u32),
    explanation: Explanation,
    evidence: Vec<String>,
}

struct ScoreRow {
    path: PathBuf,
    line: usize,
    score: Score,
    activation_ids: Vec<String>,
}

#[derive(Default)]
struct Gathered {
    model: ModelId,
    features: HashMap<(String, u32), Feature>,
    activations: BTreeMap<(String, u32), Vec<Activation>>,
    explanations: Vec<ExplanationRow>,
    scores: Vec<ScoreRow>,
}

fn pairs(
    row: &Row,
    tokens: Vec<String>,
    values: Vec<f64>,
    what: &str,
) -> Result<Vec<TokenEffect>, ImportError> {
    if tokens.len() != values.len() {
        return Err(row.error(format!(
            "{} {what}_str tokens but {} {what}_values",
            tokens.len(),
            values.len()
        )));
    }
    Ok((tokens.into_iter().zip(values))
        .map(|(token, effect)| TokenEffect {
            token,
            effect: effect as f32,
        })
        .collect())
}

fn read_feature(
    mut row: Row,
    into: &mut Gathered,
    report: &mut NeuronpediaReport,
) -> Result<(), ImportError> {
    let key = row.key(&mut into.model)?;
    let pos = row.strings("pos_str")?;
    let pos_values = row.numbers("pos_values")?;
    let neg = row.strings("neg_str")?;
    let neg_values = row.numbers("neg_values")?;
    let feature = Feature {
        max: row.opt_number("maxActApprox")?,
        density: row.opt_number("frac_nonzero")?,
        histogram_centres: row.numbers("freq_hist_data_bar_values")?,
        histogram_heights: row.numbers("freq_hist_data_bar_heights")?,
        raised: pairs(&row, pos, pos_values, "pos")?,
        lowered: pairs(&row, neg, neg_values, "neg")?,
        ours: row.ours(),
    };
    if feature.histogram_centres.len() != feature.histogram_heights.len() {
        return Err(row.error(format!(
            "{} freq_hist_data_bar_values but {} freq_hist_data_bar_heights",
            feature.histogram_centres.len(),
            feature.histogram_heights.len()
        )));
    }
    // Constants of every row: the export's placeholder creator.
    row.take("creatorId");
    if into.features.insert(key.clone(), feature).is_some() {
        return Err(row.error(format!("a second row for feature {} of {}", key.1, key.0)));
    }
    row.report_rest(Table::Features, report);
    Ok(())
}

fn read_activation(
    mut row: Row,
    into: &mut Gathered,
    report: &mut NeuronpediaReport,
) -> Result<(), ImportError> {
    let key = row.key(&mut into.model)?;
    let tokens = row.strings("tokens")?;
    let values = row.numbers("values")?;
    if tokens.is_empty() {
        return Err(row.error("missing field `tokens`"));
    }
    if tokens.len() != values.len() {
        return Err(row.error(format!(
            "{} values for {} tokens",
            values.len(),
            tokens.len()
        )));
    }
    if let Some(i) = values
        .iter()
        .position(|v| !v.is_finite() || v.abs() > f32::MAX as f64)
    {
        return Err(row.error(format!("value {i} is not a finite float")));
    }
    let bin_min = row.opt_number("binMin")?;
    let bin_max = row.opt_number("binMax")?;
    let interval = match (bin_min, bin_max) {
        (Some(lo), Some(hi)) if lo != -1.0 => Some((lo, hi)),
        _ => None,
    };
    let document_id = match row.take("dataIndex") {
        None => None,
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        Some(other) => return Err(row.wrong("dataIndex", "a number", &other)),
    };
    let activation = Activation {
        id: row.opt_string("id")?,
        tokens,
        values: values.iter().map(|&v| v as f32).collect(),
        document_id,
        interval,
        ours: row.ours(),
    };
    // Derived from `values`, or the bin's share (which we do not keep), or
    // the export's placeholder creator.
    for derived in [
        "maxValue",
        "minValue",
        "maxValueTokenIndex",
        "binContains",
        "creatorId",
    ] {
        row.take(derived);
    }
    into.activations.entry(key).or_default().push(activation);
    row.report_rest(Table::Activations, report);
    Ok(())
}

fn read_explanation(
    mut row: Row,
    into: &mut Gathered,
    report: &mut NeuronpediaReport,
) -> Result<(), ImportError> {
    let key = row.key(&mut into.model)?;
    let text = row.string("description")?;
    let created = row.opt_string("createdAt")?;
    let mut ours = row.ours();
    let explanation = Explanation {
        explanation_id: row.opt_string("id")?.unwrap_or_else(new_id),
        unit_id: 0,
        text,
        explainer_model: row.opt_string("explanationModelName")?.unwrap_or_default(),
        method: row
            .opt_string("typeName")?
            .unwrap_or_else(|| "imported".into()),
        parent_id: ours
            .remove("parent_id")
            .and_then(|v| v.as_str().map(str::to_owned)),
        evidence_record_ids: Vec::new(),
        created_at_ms: created
            .as_deref()
            .and_then(parse_rfc3339_ms)
            .unwrap_or_else(now_ms),
    };
    let evidence = string_list(ours.remove("evidence_activation_ids"));
    row.take("authorId");
    into.explanations.push(ExplanationRow {
        key,
        explanation,
        evidence,
    });
    row.report_rest(Table::Explanations, report);
    Ok(())
}

fn read_score(
    mut row: Row,
    into: &mut Gathered,
    report: &mut NeuronpediaReport,
) -> Result<(), ImportError> {
    let explanation_id = row.string("explanationId")?;
    let kind = row.string("explanationScoreTypeName")?;
    let method = (SCORE_TYPES.iter())
        .find(|(theirs, _)| *theirs == kind)
        .map_or(kind.clone(), |(_, ours)| (*ours).to_owned());
    let details: Map<String, Value> = match row.opt_string("jsonDetails")? {
        Some(text) => match serde_json::from_str(&text) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        },
        None => Map::new(),
    };
    let simulated: Vec<Vec<f32>> = match details.get("simulated") {
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| row.error(format!("jsonDetails.simulated: {e}")))?,
        None => Vec::new(),
    };
    let number = |field: &str| details.get(field).and_then(Value::as_f64);
    let created = row.opt_string("createdAt")?;
    let score = Score {
        score_id: row.opt_string("id")?.unwrap_or_else(new_id),
        explanation_id,
        unit_id: 0,
        simulator_model: row
            .opt_string("explanationScoreModelName")?
            .unwrap_or_default(),
        method,
        record_set: (details.get("record_set").and_then(Value::as_str))
            .unwrap_or("imported")
            .to_owned(),
        score: row.opt_number("value")?,
        r_squared: number("r_squared"),
        absolute_dev_explained: number("absolute_dev_explained"),
        record_ids: Vec::new(),
        simulated,
        created_at_ms: created
            .as_deref()
            .and_then(parse_rfc3339_ms)
            .unwrap_or_else(now_ms),
    };
    row.take("initiatedByUserId");
    into.scores.push(ScoreRow {
        path: row.path.to_owned(),
        line: row.line,
        score,
        activation_ids: string_list(details.get("activation_ids").cloned()),
    });
    row.report_rest(Table::Scores, report);
    Ok(())
}

fn string_list(value: Option<Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => (items.into_iter())
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// A feature's records: our own sample and rank where the row carries them;
/// otherwise Neuronpedia's top group (ranked by maximum) and its intervals,
/// in order of their lower edge, as quantile bins. Also the bins' lower edges.
fn records_of(activations: Vec<Activation>) -> (Vec<(Option<String>, NewRecord)>, Vec<f64>) {
    let mut intervals: Vec<(f64, f64)> = activations.iter().filter_map(|a| a.interval).collect();
    intervals.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    intervals.dedup();
    let mut records: Vec<(Option<String>, NewRecord)> = activations
        .into_iter()
        .map(|a| {
            let derived = match a.interval {
                None => Sample::Top,
                Some(bin) => {
                    Sample::Quantile(intervals.iter().position(|&i| i == bin).unwrap_or(0) as u32)
                }
            };
            let sample = match a.ours.get("sample").and_then(Value::as_str) {
                Some("top") => Sample::Top,
                Some("random") => Sample::Random,
                Some("quantile") => {
                    Sample::Quantile(a.ours.get("bin").and_then(Value::as_u64).unwrap_or(0) as u32)
                }
                _ => derived,
            };
            let rank = a.ours.get("rank").and_then(Value::as_u64).map(|r| r as u32);
            let record = NewRecord {
                sample,
                rank: rank.unwrap_or(u32::MAX),
                document_id: a.document_id,
                token_offset: a.ours.get("token_offset").and_then(Value::as_i64),
                tokens: a.tokens,
                activations: a.values,
            };
            (a.id, record)
        })
        .collect();
    // Rows without a rank: the strongest first in the top group, file order
    // in the others (the sort is stable).
    let max = |r: &NewRecord| {
        r.activations
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max)
    };
    records.sort_by(|(_, a), (_, b)| {
        (a.sample, a.rank)
            .cmp(&(b.sample, b.rank))
            .then_with(|| match a.sample {
                Sample::Top => max(b).total_cmp(&max(a)),
                _ => std::cmp::Ordering::Equal,
            })
    });
    let mut next_rank: HashMap<Sample, u32> = HashMap::new();
    for (_, r) in &mut records {
        let next = next_rank.entry(r.sample).or_default();
        if r.rank == u32::MAX {
            r.rank = *next;
        }
        *next = r.rank + 1;
    }
    (records, intervals.iter().map(|i| i.0).collect())
}

/// Bar centres to edges: halfway between neighbours, half a bar beyond the
/// ends (Neuronpedia's bars are evenly spaced, as ours are).
fn histogram_edges(centres: &[f64]) -> Vec<f64> {
    if centres.len() < 2 {
        return Vec::new();
    }
    let mut edges = Vec::with_capacity(centres.len() + 1);
    edges.push(centres[0] - (centres[1] - centres[0]) / 2.0);
    edges.extend(centres.windows(2).map(|w| (w[0] + w[1]) / 2.0));
    let n = centres.len();
    edges.push(centres[n - 1] + (centres[n - 1] - centres[n - 2]) / 2.0);
    edges
}

fn numbers_of(ours: &Map<String, Value>, field: &str) -> Option<Vec<f64>> {
    ours.get(field)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

fn unit_stats(
    feature: Option<&Feature>,
    records: &[(Option<String>, NewRecord)],
    boundaries: Vec<f64>,
) -> UnitStats {
    let record_max = (records.iter())
        .flat_map(|(_, r)| r.activations.iter().copied())
        .fold(f32::NEG_INFINITY, f32::max) as f64;
    let Some(f) = feature else {
        return UnitStats {
            max: record_max,
            quantile_boundaries: boundaries,
            ..UnitStats::default()
        };
    };
    let (edges, counts) = match numbers_of(&f.ours, "histogram_edges") {
        Some(edges) if edges.len() == f.histogram_centres.len() + 1 => {
            (edges, &f.histogram_heights)
        }
        _ => (histogram_edges(&f.histogram_centres), &f.histogram_heights),
    };
    let counts = match edges.is_empty() {
        true => Vec::new(),
        false => counts.iter().map(|&h| h.max(0.0).round() as u64).collect(),
    };
    UnitStats {
        max: f.max.filter(|m| m.is_finite()).unwrap_or(record_max),
        mean: f.ours.get("mean").and_then(Value::as_f64),
        variance: f.ours.get("variance").and_then(Value::as_f64),
        density: f.density,
        quantile_boundaries: numbers_of(&f.ours, "quantile_boundaries").unwrap_or(boundaries),
        histogram_edges: edges,
        histogram_counts: counts,
    }
}

/// Builds a dataset at `out` from the Neuronpedia export files in `inputs`
/// (folders are searched through); nothing is left at `out` unless it all
/// succeeds.
pub fn import_export(inputs: &[PathBuf], out: &Path) -> Result<NeuronpediaReport, ImportError> {
    let mut report = NeuronpediaReport::default();
    let files = table_files(inputs, &mut report)?;
    let mut gathered = Gathered::default();
    for (table, path) in &files {
        for_each_row(path, |row| match table {
            Table::Features => read_feature(row, &mut gathered, &mut report),
            Table::Activations => read_activation(row, &mut gathered, &mut report),
            Table::Explanations => read_explanation(row, &mut gathered, &mut report),
            Table::Scores => read_score(row, &mut gathered, &mut report),
        })?;
    }
    if gathered.activations.is_empty() {
        let place = inputs.first().map_or(Path::new("."), PathBuf::as_path);
        return Err(invalid(
            place,
            "no activations/ rows found: a unit needs its activating texts",
        ));
    }
    report.features_without_activations = (gathered.features.keys())
        .filter(|k| !gathered.activations.contains_key(*k))
        .count() as u64;

    let mut manifest = Manifest::new();
    let model = gathered.model.0.take().map(|(id, _)| id);
    manifest.subject_model = model.map(|name| SubjectModel {
        name,
        architecture: None,
        layers: None,
        source: None,
    });
    manifest.notes = Some(format!(
        "imported from a Neuronpedia export: {}",
        inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mut writer = DatasetWriter::create(out, manifest, WriterOptions::default())?;
    let mut selection = SelectionParams {
        top_k: 0,
        random_k: 0,
        quantile_levels: Vec::new(),
        quantile_k: 0,
        seed: None,
    };
    // Units in order of layer, then source, then index.
    let mut keys: Vec<(String, u32)> = gathered.activations.keys().cloned().collect();
    keys.sort_by_key(|(source, index)| (source_layer_and_kind(source).0, source.clone(), *index));
    let mut unit_ids: HashMap<(String, u32), u64> = HashMap::new();
    let mut record_ids: HashMap<String, u64> = HashMap::new();
    let mut sources: Vec<UnitSourceInfo> = Vec::new();
    for key in keys {
        let activations = gathered.activations.remove(&key).unwrap_or_default();
        let (records, boundaries) = records_of(activations);
        let feature = gathered.features.remove(&key);
        let stats = unit_stats(feature.as_ref(), &records, boundaries);
        let (layer, kind) = source_layer_and_kind(&key.0);
        let mut per_sample: HashMap<Sample, u32> = HashMap::new();
        for (_, r) in &records {
            *per_sample.entry(r.sample).or_default() += 1;
        }
        for (sample, n) in per_sample {
            let k = match sample {
                Sample::Top => &mut selection.top_k,
                Sample::Quantile(_) => &mut selection.quantile_k,
                Sample::Random => &mut selection.random_k,
            };
            *k = (*k).max(n);
        }
        let ids: Vec<Option<String>> = records.iter().map(|(id, _)| id.clone()).collect();
        report.records += records.len() as u64;
        let added = writer
            .add_unit(
                NewUnit {
                    layer,
                    index: key.1,
                    kind,
                    stats,
                },
                records.into_iter().map(|(_, r)| r).collect(),
            )
            .map_err(|e| invalid(Path::new(&key.0), format!("feature {}: {e}", key.1)))?;
        for (i, id) in ids.into_iter().enumerate() {
            if let Some(id) = id {
                record_ids.insert(id, added.first_record_id + i as u64);
            }
        }
        match sources.last_mut() {
            Some(s) if s.hook == key.0 => s.units += 1,
            _ => sources.push(UnitSourceInfo {
                kind,
                hook: key.0.clone(),
                layer,
                first_unit_id: added.unit_id,
                units: 1,
                dictionary: None,
            }),
        }
        if let Some(f) = feature.filter(|f| !f.raised.is_empty() || !f.lowered.is_empty()) {
            writer.add_logit_effects([LogitEffect {
                unit_id: added.unit_id,
                raised: f.raised,
                lowered: f.lowered,
            }]);
            report.logit_effects += 1;
        }
        unit_ids.insert(key, added.unit_id);
        report.units += 1;
    }
    let mut explanation_units: HashMap<String, u64> = HashMap::new();
    let mut explanations = Vec::new();
    for row in gathered.explanations {
        let Some(&unit_id) = unit_ids.get(&row.key) else {
            report.orphan_explanations += 1;
            continue;
        };
        let mut e = row.explanation;
        e.unit_id = unit_id;
        e.evidence_record_ids = row
            .evidence
            .iter()
            .filter_map(|id| record_ids.get(id).copied())
            .collect();
        explanation_units.insert(e.explanation_id.clone(), unit_id);
        explanations.push(e);
    }
    let mut scores = Vec::new();
    for row in gathered.scores {
        let Some(&unit_id) = explanation_units.get(&row.score.explanation_id) else {
            report.orphan_scores += 1;
            continue;
        };
        let mut s = row.score;
        s.unit_id = unit_id;
        s.record_ids = (row.activation_ids.iter())
            .map(|id| {
                record_ids.get(id).copied().ok_or_else(|| {
                    invalid(&row.path, format!("line {}: jsonDetails names activation {id:?}, which is not among the activations", row.line))
                })
            })
            .collect::<Result<_, _>>()?;
        if s.simulated.len() != s.record_ids.len() && !s.simulated.is_empty() {
            return Err(invalid(
                &row.path,
                format!(
                    "line {}: jsonDetails has {} simulations for {} activations",
                    row.line,
                    s.simulated.len(),
                    s.record_ids.len()
                ),
            ));
        }
        scores.push(s);
    }
    report.explanations = explanations.len() as u64;
    report.scores = scores.len() as u64;
    writer.add_explanations(explanations);
    writer.add_scores(scores);
    let manifest = writer.manifest_mut();
    manifest.sources = sources;
    manifest.selection = Some(selection);
    writer.finish()?;
    Ok(report)
}

/// `2024-05-01T12:34:56.789Z` from milliseconds since the Unix epoch.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

/// Milliseconds since the Unix epoch of an RFC 3339 time in UTC
/// (`Z` or `+00:00`, fractions of a second optional).
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let (date, time) = text.split_once(['T', ' '])?;
    let time = time
        .strip_suffix('Z')
        .or_else(|| time.strip_suffix("+00:00"))?;
    let mut ymd = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut parts = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (parts.next()??, parts.next()??, parts.next()??);
    let millis = format!("{fraction:0<3}").get(..3)?.parse::<i64>().ok()?;
    let valid = (1..=12).contains(&m) && (1..=31).contains(&d) && h < 24 && min < 60 && s < 61;
    valid.then(|| days_from_civil(y, m, d) * 86_400_000 + ((h * 60 + min) * 60 + s) * 1000 + millis)
}

/// Howard Hinnant's `days_from_civil`: days since 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_go_out_and_come_back() {
        assert_eq!(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        // 2024-02-29T23:59:58.123Z, checked with Python's datetime.
        assert_eq!(
            format_rfc3339_ms(1_709_251_198_123),
            "2024-02-29T23:59:58.123Z"
        );
        for ms in [0, 1_709_251_198_123, 951_782_400_000, 4_102_444_800_999] {
            assert_eq!(parse_rfc3339_ms(&format_rfc3339_ms(ms)), Some(ms));
        }
        assert_eq!(
            parse_rfc3339_ms("2024-02-29T23:59:58+00:00"),
            Some(1_709_251_198_000)
        );
        assert_eq!(parse_rfc3339_ms("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }

    #[test]
    fn source_ids_name_layer_and_kind() {
        assert_eq!(
            source_layer_and_kind("20-gemmascope-res-16k"),
            (20, UnitKind::Sae)
        );
        assert_eq!(
            source_layer_and_kind("3-pca-blocks-3-mlp"),
            (3, UnitKind::Pca)
        );
        assert_eq!(
            source_layer_and_kind("5-mlp-neurons"),
            (5, UnitKind::Neuron)
        );
    }

    #[test]
    fn bar_centres_become_edges() {
        assert_eq!(histogram_edges(&[0.5, 1.5, 2.5]), [0.0, 1.0, 2.0, 3.0]);
        assert!(histogram_edges(&[1.0]).is_empty());
    }
}
