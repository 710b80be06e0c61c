//! Revising an explanation, as Bills et al. found works: show the explainer
//! its explanation together with new evidence and ask for a revision. The
//! evidence is either the scored records the simulation got most wrong
//! (strong real activations predicted low, and the reverse), or, the paper's
//! control, random records on which the unit fires.
use super::explainer::{CUE, FewShotExample, ShownRecord, discretize, token_text};
use crate::dataset::{Record, Sample, Score};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// The records where the simulation missed most.
    Misses,
    /// Random records with non-zero activations (the control).
    RandomNonZero,
}

impl std::str::FromStr for Evidence {
    type Err = crate::names::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "misses" => Ok(Self::Misses),
            "random" => Ok(Self::RandomNonZero),
            other => Err(crate::names::UnknownName::new(
                "evidence",
                other,
                "misses or random",
            )),
        }
    }
}

impl Evidence {
    /// The `method` of the revised explanation.
    pub fn method(self) -> &'static str {
        match self {
            Self::Misses => "revision",
            Self::RandomNonZero => "revision-random",
        }
    }
}

/// How badly a simulation missed a record: mean |real − simulated| on the
/// 0–10 scale (real activations scaled by `max`).
fn miss(real: &[f32], simulated: &[f32], max: f32) -> f32 {
    let n = real.len().max(1) as f32;
    real.iter()
        .zip(simulated)
        .map(|(&a, &s)| ((10.0 * a.max(0.0) / max).min(10.0) - s).abs())
        .sum::<f32>()
        / n
}

/// The evidence for revising the explanation scored by `score`: up to
/// `count` of `records`.
pub fn evidence<'a>(
    evidence: Evidence,
    score: &Score,
    records: &[&'a Record],
    count: usize,
) -> Vec<&'a Record> {
    match evidence {
        Evidence::Misses => misses(score, records, count),
        Evidence::RandomNonZero => random_non_zero(records, count),
    }
}

/// Up to `count` of the records `score` simulated (those among `records`),
/// the worst missed first.
pub fn misses<'a>(score: &Score, records: &[&'a Record], count: usize) -> Vec<&'a Record> {
    let max = records
        .iter()
        .flat_map(|r| r.activations.iter().copied())
        .fold(f32::MIN_POSITIVE, f32::max);
    let mut missed: Vec<(f32, &Record)> = score
        .record_ids
        .iter()
        .zip(&score.simulated)
        .filter_map(|(id, sim)| {
            records
                .iter()
                .find(|r| r.record_id == *id)
                .map(|&r| (miss(&r.activations, sim, max), r))
        })
        .collect();
    missed.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.record_id.cmp(&b.1.record_id)));
    missed.into_iter().take(count).map(|(_, r)| r).collect()
}

/// Up to `count` random records of `records` on which the unit fires.
pub fn random_non_zero<'a>(records: &[&'a Record], count: usize) -> Vec<&'a Record> {
    records
        .iter()
        .filter(|r| r.sample == Sample::Random && r.activations.iter().any(|&a| a > 0.0))
        .take(count)
        .copied()
        .collect()
}

/// The revision prompt (completion form): the few-shot examples as in the
/// explainer prompt, then the previous explanation, the evidence, and the cue.
pub fn prompt(examples: &[FewShotExample], previous: &str, records: &[ShownRecord]) -> String {
    let base = super::explainer::prompt(examples, &[]);
    let mut text = format!("{}\n\n", base.system);
    for (user, assistant) in &base.examples {
        text.push_str(&format!("{user}{assistant}\n\n"));
    }
    let n = examples.len() + 1;
    text.push_str(&format!(
        "Neuron {n}\nPrevious explanation of neuron {n} behavior: {CUE} {previous}\n"
    ));
    text.push_str("That explanation predicted these activations poorly. The real activations were:\nActivations:\n");
    for (record, values) in records.iter().zip(discretize(records)) {
        text.push_str("<start>\n");
        for (t, v) in record.tokens.iter().zip(values) {
            text.push_str(&format!("{}\t{v}\n", token_text(t)));
        }
        text.push_str("<end>\n");
    }
    text.push_str(&format!(
        "\nRevised explanation of neuron {n} behavior: {CUE}"
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u64, sample: Sample, activations: &[f32]) -> Record {
        Record {
            record_id: id,
            unit_id: 0,
            sample,
            rank: id as u32,
            document_id: None,
            token_offset: None,
            tokens: vec!["x".into(); activations.len()],
            activations: activations.to_vec(),
        }
    }

    #[test]
    fn the_worst_missed_records_are_the_evidence() {
        let records = [
            record(1, Sample::Top, &[0.0, 5.0]),
            record(2, Sample::Top, &[0.0, 5.0]),
            record(3, Sample::Random, &[0.0, 0.0]),
            record(4, Sample::Random, &[0.0, 1.0]),
        ];
        let score = Score {
            score_id: "s".into(),
            explanation_id: "e".into(),
            unit_id: 0,
            simulator_model: "m".into(),
            method: "m".into(),
            record_set: "top-and-random".into(),
            score: Some(0.1),
            r_squared: None,
            absolute_dev_explained: None,
            record_ids: vec![1, 2, 3],
            // Record 1 predicted well; 2 missed (a strong activation predicted 0); 3 a false alarm.
            simulated: vec![vec![0.0, 10.0], vec![0.0, 0.0], vec![6.0, 0.0]],
            created_at_ms: 0,
        };
        let ids = |v: Vec<&Record>| v.iter().map(|r| r.record_id).collect::<Vec<_>>();
        let records: Vec<&Record> = records.iter().collect();
        assert_eq!(
            ids(evidence(Evidence::Misses, &score, &records, 2)),
            vec![2, 3]
        );
        assert_eq!(
            ids(evidence(Evidence::RandomNonZero, &score, &records, 5)),
            vec![4]
        );
    }

    #[test]
    fn the_prompt_shows_the_previous_explanation_and_ends_with_the_cue() {
        let shown = [ShownRecord {
            tokens: vec!["a".into(), " b".into()],
            activations: vec![0.0, 2.0],
        }];
        let text = prompt(&[], "the letter a", &shown);
        assert!(text.contains("Previous explanation of neuron 1 behavior: the main thing this neuron does is find the letter a\n"));
        assert!(text.contains("<start>\na\t0\n b\t10\n<end>\n"));
        assert!(text.ends_with(
            "Revised explanation of neuron 1 behavior: the main thing this neuron does is find"
        ));
    }
}
