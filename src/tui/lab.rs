//! The lab's computations off the drawing thread: probes of your own
//! text, similar units and steering, each run by the dataset's subject
//! model in one worker that loads it at the first request and keeps it for
//! the dataset. Of each kind only the latest request is answered: one typed
//! while another runs supersedes those of its kind queued behind it.
use featurescope::dataset::Dataset;
use featurescope::experiment::probe::{Probe, Prober};
use featurescope::experiment::similar::{NEIGHBOURS, SimilarUnits, similar_units};
use featurescope::experiment::steering::{Plan, Steered, Steerer};
use featurescope::experiment::subject::model_path;
use featurescope::model::{self, Decoder, SubjectModel, TextTokenizer};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Instant;
use tch::Device;

pub enum Ask {
    /// Load the model for probes now (the probe key asks while the text
    /// is typed), so that the probe itself runs at once.
    Prepare,
    Probe(String),
    Similar(u64),
    Steer(Plan),
}

impl Ask {
    fn kind(&self) -> usize {
        match self {
            Ask::Prepare => 0,
            Ask::Probe(_) => 1,
            Ask::Similar(_) => 2,
            Ask::Steer(_) => 3,
        }
    }
}

struct Request {
    generation: u64,
    dataset: PathBuf,
    ask: Ask,
}

pub enum Answer {
    /// The model could not be loaded for probes.
    Unprepared(String),
    Probe {
        text: String,
        result: Result<Arc<Probe>, String>,
        /// From the worker taking the request to its answer (the model, if
        /// it was not loaded yet, included).
        ms: f64,
    },
    Similar(u64, Result<SimilarUnits, String>),
    Steer(u64, Result<Steered, String>),
}

pub struct Lab {
    requests: Sender<Request>,
    answers: Receiver<(u64, usize, Answer)>,
    /// Of the latest request of each kind.
    generations: [u64; 4],
    next: u64,
}

/// The subject model of a dataset, loaded once for the probes and the
/// steering alike.
#[derive(Clone)]
struct Subject {
    path: PathBuf,
    model: Rc<dyn SubjectModel>,
    /// The same model where it is a causal one (it can be steered).
    decoder: Option<Rc<Decoder>>,
    tokenizer: Rc<TextTokenizer>,
}

/// What the worker keeps loaded for the dataset at `dataset`: the dataset
/// itself, its subject model, the prober, and the steerer of one unit.
#[derive(Default)]
struct Loaded {
    dataset: Option<Rc<Dataset>>,
    subject: Option<Subject>,
    prober: Option<Prober>,
    steerer: Option<(u64, Steerer)>,
}

impl Loaded {
    /// The dataset at `dir`, opened once (what was loaded for another is forgotten).
    fn open(&mut self, dir: &Path) -> Result<Rc<Dataset>, String> {
        if let Some(dataset) = self.dataset.as_ref().filter(|d| d.dir() == dir) {
            return Ok(dataset.clone());
        }
        *self = Self::default();
        let dataset = Rc::new(Dataset::open(dir).map_err(|e| e.to_string())?);
        self.dataset = Some(dataset.clone());
        Ok(dataset)
    }

    /// The dataset's subject model and tokenizer, loaded at the first call.
    fn subject(&mut self, dataset: &Dataset) -> Result<Subject, String> {
        if let Some(subject) = &self.subject {
            return Ok(subject.clone());
        }
        let path = model_path(dataset, None).map_err(|e| e.to_string())?;
        let loaded = model::load_subject(&path, Device::Cpu).map_err(|e| e.to_string())?;
        let (model, decoder): (Rc<dyn SubjectModel>, _) = match loaded {
            model::Subject::Causal(decoder) => {
                let decoder: Rc<Decoder> = Rc::from(decoder);
                (decoder.clone(), Some(decoder))
            }
            model::Subject::Encoder(encoder) => (Rc::from(encoder), None),
        };
        let tokenizer = Rc::new(TextTokenizer::load(&path).map_err(|e| e.to_string())?);
        let subject = Subject {
            path,
            model,
            decoder,
            tokenizer,
        };
        self.subject = Some(subject.clone());
        Ok(subject)
    }

    fn prober(&mut self, dataset: &Dataset) -> Result<&Prober, String> {
        if self.prober.is_none() {
            let s = self.subject(dataset)?;
            let prober = Prober::with_model(dataset, s.model, s.tokenizer, &s.path, Device::Cpu);
            self.prober = Some(prober.map_err(|e| e.to_string())?);
        }
        Ok(self.prober.as_ref().expect("loaded"))
    }

    fn steerer(&mut self, dataset: &Dataset, unit: u64) -> Result<&Steerer, String> {
        if self.steerer.as_ref().is_none_or(|(u, _)| *u != unit) {
            self.steerer = None;
            let s = self.subject(dataset)?;
            let decoder = s
                .decoder
                .ok_or_else(|| model::not_causal(&s.path).to_string())?;
            let steerer =
                Steerer::with_decoder(dataset, unit, decoder, s.tokenizer, &s.path, Device::Cpu);
            self.steerer = Some((unit, steerer.map_err(|e| e.to_string())?));
        }
        Ok(&self.steerer.as_ref().expect("loaded").1)
    }

    /// The answer to `request`; none to a preparation that went well.
    fn answer(&mut self, request: Request) -> Option<Answer> {
        let started = Instant::now();
        let dataset = self.open(&request.dataset);
        Some(match request.ask {
            Ask::Prepare => {
                let prepared = dataset.and_then(|ds| self.prober(&ds).map(|_| ()));
                Answer::Unprepared(prepared.err()?)
            }
            Ask::Probe(text) => {
                let result = dataset.and_then(|ds| {
                    let probe = self.prober(&ds)?.probe(&text);
                    probe.map(Arc::new).map_err(|e| e.to_string())
                });
                Answer::Probe {
                    text,
                    result,
                    ms: started.elapsed().as_secs_f64() * 1e3,
                }
            }
            Ask::Similar(unit) => Answer::Similar(
                unit,
                dataset.and_then(|ds| {
                    similar_units(self.prober(&ds)?, &ds, unit, NEIGHBOURS)
                        .map_err(|e| e.to_string())
                }),
            ),
            Ask::Steer(plan) => Answer::Steer(
                plan.unit_id,
                dataset.and_then(|ds| {
                    (self.steerer(&ds, plan.unit_id)?.steer(&plan)).map_err(|e| e.to_string())
                }),
            ),
        })
    }
}

impl Answer {
    /// The answer that says `ask` failed, and why.
    fn failed(ask: &Ask) -> impl FnOnce(String) -> Answer + use<> {
        let ask = match ask {
            Ask::Prepare => Ask::Prepare,
            Ask::Probe(text) => Ask::Probe(text.clone()),
            Ask::Similar(unit) => Ask::Similar(*unit),
            Ask::Steer(plan) => Ask::Steer(plan.clone()),
        };
        move |why| match ask {
            Ask::Prepare => Answer::Unprepared(why),
            Ask::Probe(text) => Answer::Probe {
                text,
                result: Err(why),
                ms: 0.0,
            },
            Ask::Similar(unit) => Answer::Similar(unit, Err(why)),
            Ask::Steer(plan) => Answer::Steer(plan.unit_id, Err(why)),
        }
    }
}

impl Lab {
    pub fn start() -> Self {
        let (requests, inbox) = channel::<Request>();
        let (outbox, answers) = channel();
        std::thread::Builder::new()
            .name("lab".into())
            .spawn(move || {
                let mut loaded = Loaded::default();
                while let Ok(first) = inbox.recv() {
                    // The latest of each kind, oldest kind first.
                    let mut latest: Vec<Request> = vec![first];
                    while let Ok(later) = inbox.try_recv() {
                        latest.retain(|r| r.ask.kind() != later.ask.kind());
                        latest.push(later);
                    }
                    for request in latest {
                        let (generation, kind) = (request.generation, request.ask.kind());
                        // A panic (libtorch's tensor operations panic on
                        // errors) fails the request, not the worker.
                        let failed = Answer::failed(&request.ask);
                        let answered =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                loaded.answer(request)
                            }));
                        let answer = answered.unwrap_or_else(|_| {
                            loaded = Loaded::default();
                            Some(failed("internal error (a panic); see stderr".into()))
                        });
                        let Some(answer) = answer else {
                            continue;
                        };
                        if outbox.send((generation, kind, answer)).is_err() {
                            return;
                        }
                    }
                }
            })
            .expect("spawn the lab thread");
        Self {
            requests,
            answers,
            generations: [0; 4],
            next: 0,
        }
    }

    /// Asks `ask` of the dataset at `dataset`; earlier answers of its kind no longer count.
    pub fn ask(&mut self, dataset: PathBuf, ask: Ask) {
        self.next += 1;
        self.generations[ask.kind()] = self.next;
        // The worker only stops when the app drops its receiver.
        let _ = self.requests.send(Request {
            generation: self.next,
            dataset,
            ask,
        });
    }

    /// The answers to the latest requests that are in.
    pub fn answers(&self) -> Vec<Answer> {
        let mut out = Vec::new();
        while let Ok((generation, kind, answer)) = self.answers.try_recv() {
            if self.generations[kind] == generation {
                out.push(answer);
            }
        }
        out
    }
}
