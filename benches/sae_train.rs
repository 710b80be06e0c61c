//! SAE training benchmark: `featurescope train` against SAELens
//! (bench/saelens_train.py) on the same cached activations (MiniLM layer 3
//! residual stream over the fortunes corpus), same architecture, sizes and
//! hyperparameters, in the same run. Reports tokens/s and their ratio, both
//! dictionaries' MSE and L0 measured by the same evaluator (`eval-sae`) on the
//! same tokens, and each step's cost in units of one encoder-sized matmul
//! (measured in the same run), from which the fraction of matmul peak follows.
//!
//! cargo bench --bench sae_train [-- --tokens N]   (make bench-sae)
use std::path::{Path, PathBuf};
use std::process::Command;

const BATCH: u64 = 4096;
const D_SAE: u64 = 3072;
const L1: f64 = 5.0;
const K: u64 = 32;
const LR: f64 = 3e-4;

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

fn ensure_cache(root: &Path) -> PathBuf {
    let cache = root.join("bench-data/minilm-l3-resid");
    if cache.join("cache.json").exists() {
        return cache;
    }
    let corpus = root.join("bench-data/fortunes.jsonl");
    if !corpus.exists() {
        let status = Command::new(root.join("datasets/fortunes-corpus.sh"))
            .arg(&corpus)
            .status()
            .expect("fortunes-corpus.sh");
        assert!(status.success());
    }
    let model = root.join(".venv/models/all-MiniLM-L6-v2");
    featurescope(&[
        "extract",
        "--model",
        model.to_str().unwrap(),
        "--corpus",
        corpus.to_str().unwrap(),
        "--layers",
        "3",
        "--hook",
        "resid",
        "--cache",
        cache.to_str().unwrap(),
    ]);
    cache
}

struct Result {
    tokens_per_s: f64,
    mse: f64,
    l0: f64,
    explained_variance: f64,
}

fn evaluate(dictionary: &Path, cache: &Path) -> serde_json::Value {
    json(&featurescope(&[
        "eval-sae",
        dictionary.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
        "--tokens",
        "65536",
        "--json",
    ]))
}

fn ours(arch: &str, cache: &Path, tokens: u64, work: &Path) -> Result {
    let out = work.join(format!("ours-{arch}"));
    let _ = std::fs::remove_dir_all(&out);
    let config = work.join(format!("{arch}.toml"));
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
    featurescope(&["train", "--config", config.to_str().unwrap(), "--json"]);
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
    let eval = evaluate(&out, cache);
    Result {
        tokens_per_s: tokens_done / seconds,
        mse: eval["mse"].as_f64().unwrap(),
        l0: eval["l0"].as_f64().unwrap(),
        explained_variance: eval["explained_variance"].as_f64().unwrap(),
    }
}

fn saelens(root: &Path, arch: &str, cache: &Path, tokens: u64, work: &Path) -> (Result, f64) {
    let out = work.join(format!("saelens-{arch}"));
    let _ = std::fs::remove_dir_all(&out);
    let output = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("bench/saelens_train.py"))
        .arg(cache)
        .args([
            arch,
            &tokens.to_string(),
            &BATCH.to_string(),
            &D_SAE.to_string(),
            &L1.to_string(),
            &K.to_string(),
            &LR.to_string(),
        ])
        .arg(&out)
        .output()
        .expect("run bench/saelens_train.py");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run = json(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .unwrap(),
    );
    let eval = evaluate(&out, cache);
    (
        Result {
            tokens_per_s: run["tokens_per_s"].as_f64().unwrap(),
            mse: eval["mse"].as_f64().unwrap(),
            l0: eval["l0"].as_f64().unwrap(),
            explained_variance: eval["explained_variance"].as_f64().unwrap(),
        },
        run["matmul_gflops"].as_f64().unwrap(),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let tokens = args
        .iter()
        .position(|a| a == "--tokens")
        .and_then(|i| args.get(i + 1))
        .map_or(4096 * 120, |t| t.parse().expect("--tokens N"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cache = ensure_cache(root);
    let work = root.join("bench-data/sae-train");
    std::fs::create_dir_all(&work).unwrap();
    println!(
        "SAE training, MiniLM L3 resid (d_in 384), d_sae {D_SAE}, batch {BATCH}, {tokens} tokens, {} threads",
        tch::get_num_threads()
    );
    for arch in ["standard", "topk"] {
        let (theirs, matmul_gflops) = saelens(root, arch, &cache, tokens, &work);
        let ours = ours(arch, &cache, tokens, &work);
        // One encoder-sized matmul: 2·batch·d_in·d_sae FLOPs.
        let matmul_s = 2.0 * (BATCH * 384 * D_SAE) as f64 / (matmul_gflops * 1e9);
        let step_units = |tps: f64| BATCH as f64 / tps / matmul_s;
        println!("\n{arch}:");
        println!(
            "  tokens/s     ours {:>8.0}   SAELens {:>8.0}   ratio {:.2}x",
            ours.tokens_per_s,
            theirs.tokens_per_s,
            ours.tokens_per_s / theirs.tokens_per_s
        );
        println!(
            "  final MSE    ours {:>8.4}   SAELens {:>8.4}   ({:+.1}%)",
            ours.mse,
            theirs.mse,
            (ours.mse / theirs.mse - 1.0) * 100.0
        );
        println!(
            "  final L0     ours {:>8.2}   SAELens {:>8.2}   ({:+.1}%)",
            ours.l0,
            theirs.l0,
            (ours.l0 / theirs.l0 - 1.0) * 100.0
        );
        println!(
            "  expl. var.   ours {:>8.4}   SAELens {:>8.4}",
            ours.explained_variance, theirs.explained_variance
        );
        println!(
            "  step cost    ours {:.2}   SAELens {:.2}   (in encoder matmuls at {matmul_gflops:.0} GFLOP/s)",
            step_units(ours.tokens_per_s),
            step_units(theirs.tokens_per_s)
        );
        if arch == "standard" {
            println!(
                "  our step reaches {:.0}% of matmul peak (5 matmuls of work)",
                500.0 / step_units(ours.tokens_per_s)
            );
        }
    }
}
