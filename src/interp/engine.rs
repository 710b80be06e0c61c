//! Explain, simulate and score with LLM endpoints: one unit at a time here,
//! many at a time in [`super::batch`].
use super::explainer::{self, FewShotExample, ShownRecord};
use super::records::{RecordSet, explanation_records, scoring_records};
use super::score::{ScoreError, score};
use super::simulator::{self, EchoLogprobs, SimulationError};
use crate::dataset::{Explanation, Record, Score, new_id, now_ms};
use crate::llm::config::Api;
use crate::llm::{LlmClient, LlmError};
use serde_json::{Value, json};

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

pub struct Explainer<'a> {
    pub client: &'a LlmClient,
    pub api: Api,
    pub examples: Vec<FewShotExample>,
    /// Top records shown (the paper found more than ~10 did not help).
    pub records_shown: usize,
}

impl Explainer<'_> {
    /// One explanation of `unit` from its records; `sample` tells repeated
    /// samples apart (and so their cache entries).
    /// The request that explains `unit` (endpoint path and JSON body, before
    /// the client adds the model), and the records it shows.
    pub fn request<'r>(
        &self,
        unit: u64,
        records: &'r [Record],
        sample: u32,
    ) -> Result<(&'static str, Value, Vec<&'r Record>), EngineError> {
        let evidence = explanation_records(records, self.records_shown);
        if evidence.is_empty() {
            return Err(EngineError::NoRecords {
                unit,
                what: "explain from",
            });
        }
        let prompt = explainer::prompt(&self.examples, &shown(&evidence));
        // The first sample is the most likely explanation; later ones are drawn.
        let (temperature, seed) = if sample == 0 { (0.0, 0) } else { (1.0, sample) };
        Ok(match self.api {
            Api::Completions => (
                "/completions",
                json!({"prompt": prompt.completion_text(), "max_tokens": 60, "temperature": temperature, "seed": seed, "stop": ["\n"]}),
                evidence,
            ),
            Api::Chat => {
                let messages: Vec<Value> = prompt
                    .chat_messages()
                    .into_iter()
                    .map(|(role, content)| json!({"role": role, "content": content}))
                    .collect();
                (
                    "/chat/completions",
                    json!({"messages": messages, "max_tokens": 60, "temperature": temperature, "seed": seed}),
                    evidence,
                )
            }
        })
    }

    pub async fn explain(
        &self,
        unit: u64,
        records: &[Record],
        sample: u32,
    ) -> Result<Explanation, EngineError> {
        let (path, body, evidence) = self.request(unit, records, sample)?;
        let response = self.client.post(path, body).await?;
        let pointer = match self.api {
            Api::Completions => "/choices/0/text",
            Api::Chat => "/choices/0/message/content",
        };
        let reply = text_of(unit, &response, pointer)?;
        let text = explainer::parse_explanation(&reply)
            .ok_or(EngineError::NoExplanation { unit, reply })?;
        Ok(Explanation {
            explanation_id: new_id(),
            unit_id: unit,
            text,
            explainer_model: self.client.endpoint().model.clone(),
            method: EXPLAIN_METHOD.into(),
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
        let unit = explanation.unit_id;
        let evidence = super::revision::evidence(kind, score, records, count);
        if evidence.is_empty() {
            return Err(EngineError::NoRecords {
                unit,
                what: "revise from",
            });
        }
        let text = super::revision::prompt(&self.examples, &explanation.text, &shown(&evidence));
        let reply = match self.api {
            Api::Completions => {
                let body =
                    json!({"prompt": text, "max_tokens": 60, "temperature": 0.0, "stop": ["\n"]});
                text_of(
                    unit,
                    &self.client.post("/completions", body).await?,
                    "/choices/0/text",
                )?
            }
            Api::Chat => {
                let body = json!({"messages": [{"role": "user", "content": text}], "max_tokens": 60, "temperature": 0.0});
                text_of(
                    unit,
                    &self.client.post("/chat/completions", body).await?,
                    "/choices/0/message/content",
                )?
            }
        };
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
            explainer_model: self.client.endpoint().model.clone(),
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
    pub client: &'a LlmClient,
    pub api: Api,
    pub examples: Vec<FewShotExample>,
}

impl Simulator<'_> {
    /// The simulation method written to the dataset.
    pub fn method(&self) -> &'static str {
        match self.api {
            Api::Completions => "all-at-once-logprobs",
            Api::Chat => "all-at-once-chat",
        }
    }

    /// Simulated activations (0–10) of `explanation` on one record.
    pub async fn simulate(
        &self,
        unit: u64,
        explanation: &str,
        record: &Record,
    ) -> Result<Vec<f32>, EngineError> {
        let prompt = simulator::prompt(&self.examples, explanation, &record.tokens);
        let failed = |source| EngineError::Simulation {
            unit,
            record: record.record_id,
            source,
        };
        match self.api {
            Api::Completions => {
                let body = json!({"prompt": prompt.text, "max_tokens": 1, "echo": true, "logprobs": 15, "temperature": 0.0});
                let response = self.client.post("/completions", body).await?;
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
                let response = self.client.post("/chat/completions", body).await?;
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
        let unit = explanation.unit_id;
        let scored = scoring_records(records, &explanation.evidence_record_ids, set, top, random);
        if scored.is_empty() {
            return Err(EngineError::NoRecords {
                unit,
                what: "score on",
            });
        }
        let simulations = futures::future::try_join_all(
            scored
                .iter()
                .map(|r| self.simulate(unit, &explanation.text, r)),
        )
        .await?;
        let real: Vec<Vec<f32>> = scored.iter().map(|r| r.activations.clone()).collect();
        let scores =
            score(&real, &simulations).map_err(|source| EngineError::Score { unit, source })?;
        Ok(Score {
            score_id: new_id(),
            explanation_id: explanation.explanation_id.clone(),
            unit_id: unit,
            simulator_model: self.client.endpoint().model.clone(),
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
