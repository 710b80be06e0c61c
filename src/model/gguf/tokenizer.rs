//! A tokenizer from a GGUF file's metadata. A GGUF carries no
//! `tokenizer.json`: it stores the vocabulary, token types and special ids
//! under llama.cpp's keys. We build from them the same `tokenizers` pipeline
//! that Hugging Face transformers builds from the same file
//! (`transformers/integrations/gguf/gguf_tokenizer_mapping.py`), so both give
//! the same ids: for Gemma's SentencePiece vocabulary, a byte-fallback BPE
//! whose merges are recovered from the vocabulary in file order, spaces
//! written as `▁`, and `<bos>` before each text.
use super::GgufFile;
use crate::model::{ModelError, Result};
use serde_json::{Value as Json, json};
use std::collections::HashMap;

/// llama.cpp's token types.
const CONTROL: u64 = 3;
const USER_DEFINED: u64 = 4;

/// The `tokenizer.json` (the tokenizers crate's serialisation) for the file.
pub fn tokenizer_json(file: &GgufFile) -> Result<String> {
    let model = file.metadata_str("tokenizer.ggml.model")?;
    let architecture = file.metadata_str("general.architecture")?;
    if model != "llama" || !architecture.starts_with("gemma") || architecture == "gemma4" {
        return Err(ModelError::Gguf {
            path: file.path().to_owned(),
            problem: format!(
                "tokenizer.ggml.model {model:?} for architecture {architecture:?}: featurescope \
                 builds tokenizers for Gemma 1-3's SentencePiece vocabularies so far"
            ),
        });
    }
    let tokens = string_array(file, "tokenizer.ggml.tokens")?;
    let types = integer_array(file, "tokenizer.ggml.token_type", tokens.len())?;
    let token = |key: &str| -> Result<&str> {
        let id = file.metadata_u64(key)? as usize;
        tokens.get(id).copied().ok_or_else(|| ModelError::Gguf {
            path: file.path().to_owned(),
            problem: format!("metadata `{key}`: token {id} is not in the vocabulary"),
        })
    };
    let (bos, unk) = (
        token("tokenizer.ggml.bos_token_id")?,
        token("tokenizer.ggml.unknown_token_id")?,
    );
    let add_bos = match file.metadata().get("tokenizer.ggml.add_bos_token") {
        Some(super::Value::Bool(b)) => *b,
        // llama.cpp adds BOS to a SentencePiece vocabulary that does not say otherwise.
        _ => true,
    };

    // Gemma stores a token of several spaces as spaces; the BPE looks it up as `▁`s.
    let respelled: Vec<String> = tokens
        .iter()
        .map(|t| {
            if t.contains(' ') && t.trim().is_empty() {
                "▁".repeat(t.chars().count())
            } else {
                (*t).to_owned()
            }
        })
        .collect();
    // As a Python dict built in file order: a repeated token keeps its first
    // place in the order and takes its last id.
    let mut ids: HashMap<&str, usize> = HashMap::with_capacity(respelled.len());
    let mut order: Vec<&str> = Vec::with_capacity(respelled.len());
    for (id, t) in respelled.iter().enumerate() {
        if ids.insert(t.as_str(), id).is_none() {
            order.push(t.as_str());
        }
    }
    let merges = merges_in_file_order(&order, &ids);

    let vocab: serde_json::Map<String, Json> = order
        .iter()
        .map(|t| ((*t).to_owned(), json!(ids[t])))
        .collect();
    let mut added: Vec<(usize, &str, bool)> = Vec::new();
    for (id, (t, &kind)) in tokens.iter().zip(&types).enumerate() {
        match kind {
            CONTROL => added.push((ids.get(t).copied().unwrap_or(id), t, true)),
            // Added whole, not special; only those the vocabulary spells as they are.
            USER_DEFINED if ids.contains_key(t) => added.push((ids[t], t, false)),
            _ => {}
        }
    }
    added.sort_by_key(|&(id, _, _)| id);
    added.dedup_by_key(|&mut (id, _, _)| id);
    let added_tokens: Vec<Json> = added
        .iter()
        .map(|&(id, content, special)| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": special})
        })
        .collect();
    let post_processor = if add_bos {
        json!({
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [ids[bos]], "tokens": [bos]}}
        })
    } else {
        Json::Null
    };
    let merges: Vec<Json> = merges.into_iter().map(|(l, r)| json!([l, r])).collect();
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added_tokens,
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
        "pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": false},
        "post_processor": post_processor,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"}
        ]},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": unk, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
            "vocab": vocab, "merges": merges
        }
    })
    .to_string())
}

/// The merges a vocabulary implies when its file lists none: every split of
/// a token into two tokens of the vocabulary, earlier tokens first and, within
/// a token, the longer left piece first (transformers' `generate_merges`
/// with each token scored by its place in the file, which for Gemma is the
/// merge order; its scores are not).
fn merges_in_file_order<'a>(
    order: &[&'a str],
    ids: &HashMap<&str, usize>,
) -> Vec<(&'a str, &'a str)> {
    let mut merges: Vec<(usize, usize, &'a str, &'a str)> = Vec::new();
    for &token in order {
        let cuts = token.char_indices().skip(1).map(|(at, _)| at);
        for at in cuts {
            let (left, right) = token.split_at(at);
            if ids.contains_key(left) && ids.contains_key(right) {
                merges.push((ids[token], left.chars().count(), left, right));
            }
        }
    }
    // By the merged token's place, then the longer left piece; stable, as
    // Python's sort is, for anything else equal.
    merges.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    merges.into_iter().map(|(_, _, l, r)| (l, r)).collect()
}

fn string_array<'a>(file: &'a GgufFile, key: &str) -> Result<Vec<&'a str>> {
    let bad = |problem: &str| ModelError::Gguf {
        path: file.path().to_owned(),
        problem: format!("metadata `{key}`: {problem}"),
    };
    file.metadata_value(key)?
        .as_array()
        .ok_or_else(|| bad("not an array"))?
        .iter()
        .map(|v| {
            v.as_str()
                .ok_or_else(|| bad("holds a value that is not a string"))
        })
        .collect()
}

fn integer_array(file: &GgufFile, key: &str, len: usize) -> Result<Vec<u64>> {
    let bad = |problem: String| ModelError::Gguf {
        path: file.path().to_owned(),
        problem: format!("metadata `{key}`: {problem}"),
    };
    let values = file
        .metadata_value(key)?
        .as_array()
        .ok_or_else(|| bad("not an array".into()))?;
    if values.len() != len {
        return Err(bad(format!("{} values for {len} tokens", values.len())));
    }
    values
        .iter()
        .map(|v| {
            v.as_u64()
                .ok_or_else(|| bad(format!("{v:?} is not a token type")))
        })
        .collect()
}
