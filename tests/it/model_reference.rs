//! Subject models against Hugging Face transformers on the same token ids:
//! every hook point of every layer agrees to 1e-4 relative error, measured as
//! max |ours - theirs| / max |theirs| over the real (unpadded) tokens.
use crate::common;

use common::{path_str, python, root};
use featurescope::model::{self, HookPoint};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

const TOLERANCE: f64 = 1e-4;

fn check_against_transformers(model_dir: &Path, batch: usize, seq: usize) {
    check_model_against_transformers(model_dir, model_dir, batch, seq);
}

/// Our model loaded from `ours` (the folder itself, or a GGUF file written
/// from it) against transformers on the folder `model_dir`.
fn check_model_against_transformers(model_dir: &Path, ours: &Path, batch: usize, seq: usize) {
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
    let model = model::load(ours, Device::Cpu).unwrap();
    let real = assert_every_hook_close(model.as_ref(), &reference);
    if let Some(theirs) = reference.get("logits") {
        let ours =
            tch::no_grad(|| model.logits(&reference["ids"], &reference["mask"], None)).unwrap();
        assert_close("logits", &ours, theirs, &real);
    }
}

#[test]
fn minilm_real_weights_match_transformers() {
    check_against_transformers(&root().join(".venv/models/all-MiniLM-L6-v2"), 2, 40);
}

#[test]
fn tiny_decoders_match_transformers() {
    let (_tmp, dir) = common::tiny_models();
    for name in [
        "gpt2",
        "pythia",
        "neox-sequential",
        "llama",
        "qwen2",
        "gemma",
        "gemma2",
        "gemma3",
        "mistral",
        "llama3",
    ] {
        eprintln!("checking {name}");
        check_against_transformers(&dir.join(name), 2, 24);
    }
}

/// The Llama family and Gemma 1-3 through the GGUF path: tiny random
/// checkpoints written as llama.cpp writes GGUF (permuted query and key rows,
/// `1 + w` norms, Llama 3's rope divisors, Gemma 2's soft-caps and windows,
/// Gemma 3's two bases), loaded from
/// the GGUF file and compared with transformers on the original checkpoint.
#[test]
fn tiny_gguf_decoders_match_transformers() {
    let (_tmp, dir) = common::tiny_models();
    let written = std::cell::Cell::new(0);
    let write_with = |name: &str, extras: &[&str]| {
        written.set(written.get() + 1);
        let gguf = dir.join(format!("{name}-{}.gguf", written.get()));
        let (folder, out) = (dir.join(name), gguf.clone());
        let mut args = vec![path_str(&folder), path_str(&out)];
        args.extend(extras);
        python("write_model_gguf.py", &args);
        gguf
    };
    let write = |name: &str| write_with(name, &[]);
    for name in ["llama", "qwen2", "llama3", "gemma", "gemma2-gguf", "gemma3"] {
        eprintln!("checking {name} from GGUF");
        check_model_against_transformers(&dir.join(name), &write(name), 2, 24);
    }
    // What the decoder does not implement is refused by name, not dropped:
    // Mistral's sliding window on a Llama-architecture file, experts, a
    // scaling type, a tensor it has no place for.
    let refusal = |gguf: PathBuf| {
        model::load(&gguf, Device::Cpu)
            .err()
            .expect("refused")
            .to_string()
    };
    for (gguf, named) in [
        (write("mistral"), "llama.attention.sliding_window"),
        (
            write_with("llama", &["llama.expert_count=8"]),
            "llama.expert_count",
        ),
        (
            write_with(
                "llama",
                &[
                    "llama.rope.scaling.type=\"yarn\"",
                    "llama.rope.scaling.factor=4.0",
                ],
            ),
            "\"yarn\" is not implemented",
        ),
        (
            write_with("llama", &["+blk.0.ffn_gate_inp.weight"]),
            "blk.0.ffn_gate_inp.weight",
        ),
    ] {
        let error = refusal(gguf);
        assert!(error.contains(named), "{error}");
    }
}

/// Runs `model` on the reference's `ids` and `mask` and asserts every hook
/// point close to the reference's; returns the real-token mask `[batch, seq, 1]`.
fn assert_every_hook_close(
    model: &dyn model::SubjectModel,
    reference: &HashMap<String, Tensor>,
) -> Tensor {
    let (ids, mask) = (&reference["ids"], &reference["mask"]);
    let hooks: Vec<HookPoint> = model.hook_points();
    let ours = tch::no_grad(|| model.forward(ids, mask, &hooks)).unwrap();
    let real = mask.to_kind(Kind::Float).unsqueeze(-1);
    for (hook, ours) in hooks.iter().zip(ours) {
        assert_close(
            &hook.to_string(),
            &ours,
            &reference[&hook.to_string()],
            &real,
        );
    }
    real
}

/// max |ours - theirs| / max |theirs| over the real tokens (`real` is
/// `[batch, seq, 1]`, 1 for real tokens), asserted within [`TOLERANCE`].
fn assert_close(what: &str, ours: &Tensor, theirs: &Tensor, real: &Tensor) {
    assert_eq!(ours.size(), theirs.size(), "{what}");
    let diff = ((ours - theirs).abs() * real).max().double_value(&[]);
    let scale = (theirs.abs() * real).max().double_value(&[]);
    let relative = diff / scale;
    assert!(
        relative <= TOLERANCE,
        "{what}: relative error {relative:e} (max diff {diff:e}, scale {scale:e})"
    );
}

/// Gemma-3-270M's real GGUF file (Q8_0, Q5_0, Q4_K and Q6_K tensors)
/// against transformers' own GGUF loader, on real text: a 600-token row
/// (past the 512-token sliding window, so local and global layers differ)
/// and a short right-padded one. Every hook of every layer, the logits at
/// the first and last positions, and the next-token argmax everywhere.
#[test]
fn gemma3_gguf_matches_transformers() {
    let gguf = root().join(".venv/models/gemma-3-270m-q4_k_m.gguf");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("reference.safetensors");
    python(
        "gguf_model_reference.py",
        &[
            path_str(&gguf),
            path_str(&out),
            "/usr/share/common-licenses/GPL-3",
            "/usr/share/common-licenses/Apache-2.0",
            "600",
            "40",
        ],
    );
    let reference: HashMap<String, Tensor> = Tensor::read_safetensors(&out)
        .unwrap()
        .into_iter()
        .collect();
    let model = model::load(&gguf, Device::Cpu).unwrap();
    let (ids, mask) = (&reference["ids"], &reference["mask"]);
    let real = assert_every_hook_close(model.as_ref(), &reference);
    let logits = tch::no_grad(|| model.logits(ids, mask, None)).unwrap();
    assert_close(
        "logits, first positions",
        &logits.narrow(1, 0, 8),
        &reference["logits_first"],
        &real.narrow(1, 0, 8),
    );
    let seq = ids.size()[1];
    assert_close(
        "logits, last positions",
        &logits.get(0).narrow(0, seq - 8, 8),
        &reference["logits_last"],
        &Tensor::ones([8, 1], (Kind::Float, Device::Cpu)),
    );
    let differing = logits
        .argmax(-1, false)
        .ne_tensor(&reference["argmax"])
        .logical_and(&mask.to_kind(Kind::Bool))
        .sum(Kind::Int64)
        .int64_value(&[]);
    assert_eq!(differing, 0, "positions whose next-token argmax differs");
}
