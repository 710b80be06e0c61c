//! Explorer benchmark: `featurescope replay` (the default browsing script,
//! through the real crossterm rendering path into a sink) on the bundled
//! demo and on the synthetic GPT-2 XL-scale dataset of the store benchmark,
//! each alone and with a background job running inside the explorer: an SAE
//! training job (as the train key starts one; both cores) on the demo's
//! activation cache, or the SAE benchmark's MiniLM one.
//! Each figure is the median of three replays with its range.
//! Targets: first frame ≤ 300 ms, p99 frame ≤ 16 ms.
//!
//! cargo bench --bench explorer   (make bench-explorer)
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// One replay: the browsing script `repeat` times over, a key every
/// `pace_ms` at most (0: back to back).
fn replay(dataset: &Path, train: Option<&Path>, repeat: u32, pace_ms: u32) -> serde_json::Value {
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
    let out = command.output().expect("run featurescope replay");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

/// The background job's config: a long SAE training run on the demo's cache,
/// in steps small enough that their rate is measured over many of them.
fn background_job(root: &Path) -> Option<PathBuf> {
    // The demo's Gemma cache (make demo), else the SAE benchmark's MiniLM one.
    let Some(cache) = [
        "bench-data/gemma-l6-resid",
        "bench-data/minilm-l3-resid-train",
    ]
    .iter()
    .map(|c| root.join(c))
    .find(|c| c.join("cache.json").exists()) else {
        eprintln!("no activation cache (make demo or make bench-sae makes one): no background job");
        return None;
    };
    println!("background job: an SAE training run on {}", cache.display());
    let work = root.join("bench-data/explorer-bench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let config = work.join("sae.toml");
    std::fs::write(
        &config,
        format!(
            "out = {:?}\n[data]\ncache = {cache:?}\n[sae]\narchitecture = \"standard\"\nd_sae = 2048\n\
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

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("explorer: run with `cargo bench` (make bench-explorer)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
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
        (0..RUNS).map(|_| replay(path, job, repeat, pace)).collect()
    };
    for (name, path) in &datasets {
        report(name, "nothing beside it", &runs(path, None, 10, 0));
    }
    if let Some(config) = background_job(root) {
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
