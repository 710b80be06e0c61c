//! Reading the dataset off the drawing thread: one worker owns the dataset
//! and answers requests in order, each answer tagged with the generation of
//! the request, so the app can drop answers to questions it no longer asks.
use featurescope::dataset::{
    Dataset, Explanation, LogitEffect, Rating, Record, Score, Unit, UnitOverview,
};
use featurescope::experiment::ablation::{self, Ablation};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};

pub enum Request {
    /// Every unit's scalar columns, explanations and scores.
    Overview,
    /// One unit's statistics and records.
    Unit { generation: u64, unit_id: u64 },
    /// Append a rating to the dataset.
    Rate(Rating),
    /// Switch to another dataset (answered with `Opened`, then read with `Overview`).
    Open(PathBuf),
}

pub struct Overview {
    pub units: Vec<UnitOverview>,
    pub explanations: Vec<Explanation>,
    pub scores: Vec<Score>,
    pub ratings: Vec<Rating>,
    /// The published ablations, and what is wrong with those that cannot
    /// be read: shown, not a dataset that cannot be browsed.
    pub ablations: (Vec<Ablation>, Vec<String>),
    /// The units' logit effects, or why they cannot be read (shown, as
    /// damaged ablations are).
    pub logit_effects: Result<Vec<LogitEffect>, String>,
}

pub struct UnitData {
    pub unit: Unit,
    pub records: Vec<Record>,
}

pub enum Message {
    Overview(Result<Overview, String>),
    Unit {
        generation: u64,
        result: Box<Result<UnitData, String>>,
    },
    Rated(Result<Rating, String>),
    Opened(Result<Opened, String>),
    /// Each unit's most frequent peak tokens, for the dataset at `dir`.
    PeakTokens {
        dir: PathBuf,
        result: Result<HashMap<u64, Vec<String>>, String>,
    },
}

/// How many peak tokens the list shows a unit.
pub const PEAK_TOKENS: usize = 3;

/// The dataset now open.
pub struct Opened {
    pub dir: PathBuf,
    pub quantile_levels: Vec<f64>,
}

impl Opened {
    pub fn of(dataset: &Dataset) -> Self {
        Self {
            dir: dataset.dir().to_owned(),
            quantile_levels: dataset
                .manifest()
                .selection
                .as_ref()
                .map(|s| s.quantile_levels.clone())
                .unwrap_or_default(),
        }
    }
}

pub struct Loader {
    requests: Sender<Request>,
    pub messages: Receiver<Message>,
}

impl Loader {
    pub fn start(dataset: Dataset) -> Self {
        let (requests, inbox) = channel::<Request>();
        let (outbox, messages) = channel();
        std::thread::Builder::new()
            .name("dataset".into())
            .spawn(move || {
                let mut dataset = dataset;
                // The peak tokens scan every top record: once a dataset,
                // on a thread of their own, after its overview is sent.
                let mut peaks_wanted = true;
                for request in inbox {
                    let overview_asked = matches!(request, Request::Overview);
                    let message = match request {
                        Request::Overview => Message::Overview(overview(&dataset)),
                        Request::Unit {
                            generation,
                            unit_id,
                        } => Message::Unit {
                            generation,
                            result: Box::new(unit(&dataset, unit_id)),
                        },
                        Request::Rate(rating) => Message::Rated(
                            dataset
                                .append_ratings(std::slice::from_ref(&rating))
                                .map(|_| rating)
                                .map_err(|e| e.to_string()),
                        ),
                        Request::Open(dir) => Message::Opened(match Dataset::open(&dir) {
                            Ok(opened) => {
                                dataset = opened;
                                peaks_wanted = true;
                                Ok(Opened::of(&dataset))
                            }
                            Err(e) => Err(e.to_string()),
                        }),
                    };
                    if outbox.send(message).is_err() {
                        break;
                    }
                    if overview_asked && std::mem::take(&mut peaks_wanted) {
                        spawn_peak_tokens(dataset.dir().to_owned(), outbox.clone());
                    }
                }
            })
            .expect("spawn the dataset thread");
        Self { requests, messages }
    }

    pub fn send(&self, request: Request) {
        // The worker only stops when the app drops its receiver.
        let _ = self.requests.send(request);
    }
}

fn spawn_peak_tokens(dir: PathBuf, outbox: Sender<Message>) {
    std::thread::spawn(move || {
        let result = Dataset::open(&dir)
            .and_then(|ds| ds.peak_tokens(PEAK_TOKENS))
            .map_err(|e| e.to_string());
        let _ = outbox.send(Message::PeakTokens { dir, result });
    });
}

fn overview(ds: &Dataset) -> Result<Overview, String> {
    let text = |e: featurescope::dataset::DatasetError| e.to_string();
    Ok(Overview {
        units: ds.units_overview().map_err(text)?,
        explanations: ds.explanations().map_err(text)?,
        scores: ds.scores().map_err(text)?,
        ratings: ds.ratings().map_err(text)?,
        ablations: ablation::published(ds.dir())
            .unwrap_or_else(|e| (Vec::new(), vec![e.to_string()])),
        logit_effects: ds.logit_effects().map_err(text),
    })
}

fn unit(ds: &Dataset, unit_id: u64) -> Result<UnitData, String> {
    let text = |e: featurescope::dataset::DatasetError| e.to_string();
    Ok(UnitData {
        unit: ds.unit(unit_id).map_err(text)?,
        records: ds.records(unit_id).map_err(text)?,
    })
}
