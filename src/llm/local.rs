//! A language model in this process: a causal model (a GGUF file or a
//! Hugging Face-style folder) run on libtorch, for when no endpoint is
//! configured. It does what the HTTP endpoints do for explanations
//! (generation with temperature, top-p, a seed, stop sequences) and what
//! they no longer do for simulation: the probabilities of the values 0..10
//! at every place the prompt asks for one, from one forward pass and only
//! the output rows of those values.
//!
//! Requests usually share a long prefix (the system text and few-shot
//! examples), so the keys and values of recent prompts are kept and a new
//! prompt runs only from where it departs from the closest one.
use super::{LlmError, Usage};
use crate::model::{self, Decoder, KvCache, ModelError, Patch, TextTokenizer};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use tch::{Kind, Tensor};

/// Recent prompts whose keys and values are kept (about 36 KB a token for
/// Gemma-3-270M).
const CACHED_PROMPTS: usize = 4;

/// Candidates whose logits a generation step computes exactly (the rest
/// come from a float16 screen of the whole vocabulary).
const EXACT_LOGITS: i64 = 64;

/// How to write a completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    pub max_tokens: usize,
    /// 0 is greedy.
    pub temperature: f64,
    /// Nucleus sampling: the smallest set of tokens holding this much probability.
    pub top_p: f64,
    pub seed: u64,
    /// The completion ends before the first of these.
    pub stop: Vec<String>,
}

/// How the values 0..10 are tokens of this model's vocabulary.
#[derive(Debug, Clone, PartialEq)]
enum ValueTokens {
    /// Each value is one token (GPT-2's vocabulary has "10").
    Whole([i64; 11]),
    /// The digits are tokens and "10" is "1" then "0" (SentencePiece
    /// vocabularies such as Gemma's and Llama's). P(10) is P("1") times
    /// P("0" | "1"), and P(1) is P("1") times P(`end` | "1"), `end` being
    /// the line end that follows a value in the prompt.
    Digits { digits: [i64; 10], end: i64 },
}

struct CachedPrompt {
    ids: Vec<i64>,
    cache: KvCache,
}

struct Loaded {
    decoder: Decoder,
    recent: Vec<CachedPrompt>,
}

pub struct LocalModel {
    name: String,
    path: PathBuf,
    tokenizer: TextTokenizer,
    values: ValueTokens,
    finished: Vec<u32>,
    /// One computation at a time: libtorch already uses every core.
    loaded: Mutex<Loaded>,
    usage: Usage,
}

/// Why the local model at `path` failed.
pub(super) fn failed(path: &Path, reason: impl std::fmt::Display) -> LlmError {
    LlmError::Local {
        model: path.display().to_string(),
        reason: reason.to_string(),
    }
}

impl LocalModel {
    /// Loads the causal model at `path` (on the CPU).
    pub fn load(path: &Path) -> Result<Self, LlmError> {
        let decoder = model::load_decoder(path, tch::Device::Cpu).map_err(|e| failed(path, e))?;
        let tokenizer = TextTokenizer::load(path).map_err(|e| failed(path, e))?;
        let values = value_tokens(&tokenizer).map_err(|reason| failed(path, reason))?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        Ok(Self {
            name,
            path: path.to_owned(),
            finished: tokenizer.special_ids(),
            tokenizer,
            values,
            loaded: Mutex::new(Loaded {
                decoder,
                recent: Vec::new(),
            }),
            usage: Usage::default(),
        })
    }

    /// The name written to the dataset as the explainer or simulator model.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    fn error(&self, error: ModelError) -> LlmError {
        failed(&self.path, error)
    }

    fn encode(&self, prompt: &str) -> Result<(Vec<i64>, Vec<usize>), LlmError> {
        let (ids, starts) = self
            .tokenizer
            .encode_with_starts(prompt, true)
            .map_err(|e| self.error(e))?;
        self.usage
            .prompt_tokens
            .fetch_add(ids.len() as u64, Ordering::Relaxed);
        self.usage.requests.fetch_add(1, Ordering::Relaxed);
        Ok((ids.iter().map(|&i| i as i64).collect(), starts))
    }

    /// A completion of `prompt`.
    pub fn generate(&self, prompt: &str, settings: &Generation) -> Result<String, LlmError> {
        let (ids, _) = self.encode(prompt)?;
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        let (mut cache, residual) = loaded
            .run_prompt(&ids, ids.len().saturating_sub(1))
            .map_err(|e| self.error(e))?;
        let last = residual.get(residual.size()[0] - 1).unsqueeze(0);
        let continuation = Continuation {
            decoder: &loaded.decoder,
            tokenizer: &self.tokenizer,
            finished: &self.finished,
            settings,
            patch: None,
        };
        continuation
            .write(&mut cache, last, || {
                self.usage.completion_tokens.fetch_add(1, Ordering::Relaxed);
            })
            .map_err(|e| self.error(e))
    }

    /// The probabilities of the values 0..=10 written at each of `offsets`
    /// (byte offsets into `prompt`, each where a token starts), renormalised
    /// over those eleven values.
    pub fn value_probabilities(
        &self,
        prompt: &str,
        offsets: &[usize],
    ) -> Result<Vec<[f64; 11]>, LlmError> {
        if offsets.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, starts) = self.encode(prompt)?;
        let mut at = Vec::with_capacity(offsets.len());
        for &offset in offsets {
            match starts.iter().position(|&s| s == offset) {
                Some(i) if i > 0 => at.push(i as i64),
                _ => {
                    return Err(failed(
                        &self.path,
                        format!(
                            "no token of the prompt starts at byte {offset}, where a value is asked for"
                        ),
                    ));
                }
            }
        }
        let first = at.iter().copied().min().unwrap_or(ids.len() as i64) as usize;
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        // The residual streams of the tokens before the values predict them.
        let (cache, residual) = loaded
            .run_prompt(&ids, first.saturating_sub(1))
            .map_err(|e| self.error(e))?;
        let skipped = ids.len() as i64 - residual.size()[0];
        let before: Vec<i64> = at.iter().map(|&i| i - 1 - skipped).collect();
        let before = residual.index_select(0, &Tensor::from_slice(&before));
        let decoder = &loaded.decoder;
        tch::no_grad(|| -> Result<Vec<[f64; 11]>, ModelError> {
            let rows = match &self.values {
                ValueTokens::Whole(ids) => decoder.logits_of(&before, Some(ids))?,
                ValueTokens::Digits { digits, end } => {
                    let digit = decoder.logits_of(&before, Some(digits))?;
                    // After a "1" where the value starts: "0" makes it 10, the line end 1.
                    let ones = vec![digits[1]; at.len()];
                    let after_one = decoder.branch(&cache, &ones, &at)?;
                    let split = decoder
                        .logits_of(&after_one, Some(&[digits[0], *end]))?
                        .log_softmax(-1, Kind::Float);
                    let one = digit.narrow(1, 1, 1);
                    Tensor::cat(
                        &[
                            digit.narrow(1, 0, 1),
                            &one + split.narrow(1, 1, 1),
                            digit.narrow(1, 2, 8),
                            &one + split.narrow(1, 0, 1),
                        ],
                        1,
                    )
                }
            };
            let probabilities = rows.to_kind(Kind::Double).softmax(-1, Kind::Double);
            Ok((0..at.len() as i64)
                .map(|i| {
                    let mut p = [0.0; 11];
                    probabilities.get(i).copy_data(&mut p, 11);
                    p
                })
                .collect())
        })
        .map_err(|e| self.error(e))
    }
}

impl LocalModel {
    /// The probabilities that `prompt` goes on with each of `choices`,
    /// renormalised over them: each choice's text is appended, and its
    /// probability is that of every token from the first place where the
    /// prompt alone is tokenised differently from any of them (so a choice
    /// that merges with the prompt's last characters, as " 0" does in
    /// GPT-2's vocabulary, is still whole, and all are compared from the
    /// same point).
    pub fn choice_probabilities(
        &self,
        prompt: &str,
        choices: &[String],
    ) -> Result<Vec<f64>, LlmError> {
        let (alone, _) = self.encode(prompt)?;
        let encoded: Vec<Vec<i64>> = choices
            .iter()
            .map(|choice| Ok(self.encode(&format!("{prompt}{choice}"))?.0))
            .collect::<Result<_, LlmError>>()?;
        let shared = |ids: &Vec<i64>| alone.iter().zip(ids).take_while(|(a, b)| a == b).count();
        let from = encoded.iter().map(shared).min().unwrap_or(0).max(1);
        let mut logprobs = Vec::with_capacity(choices.len());
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        for (choice, ids) in choices.iter().zip(&encoded) {
            if from >= ids.len() {
                return Err(failed(
                    &self.path,
                    format!("the choice {choice:?} adds no token to the prompt"),
                ));
            }
            let (_, residual) = loaded
                .run_prompt(ids, from - 1)
                .map_err(|e| self.error(e))?;
            let skipped = ids.len() as i64 - residual.size()[0];
            let rows = residual.narrow(0, from as i64 - 1 - skipped, (ids.len() - from) as i64);
            let logprob = tch::no_grad(|| -> Result<f64, ModelError> {
                let logits = loaded
                    .decoder
                    .logits_of(&rows, None)?
                    .log_softmax(-1, Kind::Double);
                let wanted = Tensor::from_slice(&ids[from..]).unsqueeze(1);
                Ok(logits
                    .gather(1, &wanted, false)
                    .sum(Kind::Double)
                    .double_value(&[]))
            })
            .map_err(|e| self.error(e))?;
            logprobs.push(logprob);
        }
        let top = logprobs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !top.is_finite() {
            return Err(failed(
                &self.path,
                format!(
                    "no probability for any of the choices {choices:?} (log-probabilities {logprobs:?})"
                ),
            ));
        }
        let weights: Vec<f64> = logprobs.iter().map(|l| (l - top).exp()).collect();
        let total: f64 = weights.iter().sum();
        Ok(weights.iter().map(|w| w / total).collect())
    }
}

impl Loaded {
    /// Runs `ids`, starting after the longest prefix a recent prompt shares
    /// with them (but no later than `need_from`), and returns the cache of
    /// the whole prompt and the residual streams of the tokens that ran.
    fn run_prompt(
        &mut self,
        ids: &[i64],
        need_from: usize,
    ) -> Result<(KvCache, Tensor), ModelError> {
        let (best, shared) = self
            .recent
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let shared = c.ids.iter().zip(ids).take_while(|(a, b)| a == b).count();
                (i, shared.min(need_from))
            })
            .max_by_key(|&(_, shared)| shared)
            .unwrap_or((0, 0));
        // Room for the rest of the prompt and a completion after it.
        let more = (ids.len() - shared) as i64 + 64;
        let mut cache = if shared > 0 {
            let entry = self.recent.remove(best);
            let prefix = entry.cache.copy_prefix(shared as i64, more);
            self.recent.push(entry);
            prefix
        } else {
            KvCache::default()
        };
        let residual = tch::no_grad(|| self.decoder.extend(&mut cache, &ids[shared..]))?;
        self.recent.push(CachedPrompt {
            ids: ids.to_vec(),
            cache: cache.view(),
        });
        if self.recent.len() > CACHED_PROMPTS {
            self.recent.remove(0);
        }
        Ok((cache, residual))
    }
}

/// The next token from one position's logits: the most likely at
/// temperature 0, else drawn from the nucleus of the tempered distribution.
fn pick(logits: &Tensor, settings: &Generation, rng: &mut SmallRng) -> i64 {
    if settings.temperature <= 0.0 {
        return logits.argmax(-1, false).int64_value(&[]);
    }
    let probabilities = (logits / settings.temperature).softmax(-1, Kind::Float);
    let (sorted, order) = probabilities.sort(-1, true);
    let cumulative = sorted.cumsum(-1, Kind::Float);
    // Keep every token until the kept mass reaches top_p (at least one).
    let kept = cumulative
        .lt(settings.top_p.clamp(0.0, 1.0))
        .sum(Kind::Int64)
        .int64_value(&[])
        + 1;
    let kept = kept.min(sorted.size()[0]);
    let mut weights = vec![0f32; kept as usize];
    sorted
        .narrow(0, 0, kept)
        .copy_data(&mut weights, kept as usize);
    let total: f32 = weights.iter().sum();
    let mut draw = rng.random_range(0.0..total.max(f32::MIN_POSITIVE));
    for (i, w) in weights.iter().enumerate() {
        if draw < *w {
            return order.int64_value(&[i as i64]);
        }
        draw -= w;
    }
    order.int64_value(&[kept - 1])
}

/// What writes a completion after a prompt already run.
pub struct Continuation<'a> {
    pub decoder: &'a Decoder,
    pub tokenizer: &'a TextTokenizer,
    /// Tokens that end the completion (end of text, end of turn).
    pub finished: &'a [u32],
    pub settings: &'a Generation,
    /// Applied at every new token (steering).
    pub patch: Option<Patch<'a>>,
}

impl Continuation<'_> {
    /// The text written after the prompt whose keys and values are in
    /// `cache` and whose last token's residual stream is `last` (`[1, d]`),
    /// calling `on_token` for each token written.
    pub fn write(
        &self,
        cache: &mut KvCache,
        mut last: Tensor,
        mut on_token: impl FnMut(),
    ) -> Result<String, ModelError> {
        let settings = self.settings;
        let mut rng = SmallRng::seed_from_u64(settings.seed);
        let mut written: Vec<u32> = Vec::new();
        let mut text = String::new();
        let _no_grad = tch::no_grad_guard();
        for _ in 0..settings.max_tokens {
            let logits = self.decoder.screened_logits(&last, EXACT_LOGITS)?;
            let next = pick(&logits.get(0), settings, &mut rng);
            if self.finished.contains(&(next as u32)) {
                break;
            }
            written.push(next as u32);
            on_token();
            text = self.tokenizer.decode(&written)?;
            if let Some(end) = first_stop(&text, &settings.stop) {
                text.truncate(end);
                break;
            }
            last = self.decoder.extend_patched(cache, &[next], self.patch)?;
        }
        Ok(text)
    }
}

/// Where the first of `stop` begins in `text`.
fn first_stop(text: &str, stop: &[String]) -> Option<usize> {
    stop.iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()))
        .min()
}

/// How the tokenizer writes each value where the simulation prompt puts one
/// (after a tab, before a line end).
fn value_tokens(tokenizer: &TextTokenizer) -> Result<ValueTokens, String> {
    let pieces = |value: &str| -> Result<Vec<i64>, String> {
        let text = format!("\t{value}\n");
        let encoded = tokenizer.encode(&text, false).map_err(|e| e.to_string())?;
        let spans: Vec<&str> = encoded.tokens.iter().map(String::as_str).collect();
        let ids: Vec<i64> = encoded.ids.iter().map(|&i| i as i64).collect();
        let n = spans.len();
        if n < 3 || spans[0] != "\t" || spans[n - 1] != "\n" {
            return Err(format!(
                "the tokenizer joins a value to its tab or line end ({spans:?} for {text:?})"
            ));
        }
        Ok(ids[1..].to_vec())
    };
    let mut single = Vec::with_capacity(11);
    let mut end = 0;
    for v in 0..=10 {
        let ids = pieces(&v.to_string())?;
        end = ids[ids.len() - 1];
        single.push((ids.len() == 2).then_some(ids[0]));
    }
    if let Some(whole) = single.iter().copied().collect::<Option<Vec<i64>>>() {
        return Ok(ValueTokens::Whole(whole.try_into().expect("eleven values")));
    }
    let ten = pieces("10")?;
    if let Some(digits) = single[..10].iter().copied().collect::<Option<Vec<i64>>>()
        && ten[..] == [digits[1], digits[0], end]
    {
        return Ok(ValueTokens::Digits {
            digits: digits.try_into().expect("ten digits"),
            end,
        });
    }
    Err(format!(
        "the tokenizer writes the values 0..10 in pieces other than digits ({} tokens for 10)",
        ten.len() - 1
    ))
}
