//! The SAE commands through the real binary: a training run killed with
//! SIGKILL resumes to the same weights as an uninterrupted one; features of a
//! dictionary are extracted into datasets exactly like neurons; the
//! activation cache and eval-sae on real MiniLM activations.
use crate::common;

use common::{featurescope, path_str, root, stderr, stdout};
use featurescope::activations::CacheWriter;
use featurescope::dataset::Dataset;
use featurescope::model::{HookPoint, HookSite};
use featurescope::sae::Dictionary;
use featurescope::sae::baselines::{Baseline, BaselineOptions, fit};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tch::{Kind, Tensor};

fn toy_cache(dir: &Path) {
    tch::manual_seed(1);
    let data = Tensor::randn([20_000, 64], (Kind::Float, tch::Device::Cpu)).relu();
    let values = Vec::<f32>::try_from(data.flatten(0, -1)).unwrap();
    let hook = HookPoint {
        layer: 0,
        site: HookSite::ResidPost,
    };
    let mut writer = CacheWriter::create(dir, "toy", hook, 64, "random", 64).unwrap();
    writer.push(&values).unwrap();
    writer.finish().unwrap();
}

fn write_config(path: &Path, out: &Path, cache: &Path) {
    std::fs::write(
        path,
        format!(
            "out = {out:?}\n[data]\ncache = {cache:?}\n[sae]\nd_sae = 1024\nl1_coefficient = 1.0\n\
             [train]\ntokens = 1228800\nbatch = 1024\nmetrics_every = 50\ncheckpoint_every = 20\n"
        ),
    )
    .unwrap();
}

fn checkpoint_step(out: &Path) -> Option<u64> {
    let text = std::fs::read(out.join("checkpoint/state.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    v["step"].as_u64()
}

/// `featurescope ARGS` on one libtorch thread. Bitwise equality of two
/// training runs needs the same reduction order in every matmul, and MKL
/// and OpenMP may take fewer threads than asked when the machine is busy
/// (it failed once so, in a full parallel run of the tests).
fn on_one_thread(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_featurescope"));
    command
        .args(args)
        .env("OMP_NUM_THREADS", "1")
        .env("MKL_NUM_THREADS", "1");
    command
}

#[test]
fn a_killed_training_run_resumes_to_the_uninterrupted_result() {
    let _rng = common::torch_rng();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    toy_cache(&cache);
    let straight = tmp.path().join("straight");
    let cfg = tmp.path().join("straight.toml");
    write_config(&cfg, &straight, &cache);
    let out = on_one_thread(&["train", "--config", path_str(&cfg)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("trained 1200 steps"),
        "{}",
        stdout(&out)
    );

    let killed = tmp.path().join("killed");
    let cfg = tmp.path().join("killed.toml");
    write_config(&cfg, &killed, &cache);
    let mut child = on_one_thread(&["train", "--config", path_str(&cfg)])
        .spawn()
        .unwrap();
    let start = Instant::now();
    while checkpoint_step(&killed).is_none_or(|s| s < 40) {
        assert!(start.elapsed() < Duration::from_secs(120), "no checkpoint");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL: no chance to save anything
    child.wait().unwrap();
    let saved = checkpoint_step(&killed).unwrap();
    assert!(
        saved < 1200,
        "killed before the end (checkpoint at {saved})"
    );
    assert!(!killed.join("cfg.json").exists());

    let again = featurescope(&["train", "--config", path_str(&cfg)]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("--resume"), "{}", stderr(&again));
    let resumed = on_one_thread(&["train", "--config", path_str(&cfg), "--resume"])
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(stdout(&resumed).contains(&format!("resumed at step {saved}")));
    let a = Dictionary::load(&straight).unwrap();
    let b = Dictionary::load(&killed).unwrap();
    for (x, y) in [
        (&a.w_enc, &b.w_enc),
        (&a.w_dec, &b.w_dec),
        (&a.b_enc, &b.b_enc),
    ] {
        assert_eq!((x - y).abs().max().double_value(&[]), 0.0);
    }
}

const TEXTS: [&str; 6] = [
    "The cat sat on the mat. It was a sunny day in the city of Paris, and the cat was happy.",
    "Numbers like 42, 1999 and 3.14159 appear in many documents; so do dates such as 12 March 2021.",
    "She said: \"I don't know what you mean!\" He replied that it wasn't his fault.",
    "def main():\n    for i in range(10):\n        print(i * i)\n",
    "Rain, rain, go away; come again another day. Little Johnny wants to play.",
    "The committee will meet on Tuesday to discuss the budget and the new proposal.",
];

fn corpus(dir: &Path) -> std::path::PathBuf {
    common::write_corpus(dir, &TEXTS)
}

fn extract(corpus: &Path, extra: &[&str]) -> std::process::Output {
    let model = root().join(".venv/models/all-MiniLM-L6-v2");
    let mut args = vec![
        "extract",
        "--model",
        path_str(&model),
        "--corpus",
        path_str(corpus),
        "--window",
        "16",
        "--top-k",
        "3",
        "--random-k",
        "2",
        "--quantile-k",
        "1",
        "--calibration-windows",
        "64",
    ];
    args.extend_from_slice(extra);
    featurescope(&args)
}

#[test]
fn dictionary_features_are_extracted_like_neurons() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = corpus(tmp.path());
    let hook = HookPoint {
        layer: 2,
        site: HookSite::ResidPost,
    };
    let zeros = Tensor::zeros([2, 384], (Kind::Float, tch::Device::Cpu));
    let mut identity = fit(Baseline::Neuron, &zeros, &BaselineOptions::default()).unwrap();
    identity.hook = Some(hook);
    let dict_dir = tmp.path().join("identity");
    identity.save(&dict_dir).unwrap();

    let neurons = tmp.path().join("neurons");
    let out = extract(
        &corpus,
        &[
            "--layers",
            "2",
            "--hook",
            "resid",
            "--out",
            path_str(&neurons),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let features = tmp.path().join("features");
    let out = extract(
        &corpus,
        &[
            "--dictionary",
            path_str(&dict_dir),
            "--out",
            path_str(&features),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let (a, b) = (
        Dataset::open(&neurons).unwrap(),
        Dataset::open(&features).unwrap(),
    );
    assert_eq!(a.unit_count().unwrap(), 384);
    assert_eq!(b.unit_count().unwrap(), 384);
    for unit in [0u64, 17, 383] {
        let (ra, rb) = (a.records(unit).unwrap(), b.records(unit).unwrap());
        assert_eq!(ra.len(), rb.len());
        for (x, y) in ra.iter().zip(&rb) {
            assert_eq!(x.tokens, y.tokens);
            let diff = x
                .activations
                .iter()
                .zip(&y.activations)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0f32, f32::max);
            assert!(diff < 1e-5, "unit {unit}: {diff}");
        }
    }
    let manifest = b.manifest();
    assert_eq!(manifest.sources.len(), 1);
    assert_eq!(manifest.sources[0].hook, "blocks.2.resid_post");
    assert_eq!(
        manifest.dictionary.as_ref().unwrap().source.as_deref(),
        Some(path_str(&dict_dir))
    );

    // Neurons and features side by side: units numbered source after source.
    let both = tmp.path().join("both");
    let out = extract(
        &corpus,
        &[
            "--layers",
            "1",
            "--hook",
            "mlp",
            "--dictionary",
            path_str(&dict_dir),
            "--out",
            path_str(&both),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let both = Dataset::open(&both).unwrap();
    let sources = &both.manifest().sources;
    assert_eq!(sources.len(), 2);
    assert_eq!((sources[0].first_unit_id, sources[0].units), (0, 1536));
    assert_eq!((sources[1].first_unit_id, sources[1].units), (1536, 384));
    assert_eq!(both.manifest().hook_point, None, "two sites");
    assert_eq!(both.unit(1536).unwrap().layer, 2);

    // A dictionary for another width is refused with its reason.
    let mut wrong = fit(
        Baseline::Neuron,
        &Tensor::zeros([2, 100], (Kind::Float, tch::Device::Cpu)),
        &BaselineOptions::default(),
    )
    .unwrap();
    wrong.hook = Some(hook);
    let wrong_dir = tmp.path().join("wrong");
    wrong.save(&wrong_dir).unwrap();
    let out = extract(
        &corpus,
        &[
            "--dictionary",
            path_str(&wrong_dir),
            "--out",
            path_str(&tmp.path().join("x")),
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("d_in is 100"), "{}", stderr(&out));
}

fn minilm() -> PathBuf {
    root().join(".venv/models/all-MiniLM-L6-v2")
}

/// Runs the binary and returns its JSON output; fails the test on a non-zero exit.
fn json_output(args: &[&str]) -> serde_json::Value {
    let out = featurescope(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// Caches `layer`'s residual stream of `model` over `corpus` (windows of 16)
/// into `dir/cache`, and fits a PCA with `components` on it into `dir/pca`.
fn cached_pca(
    dir: &Path,
    model: &Path,
    corpus: &Path,
    layer: &str,
    components: &str,
) -> (PathBuf, PathBuf) {
    let (cache, pca) = (dir.join("cache"), dir.join("pca"));
    for args in [
        vec![
            "extract",
            "--model",
            path_str(model),
            "--corpus",
            path_str(corpus),
            "--window",
            "16",
            "--layers",
            layer,
            "--hook",
            "resid",
            "--cache",
            path_str(&cache),
        ],
        vec![
            "baseline",
            "--kind",
            "pca",
            "--cache",
            path_str(&cache),
            "--out",
            path_str(&pca),
            "--components",
            components,
        ],
    ] {
        let out = featurescope(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    (cache, pca)
}

/// `eval-sae --json` of `dictionary` on `model` over `corpus` (windows of 16).
fn eval_on_corpus(dictionary: &Path, model: &Path, corpus: &Path) -> serde_json::Value {
    json_output(&[
        "eval-sae",
        path_str(dictionary),
        "--model",
        path_str(model),
        "--corpus",
        path_str(corpus),
        "--window",
        "16",
        "--json",
    ])
}

#[test]
fn the_cache_holds_every_text_token_and_eval_sae_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = corpus(tmp.path());
    let (cache, pca) = cached_pca(tmp.path(), &minilm(), &corpus, "2", "8");
    let info = featurescope::activations::ActivationCache::open(&cache).unwrap();
    // Every window is [CLS] + up to 14 text tokens + [SEP]; the cache holds the text tokens.
    let tokenizer = featurescope::model::TextTokenizer::load(&minilm()).unwrap();
    let text_tokens: usize = TEXTS
        .iter()
        .map(|t| tokenizer.encode(t, false).unwrap().ids.len())
        .sum();
    assert_eq!(info.tokens(), text_tokens);
    assert_eq!(info.d_in(), 384);

    let report = json_output(&[
        "eval-sae",
        path_str(&pca),
        "--cache",
        path_str(&cache),
        "--json",
    ]);
    let ev = report["explained_variance"].as_f64().unwrap();
    assert!(
        ev > 0.2 && ev < 1.0,
        "8 of 384 components explain part of the variance: {ev}"
    );
    assert_eq!(report["tokens"].as_u64().unwrap() as usize, text_tokens);
    // The model path reads the same activations at the dictionary's hook.
    let streamed = eval_on_corpus(&pca, &minilm(), &corpus);
    assert!((streamed["explained_variance"].as_f64().unwrap() - ev).abs() < 1e-4);
    // An encoder has no next-token loss.
    assert!(streamed.get("next_token_loss").is_none());
    // Garbage in a dictionary folder is named.
    std::fs::write(pca.join("cfg.json"), "{not json").unwrap();
    let out = featurescope(&["eval-sae", path_str(&pca), "--cache", path_str(&cache)]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cfg.json") && stderr(&out).contains("not JSON"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn eval_sae_reports_the_loss_recovered_on_a_causal_model() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    let tokenizer = root().join(".venv/models/all-MiniLM-L6-v2/tokenizer.json");
    common::python(
        "make_tiny_models.py",
        &[path_str(&models), path_str(&tokenizer)],
    );
    let model = models.join("gpt2");
    let corpus = corpus(tmp.path());
    // A PCA of layer 0's residual stream with half the components.
    let (_, pca) = cached_pca(tmp.path(), &model, &corpus, "0", "32");
    let report = eval_on_corpus(&pca, &model, &corpus);
    let loss = &report["next_token_loss"];
    let (clean, recon, zero) = (
        loss["clean"].as_f64().unwrap(),
        loss["reconstructed"].as_f64().unwrap(),
        loss["zero_ablated"].as_f64().unwrap(),
    );
    // Random weights: every loss is near log(vocab) but they differ.
    assert!(clean.is_finite() && recon.is_finite() && zero.is_finite());
    assert!(clean != recon && clean != zero, "{loss}");
    let recovered = loss["recovered"].as_f64().unwrap();
    assert!((recovered - (zero - recon) / (zero - clean)).abs() < 1e-9);
    assert!(loss["tokens"].as_u64().unwrap() > 0);
}

#[test]
fn training_streams_activations_from_the_model_when_there_is_no_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = corpus(tmp.path());
    let model = root().join(".venv/models/all-MiniLM-L6-v2");
    let out = tmp.path().join("sae");
    let cfg = tmp.path().join("sae.toml");
    // 16 steps of 64 tokens: several passes over this small corpus.
    std::fs::write(
        &cfg,
        format!(
            "out = {out:?}\n[data]\nmodel = {model:?}\ncorpus = {corpus:?}\nhook = \"blocks.1.resid_post\"\n\
             window = 16\nshuffle_buffer_tokens = 128\n[sae]\narchitecture = \"topk\"\nd_sae = 64\nk = 4\n\
             [train]\ntokens = 1024\nbatch = 64\nmetrics_every = 4\ncheckpoint_every = 8\n"
        ),
    )
    .unwrap();
    let run = featurescope(&["train", "--config", path_str(&cfg)]);
    assert!(run.status.success(), "{}", stderr(&run));
    let sae = Dictionary::load(&out).unwrap();
    assert_eq!(sae.hook.unwrap().to_string(), "blocks.1.resid_post");
    assert_eq!(sae.model_name.as_deref(), Some("all-MiniLM-L6-v2"));
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 4);
    // A hook the model does not have is named.
    let bad = cfg.with_file_name("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("blocks.1.", "blocks.9.")
            .replace(
                &format!("{out:?}"),
                &format!("{:?}", tmp.path().join("bad")),
            ),
    )
    .unwrap();
    let run = featurescope(&["train", "--config", path_str(&bad)]);
    assert!(!run.status.success());
    assert!(
        stderr(&run).contains("layer 9 does not exist"),
        "{}",
        stderr(&run)
    );
}

/// Gemma-3-270M's GGUF file through every command that takes a model:
/// model-info, extract (neurons, a dictionary's features, --cache), train
/// streaming from the model, and eval-sae with a real next-token loss.
#[test]
fn every_model_command_takes_a_gguf_file() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = corpus(tmp.path());
    let gemma = root().join(".venv/models/gemma-3-270m-q4_k_m.gguf");
    let info = json_output(&["model-info", path_str(&gemma), "--json"]);
    assert_eq!(info["model_type"], "gemma3");
    assert_eq!(info["layers"], 18);
    assert_eq!(info["mlp_size"], 2048);
    assert_eq!(info["windows"][0], 512);
    assert!(info["windows"][5].is_null(), "layer 5 is global: {info}");

    let (cache, pca) = cached_pca(tmp.path(), &gemma, &corpus, "6", "64");
    let cached = featurescope::activations::ActivationCache::open(&cache).unwrap();
    assert_eq!(cached.d_in(), 640);
    let report = eval_on_corpus(&pca, &gemma, &corpus);
    let loss = &report["next_token_loss"];
    let (clean, zero, recovered) = (
        loss["clean"].as_f64().unwrap(),
        loss["zero_ablated"].as_f64().unwrap(),
        loss["recovered"].as_f64().unwrap(),
    );
    // A trained model predicts real text far better than with a layer zeroed,
    // and 64 principal components of 640 recover part of the difference.
    assert!(clean < 5.0 && zero > clean + 1.0, "{loss}");
    assert!(recovered > 0.0 && recovered < 1.0, "{loss}");

    let dataset = tmp.path().join("dataset");
    let out = featurescope(&[
        "extract",
        "--model",
        path_str(&gemma),
        "--corpus",
        path_str(&corpus),
        "--window",
        "16",
        "--layers",
        "1",
        "--dictionary",
        path_str(&pca),
        "--out",
        path_str(&dataset),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dataset = Dataset::open(&dataset).unwrap();
    assert_eq!(dataset.unit_count().unwrap(), 2048 + 64);
    let records = dataset.records(0).unwrap();
    assert_eq!(records[0].tokens[0], "<bos>");

    let sae = tmp.path().join("sae");
    let cfg = tmp.path().join("sae.toml");
    std::fs::write(
        &cfg,
        format!(
            "out = {sae:?}\n[data]\nmodel = {gemma:?}\ncorpus = {corpus:?}\nhook = \"blocks.6.resid_post\"\n\
             window = 16\nshuffle_buffer_tokens = 64\n[sae]\narchitecture = \"topk\"\nd_sae = 256\nk = 8\n\
             [train]\ntokens = 256\nbatch = 32\nmetrics_every = 4\ncheckpoint_every = 8\n"
        ),
    )
    .unwrap();
    let run = featurescope(&["train", "--config", path_str(&cfg)]);
    assert!(run.status.success(), "{}", stderr(&run));
    let sae = Dictionary::load(&sae).unwrap();
    assert_eq!(sae.model_name.as_deref(), Some("gemma-3-270m-q4_k_m.gguf"));
    assert_eq!(sae.hook.unwrap().to_string(), "blocks.6.resid_post");
}

/// The demo's training configurations read, and name files that exist.
#[test]
fn the_demo_training_configs_read_and_name_what_make_run_sets_up() {
    use featurescope::sae::train::TrainConfig;
    let proposal = TrainConfig::read(&root().join("datasets/demo-train.toml")).unwrap();
    proposal.check().unwrap();
    let model = proposal
        .data
        .model
        .expect("the train key streams from the model");
    assert!(root().join(&model).is_file(), "{}", model.display());
    assert_eq!(proposal.data.hook.as_deref(), Some("blocks.3.resid_post"));
    let demo = TrainConfig::read(&root().join("datasets/demo-sae.toml")).unwrap();
    demo.check().unwrap();
    assert!(root().join(&demo.out).join("cfg.json").is_file());
}
