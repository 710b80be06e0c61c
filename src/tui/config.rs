//! The explorer's settings: the `[explorer]` section of `featurescope.toml`,
//! and the file's `[explainer]` and `[simulator]` endpoints for its jobs
//! (the file the LLM commands read too).
//!
//! ```toml
//! [explorer]
//! theme = "light"          # or "dark" (the default)
//! colors = "256"           # "truecolor", "256", or "auto" (COLORTERM decides)
//! mouse = false            # clicks and scrolling (default true)
//! train_config = "sae.toml"  # what the train key proposes
//! embedder = "all-MiniLM-L6-v2/"  # the sentence model of `~` searches (bundled by default)
//! [explorer.keys]
//! quit = ["x"]             # rebinds one action; the others keep their keys
//! ```
use super::heatmap::{Palette, Theme};
use super::keymap::Keymap;
use super::work::Settings;
use anyhow::{Context, Result, bail};
use featurescope::llm::config::LlmConfig;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplorerSection {
    theme: Option<String>,
    colors: Option<String>,
    mouse: Option<bool>,
    train_config: Option<std::path::PathBuf>,
    embedder: Option<std::path::PathBuf>,
    #[serde(default)]
    keys: BTreeMap<String, Vec<String>>,
}

pub struct ExplorerConfig {
    pub keymap: Keymap,
    pub theme: Theme,
    pub palette: Palette,
    pub mouse: bool,
    pub jobs: Settings,
}

/// The training configuration proposed when none is configured: the demo's.
const DEFAULT_TRAIN_CONFIG: &str = "datasets/demo-train.toml";

impl ExplorerConfig {
    /// Reads `featurescope.toml` in the working directory, if there is one.
    pub fn load() -> Result<Self> {
        let (llm, mut sections) = crate::settings::load(None)?;
        let section = match sections.remove(crate::settings::EXPLORER) {
            Some(table) => table.try_into().context("featurescope.toml: [explorer]")?,
            None => ExplorerSection::default(),
        };
        Self::from_section(section, llm)
    }

    fn from_section(section: ExplorerSection, llm: LlmConfig) -> Result<Self> {
        let theme = match section.theme.as_deref() {
            None | Some("dark") => Theme::Dark,
            Some("light") => Theme::Light,
            Some(other) => bail!("featurescope.toml: explorer.theme {other:?}: dark or light"),
        };
        let palette = match section.colors.as_deref() {
            None | Some("auto") => Palette::detect(),
            Some("truecolor") => Palette::TrueColor,
            Some("256") => Palette::Indexed,
            Some(other) => {
                bail!("featurescope.toml: explorer.colors {other:?}: truecolor, 256 or auto")
            }
        };
        let keymap = Keymap::with_overrides(&section.keys)
            .map_err(|e| anyhow::anyhow!("featurescope.toml: explorer.{e}"))?;
        Ok(Self {
            keymap,
            theme,
            palette,
            mouse: section.mouse.unwrap_or(true),
            jobs: Settings {
                llm,
                train_config: section
                    .train_config
                    .unwrap_or_else(|| DEFAULT_TRAIN_CONFIG.into()),
                embedder: section
                    .embedder
                    .unwrap_or_else(|| featurescope::search::BUNDLED_EMBEDDER.into()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ExplorerConfig> {
        let table: toml::Table = toml::from_str(text).unwrap();
        ExplorerConfig::from_section(table["explorer"].clone().try_into()?, LlmConfig::default())
    }

    #[test]
    fn one_key_can_be_rebound_and_mistakes_are_named() {
        let config = parse(
            "[explorer]\ntheme = \"light\"\nmouse = false\n[explorer.keys]\nquit = [\"x\"]\n",
        )
        .unwrap();
        assert_eq!(config.theme, Theme::Light);
        assert!(!config.mouse);
        let quit = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char('x'));
        assert_eq!(
            config.keymap.action(&quit),
            Some(super::super::keymap::Action::Quit)
        );
        let help = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char('?'));
        assert_eq!(
            config.keymap.action(&help),
            Some(super::super::keymap::Action::Help)
        );
        let err = parse("[explorer.keys]\nquit = [\"hyper-x\"]\n")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("keys.quit") && err.contains("hyper-x"),
            "{err}"
        );
        let err = parse("[explorer]\ntheme = \"neon\"\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("neon"), "{err}");
        assert!(parse("[explorer]\nthem = \"dark\"\n").is_err());
    }
}
