//! `featurescope extract` on the real MiniLM weights, checked against an
//! independent Python reference (tokenizers + transformers, one window at a time).
use crate::common;

use common::{featurescope, path_str, python, root, stderr, stdout};
use featurescope::dataset::{Dataset, Sample};
use std::path::Path;

const TEXTS: [&str; 8] = [
    "The cat sat on the mat. It was a sunny day in the city of Paris, and the cat was happy to be there in the warm light.",
    "Numbers like 42, 1999 and 3.14159 appear in many documents; so do dates such as 12 March 2021 and prices like $19.99.",
    "She said: \"I don't know what you mean!\" He replied that it wasn't his fault, and that they'd all agreed to it.",
    "Short.",
    "In 1905 Albert Einstein published four papers that changed physics, on the photoelectric effect, Brownian motion, special relativity and mass-energy equivalence.",
    "def main():\n    for i in range(10):\n        print(i * i)\n\nif __name__ == '__main__':\n    main()",
    "Rain, rain, go away; come again another day. Little Johnny wants to play; rain, rain, go away!",
    "The committee will meet on Tuesday to discuss the budget, the schedule, and the new proposal from the finance department.",
];

fn write_corpus(dir: &Path) -> std::path::PathBuf {
    common::write_corpus(dir, &TEXTS)
}

#[test]
fn minilm_extraction_matches_a_transformers_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path());
    let out = tmp.path().join("ds");
    let model = root().join(".venv/models/all-MiniLM-L6-v2");
    let result = featurescope(&[
        "extract",
        "--model",
        path_str(&model),
        "--corpus",
        path_str(&corpus),
        "--layers",
        "2",
        "--hook",
        "mlp",
        "--out",
        path_str(&out),
        "--window",
        "16",
        "--batch",
        "5",
        "--top-k",
        "4",
        "--random-k",
        "3",
        "--quantile-k",
        "1",
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    assert!(
        stdout(&result).contains("from 8 documents"),
        "{}",
        stdout(&result)
    );

    let units = [0u64, 77, 1000, 1535];
    let unit_list: Vec<String> = units.iter().map(u64::to_string).collect();
    let reference: serde_json::Value = serde_json::from_str(&python(
        "reference_extraction.py",
        &[
            path_str(&model),
            path_str(&corpus),
            "2",
            "16",
            "4",
            &unit_list.join(","),
        ],
    ))
    .unwrap();
    let ds = Dataset::open(&out).unwrap();
    ds.validate().unwrap();
    assert_eq!(ds.unit_count().unwrap(), 1536);
    let corpus_info = ds.manifest().corpus.clone().unwrap();
    assert_eq!(corpus_info.documents, Some(8));
    for unit in units {
        let theirs = &reference["units"][unit.to_string()];
        let stats = ds.unit(unit).unwrap().stats;
        let close = |a: f64, b: f64, what: &str| {
            assert!(
                (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                "unit {unit} {what}: {a} vs {b}"
            )
        };
        close(stats.max, theirs["max"].as_f64().unwrap(), "max");
        close(
            stats.mean.unwrap(),
            theirs["mean"].as_f64().unwrap(),
            "mean",
        );
        close(
            stats.density.unwrap(),
            theirs["density"].as_f64().unwrap(),
            "density",
        );
        close(
            stats.variance.unwrap(),
            theirs["variance"].as_f64().unwrap(),
            "variance",
        );
        // The histogram over every token, binned at our edges the plain way:
        // a value's bin is the number of inner edges at or below it.
        let values: Vec<f64> = serde_json::from_value(theirs["values"].clone()).unwrap();
        let edges = &stats.histogram_edges;
        let inner = &edges[1..edges.len() - 1];
        let mut expected = vec![0u64; edges.len() - 1];
        for v in &values {
            expected[inner.iter().filter(|&&e| *v >= e).count()] += 1;
        }
        assert_eq!(stats.histogram_counts, expected, "unit {unit} histogram");
        // The edge bins are widened to the whole range.
        let (low, high) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        assert!(edges[0] <= low + 1e-6 && edges[edges.len() - 1] >= high - 1e-6);
        let records = ds.records(unit).unwrap();
        let top: Vec<_> = records.iter().filter(|r| r.sample == Sample::Top).collect();
        assert_eq!(top.len(), 4);
        for (ours, theirs) in top.iter().zip(theirs["top"].as_array().unwrap()) {
            assert_eq!(
                ours.document_id,
                theirs["document_id"].as_i64(),
                "unit {unit}"
            );
            assert_eq!(
                ours.token_offset,
                theirs["token_offset"].as_i64(),
                "unit {unit}"
            );
            let acts: Vec<f64> = serde_json::from_value(theirs["activations"].clone()).unwrap();
            assert_eq!(ours.activations.len(), acts.len());
            for (a, b) in ours.activations.iter().zip(&acts) {
                close(*a as f64, *b, "activation");
            }
            assert_eq!(ours.tokens.first().map(String::as_str), Some("[CLS]"));
        }
        // Random records are never top records.
        let top_ids: Vec<_> = top
            .iter()
            .map(|r| (r.document_id, r.token_offset))
            .collect();
        assert!(
            records
                .iter()
                .filter(|r| r.sample == Sample::Random)
                .all(|r| !top_ids.contains(&(r.document_id, r.token_offset)))
        );
    }
}

#[test]
fn tokens_of_a_record_join_back_into_its_text() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path());
    let out = tmp.path().join("ds");
    let model = root().join(".venv/models/all-MiniLM-L6-v2");
    let result = featurescope(&[
        "extract",
        "--model",
        path_str(&model),
        "--corpus",
        path_str(&corpus),
        "--layers",
        "0",
        "--out",
        path_str(&out),
        "--window",
        "64",
        "--top-k",
        "8",
        "--random-k",
        "0",
        "--quantile-k",
        "0",
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    let ds = Dataset::open(&out).unwrap();
    // With 64-token windows every document is one window: its text tokens rebuild it.
    for record in ds.records(5).unwrap() {
        let doc = record.document_id.unwrap() as usize;
        let inner = &record.tokens[1..record.tokens.len() - 1];
        assert_eq!(
            inner.concat().trim_end(),
            TEXTS[doc].trim_end(),
            "document {doc}"
        );
    }
}

#[test]
fn bad_arguments_are_named() {
    let model = root().join(".venv/models/all-MiniLM-L6-v2");
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path());
    let out = featurescope(&[
        "extract",
        "--model",
        path_str(&model),
        "--corpus",
        path_str(&corpus),
        "--layers",
        "9",
        "--out",
        path_str(&tmp.path().join("o")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("layer 9 does not exist (the model has 6)"),
        "{}",
        stderr(&out)
    );
    let out = featurescope(&[
        "extract",
        "--model",
        path_str(&model),
        "--corpus",
        path_str(&corpus),
        "--hook",
        "attn",
        "--out",
        path_str(&tmp.path().join("o")),
    ]);
    assert!(
        stderr(&out).contains("unknown hook \"attn\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn extraction_is_deterministic_whatever_the_batch_size() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path());
    let model = root().join(".venv/models/all-MiniLM-L6-v2");
    let run = |batch: &str, out: &str, spill_limit: &str| {
        let out = tmp.path().join(out);
        let result = featurescope(&[
            "extract",
            "--spill-limit",
            spill_limit,
            // A sample of some windows only, so that the others come after it.
            "--calibration-windows",
            "6",
            "--model",
            path_str(&model),
            "--corpus",
            path_str(&corpus),
            "--layers",
            "5",
            "--out",
            path_str(&out),
            "--window",
            "12",
            "--batch",
            batch,
            "--top-k",
            "3",
            "--random-k",
            "4",
            "--quantile-k",
            "2",
            "--seed",
            "9",
        ]);
        assert!(result.status.success(), "{}", stderr(&result));
        Dataset::open(&out).unwrap()
    };
    let (a, b) = (run("2", "a", "1073741824"), run("7", "b", "1073741824"));
    // Without the spill file the sample runs again, in the same batches as
    // it calibrated in: the same dataset, bit for bit.
    let c = run("2", "c", "0");
    for unit in 0..a.unit_count().unwrap() {
        assert_eq!(
            a.records(unit).unwrap(),
            c.records(unit).unwrap(),
            "unit {unit}"
        );
        assert_eq!(a.unit(unit).unwrap(), c.unit(unit).unwrap(), "unit {unit}");
    }
    for unit in [0u64, 500, 1535] {
        let (ra, rb) = (a.records(unit).unwrap(), b.records(unit).unwrap());
        assert_eq!(ra.len(), rb.len());
        for (x, y) in ra.iter().zip(&rb) {
            assert_eq!(
                (x.sample, x.rank, x.document_id, x.token_offset, &x.tokens),
                (y.sample, y.rank, y.document_id, y.token_offset, &y.tokens)
            );
            for (p, q) in x.activations.iter().zip(&y.activations) {
                // Padding changes the floating-point summation order in libtorch, not the selection.
                assert!((p - q).abs() <= 1e-4 * q.abs().max(1.0));
            }
        }
        assert_eq!(a.unit(unit).unwrap().stats.quantile_boundaries.len(), 5);
    }
    // The calibration sample's spill file, written beside the output, is gone.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Waits until process `pid` has a handler for SIGINT (its SigCgt mask in
/// /proc names signal 2).
fn wait_until_catching_sigint(pid: u32) {
    let start = std::time::Instant::now();
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .map(|mask| u64::from_str_radix(mask.trim(), 16).unwrap())
            .unwrap();
        if caught & (1 << (libc::SIGINT - 1)) != 0 {
            return;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "no SIGINT handler: {status}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn ctrl_c_during_extraction_keeps_the_previous_dataset_and_a_rerun_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let model = root().join(".venv/models/all-MiniLM-L6-v2");
    let small = write_corpus(tmp.path());
    // A second corpus, different from the first, for the interrupted run and the rerun.
    let big = tmp.path().join("big.jsonl");
    let text = std::fs::read_to_string(&small).unwrap();
    std::fs::write(&big, text.repeat(10)).unwrap();
    let out = tmp.path().join("ds");
    let run = |corpus: &Path| {
        vec![
            "extract".to_string(),
            "--model".into(),
            path_str(&model).into(),
            "--corpus".into(),
            path_str(corpus).into(),
            "--layers".into(),
            "0-1".into(),
            "--out".into(),
            path_str(&out).into(),
            "--window".into(),
            "32".into(),
        ]
    };
    let first = featurescope(&run(&small).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(first.status.success(), "{}", stderr(&first));
    let before = Dataset::open(&out)
        .unwrap()
        .manifest()
        .corpus
        .clone()
        .unwrap()
        .documents;

    let child = std::process::Command::new(env!("CARGO_BIN_EXE_featurescope"))
        .args(run(&big))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The signal goes in as soon as the handler is installed, which is
    // before the model loads: the extraction has all its work ahead of it.
    wait_until_catching_sigint(child.id());
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let interrupted = child.wait_with_output().unwrap();
    assert_eq!(interrupted.status.code(), Some(1));
    assert!(
        stderr(&interrupted).contains("the extraction was cancelled; nothing was written"),
        "{}",
        stderr(&interrupted)
    );
    let ds = Dataset::open(&out).unwrap();
    ds.validate().unwrap();
    assert_eq!(
        ds.manifest().corpus.clone().unwrap().documents,
        before,
        "the previous dataset is untouched"
    );

    let again = featurescope(&run(&big).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        Dataset::open(&out)
            .unwrap()
            .manifest()
            .corpus
            .clone()
            .unwrap()
            .documents,
        Some(8 * 10)
    );
    let leftovers = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".ds.partial")
        })
        .count();
    assert_eq!(
        leftovers, 0,
        "the rerun cleared the interrupted run's staging"
    );
}
