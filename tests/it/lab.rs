//! The lab on the demo (Gemma-3-270M from its GGUF file): probes of any
//! text against the extraction that made the demo, similar units and
//! steering against transformers (tests/py/lab_reference.py).
use crate::common::{featurescope, path_str, python, root, stderr, stdout};
use featurescope::dataset::{Dataset, Sample};
use featurescope::experiment::probe::Prober;

fn demo() -> std::path::PathBuf {
    root().join("datasets/demo")
}

/// A probe of a record's own text gives the record's activations, for a
/// unit of every source: neurons at two MLPs, and SAE, PCA, ICA, random and
/// neuron-basis features of the residual stream.
#[test]
fn a_probe_of_a_records_text_gives_what_extraction_recorded_for_every_source() {
    let ds = Dataset::open(demo()).unwrap();
    let prober = Prober::load(&ds, None, tch::Device::Cpu).unwrap();
    let sources = ds.manifest().sources.clone();
    assert_eq!(sources.len(), 7);
    for source in &sources {
        let mut checked = 0;
        // A few units of each source, each with its top records and a random one.
        for unit in (source.first_unit_id..source.first_unit_id + source.units).step_by(397) {
            let records = ds.records(unit).unwrap();
            let random = records.iter().find(|r| r.sample == Sample::Random);
            let top = records.iter().filter(|r| r.sample == Sample::Top).take(3);
            for record in top.chain(random) {
                let text: String = record.tokens[1..].concat();
                let probe = prober.probe(&text).unwrap();
                if probe.tokens != record.tokens {
                    continue; // cut inside a word, the text encodes otherwise on its own
                }
                let ours = probe.unit(unit).unwrap();
                let max = record.max_activation().abs().max(1.0);
                for (i, (a, b)) in ours.iter().zip(&record.activations).enumerate() {
                    assert!(
                        (a - b).abs() <= 2e-3 * max,
                        "{} unit {unit} record {} token {i}: probe {a}, extraction {b}",
                        source.kind,
                        record.record_id
                    );
                }
                checked += 1;
            }
        }
        assert!(
            checked >= 2,
            "{}: only {checked} records checked",
            source.hook
        );
    }
}

#[test]
fn the_probe_command_lists_the_units_most_active_on_a_text_and_one_units_tokens() {
    let dir = demo();
    let text = "The cat sat on the mat, except on Sundays.";
    let out = featurescope(&["probe", path_str(&dir), text, "--top", "5", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let top: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let tokens = top["tokens"].as_array().unwrap();
    assert_eq!(tokens[0], "<bos>");
    let listed = top["top"].as_array().unwrap();
    assert_eq!(listed.len(), 5);
    let maxima: Vec<f64> = listed.iter().map(|t| t["max"].as_f64().unwrap()).collect();
    assert!(maxima.windows(2).all(|w| w[0] >= w[1]), "{maxima:?}");
    // The first unit's own activations peak where the list says, at its maximum.
    let first = listed[0]["unit_id"].as_u64().unwrap();
    let out = featurescope(&[
        "probe",
        path_str(&dir),
        text,
        "--unit",
        &first.to_string(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let one: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let acts: Vec<f64> = (one["activations"].as_array().unwrap().iter())
        .map(|a| a.as_f64().unwrap())
        .collect();
    assert_eq!(acts.len(), tokens.len());
    let at = listed[0]["at"].as_u64().unwrap() as usize;
    assert!(at >= 1, "the maximum is at a text token, not <bos>");
    assert_eq!(acts[at], maxima[0]);
    // The maximum is over the text's tokens: `<bos>` is left out.
    assert!(acts[1..].iter().all(|&a| a <= maxima[0]));

    let out = featurescope(&["probe", path_str(&dir), text, "--unit", "999999"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unit 999999"), "{}", stderr(&out));
}

fn gguf() -> String {
    path_str(&root().join(".venv/models/gemma-3-270m-q4_k_m.gguf")).to_owned()
}

/// The probe's packing: windows of a text in one sequence, each attending
/// only within itself, read as the same windows run as a padded batch.
#[test]
fn packed_windows_read_as_the_same_windows_run_as_a_batch() {
    use featurescope::model::{self, HookPoint};
    use tch::{Device, Kind};
    let path = root().join(".venv/models/gemma-3-270m-q4_k_m.gguf");
    let model = model::load(&path, Device::Cpu).unwrap();
    let tokenizer = model::TextTokenizer::load(&path).unwrap();
    let text = "Permission is hereby granted, free of charge, to any person obtaining a copy \
        of this software and associated documentation files (the Software), to deal in the \
        Software without restriction, including without limitation the rights to use, copy, \
        modify, merge, publish, distribute, sublicense, and/or sell copies of the Software,";
    let ids: Vec<i64> = (tokenizer.encode(text, true).unwrap().ids.iter())
        .map(|&i| i as i64)
        .collect();
    // A full window, a shorter one and the two-token end of a text.
    let windows: [&[i64]; 3] = [&ids[..32], &ids[32..52], &ids[52..54]];
    let hooks = ["blocks.2.mlp", "blocks.6.resid_post", "blocks.14.mlp"]
        .map(|h| HookPoint::parse(h).unwrap());
    let packed = tch::no_grad(|| model.forward_packed(&windows, &hooks, Device::Cpu)).unwrap();
    let (batch_ids, mask) = model::padded_batch(&windows, Device::Cpu);
    let batched = tch::no_grad(|| model.forward(&batch_ids, &mask, &hooks)).unwrap();
    let rows = mask.flatten(0, 1).nonzero().squeeze_dim(1);
    for ((hook, packed), batched) in hooks.iter().zip(&packed).zip(&batched) {
        let batched = batched.flatten(0, 1).index_select(0, &rows);
        assert_eq!(packed.size(), batched.size(), "{hook}");
        let scale = batched.abs().max().double_value(&[]).max(1.0);
        let gap = (packed - &batched)
            .abs()
            .max()
            .to_kind(Kind::Double)
            .double_value(&[]);
        assert!(
            gap <= 1e-4 * scale,
            "{hook}: packed and batched differ by {gap} (scale {scale})"
        );
    }
}

/// An SAE feature's neighbours by cosine of decoder rows and by correlation
/// over its records (every source), and a neuron's by its output direction;
/// a feature that fires on `<bos>` alone correlates with nothing.
#[test]
fn similar_units_agree_with_numpy_and_transformers() {
    let tmp = tempfile::tempdir().unwrap();
    // Feature 4157 fires on text across its records; neuron 37 at layer 2.
    let units = [4157u64, 37];
    let (mut ours, mut paths) = (Vec::new(), Vec::new());
    for unit in units {
        let out = featurescope(&["similar", path_str(&demo()), &unit.to_string(), "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let path = tmp.path().join(format!("similar-{unit}.json"));
        std::fs::write(&path, stdout(&out)).unwrap();
        ours.push(serde_json::from_str::<serde_json::Value>(&stdout(&out)).unwrap());
        paths.push(path_str(&path).to_owned());
    }
    let (gguf, demo) = (gguf(), demo());
    let mut args = vec![gguf.as_str(), path_str(&demo), "similar"];
    args.extend(paths.iter().map(String::as_str));
    let references: Vec<serde_json::Value> =
        serde_json::from_str(&python("lab_reference.py", &args)).unwrap();
    for ((unit, ours), reference) in units.into_iter().zip(&ours).zip(&references) {
        assert!(ours["activation_difference"].as_f64().unwrap() < 1e-2);
        assert_eq!(ours["tokens"], reference["tokens"]);
        for (way, tolerance) in [("direction", 1e-4), ("correlation", 2e-3)] {
            let listed = ours[format!("by_{way}")].as_array().unwrap();
            assert_eq!(listed.len(), 10, "{way}");
            for n in listed {
                let id = n["unit_id"].as_u64().unwrap();
                assert_ne!(id, unit);
                let theirs = reference[way][id.to_string()].as_f64().unwrap();
                let value = n["similarity"].as_f64().unwrap();
                assert!(
                    (value - theirs).abs() <= tolerance,
                    "unit {unit} {way} neighbour {id}: ours {value}, reference {theirs}"
                );
            }
            // Nothing the reference ranks clearly higher is missing.
            let last = listed[9]["similarity"].as_f64().unwrap();
            let kth = reference[format!("{way}_kth")].as_f64().unwrap();
            assert!((last - kth).abs() <= tolerance, "{way}: {last} vs {kth}");
        }
    }
    let out = featurescope(&["similar", path_str(&demo), "4100"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let correlation = text.split("nearest by correlation").nth(1).unwrap();
    assert!(
        correlation.contains("none: it is constant over its records"),
        "{text}"
    );
}

/// `featurescope steer` with `how` (the unit, then the flags) against the
/// reference's continuations; the steered one must differ.
fn steering_matches_transformers(how: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let dataset = demo();
    let mut args = vec!["steer", path_str(&dataset), how[0], "The weather today is"];
    args.extend(&how[1..]);
    args.extend(["--tokens", "12", "--json"]);
    let out = featurescope(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let ours_path = tmp.path().join("steer.json");
    std::fs::write(&ours_path, stdout(&out)).unwrap();
    let ours: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&python(
        "lab_reference.py",
        &[&gguf(), path_str(&dataset), "steer", path_str(&ours_path)],
    ))
    .unwrap();
    assert_eq!(ours["unsteered"], reference["unsteered"]);
    assert_eq!(ours["steered"], reference["steered"], "{how:?}");
    assert_ne!(
        ours["steered"], ours["unsteered"],
        "steering with {how:?} changed nothing"
    );
}

#[test]
fn steering_matches_transformers_adding_a_feature_s_decoder_row_and_clamping_a_neuron() {
    steering_matches_transformers(&["4100", "--add", "40"]);
    // Neuron 52 of blocks.14.mlp.
    steering_matches_transformers(&["2100", "--clamp", "30"]);

    let out = featurescope(&["steer", path_str(&demo()), "4100", "The weather"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--add"), "{}", stderr(&out));
}
