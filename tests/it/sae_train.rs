//! SAE training, the activation cache and the baselines, through the library.
use crate::common;

use common::{path_str, python};
use featurescope::activations::{ActivationCache, CacheWriter};
use featurescope::model::{HookPoint, HookSite};
use featurescope::sae::baselines::{Baseline, BaselineOptions, fit};
use featurescope::sae::eval::{HeldOut, evaluate};
use featurescope::sae::train::{Architecture, Metrics};
use featurescope::sae::{Dictionary, SaeError, TrainConfig, train};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use tch::{Kind, Tensor};

const HOOK: HookPoint = HookPoint {
    layer: 2,
    site: HookSite::ResidPost,
};

/// Writes `data` [rows, d] as a cache with small shards (so reads cross shard boundaries).
fn write_cache(dir: &Path, data: &Tensor) {
    let d = data.size()[1] as usize;
    let values =
        Vec::<f32>::try_from(data.to_kind(Kind::Float).contiguous().flatten(0, -1)).unwrap();
    let mut writer = CacheWriter::create(dir, "toy", HOOK, d, "synthetic", 64)
        .unwrap()
        .with_shard_tokens(7000);
    for chunk in values.chunks(d * 999) {
        writer.push(chunk).unwrap();
    }
    writer.finish().unwrap();
}

/// Cunningham et al.'s toy data: sparse non-negative combinations of known
/// unit-norm features. Returns (data [rows, d], features [n, d]).
fn toy_data(rows: i64, d: i64, n: i64, active: f64) -> (Tensor, Tensor) {
    tch::manual_seed(7);
    let opts = (Kind::Float, tch::Device::Cpu);
    let features = Tensor::randn([n, d], opts);
    let features = &features / features.norm_scalaropt_dim(2, [1i64].as_slice(), true);
    let on = Tensor::rand([rows, n], opts)
        .lt(active / n as f64)
        .to_kind(Kind::Float);
    let codes = on * Tensor::rand([rows, n], opts);
    (codes.mm(&features), features)
}

fn config(out: &Path, cache: &Path, toml_extra: &str) -> TrainConfig {
    let text = format!("out = {out:?}\n[data]\ncache = {cache:?}\n{toml_extra}",);
    let path = out.with_extension("toml");
    std::fs::write(&path, text).unwrap();
    TrainConfig::read(&path).unwrap()
}

/// Mean over true features of the best cosine similarity with a decoder row.
fn mean_max_cosine(truth: &Tensor, dictionary: &Dictionary) -> f64 {
    let rows = &dictionary.w_dec
        / dictionary
            .w_dec
            .norm_scalaropt_dim(2, [1i64].as_slice(), true);
    truth
        .mm(&rows.tr())
        .max_dim(1, false)
        .0
        .mean(Kind::Float)
        .double_value(&[])
}

#[test]
fn every_architecture_recovers_a_known_sparse_dictionary() {
    let _rng = common::torch_rng();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let (data, truth) = toy_data(70_000, 24, 48, 3.0);
    // Trained on the first 60,000 rows; judged on the 10,000 it never saw.
    write_cache(&cache, &data.narrow(0, 0, 60_000));
    let held_out_dir = tmp.path().join("held-out");
    let held_out = data.narrow(0, 60_000, 10_000);
    write_cache(&held_out_dir, &held_out);
    let held_out_cache = ActivationCache::open(&held_out_dir).unwrap();
    for (arch, extra) in [
        // α is relative to inputs scaled to mean norm sqrt(d_in).
        ("tied", "l1_coefficient = 1.0"),
        ("standard", "l1_coefficient = 1.0"),
        ("topk", "k = 3"),
    ] {
        let out = tmp.path().join(arch);
        let cfg = config(
            &out,
            &cache,
            &format!(
                "[sae]\narchitecture = \"{arch}\"\nd_sae = 96\n{extra}\n\
                 [train]\ntokens = 1200000\nbatch = 512\nlr = 0.003\nmetrics_every = 200\n"
            ),
        );
        let report = train(&cfg, false, &AtomicBool::new(false), |_| {}).unwrap();
        let dictionary = Dictionary::load(&out).unwrap();
        let mmcs = mean_max_cosine(&truth, &dictionary);
        assert!(mmcs > 0.9, "{arch}: mean max cosine {mmcs}");
        assert!(report.final_metrics.is_some());
        let m = evaluate(&dictionary, HeldOut::Cache(&held_out_cache), 10_000, 0.1).unwrap();
        assert_eq!(m.tokens, 10_000);
        assert!(m.explained_variance > 0.8, "{arch}: {m:?}");
        // Three true features are active per token on average; a dense code
        // would use most of the 24 dimensions.
        assert!(m.l0 < 10.0, "{arch}: sparse codes, {m:?}");
        // The saved dictionary works on raw activations (the input scaling is folded in).
        let (_, reconstruction) = dictionary.encode_decode(&held_out);
        let err = (reconstruction - &held_out).square().sum(Kind::Float);
        let total = held_out.square().sum(Kind::Float);
        let relative = (err / total).double_value(&[]);
        assert!(relative < 0.2, "{arch}: relative error {relative}");
        assert_eq!(dictionary.hook, Some(HOOK));
    }
}

fn final_weights(out: &Path) -> Tensor {
    Dictionary::load(out).unwrap().w_dec
}

#[test]
fn an_interrupted_run_resumes_to_the_same_result() {
    let _rng = common::torch_rng();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let (data, _) = toy_data(5000, 16, 32, 3.0);
    write_cache(&cache, &data);
    let extra = "[sae]\narchitecture = \"topk\"\nd_sae = 64\nk = 4\ndead_window_steps = 5\n\
                 [train]\ntokens = 12800\nbatch = 256\nmetrics_every = 7\ncheckpoint_every = 10\n";
    let straight = tmp.path().join("straight");
    train(
        &config(&straight, &cache, extra),
        false,
        &AtomicBool::new(false),
        |_| {},
    )
    .unwrap();

    let split = tmp.path().join("split");
    let cfg = config(&split, &cache, extra);
    let cancel = AtomicBool::new(false);
    let err = train(&cfg, false, &cancel, |p| {
        if let featurescope::sae::TrainProgress::Step { step: 23, .. } = p {
            cancel.store(true, Ordering::Relaxed);
        }
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            SaeError::Interrupted {
                step: 23,
                saved: 23
            }
        ),
        "{err}"
    );
    assert!(
        !split.join("cfg.json").exists(),
        "no dictionary before the end"
    );
    // Starting over without --resume would discard the checkpoint: refused.
    let refused = train(&cfg, false, &AtomicBool::new(false), |_| {}).unwrap_err();
    assert!(refused.to_string().contains("--resume"), "{refused}");
    let report = train(&cfg, true, &AtomicBool::new(false), |_| {}).unwrap();
    assert_eq!(report.resumed_from, Some(23));
    assert_eq!(report.steps, 50);
    let diff = (final_weights(&straight) - final_weights(&split))
        .abs()
        .max()
        .double_value(&[]);
    assert_eq!(
        diff, 0.0,
        "resumed weights differ from the uninterrupted run"
    );
    // The metrics file has each metrics step once, in order.
    let steps: Vec<u64> = std::fs::read_to_string(split.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Metrics>(l).unwrap().step)
        .collect();
    assert_eq!(steps, vec![7, 14, 21, 28, 35, 42, 49, 50]);
}

#[test]
fn configuration_mistakes_are_named() {
    let _rng = common::torch_rng();
    let tmp = tempfile::tempdir().unwrap();
    let write = |text: &str| {
        let p = tmp.path().join("sae.toml");
        std::fs::write(&p, text).unwrap();
        TrainConfig::read(&p).unwrap_err().to_string()
    };
    let typo = write("out = \"x\"\n[data]\ncache = \"c\"\n[sae]\nl1_coeficient = 3\n");
    assert!(
        typo.contains("sae.toml") && typo.contains("l1_coeficient"),
        "{typo}"
    );
    let no_data = write("out = \"x\"\n[data]\n");
    assert!(no_data.contains("[data] needs"), "{no_data}");
    let bad_arch = write("out = \"x\"\n[data]\ncache = \"c\"\n[sae]\narchitecture = \"gated\"\n");
    assert!(bad_arch.contains("gated"), "{bad_arch}");
    let bad_lr = write("out = \"x\"\n[data]\ncache = \"c\"\n[train]\nlr = -1\n");
    assert!(bad_lr.contains("train.lr"), "{bad_lr}");
    let missing = tmp.path().join("nowhere");
    let cfg = config(&tmp.path().join("out"), &missing, "");
    let err = train(&cfg, false, &AtomicBool::new(false), |_| {}).unwrap_err();
    assert!(err.to_string().contains("nowhere"), "{err}");
    assert!(matches!(
        config(&tmp.path().join("o2"), &missing, "")
            .sae
            .architecture,
        Architecture::Standard
    ));
}

#[test]
fn the_cache_reads_back_every_row_and_names_a_damaged_shard() {
    let _rng = common::torch_rng();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let data = Tensor::randn([20_000, 8], (Kind::Float, tch::Device::Cpu));
    write_cache(&dir, &data);
    let cache = ActivationCache::open(&dir).unwrap();
    assert_eq!(cache.tokens(), 20_000);
    assert!(cache.info.shards.len() > 2);
    let mut rows = Vec::new();
    for i in [0, 6999, 7000, 13_999, 19_999] {
        rows.clear();
        cache.copy_row(i, &mut rows);
        let expected = Vec::<f32>::try_from(data.get(i as i64)).unwrap();
        assert_eq!(rows, expected, "row {i}");
    }
    // numpy reads the shards as they are.
    let shard = dir.join(&cache.info.shards[1].file);
    let first = python("read_shard.py", &[path_str(&shard)]);
    let expected = data.get(7000).get(0).double_value(&[]);
    assert!((first.trim().parse::<f64>().unwrap() - expected).abs() < 1e-6);
    // A truncated shard is named, not read past its end.
    let len = std::fs::metadata(&shard).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&shard)
        .unwrap();
    file.set_len(len - 100).unwrap();
    let err = ActivationCache::open(&dir).err().unwrap().to_string();
    assert!(
        err.contains("shard-00001.safetensors") && err.contains("too short"),
        "{err}"
    );
}

#[test]
fn pca_matches_numpy_and_its_explained_variance_is_the_eigenvalue_share() {
    let _rng = common::torch_rng();
    let tmp = tempfile::tempdir().unwrap();
    tch::manual_seed(2);
    let opts = (Kind::Float, tch::Device::Cpu);
    let mixing = Tensor::randn([6, 6], opts);
    let data = Tensor::randn([4000, 6], opts).mm(&mixing) + 3.0;
    let path = tmp.path().join("data.safetensors");
    Tensor::write_safetensors(&[("x", &data)], &path).unwrap();
    let pca = fit(
        Baseline::Pca,
        &data,
        &BaselineOptions {
            components: Some(3),
            ..Default::default()
        },
    )
    .unwrap();
    // numpy's SVD of the centred data: the same axes up to sign, and the variance shares.
    let reference: Vec<f64> = python("pca_reference.py", &[path_str(&path), "3"])
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    let (axes, share) = (&reference[..18], reference[18]);
    let axes = Tensor::from_slice(axes).view([3, 6]).to_kind(Kind::Float);
    let cosines = (pca.w_dec.shallow_clone() * axes)
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
        .abs();
    assert!(cosines.min().double_value(&[]) > 0.9999, "{cosines:?}");
    let mut metrics = featurescope::sae::eval::ReconstructionMetrics::new(&pca);
    metrics.add(&pca, &data);
    let report = metrics.finish(0.1);
    assert!(
        (report.explained_variance - share).abs() < 1e-3,
        "{report:?} vs {share}"
    );
}

#[test]
fn ica_unmixes_independent_sources() {
    let _rng = common::torch_rng();
    tch::manual_seed(4);
    let opts = (Kind::Float, tch::Device::Cpu);
    // Laplace-like and uniform sources: non-Gaussian, independent.
    let u = Tensor::rand([20_000, 4], opts) - 0.5;
    let magnitude: Tensor = 1.0 - u.abs() * 2.0;
    let laplace = u.sign() * magnitude.clamp_min(1e-6).log().neg();
    let sources = Tensor::cat(&[laplace, Tensor::rand([20_000, 2], opts) - 0.5], 1);
    let mixing = Tensor::randn([6, 6], opts);
    let data = sources.mm(&mixing);
    let ica = fit(Baseline::Ica, &data, &BaselineOptions::default()).unwrap();
    let recovered = ica.encode(&data);
    // Each source is one recovered component, up to scale.
    let s = (&sources - sources.mean_dim([0i64].as_slice(), true, Kind::Float))
        / sources.std_dim([0i64].as_slice(), true, true);
    let r = (&recovered - recovered.mean_dim([0i64].as_slice(), true, Kind::Float))
        / recovered.std_dim([0i64].as_slice(), true, true);
    let correlation = s.tr().mm(&r).abs() / 20_000.0;
    let best = correlation.max_dim(1, false).0;
    assert!(best.min().double_value(&[]) > 0.95, "{correlation:?}");
}

#[test]
fn random_and_neuron_baselines_are_projections() {
    let _rng = common::torch_rng();
    let data = Tensor::randn([100, 5], (Kind::Float, tch::Device::Cpu));
    let neuron = fit(Baseline::Neuron, &data, &BaselineOptions::default()).unwrap();
    assert_eq!(
        (neuron.encode(&data) - &data).abs().max().double_value(&[]),
        0.0
    );
    let random = fit(
        Baseline::Random,
        &data,
        &BaselineOptions {
            components: Some(12),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(random.d_sae(), 12);
    let norms = random.w_dec.norm_scalaropt_dim(2, [1i64].as_slice(), false);
    assert!((norms - 1.0).abs().max().double_value(&[]) < 1e-5);
    let projections = data.mm(&random.w_dec.tr());
    assert!(
        (random.encode(&data) - projections)
            .abs()
            .max()
            .double_value(&[])
            < 1e-5
    );
    let err = fit(
        Baseline::Pca,
        &data,
        &BaselineOptions {
            components: Some(9),
            ..Default::default()
        },
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("out of range"), "{err}");
}
