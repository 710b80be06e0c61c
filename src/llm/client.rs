//! The HTTP client: one `post` that every request goes through, so retries,
//! the concurrency limit, the cache and usage counting apply to all.
use super::{LlmError, ResponseCache, Secret};
use rand::RngExt;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Where and how to reach one model.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// E.g. `http://127.0.0.1:8080/v1` (paths are appended to it).
    pub base_url: String,
    pub model: String,
    pub api_key: Option<Secret>,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub concurrency: usize,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Endpoint {
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            timeout: Duration::from_secs(120),
            max_attempts: 5,
            concurrency: 8,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// Requests and tokens so far (tokens as the endpoint reports them).
#[derive(Debug, Default)]
pub struct Usage {
    pub requests: AtomicU64,
    pub cached: AtomicU64,
    pub retries: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub completion_tokens: AtomicU64,
}

impl Usage {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

pub struct LlmClient {
    endpoint: Endpoint,
    http: reqwest::Client,
    limit: Arc<Semaphore>,
    cache: Option<ResponseCache>,
    usage: Arc<Usage>,
}

/// `Retry-After` in seconds (the HTTP-date form is treated as absent).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds: f64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(300.0)))
}

/// The start of a body, for error messages, with control characters escaped.
fn excerpt(body: &str) -> String {
    let cut: String = body.chars().take(200).collect();
    let cut = crate::text::printable(&cut);
    if body.chars().count() > 200 {
        format!("{cut}…")
    } else {
        cut
    }
}

impl LlmClient {
    pub fn new(endpoint: Endpoint, cache: Option<ResponseCache>) -> Result<Self, LlmError> {
        let http = reqwest::Client::builder()
            .timeout(endpoint.timeout)
            .build()
            .map_err(|e| LlmError::Connect {
                url: endpoint.base_url.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            limit: Arc::new(Semaphore::new(endpoint.concurrency.max(1))),
            endpoint,
            http,
            cache,
            usage: Arc::default(),
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// POSTs `body` (with this endpoint's model) to `path`, e.g. `/completions`.
    pub async fn post(&self, path: &str, mut body: Value) -> Result<Value, LlmError> {
        body["model"] = Value::String(self.endpoint.model.clone());
        let url = format!("{}{path}", self.endpoint.base_url.trim_end_matches('/'));
        let key = ResponseCache::key(path, &body);
        if let Some(cache) = &self.cache
            && let Some(hit) = cache.get(&key)?
        {
            self.usage.cached.fetch_add(1, Ordering::Relaxed);
            return Ok(hit);
        }
        let _permit = self
            .limit
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let mut backoff = self.endpoint.initial_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.usage.requests.fetch_add(1, Ordering::Relaxed);
            match self.send(&url, &body).await {
                Ok(response) => {
                    self.count_tokens(&response);
                    if let Some(cache) = &self.cache {
                        cache.put(&key, &response)?;
                    }
                    return Ok(response);
                }
                Err((error, wait))
                    if error.is_transient() && attempt < self.endpoint.max_attempts =>
                {
                    self.usage.retries.fetch_add(1, Ordering::Relaxed);
                    // Full jitter in [backoff/2, backoff] unless the server said how long.
                    let jittered = backoff.mul_f64(rand::rng().random_range(0.5..=1.0));
                    tokio::time::sleep(wait.unwrap_or(jittered)).await;
                    backoff = (backoff * 2).min(self.endpoint.max_backoff);
                }
                Err((error, _)) if attempt > 1 => {
                    return Err(LlmError::GaveUp {
                        url,
                        attempts: attempt,
                        last: Box::new(error),
                    });
                }
                Err((error, _)) => return Err(error),
            }
        }
    }

    async fn send(&self, url: &str, body: &Value) -> Result<Value, (LlmError, Option<Duration>)> {
        let seconds = self.endpoint.timeout.as_secs_f64();
        let classify = |e: reqwest::Error| {
            if e.is_timeout() {
                LlmError::Timeout {
                    url: url.to_owned(),
                    seconds,
                }
            } else if e.is_connect() || e.is_request() {
                LlmError::Connect {
                    url: url.to_owned(),
                    reason: e.without_url().to_string(),
                }
            } else {
                LlmError::Malformed {
                    url: url.to_owned(),
                    reason: format!("body cut short: {}", e.without_url()),
                }
            }
        };
        let mut request = self.http.post(url).json(body);
        if let Some(key) = &self.endpoint.api_key {
            request = request.bearer_auth(key.expose());
        }
        let response = request.send().await.map_err(|e| (classify(e), None))?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let text = response.text().await.map_err(|e| (classify(e), wait))?;
        if !status.is_success() {
            return Err((
                LlmError::Status {
                    url: url.to_owned(),
                    status: status.as_u16(),
                    body: excerpt(&text),
                },
                wait,
            ));
        }
        serde_json::from_str(&text).map_err(|e| {
            (
                LlmError::Malformed {
                    url: url.to_owned(),
                    reason: format!("not JSON ({e}): {}", excerpt(&text)),
                },
                None,
            )
        })
    }

    fn count_tokens(&self, response: &Value) {
        let usage = &response["usage"];
        let add = |counter: &AtomicU64, field: &str| {
            if let Some(n) = usage[field].as_u64() {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        };
        add(&self.usage.prompt_tokens, "prompt_tokens");
        add(&self.usage.completion_tokens, "completion_tokens");
    }
}
