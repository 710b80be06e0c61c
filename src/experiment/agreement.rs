//! Does the score agree with people? (Bills et al.'s validation of their
//! scoring.) Each rated score's latest 1–5 rating, paired with the score,
//! and Spearman's rank correlation between the two.
use super::figure::Scatter;
use super::results::csv_field;
use super::stats::spearman;
use super::{Result, Results};
use crate::dataset::Dataset;
use std::collections::HashMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The experiment's name: its folder under `DATASET/experiments/`.
pub const NAME: &str = "ratings";

/// One rated score.
#[derive(Debug, Clone, PartialEq)]
pub struct RatedScore {
    pub unit_id: u64,
    pub score_id: String,
    pub record_set: String,
    pub rating: u32,
    pub score: f64,
}

/// The scores of one rating level.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RatingLevel {
    pub rating: u32,
    pub n: usize,
    pub mean_score: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Agreement {
    /// Rated scores with a defined score: the pairs correlated.
    pub n: usize,
    /// Spearman's ρ between rating and score; `None` below two pairs or
    /// when either side is constant.
    pub spearman: Option<f64>,
    /// Rated scores whose score is undefined (a constant simulation), left out.
    pub undefined_scores: usize,
    pub by_rating: Vec<RatingLevel>,
}

/// Pairs each rated score with its latest rating (the last given, the
/// later row on equal times) and correlates them.
pub fn rating_agreement(ds: &Dataset) -> Result<(Vec<RatedScore>, Agreement)> {
    let mut latest: HashMap<String, (i64, u32)> = HashMap::new();
    for r in ds.ratings()? {
        let entry = latest
            .entry(r.score_id)
            .or_insert((r.created_at_ms, r.rating));
        if r.created_at_ms >= entry.0 {
            *entry = (r.created_at_ms, r.rating);
        }
    }
    let mut points = Vec::new();
    let mut undefined_scores = 0;
    for s in ds.scores()? {
        let Some(&(_, rating)) = latest.get(&s.score_id) else {
            continue;
        };
        match s.score {
            Some(score) => points.push(RatedScore {
                unit_id: s.unit_id,
                score_id: s.score_id,
                record_set: s.record_set,
                rating,
                score,
            }),
            None => undefined_scores += 1,
        }
    }
    points.sort_by(|a, b| (a.unit_id, &a.score_id).cmp(&(b.unit_id, &b.score_id)));
    let ratings: Vec<f64> = points.iter().map(|p| p.rating as f64).collect();
    let scores: Vec<f64> = points.iter().map(|p| p.score).collect();
    let by_rating = (1..=5)
        .filter_map(|rating| {
            let of: Vec<f64> = (points.iter().filter(|p| p.rating == rating))
                .map(|p| p.score)
                .collect();
            (!of.is_empty()).then(|| RatingLevel {
                rating,
                n: of.len(),
                mean_score: of.iter().sum::<f64>() / of.len() as f64,
            })
        })
        .collect();
    let agreement = Agreement {
        n: points.len(),
        spearman: spearman(&ratings, &scores),
        undefined_scores,
        by_rating,
    };
    Ok((points, agreement))
}

/// The figure: score against rating, one point per rated score.
pub fn scatter(points: &[RatedScore], agreement: &Agreement) -> Scatter {
    let rho = agreement
        .spearman
        .map_or("undefined".into(), |r| format!("{r:.3}"));
    Scatter {
        title: format!(
            "Score against rating: Spearman ρ = {rho}, n = {}",
            agreement.n
        ),
        x_label: "rating (1 = no match, 5 = exact)".into(),
        y_label: "score (correlation)".into(),
        x_bounds: (0.5, 5.5),
        y_bounds: (-1.0, 1.0),
        points: points.iter().map(|p| (p.rating as f64, p.score)).collect(),
    }
}

/// Runs the experiment on the dataset at `path` and writes `points.csv`,
/// `summary.json` and `figure.svg` into its results folder.
pub fn run(path: &Path) -> Result<(Agreement, Scatter, PathBuf)> {
    let ds = Dataset::open(path)?;
    let (points, agreement) = rating_agreement(&ds)?;
    let figure = scatter(&points, &agreement);
    let mut csv = String::from("unit_id,score_id,record_set,rating,score\n");
    for p in &points {
        let _ = writeln!(
            csv,
            "{},{},{},{},{}",
            p.unit_id,
            csv_field(&p.score_id),
            csv_field(&p.record_set),
            p.rating,
            p.score
        );
    }
    let mut results = Results::default();
    results.add("points.csv", csv);
    results.add("summary.json", serde_json::to_vec_pretty(&agreement)?);
    results.add("figure.svg", figure.svg());
    let folder = results.publish(path, NAME)?;
    Ok((agreement, figure, folder))
}

/// How two scoring methods agree: Spearman's rank correlation of the units'
/// best scores by each, over the units both scored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MethodAgreement {
    pub first: String,
    pub second: String,
    pub units: usize,
    pub spearman: Option<f64>,
}

/// The agreement of every pair of methods with scores in `ds` (simulation
/// on `set`).
pub fn method_agreement(
    ds: &Dataset,
    set: crate::interp::records::RecordSet,
) -> Result<Vec<MethodAgreement>> {
    use crate::interp::batch::best_by_unit;
    use crate::interp::classifier::ScoreMethod;
    let scores = ds.scores()?;
    let best: Vec<(ScoreMethod, HashMap<u64, f64>)> = ScoreMethod::ALL
        .into_iter()
        .map(|m| (m, best_by_unit(&scores, m, set)))
        .filter(|(_, b)| !b.is_empty())
        .collect();
    let mut out = Vec::new();
    for (i, (first, a)) in best.iter().enumerate() {
        for (second, b) in &best[i + 1..] {
            let mut units: Vec<u64> = a.keys().filter(|u| b.contains_key(u)).copied().collect();
            units.sort_unstable();
            let x: Vec<f64> = units.iter().map(|u| a[u]).collect();
            let y: Vec<f64> = units.iter().map(|u| b[u]).collect();
            out.push(MethodAgreement {
                first: first.to_string(),
                second: second.to_string(),
                units: units.len(),
                spearman: spearman(&x, &y),
            });
        }
    }
    Ok(out)
}
