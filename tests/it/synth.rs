//! `synth --like`: synthetic records shaped like the bundled demo's real
//! ones, measured the way the store stores them (compressed bytes per token,
//! read from the Parquet footers with the parquet crate, per unit kind).
use crate::common;

use common::{featurescope, path_str, root, stderr};
use featurescope::dataset::{Dataset, UnitKind};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::statistics::Statistics;
use std::collections::HashMap;
use std::path::Path;

/// Compressed bytes per token of the record files, over the row groups whose
/// units are all of `kind`.
fn bytes_per_token(dataset: &Path, kind: UnitKind) -> f64 {
    let ds = Dataset::open(dataset).unwrap();
    let kinds: HashMap<i64, UnitKind> = ds
        .units_overview()
        .unwrap()
        .into_iter()
        .map(|u| (u.unit_id as i64, u.kind))
        .collect();
    let (mut bytes, mut tokens) = (0i64, 0i64);
    for file in ds.record_files() {
        let reader = SerializedFileReader::new(std::fs::File::open(file).unwrap()).unwrap();
        for group in reader.metadata().row_groups() {
            let column = |name: &str| {
                group
                    .columns()
                    .iter()
                    .find(|c| c.column_path().string() == name)
                    .unwrap()
            };
            let Some(Statistics::Int64(ids)) = column("unit_id").statistics() else {
                panic!("{}: no unit_id statistics", file.display());
            };
            let (first, last) = (*ids.min_opt().unwrap(), *ids.max_opt().unwrap());
            if kinds[&first] != kind || kinds[&last] != kind {
                continue;
            }
            bytes += group.compressed_size();
            tokens += column("tokens.list.element").num_values();
        }
    }
    assert!(tokens > 0, "{}: no {kind} row groups", dataset.display());
    bytes as f64 / tokens as f64
}

fn synth(dest: &Path, kind: &str, like: Option<&Path>) {
    let mut args = vec![
        "synth",
        path_str(dest),
        "--units",
        "300",
        "--records-per-unit",
        "38",
        "--tokens",
        "32",
        "--kind",
        kind,
    ];
    if let Some(like) = like {
        args.extend(["--like", path_str(like)]);
    }
    let out = featurescope(&args);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Activation shares over every record token of a dataset: (negative, exactly zero).
fn signs(dataset: &Path) -> (f64, f64) {
    let ds = Dataset::open(dataset).unwrap();
    let (mut negative, mut zero, mut all) = (0usize, 0usize, 0usize);
    for unit in 0..ds.unit_count().unwrap() {
        for record in ds.records(unit).unwrap() {
            all += record.activations.len();
            negative += record.activations.iter().filter(|&&a| a < 0.0).count();
            zero += record.activations.iter().filter(|&&a| a == 0.0).count();
        }
    }
    (negative as f64 / all as f64, zero as f64 / all as f64)
}

#[test]
fn records_like_the_demos_take_its_bytes_per_token_and_activation_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = root().join("datasets/demo");
    for (kind, name) in [(UnitKind::Neuron, "neuron"), (UnitKind::Sae, "sae")] {
        let dest = tmp.path().join(name);
        synth(&dest, name, Some(&demo));
        let report = Dataset::open(&dest).unwrap().validate().unwrap();
        assert_eq!(report.units, 300);
        let (real, synthetic) = (bytes_per_token(&demo, kind), bytes_per_token(&dest, kind));
        let off = synthetic / real - 1.0;
        assert!(
            off.abs() <= 0.2,
            "{name}: {synthetic:.2} bytes per token against the demo's {real:.2} ({:+.0}%)",
            off * 100.0
        );
        let (negative, zero) = signs(&dest);
        match kind {
            // Dense and signed, as Gemma's GeGLU neurons are.
            UnitKind::Neuron => assert!(
                (0.3..0.7).contains(&negative) && zero < 0.01,
                "neurons: {negative} negative, {zero} zero"
            ),
            // Sparse and non-negative, as the SAE's ReLU features are.
            _ => assert!(
                negative == 0.0 && zero > 0.8,
                "SAE features: {negative} negative, {zero} zero"
            ),
        }
    }
    // The made-up vocabulary is far from real records: the measure tells them apart.
    let made_up = tmp.path().join("made-up");
    synth(&made_up, "neuron", None);
    let ratio =
        bytes_per_token(&made_up, UnitKind::Neuron) / bytes_per_token(&demo, UnitKind::Neuron);
    assert!(
        ratio < 0.8,
        "made-up records at {ratio:.2}× the demo's bytes"
    );
}

#[test]
fn synth_like_a_dataset_without_the_kind_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("neurons-only");
    synth(&reference, "neuron", None);
    let out = featurescope(&[
        "synth",
        path_str(&tmp.path().join("out")),
        "--kind",
        "sae",
        "--like",
        path_str(&reference),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("has no sae units") && err.contains("neurons-only"),
        "{err}"
    );
    assert!(!tmp.path().join("out").exists());
}
