//! SAE training: `featurescope train --config sae.toml`.
//!
//! The output folder holds, when training ends, the dictionary in SAELens's
//! layout (`cfg.json`, `sae_weights.safetensors`) with the input scaling
//! folded into the weights; along the way, `metrics.jsonl` (one line per
//! metrics step) and `checkpoint/` (parameters, Adam moments, dead-latent
//! counters and the data position), replaced atomically every
//! `checkpoint_every` steps so that `--resume` continues after a kill.
use super::dictionary::{Activation, Dictionary};
use super::optim::{Adam, clip_grad_norm, l1_coefficient, learning_rate};
use super::source::{ActivationSource, CacheSource, StreamSource, StreamSpec};
pub use super::step::Architecture;
use super::step::{Coefficients, Params, step};
use super::{Result, SaeError, format_error, io_error};
use crate::activations::ActivationCache;
use crate::dataset::UnitKind;
use crate::model::HookPoint;
use crate::publish::write_atomically;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use tch::{Device, Kind, Tensor};

const CHECKPOINT_DIR: &str = "checkpoint";
const STATE_TENSORS: &str = "state.safetensors";
const STATE_JSON: &str = "state.json";
pub const METRICS_FILE: &str = "metrics.jsonl";

/// The whole training configuration, as read from sae.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Output folder: the dictionary, metrics.jsonl and checkpoint/.
    pub out: PathBuf,
    /// `cpu` or `cuda`.
    #[serde(default = "default_device")]
    pub device: String,
    pub data: DataConfig,
    #[serde(default)]
    pub sae: SaeConfig,
    #[serde(default)]
    pub train: TrainLoopConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// An activation cache written by `extract --cache`; or give model, corpus and hook.
    #[serde(default)]
    pub cache: Option<PathBuf>,
    #[serde(default)]
    pub model: Option<PathBuf>,
    #[serde(default)]
    pub corpus: Option<PathBuf>,
    #[serde(default = "default_text_field")]
    pub text_field: String,
    /// `blocks.L.resid_post`, `blocks.L.resid_pre` or `blocks.L.mlp`.
    #[serde(default)]
    pub hook: Option<String>,
    #[serde(default = "default_window")]
    pub window: usize,
    /// Windows per forward pass of the subject model.
    #[serde(default = "default_batch_windows")]
    pub batch_windows: usize,
    /// Tokens held in the shuffle buffer when streaming.
    #[serde(default = "default_buffer")]
    pub shuffle_buffer_tokens: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SaeConfig {
    pub architecture: Architecture,
    /// Latents per input dimension (R in Cunningham et al.); ignored when d_sae is set.
    pub expansion_factor: f64,
    pub d_sae: Option<i64>,
    /// α of the L1 penalty (tied and standard).
    pub l1_coefficient: f64,
    pub l1_warm_up_steps: u64,
    /// Active latents per token (topk).
    pub k: i64,
    /// Weight of the AuxK loss on dead latents (topk).
    pub aux_k_coefficient: f64,
    /// A latent that has not fired for this many steps is dead.
    pub dead_window_steps: u64,
    /// `expected_norm`: scale inputs to mean norm sqrt(d_in) while training
    /// (folded into the saved weights); `none`.
    pub normalize_activations: String,
    /// `mean` (of the first batches) or `zeros`.
    pub b_dec_init: String,
    /// Initial norm of the decoder rows (standard and topk).
    pub decoder_init_norm: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainLoopConfig {
    pub tokens: u64,
    pub batch: usize,
    pub lr: f64,
    pub adam_beta1: f64,
    pub adam_beta2: f64,
    pub lr_warm_up_steps: u64,
    /// Linear decay to zero over the last steps.
    pub lr_decay_steps: u64,
    /// Largest joint gradient norm.
    pub grad_clip: f64,
    pub seed: u64,
    pub metrics_every: u64,
    pub checkpoint_every: u64,
    /// A latent firing on more than this fraction of tokens is dense.
    pub dense_threshold: f64,
}

fn default_device() -> String {
    "cpu".into()
}
fn default_text_field() -> String {
    "text".into()
}
fn default_window() -> usize {
    64
}
fn default_batch_windows() -> usize {
    32
}
fn default_buffer() -> usize {
    1 << 16
}

impl Default for SaeConfig {
    fn default() -> Self {
        Self {
            architecture: Architecture::Standard,
            expansion_factor: 8.0,
            d_sae: None,
            l1_coefficient: 5.0,
            l1_warm_up_steps: 0,
            k: 32,
            aux_k_coefficient: 1.0 / 32.0,
            dead_window_steps: 1000,
            normalize_activations: "expected_norm".into(),
            b_dec_init: "mean".into(),
            decoder_init_norm: 0.1,
        }
    }
}

impl Default for TrainLoopConfig {
    fn default() -> Self {
        Self {
            tokens: 2_000_000,
            batch: 4096,
            lr: 3e-4,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            lr_warm_up_steps: 0,
            lr_decay_steps: 0,
            grad_clip: 1.0,
            seed: 0,
            metrics_every: 100,
            checkpoint_every: 500,
            dense_threshold: 0.1,
        }
    }
}

impl TrainConfig {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(io_error(path))?;
        let config: Self = toml::from_str(&text).map_err(|e| format_error(path, e.to_string()))?;
        config
            .check()
            .map_err(|problem| format_error(path, problem.to_string()))?;
        Ok(config)
    }

    /// Relative paths in the file are relative to the working directory.
    pub fn check(&self) -> std::result::Result<(), InvalidConfig> {
        self.find_problem().map_err(InvalidConfig)
    }

    /// What is wrong with the configuration, naming the field.
    fn find_problem(&self) -> std::result::Result<(), String> {
        let d = &self.data;
        match (&d.cache, &d.model, &d.corpus) {
            (Some(_), None, None) => {}
            (None, Some(_), Some(_)) if d.hook.is_some() => {}
            (None, Some(_), Some(_)) => return Err("data.hook is needed with data.model".into()),
            _ => {
                return Err("[data] needs either `cache`, or `model`, `corpus` and `hook`".into());
            }
        }
        if let Some(h) = &d.hook
            && crate::model::HookPoint::parse(h).is_none()
        {
            return Err(format!(
                "data.hook {h:?}: expected blocks.<layer>.resid_post, resid_pre or mlp"
            ));
        }
        let s = &self.sae;
        if !matches!(s.normalize_activations.as_str(), "expected_norm" | "none") {
            return Err("sae.normalize_activations: expected_norm or none".into());
        }
        if !matches!(s.b_dec_init.as_str(), "mean" | "zeros") {
            return Err("sae.b_dec_init: mean or zeros".into());
        }
        let t = &self.train;
        let positive = [
            ("train.batch", t.batch as f64),
            ("train.lr", t.lr),
            ("train.tokens", t.tokens as f64),
            ("train.metrics_every", t.metrics_every as f64),
            ("train.checkpoint_every", t.checkpoint_every as f64),
            ("sae.k", s.k as f64),
            ("sae.expansion_factor", s.expansion_factor),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be positive"));
            }
        }
        if !(s.l1_coefficient.is_finite() && s.l1_coefficient >= 0.0) {
            return Err("sae.l1_coefficient must be zero or more".into());
        }
        Ok(())
    }

    pub fn total_steps(&self) -> u64 {
        self.train.tokens.div_ceil(self.train.batch as u64)
    }

    fn d_sae(&self, d_in: usize) -> i64 {
        self.sae
            .d_sae
            .unwrap_or((self.sae.expansion_factor * d_in as f64).round() as i64)
            .max(1)
    }

    /// The parts of the configuration a resumed run must share with the first.
    fn resume_key(&self) -> serde_json::Value {
        let mut key = serde_json::to_value(self).expect("config is JSON");
        // Extending a run or moving it to another device is allowed.
        key["train"]["tokens"] = serde_json::Value::Null;
        key["train"]["checkpoint_every"] = serde_json::Value::Null;
        key["train"]["metrics_every"] = serde_json::Value::Null;
        key["device"] = serde_json::Value::Null;
        key
    }
}

/// Metrics of one metrics step, on that step's batch (MSE in the input's units).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub step: u64,
    pub tokens: u64,
    pub lr: f64,
    pub l1_coefficient: f64,
    pub mse: f64,
    pub explained_variance: f64,
    pub l0: f64,
    pub dead_fraction: f64,
    pub dense_fraction: f64,
    pub sparsity_loss: f64,
    pub aux_loss: f64,
    pub grad_norm: f64,
    pub tokens_per_s: f64,
}

/// Whether the output folder `out` holds a checkpoint to resume from.
pub fn has_checkpoint(out: &Path) -> bool {
    out.join(CHECKPOINT_DIR).join(STATE_JSON).exists()
}

impl Metrics {
    /// One line for progress displays.
    pub fn summary(&self) -> String {
        format!(
            "mse {:.4}  ev {:.3}  L0 {:.1}  dead {:.1}%  {:.0} tok/s",
            self.mse,
            self.explained_variance,
            self.l0,
            self.dead_fraction * 100.0,
            self.tokens_per_s
        )
    }
}

#[derive(Debug, Clone)]
pub enum TrainProgress {
    Started { total_steps: u64, start_step: u64 },
    Step { step: u64, tokens: u64 },
    Metrics(Metrics),
    Checkpoint { step: u64 },
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub out: PathBuf,
    pub steps: u64,
    pub tokens: u64,
    pub resumed_from: Option<u64>,
    pub final_metrics: Option<Metrics>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointState {
    step: u64,
    tokens: u64,
    adam_steps: u64,
    source_position: u64,
    scale: f64,
    d_in: usize,
    config: serde_json::Value,
}

/// Where the inputs come from, with what the saved dictionary records.
struct Input {
    source: Box<dyn ActivationSource>,
    hook: Option<HookPoint>,
    model_name: Option<String>,
    description: String,
}

fn open_input(config: &TrainConfig, device: Device, position: u64) -> Result<Input> {
    let d = &config.data;
    if let Some(cache_dir) = &d.cache {
        let cache = ActivationCache::open(cache_dir)?;
        let hook = cache.info.hook_point();
        let model_name = Some(cache.info.model.clone());
        return Ok(Input {
            source: Box::new(CacheSource::new(cache, config.train.seed, position)?),
            hook,
            model_name,
            description: format!("cache {}", cache_dir.display()),
        });
    }
    let (Some(model), Some(corpus), Some(hook)) = (&d.model, &d.corpus, &d.hook) else {
        unreachable!("checked by TrainConfig::check");
    };
    let hook = crate::model::HookPoint::parse(hook).expect("checked by TrainConfig::check");
    let spec = StreamSpec {
        model_dir: model.clone(),
        corpus: corpus.clone(),
        text_field: d.text_field.clone(),
        hook,
        window_tokens: d.window,
        batch_windows: d.batch_windows,
        device,
        buffer_tokens: d.shuffle_buffer_tokens.max(config.train.batch),
        seed: config.train.seed,
    };
    Ok(Input {
        source: Box::new(StreamSource::start(spec, position)?),
        hook: Some(hook),
        model_name: Some(crate::activations::display_name(model)),
        description: format!("{} over {}", model.display(), corpus.display()),
    })
}

/// What is wrong with a training configuration, naming the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidConfig(String);

/// Everything that changes during training.
struct State {
    params: Params,
    adam: Adam,
    /// Steps since each latent last fired.
    since_fired: Tensor,
    step: u64,
    tokens: u64,
    scale: f64,
}

fn init_state(
    config: &TrainConfig,
    source: &mut dyn ActivationSource,
    device: Device,
) -> Result<State> {
    let d_in = source.d_in();
    let d_sae = config.d_sae(d_in);
    // Mean and norm from the first rows, as SAELens estimates its scaling factor.
    let sample_rows = (config.train.batch * 16).min(1 << 16);
    let mut rows = Vec::new();
    source.next_batch(sample_rows, &mut rows)?;
    let sample = Tensor::from_slice(&rows).view([sample_rows as i64, d_in as i64]);
    if !bool::try_from(sample.isfinite().all())? {
        return Err(SaeError::Input {
            what: "training activations".into(),
            problem: "they hold NaN or infinite values".into(),
        });
    }
    let mean_norm = sample
        .norm_scalaropt_dim(2, [1i64].as_slice(), false)
        .mean(Kind::Float)
        .double_value(&[]);
    let scale = match config.sae.normalize_activations.as_str() {
        "expected_norm" if mean_norm > 0.0 => (d_in as f64).sqrt() / mean_norm,
        _ => 1.0,
    };
    tch::manual_seed(config.train.seed as i64);
    let options = (Kind::Float, device);
    // Kaiming-uniform decoder rows (torch's default bound sqrt(6 / d_in)), rescaled.
    let bound = (6.0 / d_in as f64).sqrt();
    let w_dec = (Tensor::rand([d_sae, d_in as i64], options) * 2.0 - 1.0) * bound;
    let row_norm = match config.sae.architecture {
        Architecture::Tied => 1.0,
        _ => config.sae.decoder_init_norm,
    };
    let w_dec = &w_dec / w_dec.norm_scalaropt_dim(2, [1i64].as_slice(), true) * row_norm;
    let b_dec = match (config.sae.architecture, config.sae.b_dec_init.as_str()) {
        (Architecture::Tied, _) | (_, "zeros") => Tensor::zeros([d_in as i64], options),
        _ => (sample.mean_dim([0i64].as_slice(), false, Kind::Float) * scale).to_device(device),
    };
    let params = Params {
        w_enc: w_dec.tr().contiguous(),
        b_enc: Tensor::zeros([d_sae], options),
        w_dec,
        b_dec,
    };
    let trainable: Vec<&Tensor> = params
        .trainable(config.sae.architecture)
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    let adam = Adam::new(&trainable, config.train.adam_beta1, config.train.adam_beta2);
    Ok(State {
        params,
        adam,
        since_fired: Tensor::zeros([d_sae], options),
        step: 0,
        tokens: 0,
        scale,
    })
}

fn checkpoint_tensors(arch: Architecture, s: &State) -> Vec<(String, Tensor)> {
    let cpu = |t: &Tensor| t.to_device(Device::Cpu).contiguous();
    let mut out: Vec<(String, Tensor)> = s
        .params
        .trainable(arch)
        .into_iter()
        .map(|(n, t)| (n.to_owned(), cpu(t)))
        .collect();
    let names: Vec<String> = out.iter().map(|(n, _)| n.clone()).collect();
    for (name, (m, v)) in names.iter().zip(&s.adam.moments) {
        out.push((format!("adam.m.{name}"), cpu(m)));
        out.push((format!("adam.v.{name}"), cpu(v)));
    }
    out.push(("since_fired".into(), cpu(&s.since_fired)));
    out
}

fn save_checkpoint(
    out: &Path,
    config: &TrainConfig,
    state: &State,
    source_position: u64,
    d_in: usize,
) -> Result<()> {
    let staged = out.join(format!(
        ".{CHECKPOINT_DIR}.partial-{}",
        crate::publish::unique_suffix()
    ));
    std::fs::create_dir_all(&staged).map_err(io_error(&staged))?;
    let result = (|| -> Result<()> {
        let tensors = checkpoint_tensors(config.sae.architecture, state);
        let path = staged.join(STATE_TENSORS);
        Tensor::write_safetensors(&tensors, &path)?;
        let json = CheckpointState {
            step: state.step,
            tokens: state.tokens,
            adam_steps: state.adam.steps,
            source_position,
            scale: state.scale,
            d_in,
            config: config.resume_key(),
        };
        let path = staged.join(STATE_JSON);
        std::fs::write(&path, serde_json::to_vec_pretty(&json).expect("JSON"))
            .map_err(io_error(&path))?;
        crate::publish::sync_dir(&staged)?;
        crate::publish::swap_into_place(&staged, &out.join(CHECKPOINT_DIR))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staged);
    }
    result
}

fn load_checkpoint(
    out: &Path,
    config: &TrainConfig,
    device: Device,
) -> Result<(State, u64, usize)> {
    let dir = out.join(CHECKPOINT_DIR);
    let json_path = dir.join(STATE_JSON);
    let text = std::fs::read(&json_path).map_err(io_error(&json_path))?;
    let saved: CheckpointState = serde_json::from_slice(&text)
        .map_err(|e| format_error(&json_path, format!("not a checkpoint: {e}")))?;
    if saved.config != config.resume_key() {
        return Err(format_error(
            &json_path,
            "the checkpoint was made with another configuration (only train.tokens, \
             metrics_every, checkpoint_every and device may change on --resume)",
        ));
    }
    let tensor_path = dir.join(STATE_TENSORS);
    let tensors = Tensor::read_safetensors(&tensor_path)
        .map_err(|e| format_error(&tensor_path, e.to_string()))?;
    let get = |name: &str| -> Result<Tensor> {
        tensors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.to_device(device))
            .ok_or_else(|| format_error(&tensor_path, format!("no tensor `{name}`")))
    };
    let arch = config.sae.architecture;
    let w_dec = get("W_dec")?;
    let (d_sae, d_in) = (w_dec.size()[0], w_dec.size()[1]);
    let params = Params {
        w_enc: match arch {
            Architecture::Tied => w_dec.tr().contiguous(),
            _ => get("W_enc")?,
        },
        b_enc: get("b_enc")?,
        b_dec: match arch {
            Architecture::Tied => Tensor::zeros([d_in], (Kind::Float, device)),
            _ => get("b_dec")?,
        },
        w_dec,
    };
    let names: Vec<&str> = params.trainable(arch).into_iter().map(|(n, _)| n).collect();
    let moments = names
        .iter()
        .map(|n| Ok((get(&format!("adam.m.{n}"))?, get(&format!("adam.v.{n}"))?)))
        .collect::<Result<Vec<_>>>()?;
    let adam = Adam {
        beta1: config.train.adam_beta1,
        beta2: config.train.adam_beta2,
        eps: 1e-8,
        steps: saved.adam_steps,
        moments,
    };
    let since_fired = get("since_fired")?;
    if since_fired.size() != [d_sae] {
        return Err(format_error(
            &tensor_path,
            "since_fired does not match W_dec",
        ));
    }
    Ok((
        State {
            params,
            adam,
            since_fired,
            step: saved.step,
            tokens: saved.tokens,
            scale: saved.scale,
        },
        saved.source_position,
        saved.d_in,
    ))
}

/// Keeps the metrics lines of steps up to `step` (a resumed run rewrites what follows).
fn truncate_metrics(path: &Path, step: u64) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<Metrics>(l)
                .map(|m| m.step <= step)
                .unwrap_or(false)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    write_atomically(path, |tmp| {
        std::fs::write(tmp, kept.as_bytes()).map_err(io_error(tmp))
    })
}

/// Trains (or, with `resume`, continues training) the SAE `config` describes.
/// `cancel` stops at the next step with a checkpoint.
pub fn train(
    config: &TrainConfig,
    resume: bool,
    cancel: &AtomicBool,
    mut progress: impl FnMut(TrainProgress),
) -> Result<TrainReport> {
    config.check().map_err(|problem| SaeError::Input {
        what: "configuration".into(),
        problem: problem.to_string(),
    })?;
    let device = crate::device::open(&config.device)?;
    let out = &config.out;
    let has_checkpoint = has_checkpoint(out);
    if has_checkpoint && !resume {
        return Err(SaeError::Input {
            what: out.display().to_string(),
            problem: "it holds a training checkpoint: add --resume to continue it, \
                      or choose another `out`"
                .into(),
        });
    }
    if !has_checkpoint && resume {
        return Err(SaeError::Input {
            what: out.display().to_string(),
            problem: "--resume: there is no checkpoint to continue".into(),
        });
    }
    if out.exists() && !has_checkpoint {
        let empty = std::fs::read_dir(out)
            .map_err(io_error(out))?
            .next()
            .is_none();
        if !empty && !out.join(super::dictionary::CONFIG_FILE).exists() {
            return Err(SaeError::Input {
                what: out.display().to_string(),
                problem: "refusing to write into a folder that is neither empty nor a dictionary"
                    .into(),
            });
        }
    }
    std::fs::create_dir_all(out).map_err(io_error(out))?;
    let metrics_path = out.join(METRICS_FILE);
    let arch = config.sae.architecture;

    let (mut state, mut input, resumed_from) = if resume {
        let (state, position, d_in) = load_checkpoint(out, config, device)?;
        let input = open_input(config, device, position)?;
        if input.source.d_in() != d_in {
            return Err(SaeError::Input {
                what: "data".into(),
                problem: format!(
                    "the checkpoint has d_in {d_in}, the data {}",
                    input.source.d_in()
                ),
            });
        }
        truncate_metrics(&metrics_path, state.step)?;
        let from = state.step;
        (state, input, Some(from))
    } else {
        let _ = std::fs::remove_file(&metrics_path);
        let mut input = open_input(config, device, 0)?;
        let state = init_state(config, input.source.as_mut(), device)?;
        (state, input, None)
    };
    let d_in = input.source.d_in();
    let total_steps = config.total_steps();
    progress(TrainProgress::Started {
        total_steps,
        start_step: state.step,
    });
    let mut metrics_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&metrics_path)
        .map_err(io_error(&metrics_path))?;
    let batch = config.train.batch;
    let mut rows = Vec::with_capacity(batch * d_in);
    let mut last_saved = state.step;
    let mut last_metrics = None;
    let mut window_start = (std::time::Instant::now(), state.tokens);

    while state.step < total_steps {
        if cancel.load(Ordering::Relaxed) {
            if state.step > last_saved {
                save_checkpoint(out, config, &state, input.source.position(), d_in)?;
                last_saved = state.step;
            }
            return Err(SaeError::Interrupted {
                step: state.step,
                saved: last_saved,
            });
        }
        rows.clear();
        input.source.next_batch(batch, &mut rows)?;
        let x = Tensor::from_slice(&rows)
            .view([batch as i64, d_in as i64])
            .to_device(device);
        let x = if state.scale != 1.0 {
            x * state.scale
        } else {
            x
        };
        let coef = Coefficients {
            l1: l1_coefficient(
                config.sae.l1_coefficient,
                state.step,
                config.sae.l1_warm_up_steps,
            ),
            aux: config.sae.aux_k_coefficient,
            k: config.sae.k,
        };
        let is_metrics_step = (state.step + 1).is_multiple_of(config.train.metrics_every)
            || state.step + 1 == total_steps;
        let dead = state.since_fired.gt(config.sae.dead_window_steps as f64);
        let mut out_step = step(arch, &state.params, &x, coef, Some(&dead), is_metrics_step);
        if !out_step.mse.is_finite() {
            return Err(SaeError::Diverged {
                step: state.step,
                what: "the reconstruction loss".into(),
            });
        }
        let grad_norm = clip_grad_norm(&mut out_step.grads, config.train.grad_clip);
        let lr = learning_rate(
            config.train.lr,
            state.step,
            total_steps,
            config.train.lr_warm_up_steps,
            config.train.lr_decay_steps,
        );
        {
            let trainable: Vec<&Tensor> = state
                .params
                .trainable(arch)
                .into_iter()
                .map(|(_, t)| t)
                .collect();
            state.adam.step(&trainable, &out_step.grads, lr);
        }
        if arch == Architecture::Tied {
            // Cunningham et al. keep the dictionary's rows at unit norm.
            let norms = state
                .params
                .w_dec
                .norm_scalaropt_dim(2, [1i64].as_slice(), true)
                .clamp_min(1e-8);
            let _ = state.params.w_dec.g_div_(&norms);
        }
        let _ = state.since_fired.g_add_scalar_(1.0);
        let _ = state.since_fired.masked_fill_(&out_step.fired, 0.0);
        state.step += 1;
        state.tokens += batch as u64;
        progress(TrainProgress::Step {
            step: state.step,
            tokens: state.tokens,
        });

        if is_metrics_step {
            let counts = out_step
                .fire_counts
                .as_ref()
                .expect("fire counts on metrics steps");
            let n = batch as f64;
            let scale2 = state.scale * state.scale;
            let error_sq = out_step.error.square().sum(Kind::Float).double_value(&[]);
            let centred = &x - x.mean_dim([0i64].as_slice(), true, Kind::Float);
            let variance = centred.square().sum(Kind::Float).double_value(&[]);
            let d_sae = counts.size()[0] as f64;
            let elapsed = window_start.0.elapsed().as_secs_f64();
            let m = Metrics {
                step: state.step,
                tokens: state.tokens,
                lr,
                l1_coefficient: coef.l1,
                mse: error_sq / n / scale2,
                explained_variance: 1.0 - error_sq / variance.max(f64::MIN_POSITIVE),
                l0: counts.sum(Kind::Float).double_value(&[]) / n,
                dead_fraction: if state.step >= config.sae.dead_window_steps {
                    dead.to_kind(Kind::Float).sum(Kind::Float).double_value(&[]) / d_sae
                } else {
                    0.0
                },
                dense_fraction: counts
                    .gt(config.train.dense_threshold * n)
                    .to_kind(Kind::Float)
                    .sum(Kind::Float)
                    .double_value(&[])
                    / d_sae,
                sparsity_loss: out_step.sparsity,
                aux_loss: out_step.aux,
                grad_norm,
                tokens_per_s: (state.tokens - window_start.1) as f64 / elapsed.max(1e-9),
            };
            window_start = (std::time::Instant::now(), state.tokens);
            let line = serde_json::to_string(&m).expect("metrics are JSON");
            writeln!(metrics_file, "{line}").map_err(io_error(&metrics_path))?;
            metrics_file.flush().map_err(io_error(&metrics_path))?;
            progress(TrainProgress::Metrics(m.clone()));
            last_metrics = Some(m);
        }
        if state.step.is_multiple_of(config.train.checkpoint_every) || state.step == total_steps {
            save_checkpoint(out, config, &state, input.source.position(), d_in)?;
            last_saved = state.step;
            progress(TrainProgress::Checkpoint { step: state.step });
        }
    }

    let mut dictionary = fold_into_dictionary(arch, &state, config.sae.k);
    dictionary.hook = input.hook;
    dictionary.model_name = input.model_name.take();
    dictionary.provenance = serde_json::json!({
        "trained_as": arch.as_str(),
        "trained_tokens": state.tokens,
        "steps": state.step,
        "data": input.description,
        "l1_coefficient": config.sae.l1_coefficient,
        "k": (arch == Architecture::TopK).then_some(config.sae.k),
        "input_scale_folded": state.scale,
        "final_metrics": last_metrics,
    });
    dictionary.save(out)?;
    Ok(TrainReport {
        out: out.clone(),
        steps: state.step,
        tokens: state.tokens,
        resumed_from,
        final_metrics: last_metrics,
    })
}

/// The trained SAE as a dictionary on raw activations: inputs were scaled
/// by `s` while training, so W_enc·s, W_dec/s and b_dec/s (SAELens's folding).
fn fold_into_dictionary(arch: Architecture, state: &State, k: i64) -> Dictionary {
    let p = &state.params;
    let s = state.scale;
    let (w_enc, activation) = match arch {
        Architecture::Tied => (p.w_dec.tr() * s, Activation::Relu),
        Architecture::Standard => (&p.w_enc * s, Activation::Relu),
        Architecture::TopK => (&p.w_enc * s, Activation::TopK { k }),
    };
    let mut d = Dictionary::new(UnitKind::Sae, activation, w_enc.contiguous(), &p.w_dec / s);
    d.b_enc = p.b_enc.copy();
    d.b_dec = &p.b_dec / s;
    d.apply_b_dec_to_input = arch != Architecture::Tied;
    d
}
