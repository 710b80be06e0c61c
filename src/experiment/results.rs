//! An experiment's files, written together: `DATASET/experiments/NAME/`
//! is staged beside its final place and swapped in whole.
use super::Result;
use crate::publish::{PublishError, staging_sibling, swap_into_place, sync_dir};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The files of one experiment's results, by name.
#[derive(Debug, Default)]
pub struct Results {
    files: Vec<(String, Vec<u8>)>,
}

impl Results {
    pub fn add(&mut self, name: &str, bytes: impl Into<Vec<u8>>) {
        self.files.push((name.to_owned(), bytes.into()));
    }

    /// Where experiment `name`'s results of `dataset` go.
    pub fn folder(dataset: &Path, name: &str) -> PathBuf {
        dataset.join("experiments").join(name)
    }

    /// Writes the files into [`Results::folder`], replacing what a
    /// previous run left there; returns the folder.
    pub fn publish(&self, dataset: &Path, name: &str) -> Result<PathBuf> {
        let dest = Self::folder(dataset, name);
        let staged =
            staging_sibling::<PublishError>(&dest, "an experiment needs a name", || Ok(()))?;
        let written = self.write_into(&staged).and_then(|()| {
            swap_into_place(&staged, &dest)?;
            Ok(())
        });
        if written.is_err() {
            let _ = std::fs::remove_dir_all(&staged);
        }
        written.map(|()| dest)
    }

    /// The files, on disk (synced) before the folder is swapped in.
    fn write_into(&self, staged: &Path) -> Result<()> {
        std::fs::create_dir(staged).map_err(|e| PublishError::io(staged, e))?;
        for (name, bytes) in &self.files {
            let path = staged.join(name);
            let io = |e| PublishError::io(&path, e);
            let mut file = std::fs::File::create(&path).map_err(io)?;
            file.write_all(bytes).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        sync_dir(staged)?;
        Ok(())
    }
}

/// A CSV field: quoted (with quotes doubled) when it holds a comma, a
/// quote or a line break.
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}
