//! `featurescope experiment …`: each experiment's results written beside
//! the dataset, then shown as a summary and a chart in the terminal; and
//! `logit-effects`, a table of the dataset made from the same subject model.
use super::args::{
    AblationArgs, BasesArgs, EvidenceArgs, HistogramArgs, LlmArgs, LogitEffectsArgs, PairsArgs,
    PatchingArgs, RevisionArgs, StudyArgs,
};
use super::llm::{connect, cost, runtime, units};
use super::output::{print_json, progress_bar};
use anyhow::{Context, Result, bail};
use featurescope::experiment::bases::{self, Plan};
use featurescope::experiment::{GroupedBars, Lines, Scatter, agreement};
use featurescope::experiment::{ablation, histogram, pairs, patching, study};
use featurescope::interp::engine::{Explainer, Simulator};
use featurescope::interp::explainer::default_examples;
use featurescope::llm::Backend;
use featurescope::text::printable;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Direction, Rect};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Bar, BarChart, BarGroup, Chart, Dataset, GraphType, Widget};
use std::fmt::Write;
use std::path::Path;

pub fn logit_effects(args: LogitEffectsArgs) -> Result<()> {
    let dataset = featurescope::dataset::Dataset::open(&args.dataset)?;
    let effects = featurescope::experiment::logit_effects::compute(
        &dataset,
        args.subject.model.as_deref(),
        args.tokens,
        args.subject.device.open()?,
    )?
    .context("the subject model has no output head (a bare base model): it has no logits")?;
    let path = dataset.write_logit_effects(&effects)?;
    if args.json {
        return print_json(&effects);
    }
    println!(
        "logit effects of {} units ({} tokens each way) written to {}",
        effects.len(),
        args.tokens,
        path.display()
    );
    Ok(())
}

pub fn ablation(args: AblationArgs) -> Result<()> {
    let plan = ablation::Plan {
        unit_id: args.unit,
        scale: args.scale,
        records: args.records,
        tokens: args.tokens,
    };
    let (result, folder) = ablation::run(
        &args.dataset,
        &plan,
        args.subject.model.as_deref(),
        args.subject.device.open()?,
    )?;
    if args.json {
        return print_json(&result);
    }
    println!(
        "unit {} ({} at {}) scaled by {}: {} records, {} positions where it fires; mean KL(clean || scaled) {:.5} nats",
        result.plan.unit_id,
        result.kind,
        result.hook,
        result.plan.scale,
        result.record_ids.len(),
        result.positions,
        result.mean_kl
    );
    for (id, why) in &result.records_skipped {
        println!("  record {id} left out: {why}");
    }
    println!(
        "  its activation ran again within {:.2e} of the dataset's",
        result.activation_difference
    );
    if result.positions == 0 {
        println!("  it fires nowhere in these records: nothing to average");
    }
    for (title, list) in [("falls most", &result.falls), ("rises most", &result.rises)] {
        if list.is_empty() {
            continue;
        }
        println!("next tokens whose log-probability {title} (mean change, nats):");
        for line in chart_lines(token_bars(list), 72, list.len() as u16) {
            println!("  {line}");
        }
    }
    println!(
        "tokens.csv, summary.json and figure.svg in {}",
        printable(&folder.display().to_string())
    );
    Ok(())
}

pub fn patching(args: PatchingArgs) -> Result<()> {
    let ds = featurescope::dataset::Dataset::open(&args.dataset)?;
    let hook = match args.hook {
        Some(hook) => hook,
        None => patching::default_hook(&ds)?,
    };
    let plan = patching::Plan {
        hook,
        prompts: args.prompts,
        features: args.features,
        seed: args.seed,
    };
    let bar = progress_bar(0, "patching {bar:40} {pos}/{len} runs  eta {eta}")?;
    let (result, folder, reused) = patching::run(
        &args.dataset,
        &plan,
        args.subject.model.as_deref(),
        args.subject.device.open()?,
        &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    )?;
    bar.finish_and_clear();
    if args.json {
        return print_json(&result);
    }
    println!(
        "{} IOI prompt pairs of {} tokens, patched at {} of {}",
        result.prompts.len(),
        result.tokens,
        result.plan.hook,
        printable(&result.model)
    );
    if let Some(first) = result.prompts.first() {
        println!("  clean:     {}", printable(&first.clean));
        println!("  corrupted: {}", printable(&first.corrupted));
    }
    println!(
        "  logit(IO) - logit(S): clean {:+.3}, corrupted {:+.3}; KL(corrupted || clean) {:.4} nats",
        result.clean.io_logit_difference,
        result.corrupted.io_logit_difference,
        result.clean.mean_kl
    );
    if reused > 0 {
        println!(
            "  {reused} of {} bases as an earlier run left them",
            result.bases.len()
        );
    }
    let labels: Vec<String> = result.bases.iter().map(|b| printable(&b.label)).collect();
    let width = labels.iter().map(|l| l.chars().count()).fold(8, usize::max) + 2;
    let mut header = format!("{:<width$}", "KL by n");
    for n in &result.plan.features {
        let _ = write!(header, "{n:>8}");
    }
    println!("{header}");
    for (basis, label) in result.bases.iter().zip(&labels) {
        let mut row = format!("{label:<width$}");
        for p in &basis.points {
            let _ = write!(row, "{:>8.4}", p.measure.mean_kl);
        }
        println!("{row}");
    }
    let [kl, _] = patching::figures(&result);
    let mut points = Vec::new();
    for line in chart_lines(lines_chart(&kl, &mut points), 78, 20) {
        println!("  {line}");
    }
    println!(
        "points.csv, prompts.csv, summary.json, figure.svg and logit-difference.svg in {}",
        printable(&folder.display().to_string())
    );
    Ok(())
}

/// The lines as a ratatui chart, each series with its own marker and
/// named in the legend; `points` holds the points the chart borrows.
fn lines_chart<'a>(figure: &'a Lines, points: &'a mut Vec<Vec<(f64, f64)>>) -> Chart<'a> {
    // Printed, a chart has no colours: the legend shows each marker.
    const MARKERS: [(Marker, &str); 5] = [
        (Marker::Dot, "•"),
        (Marker::Braille, "⣿"),
        (Marker::Block, "█"),
        (Marker::HalfBlock, "▀"),
        (Marker::Bar, "▄"),
    ];
    points.extend(
        figure
            .series
            .iter()
            .map(|(_, p)| p.iter().map(|&(x, v)| (x as f64, v)).collect::<Vec<_>>()),
    );
    let datasets = (figure.series.iter().zip(points.iter()).enumerate())
        .map(|(k, ((name, _), data))| {
            let (marker, symbol) = MARKERS[k % MARKERS.len()];
            Dataset::default()
                .name(format!("{symbol} {}", printable(name)))
                .marker(marker)
                .graph_type(GraphType::Line)
                .data(data)
        })
        .collect();
    let y_bounds = figure.y_bounds();
    let last = figure.x_ticks.len().saturating_sub(1);
    let x_labels = match &figure.x_ticks[..] {
        [] => Vec::new(),
        [only] => vec![Line::from(only.clone())],
        [first, .., end] => vec![Line::from(first.clone()), Line::from(end.clone())],
    };
    Chart::new(datasets)
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)))
        .x_axis(
            Axis::default()
                .title(figure.x_label.as_str())
                .bounds([0.0, last.max(1) as f64])
                .labels(x_labels),
        )
        .y_axis(labelled_axis(&figure.y_label, y_bounds))
}

pub fn histogram(args: HistogramArgs) -> Result<()> {
    let plan = histogram::Plan {
        unit_id: args.unit,
        windows: args.windows,
        bins: args.bins,
        tokens: args.tokens,
    };
    let (h, folder) = histogram::run(
        &args.dataset,
        &plan,
        (args.corpus.as_deref(), args.text_field.as_deref()),
        args.subject.model.as_deref(),
        args.subject.device.open()?,
    )?;
    if args.json {
        return print_json(&h);
    }
    println!(
        "unit {} at {} over {} windows ({} tokens) of {}: fires on {} tokens, max {:.4}",
        h.plan.unit_id,
        h.hook,
        h.windows,
        h.tokens,
        printable(&h.corpus),
        h.tokens - h.not_firing,
        h.max
    );
    let largest = h.bins.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    let bars: Vec<Bar> = (h.bins.iter())
        .map(|b| {
            Bar::default()
                .value(b.count * 1000 / largest)
                .text_value(b.count.to_string())
                .label(Line::from(format!("{:>7.3} ", b.low)))
        })
        .collect();
    let chart = BarChart::default()
        .direction(Direction::Horizontal)
        .bar_width(1)
        .bar_gap(0)
        .data(BarGroup::default().bars(&bars));
    println!("tokens per bin (the bin's lower edge):");
    for (line, bin) in chart_lines(chart, 50, h.bins.len() as u16)
        .into_iter()
        .zip(&h.bins)
    {
        let tokens: Vec<String> = (bin.tokens.iter())
            .map(|t| format!("{} {}", printable(&format!("{:?}", t.token)), t.count))
            .collect();
        println!("  {line:<50} {}", tokens.join("  "));
    }
    println!(
        "bins.csv, summary.json and figure.svg in {}",
        printable(&folder.display().to_string())
    );
    Ok(())
}

/// Horizontal bars of tokens' changes, the longest the largest change.
fn token_bars(list: &[ablation::TokenChange]) -> BarChart<'static> {
    let largest = list.iter().map(|t| t.mean_change.abs()).fold(0.0, f64::max);
    let bars: Vec<Bar> = list
        .iter()
        .map(|t| {
            // Bars take whole numbers: magnitudes in thousandths of the largest.
            let length = (t.mean_change.abs() / largest.max(f64::MIN_POSITIVE) * 1000.0) as u64;
            Bar::default()
                .value(length)
                .text_value(format!("{:+.4}", t.mean_change))
                .label(Line::from(printable(&format!(
                    "{:>12}",
                    format!("{:?}", t.token)
                ))))
        })
        .collect();
    BarChart::default()
        .direction(Direction::Horizontal)
        .bar_width(1)
        .bar_gap(0)
        .data(BarGroup::default().bars(&bars))
}

pub fn bases(args: BasesArgs) -> Result<()> {
    let ds = featurescope::dataset::Dataset::open(&args.dataset)?;
    let candidates = units(&ds, &args.units, args.seed)?;
    let plan = Plan {
        units_per_basis: args.per_basis,
        seed: args.seed,
        record_sets: args.record_sets.clone(),
        records_shown: args.records_shown,
        scored_top: args.scoring.top,
        scored_random: args.scoring.random,
        resamples: args.scoring.resamples,
    };
    let sampled = bases::sample_bases(&ds, &candidates, plan.units_per_basis, plan.seed)?;
    if sampled.is_empty() {
        bail!("no live units (maximum activation above zero) among those selected by --units");
    }
    let (explainer_backend, simulator_backend) = connect_roles(&args.scoring.llm)?;
    let explainer = Explainer {
        backend: &explainer_backend,
        examples: default_examples(),
        records_shown: args.records_shown,
    };
    let simulator = Simulator {
        backend: &simulator_backend,
        examples: default_examples(),
    };
    let bar = stage_bar()?;
    let outcome = runtime()?.block_on(bases::explain_and_score(
        &ds,
        &explainer,
        &simulator,
        &sampled,
        &plan,
        on_stage(&bar, Some(&simulator_backend)),
    ));
    bar.finish_and_clear();
    // Whatever was made before a failure is in the dataset: summarise it.
    let (summary, folder) = bases::publish(&args.dataset, &sampled, &explainer, &simulator, &plan)?;
    let outcome = outcome?;
    if args.scoring.json {
        print_json(&summary)?;
    } else {
        print_bases(&summary);
        print_costs(&explainer_backend, &simulator_backend);
        println!(
            "units.csv, summary.json and figure.svg in {}",
            printable(&folder.display().to_string())
        );
    }
    missing_fails(&outcome, summary.missing())
}

/// The explainer and the simulator, connected as `llm` says.
fn connect_roles(llm: &LlmArgs) -> Result<(Backend, Backend)> {
    Ok((connect(llm, "explainer")?, connect(llm, "simulator")?))
}

/// The bar an experiment's stages move.
fn stage_bar() -> Result<indicatif::ProgressBar> {
    progress_bar(
        0,
        "{prefix:14} {bar:40} {pos}/{len}  {per_sec}  eta {eta}  {msg}",
    )
}

/// Moves `bar` to a stage's (name, done, total), with what `backend` has
/// cost where one backend does all the work.
fn on_stage<'a>(
    bar: &'a indicatif::ProgressBar,
    backend: Option<&'a Backend>,
) -> impl FnMut(&str, usize, usize) + 'a {
    move |stage, done, total| {
        bar.set_prefix(stage.to_owned());
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        if let Some(backend) = backend {
            bar.set_message(cost(backend.usage()));
        }
    }
}

/// What each model's work cost; one local model playing both roles counts
/// its work once.
fn print_costs(explainer: &Backend, simulator: &Backend) {
    if std::ptr::eq(explainer.usage(), simulator.usage()) {
        println!(
            "explainer and simulator {}: {}",
            printable(explainer.model()),
            cost(explainer.usage())
        );
    } else {
        for (role, backend) in [("explainer", explainer), ("simulator", simulator)] {
            println!(
                "{role} {}: {}",
                printable(backend.model()),
                cost(backend.usage())
            );
        }
    }
}

/// Lists the failures, and fails when results are missing.
fn missing_fails(
    outcome: &featurescope::interp::batch::BatchOutcome,
    missing: usize,
) -> Result<()> {
    for (unit, reason) in &outcome.failed {
        eprintln!("failed: unit {unit}: {}", printable(reason));
    }
    if missing > 0 {
        bail!(
            "{missing} unit results are missing ({} failed, listed above); rerun to make them",
            outcome.failed.len()
        );
    }
    Ok(())
}

pub fn revision(args: RevisionArgs) -> Result<()> {
    let conditions = study::revision_conditions(args.study.records_shown);
    run_study(
        args.study,
        ("revision", "Does revision help?"),
        conditions,
        Some(0),
        args.revision_records,
    )
}

pub fn evidence(args: EvidenceArgs) -> Result<()> {
    let shown = args.study.records_shown;
    let conditions =
        study::evidence_conditions(shown, &args.counts, &args.windows, args.selection_count);
    // Compared with the standard explanation where one condition is it.
    let baseline = args.counts.iter().position(|&c| c == shown);
    run_study(
        args.study,
        ("evidence", "What evidence should the explainer see?"),
        conditions,
        baseline,
        featurescope::interp::REVISION_RECORDS,
    )
}

pub fn pairs(args: PairsArgs) -> Result<()> {
    let study_args = &args.study;
    if args.pairs.len() < 2 {
        bail!(
            "name two or more pairs with --pair (a configuration file, or `default` for the \
             LLM flags and featurescope.toml)"
        );
    }
    let ds = featurescope::dataset::Dataset::open(&study_args.dataset)?;
    let candidates = units(&ds, &study_args.units, study_args.seed)?;
    let sampled = study::sample_units(&ds, &candidates, study_args.sample, study_args.seed)?;
    if sampled.is_empty() {
        bail!("no live units (maximum activation above zero) among those selected by --units");
    }
    let flags = &study_args.scoring.llm;
    let mut connected = Vec::new();
    for spec in &args.pairs {
        let (label, llm) = if spec == "default" {
            ("default".to_owned(), flags.clone())
        } else {
            let path = Path::new(spec);
            if !path.is_file() {
                bail!("--pair {}: no such configuration file", printable(spec));
            }
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or(spec);
            // The file alone names the models; where responses are cached
            // is the command's.
            let llm = LlmArgs {
                config: Some(path.to_owned()),
                cache_dir: flags.cache_dir.clone(),
                no_cache: flags.no_cache,
                ..LlmArgs::default()
            };
            (stem.to_owned(), llm)
        };
        if connected.iter().any(|(l, _): &(String, _)| *l == label) {
            bail!("--pair {}: two pairs are named {label}", printable(spec));
        }
        connected.push((
            label,
            connect_roles(&llm).with_context(|| format!("--pair {spec}"))?,
        ));
    }
    let pairs: Vec<pairs::Pair> = (connected.iter())
        .map(|(label, (explainer, simulator))| pairs::Pair {
            label: label.clone(),
            explainer: Explainer {
                backend: explainer,
                examples: default_examples(),
                records_shown: study_args.records_shown,
            },
            simulator: Simulator {
                backend: simulator,
                examples: default_examples(),
            },
        })
        .collect();
    let labels: Vec<String> = pairs.iter().map(|p| p.label.clone()).collect();
    let scoring = &study_args.scoring;
    let plan = pairs::plan(
        &labels,
        (study_args.sample, study_args.seed, study_args.records_shown),
        (scoring.top, scoring.random, scoring.resamples),
    );
    let bar = stage_bar()?;
    let outcome = runtime()?.block_on(pairs::run(
        &ds,
        &pairs,
        &sampled,
        &plan,
        on_stage(&bar, None),
    ));
    bar.finish_and_clear();
    // Whatever was made before a failure is in the dataset: summarise it.
    let (summary, folder) = pairs::publish(&study_args.dataset, &sampled, &pairs, &plan)?;
    let outcome = outcome?;
    if scoring.json {
        print_json(&summary)?;
    } else {
        for (i, p) in summary.pairs.iter().enumerate() {
            println!(
                "  {:>2} {}: explainer {}, simulator {} ({})",
                i + 1,
                printable(&p.label),
                printable(&p.explainer),
                printable(&p.simulator),
                p.simulation_method
            );
        }
        print_conditions(
            &summary.conditions,
            &summary.plan,
            summary.sampled.len(),
            "Explainer and simulator pairs:",
        );
        for (label, (explainer, simulator)) in &connected {
            print!("{}: ", printable(label));
            print_costs(explainer, simulator);
        }
        println!(
            "units.csv, summary.json and figure.svg in {}",
            printable(&folder.display().to_string())
        );
    }
    missing_fails(&outcome, study::missing(&summary.conditions))
}

/// Runs a study of `conditions` on the sampled units and shows its summary.
fn run_study(
    args: StudyArgs,
    (name, title): (&str, &str),
    conditions: Vec<study::Condition>,
    baseline: Option<usize>,
    revision_records: usize,
) -> Result<()> {
    let ds = featurescope::dataset::Dataset::open(&args.dataset)?;
    let candidates = units(&ds, &args.units, args.seed)?;
    let sampled = study::sample_units(&ds, &candidates, args.sample, args.seed)?;
    if sampled.is_empty() {
        bail!("no live units (maximum activation above zero) among those selected by --units");
    }
    let plan = study::Plan {
        name: name.to_owned(),
        units: args.sample,
        seed: args.seed,
        records_shown: args.records_shown,
        scored_top: args.scoring.top,
        scored_random: args.scoring.random,
        revision_records,
        resamples: args.scoring.resamples,
        conditions,
        baseline,
    };
    let (explainer_backend, simulator_backend) = connect_roles(&args.scoring.llm)?;
    let explainer = Explainer {
        backend: &explainer_backend,
        examples: default_examples(),
        records_shown: args.records_shown,
    };
    let simulator = Simulator {
        backend: &simulator_backend,
        examples: default_examples(),
    };
    let bar = stage_bar()?;
    let outcome = runtime()?.block_on(study::run(
        &ds,
        &explainer,
        &simulator,
        &sampled,
        &plan,
        on_stage(&bar, Some(&simulator_backend)),
    ));
    bar.finish_and_clear();
    // Whatever was made before a failure is in the dataset: summarise it.
    let (summary, folder) = study::publish(
        &args.dataset,
        &sampled,
        &explainer,
        &simulator,
        &plan,
        title,
    )?;
    let outcome = outcome?;
    if args.scoring.json {
        print_json(&summary)?;
    } else {
        print_study(&summary, title);
        print_costs(&explainer_backend, &simulator_backend);
        println!(
            "units.csv, summary.json and figure.svg in {}",
            printable(&folder.display().to_string())
        );
    }
    missing_fails(&outcome, summary.missing())
}

/// A mean and its interval, or why there is none.
fn mean_interval(mean: Option<f64>, interval: Option<(f64, f64)>) -> String {
    match (mean, interval) {
        (Some(mean), Some((low, high))) => format!("{mean:>6.3} [{low:>6.3}, {high:>6.3}]"),
        _ => format!("{:>23}", "no scores"),
    }
}

/// The units left out of a mean: undefined scores and missing ones.
fn left_out(undefined: usize, missing: usize) -> String {
    match (undefined, missing) {
        (0, 0) => String::new(),
        (u, 0) => format!(", {u} undefined"),
        (0, m) => format!(", {m} missing"),
        (u, m) => format!(", {u} undefined, {m} missing"),
    }
}

/// The table of conditions, then the chart.
fn print_study(summary: &study::Summary, title: &str) {
    print_conditions(
        &summary.conditions,
        &summary.plan,
        summary.sampled.len(),
        title,
    );
}

/// The table of `conditions` of `plan`, over `units` units, then the chart.
fn print_conditions(
    conditions: &[study::ConditionSummary],
    plan: &study::Plan,
    units: usize,
    title: &str,
) {
    println!(
        "{title} {units} units (seed {}), each scored on the same held-out records; {:.0}% bootstrap intervals ({} resamples)",
        plan.seed,
        study::LEVEL * 100.0,
        plan.resamples
    );
    for (i, c) in conditions.iter().enumerate() {
        let versus = c.versus_baseline.as_ref().map_or(String::new(), |d| {
            format!(
                "  vs baseline {} over {} units",
                mean_interval(d.mean, d.interval),
                d.pairs
            )
        });
        let mut extra = left_out(c.undefined, c.missing);
        if c.unavailable > 0 {
            extra.push_str(&format!(", {} without the records it needs", c.unavailable));
        }
        let shown = c
            .mean_shown
            .map_or(String::new(), |s| format!(", {s:.1} shown"));
        println!(
            "  {:>2} {:<34} {} n={}{extra}{shown}{versus}",
            i + 1,
            printable(&format!("{}: {}", c.condition.group, c.condition.label)),
            mean_interval(c.mean, c.interval),
            c.n,
        );
    }
    let figure = study::condition_bars(conditions, units, title);
    for line in chart_lines(bars_chart(&figure, "condition", &mut Vec::new()), 72, 18) {
        println!("{line}");
    }
    println!("  each condition by its number above");
}

/// The table of means and intervals, then the chart.
fn print_bases(summary: &bases::Summary) {
    println!(
        "mean score per basis: {} units each (seed {}), {:.0}% bootstrap intervals ({} resamples)",
        summary.plan.units_per_basis,
        summary.plan.seed,
        bases::LEVEL * 100.0,
        summary.plan.resamples
    );
    for (i, b) in summary.bases.iter().enumerate() {
        let cells: Vec<String> = (b.record_sets.iter())
            .map(|c| {
                format!(
                    "{}: {} n={}{}",
                    c.record_set,
                    mean_interval(c.mean, c.interval),
                    c.n,
                    left_out(c.undefined, c.missing)
                )
            })
            .collect();
        println!(
            "  {:>2} {:<20} {}",
            i + 1,
            printable(&b.basis.label),
            cells.join("   ")
        );
    }
    let figure = bases::figure(summary);
    for line in chart_lines(bars_chart(&figure, "basis", &mut Vec::new()), 72, 18) {
        println!("{line}");
    }
    println!(
        "  each basis by its number above; per basis, from the left: {}",
        summary
            .plan
            .record_sets
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", then ")
    );
}

pub fn ratings(dataset: &Path, json: bool) -> Result<()> {
    let (summary, figure, folder) = agreement::run(dataset)?;
    if json {
        return print_json(&summary);
    }
    let rho = summary.spearman.map_or(
        "undefined (fewer than two pairs, or one side constant)".into(),
        |r| format!("{r:.3}"),
    );
    println!(
        "score against rating: Spearman's rho = {rho}, n = {} rated scores",
        summary.n
    );
    if summary.undefined_scores > 0 {
        println!(
            "  ({} rated scores with an undefined score left out)",
            summary.undefined_scores
        );
    }
    for level in &summary.by_rating {
        println!(
            "  rating {}: {:>4} scores, mean score {:.3}",
            level.rating, level.n, level.mean_score
        );
    }
    if summary.n > 0 {
        for line in chart_lines(scatter_chart(&figure), 72, 20) {
            println!("{line}");
        }
    }
    println!(
        "points.csv, summary.json and figure.svg in {}",
        printable(&folder.display().to_string())
    );
    Ok(())
}

/// Three labels across `(low, high)`: the ends and the middle.
fn axis_labels((low, high): (f64, f64)) -> Vec<Line<'static>> {
    vec![
        Line::from(format!("{low:.1}")),
        Line::from(format!("{:.1}", (low + high) / 2.0)),
        Line::from(format!("{high:.1}")),
    ]
}

/// An axis across `bounds`, titled, with [`axis_labels`].
fn labelled_axis(title: &str, bounds: (f64, f64)) -> Axis<'_> {
    Axis::default()
        .title(title)
        .bounds([bounds.0, bounds.1])
        .labels(axis_labels(bounds))
}

/// The rating scatter as a ratatui chart.
fn scatter_chart(figure: &Scatter) -> Chart<'_> {
    let points = Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Scatter)
        .data(&figure.points);
    Chart::new(vec![points])
        .x_axis(labelled_axis(&figure.x_label, figure.x_bounds))
        .y_axis(labelled_axis(&figure.y_label, figure.y_bounds))
}

/// The grouped bars as a ratatui chart: groups at 1, 2, …, each bar a
/// vertical line from zero to its mean, its interval a line beside it.
/// `lines` holds the points the chart borrows.
fn bars_chart<'a>(
    figure: &'a GroupedBars,
    x_title: &'a str,
    lines: &'a mut Vec<Vec<(f64, f64)>>,
) -> Chart<'a> {
    let series = figure.series.len().max(1) as f64;
    for (g, (_, bars)) in figure.groups.iter().enumerate() {
        for (i, bar) in bars.iter().enumerate() {
            let Some(bar) = bar else { continue };
            let x = g as f64 + 1.0 + (i as f64 - (series - 1.0) / 2.0) * 0.6 / series;
            lines.push(vec![(x, 0.0), (x, bar.value)]);
            if let Some((low, high)) = bar.interval {
                lines.push(vec![(x + 0.08, low), (x + 0.08, high)]);
            }
        }
    }
    let datasets = lines
        .iter()
        .map(|points| {
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .data(points)
        })
        .collect();
    // Symmetric about zero, so the middle label is the bars' base.
    let (low, high) = figure.y_bounds();
    let y_bounds = (-high.max(-low), high.max(-low));
    let groups = figure.groups.len();
    // One label per whole number from 0 to groups + 1: the groups' numbers.
    let x_labels = (0..=groups + 1)
        .map(|g| match g {
            0 => Line::from(""),
            g if g > groups => Line::from(""),
            g => Line::from(g.to_string()),
        })
        .collect::<Vec<_>>();
    Chart::new(datasets)
        .x_axis(
            Axis::default()
                .title(x_title)
                .bounds([0.0, groups as f64 + 1.0])
                .labels(x_labels),
        )
        .y_axis(labelled_axis(&figure.y_label, y_bounds))
}

/// A chart drawn by ratatui into a `width`×`height` grid of cells, as
/// lines of text.
fn chart_lines(chart: impl Widget, width: u16, height: u16) -> Vec<String> {
    let area = Rect::new(0, 0, width, height);
    let mut buffer = Buffer::empty(area);
    chart.render(area, &mut buffer);
    (0..height)
        .map(|y| {
            let line: String = (0..width).map(|x| buffer[(x, y)].symbol()).collect();
            line.trim_end().to_owned()
        })
        .collect()
}
