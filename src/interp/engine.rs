//! Explain, simulate and score with LLM endpoints: one unit at a time here,
//! many at a time in [`super::batch`].
use super::explainer::{self, FewShotExample, ShownRecord};
use super::records::{RecordSet, explanation_records, peak_window, scoring_records};
use super::score::{ScoreError, score};
use super::simulator::{self, EchoLogprobs, SimulationError};
use crate::dataset::{Explanation, Record, Score, new_id, now_ms};
use crate::llm::config::Api;
use crate::llm::{Backend, Generation, LlmError, LocalModel};
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error("unit {unit}: the explainer's reply holds no explanation: {reply:?}")]
    NoExplanation { unit: u64, reply: String },
    #[error("unit {unit}, record {record}: {source}")]
    Simulation {
        unit: u64,
        record: u64,
        source: SimulationError,
    },
    #[error("unit {unit}: {reply}: the reply is not an OpenAI-style response")]
    Reply { unit: u64, reply: String },
    #[error("unit {unit}: {source}")]
    Score { unit: u64, source: ScoreError },
    #[error("unit {unit}: no records to {what}")]
    NoRecords { unit: u64, what: &'static str },
    #[error("unit {unit}: the sentence embedder failed: {reason}")]
    Embedding { unit: u64, reason: String },
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
}

fn shown(records: &[&Record]) -> Vec<ShownRecord> {
    records
        .iter()
        .map(|r| ShownRecord {
            tokens: r.tokens.clone(),
            activations: r.activations.clone(),
        })
        .collect()
}

/// The explanation method written to the dataset.
pub const EXPLAIN_METHOD: &str = "top-activations";

/// Tokens an explanation may take.
const EXPLANATION_TOKENS: usize = 60;

/// One completion asked of the explainer, as a completion prompt and as the
/// same text in chat messages; it ends at the first line end.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub messages: Vec<(&'static str, String)>,
    pub temperature: f64,
    pub seed: u64,
}

impl Completion {
    /// The endpoint path and JSON body (before the client adds the model).
    pub fn http_request(&self, api: Api) -> (&'static str, Value) {
        let (temperature, seed) = (self.temperature, self.seed);
        match api {
            Api::Completions => (
                "/completions",
                json!({"prompt": self.text, "max_tokens": EXPLANATION_TOKENS, "temperature": temperature, "seed": seed, "stop": ["\n"]}),
            ),
            Api::Chat => {
                let messages: Vec<Value> = self
                    .messages
                    .iter()
                    .map(|(role, content)| json!({"role": role, "content": content}))
                    .collect();
                (
                    "/chat/completions",
                    json!({"messages": messages, "max_tokens": EXPLANATION_TOKENS, "temperature": temperature, "seed": seed}),
                )
            }
        }
    }

    /// What a local model is asked to do with [`Completion::text`].
    pub fn generation(&self) -> Generation {
        Generation {
            max_tokens: EXPLANATION_TOKENS,
            temperature: self.temperature,
            top_p: 1.0,
            seed: self.seed,
            stop: vec!["\n".into()],
        }
    }

    /// The reply of `backend`.
    async fn ask(self, backend: &Backend, unit: u64) -> Result<String, EngineError> {
        match backend {
            Backend::Http { client, api } => {
                let (path, body) = self.http_request(*api);
                let response = client.post(path, body).await?;
                let pointer = match api {
                    Api::Completions => "/choices/0/text",
                    Api::Chat => "/choices/0/message/content",
                };
                text_of(unit, &response, pointer)
            }
            Backend::Local(model) => {
                let generation = self.generation();
                on_local(model, move |m| m.generate(&self.text, &generation)).await
            }
        }
    }
}

/// Runs `work` on the local model off the async thread, so that a job's
/// runtime still notices cancellation while the model computes.
pub(super) async fn on_local<T: Send + 'static>(
    model: &Arc<LocalModel>,
    work: impl FnOnce(&LocalModel) -> Result<T, LlmError> + Send + 'static,
) -> Result<T, EngineError> {
    let model = model.clone();
    let name = model.name().to_owned();
    tokio::task::spawn_blocking(move || work(&model))
        .await
        .map_err(|e| LlmError::Local {
            model: name,
            reason: format!("its thread failed: {e}"),
        })?
        .map_err(EngineError::from)
}

pub struct Explainer<'a> {
    pub backend: &'a Backend,
    pub examples: Vec<FewShotExample>,
    /// Top records shown (the paper found more than ~10 did not help).
    pub records_shown: usize,
}

impl Explainer<'_> {
    /// What is asked to explain `unit`, and the records it shows; `sample`
    /// tells repeated samples apart (and so their cache entries).
    pub fn request<'r>(
        &self,
        unit: u64,
        records: &'r [Record],
        sample: u32,
    ) -> Result<(Completion, Vec<&'r Record>), EngineError> {
        let evidence = explanation_records(records, self.records_shown);
        Ok((self.completion(unit, &shown(&evidence), sample)?, evidence))
    }

    /// What is asked to explain `unit` from `shown`.
    fn completion(
        &self,
        unit: u64,
        shown: &[ShownRecord],
        sample: u32,
    ) -> Result<Completion, EngineError> {
        if shown.is_empty() {
            return Err(EngineError::NoRecords {
                unit,
                what: "explain from",
            });
        }
        let prompt = explainer::prompt(&self.examples, shown);
        // The first sample is the most likely explanation; later ones are drawn.
        let (temperature, seed) = if sample == 0 { (0.0, 0) } else { (1.0, sample) };
        Ok(Completion {
            text: prompt.completion_text(),
            messages: prompt.chat_messages(),
            temperature,
            seed: seed as u64,
        })
    }

    pub async fn explain(
        &self,
        unit: u64,
        records: &[Record],
        sample: u32,
    ) -> Result<Explanation, EngineError> {
        let (completion, evidence) = self.request(unit, records, sample)?;
        self.explanation(unit, completion, &evidence, EXPLAIN_METHOD)
            .await
    }

    /// An explanation of `unit` made by `method` from `evidence`, each
    /// record cut to `window` tokens about its peak where given.
    pub async fn explain_from(
        &self,
        unit: u64,
        evidence: &[&Record],
        window: Option<usize>,
        method: &str,
    ) -> Result<Explanation, EngineError> {
        let shown: Vec<ShownRecord> = match window {
            None => shown(evidence),
            Some(window) => evidence
                .iter()
                .map(|r| {
                    let span = peak_window(&r.activations, window);
                    ShownRecord {
                        tokens: r.tokens[span.clone()].to_vec(),
                        activations: r.activations[span].to_vec(),
                    }
                })
                .collect(),
        };
        let completion = self.completion(unit, &shown, 0)?;
        self.explanation(unit, completion, evidence, method).await
    }

    /// The explanation `completion` replies with, made by `method` from `evidence`.
    async fn explanation(
        &self,
        unit: u64,
        completion: Completion,
        evidence: &[&Record],
        method: &str,
    ) -> Result<Explanation, EngineError> {
        let reply = completion.ask(self.backend, unit).await?;
        let text = explainer::parse_explanation(&reply)
            .ok_or(EngineError::NoExplanation { unit, reply })?;
        Ok(Explanation {
            explanation_id: new_id(),
            unit_id: unit,
            text,
            explainer_model: self.backend.model().to_owned(),
            method: method.into(),
            parent_id: None,
            evidence_record_ids: evidence.iter().map(|r| r.record_id).collect(),
            created_at_ms: now_ms(),
        })
    }
}

impl Explainer<'_> {
    /// A revision of `explanation`, shown its score's evidence of `kind`.
    pub async fn revise(
        &self,
        explanation: &Explanation,
        score: &Score,
        records: &[Record],
        kind: super::revision::Evidence,
        count: usize,
    ) -> Result<Explanation, EngineError> {
        let records: Vec<&Record> = records.iter().collect();
        let evidence = super::revision::evidence(kind, score, &records, count);
        self.revise_with(explanation, &evidence, kind).await
    }

    /// A revision of `explanation`, shown `evidence` (of `kind`).
    pub async fn revise_with(
        &self,
        explanation: &Explanation,
        evidence: &[&Record],
        kind: super::revision::Evidence,
    ) -> Result<Explanation, EngineError> {
        let unit = explanation.unit_id;
        if evidence.is_empty() {
            return Err(EngineError::NoRecords {
                unit,
                what: "revise from",
            });
        }
        let text = super::revision::prompt(&self.examples, &explanation.text, &shown(evidence));
        let completion = Completion {
            messages: vec![("user", text.clone())],
            text,
            temperature: 0.0,
            seed: 0,
        };
        let reply = completion.ask(self.backend, unit).await?;
        let revised = explainer::parse_explanation(&reply)
            .ok_or(EngineError::NoExplanation { unit, reply })?;
        // Everything shown to either version stays out of the scoring records.
        let mut seen = explanation.evidence_record_ids.clone();
        seen.extend(
            evidence
                .iter()
                .map(|r| r.record_id)
                .filter(|id| !explanation.evidence_record_ids.contains(id)),
        );
        Ok(Explanation {
            explanation_id: new_id(),
            unit_id: unit,
            text: revised,
            explainer_model: self.backend.model().to_owned(),
            method: kind.method().into(),
            parent_id: Some(explanation.explanation_id.clone()),
            evidence_record_ids: seen,
            created_at_ms: now_ms(),
        })
    }
}

fn text_of(unit: u64, response: &Value, pointer: &str) -> Result<String, EngineError> {
    response
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| EngineError::Reply {
            unit,
            reply: crate::text::printable(
                &response.to_string().chars().take(200).collect::<String>(),
            ),
        })
}

pub struct Simulator<'a> {
    pub backend: &'a Backend,
    pub examples: Vec<FewShotExample>,
}

/// The expected value of a distribution over 0..=10.
fn expected(probabilities: &[f64; 11]) -> f32 {
    probabilities
        .iter()
        .enumerate()
        .map(|(v, p)| v as f64 * p)
        .sum::<f64>() as f32
}

impl Simulator<'_> {
    /// The simulation method written to the dataset.
    pub fn method(&self) -> &'static str {
        match self.backend {
            Backend::Http { api: Api::Chat, .. } => "all-at-once-chat",
            _ => "all-at-once-logprobs",
        }
    }

    /// Simulated activations (0–10) of `explanation` on each of `records`:
    /// requests in flight together on an endpoint, one after another (each
    /// after the prompt prefix they share) on a local model.
    pub async fn simulate_all(
        &self,
        unit: u64,
        explanation: &str,
        records: &[&Record],
    ) -> Result<Vec<Vec<f32>>, EngineError> {
        let Backend::Local(model) = self.backend else {
            return futures::future::try_join_all(
                records.iter().map(|r| self.simulate(unit, explanation, r)),
            )
            .await;
        };
        let prompts: Vec<simulator::SimulationPrompt> = records
            .iter()
            .map(|r| simulator::prompt(&self.examples, explanation, &r.tokens))
            .collect();
        let all = on_local(model, move |m| {
            prompts
                .iter()
                .map(|p| m.value_probabilities(&p.text, &p.unknown_offsets))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
        Ok(all
            .iter()
            .map(|positions| positions.iter().map(expected).collect())
            .collect())
    }

    /// Simulated activations (0–10) of `explanation` on one record.
    pub async fn simulate(
        &self,
        unit: u64,
        explanation: &str,
        record: &Record,
    ) -> Result<Vec<f32>, EngineError> {
        let (client, api) = match self.backend {
            Backend::Http { client, api } => (client, *api),
            Backend::Local(_) => {
                let mut all = self.simulate_all(unit, explanation, &[record]).await?;
                return Ok(all.remove(0));
            }
        };
        let prompt = simulator::prompt(&self.examples, explanation, &record.tokens);
        let failed = |source| EngineError::Simulation {
            unit,
            record: record.record_id,
            source,
        };
        match api {
            Api::Completions => {
                let body = json!({"prompt": prompt.text, "max_tokens": 1, "echo": true, "logprobs": 15, "temperature": 0.0});
                let response = client.post("/completions", body).await?;
                let logprobs: EchoLogprobs = response
                    .pointer("/choices/0/logprobs")
                    .cloned()
                    .and_then(|v| serde_json::from_value(v).ok())
                    .unwrap_or_default();
                simulator::from_echo(&prompt, &record.tokens, &logprobs).map_err(failed)
            }
            Api::Chat => {
                let instructions = "Reply with the same lines between <start> and <end>, each `unknown` replaced by a number from 0 to 10, and nothing else.";
                let user = format!(
                    "{}\n{instructions}",
                    prompt
                        .text
                        .trim_start_matches(simulator::SYSTEM)
                        .trim_start()
                );
                let body = json!({
                    "messages": [{"role": "system", "content": simulator::SYSTEM}, {"role": "user", "content": user}],
                    "max_tokens": 16 * record.tokens.len() + 32,
                    "temperature": 0.0,
                    "logprobs": true,
                    "top_logprobs": 15,
                });
                let response = client.post("/chat/completions", body).await?;
                let reply = text_of(unit, &response, "/choices/0/message/content")?;
                // Expected values where the endpoint gives top logprobs; the written values otherwise.
                let logprobs: Option<Vec<simulator::ChatTokenLogprob>> = response
                    .pointer("/choices/0/logprobs/content")
                    .cloned()
                    .and_then(|v| serde_json::from_value(v).ok());
                simulator::from_chat(&reply, &record.tokens, logprobs.as_deref()).map_err(failed)
            }
        }
    }

    /// Simulates `explanation` on the scoring records of `set` and scores it.
    pub async fn score(
        &self,
        explanation: &Explanation,
        records: &[Record],
        set: RecordSet,
        top: usize,
        random: usize,
    ) -> Result<Score, EngineError> {
        let scored = scoring_records(records, &explanation.evidence_record_ids, set, top, random);
        self.score_on(explanation, &scored, set).await
    }

    /// Simulates `explanation` on `scored` (records of `set`) and scores it.
    pub async fn score_on(
        &self,
        explanation: &Explanation,
        scored: &[&Record],
        set: RecordSet,
    ) -> Result<Score, EngineError> {
        let unit = explanation.unit_id;
        if scored.is_empty() {
            return Err(EngineError::NoRecords {
                unit,
                what: "score on",
            });
        }
        let simulations = self.simulate_all(unit, &explanation.text, scored).await?;
        let real: Vec<Vec<f32>> = scored.iter().map(|r| r.activations.clone()).collect();
        let scores =
            score(&real, &simulations).map_err(|source| EngineError::Score { unit, source })?;
        Ok(Score {
            score_id: new_id(),
            explanation_id: explanation.explanation_id.clone(),
            unit_id: unit,
            simulator_model: self.backend.model().to_owned(),
            method: self.method().into(),
            record_set: set.as_str().into(),
            score: scores.correlation,
            r_squared: scores.r_squared,
            absolute_dev_explained: scores.absolute_dev_explained,
            record_ids: scored.iter().map(|r| r.record_id).collect(),
            simulated: simulations,
            created_at_ms: now_ms(),
        })
    }
}
