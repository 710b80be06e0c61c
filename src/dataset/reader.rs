//! Reading a dataset lazily. Opening reads only the manifest and lists the
//! record files, so it costs the same for a thousand units or three hundred
//! thousand; footers are read when a file is first needed, and a unit's
//! records are fetched through the footer statistics and the page index.
use super::error::{DatasetError, IoContext, Result};
use super::io::ReadCounter;
use super::manifest::Manifest;
use super::parquet_file::ParquetFile;
use super::schema::{
    self, EMBEDDINGS_DIR, EXPLANATIONS_DIR, LOGIT_EFFECTS_FILE, RATINGS_DIR, RECORDS_DIR,
    SCORES_DIR, UNITS_FILE,
};
use super::tables::{self, Origin};
use super::types::{
    Explanation, ExplanationEmbedding, LogitEffect, Rating, Record, Score, Unit, UnitOverview,
};
use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A record file with the unit range of each of its row groups.
struct RecordShard {
    file: ParquetFile,
    row_groups: Vec<RowGroupSpan>,
}

struct RowGroupSpan {
    /// The row group's index in its file (empty row groups have no span).
    index: usize,
    first_row: u64,
    rows: usize,
    first_unit: i64,
    last_unit: i64,
}

impl RecordShard {
    fn first_unit(&self) -> i64 {
        self.row_groups.first().map_or(i64::MAX, |rg| rg.first_unit)
    }

    fn last_unit(&self) -> i64 {
        self.row_groups.last().map_or(i64::MIN, |rg| rg.last_unit)
    }
}

pub struct Dataset {
    dir: PathBuf,
    manifest: Manifest,
    pub(super) counter: Arc<ReadCounter>,
    units: Mutex<Option<Arc<ParquetFile>>>,
    record_files: Vec<PathBuf>,
    shards: Vec<Mutex<Option<Arc<RecordShard>>>>,
}

/// The `*.parquet` files of a table directory in name order; hidden files
/// (temporary files of writers in progress) are not part of the table.
pub fn table_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let path = entry.at(dir)?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.ends_with(".parquet") && !name.starts_with('.') {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

impl Dataset {
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_owned();
        let manifest = Manifest::read(&dir)?;
        if !dir.join(UNITS_FILE).is_file() {
            return Err(DatasetError::NotADataset {
                path: dir,
                reason: format!("no {UNITS_FILE}"),
            });
        }
        let records_dir = dir.join(RECORDS_DIR);
        if !records_dir.is_dir() {
            return Err(DatasetError::NotADataset {
                path: dir,
                reason: format!("no {RECORDS_DIR}/ directory"),
            });
        }
        let record_files = table_files(&records_dir)?;
        let shards = record_files.iter().map(|_| Mutex::new(None)).collect();
        Ok(Self {
            dir,
            manifest,
            counter: Arc::default(),
            units: Mutex::new(None),
            record_files,
            shards,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Bytes read from Parquet files through this handle so far.
    pub fn bytes_read(&self) -> u64 {
        self.counter.bytes()
    }

    pub fn record_files(&self) -> &[PathBuf] {
        &self.record_files
    }

    pub(super) fn units_file(&self) -> Result<Arc<ParquetFile>> {
        let mut slot = self.units.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = slot.as_ref() {
            return Ok(file.clone());
        }
        let path = self.dir.join(UNITS_FILE);
        let file = Arc::new(ParquetFile::open(
            &path,
            &schema::UNITS,
            self.counter.clone(),
        )?);
        *slot = Some(file.clone());
        Ok(file)
    }

    pub fn unit_count(&self) -> Result<u64> {
        Ok(self.units_file()?.num_rows())
    }

    /// One unit with its statistics (reads only the pages that hold its row).
    pub fn unit(&self, unit_id: u64) -> Result<Unit> {
        let file = self.units_file()?;
        let units = file.num_rows();
        if unit_id >= units {
            return Err(DatasetError::UnknownUnit { unit_id, units });
        }
        let mut first_row = 0u64;
        for (rg, rows) in file.row_group_rows().into_iter().enumerate() {
            if unit_id < first_row + rows as u64 {
                let local = (unit_id - first_row) as usize;
                let batches = file.read_range(rg, local..local + 1, None)?;
                let origin = Origin {
                    path: &file.path,
                    first_row: unit_id,
                };
                let batch = concat(&batches)?;
                return tables::units_from_batch(&batch, origin)?
                    .pop()
                    .ok_or_else(|| DatasetError::invalid(&file.path, "row missing"));
            }
            first_row += rows as u64;
        }
        Err(DatasetError::UnknownUnit { unit_id, units })
    }

    /// Every unit, without the list-valued statistics: what a unit list shows.
    pub fn units_overview(&self) -> Result<Vec<UnitOverview>> {
        let file = self.units_file()?;
        let columns = ["unit_id", "layer", "index", "kind", "max", "density"];
        let mut out = Vec::with_capacity(file.num_rows() as usize);
        let mut first_row = 0;
        for batch in file.read_all(Some(&columns))? {
            let origin = Origin {
                path: &file.path,
                first_row,
            };
            out.extend(tables::overview_from_batch(&batch, origin)?);
            first_row += batch.num_rows() as u64;
        }
        Ok(out)
    }

    fn shard(&self, i: usize) -> Result<Arc<RecordShard>> {
        let mut slot = self.shards[i].lock().unwrap_or_else(|p| p.into_inner());
        if let Some(shard) = slot.as_ref() {
            return Ok(shard.clone());
        }
        let shard = Arc::new(self.load_shard(&self.record_files[i])?);
        *slot = Some(shard.clone());
        Ok(shard)
    }

    fn load_shard(&self, path: &Path) -> Result<RecordShard> {
        let file = ParquetFile::open(path, &schema::RECORDS, self.counter.clone())?;
        let bounds = file.int64_bounds("unit_id");
        let mut row_groups = Vec::new();
        let mut first_row = 0u64;
        for (rg, rows) in file.row_group_rows().into_iter().enumerate() {
            if rows == 0 {
                continue;
            }
            let (first_unit, last_unit) = match bounds[rg] {
                Some(b) => b,
                None => {
                    // No statistics: read the (small) unit_id column instead.
                    let ids = unit_ids(&file.read_range(rg, 0..rows, Some(&["unit_id"]))?);
                    let min = ids.iter().copied().min().unwrap_or(0);
                    let max = ids.iter().copied().max().unwrap_or(0);
                    (min, max)
                }
            };
            if let Some(prev) = row_groups.last().map(|p: &RowGroupSpan| p.last_unit)
                && first_unit < prev
            {
                return Err(DatasetError::column(
                    path,
                    "unit_id",
                    format!(
                        "records are not sorted by unit_id: row group {rg} starts at unit \
                         {first_unit} after unit {prev}"
                    ),
                ));
            }
            row_groups.push(RowGroupSpan {
                index: rg,
                first_row,
                rows,
                first_unit,
                last_unit,
            });
            first_row += rows as u64;
        }
        Ok(RecordShard { file, row_groups })
    }

    /// The record files that may hold `unit_id`: a binary search over their
    /// ascending unit ranges (reading only the footers on the search path),
    /// widened to neighbours that share the unit, since a unit's records may
    /// cross a file boundary.
    fn shards_holding(&self, unit_id: i64) -> Result<Vec<Arc<RecordShard>>> {
        let (mut lo, mut hi) = (0, self.record_files.len());
        let mut found = None;
        while lo < hi {
            let mid = (lo + hi) / 2;
            let shard = self.shard(mid)?;
            if unit_id < shard.first_unit() {
                hi = mid;
            } else if unit_id > shard.last_unit() {
                lo = mid + 1;
            } else {
                found = Some(mid);
                break;
            }
        }
        let Some(mid) = found else {
            return Ok(Vec::new());
        };
        let mut first = mid;
        while first > 0 && self.shard(first - 1)?.last_unit() >= unit_id {
            first -= 1;
        }
        let mut last = mid;
        while last + 1 < self.record_files.len() && self.shard(last + 1)?.first_unit() <= unit_id {
            last += 1;
        }
        (first..=last).map(|i| self.shard(i)).collect()
    }

    /// The records of one unit, in file order (top, quantile, random; by rank).
    pub fn records(&self, unit_id: u64) -> Result<Vec<Record>> {
        let units = self.unit_count()?;
        if unit_id >= units {
            return Err(DatasetError::UnknownUnit { unit_id, units });
        }
        let key = unit_id as i64;
        let mut out = Vec::new();
        for shard in self.shards_holding(key)? {
            for span in &shard.row_groups {
                if key < span.first_unit || key > span.last_unit {
                    continue;
                }
                let rg = span.index;
                let ids = unit_ids(
                    &shard
                        .file
                        .read_range(rg, 0..span.rows, Some(&["unit_id"]))?,
                );
                let Some(start) = ids.iter().position(|&u| u == key) else {
                    continue;
                };
                let count = ids[start..].iter().take_while(|&&u| u == key).count();
                let mut row = span.first_row + start as u64;
                for batch in shard.file.read_range(rg, start..start + count, None)? {
                    let origin = Origin {
                        path: &shard.file.path,
                        first_row: row,
                    };
                    out.extend(tables::records_from_batch(&batch, origin)?);
                    row += batch.num_rows() as u64;
                }
            }
        }
        if out.is_empty() {
            return Err(DatasetError::invalid(
                self.dir.join(RECORDS_DIR),
                format!("unit {unit_id} has no records"),
            ));
        }
        Ok(out)
    }

    /// Each unit's most frequent peak tokens: the token at which each of
    /// its top records peaks ([`tables::top_record_peaks_from_batch`]),
    /// counted over its top records; at most `per_unit` a unit, the most
    /// frequent first, a tie going to the token seen first (in the better
    /// ranked record). Units that never fire are absent. One pass over the
    /// record files, a row group at a time.
    pub fn peak_tokens(&self, per_unit: usize) -> Result<HashMap<u64, Vec<String>>> {
        let columns = ["unit_id", "sample_kind", "tokens", "activations"];
        // Per unit, each token with its count, in order of first appearance.
        let mut counts: HashMap<u64, Vec<(String, u32)>> = HashMap::new();
        for i in 0..self.record_files.len() {
            let shard = self.shard(i)?;
            for span in &shard.row_groups {
                let batches = shard
                    .file
                    .read_range(span.index, 0..span.rows, Some(&columns))?;
                let mut row = span.first_row;
                for batch in batches {
                    let origin = Origin {
                        path: &shard.file.path,
                        first_row: row,
                    };
                    row += batch.num_rows() as u64;
                    for (unit, peak) in tables::top_record_peaks_from_batch(&batch, origin)? {
                        let Some(token) = peak else { continue };
                        let seen = counts.entry(unit).or_default();
                        match seen.iter_mut().find(|(t, _)| *t == token) {
                            Some((_, n)) => *n += 1,
                            None => seen.push((token, 1)),
                        }
                    }
                }
            }
        }
        Ok(counts
            .into_iter()
            .map(|(unit, mut seen)| {
                // Stable: equal counts keep their order of first appearance.
                seen.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
                let tokens = seen.into_iter().take(per_unit).map(|(t, _)| t).collect();
                (unit, tokens)
            })
            .collect())
    }

    /// Counts of records by sample kind (`top`, `quantile`, `random`).
    pub fn record_counts(&self) -> Result<std::collections::BTreeMap<String, u64>> {
        let mut counts = std::collections::BTreeMap::new();
        for i in 0..self.record_files.len() {
            let shard = self.shard(i)?;
            for batch in shard.file.read_all(Some(&["sample_kind"]))? {
                for kind in batch.column(0).as_string::<i32>().iter().flatten() {
                    *counts.entry(kind.to_owned()).or_insert(0) += 1;
                }
            }
        }
        Ok(counts)
    }

    fn read_table<T>(
        &self,
        dir: &str,
        expected: &arrow::datatypes::Schema,
        decode: fn(&RecordBatch, Origin) -> Result<Vec<T>>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for path in table_files(&self.dir.join(dir))? {
            let file = ParquetFile::open(&path, expected, self.counter.clone())?;
            let mut first_row = 0;
            for batch in file.read_all(None)? {
                out.extend(decode(
                    &batch,
                    Origin {
                        path: &path,
                        first_row,
                    },
                )?);
                first_row += batch.num_rows() as u64;
            }
        }
        Ok(out)
    }

    /// All explanations, from every appended part, oldest part first.
    pub fn explanations(&self) -> Result<Vec<Explanation>> {
        self.read_table(
            EXPLANATIONS_DIR,
            &schema::EXPLANATIONS,
            tables::explanations_from_batch,
        )
    }

    /// Each unit's logit effects, where the dataset has them (none when it
    /// has no `logit_effects.parquet`).
    pub fn logit_effects(&self) -> Result<Vec<LogitEffect>> {
        let path = self.dir.join(LOGIT_EFFECTS_FILE);
        if !path.is_file() {
            return Ok(Vec::new());
        }
        let file = ParquetFile::open(&path, &schema::LOGIT_EFFECTS, self.counter.clone())?;
        let mut out = Vec::new();
        let mut first_row = 0;
        for batch in file.read_all(None)? {
            let origin = Origin {
                path: &path,
                first_row,
            };
            out.extend(tables::logit_effects_from_batch(&batch, origin)?);
            first_row += batch.num_rows() as u64;
        }
        Ok(out)
    }

    /// The cached embeddings of explanations, every embedder's.
    pub fn explanation_embeddings(&self) -> Result<Vec<ExplanationEmbedding>> {
        self.read_table(
            EMBEDDINGS_DIR,
            &schema::EMBEDDINGS,
            tables::embeddings_from_batch,
        )
    }

    /// All scores, from every appended part.
    pub fn scores(&self) -> Result<Vec<Score>> {
        self.read_table(SCORES_DIR, &schema::SCORES, tables::scores_from_batch)
    }

    /// All ratings of simulations, from every appended part.
    pub fn ratings(&self) -> Result<Vec<Rating>> {
        self.read_table(RATINGS_DIR, &schema::RATINGS, tables::ratings_from_batch)
    }

    /// Bytes on disk of every file of the dataset.
    pub fn size_on_disk(&self) -> Result<u64> {
        fn walk(dir: &Path) -> Result<u64> {
            let mut total = 0;
            for entry in std::fs::read_dir(dir).at(dir)? {
                let entry = entry.at(dir)?;
                let meta = entry.metadata().at(&entry.path())?;
                total += if meta.is_dir() {
                    walk(&entry.path())?
                } else {
                    meta.len()
                };
            }
            Ok(total)
        }
        walk(&self.dir)
    }
}

fn unit_ids(batches: &[RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect()
}

fn concat(batches: &[RecordBatch]) -> Result<RecordBatch> {
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| schema::UNITS.clone());
    arrow::compute::concat_batches(&schema, batches)
        .map_err(|e| DatasetError::invalid("<batch>", e.to_string()))
}
