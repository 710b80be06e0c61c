//! Actions, their default keys and descriptions: one table that drives both
//! key handling and the help popup, so the two cannot disagree. A binding
//! can be overridden per action by name (`quit = ["q", "ctrl-c"]`).
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Quit,
    Help,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    SortNext,
    SortReverse,
    Filter,
    KindFilter,
    GoTo,
    TokenLeft,
    TokenRight,
    Compare,
    Overlay,
    Rate,
    RateNext,
    Explain,
    Score,
    ClassifierScores,
    Revise,
    Ablate,
    Probe,
    Similar,
    Steer,
    Train,
    Extract,
    Jobs,
    CancelJob,
}

impl Action {
    pub const ALL: [Action; 33] = [
        Self::Quit,
        Self::Help,
        Self::Up,
        Self::Down,
        Self::PageUp,
        Self::PageDown,
        Self::Top,
        Self::Bottom,
        Self::Open,
        Self::Back,
        Self::SortNext,
        Self::SortReverse,
        Self::Filter,
        Self::KindFilter,
        Self::GoTo,
        Self::TokenLeft,
        Self::TokenRight,
        Self::Compare,
        Self::Overlay,
        Self::Rate,
        Self::RateNext,
        Self::Explain,
        Self::Score,
        Self::ClassifierScores,
        Self::Revise,
        Self::Ablate,
        Self::Probe,
        Self::Similar,
        Self::Steer,
        Self::Train,
        Self::Extract,
        Self::Jobs,
        Self::CancelJob,
    ];

    /// The name used in the config file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Quit => "quit",
            Self::Help => "help",
            Self::Up => "up",
            Self::Down => "down",
            Self::PageUp => "page_up",
            Self::PageDown => "page_down",
            Self::Top => "top",
            Self::Bottom => "bottom",
            Self::Open => "open",
            Self::Back => "back",
            Self::SortNext => "sort",
            Self::SortReverse => "sort_reverse",
            Self::Filter => "filter",
            Self::KindFilter => "kind_filter",
            Self::GoTo => "go_to",
            Self::TokenLeft => "token_left",
            Self::TokenRight => "token_right",
            Self::Compare => "compare",
            Self::Overlay => "overlay",
            Self::Rate => "rate",
            Self::RateNext => "rate_next",
            Self::Explain => "explain",
            Self::Score => "score",
            Self::ClassifierScores => "classifier_scores",
            Self::Revise => "revise",
            Self::Ablate => "ablate",
            Self::Probe => "probe",
            Self::Similar => "similar",
            Self::Steer => "steer",
            Self::Train => "train",
            Self::Extract => "extract",
            Self::Jobs => "jobs",
            Self::CancelJob => "cancel_job",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Self::Quit => "quit",
            Self::Help => "show or hide this help",
            Self::Up => "previous unit / record",
            Self::Down => "next unit / record",
            Self::PageUp => "page up",
            Self::PageDown => "page down",
            Self::Top => "first",
            Self::Bottom => "last",
            Self::Open => "open the selected unit",
            Self::Back => "back to the unit list / cancel",
            Self::SortNext => "sort by the next column",
            Self::SortReverse => "reverse the sort order",
            Self::Filter => {
                "filter: explanation words, layer:N, kind:K, score>X, score<X, ~meaning"
            }
            Self::KindFilter => "cycle the unit kind shown",
            Self::GoTo => "go to a unit by id",
            Self::TokenLeft => "previous token",
            Self::TokenRight => "next token",
            Self::Compare => "real vs simulated: next score of this unit, then off",
            Self::Overlay => "real vs simulated: two rows or one overlaid row",
            Self::Rate => "real vs simulated: rate the match 1-5 (saved in the dataset)",
            Self::RateNext => "rating queue: a random unrated score, in real vs simulated",
            Self::Explain => "job: ask the explainer LLM to explain the unit",
            Self::Score => "job: simulate the unit's unscored explanations and score them",
            Self::ClassifierScores => {
                "job: detection, fuzzing, intruder and embedding scores (Delphi's)"
            }
            Self::Revise => "job: revise the latest scored explanation from its misses",
            Self::Ablate => "job: ablate the unit: the next tokens it raises and lowers",
            Self::Probe => "probe your own text: the list sorts by it (←/→ a token), units show it",
            Self::Similar => "similar units of the open one (↑/↓ pick, Enter opens)",
            Self::Steer => "steer with the open unit: \"+8 prompt\" adds, \"=5 prompt\" clamps",
            Self::Train => "job: train an SAE with a training config (asks which)",
            Self::Extract => "job: re-extract the dataset, adding the SAEs trained here",
            Self::Jobs => "show or hide the jobs panel (↑/↓ pick, Enter opens a dataset)",
            Self::CancelJob => "cancel the job picked in the jobs panel (else the latest)",
        }
    }

    fn default_keys(self) -> &'static [&'static str] {
        match self {
            Self::Quit => &["q", "ctrl-c"],
            Self::Help => &["?"],
            Self::Up => &["up", "k"],
            Self::Down => &["down", "j"],
            Self::PageUp => &["pageup"],
            Self::PageDown => &["pagedown", "space"],
            Self::Top => &["home", "g"],
            Self::Bottom => &["end", "G"],
            Self::Open => &["enter"],
            Self::Back => &["esc", "backspace"],
            Self::SortNext => &["s"],
            Self::SortReverse => &["S"],
            Self::Filter => &["/"],
            Self::KindFilter => &["t"],
            Self::GoTo => &[":"],
            Self::TokenLeft => &["left", "h"],
            Self::TokenRight => &["right", "l"],
            Self::Compare => &["c"],
            Self::Overlay => &["o"],
            Self::Rate => &["r"],
            Self::RateNext => &["R"],
            Self::Explain => &["e"],
            Self::Score => &["m"],
            Self::ClassifierScores => &["M"],
            Self::Revise => &["v"],
            Self::Ablate => &["a"],
            Self::Probe => &["p"],
            Self::Similar => &["n"],
            Self::Steer => &["w"],
            Self::Train => &["T"],
            Self::Extract => &["X"],
            Self::Jobs => &["J"],
            Self::CancelJob => &["x"],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    code: KeyCode,
    ctrl: bool,
}

impl Key {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (ctrl, rest) = match text.strip_prefix("ctrl-") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let code = match rest {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "backspace" => KeyCode::Backspace,
            "tab" => KeyCode::Tab,
            "space" => KeyCode::Char(' '),
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            s if s.chars().count() == 1 => KeyCode::Char(s.chars().next().expect("one char")),
            s if s.starts_with('f') && s[1..].parse::<u8>().is_ok() => {
                KeyCode::F(s[1..].parse().expect("checked"))
            }
            other => return Err(format!("unknown key {other:?}")),
        };
        Ok(Self { code, ctrl })
    }

    /// The key event this key sends.
    pub fn event(&self) -> KeyEvent {
        let modifiers = if self.ctrl {
            KeyModifiers::CONTROL
        } else {
            KeyModifiers::NONE
        };
        KeyEvent::new(self.code, modifiers)
    }

    fn matches(&self, event: &KeyEvent) -> bool {
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        ctrl == self.ctrl && event.code == self.code
    }

    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Enter => "Enter".to_owned(),
            KeyCode::Esc => "Esc".to_owned(),
            KeyCode::Backspace => "Backspace".to_owned(),
            KeyCode::Tab => "Tab".to_owned(),
            KeyCode::Char(' ') => "Space".to_owned(),
            KeyCode::Up => "↑".to_owned(),
            KeyCode::Down => "↓".to_owned(),
            KeyCode::Left => "←".to_owned(),
            KeyCode::Right => "→".to_owned(),
            KeyCode::PageUp => "PgUp".to_owned(),
            KeyCode::PageDown => "PgDn".to_owned(),
            KeyCode::Home => "Home".to_owned(),
            KeyCode::End => "End".to_owned(),
            KeyCode::F(n) => format!("F{n}"),
            KeyCode::Char(c) => c.to_string(),
            other => format!("{other:?}"),
        };
        if self.ctrl {
            format!("Ctrl-{base}")
        } else {
            base
        }
    }
}

#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: BTreeMap<Action, Vec<Key>>,
}

impl Default for Keymap {
    fn default() -> Self {
        let bindings = Action::ALL
            .iter()
            .map(|&a| {
                let keys = a
                    .default_keys()
                    .iter()
                    .map(|k| Key::parse(k).expect("default keys parse"))
                    .collect();
                (a, keys)
            })
            .collect();
        Self { bindings }
    }
}

impl Keymap {
    /// The defaults with some actions rebound: `overrides` maps action names
    /// to their new keys; actions not named keep theirs.
    pub fn with_overrides(overrides: &BTreeMap<String, Vec<String>>) -> Result<Self, String> {
        let mut map = Self::default();
        for (name, keys) in overrides {
            let action = Action::ALL
                .into_iter()
                .find(|a| a.name() == name)
                .ok_or_else(|| format!("keys: unknown action {name:?}"))?;
            let keys = keys
                .iter()
                .map(|k| Key::parse(k).map_err(|e| format!("keys.{name}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            map.bindings.insert(action, keys);
        }
        Ok(map)
    }

    pub fn action(&self, event: &KeyEvent) -> Option<Action> {
        self.bindings
            .iter()
            .find(|(_, keys)| keys.iter().any(|k| k.matches(event)))
            .map(|(a, _)| *a)
    }

    /// The first key of `action`, as shown in hints.
    pub fn label(&self, action: Action) -> String {
        self.bindings
            .get(&action)
            .and_then(|keys| keys.first())
            .map_or_else(|| "(unbound)".into(), Key::label)
    }

    /// Every action with all its keys, in the help popup's order.
    pub fn help(&self) -> Vec<(String, &'static str)> {
        Action::ALL
            .iter()
            .map(|a| {
                let keys: Vec<String> = self.bindings[a].iter().map(Key::label).collect();
                (keys.join(" "), a.description())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's key table is the live keymap, row for row.
    #[test]
    fn the_readme_documents_every_binding() {
        let readme = include_str!("../../README.md");
        for (keys, what) in Keymap::default().help() {
            let cells: Vec<String> = keys.split(' ').map(|k| format!("`{k}`")).collect();
            let row = format!("| {} | {what} |", cells.join(" "));
            assert!(readme.contains(&row), "README lacks the row {row}");
        }
        // The names a config file uses, each in the README's list of them.
        let list = readme
            .split("Action names for `[explorer.keys]`:")
            .nth(1)
            .and_then(|rest| rest.split('.').next())
            .expect("the README lists the action names");
        let names: Vec<&str> = list
            .split([',', ' ', '\n'])
            .filter(|n| !n.is_empty())
            .collect();
        for action in Action::ALL {
            assert!(
                names.contains(&action.name()),
                "{} is not in the README's list of action names",
                action.name()
            );
        }
    }
}
