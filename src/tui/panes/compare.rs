//! Real vs simulated: the activations of each text a score was computed on,
//! token for token, real above simulated or overlaid, with the correlation
//! per text and over all of them. Shown inside the unit view.
use super::super::annotations::Annotations;
use super::super::heatmap::{Look, display_token, heat, record_spans};
use super::super::loader::UnitData;
use super::{fmt_opt, wrap};
use featurescope::text::printable;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};

/// Which of the unit's scores is shown, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComparePane {
    /// Index into the unit's scores (`Annotations::unit_scores`).
    pub score: usize,
    pub overlay: bool,
}

impl ComparePane {
    /// The compare key: the first score, then the next, then closed.
    pub fn cycle(current: Option<Self>, scores: usize) -> Option<Self> {
        match current {
            None => Some(Self {
                score: 0,
                overlay: false,
            }),
            Some(c) if c.score + 1 < scores => Some(Self {
                score: c.score + 1,
                ..c
            }),
            Some(_) => None,
        }
    }

    /// The overlay key.
    pub fn toggle_overlay(self) -> Self {
        Self {
            overlay: !self.overlay,
            ..self
        }
    }
}

/// The pane drawn over one unit's data.
pub struct CompareView<'a> {
    pub pane: ComparePane,
    pub data: &'a UnitData,
    pub notes: &'a Annotations,
    pub look: &'a Look,
}

impl Widget for CompareView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let Self {
            pane,
            data,
            notes,
            look,
        } = self;
        let Some((explanation, score)) = notes
            .unit_scores(data.unit.unit_id)
            .get(pane.score)
            .copied()
        else {
            return;
        };
        let max = data.unit.stats.max as f32;
        // Simulations are on the simulator's 0–10 scale: coloured relative to their own maximum.
        let sim_max = score
            .simulated
            .iter()
            .flatten()
            .copied()
            .fold(0.0f32, f32::max);
        let width = area.width.saturating_sub(2) as usize;
        let (mut reals, mut sims) = (Vec::new(), Vec::new());
        let mut out: Vec<Line> = Vec::new();
        for (id, simulated) in score.record_ids.iter().zip(&score.simulated) {
            let Some(record) = data.records.iter().find(|r| r.record_id == *id) else {
                out.push(Line::from(format!(
                    "record {id}: not among this unit's records"
                )));
                continue;
            };
            let r = correlation(
                std::slice::from_ref(&record.activations),
                std::slice::from_ref(simulated),
            );
            reals.push(record.activations.clone());
            sims.push(simulated.clone());
            out.push(Line::from(Span::styled(
                format!(
                    "{} #{}   r = {}",
                    record.sample.kind_str(),
                    record.rank,
                    fmt_opt(r, 3)
                ),
                Style::default().add_modifier(Modifier::BOLD),
            )));
            if pane.overlay {
                // Background: real; text colour: simulated.
                let spans = record
                    .tokens
                    .iter()
                    .zip(&record.activations)
                    .zip(simulated)
                    .map(|((t, &a), &s)| {
                        let mut style = Style::default();
                        if let Some(bg) =
                            heat(a / max.max(f32::MIN_POSITIVE), look.palette, look.theme)
                        {
                            style = style.bg(bg);
                        }
                        if let Some(fg) =
                            heat(s / sim_max.max(f32::MIN_POSITIVE), look.palette, look.theme)
                        {
                            style = style.fg(fg).add_modifier(Modifier::BOLD);
                        }
                        Span::styled(display_token(t), style)
                    })
                    .collect();
                out.extend(wrap(spans, width, 2));
            } else {
                let row = |label: &str, values: &[f32], scale: f32| {
                    let mut spans = vec![Span::raw(format!("{label} "))];
                    spans.extend(record_spans(
                        &record.tokens,
                        values,
                        scale,
                        None,
                        look.palette,
                        look.theme,
                    ));
                    wrap(spans, width, 5)
                };
                out.extend(row("real", &record.activations, max));
                out.extend(row("sim ", simulated, sim_max));
            }
        }
        let overall = correlation(&reals, &sims);
        let rated = notes
            .ratings
            .get(&score.score_id)
            .map_or_else(String::new, |r| format!(" · rated {r}/5"));
        let title = format!(
            "real vs simulated{} · {} · {} score {} (recomputed {}){rated} · {}",
            if pane.overlay { ", overlaid" } else { "" },
            printable(&truncate(&explanation.text, 40)),
            printable(&score.record_set),
            fmt_opt(score.score, 3),
            fmt_opt(overall, 3),
            printable(&score.simulator_model),
        );
        Paragraph::new(out)
            .block(Block::default().borders(Borders::ALL).title(title))
            .render(area, buf);
    }
}

fn correlation(real: &[Vec<f32>], simulated: &[Vec<f32>]) -> Option<f64> {
    featurescope::interp::score::score(real, simulated)
        .ok()
        .and_then(|s| s.correlation)
}

fn truncate(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_owned();
    }
    text.chars().take(chars - 1).chain(['…']).collect()
}
