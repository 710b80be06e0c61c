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

/// Delphi's own result analysis (`tests/py/delphi_result_analysis.py`) on
/// the score rows `rows`, each example's truth read from the records of
/// `dataset` (not from the row): (each row's score, the pooled metrics by method).
fn delphi_analysis(
    dataset: &featurescope::dataset::Dataset,
    rows: &[featurescope::dataset::Score],
) -> (Vec<Option<f64>>, serde_json::Value) {
    let input: Vec<serde_json::Value> = rows
        .iter()
        .map(|s| {
            let records = dataset.records(s.unit_id).unwrap();
            let activating: Vec<bool> = s
                .record_ids
                .iter()
                .map(|id| {
                    let r = records.iter().find(|r| r.record_id == *id).unwrap();
                    r.sample != featurescope::dataset::Sample::Random
                })
                .collect();
            if s.method != "intruder" {
                assert!(activating.contains(&true) && activating.contains(&false));
            }
            serde_json::json!({"method": s.method, "activating": activating, "simulated": s.simulated})
        })
        .collect();
    let mut child = Command::new(common::root().join(".venv/bin/python"))
        .arg(common::root().join("tests/py/delphi_result_analysis.py"))
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
    assert!(out.status.success(), "Delphi's analysis failed");
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let scores = result["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(serde_json::Value::as_f64)
        .collect();
    (scores, result["pooled"].clone())
}

fn assert_scores_equal_delphis(
    dataset: &featurescope::dataset::Dataset,
    rows: &[featurescope::dataset::Score],
) {
    let (reference, _) = delphi_analysis(dataset, rows);
    for (s, r) in rows.iter().zip(reference) {
        let (ours, r) = (s.score.unwrap(), r.unwrap());
        assert!(
            (ours - r).abs() < 1e-6,
            "{} of unit {}: ours {ours}, Delphi {r}",
            s.method,
            s.unit_id
        );
    }
}

#[test]
fn local_model_classifier_scores_equal_delphis_arithmetic_on_their_answers() {
    let dir = tempfile::tempdir().unwrap();
    let ds = common::demo_copy(dir.path(), "demo");
    let path = ds.to_str().unwrap();
    for method in ["detection", "fuzz", "embedding", "intruder"] {
        let mut args = vec!["score", path, "--method", method, "--units", "ids:165"];
        if method == "intruder" {
            // One record a quantile: ten prompts per explanation.
            args.extend(["--per-quantile", "1"]);
        }
        let out = common::featurescope(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dataset = featurescope::dataset::Dataset::open(&ds).unwrap();
    let rows: Vec<_> = dataset
        .scores()
        .unwrap()
        .into_iter()
        .filter(|s| !s.is_simulation())
        .collect();
    assert_eq!(
        rows.len(),
        8,
        "four methods, for each of unit 165's two explanations"
    );
    for s in &rows {
        let params = if s.method == "intruder" {
            "10x1"
        } else {
            "10x5"
        };
        assert_eq!(
            s.record_set,
            format!("quantiles-and-random {params} shown=5 threshold=0.3 seed=42")
        );
        if s.method == "detection" || s.method == "fuzz" {
            // The local model gives P(1) at every answer.
            assert!(
                s.simulated.iter().all(|v| v.len() == 3),
                "{:?}",
                s.simulated
            );
        }
    }
    assert_scores_equal_delphis(&dataset, &rows);
}

/// Two units of 40 top and 40 random records, unit 0 firing on " cat" and
/// unit 1 on " dog"; a quarter of every unit's records end in " cat".
fn write_pet_dataset(dir: &std::path::Path) {
    use featurescope::dataset::{
        DatasetWriter, Manifest, NewRecord, NewUnit, Sample, UnitKind, UnitStats, WriterOptions,
    };
    let mut writer = DatasetWriter::create(dir, Manifest::new(), WriterOptions::default()).unwrap();
    for (unit, word) in [(0u32, " cat"), (1, " dog")] {
        let records = (0..80u32)
            .map(|i| {
                let top = i < 40;
                let last = [" mat", " hat", " cat", " rug"][i as usize % 4];
                let tokens: Vec<String> = if top {
                    vec!["The", word, " sat", " on", " a", last]
                } else {
                    vec!["A", " bird", " saw", " the", " big", last]
                }
                .into_iter()
                .map(String::from)
                .collect();
                let activations = tokens
                    .iter()
                    .map(|t| {
                        if top && t == word {
                            8.0 - i as f32 / 10.0
                        } else {
                            0.0
                        }
                    })
                    .collect();
                NewRecord {
                    sample: if top { Sample::Top } else { Sample::Random },
                    rank: i % 40,
                    document_id: Some(i as i64),
                    token_offset: Some(0),
                    tokens,
                    activations,
                }
            })
            .collect();
        let stats = UnitStats {
            max: 8.0,
            ..Default::default()
        };
        let unit = NewUnit {
            layer: 0,
            index: unit,
            kind: UnitKind::Neuron,
            stats,
        };
        writer.add_unit(unit, records).unwrap();
    }
    writer.finish().unwrap();
}

/// A scorer LLM on loopback that reads Delphi's prompts: for detection and
/// fuzzing it answers 1 for the examples that contain the explanation's last
/// word (P(1) 0.9, else 0.2 plus a little by the example's length), for the
/// intruder test it picks the first example with no marked " cat"; any other
/// request gets the fake explainer's "the word cat".
fn fake_scorer(request: &common::http::Request) -> common::http::Reply {
    use common::http::Reply;
    let chat = request.path.ends_with("/chat/completions");
    let prompt = if chat {
        let messages = request.body["messages"].as_array().unwrap();
        messages.last().unwrap()["content"]
            .as_str()
            .unwrap()
            .to_owned()
    } else {
        let text = request.body["prompt"].as_str().unwrap_or_default();
        text[text.rfind("Latent explanation:").unwrap_or(0)..].to_owned()
    };
    let examples: Vec<&str> = prompt
        .lines()
        .filter_map(|l| l.strip_prefix("Example ")?.split_once(':').map(|(_, t)| t))
        .collect();
    let (text, tokens) = if let Some(explanation) = prompt.strip_prefix("Latent explanation: ") {
        let word = explanation
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap();
        let mut tokens = vec![("[".to_owned(), vec![("[", 0.0f64)])];
        for (i, e) in examples.iter().enumerate() {
            let p = if e.contains(word) {
                0.9
            } else {
                0.2 + (e.len() % 7) as f64 / 100.0
            };
            let answer = if p >= 0.5 { "1" } else { "0" };
            if i > 0 {
                tokens.push((",".into(), vec![(",", 0.0)]));
            }
            tokens.push((answer.into(), vec![("1", p.ln()), ("0", (1.0 - p).ln())]));
        }
        tokens.push(("]".into(), vec![("]", 0.0)]));
        let text: String = tokens.iter().map(|(t, _)| t.as_str()).collect();
        (text, Some(tokens))
    } else if prompt.starts_with("Examples:") {
        let pick = examples
            .iter()
            .position(|e| !e.contains("<< cat>>"))
            .unwrap_or(0);
        (format!("[RESPONSE]: {pick}"), None)
    } else {
        return common::http::fake_llm(request);
    };
    let usage = serde_json::json!({"prompt_tokens": 500, "completion_tokens": 20});
    let tokens = tokens.unwrap_or_default();
    if chat {
        let content: Vec<serde_json::Value> = tokens
            .iter()
            .map(|(t, top)| {
                let top: Vec<_> = top
                    .iter()
                    .map(|(t, l)| serde_json::json!({"token": t, "logprob": l}))
                    .collect();
                serde_json::json!({"token": t, "logprob": 0.0, "top_logprobs": top})
            })
            .collect();
        Reply::json(
            serde_json::json!({"choices": [{"message": {"role": "assistant", "content": text}, "logprobs": {"content": content}}], "usage": usage}),
        )
    } else {
        let names: Vec<&str> = tokens.iter().map(|(t, _)| t.as_str()).collect();
        let tops: Vec<serde_json::Value> = tokens
            .iter()
            .map(|(_, top)| {
                top.iter()
                    .map(|(t, l)| ((*t).to_owned(), serde_json::json!(l)))
                    .collect()
            })
            .collect();
        Reply::json(
            serde_json::json!({"choices": [{"text": text, "logprobs": {"tokens": names, "top_logprobs": tops}}], "usage": usage}),
        )
    }
}

#[test]
fn endpoint_classifier_scores_read_delphis_prompts_and_equal_its_arithmetic() {
    let dir = tempfile::tempdir().unwrap();
    let ds_path = dir.path().join("ds");
    write_pet_dataset(&ds_path);
    let server = common::http::ScriptedServer::respond_with(fake_scorer);
    let ds = ds_path.to_str().unwrap();
    let out = common::featurescope(&[
        "explain",
        ds,
        "--explainer-url",
        &server.url,
        "--explainer-model",
        "explainer",
        "--no-cache",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let endpoint = |method: &str, api: &str| {
        let out = common::featurescope(&[
            "score",
            ds,
            "--method",
            method,
            "--simulator-url",
            &server.url,
            "--simulator-api",
            api,
            "--simulator-model",
            api,
            "--no-cache",
        ]);
        assert!(
            out.status.success(),
            "{method} ({api}): {}",
            common::stderr(&out)
        );
        common::stdout(&out)
    };
    let printed = endpoint("fuzz", "chat");
    assert!(printed.contains("pooled over"), "{printed}");
    endpoint("detection", "chat");
    endpoint("intruder", "chat");
    endpoint("detection", "completions");

    let requests = server.requests();
    let chat = |marker: &str| {
        requests
            .iter()
            .filter(|r| r.path.ends_with("/chat/completions"))
            .filter(|r| {
                r.body["messages"][0]["content"]
                    .as_str()
                    .unwrap()
                    .starts_with(marker)
            })
            .collect::<Vec<_>>()
    };
    let fuzz = chat(
        "You are an intelligent and meticulous linguistics researcher.\n\nYou will be given a certain latent of text, such as \"male pronouns\" or \"text with negative sentiment\". You will be given a few examples",
    );
    assert!(!fuzz.is_empty());
    assert!(
        fuzz.iter()
            .all(|r| r.body["logprobs"] == true && r.body["top_logprobs"] == 5)
    );
    let last = |r: &common::http::Request| {
        let m = r.body["messages"].as_array().unwrap();
        m.last().unwrap()["content"].as_str().unwrap().to_owned()
    };
    assert!(
        fuzz.iter()
            .any(|r| last(r).contains("The<< cat>> sat on a")),
        "the activating token is marked"
    );
    assert!(chat("You are an intelligent and meticulous linguistics researcher doing a \"intruder detection\" task.").len() >= 20);
    let completions: Vec<_> = requests
        .iter()
        .filter(|r| r.path.ends_with("/v1/completions"))
        .collect();
    assert!(completions.iter().any(|r| r.body["logprobs"] == 5));

    let dataset = featurescope::dataset::Dataset::open(&ds_path).unwrap();
    let rows: Vec<_> = dataset
        .scores()
        .unwrap()
        .into_iter()
        .filter(|s| !s.is_simulation())
        .collect();
    assert_eq!(rows.len(), 8, "four scorings of two units");
    for s in rows
        .iter()
        .filter(|s| s.method == "detection" || s.method == "fuzz")
    {
        assert!(
            s.simulated.iter().all(|v| v.len() == 3),
            "answers and P(1) read"
        );
    }
    let cat = rows
        .iter()
        .find(|s| s.unit_id == 0 && s.method == "detection")
        .unwrap();
    // All activating examples contain "cat", and a quarter of the random ones.
    assert!((cat.score.unwrap() - 0.875).abs() < 0.1, "{:?}", cat.score);
    assert_scores_equal_delphis(&dataset, &rows);

    // report pools the fuzz answers as Delphi's get_agg_metrics does.
    let fuzz_rows: Vec<_> = rows
        .iter()
        .filter(|s| s.method == "fuzz")
        .cloned()
        .collect();
    let (_, pooled) = delphi_analysis(&dataset, &fuzz_rows);
    let out = common::featurescope(&["report", ds, "--method", "fuzz", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours = &report["pooled"];
    for key in ["balanced_accuracy", "precision", "recall", "f1", "auc"] {
        let (a, b) = (
            ours[key].as_f64().unwrap(),
            pooled["fuzz"][key].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-6, "pooled {key}: ours {a}, Delphi {b}");
    }
    assert_eq!(ours["examples"], pooled["fuzz"]["examples"]);
}

/// Spearman's rho between every two methods over the units both scored, each
/// unit at its best score, from the scores table read with pyarrow; scipy's
/// `spearmanr`.
const AGREEMENT_REFERENCE: &str = r#"
import json, sys
import pyarrow.parquet as pq
from scipy.stats import spearmanr
t = pq.read_table(sys.argv[1] + "/scores").to_pylist()
classifier = {"detection", "fuzz", "embedding", "intruder"}
best = {}
for s in t:
    if s["score"] is None:
        continue
    if s["method"] in classifier:
        method = s["method"]
    elif s["record_set"] == "top-and-random":
        method = "simulation"
    else:
        continue
    m = best.setdefault(method, {})
    m[s["unit_id"]] = max(m.get(s["unit_id"], s["score"]), s["score"])
out = {}
for a in best:
    for b in best:
        units = sorted(set(best[a]) & set(best[b]))
        rho = spearmanr([best[a][u] for u in units], [best[b][u] for u in units]).statistic
        out[a + "|" + b] = [len(units), float(rho)]
print(json.dumps(out))
"#;

#[test]
fn compare_methods_ranks_units_as_scipy_does() {
    let dir = tempfile::tempdir().unwrap();
    let ds_path = common::demo_copy(dir.path(), "demo");
    let dataset = featurescope::dataset::Dataset::open(&ds_path).unwrap();
    let explanations = dataset.explanations().unwrap();
    let mut rows = Vec::new();
    for (i, e) in explanations.iter().take(60).enumerate() {
        // Ties (five values), and fuzz on a subset of the detection units.
        let detection = (e.unit_id % 5) as f64 / 4.0;
        let row = |method: &str, score: f64| featurescope::dataset::Score {
            score_id: featurescope::dataset::new_id(),
            explanation_id: e.explanation_id.clone(),
            unit_id: e.unit_id,
            simulator_model: "test".into(),
            method: method.into(),
            record_set: "quantiles-and-random 10x5 shown=5 threshold=0.3 seed=42".into(),
            score: Some(score),
            r_squared: None,
            absolute_dev_explained: None,
            record_ids: vec![],
            simulated: vec![],
            created_at_ms: 1,
        };
        rows.push(row("detection", detection));
        if i % 2 == 0 {
            rows.push(row("fuzz", 1.0 - detection + (i % 7) as f64 / 10.0));
        }
    }
    dataset.append_scores(&rows).unwrap();
    let out = common::featurescope(&[
        "report",
        ds_path.to_str().unwrap(),
        "--compare-methods",
        "--json",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let ours: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let reference = Command::new(common::root().join(".venv/bin/python"))
        .args(["-c", AGREEMENT_REFERENCE, ds_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        reference.status.success(),
        "{}",
        String::from_utf8_lossy(&reference.stderr)
    );
    let reference: serde_json::Value = serde_json::from_slice(&reference.stdout).unwrap();
    assert_eq!(
        ours.len(),
        3,
        "simulation, detection and fuzz pairwise: {ours:?}"
    );
    for pair in &ours {
        let key = format!(
            "{}|{}",
            pair["first"].as_str().unwrap(),
            pair["second"].as_str().unwrap()
        );
        let (n, rho) = (&reference[&key][0], reference[&key][1].as_f64().unwrap());
        assert_eq!(&pair["units"], n, "{key}");
        let ours = pair["spearman"].as_f64().unwrap();
        assert!((ours - rho).abs() < 1e-9, "{key}: ours {ours}, scipy {rho}");
    }
}
