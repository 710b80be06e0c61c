//! Cutting a tokenised document into windows of at most `window_tokens`
//! tokens, each wrapped in the tokenizer's special tokens so the model sees
//! what it was trained on. A document shorter than a window is one window.
use super::Result;
use super::corpus::Document;
use crate::model::{TextTokenizer, TokenizedText};

#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub document_id: i64,
    /// Position of the window's first text token within the document's tokens.
    pub token_offset: i64,
    pub ids: Vec<i64>,
    pub tokens: Vec<String>,
}

pub struct Windower<'a> {
    tokenizer: &'a TextTokenizer,
    prefix: TokenizedText,
    suffix: TokenizedText,
    content: usize,
}

impl<'a> Windower<'a> {
    pub fn new(tokenizer: &'a TextTokenizer, window_tokens: usize) -> Result<Self> {
        let (prefix, suffix) = tokenizer.specials()?;
        let specials = prefix.ids.len() + suffix.ids.len();
        if window_tokens <= specials {
            return Err(super::ActivationError::Input {
                what: "window".into(),
                problem: format!(
                    "{window_tokens} tokens leave no room for text beside {specials} special tokens"
                ),
            });
        }
        Ok(Self {
            tokenizer,
            prefix,
            suffix,
            content: window_tokens - specials,
        })
    }

    /// Special tokens at the start and at the end of every window.
    pub fn special_counts(&self) -> (usize, usize) {
        (self.prefix.ids.len(), self.suffix.ids.len())
    }

    /// The ids of a window whose tokens are `tokens` (a record's), found by
    /// encoding its text again; `None` where that gives other tokens (a
    /// window cut inside a word can encode differently on its own).
    pub fn ids_of(&self, tokens: &[String]) -> Result<Option<Vec<i64>>> {
        let (before, after) = (self.prefix.tokens.len(), self.suffix.tokens.len());
        if tokens.len() < before + after
            || tokens[..before] != self.prefix.tokens[..]
            || tokens[tokens.len() - after..] != self.suffix.tokens[..]
        {
            return Ok(None);
        }
        let text: String = tokens[before..tokens.len() - after].concat();
        let encoded = self.tokenizer.encode(&text, false)?;
        if encoded.tokens[..] != tokens[before..tokens.len() - after] {
            return Ok(None);
        }
        let ids = (self.prefix.ids.iter())
            .chain(&encoded.ids)
            .chain(&self.suffix.ids)
            .map(|&id| id as i64)
            .collect();
        Ok(Some(ids))
    }

    pub fn split(&self, doc: &Document) -> Result<Vec<Window>> {
        let text = self.tokenizer.encode(&doc.text, false)?;
        let windows = text
            .ids
            .chunks(self.content)
            .zip(text.tokens.chunks(self.content))
            .enumerate()
            .map(|(i, (ids, tokens))| {
                let ids = self
                    .prefix
                    .ids
                    .iter()
                    .chain(ids)
                    .chain(&self.suffix.ids)
                    .map(|&id| id as i64)
                    .collect();
                let tokens = self
                    .prefix
                    .tokens
                    .iter()
                    .chain(tokens)
                    .chain(&self.suffix.tokens)
                    .cloned()
                    .collect();
                Window {
                    document_id: doc.id,
                    token_offset: (i * self.content) as i64,
                    ids,
                    tokens,
                }
            })
            .collect();
        Ok(windows)
    }
}
