//! Drawing: a pure function of the app state, laying out the panes (each
//! draws itself) and the footer. Every string that came from a dataset goes
//! through `printable` or the heatmap's `display_token` first.
use super::app::{App, Screen};
use super::heatmap::Look;
use super::keymap::Action;
use super::panes::help::HelpView;
use super::panes::jobs_panel::JobsView;
use super::panes::list::ListView;
use super::panes::unit::UnitView;
use featurescope::text::printable;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::Paragraph;

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
    let [body, panel, footer] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(app.jobs_panel.height(&app.jobs, area.height)),
        Constraint::Length(1),
    ])
    .areas(area);
    match &app.screen {
        Screen::List => frame.render_widget(
            ListView {
                list: &app.list,
                look,
            },
            body,
        ),
        Screen::Unit(pane) => frame.render_widget(
            UnitView {
                pane,
                notes: &app.notes,
                quantile_levels: &app.quantile_levels,
                look,
                explain_key: app.keymap.label(Action::Explain),
                probe: app.list.probe().map(|p| p.as_ref()),
            },
            body,
        ),
    }
    if app.jobs_panel.open {
        frame.render_widget(
            JobsView {
                panel: &app.jobs_panel,
                jobs: &app.jobs,
                keymap: &app.keymap,
            },
            panel,
        );
    }
    draw_footer(frame, app, footer);
    if app.help.open {
        frame.render_widget(
            HelpView {
                help: &app.help,
                keymap: &app.keymap,
            },
            area,
        );
    }
}

/// The text being typed, else the status, else the jobs, else the hints.
fn draw_footer(frame: &mut Frame, app: &App, area: Rect) {
    if let Some(input) = &app.input {
        frame.render_widget(input, area);
        return;
    }
    let text = if !app.status.is_empty() {
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
