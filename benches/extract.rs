//! Extraction benchmark: `featurescope extract` (forward pass, selection and
//! dataset writing) against Hugging Face transformers running only the
//! forward pass of the same model on the same windows, sorted by length and
//! cut after the last hooked layer (its fastest setup), on the same number
//! of threads, three interleaved runs each; and our peak memory as the
//! corpus grows tenfold.
//!
//! cargo bench --bench extract   (make bench-extract)
mod common;

use common::spread;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const LAYERS: &str = "1,4";

/// Peak resident memory (MiB) of the largest child waited for so far.
fn children_peak_mib() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0
}

struct Run {
    seconds: f64,
    peak_mib: f64,
    tokens: u64,
}

fn ours(root: &Path, corpus: &Path, out: &Path) -> Run {
    let start = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_featurescope"))
        .args(["extract", "--model"])
        .arg(root.join(".venv/models/all-MiniLM-L6-v2"))
        .arg("--corpus")
        .arg(corpus)
        .args([
            "--layers",
            LAYERS,
            "--hook",
            "mlp",
            "--top-k",
            "20",
            "--random-k",
            "15",
            "--quantile-k",
            "2",
            "--out",
        ])
        .arg(out)
        .output()
        .expect("run featurescope extract");
    let seconds = start.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    // "… windows, N tokens) …"
    let tokens = text
        .split(" tokens")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("token count in the summary");
    Run {
        seconds,
        peak_mib: children_peak_mib(),
        tokens,
    }
}

fn peer(root: &Path, corpus: &Path, threads: usize) -> serde_json::Value {
    let (_, out) = common::timed(
        Command::new(root.join(".venv/bin/python"))
            .arg(root.join("bench/transformers_forward.py"))
            .arg(root.join(".venv/models/all-MiniLM-L6-v2"))
            .arg(corpus)
            .args([LAYERS, "64", "32", "1", &threads.to_string()]),
    );
    serde_json::from_str(&out).expect("peer JSON")
}

const RUNS: usize = 3;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("extract: run with `cargo bench` (make bench-extract)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data: PathBuf = root.join("bench-data");
    std::fs::create_dir_all(&data).unwrap();
    let full = data.join("fortunes.jsonl");
    if !full.exists() {
        let status = Command::new(root.join("datasets/fortunes-corpus.sh"))
            .arg(&full)
            .status()
            .unwrap();
        assert!(status.success(), "could not build the fortunes corpus");
    }
    let tenth = data.join("fortunes-tenth.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&full)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    std::fs::write(&tenth, lines[..lines.len() / 10].join("\n") + "\n").unwrap();

    // The small corpus first: the children's peak only grows.
    let small = ours(root, &tenth, &data.join("extract-tenth"));
    // libtorch's default, which ours runs with; the peer is pinned to it.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (mut our_rates, mut peer_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let mut large: Option<Run> = None;
    let mut peer_windows = serde_json::Value::Null;
    for _ in 0..RUNS {
        let run = ours(root, &full, &data.join("extract-full"));
        // Peaks are of all children so far: only the first run precedes a peer.
        let peak_mib = large.as_ref().map_or(run.peak_mib, |first| first.peak_mib);
        let peer = peer(root, &full, threads);
        assert_eq!(
            peer["tokens"].as_u64(),
            Some(run.tokens),
            "both ran the same windows"
        );
        let (ours, theirs) = (
            run.tokens as f64 / run.seconds,
            peer["tokens_per_second"].as_f64().unwrap(),
        );
        our_rates.push(ours);
        peer_rates.push(theirs);
        ratios.push(ours / theirs);
        peer_windows = peer["windows"].clone();
        large = Some(Run { peak_mib, ..run });
    }
    let large = large.expect("a run");
    println!(
        "corpus           {} ({} tokens, {peer_windows} windows); median [min–max] of {RUNS} interleaved runs, {threads} threads each",
        full.display(),
        large.tokens,
    );
    println!(
        "featurescope     {} tokens/s  (everything: tokenising, calibration, forward, selection and writing; layers {LAYERS} of 6)",
        spread(&our_rates, 0)
    );
    println!(
        "transformers     {} tokens/s  (forward only, windows sorted by length, blocks after the last hooked one dropped)",
        spread(&peer_rates, 0)
    );
    println!("ratio            {}x the sorted peer", spread(&ratios, 2));
    println!(
        "peak RSS         {:.0} MiB on a tenth of the corpus ({} tokens), {:.0} MiB on all of it",
        small.peak_mib, small.tokens, large.peak_mib
    );
}
