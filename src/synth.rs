//! Synthetic datasets of any size, for benchmarks and full-scale tests: each
//! unit fires on one "trigger" word of a small made-up vocabulary, so the
//! records look like real ones (sparse, peaked) without a model.
use crate::dataset::{
    DatasetWriter, Manifest, NewRecord, NewUnit, Result, Sample, SelectionParams, UnitKind,
    UnitStats, WriterOptions, manifest::SubjectModel,
};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct SynthSpec {
    pub units: u64,
    pub records_per_unit: u32,
    pub tokens_per_record: u32,
    pub layers: u32,
    pub seed: u64,
}

const SYLLABLES: [&str; 16] = [
    "ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "an", "el", "or", "us", "ve", "di", "gu", "zo",
];

fn vocabulary() -> Vec<String> {
    let mut words = Vec::new();
    for a in SYLLABLES {
        for b in SYLLABLES {
            words.push(format!(" {a}{b}"));
            words.push(format!("{a}{b}"));
        }
    }
    words.extend([".", ",", " the", " of", "\n", " and"].map(String::from));
    words
}

/// Splits the records of a unit: 40% top, 30% over four quantile bins, the rest random.
fn sample_plan(records: u32) -> Vec<(Sample, u32)> {
    let top = (records * 2).div_ceil(5).max(1);
    let quantile = (records.saturating_sub(top) * 3) / 6;
    let random = records.saturating_sub(top + quantile);
    let mut plan: Vec<(Sample, u32)> = (0..top).map(|r| (Sample::Top, r)).collect();
    plan.extend((0..quantile).map(|i| (Sample::Quantile(i % 4), i / 4)));
    plan.extend((0..random).map(|r| (Sample::Random, r)));
    plan
}

pub fn generate(dest: &Path, spec: &SynthSpec, mut progress: impl FnMut(u64)) -> Result<PathBuf> {
    let vocab = vocabulary();
    let mut rng = SmallRng::seed_from_u64(spec.seed);
    let mut manifest = Manifest::new();
    manifest.subject_model = Some(SubjectModel {
        name: "synthetic".into(),
        architecture: None,
        layers: Some(spec.layers),
        source: None,
    });
    manifest.hook_point = Some("mlp".into());
    manifest.window_tokens = Some(spec.tokens_per_record);
    let plan = sample_plan(spec.records_per_unit);
    let count = |s: fn(&Sample) -> bool| plan.iter().filter(|(k, _)| s(k)).count() as u32;
    manifest.selection = Some(SelectionParams {
        top_k: count(|s| *s == Sample::Top),
        random_k: count(|s| *s == Sample::Random),
        quantile_levels: vec![0.0, 0.5, 0.9, 0.99],
        quantile_k: count(|s| matches!(s, Sample::Quantile(_))).div_ceil(4),
        seed: Some(spec.seed),
    });
    manifest.notes = Some("synthetic data from `featurescope synth`".into());
    let mut writer = DatasetWriter::create(dest, manifest, WriterOptions::default())?;
    let per_layer = spec.units.div_ceil(spec.layers.max(1) as u64).max(1);
    for unit_number in 0..spec.units {
        let trigger = rng.random_range(0..vocab.len());
        let scale = rng.random_range(1.0f32..10.0);
        let mut max = 0.0f32;
        let records = plan
            .iter()
            .map(|&(sample, rank)| {
                let strength = match sample {
                    Sample::Top => 1.0 - rank as f32 * 0.01,
                    Sample::Quantile(bin) => 0.2 * (bin + 1) as f32,
                    Sample::Random => 0.05,
                };
                let mut tokens = Vec::with_capacity(spec.tokens_per_record as usize);
                let mut activations = Vec::with_capacity(spec.tokens_per_record as usize);
                for _ in 0..spec.tokens_per_record {
                    let hit = rng.random::<f32>() < 0.1 * strength;
                    let word = if hit {
                        trigger
                    } else {
                        rng.random_range(0..vocab.len())
                    };
                    let a = if word == trigger {
                        scale * strength * rng.random_range(0.5f32..1.0)
                    } else if rng.random::<f32>() < 0.05 {
                        scale * 0.1 * rng.random::<f32>()
                    } else {
                        0.0
                    };
                    max = max.max(a);
                    tokens.push(vocab[word].clone());
                    activations.push(a);
                }
                NewRecord {
                    sample,
                    rank,
                    document_id: Some(rng.random_range(0..1_000_000)),
                    token_offset: Some(rng.random_range(0..4096) * 64),
                    tokens,
                    activations,
                }
            })
            .collect();
        let stats = UnitStats {
            max: max as f64,
            mean: Some(scale as f64 * 0.01),
            variance: Some(scale as f64 * 0.05),
            density: Some(0.05),
            quantile_boundaries: vec![0.0, 0.0, 0.1 * max as f64, 0.5 * max as f64],
            histogram_edges: (0..=8).map(|i| max as f64 * i as f64 / 8.0).collect(),
            histogram_counts: (0..8).map(|i| 1000 >> i).collect(),
        };
        let unit = NewUnit {
            layer: (unit_number / per_layer) as u32,
            index: (unit_number % per_layer) as u32,
            kind: UnitKind::Neuron,
            stats,
        };
        writer.add_unit(unit, records)?;
        progress(unit_number + 1);
    }
    writer.finish()
}
