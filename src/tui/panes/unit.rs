//! One unit: its explanations with scores and lineage, the histogram and
//! the heatmap legend, and its records as heatmaps with a token cursor (or,
//! with the compare key, real vs simulated for one of its scores). From the
//! lab: its activations on the text probed, its steered continuation, and
//! a picker of similar units.
use super::super::annotations::Annotations;
use super::super::heatmap::{Look, display_token, heat, record_spans};
use super::super::keymap::Action;
use super::super::loader::UnitData;
use super::compare::{ComparePane, CompareView};
use super::{fmt_opt, moved, probe_strip, wrap};
use featurescope::dataset::{LogitEffect, Record, Sample, TokenEffect};
use featurescope::experiment::ablation::{Ablation, TokenChange};
use featurescope::experiment::probe::Probe;
use featurescope::experiment::similar::{Neighbour, SimilarUnits};
use featurescope::experiment::steering::Steered;
use featurescope::text::printable;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Sparkline, Widget, Wrap};

pub struct UnitPane {
    pub unit_id: u64,
    pub data: Option<UnitData>,
    pub error: Option<String>,
    /// Index into `ordered_records`.
    pub record: usize,
    pub token: usize,
    /// Real vs simulated, when shown.
    pub compare: Option<ComparePane>,
    /// The similar-units picker, when open: its answer (`None` while it
    /// is computed) and the row picked.
    pub similar: Option<(Option<Result<SimilarUnits, String>>, usize)>,
    /// The latest steering: `None` while it runs.
    pub steered: Option<Option<Result<Steered, String>>>,
}

/// The picker's rows: by direction, then by correlation.
fn similar_rows(similar: &SimilarUnits) -> Vec<(&'static str, &Neighbour)> {
    let direction = similar.by_direction.iter().map(|n| ("cosine", n));
    let correlation = similar.by_correlation.iter().map(|n| ("correlation", n));
    direction.chain(correlation).collect()
}

/// What a key in the unit view asks of the app.
#[derive(Debug, PartialEq)]
pub enum UnitEvent {
    /// Back to the list.
    Back,
    /// Ask for a rating of the score shown.
    Rate,
    /// Say this in the status line.
    Say(String),
    /// Find the units similar to this one.
    FindSimilar,
    /// Ask how to steer with this unit.
    Steer,
    /// Open this unit.
    Open(u64),
}

impl UnitPane {
    pub fn new(unit_id: u64) -> Self {
        Self {
            unit_id,
            data: None,
            error: None,
            record: 0,
            token: 0,
            compare: None,
            similar: None,
            steered: None,
        }
    }

    /// The picker's keys, while it is open.
    fn similar_action(&mut self, action: Action) -> Option<UnitEvent> {
        let (answer, picked) = self.similar.as_mut()?;
        let rows = match answer {
            Some(Ok(similar)) => similar_rows(similar).len(),
            _ => 0,
        };
        match action {
            Action::Back | Action::Similar => self.similar = None,
            Action::Open => {
                let Some(Ok(similar)) = answer else {
                    return None;
                };
                let unit = similar_rows(similar).get(*picked)?.1.unit_id;
                return Some(UnitEvent::Open(unit));
            }
            _ => *picked = moved(action, rows, *picked, 10),
        }
        None
    }

    /// Records in display order: top by rank, then quantile bins, then random.
    pub fn ordered_records(&self) -> Vec<&Record> {
        let Some(data) = &self.data else {
            return Vec::new();
        };
        let mut records: Vec<&Record> = data.records.iter().collect();
        records.sort_by_key(|r| {
            let section = match r.sample {
                Sample::Top => (0, 0),
                Sample::Quantile(bin) => (1, bin),
                Sample::Random => (2, 0),
            };
            (section, r.rank)
        });
        records
    }

    pub fn action(
        &mut self,
        action: Action,
        notes: &Annotations,
        page: usize,
    ) -> Option<UnitEvent> {
        if self.similar.is_some() {
            return self.similar_action(action);
        }
        match action {
            Action::Similar => {
                self.similar = Some((None, 0));
                return Some(UnitEvent::FindSimilar);
            }
            Action::Steer => return Some(UnitEvent::Steer),
            Action::Back => return Some(UnitEvent::Back),
            Action::Rate if self.compare.is_some() => return Some(UnitEvent::Rate),
            Action::Rate => {
                return Some(UnitEvent::Say(
                    "rate a simulation from the real vs simulated view (c)".into(),
                ));
            }
            Action::Compare | Action::Overlay => {
                let scores = notes.unit_scores(self.unit_id).len();
                if scores == 0 {
                    return Some(UnitEvent::Say(
                        "no scored explanation for this unit yet".into(),
                    ));
                }
                self.compare = if action == Action::Compare {
                    ComparePane::cycle(self.compare, scores)
                } else {
                    self.compare.map(ComparePane::toggle_overlay)
                };
                return None;
            }
            _ => {}
        }
        let records = self.ordered_records();
        let tokens = records.get(self.record).map_or(0, |r| r.tokens.len());
        let new_record = moved(action, records.len(), self.record, page);
        match action {
            Action::TokenLeft => self.token = self.token.saturating_sub(1),
            Action::TokenRight => self.token = (self.token + 1).min(tokens.saturating_sub(1)),
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom
                if new_record != self.record =>
            {
                self.record = new_record;
                self.token = 0;
            }
            _ => {}
        }
        None
    }
}

/// The unit view as drawn: the pane and what it shows beside its records.
pub struct UnitView<'a> {
    pub pane: &'a UnitPane,
    pub notes: &'a Annotations,
    /// Lower edges of the quantile bins (from the manifest), for naming them.
    pub quantile_levels: &'a [f64],
    pub look: &'a Look,
    /// The key that asks for an explanation, for the hint when there is none.
    pub explain_key: String,
    /// The text probed last, if any.
    pub probe: Option<&'a Probe>,
}

/// The steered continuation beside the unsteered one.
fn render_steering(steered: &Option<Result<Steered, String>>, area: Rect, buf: &mut Buffer) {
    let block = |title: String| Block::default().borders(Borders::ALL).title(title);
    let steered = match steered {
        None => {
            Paragraph::new("steering…")
                .block(block("steering".into()))
                .render(area, buf);
            return;
        }
        Some(Err(e)) => {
            Paragraph::new(format!("steering failed: {}", printable(e)))
                .block(block("steering".into()))
                .render(area, buf);
            return;
        }
        Some(Ok(steered)) => steered,
    };
    let how = steered.plan.steer;
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let prompt = printable(&steered.plan.prompt);
    for (side, title, text) in [
        (left, format!("{prompt} … unsteered"), &steered.unsteered),
        (right, format!("{prompt} … steered {how}"), &steered.steered),
    ] {
        Paragraph::new(printable(text))
            .wrap(Wrap { trim: false })
            .block(block(title))
            .render(side, buf);
    }
}

/// The similar-units picker, over the records.
fn render_similar(
    answer: &Option<Result<SimilarUnits, String>>,
    picked: usize,
    area: Rect,
    buf: &mut Buffer,
) {
    Clear.render(area, buf);
    let mut picked_line = 0;
    let lines: Vec<Line> = match answer {
        None => vec![Line::from(
            "finding similar units (the model runs its records)…",
        )],
        Some(Err(e)) => vec![Line::from(format!("similar units: {}", printable(e)))],
        Some(Ok(similar)) => {
            let mut lines = Vec::new();
            if similar.by_direction.is_empty() {
                lines.push(Line::from(
                    "── by cosine: none, the directions of its source are orthogonal ──",
                ));
            }
            let mut heading = "";
            for (i, (how, n)) in similar_rows(similar).into_iter().enumerate() {
                if how != heading {
                    heading = how;
                    let title = if how == "cosine" {
                        "── by cosine of output directions ──".to_owned()
                    } else {
                        format!(
                            "── by correlation over its {} records ({} tokens) ──",
                            similar.record_ids.len(),
                            similar.tokens
                        )
                    };
                    lines.push(Line::from(Span::styled(
                        title,
                        Style::default().add_modifier(Modifier::BOLD),
                    )));
                }
                let text = format!("unit {:>6}  {:+.3}", n.unit_id, n.similarity);
                let style = if i == picked {
                    picked_line = lines.len();
                    Style::default().add_modifier(Modifier::REVERSED)
                } else {
                    Style::default()
                };
                lines.push(Line::from(Span::styled(text, style)));
            }
            if lines.is_empty() {
                lines.push(Line::from("no similar units"));
            }
            lines
        }
    };
    // Scrolled so that the picked row shows.
    let rows = area.height.saturating_sub(2) as usize;
    let scroll = (picked_line + 1).saturating_sub(rows) as u16;
    Paragraph::new(lines)
        .scroll((scroll, 0))
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title("similar units (↑/↓ pick, Enter opens, Esc closes)"),
        )
        .render(area, buf);
}

/// An ablation in three lines: what was done and how much the prediction
/// moved, then the tokens that fall most and those that rise most.
fn ablation_lines(a: &Ablation) -> Vec<Line<'static>> {
    let tokens = |list: &[TokenChange]| {
        list.iter()
            .map(|t| format!("\"{}\" {:+.3}", display_token(&t.token), t.mean_change))
            .collect::<Vec<_>>()
            .join("  ")
    };
    vec![
        Line::from(format!(
            "scaled by {} on {} records: mean KL {:.4} nats over {} positions",
            a.plan.scale,
            a.record_ids.len(),
            a.mean_kl,
            a.positions
        )),
        Line::from(format!("falls: {}", tokens(&a.falls))),
        Line::from(format!("rises: {}", tokens(&a.rises))),
    ]
}

/// A unit's logit effects in two lines: the tokens it raises most, then
/// those it lowers most, as many as the width holds.
fn logit_effect_lines(e: &LogitEffect) -> Vec<Line<'static>> {
    let tokens = |list: &[TokenEffect]| {
        list.iter()
            .map(|t| format!("\"{}\" {:+.3}", display_token(&t.token), t.effect))
            .collect::<Vec<_>>()
            .join("  ")
    };
    vec![
        Line::from(format!("raises: {}", tokens(&e.raised))),
        Line::from(format!("lowers: {}", tokens(&e.lowered))),
    ]
}

fn section_title(sample: Sample, levels: &[f64]) -> String {
    match sample {
        Sample::Top => "top-activating texts".into(),
        Sample::Random => "random texts".into(),
        Sample::Quantile(bin) => {
            let lo = levels.get(bin as usize).copied();
            let hi = levels.get(bin as usize + 1).copied();
            match (lo, hi) {
                (Some(lo), Some(hi)) => format!("quantile bin [{lo}, {hi}) of window maxima"),
                _ => format!("quantile bin {bin}"),
            }
        }
    }
}

impl Widget for UnitView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let Self {
            pane: view,
            notes,
            quantile_levels: levels,
            look,
            explain_key,
            probe,
        } = self;
        let Some(data) = &view.data else {
            let text = match &view.error {
                Some(e) => format!("unit {}: {}", view.unit_id, printable(e)),
                None => format!("loading unit {}…", view.unit_id),
            };
            Paragraph::new(text).render(area, buf);
            return;
        };
        let unit = &data.unit;
        let explanations = notes.explanations_of(unit.unit_id);
        let explanation_rows = (explanations.len() as u16).clamp(1, 6);
        let ablations = notes
            .ablations
            .get(&unit.unit_id)
            .map_or(&[][..], Vec::as_slice);
        let ablation_rows = if ablations.is_empty() {
            0
        } else {
            ablations.len() as u16 * 3 + 2
        };
        let logit_effects = notes.logit_effects.get(&unit.unit_id);
        let logit_rows = if logit_effects.is_some() { 4 } else { 0 };
        // On the records' scale, so the two read alike.
        let probe_lines = probe.filter(|p| p.unit(unit.unit_id).is_some()).map(|p| {
            let width = area.width.saturating_sub(2) as usize;
            probe_strip(
                p,
                Some(unit.unit_id),
                Some(unit.stats.max as f32),
                None,
                look,
                width,
            )
        });
        let probe_rows = probe_lines.as_ref().map_or(0, |(l, _)| l.len() as u16 + 2);
        let steering_rows = if view.steered.is_some() { 6 } else { 0 };
        let [
            header,
            expl_area,
            logit_area,
            ablation_area,
            probe_area,
            steering_area,
            stats_area,
            records_area,
        ] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(explanation_rows + 2),
            Constraint::Length(logit_rows),
            Constraint::Length(ablation_rows.min(11)),
            Constraint::Length(probe_rows),
            Constraint::Length(steering_rows),
            Constraint::Length(4),
            Constraint::Min(3),
        ])
        .areas(area);

        Paragraph::new(format!(
            "unit {} · layer {} · {} {} · max {:.3} · mean {} · density {}",
            unit.unit_id,
            unit.layer,
            unit.kind,
            unit.index,
            unit.stats.max,
            fmt_opt(unit.stats.mean, 3),
            fmt_opt(unit.stats.density, 4),
        ))
        .style(Style::default().add_modifier(Modifier::BOLD))
        .render(header, buf);

        let by_id: std::collections::HashMap<&str, usize> = explanations
            .iter()
            .enumerate()
            .map(|(i, e)| (e.explanation_id.as_str(), i))
            .collect();
        let mut lines: Vec<Line> = explanations
            .iter()
            .map(|e| {
                let score = notes
                    .scores
                    .get(&e.explanation_id)
                    .into_iter()
                    .flatten()
                    .filter_map(|s| {
                        let v = s.score?;
                        Some(if s.is_simulation() {
                            format!("{v:.2} {}", printable(&s.record_set))
                        } else {
                            format!("{} {v:.2}", printable(&s.method))
                        })
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let lineage = e
                    .parent_id
                    .as_deref()
                    .map(|p| match by_id.get(p) {
                        Some(i) => format!("  (revises #{})", i + 1),
                        None => "  (revises an explanation not shown)".into(),
                    })
                    .unwrap_or_default();
                Line::from(format!(
                    "#{} [{}] {} — {}{}",
                    by_id[e.explanation_id.as_str()] + 1,
                    if score.is_empty() {
                        "unscored".into()
                    } else {
                        score
                    },
                    printable(&e.method),
                    printable(&e.text),
                    lineage
                ))
            })
            .collect();
        if lines.is_empty() {
            lines.push(Line::from(format!(
                "no explanation yet ({explain_key} asks the explainer for one)"
            )));
        }
        Paragraph::new(lines)
            .block(Block::default().borders(Borders::ALL).title("explanations"))
            .render(expl_area, buf);

        if let Some(effects) = logit_effects {
            Paragraph::new(logit_effect_lines(effects))
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title("logit effects: next-token logits its direction raises and lowers"),
                )
                .render(logit_area, buf);
        }

        if !ablations.is_empty() {
            Paragraph::new(
                ablations
                    .iter()
                    .flat_map(ablation_lines)
                    .collect::<Vec<_>>(),
            )
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title("ablation: next-token log-probability changes where it fires"),
            )
            .render(ablation_area, buf);
        }

        if let Some((lines, max)) = probe_lines {
            Paragraph::new(lines)
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(format!("on your text: max {max:.3}")),
                )
                .render(probe_area, buf);
        }
        if let Some(steered) = &view.steered {
            render_steering(steered, steering_area, buf);
        }

        // Histogram and legend side by side.
        let [hist_area, legend_area] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(stats_area);
        // Log-scaled: most tokens sit in the bin at zero.
        let counts: Vec<u64> = unit
            .stats
            .histogram_counts
            .iter()
            .map(|&c| ((c as f64 + 1.0).ln() * 100.0) as u64)
            .collect();
        let edges = &unit.stats.histogram_edges;
        let hist_title = match (edges.first(), edges.last()) {
            (Some(lo), Some(hi)) => format!("activations {lo:.2} … {hi:.2} (log count)"),
            _ => "activations".into(),
        };
        Sparkline::default()
            .data(&counts)
            .block(Block::default().borders(Borders::ALL).title(hist_title))
            .render(hist_area, buf);
        let max = unit.stats.max as f32;
        let ramp: Vec<Span> = (0..=10)
            .map(|i| {
                let style = heat(i as f32 / 10.0, look.palette, look.theme)
                    .map_or_else(Style::default, |bg| Style::default().bg(bg));
                Span::styled("  ", style)
            })
            .collect();
        let records = view.ordered_records();
        let selected = records.get(view.record).copied();
        let cursor = selected
            .and_then(|r| Some((r.tokens.get(view.token)?, r.activations.get(view.token)?)))
            .map(|(t, a)| format!("token \"{}\" = {a:.4}", display_token(t)))
            .unwrap_or_default();
        let mut legend = vec![Span::raw("0 ")];
        legend.extend(ramp);
        legend.push(Span::raw(format!(" {max:.3}")));
        Paragraph::new(vec![Line::from(legend), Line::from(cursor)])
            .block(Block::default().borders(Borders::ALL).title("legend"))
            .render(legend_area, buf);

        if let Some((answer, picked)) = &view.similar {
            render_similar(answer, *picked, records_area, buf);
            return;
        }
        if let Some(compare) = view.compare {
            CompareView {
                pane: compare,
                data,
                notes,
                look,
            }
            .render(records_area, buf);
            return;
        }
        // Records from the selected one's section header on, wrapped to the width.
        let width = records_area.width.saturating_sub(2) as usize;
        let mut out: Vec<Line> = Vec::new();
        let first = view.record.saturating_sub(1);
        let mut previous: Option<&str> = None;
        for (i, record) in records.iter().enumerate().skip(first) {
            let section = record.sample.kind_str();
            if previous != Some(section) || i == first {
                out.push(Line::from(Span::styled(
                    format!("── {} ──", section_title(record.sample, levels)),
                    Style::default().add_modifier(Modifier::BOLD),
                )));
                previous = Some(section);
            }
            let marker = if i == view.record { "▶" } else { " " };
            out.push(Line::from(format!(
                "{marker} #{} max {:.3}",
                record.rank,
                record.max_activation()
            )));
            let token = (i == view.record).then_some(view.token);
            out.extend(wrap(
                record_spans(
                    &record.tokens,
                    &record.activations,
                    max,
                    token,
                    look.palette,
                    look.theme,
                ),
                width,
                2,
            ));
            if out.len() > records_area.height as usize {
                break;
            }
        }
        Paragraph::new(out)
            .block(Block::default().borders(Borders::ALL).title(format!(
                "record {} of {}",
                (view.record + 1).min(records.len()),
                records.len()
            )))
            .render(records_area, buf);
    }
}
