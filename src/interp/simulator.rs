//! The simulator of Bills et al., "all at once": the prompt shows the
//! explanation and the text with every activation written `unknown`; the
//! model's probabilities for "0".."10" where each `unknown` stands give the
//! expected activation of that token. Where no probabilities are available
//! the model writes the values out, parsed strictly. A reply that cannot be
//! read is an error with its reason, never a row of zeros.
use super::explainer::{CUE, FewShotExample, discretize, token_text};
use std::collections::HashMap;

pub const SYSTEM: &str = "We're studying neurons in a neural network. Each neuron looks for some particular thing in a short document. Look at an explanation of what the neuron does, and try to predict how it will fire on each token.\n\nThe activation format is token<tab>activation, activations go from 0 to 10, \"unknown\" indicates an unknown activation. Most activations will be 0.";

const UNKNOWN: &str = "unknown";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimulationError {
    #[error("the reply has no logprobs for the prompt (the endpoint must echo prompt logprobs)")]
    NoLogprobs,
    #[error(
        "token {token} ({text:?}): no token of the reply starts where its `unknown` does (offset {offset})"
    )]
    Unlocated {
        token: usize,
        text: String,
        offset: usize,
    },
    #[error("token {token} ({text:?}): none of the top logprobs is a number from 0 to 10")]
    NoNumber { token: usize, text: String },
    #[error("line {line}: {problem}")]
    Written { line: usize, problem: String },
    #[error("the reply gives {found} values for {expected} tokens")]
    Count { found: usize, expected: usize },
}

/// A simulation prompt and where, in its text, each token's `unknown` starts.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationPrompt {
    pub text: String,
    pub unknown_offsets: Vec<usize>,
}

fn example_section(number: usize, example: &FewShotExample) -> String {
    let mut out = format!(
        "Neuron {number}\nExplanation of neuron {number} behavior: {CUE} {}\nActivations:\n",
        example.explanation
    );
    for (record, values) in example.records.iter().zip(discretize(&example.records)) {
        out.push_str("<start>\n");
        for (t, v) in record.tokens.iter().zip(values) {
            out.push_str(&format!("{}\t{v}\n", token_text(t)));
        }
        out.push_str("<end>\n");
    }
    out.push('\n');
    out
}

/// The prompt that simulates `explanation` on `tokens` (one record).
pub fn prompt(
    examples: &[FewShotExample],
    explanation: &str,
    tokens: &[String],
) -> SimulationPrompt {
    let mut text = format!("{SYSTEM}\n\n");
    for (i, e) in examples.iter().enumerate() {
        text.push_str(&example_section(i + 1, e));
    }
    let n = examples.len() + 1;
    text.push_str(&format!("Neuron {n}\nExplanation of neuron {n} behavior: {CUE} {explanation}\nActivations:\n<start>\n"));
    let mut unknown_offsets = Vec::with_capacity(tokens.len());
    for t in tokens {
        text.push_str(&token_text(t));
        text.push('\t');
        unknown_offsets.push(text.len());
        text.push_str(UNKNOWN);
        text.push('\n');
    }
    text.push_str("<end>\n");
    SimulationPrompt {
        text,
        unknown_offsets,
    }
}

/// Logprobs of an echoed prompt, as `/v1/completions` returns them.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize)]
pub struct EchoLogprobs {
    pub text_offset: Vec<usize>,
    pub top_logprobs: Vec<Option<HashMap<String, f64>>>,
}

/// The expected value over "0".."10" of one position's top logprobs.
pub fn expected_value(top: &HashMap<String, f64>) -> Option<f32> {
    let (mut mass, mut total) = (0.0, 0.0);
    for (token, logprob) in top {
        if let Ok(v) = token.trim().parse::<u8>()
            && v <= 10
        {
            let p = logprob.exp();
            mass += p;
            total += p * v as f64;
        }
    }
    (mass > 0.0).then(|| (total / mass) as f32)
}

/// Expected activations from an echoed prompt's logprobs.
pub fn from_echo(
    prompt: &SimulationPrompt,
    tokens: &[String],
    logprobs: &EchoLogprobs,
) -> Result<Vec<f32>, SimulationError> {
    if logprobs.text_offset.is_empty() {
        return Err(SimulationError::NoLogprobs);
    }
    prompt
        .unknown_offsets
        .iter()
        .zip(tokens)
        .enumerate()
        .map(|(i, (&offset, text))| {
            let position = logprobs
                .text_offset
                .iter()
                .position(|&o| o == offset)
                .ok_or_else(|| SimulationError::Unlocated {
                    token: i,
                    text: text.clone(),
                    offset,
                })?;
            logprobs
                .top_logprobs
                .get(position)
                .and_then(Option::as_ref)
                .and_then(expected_value)
                .ok_or_else(|| SimulationError::NoNumber {
                    token: i,
                    text: text.clone(),
                })
        })
        .collect()
}

/// Values a model wrote out, one `token<TAB>value` line per token of the
/// record, in order (lines outside `<start>`/`<end>` are ignored).
pub fn from_written(reply: &str, tokens: &[String]) -> Result<Vec<f32>, SimulationError> {
    let mut values = Vec::with_capacity(tokens.len());
    for (n, line) in reply.lines().enumerate() {
        let line_no = n + 1;
        let trimmed = line.trim_end_matches('\r');
        if trimmed.is_empty() || trimmed == "<start>" || trimmed == "<end>" {
            continue;
        }
        let Some((token, value)) = trimmed.rsplit_once('\t') else {
            return Err(SimulationError::Written {
                line: line_no,
                problem: format!("no tab in {trimmed:?}"),
            });
        };
        let value: f32 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f32| (0.0..=10.0).contains(v))
            .ok_or_else(|| SimulationError::Written {
                line: line_no,
                problem: format!("{value:?} is not a value from 0 to 10"),
            })?;
        let expected = tokens.get(values.len()).map(|t| token_text(t));
        if expected.as_deref() != Some(token) {
            return Err(SimulationError::Written {
                line: line_no,
                problem: format!(
                    "token {token:?} where {:?} was expected",
                    expected.unwrap_or_default()
                ),
            });
        }
        values.push(value);
    }
    if values.len() != tokens.len() {
        return Err(SimulationError::Count {
            found: values.len(),
            expected: tokens.len(),
        });
    }
    Ok(values)
}

/// One generated token of a chat reply with its alternatives
/// (`choices[0].logprobs.content[i]`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct ChatTokenLogprob {
    pub token: String,
    #[serde(default)]
    pub top_logprobs: Vec<TopLogprob>,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct TopLogprob {
    pub token: String,
    pub logprob: f64,
}

/// Values from a chat reply that wrote them out: checked strictly as by
/// [`from_written`], then, where the reply's tokens come with top logprobs,
/// each value replaced by the expected value at the token that starts it.
pub fn from_chat(
    reply: &str,
    tokens: &[String],
    logprobs: Option<&[ChatTokenLogprob]>,
) -> Result<Vec<f32>, SimulationError> {
    let mut values = from_written(reply, tokens)?;
    let Some(logprobs) = logprobs.filter(|l| !l.is_empty()) else {
        return Ok(values);
    };
    // Where each generated token starts in the reply.
    let mut starts = std::collections::HashMap::new();
    let mut offset = 0;
    for (i, t) in logprobs.iter().enumerate() {
        starts.insert(offset, i);
        offset += t.token.len();
    }
    let mut line_start = 0;
    let mut value_index = 0;
    for line in reply.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        if let Some(tab) = content.rfind('\t')
            && !matches!(content, "<start>" | "<end>")
        {
            let value_start = line_start + tab + 1;
            let position = starts
                .get(&value_start)
                .or_else(|| starts.get(&(value_start - 1)));
            if let Some(&position) = position {
                let top: HashMap<String, f64> = logprobs[position]
                    .top_logprobs
                    .iter()
                    .map(|t| (t.token.clone(), t.logprob))
                    .collect();
                if let Some(v) = expected_value(&top) {
                    values[value_index] = v;
                }
            }
            value_index += 1;
        }
        line_start += line.len();
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Vec<String> {
        vec!["The".into(), " cat".into(), "\n".into()]
    }

    #[test]
    fn each_unknown_is_located_by_its_offset() {
        let p = prompt(&[], "cats", &tokens());
        for (&offset, t) in p.unknown_offsets.iter().zip(["The", " cat", "\\n"]) {
            assert_eq!(&p.text[offset..offset + UNKNOWN.len()], UNKNOWN);
            assert_eq!(&p.text[offset - 1 - t.len()..offset - 1], t);
        }
        assert!(p.text.contains("behavior: the main thing this neuron does is find cats\nActivations:\n<start>\nThe\tunknown\n"));
    }

    #[test]
    fn expected_values_come_from_the_numeric_logprobs() {
        let p = prompt(&[], "cats", &tokens());
        let top = |pairs: &[(&str, f64)]| {
            Some(
                pairs
                    .iter()
                    .map(|(t, p)| (t.to_string(), p.ln()))
                    .collect::<HashMap<_, _>>(),
            )
        };
        let mut offsets: Vec<usize> = vec![0, 5];
        let mut tops = vec![None, None];
        offsets.extend(&p.unknown_offsets);
        tops.push(top(&[("0", 0.5), ("10", 0.5), ("unknown", 0.9)]));
        tops.push(top(&[(" 4", 0.2)]));
        tops.push(top(&[("0", 0.9), ("2", 0.1)]));
        let logprobs = EchoLogprobs {
            text_offset: offsets,
            top_logprobs: tops,
        };
        let values = from_echo(&p, &tokens(), &logprobs).unwrap();
        assert!(
            (values[0] - 5.0).abs() < 1e-5
                && (values[1] - 4.0).abs() < 1e-5
                && (values[2] - 0.2).abs() < 1e-5,
            "{values:?}"
        );
    }

    #[test]
    fn a_position_without_numbers_is_an_error_not_a_zero() {
        let p = prompt(&[], "cats", &tokens());
        let mut top = HashMap::new();
        top.insert("unknown".to_string(), -0.1);
        let logprobs = EchoLogprobs {
            text_offset: p.unknown_offsets.clone(),
            top_logprobs: vec![Some(top); 3],
        };
        assert_eq!(
            from_echo(&p, &tokens(), &logprobs),
            Err(SimulationError::NoNumber {
                token: 0,
                text: "The".into()
            })
        );
        assert_eq!(
            from_echo(&p, &tokens(), &EchoLogprobs::default()),
            Err(SimulationError::NoLogprobs)
        );
    }

    #[test]
    fn chat_logprobs_refine_the_written_values() {
        let t = tokens();
        let reply = "The\t0\n cat\t9\n\\n\t0";
        let piece = |token: &str, tops: &[(&str, f64)]| ChatTokenLogprob {
            token: token.into(),
            top_logprobs: tops
                .iter()
                .map(|(t, p)| TopLogprob {
                    token: t.to_string(),
                    logprob: p.ln(),
                })
                .collect(),
        };
        let logprobs = vec![
            piece("The", &[]),
            piece("\t", &[]),
            piece("0", &[("0", 0.8), ("10", 0.2)]),
            piece("\n cat\t", &[]),
            piece("9", &[("9", 0.5), ("10", 0.5)]),
            piece("\n\\n\t", &[]),
            piece("0", &[("unknown", 0.9)]),
        ];
        let values = from_chat(reply, &t, Some(&logprobs)).unwrap();
        assert!(
            (values[0] - 2.0).abs() < 1e-5 && (values[1] - 9.5).abs() < 1e-5,
            "{values:?}"
        );
        assert_eq!(
            values[2], 0.0,
            "no numeric logprobs: the written value stays"
        );
        assert_eq!(from_chat(reply, &t, None).unwrap(), vec![0.0, 9.0, 0.0]);
        assert!(
            from_chat("The\t0", &t, Some(&logprobs)).is_err(),
            "still strict about the lines"
        );
    }

    #[test]
    fn written_values_are_parsed_strictly() {
        let t = tokens();
        assert_eq!(
            from_written("<start>\nThe\t0\n cat\t7\n\\n\t0\n<end>\n", &t),
            Ok(vec![0.0, 7.0, 0.0])
        );
        assert!(matches!(
            from_written("The\t0\n cat\t11\n\\n\t0", &t),
            Err(SimulationError::Written { line: 2, .. })
        ));
        assert!(matches!(
            from_written("The\t0\n dog\t1\n\\n\t0", &t),
            Err(SimulationError::Written { line: 2, .. })
        ));
        assert_eq!(
            from_written("The\t0\n cat\t1", &t),
            Err(SimulationError::Count {
                found: 2,
                expected: 3
            })
        );
    }
}
