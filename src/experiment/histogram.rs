//! Which tokens make up each activation bin (Cunningham et al.'s feature
//! histograms, coloured by token): the subject model over the first windows
//! of a corpus, the unit's activation at every token, and for the tokens
//! where it fires (above zero) equal bins from zero to the largest
//! activation seen, each with its count and the tokens that fill it most.
use super::figure::StackedBars;
use super::results::csv_field;
use super::subject::{Subject, token_text};
use super::{ExperimentError, Result, Results};
use crate::activations::{
    ActivationError, Batcher, Corpus, Window, Windower, for_each_window, forward_windows,
};
use crate::dataset::Dataset;
use std::collections::HashMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Windows read unless asked otherwise, bins, and tokens named per bin.
pub const WINDOWS: usize = 2000;
pub const BINS: usize = 16;
pub const TOKENS: usize = 5;

/// Windows run through the model at once.
const BATCH: usize = 32;

/// Why the walk over the corpus ended early.
enum Stop {
    /// Every window asked for is read.
    Enough,
    Failed(ExperimentError),
}

impl From<ActivationError> for Stop {
    fn from(e: ActivationError) -> Self {
        Self::Failed(e.into())
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub unit_id: u64,
    /// The first windows of the corpus read.
    pub windows: usize,
    pub bins: usize,
    /// Tokens named per bin; the rest are counted together.
    pub tokens: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TokenCount {
    pub token_id: i64,
    /// As the corpus wrote it (the first time it was seen).
    pub token: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bin {
    pub low: f64,
    pub high: f64,
    pub count: u64,
    /// The tokens that fill the bin most, the most first.
    pub tokens: Vec<TokenCount>,
    /// The bin's other tokens, together.
    pub other: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TokenHistogram {
    pub plan: Plan,
    pub corpus: String,
    pub hook: String,
    /// Windows read and their tokens (special tokens included).
    pub windows: usize,
    pub tokens: u64,
    /// Tokens where the unit does not fire (activation zero or below).
    pub not_firing: u64,
    /// The largest activation seen: the last bin's upper edge.
    pub max: f64,
    pub bins: Vec<Bin>,
}

/// The histogram of `subject`'s unit over the first `plan.windows` windows
/// of `window_tokens` tokens of `corpus`.
pub fn token_histogram(
    subject: &Subject,
    corpus: &Corpus,
    window_tokens: usize,
    plan: &Plan,
) -> Result<TokenHistogram> {
    let windower = Windower::new(&subject.tokenizer, window_tokens)?;
    let (mut firing, mut names) = (Vec::<(f32, i64)>::new(), HashMap::<i64, String>::new());
    let (mut windows, mut tokens) = (0usize, 0u64);
    let hooks = [subject.site.hook];
    let mut run = |group: &[(u64, Window)]| -> Result<()> {
        let captured = forward_windows(subject.model.as_ref(), group, &hooks, subject.device)?;
        let activation = tch::no_grad(|| subject.site.activation(&captured[0]));
        let longest = activation.size()[1] as usize;
        let values = Vec::<f32>::try_from(activation.reshape([-1]))?;
        for (b, (_, window)) in group.iter().enumerate() {
            windows += 1;
            tokens += window.ids.len() as u64;
            let row = &values[b * longest..b * longest + window.ids.len()];
            for ((&a, &id), token) in row.iter().zip(&window.ids).zip(&window.tokens) {
                if a > 0.0 {
                    firing.push((a, id));
                    // A byte piece of a character shows no text of its own.
                    names.entry(id).or_insert_with(|| match token.as_str() {
                        "" => token_text(&subject.tokenizer, id),
                        _ => token.clone(),
                    });
                }
            }
        }
        Ok(())
    };
    // The walk stops at the first window past those asked for: a large
    // corpus is not read to its end.
    let mut batcher = Batcher::new(BATCH);
    let walked = for_each_window::<Stop>(
        corpus,
        &windower,
        |_| {},
        |i, window| {
            if i as usize >= plan.windows {
                return Err(Stop::Enough);
            }
            batcher.push(i, window, &mut run).map_err(Stop::Failed)
        },
    );
    if let Err(Stop::Failed(e)) = walked {
        return Err(e);
    }
    batcher.flush(&mut run)?;
    let max = firing.iter().map(|&(a, _)| a).fold(0.0f32, f32::max) as f64;
    let bins = plan.bins;
    let width = max / bins as f64;
    let mut counts: Vec<HashMap<i64, u64>> = vec![HashMap::new(); bins];
    for &(a, id) in &firing {
        let bin = ((a as f64 / width) as usize).min(bins - 1);
        *counts[bin].entry(id).or_default() += 1;
    }
    let bins = counts
        .into_iter()
        .enumerate()
        .map(|(b, of_bin)| {
            let count = of_bin.values().sum();
            let mut by_count: Vec<(i64, u64)> = of_bin.into_iter().collect();
            by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let named: Vec<TokenCount> = (by_count.iter().take(plan.tokens))
                .map(|&(token_id, count)| TokenCount {
                    token_id,
                    token: names[&token_id].clone(),
                    count,
                })
                .collect();
            let other = count - named.iter().map(|t| t.count).sum::<u64>();
            Bin {
                low: width * b as f64,
                high: width * (b + 1) as f64,
                count,
                tokens: named,
                other,
            }
        })
        .collect();
    Ok(TokenHistogram {
        plan: plan.clone(),
        corpus: String::new(),
        hook: subject.site.hook.to_string(),
        windows,
        tokens,
        not_firing: tokens - firing.len() as u64,
        max,
        bins,
    })
}

/// The figure: one bar per bin, stacked by its named tokens and the rest.
pub fn figure(h: &TokenHistogram) -> StackedBars {
    StackedBars {
        title: format!(
            "Unit {}: activations above zero by token ({} of {} tokens)",
            h.plan.unit_id,
            h.tokens - h.not_firing,
            h.tokens
        ),
        x_label: format!(
            "activation (bins of {:.3})",
            h.max / h.bins.len().max(1) as f64
        ),
        y_label: "tokens".into(),
        bars: h
            .bins
            .iter()
            .map(|b| {
                let mut parts: Vec<(String, f64)> = (b.tokens.iter())
                    .map(|t| (format!("{:?}", t.token), t.count as f64))
                    .collect();
                parts.push(("other".into(), b.other as f64));
                (format!("{:.2}", b.low), parts)
            })
            .collect(),
    }
}

/// Runs the histogram of the unit `plan` names in the dataset at `path`
/// over `corpus` (by default the one the manifest names) and its
/// `text_field` (for JSONL and Parquet; by default the manifest's, else
/// `text`), and publishes it.
pub fn run(
    path: &Path,
    plan: &Plan,
    (corpus, text_field): (Option<&Path>, Option<&str>),
    model: Option<&Path>,
    device: tch::Device,
) -> Result<(TokenHistogram, PathBuf)> {
    let ds = Dataset::open(path)?;
    let manifest = ds.manifest();
    let recorded = manifest.corpus.as_ref();
    let corpus_path: PathBuf = match (corpus, recorded.and_then(|c| c.source.clone())) {
        (Some(p), _) => p.to_owned(),
        (None, Some(p)) => p.into(),
        (None, None) => {
            return Err(ExperimentError::Input(format!(
                "{}: no corpus.source; name the corpus",
                path.join("manifest.json").display()
            )));
        }
    };
    let field = (text_field.map(str::to_owned))
        .or_else(|| recorded.and_then(|c| c.text_field.clone()))
        .unwrap_or_else(|| "text".into());
    let opened = Corpus::open(&corpus_path, &field)?;
    let subject = Subject::load(&ds, plan.unit_id, model, device)?;
    let window_tokens = manifest.window_tokens.unwrap_or(64) as usize;
    let mut histogram = token_histogram(&subject, &opened, window_tokens, plan)?;
    histogram.corpus = corpus_path.display().to_string();
    let folder = publish(path, &histogram)?;
    Ok((histogram, folder))
}

/// `bins.csv` (per bin, a row per named token and one for the rest),
/// `summary.json` and `figure.svg` in `experiments/histogram-unit-U/`.
pub fn publish(path: &Path, h: &TokenHistogram) -> Result<PathBuf> {
    let mut csv = String::from("bin,low,high,bin_count,token_id,token,count\n");
    for (i, b) in h.bins.iter().enumerate() {
        let head = format!("{i},{},{},{}", b.low, b.high, b.count);
        for t in &b.tokens {
            let _ = writeln!(
                csv,
                "{head},{},{},{}",
                t.token_id,
                csv_field(&t.token),
                t.count
            );
        }
        let _ = writeln!(csv, "{head},,(other),{}", b.other);
    }
    let mut results = Results::default();
    results.add("bins.csv", csv);
    results.add("summary.json", serde_json::to_vec_pretty(h)?);
    results.add("figure.svg", figure(h).svg());
    results.publish(path, &format!("histogram-unit-{}", h.plan.unit_id))
}
