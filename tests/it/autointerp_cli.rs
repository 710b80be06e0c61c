//! explain → score → report through the real binary, against a fake LLM on
//! loopback: its explainer says "the word cat", and its simulator (echoed
//! prompt logprobs) puts 90% on 10 where a token contains "cat".
use crate::common;

use crate::common::http;

use common::{featurescope, path_str, stderr, stdout};
use featurescope::dataset::{
    Dataset, DatasetWriter, Manifest, NewRecord, NewUnit, Sample, UnitKind, UnitStats,
    WriterOptions,
};
use featurescope::interp::score::score;
use http::{ScriptedServer, fake_llm};

/// Unit 0 fires on " cat"; unit 1 on " dog".
fn write_dataset(dir: &std::path::Path) {
    let mut writer = DatasetWriter::create(dir, Manifest::new(), WriterOptions::default()).unwrap();
    for (unit, word) in [(0u32, " cat"), (1, " dog")] {
        let records = (0..16u32)
            .map(|i| {
                let sample = if i < 10 { Sample::Top } else { Sample::Random };
                let rank = if i < 10 { i } else { i - 10 };
                let tokens: Vec<String> = ["The", word, " sat", " on", " a", " mat", " with", " a"]
                    .iter()
                    .map(|t| t.to_string())
                    .chain([if i % 3 == 0 {
                        " cat".to_string()
                    } else {
                        " hat".to_string()
                    }])
                    .collect();
                let activations = tokens
                    .iter()
                    .map(|t| if t == word { 4.0 + (i % 4) as f32 } else { 0.0 })
                    .collect();
                NewRecord {
                    sample,
                    rank,
                    document_id: Some(i as i64),
                    token_offset: Some(0),
                    tokens,
                    activations,
                }
            })
            .collect();
        writer
            .add_unit(
                NewUnit {
                    layer: 0,
                    index: unit,
                    kind: UnitKind::Neuron,
                    stats: UnitStats {
                        max: 7.0,
                        ..Default::default()
                    },
                },
                records,
            )
            .unwrap();
    }
    writer.finish().unwrap();
}

#[test]
fn explain_score_and_report_against_a_fake_llm() {
    let tmp = tempfile::tempdir().unwrap();
    let ds_path = tmp.path().join("ds");
    write_dataset(&ds_path);
    let server = ScriptedServer::respond_with(fake_llm);
    let ds = path_str(&ds_path);
    let common_args = ["--no-cache", "--concurrency", "3"];
    let out = featurescope(
        &[
            &[
                "explain",
                ds,
                "--explainer-url",
                &server.url,
                "--explainer-model",
                "fake-explainer",
            ],
            &common_args[..],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("explained 2 units/explanations, skipped 0"),
        "{}",
        stdout(&out)
    );
    let explanations = Dataset::open(&ds_path).unwrap().explanations().unwrap();
    assert_eq!(explanations.len(), 2);
    assert!(explanations.iter().all(|e| e.text == "the word cat"
        && e.explainer_model == "fake-explainer"
        && e.evidence_record_ids.len() == 5));
    let first_prompt = server.requests()[0].body["prompt"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        first_prompt.ends_with("behavior: the main thing this neuron does is find"),
        "{first_prompt}"
    );

    // A rerun finds the work done and sends nothing.
    let before = server.requests().len();
    let again = featurescope(
        &[
            &[
                "explain",
                ds,
                "--explainer-url",
                &server.url,
                "--explainer-model",
                "fake-explainer",
            ],
            &common_args[..],
        ]
        .concat(),
    );
    assert!(
        stdout(&again).contains("explained 0 units/explanations, skipped 2"),
        "{}",
        stdout(&again)
    );
    assert_eq!(server.requests().len(), before);

    let out = featurescope(
        &[
            &[
                "score",
                ds,
                "--simulator-url",
                &server.url,
                "--simulator-model",
                "fake-simulator",
            ],
            &common_args[..],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let dataset = Dataset::open(&ds_path).unwrap();
    let scores = dataset.scores().unwrap();
    assert_eq!(scores.len(), 2);
    for s in &scores {
        let explanation = explanations
            .iter()
            .find(|e| e.explanation_id == s.explanation_id)
            .unwrap();
        assert!(
            s.record_ids
                .iter()
                .all(|id| !explanation.evidence_record_ids.contains(id)),
            "scored on evidence"
        );
        assert_eq!(
            (s.record_ids.len(), s.record_set.as_str(), s.method.as_str()),
            (10, "top-and-random", "all-at-once-logprobs")
        );
        let records = dataset.records(s.unit_id).unwrap();
        let real: Vec<Vec<f32>> = s
            .record_ids
            .iter()
            .map(|id| {
                records
                    .iter()
                    .find(|r| r.record_id == *id)
                    .unwrap()
                    .activations
                    .clone()
            })
            .collect();
        // The fake simulator's expected values: 9 on "cat" tokens, 0.05 elsewhere.
        let expected: Vec<Vec<f32>> = s
            .record_ids
            .iter()
            .map(|id| {
                records
                    .iter()
                    .find(|r| r.record_id == *id)
                    .unwrap()
                    .tokens
                    .iter()
                    .map(|t| if t.contains("cat") { 9.0 } else { 0.05 })
                    .collect()
            })
            .collect();
        for (got, want) in s.simulated.iter().flatten().zip(expected.iter().flatten()) {
            assert!((got - want).abs() < 1e-4, "{got} vs {want}");
        }
        let want = score(&real, &expected).unwrap();
        assert!((s.score.unwrap() - want.correlation.unwrap()).abs() < 1e-6);
    }
    let cat = scores
        .iter()
        .find(|s| s.unit_id == 0)
        .unwrap()
        .score
        .unwrap();
    let dog = scores
        .iter()
        .find(|s| s.unit_id == 1)
        .unwrap()
        .score
        .unwrap();
    assert!(
        cat > 0.5 && dog < 0.0,
        "the cat explanation fits the cat unit ({cat}) and not the dog unit ({dog})"
    );

    let report = featurescope(&["report", ds, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&report)).unwrap();
    assert_eq!(report["scores"], 2);
    assert_eq!(report["overall"]["units_scored"], 2);
    assert!((report["overall"]["mean"].as_f64().unwrap() - (cat + dog) / 2.0).abs() < 1e-9);
    let inspect: serde_json::Value =
        serde_json::from_str(&stdout(&featurescope(&["inspect", ds, "--json"]))).unwrap();
    assert_eq!(
        (inspect["explanations"].as_u64(), inspect["scores"].as_u64()),
        (Some(2), Some(2))
    );
}

#[test]
fn a_dead_endpoint_fails_the_command_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let ds_path = tmp.path().join("ds");
    write_dataset(&ds_path);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let out = featurescope(&[
        "explain",
        path_str(&ds_path),
        "--explainer-url",
        &url,
        "--explainer-model",
        "m",
        "--no-cache",
        "--units",
        "ids:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("failed: unit 0") && err.contains("cannot connect") && err.contains(&url),
        "{err}"
    );
    assert!(
        Dataset::open(&ds_path)
            .unwrap()
            .explanations()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn show_prompt_prints_the_request_and_sends_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let ds_path = tmp.path().join("ds");
    write_dataset(&ds_path);
    let out = featurescope(&[
        "explain",
        path_str(&ds_path),
        "--show-prompt",
        "--units",
        "ids:1",
        "--explainer-url",
        "http://127.0.0.1:9/v1",
        "--explainer-model",
        "m",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("POST http://127.0.0.1:9/v1/completions\n"),
        "{text}"
    );
    let body: serde_json::Value = serde_json::from_str(text.split_once('\n').unwrap().1).unwrap();
    assert_eq!(
        (body["model"].as_str(), body["max_tokens"].as_u64()),
        (Some("m"), Some(60))
    );
    let prompt = body["prompt"].as_str().unwrap();
    assert!(
        prompt.contains(" dog\t10\n")
            && prompt.ends_with("the main thing this neuron does is find"),
        "{prompt}"
    );
}

#[test]
fn chat_endpoints_explain_and_simulate_with_top_logprobs() {
    let tmp = tempfile::tempdir().unwrap();
    let ds_path = tmp.path().join("ds");
    write_dataset(&ds_path);
    let server = ScriptedServer::respond_with(fake_llm);
    let ds = path_str(&ds_path);
    let chat = [
        "--no-cache",
        "--explainer-api",
        "chat",
        "--simulator-api",
        "chat",
    ];
    let out = featurescope(
        &[
            &[
                "explain",
                ds,
                "--explainer-url",
                &server.url,
                "--explainer-model",
                "chat-model",
                "--units",
                "ids:0",
            ],
            &chat[..],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = featurescope(
        &[
            &[
                "score",
                ds,
                "--simulator-url",
                &server.url,
                "--simulator-model",
                "chat-model",
            ],
            &chat[..],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let dataset = Dataset::open(&ds_path).unwrap();
    assert_eq!(dataset.explanations().unwrap()[0].text, "the word cat");
    let s = &dataset.scores().unwrap()[0];
    assert_eq!(s.method, "all-at-once-chat");
    let records = dataset.records(0).unwrap();
    for (id, simulated) in s.record_ids.iter().zip(&s.simulated) {
        let tokens = &records.iter().find(|r| r.record_id == *id).unwrap().tokens;
        for (t, v) in tokens.iter().zip(simulated) {
            // Expected values from the top logprobs, not the written 10 and 0.
            let want = if t.contains("cat") { 9.0 } else { 0.05 };
            assert!((v - want).abs() < 1e-4, "{t:?}: {v}");
        }
    }
    let chat_requests: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/chat/completions")
        .collect();
    assert!(
        chat_requests
            .iter()
            .any(|r| r.body["top_logprobs"] == 15 && r.body["logprobs"] == true)
    );
}

#[test]
fn simulate_tries_an_explanation_and_saves_it_on_request() {
    let tmp = tempfile::tempdir().unwrap();
    let ds_path = tmp.path().join("ds");
    write_dataset(&ds_path);
    let server = ScriptedServer::respond_with(fake_llm);
    let ds = path_str(&ds_path);
    let args = [
        "simulate",
        ds,
        "--unit",
        "0",
        "--explanation",
        "cats",
        "--simulator-url",
        &server.url,
        "--simulator-model",
        "sim",
        "--no-cache",
    ];
    let out = featurescope(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("real    5.000  simulated  9.00") && text.contains("score 0."),
        "{text}"
    );
    assert!(
        Dataset::open(&ds_path)
            .unwrap()
            .explanations()
            .unwrap()
            .is_empty(),
        "nothing saved without --save"
    );
    let out = featurescope(&[&args[..], &["--save"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let dataset = Dataset::open(&ds_path).unwrap();
    let (e, s) = (dataset.explanations().unwrap(), dataset.scores().unwrap());
    assert_eq!(
        (e.len(), s.len(), e[0].method.as_str(), e[0].text.as_str()),
        (1, 1, "manual", "cats")
    );
    assert_eq!(s[0].explanation_id, e[0].explanation_id);
}
