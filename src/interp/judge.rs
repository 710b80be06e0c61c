//! The classifier scores of [`super::classifier`] asked of a backend (an
//! endpoint or the local model) and of the sentence embedder, written as
//! rows of the scores table.
//!
//! A row's `record_ids` are the examples shown and `simulated` holds, per
//! example, what the scorer said: `[prediction]` or `[prediction,
//! probability]` for detection and fuzzing (prediction 0 or 1), `[]` where
//! the reply could not be read; `[cosine]` for the embedding score; and for
//! the intruder test, one entry per prompt, `record_ids` naming the
//! intruder and `[chosen index, intruder's index]` (`[]` unread, which
//! counts as wrong, as in Delphi).
use super::classifier::{
    self, ClassificationMetrics, ClassifierParams, Judgement, QUANTILES_AND_RANDOM, ScoreMethod,
    TestExample,
};
use super::engine::{EngineError, on_local};
use super::explainer::ChatPrompt;
use super::simulator::{ChatTokenLogprob as TokenLogprobs, TopLogprob};
use crate::dataset::{Explanation, Record, Score, new_id, now_ms};
use crate::llm::Backend;
use crate::llm::config::Api;
use crate::search::SentenceEmbedder;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

/// Tokens a judgement reply may take (a list of 0s and 1s, or `[RESPONSE]: k`).
const REPLY_TOKENS: usize = 32;

pub struct Judge<'a> {
    pub backend: &'a Backend,
    pub params: ClassifierParams,
}

/// What one prompt's reply said: the text, and the logprobs of its tokens
/// where the backend gives them.
struct Reply {
    text: String,
    logprobs: Option<Vec<TokenLogprobs>>,
}

/// The reply of an endpoint to `prompt`, greedy, with top logprobs.
async fn ask_http(
    client: &crate::llm::LlmClient,
    api: Api,
    prompt: &ChatPrompt,
    unit: u64,
) -> Result<Reply, EngineError> {
    let (path, body) = match api {
        Api::Completions => (
            "/completions",
            json!({"prompt": prompt.completion_text(), "max_tokens": REPLY_TOKENS, "temperature": 0.0, "stop": ["\n"], "logprobs": 5}),
        ),
        Api::Chat => {
            let messages: Vec<Value> = prompt
                .chat_messages()
                .iter()
                .map(|(role, content)| json!({"role": role, "content": content}))
                .collect();
            (
                "/chat/completions",
                json!({"messages": messages, "max_tokens": REPLY_TOKENS, "temperature": 0.0, "logprobs": true, "top_logprobs": 5}),
            )
        }
    };
    let response = client.post(path, body).await?;
    let (text, logprobs) = match api {
        Api::Chat => (
            response.pointer("/choices/0/message/content"),
            response
                .pointer("/choices/0/logprobs/content")
                .and_then(|v| serde_json::from_value(v.clone()).ok()),
        ),
        Api::Completions => (
            response.pointer("/choices/0/text"),
            response
                .pointer("/choices/0/logprobs")
                .and_then(completion_logprobs),
        ),
    };
    let text = text
        .and_then(Value::as_str)
        .ok_or_else(|| EngineError::Reply {
            unit,
            reply: crate::text::printable(
                &response.to_string().chars().take(200).collect::<String>(),
            ),
        })?;
    Ok(Reply {
        text: text.to_owned(),
        logprobs,
    })
}

impl Judge<'_> {
    /// The scorer's answers on one prompt of `count` examples.
    async fn judge_batch(
        &self,
        prompt: ChatPrompt,
        count: usize,
        unit: u64,
    ) -> Result<Vec<(Option<bool>, Option<f64>)>, EngineError> {
        let unread = vec![(None, None); count];
        let (client, api) = match self.backend {
            Backend::Http { client, api } => (client, *api),
            Backend::Local(model) => {
                // One digit at a time, each after the model's own earlier answers.
                let text = prompt.completion_text();
                return on_local(model, move |m| {
                    let mut answer = String::from("[");
                    let mut out = Vec::with_capacity(count);
                    for i in 0..count {
                        if i > 0 {
                            answer.push(',');
                        }
                        let p = m.choice_probabilities(
                            &format!("{text}{answer}"),
                            &["0".into(), "1".into()],
                        )?;
                        let yes = p[1] >= 0.5;
                        answer.push(if yes { '1' } else { '0' });
                        out.push((Some(yes), Some(p[1])));
                    }
                    Ok(out)
                })
                .await;
            }
        };
        let reply = ask_http(client, api, &prompt, unit).await?;
        let Some(predictions) = classifier::parse_judgements(&reply.text, count) else {
            return Ok(unread);
        };
        let probabilities = match &reply.logprobs {
            None => Some(vec![None; count]),
            Some(tokens) => classifier::judgement_probabilities(tokens, count)
                .map(|p| p.into_iter().map(Some).collect()),
        };
        // Logprobs that do not line up with the answers fail the batch, as in Delphi.
        Ok(probabilities.map_or(unread, |p| {
            predictions.into_iter().map(Some).zip(p).collect()
        }))
    }

    /// The intruder's index the scorer picks among `count` examples.
    async fn pick_intruder(
        &self,
        prompt: ChatPrompt,
        count: usize,
        unit: u64,
    ) -> Result<Option<usize>, EngineError> {
        let (client, api) = match self.backend {
            Backend::Http { client, api } => (client, *api),
            Backend::Local(model) => {
                let text = format!("{}[RESPONSE]:", prompt.completion_text());
                let choices: Vec<String> = (0..count).map(|i| format!(" {i}")).collect();
                let p = on_local(model, move |m| m.choice_probabilities(&text, &choices)).await?;
                return Ok((0..count).max_by(|&a, &b| p[a].total_cmp(&p[b])));
            }
        };
        let reply = ask_http(client, api, &prompt, unit).await?;
        Ok(classifier::parse_intruder(&reply.text, count))
    }

    /// Scores `explanation` by detection or fuzzing (`method`).
    pub async fn judge(
        &self,
        method: ScoreMethod,
        explanation: &Explanation,
        records: &[Record],
    ) -> Result<Score, EngineError> {
        let unit = explanation.unit_id;
        let examples = examples(&self.params, explanation, records)?;
        let marked = method == ScoreMethod::Fuzz;
        let texts = classifier::example_texts(&examples, marked, self.params.threshold);
        let mut answers = Vec::with_capacity(examples.len());
        for batch in texts.chunks(self.params.shown.max(1)) {
            let prompt = classifier::judgement_prompt(&explanation.text, batch, marked);
            answers.extend(self.judge_batch(prompt, batch.len(), unit).await?);
        }
        let judgements: Vec<Judgement> = examples
            .iter()
            .zip(&answers)
            .map(|(e, &(prediction, probability))| Judgement {
                activating: e.activating,
                prediction,
                probability,
            })
            .collect();
        let metrics = ClassificationMetrics::of(&judgements);
        let simulated = answers
            .iter()
            .map(|&(prediction, probability)| match prediction {
                None => vec![],
                Some(p) => std::iter::once(f32::from(u8::from(p)))
                    .chain(probability.map(|p| p as f32))
                    .collect(),
            })
            .collect();
        Ok(row(
            explanation,
            self.backend.model(),
            method,
            Some(metrics.balanced_accuracy),
            &examples,
            simulated,
        ))
    }

    /// The intruder score of the unit `explanation` is about: each prompt
    /// shows `shown − 1` activating examples of one quantile (the quantiles
    /// in turn) and one random record, all marked as for fuzzing; the
    /// score is the share of prompts whose intruder is found. (The
    /// explanation is not shown: this scores the unit's interpretability.)
    pub async fn intruder(
        &self,
        explanation: &Explanation,
        records: &[Record],
    ) -> Result<Score, EngineError> {
        let unit = explanation.unit_id;
        let examples = examples(&self.params, explanation, records)?;
        let texts = classifier::example_texts(&examples, true, self.params.threshold);
        let mut by_quantile: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        let mut intruders = Vec::new();
        for (i, e) in examples.iter().enumerate() {
            match e.quantile {
                Some(q) => by_quantile.entry(q).or_default().push(i),
                None => intruders.push(i),
            }
        }
        let mut rng = SmallRng::seed_from_u64(self.params.seed ^ unit);
        let (mut shown_ids, mut simulated, mut correct) = (Vec::new(), Vec::new(), 0usize);
        let majority = self.params.shown.saturating_sub(1).max(1);
        for (group, intruder) in by_quantile.values().cycle().zip(intruders) {
            let mut chosen: Vec<usize> = group.iter().copied().take(majority).collect();
            let at = rng.random_range(0..=chosen.len());
            chosen.insert(at, intruder);
            let batch: Vec<String> = chosen.iter().map(|&i| texts[i].clone()).collect();
            let picked = self
                .pick_intruder(classifier::intruder_prompt(&batch), batch.len(), unit)
                .await?;
            correct += usize::from(picked == Some(at));
            shown_ids.push(examples[intruder].record.record_id);
            simulated.push(picked.map_or(vec![], |p| vec![p as f32, at as f32]));
        }
        let prompts = simulated.len();
        let mut score = row(
            explanation,
            self.backend.model(),
            ScoreMethod::Intruder,
            None,
            &[],
            simulated,
        );
        score.score = (prompts > 0).then(|| correct as f64 / prompts as f64);
        score.record_ids = shown_ids;
        Ok(score)
    }
}

/// The examples `explanation` is scored on, which must hold both classes.
fn examples<'r>(
    params: &ClassifierParams,
    explanation: &Explanation,
    records: &'r [Record],
) -> Result<Vec<TestExample<'r>>, EngineError> {
    let examples = classifier::test_examples(records, &explanation.evidence_record_ids, params);
    if examples.iter().any(|e| e.activating) && examples.iter().any(|e| !e.activating) {
        Ok(examples)
    } else {
        Err(EngineError::NoRecords {
            unit: explanation.unit_id,
            what: "score on (both activating and random records are needed)",
        })
    }
}

/// Completion-endpoint logprobs (`tokens` and `top_logprobs` maps) as chat's.
fn completion_logprobs(v: &Value) -> Option<Vec<TokenLogprobs>> {
    let tokens = v.get("tokens")?.as_array()?;
    let tops = v.get("top_logprobs")?.as_array()?;
    tokens
        .iter()
        .zip(tops)
        .map(|(token, top)| {
            Some(TokenLogprobs {
                token: token.as_str()?.to_owned(),
                top_logprobs: top
                    .as_object()?
                    .iter()
                    .map(|(t, l)| {
                        Some(TopLogprob {
                            token: t.clone(),
                            logprob: l.as_f64()?,
                        })
                    })
                    .collect::<Option<_>>()?,
            })
        })
        .collect()
}

fn row(
    explanation: &Explanation,
    model: &str,
    method: ScoreMethod,
    score: Option<f64>,
    examples: &[TestExample],
    simulated: Vec<Vec<f32>>,
) -> Score {
    Score {
        score_id: new_id(),
        explanation_id: explanation.explanation_id.clone(),
        unit_id: explanation.unit_id,
        simulator_model: model.to_owned(),
        method: method.as_str().into(),
        record_set: QUANTILES_AND_RANDOM.into(),
        score,
        r_squared: None,
        absolute_dev_explained: None,
        record_ids: examples.iter().map(|e| e.record.record_id).collect(),
        simulated,
        created_at_ms: now_ms(),
    }
}

/// The embedding score: ROC-AUC of the cosine similarity between the
/// explanation's embedding and each example's, activating against random.
/// (Delphi prefixes an instruction for its instruction-tuned embedder;
/// MiniLM is not one, so the explanation is embedded as it is.)
pub fn embedding_score(
    embedder: &SentenceEmbedder,
    params: &ClassifierParams,
    explanation: &Explanation,
    records: &[Record],
) -> Result<Score, EngineError> {
    let unit = explanation.unit_id;
    let examples = examples(params, explanation, records)?;
    let texts: Vec<String> = examples.iter().map(|e| e.record.tokens.concat()).collect();
    let mut all: Vec<&str> = vec![explanation.text.as_str()];
    all.extend(texts.iter().map(String::as_str));
    let embedded = embedder.embed(&all).map_err(|e| EngineError::Embedding {
        unit,
        reason: e.to_string(),
    })?;
    // Unit length already: the dot product is the cosine.
    let cosines: Vec<f64> = embedded[1..]
        .iter()
        .map(|v| {
            v.iter()
                .zip(&embedded[0])
                .map(|(a, b)| (a * b) as f64)
                .sum()
        })
        .collect();
    let labels: Vec<bool> = examples.iter().map(|e| e.activating).collect();
    Ok(row(
        explanation,
        embedder.name(),
        ScoreMethod::Embedding,
        classifier::roc_auc(&labels, &cosines),
        &examples,
        cosines.iter().map(|&c| vec![c as f32]).collect(),
    ))
}
