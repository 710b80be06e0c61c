//! Explorer benchmark: `featurescope replay` (the default browsing script,
//! through the real crossterm rendering path into a sink) on the bundled
//! demo and on the synthetic GPT-2 XL-scale dataset of the store benchmark,
//! each alone and with a background job running inside the explorer: an SAE
//! training job (as the train key starts one; both cores) on the demo's
//! activation cache, or the SAE benchmark's MiniLM one.
//! Each figure is the median of three replays with its range.
//! Targets: first frame ≤ 300 ms, p99 frame ≤ 16 ms.
//!
//! The lab on the demo: a replay that probes a 64-token text five times,
//! opens the top unit, finds its similar units and steers with it twice,
//! a key every 50 ms, alone and beside the training job; against the peer a
//! Python user would run instead (bench/transformers_lab.py: transformers on
//! the same GGUF file with hooks, SAELens and the linear dictionaries
//! encoding, and generation with a steering hook). Target: a probe on
//! screen in ≤ 300 ms.
//!
//! Beside the local LLM: the demo replayed while the bundled Gemma-3-270M
//! explains and scores units one after another in the explorer (`e`, then
//! `m`), on a copy of the demo with a response cache of its own, so every
//! run computes. Target: p99 frame ≤ 16 ms.
//!
//! cargo bench --bench explorer   (make bench-explorer; `-- lab` for the lab
//! alone, `-- llm` for the replay beside the local LLM alone)
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// One replay: the browsing script (or `script`) `repeat` times over, a
/// key every `pace_ms` at most (0: back to back).
fn replay(
    dataset: &Path,
    train: Option<&Path>,
    repeat: u32,
    pace_ms: u32,
    script: Option<&str>,
) -> serde_json::Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_featurescope"));
    command.args([
        "replay",
        dataset.to_str().unwrap(),
        "--repeat",
        &repeat.to_string(),
        "--pace-ms",
        &pace_ms.to_string(),
        "--json",
    ]);
    if let Some(config) = train {
        command.arg("--train").arg(config);
    }
    if let Some(script) = script {
        command.args(["--script", script]);
    }
    run_replay(command)
}

fn run_replay(mut command: Command) -> serde_json::Value {
    let out = command.output().expect("run featurescope replay");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// The background job's config: a long SAE training run on the demo's cache,
/// in steps small enough that their rate is measured over many of them; with
/// no cache, the run the train key proposes on the demo (streamed from
/// Gemma over the demo corpus), made long.
fn background_job(root: &Path) -> Option<PathBuf> {
    let work = root.join("bench-data/explorer-bench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let config = work.join("sae.toml");
    // The demo's Gemma cache (make demo), else the SAE benchmark's MiniLM one.
    let cache = [
        "bench-data/gemma-l6-resid",
        "bench-data/minilm-l3-resid-train",
    ]
    .iter()
    .map(|c| root.join(c))
    .find(|c| c.join("cache.json").exists());
    let data = match cache {
        Some(cache) => {
            println!("background job: an SAE training run on {}", cache.display());
            format!("cache = {cache:?}")
        }
        None if root.join("bench-data/fortunes.jsonl").exists() => {
            println!(
                "background job: an SAE training run streamed from Gemma-3-270M over the demo corpus"
            );
            format!(
                "model = {:?}\ncorpus = {:?}\nhook = \"blocks.3.resid_post\"\nwindow = 32",
                root.join(".venv/models/gemma-3-270m-q4_k_m.gguf"),
                root.join("bench-data/fortunes.jsonl")
            )
        }
        None => {
            eprintln!(
                "no activation cache and no demo corpus (make demo-corpus): no background job"
            );
            return None;
        }
    };
    std::fs::write(
        &config,
        format!(
            "out = {:?}\n[data]\n{data}\n[sae]\narchitecture = \"standard\"\nd_sae = 2048\n\
             [train]\ntokens = 100000000\nbatch = 256\ncheckpoint_every = 1000000\n",
            work.join("sae")
        ),
    )
    .unwrap();
    Some(config)
}

/// Median [min–max] of `key` over the runs; empty where no run reported it.
fn figure(runs: &[serde_json::Value], key: &str, digits: usize) -> String {
    let values: Vec<f64> = runs.iter().filter_map(|r| r[key].as_f64()).collect();
    if values.is_empty() {
        return "–".into();
    }
    common::spread(&values, digits)
}

/// One line per dataset and job: each figure the median of `RUNS` replays with its range.
fn report(name: &str, job: &str, runs: &[serde_json::Value]) {
    let s = |key: &str, digits: usize| figure(runs, key, digits);
    println!(
        "{name} · {job} · {} units · {} frames per run\n  first frame {} ms  list ready {} ms\n  \
         frame p50 {} p95 {} p99 {} max {} ms\n  unit open p50 {} ms  \
         {} sorts/filters of a long list: on screen p50 {} p99 {} ms",
        runs[0]["units"],
        runs[0]["frames"],
        s("first_frame_ms", 1),
        s("list_ready_ms", 1),
        s("frame_p50_ms", 2),
        s("frame_p95_ms", 2),
        s("frame_p99_ms", 2),
        s("frame_max_ms", 2),
        s("unit_open_p50_ms", 1),
        runs[0]["list_updates"],
        s("list_update_p50_ms", 1),
        s("list_update_p99_ms", 1),
    );
    if runs[0]["llm_jobs_during_replay"].is_u64() {
        println!(
            "  LLM jobs: {} explanations and scores finished in {} s of script, {} in as long alone",
            s("llm_jobs_during_replay", 0),
            s("script_s", 1),
            s("llm_jobs_alone", 0),
        );
    }
    if runs[0]["job_steps_during_replay"].is_u64() {
        println!(
            "  training job: {} steps/s beside the replay, {} alone ({} steps in {} s of script)",
            s("job_steps_per_s_during", 2),
            s("job_steps_per_s_alone", 2),
            s("job_steps_during_replay", 0),
            s("script_s", 1),
        );
    }
}

const RUNS: usize = 3;

/// The text probed: the start of the MIT licence, 64 tokens for Gemma
/// with its <bos> (the peer prints its count).
const PROBE_TEXT: &str = "Permission is hereby granted, free of charge, to any person obtaining a copy \
    of this software and associated documentation files (the Software), to deal in the Software \
    without restriction, including without limitation the rights to use, copy, modify, merge, \
    publish, distribute, sublicense, and/or sell copies of the Software,";
const STEER_PROMPT: &str = "The weather today is";
/// The demo's unit steered (an SAE feature), and by how much.
const STEER_UNIT: u64 = 4100;
const STEER_AMOUNT: f64 = 40.0;

/// Keys that type `text` in a replay script.
fn typed(text: &str) -> String {
    (text.split(' ').filter(|w| !w.is_empty()))
        .map(|w| format!("text:{w}"))
        .collect::<Vec<_>>()
        .join(" space ")
}

/// Probe five times (the probe key's input keeps the text), open the top
/// unit, find its similar units, steer twice.
fn lab_script() -> String {
    let steer = format!(
        "w {} enter",
        typed(&format!("+{STEER_AMOUNT} {STEER_PROMPT}"))
    );
    format!(
        "p {} enter {} enter n esc {steer} {steer}",
        typed(PROBE_TEXT),
        "p enter ".repeat(4)
    )
}

/// Median [min–max] of the `key` latencies of every run, the first of each
/// run (which loads the model) left out.
fn later_latencies(runs: &[serde_json::Value], key: &str) -> Vec<f64> {
    runs.iter()
        .flat_map(|r| r[key].as_array().unwrap().iter().skip(1))
        .filter_map(serde_json::Value::as_f64)
        .collect()
}

/// The lab replays; the medians of the probe and steering latencies.
fn lab(root: &Path, job: Option<&Path>) -> (f64, f64) {
    let demo = root.join("datasets/demo");
    let script = lab_script();
    let runs: Vec<serde_json::Value> = (0..RUNS)
        .map(|_| replay(&demo, job, 1, 50, Some(&script)))
        .collect();
    let beside = if job.is_some() {
        "beside a training job"
    } else {
        "alone"
    };
    let first: Vec<f64> = runs
        .iter()
        .filter_map(|r| r["probe_ms"][0].as_f64())
        .collect();
    let similar: Vec<f64> = (runs.iter())
        .filter_map(|r| r["similar_ms"][0].as_f64())
        .collect();
    let steer = later_latencies(&runs, "steer_ms");
    println!(
        "lab on the demo · {beside} · {RUNS} replays
  probe of {} tokens on screen: {} ms (the first, \
         loading the model while the text is typed: {} ms)
  similar units {} ms  \
         steered and unsteered, 32 tokens each: {} ms
  frame p99 {} max {} ms",
        PROBE_TOKENS,
        common::spread(&later_latencies(&runs, "probe_ms"), 0),
        common::spread(&first, 0),
        common::spread(&similar, 0),
        common::spread(&steer, 0),
        figure(&runs, "frame_p99_ms", 2),
        figure(&runs, "frame_max_ms", 2),
    );
    let median = |v: Vec<f64>| common::median_and_range(v).0;
    (median(later_latencies(&runs, "probe_ms")), median(steer))
}

/// Tokens of `PROBE_TEXT` with Gemma's <bos>.
const PROBE_TOKENS: usize = 64;

/// The peer's probe and steering times on the same text, prompt and unit.
fn lab_peer(root: &Path, (ours_probe, ours_steer): (f64, f64)) {
    let (_, out) = common::timed(
        Command::new(root.join(".venv/bin/python"))
            .arg(root.join("bench/transformers_lab.py"))
            .arg(root.join(".venv/models/gemma-3-270m-q4_k_m.gguf"))
            .arg(root.join("datasets/demo"))
            .args([PROBE_TEXT, "5", STEER_PROMPT, "32"])
            .args([STEER_UNIT.to_string(), STEER_AMOUNT.to_string()])
            .current_dir(root),
    );
    let peer: serde_json::Value = serde_json::from_str(&out).expect("peer JSON");
    let values = |key: &str| -> Vec<f64> {
        (peer[key].as_array().unwrap().iter())
            .filter_map(serde_json::Value::as_f64)
            .collect()
    };
    println!(
        "peer: transformers + SAELens, {} tokens · alone
  probe {} ms  steered and unsteered, 32 tokens each: {} ms",
        peer["tokens"],
        common::spread(&values("probe_ms"), 0),
        common::spread(&values("steer_ms"), 0),
    );
    let median = |key: &str| common::median_and_range(values(key)).0;
    println!(
        "  peer / featurescope (medians): probe {:.2}×, steering {:.2}×",
        median("probe_ms") / ours_probe,
        median("steer_ms") / ours_steer
    );
}

/// The demo replayed (`repeat` times, a key every `pace_ms` at most) while
/// the local LLM explains and scores one unit after another, on a fresh
/// copy of the demo in a folder of its own (the response cache is the
/// working folder's), so no answer is reused.
fn beside_local_llm(root: &Path, repeat: u32, pace_ms: u32) -> serde_json::Value {
    let work = tempfile::tempdir().unwrap();
    let copy = work.path().join("demo");
    let status = Command::new("cp")
        .arg("-r")
        .arg(root.join("datasets/demo"))
        .arg(&copy)
        .status()
        .expect("cp");
    assert!(status.success());
    let mut command = Command::new(env!("CARGO_BIN_EXE_featurescope"));
    command.current_dir(work.path()).args([
        "replay",
        copy.to_str().unwrap(),
        "--repeat",
        &repeat.to_string(),
        "--pace-ms",
        &pace_ms.to_string(),
        "--explain",
        "200",
        "--json",
    ]);
    run_replay(command)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("explorer: run with `cargo bench` (make bench-explorer)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let llm_runs = |repeat, pace| -> Vec<serde_json::Value> {
        (0..RUNS)
            .map(|_| beside_local_llm(root, repeat, pace))
            .collect()
    };
    // Long enough for a few units (about 8 s each) to be explained and scored.
    report(
        "demo",
        "beside the local LLM explaining and scoring",
        &llm_runs(400, 0),
    );
    report(
        "demo",
        "beside the local LLM explaining and scoring, a key every 50 ms",
        &llm_runs(3, 50),
    );
    // `cargo bench --bench explorer -- llm`: the replay beside the local LLM alone.
    if std::env::args().any(|a| a == "llm") {
        return;
    }
    let ours = lab(root, None);
    lab_peer(root, ours);
    let job = background_job(root);
    if let Some(config) = &job {
        lab(root, Some(config));
    }
    // `cargo bench --bench explorer -- lab`: the lab alone.
    if std::env::args().any(|a| a == "lab") {
        return;
    }
    // The store benchmark's dataset: records like the demo's real ones.
    let full = root.join("bench-data/store-like-demo-307200x50x64");
    if !full.join("manifest.json").exists() {
        let demo = root.join("datasets/demo");
        let status = Command::new(env!("CARGO_BIN_EXE_featurescope"))
            .args(["synth", full.to_str().unwrap(), "--units", "307200"])
            .args(["--like", demo.to_str().unwrap()])
            .status()
            .expect("featurescope synth");
        assert!(status.success());
    }
    let datasets = [
        ("demo", root.join("datasets/demo")),
        ("synthetic GPT-2 XL", full),
    ];
    // Back to back, the script ten times over: the drawing thread never
    // rests, the worst case for a job beside it. Paced at a key every 50 ms
    // (faster than anyone browses), once: the loop idles between keys, as it
    // does in use.
    let runs = |path: &Path, job: Option<&Path>, repeat, pace| -> Vec<serde_json::Value> {
        (0..RUNS)
            .map(|_| replay(path, job, repeat, pace, None))
            .collect()
    };
    for (name, path) in &datasets {
        report(name, "nothing beside it", &runs(path, None, 10, 0));
    }
    if let Some(config) = job {
        for (name, path) in &datasets {
            report(
                name,
                "beside a training job",
                &runs(path, Some(&config), 10, 0),
            );
            report(
                name,
                "beside a training job, a key every 50 ms",
                &runs(path, Some(&config), 1, 50),
            );
        }
    }
}
