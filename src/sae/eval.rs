//! `featurescope eval-sae`: how well a dictionary reconstructs activations
//! it was not trained on, and how sparse and alive its features are there.
use super::Dictionary;
use super::Result;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReconstructionReport {
    pub tokens: u64,
    /// Mean over tokens of ‖x − x̂‖².
    pub mse: f64,
    /// 1 − E‖x − x̂‖² / E‖x − E x‖².
    pub explained_variance: f64,
    /// Mean active features per token.
    pub l0: f64,
    /// Features that never fired on these tokens.
    pub dead_fraction: f64,
    /// Features firing on more than `dense_threshold` of the tokens.
    pub dense_fraction: f64,
    pub dense_threshold: f64,
    /// Next-token loss with the reconstruction patched in (causal models, from a corpus).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token_loss: Option<NextTokenLoss>,
}

/// Mean next-token cross-entropy over the same tokens three ways, and how
/// much of the loss that zero-ablating the hook adds the reconstruction
/// takes back: (zero − reconstructed) / (zero − clean).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NextTokenLoss {
    pub tokens: u64,
    pub clean: f64,
    pub reconstructed: f64,
    pub zero_ablated: f64,
    pub recovered: f64,
}

#[derive(Default)]
struct LossSums {
    tokens: f64,
    clean: f64,
    reconstructed: f64,
    zero_ablated: f64,
}

impl LossSums {
    fn finish(&self) -> NextTokenLoss {
        let n = self.tokens.max(1.0);
        let (clean, reconstructed, zero) = (
            self.clean / n,
            self.reconstructed / n,
            self.zero_ablated / n,
        );
        NextTokenLoss {
            tokens: self.tokens as u64,
            clean,
            reconstructed,
            zero_ablated: zero,
            recovered: (zero - reconstructed) / (zero - clean),
        }
    }
}

/// Summed next-token loss of a batch (targets are the real tokens after the first).
fn summed_loss(logits: &Tensor, ids: &Tensor, mask: &Tensor) -> (f64, f64) {
    let seq = ids.size()[1];
    let predicted = logits.narrow(1, 0, seq - 1).log_softmax(-1, Kind::Float);
    let targets = ids.narrow(1, 1, seq - 1).unsqueeze(-1);
    let real = mask.narrow(1, 1, seq - 1).to_kind(Kind::Float);
    let nll = -predicted.gather(-1, &targets, false).squeeze_dim(-1) * &real;
    (
        nll.sum(Kind::Double).double_value(&[]),
        real.sum(Kind::Double).double_value(&[]),
    )
}

/// Adds a batch's clean, patched (at `hook`) and zero-ablated losses to `sums`.
fn add_losses(
    model: &dyn crate::model::SubjectModel,
    dictionary: &Dictionary,
    hook: crate::model::HookPoint,
    ids: &Tensor,
    mask: &Tensor,
    sums: &mut LossSums,
) -> Result<()> {
    let reconstruct = |t: &Tensor| dictionary.encode_decode(t).1.to_kind(t.kind());
    let zero = |t: &Tensor| t.zeros_like();
    tch::no_grad(|| -> Result<()> {
        let (clean, count) = summed_loss(&model.logits(ids, mask, None)?, ids, mask);
        let patched = |replace: &dyn Fn(&Tensor) -> Tensor| -> Result<f64> {
            let patch = crate::model::Patch { hook, replace };
            Ok(summed_loss(&model.logits(ids, mask, Some(patch))?, ids, mask).0)
        };
        sums.reconstructed += patched(&reconstruct)?;
        sums.zero_ablated += patched(&zero)?;
        sums.clean += clean;
        sums.tokens += count;
        Ok(())
    })
}

/// The next-token loss of one batch of token ids, clean, with `dictionary`'s
/// reconstruction patched in at its hook, and with that hook zero-ablated
/// (what `eval-sae` adds up over a corpus's windows).
pub fn next_token_loss(
    model: &dyn crate::model::SubjectModel,
    dictionary: &Dictionary,
    ids: &Tensor,
    mask: &Tensor,
) -> Result<NextTokenLoss> {
    let hook = hook_of(dictionary)?;
    let (shape, mask_shape) = (ids.size(), mask.size());
    if shape.len() != 2 || shape[1] < 2 || mask_shape != shape {
        return Err(super::SaeError::Input {
            what: "token ids".into(),
            problem: format!(
                "ids {shape:?} and mask {mask_shape:?} must both be [batch, seq] with seq ≥ 2"
            ),
        });
    }
    let mut sums = LossSums::default();
    add_losses(model, dictionary, hook, ids, mask, &mut sums)?;
    Ok(sums.finish())
}

fn hook_of(dictionary: &Dictionary) -> Result<crate::model::HookPoint> {
    dictionary.hook.ok_or_else(|| super::SaeError::Input {
        what: "dictionary".into(),
        problem: "its cfg.json names no hook point (metadata.hook_name)".into(),
    })
}

/// Accumulates the metrics batch by batch, so any number of tokens fits.
pub struct ReconstructionMetrics {
    tokens: u64,
    error_sq: f64,
    norm_sq: f64,
    sum: Tensor,
    active: f64,
    fire_counts: Tensor,
}

impl ReconstructionMetrics {
    pub fn new(dictionary: &Dictionary) -> Self {
        let options = (Kind::Double, dictionary.device());
        Self {
            tokens: 0,
            error_sq: 0.0,
            norm_sq: 0.0,
            sum: Tensor::zeros([dictionary.d_in()], options),
            active: 0.0,
            fire_counts: Tensor::zeros([dictionary.d_sae()], options),
        }
    }

    /// Adds a batch `x` [tokens, d_in].
    pub fn add(&mut self, dictionary: &Dictionary, x: &Tensor) {
        let x = x.to_device(dictionary.device()).to_kind(Kind::Float);
        let (features, reconstruction) = tch::no_grad(|| dictionary.encode_decode(&x));
        let x = x.to_kind(Kind::Double);
        let sq = |t: &Tensor| t.square().sum(Kind::Double).double_value(&[]);
        self.error_sq += sq(&(reconstruction.to_kind(Kind::Double) - &x));
        self.norm_sq += sq(&x);
        self.sum += x.sum_dim_intlist([0i64].as_slice(), false, Kind::Double);
        let firing = features.ne(0.0).to_kind(Kind::Double);
        self.active += firing.sum(Kind::Double).double_value(&[]);
        self.fire_counts += firing.sum_dim_intlist([0i64].as_slice(), false, Kind::Double);
        self.tokens += x.size()[0] as u64;
    }

    pub fn finish(&self, dense_threshold: f64) -> ReconstructionReport {
        let n = self.tokens.max(1) as f64;
        let mean_sq = self.sum.square().sum(Kind::Double).double_value(&[]) / n;
        let variance = (self.norm_sq - mean_sq).max(f64::MIN_POSITIVE);
        let d_sae = self.fire_counts.size()[0] as f64;
        let fraction =
            |t: Tensor| t.to_kind(Kind::Double).sum(Kind::Double).double_value(&[]) / d_sae;
        ReconstructionReport {
            tokens: self.tokens,
            mse: self.error_sq / n,
            explained_variance: 1.0 - self.error_sq / variance,
            l0: self.active / n,
            dead_fraction: fraction(self.fire_counts.eq(0.0)),
            dense_fraction: fraction(self.fire_counts.gt(dense_threshold * n)),
            dense_threshold,
            next_token_loss: None,
        }
    }
}

/// Where held-out activations come from.
pub enum HeldOut<'a> {
    Cache(&'a crate::activations::ActivationCache),
    Corpus {
        model_dir: &'a std::path::Path,
        corpus: &'a std::path::Path,
        text_field: &'a str,
        window_tokens: usize,
        device: Device,
    },
}

/// Reconstruction metrics on up to `max_tokens` tokens, read in order.
pub fn evaluate(
    dictionary: &Dictionary,
    held_out: HeldOut,
    max_tokens: u64,
    dense_threshold: f64,
) -> Result<ReconstructionReport> {
    let mut metrics = ReconstructionMetrics::new(dictionary);
    let mut losses: Option<LossSums> = None;
    let d_in = dictionary.d_in();
    let add = |rows: &[f32], metrics: &mut ReconstructionMetrics| {
        let room = (max_tokens - metrics.tokens) as usize * d_in as usize;
        let rows = &rows[..rows.len().min(room)];
        if !rows.is_empty() {
            metrics.add(dictionary, &Tensor::from_slice(rows).view([-1, d_in]));
        }
    };
    match held_out {
        HeldOut::Cache(cache) => {
            if cache.d_in() != d_in as usize {
                return Err(super::SaeError::Input {
                    what: "--cache".into(),
                    problem: format!(
                        "d_in {} does not match the dictionary's {d_in}",
                        cache.d_in()
                    ),
                });
            }
            let end = (cache.tokens() as u64).min(max_tokens) as usize;
            let mut rows = Vec::new();
            for start in (0..end).step_by(4096) {
                rows.clear();
                for i in start..(start + 4096).min(end) {
                    cache.copy_row(i, &mut rows);
                }
                add(&rows, &mut metrics);
            }
        }
        HeldOut::Corpus {
            model_dir,
            corpus,
            text_field,
            window_tokens,
            device,
        } => {
            use crate::activations::{Corpus, Window, Windower, batch_inputs, for_each_batch};
            let hook = hook_of(dictionary)?;
            let model = crate::model::load(model_dir, device)?;
            let tokenizer = crate::model::TextTokenizer::load(model_dir)?;
            let windower = Windower::new(&tokenizer, window_tokens)?;
            let corpus = Corpus::open(corpus, text_field)?;
            let specials = windower.special_counts();
            let causal = model.config().architecture != crate::model::Architecture::Bert;
            let mut sums = LossSums::default();
            let mut failure = None;
            let run = |batch: &[(u64, Window)]| -> Result<()> {
                if metrics.tokens < max_tokens {
                    let rows = crate::activations::text_token_rows(
                        model.as_ref(),
                        batch,
                        hook,
                        device,
                        specials,
                    )?;
                    add(&rows, &mut metrics);
                    if causal && failure.is_none() {
                        let (ids, mask) = batch_inputs(batch, device);
                        failure =
                            add_losses(model.as_ref(), dictionary, hook, &ids, &mask, &mut sums)
                                .err();
                    }
                }
                Ok(())
            };
            for_each_batch(&corpus, &windower, 32, run)?;
            if let Some(e) = failure {
                return Err(e);
            }
            losses = causal.then_some(sums);
        }
    }
    if metrics.tokens == 0 {
        return Err(super::SaeError::Input {
            what: "held-out data".into(),
            problem: "no tokens to evaluate on".into(),
        });
    }
    let mut report = metrics.finish(dense_threshold);
    report.next_token_loss = losses.map(|s| s.finish());
    Ok(report)
}
