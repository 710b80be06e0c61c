//! The dictionary commands: `train`, `baseline`, `eval-sae`.
use super::args::{BaselineArgs, EvalSaeArgs, TrainArgs};
use super::output::{cancel_on_ctrl_c, print_json, progress_bar};
use anyhow::Result;
use featurescope::activations::ActivationCache;
use featurescope::sae::{self, TrainConfig, TrainProgress};
use featurescope::text::printable;

pub fn train(args: TrainArgs) -> Result<()> {
    let mut config = TrainConfig::read(&args.config)?;
    if let Some(device) = args.device {
        config.device = device.as_str().into();
    }
    let cancel = cancel_on_ctrl_c();
    let bar = progress_bar(
        config.total_steps(),
        "{bar:40} {pos}/{len} steps  {msg}  eta {eta}",
    )?;
    let report = sae::train(&config, args.resume, &cancel, |p| match p {
        TrainProgress::Started { start_step, .. } => bar.set_position(start_step),
        TrainProgress::Step { step, .. } => bar.set_position(step),
        TrainProgress::Metrics(m) => bar.set_message(m.summary()),
        TrainProgress::Checkpoint { .. } => {}
    });
    bar.finish_and_clear();
    let report = report?;
    if args.json {
        return print_json(&report);
    }
    if let Some(from) = report.resumed_from {
        println!("resumed at step {from}");
    }
    println!(
        "trained {} steps ({} tokens); dictionary in {}",
        report.steps,
        report.tokens,
        report.out.display()
    );
    if let Some(m) = &report.final_metrics {
        println!(
            "final: mse {:.5}  explained variance {:.4}  L0 {:.2}  dead {:.2}%  dense {:.2}%",
            m.mse,
            m.explained_variance,
            m.l0,
            m.dead_fraction * 100.0,
            m.dense_fraction * 100.0
        );
    }
    Ok(())
}

pub fn baseline(args: BaselineArgs) -> Result<()> {
    let kind = args.kind;
    let cache = ActivationCache::open(&args.cache)?;
    let sample = sample_rows(&cache, args.tokens, args.seed);
    let options = sae::baselines::BaselineOptions {
        components: args.components,
        seed: args.seed,
        ..Default::default()
    };
    let mut dictionary = sae::baselines::fit(kind, &sample, &options)?;
    dictionary.hook = cache.info.hook_point();
    dictionary.model_name = Some(cache.info.model.clone());
    dictionary.provenance = serde_json::json!({
        "fitted_on": args.cache.display().to_string(),
        "fit_tokens": sample.size()[0],
        "seed": args.seed,
    });
    dictionary.save(&args.out)?;
    println!(
        "{} dictionary: {} directions over {} ({} tokens) in {}",
        dictionary.kind,
        dictionary.d_sae(),
        printable(&cache.info.hook),
        sample.size()[0],
        args.out.display()
    );
    Ok(())
}

/// Up to `n` rows drawn uniformly without replacement, as a [n, d_in] tensor.
fn sample_rows(cache: &ActivationCache, n: usize, seed: u64) -> tch::Tensor {
    use rand::SeedableRng;
    let total = cache.tokens();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut picks = rand::seq::index::sample(&mut rng, total, n.min(total)).into_vec();
    picks.sort_unstable();
    let mut rows = Vec::with_capacity(picks.len() * cache.d_in());
    for i in &picks {
        cache.copy_row(*i, &mut rows);
    }
    tch::Tensor::from_slice(&rows).view([picks.len() as i64, cache.d_in() as i64])
}

pub fn eval_sae(args: EvalSaeArgs) -> Result<()> {
    let device = args.device.open()?;
    let dictionary = sae::Dictionary::load(&args.dictionary)?.to_device(device);
    let cache;
    let held_out = match (&args.cache, &args.model, &args.corpus) {
        (Some(dir), _, _) => {
            cache = ActivationCache::open(dir)?;
            sae::eval::HeldOut::Cache(&cache)
        }
        (None, Some(model), Some(corpus)) => sae::eval::HeldOut::Corpus {
            model_dir: model,
            corpus,
            text_field: &args.text_field,
            window_tokens: args.window,
            device,
        },
        _ => anyhow::bail!("give --cache DIR, or --model MODEL --corpus PATH"),
    };
    let report = sae::eval::evaluate(&dictionary, held_out, args.tokens, args.dense_threshold)?;
    if args.json {
        return print_json(&report);
    }
    println!(
        "{} tokens  mse {:.6}  explained variance {:.4}  L0 {:.2}  dead {:.2}%  dense {:.2}%",
        report.tokens,
        report.mse,
        report.explained_variance,
        report.l0,
        report.dead_fraction * 100.0,
        report.dense_fraction * 100.0
    );
    if let Some(loss) = &report.next_token_loss {
        println!(
            "next-token loss over {} tokens: clean {:.4}  reconstructed {:.4}  zero-ablated {:.4}  recovered {:.1}%",
            loss.tokens,
            loss.clean,
            loss.reconstructed,
            loss.zero_ablated,
            loss.recovered * 100.0
        );
    }
    Ok(())
}
