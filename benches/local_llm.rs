//! The local LLM backend on Gemma-3-270M (Q4_K_M, from PyPI) against the
//! setups a user would run instead, in the same run, medians of three with
//! their range:
//!
//! (a) scoring one demo unit top-and-random (10 records): our
//!     value probabilities against llama.cpp's OpenAI server (llama-cpp-python
//!     built by `make test-llama`, `--logits_all true`, echoed prompt
//!     logprobs: what the HTTP simulator asks) on prompts without few-shot
//!     examples, and against transformers computing full logits for the
//!     same prompts and for the full few-shot prompts
//!     (bench/transformers_simulate.py);
//! (b) explanation generation, tokens/s after the prompt is cached, against
//!     the same llama.cpp server on the same prompt, both greedy;
//! (c) `explain` then `score` of 50 demo units end to end with the CLI:
//!     wall time and the mean score.
//!
//! cargo bench --bench local_llm   (make bench-local-llm)
mod common;

use common::{median_and_range, timed};
use featurescope::dataset::Dataset;
use featurescope::interp::explainer::{self, FewShotExample, ShownRecord, default_examples};
use featurescope::interp::records::{RecordSet, explanation_records, scoring_records};
use featurescope::interp::simulator::{self, SimulationPrompt};
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
        // A pooled connection the server closed while we computed is retried.
        endpoint.max_attempts = 3;
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

    // (a) The prompts the simulator sends to score one explanation, one
    // explanation per run (run 0 warms up: it pays for the shared prefix,
    // as the first unit of a batch does). llama.cpp's server echoes
    // logprobs at about 0.3 s a token here, so the three-way comparison
    // uses prompts without the few-shot examples (about 150 tokens each);
    // ours and transformers also run the full prompts.
    let evidence: Vec<u64> = explanation_records(&records, 10)
        .iter()
        .map(|r| r.record_id)
        .collect();
    let scored = scoring_records(&records, &evidence, RecordSet::TopAndRandom, 5, 5);
    let runs_of = |examples: &[FewShotExample]| -> Vec<Vec<SimulationPrompt>> {
        (0..=RUNS)
            .map(|run| {
                let explanation = format!("short common words, take {run}");
                scored
                    .iter()
                    .map(|r| simulator::prompt(examples, &explanation, &r.tokens))
                    .collect()
            })
            .collect()
    };
    let (short, full) = (runs_of(&[]), runs_of(&examples));
    let model = LocalModel::load(&gguf).unwrap();
    let ours_on = |runs: &[Vec<SimulationPrompt>]| -> Vec<f64> {
        let seconds: Vec<f64> = runs
            .iter()
            .map(|prompts| {
                let start = Instant::now();
                for p in prompts {
                    model
                        .value_probabilities(&p.text, &p.unknown_offsets)
                        .unwrap();
                }
                start.elapsed().as_secs_f64()
            })
            .collect();
        seconds[1..].to_vec()
    };
    let (ours_short, ours_full) = (ours_on(&short), ours_on(&full));
    let tmp = tempfile::tempdir().unwrap();
    let transformers_on = |runs: &[Vec<SimulationPrompt>]| -> Value {
        let path = tmp.path().join("prompts.json");
        let as_json: Vec<Vec<Value>> = runs
            .iter()
            .map(|prompts| {
                prompts
                    .iter()
                    .map(|p| json!({"prompt": p.text, "offsets": p.unknown_offsets}))
                    .collect()
            })
            .collect();
        std::fs::write(&path, json!(as_json).to_string()).unwrap();
        let (_, out) = timed(
            Command::new(root.join(".venv/bin/python"))
                .arg(root.join("bench/transformers_simulate.py"))
                .arg(&gguf)
                .arg(&path),
        );
        serde_json::from_str(&out).expect("peer JSON")
    };
    let (transformers_short, transformers_full) = (transformers_on(&short), transformers_on(&full));
    let seconds_of = |v: &Value| -> Vec<f64> {
        v["seconds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_f64().unwrap())
            .collect()
    };

    let tokens = |v: &Value| v["tokens"].as_u64().unwrap();
    println!(
        "model                      {} (unit {UNIT}: {} scoring prompts, {} tokens without few-shot examples, {} with)",
        gguf.display(),
        scored.len(),
        tokens(&transformers_short),
        tokens(&transformers_full)
    );
    let (ours_s, ours_f) = (median_and_range(ours_short), median_and_range(ours_full));
    let (tr_s, tr_f) = (
        median_and_range(seconds_of(&transformers_short)),
        median_and_range(seconds_of(&transformers_full)),
    );
    line("score one unit, short", ours_s, tr_s, "s", "transformers");
    println!(
        "                           ratio {:.2}x against transformers",
        tr_s.0 / ours_s.0
    );
    line(
        "score one unit, few-shot",
        ours_f,
        tr_f,
        "s",
        "transformers",
    );
    println!(
        "                           ratio {:.2}x against transformers (full logits, torch {}, {} threads)",
        tr_f.0 / ours_f.0,
        transformers_full["torch"].as_str().unwrap_or("?"),
        transformers_full["threads"]
    );
    let (server, url) = llama_server(root, &gguf);
    let http = Http::new(&url);
    let echo = |p: &SimulationPrompt| {
        let body = json!({"prompt": p.text, "max_tokens": 1, "echo": true, "logprobs": 15, "temperature": 0.0});
        let reply = http.post("/completions", body);
        assert!(reply.pointer("/choices/0/logprobs/top_logprobs").is_some());
    };
    // About ten minutes a run here; BENCH_LLAMA_ECHO=0 leaves it out.
    if std::env::var("BENCH_LLAMA_ECHO").as_deref() != Ok("0") {
        echo(&short[0][0]); // the shared prefix, as ours had in run 0
        let llama: Vec<f64> = short[1..]
            .iter()
            .map(|prompts| {
                let start = Instant::now();
                prompts.iter().for_each(echo);
                start.elapsed().as_secs_f64()
            })
            .collect();
        let llama = median_and_range(llama);
        line(
            "score one unit, short",
            ours_s,
            llama,
            "s",
            "llama.cpp server",
        );
        println!(
            "                           ratio {:.1}x against llama.cpp",
            llama.0 / ours_s.0
        );
    }

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
    // Explained and scored from nothing, whatever the demo ships.
    for annotations in ["explanations", "scores"] {
        let _ = std::fs::remove_dir_all(copy.join(annotations));
    }
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
        report["overall"]["mean"].as_f64().unwrap_or(f64::NAN),
        report["overall"]["units_scored"]
    );
}
