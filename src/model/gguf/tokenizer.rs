//! A tokenizer from a GGUF file's metadata. A GGUF carries no
//! `tokenizer.json`: it stores the vocabulary, token types, scores, merges
//! and special ids under llama.cpp's keys. We build from them the same
//! `tokenizers` pipeline that Hugging Face transformers builds from the same
//! file (`transformers/integrations/gguf/gguf_tokenizer_mapping.py`), so both
//! give the same ids, for three kinds of vocabulary:
//! - Gemma 1–3's SentencePiece: a byte-fallback BPE whose merges follow the
//!   vocabulary's file order, spaces written as `▁`, `<bos>` before each text;
//! - other SentencePiece vocabularies (`tokenizer.ggml.model = "llama"`:
//!   Llama 2, Mistral): the same BPE, its merges ordered by the tokens'
//!   scores, `▁` prepended to each text as SentencePiece's dummy prefix
//!   (unless the file's `tokenizer.ggml.add_space_prefix` is false, which
//!   llama.cpp honours and transformers does not: there the two differ);
//! - byte-level BPE (`"gpt2"`: GPT-2, Llama 3, Qwen2): the file's merges,
//!   text split first by the regex `tokenizer.ggml.pre` names.
use super::GgufFile;
use crate::model::{ModelError, Result};
use serde_json::{Value as Json, json};
use std::collections::{HashMap, HashSet};
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::{AddedToken, Tokenizer};

/// llama.cpp's token types.
const CONTROL: u64 = 3;
const USER_DEFINED: u64 = 4;

/// The regexes that split text before a byte-level BPE merges it, by the
/// names llama.cpp writes as `tokenizer.ggml.pre` (transformers'
/// `GGUF_PRE_TOKENIZER_SPLITS`, for the families of the architectures the
/// decoder runs). `gpt2` is GPT-2's own split, built into `ByteLevel`.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const SPLITS: [(&str, &str); 14] = [
    ("llama3", LLAMA3_SPLIT),
    ("llama-v3", LLAMA3_SPLIT),
    ("llama-bpe", LLAMA3_SPLIT),
    ("falcon3", LLAMA3_SPLIT),
    ("falcon-h1", LLAMA3_SPLIT),
    ("pixtral", LLAMA3_SPLIT),
    ("midm-2.0", LLAMA3_SPLIT),
    ("lfm2", LLAMA3_SPLIT),
    ("dbrx", LLAMA3_SPLIT),
    ("smaug-bpe", LLAMA3_SPLIT),
    ("qwen2", QWEN2_SPLIT),
    ("deepseek-r1-qwen", QWEN2_SPLIT),
    ("megrez", QWEN2_SPLIT),
    ("kormo", QWEN2_SPLIT),
];

/// Which pipeline a file's vocabulary needs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Gemma,
    SentencePiece,
    /// The regex that splits text first; `None` for GPT-2's own.
    ByteLevel(Option<&'static str>),
}

impl Kind {
    fn of(file: &GgufFile) -> Result<Self> {
        let model = file.metadata_str("tokenizer.ggml.model")?;
        let architecture = file.metadata_str("general.architecture")?;
        match model {
            "llama" if ["gemma", "gemma2", "gemma3"].contains(&architecture) => Ok(Kind::Gemma),
            // Phi-3 moves the prefix space into a normalizer; not built here.
            "llama" if architecture != "phi3" => Ok(Kind::SentencePiece),
            "gpt2" => {
                let pre = match file.metadata().get("tokenizer.ggml.pre") {
                    None => "gpt2",
                    Some(_) => file.metadata_str("tokenizer.ggml.pre")?,
                };
                if pre == "gpt2" {
                    return Ok(Kind::ByteLevel(None));
                }
                // transformers falls back to GPT-2's split for a name it does
                // not know, which splits some texts otherwise than the model
                // was trained on: refused instead.
                let split = SPLITS.iter().find(|(name, _)| *name == pre);
                split.map(|&(_, s)| Kind::ByteLevel(Some(s))).ok_or_else(|| {
                    file.metadata_error(
                        "tokenizer.ggml.pre",
                        format!(
                            "pre-tokenizer {pre:?}: featurescope knows gpt2, {}",
                            SPLITS.map(|(n, _)| n).join(", ")
                        ),
                    )
                })
            }
            _ => Err(file.metadata_error(
                "tokenizer.ggml.model",
                format!(
                    "tokenizer {model:?} for architecture {architecture:?}: featurescope builds \
                     SentencePiece (\"llama\", not for phi3) and byte-level BPE (\"gpt2\") vocabularies"
                ),
            )),
        }
    }

    fn sentencepiece(self) -> bool {
        matches!(self, Kind::Gemma | Kind::SentencePiece)
    }
}

/// The tokenizer for the file. Its pipeline is read from a
/// `tokenizer.json` (the tokenizers crate's serialisation); its vocabulary
/// and merges go to the BPE model directly (written and parsed as JSON they
/// took 2.6 s for Gemma's 262,144 tokens).
pub fn tokenizer(file: &GgufFile) -> Result<Tokenizer> {
    let bad = |problem: String| ModelError::Gguf {
        path: file.path().to_owned(),
        problem,
    };
    let kind = Kind::of(file)?;
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
    // llama.cpp adds BOS to a SentencePiece vocabulary that does not say
    // otherwise; transformers adds none to a byte-level one.
    let add_bos = flag("tokenizer.ggml.add_bos_token", kind.sentencepiece());
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

    let alphabet = byte_alphabet();
    let in_alphabet = |t: &str| t.chars().all(|c| alphabet.contains(&c));
    let respelled: Vec<String> = match kind {
        // Gemma stores a token of several spaces as spaces; the BPE looks it
        // up as `▁`s (transformers: `" " in t and not t.strip()`).
        Kind::Gemma => {
            let python_space = |c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c);
            (tokens.iter())
                .map(|t| {
                    if t.contains(' ') && t.chars().all(python_space) {
                        "▁".repeat(t.chars().count())
                    } else {
                        (*t).to_owned()
                    }
                })
                .collect()
        }
        Kind::SentencePiece => tokens.iter().map(|t| (*t).to_owned()).collect(),
        // A byte-level vocabulary spells every byte as one character; a token
        // written otherwise is spelled so from its UTF-8 bytes.
        Kind::ByteLevel(_) => (tokens.iter())
            .map(|t| {
                if in_alphabet(t) {
                    (*t).to_owned()
                } else {
                    t.bytes().map(alphabet_char).collect()
                }
            })
            .collect(),
    };
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
        None => {
            let ranking = match kind {
                // Gemma's scores do not follow its merge order; its file order does.
                Kind::Gemma => Ranking::FileOrder,
                Kind::SentencePiece => {
                    let scores = float_array(file, "tokenizer.ggml.scores", tokens.len())?;
                    // As a dict of token to score: a repeated token's last
                    // score; -0.0 as 0.0, as Python compares them.
                    let mut by_token = HashMap::with_capacity(scores.len());
                    for (t, s) in respelled.iter().zip(scores) {
                        by_token.insert(t.as_str(), s + 0.0);
                    }
                    Ranking::Scores(by_token)
                }
                // llama.cpp always writes a byte-level vocabulary's merges.
                Kind::ByteLevel(_) => {
                    return Err(file.metadata_error(
                        "tokenizer.ggml.merges",
                        "missing, and a byte-level vocabulary's merges cannot be recovered",
                    ));
                }
            };
            generated_merges(&order, &ids, &ranking)
        }
    };

    let vocab: Vocab = (order.iter())
        .map(|t| ((*t).to_owned(), ids[t] as u32))
        .collect();
    // Added tokens keep their vocabulary ids (the tokenizers crate looks
    // them up by content): control tokens, the named specials and the
    // tokenizer class's defaults as special; user-defined tokens whole but
    // not special. In a byte-level vocabulary a control token spelled outside
    // the byte alphabet is llama.cpp's mislabel, left out as transformers does.
    let mut special: Vec<&str> = (tokens.iter().zip(&types))
        .filter(|&(t, &kind_of)| kind_of == CONTROL && (kind.sentencepiece() || in_alphabet(t)))
        .map(|(t, _)| *t)
        .collect();
    special.extend(named.iter().map(|&id| tokens[id]));
    special.extend(match kind {
        Kind::Gemma => &["<unk>", "<bos>", "<eos>", "<pad>", "<mask>"][..],
        // LlamaTokenizer's own defaults, added when it is built.
        Kind::SentencePiece => &["<unk>", "<s>", "</s>"],
        // transformers also adds GPT-2's `<|endoftext|>` to a vocabulary
        // that lacks it, as a token past the model's last row: not here.
        Kind::ByteLevel(_) => &["<|endoftext|>"],
    });
    let user_defined = (tokens.iter().zip(&types))
        .filter(|&(_, &kind_of)| kind_of == USER_DEFINED)
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
    let special_token = |id: Option<usize>, wanted: bool| {
        wanted
            .then_some(id)
            .flatten()
            .map(|id| (tokens[id], ids.get(tokens[id])))
    };
    let post_processor = post_processor(special_token(bos, add_bos), special_token(eos, add_eos))
        .map_err(|token| {
        bad(format!(
            "special token {token:?} is not in the vocabulary as spelled"
        ))
    })?;
    let mut pipeline = pipeline(kind, file);
    pipeline["post_processor"] = post_processor;
    let failed = |e: tokenizers::Error| bad(format!("the tokenizer built from its metadata: {e}"));
    let mut tokenizer: Tokenizer = serde_json::from_value(pipeline)
        .map_err(|e| bad(format!("the tokenizer built from its metadata: {e}")))?;
    let merges = (merges.into_iter())
        .map(|(l, r)| (l.to_owned(), r.to_owned()))
        .collect();
    let mut bpe = BPE::builder().vocab_and_merges(vocab, merges);
    if kind.sentencepiece() {
        bpe = bpe.fuse_unk(true).byte_fallback(true);
    }
    // GemmaTokenizer names its unknown token to the BPE; LlamaTokenizer does not.
    if let (Kind::Gemma, Some(unk)) = (kind, unk) {
        bpe = bpe.unk_token(tokens[unk].to_owned());
    }
    tokenizer.with_model(bpe.build().map_err(failed)?);
    // Added after the model, as the tokenizers crate adds a tokenizer.json's,
    // so that each keeps its vocabulary id (they are looked up by content).
    tokenizer.add_tokens(added_tokens).map_err(failed)?;
    Ok(tokenizer)
}

/// The normalizer, pre-tokenizer and decoder each kind gets in transformers
/// (GemmaTokenizer, LlamaTokenizer, GPT2Tokenizer with the file's split).
fn pipeline(kind: Kind, file: &GgufFile) -> Json {
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let sentencepiece_decoders = vec![
        json!({"type": "Replace", "pattern": {"String": "▁"}, "content": " "}),
        json!({"type": "ByteFallback"}),
        json!({"type": "Fuse"}),
    ];
    let (normalizer, pre_tokenizer, decoder) = match kind {
        Kind::Gemma => (
            json!({"type": "Replace", "pattern": {"String": " "}, "content": "▁"}),
            json!({"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": false}),
            json!({"type": "Sequence", "decoders": sentencepiece_decoders}),
        ),
        Kind::SentencePiece => {
            // SentencePiece's dummy prefix, on unless the file turns it off
            // (transformers prepends it whatever the file says; llama.cpp
            // follows the file, and so do we).
            let prefix = !matches!(
                file.metadata().get("tokenizer.ggml.add_space_prefix"),
                Some(super::Value::Bool(false))
            );
            let mut decoders = sentencepiece_decoders;
            if prefix {
                decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
            }
            (
                Json::Null,
                json!({"type": "Metaspace", "replacement": "▁",
                       "prepend_scheme": if prefix { "first" } else { "never" }, "split": false}),
                json!({"type": "Sequence", "decoders": decoders}),
            )
        }
        Kind::ByteLevel(split) => (
            Json::Null,
            match split {
                None => byte_level(true),
                Some(regex) => json!({"type": "Sequence", "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false},
                    byte_level(false)
                ]}),
            },
            json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}),
        ),
    };
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": decoder,
        "model": {"type": "BPE", "vocab": {}, "merges": []}
    })
}

/// GPT-2's spelling of a byte as one printable character
/// (`bytes_to_unicode`): printable Latin-1 bytes stand for themselves, the
/// others for the characters from U+0100 on, in byte order.
fn alphabet_char(byte: u8) -> char {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(byte) {
        return char::from(byte);
    }
    let before = (0..byte).filter(|&b| !printable(b)).count() as u32;
    char::from_u32(256 + before).expect("below U+0200")
}

fn byte_alphabet() -> HashSet<char> {
    (0..=255u8).map(alphabet_char).collect()
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

/// How [`generated_merges`] ranks the merges of a vocabulary without any.
enum Ranking<'a> {
    /// Earlier tokens first: Gemma's file order, which is its merge order
    /// (its scores are not).
    FileOrder,
    /// Higher scores first: a SentencePiece model's scores.
    Scores(HashMap<&'a str, f64>),
}

/// The merges a vocabulary implies when its file lists none, as
/// transformers' `generate_merges` finds them: every split of a token into
/// two tokens of the vocabulary, ranked by the token's score, then the
/// longer left piece, then the longer right one;
/// anything else equal keeps the order of the tokens and, within one, of
/// the pieces' ids (Python's sort is stable).
fn generated_merges<'a>(
    order: &[&'a str],
    ids: &HashMap<&str, usize>,
    ranking: &Ranking,
) -> Vec<(&'a str, &'a str)> {
    let mut merges: Vec<(f64, usize, usize, &'a str, &'a str)> = Vec::new();
    for &token in order {
        let score = match ranking {
            Ranking::FileOrder => -(ids[token] as f64),
            Ranking::Scores(scores) => scores[token],
        };
        let cuts = token.char_indices().skip(1).map(|(at, _)| at);
        let mut local: Vec<_> = cuts
            .map(|at| token.split_at(at))
            .filter(|(left, right)| ids.contains_key(left) && ids.contains_key(right))
            .collect();
        local.sort_by_key(|(left, right)| (ids[left], ids[right]));
        merges.extend(
            (local.into_iter()).map(|(l, r)| (score, l.chars().count(), r.chars().count(), l, r)),
        );
    }
    // Descending, stable: Python's sort with reverse=True.
    merges.sort_by(|a, b| b.0.total_cmp(&a.0).then((b.1, b.2).cmp(&(a.1, a.2))));
    merges.into_iter().map(|(_, _, _, l, r)| (l, r)).collect()
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

fn float_array(file: &GgufFile, key: &str, len: usize) -> Result<Vec<f64>> {
    let bad = |problem: String| file.metadata_error(key, problem);
    let values =
        (file.metadata_value(key)?.as_array()).ok_or_else(|| bad("not an array".into()))?;
    if values.len() != len {
        return Err(bad(format!("{} values for {len} tokens", values.len())));
    }
    (values.iter())
        .map(|v| {
            v.as_f64()
                .ok_or_else(|| bad(format!("{v:?} is not a score")))
        })
        .collect()
}
