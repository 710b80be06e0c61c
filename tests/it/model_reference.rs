//! Subject models against Hugging Face transformers on the same token ids:
//! every hook point of every layer agrees to 1e-4 relative error, measured as
//! max |ours - theirs| / max |theirs| over the real (unpadded) tokens.
use crate::common;

use common::{path_str, python, root};
use featurescope::model::{self, HookPoint};
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

const TOLERANCE: f64 = 1e-4;

fn check_against_transformers(model_dir: &Path, batch: usize, seq: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("reference.safetensors");
    python(
        "reference_activations.py",
        &[
            path_str(model_dir),
            path_str(&out),
            &batch.to_string(),
            &seq.to_string(),
            "0",
        ],
    );
    let reference: HashMap<String, Tensor> = Tensor::read_safetensors(&out)
        .unwrap()
        .into_iter()
        .collect();
    let model = model::load(model_dir, Device::Cpu).unwrap();
    let hooks: Vec<HookPoint> = model.hook_points();
    let ours =
        tch::no_grad(|| model.forward(&reference["ids"], &reference["mask"], &hooks)).unwrap();
    let real = reference["mask"].to_kind(Kind::Float).unsqueeze(-1);
    for (hook, ours) in hooks.iter().zip(ours) {
        let theirs = &reference[&hook.to_string()];
        assert_eq!(ours.size(), theirs.size(), "{hook}");
        let diff = ((&ours - theirs).abs() * &real).max().double_value(&[]);
        let scale = (theirs.abs() * &real).max().double_value(&[]);
        let relative = diff / scale;
        assert!(
            relative <= TOLERANCE,
            "{hook}: relative error {relative:e} (max diff {diff:e}, scale {scale:e})"
        );
    }
}

#[test]
fn minilm_real_weights_match_transformers() {
    check_against_transformers(&root().join(".venv/models/all-MiniLM-L6-v2"), 2, 40);
}

/// Tiny random checkpoints of each decoder architecture, written by transformers.
fn tiny_models() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let tokenizer = root().join(".venv/models/all-MiniLM-L6-v2/tokenizer.json");
    python(
        "make_tiny_models.py",
        &[path_str(tmp.path()), path_str(&tokenizer)],
    );
    let dir = tmp.path().to_owned();
    (tmp, dir)
}

#[test]
fn tiny_decoders_match_transformers() {
    let (_tmp, dir) = tiny_models();
    for name in [
        "gpt2",
        "pythia",
        "neox-sequential",
        "llama",
        "qwen2",
        "gemma",
    ] {
        eprintln!("checking {name}");
        check_against_transformers(&dir.join(name), 2, 24);
    }
}
