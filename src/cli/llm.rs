//! The LLM-backed commands: explain, simulate, score, revise, report.
use super::args::{ExplainArgs, LlmArgs, ReviseArgs, ScoreArgs, SimulateArgs};
use super::output::{print_json, progress_bar};
use anyhow::{Context, Result, bail};
use featurescope::dataset::Dataset;
use featurescope::interp::batch::{self, BatchOutcome, Report, Scorer};
use featurescope::interp::classifier::ScoreMethod;
use featurescope::interp::engine::{Explainer, Simulator};
use featurescope::interp::explainer::default_examples;
use featurescope::interp::judge::Judge;
use featurescope::interp::records::RecordSet;
use featurescope::interp::units::UnitSpec;
use featurescope::llm::config::{Api, BackendKind, RoleConfig};
use featurescope::llm::{Backend, Usage};
use featurescope::search::SentenceEmbedder;
use featurescope::text::{printable, printable_lines};
use std::path::Path;

/// The role's configuration with the command-line overrides applied.
fn role(
    base: &RoleConfig,
    url: &Option<String>,
    model: &Option<String>,
    api: Option<Api>,
    backend: Option<BackendKind>,
    concurrency: Option<usize>,
) -> RoleConfig {
    let mut role = base.clone();
    if url.is_some() {
        role.base_url = url.clone();
    }
    if model.is_some() {
        role.model = model.clone();
    }
    if let Some(api) = api {
        role.api = api;
    }
    if backend.is_some() {
        role.backend = backend;
    }
    if concurrency.is_some() {
        role.concurrency = concurrency;
    }
    role
}

/// The endpoint of `role` (`explainer` or `simulator`) from featurescope.toml
/// (or --config, without the explorer's section) with the flags applied,
/// and what serves it.
pub(super) fn connect(args: &LlmArgs, role_name: &'static str) -> Result<Backend> {
    let config = crate::settings::load(args.config.as_deref())?.0;
    let role_config = if role_name == "explainer" {
        role(
            &config.explainer,
            &args.explainer_url,
            &args.explainer_model,
            args.explainer_api,
            args.explainer_backend,
            args.concurrency,
        )
    } else {
        role(
            &config.simulator,
            &args.simulator_url,
            &args.simulator_model,
            args.simulator_api,
            args.simulator_backend,
            args.concurrency,
        )
    };
    let cache = (!args.no_cache).then(|| config.response_cache(args.cache_dir.clone()));
    Ok(Backend::connect(&role_config, role_name, cache)?)
}

pub(super) fn units(dataset: &Dataset, spec: &UnitSpec, seed: u64) -> Result<Vec<u64>> {
    spec.select(&dataset.units_overview()?, seed)
        .context("--units")
}

/// A bar counting units (or explanations) for an LLM command.
fn llm_progress(total: usize, what: &str) -> Result<indicatif::ProgressBar> {
    progress_bar(
        total as u64,
        &format!("{what:10} {{bar:40}} {{pos}}/{{len}}  {{per_sec}}  eta {{eta}}  {{msg}}"),
    )
}

/// Updates `bar` with (done, total) and the cost so far.
/// Progress of a batch on `bar`, with what `backend` (if any) has used so far.
fn show_progress<'a>(
    bar: &'a indicatif::ProgressBar,
    backend: Option<&'a Backend>,
) -> impl FnMut(usize, usize) + 'a {
    move |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        if let Some(b) = backend {
            bar.set_message(cost(b.usage()));
        }
    }
}

pub(super) fn cost(usage: &Usage) -> String {
    format!(
        "{} requests ({} cached, {} retried), {} prompt + {} completion tokens",
        Usage::get(&usage.requests),
        Usage::get(&usage.cached),
        Usage::get(&usage.retries),
        Usage::get(&usage.prompt_tokens),
        Usage::get(&usage.completion_tokens)
    )
}

/// Reports `outcome`, and what it cost (see [`cost`]).
fn finish(outcome: &BatchOutcome, what: &str, spent: &str) -> Result<()> {
    println!(
        "{what} {} units/explanations, skipped {} already done; {spent}",
        outcome.done, outcome.skipped,
    );
    for (unit, reason) in &outcome.failed {
        eprintln!("failed: unit {unit}: {}", printable(reason));
    }
    if !outcome.failed.is_empty() {
        bail!(
            "{} failed (listed above); rerun to retry them",
            outcome.failed.len()
        );
    }
    Ok(())
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub fn explain(args: ExplainArgs) -> Result<()> {
    let ds = Dataset::open(&args.dataset)?;
    if !args.show_prompt {
        ds.check_writable()?;
    }
    let backend = connect(&args.llm, "explainer")?;
    let selected = units(&ds, &args.units, args.seed)?;
    let explainer = Explainer {
        backend: &backend,
        examples: default_examples(),
        records_shown: args.records_shown,
    };
    if args.show_prompt {
        let unit = *selected.first().context("no units selected")?;
        let records = ds.records(unit)?;
        let (completion, _) = explainer.request(unit, &records, 0)?;
        match &backend {
            Backend::Http { client, api } => {
                let (path, mut body) = completion.http_request(*api);
                body["model"] = client.endpoint().model.clone().into();
                // JSON escapes control characters, so the body is safe to print as it is.
                println!(
                    "POST {}{path}\n{}",
                    client.endpoint().base_url,
                    serde_json::to_string_pretty(&body)?
                );
            }
            Backend::Local(model) => {
                let g = completion.generation();
                println!(
                    "local model {}: up to {} tokens, temperature {}, stop at a line end\n{}",
                    printable(model.name()),
                    g.max_tokens,
                    g.temperature,
                    printable_lines(&completion.text)
                );
            }
        }
        return Ok(());
    }
    let bar = llm_progress(selected.len(), "explaining")?;
    let mut progress = show_progress(&bar, Some(&backend));
    let outcome = runtime()?.block_on(batch::explain_units(
        &ds,
        &explainer,
        &selected,
        args.samples,
        args.force,
        |done| progress(done, selected.len()),
    ))?;
    bar.finish_and_clear();
    finish(&outcome, "explained", &cost(backend.usage()))
}

pub fn score(args: ScoreArgs) -> Result<()> {
    let ds = Dataset::open(&args.dataset)?;
    ds.check_writable()?;
    let set = args.scoring.record_set;
    let params = args.classifier.params()?;
    let selected = units(&ds, &args.units, args.seed)?;
    let bar = llm_progress(0, "scoring")?;
    let run = |scorer: &Scorer, backend: Option<&Backend>| -> Result<BatchOutcome> {
        Ok(runtime()?.block_on(batch::score_units(
            &ds,
            scorer,
            &selected,
            args.force,
            show_progress(&bar, backend),
        ))?)
    };
    let (outcome, usage) = if args.method == ScoreMethod::Embedding {
        let embedder = SentenceEmbedder::load(&args.embedder)?;
        let scorer = Scorer::Embedding {
            embedder: &embedder,
            params,
        };
        (run(&scorer, None)?, "embedded here".to_owned())
    } else {
        let backend = connect(&args.llm, "simulator")?;
        let simulator = Simulator {
            backend: &backend,
            examples: default_examples(),
        };
        let judge = Judge {
            backend: &backend,
            params,
        };
        let scorer = match args.method {
            ScoreMethod::Simulation => Scorer::Simulation {
                simulator: &simulator,
                set,
                top: args.scoring.top,
                random: args.scoring.random,
            },
            ScoreMethod::Intruder => Scorer::Intruder { judge: &judge },
            method => Scorer::Judgement {
                judge: &judge,
                marked: method == ScoreMethod::Fuzz,
            },
        };
        let outcome = run(&scorer, Some(&backend))?;
        (outcome, cost(backend.usage()))
    };
    bar.finish_and_clear();
    let summary = batch::report(&ds, args.method, set)?;
    print!("{}", render_report(&summary));
    finish(&outcome, "scored", &usage)
}

fn render_report(r: &Report) -> String {
    let mut out = format!(
        "scores by {} ({}, {}): {} from {} explanations, {} undefined\n  {:>5}  {:<8} {:>6} {:>8} {:>8}\n",
        r.method,
        r.headline,
        r.record_set,
        r.scores,
        r.explanations,
        r.undefined_scores,
        "layer",
        "kind",
        "units",
        "mean",
        "median"
    );
    for row in r.by_layer_and_kind.iter().chain(&r.overall) {
        let layer = if row.kind == "all" {
            "all".to_string()
        } else {
            row.layer.to_string()
        };
        out.push_str(&format!(
            "  {layer:>5}  {:<8} {:>6} {:>8.3} {:>8.3}\n",
            row.kind, row.units_scored, row.mean, row.median
        ));
    }
    if let Some(m) = &r.pooled {
        let auc = m.auc.map_or("-".to_owned(), |a| format!("{a:.3}"));
        out.push_str(&format!(
            "  pooled over {} examples ({} activating, {} failed), as Delphi: balanced accuracy {:.3}, precision {:.3}, recall {:.3}, F1 {:.3}, ROC-AUC {auc}\n",
            m.examples, m.positives, m.failed, m.balanced_accuracy, m.precision, m.recall, m.f1
        ));
    }
    out
}

pub fn simulate(args: SimulateArgs) -> Result<()> {
    let ds = Dataset::open(&args.dataset)?;
    let backend = connect(&args.llm, "simulator")?;
    let set = args.scoring.record_set;
    let records = ds.records(args.unit)?;
    let simulator = Simulator {
        backend: &backend,
        examples: default_examples(),
    };
    let explanation = featurescope::dataset::Explanation {
        explanation_id: featurescope::dataset::new_id(),
        unit_id: args.unit,
        text: args.explanation.clone(),
        explainer_model: "human".into(),
        method: "manual".into(),
        parent_id: None,
        evidence_record_ids: Vec::new(),
        created_at_ms: featurescope::dataset::now_ms(),
    };
    let score = runtime()?.block_on(simulator.score(
        &explanation,
        &records,
        set,
        args.scoring.top,
        args.scoring.random,
    ))?;
    for (id, simulated) in score.record_ids.iter().zip(&score.simulated) {
        let record = records
            .iter()
            .find(|r| r.record_id == *id)
            .context("scored record")?;
        println!(
            "record {id} ({} rank {})",
            record.sample.kind_str(),
            record.rank
        );
        for ((token, real), sim) in record.tokens.iter().zip(&record.activations).zip(simulated) {
            println!(
                "  {:<20} real {real:>8.3}  simulated {sim:>5.2}",
                printable(token)
            );
        }
    }
    let show = |v: Option<f64>| v.map_or("undefined".to_string(), |v| format!("{v:.3}"));
    println!(
        "score {}  r² {}  absolute deviation explained {}",
        show(score.score),
        show(score.r_squared),
        show(score.absolute_dev_explained)
    );
    println!("{}", cost(backend.usage()));
    if args.save {
        ds.append_explanations(std::slice::from_ref(&explanation))?;
        ds.append_scores(&[score])?;
        println!("saved to {}", args.dataset.display());
    }
    Ok(())
}

pub fn revise(args: ReviseArgs) -> Result<()> {
    let ds = Dataset::open(&args.dataset)?;
    ds.check_writable()?;
    let backend = connect(&args.llm, "explainer")?;
    let kind = args.evidence;
    let selected = units(&ds, &args.units, args.seed)?;
    let explainer = Explainer {
        backend: &backend,
        examples: default_examples(),
        records_shown: 0,
    };
    let bar = llm_progress(0, "revising")?;
    let outcome = runtime()?.block_on(batch::revise_units(
        &ds,
        &explainer,
        &selected,
        kind,
        args.records,
        args.force,
        show_progress(&bar, Some(&backend)),
    ))?;
    bar.finish_and_clear();
    finish(&outcome, "revised", &cost(backend.usage()))?;
    println!("score the revisions with `featurescope score`; `report` then compares versions");
    Ok(())
}

pub fn report(dataset: &Path, method: ScoreMethod, set: RecordSet, json: bool) -> Result<()> {
    let ds = Dataset::open(dataset)?;
    let summary = batch::report(&ds, method, set)?;
    if json {
        return print_json(&summary);
    }
    print!("{}", render_report(&summary));
    Ok(())
}

pub fn compare_methods(dataset: &Path, set: RecordSet, json: bool) -> Result<()> {
    let ds = Dataset::open(dataset)?;
    let pairs = featurescope::experiment::agreement::method_agreement(&ds, set)?;
    if json {
        return print_json(&pairs);
    }
    println!(
        "  {:<10} {:<10} {:>6} {:>9}",
        "method", "method", "units", "spearman"
    );
    for p in &pairs {
        let rho = p.spearman.map_or("-".to_owned(), |r| format!("{r:.3}"));
        println!(
            "  {:<10} {:<10} {:>6} {:>9}",
            p.first, p.second, p.units, rho
        );
    }
    if pairs.is_empty() {
        println!("  fewer than two methods have scores (see `score --method`)");
    }
    Ok(())
}
