//! The explorer: `featurescope [DATASET]` in a terminal. One loop owns the
//! terminal and draws; the dataset is read on a worker thread whose answers
//! arrive as messages, so no frame waits for the disk.
mod annotations;
mod app;
mod config;
mod heatmap;
mod jobs;
mod keymap;
mod lab;
mod loader;
mod meaning;
mod panes;
pub mod replay;
mod view;
mod work;

use anyhow::Result;
use crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event, KeyEventKind};
use featurescope::dataset::Dataset;
use std::time::Duration;

/// The app for `dataset`, loading in the background.
fn app_for(dataset: Dataset, keymap: keymap::Keymap, settings: work::Settings) -> app::App {
    let opened = loader::Opened::of(&dataset);
    let meaning = meaning::MeaningSearch::start(settings.embedder.clone());
    app::App::new(
        opened,
        loader::Loader::start(dataset),
        meaning,
        lab::Lab::start(),
        keymap,
        jobs::Jobs::new(settings),
    )
}

/// Runs the explorer until the user quits. The terminal is restored on
/// return, on error and on panic (ratatui's init installs the panic hook).
pub fn run(dataset: Dataset) -> Result<()> {
    let config = config::ExplorerConfig::load()?;
    let mut app = app_for(dataset, config.keymap, config.jobs);
    let look = heatmap::Look {
        palette: config.palette,
        theme: config.theme,
    };
    let fault = Fault::from_env();
    let report_only = std::panic::take_hook();
    let mut terminal = ratatui::init();
    // ratatui's hook leaves the alternate screen and raw mode; the mouse is
    // ours to release. Only a panic of this thread ends the explorer: one in
    // a job fails that job (jobs.rs) and the screen stays as it is.
    let restore_terminal = std::panic::take_hook();
    let ui_thread = std::thread::current().id();
    let mouse = config.mouse;
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() != ui_thread {
            return report_only(info);
        }
        if mouse {
            let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
        }
        restore_terminal(info);
    }));
    if config.mouse {
        let _ = crossterm::execute!(std::io::stdout(), EnableMouseCapture);
    }
    let result = (|| -> Result<()> {
        let mut dirty = true;
        while !app.should_quit {
            dirty |= app.poll_messages();
            if dirty {
                terminal.draw(|frame| view::draw(frame, &app, &look))?;
                dirty = false;
                fault.strike()?;
            }
            if event::poll(Duration::from_millis(30))? {
                match event::read()? {
                    Event::Key(key) if key.kind == KeyEventKind::Press => app.handle_key(key),
                    Event::Mouse(mouse) => app.handle_mouse(mouse),
                    _ => {}
                }
                dirty = true;
            }
        }
        let (_, running, _) = app.jobs.counts();
        if running > 0 {
            app.status = format!("stopping {running} running job(s)…");
            terminal.draw(|frame| view::draw(frame, &app, &look))?;
        }
        Ok(())
    })();
    // Training gets a moment to write its checkpoint.
    app.jobs.shut_down(Duration::from_secs(5));
    let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    result
}

/// A failure on demand after the first frame, for the tests that check the
/// terminal is restored on every way out: `FEATURESCOPE_FAULT=panic` or
/// `=error` in the explorer's environment.
#[derive(Clone, Copy)]
enum Fault {
    None,
    Panic,
    Error,
}

impl Fault {
    fn from_env() -> Self {
        match std::env::var("FEATURESCOPE_FAULT").as_deref() {
            Ok("panic") => Self::Panic,
            Ok("error") => Self::Error,
            _ => Self::None,
        }
    }

    fn strike(self) -> Result<()> {
        match self {
            Self::None => Ok(()),
            Self::Panic => panic!("fault injected by FEATURESCOPE_FAULT"),
            Self::Error => anyhow::bail!("fault injected by FEATURESCOPE_FAULT"),
        }
    }
}

#[cfg(test)]
mod job_tests;
#[cfg(test)]
mod tests;
