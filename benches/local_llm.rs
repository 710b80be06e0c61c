//! The local LLM backend on Gemma-3-270M (Q4_K_M, from PyPI) against the
//! setups a user would run instead, in the same run, medians of three with
//! their range:
//!
//! (a) scoring one demo unit top-and-random (10 records): our
//!     value probabilities against llama.cpp's OpenAI server (llama-cpp-python
//!     built by `make test-llama`, `--logits_all true`, echoed prompt
//!     logprobs: what the HTTP simulator asks) and against transformers
//!     computing full logits for the same prompts (bench/transformers_simulate.py);
//! (b) explanation generation, tokens/s after the prompt is cached, against
//!     the same llama.cpp server on the same prompt, both greedy;
//! (c) `explain` then `score` of 50 demo units end to end with the CLI:
//!     wall time and the mean score.
//!
//! cargo bench --bench local_llm   (make bench-local-llm)
mod common;

use common::{median_and_range, timed};
use featurescope::dataset::Dataset;
use featurescope::interp::explainer::{self, ShownRecord, default_examples};
use featurescope::interp::records::{RecordSet, explanation_records, scoring_records};
use featurescope::interp::simulator;
use featurescope::llm::{Endpoint, Generation, LlmClient, LocalModel};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 3;
/// A neuron of the demo (layer 2) with real top and random records.
const UNIT: u64 = 5;
const GENERATED: usize = 32;
const END_TO_END_UNITS: &str = "random:50";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// llama.cpp's OpenAI-compatible server (llama-cpp-python) on `model`.
fn llama_server(root: &Path, model: &Path) -> (Server, String) {
    let python = root.join(".venv-llama/bin/python");
    assert!(
        python.exists(),
        "llama.cpp's server is missing: `make bench-local-llm` builds it"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(root.join("target/llama-bench-server.log")).unwrap();
    let child = Command::new(python)
        .args(["-m", "llama_cpp.server", "--model"])
        .arg(model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--logits_all",
            "true",
            "--n_ctx",
            "4096",
            "--n_threads",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server(child);
    let url = format!("http://127.0.0.1:{port}/v1");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "llama.cpp's server did not start (target/llama-bench-server.log)"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    (server, url)
}

/// The project's HTTP client, as the simulator and explainer use it.
struct Http {
    client: LlmClient,
    runtime: tokio::runtime::Runtime,
}

impl Http {
    fn new(url: &str) -> Self {
        let mut endpoint = Endpoint::new(url, "gemma-3-270m");
        endpoint.timeout = Duration::from_secs(3600);
        endpoint.max_attempts = 1;
        endpoint.concurrency = 1;
        Self {
            client: LlmClient::new(endpoint, None).unwrap(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.runtime.block_on(self.client.post(path, body)).unwrap()
    }
}

fn line(what: &str, ours: (f64, f64, f64), theirs: (f64, f64, f64), unit: &str, peer: &str) {
    println!(
        "{what:26} featurescope {:.2} {unit} ({:.2}-{:.2}), {peer} {:.2} {unit} ({:.2}-{:.2})",
        ours.0, ours.1, ours.2, theirs.0, theirs.1, theirs.2
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("local_llm: run with `cargo bench` (make bench-local-llm)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let gguf = root.join(".venv/models/gemma-3-270m-q4_k_m.gguf");
    let demo = root.join("datasets/demo");
    let ds = Dataset::open(&demo).unwrap();
    let records = ds.records(UNIT).unwrap();
    let examples = default_examples();

    // (a) The prompts the simulator sends to score one explanation.
    let evidence: Vec<u64> = explanation_records(&records, 10)
        .iter()
        .map(|r| r.record_id)
        .collect();
    let scored = scoring_records(&records, &evidence, RecordSet::TopAndRandom, 5, 5);
    let prompts: Vec<_> = scored
        .iter()
        .map(|r| simulator::prompt(&examples, "short common words", &r.tokens))
        .collect();
    let model = LocalModel::load(&gguf).unwrap();
    let mut ours = Vec::new();
    // The first run pays for the shared prefix, as the first unit of a batch does.
    for run in 0..=RUNS {
        let explanation = format!("short common words, take {run}");
        let start = Instant::now();
        for r in &scored {
            let p = simulator::prompt(&examples, &explanation, &r.tokens);
            model
                .value_probabilities(&p.text, &p.unknown_offsets)
                .unwrap();
        }
        if run > 0 {
            ours.push(start.elapsed().as_secs_f64());
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let prompts_json = tmp.path().join("prompts.json");
    let as_json: Vec<Value> = prompts
        .iter()
        .map(|p| json!({"prompt": p.text, "offsets": p.unknown_offsets}))
        .collect();
    std::fs::write(&prompts_json, Value::from(as_json).to_string()).unwrap();
    let (_, peer) = timed(
        Command::new(root.join(".venv/bin/python"))
            .arg(root.join("bench/transformers_simulate.py"))
            .arg(&gguf)
            .arg(&prompts_json)
            .arg(RUNS.to_string()),
    );
    let transformers: Value = serde_json::from_str(&peer).expect("peer JSON");
    let transformers_seconds: Vec<f64> = transformers["seconds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();

    let (server, url) = llama_server(root, &gguf);
    let http = Http::new(&url);
    let mut llama = Vec::new();
    for run in 0..RUNS {
        let explanation = format!("short common words, take {run}");
        let start = Instant::now();
        for r in &scored {
            let p = simulator::prompt(&examples, &explanation, &r.tokens);
            let body = json!({"prompt": p.text, "max_tokens": 1, "echo": true, "logprobs": 15, "temperature": 0.0});
            let reply = http.post("/completions", body);
            assert!(reply.pointer("/choices/0/logprobs/top_logprobs").is_some());
        }
        llama.push(start.elapsed().as_secs_f64());
    }
    let prompt_tokens = transformers["tokens"].as_u64().unwrap();

    // (b) Generation on the explainer prompt of the same unit.
    let shown: Vec<ShownRecord> = explanation_records(&records, 10)
        .iter()
        .map(|r| ShownRecord {
            tokens: r.tokens.clone(),
            activations: r.activations.clone(),
        })
        .collect();
    let explain_prompt = explainer::prompt(&examples, &shown).completion_text();
    let greedy = |max_tokens| Generation {
        max_tokens,
        temperature: 0.0,
        top_p: 1.0,
        seed: 0,
        stop: Vec::new(),
    };
    model.generate(&explain_prompt, &greedy(1)).unwrap(); // caches the prompt
    let mut our_rates = Vec::new();
    for _ in 0..RUNS {
        let before = model
            .usage()
            .completion_tokens
            .load(std::sync::atomic::Ordering::Relaxed);
        let start = Instant::now();
        model.generate(&explain_prompt, &greedy(GENERATED)).unwrap();
        let seconds = start.elapsed().as_secs_f64();
        let written = model
            .usage()
            .completion_tokens
            .load(std::sync::atomic::Ordering::Relaxed)
            - before;
        our_rates.push(written as f64 / seconds);
    }
    let completion = |max_tokens: usize| json!({"prompt": explain_prompt, "max_tokens": max_tokens, "temperature": 0.0});
    http.post("/completions", completion(1)); // caches the prompt
    let mut llama_rates = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let reply = http.post("/completions", completion(GENERATED));
        let seconds = start.elapsed().as_secs_f64();
        let written = reply["usage"]["completion_tokens"].as_f64().unwrap();
        llama_rates.push(written / seconds);
    }
    drop(server);

    // (c) End to end with the CLI on a copy of the demo.
    let copy = tmp.path().join("demo");
    assert!(
        Command::new("cp")
            .arg("-r")
            .arg(&demo)
            .arg(&copy)
            .status()
            .unwrap()
            .success()
    );
    let fs = env!("CARGO_BIN_EXE_featurescope");
    let start = Instant::now();
    timed(Command::new(fs).arg("explain").arg(&copy).args([
        "--units",
        END_TO_END_UNITS,
        "--no-cache",
    ]));
    let explained = start.elapsed().as_secs_f64();
    timed(Command::new(fs).arg("score").arg(&copy).args([
        "--units",
        END_TO_END_UNITS,
        "--no-cache",
    ]));
    let total = start.elapsed().as_secs_f64();
    let (_, report) = timed(Command::new(fs).arg("report").arg(&copy).arg("--json"));
    let report: Value = serde_json::from_str(&report).unwrap();

    println!(
        "model                      {} ({} prompt tokens over the {} scoring prompts of unit {UNIT})",
        gguf.display(),
        prompt_tokens,
        scored.len()
    );
    let ours = median_and_range(ours);
    let llama = median_and_range(llama);
    let transformers_m = median_and_range(transformers_seconds);
    line(
        "score one unit (10 texts)",
        ours,
        llama,
        "s",
        "llama.cpp server",
    );
    println!(
        "                           ratio {:.1}x against llama.cpp; transformers (full logits, torch {}, {} threads) {:.2} s ({:.2}-{:.2}), ratio {:.2}x",
        llama.0 / ours.0,
        transformers["torch"].as_str().unwrap_or("?"),
        transformers["threads"],
        transformers_m.0,
        transformers_m.1,
        transformers_m.2,
        transformers_m.0 / ours.0
    );
    let ours_g = median_and_range(our_rates);
    let llama_g = median_and_range(llama_rates);
    line(
        "generate (greedy)",
        ours_g,
        llama_g,
        "tokens/s",
        "llama.cpp server",
    );
    println!(
        "                           ratio {:.2}x",
        ours_g.0 / llama_g.0
    );
    println!(
        "explain + score 50 units   {total:.0} s ({explained:.0} s explaining); mean score {:.3} over {} scored units",
        report["overall"][0]["mean"].as_f64().unwrap_or(f64::NAN),
        report["overall"][0]["units_scored"]
    );
}
