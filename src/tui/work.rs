//! What each job does: the library's engines, driven through the job's
//! reporter (progress, and the cancel flag). Every error becomes the reason
//! the jobs panel shows.
use super::jobs::{Lane, Outcome, Product, Reporter, Work};
use anyhow::{Context, Result, bail};
use featurescope::activations::Progress;
use featurescope::dataset::Dataset;
use featurescope::experiment::ablation;
use featurescope::extract::{ExtractConfig, ExtractError};
use featurescope::interp::batch::{self, BatchOutcome, Scorer};
use featurescope::interp::classifier::ClassifierParams;
use featurescope::interp::engine::{EXPLAIN_METHOD, Explainer, Simulator};
use featurescope::interp::explainer::default_examples;
use featurescope::interp::judge::Judge;
use featurescope::interp::records::RecordSet;
use featurescope::interp::revision::Evidence;
use featurescope::interp::{RECORDS_SHOWN, REVISION_RECORDS, SCORED_RANDOM, SCORED_TOP};
use featurescope::llm::Backend;
use featurescope::llm::config::{LlmConfig, RoleConfig};
use featurescope::sae::{self, SaeError, TrainConfig, TrainProgress};
use featurescope::search::SentenceEmbedder;
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
    /// The sentence model of the filter's search by meaning.
    pub embedder: PathBuf,
}

/// A job started from a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    Explain {
        unit: u64,
    },
    Score {
        unit: u64,
    },
    /// Detection, fuzzing, intruder and embedding scores (Delphi's).
    ClassifierScores {
        unit: u64,
    },
    Revise {
        unit: u64,
    },
    /// The unit ablated in the subject model on its top records.
    Ablate {
        unit: u64,
    },
    Train {
        config: PathBuf,
    },
    /// The dataset's extraction again, with these dictionaries' features added.
    Extract {
        dictionaries: Vec<PathBuf>,
    },
}

impl Work for Task {
    type Context = Settings;

    fn label(&self) -> String {
        match self {
            Self::Explain { unit } => format!("explain unit {unit}"),
            Self::Score { unit } => format!("simulate and score unit {unit}"),
            Self::ClassifierScores { unit } => format!("classifier scores of unit {unit}"),
            Self::Revise { unit } => format!("revise unit {unit}"),
            Self::Ablate { unit } => format!("ablate unit {unit}"),
            Self::Train { config } => format!("train an SAE ({})", config.display()),
            Self::Extract { dictionaries } if dictionaries.is_empty() => "re-extract".into(),
            Self::Extract { dictionaries } if dictionaries.len() == 1 => {
                "re-extract, adding the SAE trained here".into()
            }
            Self::Extract { dictionaries } => {
                format!(
                    "re-extract, adding the {} SAEs trained here",
                    dictionaries.len()
                )
            }
        }
    }

    fn lane(&self) -> Lane {
        match self {
            Self::Explain { .. }
            | Self::Score { .. }
            | Self::ClassifierScores { .. }
            | Self::Revise { .. } => Lane::Llm,
            Self::Ablate { .. } | Self::Train { .. } | Self::Extract { .. } => Lane::Compute,
        }
    }

    fn run(&self, dataset: &Path, settings: &Settings, report: &Reporter) -> Outcome {
        let cancel = report.cancel_flag();
        let result = match self {
            Self::Explain { unit } => until_cancelled(cancel, explain(dataset, settings, *unit)),
            Self::Score { unit } => {
                until_cancelled(cancel, score(dataset, settings, *unit, report))
            }
            Self::ClassifierScores { unit } => {
                until_cancelled(cancel, classifier_scores(dataset, settings, *unit, report))
            }
            Self::Revise { unit } => {
                until_cancelled(cancel, revise(dataset, settings, *unit, report))
            }
            Self::Ablate { unit } => ablate(dataset, *unit, report),
            Self::Train { config } => train(config, cancel, report),
            Self::Extract { dictionaries } => extract(dataset, dictionaries, cancel, report),
        };
        match result {
            Ok(outcome) => outcome,
            Err(e) => Outcome::Failed(printable(&format!("{e:#}"))),
        }
    }
}

fn done(summary: String, product: Product) -> Result<Outcome> {
    Ok(Outcome::Done {
        summary: printable(&summary),
        product: Some(product),
    })
}

/// Runs `work` on a runtime of its own until it ends or `cancel` is set;
/// cancelling drops the requests in flight, and nothing has been written.
fn until_cancelled(
    cancel: &AtomicBool,
    work: impl std::future::Future<Output = Result<Outcome>>,
) -> Result<Outcome> {
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
            futures::future::Either::Right(_) => Ok(Outcome::Cancelled),
        }
    })
}

fn backend(settings: &Settings, role: &RoleConfig, name: &'static str) -> Result<Backend> {
    let cache = settings.llm.response_cache(None);
    Ok(Backend::connect(role, name, Some(cache))?)
}

fn explainer(backend: &Backend) -> Explainer<'_> {
    Explainer {
        backend,
        examples: default_examples(),
        records_shown: RECORDS_SHOWN,
    }
}

async fn explain(dataset: &Path, settings: &Settings, unit: u64) -> Result<Outcome> {
    let ds = open_for_writing(dataset)?;
    let role = &settings.llm.explainer;
    let backend = backend(settings, role, "explainer")?;
    let records = ds.records(unit)?;
    // Another explanation of an explained unit is a new sample, not the
    // cached reply to the same request.
    let model = backend.model();
    let sample = ds
        .explanations()?
        .iter()
        .filter(|e| e.unit_id == unit && e.explainer_model == model)
        .filter(|e| e.method == EXPLAIN_METHOD)
        .count();
    let explanation = explainer(&backend)
        .explain(unit, &records, sample as u32)
        .await?;
    ds.append_explanations(std::slice::from_ref(&explanation))?;
    done(format!("\"{}\"", explanation.text), Product::DatasetChanged)
}

/// The dataset a job will add to, refused before any work when it cannot be
/// written (a read-only mount), with the reason.
fn open_for_writing(dataset: &Path) -> Result<Dataset> {
    let ds = Dataset::open(dataset)?;
    ds.check_writable()?;
    Ok(ds)
}

/// A batch of one unit: its first failure is the job's.
fn outcome(outcome: BatchOutcome, what: &str, nothing: &str) -> Result<Outcome> {
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
) -> Result<Outcome> {
    let ds = open_for_writing(dataset)?;
    let role = &settings.llm.simulator;
    let backend = backend(settings, role, "simulator")?;
    let simulator = Simulator {
        backend: &backend,
        examples: default_examples(),
    };
    let scorer = Scorer::Simulation {
        simulator: &simulator,
        set: RecordSet::TopAndRandom,
        top: SCORED_TOP,
        random: SCORED_RANDOM,
    };
    let result = batch::score_units(&ds, &scorer, &[unit], false, |done, total| {
        report.progress(done as u64, total as u64)
    })
    .await?;
    outcome(
        result,
        "explanations scored:",
        "nothing to score: every explanation of this unit has a score from this simulator \
         (explain it first)",
    )
}

/// Detection, fuzzing and intruder scores from the simulator backend and
/// the embedding score from the filter's sentence model, for each of the
/// unit's explanations that lacks one; the summary gives each method's best.
async fn classifier_scores(
    dataset: &Path,
    settings: &Settings,
    unit: u64,
    report: &Reporter,
) -> Result<Outcome> {
    let ds = open_for_writing(dataset)?;
    let backend = backend(settings, &settings.llm.simulator, "simulator")?;
    let params = ClassifierParams::default();
    let judge = Judge {
        backend: &backend,
        params,
    };
    report.note("loading the sentence model".into());
    let embedder = SentenceEmbedder::load(&settings.embedder)?;
    let scorers = [
        Scorer::Embedding {
            embedder: &embedder,
            params,
        },
        Scorer::Judgement {
            judge: &judge,
            marked: false,
        },
        Scorer::Judgement {
            judge: &judge,
            marked: true,
        },
        Scorer::Intruder { judge: &judge },
    ];
    let mut scored = 0;
    for (step, scorer) in scorers.iter().enumerate() {
        let method = scorer.method();
        report.note(format!("scoring by {method}"));
        let result = batch::score_units(&ds, scorer, &[unit], false, |done, total| {
            let steps = scorers.len() as u64;
            report.progress(
                step as u64 * total as u64 + done as u64,
                steps * total as u64,
            )
        })
        .await?;
        if let Some((_, reason)) = result.failed.first() {
            bail!("{method}: {reason}");
        }
        scored += result.done;
    }
    if scored == 0 {
        bail!(
            "nothing to score: every explanation of this unit has these scores (explain it first)"
        );
    }
    let scores = ds.scores()?;
    let best: Vec<String> = scorers
        .iter()
        .filter_map(|s| {
            let m = s.method();
            let best = batch::best_by_unit(&scores, m, RecordSet::TopAndRandom);
            Some(format!("{m} {:.2}", best.get(&unit)?))
        })
        .collect();
    done(
        format!("{scored} scores; best: {}", best.join(" · ")),
        Product::DatasetChanged,
    )
}

async fn revise(
    dataset: &Path,
    settings: &Settings,
    unit: u64,
    report: &Reporter,
) -> Result<Outcome> {
    let ds = open_for_writing(dataset)?;
    let role = &settings.llm.explainer;
    let backend = backend(settings, role, "explainer")?;
    let result = batch::revise_units(
        &ds,
        &explainer(&backend),
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

/// Ablates `unit` as `experiment ablation` does by default; a few seconds
/// for a small model, so it is not cancellable midway.
fn ablate(dataset: &Path, unit: u64, report: &Reporter) -> Result<Outcome> {
    open_for_writing(dataset)?;
    report.note("running its top records through the subject model, clean and ablated".into());
    let plan = ablation::Plan {
        unit_id: unit,
        scale: 0.0,
        records: ablation::RECORDS,
        tokens: ablation::TOKENS,
    };
    let (result, _) = ablation::run(dataset, &plan, None, tch::Device::Cpu)?;
    let first = |list: &[ablation::TokenChange]| {
        list.first().map_or("none".into(), |t| {
            format!("{:?} {:+.3}", t.token, t.mean_change)
        })
    };
    done(
        format!(
            "KL {:.4} nats over {} positions; falls most {}, rises most {}",
            result.mean_kl,
            result.positions,
            first(&result.falls),
            first(&result.rises)
        ),
        Product::DatasetChanged,
    )
}

fn train(config_path: &Path, cancel: &AtomicBool, report: &Reporter) -> Result<Outcome> {
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
            return Ok(Outcome::Cancelled);
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
) -> Result<Outcome> {
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
        Err(ExtractError::Cancelled) => Ok(Outcome::Cancelled),
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
