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

/// Who serves a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// An OpenAI-compatible endpoint at `base_url`.
    Http,
    /// A causal model run in this process; `model` is its GGUF file or folder.
    Local,
}

impl std::str::FromStr for BackendKind {
    type Err = crate::names::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "http" => Ok(Self::Http),
            "local" => Ok(Self::Local),
            other => Err(crate::names::UnknownName::new(
                "backend",
                other,
                "http or local",
            )),
        }
    }
}

/// The model the local backend runs when none is named: Gemma-3-270M,
/// which `make setup` puts in the project's virtual environment.
pub const BUNDLED_MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/.venv/models/gemma-3-270m-q4_k_m.gguf"
);

#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// `http` or `local`; unset, a role with a `base_url` uses it and one
    /// without runs the local model.
    pub backend: Option<BackendKind>,
    pub base_url: Option<String>,
    /// The endpoint's model name, or the local model's path.
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

/// The file's top level is not `deny_unknown_fields`: it also holds the
/// front-ends' sections, so [`LlmConfig::load`] checks its keys itself.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
pub struct LlmConfig {
    #[serde(default)]
    pub explainer: RoleConfig,
    #[serde(default)]
    pub simulator: RoleConfig,
    /// Response cache folder (default `.featurescope-cache`).
    pub cache_dir: Option<PathBuf>,
}

impl std::str::FromStr for Api {
    type Err = crate::names::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "completions" => Ok(Self::Completions),
            "chat" => Ok(Self::Chat),
            other => Err(crate::names::UnknownName::new(
                "API",
                other,
                "completions or chat",
            )),
        }
    }
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
    /// Reads `path`, or `featurescope.toml` if present, or nothing. The
    /// file's `foreign` sections (a front-end's own, such as the explorer's)
    /// are handed back unread; any other unknown key is an error.
    pub fn load(path: Option<&Path>, foreign: &[&str]) -> Result<(Self, toml::Table), ConfigError> {
        let default = Path::new("featurescope.toml");
        let path = match path {
            Some(p) => p,
            None if default.exists() => default,
            None => return Ok((Self::default(), toml::Table::new())),
        };
        let bad = |reason: String| ConfigError::File {
            path: path.into(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        // Parsed from the text (not from a table) so that errors keep their line.
        let config = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let sections = foreign
            .iter()
            .filter_map(|name| table.remove(*name).map(|v| (name.to_string(), v)))
            .collect();
        const OURS: [&str; 3] = ["explainer", "simulator", "cache_dir"];
        if let Some(key) = table.keys().find(|k| !OURS.contains(&k.as_str())) {
            return Err(bad(format!(
                "unknown key `{key}` (expected {}, {})",
                OURS.join(", "),
                foreign.join(", ")
            )));
        }
        Ok((config, sections))
    }

    /// The response cache: `dir`, else the file's `cache_dir`, else
    /// `.featurescope-cache`.
    pub fn response_cache(&self, dir: Option<PathBuf>) -> super::ResponseCache {
        super::ResponseCache::new(
            dir.or_else(|| self.cache_dir.clone())
                .unwrap_or_else(|| ".featurescope-cache".into()),
        )
    }
}

impl RoleConfig {
    pub fn backend_kind(&self) -> BackendKind {
        self.backend.unwrap_or(if self.base_url.is_some() {
            BackendKind::Http
        } else {
            BackendKind::Local
        })
    }

    /// The local backend's model: `model`, or the bundled one.
    pub fn local_model(&self) -> PathBuf {
        self.model
            .as_deref()
            .map_or_else(|| PathBuf::from(BUNDLED_MODEL), PathBuf::from)
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<(LlmConfig, toml::Table), ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("featurescope.toml");
        std::fs::write(&path, text).unwrap();
        LlmConfig::load(Some(&path), &["explorer"])
    }

    #[test]
    fn a_role_without_an_endpoint_runs_the_local_model() {
        let (config, _) = load(
            "[explainer]\nbase_url = \"http://x/v1\"\nmodel = \"m\"\n[simulator]\nbackend = \"local\"\nmodel = \"m.gguf\"\n",
        )
        .unwrap();
        assert_eq!(config.explainer.backend_kind(), BackendKind::Http);
        assert_eq!(config.simulator.backend_kind(), BackendKind::Local);
        assert_eq!(config.simulator.local_model(), PathBuf::from("m.gguf"));
        let nothing = RoleConfig::default();
        assert_eq!(nothing.backend_kind(), BackendKind::Local);
        assert_eq!(nothing.local_model(), PathBuf::from(BUNDLED_MODEL));
        // Named http without a URL: the missing field is named.
        let http = RoleConfig {
            backend: Some(BackendKind::Http),
            ..Default::default()
        };
        assert!(
            http.endpoint("explainer")
                .unwrap_err()
                .to_string()
                .contains("no base_url")
        );
        let err = load("[explainer]\nbackend = \"remote\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("remote") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn foreign_sections_come_back_and_mistakes_are_named_with_their_line() {
        let (config, sections) =
            load("[explorer]\ntheme = \"light\"\n[explainer]\nmodel = \"m\"\n").unwrap();
        assert_eq!(config.explainer.model.as_deref(), Some("m"));
        assert_eq!(sections["explorer"]["theme"].as_str(), Some("light"));
        let err = load("[explainer]\nmodel = \"m\"\nbse_url = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && err.contains("bse_url"), "{err}");
        let err = load("explorr = 1\n").unwrap_err().to_string();
        assert!(err.contains("unknown key `explorr`"), "{err}");
    }
}
