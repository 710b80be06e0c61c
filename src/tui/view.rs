//! Drawing: a pure function of the app state. Every string that came from a
//! dataset goes through `printable` or the heatmap's `display_token` first.
use super::app::{App, Compare, InputPurpose, Screen, UnitView};
use super::heatmap::{Palette, Theme, display_token, heat, record_spans};
use super::jobs::{Outcome, State, Work};
use super::keymap::Action;
use featurescope::dataset::Sample;
use featurescope::text::printable;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Sparkline, Table, TableState};

pub struct Look {
    pub palette: Palette,
    pub theme: Theme,
}

/// Smaller than this, the explorer shows a note instead of its panes.
const MIN_SIZE: (u16, u16) = (40, 10);

pub fn draw(frame: &mut Frame, app: &App, look: &Look) {
    let area = frame.area();
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        frame.render_widget(
            Paragraph::new(format!(
                "window too small ({}×{}); {}×{} or more",
                area.width, area.height, MIN_SIZE.0, MIN_SIZE.1
            )),
            area,
        );
        return;
    }
    let panel_height = if app.jobs_panel {
        (app.jobs.list.len().max(1) as u16 + 2).min(area.height / 3)
    } else {
        0
    };
    let [body, panel, footer] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(panel_height),
        Constraint::Length(1),
    ])
    .areas(area);
    match &app.screen {
        Screen::List => draw_list(frame, app, body),
        Screen::Unit(view) => draw_unit(frame, app, view, body, look),
    }
    if app.jobs_panel {
        draw_jobs(frame, app, panel);
    }
    draw_footer(frame, app, footer);
    if app.help {
        draw_help(frame, app, area);
    }
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

fn draw_list(frame: &mut Frame, app: &App, area: Rect) {
    let [header, table_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let order = if app.descending { "↓" } else { "↑" };
    let kind = app.kind_filter.map_or("all".to_owned(), |k| k.to_string());
    let mut title = format!(
        "featurescope  {}   {} of {} units   sort {} {order}   kind {kind}",
        printable(&app.dataset_dir.display().to_string()),
        app.visible.len(),
        app.rows.len(),
        app.sort.name(),
    );
    if !app.filter.is_empty() {
        title.push_str(&format!("   filter \"{}\"", printable(&app.filter)));
    }
    if app.refreshing {
        title.push_str("   sorting…");
    }
    frame.render_widget(
        Paragraph::new(title).style(Style::default().add_modifier(Modifier::BOLD)),
        header,
    );
    // Header row and borders take three lines.
    let height = table_area.height.saturating_sub(3) as usize;
    app.list_height.set(height.max(1));
    let start = app.selected.saturating_sub(height.saturating_sub(1));
    // Below the border and the header row.
    app.list_origin.set((table_area.y + 2, start));
    let rows = app
        .visible
        .iter()
        .skip(start)
        .take(height.max(1))
        .map(|&i| {
            let r = &app.rows[i];
            Row::new(vec![
                Cell::from(r.unit.unit_id.to_string()),
                Cell::from(r.unit.layer.to_string()),
                Cell::from(r.unit.index.to_string()),
                Cell::from(r.unit.kind.to_string()),
                Cell::from(format!("{:.3}", r.unit.max)),
                Cell::from(fmt_opt(r.unit.density, 4)),
                Cell::from(fmt_opt(r.score, 2)),
                Cell::from(r.explanation.as_deref().map(printable).unwrap_or_default()),
            ])
        });
    let widths = [
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(5),
        Constraint::Min(10),
    ];
    let table = Table::new(rows, widths)
        .header(
            Row::new([
                "id",
                "layer",
                "index",
                "kind",
                "max",
                "density",
                "score",
                "explanation",
            ])
            .style(Style::default().add_modifier(Modifier::BOLD)),
        )
        .block(Block::default().borders(Borders::ALL))
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default();
    if !app.visible.is_empty() {
        state.select(Some(app.selected - start));
    }
    frame.render_stateful_widget(table, table_area, &mut state);
    if app.loading {
        let note = Rect::new(
            table_area.x + 2,
            table_area.y + 2,
            table_area.width.saturating_sub(4),
            1,
        );
        frame.render_widget(Paragraph::new("loading units…"), note);
    }
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

fn draw_unit(frame: &mut Frame, app: &App, view: &UnitView, area: Rect, look: &Look) {
    let Some(data) = &view.data else {
        let text = match &view.error {
            Some(e) => format!("unit {}: {}", view.unit_id, printable(e)),
            None => format!("loading unit {}…", view.unit_id),
        };
        frame.render_widget(Paragraph::new(text), area);
        return;
    };
    let unit = &data.unit;
    let explanations = app
        .explanations
        .get(&unit.unit_id)
        .map_or(&[][..], Vec::as_slice);
    let explanation_rows = (explanations.len() as u16).clamp(1, 6);
    let [header, expl_area, stats_area, records_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(explanation_rows + 2),
        Constraint::Length(4),
        Constraint::Min(3),
    ])
    .areas(area);

    frame.render_widget(
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
        .style(Style::default().add_modifier(Modifier::BOLD)),
        header,
    );

    let by_id: std::collections::HashMap<&str, usize> = explanations
        .iter()
        .enumerate()
        .map(|(i, e)| (e.explanation_id.as_str(), i))
        .collect();
    let mut lines: Vec<Line> = explanations
        .iter()
        .map(|e| {
            let score = app
                .scores
                .get(&e.explanation_id)
                .into_iter()
                .flatten()
                .filter_map(|s| s.score.map(|v| format!("{v:.2} {}", s.record_set)))
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
            "no explanation yet ({} asks the explainer for one)",
            app.keymap.label(Action::Explain)
        )));
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title("explanations")),
        expl_area,
    );

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
    frame.render_widget(
        Sparkline::default()
            .data(&counts)
            .block(Block::default().borders(Borders::ALL).title(hist_title)),
        hist_area,
    );
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
    frame.render_widget(
        Paragraph::new(vec![Line::from(legend), Line::from(cursor)])
            .block(Block::default().borders(Borders::ALL).title("legend")),
        legend_area,
    );

    if let Some(compare) = view.compare {
        draw_compare(frame, app, view, compare, records_area, look);
        return;
    }
    // Records from the selected one's section header on, wrapped to the width.
    let levels = &app.quantile_levels;
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
    frame.render_widget(
        Paragraph::new(out).block(Block::default().borders(Borders::ALL).title(format!(
            "record {} of {}",
            (view.record + 1).min(records.len()),
            records.len()
        ))),
        records_area,
    );
}

/// Real and simulated activations of each text a score was computed on, token
/// for token, with the correlation per text and over all of them.
fn draw_compare(
    frame: &mut Frame,
    app: &App,
    view: &UnitView,
    compare: Compare,
    area: Rect,
    look: &Look,
) {
    let (Some(data), Some((explanation, score))) = (
        view.data.as_ref(),
        app.unit_scores(view.unit_id).get(compare.score).copied(),
    ) else {
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
        if compare.overlay {
            // Background: real; text colour: simulated.
            let spans = record
                .tokens
                .iter()
                .zip(&record.activations)
                .zip(simulated)
                .map(|((t, &a), &s)| {
                    let mut style = Style::default();
                    if let Some(bg) = heat(a / max.max(f32::MIN_POSITIVE), look.palette, look.theme)
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
    let rated = app
        .ratings
        .get(&score.score_id)
        .map_or_else(String::new, |r| format!(" · rated {r}/5"));
    let title = format!(
        "real vs simulated{} · {} · {} score {} (recomputed {}){rated} · {}",
        if compare.overlay { ", overlaid" } else { "" },
        printable(&truncate(&explanation.text, 40)),
        printable(&score.record_set),
        fmt_opt(score.score, 3),
        fmt_opt(overall, 3),
        printable(&score.simulator_model),
    );
    frame.render_widget(
        Paragraph::new(out).block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
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

fn draw_footer(frame: &mut Frame, app: &App, area: Rect) {
    let text = if let Some(input) = &app.input {
        let prompt = match input.purpose {
            InputPurpose::Filter => "filter (words, layer:N, kind:K, score>X, score<X): ",
            InputPurpose::GoTo => "go to unit id: ",
            InputPurpose::Rate => {
                "how well does the simulation match (1 = not at all … 5 = exactly)? "
            }
            InputPurpose::Train => "train an SAE with the configuration: ",
        };
        format!("{prompt}{}▏", printable(&input.text))
    } else if !app.status.is_empty() {
        printable(&app.status)
    } else if let Some(jobs) = jobs_summary(app) {
        jobs
    } else {
        let k = |a: Action| app.keymap.label(a);
        match app.screen {
            Screen::List => format!(
                "{} help  {} open  {} filter  {} kind  {} sort  {} go to  {} quit",
                k(Action::Help),
                k(Action::Open),
                k(Action::Filter),
                k(Action::KindFilter),
                k(Action::SortNext),
                k(Action::GoTo),
                k(Action::Quit)
            ),
            Screen::Unit(_) => format!(
                "{} help  {}/{} record  {}/{} token  {} back  {} quit",
                k(Action::Help),
                k(Action::Up),
                k(Action::Down),
                k(Action::TokenLeft),
                k(Action::TokenRight),
                k(Action::Back),
                k(Action::Quit)
            ),
        }
    };
    frame.render_widget(Paragraph::new(text), area);
}

/// "jobs: 1 running, 2 queued (J)", when there are jobs to speak of.
fn jobs_summary(app: &App) -> Option<String> {
    let (queued, running, failed) = app.jobs.counts();
    let parts: Vec<String> = [(running, "running"), (queued, "queued"), (failed, "failed")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "jobs: {} ({} shows them)",
            parts.join(", "),
            app.keymap.label(Action::Jobs)
        )
    })
}

/// One line per job: id, state, progress, what it is, and its latest word.
fn draw_jobs(frame: &mut Frame, app: &App, area: Rect) {
    let rows: Vec<Row> = app
        .jobs
        .list
        .iter()
        .map(|job| {
            let progress = match (&job.state, job.progress) {
                (State::Running, Some((done, total))) if total > 0 => {
                    format!("{:>3}%", (done * 100 / total).min(100))
                }
                _ => String::new(),
            };
            let detail = match &job.state {
                State::Ended(Outcome::Done { summary, .. }) => summary.clone(),
                State::Ended(Outcome::Failed(reason)) => reason.clone(),
                _ => job.note.clone(),
            };
            let style = match job.state {
                State::Ended(Outcome::Failed(_)) => Style::default().add_modifier(Modifier::BOLD),
                _ => Style::default(),
            };
            Row::new(vec![
                Cell::from(job.id.to_string()),
                Cell::from(job.state.name()),
                Cell::from(progress),
                Cell::from(printable(&job.task.label())),
                Cell::from(printable(&detail)),
            ])
            .style(style)
        })
        .collect();
    let empty = rows.is_empty();
    let widths = [
        Constraint::Length(3),
        Constraint::Length(9),
        Constraint::Length(4),
        Constraint::Length(40),
        Constraint::Min(10),
    ];
    let k = |a: Action| app.keymap.label(a);
    let title = format!(
        "jobs ({} cancel, {} open its dataset, {} close)",
        k(Action::CancelJob),
        k(Action::Open),
        k(Action::Jobs)
    );
    let table = Table::new(rows, widths)
        .block(Block::default().borders(Borders::ALL).title(title))
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default();
    if !empty {
        state.select(Some(app.jobs.selected));
    }
    frame.render_stateful_widget(table, area, &mut state);
    if empty {
        let note = Rect::new(area.x + 2, area.y + 1, area.width.saturating_sub(4), 1);
        frame.render_widget(
            Paragraph::new(format!(
                "no jobs yet: {} explains the unit, {} scores, {} revises, {} trains, {} re-extracts",
                k(Action::Explain),
                k(Action::Score),
                k(Action::Revise),
                k(Action::Train),
                k(Action::Extract)
            )),
            note,
        );
    }
}

fn draw_help(frame: &mut Frame, app: &App, area: Rect) {
    let help = app.keymap.help();
    let height = (help.len() as u16 + 2).min(area.height);
    let longest = help
        .iter()
        .map(|(_, what)| what.chars().count())
        .max()
        .unwrap_or(0);
    let keys_width = help
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let width = ((keys_width + longest) as u16 + 3).min(area.width);
    let popup = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    let shown = height.saturating_sub(2) as usize;
    let scroll = app.help_scroll.min(help.len().saturating_sub(shown));
    let title = if shown < help.len() {
        format!(
            "keys {}-{} of {} (↑/↓ scroll)",
            scroll + 1,
            scroll + shown,
            help.len()
        )
    } else {
        "keys".into()
    };
    let lines: Vec<Line> = help
        .into_iter()
        .skip(scroll)
        .map(|(keys, what)| Line::from(format!("{keys:<keys_width$} {what}")))
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)),
        popup,
    );
}
