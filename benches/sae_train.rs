//! SAE training benchmark: our training loop (the library's `train`, in this
//! process) against SAELens (bench/saelens_train.py) on the same cached
//! activations (MiniLM layer 3 residual stream over nine tenths of the
//! fortunes corpus), same architecture, sizes and hyperparameters, on the
//! same number of threads. SAELens runs in each of its CPU setups (as it
//! comes, sparse TopK, compiled); the fastest is the target. Each figure is
//! the median of three runs with its range. Both sides' dictionaries are then
//! judged by the same evaluator (`eval-sae`) on the held-out tenth of the
//! corpus, and each step is costed in units of the five matmuls a standard
//! step needs, timed at its shapes in the same process as the step.
//!
//! cargo bench --bench sae_train [-- --tokens N]   (make bench-sae)
mod common;

use common::{median_and_range, spread};
use featurescope::sae::{TrainConfig, train};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

const BATCH: i64 = 4096;
const D_IN: i64 = 384;
const D_SAE: i64 = 3072;
const L1: f64 = 5.0;
const K: u64 = 32;
const LR: f64 = 3e-4;
const RUNS: usize = 3;

fn featurescope(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_featurescope"))
        .args(args)
        .output()
        .expect("run featurescope");
    assert!(
        out.status.success(),
        "featurescope {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The training and held-out caches: every tenth fortune is held out.
fn ensure_caches(root: &Path) -> (PathBuf, PathBuf) {
    let data = root.join("bench-data");
    let caches = (
        data.join("minilm-l3-resid-train"),
        data.join("minilm-l3-resid-held-out"),
    );
    if caches.0.join("cache.json").exists() && caches.1.join("cache.json").exists() {
        return caches;
    }
    let corpus = data.join("fortunes.jsonl");
    std::fs::create_dir_all(&data).unwrap();
    if !corpus.exists() {
        let status = Command::new(root.join("datasets/fortunes-corpus.sh"))
            .arg(&corpus)
            .status()
            .expect("fortunes-corpus.sh");
        assert!(status.success());
    }
    let text = std::fs::read_to_string(&corpus).unwrap();
    let (mut train_docs, mut held_out_docs) = (String::new(), String::new());
    for (i, line) in text.lines().enumerate() {
        let part = if i % 10 == 9 {
            &mut held_out_docs
        } else {
            &mut train_docs
        };
        part.push_str(line);
        part.push('\n');
    }
    let model = root.join(".venv/models/all-MiniLM-L6-v2");
    for (docs, cache, name) in [
        (train_docs, &caches.0, "fortunes-train.jsonl"),
        (held_out_docs, &caches.1, "fortunes-held-out.jsonl"),
    ] {
        let part = data.join(name);
        std::fs::write(&part, docs).unwrap();
        let _ = std::fs::remove_dir_all(cache);
        featurescope(&[
            "extract",
            "--model",
            model.to_str().unwrap(),
            "--corpus",
            part.to_str().unwrap(),
            "--layers",
            "3",
            "--hook",
            "resid",
            "--cache",
            cache.to_str().unwrap(),
        ]);
    }
    caches
}

/// The five matmuls of a standard step at its shapes (encode, decode, and the
/// gradients of the decoder, the latents and the encoder), each the median of
/// five timings, summed: seconds per step's worth of matmul.
fn step_matmul_seconds() -> f64 {
    let shapes = [
        (BATCH, D_IN, D_SAE),
        (BATCH, D_SAE, D_IN),
        (D_SAE, BATCH, D_IN),
        (BATCH, D_IN, D_SAE),
        (D_IN, BATCH, D_SAE),
    ];
    let options = (tch::Kind::Float, tch::Device::Cpu);
    shapes
        .iter()
        .map(|&(m, n, p)| {
            let (a, b) = (
                tch::Tensor::randn([m, n], options),
                tch::Tensor::randn([n, p], options),
            );
            let _ = a.matmul(&b);
            let times: Vec<f64> = (0..5)
                .map(|_| {
                    let start = Instant::now();
                    let _ = a.matmul(&b);
                    start.elapsed().as_secs_f64()
                })
                .collect();
            median_and_range(times).0
        })
        .sum()
}

struct Run {
    tokens_per_s: f64,
    step_matmul_s: f64,
}

fn ours(arch: &str, cache: &Path, tokens: u64, out: &Path) -> Run {
    let _ = std::fs::remove_dir_all(out);
    let config = out.with_extension("toml");
    std::fs::write(
        &config,
        format!(
            "out = {out:?}\n[data]\ncache = {cache:?}\n[sae]\narchitecture = \"{arch}\"\n\
             d_sae = {D_SAE}\nl1_coefficient = {L1}\nk = {K}\nb_dec_init = \"zeros\"\n\
             [train]\ntokens = {tokens}\nbatch = {BATCH}\nlr = {LR}\nmetrics_every = 10\n\
             checkpoint_every = 1000000\n"
        ),
    )
    .unwrap();
    let config = TrainConfig::read(&config).unwrap();
    train(&config, false, &AtomicBool::new(false), |_| {}).unwrap();
    // Throughput of the training loop alone: tokens over time, summed over metrics windows.
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let (mut tokens_done, mut seconds, mut previous) = (0.0, 0.0, 0.0);
    for line in metrics.lines() {
        let m = json(line);
        let t = m["tokens"].as_f64().unwrap();
        tokens_done += t - previous;
        seconds += (t - previous) / m["tokens_per_s"].as_f64().unwrap();
        previous = t;
    }
    Run {
        tokens_per_s: tokens_done / seconds,
        step_matmul_s: step_matmul_seconds(),
    }
}

fn saelens(root: &Path, arch: &str, setup: &str, cache: &Path, tokens: u64, out: &Path) -> Run {
    let _ = std::fs::remove_dir_all(out);
    let (_, stdout) = common::timed(
        Command::new(root.join(".venv/bin/python"))
            .arg(root.join("bench/saelens_train.py"))
            .arg(cache)
            .args([
                arch,
                setup,
                &tokens.to_string(),
                &BATCH.to_string(),
                &D_SAE.to_string(),
                &L1.to_string(),
                &K.to_string(),
                &LR.to_string(),
                &tch::get_num_threads().to_string(),
            ])
            .arg(out),
    );
    let run = json(stdout.lines().last().unwrap());
    Run {
        tokens_per_s: run["tokens_per_s"].as_f64().unwrap(),
        step_matmul_s: run["step_matmul_s"].as_f64().unwrap(),
    }
}

/// MSE, L0 and explained variance on the held-out cache.
fn quality(dictionary: &Path, held_out: &Path) -> (f64, f64, f64) {
    let eval = json(&featurescope(&[
        "eval-sae",
        dictionary.to_str().unwrap(),
        "--cache",
        held_out.to_str().unwrap(),
        "--json",
    ]));
    let f = |k: &str| eval[k].as_f64().unwrap();
    (f("mse"), f("l0"), f("explained_variance"))
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("sae_train: run with `cargo bench` (make bench-sae)");
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let tokens = args
        .iter()
        .position(|a| a == "--tokens")
        .and_then(|i| args.get(i + 1))
        .map_or(BATCH as u64 * 120, |t| t.parse().expect("--tokens N"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (cache, held_out) = ensure_caches(root);
    let work = root.join("bench-data/sae-train");
    std::fs::create_dir_all(&work).unwrap();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as i32;
    tch::set_num_threads(threads);
    println!(
        "SAE training, MiniLM L3 resid (d_in {D_IN}), d_sae {D_SAE}, batch {BATCH}, {tokens} tokens, \
         {threads} threads on both sides, median [min–max] of {RUNS} runs"
    );
    for arch in ["standard", "topk"] {
        let setups: &[&str] = if arch == "topk" {
            &["default", "sparse", "compiled"]
        } else {
            &["default", "compiled"]
        };
        // Runs interleaved, so a slow spell of the machine falls on every side.
        let mut our_runs = Vec::new();
        let mut their_runs: Vec<Vec<Run>> = setups.iter().map(|_| Vec::new()).collect();
        for _ in 0..RUNS {
            for (setup, runs) in setups.iter().zip(&mut their_runs) {
                let out = work.join(format!("saelens-{arch}-{setup}"));
                runs.push(saelens(root, arch, setup, &cache, tokens, &out));
            }
            our_runs.push(ours(
                arch,
                &cache,
                tokens,
                &work.join(format!("ours-{arch}")),
            ));
        }
        let tps = |runs: &[Run]| runs.iter().map(|r| r.tokens_per_s).collect::<Vec<_>>();
        // Step time in units of the five matmuls, each run against its own yardstick.
        let cost = |runs: &[Run]| {
            runs.iter()
                .map(|r| BATCH as f64 / r.tokens_per_s / r.step_matmul_s * 5.0)
                .collect::<Vec<_>>()
        };
        println!("\n{arch}:");
        let (mse, l0, ev) = quality(&work.join(format!("ours-{arch}")), &held_out);
        println!(
            "  {:<18} tokens/s {:>24}   step cost {:>18} matmuls   held-out MSE {mse:.4}  L0 {l0:.2}  EV {ev:.4}",
            "ours",
            spread(&tps(&our_runs), 0),
            spread(&cost(&our_runs), 2)
        );
        let mut fastest = (0.0, "");
        for (setup, runs) in setups.iter().zip(&their_runs) {
            let ratios: Vec<f64> = our_runs
                .iter()
                .zip(runs)
                .map(|(o, t)| o.tokens_per_s / t.tokens_per_s)
                .collect();
            let (mse, l0, ev) = quality(&work.join(format!("saelens-{arch}-{setup}")), &held_out);
            println!(
                "  {:<18} tokens/s {:>24}   step cost {:>18} matmuls   held-out MSE {mse:.4}  L0 {l0:.2}  EV {ev:.4}   ours / theirs {}x",
                format!("SAELens {setup}"),
                spread(&tps(runs), 0),
                spread(&cost(runs), 2),
                spread(&ratios, 2)
            );
            let median = median_and_range(tps(runs)).0;
            if median > fastest.0 {
                fastest = (median, setup);
            }
        }
        println!("  target: SAELens {} (its fastest setup here)", fastest.1);
        let yardstick = median_and_range(our_runs.iter().map(|r| r.step_matmul_s).collect()).0;
        println!(
            "  the five step matmuls take {:.1} ms here ({:.0} GFLOP/s)",
            yardstick * 1e3,
            5.0 * 2.0 * (BATCH * D_IN * D_SAE) as f64 / yardstick / 1e9
        );
    }
}
