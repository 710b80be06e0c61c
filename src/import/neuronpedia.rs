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
use super::{ImportError, invalid, io};
use crate::dataset::{
    DatasetWriter, Explanation, LogitEffect, Manifest, NewRecord, NewUnit, Sample, Score,
    SelectionParams, TokenEffect, UnitKind, UnitStats, WriterOptions,
    manifest::{DictionaryInfo, SubjectModel, UnitSourceInfo},
    new_id, now_ms, parse_rfc3339_ms,
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

/// The tables of an export, told apart by the folder a file sits in, and
/// the source folder's own `model.jsonl` and `source.jsonl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Table {
    Model,
    Source,
    Features,
    Activations,
    Explanations,
    Scores,
}

impl Table {
    /// Some sources hold several explanation folders
    /// (`explanations-gpt-4o-mini/`).
    fn of(path: &Path) -> Option<Table> {
        match path.file_name()?.to_str()? {
            "model.jsonl" => return Some(Self::Model),
            "source.jsonl" => return Some(Self::Source),
            _ => {}
        }
        match path.parent()?.file_name()?.to_str()? {
            "features" => Some(Self::Features),
            "activations" => Some(Self::Activations),
            SCORES_FOLDER => Some(Self::Scores),
            f if f.starts_with("explanations") => Some(Self::Explanations),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::Source => "source",
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
    /// Explanations of features without activations, and their scores.
    pub orphan_explanations: u64,
    pub orphan_scores: u64,
    /// Times (`createdAt`) that could not be read: the time of import stands in.
    pub times_not_read: u64,
    /// `table.field`: how many rows carried a value we have no place for.
    pub unmapped_fields: BTreeMap<String, u64>,
    /// `.jsonl` files that are not one of the tables (the `config/` lookup
    /// tables, `sourceset.jsonl`, `release.jsonl`).
    pub files_not_read: Vec<PathBuf>,
}

/// Where a row is: its file and line.
#[derive(Debug, Clone)]
struct Place {
    path: PathBuf,
    line: usize,
}

impl Place {
    fn error(&self, problem: impl std::fmt::Display) -> ImportError {
        invalid(&self.path, format!("line {}: {problem}", self.line))
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} line {}", self.path.display(), self.line)
    }
}

/// One row, its fields taken out as they are mapped; what is left is reported.
struct Row {
    place: Place,
    fields: Map<String, Value>,
}

impl Row {
    fn error(&self, problem: impl std::fmt::Display) -> ImportError {
        self.place.error(problem)
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
                .map(Value::as_f64)
                .collect::<Option<Vec<f64>>>()
                .ok_or_else(|| {
                    self.error(format!(
                        "field `{field}` holds a value that is not a number"
                    ))
                }),
            Some(other) => Err(self.wrong(field, "a list of numbers", &other)),
        }
    }

    /// A list of numbers that must each fit a 32-bit float.
    fn floats(&mut self, field: &str) -> Result<Vec<f32>, ImportError> {
        let values = self.numbers(field)?;
        match values.iter().position(|v| v.abs() > f64::from(f32::MAX)) {
            Some(i) => Err(self.error(format!(
                "field `{field}`: value {i} is too large for a 32-bit float"
            ))),
            None => Ok(values.iter().map(|&v| v as f32).collect()),
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

    fn model(&mut self, model: &mut ModelId, field: &str) -> Result<String, ImportError> {
        let id = self.string(field)?;
        model.check(&id, &self.place)?;
        Ok(id)
    }

    fn key(&mut self, model: &mut ModelId) -> Result<(String, u32), ImportError> {
        self.model(model, "modelId")?;
        Ok((self.string("layer")?, self.index()?))
    }

    /// A time, or the time of import (counted) when it cannot be read.
    fn created_at(&mut self, report: &mut NeuronpediaReport) -> Result<i64, ImportError> {
        Ok(match self.opt_string("createdAt")? {
            None => now_ms(),
            Some(text) => parse_rfc3339_ms(&text).unwrap_or_else(|| {
                report.times_not_read += 1;
                now_ms()
            }),
        })
    }

    /// Our own object, when the row came from our export.
    fn ours(&mut self) -> Result<Ours, ImportError> {
        match self.take(OURS) {
            None => Ok(Ours(Map::new(), self.place.clone())),
            Some(Value::Object(map)) => Ok(Ours(map, self.place.clone())),
            Some(other) => Err(self.wrong(OURS, "an object", &other)),
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

/// A row's `featurescope` object, read into typed values with errors that
/// name the row.
struct Ours(Map<String, Value>, Place);

impl Ours {
    fn get<T: serde::de::DeserializeOwned>(&self, field: &str) -> Result<Option<T>, ImportError> {
        match self.0.get(field).filter(|v| !v.is_null()) {
            None => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| self.1.error(format!("{OURS}.{field}: {e}"))),
        }
    }
}

/// The one model an import holds.
#[derive(Default)]
struct ModelId(Option<(String, Place)>);

impl ModelId {
    fn check(&mut self, id: &str, place: &Place) -> Result<(), ImportError> {
        match &self.0 {
            None => {
                self.0 = Some((id.to_owned(), place.clone()));
                Ok(())
            }
            Some((first, _)) if first == id => Ok(()),
            Some((first, at)) => Err(place.error(format!(
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
    let file = std::fs::File::open(path).map_err(io(path))?;
    let gzip = path.extension().is_some_and(|e| e == "gz");
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    for (i, line) in BufReader::new(reader).lines().enumerate() {
        let place = Place {
            path: path.to_owned(),
            line: i + 1,
        };
        let line = line.map_err(|e| {
            let what = if gzip {
                "truncated or corrupt gzip"
            } else {
                "unreadable"
            };
            place.error(format!("{what}: {e}"))
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let fields = match serde_json::from_str(&line) {
            Ok(Value::Object(fields)) => fields,
            Ok(_) => return Err(place.error("not a JSON object")),
            Err(e) => return Err(place.error(format!("not JSON: {e}"))),
        };
        each(Row { place, fields })?;
    }
    Ok(())
}

/// The table files under `inputs` (folders are searched through, symbolic
/// links to folders are not followed), each once, in batch order.
fn table_files(
    inputs: &[PathBuf],
    report: &mut NeuronpediaReport,
) -> Result<Vec<(Table, PathBuf)>, ImportError> {
    let mut files = Vec::new();
    let mut folders: Vec<PathBuf> = Vec::new();
    for input in inputs {
        let input = input.canonicalize().map_err(io(input))?;
        if input.is_dir() {
            folders.push(input);
        } else if let Some(table) = Table::of(&input) {
            files.push((table, input));
        } else {
            return Err(invalid(
                &input,
                "not in a features/, activations/, explanations/ or explanation_scores/ folder",
            ));
        }
    }
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).map_err(io(&folder))? {
            let entry = entry.map_err(io(&folder))?;
            let path = entry.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if entry.file_type().map_err(io(&path))?.is_dir() {
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
    report.files_not_read.dedup();
    Ok(files)
}

/// N of `batch-N.jsonl.gz`, so batch-10 follows batch-9.
fn batch_number(path: &Path) -> u64 {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    super::first_number(name).unwrap_or(0)
}

/// The layer a source id names (`20-gemmascope-res-16k` is layer 20), and
/// the kind of its units: ours name it (`3-pca-blocks.3.mlp`), Neuronpedia's
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
    hook: Option<String>,
    /// What our export keeps beside Neuronpedia's columns.
    mean: Option<f64>,
    variance: Option<f64>,
    quantile_boundaries: Option<Vec<f64>>,
    histogram_edges: Option<Vec<f64>>,
}

struct Activation {
    id: Option<String>,
    tokens: Vec<String>,
    values: Vec<f32>,
    document_id: Option<i64>,
    /// `None` for the top group (`binMin` -1, or no bins).
    interval: Option<(f64, f64)>,
    /// Our export's sample, rank and offset.
    sample: Option<Sample>,
    rank: Option<u32>,
    token_offset: Option<i64>,
}

struct ExplanationRow {
    place: Place,
    key: (String, u32),
    explanation: Explanation,
    evidence: Vec<String>,
}

struct ScoreRow {
    place: Place,
    score: Score,
    activation_ids: Vec<String>,
}

/// What `model.jsonl` and `source.jsonl` say: the manifest's parts.
#[derive(Default)]
struct Meta {
    layers: Option<u32>,
    subject_model: Option<SubjectModel>,
    selection: Option<SelectionParams>,
    window_tokens: Option<u32>,
    /// Source id → its dictionary.
    dictionaries: HashMap<String, DictionaryInfo>,
}

#[derive(Default)]
struct Gathered {
    model: ModelId,
    meta: Meta,
    features: HashMap<(String, u32), Feature>,
    activations: BTreeMap<(String, u32), Vec<Activation>>,
    explanations: Vec<ExplanationRow>,
    scores: Vec<ScoreRow>,
    /// Ids seen, with where, so that a repeated one is an error.
    ids: HashMap<(Table, String), Place>,
}

impl Gathered {
    fn claim(&mut self, table: Table, id: &str, place: &Place) -> Result<(), ImportError> {
        match self.ids.insert((table, id.to_owned()), place.clone()) {
            None => Ok(()),
            Some(first) => {
                Err(place.error(format!("{} id {id:?} is also at {first}", table.name())))
            }
        }
    }
}

fn pairs(
    row: &Row,
    tokens: Vec<String>,
    values: Vec<f32>,
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
        .map(|(token, effect)| TokenEffect { token, effect })
        .collect())
}

fn read_model(
    mut row: Row,
    into: &mut Gathered,
    report: &mut NeuronpediaReport,
) -> Result<(), ImportError> {
    row.model(&mut into.model, "id")?;
    let layers = row.opt_number("layers")?;
    let ours = row.ours()?;
    into.meta.layers = layers.and_then(|l| u32::try_from(l as i64).ok());
    into.meta.subject_model = ours.get("subject_model")?;
    into.meta.selection = ours.get("selection")?;
    into.meta.window_tokens = ours.get("window_tokens")?;
    for placeholder in ["creatorId", "displayName", "owner", "neuronsPerLayer"] {
        row.take(placeholder);
    }
    row.report_rest(Table::Model, report);
    Ok(())
}

fn read_source(
    mut row: Row,
    into: &mut Gathered,
    report: &mut NeuronpediaReport,
) -> Result<(), ImportError> {
    row.model(&mut into.model, "modelId")?;
    let id = row.string("id")?;
    if let Some(dictionary) = row.ours()?.get("dictionary")? {
        into.meta.dictionaries.insert(id, dictionary);
    }
    for placeholder in ["creatorId", "setName"] {
        row.take(placeholder);
    }
    row.report_rest(Table::Source, report);
    Ok(())
}

fn read_feature(
    mut row: Row,
    into: &mut Gathered,
    report: &mut NeuronpediaReport,
) -> Result<(), ImportError> {
    let key = row.key(&mut into.model)?;
    let pos = row.strings("pos_str")?;
    let pos_values = row.floats("pos_values")?;
    let neg = row.strings("neg_str")?;
    let neg_values = row.floats("neg_values")?;
    let ours = row.ours()?;
    let feature = Feature {
        max: row.opt_number("maxActApprox")?,
        density: row.opt_number("frac_nonzero")?,
        histogram_centres: row.numbers("freq_hist_data_bar_values")?,
        histogram_heights: row.numbers("freq_hist_data_bar_heights")?,
        raised: pairs(&row, pos, pos_values, "pos")?,
        lowered: pairs(&row, neg, neg_values, "neg")?,
        hook: row.opt_string("hookName")?,
        mean: ours.get("mean")?,
        variance: ours.get("variance")?,
        quantile_boundaries: ours.get("quantile_boundaries")?,
        histogram_edges: ours.get("histogram_edges")?,
    };
    if feature.histogram_centres.len() != feature.histogram_heights.len() {
        return Err(row.error(format!(
            "{} freq_hist_data_bar_values but {} freq_hist_data_bar_heights",
            feature.histogram_centres.len(),
            feature.histogram_heights.len()
        )));
    }
    // The export's placeholder creator, and the source's set, which the
    // source id names already.
    row.take("creatorId");
    row.take("sourceSetName");
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
    let values = row.floats("values")?;
    if tokens.is_empty() {
        return Err(row.error("field `tokens` is missing or empty"));
    }
    if tokens.len() != values.len() {
        return Err(row.error(format!(
            "{} values for {} tokens",
            values.len(),
            tokens.len()
        )));
    }
    let interval = match (row.opt_number("binMin")?, row.opt_number("binMax")?) {
        (Some(lo), Some(hi)) if lo != -1.0 => Some((lo, hi)),
        _ => None,
    };
    let document_id = match row.take("dataIndex") {
        None => None,
        Some(Value::Number(n)) => Some(
            n.as_i64()
                .ok_or_else(|| row.error("field `dataIndex` is not a whole number"))?,
        ),
        Some(Value::String(s)) => Some(
            s.parse()
                .map_err(|_| row.error(format!("field `dataIndex` {s:?} is not a whole number")))?,
        ),
        Some(other) => return Err(row.wrong("dataIndex", "a number", &other)),
    };
    let id = row.opt_string("id")?;
    if let Some(id) = &id {
        into.claim(Table::Activations, id, &row.place)?;
    }
    let ours = row.ours()?;
    let sample = match ours.get::<String>("sample")?.as_deref() {
        None => None,
        Some("top") => Some(Sample::Top),
        Some("random") => Some(Sample::Random),
        Some("quantile") => Some(Sample::Quantile(ours.get("bin")?.unwrap_or(0))),
        Some(other) => {
            return Err(row.error(format!(
                "{OURS}.sample {other:?} is not top, quantile or random"
            )));
        }
    };
    let activation = Activation {
        id,
        tokens,
        values,
        document_id,
        interval,
        sample,
        rank: ours.get("rank")?,
        token_offset: ours.get("token_offset")?,
    };
    // Derived from `values`, the bin's share (which we do not keep), or
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
    let id = row.opt_string("id")?.unwrap_or_else(new_id);
    into.claim(Table::Explanations, &id, &row.place)?;
    let ours = row.ours()?;
    let explanation = Explanation {
        explanation_id: id,
        unit_id: 0,
        text,
        explainer_model: row.opt_string("explanationModelName")?.unwrap_or_default(),
        method: row
            .opt_string("typeName")?
            .unwrap_or_else(|| "imported".into()),
        parent_id: ours.get("parent_id")?,
        evidence_record_ids: Vec::new(),
        created_at_ms: row.created_at(report)?,
    };
    let evidence = ours.get("evidence_activation_ids")?.unwrap_or_default();
    row.take("authorId");
    into.explanations.push(ExplanationRow {
        place: row.place.clone(),
        key,
        explanation,
        evidence,
    });
    row.report_rest(Table::Explanations, report);
    Ok(())
}

/// What our export keeps in a score's `jsonDetails`.
#[derive(Default, serde::Deserialize)]
struct ScoreDetails {
    record_set: Option<String>,
    r_squared: Option<f64>,
    absolute_dev_explained: Option<f64>,
    #[serde(default)]
    activation_ids: Vec<String>,
    #[serde(default)]
    simulated: Vec<Vec<f32>>,
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
    let details: ScoreDetails = match row.opt_string("jsonDetails")? {
        Some(text) => {
            serde_json::from_str(&text).map_err(|e| row.error(format!("jsonDetails: {e}")))?
        }
        None => ScoreDetails::default(),
    };
    if (details.simulated.iter().flatten()).any(|v| !v.is_finite()) {
        return Err(
            row.error("jsonDetails.simulated holds a value that is not a finite 32-bit float")
        );
    }
    if !details.simulated.is_empty() && details.simulated.len() != details.activation_ids.len() {
        return Err(row.error(format!(
            "jsonDetails has {} simulations for {} activations",
            details.simulated.len(),
            details.activation_ids.len()
        )));
    }
    let id = row.opt_string("id")?.unwrap_or_else(new_id);
    into.claim(Table::Scores, &id, &row.place)?;
    let score = Score {
        score_id: id,
        explanation_id,
        unit_id: 0,
        simulator_model: row
            .opt_string("explanationScoreModelName")?
            .unwrap_or_default(),
        method,
        record_set: details.record_set.unwrap_or_else(|| "imported".into()),
        score: row.opt_number("value")?,
        r_squared: details.r_squared,
        absolute_dev_explained: details.absolute_dev_explained,
        record_ids: Vec::new(),
        simulated: details.simulated,
        created_at_ms: row.created_at(report)?,
    };
    row.take("initiatedByUserId");
    into.scores.push(ScoreRow {
        place: row.place.clone(),
        score,
        activation_ids: details.activation_ids,
    });
    row.report_rest(Table::Scores, report);
    Ok(())
}

/// A record, with the id of the activation row it came from.
type IdentifiedRecord = (Option<String>, NewRecord);

/// A feature's records: our own sample and rank where the rows carry them;
/// otherwise Neuronpedia's top group (ranked by maximum, strongest first) and
/// its intervals, in order of their lower edge, as quantile bins (in file
/// order). Also the bins' lower edges.
fn records_of(activations: Vec<Activation>) -> (Vec<IdentifiedRecord>, Vec<f64>) {
    let mut intervals: Vec<(f64, f64)> = activations.iter().filter_map(|a| a.interval).collect();
    intervals.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    intervals.dedup();
    let mut groups: BTreeMap<Sample, Vec<(Option<u32>, IdentifiedRecord)>> = BTreeMap::new();
    for a in activations {
        let derived = match a.interval {
            None => Sample::Top,
            Some(bin) => {
                Sample::Quantile(intervals.iter().position(|&i| i == bin).unwrap_or(0) as u32)
            }
        };
        let sample = a.sample.unwrap_or(derived);
        let record = NewRecord {
            sample,
            rank: 0,
            document_id: a.document_id,
            token_offset: a.token_offset,
            tokens: a.tokens,
            activations: a.values,
        };
        groups
            .entry(sample)
            .or_default()
            .push((a.rank, (a.id, record)));
    }
    let max = |r: &NewRecord| {
        r.activations
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max)
    };
    let mut records = Vec::new();
    for (sample, mut group) in groups {
        if group.iter().all(|g| g.0.is_some()) {
            group.sort_by_key(|g| g.0);
        } else {
            // Ranked afresh: the sort is stable, so file order stands where
            // maxima do not decide.
            if sample == Sample::Top {
                group.sort_by(|a, b| max(&b.1.1).total_cmp(&max(&a.1.1)));
            }
            for (rank, g) in group.iter_mut().enumerate() {
                g.0 = Some(rank as u32);
            }
        }
        records.extend(group.into_iter().map(|(rank, (id, mut record))| {
            record.rank = rank.unwrap_or_default();
            (id, record)
        }));
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

fn unit_stats(
    feature: Option<Feature>,
    records: &[IdentifiedRecord],
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
    let edges = match f.histogram_edges {
        Some(edges) if edges.len() == f.histogram_centres.len() + 1 => edges,
        _ => histogram_edges(&f.histogram_centres),
    };
    let counts = match edges.is_empty() {
        true => Vec::new(),
        false => (f.histogram_heights.iter())
            .map(|&h| h.max(0.0).round() as u64)
            .collect(),
    };
    UnitStats {
        max: f.max.filter(|m| m.is_finite()).unwrap_or(record_max),
        mean: f.mean,
        variance: f.variance,
        density: f.density,
        quantile_boundaries: f.quantile_boundaries.unwrap_or(boundaries),
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
            Table::Model => read_model(row, &mut gathered, &mut report),
            Table::Source => read_source(row, &mut gathered, &mut report),
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
    // Units in order of layer, then source, then index.
    let mut keys: Vec<(String, u32)> = gathered.activations.keys().cloned().collect();
    keys.sort_by_key(|(source, index)| (source_layer_and_kind(source).0, source.clone(), *index));
    let meta = std::mem::take(&mut gathered.meta);
    let mut manifest = Manifest::new();
    let model = gathered.model.0.take().map(|(id, _)| id);
    manifest.subject_model = meta.subject_model.or_else(|| {
        model.map(|name| SubjectModel {
            name,
            architecture: None,
            layers: meta.layers,
            source: None,
        })
    });
    manifest.window_tokens = meta.window_tokens;
    manifest.notes = Some(format!(
        "imported from a Neuronpedia export: {}",
        inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mut writer = DatasetWriter::create(out, manifest, WriterOptions::default())?;
    let mut selection = SelectionParams::default();
    let mut unit_ids: HashMap<(String, u32), u64> = HashMap::new();
    // Activation id → (unit, record).
    let mut record_ids: HashMap<String, (u64, u64)> = HashMap::new();
    let mut sources: Vec<(String, UnitSourceInfo)> = Vec::new();
    for (source, index) in keys {
        let activations = gathered
            .activations
            .remove(&(source.clone(), index))
            .unwrap_or_default();
        let (records, boundaries) = records_of(activations);
        let mut feature = gathered.features.remove(&(source.clone(), index));
        let effects = (feature.as_mut()).map(|f| {
            (
                std::mem::take(&mut f.raised),
                std::mem::take(&mut f.lowered),
            )
        });
        let hook = feature.as_mut().and_then(|f| f.hook.take());
        let stats = unit_stats(feature, &records, boundaries);
        let (layer, kind) = source_layer_and_kind(&source);
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
        let unit = NewUnit {
            layer,
            index,
            kind,
            stats,
        };
        let added = writer.add_unit(unit, records.into_iter().map(|(_, r)| r).collect())?;
        for (i, id) in ids.into_iter().enumerate() {
            if let Some(id) = id {
                record_ids.insert(id, (added.unit_id, added.first_record_id + i as u64));
            }
        }
        match sources.last_mut() {
            Some((id, s)) if *id == source => s.units += 1,
            _ => sources.push((
                source.clone(),
                UnitSourceInfo {
                    kind,
                    hook: hook.unwrap_or_else(|| source.clone()),
                    layer,
                    first_unit_id: added.unit_id,
                    units: 1,
                    dictionary: meta.dictionaries.get(&source).cloned(),
                },
            )),
        }
        if let Some((raised, lowered)) = effects.filter(|(r, l)| !r.is_empty() || !l.is_empty()) {
            writer.add_logit_effects([LogitEffect {
                unit_id: added.unit_id,
                raised,
                lowered,
            }]);
            report.logit_effects += 1;
        }
        unit_ids.insert((source, index), added.unit_id);
        report.units += 1;
    }
    let records_of_unit = |ids: &[String], unit_id: u64, place: &Place, what: &str| {
        (ids.iter())
            .map(|id| match record_ids.get(id) {
                Some(&(unit, record)) if unit == unit_id => Ok(record),
                Some(_) => Err(place.error(format!(
                    "{what} names activation {id:?}, of another feature"
                ))),
                None => Err(place.error(format!(
                    "{what} names activation {id:?}, which is not among the activations"
                ))),
            })
            .collect::<Result<Vec<u64>, _>>()
    };
    let mut explanation_units: HashMap<String, u64> = HashMap::new();
    let mut explanations = Vec::new();
    for row in gathered.explanations {
        let Some(&unit_id) = unit_ids.get(&row.key) else {
            report.orphan_explanations += 1;
            continue;
        };
        let mut e = row.explanation;
        e.unit_id = unit_id;
        e.evidence_record_ids = records_of_unit(
            &row.evidence,
            unit_id,
            &row.place,
            "the explanation's evidence",
        )?;
        explanation_units.insert(e.explanation_id.clone(), unit_id);
        explanations.push((row.place, e));
    }
    for (place, e) in &explanations {
        if let Some(parent) = &e.parent_id
            && explanation_units.get(parent) != Some(&e.unit_id)
        {
            return Err(place.error(format!(
                "the parent explanation {parent:?} is not one of this feature's"
            )));
        }
    }
    let mut scores = Vec::new();
    for row in gathered.scores {
        let Some(&unit_id) = explanation_units.get(&row.score.explanation_id) else {
            report.orphan_scores += 1;
            continue;
        };
        let mut s = row.score;
        s.unit_id = unit_id;
        s.record_ids = records_of_unit(&row.activation_ids, unit_id, &row.place, "jsonDetails")?;
        scores.push(s);
    }
    report.explanations = explanations.len() as u64;
    report.scores = scores.len() as u64;
    writer.add_explanations(explanations.into_iter().map(|(_, e)| e));
    writer.add_scores(scores);
    let manifest = writer.manifest_mut();
    manifest.sources = sources.into_iter().map(|(_, s)| s).collect();
    manifest.selection = Some(meta.selection.unwrap_or(selection));
    writer.finish()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ids_name_layer_and_kind() {
        assert_eq!(
            source_layer_and_kind("20-gemmascope-res-16k"),
            (20, UnitKind::Sae)
        );
        assert_eq!(
            source_layer_and_kind("3-pca-blocks.3.mlp"),
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
