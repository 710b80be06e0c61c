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
