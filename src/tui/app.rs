//! The explorer's router: it owns the panes and routes each key, click and
//! message to the one it is for, then does what the pane asks (open a unit,
//! start a job, save a rating). Nothing here draws or blocks: reads go to
//! the loader, and its answers come back as messages.
use super::annotations::Annotations;
use super::jobs::{JobId, Jobs, Outcome, Product, State, Work};
use super::keymap::{Action, Keymap};
use super::lab::{Answer, Ask, Lab};
use super::loader::{Loader, Message, Opened, Overview, Request};
use super::meaning::MeaningSearch;
use super::panes::compare::ComparePane;
use super::panes::help::Help;
use super::panes::input::{Edited, InputPurpose, TextInput};
use super::panes::jobs_panel::{JobsPanel, PanelEvent};
use super::panes::list::UnitList;
use super::panes::unit::{UnitEvent, UnitPane};
use super::work::Task;
use crossterm::event::{KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use featurescope::experiment::steering;
use featurescope::experiment::subject::Steer;
use std::path::PathBuf;

pub enum Screen {
    List,
    Unit(Box<UnitPane>),
}

pub struct App {
    /// The dataset open now.
    pub dataset_dir: PathBuf,
    /// Lower edges of the quantile bins (from the manifest), for naming them.
    pub quantile_levels: Vec<f64>,
    pub keymap: Keymap,
    /// Explanations, scores and ratings of the open dataset.
    pub notes: Annotations,
    pub list: UnitList,
    pub screen: Screen,
    pub input: Option<TextInput>,
    pub help: Help,
    pub jobs: Jobs<Task>,
    pub jobs_panel: JobsPanel,
    pub status: String,
    pub should_quit: bool,
    /// Of the latest unit request; older answers are dropped.
    generation: u64,
    loader: Loader,
    meaning: MeaningSearch,
    lab: Lab,
}

impl App {
    pub fn new(
        opened: Opened,
        loader: Loader,
        meaning: MeaningSearch,
        lab: Lab,
        keymap: Keymap,
        jobs: Jobs<Task>,
    ) -> Self {
        loader.send(Request::Overview);
        Self {
            list: UnitList::new(opened.dir.display().to_string()),
            dataset_dir: opened.dir,
            quantile_levels: opened.quantile_levels,
            keymap,
            notes: Annotations::default(),
            screen: Screen::List,
            input: None,
            help: Help::default(),
            jobs,
            jobs_panel: JobsPanel::default(),
            status: String::new(),
            should_quit: false,
            generation: 0,
            loader,
            meaning,
            lab,
        }
    }

    /// Applies every answer the loader, the list's sorter and the jobs have
    /// ready; true when something changed.
    pub fn poll_messages(&mut self) -> bool {
        let mut changed = self.list.poll();
        while let Ok(message) = self.loader.messages.try_recv() {
            self.apply(message);
            changed = true;
        }
        if let Some(answer) = self.meaning.latest() {
            match answer.result {
                Ok(similarity) => self
                    .list
                    .set_similarity(&answer.query, std::sync::Arc::new(similarity)),
                Err(e) => {
                    self.list.drop_meaning(&answer.query);
                    self.status = format!("search by meaning: {e}");
                }
            }
            changed = true;
        }
        for answer in self.lab.answers() {
            self.lab_answer(answer);
            changed = true;
        }
        let (reported, ended) = self.jobs.poll();
        for id in ended {
            self.job_ended(id);
        }
        changed || reported
    }

    fn lab_answer(&mut self, answer: Answer) {
        match answer {
            Answer::Unprepared(e) => self.status = format!("the lab cannot run the model: {e}"),
            Answer::Probe { text, result, ms } => {
                if self.list.probing.as_deref() != Some(text.as_str()) {
                    return; // cleared, or another dataset opened
                }
                match result {
                    Ok(probe) => {
                        let tokens = probe.special.iter().filter(|s| !**s).count();
                        self.status = format!(
                            "probed {tokens} tokens in {ms:.0} ms: the list is sorted by each unit's maximum on them"
                        );
                        self.list.set_probe(probe);
                    }
                    Err(e) => {
                        self.list.probing = None;
                        self.status = format!("probe failed: {e}");
                    }
                }
            }
            Answer::Similar(unit, result) => {
                // Only to the picker that waits for it (not one opened since).
                if let Screen::Unit(view) = &mut self.screen
                    && view.unit_id == unit
                    && let Some((answer @ None, _)) = &mut view.similar
                {
                    *answer = Some(result);
                }
            }
            Answer::Steer(unit, result) => {
                if let Screen::Unit(view) = &mut self.screen
                    && view.unit_id == unit
                    && matches!(view.steered, Some(None))
                {
                    view.steered = Some(Some(result));
                }
            }
        }
    }

    /// Says how a job ended, and rereads the dataset if it wrote to this one.
    fn job_ended(&mut self, id: JobId) {
        let Some(job) = self.jobs.get(id) else {
            return;
        };
        let label = job.task.label();
        self.status = match &job.state {
            State::Ended(Outcome::Done { summary, .. }) => {
                format!("job {id} ({label}) done: {summary}")
            }
            State::Ended(Outcome::Failed(reason)) => format!("job {id} ({label}) failed: {reason}"),
            _ => format!("job {id} ({label}) {}", job.state.name()),
        };
        if job.state.product() == Some(&Product::DatasetChanged) && job.dataset == self.dataset_dir
        {
            self.loader.send(Request::Overview);
        }
    }

    /// Waits for the next answer (tests, and nothing else, may block).
    #[cfg(test)]
    pub fn wait_message(&mut self) {
        let message = self
            .loader
            .messages
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the loader answers");
        self.apply(message);
    }

    pub fn apply(&mut self, message: Message) {
        match message {
            Message::Overview(Ok(overview)) => self.set_overview(overview),
            Message::Overview(Err(e)) => {
                self.list.loading = false;
                self.status = format!("error: {e}");
            }
            Message::Rated(Ok(rating)) => {
                self.status = format!("rated {}/5, saved", rating.rating);
                self.notes.ratings.insert(rating.score_id, rating.rating);
            }
            Message::Rated(Err(e)) => self.status = format!("the rating was not saved: {e}"),
            Message::Opened(Ok(opened)) => {
                self.dataset_dir = opened.dir;
                self.quantile_levels = opened.quantile_levels;
                self.screen = Screen::List;
                self.list.reset(self.dataset_dir.display().to_string());
                self.status = format!("opened {}", self.dataset_dir.display());
                self.loader.send(Request::Overview);
            }
            Message::Opened(Err(e)) => self.status = format!("could not open the dataset: {e}"),
            Message::PeakTokens { dir, result } => {
                if dir != self.dataset_dir {
                    return; // read for a dataset no longer open
                }
                match result {
                    Ok(tokens) => self.list.set_peak_tokens(tokens),
                    Err(e) => {
                        self.list.set_peak_tokens(Default::default());
                        self.status = format!("peak tokens not shown: {e}");
                    }
                }
            }
            Message::Unit { generation, result } => {
                if generation != self.generation {
                    return; // the user has moved on
                }
                if let Screen::Unit(view) = &mut self.screen {
                    match *result {
                        Ok(data) => view.data = Some(data),
                        Err(e) => view.error = Some(e),
                    }
                }
            }
        }
    }

    fn set_overview(&mut self, overview: Overview) {
        let (ablations, damaged) = overview.ablations;
        if let Some(first) = damaged.first() {
            self.status = featurescope::text::printable(&format!(
                "{} ablation results not shown: {first}",
                damaged.len()
            ));
        }
        let logit_effects = overview.logit_effects.unwrap_or_else(|e| {
            self.status = featurescope::text::printable(&format!("logit effects not shown: {e}"));
            Vec::new()
        });
        self.notes = Annotations::new(
            overview.explanations,
            overview.scores,
            overview.ratings,
            ablations,
            logit_effects,
        );
        self.list.set_units(overview.units, &self.notes);
    }

    pub fn handle_key(&mut self, key: KeyEvent) {
        if let Some(input) = &mut self.input {
            match input.edit(key) {
                Edited::Editing => {}
                Edited::Cancelled => self.input = None,
                Edited::Submitted(purpose, text) => {
                    self.input = None;
                    self.submit_input(purpose, text);
                }
            }
            return;
        }
        let Some(action) = self.keymap.action(&key) else {
            return;
        };
        // A message lasts until the next key; then the footer shows the
        // jobs or the hints again.
        self.status.clear();
        if self.help.open {
            self.should_quit = self.help.action(action);
            return;
        }
        match action {
            Action::Quit => self.should_quit = true,
            Action::Help => self.help.show(),
            Action::Filter => self.ask(InputPurpose::Filter, self.list.filter().to_owned()),
            Action::GoTo => self.ask(InputPurpose::GoTo, String::new()),
            Action::Jobs => self.jobs_panel.open = !self.jobs_panel.open,
            Action::CancelJob => self.cancel_job(),
            Action::RateNext => self.next_to_rate(),
            Action::Explain
            | Action::Score
            | Action::ClassifierScores
            | Action::Revise
            | Action::Ablate => self.unit_job(action),
            Action::Probe => {
                let last = self
                    .list
                    .probe()
                    .map(|p| p.text.clone())
                    .unwrap_or_default();
                self.ask(InputPurpose::Probe, last);
                self.lab.ask(self.dataset_dir.clone(), Ask::Prepare);
            }
            Action::Train => {
                let proposed = self.jobs.context().train_config.display().to_string();
                self.ask(InputPurpose::Train, proposed);
            }
            Action::Extract => {
                self.submit(Task::Extract {
                    dictionaries: self.jobs.dictionaries(),
                });
            }
            _ if self.jobs_panel.open => {
                let page = self.list.page();
                match self.jobs_panel.action(action, &self.jobs, page) {
                    Some(PanelEvent::OpenDataset(dir)) => {
                        self.status = format!("opening {}…", dir.display());
                        self.loader.send(Request::Open(dir));
                    }
                    Some(PanelEvent::Say(text)) => self.status = text,
                    None => {}
                }
            }
            _ => self.screen_action(action),
        }
    }

    /// A key for the list or the unit view, whichever is shown.
    fn screen_action(&mut self, action: Action) {
        let page = self.list.page();
        let event = match &mut self.screen {
            Screen::List if matches!(action, Action::Similar | Action::Steer) => {
                self.status = format!(
                    "open a unit ({}) to find its similar units or steer with it",
                    self.keymap.label(Action::Open)
                );
                return;
            }
            Screen::List => {
                if let Some(unit) = self.list.action(action) {
                    self.open_unit(unit);
                }
                return;
            }
            Screen::Unit(view) => view.action(action, &self.notes, page),
        };
        match event {
            Some(UnitEvent::Back) => self.screen = Screen::List,
            Some(UnitEvent::Rate) => self.ask(InputPurpose::Rate, String::new()),
            Some(UnitEvent::Say(text)) => self.status = text,
            Some(UnitEvent::FindSimilar) => {
                if let Some(unit) = self.current_unit() {
                    self.lab.ask(self.dataset_dir.clone(), Ask::Similar(unit));
                }
            }
            Some(UnitEvent::Steer) => self.ask(InputPurpose::Steer, String::new()),
            Some(UnitEvent::Open(unit)) => self.open_unit(unit),
            None => {}
        }
    }

    pub fn handle_mouse(&mut self, mouse: MouseEvent) {
        if mouse.kind == MouseEventKind::Down(MouseButton::Left) {
            // Clicks select and open rows of the list, when nothing covers it.
            if matches!(self.screen, Screen::List)
                && !self.help.open
                && self.input.is_none()
                && let Some(unit) = self.list.click(mouse.row)
            {
                self.open_unit(unit);
            }
            return;
        }
        let action = match mouse.kind {
            MouseEventKind::ScrollDown => Action::Down,
            MouseEventKind::ScrollUp => Action::Up,
            _ => return,
        };
        self.screen_action(action);
    }

    fn ask(&mut self, purpose: InputPurpose, text: String) {
        self.input = Some(TextInput::new(purpose, text));
    }

    fn submit_input(&mut self, purpose: InputPurpose, text: String) {
        match purpose {
            InputPurpose::Filter => {
                if let Some(query) = self.list.set_filter(text) {
                    self.meaning.ask(self.dataset_dir.clone(), query);
                }
            }
            InputPurpose::GoTo => self.go_to(&text),
            InputPurpose::Rate => self.rate(&text),
            InputPurpose::Probe if text.trim().is_empty() => {
                self.status = "no text to probe".into();
            }
            InputPurpose::Probe => {
                self.list.probing = Some(text.clone());
                self.lab.ask(self.dataset_dir.clone(), Ask::Probe(text));
            }
            InputPurpose::Steer => self.steer(&text),
            InputPurpose::Train if text.trim().is_empty() => {
                self.status = "no training configuration given".into();
            }
            InputPurpose::Train => {
                self.submit(Task::Train {
                    config: text.trim().into(),
                });
            }
        }
    }

    /// The unit a job key acts on: the one open, else the one selected.
    fn current_unit(&self) -> Option<u64> {
        match &self.screen {
            Screen::Unit(view) => Some(view.unit_id),
            Screen::List => self.list.selected_row().map(|r| r.unit.unit_id),
        }
    }

    fn unit_job(&mut self, action: Action) {
        let Some(unit) = self.current_unit() else {
            self.status = "no unit selected".into();
            return;
        };
        self.submit(match action {
            Action::Explain => Task::Explain { unit },
            Action::Score => Task::Score { unit },
            Action::ClassifierScores => Task::ClassifierScores { unit },
            Action::Ablate => Task::Ablate { unit },
            _ => Task::Revise { unit },
        });
    }

    /// Starts `task` on the open dataset, as its key does.
    pub fn submit(&mut self, task: Task) -> JobId {
        let label = task.label();
        let id = self.jobs.submit(task, self.dataset_dir.clone());
        self.jobs_panel.follow(&self.jobs);
        self.status = format!(
            "job {id} started: {label} ({} shows the jobs)",
            self.keymap.label(Action::Jobs)
        );
        id
    }

    /// Cancels the job picked in the panel, or else the newest unfinished one.
    fn cancel_job(&mut self) {
        let target = if self.jobs_panel.open {
            self.jobs_panel.picked(&self.jobs)
        } else {
            self.jobs
                .list
                .iter()
                .rev()
                .find(|j| matches!(j.state, State::Queued | State::Running))
                .map(|j| j.id)
        };
        self.status = match target {
            Some(id) if self.jobs.cancel(id) => format!("cancelling job {id}"),
            Some(id) => format!("job {id} has already ended"),
            None => "no job to cancel".into(),
        };
    }

    /// The rating queue (Bills et al. validated their score against
    /// people's ratings of a random sample of scores): a score no one has
    /// rated, drawn at random, opened in the real vs simulated view.
    fn next_to_rate(&mut self) {
        let mut units: Vec<u64> = self.notes.explanations.keys().copied().collect();
        units.sort_unstable();
        let unrated: Vec<(u64, usize)> = units
            .into_iter()
            .flat_map(|unit| {
                let scores = self.notes.unit_scores(unit);
                let ratings = &self.notes.ratings;
                (scores.into_iter().enumerate())
                    .filter(|(_, (_, s))| !ratings.contains_key(&s.score_id))
                    .map(move |(i, _)| (unit, i))
                    .collect::<Vec<_>>()
            })
            .collect();
        if unrated.is_empty() {
            self.status = "every score is rated".into();
            return;
        }
        let (unit, score) = unrated[rand::random_range(0..unrated.len())];
        self.open_unit(unit);
        if let Screen::Unit(view) = &mut self.screen {
            view.compare = Some(ComparePane {
                score,
                overlay: false,
            });
        }
        self.status = format!(
            "rating queue: {} unrated scores; {} rates this one, {} draws another",
            unrated.len(),
            self.keymap.label(Action::Rate),
            self.keymap.label(Action::RateNext)
        );
    }

    fn open_unit(&mut self, unit_id: u64) {
        self.generation += 1;
        self.loader.send(Request::Unit {
            generation: self.generation,
            unit_id,
        });
        self.screen = Screen::Unit(Box::new(UnitPane::new(unit_id)));
    }

    /// Saves a rating of the score shown in the real vs simulated view.
    fn rate(&mut self, text: &str) {
        let Ok(rating @ 1..=5) = text.trim().parse::<u32>() else {
            self.status = format!(
                "a rating is a number from 1 to 5, not {}",
                featurescope::text::printable(text)
            );
            return;
        };
        let Screen::Unit(view) = &self.screen else {
            return;
        };
        let Some(compare) = view.compare else {
            return;
        };
        let Some((_, score)) = self
            .notes
            .unit_scores(view.unit_id)
            .get(compare.score)
            .copied()
        else {
            return;
        };
        let rating = featurescope::dataset::Rating {
            rating_id: featurescope::dataset::new_id(),
            score_id: score.score_id.clone(),
            unit_id: score.unit_id,
            rating,
            created_at_ms: featurescope::dataset::now_ms(),
        };
        self.status = "saving the rating…".into();
        self.loader.send(Request::Rate(rating));
    }

    /// Steers with the open unit as `text` says: `+8 prompt` adds 8 of
    /// it along its direction, `=5 prompt` clamps it at 5.
    fn steer(&mut self, text: &str) {
        let Screen::Unit(view) = &mut self.screen else {
            self.status = "open a unit to steer with it".into();
            return;
        };
        let (how, prompt) = text.trim_start().split_once(' ').unwrap_or((text, ""));
        let (Some(steer), false) = (Steer::parse(how), prompt.trim().is_empty()) else {
            self.status = format!(
                "steer with \"+8 a prompt\" (adds 8 of the unit) or \"=5 a prompt\" (clamps it at 5), not {}",
                featurescope::text::printable(text)
            );
            return;
        };
        view.steered = Some(None);
        let plan = steering::Plan {
            unit_id: view.unit_id,
            prompt: prompt.to_owned(),
            steer,
            tokens: steering::TOKENS,
            temperature: 0.0,
            seed: 0,
        };
        self.lab.ask(self.dataset_dir.clone(), Ask::Steer(plan));
    }

    fn go_to(&mut self, text: &str) {
        let Ok(id) = text.trim().parse::<u64>() else {
            self.status = format!("not a unit id: {}", featurescope::text::printable(text));
            return;
        };
        match self.list.go_to(id) {
            Ok(()) => {
                self.status.clear();
                self.open_unit(id);
            }
            Err(why) => self.status = why,
        }
    }
}
