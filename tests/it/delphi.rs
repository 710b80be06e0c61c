//! A Delphi run written by eai-delphi's own cache code (licence texts in
//! MiniLM's tokens, latents computed from them, two hookpoints) imports as a
//! dataset whose statistics, quantile boundaries, strongest windows,
//! activations and texts equal what numpy and the tokenizer compute from the
//! same cache; its samples are drawn as extraction draws them; it opens in
//! the explorer; a damaged cache is named and leaves nothing.
use crate::common::{self, path_str};
use featurescope::dataset::{Dataset, Sample};
use serde_json::Value;
use std::collections::HashSet;
use std::path::Path;

/// Not a divisor of the cache's 64-token context: each sequence's last
/// window is shorter.
const WINDOW: usize = 24;
const WINDOWS_PER_SEQUENCE: usize = 3;

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
        "--window",
        &WINDOW.to_string(),
        "--json",
    ])
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * (1.0 + b.abs())
}

#[test]
fn a_delphi_cache_imports_with_its_statistics_windows_and_texts() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = delphi_run(tmp.path());
    let run = import(tmp.path(), "dataset");
    assert!(run.status.success(), "{}", common::stderr(&run));
    let report: Value = serde_json::from_str(&common::stdout(&run)).unwrap();
    // By layer, not by name ("layers.10" sorts before "layers.3").
    assert_eq!(
        report["hookpoints"],
        serde_json::json!(["layers.3.mlp", "layers.10.mlp"])
    );
    assert_eq!(
        (
            report["explanations"].as_u64(),
            report["explanations_without_unit"].as_u64()
        ),
        (Some(2), Some(1))
    );

    let ds = Dataset::open(tmp.path().join("dataset")).unwrap();
    ds.validate().unwrap();
    let manifest = ds.manifest();
    assert_eq!(
        manifest.subject_model.as_ref().unwrap().name,
        "sentence-transformers/all-MiniLM-L6-v2"
    );
    assert_eq!(manifest.window_tokens, Some(WINDOW as u32));
    let texts = expected["window_texts"].as_array().unwrap();
    let mut units = 0;
    for source in &manifest.sources {
        let latents = expected["latents"][&source.hook].as_object().unwrap();
        assert_eq!(
            source.units,
            latents.len() as u64,
            "{}: silent latents have no unit",
            source.hook
        );
        assert_eq!(
            source.layer,
            if source.hook == "layers.3.mlp" { 3 } else { 10 }
        );
        for unit_id in source.first_unit_id..source.first_unit_id + source.units {
            let unit = ds.unit(unit_id).unwrap();
            let want = &latents[&unit.index.to_string()];
            let s = &unit.stats;
            let what = format!("{} latent {}", source.hook, unit.index);
            assert_eq!(s.max, want["max"].as_f64().unwrap(), "{what}");
            assert!(
                close(s.mean.unwrap(), want["mean"].as_f64().unwrap(), 1e-12),
                "{what}"
            );
            assert!(
                close(
                    s.variance.unwrap(),
                    want["variance"].as_f64().unwrap(),
                    1e-9
                ),
                "{what}"
            );
            assert_eq!(s.density, want["density"].as_f64(), "{what}");
            assert_eq!(s.histogram_counts.iter().sum::<u64>(), 48 * 64);
            let boundaries: Vec<f64> =
                serde_json::from_value(want["quantile_boundaries"].clone()).unwrap();
            for (ours, numpy) in s.quantile_boundaries.iter().zip(&boundaries) {
                assert!(
                    close(*ours, *numpy, 1e-6),
                    "{what}: {:?} vs {boundaries:?}",
                    s.quantile_boundaries
                );
            }
            let records = ds.records(unit_id).unwrap();
            let maxima = |sample: Sample| -> Vec<f64> {
                (records.iter())
                    .filter(|r| r.sample == sample)
                    .map(|r| f64::from(r.max_activation()))
                    .collect()
            };
            let want_top: Vec<f64> = serde_json::from_value(want["top_maxima"].clone()).unwrap();
            assert_eq!(maxima(Sample::Top), want_top, "{what}");
            let firing = want["firing"].as_object().unwrap();
            let window_of = |r: &featurescope::dataset::Record| {
                r.document_id.unwrap() as usize * WINDOWS_PER_SEQUENCE
                    + r.token_offset.unwrap() as usize / WINDOW
            };
            let top: HashSet<usize> = (records.iter())
                .filter(|r| r.sample == Sample::Top)
                .map(window_of)
                .collect();
            let mut seen: HashSet<(Sample, usize)> = HashSet::new();
            for r in &records {
                let window = window_of(r);
                assert!(
                    seen.insert((r.sample, window)),
                    "{what}: window {window} twice in {:?}",
                    r.sample
                );
                assert_eq!(
                    r.tokens.concat(),
                    texts[window].as_str().unwrap(),
                    "window {window}"
                );
                let values: Vec<f32> = match firing.get(&window.to_string()) {
                    Some(v) => serde_json::from_value(v.clone()).unwrap(),
                    None => vec![0.0; r.tokens.len()],
                };
                assert_eq!(r.activations, values, "{what} window {window}");
                match r.sample {
                    Sample::Random => assert!(
                        !top.contains(&window),
                        "{what}: random window {window} is a top one"
                    ),
                    Sample::Quantile(bin) => {
                        let (lo, hi) = (
                            s.quantile_boundaries[bin as usize],
                            s.quantile_boundaries[bin as usize + 1],
                        );
                        let max = f64::from(r.max_activation().max(0.0));
                        assert!(
                            lo <= max && max < hi,
                            "{what}: bin {bin} [{lo}, {hi}) holds {max}"
                        );
                    }
                    Sample::Top => {}
                }
            }
            // Most windows are silent: the random sample is drawn from them too.
            assert!(
                records.iter().any(|r| r.sample == Sample::Random
                    && !firing.contains_key(&window_of(r).to_string()))
            );
            assert!(
                records.iter().any(|r| r.tokens.len() < WINDOW),
                "{what}: no short last window"
            );
            units += 1;
        }
    }
    assert_eq!(units, ds.unit_count().unwrap());
    let explanations = ds.explanations().unwrap();
    let licence = explanations
        .iter()
        .find(|e| e.text == "the word licence")
        .unwrap();
    assert_eq!(
        (
            ds.unit(licence.unit_id).unwrap().layer,
            ds.unit(licence.unit_id).unwrap().index
        ),
        (3, 0)
    );

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

/// The byte range of tensor `name` in a safetensors file.
fn tensor_bytes(file: &[u8], name: &str) -> std::ops::Range<usize> {
    let header_end = 8 + u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&file[8..header_end]).unwrap();
    let offsets = &header[name]["data_offsets"];
    header_end + offsets[0].as_u64().unwrap() as usize
        ..header_end + offsets[1].as_u64().unwrap() as usize
}

/// Damaged splits are each named, with what is wrong; no dataset is left.
#[test]
fn a_damaged_delphi_cache_is_named_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    delphi_run(tmp.path());
    let folder = tmp.path().join("run/latents/layers.3.mlp");
    let (first, second) = (
        folder.join("0_1.safetensors"),
        folder.join("2_3.safetensors"),
    );
    let whole = std::fs::read(&first).unwrap();
    let header_end = 8 + u64::from_le_bytes(whole[..8].try_into().unwrap()) as usize;
    let without_tokens = {
        let text = std::str::from_utf8(&whole[8..header_end])
            .unwrap()
            .replace("\"tokens\"", "\"nokens\"");
        [&whole[..8], text.as_bytes(), &whole[header_end..]].concat()
    };
    let mut foreign_id = whole.clone();
    let at = tensor_bytes(&whole, "tokens").start;
    foreign_id[at..at + 8].copy_from_slice(&999_999i64.to_le_bytes());
    let mut repeated = whole.clone();
    let locations = tensor_bytes(&whole, "locations");
    // Delphi wrote uint16 rows (sequence, position, latent): the second row
    // becomes the first.
    repeated.copy_within(locations.start..locations.start + 6, locations.start + 6);
    let cases: [(&Path, Vec<u8>, &str); 6] = [
        (
            &first,
            whole[..whole.len() - 10].to_vec(),
            "the file is too short",
        ),
        (&first, whole[..4].to_vec(), "not a safetensors file"),
        (&first, without_tokens, "no tokens tensor"),
        (
            &first,
            foreign_id,
            "id 999999 at sequence 0 position 0 is not in the tokenizer's",
        ),
        (&first, repeated, "has two activations at sequence"),
        (&folder.join("0_2.safetensors"), whole.clone(), "overlap"),
    ];
    for (path, bytes, expected) in cases {
        std::fs::write(path, &bytes).unwrap();
        let run = import(tmp.path(), "dataset");
        std::fs::write(&first, &whole).unwrap();
        let _ = std::fs::remove_file(folder.join("0_2.safetensors"));
        let err = common::stderr(&run);
        assert!(
            !run.status.success() && err.contains(expected),
            "{expected}: {err}"
        );
        let named = if path.ends_with("0_2.safetensors") {
            path_str(&second).replace("2_3", "0_2")
        } else {
            path_str(path).to_owned()
        };
        assert!(err.contains(&named), "{expected}: {err}");
        assert!(!tmp.path().join("dataset").exists());
    }
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
    assert_eq!(common::entries(tmp.path()), ["run"]);
}
