//! Writing a new dataset: streaming (memory bounded by one row group of
//! records) and atomic (everything goes to a hidden staging directory that
//! replaces the destination in one rename when, and only when, it is complete).
use super::error::{DatasetError, IoContext, Result};
use super::io::{publish_dir, staging_dir};
use super::manifest::{MANIFEST_FILE, Manifest};
use super::schema::{
    self, EXPLANATIONS_DIR, LOGIT_EFFECTS_FILE, RECORDS_DIR, SCORES_DIR, UNITS_FILE,
};
use super::tables;
use super::types::{Explanation, LogitEffect, NewRecord, NewUnit, Record, Score, Unit};
use crate::publish::sync_dir;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::fs::File;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Units per record file (`records/part-NNNNN.parquet`).
    pub units_per_file: usize,
    /// Records per row group (rounded up to whole units).
    pub row_group_records: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            units_per_file: 4096,
            row_group_records: 1024,
        }
    }
}

/// Small pages let a point query decode little; no dictionaries or statistics
/// for the token lists, which are large and never filtered on.
fn record_properties() -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid level"),
        ))
        .set_data_page_size_limit(32 * 1024)
        .set_write_batch_size(256)
        .set_max_row_group_row_count(None)
        .set_created_by(concat!("featurescope ", env!("CARGO_PKG_VERSION")).into());
    for list in ["tokens", "activations"] {
        let path = ColumnPath::new(vec![list.into(), "list".into(), "element".into()]);
        builder = builder
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_statistics_enabled(path, EnabledStatistics::None);
    }
    builder.build()
}

fn table_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid level"),
        ))
        .set_data_page_size_limit(16 * 1024)
        .set_created_by(concat!("featurescope ", env!("CARGO_PKG_VERSION")).into())
        .build()
}

fn parquet_error(path: &Path, e: impl ToString) -> DatasetError {
    DatasetError::Parquet {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// A Parquet file being written, with the path its errors name.
struct TableWriter {
    path: PathBuf,
    writer: ArrowWriter<File>,
}

impl TableWriter {
    fn create(path: PathBuf, schema: &SchemaRef, props: WriterProperties) -> Result<Self> {
        let file = File::create(&path).at(&path)?;
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|e| parquet_error(&path, e))?;
        Ok(Self { path, writer })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer
            .write(batch)
            .map_err(|e| parquet_error(&self.path, e))
    }

    fn end_row_group(&mut self) -> Result<()> {
        self.writer
            .flush()
            .map_err(|e| parquet_error(&self.path, e))
    }

    /// Writes the footer and flushes the file to disk.
    fn finish(self) -> Result<()> {
        let file = self
            .writer
            .into_inner()
            .map_err(|e| parquet_error(&self.path, e))?;
        file.sync_all().at(&self.path)
    }
}

/// Writes `batch` as one complete Parquet file.
pub fn write_table_file(path: &Path, batch: &RecordBatch) -> Result<()> {
    let mut writer = TableWriter::create(path.to_owned(), &batch.schema(), table_properties())?;
    writer.write(batch)?;
    writer.finish()
}

/// Ids given to a unit and its records: record `i` of the unit has id
/// `first_record_id + i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddedUnit {
    pub unit_id: u64,
    pub first_record_id: u64,
}

pub struct DatasetWriter {
    dest: PathBuf,
    staging: PathBuf,
    manifest: Manifest,
    options: WriterOptions,
    /// Taken when finished.
    units: Option<TableWriter>,
    unit_buffer: Vec<Unit>,
    records: Option<TableWriter>,
    record_buffer: Vec<Record>,
    record_files: usize,
    units_in_file: usize,
    next_unit_id: u64,
    next_record_id: u64,
    explanations: Vec<Explanation>,
    scores: Vec<Score>,
    logit_effects: Vec<LogitEffect>,
    published: bool,
}

impl DatasetWriter {
    /// Starts a dataset that will appear at `dest` when [`finish`](Self::finish)
    /// succeeds. Until then any dataset already at `dest` stays as it was.
    pub fn create(
        dest: impl AsRef<Path>,
        manifest: Manifest,
        options: WriterOptions,
    ) -> Result<Self> {
        let dest = dest.as_ref().to_owned();
        if options.units_per_file == 0 || options.row_group_records == 0 {
            return Err(DatasetError::Input {
                what: "writer options".into(),
                problem: "units_per_file and row_group_records must be positive".into(),
            });
        }
        let staging = staging_dir(&dest)?;
        std::fs::create_dir_all(staging.join(RECORDS_DIR)).at(&staging)?;
        let units =
            TableWriter::create(staging.join(UNITS_FILE), &schema::UNITS, table_properties())?;
        Ok(Self {
            dest,
            staging,
            manifest,
            options,
            units: Some(units),
            unit_buffer: Vec::new(),
            records: None,
            record_buffer: Vec::new(),
            record_files: 0,
            units_in_file: 0,
            next_unit_id: 0,
            next_record_id: 0,
            explanations: Vec::new(),
            scores: Vec::new(),
            logit_effects: Vec::new(),
            published: false,
        })
    }

    /// Adds the next unit with its records. Units get consecutive ids in the
    /// order they are added, and so do records.
    pub fn add_unit(&mut self, unit: NewUnit, records: Vec<NewRecord>) -> Result<AddedUnit> {
        check_unit(&unit, &records)?;
        let unit_id = self.next_unit_id;
        let added = AddedUnit {
            unit_id,
            first_record_id: self.next_record_id,
        };
        for r in records {
            self.record_buffer.push(Record {
                record_id: self.next_record_id,
                unit_id,
                sample: r.sample,
                rank: r.rank,
                document_id: r.document_id,
                token_offset: r.token_offset,
                tokens: r.tokens,
                activations: r.activations,
            });
            self.next_record_id += 1;
        }
        self.unit_buffer.push(Unit {
            unit_id,
            layer: unit.layer,
            index: unit.index,
            kind: unit.kind,
            stats: unit.stats,
        });
        self.next_unit_id += 1;
        self.units_in_file += 1;
        if self.record_buffer.len() >= self.options.row_group_records {
            self.flush_records()?;
        }
        if self.units_in_file >= self.options.units_per_file {
            self.finish_record_file()?;
        }
        if self.unit_buffer.len() >= 4096 {
            self.flush_units()?;
        }
        Ok(added)
    }

    /// Explanations (and scores) to write with the dataset, e.g. on import.
    pub fn add_explanations(&mut self, rows: impl IntoIterator<Item = Explanation>) {
        self.explanations.extend(rows);
    }

    pub fn add_scores(&mut self, rows: impl IntoIterator<Item = Score>) {
        self.scores.extend(rows);
    }

    /// Logit effects of units already added (by their ids), e.g. on import.
    pub fn add_logit_effects(&mut self, rows: impl IntoIterator<Item = LogitEffect>) {
        self.logit_effects.extend(rows);
    }

    /// The manifest, for what is known only once the data has been seen.
    pub fn manifest_mut(&mut self) -> &mut Manifest {
        &mut self.manifest
    }

    pub fn units_written(&self) -> u64 {
        self.next_unit_id
    }

    fn flush_units(&mut self) -> Result<()> {
        if !self.unit_buffer.is_empty() {
            let writer = self.units.as_mut().expect("open until finish");
            writer.write(&tables::units_to_batch(&self.unit_buffer))?;
            self.unit_buffer.clear();
        }
        Ok(())
    }

    /// Writes the buffered records as one row group (they hold whole units).
    fn flush_records(&mut self) -> Result<()> {
        if self.record_buffer.is_empty() {
            return Ok(());
        }
        if self.records.is_none() {
            let path = self
                .staging
                .join(RECORDS_DIR)
                .join(format!("part-{:05}.parquet", self.record_files));
            self.records = Some(TableWriter::create(
                path,
                &schema::RECORDS,
                record_properties(),
            )?);
            self.record_files += 1;
        }
        let writer = self.records.as_mut().expect("created above");
        writer.write(&tables::records_to_batch(&self.record_buffer))?;
        writer.end_row_group()?;
        self.record_buffer.clear();
        Ok(())
    }

    fn finish_record_file(&mut self) -> Result<()> {
        self.flush_records()?;
        if let Some(writer) = self.records.take() {
            writer.finish()?;
        }
        self.units_in_file = 0;
        Ok(())
    }

    /// Completes every file, then publishes the dataset at its destination.
    pub fn finish(mut self) -> Result<PathBuf> {
        if self.next_unit_id == 0 {
            return Err(DatasetError::Input {
                what: "dataset".into(),
                problem: "no units were written".into(),
            });
        }
        self.finish_record_file()?;
        self.flush_units()?;
        self.units.take().expect("open until finish").finish()?;
        if !self.explanations.is_empty() {
            let dir = self.staging.join(EXPLANATIONS_DIR);
            std::fs::create_dir_all(&dir).at(&dir)?;
            let batch = tables::explanations_to_batch(&self.explanations);
            write_table_file(&dir.join("part-00000-import.parquet"), &batch)?;
        }
        if !self.scores.is_empty() {
            let dir = self.staging.join(SCORES_DIR);
            std::fs::create_dir_all(&dir).at(&dir)?;
            write_table_file(
                &dir.join("part-00000-import.parquet"),
                &tables::scores_to_batch(&self.scores),
            )?;
        }
        if let Some(r) = (self.logit_effects.iter()).find(|r| r.unit_id >= self.next_unit_id) {
            return Err(DatasetError::UnknownUnit {
                unit_id: r.unit_id,
                units: self.next_unit_id,
            });
        }
        if !self.logit_effects.is_empty() {
            write_table_file(
                &self.staging.join(LOGIT_EFFECTS_FILE),
                &tables::logit_effects_to_batch(&self.logit_effects),
            )?;
        }
        // The manifest goes last: a staging directory without one is not a dataset.
        let manifest_path = self.staging.join(MANIFEST_FILE);
        let text = serde_json::to_vec_pretty(&self.manifest).expect("manifest serialises");
        std::fs::write(&manifest_path, text).at(&manifest_path)?;
        File::open(&manifest_path)
            .and_then(|f| f.sync_all())
            .at(&manifest_path)?;
        for dir in [self.staging.join(RECORDS_DIR), self.staging.clone()] {
            sync_dir(&dir)?;
        }
        publish_dir(&self.staging, &self.dest)?;
        self.published = true;
        Ok(self.dest.clone())
    }
}

impl Drop for DatasetWriter {
    /// An abandoned or failed write leaves nothing behind.
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

fn check_unit(unit: &NewUnit, records: &[NewRecord]) -> Result<()> {
    let what = || format!("unit (layer {}, index {})", unit.layer, unit.index);
    let fail = |problem: String| DatasetError::Input {
        what: what(),
        problem,
    };
    if records.is_empty() {
        return Err(fail("a unit needs at least one record".into()));
    }
    if !unit.stats.max.is_finite() {
        return Err(fail(format!(
            "max activation {} is not finite",
            unit.stats.max
        )));
    }
    for (i, r) in records.iter().enumerate() {
        if r.tokens.len() != r.activations.len() {
            return Err(fail(format!(
                "record {i}: {} activations for {} tokens",
                r.activations.len(),
                r.tokens.len()
            )));
        }
        if let Some(pos) = r.activations.iter().position(|a| !a.is_finite()) {
            return Err(fail(format!(
                "record {i}: activation {} at token {pos} is not finite",
                r.activations[pos]
            )));
        }
    }
    Ok(())
}
