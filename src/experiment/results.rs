//! An experiment's files, written together: `DATASET/experiments/NAME/`
//! is staged beside its final place and swapped in whole.
use super::Result;
use crate::publish::{PublishError, staging_sibling, swap_into_place};
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
        std::fs::create_dir(&staged).map_err(|e| PublishError::io(&staged, e))?;
        for (name, bytes) in &self.files {
            let path = staged.join(name);
            std::fs::write(&path, bytes).map_err(|e| PublishError::io(&path, e))?;
        }
        swap_into_place(&staged, &dest)?;
        Ok(dest)
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
