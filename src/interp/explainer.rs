//! The explainer's prompt, as in Bills et al.: a system message, few-shot
//! examples, then the unit's records as `token<TAB>value` lines with values
//! `min(10, floor(10 · relu(a) / max))`, the non-zero lines repeated when
//! fewer than 20% are non-zero, and the cue "the main thing this neuron does
//! is find" for the model to complete. Chat and completion forms carry the
//! same text.
use serde::Deserialize;

pub const SYSTEM: &str = "We're studying neurons in a neural network. Each neuron looks for some particular thing in a short document. Look at the parts of the document the neuron activates for and summarize in a single sentence what the neuron is looking for. Don't list examples of words.\n\nThe activation format is token<tab>activation. Activation values range from 0 to 10. A neuron finding what it's looking for is represented by a non-zero activation value. The higher the activation value, the stronger the match.";

pub const CUE: &str = "the main thing this neuron does is find";

/// Fraction of non-zero values below which the non-zero lines are repeated.
const SPARSE: f64 = 0.2;

/// One text as the explainer sees it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ShownRecord {
    pub tokens: Vec<String>,
    pub activations: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FewShotExample {
    pub records: Vec<ShownRecord>,
    pub explanation: String,
}

#[derive(Deserialize)]
struct ExamplesFile {
    examples: Vec<FewShotExample>,
}

/// The few-shot examples shipped in `assets/explainer-examples.json`.
pub fn default_examples() -> Vec<FewShotExample> {
    let file: ExamplesFile =
        serde_json::from_str(include_str!("../../assets/explainer-examples.json"))
            .expect("assets/explainer-examples.json is valid");
    file.examples
}

/// `min(10, floor(10 · relu(a) / max))`, with `max` over all shown records;
/// all zeros when nothing is positive.
pub fn discretize(records: &[ShownRecord]) -> Vec<Vec<u8>> {
    let max = records
        .iter()
        .flat_map(|r| r.activations.iter().copied())
        .fold(0.0f32, f32::max);
    records
        .iter()
        .map(|r| {
            r.activations
                .iter()
                .map(|&a| {
                    if max > 0.0 {
                        (10.0 * a.max(0.0) / max).floor().min(10.0) as u8
                    } else {
                        0
                    }
                })
                .collect()
        })
        .collect()
}

/// A token as one line of the prompt: tabs and newlines written as `\t` and
/// `\n`, so they cannot break the `token<TAB>value` format.
pub fn token_text(token: &str) -> String {
    token
        .replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn block(tokens: &[String], values: &[u8], only_non_zero: bool) -> String {
    let mut out = String::from("<start>\n");
    for (t, &v) in tokens.iter().zip(values) {
        if !only_non_zero || v > 0 {
            out.push_str(&format!("{}\t{v}\n", token_text(t)));
        }
    }
    out.push_str("<end>\n");
    out
}

/// The activations part of one neuron's section.
fn activations_section(number: usize, records: &[ShownRecord]) -> String {
    let values = discretize(records);
    let mut out = format!("Neuron {number}\nActivations:\n");
    for (r, v) in records.iter().zip(&values) {
        out.push_str(&block(&r.tokens, v, false));
    }
    let total: usize = values.iter().map(Vec::len).sum();
    let non_zero: usize = values.iter().flatten().filter(|&&v| v > 0).count();
    if total > 0 && non_zero > 0 && (non_zero as f64) < SPARSE * total as f64 {
        out.push_str("Same activations, but with all zeros filtered out:\n");
        for (r, v) in records.iter().zip(&values) {
            out.push_str(&block(&r.tokens, v, true));
        }
    }
    out.push('\n');
    out
}

fn explanation_line(number: usize) -> String {
    format!("Explanation of neuron {number} behavior: {CUE}")
}

/// A prompt of few-shot turns, for a chat endpoint as messages and for a
/// completion endpoint (or a base model) as one text: the explainer's, and
/// the classifier scorers' (`super::classifier`).
#[derive(Debug, Clone, PartialEq)]
pub struct ChatPrompt {
    pub system: String,
    /// (user, assistant) turns of the few-shot examples.
    pub examples: Vec<(String, String)>,
    pub user: String,
}

/// The explainer prompt for `records`, after `examples`.
pub fn prompt(examples: &[FewShotExample], records: &[ShownRecord]) -> ChatPrompt {
    let turns = examples
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let n = i + 1;
            (
                activations_section(n, &e.records) + &explanation_line(n),
                format!(" {}", e.explanation),
            )
        })
        .collect();
    let n = examples.len() + 1;
    ChatPrompt {
        system: SYSTEM.into(),
        examples: turns,
        user: activations_section(n, records) + &explanation_line(n),
    }
}

impl ChatPrompt {
    /// One text for a completion endpoint; the model continues after the cue.
    pub fn completion_text(&self) -> String {
        let mut out = format!("{}\n\n", self.system);
        for (user, assistant) in &self.examples {
            out.push_str(&format!("{user}{assistant}\n\n"));
        }
        out.push_str(&self.user);
        out
    }

    /// (role, content) messages for a chat endpoint.
    pub fn chat_messages(&self) -> Vec<(&'static str, String)> {
        let mut messages = vec![("system", self.system.clone())];
        for (user, assistant) in &self.examples {
            messages.push(("user", user.clone()));
            messages.push(("assistant", assistant.trim_start().to_owned()));
        }
        messages.push(("user", self.user.clone()));
        messages
    }
}

/// The explanation in a model's reply: its first line, without a trailing
/// period, and without the cue if a chat model repeated it.
pub fn parse_explanation(reply: &str) -> Option<String> {
    let line = reply.trim_start().lines().next()?.trim();
    let line = line.strip_prefix(CUE).unwrap_or(line).trim();
    let line = line.strip_suffix('.').unwrap_or(line).trim();
    (!line.is_empty()).then(|| line.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(tokens: &[&str], activations: &[f32]) -> ShownRecord {
        ShownRecord {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            activations: activations.to_vec(),
        }
    }

    #[test]
    fn activations_are_scaled_to_0_10_by_the_max_over_all_records() {
        let records = [
            rec(&["a", "b", "c"], &[-1.0, 2.0, 4.0]),
            rec(&["d"], &[3.99]),
        ];
        assert_eq!(discretize(&records), vec![vec![0, 5, 10], vec![9]]);
        assert_eq!(discretize(&[rec(&["a"], &[-2.0])]), vec![vec![0]]);
    }

    #[test]
    fn sparse_activations_are_repeated_without_zeros() {
        let tokens: Vec<&str> = vec!["x"; 10];
        let mut acts = vec![0.0; 10];
        acts[3] = 5.0;
        let p = prompt(&[], &[rec(&tokens, &acts)]);
        assert!(
            p.user.contains(
                "Same activations, but with all zeros filtered out:\n<start>\nx\t10\n<end>\n"
            ),
            "{}",
            p.user
        );
        acts[4] = 5.0; // exactly 20%: no repeat
        assert!(
            !prompt(&[], &[rec(&tokens, &acts)])
                .user
                .contains("Same activations")
        );
    }

    #[test]
    fn tokens_cannot_break_the_line_format() {
        assert_eq!(token_text("a\tb\nc\\"), "a\\tb\\nc\\\\");
    }

    #[test]
    fn explanations_are_taken_from_the_first_line() {
        assert_eq!(
            parse_explanation(" words about cats.\nNeuron 5"),
            Some("words about cats".into())
        );
        assert_eq!(
            parse_explanation("the main thing this neuron does is find dates."),
            Some("dates".into())
        );
        assert_eq!(parse_explanation("  \n"), None);
    }

    #[test]
    fn the_shipped_examples_load() {
        let examples = default_examples();
        assert_eq!(examples.len(), 3);
        assert!(
            examples
                .iter()
                .all(|e| !e.records.is_empty() && !e.explanation.is_empty())
        );
    }
}
