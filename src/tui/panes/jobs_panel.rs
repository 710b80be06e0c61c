//! The jobs panel: one line per job (id, state, progress, what it is, its
//! latest word); a job can be picked to cancel it or open what it made.
use super::super::jobs::{Jobs, Outcome, Product, State, Work};
use super::super::keymap::{Action, Keymap};
use super::super::work::Task;
use super::moved;
use featurescope::text::printable;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{
    Block, Borders, Cell, Paragraph, Row, StatefulWidget, Table, TableState, Widget,
};
use std::path::PathBuf;

#[derive(Default)]
pub struct JobsPanel {
    /// Shown (and taking the navigation keys).
    pub open: bool,
    /// The job picked, as an index into the job list.
    pub selected: usize,
}

/// What a key in the panel asks of the app.
#[derive(Debug, PartialEq)]
pub enum PanelEvent {
    /// Open this dataset (a re-extraction made it).
    OpenDataset(PathBuf),
    Say(String),
}

impl JobsPanel {
    /// A new job was queued: pick it.
    pub fn follow(&mut self, jobs: &Jobs<Task>) {
        self.selected = jobs.list.len().saturating_sub(1);
    }

    /// The job picked, if the panel is open.
    pub fn picked(&self, jobs: &Jobs<Task>) -> Option<u64> {
        self.open
            .then(|| jobs.list.get(self.selected).map(|j| j.id))
            .flatten()
    }

    /// Rows the panel takes in a body of `available` rows.
    pub fn height(&self, jobs: &Jobs<Task>, available: u16) -> u16 {
        if self.open {
            (jobs.list.len().max(1) as u16 + 2).min(available / 3)
        } else {
            0
        }
    }

    /// Keys while the panel is open: pick a job, open what it made, close.
    pub fn action(&mut self, action: Action, jobs: &Jobs<Task>, page: usize) -> Option<PanelEvent> {
        match action {
            Action::Back => self.open = false,
            Action::Open => {
                return match jobs.list.get(self.selected).and_then(|j| j.state.product()) {
                    Some(Product::Dataset(dir)) => {
                        self.open = false;
                        Some(PanelEvent::OpenDataset(dir.clone()))
                    }
                    _ => Some(PanelEvent::Say("this job made no dataset to open".into())),
                };
            }
            _ => self.selected = moved(action, jobs.list.len(), self.selected, page),
        }
        None
    }
}

/// The panel as drawn over the job list.
pub struct JobsView<'a> {
    pub panel: &'a JobsPanel,
    pub jobs: &'a Jobs<Task>,
    pub keymap: &'a Keymap,
}

impl Widget for JobsView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let rows: Vec<Row> = self
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
                    State::Ended(Outcome::Failed(_)) => {
                        Style::default().add_modifier(Modifier::BOLD)
                    }
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
        let k = |a: Action| self.keymap.label(a);
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
            state.select(Some(self.panel.selected));
        }
        StatefulWidget::render(table, area, buf, &mut state);
        if empty {
            let note = Rect::new(area.x + 2, area.y + 1, area.width.saturating_sub(4), 1);
            Paragraph::new(format!(
                "no jobs yet: {} explains the unit, {} scores, {} revises, {} trains, {} re-extracts",
                k(Action::Explain),
                k(Action::Score),
                k(Action::Revise),
                k(Action::Train),
                k(Action::Extract)
            ))
            .render(note, buf);
        }
    }
}
