//! Synthetic datasets of any size, for benchmarks and full-scale tests.
//! Start from [`SynthSpec`] and [`generate`]. Records come from one of two
//! models: [`made_up`] (a small invented vocabulary, each unit firing on one
//! trigger word: quick, for tests) or [`like`] (records shaped like a real
//! dataset's: its tokens and their frequencies, its record lengths, and its
//! units' activation distributions, so that sizes and query times at scale
//! are those real data would give).
//!
//! ```no_run
//! use featurescope::dataset::UnitKind;
//! use featurescope::synth::{Profile, SynthSpec, generate};
//! # fn main() -> featurescope::dataset::Result<()> {
//! let like = Profile::read("datasets/demo".as_ref(), UnitKind::Neuron)?;
//! let spec = SynthSpec { like: Some(like), ..SynthSpec::default() };
//! generate("bench-data/synthetic".as_ref(), &spec, |_| {})?;
//! # Ok(()) }
//! ```
pub mod hostile;
pub mod like;
pub mod made_up;

pub use like::Profile;

use crate::dataset::{
    DatasetWriter, Manifest, NewRecord, NewUnit, Result, Sample, SelectionParams, UnitKind,
    UnitStats, WriterOptions, manifest::SubjectModel,
};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct SynthSpec {
    pub units: u64,
    pub records_per_unit: u32,
    pub tokens_per_record: u32,
    pub layers: u32,
    pub seed: u64,
    pub kind: UnitKind,
    /// Records shaped like this reference's; `None` for the made-up vocabulary.
    pub like: Option<Profile>,
}

impl Default for SynthSpec {
    fn default() -> Self {
        Self {
            units: 1000,
            records_per_unit: 50,
            tokens_per_record: 64,
            layers: 48,
            seed: 0,
            kind: UnitKind::Neuron,
            like: None,
        }
    }
}

/// What a record model decides once per unit.
#[derive(Debug, Clone, Copy)]
pub struct UnitDraw {
    /// The token the unit fires on, an index into the model's vocabulary.
    pub trigger: usize,
    /// Multiplies the unit's activations.
    pub scale: f32,
    /// The reference unit whose distributions it copies (0 for made-up units).
    pub reference: usize,
}

/// Writes the records of synthetic units.
pub trait RecordModel {
    fn draw_unit(&self, rng: &mut SmallRng) -> UnitDraw;
    /// One record of `unit`: `strength` is 1 for the strongest top record and
    /// falls for weaker samples (the made-up model's only notion of rank).
    fn record(
        &self,
        unit: &UnitDraw,
        sample: Sample,
        strength: f32,
        tokens: u32,
        rng: &mut SmallRng,
    ) -> NewRecord;
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

fn strength(sample: Sample, rank: u32) -> f32 {
    match sample {
        Sample::Top => 1.0 - rank as f32 * 0.01,
        Sample::Quantile(bin) => 0.2 * (bin + 1) as f32,
        Sample::Random => 0.05,
    }
}

const QUANTILE_LEVELS: [f64; 4] = [0.0, 0.5, 0.9, 0.99];
const HISTOGRAM_BINS: usize = 8;

/// The unit's statistics over the tokens of its records (a stand-in for
/// the whole corpus, which a synthetic unit does not have).
fn stats_of(records: &[NewRecord]) -> UnitStats {
    let mut values: Vec<f32> = records
        .iter()
        .flat_map(|r| r.activations.iter().copied())
        .collect();
    values.sort_unstable_by(f32::total_cmp);
    let n = values.len().max(1) as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let variance = values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let at = |level: f64| {
        let i = ((values.len().saturating_sub(1)) as f64 * level).round() as usize;
        values.get(i).copied().unwrap_or(0.0) as f64
    };
    let (low, high) = (at(0.0), at(1.0));
    let width = (high - low) / HISTOGRAM_BINS as f64;
    let mut counts = vec![0u64; HISTOGRAM_BINS];
    for &v in &values {
        let bin = if width > 0.0 {
            ((v as f64 - low) / width) as usize
        } else {
            0
        };
        counts[bin.min(HISTOGRAM_BINS - 1)] += 1;
    }
    UnitStats {
        max: high,
        mean: Some(mean),
        variance: Some(variance),
        density: Some(values.iter().filter(|&&v| v > 0.0).count() as f64 / n),
        quantile_boundaries: QUANTILE_LEVELS.iter().map(|&l| at(l)).collect(),
        histogram_edges: (0..=HISTOGRAM_BINS)
            .map(|i| low + width * i as f64)
            .collect(),
        histogram_counts: counts,
    }
}

fn manifest(spec: &SynthSpec, plan: &[(Sample, u32)]) -> Manifest {
    let mut manifest = Manifest::new();
    let name = match &spec.like {
        Some(profile) => format!("synthetic, like {}", profile.source()),
        None => "synthetic".into(),
    };
    manifest.subject_model = Some(SubjectModel {
        name,
        architecture: None,
        layers: Some(spec.layers),
        source: None,
    });
    manifest.hook_point = Some("mlp".into());
    manifest.window_tokens = Some(spec.tokens_per_record);
    let count = |s: fn(&Sample) -> bool| plan.iter().filter(|(k, _)| s(k)).count() as u32;
    manifest.selection = Some(SelectionParams {
        top_k: count(|s| *s == Sample::Top),
        random_k: count(|s| *s == Sample::Random),
        quantile_levels: QUANTILE_LEVELS.to_vec(),
        quantile_k: count(|s| matches!(s, Sample::Quantile(_))).div_ceil(4),
        seed: Some(spec.seed),
    });
    manifest.notes = Some("synthetic data from `featurescope synth`".into());
    manifest
}

/// Writes the dataset `spec` describes to `dest` (published atomically),
/// calling `progress` with the number of units written so far.
pub fn generate(dest: &Path, spec: &SynthSpec, mut progress: impl FnMut(u64)) -> Result<PathBuf> {
    let mut rng = SmallRng::seed_from_u64(spec.seed);
    let model: Box<dyn RecordModel> = match &spec.like {
        Some(profile) => Box::new(like::LikeModel::new(
            profile,
            spec.tokens_per_record,
            &mut rng,
        )),
        None => Box::new(made_up::MadeUpModel::new()),
    };
    let plan = sample_plan(spec.records_per_unit);
    let mut writer = DatasetWriter::create(dest, manifest(spec, &plan), WriterOptions::default())?;
    let per_layer = spec.units.div_ceil(spec.layers.max(1) as u64).max(1);
    for unit_number in 0..spec.units {
        let unit = model.draw_unit(&mut rng);
        let mut records: Vec<NewRecord> = plan
            .iter()
            .map(|&(sample, rank)| {
                let mut record = model.record(
                    &unit,
                    sample,
                    strength(sample, rank),
                    spec.tokens_per_record,
                    &mut rng,
                );
                record.rank = rank;
                record
            })
            .collect();
        rank_top_records(&mut records);
        let unit = NewUnit {
            layer: (unit_number / per_layer) as u32,
            index: (unit_number % per_layer) as u32,
            kind: spec.kind,
            stats: stats_of(&records),
        };
        writer.add_unit(unit, records)?;
        progress(unit_number + 1);
    }
    writer.finish()
}

/// Top records go strongest first, as extraction writes them.
fn rank_top_records(records: &mut [NewRecord]) {
    let top = records
        .iter()
        .take_while(|r| r.sample == Sample::Top)
        .count();
    records[..top].sort_by(|a, b| max_of(b).total_cmp(&max_of(a)));
    for (rank, record) in records[..top].iter_mut().enumerate() {
        record.rank = rank as u32;
    }
}

fn max_of(record: &NewRecord) -> f32 {
    record
        .activations
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(activations: Vec<f32>) -> NewRecord {
        NewRecord {
            sample: Sample::Top,
            rank: 0,
            document_id: None,
            token_offset: None,
            tokens: vec!["x".into(); activations.len()],
            activations,
        }
    }

    #[test]
    fn stats_are_those_of_the_records_values() {
        let records = [record(vec![0.0, 1.0, 2.0]), record(vec![3.0, -4.0])];
        let stats = stats_of(&records);
        assert_eq!(stats.max, 3.0);
        assert!((stats.mean.unwrap() - 0.4).abs() < 1e-9);
        assert!((stats.variance.unwrap() - 5.84).abs() < 1e-9);
        assert_eq!(stats.density, Some(0.6));
        assert_eq!(stats.quantile_boundaries, vec![-4.0, 1.0, 3.0, 3.0]);
        assert_eq!(stats.histogram_counts.iter().sum::<u64>(), 5);
        assert_eq!(stats.histogram_counts[0], 1);
        assert_eq!(stats.histogram_counts[HISTOGRAM_BINS - 1], 1);
    }

    #[test]
    fn top_records_are_ranked_by_their_maximum() {
        let mut records = vec![
            record(vec![1.0]),
            record(vec![5.0]),
            record(vec![3.0]),
            NewRecord {
                sample: Sample::Random,
                ..record(vec![9.0])
            },
        ];
        rank_top_records(&mut records);
        let maxima: Vec<f32> = records.iter().map(max_of).collect();
        assert_eq!(maxima, vec![5.0, 3.0, 1.0, 9.0]);
        assert_eq!(records[2].rank, 2);
    }
}
