//! Extraction benchmark: `featurescope extract` (forward pass, selection and
//! dataset writing) against Hugging Face transformers running only the
//! forward pass of the same model on the same windows, in the same run; and
//! our peak memory as the corpus grows tenfold.
//!
//! cargo bench --bench extract   (make bench-extract)
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

fn peer(root: &Path, corpus: &Path, sorted: bool) -> serde_json::Value {
    let output = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("bench/transformers_forward.py"))
        .arg(root.join(".venv/models/all-MiniLM-L6-v2"))
        .arg(corpus)
        .args([LAYERS, "64", "32", if sorted { "1" } else { "0" }])
        .output()
        .expect("run the transformers peer");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("peer JSON")
}

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
    let large = ours(root, &full, &data.join("extract-full"));
    let unsorted = peer(root, &full, false);
    let sorted = peer(root, &full, true);
    let our_rate = large.tokens as f64 / large.seconds;
    let peer_rate = unsorted["tokens_per_second"].as_f64().unwrap();
    let sorted_rate = sorted["tokens_per_second"].as_f64().unwrap();
    assert_eq!(
        unsorted["tokens"].as_u64(),
        Some(large.tokens),
        "both ran the same windows"
    );
    println!(
        "corpus           {} ({} tokens, {} windows)",
        full.display(),
        large.tokens,
        unsorted["windows"]
    );
    println!(
        "featurescope     {our_rate:.0} tokens/s  ({:.1} s wall: forward, selection and writing; layers {LAYERS} of 6)",
        large.seconds
    );
    println!(
        "transformers     {peer_rate:.0} tokens/s  (forward only, batches padded to their longest window, torch {})",
        unsorted["torch"].as_str().unwrap_or("?")
    );
    println!(
        "transformers     {sorted_rate:.0} tokens/s  (forward only, windows sorted by length first)"
    );
    println!(
        "ratio            {:.2}x the forward-only peer, {:.2}x the length-sorted peer",
        our_rate / peer_rate,
        our_rate / sorted_rate
    );
    println!(
        "peak RSS         {:.0} MiB on a tenth of the corpus ({} tokens), {:.0} MiB on all of it",
        small.peak_mib, small.tokens, large.peak_mib
    );
}
