//! Records shaped like a real dataset's. A [`Profile`] reads, from up to
//! [`PROFILE_UNITS`] units of one kind in a reference dataset (the bundled
//! demo: Gemma-3-270M over real text):
//! - the tokens seen and how often, at a window's start and elsewhere (a
//!   real vocabulary with its real, Zipf-like frequencies);
//! - the records' lengths relative to the window;
//! - each unit's activations per sample kind, divided by its largest
//!   magnitude, as a quantile table: dense, signed and heavy-tailed for
//!   neurons; mostly exact zeros and non-negative for SAE features.
//!
//! [`LikeModel`] then writes windows from these token frequencies into a
//! pool, as extraction reuses a corpus's windows across units, and gives
//! each synthetic unit a reference unit's distributions at a random scale,
//! its strongest tokens replaced by the unit's trigger.
use super::{RecordModel, UnitDraw};
use crate::dataset::{Dataset, DatasetError, NewRecord, Result, Sample, UnitKind};
use rand::RngExt;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::SmallRng;
use std::collections::HashMap;
use std::path::Path;

/// How many reference units are read (evenly spaced over the kind's units).
pub const PROFILE_UNITS: usize = 1000;
/// Points of each activation quantile table.
const QUANTILE_POINTS: usize = 257;
/// Distinct windows records are drawn from; the demo's records reuse each of
/// theirs about eight times within a file.
const POOL_WINDOWS: usize = 32_768;
/// Windows per synthetic document (for document ids and offsets).
const WINDOWS_PER_DOCUMENT: usize = 8;

#[derive(Debug, Clone)]
struct ReferenceUnit {
    /// The unit's largest activation magnitude.
    scale: f32,
    /// Quantile tables of activation ÷ scale: top, quantile, random records.
    tables: [Vec<f32>; 3],
}

/// What synthetic records copy from a reference dataset.
#[derive(Debug, Clone)]
pub struct Profile {
    source: String,
    tokens: Vec<String>,
    counts: Vec<u64>,
    first_counts: Vec<u64>,
    /// Record lengths as fractions of the reference's longest record.
    length_fractions: Vec<f32>,
    units: Vec<ReferenceUnit>,
}

fn table_index(sample: Sample) -> usize {
    match sample {
        Sample::Top => 0,
        Sample::Quantile(_) => 1,
        Sample::Random => 2,
    }
}

/// `QUANTILE_POINTS` evenly spaced order statistics of `values`.
fn quantile_table(mut values: Vec<f32>) -> Vec<f32> {
    if values.is_empty() {
        return vec![0.0];
    }
    values.sort_unstable_by(f32::total_cmp);
    let last = values.len() - 1;
    (0..QUANTILE_POINTS)
        .map(|i| values[i * last / (QUANTILE_POINTS - 1)])
        .collect()
}

/// A draw from the distribution a quantile table describes, interpolated
/// between neighbouring points so that dense values do not repeat (and
/// runs of exact zeros stay zero).
fn draw_from(table: &[f32], rng: &mut SmallRng) -> f32 {
    if table.len() < 2 {
        return table.first().copied().unwrap_or(0.0);
    }
    let i = rng.random_range(0..table.len() - 1);
    let (low, high) = (table[i], table[i + 1]);
    low + (high - low) * rng.random::<f32>()
}

impl Profile {
    /// Reads the profile of `kind`'s units in the dataset at `dir`.
    pub fn read(dir: &Path, kind: UnitKind) -> Result<Self> {
        let dataset = Dataset::open(dir)?;
        let ids: Vec<u64> = dataset
            .units_overview()?
            .into_iter()
            .filter(|u| u.kind == kind)
            .map(|u| u.unit_id)
            .collect();
        let problem = |problem: String| DatasetError::Input {
            what: format!("a synthetic dataset like {}", dir.display()),
            problem,
        };
        if ids.is_empty() {
            return Err(problem(format!("it has no {kind} units")));
        }
        let step = ids.len().div_ceil(PROFILE_UNITS);
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut profile = Profile {
            source: dataset
                .manifest()
                .subject_model
                .as_ref()
                .map_or_else(|| dir.display().to_string(), |m| m.name.clone()),
            tokens: Vec::new(),
            counts: Vec::new(),
            first_counts: Vec::new(),
            length_fractions: Vec::new(),
            units: Vec::new(),
        };
        let mut lengths = Vec::new();
        for &unit_id in ids.iter().step_by(step) {
            let records = dataset.records(unit_id)?;
            let scale = records
                .iter()
                .flat_map(|r| r.activations.iter())
                .fold(0.0f32, |m, a| m.max(a.abs()));
            let mut values: [Vec<f32>; 3] = Default::default();
            for record in &records {
                lengths.push(record.tokens.len());
                for (position, token) in record.tokens.iter().enumerate() {
                    let next = index.len();
                    let id = *index.entry(token.clone()).or_insert(next);
                    if id == profile.tokens.len() {
                        profile.tokens.push(token.clone());
                        profile.counts.push(0);
                        profile.first_counts.push(0);
                    }
                    if position == 0 {
                        profile.first_counts[id] += 1;
                    } else {
                        profile.counts[id] += 1;
                    }
                }
                if scale > 0.0 {
                    values[table_index(record.sample)]
                        .extend(record.activations.iter().map(|a| a / scale));
                }
            }
            if scale > 0.0 {
                profile.units.push(ReferenceUnit {
                    scale,
                    tables: values.map(quantile_table),
                });
            }
        }
        if profile.units.is_empty() {
            return Err(problem(format!(
                "every {kind} unit read has only zero activations"
            )));
        }
        if profile.counts.iter().all(|&c| c == 0) {
            // One-token records: every token is a first token.
            profile.counts.clone_from(&profile.first_counts);
        }
        let longest = lengths.iter().copied().max().unwrap_or(1).max(1) as f32;
        profile.length_fractions = lengths.iter().map(|&l| l as f32 / longest).collect();
        Ok(profile)
    }

    /// The reference's subject model, for the synthetic manifest.
    pub fn source(&self) -> &str {
        &self.source
    }
}

struct Window {
    tokens: Vec<u32>,
    document_id: i64,
    token_offset: i64,
}

/// Writes records from a [`Profile`]; see the module's documentation.
pub struct LikeModel<'a> {
    profile: &'a Profile,
    pool: Vec<Window>,
    tokens: WeightedIndex<u64>,
}

impl<'a> LikeModel<'a> {
    pub fn new(profile: &'a Profile, tokens_per_record: u32, rng: &mut SmallRng) -> Self {
        // Weights are counts; the profile guarantees a non-zero one in each.
        let tokens = WeightedIndex::new(&profile.counts).expect("token counts");
        let first = WeightedIndex::new(&profile.first_counts).unwrap_or_else(|_| tokens.clone());
        let pool = (0..POOL_WINDOWS)
            .map(|w| {
                let fraction =
                    profile.length_fractions[rng.random_range(0..profile.length_fractions.len())];
                let length = ((fraction * tokens_per_record as f32).round() as u32).max(1);
                let tokens = (0..length)
                    .map(|i| {
                        let sampler = if i == 0 { &first } else { &tokens };
                        sampler.sample(rng) as u32
                    })
                    .collect();
                Window {
                    tokens,
                    document_id: (w / WINDOWS_PER_DOCUMENT) as i64,
                    token_offset: (w % WINDOWS_PER_DOCUMENT) as i64 * tokens_per_record as i64,
                }
            })
            .collect();
        Self {
            profile,
            pool,
            tokens,
        }
    }
}

impl RecordModel for LikeModel<'_> {
    fn draw_unit(&self, rng: &mut SmallRng) -> UnitDraw {
        let reference = rng.random_range(0..self.profile.units.len());
        UnitDraw {
            trigger: self.tokens.sample(rng),
            scale: self.profile.units[reference].scale * 2f32.powf(rng.random_range(-1.0..1.0)),
            reference,
        }
    }

    fn record(
        &self,
        unit: &UnitDraw,
        sample: Sample,
        _strength: f32,
        _tokens: u32,
        rng: &mut SmallRng,
    ) -> NewRecord {
        let window = &self.pool[rng.random_range(0..self.pool.len())];
        let table = &self.profile.units[unit.reference].tables[table_index(sample)];
        let activations: Vec<f32> = window
            .tokens
            .iter()
            .map(|_| unit.scale * draw_from(table, rng))
            .collect();
        let peak = activations
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        let tokens = window
            .tokens
            .iter()
            .zip(&activations)
            .map(|(&token, &a)| {
                // The unit fires on its trigger: its strongest tokens become it.
                let token = if sample != Sample::Random && a > 0.0 && a >= 0.5 * peak {
                    unit.trigger
                } else {
                    token as usize
                };
                self.profile.tokens[token].clone()
            })
            .collect();
        NewRecord {
            sample,
            rank: 0,
            document_id: Some(window.document_id),
            token_offset: Some(window.token_offset),
            tokens,
            activations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn quantile_tables_keep_the_extremes_and_the_order() {
        let table = quantile_table((0..1000).rev().map(|i| i as f32).collect());
        assert_eq!(table.len(), QUANTILE_POINTS);
        assert_eq!((table[0], table[QUANTILE_POINTS - 1]), (0.0, 999.0));
        assert!(table.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn draws_follow_the_table_and_zeros_stay_zero() {
        let mut rng = SmallRng::seed_from_u64(1);
        // Nine-tenths zeros, then a ramp to 1: a sparse feature's table.
        let values: Vec<f32> = (0..10_000)
            .map(|i| {
                if i < 9000 {
                    0.0
                } else {
                    (i - 9000) as f32 / 1000.0
                }
            })
            .collect();
        let table = quantile_table(values);
        let draws: Vec<f32> = (0..100_000).map(|_| draw_from(&table, &mut rng)).collect();
        let zeros = draws.iter().filter(|&&d| d == 0.0).count() as f64 / draws.len() as f64;
        assert!((zeros - 0.9).abs() < 0.01, "zero share {zeros}");
        assert!(draws.iter().all(|&d| (0.0..=1.0).contains(&d)));
        let mean = draws.iter().map(|&d| d as f64).sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.05).abs() < 0.005, "mean {mean}");
    }
}
