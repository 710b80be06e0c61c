//! What the dataset says about its units besides their records: the
//! explanations, their scores, the ratings of those scores and the
//! ablations published and the logit effects, as the overview read them. The unit list and the
//! unit view both read it.
use featurescope::dataset::{Explanation, LogitEffect, Rating, Score};
use featurescope::experiment::ablation::Ablation;
use std::collections::HashMap;

#[derive(Default)]
pub struct Annotations {
    pub explanations: HashMap<u64, Vec<Explanation>>,
    /// By explanation id.
    pub scores: HashMap<String, Vec<Score>>,
    /// The latest rating of each score, by score id.
    pub ratings: HashMap<String, u32>,
    /// By unit, in the order of their folders' names.
    pub ablations: HashMap<u64, Vec<Ablation>>,
    /// By unit.
    pub logit_effects: HashMap<u64, LogitEffect>,
}

impl Annotations {
    pub fn new(
        explanations: Vec<Explanation>,
        scores: Vec<Score>,
        mut ratings: Vec<Rating>,
        ablations: Vec<Ablation>,
        logit_effects: Vec<LogitEffect>,
    ) -> Self {
        let mut by_ablated: HashMap<u64, Vec<Ablation>> = HashMap::new();
        for a in ablations {
            by_ablated.entry(a.plan.unit_id).or_default().push(a);
        }
        ratings.sort_by_key(|r| r.created_at_ms);
        let mut by_explanation: HashMap<String, Vec<Score>> = HashMap::new();
        for s in scores {
            by_explanation
                .entry(s.explanation_id.clone())
                .or_default()
                .push(s);
        }
        let mut by_unit: HashMap<u64, Vec<Explanation>> = HashMap::new();
        for e in explanations {
            by_unit.entry(e.unit_id).or_default().push(e);
        }
        Self {
            explanations: by_unit,
            scores: by_explanation,
            ratings: ratings
                .into_iter()
                .map(|r| (r.score_id, r.rating))
                .collect(),
            ablations: by_ablated,
            logit_effects: logit_effects.into_iter().map(|e| (e.unit_id, e)).collect(),
        }
    }

    /// The unit's explanations, oldest first.
    pub fn explanations_of(&self, unit_id: u64) -> &[Explanation] {
        self.explanations
            .get(&unit_id)
            .map_or(&[][..], Vec::as_slice)
    }

    /// The simulation scores of `e` (those real vs simulated can show).
    fn simulations(&self, e: &Explanation) -> impl Iterator<Item = &Score> {
        self.scores
            .get(&e.explanation_id)
            .into_iter()
            .flatten()
            .filter(|s| s.is_simulation())
    }

    /// The simulation scores of the unit's explanations, in explanation order.
    pub fn unit_scores(&self, unit_id: u64) -> Vec<(&Explanation, &Score)> {
        self.explanations_of(unit_id)
            .iter()
            .flat_map(|e| self.simulations(e).map(move |s| (e, s)))
            .collect()
    }

    /// The best simulation score of `e`: correlations are only comparable
    /// among themselves.
    fn best_score(&self, e: &Explanation) -> Option<f64> {
        self.simulations(e)
            .filter_map(|s| s.score)
            .fold(None, |best: Option<f64>, s| {
                Some(best.map_or(s, |b| b.max(s)))
            })
    }

    /// The unit's best-scored explanation (the latest, when none is scored)
    /// and its score: what the unit list shows.
    pub fn headline(&self, unit_id: u64) -> (Option<String>, Option<f64>) {
        let best = self.explanations_of(unit_id).iter().max_by(|a, b| {
            let key = |e: &Explanation| (self.best_score(e).unwrap_or(f64::MIN), e.created_at_ms);
            key(a)
                .partial_cmp(&key(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        (
            best.map(|e| e.text.clone()),
            best.and_then(|e| self.best_score(e)),
        )
    }
}
