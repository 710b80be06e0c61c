//! Windows in batches: every window of a corpus in order, grouped by length
//! so that little compute goes to padding, and the model run over a batch.
//! The visitors may fail with their own error type, so that a caller's
//! cancellation or selection errors pass through unchanged.
use super::corpus::{BadDocument, Corpus};
use super::windows::{Window, Windower};
use super::{ActivationError, Result};
use crate::model::{HookPoint, SubjectModel};
use tch::{Device, Kind, Tensor};

/// Windows cut ahead of the visitor, on the reading thread, per message.
const READ_AHEAD_WINDOWS: usize = 256;

/// What the reading thread sends: windows, and documents it could not read,
/// in corpus order.
enum Read {
    Window(Window),
    Bad(BadDocument),
}

/// The reading thread's reasons to stop.
enum ReadStop {
    Failed(ActivationError),
    /// The visitor stopped (its error is returned), so nobody listens.
    VisitorGone,
}

impl From<ActivationError> for ReadStop {
    fn from(e: ActivationError) -> Self {
        Self::Failed(e)
    }
}

/// Calls `visit` for every window of the corpus, in order, with its index.
/// The corpus is read and tokenised on a thread of its own, a few hundred
/// windows ahead, so that a visitor running the model does not wait for
/// the tokenizer (one pass of it over the fortunes corpus takes a second).
pub fn for_each_window<E: From<ActivationError>>(
    corpus: &Corpus,
    windower: &Windower,
    mut bad: impl FnMut(BadDocument),
    mut visit: impl FnMut(u64, Window) -> Result<(), E>,
) -> Result<(), E> {
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<Read>>(2);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut chunk = Vec::with_capacity(READ_AHEAD_WINDOWS);
            let send = |chunk: &mut Vec<Read>| {
                let full = std::mem::replace(chunk, Vec::with_capacity(READ_AHEAD_WINDOWS));
                sender.send(full).map_err(|_| ReadStop::VisitorGone)
            };
            let read = corpus.for_each::<ReadStop>(|doc| {
                match doc {
                    Ok(doc) => {
                        for window in windower.split(&doc)? {
                            chunk.push(Read::Window(window));
                            if chunk.len() >= READ_AHEAD_WINDOWS {
                                send(&mut chunk)?;
                            }
                        }
                    }
                    Err(b) => chunk.push(Read::Bad(b)),
                }
                Ok(())
            });
            // What was read before a failure is visited before it is reported.
            send(&mut chunk)?;
            read
        });
        let mut index = 0u64;
        let visited = receiver
            .iter()
            .flatten()
            .try_for_each(|read| -> Result<(), E> {
                match read {
                    Read::Window(window) => {
                        visit(index, window)?;
                        index += 1;
                    }
                    Read::Bad(b) => bad(b),
                }
                Ok(())
            });
        drop(receiver);
        let read = reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        visited?;
        match read {
            Err(ReadStop::Failed(e)) => Err(e.into()),
            Ok(()) | Err(ReadStop::VisitorGone) => Ok(()),
        }
    })
}

/// Runs `run` on every window of the corpus, in length-bucketed batches of
/// `batch_size` (documents that cannot be read are skipped here).
pub fn for_each_batch<E: From<ActivationError>>(
    corpus: &Corpus,
    windower: &Windower,
    batch_size: usize,
    run: impl FnMut(&[(u64, Window)]) -> Result<(), E>,
) -> Result<(), E> {
    for_each_batch_of(corpus, windower, batch_size, |_| true, run)
}

/// [`for_each_batch`] over the windows whose index `keep` accepts.
pub fn for_each_batch_of<E: From<ActivationError>>(
    corpus: &Corpus,
    windower: &Windower,
    batch_size: usize,
    keep: impl Fn(u64) -> bool,
    mut run: impl FnMut(&[(u64, Window)]) -> Result<(), E>,
) -> Result<(), E> {
    let mut batcher = Batcher::new(batch_size);
    for_each_window::<E>(
        corpus,
        windower,
        |_| {},
        |i, w| {
            if keep(i) {
                batcher.push(i, w, &mut run)?;
            }
            Ok(())
        },
    )?;
    batcher.flush(&mut run)
}

/// Windows pooled before batching. Fixed, so the order in which units see
/// windows (and so the selection) does not depend on the batch size. On the
/// fortunes corpus, batches of 32 windows padded to their longest hold 2.7%
/// padding with pools of 1,024, 0.8% with 4,096 and 0.2% sorting the whole
/// corpus; a pool of 4,096 windows of 64 tokens holds about 10 MB.
const POOL_WINDOWS: usize = 4096;

/// Groups windows of similar length into batches, so that little compute goes
/// to padding (short documents make many short windows).
pub struct Batcher {
    pool: Vec<(u64, Window)>,
    batch_size: usize,
}

impl Batcher {
    pub fn new(batch_size: usize) -> Self {
        Self {
            pool: Vec::with_capacity(POOL_WINDOWS),
            batch_size: batch_size.max(1),
        }
    }

    pub fn push<E>(
        &mut self,
        index: u64,
        window: Window,
        run: &mut impl FnMut(&[(u64, Window)]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.pool.push((index, window));
        if self.pool.len() >= POOL_WINDOWS {
            self.flush(run)?;
        }
        Ok(())
    }

    pub fn flush<E>(
        &mut self,
        run: &mut impl FnMut(&[(u64, Window)]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.pool.sort_by_key(|(i, w)| (w.ids.len(), *i));
        for batch in self.pool.chunks(self.batch_size) {
            run(batch)?;
        }
        self.pool.clear();
        Ok(())
    }
}

/// Runs a batch of windows (padded on the right) and returns the activations
/// at `hooks`, each `[window, token, width]`.
pub fn forward_windows(
    model: &dyn SubjectModel,
    batch: &[(u64, Window)],
    hooks: &[HookPoint],
    device: Device,
) -> Result<Vec<Tensor>> {
    let (ids, mask) = batch_inputs(batch, device);
    Ok(tch::no_grad(|| model.forward(&ids, &mask, hooks))?)
}

/// Token ids and attention mask `[window, longest]` of a batch, padded on the right.
pub fn batch_inputs(batch: &[(u64, Window)], device: Device) -> (Tensor, Tensor) {
    let windows: Vec<&[i64]> = batch.iter().map(|(_, w)| w.ids.as_slice()).collect();
    crate::model::padded_batch(&windows, device)
}

/// The activations at `hook` of every text token of the batch, row by row
/// (`[token][width]`), leaving out padding and the `specials` (leading,
/// trailing) special tokens of each window: the rows an SAE trains on.
pub fn text_token_rows(
    model: &dyn SubjectModel,
    batch: &[(u64, Window)],
    hook: HookPoint,
    device: Device,
    specials: (usize, usize),
) -> Result<Vec<f32>> {
    let out = forward_windows(model, batch, &[hook], device)?
        .pop()
        .expect("one output per hook");
    let (longest, width) = (out.size()[1] as usize, out.size()[2] as usize);
    let all = Vec::<f32>::try_from(
        out.to_kind(Kind::Float)
            .to_device(Device::Cpu)
            .contiguous()
            .flatten(0, -1),
    )?;
    let mut rows = Vec::new();
    for (b, (_, w)) in batch.iter().enumerate() {
        let end = w.ids.len().saturating_sub(specials.1);
        if end > specials.0 {
            let base = b * longest * width;
            rows.extend_from_slice(&all[base + specials.0 * width..base + end * width]);
        }
    }
    Ok(rows)
}
