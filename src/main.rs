mod cli;

use anyhow::{Context, Result, bail};
use clap::Parser;
mod llm_commands;
mod sae_commands;
mod tui;

use cli::{Cli, Command, ExtractArgs, ImportCommand, NeuronExplainerArgs, SynthArgs};
use featurescope::dataset::{Dataset, Summary, summarize};
use featurescope::import::neuron_explainer::{self, ImportOptions};
use featurescope::text::printable;
use std::path::Path;

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        // Messages can quote dataset contents: sanitise before they reach the terminal.
        eprintln!("error: {}", printable(&format!("{e:#}")));
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        // In a terminal, the explorer; piped, the summary.
        None if std::io::IsTerminal::is_terminal(&std::io::stdout()) => {
            tui::run(open(&cli.dataset)?)
        }
        None => inspect(&cli.dataset, false),
        Some(Command::Inspect { dataset, json }) => inspect(&dataset, json),
        Some(Command::Validate { dataset, json }) => validate(&dataset, json),
        Some(Command::Import(ImportCommand::NeuronExplainer(args))) => {
            import_neuron_explainer(args)
        }
        Some(Command::Synth(args)) => synth(args),
        Some(Command::Extract(args)) => extract(args),
        Some(Command::Explain(args)) => llm_commands::explain(args),
        Some(Command::Score(args)) => llm_commands::score(args),
        Some(Command::Simulate(args)) => llm_commands::simulate(args),
        Some(Command::Revise(args)) => llm_commands::revise(args),
        Some(Command::Report {
            dataset,
            record_set,
            json,
        }) => llm_commands::report(&dataset, &record_set, json),
        Some(Command::Train(args)) => sae_commands::train(args),
        Some(Command::Baseline(args)) => sae_commands::baseline(args),
        Some(Command::EvalSae(args)) => sae_commands::eval_sae(args),
        Some(Command::Replay(args)) => replay(args),
        Some(Command::Doctor) => doctor(),
        Some(Command::ModelInfo { model, json }) => model_info(&model, json),
    }
}

pub(crate) fn open(path: &Path) -> Result<Dataset> {
    Ok(Dataset::open(path)?)
}

pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn inspect(path: &Path, json: bool) -> Result<()> {
    let summary = summarize(&open(path)?)?;
    if json {
        return print_json(&summary);
    }
    print!("{}", printable_lines(&render_summary(&summary)));
    Ok(())
}

/// Sanitises each line but keeps the line breaks.
fn printable_lines(text: &str) -> String {
    text.lines().map(|l| printable(l) + "\n").collect()
}

fn human_bytes(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", units[unit])
}

fn render_summary(s: &Summary) -> String {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut out = String::new();
    let line = |out: &mut String, text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(
        &mut out,
        format!(
            "dataset       {} (format v{}, {} on disk)",
            s.path,
            s.format_version,
            human_bytes(s.size_bytes)
        ),
    );
    line(
        &mut out,
        format!(
            "subject       {}   hook {}   window {}",
            or_dash(&s.subject_model),
            or_dash(&s.hook_point),
            s.window_tokens
                .map_or("-".into(), |w| format!("{w} tokens"))
        ),
    );
    line(&mut out, format!("corpus        {}", or_dash(&s.corpus)));
    if s.sources.len() > 1 {
        line(&mut out, "sources       (unit ids)".into());
        for source in &s.sources {
            let from = source
                .dictionary
                .as_ref()
                .and_then(|d| d.source.clone())
                .map_or_else(String::new, |path| format!("  from {path}"));
            line(
                &mut out,
                format!(
                    "  {:>6}..{:<6} {:<8} {}{from}",
                    source.first_unit_id,
                    source.first_unit_id + source.units,
                    source.kind.as_str(),
                    source.hook
                ),
            );
        }
    }
    line(&mut out, format!("units         {}", s.units));
    line(
        &mut out,
        format!("  {:>5}  {:<8} {:>8}", "layer", "kind", "units"),
    );
    for c in &s.units_by_layer_and_kind {
        line(
            &mut out,
            format!("  {:>5}  {:<8} {:>8}", c.layer, c.kind, c.units),
        );
    }
    let by_kind: Vec<String> = s
        .records_by_sample_kind
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    line(
        &mut out,
        format!(
            "records       {} in {} files ({})",
            s.records,
            s.record_files,
            by_kind.join(", ")
        ),
    );
    let by_method: Vec<String> = s
        .explanations_by_method
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let methods = if by_method.is_empty() {
        String::new()
    } else {
        format!(" ({})", by_method.join(", "))
    };
    line(
        &mut out,
        format!(
            "explanations  {}{methods} on {} units",
            s.explanations, s.explained_units
        ),
    );
    let mean = s.mean_score.map_or("-".into(), |m| format!("{m:.3}"));
    line(
        &mut out,
        format!(
            "scores        {} ({} defined, mean {mean})",
            s.scores, s.defined_scores
        ),
    );
    out
}

fn validate(path: &Path, json: bool) -> Result<()> {
    let report = open(path)?.validate()?;
    if json {
        return print_json(&report);
    }
    println!(
        "ok: {} units, {} records, {} explanations, {} scores",
        report.units, report.records, report.explanations, report.scores
    );
    Ok(())
}

fn import_neuron_explainer(args: NeuronExplainerArgs) -> Result<()> {
    let options = ImportOptions {
        subject_model: args.subject_model,
        explainer_model: args.explainer_model,
        simulator_model: args.simulator_model,
    };
    let report = match (&args.records, &args.out, &args.into, &args.explanations) {
        (Some(records), Some(out), None, explanations) => {
            neuron_explainer::import_dataset(records, explanations.as_deref(), out, &options)?
        }
        (None, None, Some(into), Some(explanations)) => {
            let ds = open(into)?;
            neuron_explainer::append_explanations(explanations, &ds, &options)?
        }
        _ => bail!(
            "give --records DIR --out DATASET [--explanations DIR], or --explanations DIR --into DATASET"
        ),
    };
    if args.json {
        return print_json(&report);
    }
    println!(
        "imported {} units, {} records, {} explanations, {} scores",
        report.units, report.records, report.explanations, report.scores
    );
    if report.scores_without_records > 0 {
        println!(
            "skipped {} scores whose texts are not among the unit's records",
            report.scores_without_records
        );
    }
    Ok(())
}

fn synth(args: SynthArgs) -> Result<()> {
    let spec = featurescope::synth::SynthSpec {
        units: args.units,
        records_per_unit: args.records_per_unit,
        tokens_per_record: args.tokens,
        layers: args.layers,
        seed: args.seed,
    };
    let bar = indicatif::ProgressBar::new(args.units).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} units  {per_sec}  eta {eta}")
            .context("progress template")?,
    );
    let path = featurescope::synth::generate(&args.out, &spec, |done| bar.set_position(done))?;
    bar.finish_and_clear();
    println!("wrote {} units to {}", args.units, path.display());
    Ok(())
}

fn replay(args: cli::ReplayArgs) -> Result<()> {
    let script = args
        .script
        .as_deref()
        .unwrap_or(tui::replay::DEFAULT_SCRIPT);
    let report = tui::replay::replay(
        &args.dataset,
        script,
        args.repeat,
        (args.width, args.height),
        args.train.as_deref(),
    )?;
    if args.json {
        return print_json(&report);
    }
    println!(
        "{} units, {}×{}: first frame {:.1} ms, list ready {:.1} ms; {} frames p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms; unit opens p50 {:.1} ms, max {:.1} ms",
        report.units,
        report.width,
        report.height,
        report.first_frame_ms,
        report.list_ready_ms,
        report.frames,
        report.frame_p50_ms,
        report.frame_p95_ms,
        report.frame_p99_ms,
        report.frame_max_ms,
        report.unit_open_p50_ms,
        report.unit_open_max_ms
    );
    if let Some(steps) = report.job_steps_during_replay {
        println!(
            "the training job made {steps} steps in the {:.1} s of the script",
            report.script_s
        );
    }
    Ok(())
}

fn doctor() -> Result<()> {
    let t = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
    let sum = t.sum(tch::Kind::Float).double_value(&[]);
    println!("libtorch       loaded (tensor check: 1+2+3 = {sum})");
    println!("cpu threads    {}", tch::get_num_threads());
    let cuda = match featurescope::device::load_cuda() {
        Err(reason) => format!("not available: libtorch_cuda does not load ({reason})"),
        Ok(()) if tch::Cuda::is_available() => {
            format!("{} device(s)", tch::Cuda::device_count())
        }
        Ok(()) => "libtorch_cuda loaded; no device".into(),
    };
    println!("cuda           {cuda}");
    Ok(())
}

#[derive(serde::Serialize)]
struct HookInfo {
    hook: String,
    layer: u32,
    site: &'static str,
    units: i64,
}

fn model_info(dir: &Path, json: bool) -> Result<()> {
    let model = featurescope::model::load(dir, tch::Device::Cpu)?;
    let c = model.config();
    let hooks: Vec<HookInfo> = model
        .hook_points()
        .into_iter()
        .map(|h| HookInfo {
            hook: h.to_string(),
            layer: h.layer,
            site: h.site.as_str(),
            units: model.width(h.site),
        })
        .collect();
    if json {
        return print_json(&serde_json::json!({
            "architecture": c.architecture.as_str(),
            "model_type": c.model_type,
            "layers": c.num_layers,
            "hidden_size": c.hidden_size,
            "mlp_size": c.intermediate_size,
            "heads": c.num_heads,
            "vocab_size": c.vocab_size,
            "hooks": hooks,
        }));
    }
    println!(
        "model         {} ({}, model_type {})",
        dir.display(),
        c.architecture.as_str(),
        printable(&c.model_type)
    );
    println!(
        "layers        {}   hidden {}   mlp {}   heads {}   vocab {}",
        c.num_layers, c.hidden_size, c.intermediate_size, c.num_heads, c.vocab_size
    );
    println!("hook points   (units per layer)");
    for site in featurescope::model::HookSite::ALL {
        println!(
            "  blocks.<0..{}>.{:<10} {:>6}",
            c.num_layers.saturating_sub(1),
            site.as_str(),
            model.width(site)
        );
    }
    Ok(())
}

/// `all`, or comma-separated layers and inclusive ranges (`0,2-4`).
fn parse_layers(spec: &str, num_layers: u32) -> Result<Vec<u32>> {
    if spec == "all" {
        return Ok((0..num_layers).collect());
    }
    let mut layers = featurescope::interp::units::number_list(spec)
        .map_err(anyhow::Error::msg)
        .context("--layers")?
        .into_iter()
        .map(u32::try_from)
        .collect::<Result<Vec<u32>, _>>()
        .context("--layers: layer number too large")?;
    layers.sort_unstable();
    layers.dedup();
    Ok(layers)
}

pub(crate) fn parse_device(name: &str) -> Result<tch::Device> {
    Ok(featurescope::sae::train::parse_device(name)?)
}

/// A progress bar for the extraction passes and the updater that drives it.
pub(crate) fn extract_progress() -> Result<(
    indicatif::ProgressBar,
    impl FnMut(featurescope::extract::Progress),
)> {
    use featurescope::extract::Progress;
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{msg:10} {bar:40} {human_pos}/{human_len} tokens  {per_sec}  eta {eta}",
        )
        .context("progress template")?,
    );
    bar.set_message("counting");
    let updater = bar.clone();
    Ok((bar, move |p| match p {
        Progress::Planned { model_tokens, .. } => {
            updater.set_length(model_tokens);
            updater.set_message("extracting");
        }
        Progress::Tokens(n) => updater.inc(n),
        Progress::Writing => updater.set_message("writing"),
    }))
}

pub(crate) fn report_bad_documents(bad: &[featurescope::extract::BadDocument]) {
    for bad in bad {
        eprintln!(
            "warning: {}: document {} skipped: {}",
            printable(&bad.place),
            bad.id,
            printable(&bad.reason)
        );
    }
}

fn extract(args: ExtractArgs) -> Result<()> {
    use featurescope::extract::{ExtractConfig, SelectionConfig};
    let model_config = featurescope::model::ModelConfig::read(&args.model)?;
    let layers = match &args.layers {
        Some(spec) => parse_layers(spec, model_config.num_layers)?,
        None if args.dictionaries.is_empty() => (0..model_config.num_layers).collect(),
        None => Vec::new(),
    };
    if let Some(cache) = &args.cache {
        return sae_commands::build_cache(&args, &layers, cache);
    }
    let out = args.out.clone().context("--out is required")?;
    let config = ExtractConfig {
        layers,
        dictionaries: args.dictionaries,
        site: args
            .hook
            .parse()
            .map_err(anyhow::Error::msg)
            .context("--hook")?,
        device: parse_device(&args.device)?,
        model_dir: args.model,
        corpus: args.corpus,
        text_field: args.text_field,
        out,
        window_tokens: args.window,
        batch_size: args.batch,
        calibration_windows: args.calibration_windows,
        selection: SelectionConfig {
            top_k: args.top_k,
            random_k: args.random_k,
            quantile_k: args.quantile_k,
            seed: args.seed,
            ..SelectionConfig::default()
        },
    };
    let (bar, on_progress) = extract_progress()?;
    let cancel = sae_commands::cancel_on_ctrl_c();
    let report = featurescope::extract::extract(&config, &cancel, on_progress)?;
    bar.finish_and_clear();
    report_bad_documents(&report.bad_documents);
    println!(
        "wrote {} units, {} records from {} documents ({} windows, {} tokens{}) to {}",
        report.units,
        report.records,
        report.documents,
        report.windows,
        report.tokens,
        if report.bad_documents.is_empty() {
            String::new()
        } else {
            format!(
                ", {} unreadable documents reported above",
                report.bad_documents.len()
            )
        },
        config.out.display()
    );
    Ok(())
}
