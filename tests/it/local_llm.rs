//! The local LLM backend against Hugging Face transformers running the same
//! model: the simulator's value probabilities at every `unknown`, with the
//! prefix cache in use, and greedy generation. Gemma-3-270M from its GGUF
//! file (digits are tokens: 10 is "1" then "0"), and a tiny GPT-2 with a
//! byte-level BPE vocabulary in which "10" is one token.
use crate::common::{path_str, python, root};
use featurescope::interp::explainer::{self, ShownRecord};
use featurescope::interp::simulator;
use featurescope::llm::{Generation, LocalModel};
use featurescope::model::TextTokenizer;
use serde_json::{Value, json};

fn gemma() -> std::path::PathBuf {
    root().join(".venv/models/gemma-3-270m-q4_k_m.gguf")
}

#[test]
fn gemma_simulation_probabilities_and_greedy_generation_match_transformers() {
    matches_transformers(&gemma());
}

#[test]
fn gpt2_style_vocabulary_with_a_token_for_10_matches_transformers() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("tiny-gpt2");
    python("make_tiny_gpt2_bpe.py", &[path_str(&folder)]);
    matches_transformers(&folder);
}

/// Runs the model at `path` here and in transformers on the same prompts.
fn matches_transformers(path: &std::path::Path) {
    // Display tokens of a real text, as a dataset record holds them.
    let tokenizer = TextTokenizer::load(path).unwrap();
    let tokens = |text: &str| tokenizer.encode(text, false).unwrap().tokens;
    let licence = std::fs::read_to_string("/usr/share/common-licenses/Apache-2.0").unwrap();
    let words: Vec<&str> = licence.split_whitespace().skip(40).collect();
    let explanation = "words about legal permissions and licences";
    // Two records under one explanation: the second prompt shares the first's
    // prefix up to its record, so it runs from the cache.
    let records = [
        tokens(&words[..9].join(" ")),
        tokens(&format!("Copyright 2004 {}", words[20..26].join(" "))),
    ];
    let prompts: Vec<_> = records
        .iter()
        .map(|r| simulator::prompt(&[], explanation, r))
        .collect();
    let shown = ShownRecord {
        activations: (0..records[0].len()).map(|i| (i % 4) as f32).collect(),
        tokens: records[0].clone(),
    };
    let generation_prompt = explainer::prompt(&[], &[shown]).completion_text();
    let request = json!({
        "simulations": prompts.iter().map(|p| json!({"prompt": p.text, "offsets": p.unknown_offsets})).collect::<Vec<_>>(),
        "generation": {"prompt": generation_prompt, "max_tokens": 20},
    });
    let tmp = tempfile::tempdir().unwrap();
    let (request_path, out) = (tmp.path().join("request.json"), tmp.path().join("out.json"));
    std::fs::write(&request_path, request.to_string()).unwrap();
    python(
        "local_llm_reference.py",
        &[path_str(path), path_str(&request_path), path_str(&out)],
    );
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();

    let model = LocalModel::load(path).unwrap();
    let mut worst = 0f64;
    let mut tens = 0f64;
    for (prompt, expected) in prompts
        .iter()
        .zip(reference["simulations"].as_array().unwrap())
    {
        let ours = model
            .value_probabilities(&prompt.text, &prompt.unknown_offsets)
            .unwrap();
        let expected = expected.as_array().unwrap();
        assert_eq!(ours.len(), expected.len());
        for (row, want) in ours.iter().zip(expected) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            for (v, (p, q)) in row.iter().zip(want.as_array().unwrap()).enumerate() {
                worst = worst.max((p - q.as_f64().unwrap()).abs());
                if v == 10 {
                    tens += p;
                }
            }
        }
    }
    assert!(worst < 1e-4, "largest probability difference {worst:.2e}");
    assert!(tens > 1e-6, "P(10) comes from the two-token path: {tens:e}");

    let greedy = Generation {
        max_tokens: 20,
        temperature: 0.0,
        top_p: 1.0,
        seed: 0,
        stop: Vec::new(),
    };
    let text = model.generate(&generation_prompt, &greedy).unwrap();
    assert_eq!(text, reference["generation"]["text"].as_str().unwrap());
}
