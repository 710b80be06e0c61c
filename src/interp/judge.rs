//! The classifier scores of [`super::classifier`] asked of a backend (an
//! endpoint or the local model) and of the sentence embedder, written as
//! rows of the scores table.
//!
//! A row's `record_ids` are the examples shown and `simulated` holds, per
//! example: for detection and fuzzing, the truth and what the scorer said
//! (see [`Judgement::stored`]); `[cosine]` for the embedding score; and for
//! the intruder test, one entry per prompt, `record_ids` naming the
//! intruder and `[chosen index, intruder's index]` (`[]` unread, which
//! counts as wrong, as in Delphi).
use super::classifier::{
    self, ClassificationMetrics, ClassifierParams, Judgement, Marking, ScoreMethod, TestExample,
};
use super::engine::{EngineError, on_local};
use super::explainer::ChatPrompt;
use super::simulator::{ChatTokenLogprob as TokenLogprobs, TopLogprob};
use crate::dataset::{Explanation, Record, Score, new_id, now_ms};
use crate::llm::Backend;
use crate::llm::config::Api;
use crate::search::SentenceEmbedder;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
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

    /// Scores `explanation` by detection, or by fuzzing when `marked`.
    pub async fn judge(
        &self,
        marked: bool,
        explanation: &Explanation,
        records: &[Record],
    ) -> Result<Score, EngineError> {
        let unit = explanation.unit_id;
        let examples = examples(&self.params, explanation, records)?;
        let method = if marked {
            ScoreMethod::Fuzz
        } else {
            ScoreMethod::Detection
        };
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
        Ok(row(
            explanation,
            self.backend.model(),
            method,
            &self.params,
            Some(metrics.balanced_accuracy),
            examples.iter().map(|e| e.record.record_id).collect(),
            judgements.iter().map(Judgement::stored).collect(),
        ))
    }

    /// The intruder score of the unit `explanation` is about: each prompt
    /// shows `shown − 1` activating examples drawn afresh from one quantile
    /// (the quantiles in turn) and one random record, marked as for fuzzing
    /// (the random record's mark count is the majority's mean, rounded
    /// down, as in Delphi); the score is the share of prompts whose
    /// intruder is found. (The explanation is not shown: this scores the
    /// unit's interpretability.)
    pub async fn intruder(
        &self,
        explanation: &Explanation,
        records: &[Record],
    ) -> Result<Score, EngineError> {
        let unit = explanation.unit_id;
        let examples = examples(&self.params, explanation, records)?;
        let mut by_quantile: std::collections::BTreeMap<usize, Vec<&TestExample>> =
            Default::default();
        let mut intruders = Vec::new();
        for e in &examples {
            match e.quantile {
                Some(q) => by_quantile.entry(q).or_default().push(e),
                None => intruders.push(e),
            }
        }
        let mut rng = SmallRng::seed_from_u64(self.params.seed ^ unit);
        let (mut intruder_ids, mut simulated, mut correct) = (Vec::new(), Vec::new(), 0usize);
        let majority = self.params.shown.saturating_sub(1).max(1);
        for (group, intruder) in by_quantile.values().cycle().zip(intruders) {
            let mut shown: Vec<&TestExample> = group
                .sample(&mut rng, majority.min(group.len()))
                .copied()
                .collect();
            let marking = Marking::of(shown.iter().map(|e| e.record), self.params.threshold, false);
            let at = rng.random_range(0..=shown.len());
            shown.insert(at, intruder);
            let texts: Vec<String> = shown.iter().map(|e| marking.text(e)).collect();
            let picked = self
                .pick_intruder(classifier::intruder_prompt(&texts), texts.len(), unit)
                .await?;
            correct += usize::from(picked == Some(at));
            intruder_ids.push(intruder.record.record_id);
            simulated.push(picked.map_or(vec![], |p| vec![p as f32, at as f32]));
        }
        let prompts = simulated.len();
        Ok(row(
            explanation,
            self.backend.model(),
            ScoreMethod::Intruder,
            &self.params,
            (prompts > 0).then(|| correct as f64 / prompts as f64),
            intruder_ids,
            simulated,
        ))
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
    params: &ClassifierParams,
    score: Option<f64>,
    record_ids: Vec<u64>,
    simulated: Vec<Vec<f32>>,
) -> Score {
    Score {
        score_id: new_id(),
        explanation_id: explanation.explanation_id.clone(),
        unit_id: explanation.unit_id,
        simulator_model: model.to_owned(),
        method: method.as_str().into(),
        record_set: params.record_set(),
        score,
        r_squared: None,
        absolute_dev_explained: None,
        record_ids,
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
        params,
        classifier::roc_auc(&labels, &cosines),
        examples.iter().map(|e| e.record.record_id).collect(),
        cosines.iter().map(|&c| vec![c as f32]).collect(),
    ))
}
