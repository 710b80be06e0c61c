//! Import of an EleutherAI Delphi run: its latent cache,
//! `latents/{hookpoint}/{start}_{end}.safetensors` (written by
//! `LatentCache.save_splits` in `delphi/latents/cache.py`), each file holding
//! the sparse `locations` (sequence, position, latent − start) and
//! `activations` of latents `start..=end`, and the corpus `tokens`
//! [sequences, context] as ids, with the cache's `config.json` beside them;
//! and its explanations, `explanations/{hookpoint}_latent{i}.txt`, each a
//! JSON string. Sequences are cut into windows of Delphi's example length,
//! and each latent's records are chosen from them as extraction chooses
//! them (top, quantile bins of window maxima, random), with statistics over
//! every token of the cache. Token ids become text through the model's
//! tokenizer, which the cache does not hold.
use super::ImportError;
use super::{invalid, io};
use crate::dataset::{
    DatasetWriter, Explanation, Manifest, NewRecord, NewUnit, Sample, UnitKind, UnitStats,
    WriterOptions,
    manifest::{SubjectModel, UnitSourceInfo},
    new_id, now_ms,
};
use crate::extract::select::{SelectionConfig, quantile_by, unit_rng};
use crate::model::tokenizer::TextTokenizer;
use crate::safetensors::Header;
use rand::RngExt;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// How records are chosen, and who wrote the explanations.
#[derive(Debug, Clone)]
pub struct DelphiOptions {
    /// Tokens per record: Delphi's `example_ctx_len` (32 by default).
    pub window: usize,
    pub selection: SelectionConfig,
    pub explainer_model: String,
}

impl Default for DelphiOptions {
    fn default() -> Self {
        Self {
            window: 32,
            selection: SelectionConfig::default(),
            explainer_model: "delphi".into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DelphiReport {
    pub hookpoints: Vec<String>,
    pub units: u64,
    pub records: u64,
    pub explanations: u64,
    /// Explanation files of latents without a unit: silent in the cache,
    /// or of a hookpoint it does not hold.
    pub explanations_without_unit: u64,
}

/// One hookpoint of the cache: its splits and the corpus as token ids.
struct Hookpoint {
    name: String,
    layer: u32,
    /// (first latent, last latent, file), in order, not overlapping.
    splits: Vec<(u32, u32, PathBuf)>,
    tokens: Vec<i64>,
    sequences: usize,
    context: usize,
    model_name: Option<String>,
}

/// A latent's activations: (sequence, position, value).
type Entries = Vec<(usize, usize, f32)>;

/// `{start}_{end}.safetensors` files of a hookpoint folder, by start, none
/// overlapping another (a rerun with another `n_splits` leaves its old
/// files beside the new ones).
fn split_files(dir: &Path) -> Result<Vec<(u32, u32, PathBuf)>, ImportError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(stem) = name.strip_suffix(".safetensors") else {
            continue;
        };
        let range = (stem.split_once('_'))
            .and_then(|(s, e)| Some((s.parse::<u32>().ok()?, e.parse::<u32>().ok()?)))
            .filter(|(start, end)| start <= end);
        match range {
            Some((start, end)) => files.push((start, end, path)),
            None => {
                return Err(invalid(
                    &path,
                    "not named {start}_{end}.safetensors as Delphi names its splits",
                ));
            }
        }
    }
    files.sort();
    for pair in files.windows(2) {
        if pair[1].0 <= pair[0].1 {
            return Err(invalid(
                &pair[1].2,
                format!(
                    "its latents overlap those of {} (splits of two runs?)",
                    pair[0].2.display()
                ),
            ));
        }
    }
    Ok(files)
}

fn read_file(path: &Path) -> Result<(Vec<u8>, Header), ImportError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let header = Header::parse(&bytes).map_err(|problem| invalid(path, problem))?;
    Ok((bytes, header))
}

/// A hookpoint folder: its splits, its `config.json`, and the tokens of its
/// first split, each id checked against the tokenizer's vocabulary.
fn read_hookpoint(dir: &Path, vocabulary: usize) -> Result<Hookpoint, ImportError> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    let config = dir.join("config.json");
    let model_name = match std::fs::read(&config) {
        Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
            .map_err(|e| invalid(&config, format!("not JSON: {e}")))?
            .get("model_name")
            .and_then(|m| m.as_str())
            .map(str::to_owned),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(&config)(e)),
    };
    let splits = split_files(dir)?;
    let Some((_, _, first)) = splits.first() else {
        return Err(invalid(dir, "no {start}_{end}.safetensors splits"));
    };
    let (bytes, header) = read_file(first)?;
    let tokens = header.entries.get("tokens").ok_or_else(|| {
        invalid(first, "no tokens tensor: the cache was saved without them (save_tokens=False), so its texts are unknown")
    })?;
    let (ids, [sequences, context]) = match (tokens.ints(&bytes), &tokens.shape[..]) {
        (Some(ids), &[s, c]) if s > 0 && c > 0 => (ids, [s, c]),
        _ => {
            return Err(invalid(
                first,
                "tensor tokens: not a non-empty matrix of integer ids",
            ));
        }
    };
    if let Some(i) = ids
        .iter()
        .position(|&id| !(0..vocabulary as i64).contains(&id))
    {
        return Err(invalid(
            first,
            format!(
                "tensor tokens: id {} at sequence {} position {} is not in the tokenizer's {vocabulary} tokens (is --tokenizer the model of the cache?)",
                ids[i],
                i / context,
                i % context
            ),
        ));
    }
    Ok(Hookpoint {
        layer: super::first_number(&name)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        name,
        splits,
        tokens: ids,
        sequences,
        context,
        model_name,
    })
}

/// The activations of split `start..=end` by latent, each checked: inside
/// the split's latents and the tokens, finite, once per token.
fn read_split(
    hookpoint: &Hookpoint,
    start: u32,
    end: u32,
    path: &Path,
) -> Result<BTreeMap<u32, Entries>, ImportError> {
    let (bytes, header) = read_file(path)?;
    let shape = |name: &str| header.entries.get(name).map(|e| e.shape.clone());
    if let Some(shape) = shape("tokens")
        && shape != [hookpoint.sequences, hookpoint.context]
    {
        return Err(invalid(
            path,
            format!(
                "tensor tokens: shape {shape:?}, but the first split's is [{}, {}]",
                hookpoint.sequences, hookpoint.context
            ),
        ));
    }
    let locations = (header.entries.get("locations").and_then(|e| e.ints(&bytes)))
        .ok_or_else(|| invalid(path, "no integer locations tensor"))?;
    let activations = (header
        .entries
        .get("activations")
        .and_then(|e| e.floats(&bytes)))
    .ok_or_else(|| invalid(path, "no float activations tensor"))?;
    let located = shape("locations").unwrap_or_default();
    if located.len() != 2 || located[1] != 3 || located[0] != activations.len() {
        return Err(invalid(
            path,
            format!(
                "locations of shape {located:?} for {} activations (Delphi writes [n, 3])",
                activations.len()
            ),
        ));
    }
    let mut latents: BTreeMap<u32, Entries> = BTreeMap::new();
    for (i, (location, &value)) in locations.chunks_exact(3).zip(&activations).enumerate() {
        let [seq, pos, offset] = [location[0], location[1], location[2]];
        let latent = u32::try_from(offset)
            .ok()
            .and_then(|o| o.checked_add(start))
            .filter(|&l| l <= end);
        let inside = (0..hookpoint.sequences as i64).contains(&seq)
            && (0..hookpoint.context as i64).contains(&pos);
        let (Some(latent), true) = (latent, inside) else {
            return Err(invalid(
                path,
                format!(
                    "location {i} ({seq}, {pos}, {offset}) is outside the split's latents {start}..={end} or the {} × {} tokens",
                    hookpoint.sequences, hookpoint.context
                ),
            ));
        };
        if !value.is_finite() {
            return Err(invalid(path, format!("activation {i} is not finite")));
        }
        latents
            .entry(latent)
            .or_default()
            .push((seq as usize, pos as usize, value));
    }
    for (latent, entries) in &mut latents {
        entries.sort_by_key(|e| (e.0, e.1));
        if let Some(pair) = entries
            .windows(2)
            .find(|p| (p[0].0, p[0].1) == (p[1].0, p[1].1))
        {
            return Err(invalid(
                path,
                format!(
                    "latent {latent} has two activations at sequence {} position {}",
                    pair[0].0, pair[0].1
                ),
            ));
        }
    }
    Ok(latents)
}

/// One latent's selection over every window of the cache, most of which
/// it never fires in: the windows it fires in are listed, the silent ones
/// are counted, and samples from them are drawn by their rank among them.
struct LatentSelection<'a> {
    hookpoint: &'a Hookpoint,
    window: usize,
    windows_per_sequence: usize,
    /// Window → its activations' (offset, value).
    firing: BTreeMap<u64, Vec<(usize, f32)>>,
}

impl<'a> LatentSelection<'a> {
    /// `window` is at least 1 and at most the context (the import's choice).
    fn new(hookpoint: &'a Hookpoint, entries: &[(usize, usize, f32)], window: usize) -> Self {
        let windows_per_sequence = hookpoint.context.div_ceil(window);
        let mut firing: BTreeMap<u64, Vec<(usize, f32)>> = BTreeMap::new();
        for &(seq, pos, value) in entries {
            let w = (seq * windows_per_sequence + pos / window) as u64;
            firing.entry(w).or_default().push((pos % window, value));
        }
        Self {
            hookpoint,
            window,
            windows_per_sequence,
            firing,
        }
    }

    /// Where window `window` starts: its sequence and position.
    fn start(&self, window: u64) -> (usize, usize) {
        let w = window as usize;
        (
            w / self.windows_per_sequence,
            (w % self.windows_per_sequence) * self.window,
        )
    }

    fn windows(&self) -> u64 {
        (self.hookpoint.sequences * self.windows_per_sequence) as u64
    }

    fn window_len(&self, window: u64) -> usize {
        let pos = (window as usize % self.windows_per_sequence) * self.window;
        self.window.min(self.hookpoint.context - pos)
    }

    fn window_max(&self, window: u64) -> f32 {
        let Some(values) = self.firing.get(&window) else {
            return 0.0;
        };
        let max = values.iter().map(|v| v.1).fold(f32::NEG_INFINITY, f32::max);
        if values.len() < self.window_len(window) {
            max.max(0.0)
        } else {
            max
        }
    }

    fn activations(&self, window: u64) -> Vec<f32> {
        let mut out = vec![0.0; self.window_len(window)];
        for &(offset, value) in self.firing.get(&window).into_iter().flatten() {
            out[offset] = value;
        }
        out
    }

    /// The `n`-th silent window (one the latent never fires in).
    fn silent_window(&self, mut n: u64) -> u64 {
        for &firing in self.firing.keys() {
            if firing <= n {
                n += 1;
            } else {
                break;
            }
        }
        n
    }

    /// `k` distinct windows drawn uniformly from `firing` (listed) and
    /// `silent` more silent windows, by their rank among those.
    fn draw(
        &self,
        rng: &mut rand::rngs::SmallRng,
        firing: &[u64],
        silent: u64,
        k: usize,
    ) -> Vec<u64> {
        let total = firing.len() as u64 + silent;
        let mut picked = HashSet::new();
        while (picked.len() as u64) < total.min(k as u64) {
            picked.insert(rng.random_range(0..total));
        }
        let mut windows: Vec<u64> = (picked.into_iter())
            .map(|r| match firing.get(r as usize) {
                Some(&w) => w,
                None => self.silent_window(r - firing.len() as u64),
            })
            .collect();
        windows.sort_unstable();
        windows
    }
}

/// The latent's records, as (window, sample, rank): the strongest windows,
/// windows drawn from each quantile bin of window maxima, and random
/// windows other than the top ones; and the bins' lower edges.
fn choose_windows(
    selection: &LatentSelection,
    unit_id: u64,
    config: &SelectionConfig,
) -> (Vec<(u64, Sample, u32)>, Vec<f32>) {
    let mut maxima: Vec<(f32, u64)> = (selection.firing.keys())
        .map(|&w| (selection.window_max(w), w))
        .collect();
    maxima.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let silent = selection.windows() - maxima.len() as u64;
    // Window maxima in order: negative ones, the silent windows' zeros
    // (before the listed windows whose maximum is 0), then the rest.
    let negative = maxima.iter().take_while(|m| m.0 < 0.0).count();
    let at = |i: usize| match i.checked_sub(negative) {
        None => maxima[i].0,
        Some(j) if (j as u64) < silent => 0.0,
        Some(j) => maxima[negative + j - silent as usize].0,
    };
    let all = selection.windows() as usize;
    let boundaries: Vec<f32> = (config.quantile_levels.iter())
        .map(|&q| quantile_by(all, at, q))
        .collect();
    let mut rng = unit_rng(config.seed, unit_id, 0);
    let mut top: Vec<(f32, u64)> = maxima.iter().filter(|m| m.0 > 0.0).copied().collect();
    top.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    top.truncate(config.top_k);
    let mut chosen: Vec<(u64, Sample, u32)> = (top.iter().enumerate())
        .map(|(rank, &(_, w))| (w, Sample::Top, rank as u32))
        .collect();
    // Bin i holds maxima in [boundaries[i], boundaries[i + 1]).
    for bin in 0..boundaries.len().saturating_sub(1) {
        let range = boundaries[bin]..boundaries[bin + 1];
        let listed: Vec<u64> = (maxima.iter())
            .filter(|m| range.contains(&m.0))
            .map(|m| m.1)
            .collect();
        let silent_in_bin = if range.contains(&0.0) { silent } else { 0 };
        let drawn = selection.draw(&mut rng, &listed, silent_in_bin, config.quantile_k);
        chosen.extend(
            drawn
                .into_iter()
                .enumerate()
                .map(|(rank, w)| (w, Sample::Quantile(bin as u32), rank as u32)),
        );
    }
    let top_windows: HashSet<u64> = top.iter().map(|t| t.1).collect();
    let others: Vec<u64> = maxima
        .iter()
        .map(|m| m.1)
        .filter(|w| !top_windows.contains(w))
        .collect();
    let random = selection.draw(&mut rng, &others, silent, config.random_k);
    chosen.extend(
        random
            .into_iter()
            .enumerate()
            .map(|(rank, w)| (w, Sample::Random, rank as u32)),
    );
    (chosen, boundaries)
}

/// The latent's statistics over every token of the cache, the silent ones
/// included, binned as extraction bins them.
fn latent_stats(
    hookpoint: &Hookpoint,
    entries: &[(usize, usize, f32)],
    boundaries: &[f32],
    bins: usize,
) -> UnitStats {
    let tokens = (hookpoint.sequences * hookpoint.context) as f64;
    let (mut sum, mut squares, mut positive) = (0.0f64, 0.0f64, 0u64);
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for &(_, _, v) in entries {
        sum += f64::from(v);
        squares += f64::from(v) * f64::from(v);
        positive += u64::from(v > 0.0);
        (lo, hi) = (lo.min(v), hi.max(v));
    }
    if (entries.len() as f64) < tokens {
        (lo, hi) = (lo.min(0.0), hi.max(0.0));
    }
    let mean = sum / tokens;
    let bins = bins.max(1);
    let width = ((hi - lo) as f64 / bins as f64).max(f64::MIN_POSITIVE);
    let mut edges: Vec<f64> = (0..=bins)
        .map(|i| f64::from(lo) + width * i as f64)
        .collect();
    edges[bins] = edges[bins].max(f64::from(hi));
    let bin_of = |v: f32| (((f64::from(v) - f64::from(lo)) / width) as usize).min(bins - 1);
    let mut counts = vec![0u64; bins];
    for &(_, _, v) in entries {
        counts[bin_of(v)] += 1;
    }
    counts[bin_of(0.0)] += tokens as u64 - entries.len() as u64;
    UnitStats {
        max: f64::from(hi),
        mean: Some(mean),
        variance: Some((squares / tokens - mean * mean).max(0.0)),
        density: Some(positive as f64 / tokens),
        quantile_boundaries: boundaries.iter().map(|&b| f64::from(b)).collect(),
        histogram_edges: edges,
        histogram_counts: counts,
    }
}

/// The explanations folder's files: `{hookpoint}_latent{i}.txt`, as
/// Delphi's pipeline names them (`str(latent)`).
fn read_explanations(dir: &Path) -> Result<Vec<(String, u32, String)>, ImportError> {
    let mut found = Vec::new();
    if !dir.is_dir() {
        return Ok(found);
    }
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some((hookpoint, latent)) =
            (name.strip_suffix(".txt")).and_then(|s| s.rsplit_once("_latent"))
        else {
            continue;
        };
        let Ok(latent) = latent.parse() else { continue };
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let text: String = serde_json::from_slice(&bytes).map_err(|e| {
            invalid(
                &path,
                format!("not a JSON string, as Delphi writes explanations: {e}"),
            )
        })?;
        found.push((hookpoint.to_owned(), latent, text));
    }
    found.sort();
    Ok(found)
}

/// The records of one latent's chosen windows, their texts decoded once
/// per window of the split.
fn latent_records(
    selection: &LatentSelection,
    chosen: Vec<(u64, Sample, u32)>,
    tokenizer: &TextTokenizer,
    texts: &mut HashMap<u64, Vec<String>>,
    split: &Path,
) -> Result<Vec<NewRecord>, ImportError> {
    let hookpoint = selection.hookpoint;
    let mut records = Vec::with_capacity(chosen.len());
    for (w, sample, rank) in chosen {
        let (seq, pos) = selection.start(w);
        let tokens = match texts.get(&w) {
            Some(t) => t.clone(),
            None => {
                let at = seq * hookpoint.context + pos;
                // Ids were checked against the vocabulary when read.
                let ids: Vec<u32> = (hookpoint.tokens[at..at + selection.window_len(w)].iter())
                    .map(|&id| id as u32)
                    .collect();
                let text = (tokenizer.display_tokens(&ids)).map_err(|e| {
                    invalid(
                        split,
                        format!("decoding the tokens of sequence {seq} from {pos}: {e}"),
                    )
                })?;
                texts.insert(w, text.clone());
                text
            }
        };
        records.push(NewRecord {
            sample,
            rank,
            document_id: Some(seq as i64),
            token_offset: Some(pos as i64),
            tokens,
            activations: selection.activations(w),
        });
    }
    Ok(records)
}

/// Builds a dataset at `out` from the Delphi run in `run` (the folder
/// holding `latents/`, or `latents/` itself), whose token ids `tokenizer`
/// turns into text; nothing is left at `out` unless it all succeeds. One
/// split is in memory at a time.
pub fn import_run(
    run: &Path,
    tokenizer: &TextTokenizer,
    out: &Path,
    options: &DelphiOptions,
) -> Result<DelphiReport, ImportError> {
    let (latents_dir, base) = if run.join("latents").is_dir() {
        (run.join("latents"), run.to_owned())
    } else {
        (run.to_owned(), run.parent().unwrap_or(run).to_owned())
    };
    let mut hookpoints = Vec::new();
    for entry in std::fs::read_dir(&latents_dir).map_err(io(&latents_dir))? {
        let path = entry.map_err(io(&latents_dir))?.path();
        if path.is_dir() {
            hookpoints.push(read_hookpoint(&path, tokenizer.vocab_size())?);
        }
    }
    hookpoints.sort_by(|a, b| (a.layer, &a.name).cmp(&(b.layer, &b.name)));
    if hookpoints.is_empty() {
        return Err(invalid(
            &latents_dir,
            "no hookpoint folders of {start}_{end}.safetensors splits",
        ));
    }
    let window = hookpoints
        .iter()
        .map(|h| options.window.min(h.context))
        .min()
        .unwrap_or(1)
        .max(1);
    let mut manifest = Manifest::new();
    manifest.subject_model = hookpoints
        .iter()
        .find_map(|h| h.model_name.clone())
        .map(|name| SubjectModel {
            name,
            architecture: None,
            layers: None,
            source: None,
        });
    manifest.window_tokens = Some(window as u32);
    manifest.notes = Some(format!("imported from the Delphi run in {}", run.display()));
    let mut writer = DatasetWriter::create(out, manifest, WriterOptions::default())?;
    let mut report = DelphiReport::default();
    let mut units: HashMap<(String, u32), u64> = HashMap::new();
    let mut sources = Vec::new();
    for hookpoint in &hookpoints {
        let first_unit_id = writer.units_written();
        for (start, end, path) in &hookpoint.splits {
            let mut texts = HashMap::new();
            for (latent, entries) in read_split(hookpoint, *start, *end, path)? {
                let unit_id = writer.units_written();
                let selection = LatentSelection::new(hookpoint, &entries, window);
                let (chosen, boundaries) = choose_windows(&selection, unit_id, &options.selection);
                let stats = latent_stats(
                    hookpoint,
                    &entries,
                    &boundaries,
                    options.selection.histogram_bins,
                );
                let records = latent_records(&selection, chosen, tokenizer, &mut texts, path)?;
                report.records += records.len() as u64;
                let unit = NewUnit {
                    layer: hookpoint.layer,
                    index: latent,
                    kind: UnitKind::Sae,
                    stats,
                };
                writer.add_unit(unit, records)?;
                units.insert((hookpoint.name.clone(), latent), unit_id);
                report.units += 1;
            }
        }
        sources.push(UnitSourceInfo {
            kind: UnitKind::Sae,
            hook: hookpoint.name.clone(),
            layer: hookpoint.layer,
            first_unit_id,
            units: writer.units_written() - first_unit_id,
            dictionary: None,
        });
        report.hookpoints.push(hookpoint.name.clone());
    }
    let mut explanations = Vec::new();
    for (hookpoint, latent, text) in read_explanations(&base.join("explanations"))? {
        let Some(&unit_id) = units.get(&(hookpoint, latent)) else {
            report.explanations_without_unit += 1;
            continue;
        };
        explanations.push(Explanation {
            explanation_id: new_id(),
            unit_id,
            text,
            explainer_model: options.explainer_model.clone(),
            method: "delphi".into(),
            parent_id: None,
            evidence_record_ids: Vec::new(),
            created_at_ms: now_ms(),
        });
    }
    report.explanations = explanations.len() as u64;
    writer.add_explanations(explanations);
    let manifest = writer.manifest_mut();
    manifest.sources = sources;
    manifest.selection = Some(options.selection.params());
    writer.finish()?;
    Ok(report)
}
