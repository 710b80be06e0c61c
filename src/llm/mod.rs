//! OpenAI-compatible endpoints (`/v1/completions`, `/v1/chat/completions`):
//! per-request timeout, retries with exponential back-off and jitter on 429,
//! 5xx and connection errors (honouring `Retry-After`), a concurrency limit,
//! an on-disk response cache keyed by the exact request, and token usage.
//! API keys are held in [`Secret`], which never prints. Start from
//! [`LlmClient`]:
//!
//! ```no_run
//! use featurescope::llm::{Endpoint, LlmClient};
//! # async fn run() -> Result<(), featurescope::llm::LlmError> {
//! let client = LlmClient::new(Endpoint::new("http://127.0.0.1:8080/v1", "model"), None)?;
//! let reply = client
//!     .post("/completions", serde_json::json!({"prompt": "Hello", "max_tokens": 5}))
//!     .await?;
//! # Ok(()) }
//! ```
mod backend;
mod cache;
mod client;
pub mod config;
mod local;

pub use backend::{Backend, BackendError};
pub use cache::ResponseCache;
pub use client::{Endpoint, LlmClient, Usage};
pub use local::{Continuation, Generation, LocalModel};

use std::fmt;

/// An API key: usable, never shown (Debug and Display print `***`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url}: no response within {seconds} s")]
    Timeout { url: String, seconds: f64 },
    #[error("{url}: cannot connect: {reason}")]
    Connect { url: String, reason: String },
    #[error("{url}: unreadable response: {reason}")]
    Malformed { url: String, reason: String },
    #[error("{url}: gave up after {attempts} attempts; last error: {last}")]
    GaveUp {
        url: String,
        attempts: u32,
        last: Box<LlmError>,
    },
    #[error("response cache {path}: {reason}")]
    Cache { path: String, reason: String },
    /// The model run in this process (see [`LocalModel`]).
    #[error("local model {model}: {reason}")]
    Local { model: String, reason: String },
}

impl LlmError {
    /// Worth another try: rate limits, server errors, timeouts, dropped connections.
    fn is_transient(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Timeout { .. } | Self::Connect { .. } => true,
            // A body cut short is a dropped connection as far as the caller can tell.
            Self::Malformed { .. } => true,
            Self::GaveUp { .. } | Self::Cache { .. } | Self::Local { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("sk-very-secret");
        assert_eq!(format!("{s} {s:?} {:?}", Some(&s)), "*** *** Some(***)");
        assert_eq!(s.expose(), "sk-very-secret");
    }
}
