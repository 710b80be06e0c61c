//! Text that tries to take over a terminal, and a small dataset full of it,
//! for the tests that show it cannot: escape sequences (CSI, OSC, DCS, a C1
//! CSI), every C0 and C1 control, DEL, bidirectional overrides and
//! isolates, line breaks and tabs, mixed with plain and non-Latin words.
use crate::dataset::{
    DatasetWriter, Explanation, Manifest, NewRecord, NewUnit, Result, Sample, Score, UnitKind,
    UnitStats, WriterOptions, manifest::SubjectModel,
};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::path::Path;

/// Sequences a terminal would obey: clear the screen and its scrollback,
/// set the title, ask for the cursor position, leave the alternate screen,
/// a DCS query, a C1 CSI, bell, backspace, carriage return, DEL.
pub const SEQUENCES: [&str; 13] = [
    "\u{1b}[2J",
    "\u{1b}[3J",
    "\u{1b}]0;PWNED\u{7}",
    "\u{1b}[6n",
    "\u{1b}[?1049l",
    "\u{1b}P+q544e\u{1b}\\",
    "\u{9b}31m",
    "\u{7}",
    "\u{8}",
    "\r",
    "\u{7f}",
    "\u{202e}",
    "\u{2066}",
];
const WORDS: [&str; 6] = [" the", " cat", "é", " 日本", "\n", "\t"];

/// `pieces` pieces drawn with `seed`: [`SEQUENCES`], any C0 or C1 control,
/// and plain words.
pub fn hostile_text(seed: u64, pieces: usize) -> String {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..pieces)
        .map(|_| match rng.random_range(0..3) {
            0 => SEQUENCES[rng.random_range(0..SEQUENCES.len())].to_owned(),
            1 => {
                let control = match rng.random_range(0..2) {
                    0 => rng.random_range(0u32..0x20),
                    _ => rng.random_range(0x80u32..0xa0),
                };
                char::from_u32(control)
                    .map(String::from)
                    .unwrap_or_default()
            }
            _ => WORDS[rng.random_range(0..WORDS.len())].to_owned(),
        })
        .collect()
}

/// Writes at `dest` a dataset of `units` units whose tokens, explanations,
/// model names and score methods are all [`hostile_text`], each unit with
/// an explanation and a simulation score (so every view has something to
/// show).
pub fn hostile_dataset(dest: &Path, units: u32) -> Result<()> {
    let mut manifest = Manifest::new();
    manifest.subject_model = Some(SubjectModel {
        name: hostile_text(1, 6),
        architecture: None,
        layers: None,
        source: None,
    });
    let mut writer = DatasetWriter::create(dest, manifest, WriterOptions::default())?;
    let samples = [
        Sample::Top,
        Sample::Top,
        Sample::Quantile(0),
        Sample::Random,
    ];
    for u in 0..units {
        let records = (samples.iter().enumerate())
            .map(|(i, &sample)| {
                let seed = u64::from(u) * 100 + i as u64;
                let tokens: Vec<String> = (0..8).map(|t| hostile_text(seed * 10 + t, 2)).collect();
                let activations = (0..8).map(|t| ((t * 7 + i) % 5) as f32).collect();
                NewRecord {
                    sample,
                    rank: i as u32,
                    document_id: None,
                    token_offset: None,
                    tokens,
                    activations,
                }
            })
            .collect();
        let unit = NewUnit {
            layer: u % 3,
            index: u,
            kind: UnitKind::Neuron,
            stats: UnitStats {
                max: 4.0,
                mean: Some(1.0),
                variance: Some(1.0),
                density: Some(0.5),
                quantile_boundaries: Vec::new(),
                histogram_edges: vec![0.0, 2.0, 4.0],
                histogram_counts: vec![3, 1],
            },
        };
        writer.add_unit(unit, records)?;
    }
    writer.finish()?;
    let dataset = crate::dataset::Dataset::open(dest)?;
    let explanations: Vec<Explanation> = (0..u64::from(units))
        .map(|u| Explanation {
            explanation_id: format!("e{u}"),
            unit_id: u,
            text: hostile_text(1000 + u, 8),
            explainer_model: hostile_text(2000 + u, 3),
            method: "top-activations".into(),
            parent_id: None,
            evidence_record_ids: vec![u * 4],
            created_at_ms: 1,
        })
        .collect();
    dataset.append_explanations(&explanations)?;
    let scores: Vec<Score> = (0..u64::from(units))
        .map(|u| Score {
            score_id: format!("s{u}"),
            explanation_id: format!("e{u}"),
            unit_id: u,
            simulator_model: hostile_text(3000 + u, 3),
            method: hostile_text(4000 + u, 2),
            record_set: "top-and-random".into(),
            score: Some(0.5),
            r_squared: None,
            absolute_dev_explained: None,
            record_ids: vec![u * 4 + 1, u * 4 + 3],
            simulated: vec![vec![1.0; 8], vec![0.0; 8]],
            created_at_ms: 1,
        })
        .collect();
    dataset.append_scores(&scores)?;
    Ok(())
}
