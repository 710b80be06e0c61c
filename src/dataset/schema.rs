//! The Arrow schemas of the four tables (docs/dataset-format.md is their
//! description for users) and the check of a file's schema against them.
use super::error::{DatasetError, Result};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::path::Path;
use std::sync::{Arc, LazyLock};

pub const UNITS_FILE: &str = "units.parquet";
pub const LOGIT_EFFECTS_FILE: &str = "logit_effects.parquet";
pub const RECORDS_DIR: &str = "records";
pub const EXPLANATIONS_DIR: &str = "explanations";
pub const SCORES_DIR: &str = "scores";
pub const RATINGS_DIR: &str = "ratings";
/// A cache: derived from the explanations, so it may be deleted.
pub const EMBEDDINGS_DIR: &str = "embeddings";

pub fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("element", item, true)))
}

fn timestamp_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// `Field::new` with the nullability that the format allows (required columns
/// must hold no nulls).
fn required(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, false)
}

fn optional(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, true)
}

pub static UNITS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        required("unit_id", DataType::Int64),
        required("layer", DataType::Int32),
        required("index", DataType::Int32),
        required("kind", DataType::Utf8),
        required("max", DataType::Float64),
        optional("mean", DataType::Float64),
        optional("variance", DataType::Float64),
        optional("density", DataType::Float64),
        required("quantile_boundaries", list_of(DataType::Float64)),
        required("histogram_edges", list_of(DataType::Float64)),
        required("histogram_counts", list_of(DataType::Int64)),
    ]))
});

pub static RECORDS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        required("record_id", DataType::Int64),
        required("unit_id", DataType::Int64),
        required("sample_kind", DataType::Utf8),
        optional("quantile_bin", DataType::Int32),
        required("rank", DataType::Int32),
        optional("document_id", DataType::Int64),
        optional("token_offset", DataType::Int64),
        required("tokens", list_of(DataType::Utf8)),
        required("activations", list_of(DataType::Float32)),
    ]))
});

pub static EXPLANATIONS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        required("explanation_id", DataType::Utf8),
        required("unit_id", DataType::Int64),
        required("text", DataType::Utf8),
        required("explainer_model", DataType::Utf8),
        required("method", DataType::Utf8),
        optional("parent_id", DataType::Utf8),
        required("evidence_record_ids", list_of(DataType::Int64)),
        required("created_at", timestamp_ms()),
    ]))
});

pub static SCORES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        required("score_id", DataType::Utf8),
        required("explanation_id", DataType::Utf8),
        required("unit_id", DataType::Int64),
        required("simulator_model", DataType::Utf8),
        required("method", DataType::Utf8),
        required("record_set", DataType::Utf8),
        optional("score", DataType::Float64),
        optional("r_squared", DataType::Float64),
        optional("absolute_dev_explained", DataType::Float64),
        required("record_ids", list_of(DataType::Int64)),
        required("simulated", list_of(list_of(DataType::Float32))),
        required("created_at", timestamp_ms()),
    ]))
});

pub static RATINGS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        required("rating_id", DataType::Utf8),
        required("score_id", DataType::Utf8),
        required("unit_id", DataType::Int64),
        required("rating", DataType::Int32),
        required("created_at", timestamp_ms()),
    ]))
});

pub static LOGIT_EFFECTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        required("unit_id", DataType::Int64),
        required("raised", list_of(DataType::Utf8)),
        required("raised_by", list_of(DataType::Float32)),
        required("lowered", list_of(DataType::Utf8)),
        required("lowered_by", list_of(DataType::Float32)),
    ]))
});

pub static EMBEDDINGS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        required("explanation_id", DataType::Utf8),
        required("embedder", DataType::Utf8),
        required("embedding", list_of(DataType::Float32)),
    ]))
});

/// Types match when they are equal up to the names and nullability of list
/// items (writers differ there: pyarrow says `element`, others `item`) and the
/// unit and zone of timestamps (readers convert).
fn same_type(found: &DataType, expected: &DataType) -> bool {
    match (found, expected) {
        (DataType::List(a), DataType::List(b)) => same_type(a.data_type(), b.data_type()),
        (DataType::Timestamp(..), DataType::Timestamp(..)) => true,
        _ => found == expected,
    }
}

fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::List(item) => format!("list<{}>", type_name(item.data_type())),
        DataType::Utf8 => "string".into(),
        DataType::Timestamp(..) => "timestamp".into(),
        other => other.to_string().to_lowercase(),
    }
}

/// Checks that `found` has exactly the columns of `expected`, with their types.
pub fn check(path: &Path, found: &Schema, expected: &Schema) -> Result<()> {
    for field in expected.fields() {
        match found.field_with_name(field.name()) {
            Err(_) => {
                return Err(DatasetError::column(
                    path,
                    field.name(),
                    "missing column".to_owned(),
                ));
            }
            Ok(f) if !same_type(f.data_type(), field.data_type()) => {
                return Err(DatasetError::column(
                    path,
                    field.name(),
                    format!(
                        "wrong type: found {}, expected {}",
                        type_name(f.data_type()),
                        type_name(field.data_type())
                    ),
                ));
            }
            Ok(_) => {}
        }
    }
    if let Some(extra) = found
        .fields()
        .iter()
        .find(|f| expected.field_with_name(f.name()).is_err())
    {
        return Err(DatasetError::column(
            path,
            extra.name(),
            "unexpected column (not in format version 1)".to_owned(),
        ));
    }
    Ok(())
}
