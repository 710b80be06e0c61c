//! Ways of making an explanation, compared (Bills et al.): does revision
//! help ([`revision_conditions`]), and what evidence should the explainer
//! see ([`evidence_conditions`])? Each condition makes one explanation per
//! sampled unit, and every explanation of a unit is scored on the same
//! held-out records: the top-and-random records the standard explanation is
//! scored on, which no condition is shown. Explanations and scores go into
//! the dataset as they come and are found there again by what they were made
//! from, so a rerun, or a run after an interruption, makes only what is
//! missing.
use super::figure::{Bar, GroupedBars};
use super::results::csv_field;
use super::stats::{bootstrap_mean_interval, mean};
use super::{Result, Results};
use crate::dataset::{Dataset, Explanation, Record, Sample, Score};
use crate::interp::batch::{BatchOutcome, collect_in_chunks};
use crate::interp::engine::{EXPLAIN_METHOD, EngineError, Explainer, Simulator};
use crate::interp::records::{RecordSet, explanation_records, scoring_records};
use crate::interp::revision::{self, Evidence};
use futures::StreamExt;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The confidence level of the intervals.
pub const LEVEL: f64 = 0.95;

/// Which records a condition shows the explainer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// Top-activating records, those the standard explanation sees first.
    Top,
    /// Uniformly drawn records.
    Random,
    /// Records of the quantile bins below the highest one, highest first.
    LowerQuantile,
}

impl Selection {
    pub const ALL: [Selection; 3] = [Self::Top, Self::Random, Self::LowerQuantile];

    fn as_str(self) -> &'static str {
        match self {
            Self::Top => "top",
            Self::Random => "random",
            Self::LowerQuantile => "lower-quantile",
        }
    }
}

/// How a condition makes a unit's explanation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Recipe {
    /// From `count` records of `selection`, each cut to `window` tokens about
    /// its peak where given.
    Shown {
        selection: Selection,
        count: usize,
        window: Option<usize>,
    },
    /// From as many top records as the standard explanation, none of those it saw.
    ReExplanation,
    /// The standard explanation revised with this evidence.
    Revision(Evidence),
}

/// One condition: how its explanations are made, and its name as
/// `group` (what varies) and `label` (its value).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Condition {
    pub group: String,
    pub label: String,
    #[serde(skip)]
    pub recipe: Recipe,
}

impl Condition {
    fn new(group: &str, label: impl Into<String>, recipe: Recipe) -> Self {
        Self {
            group: group.into(),
            label: label.into(),
            recipe,
        }
    }
}

/// The standard explanation: the top records the explainer is shown by
/// default, whole.
fn standard(records_shown: usize) -> Recipe {
    Recipe::Shown {
        selection: Selection::Top,
        count: records_shown,
        window: None,
    }
}

/// A condition named `group` / `label` that makes the standard explanation.
pub fn standard_condition(group: &str, label: &str, records_shown: usize) -> Condition {
    Condition::new(group, label, standard(records_shown))
}

/// Does revision help? The standard explanation (the baseline); a
/// re-explanation from new top records (is it just more evidence?); a
/// revision shown the records its simulation missed most; and the paper's
/// control, a revision shown random records on which the unit fires.
pub fn revision_conditions(records_shown: usize) -> Vec<Condition> {
    vec![
        Condition::new("explanation", "first", standard(records_shown)),
        Condition::new("re-explanation", "new top records", Recipe::ReExplanation),
        Condition::new(
            "revision",
            "records missed",
            Recipe::Revision(Evidence::Misses),
        ),
        Condition::new(
            "revision",
            "random non-zero",
            Recipe::Revision(Evidence::RandomNonZero),
        ),
    ]
}

/// What evidence should the explainer see? One thing varied at a time from
/// the standard explanation: how many top records it is shown (`counts`),
/// how long each is (`windows`, in tokens about the peak), and which records
/// they are (`selection_count` of each [`Selection`]).
pub fn evidence_conditions(
    records_shown: usize,
    counts: &[usize],
    windows: &[usize],
    selection_count: usize,
) -> Vec<Condition> {
    let top = |count, window| Recipe::Shown {
        selection: Selection::Top,
        count,
        window,
    };
    let mut conditions: Vec<Condition> = (counts.iter())
        .map(|&c| Condition::new("texts shown", c.to_string(), top(c, None)))
        .collect();
    conditions.extend(windows.iter().map(|&w| {
        Condition::new(
            "window (tokens)",
            w.to_string(),
            top(records_shown, Some(w)),
        )
    }));
    conditions.extend(Selection::ALL.map(|selection| {
        let recipe = Recipe::Shown {
            selection,
            count: selection_count,
            window: None,
        };
        Condition::new("selection", selection.as_str(), recipe)
    }));
    conditions
}

/// What the study samples, shows, scores and resamples.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Plan {
    /// The results folder's name under `DATASET/experiments/`.
    pub name: String,
    /// Live units sampled (all of them where there are fewer).
    pub units: usize,
    /// Seeds the sample and the bootstrap.
    pub seed: u64,
    /// Top records the standard explanation is shown; they fix the held-out
    /// records, the top and random records it would be scored on.
    pub records_shown: usize,
    pub scored_top: usize,
    pub scored_random: usize,
    /// Records shown to a revision as new evidence.
    pub revision_records: usize,
    pub resamples: usize,
    pub conditions: Vec<Condition>,
    /// The condition each other one is compared with, unit by unit.
    pub baseline: Option<usize>,
}

/// Up to `count` of `candidates` that fire at all (maximum above zero),
/// drawn with `seed`, in order.
pub fn sample_units(ds: &Dataset, candidates: &[u64], count: usize, seed: u64) -> Result<Vec<u64>> {
    let wanted: HashSet<u64> = candidates.iter().copied().collect();
    let mut live: Vec<u64> = (ds.units_overview()?.iter())
        .filter(|u| u.max > 0.0 && wanted.contains(&u.unit_id))
        .map(|u| u.unit_id)
        .collect();
    live.shuffle(&mut rand::rngs::SmallRng::seed_from_u64(seed));
    live.truncate(count);
    live.sort_unstable();
    Ok(live)
}

fn ids(records: &[&Record]) -> Vec<u64> {
    records.iter().map(|r| r.record_id).collect()
}

/// One unit's records and the held-out records all its conditions are scored on.
struct UnitRecords {
    unit_id: u64,
    records: Vec<Record>,
    /// The records the standard explanation is shown.
    standard: Vec<u64>,
    test: Vec<u64>,
}

impl UnitRecords {
    fn load(ds: &Dataset, unit_id: u64, plan: &Plan) -> Result<Self> {
        let records = ds.records(unit_id)?;
        let standard = ids(&explanation_records(&records, plan.records_shown));
        let test = ids(&scoring_records(
            &records,
            &standard,
            RecordSet::TopAndRandom,
            plan.scored_top,
            plan.scored_random,
        ));
        Ok(Self {
            unit_id,
            records,
            standard,
            test,
        })
    }

    fn get(&self, wanted: &[u64]) -> Vec<&Record> {
        (wanted.iter())
            .filter_map(|id| self.records.iter().find(|r| r.record_id == *id))
            .collect()
    }

    /// The records a condition may show: none of the held-out ones.
    fn unseen(&self) -> impl Iterator<Item = &Record> {
        (self.records.iter()).filter(|r| !self.test.contains(&r.record_id))
    }

    /// The records of `selection` in the order they are shown. Top records
    /// alternate as the standard explanation's do (even ranks first), so
    /// the first `records_shown` of them are the ones it sees.
    fn pool(&self, selection: Selection, top_bin: u32) -> Vec<&Record> {
        let mut pool: Vec<&Record> = match selection {
            Selection::Top => {
                let mut top: Vec<&Record> = (self.records.iter())
                    .filter(|r| r.sample == Sample::Top)
                    .collect();
                top.sort_by_key(|r| r.rank);
                let (even, odd): (Vec<_>, Vec<_>) =
                    top.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
                let alternating = even.into_iter().chain(odd).map(|(_, r)| r);
                return alternating
                    .filter(|r| !self.test.contains(&r.record_id))
                    .collect();
            }
            Selection::Random => (self.unseen())
                .filter(|r| r.sample == Sample::Random)
                .collect(),
            Selection::LowerQuantile => (self.unseen())
                .filter(|r| matches!(r.sample, Sample::Quantile(b) if b < top_bin))
                .collect(),
        };
        pool.sort_by_key(|r| {
            let bin = match r.sample {
                Sample::Quantile(b) => b,
                _ => 0,
            };
            (std::cmp::Reverse(bin), r.rank)
        });
        pool
    }
}

/// What a condition needs next for one unit.
enum Step {
    /// An explanation from these records (cut to `window`), made by `method`.
    Explain {
        evidence: Vec<u64>,
        window: Option<usize>,
        method: String,
    },
    /// The standard explanation scored on records that are neither shown
    /// to it nor held out: where its misses are found for a revision.
    ScoreDevelopment(Explanation, Vec<u64>),
    Revise {
        first: Explanation,
        evidence: Vec<u64>,
        kind: Evidence,
    },
    /// The held-out score of this explanation, made from this many new records.
    ScoreTest(Explanation, usize),
    /// Waits for what failed to be made: what.
    Waiting(String),
    /// Cannot be made from this unit's records: why.
    Unavailable(String),
    Done(Explanation, usize, Box<Score>),
}

/// What the dataset holds from this explainer and simulator.
struct Known {
    explanations: HashMap<u64, Vec<Explanation>>,
    scores: HashMap<String, Vec<Score>>,
}

impl Known {
    fn read(ds: &Dataset, explainer_model: &str, simulator: (&str, &str)) -> Result<Self> {
        let mut explanations: HashMap<u64, Vec<Explanation>> = HashMap::new();
        for e in ds.explanations()? {
            if e.explainer_model == explainer_model {
                explanations.entry(e.unit_id).or_default().push(e);
            }
        }
        for list in explanations.values_mut() {
            list.sort_by(|a, b| {
                (a.created_at_ms, &a.explanation_id).cmp(&(b.created_at_ms, &b.explanation_id))
            });
        }
        let mut scores: HashMap<String, Vec<Score>> = HashMap::new();
        for s in ds.scores()? {
            if (s.simulator_model.as_str(), s.method.as_str()) == simulator
                && s.record_set == RecordSet::TopAndRandom.as_str()
            {
                scores.entry(s.explanation_id.clone()).or_default().push(s);
            }
        }
        Ok(Self {
            explanations,
            scores,
        })
    }

    /// The earliest explanation of `unit` that `matches`.
    fn explanation(
        &self,
        unit: u64,
        matches: impl Fn(&Explanation) -> bool,
    ) -> Option<&Explanation> {
        self.explanations.get(&unit)?.iter().find(|e| matches(e))
    }

    /// The latest score of `explanation` on exactly `records`.
    fn score(&self, explanation: &Explanation, records: &[u64]) -> Option<&Score> {
        (self.scores.get(&explanation.explanation_id)?.iter())
            .filter(|s| s.record_ids == records)
            .max_by(|a, b| (a.created_at_ms, &a.score_id).cmp(&(b.created_at_ms, &b.score_id)))
    }
}

/// The method of an explanation made from `selection` records: the standard
/// one's own where it is the standard explanation.
fn shown_method(selection: Selection, count: usize, window: Option<usize>, plan: &Plan) -> String {
    if selection == Selection::Top && count == plan.records_shown && window.is_none() {
        return EXPLAIN_METHOD.to_owned();
    }
    let mut method = format!("evidence-{}-{count}", selection.as_str());
    if let Some(w) = window {
        let _ = write!(method, "-window-{w}");
    }
    method
}

/// The next step of `recipe` for `unit`.
fn step(unit: &UnitRecords, recipe: Recipe, plan: &Plan, top_bin: u32, known: &Known) -> Step {
    let test_score = |e: &Explanation, shown: usize| match known.score(e, &unit.test) {
        Some(s) => Step::Done(e.clone(), shown, Box::new(s.clone())),
        None => Step::ScoreTest(e.clone(), shown),
    };
    // An explanation made by `method` from exactly `evidence`, not a revision.
    let made = |method: &str, evidence: &[u64]| {
        known.explanation(unit.unit_id, |e| {
            e.method == method && e.parent_id.is_none() && e.evidence_record_ids == evidence
        })
    };
    let from = |evidence: Vec<&Record>, window: Option<usize>, method: String| {
        if evidence.is_empty() {
            return Step::Unavailable(format!("no records to make it from ({method})"));
        }
        let evidence = ids(&evidence);
        match made(&method, &evidence) {
            Some(e) => test_score(e, e.evidence_record_ids.len()),
            None => Step::Explain {
                evidence,
                window,
                method,
            },
        }
    };
    match recipe {
        Recipe::Shown {
            selection,
            count,
            window,
        } => {
            // The standard explanation (whole or cut) is shown what `explain`
            // shows, even where the unit has too few top records to alternate.
            let standard = shown_method(selection, count, None, plan) == EXPLAIN_METHOD;
            let evidence: Vec<&Record> = if standard {
                unit.get(&unit.standard)
            } else {
                (unit.pool(selection, top_bin).into_iter())
                    .take(count)
                    .collect()
            };
            // A window that cuts nothing makes the same prompt as none.
            let window = window.filter(|&w| evidence.iter().any(|r| r.tokens.len() > w));
            from(
                evidence,
                window,
                shown_method(selection, count, window, plan),
            )
        }
        Recipe::ReExplanation => {
            let fresh: Vec<&Record> = (unit.pool(Selection::Top, top_bin).into_iter())
                .filter(|r| !unit.standard.contains(&r.record_id))
                .take(plan.records_shown)
                .collect();
            from(fresh, None, "re-explanation".into())
        }
        Recipe::Revision(kind) => {
            let Some(first) = made(EXPLAIN_METHOD, &unit.standard) else {
                return Step::Waiting("the standard explanation is missing".into());
            };
            let revised = known.explanation(unit.unit_id, |e| {
                e.method == kind.method()
                    && e.parent_id.as_deref() == Some(first.explanation_id.as_str())
                    && !e
                        .evidence_record_ids
                        .iter()
                        .any(|id| unit.test.contains(id))
            });
            if let Some(e) = revised {
                let new = e.evidence_record_ids.len() - first.evidence_record_ids.len();
                return test_score(e, new);
            }
            let unseen: Vec<&Record> = unit.unseen().collect();
            let evidence = match kind {
                Evidence::Misses => {
                    let mut shown = first.evidence_record_ids.clone();
                    shown.extend(&unit.test);
                    let development = ids(&scoring_records(
                        &unit.records,
                        &shown,
                        RecordSet::TopAndRandom,
                        plan.scored_top,
                        plan.scored_random,
                    ));
                    match known.score(first, &development) {
                        Some(score) => revision::misses(score, &unseen, plan.revision_records),
                        None if development.is_empty() => {
                            return Step::Unavailable(
                                "no records left to find its misses on".into(),
                            );
                        }
                        None => return Step::ScoreDevelopment(first.clone(), development),
                    }
                }
                Evidence::RandomNonZero => {
                    revision::random_non_zero(&unseen, plan.revision_records)
                }
            };
            if evidence.is_empty() {
                return Step::Unavailable(format!(
                    "no records to revise it from ({})",
                    kind.method()
                ));
            }
            Step::Revise {
                first: first.clone(),
                evidence: ids(&evidence),
                kind,
            }
        }
    }
}

/// The stages, in the order their inputs are made.
#[derive(Clone, Copy, PartialEq)]
enum Stage {
    Explain,
    ScoreDevelopment,
    Revise,
    ScoreTest,
}

impl Stage {
    const ALL: [Stage; 4] = [
        Self::Explain,
        Self::ScoreDevelopment,
        Self::Revise,
        Self::ScoreTest,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Explain => "explaining",
            Self::ScoreDevelopment => "finding misses",
            Self::Revise => "revising",
            Self::ScoreTest => "scoring",
        }
    }

    fn of(step: &Step) -> Option<Stage> {
        match step {
            Step::Explain { .. } => Some(Self::Explain),
            Step::ScoreDevelopment(..) => Some(Self::ScoreDevelopment),
            Step::Revise { .. } => Some(Self::Revise),
            Step::ScoreTest(..) => Some(Self::ScoreTest),
            Step::Waiting(_) | Step::Unavailable(_) | Step::Done(..) => None,
        }
    }
}

/// The highest quantile bin of the dataset's selection: lower-quantile
/// records come from the bins below it.
fn top_bin(ds: &Dataset) -> u32 {
    let levels = (ds.manifest().selection.as_ref()).map_or(0, |s| s.quantile_levels.len());
    levels.saturating_sub(1) as u32
}

/// Every condition's next step for every unit.
fn steps(
    ds: &Dataset,
    units: &[UnitRecords],
    plan: &Plan,
    models: (&str, (&str, &str)),
) -> Result<Vec<Vec<Step>>> {
    let known = Known::read(ds, models.0, models.1)?;
    let top_bin = top_bin(ds);
    Ok((units.iter())
        .map(|u| {
            (plan.conditions.iter())
                .map(|c| step(u, c.recipe, plan, top_bin, &known))
                .collect()
        })
        .collect())
}

/// Makes what is missing for `units` under every condition of `plan`, stage
/// by stage, appending each stage's explanations or scores to the dataset in
/// chunks. `progress` hears the stage, what is done and how much there is.
pub async fn run(
    ds: &Dataset,
    explainer: &Explainer<'_>,
    simulator: &Simulator<'_>,
    units: &[u64],
    plan: &Plan,
    mut progress: impl FnMut(&str, usize, usize),
) -> Result<BatchOutcome> {
    let units: Vec<UnitRecords> = (units.iter())
        .map(|&u| UnitRecords::load(ds, u, plan))
        .collect::<Result<_>>()?;
    let models = (
        explainer.backend.model(),
        (simulator.backend.model(), simulator.method()),
    );
    let mut outcome = BatchOutcome::default();
    for stage in Stage::ALL {
        let all = steps(ds, &units, plan, models)?;
        // Two conditions that need the same thing (the same explanation, or
        // the development score two revisions share) ask for it once.
        let mut seen = HashSet::new();
        let mut todo: Vec<(&UnitRecords, Step)> = Vec::new();
        for (unit, steps) in units.iter().zip(all) {
            for step in steps {
                if Stage::of(&step) != Some(stage) {
                    continue;
                }
                let key = match &step {
                    Step::Explain { method, .. } => method.clone(),
                    Step::ScoreDevelopment(e, _) | Step::ScoreTest(e, _) => {
                        e.explanation_id.clone()
                    }
                    Step::Revise { kind, .. } => kind.method().to_owned(),
                    _ => unreachable!("only steps of this stage"),
                };
                if seen.insert((unit.unit_id, key)) {
                    todo.push((unit, step));
                }
            }
        }
        let total = todo.len();
        progress(stage.name(), 0, total);
        let results = futures::stream::iter(todo)
            .map(|(unit, step)| async move {
                let result = async {
                    match step {
                        Step::Explain {
                            evidence,
                            window,
                            method,
                        } => {
                            let e = explainer
                                .explain_from(unit.unit_id, &unit.get(&evidence), window, &method)
                                .await?;
                            Ok(Made::Explanation(e))
                        }
                        Step::Revise {
                            first,
                            evidence,
                            kind,
                        } => {
                            let e = explainer
                                .revise_with(&first, &unit.get(&evidence), kind)
                                .await?;
                            Ok(Made::Explanation(e))
                        }
                        Step::ScoreDevelopment(e, records) => Ok(Made::Score(
                            simulator
                                .score_on(&e, &unit.get(&records), RecordSet::TopAndRandom)
                                .await?,
                        )),
                        Step::ScoreTest(e, _) => Ok(Made::Score(
                            simulator
                                .score_on(&e, &unit.get(&unit.test), RecordSet::TopAndRandom)
                                .await?,
                        )),
                        _ => unreachable!("only steps of this stage"),
                    }
                };
                let result: std::result::Result<Made, EngineError> = result.await;
                (unit.unit_id, result.map(|made| vec![made]))
            })
            .buffer_unordered(match stage {
                Stage::Explain | Stage::Revise => explainer.backend.concurrency(),
                _ => simulator.backend.concurrency(),
            });
        collect_in_chunks(
            results,
            |made: &[Made]| append(ds, made),
            &mut outcome,
            |done| progress(stage.name(), done, total),
        )
        .await?;
    }
    Ok(outcome)
}

/// An explanation or a score, as a stage makes them.
enum Made {
    Explanation(Explanation),
    Score(Score),
}

fn append(ds: &Dataset, made: &[Made]) -> Result<PathBuf, crate::dataset::DatasetError> {
    let mut explanations = Vec::new();
    let mut scores = Vec::new();
    for m in made {
        match m {
            Made::Explanation(e) => explanations.push(e.clone()),
            Made::Score(s) => scores.push(s.clone()),
        }
    }
    // A stage makes one kind.
    if scores.is_empty() {
        ds.append_explanations(&explanations)
    } else {
        ds.append_scores(&scores)
    }
}

/// How one unit fared under one condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Scored(f64),
    /// Scored, but the score is undefined (a constant simulation).
    Undefined,
    /// Not made yet (a failure, or an interrupted run): why.
    Missing(String),
    /// Cannot be made: the unit lacks the records it needs (say, random
    /// records on which it fires): why.
    Unavailable(String),
}

/// One unit under one condition.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitResult {
    pub unit_id: u64,
    pub condition: usize,
    pub explanation_id: Option<String>,
    /// Records shown to make it (new records, for a revision).
    pub shown: Option<usize>,
    pub outcome: Outcome,
}

/// Every unit's outcome under every condition, as the dataset holds them.
fn unit_results(
    ds: &Dataset,
    units: &[UnitRecords],
    plan: &Plan,
    models: (&str, (&str, &str)),
) -> Result<Vec<UnitResult>> {
    let all = steps(ds, units, plan, models)?;
    let mut out = Vec::new();
    for (unit, steps) in units.iter().zip(all) {
        for (condition, step) in steps.into_iter().enumerate() {
            let (made, outcome) = match step {
                Step::Done(e, shown, s) => (
                    Some((e, shown)),
                    s.score.map_or(Outcome::Undefined, Outcome::Scored),
                ),
                Step::ScoreTest(e, shown) => (
                    Some((e, shown)),
                    Outcome::Missing("no held-out score yet".into()),
                ),
                Step::Waiting(why) => (None, Outcome::Missing(why)),
                Step::Unavailable(why) => (None, Outcome::Unavailable(why)),
                _ => (None, Outcome::Missing("not made yet".into())),
            };
            let (explanation_id, shown) = made.map(|(e, n)| (e.explanation_id, n)).unzip();
            out.push(UnitResult {
                unit_id: unit.unit_id,
                condition,
                explanation_id,
                shown,
                outcome,
            });
        }
    }
    Ok(out)
}

/// One condition's scores.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ConditionSummary {
    #[serde(flatten)]
    pub condition: Condition,
    /// Units with a defined score: what the mean is over.
    pub n: usize,
    /// Units whose score is undefined (a constant simulation), left out.
    pub undefined: usize,
    /// Units with no explanation or no held-out score yet.
    pub missing: usize,
    /// Units that lack the records the condition needs.
    pub unavailable: usize,
    pub mean: Option<f64>,
    /// The bootstrap interval of the mean at [`LEVEL`].
    pub interval: Option<(f64, f64)>,
    /// Records shown per explanation on average (new ones, for a revision).
    pub mean_shown: Option<f64>,
    /// Against the baseline, over the units both score.
    pub versus_baseline: Option<Difference>,
}

/// A condition's score minus the baseline's, unit by unit.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Difference {
    pub pairs: usize,
    pub mean: Option<f64>,
    /// The bootstrap interval of the mean difference at [`LEVEL`].
    pub interval: Option<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    pub explainer: String,
    pub simulator: String,
    pub simulation_method: String,
    pub plan: Plan,
    pub sampled: Vec<u64>,
    pub level: f64,
    pub conditions: Vec<ConditionSummary>,
}

impl Summary {
    /// Unit results missing under some condition.
    pub fn missing(&self) -> usize {
        missing(&self.conditions)
    }
}

/// Unit results missing under some of `conditions`.
pub fn missing(conditions: &[ConditionSummary]) -> usize {
    conditions.iter().map(|c| c.missing).sum()
}

fn scored(outcome: &Outcome) -> Option<f64> {
    match outcome {
        Outcome::Scored(v) => Some(*v),
        _ => None,
    }
}

/// Each condition's mean and interval, and its paired difference from the
/// baseline. Each interval draws its resamples with its own seed, derived
/// from the plan's.
pub fn summarise(results: &[UnitResult], plan: &Plan) -> Vec<ConditionSummary> {
    let of = |c: usize| results.iter().filter(move |r| r.condition == c);
    let baseline: HashMap<u64, f64> = plan.baseline.map_or_else(HashMap::new, |b| {
        of(b)
            .filter_map(|r| Some((r.unit_id, scored(&r.outcome)?)))
            .collect()
    });
    (plan.conditions.iter().enumerate())
        .map(|(c, condition)| {
            let values: Vec<f64> = of(c).filter_map(|r| scored(&r.outcome)).collect();
            let shown: Vec<f64> = of(c).filter_map(|r| r.shown).map(|n| n as f64).collect();
            let seed = plan.seed ^ (2 * c as u64 + 1);
            let versus_baseline = (plan.baseline.is_some_and(|b| b != c)).then(|| {
                let differences: Vec<f64> = of(c)
                    .filter_map(|r| Some(scored(&r.outcome)? - baseline.get(&r.unit_id)?))
                    .collect();
                Difference {
                    pairs: differences.len(),
                    mean: mean(&differences),
                    interval: bootstrap_mean_interval(
                        &differences,
                        plan.resamples,
                        LEVEL,
                        seed + 1,
                    ),
                }
            });
            ConditionSummary {
                condition: condition.clone(),
                n: values.len(),
                undefined: of(c).filter(|r| r.outcome == Outcome::Undefined).count(),
                missing: of(c)
                    .filter(|r| matches!(r.outcome, Outcome::Missing(_)))
                    .count(),
                unavailable: of(c)
                    .filter(|r| matches!(r.outcome, Outcome::Unavailable(_)))
                    .count(),
                mean: mean(&values),
                interval: bootstrap_mean_interval(&values, plan.resamples, LEVEL, seed),
                mean_shown: mean(&shown),
                versus_baseline,
            }
        })
        .collect()
}

/// The figure: one bar per condition of `conditions` (summarised over
/// `units` units) with its interval, labelled by what varies and its value.
pub fn condition_bars(conditions: &[ConditionSummary], units: usize, title: &str) -> GroupedBars {
    GroupedBars {
        title: format!(
            "{title} ({units} units, {:.0}% bootstrap intervals)",
            LEVEL * 100.0
        ),
        y_label: "mean held-out score (correlation)".into(),
        series: vec![RecordSet::TopAndRandom.as_str().to_owned()],
        groups: (conditions.iter())
            .map(|c| {
                let bar = c.mean.map(|mean| Bar::new(mean, c.interval));
                (
                    vec![c.condition.group.clone(), c.condition.label.clone()],
                    vec![bar],
                )
            })
            .collect(),
    }
}

/// `units.csv`: one row per unit and condition.
pub(super) fn units_csv(plan: &Plan, results: &[UnitResult]) -> String {
    let mut csv = String::from(
        "condition,group,label,unit_id,explanation_id,records_shown,outcome,score,reason\n",
    );
    for r in results {
        let c = &plan.conditions[r.condition];
        let (outcome, score, reason) = match &r.outcome {
            Outcome::Scored(v) => ("scored", v.to_string(), ""),
            Outcome::Undefined => ("undefined", String::new(), ""),
            Outcome::Missing(why) => ("missing", String::new(), why.as_str()),
            Outcome::Unavailable(why) => ("unavailable", String::new(), why.as_str()),
        };
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{outcome},{score},{}",
            r.condition,
            csv_field(&c.group),
            csv_field(&c.label),
            r.unit_id,
            csv_field(r.explanation_id.as_deref().unwrap_or("")),
            r.shown.map_or(String::new(), |n| n.to_string()),
            csv_field(reason),
        );
    }
    csv
}

/// Every unit's outcome under every condition of `plan`, as the dataset
/// holds them for these models.
pub(super) fn outcomes(
    ds: &Dataset,
    units: &[u64],
    explainer: &Explainer<'_>,
    simulator: &Simulator<'_>,
    plan: &Plan,
) -> Result<Vec<UnitResult>> {
    let unit_records: Vec<UnitRecords> = (units.iter())
        .map(|&u| UnitRecords::load(ds, u, plan))
        .collect::<Result<_>>()?;
    let models = (
        explainer.backend.model(),
        (simulator.backend.model(), simulator.method()),
    );
    unit_results(ds, &unit_records, plan, models)
}

/// Summarises what the dataset at `path` holds for `units` under `plan` and
/// writes `units.csv`, `summary.json` and `figure.svg` into its results
/// folder, `title` heading the figure.
pub fn publish(
    path: &Path,
    units: &[u64],
    explainer: &Explainer<'_>,
    simulator: &Simulator<'_>,
    plan: &Plan,
    title: &str,
) -> Result<(Summary, PathBuf)> {
    let ds = Dataset::open(path)?;
    let results = outcomes(&ds, units, explainer, simulator, plan)?;
    let summary = Summary {
        explainer: explainer.backend.model().to_owned(),
        simulator: simulator.backend.model().to_owned(),
        simulation_method: simulator.method().to_owned(),
        plan: plan.clone(),
        sampled: units.to_vec(),
        level: LEVEL,
        conditions: summarise(&results, plan),
    };
    let mut files = Results::default();
    files.add("units.csv", units_csv(plan, &results));
    files.add("summary.json", serde_json::to_vec_pretty(&summary)?);
    files.add(
        "figure.svg",
        condition_bars(&summary.conditions, units.len(), title).svg(),
    );
    let folder = files.publish(path, &plan.name)?;
    Ok((summary, folder))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u64, sample: Sample, rank: u32) -> Record {
        Record {
            record_id: id,
            unit_id: 0,
            sample,
            rank,
            document_id: None,
            token_offset: None,
            tokens: vec!["a".into(), "b".into()],
            activations: vec![0.0, 1.0],
        }
    }

    /// 15 top records: 8 at even positions, so the standard explanation
    /// shows 8 even where 10 are asked for; the study's standard condition
    /// and its revisions find that explanation, the one `explain` makes.
    #[test]
    fn too_few_top_records_still_give_the_standard_explanation() {
        let mut records: Vec<Record> = (0..15).map(|r| record(r, Sample::Top, r as u32)).collect();
        records.extend((0..10).map(|r| record(100 + r, Sample::Random, r as u32)));
        let plan = Plan {
            name: "t".into(),
            units: 1,
            seed: 0,
            records_shown: 10,
            scored_top: 5,
            scored_random: 5,
            revision_records: 4,
            resamples: 10,
            conditions: revision_conditions(10),
            baseline: Some(0),
        };
        let shown = ids(&explanation_records(&records, 10));
        assert_eq!(shown.len(), 8);
        let test = ids(&scoring_records(
            &records,
            &shown,
            RecordSet::TopAndRandom,
            5,
            5,
        ));
        let unit = UnitRecords {
            unit_id: 0,
            records,
            standard: shown.clone(),
            test,
        };
        let mut known = Known {
            explanations: HashMap::new(),
            scores: HashMap::new(),
        };
        match step(&unit, standard(10), &plan, 4, &known) {
            Step::Explain { evidence, .. } => assert_eq!(evidence, shown),
            _ => panic!("the standard explanation is to be made"),
        }
        let revision = Recipe::Revision(Evidence::Misses);
        assert!(matches!(
            step(&unit, revision, &plan, 4, &known),
            Step::Waiting(_)
        ));
        let first = Explanation {
            explanation_id: "first".into(),
            unit_id: 0,
            text: "a".into(),
            explainer_model: "m".into(),
            method: EXPLAIN_METHOD.into(),
            parent_id: None,
            evidence_record_ids: shown,
            created_at_ms: 0,
        };
        known.explanations.insert(0, vec![first]);
        assert!(matches!(
            step(&unit, standard(10), &plan, 4, &known),
            Step::ScoreTest(..)
        ));
        assert!(matches!(
            step(&unit, revision, &plan, 4, &known),
            Step::ScoreDevelopment(..)
        ));
    }
}
