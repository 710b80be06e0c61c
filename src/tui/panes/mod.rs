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

use super::heatmap::{Look, record_spans};
use super::keymap::Action;
use featurescope::experiment::probe::Probe;
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

/// Lines of a probed text shown at most.
const PROBE_LINES: usize = 3;

/// The probed text as a heatmap of unit `unit`'s activations on it (none
/// where the probe lacks the unit), on the scale of `scale` or else of the
/// unit's largest on the text, in at most three lines of `width` columns:
/// those around the token `cursor`, which is marked. With the unit's
/// largest activation on the text's own tokens (its special ones left out).
fn probe_strip(
    probe: &Probe,
    unit: Option<u64>,
    scale: Option<f32>,
    cursor: Option<usize>,
    look: &Look,
    width: usize,
) -> (Vec<Line<'static>>, f32) {
    let activations =
        (unit.and_then(|u| probe.unit(u))).unwrap_or_else(|| vec![0.0; probe.tokens.len()]);
    let text = activations.iter().zip(&probe.special);
    let largest =
        (text.filter(|(_, special)| !**special)).fold(f32::NEG_INFINITY, |m, (&a, _)| m.max(a));
    let spans = record_spans(
        &probe.tokens,
        &activations,
        scale.unwrap_or(largest),
        cursor,
        look.palette,
        look.theme,
    );
    let mut lines = wrap(spans, width, 1);
    // Each line holds its indent and then one span per token.
    let cursor_line = cursor.map_or(0, |c| {
        let mut first = 0;
        (lines.iter().position(|line| {
            first += line.spans.len() - 1;
            c < first
        }))
        .unwrap_or(0)
    });
    let start =
        (cursor_line.saturating_sub(PROBE_LINES / 2)).min(lines.len().saturating_sub(PROBE_LINES));
    lines.drain(..start);
    lines.truncate(PROBE_LINES);
    (lines, largest)
}

#[cfg(test)]
mod tests {
    use super::super::heatmap::{Palette, Theme};
    use super::*;
    use ratatui::style::Modifier;

    #[test]
    fn the_probe_strip_keeps_the_cursor_s_line_in_sight() {
        let tokens: Vec<String> = (0..40).map(|i| format!(" w{i:02}")).collect();
        let probe = Probe {
            text: tokens.concat(),
            special: vec![false; 40],
            units: 1,
            activations: (0..40).map(|i| i as f32).collect(),
            tokens,
        };
        let look = Look {
            palette: Palette::TrueColor,
            theme: Theme::Dark,
        };
        let marked = |lines: &[Line]| {
            (lines.iter().flat_map(|l| &l.spans))
                .find(|s| s.style.add_modifier.contains(Modifier::REVERSED))
                .map(|s| s.content.to_string())
        };
        // Four tokens of four columns to a line of 17: ten lines in all.
        let (lines, largest) = probe_strip(&probe, Some(0), None, Some(37), &look, 17);
        assert_eq!(largest, 39.0);
        assert_eq!(lines.len(), 3);
        assert_eq!(marked(&lines).as_deref(), Some(" w37"));
        let (lines, _) = probe_strip(&probe, Some(0), None, Some(13), &look, 17);
        assert_eq!(marked(&lines).as_deref(), Some(" w13"));
        assert!(lines[0].to_string().contains("w08"), "{}", lines[0]);
        let (lines, _) = probe_strip(&probe, None, None, None, &look, 17);
        assert!(lines[0].to_string().contains("w00"));
    }
}
