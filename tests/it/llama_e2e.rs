//! One short end-to-end run against a real OpenAI-compatible server, llama.cpp
//! with Gemma-3-270M: explain a unit, simulate with echoed prompt logprobs,
//! score, report. Opt-in (slow on CPU): `make test-llama` starts the server.
use crate::common;

use common::{featurescope, path_str, stderr, stdout};
use featurescope::dataset::{
    Dataset, DatasetWriter, Manifest, NewRecord, NewUnit, Sample, UnitKind, UnitStats,
    WriterOptions,
};

#[test]
#[ignore = "needs a llama.cpp server: run `make test-llama`"]
fn explain_and_score_against_llama_cpp() {
    let url = std::env::var("FEATURESCOPE_LLAMA_URL")
        .expect("FEATURESCOPE_LLAMA_URL (make test-llama sets it)");
    let tmp = tempfile::tempdir().unwrap();
    let ds_path = tmp.path().join("ds");
    // One unit that fires on " cat", with short records so the prompts stay small.
    let mut writer =
        DatasetWriter::create(&ds_path, Manifest::new(), WriterOptions::default()).unwrap();
    let records = (0..6u32)
        .map(|i| {
            let tokens: Vec<String> = ["The", " cat", " sat", " down"]
                .iter()
                .map(|t| t.to_string())
                .collect();
            let activations = vec![0.0, 3.0 + i as f32 * 0.1, 0.0, 0.0];
            let (sample, rank) = if i < 4 {
                (Sample::Top, i)
            } else {
                (Sample::Random, i - 4)
            };
            NewRecord {
                sample,
                rank,
                document_id: None,
                token_offset: None,
                tokens,
                activations,
            }
        })
        .collect();
    writer
        .add_unit(
            NewUnit {
                layer: 0,
                index: 0,
                kind: UnitKind::Neuron,
                stats: UnitStats {
                    max: 3.5,
                    ..Default::default()
                },
            },
            records,
        )
        .unwrap();
    writer.finish().unwrap();
    let config = tmp.path().join("featurescope.toml");
    let endpoint = format!(
        "base_url = \"{url}\"\nmodel = \"gemma-3-270m\"\ntimeout_s = 900\nmax_attempts = 1\n"
    );
    std::fs::write(
        &config,
        format!("[explainer]\n{endpoint}\n[simulator]\n{endpoint}"),
    )
    .unwrap();
    let cache = tmp.path().join("cache");
    let common = [
        "--config",
        path_str(&config),
        "--cache-dir",
        path_str(&cache),
    ];
    let ds = path_str(&ds_path);

    let out = featurescope(&[&["explain", ds, "--records-shown", "2"], &common[..]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let explanation = Dataset::open(&ds_path)
        .unwrap()
        .explanations()
        .unwrap()
        .remove(0);
    eprintln!("explanation: {}", explanation.text);
    assert!(!explanation.text.is_empty());

    let out = featurescope(
        &[
            &["score", ds, "--record-set", "top-only", "--top", "1"],
            &common[..],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    eprintln!("{}", stdout(&out));
    let score = Dataset::open(&ds_path).unwrap().scores().unwrap().remove(0);
    assert_eq!(score.simulated.len(), 1);
    assert_eq!(score.simulated[0].len(), 4);
    assert!(
        score.simulated[0].iter().all(|v| (0.0..=10.0).contains(v)),
        "{:?}",
        score.simulated
    );
    // A rerun is answered from the cache in no time.
    let start = std::time::Instant::now();
    let again = featurescope(
        &[
            &[
                "score",
                ds,
                "--record-set",
                "top-only",
                "--top",
                "1",
                "--force",
            ],
            &common[..],
        ]
        .concat(),
    );
    assert!(
        again.status.success() && start.elapsed().as_secs() < 20,
        "{}",
        stderr(&again)
    );
    let report = featurescope(&["report", ds, "--record-set", "top-only", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&report)).unwrap();
    assert_eq!(report["scores"], 2);
}
