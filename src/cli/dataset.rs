//! The dataset commands: inspect, validate, search, import, export, synth.
use super::args::{
    DelphiImportArgs, HtmlExportArgs, NeuronExplainerArgs, NeuronpediaExportArgs,
    NeuronpediaImportArgs, SearchArgs, SynthArgs,
};
use super::output::{print_json, printable_lines, progress_bar};
use anyhow::{Result, bail};
use featurescope::dataset::{Dataset, Summary, summarize};
use featurescope::import::neuron_explainer::{self, ImportOptions};
use featurescope::search::{ExplanationSearch, SentenceEmbedder};
use featurescope::text::printable;
use std::path::Path;

pub fn inspect(path: &Path, json: bool) -> Result<()> {
    let summary = summarize(&Dataset::open(path)?)?;
    if json {
        return print_json(&summary);
    }
    print!("{}", printable_lines(&render_summary(&summary)));
    Ok(())
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

pub fn validate(path: &Path, json: bool) -> Result<()> {
    let report = Dataset::open(path)?.validate()?;
    if json {
        return print_json(&report);
    }
    println!(
        "ok: {} units, {} records, {} explanations, {} scores",
        report.units, report.records, report.explanations, report.scores
    );
    Ok(())
}

pub fn import_neuron_explainer(args: NeuronExplainerArgs) -> Result<()> {
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
            let ds = Dataset::open(into)?;
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

pub fn import_neuronpedia(args: NeuronpediaImportArgs) -> Result<()> {
    let report = featurescope::import::neuronpedia::import_export(&args.paths, &args.out)?;
    if args.json {
        return print_json(&report);
    }
    let mut out = format!(
        "imported {} units, {} records, {} explanations, {} scores, {} logit effects into {}\n",
        report.units,
        report.records,
        report.explanations,
        report.scores,
        report.logit_effects,
        args.out.display()
    );
    let skipped = [
        (
            report.features_without_activations,
            "features without activations (a unit needs one)",
        ),
        (
            report.orphan_explanations,
            "explanations of features without activations",
        ),
        (
            report.orphan_scores,
            "scores of explanations that are not there",
        ),
    ];
    for (n, what) in skipped.into_iter().filter(|(n, _)| *n > 0) {
        out.push_str(&format!("skipped {n} {what}\n"));
    }
    if !report.unmapped_fields.is_empty() {
        out.push_str("fields with no place in a dataset, not imported (rows holding a value):\n");
        for (field, rows) in &report.unmapped_fields {
            out.push_str(&format!("  {field}: {rows}\n"));
        }
    }
    for path in &report.files_not_read {
        out.push_str(&format!("not a table, not read: {}\n", path.display()));
    }
    print!("{}", printable_lines(&out));
    Ok(())
}

pub fn import_delphi(args: DelphiImportArgs) -> Result<()> {
    use featurescope::import::delphi::{DelphiOptions, import_run};
    let tokenizer = featurescope::model::tokenizer::TextTokenizer::load(&args.tokenizer)?;
    let mut options = DelphiOptions {
        window: args.window,
        explainer_model: args.explainer_model,
        ..DelphiOptions::default()
    };
    options.selection.seed = args.seed;
    let report = import_run(&args.run, &tokenizer, &args.out, &options)?;
    if args.json {
        return print_json(&report);
    }
    let mut out = format!(
        "imported {} latents of {} with {} records and {} explanations into {}\n",
        report.units,
        report.hookpoints.join(", "),
        report.records,
        report.explanations,
        args.out.display()
    );
    if report.explanations_without_unit > 0 {
        out.push_str(&format!(
            "skipped {} explanations of latents without a unit (silent in the cache, or of a hookpoint it does not hold)\n",
            report.explanations_without_unit
        ));
    }
    print!("{}", printable_lines(&out));
    Ok(())
}

pub fn export_neuronpedia(args: NeuronpediaExportArgs) -> Result<()> {
    let dataset = Dataset::open(&args.dataset)?;
    let units = args.units.select(&dataset.units_overview()?, args.seed)?;
    let report = featurescope::export::neuronpedia::write_export(&dataset, &units, &args.out)?;
    if args.json {
        return print_json(&report);
    }
    let mut out = format!(
        "wrote {} units, {} records, {} explanations, {} scores to {}\n",
        report.units,
        report.records,
        report.explanations,
        report.scores,
        args.out.display()
    );
    for source in &report.sources {
        out.push_str(&format!("  {source}\n"));
    }
    for dictionary in &report.dictionaries {
        out.push_str(&format!(
            "  {} (SAELens dictionary)\n",
            dictionary.display()
        ));
    }
    for missing in &report.dictionaries_missing {
        out.push_str(&format!("dictionary not found, not copied: {missing}\n"));
    }
    print!("{}", printable_lines(&out));
    Ok(())
}

pub fn export_html(args: HtmlExportArgs) -> Result<()> {
    let dataset = Dataset::open(&args.dataset)?;
    let units = args.units.select(&dataset.units_overview()?, args.seed)?;
    let pages = featurescope::export::html::write_pages(&dataset, &units, &args.out)?;
    println!(
        "wrote {} unit pages and {}",
        pages.len() - 1,
        printable(&pages[0].display().to_string())
    );
    Ok(())
}

pub fn synth(args: SynthArgs) -> Result<()> {
    let spec = featurescope::synth::SynthSpec {
        units: args.units,
        records_per_unit: args.records_per_unit,
        tokens_per_record: args.tokens,
        layers: args.layers,
        seed: args.seed,
        kind: args.kind,
        like: match &args.like {
            Some(dir) => Some(featurescope::synth::Profile::read(dir, args.kind)?),
            None => None,
        },
    };
    let bar = progress_bar(
        args.units,
        "{bar:40} {pos}/{len} units  {per_sec}  eta {eta}",
    )?;
    let path = featurescope::synth::generate(&args.out, &spec, |done| bar.set_position(done))?;
    bar.finish_and_clear();
    println!("wrote {} units to {}", args.units, path.display());
    Ok(())
}

pub fn search(args: SearchArgs) -> Result<()> {
    let dataset = Dataset::open(&args.dataset)?;
    let embedder = SentenceEmbedder::load(&args.embedder)?;
    let search = ExplanationSearch::build(&dataset, &embedder)?;
    if search.is_empty() {
        bail!(
            "{} has no explanations to search (explain some units first)",
            args.dataset.display()
        );
    }
    let query = embedder.embed(&[args.query.as_str()])?.remove(0);
    let hits: Vec<_> = search.rank(&query).into_iter().take(args.top).collect();
    if args.json {
        return print_json(&hits);
    }
    let mut out = format!("{:>6}  {:>10}  explanation\n", "unit", "similarity");
    for hit in &hits {
        out.push_str(&format!(
            "{:>6}  {:>10.3}  {}\n",
            hit.unit_id,
            hit.similarity,
            hit.text.replace('\n', " ")
        ));
    }
    print!("{}", printable_lines(&out));
    Ok(())
}
