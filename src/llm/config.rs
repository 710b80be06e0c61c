//! Which endpoint plays each role. From a TOML file (`featurescope.toml` in
//! the working directory, or `--config`), overridden by command-line flags.
//! Keys come from an environment variable named in the file (default
//! `OPENAI_API_KEY`) or, discouraged, from the file itself.
use super::{Endpoint, Secret};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a role talks to its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Api {
    /// `/v1/completions`; for the simulator, echoed prompt logprobs.
    #[default]
    Completions,
    /// `/v1/chat/completions`; the simulator writes its values out, refined by
    /// `top_logprobs` where the endpoint returns them.
    Chat,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    pub base_url: Option<String>,
    pub model: Option<String>,
    #[serde(default)]
    pub api: Api,
    /// Name of the environment variable holding the key.
    pub api_key_env: Option<String>,
    /// The key itself (prefer `api_key_env`).
    pub api_key: Option<String>,
    pub timeout_s: Option<f64>,
    pub concurrency: Option<usize>,
    pub max_attempts: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    #[serde(default)]
    pub explainer: RoleConfig,
    #[serde(default)]
    pub simulator: RoleConfig,
    /// Response cache folder (default `.featurescope-cache`).
    pub cache_dir: Option<PathBuf>,
    /// The explorer's section of the same file; the explorer reads it.
    #[serde(default)]
    pub explorer: Option<toml::Table>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{role}: no {field} (set it in the config file or with --{role}-{flag})")]
    Missing {
        role: &'static str,
        field: &'static str,
        flag: &'static str,
    },
}

impl LlmConfig {
    /// Reads `path`, or `featurescope.toml` if present, or nothing.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let default = Path::new("featurescope.toml");
        let path = match path {
            Some(p) => p,
            None if default.exists() => default,
            None => return Ok(Self::default()),
        };
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.into(),
            reason: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::File {
            path: path.into(),
            reason: e.to_string(),
        })
    }
}

impl RoleConfig {
    /// The endpoint of role `role` (`explainer` or `simulator`).
    pub fn endpoint(&self, role: &'static str) -> Result<Endpoint, ConfigError> {
        let base_url = self.base_url.clone().ok_or(ConfigError::Missing {
            role,
            field: "base_url",
            flag: "url",
        })?;
        let model = self.model.clone().ok_or(ConfigError::Missing {
            role,
            field: "model",
            flag: "model",
        })?;
        let mut endpoint = Endpoint::new(base_url, model);
        let env = self.api_key_env.as_deref().unwrap_or("OPENAI_API_KEY");
        endpoint.api_key = std::env::var(env)
            .ok()
            .filter(|k| !k.is_empty())
            .or_else(|| self.api_key.clone())
            .map(Secret::new);
        if let Some(t) = self.timeout_s {
            endpoint.timeout = Duration::from_secs_f64(t.max(0.001));
        }
        if let Some(c) = self.concurrency {
            endpoint.concurrency = c.max(1);
        }
        if let Some(a) = self.max_attempts {
            endpoint.max_attempts = a.max(1);
        }
        Ok(endpoint)
    }
}
