//! Work started from keys (explain, score, revise, train, re-extract), run
//! off the drawing thread. The app owns the job list; each job runs on a
//! thread of its own and reports by message, so no frame waits for one. LLM
//! jobs run side by side, since they wait on the network; training and
//! extraction use every core, so they run one at a time, in order.
use super::work::{self, Ending, Settings};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

pub type JobId = u64;

#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    Explain {
        unit: u64,
    },
    Score {
        unit: u64,
    },
    Revise {
        unit: u64,
    },
    Train {
        config: PathBuf,
    },
    /// The dataset's extraction again, with these dictionaries' features added.
    Extract {
        dictionaries: Vec<PathBuf>,
    },
}

impl Task {
    pub fn label(&self) -> String {
        match self {
            Self::Explain { unit } => format!("explain unit {unit}"),
            Self::Score { unit } => format!("simulate and score unit {unit}"),
            Self::Revise { unit } => format!("revise unit {unit}"),
            Self::Train { config } => format!("train an SAE ({})", config.display()),
            Self::Extract { dictionaries } if dictionaries.is_empty() => "re-extract".into(),
            Self::Extract { dictionaries } if dictionaries.len() == 1 => {
                "re-extract, adding the SAE trained here".into()
            }
            Self::Extract { dictionaries } => {
                format!(
                    "re-extract, adding the {} SAEs trained here",
                    dictionaries.len()
                )
            }
        }
    }

    fn lane(&self) -> Lane {
        match self {
            Self::Explain { .. } | Self::Score { .. } | Self::Revise { .. } => Lane::Llm,
            Self::Train { .. } | Self::Extract { .. } => Lane::Compute,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    Llm,
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

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Queued,
    Running,
    /// With a one-line summary of what it did.
    Finished(String),
    /// With the reason.
    Failed(String),
    Cancelled,
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Finished(_) => "done",
            Self::Failed(_) => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    fn is_over(&self) -> bool {
        matches!(self, Self::Finished(_) | Self::Failed(_) | Self::Cancelled)
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

pub struct Job {
    pub id: JobId,
    pub task: Task,
    /// The dataset the job reads and writes (the one open when it started).
    pub dataset: PathBuf,
    pub state: State,
    /// (done, total) in the job's own units: explanations, steps, tokens.
    pub progress: Option<(u64, u64)>,
    /// The latest detail line (training metrics, the extraction's pass).
    pub note: String,
    pub product: Option<Product>,
    cancel: Arc<AtomicBool>,
}

/// How a running job reports.
pub struct Reporter {
    id: JobId,
    events: Sender<Event>,
}

impl Reporter {
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
    Ended(JobId, Ending),
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

pub struct Jobs {
    pub list: Vec<Job>,
    /// The job selected in the panel.
    pub selected: usize,
    next_id: JobId,
    settings: Arc<Settings>,
    events: (Sender<Event>, Receiver<Event>),
}

impl Jobs {
    pub fn new(settings: Settings) -> Self {
        Self {
            list: Vec::new(),
            selected: 0,
            next_id: 1,
            settings: Arc::new(settings),
            events: channel(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Queues `task` on `dataset` and starts it if its lane has room.
    pub fn submit(&mut self, task: Task, dataset: PathBuf) -> JobId {
        let id = self.next_id;
        self.next_id += 1;
        self.list.push(Job {
            id,
            task,
            dataset,
            state: State::Queued,
            progress: None,
            note: String::new(),
            product: None,
            cancel: Arc::new(AtomicBool::new(false)),
        });
        self.selected = self.list.len() - 1;
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
        let (task, dataset, cancel) = (job.task.clone(), job.dataset.clone(), job.cancel.clone());
        let settings = self.settings.clone();
        let reporter = Reporter {
            id: job.id,
            events: self.events.0.clone(),
        };
        let started = std::thread::Builder::new()
            .name(format!("job {}", job.id))
            .spawn(move || {
                yield_to_the_screen();
                // A panic in the work fails the job, not the explorer.
                let ending = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    work::run(&task, &dataset, &settings, &cancel, &reporter)
                }))
                .unwrap_or_else(|_| Ending::Failed("internal error (a panic); see stderr".into()));
                let _ = reporter.events.send(Event::Ended(reporter.id, ending));
            });
        if let Err(e) = started {
            job.state = State::Failed(format!("cannot start a thread: {e}"));
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
                Event::Ended(id, ending) => {
                    if let Some(job) = self.get_mut(id) {
                        match ending {
                            Ending::Done { summary, product } => {
                                job.state = State::Finished(summary);
                                job.product = product;
                            }
                            Ending::Failed(reason) => job.state = State::Failed(reason),
                            Ending::Cancelled => job.state = State::Cancelled,
                        }
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

    pub fn get(&self, id: JobId) -> Option<&Job> {
        self.list.iter().find(|j| j.id == id)
    }

    fn get_mut(&mut self, id: JobId) -> Option<&mut Job> {
        self.list.iter_mut().find(|j| j.id == id)
    }

    /// Cancels a queued job at once; asks a running one to stop (training
    /// stops at its next step with a checkpoint). False when already over.
    pub fn cancel(&mut self, id: JobId) -> bool {
        let Some(job) = self.get_mut(id) else {
            return false;
        };
        match job.state {
            State::Queued => job.state = State::Cancelled,
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
            count(|s| matches!(s, State::Failed(_))),
        )
    }

    /// Dictionaries trained in this session, oldest first.
    pub fn dictionaries(&self) -> Vec<PathBuf> {
        self.list
            .iter()
            .filter_map(|j| match &j.product {
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
        while self.list.iter().any(|j| !j.state.is_over()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            self.poll();
        }
    }
}
