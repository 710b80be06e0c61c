//! Helpers shared by the integration tests: the real binary, the project's
//! Python (pyarrow, numpy) as an independent reference, sample data, and
//! a scripted HTTP server on loopback ([`http`]).
pub mod http;

use featurescope::dataset::{NewRecord, NewUnit, Sample, UnitKind, UnitStats};
use std::path::Path;
use std::process::{Command, Output};

/// Held by every test here that seeds or draws from libtorch's global random
/// generator in this process: the tests share one process, and a draw on
/// another thread between a seed and its use would change what a seeded run
/// makes (two training runs compared for equality, for one).
pub fn torch_rng() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn featurescope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_featurescope"))
        .args(args)
        .output()
        .expect("run featurescope")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a script of tests/py with the project venv's Python; panics on failure.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new(root().join(".venv/bin/python"))
        .arg(root().join("tests/py").join(script))
        .args(args)
        .output()
        .expect("run python (make setup creates .venv)");
    assert!(out.status.success(), "{script} failed: {}", stderr(&out));
    stdout(&out)
}

/// A copy of the bundled demo at `dir/name`, for tests that write to the
/// dataset they use; returns its path.
pub fn demo_copy(dir: &Path, name: &str) -> std::path::PathBuf {
    let copy = dir.join(name);
    let status = Command::new("cp")
        .arg("-r")
        .arg(root().join("datasets/demo"))
        .arg(&copy)
        .status()
        .expect("run cp");
    assert!(status.success(), "copy the demo to {}", copy.display());
    copy
}

/// Tiny random checkpoints of each decoder architecture, written by
/// transformers into a temporary folder (kept while the guard lives), one
/// sub-folder per architecture (`gpt2`, `llama`, …).
pub fn tiny_models() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let tokenizer = root().join(".venv/models/all-MiniLM-L6-v2/tokenizer.json");
    python(
        "make_tiny_models.py",
        &[path_str(tmp.path()), path_str(&tokenizer)],
    );
    let dir = tmp.path().to_owned();
    (tmp, dir)
}

/// Writes `texts` as a JSONL corpus (`{"text": …}` per line) in `dir`.
pub fn write_corpus(dir: &Path, texts: &[&str]) -> std::path::PathBuf {
    let path = dir.join("corpus.jsonl");
    let lines: Vec<String> = texts
        .iter()
        .map(|t| serde_json::json!({ "text": t }).to_string())
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// The names in a folder, to show what a failed write left behind.
pub fn entries(dir: &Path) -> Vec<std::ffi::OsString> {
    (std::fs::read_dir(dir).unwrap())
        .map(|e| e.unwrap().file_name())
        .collect()
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// A unit with `n` records whose tokens and activations depend on `seed`,
/// covering every sample kind and optional column.
pub fn sample_unit(seed: u32, n: usize) -> (NewUnit, Vec<NewRecord>) {
    let words = ["alpha", " beta", " gamma", "\n", " δέλτα", "\t", "€"];
    let records: Vec<NewRecord> = (0..n)
        .map(|i| {
            let len = 3 + (seed as usize + i) % 6;
            let sample = match i % 4 {
                0 | 1 => Sample::Top,
                2 => Sample::Quantile((i / 4) as u32 % 3),
                _ => Sample::Random,
            };
            NewRecord {
                sample,
                rank: i as u32,
                document_id: (i % 3 != 0).then_some(i as i64 * 10),
                token_offset: (i % 2 == 0).then_some(i as i64 * 64),
                tokens: (0..len)
                    .map(|t| words[(t + i + seed as usize) % words.len()].to_owned())
                    .collect(),
                activations: (0..len)
                    .map(|t| ((seed as usize * 31 + i * 7 + t) % 11) as f32 * 0.37 - 0.5)
                    .collect(),
            }
        })
        .collect();
    let max = records
        .iter()
        .flat_map(|r| r.activations.iter().copied())
        .fold(f32::MIN, f32::max);
    let unit = NewUnit {
        layer: seed / 10,
        index: seed % 10,
        kind: if seed % 5 == 4 {
            UnitKind::Sae
        } else {
            UnitKind::Neuron
        },
        stats: UnitStats {
            max: max as f64,
            mean: Some(seed as f64 * 0.5),
            variance: seed.is_multiple_of(2).then_some(1.25),
            density: Some(0.125),
            quantile_boundaries: vec![0.0, 0.5, 1.5],
            histogram_edges: vec![0.0, 1.0, 2.0, 4.0],
            histogram_counts: vec![5, 3, seed as u64],
        },
    };
    (unit, records)
}
