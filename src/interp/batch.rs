//! Many units at once: bounded concurrency, results appended to the dataset in
//! chunks as they come (so an interruption loses at most a chunk), units
//! already done skipped unless forced, and failures collected, not fatal.
use super::classifier::{ClassificationMetrics, ClassifierParams, Judgement, ScoreMethod};
use super::engine::{EXPLAIN_METHOD, EngineError, Explainer, Simulator};
use super::judge::Judge;
use super::records::RecordSet;
use crate::dataset::{Dataset, Explanation, Score};
use crate::search::SentenceEmbedder;
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Results are appended every this many.
const CHUNK: usize = 32;

/// Takes per-unit results as they finish, appends the good ones in chunks of
/// [`CHUNK`] with `append`, and records the failures in `outcome`.
pub(crate) async fn collect_in_chunks<T>(
    results: impl futures::Stream<Item = (u64, Result<Vec<T>, EngineError>)>,
    append: impl Fn(&[T]) -> Result<std::path::PathBuf, crate::dataset::DatasetError>,
    outcome: &mut BatchOutcome,
    mut progress: impl FnMut(usize),
) -> Result<(), EngineError> {
    let mut results = std::pin::pin!(results);
    let mut pending: Vec<T> = Vec::new();
    let mut finished = 0;
    while let Some((unit, result)) = results.next().await {
        finished += 1;
        match result {
            Ok(items) => {
                pending.extend(items);
                outcome.done += 1;
            }
            Err(e) => outcome.failed.push((unit, e.to_string())),
        }
        if pending.len() >= CHUNK {
            append(&std::mem::take(&mut pending))?;
        }
        progress(finished);
    }
    if !pending.is_empty() {
        append(&pending)?;
    }
    Ok(())
}

#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct BatchOutcome {
    pub done: usize,
    pub skipped: usize,
    /// (unit, reason) of each failure.
    pub failed: Vec<(u64, String)>,
}

/// Explains each of `units` `samples` times; skips units that already have
/// that many explanations from this explainer unless `force`.
pub async fn explain_units(
    ds: &Dataset,
    explainer: &Explainer<'_>,
    units: &[u64],
    samples: u32,
    force: bool,
    mut progress: impl FnMut(usize),
) -> Result<BatchOutcome, EngineError> {
    let model = explainer.backend.model();
    let mut existing: HashMap<u64, u32> = HashMap::new();
    for e in ds.explanations()? {
        if e.explainer_model == model && e.method == EXPLAIN_METHOD {
            *existing.entry(e.unit_id).or_default() += 1;
        }
    }
    let mut outcome = BatchOutcome::default();
    let todo: Vec<u64> = units
        .iter()
        .copied()
        .filter(|u| force || existing.get(u).copied().unwrap_or(0) < samples)
        .collect();
    outcome.skipped = units.len() - todo.len();
    let concurrency = explainer.backend.concurrency();
    let results = futures::stream::iter(todo)
        .map(|unit| async move {
            let result = async {
                let records = ds.records(unit)?;
                let mut out = Vec::new();
                for sample in 0..samples {
                    out.push(explainer.explain(unit, &records, sample).await?);
                }
                Ok::<_, EngineError>(out)
            };
            (unit, result.await)
        })
        .buffer_unordered(concurrency);
    collect_in_chunks(
        results,
        |rows| ds.append_explanations(rows),
        &mut outcome,
        &mut progress,
    )
    .await?;
    Ok(outcome)
}

/// Every explanation of `units` in the dataset.
fn explanations_of(ds: &Dataset, units: &[u64]) -> Result<Vec<Explanation>, EngineError> {
    let wanted: HashSet<u64> = units.iter().copied().collect();
    Ok(ds
        .explanations()?
        .into_iter()
        .filter(|e| wanted.contains(&e.unit_id))
        .collect())
}

/// Scores each of `explanations` that has no score yet from this simulator,
/// method and record set (all of them with `force`), simulating `top` top
/// and `random` random records.
pub async fn score_explanations(
    ds: &Dataset,
    simulator: &Simulator<'_>,
    explanations: Vec<Explanation>,
    set: RecordSet,
    (top, random): (usize, usize),
    force: bool,
    progress: impl FnMut(usize, usize),
) -> Result<BatchOutcome, EngineError> {
    let scorer = Scorer::Simulation {
        simulator,
        set,
        top,
        random,
    };
    score_with(ds, &scorer, explanations, force, progress).await
}

/// How a batch scores an explanation.
pub enum Scorer<'a> {
    /// Bills et al.'s simulation on `top` top and `random` random records of `set`.
    Simulation {
        simulator: &'a Simulator<'a>,
        set: RecordSet,
        top: usize,
        random: usize,
    },
    /// Detection, or fuzzing when `marked`.
    Judgement {
        judge: &'a Judge<'a>,
        marked: bool,
    },
    Intruder {
        judge: &'a Judge<'a>,
    },
    Embedding {
        embedder: &'a SentenceEmbedder,
        params: ClassifierParams,
    },
}

impl Scorer<'_> {
    /// (model, method, record set) as written to the scores table.
    fn key(&self) -> (&str, &str, String) {
        let method = self.method().as_str();
        match self {
            Self::Simulation { simulator, set, .. } => (
                simulator.backend.model(),
                simulator.method(),
                set.as_str().into(),
            ),
            Self::Judgement { judge, .. } | Self::Intruder { judge } => {
                (judge.backend.model(), method, judge.params.record_set())
            }
            Self::Embedding { embedder, params } => (embedder.name(), method, params.record_set()),
        }
    }

    pub fn method(&self) -> ScoreMethod {
        match self {
            Self::Simulation { .. } => ScoreMethod::Simulation,
            Self::Judgement { marked: false, .. } => ScoreMethod::Detection,
            Self::Judgement { marked: true, .. } => ScoreMethod::Fuzz,
            Self::Intruder { .. } => ScoreMethod::Intruder,
            Self::Embedding { .. } => ScoreMethod::Embedding,
        }
    }

    fn concurrency(&self) -> usize {
        match self {
            Self::Simulation { simulator, .. } => simulator.backend.concurrency(),
            Self::Judgement { judge, .. } | Self::Intruder { judge } => judge.backend.concurrency(),
            Self::Embedding { .. } => 1,
        }
    }

    pub async fn score(
        &self,
        explanation: &Explanation,
        records: &[crate::dataset::Record],
    ) -> Result<Score, EngineError> {
        match self {
            Self::Simulation {
                simulator,
                set,
                top,
                random,
            } => {
                simulator
                    .score(explanation, records, *set, *top, *random)
                    .await
            }
            Self::Judgement { judge, marked } => judge.judge(*marked, explanation, records).await,
            Self::Intruder { judge } => judge.intruder(explanation, records).await,
            Self::Embedding { embedder, params } => {
                super::judge::embedding_score(embedder, params, explanation, records)
            }
        }
    }
}

/// Scores each of `explanations` with `scorer` that has no score yet from
/// the same model, method and record set (all of them with `force`).
pub async fn score_with(
    ds: &Dataset,
    scorer: &Scorer<'_>,
    explanations: Vec<Explanation>,
    force: bool,
    mut progress: impl FnMut(usize, usize),
) -> Result<BatchOutcome, EngineError> {
    let (model, method, set) = scorer.key();
    let scored: HashSet<String> = ds
        .scores()?
        .into_iter()
        .filter(|s| (s.simulator_model.as_str(), s.method.as_str()) == (model, method))
        .filter(|s| s.record_set == set)
        .map(|s| s.explanation_id)
        .collect();
    let all = explanations.len();
    let todo: Vec<Explanation> = explanations
        .into_iter()
        .filter(|e| force || !scored.contains(&e.explanation_id))
        .collect();
    let mut outcome = BatchOutcome {
        skipped: all - todo.len(),
        ..Default::default()
    };
    let total = todo.len();
    let results = futures::stream::iter(todo)
        .map(|explanation| async move {
            let unit = explanation.unit_id;
            let result = async {
                let records = ds.records(unit)?;
                Ok(vec![scorer.score(&explanation, &records).await?])
            };
            (unit, result.await)
        })
        .buffer_unordered(scorer.concurrency());
    collect_in_chunks(
        results,
        |rows| ds.append_scores(rows),
        &mut outcome,
        |done| progress(done, total),
    )
    .await?;
    Ok(outcome)
}

/// Scores every explanation of `units` with `scorer` (see [`score_with`]).
pub async fn score_units(
    ds: &Dataset,
    scorer: &Scorer<'_>,
    units: &[u64],
    force: bool,
    progress: impl FnMut(usize, usize),
) -> Result<BatchOutcome, EngineError> {
    let explanations = explanations_of(ds, units)?;
    score_with(ds, scorer, explanations, force, progress).await
}

/// Revises, for each of `units`, its most recent scored explanation that has
/// no revision of this kind yet (every scored one with `force`).
pub async fn revise_units(
    ds: &Dataset,
    explainer: &Explainer<'_>,
    units: &[u64],
    kind: super::revision::Evidence,
    count: usize,
    force: bool,
    mut progress: impl FnMut(usize, usize),
) -> Result<BatchOutcome, EngineError> {
    let explanations = explanations_of(ds, units)?;
    let revised: HashSet<&str> = explanations
        .iter()
        .filter(|e| e.method == kind.method())
        .filter_map(|e| e.parent_id.as_deref())
        .collect();
    // Misses are read from simulations, so only their scores count here.
    let mut latest_score: HashMap<String, Score> = HashMap::new();
    for s in ds.scores()?.into_iter().filter(Score::is_simulation) {
        match latest_score.get(&s.explanation_id) {
            Some(old) if old.created_at_ms >= s.created_at_ms => {}
            _ => {
                latest_score.insert(s.explanation_id.clone(), s);
            }
        }
    }
    let mut newest: HashMap<u64, &Explanation> = HashMap::new();
    let mut todo: Vec<(Explanation, Score)> = Vec::new();
    for e in &explanations {
        if latest_score.contains_key(&e.explanation_id)
            && (force || !revised.contains(e.explanation_id.as_str()))
        {
            if force {
                todo.push((e.clone(), latest_score[&e.explanation_id].clone()));
            } else if newest
                .get(&e.unit_id)
                .is_none_or(|n| n.created_at_ms <= e.created_at_ms)
            {
                newest.insert(e.unit_id, e);
            }
        }
    }
    todo.extend(
        newest
            .into_values()
            .map(|e| (e.clone(), latest_score[&e.explanation_id].clone())),
    );
    let mut outcome = BatchOutcome {
        skipped: units.len().saturating_sub(todo.len()),
        ..Default::default()
    };
    let total = todo.len();
    let results = futures::stream::iter(todo)
        .map(|(explanation, score)| async move {
            let unit = explanation.unit_id;
            let result = async {
                let records = ds.records(unit)?;
                Ok(vec![
                    explainer
                        .revise(&explanation, &score, &records, kind, count)
                        .await?,
                ])
            };
            (unit, result.await)
        })
        .buffer_unordered(explainer.backend.concurrency());
    collect_in_chunks(
        results,
        |rows| ds.append_explanations(rows),
        &mut outcome,
        |done| progress(done, total),
    )
    .await?;
    Ok(outcome)
}

/// Scores summarised by layer and unit kind: each unit counts once, with its
/// best defined score for the record set.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReportRow {
    pub layer: u32,
    pub kind: String,
    pub units_scored: usize,
    pub mean: f64,
    pub median: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    pub method: String,
    /// What the method's score is (correlation, balanced accuracy, …).
    pub headline: String,
    pub record_set: String,
    pub explanations: usize,
    pub scores: usize,
    pub undefined_scores: usize,
    pub by_layer_and_kind: Vec<ReportRow>,
    pub overall: Option<ReportRow>,
    /// Detection and fuzzing: the metrics over the examples of every unit's
    /// best-scored explanation together, as Delphi's result analysis pools
    /// its latents' confusion counts.
    pub pooled: Option<ClassificationMetrics>,
}

fn row(layer: u32, kind: String, mut values: Vec<f64>) -> ReportRow {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    ReportRow {
        layer,
        kind,
        units_scored: n,
        mean: values.iter().sum::<f64>() / n as f64,
        median,
    }
}

/// Whether `s` is a score by `method` (on record set `set`, for simulation).
fn is_scored_by(s: &Score, method: ScoreMethod, set: RecordSet) -> bool {
    ScoreMethod::of_stored(&s.method) == method
        && (method != ScoreMethod::Simulation || s.record_set == set.as_str())
}

/// Each unit's best defined score by `method` (on `set`, for simulation).
pub fn best_by_unit(scores: &[Score], method: ScoreMethod, set: RecordSet) -> HashMap<u64, f64> {
    best_rows(scores, method, set)
        .into_iter()
        .filter_map(|(unit, s)| Some((unit, s.score?)))
        .collect()
}

/// Each unit's score with the best defined value by `method` (on `set`,
/// for simulation).
fn best_rows(scores: &[Score], method: ScoreMethod, set: RecordSet) -> HashMap<u64, &Score> {
    let mut best: HashMap<u64, &Score> = HashMap::new();
    for s in scores.iter().filter(|s| is_scored_by(s, method, set)) {
        let Some(v) = s.score else { continue };
        if best
            .get(&s.unit_id)
            .and_then(|b| b.score)
            .is_none_or(|b| v > b)
        {
            best.insert(s.unit_id, s);
        }
    }
    best
}

/// The scores by `method` summarised (those on `set`, for simulation).
pub fn report(ds: &Dataset, method: ScoreMethod, set: RecordSet) -> Result<Report, EngineError> {
    let units = ds.units_overview()?;
    let scores: Vec<Score> = ds
        .scores()?
        .into_iter()
        .filter(|s| is_scored_by(s, method, set))
        .collect();
    let best_rows = best_rows(&scores, method, set);
    let pooled = matches!(method, ScoreMethod::Detection | ScoreMethod::Fuzz).then(|| {
        let judgements: Vec<Judgement> = best_rows
            .values()
            .flat_map(|s| s.simulated.iter().filter_map(|v| Judgement::from_stored(v)))
            .collect();
        ClassificationMetrics::of(&judgements)
    });
    let best: HashMap<u64, f64> = best_rows
        .iter()
        .filter_map(|(&unit, s)| Some((unit, s.score?)))
        .collect();
    let mut groups: BTreeMap<(u32, String), Vec<f64>> = BTreeMap::new();
    for (&unit, &value) in &best {
        let u = units
            .get(unit as usize)
            .ok_or(crate::dataset::DatasetError::UnknownUnit {
                unit_id: unit,
                units: units.len() as u64,
            })?;
        groups
            .entry((u.layer, u.kind.to_string()))
            .or_default()
            .push(value);
    }
    let all: Vec<f64> = best.values().copied().collect();
    Ok(Report {
        method: method.as_str().into(),
        headline: method.headline().into(),
        record_set: match method {
            ScoreMethod::Simulation => set.as_str().into(),
            _ => scores
                .iter()
                .map(|s| s.record_set.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", "),
        },
        explanations: ds.explanations()?.len(),
        scores: scores.len(),
        undefined_scores: scores.iter().filter(|s| s.score.is_none()).count(),
        by_layer_and_kind: groups
            .into_iter()
            .map(|((layer, kind), values)| row(layer, kind, values))
            .collect(),
        overall: (!all.is_empty()).then(|| row(0, "all".into(), all)),
        pooled,
    })
}
