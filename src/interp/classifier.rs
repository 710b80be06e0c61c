//! Scores that treat an explanation (or a unit) as a classifier of texts,
//! after EleutherAI's Delphi: *detection* (does the explanation apply to
//! this text?), *fuzzing* (are the marked tokens what the explanation
//! says?), *intruder* (which of these texts is not like the others?) and the
//! *embedding* score (does the explanation's embedding sit nearer the
//! activating texts?). This module holds the pure parts: which records are
//! shown, how they are marked, the prompts, how replies are read, and the
//! metrics, computed as Delphi's `delphi/log/result_analysis.py` does.
use super::delphi_prompts as delphi;
use super::explainer::{ChatPrompt, token_text};
use super::simulator::ChatTokenLogprob;
use crate::dataset::{Record, Sample};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// How an explanation is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreMethod {
    /// Bills et al.: simulate the activations, correlate with the real ones.
    Simulation,
    Detection,
    Fuzz,
    Embedding,
    Intruder,
}

impl ScoreMethod {
    pub const ALL: [ScoreMethod; 5] = [
        Self::Simulation,
        Self::Detection,
        Self::Fuzz,
        Self::Embedding,
        Self::Intruder,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simulation => "simulation",
            Self::Detection => "detection",
            Self::Fuzz => "fuzz",
            Self::Embedding => "embedding",
            Self::Intruder => "intruder",
        }
    }

    /// The method of a stored score: the classifier methods are stored
    /// under their own names, simulation under its variant
    /// (`all-at-once-logprobs`, `imported`, …).
    pub fn of_stored(method: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == method)
            .unwrap_or(Self::Simulation)
    }

    /// What the headline `score` of this method is.
    pub fn headline(self) -> &'static str {
        match self {
            Self::Simulation => "correlation",
            Self::Detection | Self::Fuzz => "balanced accuracy",
            Self::Embedding => "ROC-AUC",
            Self::Intruder => "accuracy",
        }
    }
}

impl fmt::Display for ScoreMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ScoreMethod {
    type Err = crate::names::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                crate::names::UnknownName::new(
                    "score method",
                    s,
                    "simulation, detection, fuzz, embedding or intruder",
                )
            })
    }
}

/// The record set written for the classifier methods: activating records
/// drawn across quantiles of their maxima, and as many random ones.
pub const QUANTILES_AND_RANDOM: &str = "quantiles-and-random";

/// Which examples are shown and how (Delphi's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClassifierParams {
    /// Activating records are split into this many quantiles of their maxima…
    pub quantiles: usize,
    /// …and up to this many drawn from each.
    pub per_quantile: usize,
    /// Examples per prompt.
    pub shown: usize,
    /// Tokens at or above this fraction of their record's maximum are marked.
    pub threshold: f32,
    pub seed: u64,
}

impl Default for ClassifierParams {
    fn default() -> Self {
        Self {
            quantiles: 10,
            per_quantile: 5,
            shown: 5,
            threshold: 0.3,
            seed: 42,
        }
    }
}

/// One text shown to the scorer.
#[derive(Debug, Clone, PartialEq)]
pub struct TestExample<'r> {
    pub record: &'r Record,
    /// The truth: drawn from the unit's activating records (top and
    /// quantile records), or from its random ones.
    pub activating: bool,
    /// Among the activating records, the quantile of its maximum (0 the strongest).
    pub quantile: Option<usize>,
}

fn shuffle<T>(items: &mut [T], rng: &mut SmallRng) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.random_range(0..=i));
    }
}

/// `items` in `parts` contiguous parts whose sizes differ by at most one,
/// the longer ones first (numpy's `array_split`).
fn split_evenly<T>(items: &[T], parts: usize) -> Vec<&[T]> {
    let (base, extra) = (items.len() / parts, items.len() % parts);
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    for part in 0..parts {
        let len = base + usize::from(part < extra);
        out.push(&items[start..start + len]);
        start += len;
    }
    out
}

/// The examples a unit is scored on, in the order they are shown: its
/// activating records not in `evidence` (what the explanation was made
/// from), sorted by maximum, split into `quantiles` and up to
/// `per_quantile` drawn from each; then as many of its random records; all
/// shuffled. Seeded by `params.seed` and the unit, so a rerun shows the same.
pub fn test_examples<'r>(
    records: &'r [Record],
    evidence: &[u64],
    params: &ClassifierParams,
) -> Vec<TestExample<'r>> {
    let unit = records.first().map_or(0, |r| r.unit_id);
    let mut rng = SmallRng::seed_from_u64(params.seed ^ unit.rotate_left(32));
    let unseen = |r: &&Record| !evidence.contains(&r.record_id);
    let mut activating: Vec<&Record> = records
        .iter()
        .filter(|r| r.sample != Sample::Random)
        .filter(unseen)
        .collect();
    activating.sort_by(|a, b| {
        b.max_activation()
            .total_cmp(&a.max_activation())
            .then(a.record_id.cmp(&b.record_id))
    });
    let mut examples = Vec::new();
    for (quantile, part) in split_evenly(&activating, params.quantiles.max(1))
        .into_iter()
        .enumerate()
    {
        let mut part = part.to_vec();
        shuffle(&mut part, &mut rng);
        examples.extend(
            part.into_iter()
                .take(params.per_quantile)
                .map(|record| TestExample {
                    record,
                    activating: true,
                    quantile: Some(quantile),
                }),
        );
    }
    let mut random: Vec<&Record> = records
        .iter()
        .filter(|r| r.sample == Sample::Random)
        .filter(unseen)
        .collect();
    random.sort_by_key(|r| r.rank);
    let count = examples.len();
    examples.extend(random.into_iter().take(count).map(|record| TestExample {
        record,
        activating: false,
        quantile: None,
    }));
    shuffle(&mut examples, &mut rng);
    examples
}

/// `tokens` as one line of text, each run of tokens for which `marked`
/// holds between `<<` and `>>` (Delphi's `_highlight`).
pub fn highlight(tokens: &[String], marked: impl Fn(usize) -> bool) -> String {
    let mut out = String::new();
    let mut open = false;
    for (i, token) in tokens.iter().enumerate() {
        let mark = marked(i);
        if mark != open {
            out.push_str(if mark { "<<" } else { ">>" });
            open = mark;
        }
        out.push_str(&token_text(token));
    }
    if open {
        out.push_str(">>");
    }
    out
}

/// The tokens of an activating record that are marked: at or above
/// `threshold` times its maximum.
pub fn activating_marks(activations: &[f32], threshold: f32) -> Vec<bool> {
    let cut = threshold * activations.iter().copied().fold(f32::MIN, f32::max);
    activations.iter().map(|&a| a >= cut).collect()
}

/// The marks on a non-activating record: `count` tokens below `cut` (the
/// marking threshold of the unit's activating examples), chosen at random
/// but always including the token three quarters in, where an activating
/// record's peak sits (as Delphi does).
pub fn random_marks(activations: &[f32], count: usize, cut: f32, seed: u64) -> Vec<bool> {
    let len = activations.len();
    let mut candidates: Vec<usize> = (0..len).filter(|&i| activations[i] < cut).collect();
    let mut marks = vec![false; len];
    let peak = len - len / 4;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut left = count.min(candidates.len());
    if let Some(at) = candidates.iter().position(|&i| i == peak)
        && left > 0
    {
        marks[peak] = true;
        candidates.swap_remove(at);
        left -= 1;
    }
    shuffle(&mut candidates, &mut rng);
    for &i in candidates.iter().take(left) {
        marks[i] = true;
    }
    marks
}

/// The texts of `examples` as the scorer sees them: plain for detection;
/// for fuzzing and the intruder test, activating records with their strong
/// tokens marked and random ones with as many tokens marked (the mean over
/// the activating examples, rounded up) among tokens that are not strong.
pub fn example_texts(examples: &[TestExample], marked: bool, threshold: f32) -> Vec<String> {
    if !marked {
        return examples
            .iter()
            .map(|e| highlight(&e.record.tokens, |_| false))
            .collect();
    }
    let strong: Vec<(&TestExample, Vec<bool>)> = examples
        .iter()
        .filter(|e| e.activating)
        .map(|e| (e, activating_marks(&e.record.activations, threshold)))
        .collect();
    let marked_count = strong
        .iter()
        .map(|(_, m)| m.iter().filter(|&&b| b).count())
        .sum::<usize>();
    let count = marked_count.div_ceil(strong.len().max(1));
    let cut = strong
        .iter()
        .map(|(e, _)| threshold * e.record.max_activation())
        .fold(f32::INFINITY, f32::min);
    examples
        .iter()
        .map(|e| {
            let marks = if e.activating {
                activating_marks(&e.record.activations, threshold)
            } else {
                random_marks(&e.record.activations, count, cut, e.record.record_id)
            };
            highlight(&e.record.tokens, |i| marks[i])
        })
        .collect()
}

fn numbered(texts: &[String], separator: &str) -> String {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| format!("Example {i}:{separator}{t}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn few_shot(system: &str, examples: &[(&str, &str); 3], user: String) -> ChatPrompt {
    ChatPrompt {
        system: system.into(),
        examples: examples
            .iter()
            .map(|(u, a)| ((*u).to_owned(), (*a).to_owned()))
            .collect(),
        user,
    }
}

/// The detection prompt (fuzzing's when `marked`), from
/// `delphi/scorers/classifier/prompts/detection_prompt.py` (`fuzz_prompt.py`)
/// and the example lines of `classifier.py`'s `_build_prompt`.
pub fn judgement_prompt(explanation: &str, texts: &[String], marked: bool) -> ChatPrompt {
    let (system, examples) = if marked {
        (delphi::FUZZ_SYSTEM, &delphi::FUZZ_EXAMPLES)
    } else {
        (delphi::DETECTION_SYSTEM, &delphi::DETECTION_EXAMPLES)
    };
    let user = format!(
        "Latent explanation: {explanation}\n\nText examples:\n\n{}\n",
        numbered(texts, " ")
    );
    few_shot(system, examples, user)
}

/// The intruder prompt, from `delphi/scorers/classifier/prompts/intruder_prompt.py`
/// (its examples joined as `intruder.py`'s `_build_prompt` does, with no space).
pub fn intruder_prompt(texts: &[String]) -> ChatPrompt {
    let user = format!("Examples:\n\n{}\n", numbered(texts, ""));
    few_shot(delphi::INTRUDER_SYSTEM, &delphi::INTRUDER_EXAMPLES, user)
}

/// The answers in a reply: the first `[…]` read as a JSON list of 0/1 (or
/// booleans), which must hold `count` of them (Delphi's `_parse`).
pub fn parse_judgements(reply: &str, count: usize) -> Option<Vec<bool>> {
    let start = reply.find('[')?;
    let end = start + reply[start..].find(']')?;
    let values: Vec<serde_json::Value> = serde_json::from_str(&reply[start..=end]).ok()?;
    let answers: Vec<bool> = values
        .iter()
        .map(|v| match v {
            serde_json::Value::Bool(b) => Some(*b),
            v => match v.as_i64()? {
                0 => Some(false),
                1 => Some(true),
                _ => None,
            },
        })
        .collect::<Option<_>>()?;
    (answers.len() == count).then_some(answers)
}

/// P("1") / (P("0") + P("1")) at each generated token that holds a 0 or a
/// 1, summed over its top alternatives holding a "0" (else a "1"); `None`
/// unless there are exactly `count` of them (Delphi's `_parse_logprobs`).
pub fn judgement_probabilities(tokens: &[ChatTokenLogprob], count: usize) -> Option<Vec<f64>> {
    let out: Vec<f64> = tokens
        .iter()
        .filter(|t| t.token.contains('1') || t.token.contains('0'))
        .map(|t| {
            let (mut p0, mut p1) = (0.0, 0.0);
            for top in &t.top_logprobs {
                if top.token.contains('0') {
                    p0 += top.logprob.exp();
                } else if top.token.contains('1') {
                    p1 += top.logprob.exp();
                }
            }
            if p0 + p1 > 0.0 { p1 / (p0 + p1) } else { 0.0 }
        })
        .collect();
    (out.len() == count).then_some(out)
}

/// The intruder's index in a reply: what follows the first `[RESPONSE]:`,
/// which must be a number below `count` and nothing else (Delphi's `_parse`).
pub fn parse_intruder(reply: &str, count: usize) -> Option<usize> {
    let at = reply.find("[RESPONSE]:")?;
    let index: usize = reply[at + "[RESPONSE]:".len()..].trim().parse().ok()?;
    (index < count).then_some(index)
}

/// The scorer's answer about one example.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Judgement {
    pub activating: bool,
    /// `None` when the reply could not be read.
    pub prediction: Option<bool>,
    /// P(activating), where the scorer gives probabilities.
    pub probability: Option<f64>,
}

/// ROC-AUC of `scores` for telling the positives of `labels` from the
/// negatives: the probability that a random positive scores above a random
/// negative, ties counting one half (sklearn's `roc_auc_score`). `None`
/// without both classes.
pub fn roc_auc(labels: &[bool], scores: &[f64]) -> Option<f64> {
    let mut ranked: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Mann–Whitney: the sum of the positives' ranks, tied values sharing their mean rank.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < ranked.len() {
        let mut j = i;
        while j < ranked.len() && ranked[j].0 == ranked[i].0 {
            j += 1;
        }
        let mean_rank = (i + j + 1) as f64 / 2.0;
        rank_sum += mean_rank * ranked[i..j].iter().filter(|r| r.1).count() as f64;
        i = j;
    }
    let p = positives as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

/// The metrics of Delphi's `compute_confusion` and
/// `compute_classification_metrics` (its "accuracy" is balanced accuracy),
/// and `compute_auc`. Unread answers are left out; a rate whose denominator
/// is 0 is 0, as there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassificationMetrics {
    pub balanced_accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Over the examples with a probability; `None` without any or without both classes.
    pub auc: Option<f64>,
    /// Examples with an answer, and of them activating and not.
    pub examples: usize,
    pub positives: usize,
    pub negatives: usize,
    /// Examples whose answer could not be read.
    pub failed: usize,
}

impl ClassificationMetrics {
    pub fn of(judgements: &[Judgement]) -> Self {
        let answered: Vec<(bool, bool)> = judgements
            .iter()
            .filter_map(|j| Some((j.activating, j.prediction?)))
            .collect();
        let count = |want: (bool, bool)| answered.iter().filter(|&&a| a == want).count() as f64;
        let (tp, tn, fp) = (
            count((true, true)),
            count((false, false)),
            count((false, true)),
        );
        let positives = answered.iter().filter(|a| a.0).count();
        let negatives = answered.len() - positives;
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, positives as f64);
        let (labels, probabilities): (Vec<bool>, Vec<f64>) = judgements
            .iter()
            .filter_map(|j| Some((j.activating, j.probability?)))
            .unzip();
        Self {
            balanced_accuracy: (recall + ratio(tn, negatives as f64)) / 2.0,
            precision,
            recall,
            f1: ratio(2.0 * precision * recall, precision + recall),
            auc: roc_auc(&labels, &probabilities),
            examples: answered.len(),
            positives,
            negatives,
            failed: judgements.len() - answered.len(),
        }
    }

    /// As stored in the scores table's `metrics`.
    pub fn as_map(&self) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::from([
            ("balanced_accuracy".to_owned(), self.balanced_accuracy),
            ("precision".to_owned(), self.precision),
            ("recall".to_owned(), self.recall),
            ("f1".to_owned(), self.f1),
            ("examples".to_owned(), self.examples as f64),
            ("positives".to_owned(), self.positives as f64),
            ("negatives".to_owned(), self.negatives as f64),
            ("failed".to_owned(), self.failed as f64),
        ]);
        if let Some(auc) = self.auc {
            m.insert("auc".into(), auc);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::simulator::TopLogprob;

    fn record(id: u64, sample: Sample, peak: f32) -> Record {
        Record {
            record_id: id,
            unit_id: 3,
            sample,
            rank: id as u32,
            document_id: None,
            token_offset: None,
            tokens: vec!["a".into(), " b".into(), "\n".into(), " d".into()],
            activations: vec![0.0, peak, 0.1 * peak, 0.0],
        }
    }

    #[test]
    fn auc_counts_ties_as_half_like_sklearn() {
        // Pinned from sklearn 1.9.1: roc_auc_score([1, 0, 1, 0, 1], [.9, .9, .4, .1, .8])
        // and roc_auc_score([1, 1, 0, 0, 1, 0, 1], [.3, .3, .3, .1, .7, .7, .2]).
        let auc = roc_auc(
            &[true, false, true, false, true],
            &[0.9, 0.9, 0.4, 0.1, 0.8],
        )
        .unwrap();
        assert!((auc - 0.5833333333333334).abs() < 1e-12, "{auc}");
        let labels = [true, true, false, false, true, false, true];
        let auc = roc_auc(&labels, &[0.3, 0.3, 0.3, 0.1, 0.7, 0.7, 0.2]).unwrap();
        assert!((auc - 0.5416666666666667).abs() < 1e-12, "{auc}");
        assert_eq!(roc_auc(&[true, true], &[0.1, 0.2]), None);
    }

    #[test]
    fn metrics_leave_out_unread_answers_and_balance_the_classes() {
        let j = |activating, prediction, probability| Judgement {
            activating,
            prediction,
            probability,
        };
        let m = ClassificationMetrics::of(&[
            j(true, Some(true), Some(0.9)),
            j(true, Some(false), Some(0.4)),
            j(true, Some(true), None),
            j(false, Some(false), Some(0.2)),
            j(false, None, None),
        ]);
        // tp 2 of 3 positives, tn 1 of 1 negative.
        assert!((m.balanced_accuracy - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        assert_eq!((m.precision, m.examples, m.failed), (1.0, 4, 1));
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.f1 - 0.8).abs() < 1e-12);
        assert_eq!(m.auc, Some(1.0));
        let none = ClassificationMetrics::of(&[j(false, Some(true), None)]);
        assert_eq!((none.precision, none.recall, none.f1), (0.0, 0.0, 0.0));
    }

    #[test]
    fn marks_wrap_runs_and_escape_line_ends() {
        let tokens: Vec<String> = ["a", " b", " c", "\n", " e"].map(String::from).into();
        let marked = activating_marks(&[0.0, 1.0, 0.3, 0.29, 1.0], 0.3);
        assert_eq!(highlight(&tokens, |i| marked[i]), "a<< b c>>\\n<< e>>");
        let marks = random_marks(&[0.0; 8], 3, 0.1, 7);
        assert_eq!(marks.iter().filter(|&&m| m).count(), 3);
        assert!(marks[6], "the token three quarters in is always marked");
        assert!(
            !random_marks(&[1.0; 8], 3, 0.5, 7).contains(&true),
            "no weak tokens to mark"
        );
    }

    #[test]
    fn examples_span_quantiles_avoid_the_evidence_and_balance_random() {
        let mut records: Vec<Record> = (0..12)
            .map(|i| record(i, Sample::Top, 12.0 - i as f32))
            .collect();
        records.extend((100..120).map(|i| record(i, Sample::Random, 0.5)));
        let params = ClassifierParams {
            quantiles: 4,
            per_quantile: 2,
            ..Default::default()
        };
        let examples = test_examples(&records, &[0, 1], &params);
        let active: Vec<&TestExample> = examples.iter().filter(|e| e.activating).collect();
        assert_eq!(active.len(), 8);
        assert_eq!(examples.len(), 16);
        assert!(examples.iter().all(|e| e.record.record_id > 1));
        for q in 0..4 {
            assert_eq!(active.iter().filter(|e| e.quantile == Some(q)).count(), 2);
        }
        // Quantile 0 holds the strongest: records 2..=4 of the ten unseen.
        assert!(
            active
                .iter()
                .filter(|e| e.quantile == Some(0))
                .all(|e| e.record.record_id <= 4)
        );
        assert_eq!(
            test_examples(&records, &[0, 1], &params),
            examples,
            "seeded"
        );
    }

    #[test]
    fn replies_are_read_as_delphi_reads_them() {
        assert_eq!(
            parse_judgements("Sure: [1, 0,1] and [0]", 3),
            Some(vec![true, false, true])
        );
        assert_eq!(parse_judgements("[1,0]", 3), None);
        assert_eq!(parse_judgements("[1,2,0]", 3), None);
        assert_eq!(parse_judgements("no list", 1), None);
        assert_eq!(parse_intruder("it is [RESPONSE]: 2 ", 4), Some(2));
        assert_eq!(parse_intruder("[RESPONSE]: 4", 4), None);
        assert_eq!(parse_intruder("[RESPONSE]: 1 because", 4), None);
        let t = |token: &str, top: &[(&str, f64)]| ChatTokenLogprob {
            token: token.into(),
            top_logprobs: top
                .iter()
                .map(|(t, p)| TopLogprob {
                    token: (*t).into(),
                    logprob: p.ln(),
                })
                .collect(),
        };
        let reply = [
            t("[", &[("[", 1.0)]),
            t("1", &[("1", 0.6), ("0", 0.2), ("10", 0.1)]),
            t(",", &[(",", 1.0)]),
            t("0", &[("0", 0.5), ("1", 0.5)]),
            t("]", &[("]", 1.0)]),
        ];
        let p = judgement_probabilities(&reply, 2).unwrap();
        // "10" holds a "0", so it counts for 0 (as in Delphi).
        assert!((p[0] - 0.6 / 0.9).abs() < 1e-12 && (p[1] - 0.5).abs() < 1e-12);
        assert_eq!(judgement_probabilities(&reply, 3), None);
    }

    #[test]
    fn prompts_follow_delphis_format() {
        let texts = vec!["one".to_owned(), "two".to_owned()];
        let p = judgement_prompt("dogs", &texts, false);
        assert_eq!(
            p.user,
            "Latent explanation: dogs\n\nText examples:\n\nExample 0: one\nExample 1: two\n"
        );
        assert_eq!(p.chat_messages().len(), 8);
        assert!(
            judgement_prompt("dogs", &texts, true)
                .system
                .contains("<< and >>")
        );
        assert_eq!(
            intruder_prompt(&texts).user,
            "Examples:\n\nExample 0:one\nExample 1:two\n"
        );
    }

    #[test]
    fn methods_parse_by_name() {
        assert_eq!("fuzz".parse::<ScoreMethod>(), Ok(ScoreMethod::Fuzz));
        assert!("recall".parse::<ScoreMethod>().is_err());
        assert_eq!(
            ScoreMethod::of_stored("all-at-once-logprobs"),
            ScoreMethod::Simulation
        );
        assert_eq!(ScoreMethod::of_stored("intruder"), ScoreMethod::Intruder);
    }
}
