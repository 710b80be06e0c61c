//! Where training activations come from: an activation cache (shuffled
//! anew each epoch), or a subject model run over a corpus on a background
//! thread, mixed through a shuffle buffer so that a batch does not come from
//! a few documents. Both can restart at a saved position, for `--resume`.
use super::{Result, SaeError};
use crate::activations::{
    ActivationCache, ActivationError, Batcher, Corpus, Window, Windower, for_each_window,
    text_token_rows,
};
use crate::model::HookPoint;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

pub trait ActivationSource {
    fn d_in(&self) -> usize;
    /// Appends `rows` rows of `d_in` values to `out`.
    fn next_batch(&mut self, rows: usize, out: &mut Vec<f32>) -> Result<()>;
    /// Where the next batch starts; a source made with this position
    /// continues from here.
    fn position(&self) -> u64;
}

/// Rows of a cache in a fresh random order each epoch.
pub struct CacheSource {
    cache: ActivationCache,
    seed: u64,
    epoch: u64,
    cursor: usize,
    order: Vec<u32>,
}

impl CacheSource {
    pub fn new(cache: ActivationCache, seed: u64, position: u64) -> Result<Self> {
        let tokens = cache.tokens();
        if tokens == 0 {
            return Err(SaeError::Input {
                what: "activation cache".into(),
                problem: "it holds no tokens".into(),
            });
        }
        let mut source = Self {
            cache,
            seed,
            epoch: position / tokens as u64,
            cursor: (position % tokens as u64) as usize,
            order: Vec::new(),
        };
        source.shuffle();
        Ok(source)
    }

    fn shuffle(&mut self) {
        self.order = (0..self.cache.tokens() as u32).collect();
        let mut rng =
            SmallRng::seed_from_u64(self.seed ^ self.epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        self.order.shuffle(&mut rng);
    }
}

impl ActivationSource for CacheSource {
    fn d_in(&self) -> usize {
        self.cache.d_in()
    }

    fn next_batch(&mut self, rows: usize, out: &mut Vec<f32>) -> Result<()> {
        out.reserve(rows * self.d_in());
        for _ in 0..rows {
            if self.cursor == self.order.len() {
                self.epoch += 1;
                self.cursor = 0;
                self.shuffle();
            }
            self.cache.copy_row(self.order[self.cursor] as usize, out);
            self.cursor += 1;
        }
        Ok(())
    }

    fn position(&self) -> u64 {
        self.epoch * self.order.len() as u64 + self.cursor as u64
    }
}

/// What the streaming source runs.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub model_dir: PathBuf,
    pub corpus: PathBuf,
    pub text_field: String,
    pub hook: HookPoint,
    pub window_tokens: usize,
    pub batch_windows: usize,
    pub device: tch::Device,
    /// Rows held for mixing.
    pub buffer_tokens: usize,
    pub seed: u64,
}

/// A chunk of rows and the number of windows they came from.
type Chunk = std::result::Result<(Vec<f32>, u64), SaeError>;

pub struct StreamSource {
    /// `None` only while dropping.
    rx: Option<Receiver<Chunk>>,
    worker: Option<std::thread::JoinHandle<()>>,
    d_in: usize,
    buffer: Vec<f32>,
    capacity: usize,
    rng: SmallRng,
    /// Windows whose rows have entered the buffer, counted over epochs.
    windows_read: u64,
}

impl StreamSource {
    /// Starts the model on its thread, skipping the first `position` windows.
    pub fn start(spec: StreamSpec, position: u64) -> Result<Self> {
        let config = crate::model::ModelConfig::read(&spec.model_dir)?;
        config
            .check_layer(spec.hook.layer)
            .map_err(|e| SaeError::Input {
                what: "data.hook".into(),
                problem: e.to_string(),
            })?;
        let d_in = config.width(spec.hook.site) as usize;
        let (tx, rx) = sync_channel(4);
        let thread_spec = spec.clone();
        let worker = std::thread::Builder::new()
            .name("activations".into())
            .spawn(move || {
                if let Err(e) = produce(&thread_spec, position, &tx) {
                    let _ = tx.send(Err(e));
                }
            })
            .map_err(|e| SaeError::Input {
                what: "activation thread".into(),
                problem: e.to_string(),
            })?;
        Ok(Self {
            rx: Some(rx),
            worker: Some(worker),
            d_in,
            buffer: Vec::with_capacity(spec.buffer_tokens * d_in),
            capacity: spec.buffer_tokens.max(1),
            rng: SmallRng::seed_from_u64(spec.seed),
            windows_read: position,
        })
    }

    fn buffered_rows(&self) -> usize {
        self.buffer.len() / self.d_in
    }
}

impl Drop for StreamSource {
    /// Stops the model thread before the process can exit under it: with the
    /// receiver gone its next send fails, and it returns.
    fn drop(&mut self) {
        drop(self.rx.take());
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// Why the producer's walk over the corpus ended early.
enum Halt {
    /// The receiver is gone: training ended.
    TrainerGone,
    Failed(ActivationError),
}

impl From<ActivationError> for Halt {
    fn from(e: ActivationError) -> Self {
        Self::Failed(e)
    }
}

/// The producer: the corpus over and over, a batch of windows at a time.
fn produce(spec: &StreamSpec, skip: u64, tx: &SyncSender<Chunk>) -> Result<()> {
    let model = crate::model::load(&spec.model_dir, spec.device)?;
    let tokenizer = crate::model::TextTokenizer::load(&spec.model_dir)?;
    let windower = Windower::new(&tokenizer, spec.window_tokens)?;
    let corpus = Corpus::open(&spec.corpus, &spec.text_field)?;
    let specials = windower.special_counts();
    let mut seen = 0u64;
    loop {
        let before = seen;
        let mut run = |batch: &[(u64, Window)]| -> Result<(), Halt> {
            let rows = text_token_rows(model.as_ref(), batch, spec.hook, spec.device, specials)?;
            tx.send(Ok((rows, batch.len() as u64)))
                .map_err(|_| Halt::TrainerGone)
        };
        let mut batcher = Batcher::new(spec.batch_windows);
        let result = for_each_window(
            &corpus,
            &windower,
            |_| {},
            |i, w| {
                seen += 1;
                if seen <= skip {
                    return Ok(());
                }
                batcher.push(i, w, &mut run)
            },
        )
        .and_then(|()| batcher.flush(&mut run));
        match result {
            Ok(()) => {}
            Err(Halt::TrainerGone) => return Ok(()),
            Err(Halt::Failed(e)) => return Err(e.into()),
        }
        if seen == before {
            return Err(SaeError::Input {
                what: spec.corpus.display().to_string(),
                problem: "the corpus has no text".into(),
            });
        }
    }
}

impl ActivationSource for StreamSource {
    fn d_in(&self) -> usize {
        self.d_in
    }

    fn next_batch(&mut self, rows: usize, out: &mut Vec<f32>) -> Result<()> {
        let d = self.d_in;
        while self.buffered_rows() < self.capacity.max(rows) {
            match self.rx.as_ref().expect("not dropped").recv() {
                Ok(Ok((chunk, windows))) => {
                    self.buffer.extend_from_slice(&chunk);
                    self.windows_read += windows;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(SaeError::Input {
                        what: "activation stream".into(),
                        problem: "the model thread stopped".into(),
                    });
                }
            }
        }
        // Uniform draws without replacement: take a random row, fill its
        // place with the last one.
        out.reserve(rows * d);
        for _ in 0..rows {
            let n = self.buffered_rows();
            let i = rand::RngExt::random_range(&mut self.rng, 0..n);
            out.extend_from_slice(&self.buffer[i * d..(i + 1) * d]);
            let last = (n - 1) * d;
            self.buffer.copy_within(last..last + d, i * d);
            self.buffer.truncate(last);
        }
        Ok(())
    }

    fn position(&self) -> u64 {
        self.windows_read
    }
}
