//! Conversion between table rows ([`Unit`], [`Record`], [`Explanation`],
//! [`Score`]) and Arrow record batches, with the value checks of the format:
//! every problem found in a batch names its file, column and row.
use super::error::{DatasetError, Result};
use super::schema;
use super::types::{
    Explanation, ExplanationEmbedding, LogitEffect, Rating, Record, Sample, Score, TokenEffect,
    Unit, UnitKind, UnitOverview, UnitStats,
};
use arrow::array::{
    Array, ArrayRef, AsArray, Float32Builder, Float64Array, Float64Builder, Int32Array,
    Int32Builder, Int64Array, Int64Builder, ListArray, ListBuilder, RecordBatch, StringArray,
    StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Float32Type, Float64Type, Int64Type, TimeUnit};
use std::path::Path;
use std::sync::Arc;

/// Where a batch came from: its file, and the file row of its first row.
#[derive(Clone, Copy)]
pub struct Origin<'a> {
    pub path: &'a Path,
    pub first_row: u64,
}

/// Typed, checked access to the columns of one batch.
struct Columns<'a> {
    batch: &'a RecordBatch,
    origin: Origin<'a>,
}

impl<'a> Columns<'a> {
    fn row(&self, i: usize) -> u64 {
        self.origin.first_row + i as u64
    }

    fn err(&self, column: &str, i: usize, problem: impl Into<String>) -> DatasetError {
        DatasetError::value(self.origin.path, column, self.row(i), problem)
    }

    fn array(&self, name: &str) -> Result<&'a ArrayRef> {
        self.batch
            .column_by_name(name)
            .ok_or_else(|| DatasetError::column(self.origin.path, name, "missing column"))
    }

    fn typed<T: Array + 'static>(&self, name: &str) -> Result<&'a T> {
        self.array(name)?
            .as_any()
            .downcast_ref::<T>()
            .ok_or_else(|| DatasetError::column(self.origin.path, name, "unexpected type"))
    }

    fn present(&self, array: &dyn Array, name: &str, i: usize) -> Result<()> {
        if array.is_null(i) {
            Err(self.err(name, i, "null in a required column"))
        } else {
            Ok(())
        }
    }

    fn i64(&self, name: &str, i: usize) -> Result<i64> {
        let a = self.typed::<Int64Array>(name)?;
        self.present(a, name, i)?;
        Ok(a.value(i))
    }

    fn id(&self, name: &str, i: usize) -> Result<u64> {
        let v = self.i64(name, i)?;
        u64::try_from(v).map_err(|_| self.err(name, i, format!("negative id {v}")))
    }

    fn opt_i64(&self, name: &str, i: usize) -> Result<Option<i64>> {
        let a = self.typed::<Int64Array>(name)?;
        Ok(a.is_valid(i).then(|| a.value(i)))
    }

    fn u32(&self, name: &str, i: usize) -> Result<u32> {
        let a = self.typed::<Int32Array>(name)?;
        self.present(a, name, i)?;
        u32::try_from(a.value(i))
            .map_err(|_| self.err(name, i, format!("negative value {}", a.value(i))))
    }

    fn opt_u32(&self, name: &str, i: usize) -> Result<Option<u32>> {
        let a = self.typed::<Int32Array>(name)?;
        if a.is_null(i) {
            return Ok(None);
        }
        u32::try_from(a.value(i))
            .map(Some)
            .map_err(|_| self.err(name, i, format!("negative value {}", a.value(i))))
    }

    fn finite(&self, name: &str, i: usize, v: f64) -> Result<f64> {
        if v.is_finite() {
            Ok(v)
        } else {
            Err(self.err(name, i, format!("{v} is not a finite number")))
        }
    }

    fn f64(&self, name: &str, i: usize) -> Result<f64> {
        let a = self.typed::<Float64Array>(name)?;
        self.present(a, name, i)?;
        self.finite(name, i, a.value(i))
    }

    /// Null means unknown (or undefined); NaN is refused, so "undefined" has one spelling.
    fn opt_f64(&self, name: &str, i: usize) -> Result<Option<f64>> {
        let a = self.typed::<Float64Array>(name)?;
        if a.is_null(i) {
            return Ok(None);
        }
        self.finite(name, i, a.value(i)).map(Some)
    }

    fn str(&self, name: &str, i: usize) -> Result<&'a str> {
        let a = self.typed::<StringArray>(name)?;
        self.present(a, name, i)?;
        Ok(a.value(i))
    }

    fn opt_str(&self, name: &str, i: usize) -> Result<Option<String>> {
        let a = self.typed::<StringArray>(name)?;
        Ok(a.is_valid(i).then(|| a.value(i).to_owned()))
    }

    fn list(&self, name: &str, i: usize) -> Result<ArrayRef> {
        let a = self.typed::<ListArray>(name)?;
        self.present(a, name, i)?;
        let values = a.value(i);
        if values.null_count() > 0 {
            return Err(self.err(name, i, "null inside the list"));
        }
        Ok(values)
    }

    fn f64_list(&self, name: &str, i: usize) -> Result<Vec<f64>> {
        let values = self.list(name, i)?;
        let v = values.as_primitive::<Float64Type>().values().to_vec();
        if let Some(bad) = v.iter().find(|x| !x.is_finite()) {
            return Err(self.err(name, i, format!("{bad} is not a finite number")));
        }
        Ok(v)
    }

    fn f32_list_of(&self, name: &str, i: usize, values: &dyn Array) -> Result<Vec<f32>> {
        let v = values.as_primitive::<Float32Type>().values().to_vec();
        if let Some(pos) = v.iter().position(|x| !x.is_finite()) {
            return Err(self.err(
                name,
                i,
                format!("value {} at position {pos} is not a finite number", v[pos]),
            ));
        }
        Ok(v)
    }

    fn f32_list(&self, name: &str, i: usize) -> Result<Vec<f32>> {
        let values = self.list(name, i)?;
        self.f32_list_of(name, i, &values)
    }

    fn id_list(&self, name: &str, i: usize) -> Result<Vec<u64>> {
        let values = self.list(name, i)?;
        values
            .as_primitive::<Int64Type>()
            .values()
            .iter()
            .map(|&v| u64::try_from(v).map_err(|_| self.err(name, i, format!("negative id {v}"))))
            .collect()
    }

    fn str_list(&self, name: &str, i: usize) -> Result<Vec<String>> {
        let values = self.list(name, i)?;
        Ok(values
            .as_string::<i32>()
            .iter()
            .map(|s| s.unwrap_or_default().to_owned())
            .collect())
    }

    fn one_activation_a_token(&self, i: usize, tokens: usize, activations: usize) -> Result<()> {
        if tokens == activations {
            return Ok(());
        }
        Err(self.err(
            "activations",
            i,
            format!("{activations} activations for {tokens} tokens (must be equal)"),
        ))
    }

    fn timestamps_ms(&self, name: &str) -> Result<Vec<Option<i64>>> {
        let target = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        let cast = arrow::compute::cast(self.array(name)?, &target)
            .map_err(|e| DatasetError::column(self.origin.path, name, e.to_string()))?;
        let ts = cast.as_primitive::<arrow::datatypes::TimestampMillisecondType>();
        Ok(ts.iter().collect())
    }

    fn created_at(&self, stamps: &[Option<i64>], i: usize) -> Result<i64> {
        stamps[i].ok_or_else(|| self.err("created_at", i, "null in a required column"))
    }
}

fn list_builder<B: arrow::array::ArrayBuilder>(values: B, item: DataType) -> ListBuilder<B> {
    ListBuilder::new(values).with_field(Arc::new(Field::new("element", item, true)))
}

fn batch(schema: &arrow::datatypes::SchemaRef, columns: Vec<ArrayRef>) -> RecordBatch {
    // The builders above follow the schema exactly; a mismatch is a bug here.
    RecordBatch::try_new(schema.clone(), columns).expect("batch matches its schema")
}

pub fn units_to_batch(units: &[Unit]) -> RecordBatch {
    let mut unit_id = Int64Builder::new();
    let mut layer = Int32Builder::new();
    let mut index = Int32Builder::new();
    let mut kind = StringBuilder::new();
    let mut max = Float64Builder::new();
    let mut mean = Float64Builder::new();
    let mut variance = Float64Builder::new();
    let mut density = Float64Builder::new();
    let mut quantiles = list_builder(Float64Builder::new(), DataType::Float64);
    let mut edges = list_builder(Float64Builder::new(), DataType::Float64);
    let mut counts = list_builder(Int64Builder::new(), DataType::Int64);
    for u in units {
        unit_id.append_value(u.unit_id as i64);
        layer.append_value(u.layer as i32);
        index.append_value(u.index as i32);
        kind.append_value(u.kind.as_str());
        max.append_value(u.stats.max);
        mean.append_option(u.stats.mean);
        variance.append_option(u.stats.variance);
        density.append_option(u.stats.density);
        quantiles
            .values()
            .append_slice(&u.stats.quantile_boundaries);
        quantiles.append(true);
        edges.values().append_slice(&u.stats.histogram_edges);
        edges.append(true);
        for &c in &u.stats.histogram_counts {
            counts.values().append_value(c as i64);
        }
        counts.append(true);
    }
    batch(
        &schema::UNITS,
        vec![
            Arc::new(unit_id.finish()),
            Arc::new(layer.finish()),
            Arc::new(index.finish()),
            Arc::new(kind.finish()),
            Arc::new(max.finish()),
            Arc::new(mean.finish()),
            Arc::new(variance.finish()),
            Arc::new(density.finish()),
            Arc::new(quantiles.finish()),
            Arc::new(edges.finish()),
            Arc::new(counts.finish()),
        ],
    )
}

/// Decodes units; `unit_id` must equal the row number in the file.
pub fn units_from_batch(batch: &RecordBatch, origin: Origin) -> Result<Vec<Unit>> {
    let c = Columns { batch, origin };
    (0..batch.num_rows())
        .map(|i| {
            let unit_id = c.id("unit_id", i)?;
            if unit_id != c.row(i) {
                return Err(c.err(
                    "unit_id",
                    i,
                    format!("unit_id is {unit_id} but must equal its row number"),
                ));
            }
            let kind = c
                .str("kind", i)?
                .parse::<UnitKind>()
                .map_err(|e| c.err("kind", i, e.to_string()))?;
            let histogram_edges = c.f64_list("histogram_edges", i)?;
            let histogram_counts = c
                .id_list("histogram_counts", i)
                .map_err(|_| c.err("histogram_counts", i, "negative count"))?;
            let consistent = (histogram_edges.is_empty() && histogram_counts.is_empty())
                || histogram_edges.len() == histogram_counts.len() + 1;
            if !consistent {
                return Err(c.err(
                    "histogram_edges",
                    i,
                    format!(
                        "{} edges for {} counts (need one more edge than counts)",
                        histogram_edges.len(),
                        histogram_counts.len()
                    ),
                ));
            }
            Ok(Unit {
                unit_id,
                layer: c.u32("layer", i)?,
                index: c.u32("index", i)?,
                kind,
                stats: UnitStats {
                    max: c.f64("max", i)?,
                    mean: c.opt_f64("mean", i)?,
                    variance: c.opt_f64("variance", i)?,
                    density: c.opt_f64("density", i)?,
                    quantile_boundaries: c.f64_list("quantile_boundaries", i)?,
                    histogram_edges,
                    histogram_counts,
                },
            })
        })
        .collect()
}

/// Decodes the scalar unit columns (a projection without the lists).
pub fn overview_from_batch(batch: &RecordBatch, origin: Origin) -> Result<Vec<UnitOverview>> {
    let c = Columns { batch, origin };
    (0..batch.num_rows())
        .map(|i| {
            Ok(UnitOverview {
                unit_id: c.id("unit_id", i)?,
                layer: c.u32("layer", i)?,
                index: c.u32("index", i)?,
                kind: c
                    .str("kind", i)?
                    .parse::<UnitKind>()
                    .map_err(|e| c.err("kind", i, e.to_string()))?,
                max: c.f64("max", i)?,
                density: c.opt_f64("density", i)?,
            })
        })
        .collect()
}

pub fn records_to_batch(records: &[Record]) -> RecordBatch {
    let mut record_id = Int64Builder::new();
    let mut unit_id = Int64Builder::new();
    let mut sample_kind = StringBuilder::new();
    let mut quantile_bin = Int32Builder::new();
    let mut rank = Int32Builder::new();
    let mut document_id = Int64Builder::new();
    let mut token_offset = Int64Builder::new();
    let mut tokens = list_builder(StringBuilder::new(), DataType::Utf8);
    let mut activations = list_builder(Float32Builder::new(), DataType::Float32);
    for r in records {
        record_id.append_value(r.record_id as i64);
        unit_id.append_value(r.unit_id as i64);
        sample_kind.append_value(r.sample.kind_str());
        quantile_bin.append_option(r.sample.quantile_bin().map(|b| b as i32));
        rank.append_value(r.rank as i32);
        document_id.append_option(r.document_id);
        token_offset.append_option(r.token_offset);
        for t in &r.tokens {
            tokens.values().append_value(t);
        }
        tokens.append(true);
        activations.values().append_slice(&r.activations);
        activations.append(true);
    }
    batch(
        &schema::RECORDS,
        vec![
            Arc::new(record_id.finish()),
            Arc::new(unit_id.finish()),
            Arc::new(sample_kind.finish()),
            Arc::new(quantile_bin.finish()),
            Arc::new(rank.finish()),
            Arc::new(document_id.finish()),
            Arc::new(token_offset.finish()),
            Arc::new(tokens.finish()),
            Arc::new(activations.finish()),
        ],
    )
}

pub fn records_from_batch(batch: &RecordBatch, origin: Origin) -> Result<Vec<Record>> {
    let c = Columns { batch, origin };
    (0..batch.num_rows())
        .map(|i| {
            let bin = c.opt_u32("quantile_bin", i)?;
            let sample = match (c.str("sample_kind", i)?, bin) {
                ("top", None) => Sample::Top,
                ("random", None) => Sample::Random,
                ("quantile", Some(bin)) => Sample::Quantile(bin),
                ("quantile", None) => {
                    return Err(c.err("quantile_bin", i, "a quantile record needs its bin"));
                }
                ("top" | "random", Some(_)) => {
                    return Err(c.err(
                        "quantile_bin",
                        i,
                        "only quantile records have a bin; this must be null",
                    ));
                }
                (other, _) => {
                    return Err(c.err(
                        "sample_kind",
                        i,
                        format!("unknown value {other:?} (expected top, quantile or random)"),
                    ));
                }
            };
            let tokens = c.str_list("tokens", i)?;
            let activations = c.f32_list("activations", i)?;
            c.one_activation_a_token(i, tokens.len(), activations.len())?;
            Ok(Record {
                record_id: c.id("record_id", i)?,
                unit_id: c.id("unit_id", i)?,
                sample,
                rank: c.u32("rank", i)?,
                document_id: c.opt_i64("document_id", i)?,
                token_offset: c.opt_i64("token_offset", i)?,
                tokens,
                activations,
            })
        })
        .collect()
}

/// The peak token of each top record in the batch, as (unit, token): the
/// token at the record's first maximum, or `None` where that maximum is not
/// positive (the unit did not fire). Reads `unit_id`, `sample_kind`,
/// `tokens` and `activations`, and copies only the one token a record.
pub fn top_record_peaks_from_batch(
    batch: &RecordBatch,
    origin: Origin,
) -> Result<Vec<(u64, Option<String>)>> {
    let c = Columns { batch, origin };
    let mut out = Vec::new();
    for i in 0..batch.num_rows() {
        if c.str("sample_kind", i)? != "top" {
            continue;
        }
        let activations = c.f32_list("activations", i)?;
        let tokens = c.list("tokens", i)?;
        c.one_activation_a_token(i, tokens.len(), activations.len())?;
        let peak = activations
            .iter()
            .enumerate()
            .fold(None, |best: Option<(usize, f32)>, (j, &a)| match best {
                Some((_, b)) if b >= a => best,
                _ => Some((j, a)),
            })
            .filter(|&(_, a)| a > 0.0)
            .map(|(j, _)| tokens.as_string::<i32>().value(j).to_owned());
        out.push((c.id("unit_id", i)?, peak));
    }
    Ok(out)
}

fn id_list_builder() -> ListBuilder<Int64Builder> {
    list_builder(Int64Builder::new(), DataType::Int64)
}

fn append_ids(builder: &mut ListBuilder<Int64Builder>, ids: &[u64]) {
    for &id in ids {
        builder.values().append_value(id as i64);
    }
    builder.append(true);
}

fn timestamp_builder() -> TimestampMillisecondBuilder {
    TimestampMillisecondBuilder::new().with_timezone("UTC")
}

pub fn explanations_to_batch(rows: &[Explanation]) -> RecordBatch {
    let mut explanation_id = StringBuilder::new();
    let mut unit_id = Int64Builder::new();
    let mut text = StringBuilder::new();
    let mut explainer_model = StringBuilder::new();
    let mut method = StringBuilder::new();
    let mut parent_id = StringBuilder::new();
    let mut evidence = id_list_builder();
    let mut created_at = timestamp_builder();
    for e in rows {
        explanation_id.append_value(&e.explanation_id);
        unit_id.append_value(e.unit_id as i64);
        text.append_value(&e.text);
        explainer_model.append_value(&e.explainer_model);
        method.append_value(&e.method);
        parent_id.append_option(e.parent_id.as_deref());
        append_ids(&mut evidence, &e.evidence_record_ids);
        created_at.append_value(e.created_at_ms);
    }
    batch(
        &schema::EXPLANATIONS,
        vec![
            Arc::new(explanation_id.finish()),
            Arc::new(unit_id.finish()),
            Arc::new(text.finish()),
            Arc::new(explainer_model.finish()),
            Arc::new(method.finish()),
            Arc::new(parent_id.finish()),
            Arc::new(evidence.finish()),
            Arc::new(created_at.finish()),
        ],
    )
}

pub fn explanations_from_batch(batch: &RecordBatch, origin: Origin) -> Result<Vec<Explanation>> {
    let c = Columns { batch, origin };
    let stamps = c.timestamps_ms("created_at")?;
    (0..batch.num_rows())
        .map(|i| {
            Ok(Explanation {
                explanation_id: c.str("explanation_id", i)?.to_owned(),
                unit_id: c.id("unit_id", i)?,
                text: c.str("text", i)?.to_owned(),
                explainer_model: c.str("explainer_model", i)?.to_owned(),
                method: c.str("method", i)?.to_owned(),
                parent_id: c.opt_str("parent_id", i)?,
                evidence_record_ids: c.id_list("evidence_record_ids", i)?,
                created_at_ms: c.created_at(&stamps, i)?,
            })
        })
        .collect()
}

pub fn scores_to_batch(rows: &[Score]) -> RecordBatch {
    let mut score_id = StringBuilder::new();
    let mut explanation_id = StringBuilder::new();
    let mut unit_id = Int64Builder::new();
    let mut simulator_model = StringBuilder::new();
    let mut method = StringBuilder::new();
    let mut record_set = StringBuilder::new();
    let mut score = Float64Builder::new();
    let mut r_squared = Float64Builder::new();
    let mut ade = Float64Builder::new();
    let mut record_ids = id_list_builder();
    let inner = list_builder(Float32Builder::new(), DataType::Float32);
    let mut simulated = list_builder(inner, schema::list_of(DataType::Float32));
    let mut created_at = timestamp_builder();
    for s in rows {
        score_id.append_value(&s.score_id);
        explanation_id.append_value(&s.explanation_id);
        unit_id.append_value(s.unit_id as i64);
        simulator_model.append_value(&s.simulator_model);
        method.append_value(&s.method);
        record_set.append_value(&s.record_set);
        score.append_option(s.score);
        r_squared.append_option(s.r_squared);
        ade.append_option(s.absolute_dev_explained);
        append_ids(&mut record_ids, &s.record_ids);
        for per_record in &s.simulated {
            simulated.values().values().append_slice(per_record);
            simulated.values().append(true);
        }
        simulated.append(true);
        created_at.append_value(s.created_at_ms);
    }
    batch(
        &schema::SCORES,
        vec![
            Arc::new(score_id.finish()),
            Arc::new(explanation_id.finish()),
            Arc::new(unit_id.finish()),
            Arc::new(simulator_model.finish()),
            Arc::new(method.finish()),
            Arc::new(record_set.finish()),
            Arc::new(score.finish()),
            Arc::new(r_squared.finish()),
            Arc::new(ade.finish()),
            Arc::new(record_ids.finish()),
            Arc::new(simulated.finish()),
            Arc::new(created_at.finish()),
        ],
    )
}

pub fn scores_from_batch(batch: &RecordBatch, origin: Origin) -> Result<Vec<Score>> {
    let c = Columns { batch, origin };
    let stamps = c.timestamps_ms("created_at")?;
    (0..batch.num_rows())
        .map(|i| {
            let record_ids = c.id_list("record_ids", i)?;
            let per_record = c.list("simulated", i)?;
            let per_record = per_record.as_list::<i32>();
            if per_record.len() != record_ids.len() {
                return Err(c.err(
                    "simulated",
                    i,
                    format!(
                        "{} simulated records for {} record_ids (must be equal)",
                        per_record.len(),
                        record_ids.len()
                    ),
                ));
            }
            let simulated = (0..per_record.len())
                .map(|j| c.f32_list_of("simulated", i, &per_record.value(j)))
                .collect::<Result<Vec<_>>>()?;
            Ok(Score {
                score_id: c.str("score_id", i)?.to_owned(),
                explanation_id: c.str("explanation_id", i)?.to_owned(),
                unit_id: c.id("unit_id", i)?,
                simulator_model: c.str("simulator_model", i)?.to_owned(),
                method: c.str("method", i)?.to_owned(),
                record_set: c.str("record_set", i)?.to_owned(),
                score: c.opt_f64("score", i)?,
                r_squared: c.opt_f64("r_squared", i)?,
                absolute_dev_explained: c.opt_f64("absolute_dev_explained", i)?,
                record_ids,
                simulated,
                created_at_ms: c.created_at(&stamps, i)?,
            })
        })
        .collect()
}

pub fn ratings_to_batch(rows: &[Rating]) -> RecordBatch {
    let mut rating_id = StringBuilder::new();
    let mut score_id = StringBuilder::new();
    let mut unit_id = Int64Builder::new();
    let mut rating = Int32Builder::new();
    let mut created_at = timestamp_builder();
    for r in rows {
        rating_id.append_value(&r.rating_id);
        score_id.append_value(&r.score_id);
        unit_id.append_value(r.unit_id as i64);
        rating.append_value(r.rating as i32);
        created_at.append_value(r.created_at_ms);
    }
    batch(
        &schema::RATINGS,
        vec![
            Arc::new(rating_id.finish()),
            Arc::new(score_id.finish()),
            Arc::new(unit_id.finish()),
            Arc::new(rating.finish()),
            Arc::new(created_at.finish()),
        ],
    )
}

pub fn ratings_from_batch(batch: &RecordBatch, origin: Origin) -> Result<Vec<Rating>> {
    let c = Columns { batch, origin };
    let stamps = c.timestamps_ms("created_at")?;
    (0..batch.num_rows())
        .map(|i| {
            let rating = c.u32("rating", i)?;
            if !(1..=5).contains(&rating) {
                return Err(c.err("rating", i, format!("{rating} is not from 1 to 5")));
            }
            Ok(Rating {
                rating_id: c.str("rating_id", i)?.to_owned(),
                score_id: c.str("score_id", i)?.to_owned(),
                unit_id: c.id("unit_id", i)?,
                rating,
                created_at_ms: c.created_at(&stamps, i)?,
            })
        })
        .collect()
}

pub fn embeddings_to_batch(rows: &[ExplanationEmbedding]) -> RecordBatch {
    let mut explanation_id = StringBuilder::new();
    let mut embedder = StringBuilder::new();
    let mut embedding = list_builder(Float32Builder::new(), DataType::Float32);
    for r in rows {
        explanation_id.append_value(&r.explanation_id);
        embedder.append_value(&r.embedder);
        embedding.values().append_slice(&r.embedding);
        embedding.append(true);
    }
    batch(
        &schema::EMBEDDINGS,
        vec![
            Arc::new(explanation_id.finish()),
            Arc::new(embedder.finish()),
            Arc::new(embedding.finish()),
        ],
    )
}

pub fn embeddings_from_batch(
    batch: &RecordBatch,
    origin: Origin,
) -> Result<Vec<ExplanationEmbedding>> {
    let c = Columns { batch, origin };
    (0..batch.num_rows())
        .map(|i| {
            Ok(ExplanationEmbedding {
                explanation_id: c.str("explanation_id", i)?.to_owned(),
                embedder: c.str("embedder", i)?.to_owned(),
                embedding: c.f32_list("embedding", i)?,
            })
        })
        .collect()
}

pub fn logit_effects_to_batch(rows: &[LogitEffect]) -> RecordBatch {
    let mut unit_id = Int64Builder::new();
    let mut tokens = [
        list_builder(StringBuilder::new(), DataType::Utf8),
        list_builder(StringBuilder::new(), DataType::Utf8),
    ];
    let mut effects = [
        list_builder(Float32Builder::new(), DataType::Float32),
        list_builder(Float32Builder::new(), DataType::Float32),
    ];
    for r in rows {
        unit_id.append_value(r.unit_id as i64);
        for (side, list) in [&r.raised, &r.lowered].into_iter().enumerate() {
            for t in list {
                tokens[side].values().append_value(&t.token);
                effects[side].values().append_value(t.effect);
            }
            tokens[side].append(true);
            effects[side].append(true);
        }
    }
    let [mut raised, mut lowered] = tokens;
    let [mut raised_by, mut lowered_by] = effects;
    batch(
        &schema::LOGIT_EFFECTS,
        vec![
            Arc::new(unit_id.finish()),
            Arc::new(raised.finish()),
            Arc::new(raised_by.finish()),
            Arc::new(lowered.finish()),
            Arc::new(lowered_by.finish()),
        ],
    )
}

pub fn logit_effects_from_batch(batch: &RecordBatch, origin: Origin) -> Result<Vec<LogitEffect>> {
    let c = Columns { batch, origin };
    let side = |i: usize, tokens: &str, effects: &str| -> Result<Vec<TokenEffect>> {
        let (t, e) = (c.str_list(tokens, i)?, c.f32_list(effects, i)?);
        if t.len() != e.len() {
            return Err(c.err(
                effects,
                i,
                format!("{} effects for {} tokens (must be equal)", e.len(), t.len()),
            ));
        }
        Ok(t.into_iter()
            .zip(e)
            .map(|(token, effect)| TokenEffect { token, effect })
            .collect())
    };
    (0..batch.num_rows())
        .map(|i| {
            Ok(LogitEffect {
                unit_id: c.id("unit_id", i)?,
                raised: side(i, "raised", "raised_by")?,
                lowered: side(i, "lowered", "lowered_by")?,
            })
        })
        .collect()
}
