//! The job queue: work started from keys, run off the drawing thread. The
//! app owns the job list; each job runs on a thread of its own and reports
//! through the [`Reporter`] it is handed, so no frame waits for one. Jobs
//! in the network lane run side by side; compute jobs use every core, so
//! they run one at a time, in order. The queue knows nothing of what a job
//! does: that is the [`Work`] it is given (`work.rs` says what each does).
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

pub type JobId = u64;

/// What a job does, as the queue sees it.
pub trait Work: Clone + Send + 'static {
    /// What every job of this kind reads (configuration), shared.
    type Context: Send + Sync + 'static;
    fn lane(&self) -> Lane;
    fn label(&self) -> String;
    /// Does the work on `dataset`; stops early when the reporter says so.
    fn run(&self, dataset: &Path, context: &Self::Context, reporter: &Reporter) -> Outcome;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Waits on the network: several at once.
    Llm,
    /// Uses every core: one at a time.
    Compute,
}

impl Lane {
    fn capacity(self) -> usize {
        match self {
            Self::Llm => 4,
            Self::Compute => 1,
        }
    }
}

/// How a job ended: the one answer of its work.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// With a one-line summary of what it did, and what it made.
    Done {
        summary: String,
        product: Option<Product>,
    },
    /// With the reason.
    Failed(String),
    Cancelled,
}

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Queued,
    Running,
    Ended(Outcome),
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Ended(Outcome::Done { .. }) => "done",
            Self::Ended(Outcome::Failed(_)) => "failed",
            Self::Ended(Outcome::Cancelled) => "cancelled",
        }
    }

    /// What the job made, once it is done.
    pub fn product(&self) -> Option<&Product> {
        match self {
            Self::Ended(Outcome::Done { product, .. }) => product.as_ref(),
            _ => None,
        }
    }
}

/// What a job made that the explorer can use next.
#[derive(Debug, Clone, PartialEq)]
pub enum Product {
    /// The dataset changed (new explanations or scores).
    DatasetChanged,
    /// A trained dictionary; the next re-extraction adds its features.
    Dictionary(PathBuf),
    /// A new dataset, which the jobs panel can open.
    Dataset(PathBuf),
}

pub struct Job<W> {
    pub id: JobId,
    pub task: W,
    /// The dataset the job reads and writes (the one open when it started).
    pub dataset: PathBuf,
    pub state: State,
    /// (done, total) in the job's own units: explanations, steps, tokens.
    pub progress: Option<(u64, u64)>,
    /// The latest detail line (training metrics, the extraction's pass).
    pub note: String,
    cancel: Arc<AtomicBool>,
}

/// How a running job reports, and learns that it should stop.
pub struct Reporter {
    id: JobId,
    events: Sender<Event>,
    cancel: Arc<AtomicBool>,
}

impl Reporter {
    /// Set when the user cancels the job; engines that take a cancel flag
    /// read it directly.
    pub fn cancel_flag(&self) -> &AtomicBool {
        &self.cancel
    }

    pub fn progress(&self, done: u64, total: u64) {
        let _ = self.events.send(Event::Progress(self.id, done, total));
    }

    pub fn note(&self, text: String) {
        let _ = self.events.send(Event::Note(self.id, text));
    }
}

enum Event {
    Progress(JobId, u64, u64),
    Note(JobId, String),
    Ended(JobId, Outcome),
}

/// Lowers this thread's scheduling priority (nice 10), so that a job using
/// every core never delays a frame. libtorch's worker threads are started by
/// the thread that first runs a parallel operation, and inherit it.
fn yield_to_the_screen() {
    // SAFETY: plain system calls on the calling thread; a failure only
    // leaves the priority as it was.
    unsafe {
        let thread = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, thread, 10);
    }
}

pub struct Jobs<W: Work> {
    pub list: Vec<Job<W>>,
    next_id: JobId,
    context: Arc<W::Context>,
    events: (Sender<Event>, Receiver<Event>),
}

impl<W: Work> Jobs<W> {
    pub fn new(context: W::Context) -> Self {
        Self {
            list: Vec::new(),
            next_id: 1,
            context: Arc::new(context),
            events: channel(),
        }
    }

    pub fn context(&self) -> &W::Context {
        &self.context
    }

    /// Queues `task` on `dataset` and starts it if its lane has room.
    pub fn submit(&mut self, task: W, dataset: PathBuf) -> JobId {
        let id = self.next_id;
        self.next_id += 1;
        self.list.push(Job {
            id,
            task,
            dataset,
            state: State::Queued,
            progress: None,
            note: String::new(),
            cancel: Arc::new(AtomicBool::new(false)),
        });
        self.start_queued();
        id
    }

    fn start_queued(&mut self) {
        for lane in [Lane::Llm, Lane::Compute] {
            let running = self
                .list
                .iter()
                .filter(|j| j.state == State::Running && j.task.lane() == lane)
                .count();
            let waiting: Vec<usize> = (0..self.list.len())
                .filter(|&i| {
                    self.list[i].state == State::Queued && self.list[i].task.lane() == lane
                })
                .take(lane.capacity().saturating_sub(running))
                .collect();
            for i in waiting {
                self.start(i);
            }
        }
    }

    fn start(&mut self, index: usize) {
        let job = &mut self.list[index];
        job.state = State::Running;
        let (task, dataset) = (job.task.clone(), job.dataset.clone());
        let context = self.context.clone();
        let reporter = Reporter {
            id: job.id,
            events: self.events.0.clone(),
            cancel: job.cancel.clone(),
        };
        let started = std::thread::Builder::new()
            .name(format!("job {}", job.id))
            .spawn(move || {
                yield_to_the_screen();
                // A panic in the work fails the job, not the explorer.
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    task.run(&dataset, &context, &reporter)
                }))
                .unwrap_or_else(|_| Outcome::Failed("internal error (a panic); see stderr".into()));
                let _ = reporter.events.send(Event::Ended(reporter.id, outcome));
            });
        if let Err(e) = started {
            job.state = State::Ended(Outcome::Failed(format!("cannot start a thread: {e}")));
        }
    }

    /// Applies the jobs' reports and starts what was waiting; returns
    /// whether anything was reported, and the jobs that ended.
    pub fn poll(&mut self) -> (bool, Vec<JobId>) {
        let mut ended = Vec::new();
        let mut reported = false;
        while let Ok(event) = self.events.1.try_recv() {
            reported = true;
            match event {
                Event::Progress(id, done, total) => {
                    if let Some(job) = self.get_mut(id) {
                        job.progress = Some((done, total));
                    }
                }
                Event::Note(id, text) => {
                    if let Some(job) = self.get_mut(id) {
                        job.note = text;
                    }
                }
                Event::Ended(id, outcome) => {
                    if let Some(job) = self.get_mut(id) {
                        job.state = State::Ended(outcome);
                        ended.push(id);
                    }
                }
            }
        }
        if !ended.is_empty() {
            self.start_queued();
        }
        (reported, ended)
    }

    pub fn get(&self, id: JobId) -> Option<&Job<W>> {
        self.list.iter().find(|j| j.id == id)
    }

    fn get_mut(&mut self, id: JobId) -> Option<&mut Job<W>> {
        self.list.iter_mut().find(|j| j.id == id)
    }

    /// Cancels a queued job at once; asks a running one to stop (training
    /// stops at its next step with a checkpoint). False when already over.
    pub fn cancel(&mut self, id: JobId) -> bool {
        let Some(job) = self.get_mut(id) else {
            return false;
        };
        match job.state {
            State::Queued => job.state = State::Ended(Outcome::Cancelled),
            State::Running => {
                job.cancel.store(true, Ordering::Relaxed);
                job.note = "cancelling…".into();
            }
            _ => return false,
        }
        true
    }

    /// (queued, running, failed) job counts.
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |f: fn(&State) -> bool| self.list.iter().filter(|j| f(&j.state)).count();
        (
            count(|s| *s == State::Queued),
            count(|s| *s == State::Running),
            count(|s| matches!(s, State::Ended(Outcome::Failed(_)))),
        )
    }

    /// Dictionaries trained in this session, oldest first.
    pub fn dictionaries(&self) -> Vec<PathBuf> {
        self.list
            .iter()
            .filter_map(|j| match j.state.product() {
                Some(Product::Dictionary(path)) => Some(path.clone()),
                _ => None,
            })
            .collect()
    }

    /// On quit: cancels everything and gives running jobs up to `patience`
    /// to stop cleanly (training writes its checkpoint).
    pub fn shut_down(&mut self, patience: Duration) {
        let ids: Vec<JobId> = self.list.iter().map(|j| j.id).collect();
        for id in ids {
            self.cancel(id);
        }
        let deadline = Instant::now() + patience;
        while self
            .list
            .iter()
            .any(|j| !matches!(j.state, State::Ended(_)))
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
            self.poll();
        }
    }
}
