//! One Parquet file of a dataset: its footer and page index, read once, and
//! reads of whole files or of row ranges within one row group. With the page
//! index, a row-range read fetches only the pages that hold those rows.
use super::error::{DatasetError, Result};
use super::io::{CountingFile, ReadCounter};
use super::schema;
use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
    RowSelector,
};
use parquet::file::metadata::PageIndexPolicy;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct ParquetFile {
    pub path: PathBuf,
    file: CountingFile,
    meta: ArrowReaderMetadata,
}

impl ParquetFile {
    /// Opens `path` and checks its schema against `expected`.
    pub fn open(path: &Path, expected: &Schema, counter: Arc<ReadCounter>) -> Result<Self> {
        let file = CountingFile::open(path, counter)?;
        // The offset index lets a row-range read fetch only its pages; the
        // column index (per-page min/max) is never consulted, so is not loaded.
        let options = ArrowReaderOptions::new()
            .with_offset_index_policy(PageIndexPolicy::Optional)
            .with_column_index_policy(PageIndexPolicy::Skip);
        let meta =
            ArrowReaderMetadata::load(&file, options).map_err(|e| DatasetError::Parquet {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        schema::check(path, meta.schema(), expected)?;
        Ok(Self {
            path: path.to_owned(),
            file,
            meta,
        })
    }

    pub fn num_rows(&self) -> u64 {
        self.meta.metadata().file_metadata().num_rows().max(0) as u64
    }

    pub fn row_group_rows(&self) -> Vec<usize> {
        self.meta
            .metadata()
            .row_groups()
            .iter()
            .map(|rg| rg.num_rows().max(0) as usize)
            .collect()
    }

    /// Min and max of an Int64 column in each row group, from the footer's
    /// statistics (`None` where a writer left them out).
    pub fn int64_bounds(&self, column: &str) -> Vec<Option<(i64, i64)>> {
        use parquet::file::statistics::Statistics;
        self.meta
            .metadata()
            .row_groups()
            .iter()
            .map(|rg| {
                let chunk = rg
                    .columns()
                    .iter()
                    .find(|c| c.column_path().string() == column)?;
                match chunk.statistics()? {
                    Statistics::Int64(s) => Some((*s.min_opt()?, *s.max_opt()?)),
                    _ => None,
                }
            })
            .collect()
    }

    fn projection(&self, columns: Option<&[&str]>) -> ProjectionMask {
        let descr = self.meta.parquet_schema();
        match columns {
            None => ProjectionMask::all(),
            Some(names) => {
                let schema = self.meta.schema();
                let roots = names.iter().filter_map(|n| schema.index_of(n).ok());
                ProjectionMask::roots(descr, roots)
            }
        }
    }

    fn parquet_error(&self, e: impl ToString) -> DatasetError {
        DatasetError::Parquet {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    fn collect(
        &self,
        builder: ParquetRecordBatchReaderBuilder<CountingFile>,
    ) -> Result<Vec<RecordBatch>> {
        let reader = builder.build().map_err(|e| self.read_error(e))?;
        reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.read_error(e))
    }

    fn builder(&self) -> Result<ParquetRecordBatchReaderBuilder<CountingFile>> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| DatasetError::io(&self.path, e))?;
        Ok(ParquetRecordBatchReaderBuilder::new_with_metadata(
            file,
            self.meta.clone(),
        ))
    }

    /// Reads rows `rows` of row group `row_group`.
    pub fn read_range(
        &self,
        row_group: usize,
        rows: Range<usize>,
        columns: Option<&[&str]>,
    ) -> Result<Vec<RecordBatch>> {
        let selection = RowSelection::from(vec![
            RowSelector::skip(rows.start),
            RowSelector::select(rows.len()),
        ]);
        let builder = self
            .builder()?
            .with_row_groups(vec![row_group])
            .with_row_selection(selection)
            .with_projection(self.projection(columns));
        self.collect(builder)
    }

    /// Reads the whole file, in row order, in batches.
    pub fn read_all(&self, columns: Option<&[&str]>) -> Result<Vec<RecordBatch>> {
        let builder = self.builder()?.with_projection(self.projection(columns));
        self.collect(builder)
    }

    /// Turns a read failure into an error that names what broke. Invalid
    /// UTF-8 is reported by the Arrow decoder without a row, so the string
    /// columns are read again as bytes to find the first bad row.
    fn read_error(&self, e: impl ToString) -> DatasetError {
        let text = e.to_string();
        if text.to_lowercase().contains("utf")
            && let Some(located) = self.locate_invalid_utf8()
        {
            return located;
        }
        self.parquet_error(text)
    }

    /// Scans the byte-array columns with the low-level reader, which does
    /// not check UTF-8, and names the first row whose text is invalid.
    fn locate_invalid_utf8(&self) -> Option<DatasetError> {
        use parquet::column::reader::ColumnReader;
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let reader = SerializedFileReader::new(self.file.try_clone().ok()?).ok()?;
        let mut first_row = 0u64;
        for rg in 0..reader.num_row_groups() {
            let row_group = reader.get_row_group(rg).ok()?;
            for col in 0..row_group.num_columns() {
                let descr = row_group.metadata().column(col).column_descr_ptr();
                let Ok(ColumnReader::ByteArrayColumnReader(mut column)) =
                    row_group.get_column_reader(col)
                else {
                    continue;
                };
                let (mut defs, mut reps, mut values) = (Vec::new(), Vec::new(), Vec::new());
                let mut row = first_row;
                loop {
                    defs.clear();
                    reps.clear();
                    values.clear();
                    let (records, _, levels) = column
                        .read_records(1024, Some(&mut defs), Some(&mut reps), &mut values)
                        .ok()?;
                    if records == 0 {
                        break;
                    }
                    let mut next_value = values.iter();
                    for level in 0..levels {
                        let starts_row = reps.get(level).is_none_or(|&r| r == 0);
                        if starts_row && level > 0 {
                            row += 1;
                        }
                        let has_value = defs.get(level).is_none_or(|&d| d == descr.max_def_level());
                        if has_value
                            && let Some(v) = next_value.next()
                            && std::str::from_utf8(v.data()).is_err()
                        {
                            let column = descr.path().parts()[0].clone();
                            return Some(DatasetError::value(
                                &self.path,
                                &column,
                                row,
                                "invalid UTF-8",
                            ));
                        }
                    }
                    row += 1;
                }
            }
            first_row += row_group.metadata().num_rows().max(0) as u64;
        }
        None
    }
}
