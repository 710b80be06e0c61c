//! Records over a small invented vocabulary: each unit fires on one
//! "trigger" word, so the records look like real ones (sparse, peaked)
//! without a model or a reference dataset. Quick to make; about half the
//! bytes per token of real records (docs/benchmarks.md), so sizes and
//! query times at scale come from [`super::like`] instead.
use super::{RecordModel, UnitDraw};
use crate::dataset::{NewRecord, Sample};
use rand::RngExt;
use rand::rngs::SmallRng;

const SYLLABLES: [&str; 16] = [
    "ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "an", "el", "or", "us", "ve", "di", "gu", "zo",
];

pub struct MadeUpModel {
    vocabulary: Vec<String>,
}

impl MadeUpModel {
    pub fn new() -> Self {
        let mut vocabulary = Vec::new();
        for a in SYLLABLES {
            for b in SYLLABLES {
                vocabulary.push(format!(" {a}{b}"));
                vocabulary.push(format!("{a}{b}"));
            }
        }
        vocabulary.extend([".", ",", " the", " of", "\n", " and"].map(String::from));
        Self { vocabulary }
    }
}

impl Default for MadeUpModel {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordModel for MadeUpModel {
    fn draw_unit(&self, rng: &mut SmallRng) -> UnitDraw {
        UnitDraw {
            trigger: rng.random_range(0..self.vocabulary.len()),
            scale: rng.random_range(1.0f32..10.0),
            reference: 0,
        }
    }

    fn record(
        &self,
        unit: &UnitDraw,
        sample: Sample,
        strength: f32,
        tokens: u32,
        rng: &mut SmallRng,
    ) -> NewRecord {
        let mut words = Vec::with_capacity(tokens as usize);
        let mut activations = Vec::with_capacity(tokens as usize);
        for _ in 0..tokens {
            let word = if rng.random::<f32>() < 0.1 * strength {
                unit.trigger
            } else {
                rng.random_range(0..self.vocabulary.len())
            };
            let a = if word == unit.trigger {
                unit.scale * strength * rng.random_range(0.5f32..1.0)
            } else if rng.random::<f32>() < 0.05 {
                unit.scale * 0.1 * rng.random::<f32>()
            } else {
                0.0
            };
            words.push(self.vocabulary[word].clone());
            activations.push(a);
        }
        NewRecord {
            sample,
            rank: 0,
            document_id: Some(rng.random_range(0..1_000_000)),
            token_offset: Some(rng.random_range(0..4096) * 64),
            tokens: words,
            activations,
        }
    }
}
