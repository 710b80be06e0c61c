//! featurescope.toml as the binary reads it: the library's `[explainer]`,
//! `[simulator]` and `cache_dir`, and the front-ends' own sections, which
//! the library hands back unread.
use featurescope::llm::config::{ConfigError, LlmConfig};
use std::path::Path;

/// The explorer's section.
pub const EXPLORER: &str = "explorer";

/// Reads `path` (or `featurescope.toml` if present): the endpoints, and the
/// front-ends' sections by name.
pub fn load(path: Option<&Path>) -> Result<(LlmConfig, toml::Table), ConfigError> {
    LlmConfig::load(path, &[EXPLORER])
}
