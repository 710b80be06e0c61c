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
        crate::names::pick(
            &Self::ALL,
            Self::as_str,
            "score method",
            s,
            "simulation, detection, fuzz, embedding or intruder",
        )
    }
}

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

impl ClassifierParams {
    /// The record set a score with these parameters is stored under:
    /// activating records drawn across quantiles of their maxima and as
    /// many random ones, with the parameters, so scores made with other
    /// parameters are kept apart (`quantiles-and-random 10x5 shown=5
    /// threshold=0.3 seed=42` for Delphi's defaults).
    pub fn record_set(&self) -> String {
        format!(
            "quantiles-and-random {}x{} shown={} threshold={} seed={}",
            self.quantiles, self.per_quantile, self.shown, self.threshold, self.seed
        )
    }
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

/// `items` in `parts` contiguous parts of `len / parts` each, the last
/// `len % parts` left out, as Delphi's `split_quantiles` cuts them. With
/// fewer items than parts (where Delphi's parts would be empty), each item
/// is a part of its own.
fn quantile_slices<T>(items: &[T], parts: usize) -> Vec<&[T]> {
    let size = (items.len() / parts.max(1)).max(1);
    items.chunks(size).take(parts).collect()
}

/// The examples a unit is scored on, in the order they are shown: its
/// activating records not in `evidence` (what the explanation was made
/// from), sorted by maximum, split into `quantiles` equal parts (see
/// [`quantile_slices`]) and up to `per_quantile` drawn from each; then as many of its random records; all
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
    for (quantile, part) in quantile_slices(&activating, params.quantiles)
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

/// The marks on a non-activating record: `count` of its tokens below
/// `cut` (the marking threshold of the unit's activating examples), chosen
/// at random but always including the token three quarters in, where an
/// activating record's peak sits (as Delphi does).
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

/// How the tokens of a prompt's examples are marked: an activating record's
/// strong tokens; on a random record, `random_count` tokens below `cut`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Marking {
    pub threshold: f32,
    pub random_count: usize,
    /// The lowest marking threshold of the unit's activating examples, so a
    /// random record's marks are on tokens that would not be marked on them.
    pub cut: f32,
}

impl Marking {
    /// For examples drawn from `activating` records: `random_count` is the
    /// total of their marked tokens over their number, rounded up (`ceil`)
    /// as Delphi's fuzzing does or down as its intruder test does.
    pub fn of<'r>(
        activating: impl IntoIterator<Item = &'r Record>,
        threshold: f32,
        ceil: bool,
    ) -> Self {
        let (mut marked, mut records, mut cut) = (0, 0, f32::INFINITY);
        for r in activating {
            let strong = activating_marks(&r.activations, threshold);
            marked += strong.iter().filter(|&&m| m).count();
            records += 1;
            cut = cut.min(threshold * r.max_activation());
        }
        let records = records.max(1);
        Self {
            threshold,
            random_count: if ceil {
                marked.div_ceil(records)
            } else {
                marked / records
            },
            cut,
        }
    }

    /// `example`'s text with its marks.
    pub fn text(&self, example: &TestExample) -> String {
        let r = example.record;
        let marks = if example.activating {
            activating_marks(&r.activations, self.threshold)
        } else {
            random_marks(&r.activations, self.random_count, self.cut, r.record_id)
        };
        highlight(&r.tokens, |i| marks[i])
    }
}

/// The texts of `examples` as the scorer sees them: plain for detection;
/// for fuzzing, marked (see [`Marking`]), random records getting the mean
/// count over the activating examples, rounded up.
pub fn example_texts(examples: &[TestExample], marked: bool, threshold: f32) -> Vec<String> {
    if !marked {
        return examples
            .iter()
            .map(|e| highlight(&e.record.tokens, |_| false))
            .collect();
    }
    let activating = examples.iter().filter(|e| e.activating).map(|e| e.record);
    let marking = Marking::of(activating, threshold, true);
    examples.iter().map(|e| marking.text(e)).collect()
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

impl Judgement {
    /// As kept in a score's `simulated`: `[truth, prediction, probability]`
    /// (1 for activating), without the values that are not known.
    pub fn stored(&self) -> Vec<f32> {
        let flag = |b: bool| f32::from(u8::from(b));
        std::iter::once(flag(self.activating))
            .chain(self.prediction.map(flag))
            .chain(self.prediction.and(self.probability).map(|p| p as f32))
            .collect()
    }

    /// What [`Judgement::stored`] wrote; `None` for anything else.
    pub fn from_stored(values: &[f32]) -> Option<Self> {
        let flag = |v: f32| (v == 0.0 || v == 1.0).then_some(v == 1.0);
        match *values {
            [truth] => Some(Self {
                activating: flag(truth)?,
                prediction: None,
                probability: None,
            }),
            [truth, prediction] | [truth, prediction, _] => Some(Self {
                activating: flag(truth)?,
                prediction: Some(flag(prediction)?),
                probability: values.get(2).map(|&p| f64::from(p)),
            }),
            _ => None,
        }
    }
}

/// ROC-AUC of `scores` for telling the positives of `labels` from the
/// negatives: the probability that a random positive scores above a random
/// negative, ties counting one half (sklearn's `roc_auc_score`). `None`
/// without both classes.
pub fn roc_auc(labels: &[bool], scores: &[f64]) -> Option<f64> {
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Mann–Whitney: the sum of the positives' ranks, ties sharing their mean rank.
    let ranks = super::score::average_ranks(scores);
    let rank_sum: f64 = ranks
        .iter()
        .zip(labels)
        .filter(|(_, l)| **l)
        .map(|(r, _)| r)
        .sum();
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
        // Quantiles of 10 / 4 = 2 records: quantile 0 holds the strongest
        // unseen (records 2 and 3), and the weakest two (10, 11) are left out.
        assert!(
            active
                .iter()
                .filter(|e| e.quantile == Some(0))
                .all(|e| e.record.record_id <= 3)
        );
        assert!(active.iter().all(|e| e.record.record_id < 10));
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
    fn quantiles_are_equal_and_drop_the_weakest_remainder_like_delphi() {
        let items: Vec<u32> = (0..23).collect();
        let parts = quantile_slices(&items, 10);
        assert_eq!(parts.len(), 10);
        assert!(parts.iter().all(|p| p.len() == 2));
        assert_eq!(parts[9], &[18, 19]);
        assert_eq!(quantile_slices(&items[..3], 10).len(), 3, "one item each");
    }

    #[test]
    fn judgements_round_trip_through_their_stored_form() {
        for j in [
            Judgement {
                activating: true,
                prediction: Some(false),
                probability: Some(0.25),
            },
            Judgement {
                activating: false,
                prediction: Some(true),
                probability: None,
            },
            Judgement {
                activating: true,
                prediction: None,
                probability: None,
            },
        ] {
            assert_eq!(Judgement::from_stored(&j.stored()), Some(j));
        }
        assert_eq!(Judgement::from_stored(&[0.5]), None);
        assert_eq!(Judgement::from_stored(&[]), None);
    }

    #[test]
    fn auc_of_nan_scores_ends() {
        let auc = roc_auc(&[true, false, true], &[f64::NAN, 0.2, f64::NAN]);
        assert!(auc.is_some());
    }

    #[test]
    fn methods_parse_by_name() {
        let stored: Vec<&str> = ScoreMethod::ALL[1..].iter().map(|m| m.as_str()).collect();
        assert_eq!(stored, crate::dataset::CLASSIFIER_SCORE_METHODS);
        assert_eq!(
            ClassifierParams::default().record_set(),
            "quantiles-and-random 10x5 shown=5 threshold=0.3 seed=42"
        );
        assert_eq!("fuzz".parse::<ScoreMethod>(), Ok(ScoreMethod::Fuzz));
        assert!("recall".parse::<ScoreMethod>().is_err());
        assert_eq!(
            ScoreMethod::of_stored("all-at-once-logprobs"),
            ScoreMethod::Simulation
        );
        assert_eq!(ScoreMethod::of_stored("intruder"), ScoreMethod::Intruder);
    }
}
