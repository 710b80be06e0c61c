//! Appending explanations, scores, ratings and embeddings to an existing
//! dataset, and writing its logit effects. Each append is a
//! new part file, written under a hidden temporary name and renamed into
//! place, so records are never rewritten, readers never see half a part, and
//! concurrent appenders (threads or processes) never lose each other's rows.
use super::error::{DatasetError, IoContext, Result};
use super::reader::Dataset;
use super::schema::{
    EMBEDDINGS_DIR, EXPLANATIONS_DIR, LOGIT_EFFECTS_FILE, RATINGS_DIR, SCORES_DIR,
};
use super::tables;
use super::types::{Explanation, ExplanationEmbedding, LogitEffect, Rating, Score};
use super::writer::write_table_file;
use crate::publish::{unique_suffix, write_atomically};
use arrow::array::RecordBatch;
use std::path::PathBuf;

impl Dataset {
    /// An error naming the dataset's folder when nothing can be added to it
    /// (a read-only mount, no permission to write), so that work whose end
    /// is an append is refused before it starts rather than computed and lost.
    pub fn check_writable(&self) -> Result<()> {
        let dir = self.dir();
        rustix::fs::access(dir, rustix::fs::Access::WRITE_OK).map_err(|errno| {
            DatasetError::invalid(
                dir,
                format!(
                    "cannot be written ({}): explanations, scores, ratings and results cannot be added to it",
                    std::io::Error::from(errno)
                ),
            )
        })
    }

    fn append_part(&self, table: &str, batch: RecordBatch, unit_ids: &[u64]) -> Result<PathBuf> {
        let units = self.unit_count()?;
        if let Some(&unit_id) = unit_ids.iter().find(|&&u| u >= units) {
            return Err(DatasetError::UnknownUnit { unit_id, units });
        }
        let dir = self.dir().join(table);
        std::fs::create_dir_all(&dir).at(&dir)?;
        let dest = dir.join(format!(
            "part-{:013}-{}.parquet",
            super::types::now_ms(),
            unique_suffix()
        ));
        write_atomically(&dest, |tmp| write_table_file(tmp, &batch))?;
        Ok(dest)
    }

    /// Appends explanations as one new part of the explanations table.
    pub fn append_explanations(&self, rows: &[Explanation]) -> Result<PathBuf> {
        let ids: Vec<u64> = rows.iter().map(|r| r.unit_id).collect();
        self.append_part(EXPLANATIONS_DIR, tables::explanations_to_batch(rows), &ids)
    }

    /// Appends scores as one new part of the scores table.
    pub fn append_scores(&self, rows: &[Score]) -> Result<PathBuf> {
        let ids: Vec<u64> = rows.iter().map(|r| r.unit_id).collect();
        self.append_part(SCORES_DIR, tables::scores_to_batch(rows), &ids)
    }

    /// Writes the units' logit effects, replacing any there were (written
    /// whole under a hidden name, then renamed).
    pub fn write_logit_effects(&self, rows: &[LogitEffect]) -> Result<PathBuf> {
        let units = self.unit_count()?;
        if let Some(r) = rows.iter().find(|r| r.unit_id >= units) {
            return Err(DatasetError::UnknownUnit {
                unit_id: r.unit_id,
                units,
            });
        }
        let dest = self.dir().join(LOGIT_EFFECTS_FILE);
        let batch = tables::logit_effects_to_batch(rows);
        write_atomically(&dest, |tmp| write_table_file(tmp, &batch))?;
        Ok(dest)
    }

    /// Appends embeddings of explanations to the cache, as one new part.
    pub fn append_embeddings(&self, rows: &[ExplanationEmbedding]) -> Result<PathBuf> {
        self.append_part(EMBEDDINGS_DIR, tables::embeddings_to_batch(rows), &[])
    }

    /// Appends ratings of simulations as one new part of the ratings table.
    pub fn append_ratings(&self, rows: &[Rating]) -> Result<PathBuf> {
        if let Some(bad) = rows.iter().find(|r| !(1..=5).contains(&r.rating)) {
            return Err(DatasetError::invalid(
                self.dir().join(RATINGS_DIR),
                format!("rating {} is not from 1 to 5", bad.rating),
            ));
        }
        let ids: Vec<u64> = rows.iter().map(|r| r.unit_id).collect();
        self.append_part(RATINGS_DIR, tables::ratings_to_batch(rows), &ids)
    }
}
