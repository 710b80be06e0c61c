//! Explainer and simulator pairs compared (Bills et al.'s scaling trend:
//! better explainers and simulators score higher). Each pair makes the
//! standard explanation of the same sampled units and scores it on the same
//! held-out records (those of the studies, [`super::study`]); the mean
//! score per pair with its bootstrap interval, and each pair's paired
//! difference from the first. What a pair makes goes into the dataset
//! under its models' names, so a rerun makes only what is missing.
use super::study::{self, ConditionSummary, LEVEL, Plan, UnitResult};
use super::{Result, Results};
use crate::dataset::Dataset;
use crate::interp::batch::BatchOutcome;
use crate::interp::engine::{Explainer, Simulator};
use std::path::{Path, PathBuf};

/// A pair's name (`default`, or its configuration file's stem) and its
/// two roles.
pub struct Pair<'a> {
    pub label: String,
    pub explainer: Explainer<'a>,
    pub simulator: Simulator<'a>,
}

/// The models a pair ran, as the summary names them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PairModels {
    pub label: String,
    pub explainer: String,
    pub simulator: String,
    pub simulation_method: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    pub pairs: Vec<PairModels>,
    /// One condition per pair (the standard explanation), the first the
    /// baseline.
    pub plan: Plan,
    pub sampled: Vec<u64>,
    pub level: f64,
    pub conditions: Vec<ConditionSummary>,
}

/// The study's plan for `labels`: one standard-explanation condition per
/// pair, each compared with the first.
pub fn plan(
    labels: &[String],
    (units, seed, records_shown): (usize, u64, usize),
    (scored_top, scored_random, resamples): (usize, usize, usize),
) -> Plan {
    Plan {
        name: "pairs".into(),
        units,
        seed,
        records_shown,
        scored_top,
        scored_random,
        revision_records: 0,
        resamples,
        conditions: (labels.iter())
            .map(|l| study::standard_condition("pair", l, records_shown))
            .collect(),
        baseline: Some(0),
    }
}

/// The plan pair `k` runs alone: its condition only.
fn alone(plan: &Plan, k: usize) -> Plan {
    Plan {
        conditions: vec![plan.conditions[k].clone()],
        baseline: None,
        ..plan.clone()
    }
}

/// Makes what each pair still lacks for `units`, pair after pair;
/// `progress(stage, done, total)` names the pair in its stage.
pub async fn run(
    ds: &Dataset,
    pairs: &[Pair<'_>],
    units: &[u64],
    plan: &Plan,
    mut progress: impl FnMut(&str, usize, usize),
) -> Result<BatchOutcome> {
    let mut outcome = BatchOutcome::default();
    for (k, pair) in pairs.iter().enumerate() {
        let made = study::run(
            ds,
            &pair.explainer,
            &pair.simulator,
            units,
            &alone(plan, k),
            |stage, done, total| progress(&format!("{}: {stage}", pair.label), done, total),
        )
        .await?;
        outcome.done += made.done;
        outcome.failed.extend(made.failed);
    }
    Ok(outcome)
}

/// Summarises what the dataset at `path` holds for `units` from each pair
/// and writes `units.csv`, `summary.json` and `figure.svg` into
/// `DATASET/experiments/pairs/`.
pub fn publish(
    path: &Path,
    units: &[u64],
    pairs: &[Pair<'_>],
    plan: &Plan,
) -> Result<(Summary, PathBuf)> {
    let ds = Dataset::open(path)?;
    let mut results: Vec<UnitResult> = Vec::new();
    for (k, pair) in pairs.iter().enumerate() {
        let of_pair = study::outcomes(
            &ds,
            units,
            &pair.explainer,
            &pair.simulator,
            &alone(plan, k),
        )?;
        results.extend(
            of_pair
                .into_iter()
                .map(|r| UnitResult { condition: k, ..r }),
        );
    }
    let summary = Summary {
        pairs: (pairs.iter())
            .map(|p| PairModels {
                label: p.label.clone(),
                explainer: p.explainer.backend.model().to_owned(),
                simulator: p.simulator.backend.model().to_owned(),
                simulation_method: p.simulator.method().to_owned(),
            })
            .collect(),
        plan: plan.clone(),
        sampled: units.to_vec(),
        level: LEVEL,
        conditions: study::summarise(&results, plan),
    };
    let title = "Explainer and simulator pairs";
    let mut files = Results::default();
    files.add("units.csv", study::units_csv(plan, &results));
    files.add("summary.json", serde_json::to_vec_pretty(&summary)?);
    files.add(
        "figure.svg",
        study::condition_bars(&summary.conditions, units.len(), title).svg(),
    );
    let folder = files.publish(path, &plan.name)?;
    Ok((summary, folder))
}
