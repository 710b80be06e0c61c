//! On-disk responses keyed by the exact request (endpoint path and body; never
//! the API key), so a rerun costs nothing and gives the same answers. One
//! file per request, written to a temporary name and renamed into place.
use super::LlmError;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ResponseCache {
    dir: PathBuf,
}

impl ResponseCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.json"))
    }

    /// The key of a request: SHA-256 of the endpoint path and the body.
    pub fn key(path: &str, body: &serde_json::Value) -> String {
        let mut hasher = Sha256::new();
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(body.to_string().as_bytes());
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn error(path: &Path, reason: impl ToString) -> LlmError {
        LlmError::Cache {
            path: path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    pub fn get(&self, key: &str) -> Result<Option<serde_json::Value>, LlmError> {
        let path = self.path(key);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Self::error(&path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::error(&path, e)),
        }
    }

    pub fn put(&self, key: &str, response: &serde_json::Value) -> Result<(), LlmError> {
        let path = self.path(key);
        let dir = path.parent().expect("cache files sit in a folder");
        std::fs::create_dir_all(dir).map_err(|e| Self::error(dir, e))?;
        let tmp = dir.join(format!(".{key}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, response.to_string()).map_err(|e| Self::error(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Self::error(&path, e))
    }
}
