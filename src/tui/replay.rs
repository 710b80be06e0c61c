//! `featurescope replay`: the explorer driven by a key script, drawn through
//! the real crossterm backend into a sink, timed frame by frame. A frame is
//! what the event loop does for one key: handle it, apply the loader's
//! answers, draw.
use super::app::{App, Screen};
use super::heatmap::Look;
use super::heatmap::{Palette, Theme};
use super::jobs::{JobId, Outcome, State, Work};
use super::keymap::{Key, Keymap};
use super::view::draw;
use super::work::Task;
use anyhow::{Context, Result, bail};
use crossterm::event::KeyEvent;
use featurescope::dataset::Dataset;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// Browsing a few units: the list, pages, a unit, its tokens, sorting, filtering, going to a unit.
pub const DEFAULT_SCRIPT: &str = "down*30 pagedown*10 enter right*30 down*15 left*5 esc \
    s s s s pagedown*20 up*10 enter down*10 esc S home t t t esc \
    : text:100 enter down*5 right*10 esc / text:layer:3 enter down*20 esc end enter esc";

#[derive(Debug, Serialize)]
pub struct ReplayReport {
    pub units: usize,
    pub width: u16,
    pub height: u16,
    /// From opening the dataset to the first frame on screen.
    pub first_frame_ms: f64,
    /// From opening the dataset to the drawn, populated unit list.
    pub list_ready_ms: f64,
    /// From opening the dataset to the list's peak-tokens column filled
    /// (read on a thread while the script runs; seen at the frame after).
    pub peak_tokens_ms: f64,
    pub frames: usize,
    /// From the first key to the end of the last key's frames (and its pace).
    pub script_s: f64,
    pub frame_p50_ms: f64,
    pub frame_p95_ms: f64,
    pub frame_p99_ms: f64,
    pub frame_max_ms: f64,
    /// From pressing Enter to a unit's texts on screen (read on the worker).
    pub unit_open_p50_ms: f64,
    pub unit_open_max_ms: f64,
    /// Keys that re-sorted or re-filtered a list long enough to be sorted
    /// off the event loop, and the time from such a key to the new list on
    /// screen.
    pub list_updates: usize,
    pub list_update_p50_ms: Option<f64>,
    pub list_update_p99_ms: Option<f64>,
    /// From the key that asks to the answer on screen, in the order asked:
    /// each probe of your own text (the first waits for the model to load),
    /// each list of similar units, each steered continuation.
    pub probe_ms: Vec<f64>,
    pub similar_ms: Vec<f64>,
    pub steer_ms: Vec<f64>,
    /// Training steps the in-app job made while the script ran (with `--train`).
    pub job_steps_during_replay: Option<u64>,
    /// The job's steps per second while the script ran, and then alone (the
    /// same job in the same process, for as long again, with no keys or frames).
    pub job_steps_per_s_during: Option<f64>,
    pub job_steps_per_s_alone: Option<f64>,
    /// With `--explain`: the explanations and scores the LLM jobs finished
    /// while the script ran (one unit after another, `e` then `m`), and in
    /// as long again after it, alone.
    pub llm_jobs_during_replay: Option<u64>,
    pub llm_jobs_alone: Option<u64>,
}

/// The keys of `script`, `repeat` times over.
pub(super) fn parse_script(script: &str, repeat: usize) -> Result<Vec<KeyEvent>> {
    let mut steps = Vec::new();
    for word in script.split_whitespace() {
        if let Some(text) = word.strip_prefix("text:") {
            for c in text.chars() {
                let key = Key::parse(&c.to_string()).map_err(anyhow::Error::msg)?;
                steps.push(key.event());
            }
            continue;
        }
        let (name, count) = match word.rsplit_once('*') {
            Some((name, n)) => (name, n.parse::<usize>().context("repeat count")?),
            None => (word, 1),
        };
        let key = Key::parse(name).map_err(|e| anyhow::anyhow!("script: {e}"))?;
        steps.extend((0..count).map(|_| key.event()));
    }
    if steps.is_empty() {
        bail!("the script has no keys");
    }
    Ok(steps.repeat(repeat.max(1)))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Whether the app still waits for an answer (a unit's texts, a sorted list).
type Waiting = fn(&App) -> bool;

/// Draws one frame; its time in milliseconds.
fn timed_draw(
    terminal: &mut Terminal<CrosstermBackend<std::io::Sink>>,
    app: &App,
    look: &Look,
) -> Result<f64> {
    let start = Instant::now();
    terminal.draw(|frame| draw(frame, app, look))?;
    Ok(ms(start.elapsed()))
}

fn refreshing_list(app: &App) -> bool {
    app.list.refreshing()
}

pub(super) fn waiting_for_unit(app: &App) -> bool {
    matches!(&app.screen, Screen::Unit(v) if v.data.is_none() && v.error.is_none())
}

fn probing(app: &App) -> bool {
    app.list.probing.is_some()
}

fn finding_similar(app: &App) -> bool {
    matches!(&app.screen, Screen::Unit(v) if matches!(v.similar, Some((None, _))))
}

fn steering(app: &App) -> bool {
    matches!(&app.screen, Screen::Unit(v) if matches!(v.steered, Some(None)))
}

/// Applies the loader's answers while `waiting` holds.
fn pump_while(app: &mut App, waiting: impl Fn(&App) -> bool) {
    while waiting(app) {
        if !app.poll_messages() {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// When the peak tokens were first seen read, from opening the dataset.
struct PeakTokensClock {
    start: Instant,
    read_at: Option<Duration>,
}

impl PeakTokensClock {
    fn check(&mut self, app: &App) {
        if self.read_at.is_none() && app.list.peak_tokens_read() {
            self.read_at = Some(self.start.elapsed());
        }
    }
}

/// The steps the training job has made so far.
fn job_steps(app: &App, id: JobId) -> Result<u64> {
    let job = app.jobs.get(id).context("the training job")?;
    match &job.state {
        State::Ended(Outcome::Failed(reason)) => bail!("the training job failed: {reason}"),
        State::Queued | State::Running => Ok(job.progress.map_or(0, |(done, _)| done)),
        other => bail!(
            "the training job ended ({}) before the replay did",
            other.name()
        ),
    }
}

/// Explain-and-score work beside the script, as a person pressing `e` and
/// then `m` on one unit after another: always one LLM job in flight.
struct LlmLoop {
    units: Vec<u64>,
    next: usize,
    /// The job in flight, its unit and whether it is the score.
    current: Option<(JobId, u64, bool)>,
    finished: u64,
}

impl LlmLoop {
    fn new(app: &App, count: usize) -> Result<Self> {
        let live = (app.list.rows().iter()).filter(|row| row.unit.max > 0.0);
        let units: Vec<u64> = live.take(count).map(|row| row.unit.unit_id).collect();
        if units.is_empty() {
            bail!("--explain: the dataset has no unit that fires");
        }
        Ok(Self {
            units,
            next: 0,
            current: None,
            finished: 0,
        })
    }

    /// Starts the next job once the one in flight has ended; after the
    /// last unit's score, nothing.
    fn advance(&mut self, app: &mut App) -> Result<()> {
        if let Some((id, unit, scoring)) = self.current {
            let job = app.jobs.get(id).context("the LLM job")?;
            match &job.state {
                State::Queued | State::Running => return Ok(()),
                State::Ended(Outcome::Done { .. }) => self.finished += 1,
                State::Ended(other) => bail!("{} ended: {other:?}", job.task.label()),
            }
            if !scoring {
                self.current = Some((app.submit(Task::Score { unit }), unit, true));
                return Ok(());
            }
        }
        self.current = None;
        let Some(&unit) = self.units.get(self.next) else {
            return Ok(());
        };
        self.next += 1;
        self.current = Some((app.submit(Task::Explain { unit }), unit, false));
        Ok(())
    }
}

/// Replays `script` on the dataset at `path`, a key at most every `pace`;
/// with `train`, an SAE training job runs in the explorer (as the train key
/// starts one) the whole time; with `explain`, LLM jobs of the bundled
/// model (a replay reads no featurescope.toml) explain and score up to that
/// many units one after another (the first explanation is made before the
/// script starts, so the model is loaded). The two are not run together:
/// each one's rate alone is measured while the other would still run.
pub fn replay(
    path: &Path,
    script: &str,
    repeat: usize,
    (width, height): (u16, u16),
    pace: Duration,
    train: Option<&Path>,
    explain: Option<usize>,
) -> Result<ReplayReport> {
    if train.is_some() && explain.is_some() {
        bail!("a training job and LLM jobs are measured one at a time, not together");
    }
    let steps = parse_script(script, repeat)?;
    let start = Instant::now();
    let dataset = Dataset::open(path)?;
    let settings = super::work::Settings {
        llm: Default::default(),
        train_config: train.map(Path::to_owned).unwrap_or_default(),
        embedder: featurescope::search::BUNDLED_EMBEDDER.into(),
    };
    let mut app = super::app_for(dataset, Keymap::default(), settings);
    let look = Look {
        palette: Palette::TrueColor,
        theme: Theme::Dark,
    };
    let mut terminal = Terminal::with_options(
        CrosstermBackend::new(std::io::sink()),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, width, height)),
        },
    )?;
    terminal.draw(|f| draw(f, &app, &look))?;
    let first_frame = start.elapsed();
    pump_while(&mut app, |app| app.list.loading);
    terminal.draw(|f| draw(f, &app, &look))?;
    let list_ready = start.elapsed();
    let mut peak_tokens = PeakTokensClock {
        start,
        read_at: None,
    };
    peak_tokens.check(&app);
    let job = match train {
        Some(config) => {
            let id = app.submit(Task::Train {
                config: config.to_owned(),
            });
            // Wait until it is past loading and into its steps.
            let deadline = Instant::now() + Duration::from_secs(120);
            while job_steps(&app, id)? == 0 {
                if Instant::now() > deadline {
                    bail!("the training job made no step in two minutes");
                }
                app.poll_messages();
                std::thread::sleep(Duration::from_millis(20));
            }
            Some((id, job_steps(&app, id)?))
        }
        None => None,
    };
    let mut llm = match explain {
        Some(count) => {
            let mut llm = LlmLoop::new(&app, count)?;
            let deadline = Instant::now() + Duration::from_secs(600);
            while llm.finished == 0 {
                if Instant::now() > deadline {
                    bail!("the first explanation took over ten minutes");
                }
                app.poll_messages();
                llm.advance(&mut app)?;
                std::thread::sleep(Duration::from_millis(20));
            }
            Some(llm)
        }
        None => None,
    };
    let llm_finished_before = llm.as_ref().map_or(0, |l| l.finished);

    let script_start = Instant::now();
    let mut frames = Vec::with_capacity(steps.len());
    let mut opens = Vec::new();
    let mut list_updates = Vec::new();
    let (mut probes, mut similar, mut steers) = (Vec::new(), Vec::new(), Vec::new());
    for key in steps {
        let t = Instant::now();
        app.handle_key(key);
        // What the key started, read before any answer can arrive, so a
        // fast answer is timed too rather than missed.
        let started: [bool; 5] = [
            waiting_for_unit(&app),
            refreshing_list(&app),
            probing(&app),
            finding_similar(&app),
            steering(&app),
        ];
        app.poll_messages();
        terminal.draw(|f| draw(f, &app, &look))?;
        frames.push(ms(t.elapsed()));
        peak_tokens.check(&app);
        if let Some(llm) = &mut llm {
            llm.advance(&mut app)?;
        }
        // The real loop keeps drawing frames while the worker reads a unit or
        // a thread sorts the list; here each wait is timed as a latency, from
        // the key to its answer drawn.
        let waits: [(Waiting, &mut Vec<f64>); 5] = [
            (waiting_for_unit, &mut opens),
            (refreshing_list, &mut list_updates),
            (probing, &mut probes),
            (finding_similar, &mut similar),
            (steering, &mut steers),
        ];
        for (started, (waiting, latencies)) in started.into_iter().zip(waits) {
            if started {
                pump_while(&mut app, waiting);
                frames.push(timed_draw(&mut terminal, &app, &look)?);
                peak_tokens.check(&app);
                latencies.push(ms(t.elapsed()));
            }
        }
        if app.should_quit {
            break;
        }
        // Until the next key, answers are applied and drawn, as the real loop does.
        while t.elapsed() < pace {
            if app.poll_messages() {
                frames.push(timed_draw(&mut terminal, &app, &look)?);
                peak_tokens.check(&app);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let script = script_start.elapsed();
    let (llm_jobs_during_replay, llm_jobs_alone) = match &mut llm {
        Some(llm) => {
            let during = llm.finished - llm_finished_before;
            let alone_start = Instant::now();
            while alone_start.elapsed() < script {
                app.poll_messages();
                llm.advance(&mut app)?;
                std::thread::sleep(Duration::from_millis(20));
            }
            (
                Some(during),
                Some(llm.finished - llm_finished_before - during),
            )
        }
        None => (None, None),
    };
    pump_while(&mut app, |app| !app.list.peak_tokens_read());
    peak_tokens.check(&app);
    app.poll_messages();
    let (job_steps_during_replay, job_steps_per_s_during, job_steps_per_s_alone) = match job {
        Some((id, before)) => {
            let during = job_steps(&app, id)? - before;
            let alone_start = (Instant::now(), during + before);
            while alone_start.0.elapsed() < script {
                app.poll_messages();
                std::thread::sleep(Duration::from_millis(20));
            }
            let alone = job_steps(&app, id)? - alone_start.1;
            let per_s = |steps: u64, time: Duration| steps as f64 / time.as_secs_f64();
            (
                Some(during),
                Some(per_s(during, script)),
                Some(per_s(alone, alone_start.0.elapsed())),
            )
        }
        None => (None, None, None),
    };
    app.jobs.shut_down(Duration::from_secs(10));
    frames.sort_by(f64::total_cmp);
    opens.sort_by(f64::total_cmp);
    list_updates.sort_by(f64::total_cmp);
    let measured = |p: f64| (!list_updates.is_empty()).then(|| percentile(&list_updates, p));
    Ok(ReplayReport {
        units: app.list.rows().len(),
        width,
        height,
        first_frame_ms: ms(first_frame),
        list_ready_ms: ms(list_ready),
        peak_tokens_ms: peak_tokens.read_at.map_or(0.0, ms),
        frames: frames.len(),
        script_s: script.as_secs_f64(),
        frame_p50_ms: percentile(&frames, 50.0),
        frame_p95_ms: percentile(&frames, 95.0),
        frame_p99_ms: percentile(&frames, 99.0),
        frame_max_ms: frames.last().copied().unwrap_or(0.0),
        unit_open_p50_ms: percentile(&opens, 50.0),
        unit_open_max_ms: opens.last().copied().unwrap_or(0.0),
        list_updates: list_updates.len(),
        list_update_p50_ms: measured(50.0),
        list_update_p99_ms: measured(99.0),
        probe_ms: probes,
        similar_ms: similar,
        steer_ms: steers,
        job_steps_during_replay,
        job_steps_per_s_during,
        job_steps_per_s_alone,
        llm_jobs_during_replay,
        llm_jobs_alone,
    })
}
