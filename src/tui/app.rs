//! The explorer's state and how keys and loaded data change it. Nothing here
//! draws or blocks: reads go to the loader, and its answers come back as
//! messages.
use super::jobs::{JobId, Jobs, Outcome, Product, State, Work};
use super::keymap::{Action, Keymap};
use super::loader::{Loader, Message, Opened, Overview, Request, UnitData};
use super::work::Task;
use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use featurescope::dataset::{Explanation, Record, Sample, Score, UnitKind, UnitOverview};
use std::cell::Cell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Id,
    Layer,
    Kind,
    Max,
    Density,
    Score,
}

impl SortKey {
    const ALL: [SortKey; 6] = [
        Self::Id,
        Self::Layer,
        Self::Kind,
        Self::Max,
        Self::Density,
        Self::Score,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Layer => "layer",
            Self::Kind => "kind",
            Self::Max => "max",
            Self::Density => "density",
            Self::Score => "score",
        }
    }
}

/// A row of the unit list.
pub struct UnitRow {
    pub unit: UnitOverview,
    /// The best-scored explanation (or the latest, when none is scored).
    pub explanation: Option<String>,
    pub score: Option<f64>,
}

/// The list filter: `layer:3`, `kind:sae`, `score>0.5`, `score<0.2`, and
/// any other words, which must all appear in the explanation.
#[derive(Debug, Default, PartialEq)]
pub struct Query {
    layer: Option<u32>,
    kind: Option<UnitKind>,
    min_score: Option<f64>,
    max_score: Option<f64>,
    words: Vec<String>,
}

impl Query {
    pub fn parse(text: &str) -> Self {
        let mut q = Query::default();
        for word in text.split_whitespace() {
            let lower = word.to_lowercase();
            if let Some(layer) = lower.strip_prefix("layer:").and_then(|v| v.parse().ok()) {
                q.layer = Some(layer);
            } else if let Some(kind) = lower.strip_prefix("kind:").and_then(|v| v.parse().ok()) {
                q.kind = Some(kind);
            } else if let Some(v) = lower.strip_prefix("score>").and_then(|v| v.parse().ok()) {
                q.min_score = Some(v);
            } else if let Some(v) = lower.strip_prefix("score<").and_then(|v| v.parse().ok()) {
                q.max_score = Some(v);
            } else {
                q.words.push(lower);
            }
        }
        q
    }

    fn matches(&self, row: &UnitRow) -> bool {
        let text = row.explanation.as_deref().unwrap_or("").to_lowercase();
        self.layer.is_none_or(|l| row.unit.layer == l)
            && self.kind.is_none_or(|k| row.unit.kind == k)
            && self
                .min_score
                .is_none_or(|m| row.score.is_some_and(|s| s > m))
            && self
                .max_score
                .is_none_or(|m| row.score.is_some_and(|s| s < m))
            && self.words.iter().all(|w| text.contains(w.as_str()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputPurpose {
    Filter,
    GoTo,
    /// A rating of the score with this id.
    Rate,
    /// The training configuration of a train job.
    Train,
}

pub struct Input {
    pub purpose: InputPurpose,
    pub text: String,
}

pub enum Screen {
    List,
    Unit(Box<UnitView>),
}

pub struct UnitView {
    pub unit_id: u64,
    pub data: Option<UnitData>,
    pub error: Option<String>,
    /// Index into `ordered_records`.
    pub record: usize,
    pub token: usize,
    /// Real vs simulated: which of the unit's scores, and overlaid or not.
    pub compare: Option<Compare>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compare {
    pub score: usize,
    pub overlay: bool,
}

impl UnitView {
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
}

pub struct App {
    /// The dataset open now.
    pub dataset_dir: PathBuf,
    /// Lower edges of the quantile bins (from the manifest), for naming them.
    pub quantile_levels: Vec<f64>,
    pub keymap: Keymap,
    /// Shared with the threads that filter and sort long lists.
    pub rows: Arc<Vec<UnitRow>>,
    /// The unit kinds present, in order (for the kind filter).
    kinds: Vec<UnitKind>,
    /// Indices into `rows` after filtering and sorting.
    pub visible: Vec<usize>,
    pub selected: usize,
    pub sort: SortKey,
    pub descending: bool,
    pub filter: String,
    pub kind_filter: Option<UnitKind>,
    pub input: Option<Input>,
    pub screen: Screen,
    pub explanations: HashMap<u64, Vec<Explanation>>,
    pub scores: HashMap<String, Vec<Score>>,
    /// The latest rating of each score, by score id.
    pub ratings: HashMap<String, u32>,
    pub loading: bool,
    pub status: String,
    pub help: bool,
    /// Lines of the help scrolled past (it is longer than a small window).
    pub help_scroll: usize,
    pub jobs: Jobs<Task>,
    /// The jobs panel is shown (and takes the navigation keys).
    pub jobs_panel: bool,
    pub should_quit: bool,
    /// Rows the list showed last frame: the page size.
    pub list_height: Cell<usize>,
    /// Where the list's rows were drawn last frame: (screen row of the
    /// first, index in `visible` of the first), for mouse clicks.
    pub list_origin: Cell<(u16, usize)>,
    /// Lists longer than this are filtered and sorted off the drawing thread.
    pub sync_refresh_rows: usize,
    /// A filter or sort is being computed.
    pub refreshing: bool,
    views: (Sender<ViewAnswer>, Receiver<ViewAnswer>),
    view_generation: u64,
    pending_keep: Option<u64>,
    generation: u64,
    loader: Loader,
}

impl App {
    pub fn new(opened: Opened, loader: Loader, keymap: Keymap, jobs: Jobs<Task>) -> Self {
        loader.send(Request::Overview);
        Self {
            dataset_dir: opened.dir,
            quantile_levels: opened.quantile_levels,
            jobs,
            jobs_panel: false,
            list_origin: Cell::new((0, 0)),
            keymap,
            rows: Arc::new(Vec::new()),
            kinds: Vec::new(),
            sync_refresh_rows: 20_000,
            refreshing: false,
            views: channel(),
            view_generation: 0,
            pending_keep: None,
            visible: Vec::new(),
            selected: 0,
            sort: SortKey::Id,
            descending: false,
            filter: String::new(),
            kind_filter: None,
            input: None,
            screen: Screen::List,
            explanations: HashMap::new(),
            scores: HashMap::new(),
            ratings: HashMap::new(),
            loading: true,
            status: String::new(),
            help: false,
            help_scroll: 0,
            should_quit: false,
            list_height: Cell::new(20),
            generation: 0,
            loader,
        }
    }

    /// Applies every answer the loader has ready; true when something changed.
    pub fn poll_messages(&mut self) -> bool {
        let mut changed = false;
        while let Ok((generation, visible)) = self.views.1.try_recv() {
            if generation == self.view_generation {
                self.refreshing = false;
                self.set_visible(visible, self.pending_keep);
                changed = true;
            }
        }
        while let Ok(message) = self.loader.messages.try_recv() {
            self.apply(message);
            changed = true;
        }
        let (reported, ended) = self.jobs.poll();
        for id in ended {
            self.job_ended(id);
        }
        changed || reported
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
                self.loading = false;
                self.status = format!("error: {e}");
            }
            Message::Rated(Ok(rating)) => {
                self.status = format!("rated {}/5, saved", rating.rating);
                self.ratings.insert(rating.score_id, rating.rating);
            }
            Message::Rated(Err(e)) => self.status = format!("the rating was not saved: {e}"),
            Message::Opened(Ok(opened)) => {
                self.dataset_dir = opened.dir;
                self.quantile_levels = opened.quantile_levels;
                self.screen = Screen::List;
                self.selected = 0;
                self.filter.clear();
                self.kind_filter = None;
                self.loading = true;
                self.status = format!("opened {}", self.dataset_dir.display());
                self.loader.send(Request::Overview);
            }
            Message::Opened(Err(e)) => self.status = format!("could not open the dataset: {e}"),
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
        let mut ratings = overview.ratings;
        ratings.sort_by_key(|r| r.created_at_ms);
        self.ratings = ratings
            .into_iter()
            .map(|r| (r.score_id, r.rating))
            .collect();
        let mut scores: HashMap<String, Vec<Score>> = HashMap::new();
        for s in overview.scores {
            scores.entry(s.explanation_id.clone()).or_default().push(s);
        }
        let mut explanations: HashMap<u64, Vec<Explanation>> = HashMap::new();
        for e in overview.explanations {
            explanations.entry(e.unit_id).or_default().push(e);
        }
        let best_score = |e: &Explanation| {
            scores
                .get(&e.explanation_id)
                .into_iter()
                .flatten()
                .filter_map(|s| s.score)
                .fold(None, |best: Option<f64>, s| {
                    Some(best.map_or(s, |b| b.max(s)))
                })
        };
        self.rows = Arc::new(
            overview
                .units
                .into_iter()
                .map(|unit| {
                    let candidates = explanations.get(&unit.unit_id);
                    let best = candidates.and_then(|list| {
                        list.iter().max_by(|a, b| {
                            let key = |e: &Explanation| {
                                (best_score(e).unwrap_or(f64::MIN), e.created_at_ms)
                            };
                            key(a)
                                .partial_cmp(&key(b))
                                .unwrap_or(std::cmp::Ordering::Equal)
                        })
                    });
                    UnitRow {
                        explanation: best.map(|e| e.text.clone()),
                        score: best.and_then(best_score),
                        unit,
                    }
                })
                .collect(),
        );
        let mut kinds: Vec<UnitKind> = self.rows.iter().map(|r| r.unit.kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        self.kinds = kinds;
        self.explanations = explanations;
        self.scores = scores;
        self.loading = false;
        self.refresh_visible();
    }

    /// Re-applies the filters and the sort, keeping the selected unit if it
    /// is still shown. Long lists are filtered and sorted on a thread (a
    /// sort of 300k rows takes longer than a frame); the answer arrives
    /// through `poll_messages`, and only the latest one counts.
    pub fn refresh_visible(&mut self) {
        let keep = self.selected_row().map(|r| r.unit.unit_id);
        self.refresh_keeping(keep);
    }

    fn refresh_keeping(&mut self, keep: Option<u64>) {
        let spec = ViewSpec {
            query: Query::parse(&self.filter),
            kind: self.kind_filter,
            sort: self.sort,
            descending: self.descending,
        };
        if self.rows.len() <= self.sync_refresh_rows {
            let visible = spec.visible(&self.rows);
            self.set_visible(visible, keep);
            return;
        }
        self.view_generation += 1;
        self.pending_keep = keep;
        self.refreshing = true;
        let (rows, generation, tx) = (
            self.rows.clone(),
            self.view_generation,
            self.views.0.clone(),
        );
        std::thread::spawn(move || {
            let _ = tx.send((generation, spec.visible(&rows)));
        });
    }

    fn set_visible(&mut self, visible: Vec<usize>, keep: Option<u64>) {
        self.visible = visible;
        self.selected = keep
            .and_then(|id| {
                self.visible
                    .iter()
                    .position(|&i| self.rows[i].unit.unit_id == id)
            })
            .unwrap_or(0);
    }
}

/// A filtered, sorted list for the request of that generation.
type ViewAnswer = (u64, Vec<usize>);

/// What the list shows: filters and order.
struct ViewSpec {
    query: Query,
    kind: Option<UnitKind>,
    sort: SortKey,
    descending: bool,
}

impl ViewSpec {
    fn visible(&self, rows: &[UnitRow]) -> Vec<usize> {
        let (query, kind) = (&self.query, self.kind);
        let mut visible: Vec<usize> = (0..rows.len())
            .filter(|&i| {
                let row = &rows[i];
                kind.is_none_or(|k| row.unit.kind == k) && query.matches(row)
            })
            .collect();
        let key = self.sort;
        visible.sort_by(|&a, &b| {
            let (a, b) = (&rows[a], &rows[b]);
            let ordering = match key {
                SortKey::Id => a.unit.unit_id.cmp(&b.unit.unit_id),
                SortKey::Layer => (a.unit.layer, a.unit.index).cmp(&(b.unit.layer, b.unit.index)),
                SortKey::Kind => a.unit.kind.cmp(&b.unit.kind),
                SortKey::Max => a.unit.max.total_cmp(&b.unit.max),
                SortKey::Density => a
                    .unit
                    .density
                    .unwrap_or(-1.0)
                    .total_cmp(&b.unit.density.unwrap_or(-1.0)),
                SortKey::Score => a
                    .score
                    .unwrap_or(f64::NEG_INFINITY)
                    .total_cmp(&b.score.unwrap_or(f64::NEG_INFINITY)),
            };
            let ordering = ordering.then(a.unit.unit_id.cmp(&b.unit.unit_id));
            if self.descending {
                ordering.reverse()
            } else {
                ordering
            }
        });
        visible
    }
}

impl App {
    pub fn selected_row(&self) -> Option<&UnitRow> {
        self.visible.get(self.selected).map(|&i| &self.rows[i])
    }

    pub fn handle_key(&mut self, key: KeyEvent) {
        if self.input.is_some() {
            self.edit_input(key);
            return;
        }
        let Some(action) = self.keymap.action(&key) else {
            return;
        };
        // A message lasts until the next key; then the footer shows the
        // jobs or the hints again.
        self.status.clear();
        if self.help {
            // Up and down scroll the help; any other bound key closes it,
            // and quit still quits.
            let last = Action::ALL.len().saturating_sub(1);
            match action {
                Action::Up | Action::PageUp => {
                    self.help_scroll = self.help_scroll.saturating_sub(1);
                    return;
                }
                Action::Down | Action::PageDown => {
                    self.help_scroll = (self.help_scroll + 1).min(last);
                    return;
                }
                _ => {}
            }
            self.help = false;
            if action == Action::Quit {
                self.should_quit = true;
            }
            return;
        }
        match action {
            Action::Quit => self.should_quit = true,
            Action::Help => {
                self.help = true;
                self.help_scroll = 0;
            }
            Action::Filter => {
                self.input = Some(Input {
                    purpose: InputPurpose::Filter,
                    text: self.filter.clone(),
                });
            }
            Action::GoTo => {
                self.input = Some(Input {
                    purpose: InputPurpose::GoTo,
                    text: String::new(),
                });
            }
            Action::Jobs => self.jobs_panel = !self.jobs_panel,
            Action::CancelJob => self.cancel_job(),
            Action::Explain | Action::Score | Action::Revise => self.unit_job(action),
            Action::Train => {
                self.input = Some(Input {
                    purpose: InputPurpose::Train,
                    text: self.jobs.context().train_config.display().to_string(),
                });
            }
            Action::Extract => {
                self.submit(Task::Extract {
                    dictionaries: self.jobs.dictionaries(),
                });
            }
            _ if self.jobs_panel => self.panel_action(action),
            _ => match self.screen {
                Screen::List => self.list_action(action),
                Screen::Unit(_) => self.unit_action(action),
            },
        }
    }

    pub fn handle_mouse(&mut self, mouse: MouseEvent) {
        if mouse.kind == MouseEventKind::Down(MouseButton::Left) {
            self.click(mouse.row);
            return;
        }
        let action = match mouse.kind {
            MouseEventKind::ScrollDown => Action::Down,
            MouseEventKind::ScrollUp => Action::Up,
            _ => return,
        };
        match self.screen {
            Screen::List => self.list_action(action),
            Screen::Unit(_) => self.unit_action(action),
        }
    }

    /// A click on a list row selects it; a click on the selected row opens it.
    fn click(&mut self, row: u16) {
        if !matches!(self.screen, Screen::List) || self.help || self.input.is_some() {
            return;
        }
        let (top, start) = self.list_origin.get();
        let Some(offset) = row.checked_sub(top) else {
            return;
        };
        let index = start + offset as usize;
        if offset as usize >= self.list_height.get() || index >= self.visible.len() {
            return;
        }
        if index == self.selected {
            self.list_action(Action::Open);
        } else {
            self.selected = index;
        }
    }

    /// The unit a job key acts on: the one open, else the one selected.
    fn current_unit(&self) -> Option<u64> {
        match &self.screen {
            Screen::Unit(view) => Some(view.unit_id),
            Screen::List => self.selected_row().map(|r| r.unit.unit_id),
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
            _ => Task::Revise { unit },
        });
    }

    /// Starts `task` on the open dataset, as its key does.
    pub fn submit(&mut self, task: Task) -> JobId {
        let label = task.label();
        let id = self.jobs.submit(task, self.dataset_dir.clone());
        self.status = format!(
            "job {id} started: {label} ({} shows the jobs)",
            self.keymap.label(Action::Jobs)
        );
        id
    }

    /// Cancels the job picked in the panel, or else the newest unfinished one.
    fn cancel_job(&mut self) {
        let target = if self.jobs_panel {
            self.jobs.list.get(self.jobs.selected)
        } else {
            self.jobs
                .list
                .iter()
                .rev()
                .find(|j| matches!(j.state, State::Queued | State::Running))
        }
        .map(|j| j.id);
        self.status = match target {
            Some(id) if self.jobs.cancel(id) => format!("cancelling job {id}"),
            Some(id) => format!("job {id} has already ended"),
            None => "no job to cancel".into(),
        };
    }

    /// Keys while the jobs panel is shown: pick a job, open what it made, close.
    fn panel_action(&mut self, action: Action) {
        match action {
            Action::Back => self.jobs_panel = false,
            Action::Open => {
                let picked = self.jobs.list.get(self.jobs.selected);
                match picked.and_then(|j| j.state.product()) {
                    Some(Product::Dataset(dir)) => {
                        self.status = format!("opening {}…", dir.display());
                        self.loader.send(Request::Open(dir.clone()));
                        self.jobs_panel = false;
                    }
                    _ => self.status = "this job made no dataset to open".into(),
                }
            }
            _ => {
                self.jobs.selected =
                    self.move_selection(action, self.jobs.list.len(), self.jobs.selected);
            }
        }
    }

    fn move_selection(&mut self, action: Action, len: usize, current: usize) -> usize {
        let page = self.list_height.get().max(1);
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

    fn list_action(&mut self, action: Action) {
        match action {
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => {
                self.selected = self.move_selection(action, self.visible.len(), self.selected);
            }
            Action::Open => {
                if let Some(id) = self.selected_row().map(|r| r.unit.unit_id) {
                    self.open_unit(id);
                }
            }
            Action::SortNext => {
                let i = SortKey::ALL
                    .iter()
                    .position(|k| *k == self.sort)
                    .unwrap_or(0);
                self.sort = SortKey::ALL[(i + 1) % SortKey::ALL.len()];
                // Numbers are most useful largest first.
                self.descending =
                    matches!(self.sort, SortKey::Max | SortKey::Density | SortKey::Score);
                self.refresh_visible();
            }
            Action::SortReverse => {
                self.descending = !self.descending;
                self.refresh_visible();
            }
            Action::KindFilter => {
                let kinds = &self.kinds;
                self.kind_filter = match self.kind_filter {
                    None => kinds.first().copied(),
                    Some(k) => kinds.iter().skip_while(|&&x| x != k).nth(1).copied(),
                };
                self.refresh_visible();
            }
            Action::Back => {
                self.filter.clear();
                self.kind_filter = None;
                self.refresh_visible();
            }
            _ => {}
        }
    }

    /// The scores of the unit's explanations, in explanation order.
    pub fn unit_scores(&self, unit_id: u64) -> Vec<(&Explanation, &Score)> {
        self.explanations
            .get(&unit_id)
            .into_iter()
            .flatten()
            .flat_map(|e| {
                self.scores
                    .get(&e.explanation_id)
                    .into_iter()
                    .flatten()
                    .map(move |s| (e, s))
            })
            .collect()
    }

    fn unit_action(&mut self, action: Action) {
        let Screen::Unit(view) = &self.screen else {
            return;
        };
        if action == Action::Rate {
            if view.compare.is_some() {
                self.input = Some(Input {
                    purpose: InputPurpose::Rate,
                    text: String::new(),
                });
            } else {
                self.status = "rate a simulation from the real vs simulated view (c)".into();
            }
            return;
        }
        if matches!(action, Action::Compare | Action::Overlay) {
            let count = self.unit_scores(view.unit_id).len();
            let Screen::Unit(view) = &mut self.screen else {
                return;
            };
            if count == 0 {
                self.status = "no scored explanation for this unit yet".into();
                return;
            }
            view.compare = match (action, view.compare) {
                (Action::Compare, None) => Some(Compare {
                    score: 0,
                    overlay: false,
                }),
                (Action::Compare, Some(c)) if c.score + 1 < count => Some(Compare {
                    score: c.score + 1,
                    ..c
                }),
                (Action::Compare, Some(_)) => None,
                (_, Some(c)) => Some(Compare {
                    overlay: !c.overlay,
                    ..c
                }),
                (_, None) => None,
            };
            return;
        }
        let records = view.ordered_records();
        let count = records.len();
        let tokens = records.get(view.record).map_or(0, |r| r.tokens.len());
        let (record, token) = (view.record, view.token);
        let new_record = self.move_selection(action, count, record);
        let Screen::Unit(view) = &mut self.screen else {
            return;
        };
        match action {
            Action::Back => self.screen = Screen::List,
            Action::TokenLeft => view.token = token.saturating_sub(1),
            Action::TokenRight => view.token = (token + 1).min(tokens.saturating_sub(1)),
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom
                if new_record != record =>
            {
                view.record = new_record;
                view.token = 0;
            }
            _ => {}
        }
    }

    fn open_unit(&mut self, unit_id: u64) {
        self.generation += 1;
        self.loader.send(Request::Unit {
            generation: self.generation,
            unit_id,
        });
        self.screen = Screen::Unit(Box::new(UnitView {
            unit_id,
            data: None,
            error: None,
            record: 0,
            token: 0,
            compare: None,
        }));
    }

    fn edit_input(&mut self, key: KeyEvent) {
        let Some(input) = &mut self.input else {
            return;
        };
        match key.code {
            KeyCode::Esc => self.input = None,
            KeyCode::Backspace => {
                input.text.pop();
            }
            KeyCode::Char(c) if !c.is_control() => input.text.push(c),
            KeyCode::Enter => {
                let Input { purpose, text } = self.input.take().expect("editing");
                match purpose {
                    InputPurpose::Filter => {
                        self.filter = text;
                        self.refresh_visible();
                    }
                    InputPurpose::GoTo => self.go_to(&text),
                    InputPurpose::Rate => self.rate(&text),
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
            _ => {}
        }
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
        let Some((_, score)) = self.unit_scores(view.unit_id).get(compare.score).copied() else {
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

    fn go_to(&mut self, text: &str) {
        let Ok(id) = text.trim().parse::<u64>() else {
            self.status = format!("not a unit id: {}", featurescope::text::printable(text));
            return;
        };
        if (id as usize) >= self.rows.len() {
            self.status = format!("no unit {id} (the dataset has {})", self.rows.len());
            return;
        }
        // Show it in the list too, clearing filters that hide it.
        if !self
            .visible
            .iter()
            .any(|&i| self.rows[i].unit.unit_id == id)
        {
            self.filter.clear();
            self.kind_filter = None;
            self.refresh_keeping(Some(id));
        }
        if let Some(pos) = self
            .visible
            .iter()
            .position(|&i| self.rows[i].unit.unit_id == id)
        {
            self.selected = pos;
        }
        self.status.clear();
        self.open_unit(id);
    }
}
