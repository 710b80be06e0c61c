//! Search by meaning off the drawing thread: a worker owns the sentence
//! model (loaded at the first search) and answers each search with the
//! open dataset's explained units and their similarity to it. Explanations
//! are read again for each search, so those that jobs add are found; their
//! embeddings come from the dataset's cache. Only the latest search is
//! answered: one typed while another runs supersedes those queued behind it.
use featurescope::dataset::Dataset;
use featurescope::search::{ExplanationSearch, SentenceEmbedder};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};

struct Search {
    generation: u64,
    dataset: PathBuf,
    query: String,
}

pub struct Answer {
    pub generation: u64,
    pub query: String,
    /// Each explained unit's similarity to the query.
    pub result: Result<HashMap<u64, f32>, String>,
}

pub struct MeaningSearch {
    requests: Sender<Search>,
    pub answers: Receiver<Answer>,
    generation: u64,
}

impl MeaningSearch {
    /// The worker, with the sentence model at `embedder` (read when first needed).
    pub fn start(embedder: PathBuf) -> Self {
        let (requests, inbox) = channel::<Search>();
        let (outbox, answers) = channel();
        std::thread::Builder::new()
            .name("meaning".into())
            .spawn(move || {
                let mut model: Option<SentenceEmbedder> = None;
                while let Ok(mut search) = inbox.recv() {
                    while let Ok(later) = inbox.try_recv() {
                        search = later;
                    }
                    let result = answer(&mut model, &embedder, &search);
                    let answer = Answer {
                        generation: search.generation,
                        query: search.query,
                        result,
                    };
                    if outbox.send(answer).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn the meaning thread");
        Self {
            requests,
            answers,
            generation: 0,
        }
    }

    /// Asks for `query` on the dataset at `dataset`; earlier answers no longer count.
    pub fn ask(&mut self, dataset: PathBuf, query: String) {
        self.generation += 1;
        // The worker only stops when the app drops its receiver.
        let _ = self.requests.send(Search {
            generation: self.generation,
            dataset,
            query,
        });
    }

    /// The answer to the latest search, if it is in.
    pub fn latest(&self) -> Option<Answer> {
        let mut latest = None;
        while let Ok(answer) = self.answers.try_recv() {
            if answer.generation == self.generation {
                latest = Some(answer);
            }
        }
        latest
    }
}

fn answer(
    model: &mut Option<SentenceEmbedder>,
    path: &std::path::Path,
    search: &Search,
) -> Result<HashMap<u64, f32>, String> {
    let text = |e: featurescope::search::SearchError| e.to_string();
    let embedder = match model {
        Some(loaded) => loaded,
        None => model.insert(SentenceEmbedder::load(path).map_err(text)?),
    };
    let dataset = Dataset::open(&search.dataset).map_err(|e| e.to_string())?;
    let explained = ExplanationSearch::build(&dataset, embedder).map_err(text)?;
    if explained.is_empty() {
        return Err("this dataset has no explanations yet (e explains a unit)".into());
    }
    let query = embedder
        .embed(&[search.query.as_str()])
        .map_err(text)?
        .remove(0);
    Ok(explained
        .rank(&query)
        .into_iter()
        .map(|hit| (hit.unit_id, hit.similarity))
        .collect())
}
