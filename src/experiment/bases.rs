//! Which basis is most interpretable? (Cunningham et al.'s main figure.)
//! The same number of live units sampled from each basis of the dataset
//! (each unit source: SAE features, MLP neurons, PCA, ICA, random
//! directions, the neuron basis), each explained and scored the same way,
//! and the mean score per basis and record set with a bootstrap interval.
//! What is already explained or scored by the same models is reused, so a
//! rerun, or a run after an interruption, asks only for what is missing.
use super::figure::{Bar, GroupedBars};
use super::results::csv_field;
use super::stats::{bootstrap_mean_interval, mean};
use super::{Result, Results};
use crate::dataset::{Dataset, Explanation, Score, UnitOverview};
use crate::interp::batch::{self, BatchOutcome};
use crate::interp::engine::{EXPLAIN_METHOD, Explainer, Simulator};
use crate::interp::records::RecordSet;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The experiment's name: its folder under `DATASET/experiments/`.
pub const NAME: &str = "bases";

/// The confidence level of the intervals.
pub const LEVEL: f64 = 0.95;

/// What the experiment samples, scores and resamples.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Plan {
    /// Live units sampled from each basis (all of them where it has fewer).
    pub units_per_basis: usize,
    /// Seeds the sample and the bootstrap.
    pub seed: u64,
    pub record_sets: Vec<RecordSet>,
    /// Top records shown to the explainer, and the top and random records
    /// each score simulates, for what this run makes: explanations and
    /// scores already there are reused as they were made.
    pub records_shown: usize,
    pub scored_top: usize,
    pub scored_random: usize,
    /// Bootstrap resamples per interval.
    pub resamples: usize,
}

/// One basis: a unit source of the dataset and the units sampled from it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Basis {
    /// `kind layer.site`, e.g. `sae 6.resid_post`.
    pub label: String,
    pub kind: String,
    pub hook: String,
    pub layer: u32,
    /// Units of the basis among the candidates that fire at all (maximum
    /// above zero): what the sample is drawn from.
    pub live_candidates: usize,
    pub sampled: Vec<u64>,
}

/// The bases of the dataset (its manifest's unit sources; by layer and kind
/// for a dataset without them), each with up to `per_basis` of its live
/// units among `candidates`, drawn with `seed`.
pub fn sample_bases(
    ds: &Dataset,
    candidates: &[u64],
    per_basis: usize,
    seed: u64,
) -> Result<Vec<Basis>> {
    let units = ds.units_overview()?;
    let wanted: HashSet<u64> = candidates.iter().copied().collect();
    let live = |u: &&UnitOverview| u.max > 0.0 && wanted.contains(&u.unit_id);
    let sources = &ds.manifest().sources;
    let mut bases: Vec<(Basis, Vec<u64>)> = if sources.is_empty() {
        let mut groups: Vec<((u32, String), Vec<u64>)> = Vec::new();
        for u in units.iter().filter(live) {
            let key = (u.layer, u.kind.as_str().to_owned());
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, ids)) => ids.push(u.unit_id),
                None => groups.push((key, vec![u.unit_id])),
            }
        }
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        groups
            .into_iter()
            .map(|((layer, kind), ids)| {
                let basis = Basis {
                    label: format!("{kind} {layer}"),
                    kind,
                    hook: String::new(),
                    layer,
                    live_candidates: ids.len(),
                    sampled: Vec::new(),
                };
                (basis, ids)
            })
            .collect()
    } else {
        sources
            .iter()
            .map(|source| {
                let range = source.unit_ids();
                let ids: Vec<u64> = units
                    .iter()
                    .filter(live)
                    .filter(|u| range.contains(&u.unit_id))
                    .map(|u| u.unit_id)
                    .collect();
                let site = source.hook.rsplit('.').next().unwrap_or(&source.hook);
                let kind = source.kind.as_str();
                let basis = Basis {
                    label: format!("{kind} {}.{site}", source.layer),
                    kind: kind.to_owned(),
                    hook: source.hook.clone(),
                    layer: source.layer,
                    live_candidates: ids.len(),
                    sampled: Vec::new(),
                };
                (basis, ids)
            })
            .collect()
    };
    // Two sources of one kind at one hook (two SAEs) are told apart by
    // where their units start.
    let labels: Vec<String> = bases.iter().map(|(b, _)| b.label.clone()).collect();
    for ((basis, _), source) in bases.iter_mut().zip(sources) {
        if labels.iter().filter(|l| **l == basis.label).count() > 1 {
            basis.label = format!("{} #{}", basis.label, source.first_unit_id);
        }
    }
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    for (basis, ids) in &mut bases {
        ids.shuffle(&mut rng);
        ids.truncate(per_basis);
        ids.sort_unstable();
        basis.sampled = std::mem::take(ids);
    }
    Ok(bases
        .into_iter()
        .map(|(basis, _)| basis)
        .filter(|b| !b.sampled.is_empty())
        .collect())
}

/// Explains every sampled unit that has no explanation from this explainer
/// yet, then scores each unit's explanation (see [`explanations_scored`])
/// on each record set where this simulator has not. `progress` hears the
/// stage, what is done and how much there is.
pub async fn explain_and_score(
    ds: &Dataset,
    explainer: &Explainer<'_>,
    simulator: &Simulator<'_>,
    bases: &[Basis],
    plan: &Plan,
    mut progress: impl FnMut(&str, usize, usize),
) -> Result<BatchOutcome> {
    let units: Vec<u64> = bases.iter().flat_map(|b| b.sampled.clone()).collect();
    let mut outcome = batch::explain_units(ds, explainer, &units, 1, false, |done| {
        progress("explaining", done, units.len())
    })
    .await?;
    let explanations: Vec<Explanation> =
        explanations_scored(ds, &units, explainer.backend.model())?
            .into_values()
            .collect();
    for &set in &plan.record_sets {
        let scored = batch::score_explanations(
            ds,
            simulator,
            explanations.clone(),
            set,
            (plan.scored_top, plan.scored_random),
            false,
            |done, total| progress(set.as_str(), done, total),
        )
        .await?;
        outcome.done += scored.done;
        outcome.skipped += scored.skipped;
        outcome.failed.extend(scored.failed);
    }
    Ok(outcome)
}

/// The explanation each of `units` is scored by: its first explanation from
/// `explainer_model` made from its top records (not a revision).
pub fn explanations_scored(
    ds: &Dataset,
    units: &[u64],
    explainer_model: &str,
) -> Result<HashMap<u64, Explanation>> {
    let wanted: HashSet<u64> = units.iter().copied().collect();
    let mut first: HashMap<u64, Explanation> = HashMap::new();
    for e in ds.explanations()? {
        if !wanted.contains(&e.unit_id)
            || e.explainer_model != explainer_model
            || e.method != EXPLAIN_METHOD
        {
            continue;
        }
        let earlier = |old: &Explanation| {
            (e.created_at_ms, &e.explanation_id) < (old.created_at_ms, &old.explanation_id)
        };
        if first.get(&e.unit_id).is_none_or(earlier) {
            first.insert(e.unit_id, e);
        }
    }
    Ok(first)
}

/// How one sampled unit fared on one record set.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Scored(f64),
    /// Scored, but the score is undefined (a constant simulation).
    Undefined,
    /// No explanation or no score yet (a failure, or an interrupted run).
    Missing,
}

/// One sampled unit's scores, one per record set of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitScores {
    pub basis: usize,
    pub unit_id: u64,
    pub explanation_id: Option<String>,
    pub outcomes: Vec<Outcome>,
}

/// Each sampled unit's score on each record set: the latest score of its
/// explanation by `simulator` (model and method).
pub fn unit_scores(
    ds: &Dataset,
    bases: &[Basis],
    explainer_model: &str,
    (simulator_model, simulation_method): (&str, &str),
    record_sets: &[RecordSet],
) -> Result<Vec<UnitScores>> {
    let units: Vec<u64> = bases.iter().flat_map(|b| b.sampled.clone()).collect();
    let explanations = explanations_scored(ds, &units, explainer_model)?;
    let ids: HashSet<&str> = explanations
        .values()
        .map(|e| e.explanation_id.as_str())
        .collect();
    let mut latest: HashMap<(String, String), Score> = HashMap::new();
    for s in ds.scores()? {
        if s.simulator_model != simulator_model
            || s.method != simulation_method
            || !ids.contains(s.explanation_id.as_str())
        {
            continue;
        }
        let key = (s.explanation_id.clone(), s.record_set.clone());
        if latest
            .get(&key)
            .is_none_or(|old| (old.created_at_ms, &old.score_id) < (s.created_at_ms, &s.score_id))
        {
            latest.insert(key, s);
        }
    }
    let mut out = Vec::new();
    for (index, basis) in bases.iter().enumerate() {
        for &unit_id in &basis.sampled {
            let explanation = explanations.get(&unit_id);
            let outcomes = record_sets
                .iter()
                .map(|set| {
                    let score = explanation.and_then(|e| {
                        latest.get(&(e.explanation_id.clone(), set.as_str().to_owned()))
                    });
                    match score.map(|s| s.score) {
                        Some(Some(v)) => Outcome::Scored(v),
                        Some(None) => Outcome::Undefined,
                        None => Outcome::Missing,
                    }
                })
                .collect();
            out.push(UnitScores {
                basis: index,
                unit_id,
                explanation_id: explanation.map(|e| e.explanation_id.clone()),
                outcomes,
            });
        }
    }
    Ok(out)
}

/// One basis on one record set.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Cell {
    pub record_set: String,
    /// Units with a defined score: what the mean is over.
    pub n: usize,
    /// Units whose score is undefined (a constant simulation), left out.
    pub undefined: usize,
    /// Units with no score yet.
    pub missing: usize,
    pub mean: Option<f64>,
    /// The bootstrap interval of the mean at [`LEVEL`].
    pub interval: Option<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BasisSummary {
    #[serde(flatten)]
    pub basis: Basis,
    pub record_sets: Vec<Cell>,
}

/// The experiment's summary: what was run with what, and each basis's cells.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    pub explainer: String,
    pub simulator: String,
    pub simulation_method: String,
    pub plan: Plan,
    pub level: f64,
    pub bases: Vec<BasisSummary>,
}

impl Summary {
    /// Units with no score on some record set.
    pub fn missing(&self) -> usize {
        let cells = self.bases.iter().flat_map(|b| &b.record_sets);
        cells.map(|c| c.missing).sum()
    }
}

/// The mean and interval of each basis on each record set. Each interval
/// draws its resamples with its own seed, derived from the plan's.
pub fn summarise(bases: &[Basis], scores: &[UnitScores], plan: &Plan) -> Vec<BasisSummary> {
    bases
        .iter()
        .enumerate()
        .map(|(b, basis)| {
            let of_basis: Vec<&UnitScores> = scores.iter().filter(|s| s.basis == b).collect();
            let record_sets = (plan.record_sets.iter().enumerate())
                .map(|(r, set)| {
                    let outcomes = || of_basis.iter().map(|s| &s.outcomes[r]);
                    let values: Vec<f64> = outcomes()
                        .filter_map(|o| match o {
                            Outcome::Scored(v) => Some(*v),
                            _ => None,
                        })
                        .collect();
                    let count = |want: &Outcome| outcomes().filter(|o| *o == want).count();
                    let seed = plan.seed ^ ((b * plan.record_sets.len() + r) as u64 + 1);
                    Cell {
                        record_set: set.as_str().to_owned(),
                        n: values.len(),
                        undefined: count(&Outcome::Undefined),
                        missing: count(&Outcome::Missing),
                        mean: mean(&values),
                        interval: bootstrap_mean_interval(&values, plan.resamples, LEVEL, seed),
                    }
                })
                .collect();
            BasisSummary {
                basis: basis.clone(),
                record_sets,
            }
        })
        .collect()
}

/// The figure: one group of bars per basis, one bar per record set, each
/// with its interval.
pub fn figure(summary: &Summary) -> GroupedBars {
    GroupedBars {
        title: format!(
            "Mean score by basis ({} units each, {:.0}% bootstrap intervals)",
            summary.plan.units_per_basis,
            LEVEL * 100.0
        ),
        y_label: "mean score (correlation)".into(),
        series: summary
            .plan
            .record_sets
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        groups: summary
            .bases
            .iter()
            .map(|b| {
                let bars = b
                    .record_sets
                    .iter()
                    .map(|c| c.mean.map(|mean| Bar::new(mean, c.interval)))
                    .collect();
                // Kind above, layer and site below: long labels stay apart.
                let label = b.basis.label.splitn(2, ' ').map(str::to_owned).collect();
                (label, bars)
            })
            .collect(),
    }
}

/// `units.csv`: one row per sampled unit and record set.
fn units_csv(summary: &Summary, scores: &[UnitScores]) -> String {
    let mut csv =
        String::from("basis,kind,hook,layer,unit_id,explanation_id,record_set,outcome,score\n");
    for s in scores {
        let basis = &summary.bases[s.basis].basis;
        for (set, outcome) in summary.plan.record_sets.iter().zip(&s.outcomes) {
            let (outcome, score) = match outcome {
                Outcome::Scored(v) => ("scored", v.to_string()),
                Outcome::Undefined => ("undefined", String::new()),
                Outcome::Missing => ("missing", String::new()),
            };
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{},{outcome},{score}",
                csv_field(&basis.label),
                csv_field(&basis.kind),
                csv_field(&basis.hook),
                basis.layer,
                s.unit_id,
                csv_field(s.explanation_id.as_deref().unwrap_or("")),
                set.as_str(),
            );
        }
    }
    csv
}

/// Summarises what the dataset at `path` holds for the sampled `bases` and
/// writes `units.csv`, `summary.json` and `figure.svg` into its results
/// folder.
pub fn publish(
    path: &Path,
    bases: &[Basis],
    explainer: &Explainer<'_>,
    simulator: &Simulator<'_>,
    plan: &Plan,
) -> Result<(Summary, PathBuf)> {
    let ds = Dataset::open(path)?;
    let explainer_model = explainer.backend.model();
    let simulator_model = simulator.backend.model();
    let scores = unit_scores(
        &ds,
        bases,
        explainer_model,
        (simulator_model, simulator.method()),
        &plan.record_sets,
    )?;
    let summary = Summary {
        explainer: explainer_model.to_owned(),
        simulator: simulator_model.to_owned(),
        simulation_method: simulator.method().to_owned(),
        plan: plan.clone(),
        level: LEVEL,
        bases: summarise(bases, &scores, plan),
    };
    let mut results = Results::default();
    results.add("units.csv", units_csv(&summary, &scores));
    results.add("summary.json", serde_json::to_vec_pretty(&summary)?);
    results.add("figure.svg", figure(&summary).svg());
    let folder = results.publish(path, NAME)?;
    Ok((summary, folder))
}
