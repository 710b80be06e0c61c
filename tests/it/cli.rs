//! The binary's front door: the default dataset, text output, doctor.
use crate::common;

use common::{featurescope, stderr, stdout};
use std::process::Command;

#[test]
fn no_arguments_opens_the_bundled_demo() {
    let out = Command::new(env!("CARGO_BIN_EXE_featurescope"))
        .current_dir(common::root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("dataset       datasets/demo (format v1"),
        "{text}"
    );
    assert!(text.contains("units         9216"), "{text}");
    assert!(
        text.contains("subject       gemma-3-270m-q4_k_m.gguf   hook -   window 32 tokens"),
        "{text}"
    );
    // Neurons of two layers, and the SAE and baseline features, each have their range.
    assert!(
        text.contains("    2048..4096   neuron   blocks.14.mlp"),
        "{text}"
    );
    assert!(
        text.contains(
            "    4096..6656   sae      blocks.6.resid_post  from datasets/dictionaries/gemma-l6-sae"
        ),
        "{text}"
    );
    assert!(
        text.contains("    7296..7936   ica      blocks.6.resid_post"),
        "{text}"
    );
}

#[test]
fn inspect_text_lists_layers_kinds_and_sample_kinds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    common::python("write_dataset.py", &[common::path_str(&dir)]);
    let out = featurescope(&["inspect", common::path_str(&dir)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "subject       pyarrow-written   hook mlp   window 8 tokens",
        "      0  neuron          2",
        "      1  neuron          2",
        "records       16 in 1 files (quantile 4, random 4, top 8)",
        "explanations  2 (revision 1, top-activations 1) on 1 units",
        "scores        1 (1 defined, mean 0.500)",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[test]
fn doctor_runs_libtorch_without_library_path() {
    let out = Command::new(env!("CARGO_BIN_EXE_featurescope"))
        .arg("doctor")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("1+2+3 = 6"));
    // The test set-up installs the full torch wheel, so libtorch_cuda and the
    // CUDA libraries it needs are there to be opened, GPU or not.
    assert!(
        text.contains("libtorch_cuda loaded; no device") || text.contains("device(s)"),
        "{text}"
    );
}

#[test]
fn asking_for_cuda_without_a_gpu_says_so() {
    let gpu = stdout(&featurescope(&["doctor"])).contains("device(s)");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sae.toml");
    std::fs::write(
        &config,
        "out = \"x\"\ndevice = \"cuda\"\n[data]\ncache = \"nowhere\"\n",
    )
    .unwrap();
    let out = featurescope(&["train", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    // Without a GPU the device is the problem; with one, the missing cache.
    let expected = if gpu {
        "nowhere"
    } else {
        "device cuda: libtorch sees no CUDA device on this machine"
    };
    assert!(stderr(&out).contains(expected), "{}", stderr(&out));
}

/// A bad choice is refused by the parser itself (exit 2, before any file is
/// read), naming the flag and listing what it accepts.
#[test]
fn bad_choices_are_refused_by_the_parser_with_the_valid_ones() {
    let cases: [(&[&str], &str, &str); 8] = [
        (
            &[
                "extract", "--model", "m", "--corpus", "c", "--out", "o", "--hook", "attn",
            ],
            "--hook",
            "expected mlp, resid_pre, resid_post or resid",
        ),
        (
            &[
                "extract", "--model", "m", "--corpus", "c", "--out", "o", "--device", "gpu",
            ],
            "--device",
            "expected cpu or cuda",
        ),
        (
            &[
                "extract", "--model", "m", "--corpus", "c", "--out", "o", "--layers", "2-x",
            ],
            "--layers",
            "is not a number or a range",
        ),
        (
            &["explain", "ds", "--explainer-api", "soap"],
            "--explainer-api",
            "expected completions or chat",
        ),
        (
            &["score", "ds", "--record-set", "all"],
            "--record-set",
            "expected top-and-random, top-only or random-only",
        ),
        (
            &["revise", "ds", "--evidence", "hunch"],
            "--evidence",
            "expected misses or random",
        ),
        (
            &["explain", "ds", "--units", "layer:1"],
            "--units",
            "use all, layers:0-2, ids:1,5,9-12, top-density:N or random:N",
        ),
        (
            &["baseline", "--kind", "svd", "--cache", "c", "--out", "o"],
            "--kind",
            "expected neuron, random, pca or ica",
        ),
    ];
    for (args, flag, choices) in cases {
        let out = featurescope(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(flag) && err.contains(choices),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn the_demo_ships_explanations_scores_and_revisions_from_the_bundled_model() {
    let ds = featurescope::dataset::Dataset::open(common::root().join("datasets/demo")).unwrap();
    let explanations = ds.explanations().unwrap();
    let scores = ds.scores().unwrap();
    let bundled = "gemma-3-270m-q4_k_m.gguf";
    assert!(explanations.len() >= 200, "{}", explanations.len());
    assert!(explanations.iter().all(|e| e.explainer_model == bundled));
    assert!(scores.iter().all(|s| s.simulator_model == bundled
        && ["top-and-random", "random-only"].contains(&s.record_set.as_str())
        && s.record_ids.len() == s.simulated.len()));
    // The basis comparison's inputs: each first explanation is scored on
    // random records as well.
    let random_only: std::collections::HashSet<&str> = (scores.iter())
        .filter(|s| s.record_set == "random-only")
        .map(|s| s.explanation_id.as_str())
        .collect();
    let first = explanations.iter().filter(|e| e.parent_id.is_none());
    assert!(first.clone().count() >= 200);
    assert!(
        first
            .into_iter()
            .all(|e| random_only.contains(e.explanation_id.as_str()))
    );
    // Every kind of unit is explained, and revisions point at their parents.
    let units = ds.units_overview().unwrap();
    let kinds: std::collections::HashSet<_> = explanations
        .iter()
        .map(|e| units[e.unit_id as usize].kind)
        .collect();
    assert_eq!(kinds.len(), 5, "{kinds:?}"); // neuron, sae, pca, ica, random
    let revisions: Vec<_> = explanations
        .iter()
        .filter(|e| e.parent_id.is_some())
        .collect();
    assert!(!revisions.is_empty());
    for r in revisions {
        assert!(
            explanations
                .iter()
                .any(|e| Some(&e.explanation_id) == r.parent_id.as_ref())
        );
    }
    assert!(
        scores.len() >= explanations.len() * 9 / 10,
        "most explanations are scored"
    );
}
