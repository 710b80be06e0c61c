//! Autointerp client benchmark: explain and score 500 units against a
//! loopback server (another process) that answers after a fixed 200 ms, at
//! concurrency 32; wall time over the ideal (calls × latency ÷ concurrency)
//! and client CPU per request, as medians of three runs with their range.
//!
//! cargo bench --bench autointerp   (make bench-autointerp)
// The integration tests' server; this benchmark uses part of it.
mod common;
#[allow(dead_code)]
#[path = "../tests/it/common/http.rs"]
mod http;

use common::spread;
use featurescope::dataset::Dataset;
use featurescope::interp::batch;
use featurescope::interp::engine::{Explainer, Simulator};
use featurescope::interp::explainer::default_examples;
use featurescope::interp::records::RecordSet;
use featurescope::llm::config::Api;
use featurescope::llm::{Backend, Endpoint, LlmClient, Usage};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const UNITS: u64 = 500;
const LATENCY: Duration = Duration::from_millis(200);
const CONCURRENCY: usize = 32;
const SERVER_ENV: &str = "FEATURESCOPE_BENCH_FAKE_LLM";

/// CPU seconds (user + system) of this process so far.
fn cpu_seconds() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

/// The server process: prints its URL, serves until stdin closes.
fn serve() {
    let server = http::ScriptedServer::respond_with(|r| http::fake_llm(r).delayed(LATENCY));
    println!("{}", server.url);
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

struct Phase {
    calls: u64,
    wall: f64,
    cpu: f64,
}

fn measure(backend: &Backend, run: impl FnOnce()) -> Phase {
    let (calls, cpu, start) = (
        Usage::get(&backend.usage().requests),
        cpu_seconds(),
        Instant::now(),
    );
    run();
    Phase {
        calls: Usage::get(&backend.usage().requests) - calls,
        wall: start.elapsed().as_secs_f64(),
        cpu: cpu_seconds() - cpu,
    }
}

const RUNS: usize = 3;

/// One phase's runs: wall, wall over the ideal, client CPU per request.
fn report(name: &str, runs: &[Phase]) {
    let calls = runs[0].calls;
    assert!(
        runs.iter().all(|p| p.calls == calls),
        "the same calls each run"
    );
    let ideal = calls as f64 * LATENCY.as_secs_f64() / CONCURRENCY as f64;
    let walls: Vec<f64> = runs.iter().map(|p| p.wall).collect();
    let ratios: Vec<f64> = walls.iter().map(|w| w / ideal).collect();
    let cpu: Vec<f64> = runs.iter().map(|p| p.cpu / calls as f64 * 1e6).collect();
    println!(
        "{name:8} {calls:>5} calls  wall {} s  ideal {ideal:.2} s  ratio {}  client CPU {} µs/request",
        spread(&walls, 2),
        spread(&ratios, 3),
        spread(&cpu, 0),
    );
}

fn main() {
    if std::env::var_os(SERVER_ENV).is_some() {
        return serve();
    }
    if !std::env::args().any(|a| a == "--bench") {
        println!("autointerp: run with `cargo bench` (make bench-autointerp)");
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("bench-data/autointerp");
    let spec = featurescope::synth::SynthSpec {
        units: UNITS,
        records_per_unit: 20,
        tokens_per_record: 64,
        layers: 4,
        seed: 3,
        ..Default::default()
    };
    let mut server = Command::new(std::env::current_exe().unwrap())
        .env(SERVER_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let mut endpoint = Endpoint::new(url.trim(), "fake");
    endpoint.concurrency = CONCURRENCY;
    endpoint.timeout = Duration::from_secs(30);
    let backend = Backend::Http {
        client: LlmClient::new(endpoint, None).unwrap(),
        api: Api::Completions,
    };
    let units: Vec<u64> = (0..UNITS).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let explainer = Explainer {
        backend: &backend,
        examples: default_examples(),
        records_shown: 10,
    };
    let (mut explains, mut scores) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        // A new dataset each run, so that every unit is explained and scored.
        let _ = std::fs::remove_dir_all(&dir);
        featurescope::synth::generate(&dir, &spec, |_| {}).expect("synthetic dataset");
        let ds = Dataset::open(&dir).unwrap();
        let explain = measure(&backend, || {
            let outcome = runtime
                .block_on(batch::explain_units(
                    &ds,
                    &explainer,
                    &units,
                    1,
                    false,
                    |_| {},
                ))
                .unwrap();
            assert!(outcome.failed.is_empty(), "{:?}", outcome.failed.first());
        });
        let simulator = Simulator {
            backend: &backend,
            examples: default_examples(),
        };
        let scorer = batch::Scorer::Simulation {
            simulator: &simulator,
            set: RecordSet::TopAndRandom,
            top: 5,
            random: 5,
        };
        let score = measure(&backend, || {
            let outcome = runtime
                .block_on(batch::score_units(&ds, &scorer, &units, false, |_, _| {}))
                .unwrap();
            assert!(outcome.failed.is_empty(), "{:?}", outcome.failed.first());
        });
        explains.push(explain);
        scores.push(score);
    }
    drop(server.stdin.take());
    let _ = server.wait();
    println!(
        "{UNITS} units, server latency {} ms, concurrency {CONCURRENCY}",
        LATENCY.as_millis()
    );
    println!("median [min–max] of {RUNS} runs");
    report("explain", &explains);
    report("score", &scores);
    let both: Vec<Phase> = explains
        .iter()
        .zip(&scores)
        .map(|(e, s)| Phase {
            calls: e.calls + s.calls,
            wall: e.wall + s.wall,
            cpu: e.cpu + s.cpu,
        })
        .collect();
    report("both", &both);
}
