//! `extract`: a dataset of what each unit responds to, or (`--cache`) an
//! activation cache for training.
use super::args::ExtractArgs;
use super::output::{cancel_on_ctrl_c, corpus_progress, report_bad_documents};
use anyhow::{Context, Result, bail};
use featurescope::activations::cache::DEFAULT_SHARD_TOKENS;
use featurescope::activations::{BuildCache, build_cache};
use featurescope::extract::{ExtractConfig, SelectionConfig};
use featurescope::model::HookPoint;
use std::path::Path;

pub fn extract(args: ExtractArgs) -> Result<()> {
    let model_config = featurescope::model::ModelConfig::read(&args.model)?;
    let layers = match &args.layers {
        Some(list) => list.resolve(model_config.num_layers),
        None if args.dictionaries.is_empty() => (0..model_config.num_layers).collect(),
        None => Vec::new(),
    };
    if let Some(cache) = &args.cache {
        return cache_activations(&args, &layers, cache);
    }
    let out = args.out.clone().context("--out is required")?;
    let config = ExtractConfig {
        layers,
        dictionaries: args.dictionaries,
        site: args.hook,
        device: args.device.open()?,
        model_dir: args.model,
        corpus: args.corpus,
        text_field: args.text_field,
        out,
        window_tokens: args.window,
        batch_size: args.batch,
        calibration_windows: args.calibration_windows,
        spill_limit: args.spill_limit,
        logit_effects: !args.no_logit_effects,
        selection: SelectionConfig {
            top_k: args.top_k,
            random_k: args.random_k,
            quantile_k: args.quantile_k,
            seed: args.seed,
            ..SelectionConfig::default()
        },
    };
    let (bar, on_progress) = corpus_progress()?;
    let cancel = cancel_on_ctrl_c();
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

/// `extract --cache`: every text token's activations at one hook.
fn cache_activations(args: &ExtractArgs, layers: &[u32], out: &Path) -> Result<()> {
    let [layer] = layers else {
        bail!("--cache: give exactly one layer with --layers (a cache holds one hook point)");
    };
    let config = BuildCache {
        model_dir: args.model.clone(),
        corpus: args.corpus.clone(),
        text_field: args.text_field.clone(),
        hook: HookPoint {
            layer: *layer,
            site: args.hook,
        },
        out: out.to_owned(),
        window_tokens: args.window,
        batch_size: args.batch,
        device: args.device.open()?,
        shard_tokens: DEFAULT_SHARD_TOKENS,
    };
    let (bar, on_progress) = corpus_progress()?;
    let (info, bad) = build_cache(&config, on_progress)?;
    bar.finish_and_clear();
    report_bad_documents(&bad);
    println!(
        "cached {} tokens × {} of {} in {} shards at {}",
        info.tokens,
        info.d_in,
        info.hook,
        info.shards.len(),
        out.display()
    );
    Ok(())
}
