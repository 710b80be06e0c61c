//! The model's tokenizer (`tokenizer.json`, via the tokenizers crate), giving
//! ids for the model and, for people, the piece of the original text that each
//! token covers, whitespace included (" cat", "\n"), so a record's tokens join
//! back into its text.
use super::{ModelError, Result};
use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

pub struct TextTokenizer {
    path: PathBuf,
    inner: Tokenizer,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenizedText {
    pub ids: Vec<u32>,
    /// Display text of each token: the span of the input from the end of the
    /// previous token to the end of this one; special tokens show their name.
    pub tokens: Vec<String>,
}

impl TextTokenizer {
    /// The tokenizer of a model: `tokenizer.json` in its folder, or the one
    /// a GGUF file's metadata describes.
    pub fn load(model: &Path) -> Result<Self> {
        if super::is_gguf(model) {
            return Self::from_gguf(&super::gguf::GgufFile::open(model)?);
        }
        let path = model.join("tokenizer.json");
        let inner = Tokenizer::from_file(&path).map_err(|e| ModelError::Tokenizer {
            path: path.clone(),
            problem: e.to_string(),
        })?;
        Self::new(path, inner)
    }

    /// The tokenizer a GGUF file's metadata describes (see [`super::gguf::tokenizer`]).
    pub fn from_gguf(file: &super::gguf::GgufFile) -> Result<Self> {
        let path = file.path().to_owned();
        Self::new(path, super::gguf::tokenizer::tokenizer(file)?)
    }

    fn new(path: PathBuf, mut inner: Tokenizer) -> Result<Self> {
        // Documents are cut into windows by the extractor, not here.
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| ModelError::Tokenizer {
                path: path.clone(),
                problem: e.to_string(),
            })?;
        Ok(Self { path, inner })
    }

    /// A tokenizers error, with the tokenizer's file.
    fn failed(&self, error: impl std::fmt::Display) -> ModelError {
        ModelError::Tokenizer {
            path: self.path.clone(),
            problem: error.to_string(),
        }
    }

    fn encoding(&self, text: &str, add_special_tokens: bool) -> Result<tokenizers::Encoding> {
        self.inner
            .encode(text, add_special_tokens)
            .map_err(|e| self.failed(e))
    }

    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<TokenizedText> {
        let encoding = self.encoding(text, add_special_tokens)?;
        let mut tokens = Vec::with_capacity(encoding.len());
        let mut covered = 0usize;
        let offsets = encoding.get_offsets();
        for (i, ((&(start, end), &special), name)) in offsets
            .iter()
            .zip(encoding.get_special_tokens_mask())
            .zip(encoding.get_tokens())
            .enumerate()
        {
            // SentencePiece's dummy prefix, a `▁` before the text, is given
            // the span of the text's first character, which the next token
            // covers too; it covers no text itself.
            let dummy_prefix = covered == 0
                && start == 0
                && name.chars().all(|c| c == '▁')
                && offsets.get(i + 1).is_some_and(|&(next, _)| next == 0);
            if special == 1 || end <= covered || dummy_prefix {
                // Special tokens cover no text; a token sharing a span with the
                // previous one (e.g. byte pieces of one character) shows its name.
                tokens.push(if special == 1 {
                    name.clone()
                } else {
                    String::new()
                });
                continue;
            }
            let from = covered.min(start);
            tokens.push(text.get(from..end).unwrap_or(name).to_owned());
            covered = end;
        }
        Ok(TokenizedText {
            ids: encoding.get_ids().to_vec(),
            tokens,
        })
    }

    /// The ids of `text` and the byte offset where each token's own text
    /// starts (a special token's is 0), for a prompt whose places are known
    /// by offset.
    pub fn encode_with_starts(
        &self,
        text: &str,
        add_special_tokens: bool,
    ) -> Result<(Vec<u32>, Vec<usize>)> {
        let encoding = self.encoding(text, add_special_tokens)?;
        let starts = encoding.get_offsets().iter().map(|&(s, _)| s).collect();
        Ok((encoding.get_ids().to_vec(), starts))
    }

    /// The text of generated `ids`, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(|e| self.failed(e))
    }

    /// Display text of each of `ids`, as [`Self::encode`] gives it for a
    /// text: what decoding up to the token adds (special tokens by name; a
    /// token that completes no character yet shows nothing, the next one
    /// its character), so the pieces join into the decoded text; for token
    /// ids stored without their text (another tool's cache).
    pub fn display_tokens(&self, ids: &[u32]) -> Result<Vec<String>> {
        let mut stream = self.inner.decode_stream(false);
        (ids.iter())
            .map(|&id| {
                Ok(stream
                    .step(id)
                    .map_err(|e| self.failed(e))?
                    .unwrap_or_default())
            })
            .collect()
    }

    /// How many tokens the vocabulary has, special ones included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The vocabulary's name for token `id` (`<eos>`, `▁the`).
    pub fn token_name(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Ids of the special tokens (`<eos>`, `<|endoftext|>`, `<end_of_turn>`,
    /// …): a model that writes one has finished its text.
    pub fn special_ids(&self) -> Vec<u32> {
        self.inner
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, token)| token.special)
            .map(|(id, _)| id)
            .collect()
    }

    /// The special tokens the tokenizer adds before and after a text (BERT's
    /// [CLS] and [SEP], Llama's <s>), found by encoding a one-word text.
    pub fn specials(&self) -> Result<(TokenizedText, TokenizedText)> {
        let encoding = self.encoding("a", true)?;
        let mask = encoding.get_special_tokens_mask();
        let leading = mask.iter().take_while(|&&m| m == 1).count();
        let trailing = mask
            .iter()
            .rev()
            .take_while(|&&m| m == 1)
            .count()
            .min(mask.len() - leading);
        let part = |range: std::ops::Range<usize>| TokenizedText {
            ids: encoding.get_ids()[range.clone()].to_vec(),
            tokens: encoding.get_tokens()[range].to_vec(),
        };
        Ok((part(0..leading), part(mask.len() - trailing..mask.len())))
    }
}
