//! A real HTTP/1.1 server on loopback that plays scripted replies in order
//! and records every request, for testing the LLM client over the wire.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
    /// Announce more bytes than are sent, then close: a body cut short.
    pub truncated: bool,
}

impl Reply {
    pub fn json(body: serde_json::Value) -> Self {
        Self {
            status: 200,
            headers: vec![],
            body: body.to_string(),
            delay: Duration::ZERO,
            truncated: false,
        }
    }

    pub fn status(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![],
            body: body.into(),
            delay: Duration::ZERO,
            truncated: false,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn truncated(mut self) -> Self {
        self.truncated = true;
        self
    }
}

#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct ScriptedServer {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
    /// Most requests in flight at once.
    pub peak_concurrency: Arc<AtomicUsize>,
}

type Responder = dyn Fn(&Request) -> Reply + Send + Sync;

/// Where replies come from: a fixed script, or a function of the request.
enum Source {
    Script(Mutex<Vec<Reply>>),
    Function(Box<Responder>),
}

fn handle(
    mut stream: TcpStream,
    source: &Source,
    requests: &Mutex<Vec<Request>>,
    active: &AtomicUsize,
    peak: &AtomicUsize,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut headers = Vec::new();
    let mut length = 0;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let now = active.fetch_add(1, Ordering::SeqCst) + 1;
    peak.fetch_max(now, Ordering::SeqCst);
    let request = Request {
        path,
        headers,
        body: serde_json::from_slice(&body).unwrap_or_default(),
    };
    requests.lock().unwrap().push(request.clone());
    let reply = match source {
        Source::Script(script) => {
            let mut script = script.lock().unwrap();
            if script.is_empty() {
                Reply::status(500, "script exhausted")
            } else {
                script.remove(0)
            }
        }
        Source::Function(respond) => respond(&request),
    };
    std::thread::sleep(reply.delay);
    // No longer in flight once the reply goes out: decremented after the
    // write, a client that has its reply could send its next request before
    // this thread runs again, and be counted beside this one.
    active.fetch_sub(1, Ordering::SeqCst);
    let announced = reply.body.len() + if reply.truncated { 100 } else { 0 };
    let mut head = format!(
        "HTTP/1.1 {} Scripted\r\nContent-Type: application/json\r\nContent-Length: {announced}\r\nConnection: close\r\n",
        reply.status
    );
    for (n, v) in &reply.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(reply.body.as_bytes());
    let _ = stream.flush();
}

impl ScriptedServer {
    pub fn start(script: Vec<Reply>) -> Self {
        Self::serve(Source::Script(Mutex::new(script)))
    }

    /// A server that answers each request with `respond(request)`.
    pub fn respond_with(respond: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        Self::serve(Source::Function(Box::new(respond)))
    }

    fn serve(source: Source) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let peak = Arc::new(AtomicUsize::new(0));
        let source = Arc::new(source);
        let active = Arc::new(AtomicUsize::new(0));
        let (r, p) = (requests.clone(), peak.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (source, r, active, p) = (source.clone(), r.clone(), active.clone(), p.clone());
                std::thread::spawn(move || handle(stream, &source, &r, &active, &p));
            }
        });
        Self {
            url,
            requests,
            peak_concurrency: peak,
        }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

/// A fake LLM for the autointerp tests and benchmark: its explainer says "the
/// word cat" (to a revision request too); its
/// simulator answers echoed-logprob requests with 90% on 10 where a token
/// contains "cat" and 95% on 0 elsewhere.
pub fn fake_llm(request: &Request) -> Reply {
    if request.path.ends_with("/chat/completions") {
        return fake_chat(request);
    }
    let prompt = request.body["prompt"].as_str().unwrap_or_default();
    if request.body["echo"] != serde_json::json!(true) {
        return Reply::json(
            serde_json::json!({"choices": [{"text": " the word cat.\n"}], "usage": {"prompt_tokens": 100, "completion_tokens": 5}}),
        );
    }
    echoed_simulation(prompt, |token| token.contains("cat"))
}

/// The reply to an echoed-logprob simulation request for `prompt`: 90% on
/// 10 where a token `fires`, 95% on 0 elsewhere.
pub fn echoed_simulation(prompt: &str, fires: impl Fn(&str) -> bool) -> Reply {
    // One "token" per line of the last block: offsets of each `unknown`.
    let block = prompt.rfind("<start>\n").unwrap() + "<start>\n".len();
    let (mut offsets, mut tops) = (vec![], vec![]);
    let mut at = block;
    for line in prompt[block..].lines() {
        if let Some((token, "unknown")) = line.rsplit_once('\t') {
            offsets.push(at + token.len() + 1);
            let top: std::collections::HashMap<&str, f64> = if fires(token) {
                [("10", 0.9f64.ln()), ("0", 0.1f64.ln())].into()
            } else {
                [("0", 0.95f64.ln()), ("1", 0.05f64.ln())].into()
            };
            tops.push(serde_json::json!(top));
        }
        at += line.len() + 1;
    }
    Reply::json(
        serde_json::json!({"choices": [{"text": "", "logprobs": {"text_offset": offsets, "top_logprobs": tops}}], "usage": {"prompt_tokens": 300, "completion_tokens": 1}}),
    )
}

/// The chat side of [`fake_llm`]: the simulator writes `token<TAB>value`
/// lines and gives top logprobs for each value (the same distributions as the
/// echo side); anything else gets the explanation.
fn fake_chat(request: &Request) -> Reply {
    let messages = request.body["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let user = messages
        .last()
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    if !user.contains("\tunknown") {
        let reply = serde_json::json!({"role": "assistant", "content": "the word cat."});
        return Reply::json(
            serde_json::json!({"choices": [{"message": reply}], "usage": {"prompt_tokens": 100, "completion_tokens": 5}}),
        );
    }
    let block = &user[user.rfind("<start>\n").unwrap() + "<start>\n".len()..];
    let (mut content, mut pieces) = (String::new(), vec![]);
    for line in block.lines() {
        let Some((token, "unknown")) = line.rsplit_once('\t') else {
            continue;
        };
        let (value, tops) = if token.contains("cat") {
            ("10", [("10", 0.9f64), ("0", 0.1)])
        } else {
            ("0", [("0", 0.95), ("1", 0.05)])
        };
        let tops: Vec<_> = tops
            .iter()
            .map(|(t, p)| serde_json::json!({"token": t, "logprob": p.ln()}))
            .collect();
        pieces.push(
            serde_json::json!({"token": format!("{token}\t"), "logprob": 0.0, "top_logprobs": []}),
        );
        pieces.push(serde_json::json!({"token": value, "logprob": 0.0, "top_logprobs": tops}));
        pieces.push(serde_json::json!({"token": "\n", "logprob": 0.0, "top_logprobs": []}));
        content.push_str(&format!("{token}\t{value}\n"));
    }
    let choice = serde_json::json!({"message": {"role": "assistant", "content": content}, "logprobs": {"content": pieces}});
    Reply::json(
        serde_json::json!({"choices": [choice], "usage": {"prompt_tokens": 300, "completion_tokens": 30}}),
    )
}
