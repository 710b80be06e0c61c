//! The activation cache: one hook point's activations for every text token
//! of a corpus, written once by `extract --cache` and read many times by
//! training sweeps. A folder with `cache.json` and shards
//! `shard-NNNNN.safetensors`, each holding one float32 tensor `activations`
//! [tokens, d_in] (readable with numpy's safetensors loader too). Shards are
//! memory-mapped, so a sweep costs no load time and the page cache is shared
//! between runs.
use super::batch::{for_each_batch, for_each_window, text_token_rows};
use super::corpus::{BadDocument, Corpus};
use super::windows::{Window, Windower};
use super::{ActivationError, Progress, Result, display_name, format_error, io_error};
use crate::model::HookPoint;
use memmap2::Mmap;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const CACHE_FILE: &str = "cache.json";
const FORMAT: &str = "featurescope-activation-cache";
const TENSOR: &str = "activations";
/// Tokens per shard: 64 Ki tokens is 96 MiB at d_in 384.
pub const DEFAULT_SHARD_TOKENS: usize = 1 << 16;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheInfo {
    pub format: String,
    pub format_version: u32,
    /// The subject model's folder name.
    pub model: String,
    /// Our spelling, e.g. `blocks.3.resid_post`.
    pub hook: String,
    pub d_in: usize,
    pub tokens: u64,
    pub corpus: String,
    pub window_tokens: usize,
    pub shards: Vec<ShardInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub file: String,
    pub tokens: u64,
}

impl CacheInfo {
    pub fn hook_point(&self) -> Option<HookPoint> {
        HookPoint::parse(&self.hook)
    }
}

/// Writes a cache into a hidden staging folder; `finish` moves it into place.
pub struct CacheWriter {
    dest: PathBuf,
    staged: PathBuf,
    info: CacheInfo,
    shard_tokens: usize,
    buffer: Vec<f32>,
}

impl CacheWriter {
    pub fn create(
        dest: &Path,
        model: &str,
        hook: HookPoint,
        d_in: usize,
        corpus: &str,
        window_tokens: usize,
    ) -> Result<Self> {
        let staged =
            crate::publish::staging_sibling(dest, "a cache path must name a folder", || {
                check_replaceable(dest)
            })?;
        std::fs::create_dir(&staged).map_err(io_error(&staged))?;
        Ok(Self {
            dest: dest.to_owned(),
            staged,
            info: CacheInfo {
                format: FORMAT.into(),
                format_version: 1,
                model: model.into(),
                hook: hook.to_string(),
                d_in,
                tokens: 0,
                corpus: corpus.into(),
                window_tokens,
                shards: Vec::new(),
            },
            shard_tokens: DEFAULT_SHARD_TOKENS,
            buffer: Vec::new(),
        })
    }

    pub fn with_shard_tokens(mut self, tokens: usize) -> Self {
        self.shard_tokens = tokens.max(1);
        self
    }

    /// Appends rows (a multiple of d_in values).
    pub fn push(&mut self, rows: &[f32]) -> Result<()> {
        let d = self.info.d_in;
        debug_assert_eq!(rows.len() % d, 0);
        let mut rest = rows;
        while !rest.is_empty() {
            let room = self.shard_tokens * d - self.buffer.len();
            let take = room.min(rest.len());
            self.buffer.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.buffer.len() == self.shard_tokens * d {
                self.flush_shard()?;
            }
        }
        Ok(())
    }

    fn flush_shard(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let tokens = self.buffer.len() / self.info.d_in;
        let file = format!("shard-{:05}.safetensors", self.info.shards.len());
        let path = self.staged.join(&file);
        write_shard(&path, &self.buffer, self.info.d_in)?;
        self.info.shards.push(ShardInfo {
            file,
            tokens: tokens as u64,
        });
        self.info.tokens += tokens as u64;
        self.buffer.clear();
        Ok(())
    }

    /// Writes the last shard and `cache.json`, then replaces `dest` in one step.
    pub fn finish(mut self) -> Result<CacheInfo> {
        self.flush_shard()?;
        let json = serde_json::to_vec_pretty(&self.info).expect("cache info is JSON");
        let info_path = self.staged.join(CACHE_FILE);
        std::fs::write(&info_path, json).map_err(io_error(&info_path))?;
        crate::publish::swap_into_place(&self.staged, &self.dest)?;
        Ok(self.info.clone())
    }
}

impl Drop for CacheWriter {
    /// An unfinished cache (error, panic) leaves nothing behind.
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.staged);
    }
}

/// A cache may replace only a cache or an empty folder.
fn check_replaceable(dest: &Path) -> Result<()> {
    if !dest.exists() {
        return Ok(());
    }
    let empty = dest.is_dir()
        && std::fs::read_dir(dest)
            .map_err(io_error(dest))?
            .next()
            .is_none();
    if empty || dest.join(CACHE_FILE).is_file() {
        Ok(())
    } else {
        Err(format_error(
            dest,
            "refusing to replace it: it is not an activation cache; choose another path",
        ))
    }
}

/// A safetensors file with one float32 tensor [rows, d]; the header is padded
/// to a multiple of 8 bytes so the data stays aligned.
fn write_shard(path: &Path, values: &[f32], d: usize) -> Result<()> {
    let rows = values.len() / d;
    let bytes = values.len() * 4;
    let mut header = serde_json::json!({
        TENSOR: {"dtype": "F32", "shape": [rows, d], "data_offsets": [0, bytes]}
    })
    .to_string();
    while !header.len().is_multiple_of(8) {
        header.push(' ');
    }
    let mut file = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(path).map_err(io_error(path))?,
    );
    let mut write = || -> std::io::Result<()> {
        file.write_all(&(header.len() as u64).to_le_bytes())?;
        file.write_all(header.as_bytes())?;
        for v in values {
            file.write_all(&v.to_le_bytes())?;
        }
        file.flush()?;
        file.get_ref().sync_all()
    };
    write().map_err(io_error(path))
}

struct Shard {
    map: Mmap,
    data_start: usize,
    rows: usize,
}

/// A cache opened for reading: rows by global token index.
pub struct ActivationCache {
    pub info: CacheInfo,
    shards: Vec<Shard>,
    /// First global row of each shard, plus the total at the end.
    starts: Vec<usize>,
}

impl ActivationCache {
    pub fn open(dir: &Path) -> Result<Self> {
        let info_path = dir.join(CACHE_FILE);
        let text = std::fs::read(&info_path).map_err(io_error(&info_path))?;
        let info: CacheInfo = serde_json::from_slice(&text)
            .map_err(|e| format_error(&info_path, format!("not a cache description: {e}")))?;
        if info.format != FORMAT || info.format_version != 1 {
            return Err(format_error(
                &info_path,
                format!(
                    "format {:?} version {}, expected {FORMAT:?} version 1",
                    info.format, info.format_version
                ),
            ));
        }
        if info.d_in == 0 {
            return Err(format_error(&info_path, "d_in is 0"));
        }
        let mut shards = Vec::with_capacity(info.shards.len());
        let mut starts = vec![0];
        for s in &info.shards {
            let shard = open_shard(&dir.join(&s.file), info.d_in)?;
            if shard.rows as u64 != s.tokens {
                return Err(format_error(
                    &dir.join(&s.file),
                    format!("holds {} rows, cache.json says {}", shard.rows, s.tokens),
                ));
            }
            starts.push(starts.last().copied().unwrap_or(0) + shard.rows);
            shards.push(shard);
        }
        if *starts.last().unwrap_or(&0) as u64 != info.tokens {
            return Err(format_error(
                &info_path,
                "the shards' rows do not add up to `tokens`",
            ));
        }
        Ok(Self {
            info,
            shards,
            starts,
        })
    }

    pub fn tokens(&self) -> usize {
        *self.starts.last().unwrap_or(&0)
    }

    pub fn d_in(&self) -> usize {
        self.info.d_in
    }

    /// Appends row `index` to `out`.
    pub fn copy_row(&self, index: usize, out: &mut Vec<f32>) {
        let shard_index = self.starts.partition_point(|&s| s <= index) - 1;
        let shard = &self.shards[shard_index];
        let row = index - self.starts[shard_index];
        let width = self.info.d_in * 4;
        let start = shard.data_start + row * width;
        out.extend(
            shard.map[start..start + width]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
    }
}

fn open_shard(path: &Path, d_in: usize) -> Result<Shard> {
    let file = std::fs::File::open(path).map_err(io_error(path))?;
    // SAFETY: shards are written once into a staging folder and never
    // modified after the cache is published; a file truncated under us by
    // another program is outside what the format promises.
    let map = unsafe { Mmap::map(&file) }.map_err(io_error(path))?;
    let bad = |problem: String| format_error(path, problem);
    let header = crate::safetensors::Header::parse(&map).map_err(bad)?;
    let tensor =
        (header.entries.get(TENSOR)).ok_or_else(|| bad(format!("no tensor `{TENSOR}`")))?;
    if tensor.dtype != "F32" {
        return Err(bad(format!("`{TENSOR}` is not F32")));
    }
    let shape = &tensor.shape;
    if shape.len() != 2 || shape[1] != d_in {
        return Err(bad(format!(
            "shape {shape:?}, expected [rows, {d_in}] (d_in in cache.json)"
        )));
    }
    let (data_start, rows) = (tensor.bytes.start, shape[0]);
    Ok(Shard {
        map,
        data_start,
        rows,
    })
}

/// What `extract --cache` needs.
#[derive(Debug, Clone)]
pub struct BuildCache {
    pub model_dir: PathBuf,
    pub corpus: PathBuf,
    pub text_field: String,
    pub hook: HookPoint,
    pub out: PathBuf,
    pub window_tokens: usize,
    pub batch_size: usize,
    pub device: tch::Device,
    pub shard_tokens: usize,
}

/// Runs the subject model over the corpus once and caches the activations at
/// `hook` of every text token. Reports tokens through `progress` as
/// `extract` does.
pub fn build_cache(
    config: &BuildCache,
    mut progress: impl FnMut(Progress),
) -> Result<(CacheInfo, Vec<BadDocument>)> {
    let model = crate::model::load(&config.model_dir, config.device)?;
    model
        .config()
        .check_layer(config.hook.layer)
        .map_err(|e| ActivationError::Input {
            what: "--layers".into(),
            problem: e.to_string(),
        })?;
    let tokenizer = crate::model::TextTokenizer::load(&config.model_dir)?;
    let windower = Windower::new(&tokenizer, config.window_tokens)?;
    let corpus = Corpus::open(&config.corpus, &config.text_field)?;
    let mut bad = Vec::new();
    let mut tokens = 0u64;
    let mut windows = 0u64;
    for_each_window::<ActivationError>(
        &corpus,
        &windower,
        |b| bad.push(b),
        |_, w| {
            windows += 1;
            tokens += w.ids.len() as u64;
            Ok(())
        },
    )?;
    if windows == 0 {
        return Err(ActivationError::Input {
            what: config.corpus.display().to_string(),
            problem: "the corpus has no text".into(),
        });
    }
    progress(Progress::Planned {
        windows,
        model_tokens: tokens,
    });
    let mut writer = CacheWriter::create(
        &config.out,
        &display_name(&config.model_dir),
        config.hook,
        model.width(config.hook.site) as usize,
        &display_name(&config.corpus),
        config.window_tokens,
    )?
    .with_shard_tokens(config.shard_tokens);
    let specials = windower.special_counts();
    let run = |batch: &[(u64, Window)]| -> Result<()> {
        let rows = text_token_rows(model.as_ref(), batch, config.hook, config.device, specials)?;
        writer.push(&rows)?;
        progress(Progress::Tokens(
            batch.iter().map(|(_, w)| w.ids.len() as u64).sum(),
        ));
        Ok(())
    };
    for_each_batch(&corpus, &windower, config.batch_size, run)?;
    progress(Progress::Writing);
    writer.finish().map(|info| (info, bad))
}
