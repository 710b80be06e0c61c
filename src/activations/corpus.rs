//! Corpora: plain-text files or folders of them (a file is a document),
//! JSONL (a named string field per line) and Parquet (a named string column).
//! Documents that cannot be decoded are reported with their place, never
//! skipped in silence.
use super::{ActivationError, Result, io_error};
use arrow::array::{Array, AsArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub enum CorpusFormat {
    Text,
    Jsonl { field: String },
    Parquet { column: String },
}

impl CorpusFormat {
    /// From the file extension: `.jsonl`/`.json` and `.parquet`; anything else is text.
    pub fn guess(path: &Path, field: &str) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "json") => Self::Jsonl {
                field: field.into(),
            },
            Some("parquet") => Self::Parquet {
                column: field.into(),
            },
            _ => Self::Text,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Position in the corpus (0, 1, 2, … in reading order, counting bad ones too).
    pub id: i64,
    pub text: String,
}

/// A document that could not be read, and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct BadDocument {
    pub id: i64,
    pub place: String,
    pub reason: String,
}

pub type DocumentResult = std::result::Result<Document, BadDocument>;

pub struct Corpus {
    files: Vec<(PathBuf, CorpusFormat)>,
}

impl Corpus {
    /// A file, or every file of a folder (recursively, in name order).
    pub fn open(path: &Path, field: &str) -> Result<Self> {
        let mut files = Vec::new();
        collect_files(path, &mut files)?;
        if files.is_empty() {
            return Err(ActivationError::Input {
                what: path.display().to_string(),
                problem: "no corpus files found".into(),
            });
        }
        Ok(Self {
            files: files
                .into_iter()
                .map(|p| {
                    let f = CorpusFormat::guess(&p, field);
                    (p, f)
                })
                .collect(),
        })
    }

    /// Calls `visit` with every document in order; stops at the first error it returns.
    pub fn for_each<E: From<ActivationError>>(
        &self,
        mut visit: impl FnMut(DocumentResult) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut next_id = 0i64;
        let mut emit = |text: std::result::Result<String, (String, String)>| {
            let id = next_id;
            next_id += 1;
            visit(match text {
                Ok(text) => Ok(Document { id, text }),
                Err((place, reason)) => Err(BadDocument { id, place, reason }),
            })
        };
        for (path, format) in &self.files {
            let shown = path.display();
            match format {
                CorpusFormat::Text => {
                    let bytes = std::fs::read(path).map_err(io_error(path))?;
                    emit(String::from_utf8(bytes).map_err(|e| {
                        (
                            shown.to_string(),
                            format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to()),
                        )
                    }))?;
                }
                CorpusFormat::Jsonl { field } => {
                    let text = std::fs::read(path).map_err(io_error(path))?;
                    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
                        if line.iter().all(u8::is_ascii_whitespace) {
                            continue;
                        }
                        let place = format!("{shown}:{}", n + 1);
                        emit(jsonl_text(line, field).map_err(|reason| (place, reason)))?;
                    }
                }
                CorpusFormat::Parquet { column } => {
                    let file = std::fs::File::open(path).map_err(io_error(path))?;
                    let bad = |e: &dyn std::fmt::Display| ActivationError::Input {
                        what: shown.to_string(),
                        problem: e.to_string(),
                    };
                    let builder =
                        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(&e))?;
                    let index =
                        builder
                            .schema()
                            .index_of(column)
                            .map_err(|_| ActivationError::Input {
                                what: shown.to_string(),
                                problem: format!("no column `{column}`"),
                            })?;
                    let mask =
                        parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), [index]);
                    let mut row = 0usize;
                    for batch in builder.with_projection(mask).build().map_err(|e| bad(&e))? {
                        let batch = batch.map_err(|e| bad(&e))?;
                        let Some(strings) = batch.column(0).as_string_opt::<i32>() else {
                            return Err(ActivationError::Input {
                                what: shown.to_string(),
                                problem: format!("column `{column}` is not a string column"),
                            }
                            .into());
                        };
                        for i in 0..strings.len() {
                            let place = format!("{shown}: column `{column}`, row {row}");
                            emit(if strings.is_null(i) {
                                Err((place, "null".into()))
                            } else {
                                Ok(strings.value(i).to_owned())
                            })?;
                            row += 1;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

fn jsonl_text(line: &[u8], field: &str) -> std::result::Result<String, String> {
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    match value.get(field) {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("field `{field}` is not a string")),
        None => Err(format!("no field `{field}`")),
    }
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(io_error(path))?;
    if meta.is_file() {
        out.push(path.to_owned());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io_error(path))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(io_error(path))?;
    entries.sort();
    for entry in entries {
        if !entry
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            collect_files(&entry, out)?;
        }
    }
    Ok(())
}
