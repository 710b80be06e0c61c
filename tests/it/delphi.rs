//! A Delphi run written by eai-delphi's own cache code (licence texts in
//! MiniLM's tokens, latents computed from them) imports as a dataset whose
//! statistics, strongest windows, activations and texts equal what numpy and
//! the tokenizer compute from the same cache; it opens in the explorer; a
//! damaged cache is named and leaves nothing.
use crate::common::{self, path_str};
use featurescope::dataset::{Dataset, Sample};
use serde_json::Value;
use std::collections::HashSet;
use std::path::Path;

const WINDOW: usize = 32;

/// Writes the run at `dir/run`; returns numpy's and the tokenizer's account of it.
fn delphi_run(dir: &Path) -> Value {
    let tokenizer = common::root().join(".venv/models/all-MiniLM-L6-v2/tokenizer.json");
    let printed = common::python(
        "write_delphi_cache.py",
        &[
            path_str(&dir.join("run")),
            path_str(&tokenizer),
            &WINDOW.to_string(),
        ],
    );
    serde_json::from_str(&printed).unwrap()
}

fn import(dir: &Path, name: &str) -> std::process::Output {
    let model = common::root().join(".venv/models/all-MiniLM-L6-v2");
    common::featurescope(&[
        "import",
        "delphi",
        path_str(&dir.join("run")),
        "--tokenizer",
        path_str(&model),
        "--out",
        path_str(&dir.join(name)),
        "--json",
    ])
}

#[test]
fn a_delphi_cache_imports_with_its_statistics_windows_and_texts() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = delphi_run(tmp.path());
    let run = import(tmp.path(), "dataset");
    assert!(run.status.success(), "{}", common::stderr(&run));
    let report: Value = serde_json::from_str(&common::stdout(&run)).unwrap();
    assert_eq!(report["hookpoints"], serde_json::json!(["layers.3.mlp"]));
    assert_eq!(
        (
            report["explanations"].as_u64(),
            report["explanations_without_unit"].as_u64()
        ),
        (Some(2), Some(1))
    );

    let ds = Dataset::open(tmp.path().join("dataset")).unwrap();
    ds.validate().unwrap();
    assert_eq!(
        ds.manifest().subject_model.as_ref().unwrap().name,
        "sentence-transformers/all-MiniLM-L6-v2"
    );
    let latents = expected["latents"].as_object().unwrap();
    assert_eq!(
        ds.unit_count().unwrap(),
        latents.len() as u64,
        "the dead latent has no unit"
    );
    let texts = expected["window_texts"].as_array().unwrap();
    for unit_id in 0..ds.unit_count().unwrap() {
        let unit = ds.unit(unit_id).unwrap();
        let want = &latents[&unit.index.to_string()];
        assert_eq!(unit.layer, 3);
        assert_eq!(
            unit.stats.max,
            want["max"].as_f64().unwrap(),
            "latent {}",
            unit.index
        );
        assert!((unit.stats.mean.unwrap() - want["mean"].as_f64().unwrap()).abs() < 1e-12);
        assert_eq!(unit.stats.density, want["density"].as_f64());
        assert_eq!(unit.stats.histogram_counts.iter().sum::<u64>(), 12 * 64);
        let records = ds.records(unit_id).unwrap();
        let top: Vec<f64> = (records.iter())
            .filter(|r| r.sample == Sample::Top)
            .map(|r| f64::from(r.max_activation()))
            .collect();
        let want_top: Vec<f64> = (want["top_maxima"].as_array().unwrap().iter())
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(top, want_top, "latent {}", unit.index);
        let firing = want["firing"].as_object().unwrap();
        let mut top_windows = HashSet::new();
        for r in &records {
            let window = r.document_id.unwrap() as usize * 64 / WINDOW
                + r.token_offset.unwrap() as usize / WINDOW;
            assert_eq!(
                r.tokens.concat(),
                texts[window].as_str().unwrap(),
                "window {window}"
            );
            let values: Vec<f32> = match firing.get(&window.to_string()) {
                Some(v) => serde_json::from_value(v.clone()).unwrap(),
                None => vec![0.0; WINDOW],
            };
            assert_eq!(
                r.activations, values,
                "latent {} window {window}",
                unit.index
            );
            if r.sample == Sample::Top {
                top_windows.insert(window);
            }
            if r.sample == Sample::Random {
                assert!(
                    !top_windows.contains(&window),
                    "a random record repeats a top one"
                );
            }
        }
        assert!(records.iter().any(|r| r.sample == Sample::Random));
    }
    let explanations = ds.explanations().unwrap();
    let licence = explanations
        .iter()
        .find(|e| e.text == "the word licence")
        .unwrap();
    assert_eq!(ds.unit(licence.unit_id).unwrap().index, 0);

    // Drawn with a seed: a second import chooses the same records.
    assert!(import(tmp.path(), "again").status.success());
    let again = Dataset::open(tmp.path().join("again")).unwrap();
    for unit_id in 0..ds.unit_count().unwrap() {
        assert_eq!(
            again.records(unit_id).unwrap(),
            ds.records(unit_id).unwrap()
        );
    }
    let replay = common::featurescope(&[
        "replay",
        path_str(&tmp.path().join("dataset")),
        "--script",
        "enter right down esc",
    ]);
    assert!(replay.status.success(), "{}", common::stderr(&replay));
}

/// A truncated split, a split without its tokens, and a folder without
/// splits are each named; no dataset is left.
#[test]
fn a_damaged_delphi_cache_is_named_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    delphi_run(tmp.path());
    let split = tmp.path().join("run/latents/layers.3.mlp/2_3.safetensors");
    let whole = std::fs::read(&split).unwrap();
    let header = 8 + u64::from_le_bytes(whole[..8].try_into().unwrap()) as usize;
    let without_tokens = {
        let text = std::str::from_utf8(&whole[8..header])
            .unwrap()
            .replace("\"tokens\"", "\"nokens\"");
        [&whole[..8], text.as_bytes(), &whole[header..]].concat()
    };
    let cases: [(Vec<u8>, &str); 3] = [
        (
            whole[..whole.len() - 10].to_vec(),
            "past the end of the file",
        ),
        (whole[..4].to_vec(), "not a safetensors file"),
        (without_tokens, "no tokens tensor"),
    ];
    for (bytes, expected) in cases {
        std::fs::write(&split, &bytes).unwrap();
        // Each file holds the tokens: only the first one read is asked for them.
        let first = tmp.path().join("run/latents/layers.3.mlp/0_1.safetensors");
        let saved = std::fs::read(&first).unwrap();
        std::fs::rename(&first, tmp.path().join("aside")).unwrap();
        let run = import(tmp.path(), "dataset");
        std::fs::write(&first, saved).unwrap();
        std::fs::remove_file(tmp.path().join("aside")).unwrap();
        let err = common::stderr(&run);
        assert!(
            !run.status.success() && err.contains(path_str(&split)) && err.contains(expected),
            "{expected}: {err}"
        );
        assert!(!tmp.path().join("dataset").exists());
    }
    std::fs::write(&split, &whole).unwrap();
    let empty = tmp.path().join("run/latents/layers.5.mlp");
    std::fs::create_dir(&empty).unwrap();
    let run = import(tmp.path(), "dataset");
    let err = common::stderr(&run);
    assert!(
        !run.status.success()
            && err.contains("layers.5.mlp")
            && err.contains("no {start}_{end}.safetensors splits"),
        "{err}"
    );
    let left: Vec<_> = (std::fs::read_dir(tmp.path()).unwrap())
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["run"]);
}
