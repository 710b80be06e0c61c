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
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::{AddedToken, Tokenizer};

/// llama.cpp's token types.
const CONTROL: u64 = 3;
const USER_DEFINED: u64 = 4;

/// The tokenizer for the file. Its pipeline is read from a
/// `tokenizer.json` (the tokenizers crate's serialisation); its vocabulary
/// and merges go to the BPE model directly (written and parsed as JSON they
/// took 2.6 s for Gemma's 262,144 tokens).
pub fn tokenizer(file: &GgufFile) -> Result<Tokenizer> {
    let bad = |problem: String| ModelError::Gguf {
        path: file.path().to_owned(),
        problem,
    };
    let model = file.metadata_str("tokenizer.ggml.model")?;
    let architecture = file.metadata_str("general.architecture")?;
    // The files transformers builds this way; others get other pipelines.
    if model != "llama" || !["gemma", "gemma2", "gemma3"].contains(&architecture) {
        return Err(bad(format!(
            "tokenizer.ggml.model {model:?} for architecture {architecture:?}: featurescope \
             builds tokenizers for Gemma 1-3's SentencePiece vocabularies so far"
        )));
    }
    let tokens = string_array(file, "tokenizer.ggml.tokens")?;
    let types = integer_array(file, "tokenizer.ggml.token_type", tokens.len())?;
    let special_id = |key: &str| -> Result<Option<usize>> {
        match file.metadata().get(key) {
            None => Ok(None),
            Some(_) => {
                let id = file.metadata_u64(key)? as usize;
                if id < tokens.len() {
                    Ok(Some(id))
                } else {
                    Err(file.metadata_error(key, format!("token {id} is not in the vocabulary")))
                }
            }
        }
    };
    let flag = |key: &str, default: bool| match file.metadata().get(key) {
        None => default,
        Some(super::Value::Bool(b)) => *b,
        // As Python's truth of the value.
        Some(other) => other.as_f64().is_some_and(|v| v != 0.0),
    };
    // llama.cpp adds BOS to a SentencePiece vocabulary that does not say otherwise.
    let add_bos = flag("tokenizer.ggml.add_bos_token", true);
    let add_eos = flag("tokenizer.ggml.add_eos_token", false);
    let bos = special_id("tokenizer.ggml.bos_token_id")?;
    let eos = special_id("tokenizer.ggml.eos_token_id")?;
    let unk = special_id("tokenizer.ggml.unknown_token_id")?;
    let named: Vec<usize> = [
        bos,
        eos,
        unk,
        special_id("tokenizer.ggml.padding_token_id")?,
    ]
    .into_iter()
    .flatten()
    .collect();

    // Gemma stores a token of several spaces as spaces; the BPE looks it up
    // as `▁`s (transformers: `" " in t and not t.strip()`).
    let python_space = |c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c);
    let respelled: Vec<String> = tokens
        .iter()
        .map(|t| {
            if t.contains(' ') && t.chars().all(python_space) {
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
    let merges = match file.metadata().get("tokenizer.ggml.merges") {
        Some(_) => string_array(file, "tokenizer.ggml.merges")?
            .into_iter()
            .map(|m| {
                m.split_once(' ').ok_or_else(|| {
                    file.metadata_error("tokenizer.ggml.merges", format!("{m:?} is not a pair"))
                })
            })
            .collect::<Result<Vec<_>>>()?,
        None => merges_in_file_order(&order, &ids),
    };

    let vocab: Vocab = (order.iter())
        .map(|t| ((*t).to_owned(), ids[t] as u32))
        .collect();
    // Added tokens keep their vocabulary ids (the tokenizers crate looks
    // them up by content): control tokens, the named specials and Gemma's
    // defaults as special; user-defined tokens whole but not special.
    let mut special: Vec<&str> = tokens
        .iter()
        .zip(&types)
        .filter(|&(_, &kind)| kind == CONTROL)
        .map(|(t, _)| *t)
        .collect();
    special.extend(named.iter().map(|&id| tokens[id]));
    special.extend(["<unk>", "<bos>", "<eos>", "<pad>", "<mask>"]);
    let user_defined = tokens
        .iter()
        .zip(&types)
        .filter(|&(_, &kind)| kind == USER_DEFINED)
        .map(|(t, _)| *t);
    let mut added: Vec<(usize, &str, bool)> = special
        .into_iter()
        .map(|t| (t, true))
        .chain(user_defined.map(|t| (t, false)))
        .filter_map(|(t, is_special)| ids.get(t).map(|&id| (id, t, is_special)))
        .collect();
    // One entry per token, a special one where it is both.
    added.sort_by_key(|&(id, _, is_special)| (id, !is_special));
    added.dedup_by_key(|&mut (id, _, _)| id);
    let added_tokens = (added.iter()).map(|&(_, content, special)| {
        AddedToken::from(content.to_owned(), special).normalized(false)
    });
    let post_processor = post_processor(
        add_bos
            .then_some(bos)
            .flatten()
            .map(|id| (tokens[id], ids.get(tokens[id]))),
        add_eos
            .then_some(eos)
            .flatten()
            .map(|id| (tokens[id], ids.get(tokens[id]))),
    )
    .map_err(|token| {
        bad(format!(
            "special token {token:?} is not in the vocabulary as spelled"
        ))
    })?;
    let pipeline = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
        "pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": false},
        "post_processor": post_processor,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"}
        ]},
        "model": {"type": "BPE", "vocab": {}, "merges": []}
    });
    let failed = |e: tokenizers::Error| bad(format!("the tokenizer built from its metadata: {e}"));
    let mut tokenizer: Tokenizer = serde_json::from_value(pipeline)
        .map_err(|e| bad(format!("the tokenizer built from its metadata: {e}")))?;
    let merges = (merges.into_iter())
        .map(|(l, r)| (l.to_owned(), r.to_owned()))
        .collect();
    let mut bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .fuse_unk(true)
        .byte_fallback(true);
    if let Some(unk) = unk {
        bpe = bpe.unk_token(tokens[unk].to_owned());
    }
    tokenizer.with_model(bpe.build().map_err(failed)?);
    // Added after the model, as the tokenizers crate adds a tokenizer.json's,
    // so that each keeps its vocabulary id (they are looked up by content).
    tokenizer.add_tokens(added_tokens).map_err(failed)?;
    Ok(tokenizer)
}

/// BOS before and EOS after each text, as the file asks; the error is a
/// special token missing from the vocabulary.
fn post_processor<'a>(
    bos: Option<(&'a str, Option<&usize>)>,
    eos: Option<(&'a str, Option<&usize>)>,
) -> std::result::Result<Json, &'a str> {
    let mut specials = serde_json::Map::new();
    let mut piece = |token: Option<(&'a str, Option<&usize>)>, type_id: u32| {
        token
            .map(|(t, id)| {
                let id = id.ok_or(t)?;
                specials.insert(t.into(), json!({"id": t, "ids": [id], "tokens": [t]}));
                Ok::<_, &'a str>(json!({"SpecialToken": {"id": t, "type_id": type_id}}))
            })
            .transpose()
    };
    let (bos0, eos0, bos1, eos1) = (
        piece(bos, 0)?,
        piece(eos, 0)?,
        piece(bos, 1)?,
        piece(eos, 1)?,
    );
    if bos0.is_none() && eos0.is_none() {
        return Ok(Json::Null);
    }
    let sequence = |id: &str, type_id: u32| json!({"Sequence": {"id": id, "type_id": type_id}});
    let single: Vec<Json> = [bos0.clone(), Some(sequence("A", 0)), eos0.clone()]
        .into_iter()
        .flatten()
        .collect();
    let pair: Vec<Json> = [
        bos0,
        Some(sequence("A", 0)),
        eos0,
        bos1,
        Some(sequence("B", 1)),
        eos1,
    ]
    .into_iter()
    .flatten()
    .collect();
    Ok(
        json!({"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials}),
    )
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
    let bad = |problem: &str| file.metadata_error(key, problem);
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
    let bad = |problem: String| file.metadata_error(key, problem);
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
