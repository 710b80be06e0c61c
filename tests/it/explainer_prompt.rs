//! The exact explainer prompts, against golden files. The golden files were
//! reviewed by hand against the format of Bills et al.; regenerate them with
//! `UPDATE_GOLDEN=1 cargo test --release --test it explainer_prompt` after a deliberate change.
use crate::common;

use featurescope::interp::explainer::{ShownRecord, default_examples, prompt};

fn records() -> Vec<ShownRecord> {
    let rec = |tokens: &[&str], activations: &[f32]| ShownRecord {
        tokens: tokens.iter().map(|t| t.to_string()).collect(),
        activations: activations.to_vec(),
    };
    vec![
        rec(
            &[
                "[CLS]", "If", " I", " could", " read", " your", " mind", ",", " love", "[SEP]",
            ],
            &[0.0, -0.1, 0.05, 0.4, 2.41, 0.2, -0.1, 0.0, 0.0, 0.0],
        ),
        rec(
            &[
                "A",
                " computer",
                " owner",
                " who",
                " can",
                " read",
                " the",
                "\n",
                "\tmanual",
                ".",
            ],
            &[-0.2, 0.0, 0.1, 0.0, 0.3, 2.36, 0.0, 0.0, 0.0, -0.1],
        ),
    ]
}

fn check(name: &str, text: &str) {
    let path = common::root().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, text).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, golden, "prompt differs from {}", path.display());
}

#[test]
fn completion_prompt_matches_its_golden_file() {
    check(
        "explainer-completion.txt",
        &prompt(&default_examples(), &records()).completion_text(),
    );
}

#[test]
fn chat_prompt_matches_its_golden_file() {
    let messages = prompt(&default_examples(), &records()).chat_messages();
    let text: String = messages
        .iter()
        .map(|(role, content)| format!("=== {role}\n{content}\n"))
        .collect();
    check("explainer-chat.txt", &text);
}
