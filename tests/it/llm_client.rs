//! The LLM client against a real HTTP server on loopback playing scripted
//! replies: retries, Retry-After, timeouts, cut and malformed bodies, the
//! cache, the concurrency limit, and the API key never leaking.

use crate::common::http;

use featurescope::llm::{Endpoint, LlmClient, LlmError, ResponseCache, Secret, Usage};
use http::{Reply, ScriptedServer};
use serde_json::json;
use std::time::{Duration, Instant};

fn ok_reply(text: &str) -> Reply {
    Reply::json(
        json!({"choices": [{"text": text}], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}),
    )
}

fn endpoint(server: &ScriptedServer) -> Endpoint {
    let mut e = Endpoint::new(&server.url, "test-model");
    e.initial_backoff = Duration::from_millis(20);
    e.max_backoff = Duration::from_millis(100);
    e.timeout = Duration::from_secs(5);
    e.max_attempts = 4;
    e
}

#[tokio::test]
async fn a_429_waits_for_retry_after_then_succeeds() {
    let server = ScriptedServer::start(vec![
        Reply::status(429, "slow down").with_header("Retry-After", "1"),
        ok_reply("hi"),
    ]);
    let client = LlmClient::new(endpoint(&server), None).unwrap();
    let start = Instant::now();
    let reply = client
        .post("/completions", json!({"prompt": "x"}))
        .await
        .unwrap();
    assert_eq!(reply["choices"][0]["text"], "hi");
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "Retry-After honoured: {:?}",
        start.elapsed()
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/v1/completions");
    assert_eq!(
        requests[0].body,
        json!({"prompt": "x", "model": "test-model"})
    );
    assert_eq!(Usage::get(&client.usage().retries), 1);
    assert_eq!(Usage::get(&client.usage().prompt_tokens), 7);
}

#[tokio::test]
async fn server_errors_and_cut_bodies_are_retried() {
    let server = ScriptedServer::start(vec![
        Reply::status(500, "boom"),
        Reply::status(503, "busy"),
        ok_reply("partial").truncated(),
        ok_reply("whole"),
    ]);
    let client = LlmClient::new(endpoint(&server), None).unwrap();
    let reply = client
        .post("/completions", json!({"prompt": "x"}))
        .await
        .unwrap();
    assert_eq!(reply["choices"][0]["text"], "whole");
    assert_eq!(server.requests().len(), 4);
    assert_eq!(Usage::get(&client.usage().retries), 3);
}

#[tokio::test]
async fn a_client_error_is_not_retried_and_names_the_status() {
    let server = ScriptedServer::start(vec![Reply::status(
        400,
        "{\"error\": \"bad model\u{1b}[2J\"}",
    )]);
    let client = LlmClient::new(endpoint(&server), None).unwrap();
    let err = client
        .post("/chat/completions", json!({"messages": []}))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, LlmError::Status { status: 400, .. }),
        "{text}"
    );
    assert!(
        text.contains("/v1/chat/completions: HTTP 400") && text.contains("bad model"),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "escape sequences are escaped: {text}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_slow_server_times_out_and_the_client_gives_up() {
    let slow = || ok_reply("late").delayed(Duration::from_millis(1500));
    let server = ScriptedServer::start(vec![slow(), slow()]);
    let mut e = endpoint(&server);
    e.timeout = Duration::from_millis(300);
    e.max_attempts = 2;
    let client = LlmClient::new(e, None).unwrap();
    let start = Instant::now();
    let err = client
        .post("/completions", json!({"prompt": "x"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::GaveUp { attempts: 2, last, .. } if matches!(**last, LlmError::Timeout { .. })),
        "{err}"
    );
    assert!(
        err.to_string().contains("no response within 0.3 s"),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_millis(1400),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn malformed_json_is_an_error_with_the_body() {
    let bad = || Reply::status(200, "{\"choices\": [");
    let server = ScriptedServer::start(vec![bad(), bad()]);
    let mut e = endpoint(&server);
    e.max_attempts = 2;
    let client = LlmClient::new(e, None).unwrap();
    let err = client
        .post("/completions", json!({"prompt": "x"}))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("unreadable response: not JSON")
            && err.to_string().contains("{\"choices\": ["),
        "{err}"
    );
}

#[tokio::test]
async fn a_dead_endpoint_is_a_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let mut e = Endpoint::new(url, "m");
    e.initial_backoff = Duration::from_millis(10);
    e.max_attempts = 2;
    let err = LlmClient::new(e, None)
        .unwrap()
        .post("/completions", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::GaveUp { last, .. } if matches!(**last, LlmError::Connect { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn the_cache_answers_a_repeated_request_and_never_holds_the_key() {
    let server = ScriptedServer::start(vec![ok_reply("first"), ok_reply("second")]);
    let tmp = tempfile::tempdir().unwrap();
    let mut e = endpoint(&server);
    e.api_key = Some(Secret::new("sk-top-secret-123"));
    let client = LlmClient::new(e.clone(), Some(ResponseCache::new(tmp.path()))).unwrap();
    let a = client
        .post("/completions", json!({"prompt": "same"}))
        .await
        .unwrap();
    let again = LlmClient::new(e.clone(), Some(ResponseCache::new(tmp.path()))).unwrap();
    let b = again
        .post("/completions", json!({"prompt": "same"}))
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(Usage::get(&again.usage().cached), 1);
    let c = again
        .post("/completions", json!({"prompt": "different"}))
        .await
        .unwrap();
    assert_eq!(c["choices"][0]["text"], "second");
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "the repeat came from the cache");
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer sk-top-secret-123")
    );
    for entry in walk(tmp.path()) {
        assert!(
            !std::fs::read_to_string(&entry)
                .unwrap()
                .contains("sk-top-secret"),
            "key in {}",
            entry.display()
        );
    }
    assert!(!format!("{:?}", client.endpoint()).contains("sk-top-secret"));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flat_map(|e| {
            let p = e.unwrap().path();
            if p.is_dir() { walk(&p) } else { vec![p] }
        })
        .collect()
}

#[tokio::test]
async fn the_concurrency_limit_holds() {
    let replies = (0..6)
        .map(|_| ok_reply("x").delayed(Duration::from_millis(200)))
        .collect();
    let server = ScriptedServer::start(replies);
    let mut e = endpoint(&server);
    e.concurrency = 2;
    let client = std::sync::Arc::new(LlmClient::new(e, None).unwrap());
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.post("/completions", json!({"prompt": i})).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(
        server
            .peak_concurrency
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
}
