//! The calibration sample's activations, written to a file beside the
//! output while the calibration pass runs and read back when the main pass
//! starts, so that the model runs once over every window. (Recomputing the
//! sample cost 8% more model work on the fortunes corpus, and nearly half
//! on a thousand of them.) The file holds sample tokens × units floats, so
//! it is kept only up to a limit (`ExtractConfig::spill_limit`, by default
//! [`SPILL_LIMIT`]); above it, or when the file cannot be written, the
//! sample is run again. The file is a staging sibling of the output
//! (`.NAME.partial-…`), so one a killed run leaves is removed by the next.
use super::groups::{SourceBatch, WindowSpan};
use super::overlap::BatchActivations;
use super::{ExtractError, Result};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// The largest spill file made, in bytes.
pub const SPILL_LIMIT: u64 = 1 << 30;

/// A spill file being written; removed when dropped.
pub struct Spill {
    path: PathBuf,
    writer: Option<BufWriter<File>>,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ExtractError + '_ {
    move |cause| ExtractError::Io {
        path: path.to_owned(),
        cause,
    }
}

impl Spill {
    /// A new spill file beside `out` (the dataset to be written).
    pub fn create(out: &Path) -> Result<Self> {
        let path = crate::publish::staging_sibling::<crate::dataset::DatasetError>(
            out,
            "the output has no folder name",
            || Ok(()),
        )?;
        let file = File::create(&path).map_err(io_error(&path))?;
        Ok(Self {
            writer: Some(BufWriter::new(file)),
            path,
        })
    }

    /// Appends one batch: its windows and each source's activations.
    pub fn write(&mut self, windows: &[WindowSpan], sources: &[SourceBatch]) -> Result<()> {
        let writer = self.writer.as_mut().expect("written before reading");
        let mut bytes = Vec::with_capacity(8 + windows.len() * 16);
        bytes.extend((windows.len() as u64).to_ne_bytes());
        bytes.extend((sources.first().map_or(0, |s| s.longest) as u64).to_ne_bytes());
        for &(index, len) in windows {
            bytes.extend(index.to_ne_bytes());
            bytes.extend((len as u64).to_ne_bytes());
        }
        writer.write_all(&bytes).map_err(io_error(&self.path))?;
        for source in sources {
            // SAFETY: an f32 is four initialised bytes, and u8 needs no alignment.
            let bytes = unsafe {
                std::slice::from_raw_parts(
                    source.values.as_ptr().cast::<u8>(),
                    std::mem::size_of_val(source.values.as_slice()),
                )
            };
            writer.write_all(bytes).map_err(io_error(&self.path))?;
        }
        Ok(())
    }

    /// Reads the batches back in the order written, with the sources'
    /// `widths`, and removes the file.
    pub fn read_each(
        mut self,
        widths: &[usize],
        mut visit: impl FnMut(BatchActivations) -> Result<()>,
    ) -> Result<()> {
        let writer = self.writer.take().expect("read once");
        writer
            .into_inner()
            .map_err(|e| io_error(&self.path)(e.into_error()))?;
        let path = self.path.clone();
        let mut reader = BufReader::new(File::open(&path).map_err(io_error(&path))?);
        let mut word = [0u8; 8];
        let mut next = |reader: &mut BufReader<File>| -> Result<Option<u64>> {
            match reader.read_exact(&mut word) {
                Ok(()) => Ok(Some(u64::from_ne_bytes(word))),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
                Err(e) => Err(io_error(&path)(e)),
            }
        };
        let truncated = || ExtractError::Io {
            path: path.clone(),
            cause: std::io::ErrorKind::UnexpectedEof.into(),
        };
        while let Some(count) = next(&mut reader)? {
            let longest = next(&mut reader)?.ok_or_else(truncated)? as usize;
            let mut windows = Vec::with_capacity(count as usize);
            for _ in 0..count {
                let index = next(&mut reader)?.ok_or_else(truncated)?;
                let len = next(&mut reader)?.ok_or_else(truncated)? as usize;
                windows.push((index, len));
            }
            let mut sources = Vec::with_capacity(widths.len());
            for &width in widths {
                let mut values = vec![0f32; count as usize * longest * width];
                // SAFETY: the bytes of an f32 slice, and any four bytes are an f32.
                let bytes = unsafe {
                    std::slice::from_raw_parts_mut(
                        values.as_mut_ptr().cast::<u8>(),
                        std::mem::size_of_val(values.as_slice()),
                    )
                };
                reader.read_exact(bytes).map_err(io_error(&path))?;
                sources.push(SourceBatch {
                    values,
                    longest,
                    width,
                });
            }
            visit((windows, sources))?;
        }
        Ok(())
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_read_back_as_written_and_the_file_goes() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("ds");
        let mut spill = Spill::create(&out).unwrap();
        let batch = |seed: f32, longest: usize, windows: usize| {
            [3usize, 2].map(|width| SourceBatch {
                values: (0..windows * longest * width)
                    .map(|i| seed + i as f32 * 0.5)
                    .collect(),
                longest,
                width,
            })
        };
        let written = [
            (vec![(7u64, 2usize), (9, 3)], batch(1.0, 3, 2)),
            (vec![(4, 1)], batch(-2.0, 1, 1)),
        ];
        for (windows, sources) in &written {
            spill.write(windows, sources).unwrap();
        }
        let path = spill.path.clone();
        let mut read = Vec::new();
        spill
            .read_each(&[3, 2], |(windows, sources)| {
                let values: Vec<Vec<f32>> = sources.iter().map(|s| s.values.clone()).collect();
                read.push((windows, values, sources[0].longest));
                Ok(())
            })
            .unwrap();
        assert_eq!(read.len(), 2);
        for ((windows, sources), (got_windows, got_values, longest)) in written.iter().zip(&read) {
            assert_eq!(windows, got_windows);
            assert_eq!(*longest, sources[0].longest);
            for (source, values) in sources.iter().zip(got_values) {
                assert_eq!(&source.values, values);
            }
        }
        assert!(!path.exists());
    }
}
