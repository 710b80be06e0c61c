//! The explorer's panes. Each holds its own state, handles the actions
//! meant for it (returning what it needs the app to do, if anything), and
//! draws itself as a ratatui widget; `app.rs` routes keys and messages
//! between them and `view.rs` lays them out.
//!
//! - [`list::UnitList`]: the unit list, its filters and sort
//! - [`unit::UnitPane`]: one unit's records, explanations and histogram
//! - [`compare::ComparePane`]: real vs simulated, inside the unit view
//! - [`jobs_panel::JobsPanel`]: the jobs and what they made
//! - [`help::Help`]: the key list
//! - [`input::TextInput`]: a line of text for a filter, a unit id, a rating…
pub mod compare;
pub mod help;
pub mod input;
pub mod jobs_panel;
pub mod list;
pub mod unit;

use super::keymap::Action;
use ratatui::text::{Line, Span};

/// Where a movement key takes a cursor over `len` items from `current`,
/// a page being `page` items; other actions leave it.
pub fn moved(action: Action, len: usize, current: usize, page: usize) -> usize {
    let page = page.max(1);
    let last = len.saturating_sub(1);
    match action {
        Action::Up => current.saturating_sub(1),
        Action::Down => (current + 1).min(last),
        Action::PageUp => current.saturating_sub(page),
        Action::PageDown => (current + page).min(last),
        Action::Top => 0,
        Action::Bottom => last,
        _ => current,
    }
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

/// Breaks spans into lines of at most `width` columns, between tokens.
fn wrap(spans: Vec<Span<'static>>, width: usize, indent: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut current: Vec<Span<'static>> = vec![Span::raw(" ".repeat(indent))];
    let mut used = indent;
    for span in spans {
        let w = span.width();
        if used + w > width && used > indent {
            lines.push(Line::from(std::mem::take(&mut current)));
            current.push(Span::raw(" ".repeat(indent)));
            used = indent;
        }
        used += w;
        current.push(span);
    }
    lines.push(Line::from(current));
    lines
}
