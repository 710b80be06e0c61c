//! A full check of a dataset: every row of every table, sort order, ids and
//! references. Reads everything once, in bounded memory (one batch at a time,
//! plus the set of explanation ids).
use super::error::{DatasetError, Result};
use super::parquet_file::ParquetFile;
use super::reader::{Dataset, table_files};
use super::schema::{
    self, EMBEDDINGS_DIR, EXPLANATIONS_DIR, LOGIT_EFFECTS_FILE, RATINGS_DIR, RECORDS_DIR,
    SCORES_DIR,
};
use super::tables::{self, Origin};
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationReport {
    pub units: u64,
    pub records: u64,
    pub explanations: u64,
    pub scores: u64,
    pub ratings: u64,
    /// Cached embeddings of explanations (search by meaning).
    pub embeddings: u64,
    /// Units with logit effects.
    pub logit_effects: u64,
}

/// Reads every row of `path`, decoding (and so checking) each batch.
fn scan<T>(
    ds: &Dataset,
    path: &Path,
    expected: &arrow::datatypes::Schema,
    decode: fn(&arrow::array::RecordBatch, Origin) -> Result<Vec<T>>,
    mut visit: impl FnMut(T, u64) -> Result<()>,
) -> Result<u64> {
    let file = ParquetFile::open(path, expected, ds.counter.clone())?;
    let mut row = 0u64;
    for batch in file.read_all(None)? {
        for item in decode(
            &batch,
            Origin {
                path,
                first_row: row,
            },
        )? {
            visit(item, row)?;
            row += 1;
        }
    }
    Ok(row)
}

impl Dataset {
    pub fn validate(&self) -> Result<ValidationReport> {
        let units_path = self.units_file()?.path.clone();
        let units = scan(
            self,
            &units_path,
            &schema::UNITS,
            tables::units_from_batch,
            |_, _| Ok(()),
        )?;
        let records_dir = self.dir().join(RECORDS_DIR);
        let no_records = |unit_id: u64| {
            DatasetError::invalid(&records_dir, format!("unit {unit_id} has no records"))
        };
        // Units covered so far: records are sorted by unit, so a gap is a unit without records.
        let mut next_unit = 0u64;
        let mut last_record_id: Option<u64> = None;
        let mut records = 0u64;
        for path in self.record_files() {
            records += scan(
                self,
                path,
                &schema::RECORDS,
                tables::records_from_batch,
                |r, row| {
                    let at = |problem: String| DatasetError::value(path, "unit_id", row, problem);
                    if r.unit_id >= units {
                        return Err(at(format!(
                            "unit {} does not exist (units.parquet has {units} rows)",
                            r.unit_id
                        )));
                    }
                    if r.unit_id + 1 < next_unit {
                        return Err(at(format!(
                            "records are not sorted by unit_id (unit {} after unit {})",
                            r.unit_id,
                            next_unit - 1
                        )));
                    }
                    if r.unit_id > next_unit {
                        return Err(no_records(next_unit));
                    }
                    next_unit = r.unit_id + 1;
                    if last_record_id.is_some_and(|last| r.record_id <= last) {
                        return Err(DatasetError::value(
                            path,
                            "record_id",
                            row,
                            format!(
                                "record_id {} is not greater than the one before",
                                r.record_id
                            ),
                        ));
                    }
                    last_record_id = Some(r.record_id);
                    Ok(())
                },
            )?;
        }
        if next_unit < units {
            return Err(no_records(next_unit));
        }

        let mut explanation_ids = HashSet::new();
        // (explanation, parent) links, checked once every id is known.
        let mut lineage: Vec<(String, String)> = Vec::new();
        let mut explanations = 0u64;
        for path in table_files(&self.dir().join(EXPLANATIONS_DIR))? {
            explanations += scan(
                self,
                &path,
                &schema::EXPLANATIONS,
                tables::explanations_from_batch,
                |e, row| {
                    if e.unit_id >= units {
                        return Err(DatasetError::value(
                            &path,
                            "unit_id",
                            row,
                            format!("unit {} does not exist", e.unit_id),
                        ));
                    }
                    if !explanation_ids.insert(e.explanation_id.clone()) {
                        return Err(DatasetError::value(
                            &path,
                            "explanation_id",
                            row,
                            format!("duplicate id {}", e.explanation_id),
                        ));
                    }
                    if let Some(parent) = e.parent_id {
                        lineage.push((e.explanation_id, parent));
                    }
                    Ok(())
                },
            )?;
        }
        // Parents may sit in later parts, so lineage is checked after all ids are known.
        if let Some((child, parent)) = lineage
            .iter()
            .find(|(_, parent)| !explanation_ids.contains(parent))
        {
            return Err(DatasetError::invalid(
                self.dir().join(EXPLANATIONS_DIR),
                format!("explanation {child} revises {parent}, which does not exist"),
            ));
        }
        let mut scores = 0u64;
        let mut score_units = std::collections::HashMap::new();
        for path in table_files(&self.dir().join(SCORES_DIR))? {
            scores += scan(
                self,
                &path,
                &schema::SCORES,
                tables::scores_from_batch,
                |s, row| {
                    if !explanation_ids.contains(&s.explanation_id) {
                        return Err(DatasetError::value(
                            &path,
                            "explanation_id",
                            row,
                            format!("explanation {} does not exist", s.explanation_id),
                        ));
                    }
                    if s.unit_id >= units {
                        return Err(DatasetError::value(
                            &path,
                            "unit_id",
                            row,
                            format!("unit {} does not exist", s.unit_id),
                        ));
                    }
                    score_units.insert(s.score_id, s.unit_id);
                    Ok(())
                },
            )?;
        }
        let mut ratings = 0u64;
        for path in table_files(&self.dir().join(RATINGS_DIR))? {
            ratings += scan(
                self,
                &path,
                &schema::RATINGS,
                tables::ratings_from_batch,
                |r, row| match score_units.get(&r.score_id) {
                    None => Err(DatasetError::value(
                        &path,
                        "score_id",
                        row,
                        format!("score {} does not exist", r.score_id),
                    )),
                    Some(&unit) if unit != r.unit_id => Err(DatasetError::value(
                        &path,
                        "unit_id",
                        row,
                        format!(
                            "unit {} is not the unit of score {} ({unit})",
                            r.unit_id, r.score_id
                        ),
                    )),
                    Some(_) => Ok(()),
                },
            )?;
        }
        let mut embeddings = 0u64;
        for path in table_files(&self.dir().join(EMBEDDINGS_DIR))? {
            embeddings += scan(
                self,
                &path,
                &schema::EMBEDDINGS,
                tables::embeddings_from_batch,
                |e, row| {
                    if explanation_ids.contains(&e.explanation_id) {
                        Ok(())
                    } else {
                        Err(DatasetError::value(
                            &path,
                            "explanation_id",
                            row,
                            format!("explanation {} does not exist", e.explanation_id),
                        ))
                    }
                },
            )?;
        }
        let effects_path = self.dir().join(LOGIT_EFFECTS_FILE);
        let mut logit_effects = 0u64;
        if effects_path.is_file() {
            logit_effects = scan(
                self,
                &effects_path,
                &schema::LOGIT_EFFECTS,
                tables::logit_effects_from_batch,
                |e, row| {
                    if e.unit_id < units {
                        Ok(())
                    } else {
                        Err(DatasetError::value(
                            &effects_path,
                            "unit_id",
                            row,
                            format!("unit {} does not exist", e.unit_id),
                        ))
                    }
                },
            )?;
        }
        Ok(ValidationReport {
            units,
            records,
            explanations,
            scores,
            ratings,
            embeddings,
            logit_effects,
        })
    }
}
