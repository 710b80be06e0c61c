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
use crate::dataset::{
    DatasetWriter, Explanation, Manifest, NewRecord, NewUnit, Sample, SelectionParams, UnitKind,
    UnitStats, WriterOptions,
    manifest::{SubjectModel, UnitSourceInfo},
    new_id, now_ms,
};
use crate::extract::select::{SelectionConfig, quantile_by, unit_rng};
use crate::model::tokenizer::TextTokenizer;
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
    /// Explanation files of latents that never fire in the cache.
    pub explanations_without_unit: u64,
}

fn invalid(path: &Path, problem: impl Into<String>) -> ImportError {
    ImportError::Invalid {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError {
    let path = path.to_owned();
    move |cause| ImportError::Io { path, cause }
}

/// A tensor of a safetensors file, widened: integers to i64, floats to f32.
enum Tensor {
    Ints(Vec<i64>),
    Floats(Vec<f32>),
}

/// The tensors `names` of a safetensors file (an 8-byte header length, a
/// JSON header of dtype, shape and byte range per tensor, then the data),
/// with their shapes.
fn read_safetensors(
    path: &Path,
    names: &[&str],
) -> Result<HashMap<String, (Vec<usize>, Tensor)>, ImportError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let header_len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
        .ok_or_else(|| {
            invalid(
                path,
                "not a safetensors file: shorter than its header length",
            )
        })?;
    let header = bytes
        .get(8..8usize.saturating_add(header_len))
        .ok_or_else(|| {
            invalid(
                path,
                format!("truncated: the header says {header_len} bytes"),
            )
        })?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(header)
        .map_err(|e| invalid(path, format!("not a safetensors header: {e}")))?;
    let data = &bytes[8 + header_len..];
    let mut out = HashMap::new();
    for &name in names {
        let Some(entry) = header.get(name) else {
            continue;
        };
        let field = |key: &str| {
            entry
                .get(key)
                .ok_or_else(|| invalid(path, format!("tensor {name}: no {key}")))
        };
        let dtype = field("dtype")?.as_str().unwrap_or_default().to_owned();
        let shape: Vec<usize> = serde_json::from_value(field("shape")?.clone())
            .map_err(|e| invalid(path, format!("tensor {name}: shape: {e}")))?;
        let [start, end]: [usize; 2] = serde_json::from_value(field("data_offsets")?.clone())
            .map_err(|e| invalid(path, format!("tensor {name}: data_offsets: {e}")))?;
        let raw = data
            .get(start..end)
            .filter(|_| start <= end)
            .ok_or_else(|| {
                invalid(
                    path,
                    format!("tensor {name}: bytes {start}..{end} are past the end of the file"),
                )
            })?;
        let width = match dtype.as_str() {
            "U8" | "I8" => 1,
            "U16" | "I16" | "F16" | "BF16" => 2,
            "U32" | "I32" | "F32" => 4,
            "I64" | "U64" | "F64" => 8,
            other => {
                return Err(invalid(
                    path,
                    format!("tensor {name}: dtype {other} is not one Delphi writes"),
                ));
            }
        };
        let count: usize = shape.iter().product();
        if raw.len() != count * width {
            return Err(invalid(
                path,
                format!(
                    "tensor {name}: {} bytes for shape {shape:?} of {dtype}",
                    raw.len()
                ),
            ));
        }
        let chunks = raw.chunks_exact(width);
        let tensor = match dtype.as_str() {
            "U8" => Tensor::Ints(raw.iter().map(|&b| i64::from(b)).collect()),
            "I8" => Tensor::Ints(raw.iter().map(|&b| i64::from(b as i8)).collect()),
            "U16" => Tensor::Ints(
                chunks
                    .map(|c| i64::from(u16::from_le_bytes([c[0], c[1]])))
                    .collect(),
            ),
            "I16" => Tensor::Ints(
                chunks
                    .map(|c| i64::from(i16::from_le_bytes([c[0], c[1]])))
                    .collect(),
            ),
            "U32" => Tensor::Ints(
                chunks
                    .map(|c| i64::from(u32::from_le_bytes(c.try_into().expect("4"))))
                    .collect(),
            ),
            "I32" => Tensor::Ints(
                chunks
                    .map(|c| i64::from(i32::from_le_bytes(c.try_into().expect("4"))))
                    .collect(),
            ),
            "I64" => Tensor::Ints(
                chunks
                    .map(|c| i64::from_le_bytes(c.try_into().expect("8")))
                    .collect(),
            ),
            "U64" => Tensor::Ints(
                chunks
                    .map(|c| u64::from_le_bytes(c.try_into().expect("8")))
                    .map(|v| v.min(i64::MAX as u64) as i64)
                    .collect(),
            ),
            "F16" => Tensor::Floats(
                chunks
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
            ),
            "BF16" => Tensor::Floats(
                chunks
                    .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
            ),
            "F32" => Tensor::Floats(
                chunks
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4")))
                    .collect(),
            ),
            _ => Tensor::Floats(
                chunks
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8")) as f32)
                    .collect(),
            ),
        };
        out.insert(name.to_owned(), (shape, tensor));
    }
    Ok(out)
}

/// The latents of one hookpoint: per latent, its nonzero activations as
/// (sequence, position, activation).
struct Hookpoint {
    name: String,
    tokens: Vec<i64>,
    sequences: usize,
    context: usize,
    latents: BTreeMap<u32, Vec<(usize, usize, f32)>>,
    model_name: Option<String>,
}

/// `{start}_{end}.safetensors` files of a hookpoint folder, by start.
fn split_files(dir: &Path) -> Result<Vec<(u32, PathBuf)>, ImportError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(stem) = name.strip_suffix(".safetensors") else {
            continue;
        };
        let start = stem
            .split_once('_')
            .and_then(|(s, e)| Some((s.parse().ok()?, e.parse::<u32>().ok()?)));
        match start {
            Some((start, _)) => files.push((start, path)),
            None => {
                return Err(invalid(
                    &path,
                    "not named {start}_{end}.safetensors as Delphi names its splits",
                ));
            }
        }
    }
    files.sort();
    Ok(files)
}

fn read_hookpoint(dir: &Path) -> Result<Hookpoint, ImportError> {
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
        Err(_) => None,
    };
    let files = split_files(dir)?;
    if files.is_empty() {
        return Err(invalid(dir, "no {start}_{end}.safetensors splits"));
    }
    let mut hookpoint = Hookpoint {
        name,
        tokens: Vec::new(),
        sequences: 0,
        context: 0,
        latents: BTreeMap::new(),
        model_name,
    };
    for (start, path) in files {
        let mut tensors = read_safetensors(&path, &["locations", "activations", "tokens"])?;
        if hookpoint.tokens.is_empty() {
            match tensors.remove("tokens") {
                Some((shape, Tensor::Ints(ids))) if shape.len() == 2 => {
                    (hookpoint.sequences, hookpoint.context) = (shape[0], shape[1]);
                    hookpoint.tokens = ids;
                }
                Some(_) => {
                    return Err(invalid(&path, "tensor tokens: not a matrix of integer ids"));
                }
                None => {
                    return Err(invalid(
                        &path,
                        "no tokens tensor: the cache was saved without them (save_tokens=False), so its texts are unknown",
                    ));
                }
            }
        }
        let Some((loc_shape, Tensor::Ints(locations))) = tensors.remove("locations") else {
            return Err(invalid(&path, "no integer locations tensor"));
        };
        let Some((_, Tensor::Floats(activations))) = tensors.remove("activations") else {
            return Err(invalid(&path, "no float activations tensor"));
        };
        if loc_shape.len() != 2 || loc_shape[1] != 3 || loc_shape[0] != activations.len() {
            return Err(invalid(
                &path,
                format!(
                    "locations of shape {loc_shape:?} for {} activations (Delphi writes [n, 3])",
                    activations.len()
                ),
            ));
        }
        for (i, (location, &activation)) in locations.chunks_exact(3).zip(&activations).enumerate()
        {
            let (seq, pos) = (location[0], location[1]);
            let latent = u32::try_from(location[2])
                .ok()
                .and_then(|l| l.checked_add(start));
            let inside = (0..hookpoint.sequences as i64).contains(&seq)
                && (0..hookpoint.context as i64).contains(&pos);
            let (Some(latent), true) = (latent, inside) else {
                return Err(invalid(
                    &path,
                    format!(
                        "location {i} ({seq}, {pos}, {}) is outside the {} × {} tokens",
                        location[2], hookpoint.sequences, hookpoint.context
                    ),
                ));
            };
            if !activation.is_finite() {
                return Err(invalid(&path, format!("activation {i} is not finite")));
            }
            hookpoint.latents.entry(latent).or_default().push((
                seq as usize,
                pos as usize,
                activation,
            ));
        }
    }
    Ok(hookpoint)
}

/// The first number in a hookpoint's name: `layers.6.mlp` is layer 6.
fn layer_of(hookpoint: &str) -> u32 {
    let digits: String = (hookpoint.chars())
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().unwrap_or(0)
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
    fn new(hookpoint: &'a Hookpoint, entries: &[(usize, usize, f32)], window: usize) -> Self {
        let window = window.min(hookpoint.context).max(1);
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
    latent: u32,
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
    let mut rng = unit_rng(config.seed, u64::from(latent), 0);
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

/// The explanations folder's files: `{hookpoint}_latent{i}.txt`.
fn read_explanations(dir: &Path) -> Result<Vec<(String, u32, PathBuf, String)>, ImportError> {
    let mut found = Vec::new();
    if !dir.is_dir() {
        return Ok(found);
    }
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some((hookpoint, latent)) = name
            .strip_suffix(".txt")
            .and_then(|s| s.rsplit_once("_latent"))
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
        found.push((hookpoint.replace("--", "/"), latent, path, text));
    }
    found.sort();
    Ok(found)
}

/// Builds a dataset at `out` from the Delphi run in `run` (the folder
/// holding `latents/`, or `latents/` itself), whose token ids `tokenizer`
/// turns into text; nothing is left at `out` unless it all succeeds.
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
    let mut hookpoint_dirs = Vec::new();
    for entry in std::fs::read_dir(&latents_dir).map_err(io(&latents_dir))? {
        let path = entry.map_err(io(&latents_dir))?.path();
        if path.is_dir() {
            hookpoint_dirs.push(path);
        }
    }
    hookpoint_dirs.sort_by_key(|p| (layer_of(&p.to_string_lossy()), p.clone()));
    if hookpoint_dirs.is_empty() {
        return Err(invalid(
            &latents_dir,
            "no hookpoint folders of {start}_{end}.safetensors splits",
        ));
    }
    let hookpoints = (hookpoint_dirs.iter())
        .map(|d| read_hookpoint(d))
        .collect::<Result<Vec<_>, _>>()?;
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
    manifest.window_tokens = Some(options.window as u32);
    manifest.notes = Some(format!("imported from the Delphi run in {}", run.display()));
    let mut writer = DatasetWriter::create(out, manifest, WriterOptions::default())?;
    let mut report = DelphiReport::default();
    let mut units: HashMap<(String, u32), u64> = HashMap::new();
    let mut sources = Vec::new();
    let mut token_text: HashMap<u64, Vec<String>> = HashMap::new();
    for hookpoint in &hookpoints {
        let layer = layer_of(&hookpoint.name);
        let first_unit_id = writer.units_written();
        for (&latent, entries) in &hookpoint.latents {
            let selection = LatentSelection::new(hookpoint, entries, options.window);
            let (chosen, boundaries) = choose_windows(&selection, latent, &options.selection);
            let stats = latent_stats(
                hookpoint,
                entries,
                &boundaries,
                options.selection.histogram_bins,
            );
            let mut records = Vec::with_capacity(chosen.len());
            for (w, sample, rank) in chosen {
                let (seq, pos) = selection.start(w);
                let tokens = match token_text.get(&w) {
                    Some(t) => t.clone(),
                    None => {
                        let ids = &hookpoint.tokens[seq * hookpoint.context + pos..]
                            [..selection.window_len(w)];
                        let ids: Vec<u32> = ids
                            .iter()
                            .map(|&id| u32::try_from(id).unwrap_or(u32::MAX))
                            .collect();
                        let text = tokenizer.display_tokens(&ids)?;
                        token_text.insert(w, text.clone());
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
            report.records += records.len() as u64;
            let added = writer.add_unit(
                NewUnit {
                    layer,
                    index: latent,
                    kind: UnitKind::Sae,
                    stats,
                },
                records,
            )?;
            units.insert((hookpoint.name.clone(), latent), added.unit_id);
            report.units += 1;
        }
        token_text.clear();
        sources.push(UnitSourceInfo {
            kind: UnitKind::Sae,
            hook: hookpoint.name.clone(),
            layer,
            first_unit_id,
            units: writer.units_written() - first_unit_id,
            dictionary: None,
        });
        report.hookpoints.push(hookpoint.name.clone());
    }
    let mut explanations = Vec::new();
    for (hookpoint, latent, _, text) in read_explanations(&base.join("explanations"))? {
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
    let config = &options.selection;
    let manifest = writer.manifest_mut();
    manifest.sources = sources;
    manifest.selection = Some(SelectionParams {
        top_k: config.top_k as u32,
        random_k: config.random_k as u32,
        quantile_levels: config.quantile_levels.clone(),
        quantile_k: config.quantile_k as u32,
        seed: Some(config.seed),
    });
    writer.finish()?;
    Ok(report)
}
