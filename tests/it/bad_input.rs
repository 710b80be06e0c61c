//! Every kind of bad dataset gives one clear error that names the file, the
//! column and the row where they apply, a non-zero exit, and no panic. The
//! broken datasets are written with pyarrow (tests/py/write_dataset.py).
use crate::common;

use common::{featurescope, path_str, python, stderr};

/// Writes the dataset with `defect`, runs `featurescope validate` and returns
/// its error line.
fn validate_error(defect: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(defect);
    python("write_dataset.py", &[path_str(&dir), defect]);
    let out = featurescope(&["validate", path_str(&dir)]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{defect}: {err}");
    assert!(!err.contains("panicked"), "{defect}: {err}");
    assert_eq!(err.lines().count(), 1, "one error line: {err}");
    err
}

fn assert_names(err: &str, parts: &[&str]) {
    for part in parts {
        assert!(err.contains(part), "{part:?} not in {err:?}");
    }
}

#[test]
fn a_valid_pyarrow_dataset_passes() {
    let tmp = tempfile::tempdir().unwrap();
    python("write_dataset.py", &[path_str(tmp.path())]);
    let out = featurescope(&["validate", path_str(tmp.path())]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn missing_column() {
    assert_names(
        &validate_error("missing_column"),
        &[
            "records/part-00000.parquet",
            "column `rank`",
            "missing column",
        ],
    );
}

#[test]
fn extra_column() {
    assert_names(
        &validate_error("extra_column"),
        &["units.parquet", "column `colour`", "unexpected column"],
    );
}

#[test]
fn wrong_type() {
    assert_names(
        &validate_error("wrong_type"),
        &[
            "records/part-00000.parquet",
            "column `rank`",
            "found string, expected int32",
        ],
    );
}

#[test]
fn token_activation_length_mismatch() {
    assert_names(
        &validate_error("length_mismatch"),
        &[
            "records/part-00000.parquet",
            "column `activations`",
            "row 5",
            "7 activations for 8 tokens",
        ],
    );
}

#[test]
fn nan_activation() {
    assert_names(
        &validate_error("nan"),
        &[
            "records/part-00000.parquet",
            "column `activations`",
            "row 6",
            "NaN",
            "not a finite number",
        ],
    );
}

#[test]
fn null_in_a_non_nullable_column() {
    assert_names(
        &validate_error("null_value"),
        &[
            "records/part-00000.parquet",
            "column `rank`",
            "row 3",
            "null",
        ],
    );
}

#[test]
fn null_list_item() {
    assert_names(
        &validate_error("null_item"),
        &[
            "records/part-00000.parquet",
            "column `activations`",
            "row 4",
            "null",
        ],
    );
}

/// The pyarrow checker that the interop tests run on what we write finds
/// each value the format forbids, so its silence there means something.
#[test]
fn the_pyarrow_checker_finds_forbidden_values() {
    for (defect, table, problem) in [
        (
            "null_value",
            "records",
            "rank: 1 null(s) in a non-nullable column",
        ),
        ("null_item", "records", "activations: 1 null list item(s)"),
        ("nan", "records", "activations: 1 NaN or infinite value(s)"),
        (
            "infinite",
            "units.parquet",
            "max: 1 NaN or infinite value(s)",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        python("write_dataset.py", &[path_str(tmp.path()), defect]);
        let facts: serde_json::Value =
            serde_json::from_str(&python("check_tables.py", &[path_str(tmp.path())])).unwrap();
        assert_eq!(
            facts["problems"],
            serde_json::json!({ table: [problem] }),
            "{defect}"
        );
    }
}

#[test]
fn infinite_statistic() {
    assert_names(
        &validate_error("infinite"),
        &[
            "units.parquet",
            "column `max`",
            "row 2",
            "inf is not a finite number",
        ],
    );
}

#[test]
fn unit_with_no_records() {
    assert_names(
        &validate_error("no_records"),
        &["records", "unit 2 has no records"],
    );
}

#[test]
fn invalid_utf8() {
    assert_names(
        &validate_error("invalid_utf8"),
        &[
            "records/part-00000.parquet",
            "column `tokens`",
            "row 9",
            "invalid UTF-8",
        ],
    );
}

#[test]
fn truncated_parquet() {
    assert_names(
        &validate_error("truncated"),
        &["records/part-00000.parquet", "not a readable Parquet file"],
    );
}

#[test]
fn corrupt_parquet() {
    assert_names(
        &validate_error("corrupt"),
        &["records/part-00000.parquet", "not a readable Parquet file"],
    );
}

#[test]
fn unknown_format_version() {
    assert_names(
        &validate_error("unknown_version"),
        &[
            "manifest.json",
            "unsupported format version 2",
            "reads version 1",
        ],
    );
}

#[test]
fn unknown_unit_kind_is_shown_without_its_escape_sequence() {
    let err = validate_error("unknown_kind");
    assert_names(
        &err,
        &[
            "units.parquet",
            "column `kind`",
            "row 3",
            "unknown unit kind",
        ],
    );
    assert!(
        !err.contains('\x1b'),
        "escape sequence reached the terminal: {err:?}"
    );
}

#[test]
fn empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = featurescope(&["inspect", path_str(tmp.path())]);
    assert_eq!(out.status.code(), Some(1));
    assert_names(
        &stderr(&out),
        &[
            "not a featurescope dataset",
            "the directory is empty (no manifest.json)",
        ],
    );
}

#[test]
fn manifest_that_is_not_json() {
    let tmp = tempfile::tempdir().unwrap();
    python("write_dataset.py", &[path_str(tmp.path())]);
    std::fs::write(tmp.path().join("manifest.json"), "{\"format\": ").unwrap();
    let out = featurescope(&["inspect", path_str(tmp.path())]);
    assert_eq!(out.status.code(), Some(1));
    assert_names(&stderr(&out), &["manifest.json", "invalid manifest", "EOF"]);
}

#[test]
fn inspect_reports_a_corrupt_file_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    python("write_dataset.py", &[path_str(&dir), "truncated"]);
    let out = featurescope(&["inspect", path_str(&dir)]);
    assert_eq!(out.status.code(), Some(1));
    assert_names(
        &stderr(&out),
        &["records/part-00000.parquet", "not a readable Parquet file"],
    );
}

/// What a command wrote that a terminal would obey: any control character
/// but line breaks and tabs, and the bidirectional overrides and isolates.
fn terminal_controls(bytes: &[u8]) -> Vec<char> {
    String::from_utf8_lossy(bytes)
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

/// Every command that prints what a dataset holds (tokens, explanations,
/// model names, score methods, all hostile text: escape sequences, C0 and
/// C1 controls, bidi overrides) prints none of it as a control, on stdout or
/// stderr, in text or JSON, and neither does an error quoting a path.
#[test]
fn commands_print_hostile_dataset_text_without_a_control() {
    let tmp = tempfile::tempdir().unwrap();
    let dataset = tmp.path().join("hostile");
    featurescope::synth::hostile::hostile_dataset(&dataset, 6).unwrap();
    let ds = common::path_str(&dataset);
    let missing = tmp
        .path()
        .join(featurescope::synth::hostile::hostile_text(7, 6));
    let runs: [Vec<&str>; 8] = [
        vec!["inspect", ds],
        vec!["inspect", ds, "--json"],
        vec!["validate", ds],
        vec!["report", ds],
        vec!["report", ds, "--json"],
        vec!["report", ds, "--compare-methods"],
        vec!["experiment", "ratings", ds],
        vec!["inspect", common::path_str(&missing)],
    ];
    for args in runs {
        let out = common::featurescope(&args);
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let found = terminal_controls(bytes);
            assert!(found.is_empty(), "{args:?} {stream}: {found:?}");
        }
    }
    // The check sees a raw escape.
    assert_eq!(terminal_controls(b"a\x1b[2Jb"), ['\u{1b}']);
}
