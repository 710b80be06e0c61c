//! Which records explain a unit and which score an explanation. Explanation
//! texts and scoring texts never overlap: the explainer sees top records at
//! even ranks (0, 2, 4, …); scoring uses the other top records and random ones,
//! and skips anything the explanation was shown.
use crate::dataset::{Record, Sample};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The records an explanation is scored on (Bills et al.: top-and-random is
/// the main score; random-only has high variance, top-only rewards broad
/// explanations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordSet {
    TopAndRandom,
    TopOnly,
    RandomOnly,
}

impl RecordSet {
    pub const ALL: [RecordSet; 3] = [Self::TopAndRandom, Self::TopOnly, Self::RandomOnly];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TopAndRandom => "top-and-random",
            Self::TopOnly => "top-only",
            Self::RandomOnly => "random-only",
        }
    }
}

impl fmt::Display for RecordSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RecordSet {
    type Err = crate::names::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::names::pick(
            &Self::ALL,
            Self::as_str,
            "record set",
            s,
            "top-and-random, top-only or random-only",
        )
    }
}

fn top_by_rank(records: &[Record]) -> Vec<&Record> {
    let mut top: Vec<&Record> = records.iter().filter(|r| r.sample == Sample::Top).collect();
    top.sort_by_key(|r| r.rank);
    top
}

/// Up to `count` top records for the explainer: even ranks, strongest first.
pub fn explanation_records(records: &[Record], count: usize) -> Vec<&Record> {
    top_by_rank(records)
        .into_iter()
        .step_by(2)
        .take(count)
        .collect()
}

/// Up to `top` top and `random` random records to score on, none of them in
/// `evidence` (the records the explanation was made from).
pub fn scoring_records<'a>(
    records: &'a [Record],
    evidence: &[u64],
    set: RecordSet,
    top: usize,
    random: usize,
) -> Vec<&'a Record> {
    let unseen = |r: &&Record| !evidence.contains(&r.record_id);
    let mut chosen = Vec::new();
    if set != RecordSet::RandomOnly {
        // Odd ranks first: they interleave with the explanation's even ones.
        let ranked = top_by_rank(records);
        let (odd, even): (Vec<&Record>, Vec<&Record>) =
            ranked.into_iter().partition(|r| r.rank % 2 == 1);
        chosen.extend(odd.into_iter().chain(even).filter(unseen).take(top));
    }
    if set != RecordSet::TopOnly {
        let mut randoms: Vec<&Record> = records
            .iter()
            .filter(|r| r.sample == Sample::Random)
            .collect();
        randoms.sort_by_key(|r| r.rank);
        chosen.extend(randoms.into_iter().filter(unseen).take(random));
    }
    chosen
}

/// The `window` positions of a record with these activations that hold its
/// peak (the first maximum) three quarters of the way in: a causal model's
/// activation depends on what comes before. The whole record when shorter.
pub fn peak_window(activations: &[f32], window: usize) -> std::ops::Range<usize> {
    let len = activations.len();
    if window >= len {
        return 0..len;
    }
    let peak = (activations.iter().enumerate())
        .fold((0, f32::NEG_INFINITY), |best, (i, &a)| {
            if a > best.1 { (i, a) } else { best }
        })
        .0;
    let start = (peak + 1 + window / 4)
        .saturating_sub(window)
        .min(len - window);
    start..start + window
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
            tokens: vec!["a".into()],
            activations: vec![1.0],
        }
    }

    fn unit() -> Vec<Record> {
        let mut records: Vec<Record> = (0..10).map(|r| record(r as u64, Sample::Top, r)).collect();
        records.extend((0..6).map(|r| record(100 + r as u64, Sample::Random, r)));
        records.push(record(200, Sample::Quantile(1), 0));
        records
    }

    #[test]
    fn explanation_and_scoring_records_never_overlap() {
        let records = unit();
        let evidence: Vec<u64> = explanation_records(&records, 5)
            .iter()
            .map(|r| r.record_id)
            .collect();
        assert_eq!(evidence, vec![0, 2, 4, 6, 8]);
        for set in RecordSet::ALL {
            for (top, random) in [(5, 5), (10, 10), (3, 0)] {
                let scored = scoring_records(&records, &evidence, set, top, random);
                assert!(
                    scored.iter().all(|r| !evidence.contains(&r.record_id)),
                    "{set} {top} {random}"
                );
            }
        }
        let ids = |v: Vec<&Record>| v.iter().map(|r| r.record_id).collect::<Vec<_>>();
        assert_eq!(
            ids(scoring_records(
                &records,
                &evidence,
                RecordSet::TopAndRandom,
                5,
                5
            )),
            vec![1, 3, 5, 7, 9, 100, 101, 102, 103, 104]
        );
        assert_eq!(
            ids(scoring_records(
                &records,
                &evidence,
                RecordSet::TopOnly,
                5,
                5
            )),
            vec![1, 3, 5, 7, 9]
        );
        assert_eq!(
            ids(scoring_records(
                &records,
                &evidence,
                RecordSet::RandomOnly,
                5,
                2
            )),
            vec![100, 101]
        );
    }

    #[test]
    fn a_window_holds_the_peak_three_quarters_in() {
        let mut activations = vec![0.0; 32];
        activations[20] = 3.0;
        activations[25] = 3.0; // a later equal maximum is not the peak
        assert_eq!(peak_window(&activations, 16), 9..25);
        assert_eq!(peak_window(&activations, 8), 15..23);
        // Near either end the window stays inside the record.
        activations[2] = 9.0;
        assert_eq!(peak_window(&activations, 16), 0..16);
        activations[31] = 10.0;
        assert_eq!(peak_window(&activations, 16), 16..32);
        assert_eq!(peak_window(&activations, 64), 0..32);
    }

    #[test]
    fn record_sets_parse_by_name() {
        assert_eq!("top-only".parse::<RecordSet>(), Ok(RecordSet::TopOnly));
        assert!("all".parse::<RecordSet>().is_err());
    }
}
