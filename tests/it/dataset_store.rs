//! The store's reader and writer: exact round trips, lazy opening, point
//! queries that touch little, atomic writes and appends.
use crate::common;

use common::{featurescope, path_str, sample_unit};
use featurescope::dataset::{
    Dataset, DatasetError, DatasetWriter, Explanation, Manifest, Score, WriterOptions, new_id,
};
use std::path::Path;

fn write_units(dest: &Path, count: u32, options: WriterOptions) {
    let mut writer = DatasetWriter::create(dest, Manifest::new(), options).unwrap();
    for seed in 0..count {
        let (unit, records) = sample_unit(seed, 3 + seed as usize % 9);
        writer.add_unit(unit, records).unwrap();
    }
    writer.finish().unwrap();
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

#[test]
fn written_dataset_reads_back_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("ds");
    let options = WriterOptions {
        units_per_file: 25,
        row_group_records: 40,
    };
    write_units(&dest, 120, options);
    let ds = Dataset::open(&dest).unwrap();
    assert_eq!(ds.unit_count().unwrap(), 120);
    assert_eq!(ds.record_files().len(), 5, "120 units at 25 per file");
    let overview = ds.units_overview().unwrap();
    let mut next_record_id = 0;
    for seed in 0..120u32 {
        let (unit, records) = sample_unit(seed, 3 + seed as usize % 9);
        let got = ds.unit(seed as u64).unwrap();
        assert_eq!(
            (got.layer, got.index, got.kind),
            (unit.layer, unit.index, unit.kind)
        );
        assert_eq!(got.stats, unit.stats);
        assert_eq!(overview[seed as usize].max, unit.stats.max);
        let got_records = ds.records(seed as u64).unwrap();
        assert_eq!(got_records.len(), records.len(), "unit {seed}");
        for (g, r) in got_records.iter().zip(&records) {
            assert_eq!(g.unit_id, seed as u64);
            assert_eq!(g.record_id, next_record_id);
            next_record_id += 1;
            assert_eq!(
                (g.sample, g.rank, g.document_id, g.token_offset),
                (r.sample, r.rank, r.document_id, r.token_offset)
            );
            assert_eq!(g.tokens, r.tokens);
            assert_eq!(g.activations, r.activations);
        }
    }
    let report = ds.validate().unwrap();
    assert_eq!((report.units, report.records), (120, next_record_id));
}

#[test]
fn opening_reads_no_parquet_and_a_point_query_reads_a_small_part() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("ds");
    let out = featurescope(&[
        "synth",
        path_str(&dest),
        "--units",
        "3000",
        "--records-per-unit",
        "20",
        "--layers",
        "3",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let ds = Dataset::open(&dest).unwrap();
    assert_eq!(ds.bytes_read(), 0, "open must not read table data");
    let records = ds.records(1234).unwrap();
    assert_eq!(records.len(), 20);
    assert!(
        records
            .iter()
            .all(|r| r.unit_id == 1234 && r.tokens.len() == 64)
    );
    let total = dir_size(&dest.join("records"))
        + std::fs::metadata(dest.join("units.parquet")).unwrap().len();
    let read = ds.bytes_read();
    assert!(
        read * 20 < total,
        "a point query read {read} of {total} bytes"
    );
    // A second unit in the same file reuses the footer: it costs only its pages.
    let before = ds.bytes_read();
    ds.records(2345).unwrap();
    let second = ds.bytes_read() - before;
    assert!(
        second * 100 < total,
        "second query read {second} of {total} bytes"
    );
}

#[test]
fn failed_write_leaves_previous_dataset_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("ds");
    write_units(&dest, 10, WriterOptions::default());
    {
        let mut writer = DatasetWriter::create(
            &dest,
            Manifest::new(),
            WriterOptions {
                units_per_file: 2,
                row_group_records: 4,
            },
        )
        .unwrap();
        for seed in 0..5 {
            let (unit, records) = sample_unit(seed, 4);
            writer.add_unit(unit, records).unwrap();
        }
        let (unit, mut records) = sample_unit(99, 4);
        records[1].activations.pop();
        let err = writer.add_unit(unit, records).unwrap_err();
        assert!(err.to_string().contains("record 1: "), "{err}");
    }
    let ds = Dataset::open(&dest).unwrap();
    assert_eq!(ds.validate().unwrap().units, 10);
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec![std::ffi::OsString::from("ds")],
        "staging removed"
    );
}

#[test]
fn killed_write_leaves_previous_dataset_intact_and_a_rerun_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("ds");
    let dest_s = path_str(&dest);
    assert!(
        featurescope(&["synth", dest_s, "--units", "50", "--records-per-unit", "4"])
            .status
            .success()
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_featurescope"))
        .args([
            "synth",
            dest_s,
            "--units",
            "500000",
            "--records-per-unit",
            "20",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the new dataset is being written, then kill it hard.
    let staging = || {
        std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".ds.partial-")
            })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while staging().is_none_or(|s| !s.join("records/part-00000.parquet").exists()) {
        assert!(std::time::Instant::now() < deadline, "writer never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    let ds = Dataset::open(&dest).unwrap();
    assert_eq!(
        ds.validate().unwrap().units,
        50,
        "the old dataset is untouched"
    );
    assert!(
        staging().is_some(),
        "the killed writer's staging directory is still there"
    );
    // Running the command again finishes the job and clears the abandoned staging.
    let out = featurescope(&["synth", dest_s, "--units", "70", "--records-per-unit", "4"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(Dataset::open(&dest).unwrap().validate().unwrap().units, 70);
    assert!(staging().is_none());
}

fn explanation(unit_id: u64, text: &str, parent: Option<&Explanation>) -> Explanation {
    Explanation {
        explanation_id: new_id(),
        unit_id,
        text: text.into(),
        explainer_model: "test-model".into(),
        method: if parent.is_some() {
            "revision"
        } else {
            "top-activations"
        }
        .into(),
        parent_id: parent.map(|p| p.explanation_id.clone()),
        evidence_record_ids: vec![1, 2],
        created_at_ms: 1_700_000_000_123,
    }
}

#[test]
fn appended_explanations_and_scores_read_back_without_touching_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("ds");
    write_units(&dest, 6, WriterOptions::default());
    let records_before: Vec<_> = std::fs::read_dir(dest.join("records"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().modified().unwrap())
        .collect();
    let ds = Dataset::open(&dest).unwrap();
    let first = explanation(3, "words about \"cats\"", None);
    let revised = explanation(3, "the word cat after a determiner", Some(&first));
    ds.append_explanations(std::slice::from_ref(&first))
        .unwrap();
    ds.append_explanations(std::slice::from_ref(&revised))
        .unwrap();
    let score = Score {
        score_id: new_id(),
        explanation_id: revised.explanation_id.clone(),
        unit_id: 3,
        simulator_model: "sim".into(),
        method: "all-at-once-logprobs".into(),
        record_set: "top-and-random".into(),
        score: None,
        r_squared: Some(0.25),
        absolute_dev_explained: Some(-0.5),
        record_ids: vec![20, 21],
        simulated: vec![vec![0.0, 1.5, 10.0], vec![]],
        created_at_ms: 1_700_000_000_999,
    };
    ds.append_scores(std::slice::from_ref(&score)).unwrap();
    let got = ds.explanations().unwrap();
    assert_eq!(got.len(), 2);
    assert!(got.contains(&first) && got.contains(&revised));
    assert_eq!(ds.scores().unwrap(), vec![score]);
    let records_after: Vec<_> = std::fs::read_dir(dest.join("records"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().modified().unwrap())
        .collect();
    assert_eq!(records_before, records_after);
    assert_eq!(ds.validate().unwrap().explanations, 2);
    let bad = explanation(6, "no such unit", None);
    assert!(matches!(
        ds.append_explanations(&[bad]),
        Err(DatasetError::UnknownUnit {
            unit_id: 6,
            units: 6
        })
    ));
}

#[test]
fn concurrent_appends_from_threads_keep_every_row() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("ds");
    write_units(&dest, 4, WriterOptions::default());
    std::thread::scope(|s| {
        for t in 0..4 {
            let dest = &dest;
            s.spawn(move || {
                let ds = Dataset::open(dest).unwrap();
                for i in 0..10 {
                    ds.append_explanations(&[explanation(t, &format!("thread {t} row {i}"), None)])
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(
        Dataset::open(&dest).unwrap().explanations().unwrap().len(),
        40
    );
}

#[test]
fn unknown_unit_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("ds");
    write_units(&dest, 3, WriterOptions::default());
    let ds = Dataset::open(&dest).unwrap();
    let err = ds.records(3).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unit 3 does not exist (the dataset has 3 units)"
    );
    assert!(matches!(ds.unit(7), Err(DatasetError::UnknownUnit { .. })));
}

#[test]
fn a_unit_without_records_cannot_be_written() {
    let tmp = tempfile::tempdir().unwrap();
    let mut writer = DatasetWriter::create(
        tmp.path().join("ds"),
        Manifest::new(),
        WriterOptions::default(),
    )
    .unwrap();
    let (unit, _) = sample_unit(1, 1);
    let err = writer.add_unit(unit, vec![]).unwrap_err();
    assert!(
        err.to_string().contains("needs at least one record"),
        "{err}"
    );
}

#[test]
fn a_directory_that_is_not_a_dataset_is_never_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let precious = tmp.path().join("notes");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("thesis.txt"), "years of work").unwrap();
    let err = DatasetWriter::create(&precious, Manifest::new(), WriterOptions::default())
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("refusing to replace it: it is not a featurescope dataset"),
        "{err}"
    );
    let out = featurescope(&["synth", path_str(&precious), "--units", "3"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(precious.join("thesis.txt")).unwrap(),
        "years of work"
    );
    // An empty directory is fine to fill.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    write_units(&empty, 2, WriterOptions::default());
    assert_eq!(Dataset::open(&empty).unwrap().unit_count().unwrap(), 2);
}

#[test]
fn validate_names_a_revision_whose_parent_does_not_exist() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("ds");
    write_units(&dest, 2, WriterOptions::default());
    let ds = Dataset::open(&dest).unwrap();
    let first = explanation(1, "first", None);
    let mut orphan = explanation(1, "orphan", Some(&first));
    orphan.parent_id = Some("no-such-id".into());
    ds.append_explanations(&[first, orphan.clone()]).unwrap();
    let err = ds.validate().unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "explanation {} revises no-such-id, which does not exist",
            orphan.explanation_id
        )),
        "{err}"
    );
}

#[test]
fn ratings_are_appended_read_back_and_checked_against_their_scores() {
    use featurescope::dataset::{Explanation, Rating, Score};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ds");
    let mut writer =
        DatasetWriter::create(&dir, Manifest::new(), WriterOptions::default()).unwrap();
    let (unit, records) = common::sample_unit(1, 4);
    writer.add_unit(unit, records).unwrap();
    writer.finish().unwrap();
    let ds = Dataset::open(&dir).unwrap();
    ds.append_explanations(&[Explanation {
        explanation_id: "e".into(),
        unit_id: 0,
        text: "x".into(),
        explainer_model: "m".into(),
        method: "manual".into(),
        parent_id: None,
        evidence_record_ids: vec![],
        created_at_ms: 1,
    }])
    .unwrap();
    ds.append_scores(&[Score {
        score_id: "s".into(),
        explanation_id: "e".into(),
        unit_id: 0,
        simulator_model: "m".into(),
        method: "manual".into(),
        record_set: "top-and-random".into(),
        score: Some(0.5),
        r_squared: None,
        absolute_dev_explained: None,
        record_ids: vec![],
        simulated: vec![],
        created_at_ms: 2,
    }])
    .unwrap();
    let rating = |score_id: &str, rating| Rating {
        rating_id: featurescope::dataset::new_id(),
        score_id: score_id.into(),
        unit_id: 0,
        rating,
        created_at_ms: 3,
    };
    assert!(ds.append_ratings(&[rating("s", 6)]).is_err(), "out of 1..5");
    ds.append_ratings(&[rating("s", 5)]).unwrap();
    assert_eq!(ds.ratings().unwrap()[0].rating, 5);
    assert_eq!(ds.validate().unwrap().ratings, 1);
    // A rating of a score that does not exist is named by file, column and row.
    let part = ds.append_ratings(&[rating("missing", 2)]).unwrap();
    let err = ds.validate().unwrap_err().to_string();
    assert!(
        err.contains(&part.display().to_string())
            && err.contains("score_id")
            && err.contains("missing"),
        "{err}"
    );
}

#[test]
fn peak_tokens_match_pyarrow_on_the_demo() {
    let demo = common::root().join("datasets/demo");
    let ours = Dataset::open(&demo).unwrap().peak_tokens(3).unwrap();
    let reference: std::collections::HashMap<String, Vec<String>> = serde_json::from_str(
        &common::python("peak_tokens_reference.py", &[path_str(&demo), "3"]),
    )
    .unwrap();
    assert!(reference.len() > 100, "the demo's units mostly fire");
    assert_eq!(
        ours.len(),
        reference.len(),
        "the same units have peak tokens"
    );
    for (unit, tokens) in &reference {
        assert_eq!(&ours[&unit.parse::<u64>().unwrap()], tokens, "unit {unit}");
    }
    // Not every unit's peaks are one token: the ranking is exercised.
    assert!(reference.values().filter(|t| t.len() == 3).count() > 10);
}
