//! The scorer against numpy on the same numbers.
use crate::common;

use featurescope::interp::score::score;
use rand::{RngExt, SeedableRng};
use std::io::Write;
use std::process::{Command, Stdio};

fn numpy(real: &[Vec<f32>], simulated: &[Vec<f32>]) -> serde_json::Value {
    let mut child = Command::new(common::root().join(".venv/bin/python"))
        .arg(common::root().join("tests/py/reference_scores.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input = serde_json::json!({ "real": real, "simulated": simulated });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn scores_match_numpy() {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
    for case in 0..6 {
        // Sparse real activations (as a neuron's are) and a noisy 0–10 simulation of them.
        let records = 1 + case * 2;
        let real: Vec<Vec<f32>> = (0..records)
            .map(|_| {
                (0..rng.random_range(5..64))
                    .map(|_| {
                        if rng.random::<f32>() < 0.2 {
                            rng.random_range(0.0f32..4.0)
                        } else {
                            rng.random_range(-0.2f32..0.0)
                        }
                    })
                    .collect()
            })
            .collect();
        let simulated: Vec<Vec<f32>> = real
            .iter()
            .map(|r| {
                r.iter()
                    .map(|&a| {
                        (a.max(0.0) * 2.5 + rng.random_range(0.0f32..3.0) * case as f32 / 5.0)
                            .min(10.0)
                    })
                    .collect()
            })
            .collect();
        let ours = score(&real, &simulated).unwrap();
        let theirs = numpy(&real, &simulated);
        for (name, value) in [
            ("correlation", ours.correlation),
            ("r_squared", ours.r_squared),
            ("absolute_dev_explained", ours.absolute_dev_explained),
        ] {
            let expected = theirs[name].as_f64().unwrap();
            let got = value.unwrap();
            assert!(
                (got - expected).abs() < 1e-9,
                "case {case} {name}: {got} vs numpy {expected}"
            );
        }
    }
}

/// Delphi's `compute_confusion` / `compute_classification_metrics` (its
/// "accuracy" is balanced accuracy) and sklearn's ROC-AUC, in Python, on the
/// answers a score row recorded.
const DELPHI_METRICS: &str = r#"
import json, sys
from sklearn.metrics import roc_auc_score
rows = json.load(sys.stdin)
out = []
for r in rows:
    pairs = [(a, s) for a, s in zip(r["activating"], r["simulated"]) if s]
    if r["method"] == "embedding":
        out.append(roc_auc_score([a for a, _ in pairs], [s[0] for _, s in pairs]))
        continue
    pos = sum(a for a, _ in pairs); neg = len(pairs) - pos
    tp = sum(1 for a, s in pairs if a and s[0] >= 0.5)
    tn = sum(1 for a, s in pairs if not a and s[0] < 0.5)
    out.append(((tp / pos if pos > 0 else 0) + (tn / neg if neg > 0 else 0)) / 2)
print(json.dumps(out))
"#;

#[test]
fn detection_and_embedding_scores_equal_delphis_arithmetic_on_their_answers() {
    let dir = tempfile::tempdir().unwrap();
    let ds = common::demo_copy(dir.path(), "demo");
    let path = ds.to_str().unwrap();
    for method in ["detection", "embedding"] {
        let out = common::featurescope(&["score", path, "--method", method, "--units", "ids:165"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dataset = featurescope::dataset::Dataset::open(&ds).unwrap();
    let records = dataset.records(165).unwrap();
    let random = |id: &u64| {
        records
            .iter()
            .find(|r| r.record_id == *id)
            .map(|r| r.sample == featurescope::dataset::Sample::Random)
            .unwrap()
    };
    let rows: Vec<_> = dataset
        .scores()
        .unwrap()
        .into_iter()
        .filter(|s| s.method == "detection" || s.method == "embedding")
        .collect();
    assert_eq!(
        rows.len(),
        4,
        "both methods, for each of unit 165's two explanations"
    );
    let input: Vec<serde_json::Value> = rows
        .iter()
        .map(|s| {
            assert_eq!(s.record_set, "quantiles-and-random");
            let activating: Vec<bool> = s.record_ids.iter().map(|id| !random(id)).collect();
            assert!(activating.contains(&true) && activating.contains(&false));
            serde_json::json!({"method": s.method, "activating": activating, "simulated": s.simulated})
        })
        .collect();
    let mut child = Command::new(common::root().join(".venv/bin/python"))
        .args(["-c", DELPHI_METRICS])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::Value::Array(input).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let reference: Vec<f64> = serde_json::from_slice(&out.stdout).unwrap();
    for (s, r) in rows.iter().zip(reference) {
        let ours = s.score.unwrap();
        assert!(
            (ours - r).abs() < 1e-6,
            "{}: ours {ours}, reference {r}",
            s.method
        );
    }
}
