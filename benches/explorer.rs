//! Explorer benchmark: `featurescope replay` (the default browsing script,
//! through the real crossterm rendering path into a sink) on the bundled
//! demo and on the synthetic GPT-2 XL-scale dataset of the store benchmark,
//! each alone and with a background job running inside the explorer: an SAE
//! training job (as the train key starts one; both cores) on the demo's
//! activation cache.
//! Targets: first frame ≤ 300 ms, p99 frame ≤ 16 ms.
//!
//! cargo bench --bench explorer   (make bench-explorer)
use std::path::{Path, PathBuf};
use std::process::Command;

fn replay(dataset: &Path, train: Option<&Path>) -> serde_json::Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_featurescope"));
    // The browsing script ten times over: long enough for the training job
    // to make steps while it plays.
    command.args([
        "replay",
        dataset.to_str().unwrap(),
        "--repeat",
        "10",
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
    let cache = root.join("bench-data/gemma-l6-resid");
    if !cache.join("cache.json").exists() {
        eprintln!("no bench-data/gemma-l6-resid (make demo makes it): no background job");
        return None;
    }
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

fn report(name: &str, job: &str, r: &serde_json::Value) {
    let f = |k: &str| r[k].as_f64().unwrap();
    let steps = r["job_steps_during_replay"]
        .as_u64()
        .map_or_else(String::new, |n| {
            format!(
                "  training: {n} steps in {:.1} s, {:.2} steps/s beside the replay, {:.2} alone",
                f("script_s"),
                f("job_steps_per_s_during"),
                f("job_steps_per_s_alone")
            )
        });
    let sorted = r["list_update_p50_ms"]
        .as_f64()
        .map_or_else(String::new, |p50| {
            format!(
                "  {} sorts/filters on screen p50 {p50:.1} ms p99 {:.1} ms",
                r["list_updates"],
                f("list_update_p99_ms")
            )
        });
    println!(
        "{name:<22} {job:<10} {:>7} units  first frame {:>6.1} ms  list ready {:>7.1} ms  frames {:>3}  p50 {:>5.2}  p95 {:>5.2}  p99 {:>5.2}  max {:>6.2} ms  unit open p50 {:>5.1} ms{sorted}{steps}",
        r["units"],
        f("first_frame_ms"),
        f("list_ready_ms"),
        r["frames"],
        f("frame_p50_ms"),
        f("frame_p95_ms"),
        f("frame_p99_ms"),
        f("frame_max_ms"),
        f("unit_open_p50_ms"),
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("explorer: run with `cargo bench` (make bench-explorer)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let full = root.join("bench-data/store-307200x50x64");
    if !full.join("manifest.json").exists() {
        let status = Command::new(env!("CARGO_BIN_EXE_featurescope"))
            .args(["synth", full.to_str().unwrap(), "--units", "307200"])
            .status()
            .expect("featurescope synth");
        assert!(status.success());
    }
    let datasets = [
        ("demo", root.join("datasets/demo")),
        ("synthetic GPT-2 XL", full),
    ];
    for (name, path) in &datasets {
        report(name, "idle", &replay(path, None));
    }
    if let Some(config) = background_job(root) {
        for (name, path) in &datasets {
            report(name, "+ training", &replay(path, Some(&config)));
        }
    }
}
