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
