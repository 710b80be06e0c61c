//! Neuronpedia's export layout in and out: an export written as
//! neuronpedia-utils' exporter lays it out (gzip and plain batches whose
//! tables do not line up, `index` as text and as a number) imports with each
//! field where docs/interop.md says; our export of the demo reads in Python
//! with Neuronpedia's columns only and imports back equal to the original;
//! bad files are named with their line and leave nothing.
use crate::common::{self, path_str};
use featurescope::dataset::{Dataset, Explanation, Record, Sample, Score, UnitKind};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

fn write_rows(path: &Path, rows: &[Value]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        std::fs::write(path, gz.finish().unwrap()).unwrap();
    } else {
        std::fs::write(path, text).unwrap();
    }
}

/// A row of export-data.py's `Activation` columns.
fn activation(index: Value, values: &[f64], bin: (f64, f64)) -> Value {
    let tokens: Vec<String> = (0..values.len()).map(|i| format!("▁t{i}")).collect();
    let id = format!(
        "clx-{}-{values:?}",
        index.as_str().map_or(index.to_string(), str::to_owned)
    );
    json!({"id": id, "modelId": "gemma-2-2b", "layer": "20-gemmascope-res-16k",
        "index": index, "creatorId": "<DEFAULT>", "dataSource": null, "tokens": tokens,
        "maxValue": 0.0, "minValue": 0.0, "values": values, "maxValueTokenIndex": 0,
        "dfaValues": [], "dfaMaxValue": null, "dfaTargetIndex": null,
        "binContains": -1.0, "binMin": bin.0, "binMax": bin.1})
}

/// Files as neuronpedia-utils writes them: features and explanations in
/// batches ordered by text index, activations by numeric range, a second
/// explanations folder, plain `.jsonl` beside `.jsonl.gz`, the config
/// lookup tables and the source's model.jsonl.
fn write_neuronpedia_export(root: &Path) {
    let source = root.join("v1/gemma-2-2b/20-gemmascope-res-16k");
    write_rows(
        &root.join("v1/config/explanation_type.jsonl"),
        &[json!({"name": "oai_token-act-pair"})],
    );
    write_rows(
        &source.join("model.jsonl"),
        &[json!({"id": "gemma-2-2b", "layers": 26, "visibility": "PUBLIC"})],
    );
    let feature = |index: &str, extra: Value| {
        let mut row = json!({"modelId": "gemma-2-2b", "layer": "20-gemmascope-res-16k", "index": index,
            "maxActApprox": 5.0, "creatorId": "<DEFAULT>", "frac_nonzero": 0.01,
            "freq_hist_data_bar_heights": [10.0, 4.0, 1.0], "freq_hist_data_bar_values": [0.5, 1.5, 2.5],
            "logits_hist_data_bar_heights": [], "decoder_weights_dist": [],
            "neg_str": ["▁the"], "neg_values": [-0.3], "pos_str": ["▁Paris", "▁France"], "pos_values": [0.9, 0.5],
            "sourceSetName": "gemmascope-res-16k", "hasVector": false, "vector": []});
        row.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        row
    };
    // "10" sorts before "7" as text; feature 7 has no activations.
    write_rows(
        &source.join("features/batch-0.jsonl.gz"),
        &[
            feature("10", json!({"vector": [0.1, 0.2]})),
            feature("7", json!({})),
        ],
    );
    let mut unranked = vec![
        activation(json!("10"), &[0.0, 3.0], (-1.0, 5.0)),
        activation(json!("10"), &[5.0, 1.0, 0.0], (-1.0, 5.0)),
        activation(json!("10"), &[4.0], (-1.0, 5.0)),
        activation(json!("10"), &[0.2, 1.2, 0.0, 0.0], (1.667, 3.333)),
        activation(json!("10"), &[0.1, 0.5, 0.0, 0.0, 0.0], (0.0, 1.667)),
        activation(json!("10"), &[0.0, 0.0, 0.0, 0.0, 0.0, 0.3], (0.0, 1.667)),
    ];
    unranked[0]["dfaValues"] = json!([0.5, 0.5]);
    write_rows(&source.join("activations/batch-0.jsonl.gz"), &unranked);
    // SAEDashboard's converter writes index as a number, and dataIndex.
    let mut numeric = activation(json!(2), &[0.0, 2.5, 0.5], (-1.0, 2.5));
    numeric["dataIndex"] = json!(42);
    write_rows(&source.join("activations/batch-0-extra.jsonl"), &[numeric]);
    let explanation = |index: &str, id: &str, extra: Value| {
        let mut row = json!({"id": id, "modelId": "gemma-2-2b", "layer": "20-gemmascope-res-16k",
            "index": index, "authorId": "<DEFAULT>", "description": format!("feature {index} explained"),
            "embedding": null, "typeName": "oai_token-act-pair", "explanationModelName": "gpt-4o-mini",
            "umap_x": null});
        row.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        row
    };
    write_rows(
        &source.join("explanations/batch-0.jsonl.gz"),
        &[
            explanation("2", "e2", json!({"embedding": "[0.1,0.2]", "umap_x": 0.5})),
            explanation("7", "e7", json!({})),
        ],
    );
    write_rows(
        &source.join("explanations-gpt-4o-mini/batch-0.jsonl.gz"),
        &[explanation(
            "10",
            "e10",
            json!({"createdAt": "2024-05-01T12:00:00.250Z", "typeName": "np_max-act-logits"}),
        )],
    );
}

/// Imports `export` as `out`; the report.
fn imported(export: &Path, out: &Path) -> Value {
    let run = common::featurescope(&[
        "import",
        "neuronpedia",
        path_str(export),
        "--out",
        path_str(out),
        "--json",
    ]);
    assert!(run.status.success(), "{}", common::stderr(&run));
    serde_json::from_str(&common::stdout(&run)).unwrap()
}

fn maxima(records: &[Record], sample: fn(Sample) -> bool) -> Vec<f32> {
    (records.iter())
        .filter(|r| sample(r.sample))
        .map(Record::max_activation)
        .collect()
}

#[test]
fn a_neuronpedia_export_imports_field_by_field() {
    let tmp = tempfile::tempdir().unwrap();
    let export = tmp.path().join("export");
    write_neuronpedia_export(&export);
    let out = tmp.path().join("imported");
    let report = imported(&export, &out);
    assert_eq!(report["units"], 2);
    assert_eq!(report["records"], 7);
    assert_eq!(report["explanations"], 2);
    assert_eq!(report["logit_effects"], 1);
    assert_eq!(report["features_without_activations"], 1);
    assert_eq!(report["orphan_explanations"], 1);
    // What has no place is counted; placeholders, derived and empty fields are not.
    let unmapped = report["unmapped_fields"].as_object().unwrap();
    for field in [
        "features.vector",
        "activations.dfaValues",
        "explanations.embedding",
        "explanations.umap_x",
    ] {
        assert!(
            unmapped.contains_key(field),
            "{field} not reported: {unmapped:?}"
        );
    }
    assert_eq!(unmapped["activations.dfaValues"], 1);
    for field in [
        "features.creatorId",
        "features.hasVector",
        "activations.maxValue",
        "activations.binContains",
        "explanations.authorId",
        "features.decoder_weights_dist",
    ] {
        assert!(
            !unmapped.contains_key(field),
            "{field} reported: {unmapped:?}"
        );
    }
    let not_read: Vec<&str> = (report["files_not_read"].as_array().unwrap().iter())
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(not_read.len(), 1, "{not_read:?}");
    assert!(not_read[0].ends_with("config/explanation_type.jsonl"));
    assert_eq!(unmapped["model.visibility"], 1);

    let ds = Dataset::open(&out).unwrap();
    ds.validate().unwrap();
    let manifest = ds.manifest();
    let subject = manifest.subject_model.as_ref().unwrap();
    assert_eq!(
        (subject.name.as_str(), subject.layers),
        ("gemma-2-2b", Some(26))
    );
    assert_eq!(manifest.sources.len(), 1);
    assert_eq!(manifest.sources[0].hook, "20-gemmascope-res-16k");
    let units: Vec<_> = (0..2).map(|u| ds.unit(u).unwrap()).collect();
    assert_eq!(
        (units[0].layer, units[0].index, units[0].kind),
        (20, 2, UnitKind::Sae)
    );
    assert_eq!((units[1].layer, units[1].index), (20, 10));
    // Feature 2 has no feature row: its maximum comes from its records.
    assert_eq!(units[0].stats.max, 2.5);
    assert_eq!(units[0].stats.density, None);
    let s = &units[1].stats;
    assert_eq!((s.max, s.density), (5.0, Some(0.01)));
    assert_eq!(s.histogram_edges, [0.0, 1.0, 2.0, 3.0]);
    assert_eq!(s.histogram_counts, [10, 4, 1]);
    assert_eq!(s.quantile_boundaries, [0.0, 1.667]);

    let records = ds.records(1).unwrap();
    assert_eq!(maxima(&records, |s| s == Sample::Top), [5.0, 4.0, 3.0]);
    assert_eq!(maxima(&records, |s| s == Sample::Quantile(0)), [0.5, 0.3]);
    assert_eq!(maxima(&records, |s| s == Sample::Quantile(1)), [1.2]);
    let ranks: Vec<u32> = records.iter().map(|r| r.rank).collect();
    assert_eq!(ranks, [0, 1, 2, 0, 1, 0]);
    assert_eq!(records[0].tokens, ["▁t0", "▁t1", "▁t2"]);
    assert_eq!(ds.records(0).unwrap()[0].document_id, Some(42));

    let mut explanations = ds.explanations().unwrap();
    explanations.sort_by_key(|e| e.unit_id);
    assert_eq!(
        (explanations[0].unit_id, explanations[0].text.as_str()),
        (0, "feature 2 explained")
    );
    assert_eq!(explanations[0].explainer_model, "gpt-4o-mini");
    assert_eq!(explanations[0].method, "oai_token-act-pair");
    assert_eq!(
        (
            explanations[1].explanation_id.as_str(),
            explanations[1].method.as_str()
        ),
        ("e10", "np_max-act-logits")
    );
    assert_eq!(explanations[1].created_at_ms, 1_714_564_800_250);
    let effects = ds.logit_effects().unwrap();
    assert_eq!(effects.len(), 1);
    assert_eq!(effects[0].unit_id, 1);
    let raised: Vec<(&str, f32)> = effects[0]
        .raised
        .iter()
        .map(|t| (t.token.as_str(), t.effect))
        .collect();
    assert_eq!(raised, [("▁Paris", 0.9), ("▁France", 0.5)]);
    assert_eq!(effects[0].lowered[0].effect, -0.3);

    // The explorer opens it and shows a unit.
    let replay =
        common::featurescope(&["replay", path_str(&out), "--script", "enter right down esc"]);
    assert!(replay.status.success(), "{}", common::stderr(&replay));
}

fn by_key<T, K: std::hash::Hash + Eq>(items: Vec<T>, key: impl Fn(&T) -> K) -> HashMap<K, T> {
    items.into_iter().map(|t| (key(&t), t)).collect()
}

/// Units of the demo of every kind, those with explanations and scores
/// among them, export to Neuronpedia's layout (read back by Python with
/// Neuronpedia's columns only) and import back equal on every field:
/// units, records, explanations with their evidence, scores with their
/// records and simulations, logit effects; the SAE's SAELens files ride along.
#[test]
fn our_export_reads_as_neuronpedia_and_imports_back_whole() {
    let demo = Dataset::open(common::root().join("datasets/demo")).unwrap();
    let scores = demo.scores().unwrap();
    let mut ids: Vec<u64> = scores.iter().map(|s| s.unit_id).take(12).collect();
    // A few of each source too.
    for source in &demo.manifest().sources {
        ids.extend(source.first_unit_id..source.first_unit_id + 3);
    }
    ids.sort_unstable();
    ids.dedup();
    let spec = format!(
        "ids:{}",
        ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
    );
    let tmp = tempfile::tempdir().unwrap();
    let export = tmp.path().join("np");
    let run = common::featurescope(&[
        "export",
        "neuronpedia",
        "datasets/demo",
        "--units",
        &spec,
        "--out",
        path_str(&export),
        "--json",
    ]);
    assert!(run.status.success(), "{}", common::stderr(&run));
    let written: Value = serde_json::from_str(&common::stdout(&run)).unwrap();
    assert!(written["scores"].as_u64().unwrap() >= 12, "{written}");
    let source = "v1/gemma-3-270m-q4_k_m.gguf/6-sae-blocks.6.resid_post";
    assert!(
        export
            .join(source)
            .join("features/batch-0.jsonl.gz")
            .is_file()
    );
    assert!(
        export
            .join(source)
            .join("activations/batch-0.jsonl.gz")
            .is_file()
    );
    assert!(export.join(".featurescope-export").is_file());
    let dictionary = common::root().join("datasets/dictionaries/gemma-l6-sae");
    for file in ["cfg.json", "sae_weights.safetensors"] {
        let copied = export.join("saelens/6-sae-blocks.6.resid_post").join(file);
        assert_eq!(
            std::fs::read(copied).unwrap(),
            std::fs::read(dictionary.join(file)).unwrap()
        );
    }
    let counted: Value = serde_json::from_str(&common::python(
        "read_neuronpedia_export.py",
        &[path_str(&export)],
    ))
    .unwrap();
    assert_eq!(counted["features"], written["units"]);
    assert_eq!(counted["activations"], written["records"]);
    assert_eq!(counted["explanations"], written["explanations"]);
    assert_eq!(counted["explanation_scores"], written["scores"]);

    let back_path = tmp.path().join("back");
    let report = imported(&export, &back_path);
    assert_eq!(report["unmapped_fields"], json!({}), "{report}");
    let back = Dataset::open(&back_path).unwrap();
    back.validate().unwrap();
    assert_eq!(back.unit_count().unwrap(), ids.len() as u64);

    // The manifest: the model, how records were chosen, and each source's
    // hook and dictionary.
    let (original, copy) = (demo.manifest(), back.manifest());
    assert_eq!(copy.subject_model, original.subject_model);
    assert_eq!(
        (&copy.selection, copy.window_tokens),
        (&original.selection, original.window_tokens)
    );
    let described = |m: &featurescope::dataset::Manifest| {
        let mut sources: Vec<_> = (m.sources.iter())
            .map(|s| (s.layer, s.kind, s.hook.clone(), s.dictionary.clone()))
            .collect();
        sources.sort_by_key(|s| (s.0, s.1, s.2.clone()));
        sources
    };
    assert_eq!(described(copy), described(original));
    // Units by (layer, index, kind); records by (unit, sample, rank).
    let back_units = by_key(
        (0..ids.len() as u64)
            .map(|u| back.unit(u).unwrap())
            .collect(),
        |u| (u.layer, u.index, u.kind),
    );
    let mut record_key: HashMap<u64, (u64, Sample, u32)> = HashMap::new();
    let mut back_record_key: HashMap<u64, (u64, Sample, u32)> = HashMap::new();
    let mut unit_of_back: HashMap<u64, u64> = HashMap::new();
    for &id in &ids {
        let original = demo.unit(id).unwrap();
        let copy = &back_units[&(original.layer, original.index, original.kind)];
        assert_eq!(copy.stats, original.stats, "unit {id}");
        unit_of_back.insert(copy.unit_id, id);
        let records = demo.records(id).unwrap();
        let copies = back.records(copy.unit_id).unwrap();
        assert_eq!(copies.len(), records.len(), "unit {id}");
        let copies = by_key(copies, |r| (r.sample, r.rank));
        for r in records {
            let c = &copies[&(r.sample, r.rank)];
            assert_eq!(
                (&c.tokens, &c.activations, c.document_id, c.token_offset),
                (&r.tokens, &r.activations, r.document_id, r.token_offset)
            );
            record_key.insert(r.record_id, (id, r.sample, r.rank));
            back_record_key.insert(c.record_id, (id, r.sample, r.rank));
        }
    }
    let keys = |ids: &[u64], map: &HashMap<u64, (u64, Sample, u32)>| {
        ids.iter().map(|r| map[r]).collect::<Vec<_>>()
    };
    let originals = demo.explanations().unwrap();
    let copies = by_key(back.explanations().unwrap(), |e| e.explanation_id.clone());
    let mut explanations = 0;
    for e in originals.iter().filter(|e| ids.contains(&e.unit_id)) {
        let c = &copies[&e.explanation_id];
        assert_eq!(unit_of_back[&c.unit_id], e.unit_id);
        // Every field but the ids, which are assigned afresh.
        let ids_as_before = Explanation {
            unit_id: e.unit_id,
            evidence_record_ids: e.evidence_record_ids.clone(),
            ..c.clone()
        };
        assert_eq!(&ids_as_before, e);
        assert_eq!(
            keys(&c.evidence_record_ids, &back_record_key),
            keys(&e.evidence_record_ids, &record_key)
        );
        explanations += 1;
    }
    assert_eq!(copies.len(), explanations);
    let copies = by_key(back.scores().unwrap(), |s| s.score_id.clone());
    let mut compared = 0;
    for s in scores.iter().filter(|s| ids.contains(&s.unit_id)) {
        let c = &copies[&s.score_id];
        assert_eq!(unit_of_back[&c.unit_id], s.unit_id);
        let ids_as_before = Score {
            unit_id: s.unit_id,
            record_ids: s.record_ids.clone(),
            ..c.clone()
        };
        assert_eq!(&ids_as_before, s);
        assert_eq!(
            keys(&c.record_ids, &back_record_key),
            keys(&s.record_ids, &record_key)
        );
        compared += 1;
    }
    assert_eq!(copies.len(), compared);
    let effects = by_key(back.logit_effects().unwrap(), |e| unit_of_back[&e.unit_id]);
    let originals: Vec<_> = demo
        .logit_effects()
        .unwrap()
        .into_iter()
        .filter(|e| ids.contains(&e.unit_id))
        .collect();
    assert!(!originals.is_empty());
    assert_eq!(effects.len(), originals.len());
    for e in originals {
        assert_eq!(
            (&effects[&e.unit_id].raised, &effects[&e.unit_id].lowered),
            (&e.raised, &e.lowered)
        );
    }
}

/// Each bad file is named with its line; the import fails and leaves no dataset.
#[test]
fn a_bad_neuronpedia_file_is_named_with_its_line_and_leaves_nothing() {
    let good = activation(json!("3"), &[1.0, 2.0], (-1.0, 2.0));
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("tokens");
    let mut wrong_type = good.clone();
    wrong_type["values"] = json!("1.0, 2.0");
    let mut short = activation(json!("4"), &[1.0, 2.0], (-1.0, 2.0));
    short["values"] = json!([1.0]);
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "batch-0.jsonl",
            format!("{good}\n{{\"modelId\": \n").into_bytes(),
            "line 2: not JSON",
        ),
        (
            "batch-0.jsonl",
            format!("{good}\n{missing}\n").into_bytes(),
            "line 2: field `tokens` is missing or empty",
        ),
        (
            "batch-0.jsonl",
            format!("{wrong_type}\n").into_bytes(),
            "line 1: field `values` should be a list of numbers, not a string",
        ),
        (
            "batch-0.jsonl",
            format!("{good}\n{short}\n").into_bytes(),
            "line 2: 1 values for 2 tokens",
        ),
        ("batch-0.jsonl.gz", Vec::new(), "truncated or corrupt gzip"),
    ];
    for (name, bytes, expected) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("export/v1/m/3-res/activations").join(name);
        if bytes.is_empty() {
            let rows: Vec<Value> = (0..200)
                .map(|i| activation(json!(i.to_string()), &[i as f64; 40], (-1.0, 1.0)))
                .collect();
            write_rows(&file, &rows);
            let whole = std::fs::read(&file).unwrap();
            std::fs::write(&file, &whole[..whole.len() / 2]).unwrap();
        } else {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, bytes).unwrap();
        }
        let out = tmp.path().join("dataset");
        let run = common::featurescope(&[
            "import",
            "neuronpedia",
            path_str(&tmp.path().join("export")),
            "--out",
            path_str(&out),
        ]);
        let err = common::stderr(&run);
        assert!(!run.status.success(), "{name}: {expected}");
        assert!(
            err.contains(path_str(&file)) && err.contains(expected),
            "{expected}: {err}"
        );
        assert_eq!(common::entries(tmp.path()), ["export"], "{expected}");
    }
}

/// Ids that would tie rows to the wrong rows are refused with both places,
/// and an import that fails once its units are staged leaves nothing either.
#[test]
fn repeated_ids_and_dangling_links_are_refused_and_leave_nothing() {
    let a = activation(json!("3"), &[1.0, 2.0], (-1.0, 2.0));
    let b = activation(json!("4"), &[3.0, 2.0], (-1.0, 3.0));
    let explanation = json!({"id": "e3", "modelId": "gemma-2-2b", "layer": "20-gemmascope-res-16k",
        "index": "3", "description": "twos"});
    let score = |activation: &Value| {
        let details = json!({"activation_ids": [activation["id"]], "simulated": [[0.0, 1.0]]});
        json!({"id": "s3", "explanationId": "e3", "value": 0.5, "explanationScoreTypeName": "simulation",
            "jsonDetails": details.to_string()})
    };
    let cases = [
        (
            vec![a.clone(), a.clone()],
            None,
            "line 2: activations id \"clx-3-[1.0, 2.0]\" is also at",
        ),
        (
            vec![a.clone(), b.clone()],
            Some(score(&b)),
            "line 1: jsonDetails names activation \"clx-4-[3.0, 2.0]\", of another feature",
        ),
        (
            vec![a.clone()],
            Some(score(&json!({"id": "nowhere"}))),
            "line 1: jsonDetails names activation \"nowhere\", which is not among",
        ),
    ];
    for (activations, score, expected) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let source = tmp
            .path()
            .join("export/v1/gemma-2-2b/20-gemmascope-res-16k");
        write_rows(&source.join("activations/batch-0.jsonl.gz"), &activations);
        write_rows(
            &source.join("explanations/batch-0.jsonl.gz"),
            std::slice::from_ref(&explanation),
        );
        if let Some(score) = score {
            write_rows(
                &source.join("explanation_scores/batch-0.jsonl.gz"),
                &[score],
            );
        }
        let out = tmp.path().join("dataset");
        let run = common::featurescope(&[
            "import",
            "neuronpedia",
            path_str(&tmp.path().join("export")),
            "--out",
            path_str(&out),
        ]);
        let err = common::stderr(&run);
        assert!(
            !run.status.success() && err.contains(expected),
            "{expected}: {err}"
        );
        assert_eq!(common::entries(tmp.path()), ["export"], "{expected}");
    }
}
