//! What each job does: the library's engines, driven with a cancel flag and
//! a progress reporter. Every error becomes the reason the jobs panel shows.
use super::jobs::{Product, Reporter, Task};
use crate::cli::{RECORDS_SHOWN, REVISION_RECORDS, SCORED_RANDOM, SCORED_TOP};
use crate::llm_commands::response_cache;
use anyhow::{Context, Result, bail};
use featurescope::dataset::Dataset;
use featurescope::extract::{ExtractConfig, ExtractError, Progress};
use featurescope::interp::batch::{self, BatchOutcome};
use featurescope::interp::engine::{EXPLAIN_METHOD, Explainer, Simulator};
use featurescope::interp::explainer::default_examples;
use featurescope::interp::records::RecordSet;
use featurescope::interp::revision::Evidence;
use featurescope::llm::LlmClient;
use featurescope::llm::config::{LlmConfig, RoleConfig};
use featurescope::sae::{self, SaeError, TrainConfig, TrainProgress};
use featurescope::text::printable;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What the jobs need from `featurescope.toml`.
pub struct Settings {
    /// The explainer and simulator endpoints and the response cache.
    pub llm: LlmConfig,
    /// The training configuration the train key proposes.
    pub train_config: PathBuf,
}

/// How a job ended.
pub enum Ending {
    Done {
        summary: String,
        product: Option<Product>,
    },
    Failed(String),
    Cancelled,
}

pub fn run(
    task: &Task,
    dataset: &Path,
    settings: &Settings,
    cancel: &AtomicBool,
    report: &Reporter,
) -> Ending {
    let result = match task {
        Task::Explain { unit } => until_cancelled(cancel, explain(dataset, settings, *unit)),
        Task::Score { unit } => until_cancelled(cancel, score(dataset, settings, *unit, report)),
        Task::Revise { unit } => until_cancelled(cancel, revise(dataset, settings, *unit, report)),
        Task::Train { config } => train(config, cancel, report),
        Task::Extract { dictionaries } => extract(dataset, dictionaries, cancel, report),
    };
    match result {
        Ok(ending) => ending,
        Err(e) => Ending::Failed(printable(&format!("{e:#}"))),
    }
}

fn done(summary: String, product: Product) -> Result<Ending> {
    Ok(Ending::Done {
        summary: printable(&summary),
        product: Some(product),
    })
}

/// Runs `work` on a runtime of its own until it ends or `cancel` is set;
/// cancelling drops the requests in flight, and nothing has been written.
fn until_cancelled(
    cancel: &AtomicBool,
    work: impl std::future::Future<Output = Result<Ending>>,
) -> Result<Ending> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the job's runtime")?;
    runtime.block_on(async {
        let watch = async {
            while !cancel.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        };
        let (work, watch) = (std::pin::pin!(work), std::pin::pin!(watch));
        match futures::future::select(work, watch).await {
            futures::future::Either::Left((result, _)) => result,
            futures::future::Either::Right(_) => Ok(Ending::Cancelled),
        }
    })
}

fn client(settings: &Settings, role: &RoleConfig, name: &'static str) -> Result<LlmClient> {
    let cache = response_cache(&settings.llm, None);
    Ok(LlmClient::new(role.endpoint(name)?, Some(cache))?)
}

fn explainer<'a>(client: &'a LlmClient, role: &RoleConfig) -> Explainer<'a> {
    Explainer {
        client,
        api: role.api,
        examples: default_examples(),
        records_shown: RECORDS_SHOWN,
    }
}

async fn explain(dataset: &Path, settings: &Settings, unit: u64) -> Result<Ending> {
    let ds = Dataset::open(dataset)?;
    let role = &settings.llm.explainer;
    let client = client(settings, role, "explainer")?;
    let records = ds.records(unit)?;
    // Another explanation of an explained unit is a new sample, not the
    // cached reply to the same request.
    let model = &client.endpoint().model;
    let sample = ds
        .explanations()?
        .iter()
        .filter(|e| e.unit_id == unit && &e.explainer_model == model)
        .filter(|e| e.method == EXPLAIN_METHOD)
        .count();
    let explanation = explainer(&client, role)
        .explain(unit, &records, sample as u32)
        .await?;
    ds.append_explanations(std::slice::from_ref(&explanation))?;
    done(format!("\"{}\"", explanation.text), Product::DatasetChanged)
}

/// A batch of one unit: its first failure is the job's.
fn outcome(outcome: BatchOutcome, what: &str, nothing: &str) -> Result<Ending> {
    if let Some((_, reason)) = outcome.failed.first() {
        bail!("{reason}");
    }
    if outcome.done == 0 {
        bail!("{nothing}");
    }
    done(format!("{what} {}", outcome.done), Product::DatasetChanged)
}

async fn score(
    dataset: &Path,
    settings: &Settings,
    unit: u64,
    report: &Reporter,
) -> Result<Ending> {
    let ds = Dataset::open(dataset)?;
    let role = &settings.llm.simulator;
    let client = client(settings, role, "simulator")?;
    let simulator = Simulator {
        client: &client,
        api: role.api,
        examples: default_examples(),
    };
    let result = batch::score_units(
        &ds,
        &simulator,
        &[unit],
        RecordSet::TopAndRandom,
        (SCORED_TOP, SCORED_RANDOM),
        false,
        |done, total| report.progress(done as u64, total as u64),
    )
    .await?;
    outcome(
        result,
        "explanations scored:",
        "nothing to score: every explanation of this unit has a score from this simulator \
         (explain it first)",
    )
}

async fn revise(
    dataset: &Path,
    settings: &Settings,
    unit: u64,
    report: &Reporter,
) -> Result<Ending> {
    let ds = Dataset::open(dataset)?;
    let role = &settings.llm.explainer;
    let client = client(settings, role, "explainer")?;
    let result = batch::revise_units(
        &ds,
        &explainer(&client, role),
        &[unit],
        Evidence::Misses,
        REVISION_RECORDS,
        false,
        |done, total| report.progress(done as u64, total as u64),
    )
    .await?;
    outcome(
        result,
        "revisions:",
        "nothing to revise: no scored explanation without a revision (score one first)",
    )
}

fn train(config_path: &Path, cancel: &AtomicBool, report: &Reporter) -> Result<Ending> {
    let config = TrainConfig::read(config_path)?;
    // A cancelled run left a checkpoint: training again continues it.
    let resume = sae::train::has_checkpoint(&config.out);
    let total = config.total_steps();
    let trained = sae::train(&config, resume, cancel, |p| match p {
        TrainProgress::Started { start_step, .. } => report.progress(start_step, total),
        TrainProgress::Step { step, .. } => report.progress(step, total),
        TrainProgress::Metrics(m) => report.note(m.summary()),
        TrainProgress::Checkpoint { .. } => {}
    });
    let trained = match trained {
        Err(SaeError::Interrupted { saved, .. }) => {
            report.note(format!(
                "stopped; the checkpoint at step {saved} is kept, and training again resumes it"
            ));
            return Ok(Ending::Cancelled);
        }
        other => other?,
    };
    let metrics = trained
        .final_metrics
        .as_ref()
        .map_or_else(String::new, |m| format!(": {}", m.summary()));
    done(
        format!("dictionary in {}{metrics}", trained.out.display()),
        Product::Dictionary(trained.out),
    )
}

/// `dataset` with the first free numeric suffix: `demo-2`, `demo-3`…
fn sibling(dataset: &Path) -> PathBuf {
    let name = dataset
        .file_name()
        .map_or_else(|| "dataset".into(), |n| n.to_string_lossy().into_owned());
    (2..)
        .map(|n| dataset.with_file_name(format!("{name}-{n}")))
        .find(|p| !p.exists())
        .expect("a free name")
}

fn extract(
    dataset: &Path,
    dictionaries: &[PathBuf],
    cancel: &AtomicBool,
    report: &Reporter,
) -> Result<Ending> {
    let manifest = Dataset::open(dataset)?.manifest().clone();
    let out = sibling(dataset);
    let config = ExtractConfig::repeat(&manifest, out.clone(), dictionaries)?;
    let (mut planned, mut seen) = (0, 0);
    report.note("counting the corpus's windows".into());
    let extracted = featurescope::extract::extract(&config, cancel, |p| match p {
        Progress::Planned { model_tokens, .. } => {
            planned = model_tokens;
            report.note("reading the corpus through the model".into());
            report.progress(0, planned);
        }
        Progress::Tokens(n) => {
            seen += n;
            report.progress(seen, planned);
        }
        Progress::Writing => report.note("writing the dataset".into()),
    });
    match extracted {
        Err(ExtractError::Cancelled) => Ok(Ending::Cancelled),
        Err(e) => Err(e.into()),
        Ok(r) => done(
            format!(
                "{} units, {} records in {} (Enter opens it)",
                r.units,
                r.records,
                out.display()
            ),
            Product::Dataset(out),
        ),
    }
}
