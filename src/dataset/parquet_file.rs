//! One Parquet file of a dataset: its footer and page index, read once, and
//! reads of whole files or of row ranges within one row group. With the page
//! index, a row-range read fetches only the pages that hold those rows.
use super::error::{DatasetError, Result};
use super::io::{CountingFile, ReadCounter};
use super::schema;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
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
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
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
        let reader = builder.build().map_err(|e| self.parquet_error(e))?;
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
    fn read_error(&self, e: arrow::error::ArrowError) -> DatasetError {
        let text = e.to_string();
        if text.to_lowercase().contains("utf")
            && let Some(located) = self.locate_invalid_utf8()
        {
            return located;
        }
        self.parquet_error(text)
    }

    fn locate_invalid_utf8(&self) -> Option<DatasetError> {
        let schema = self.meta.schema();
        let as_bytes: SchemaRef = Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| {
                    f.as_ref()
                        .clone()
                        .with_data_type(utf8_to_binary(f.data_type()))
                })
                .collect::<Vec<_>>(),
        ));
        let options = ArrowReaderOptions::new().with_schema(as_bytes);
        let file = self.file.try_clone().ok()?;
        let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options).ok()?;
        let mut first_row = 0u64;
        for batch in builder.build().ok()? {
            let batch = batch.ok()?;
            for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
                if let Some(i) = first_invalid_utf8(column.as_ref()) {
                    return Some(DatasetError::value(
                        &self.path,
                        field.name(),
                        first_row + i as u64,
                        "invalid UTF-8",
                    ));
                }
            }
            first_row += batch.num_rows() as u64;
        }
        None
    }
}

fn utf8_to_binary(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Utf8 => DataType::Binary,
        DataType::List(item) => DataType::List(Arc::new(Field::new(
            item.name(),
            utf8_to_binary(item.data_type()),
            item.is_nullable(),
        ))),
        other => other.clone(),
    }
}

/// The first row of a binary (or list of binary) column that is not UTF-8.
fn first_invalid_utf8(column: &dyn Array) -> Option<usize> {
    match column.data_type() {
        DataType::Binary => {
            let bytes = column.as_binary::<i32>();
            (0..bytes.len())
                .find(|&i| bytes.is_valid(i) && std::str::from_utf8(bytes.value(i)).is_err())
        }
        DataType::List(_) => {
            let lists = column.as_list::<i32>();
            (0..lists.len()).find(|&i| {
                lists.is_valid(i) && first_invalid_utf8(lists.value(i).as_ref()).is_some()
            })
        }
        _ => None,
    }
}
