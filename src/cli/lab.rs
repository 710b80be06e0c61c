//! `probe`, `similar` and `steer`: the explorer's lab keys as commands,
//! each running the dataset's subject model in this process.
use super::args::{ProbeArgs, SimilarArgs, SteerArgs, SubjectArgs};
use super::output::print_json;
use anyhow::{Context, Result, bail};
use featurescope::dataset::{Dataset, UnitOverview};
use featurescope::experiment::probe::Prober;
use featurescope::experiment::similar::{Neighbour, similar_units};
use featurescope::experiment::steering::{self, Steerer};
use featurescope::experiment::subject::Steer;
use featurescope::text::{printable, printable_lines};
use std::path::Path;

/// A token as the terminal may show it, quoted.
fn quoted(token: &str) -> String {
    format!("{:?}", printable(token))
}

/// `kind index @ layer` of each unit, by id.
fn unit_names(dataset: &Dataset) -> Result<Vec<String>> {
    Ok(dataset
        .units_overview()?
        .iter()
        .map(|u: &UnitOverview| format!("{} {} @ layer {}", u.kind, u.index, u.layer))
        .collect())
}

#[derive(serde::Serialize)]
struct ProbeTop {
    unit_id: u64,
    max: f32,
    /// The first token of the text (not a special one) where it is largest.
    at: usize,
}

#[derive(serde::Serialize)]
#[serde(untagged)]
enum ProbeOutput {
    Unit {
        tokens: Vec<String>,
        unit_id: u64,
        activations: Vec<f32>,
    },
    Top {
        tokens: Vec<String>,
        top: Vec<ProbeTop>,
    },
}

/// The dataset at `path` and its subject model with every source loaded.
fn open_prober(path: &Path, subject: &SubjectArgs) -> Result<(Dataset, Prober)> {
    let dataset = Dataset::open(path)?;
    let prober = Prober::load(&dataset, subject.model.as_deref(), subject.device.open()?)?;
    Ok((dataset, prober))
}

pub fn probe(args: ProbeArgs) -> Result<()> {
    let (dataset, prober) = open_prober(&args.dataset, &args.subject)?;
    let probe = prober.probe(&args.text)?;
    let output = match args.unit {
        Some(unit) => {
            let Some(activations) = probe.unit(unit) else {
                bail!(
                    "unit {unit}: the dataset's sources hold units 0 to {}",
                    probe.units.saturating_sub(1)
                );
            };
            ProbeOutput::Unit {
                tokens: probe.tokens.clone(),
                unit_id: unit,
                activations,
            }
        }
        None => ProbeOutput::Top {
            tokens: probe.tokens.clone(),
            top: (probe.top(args.top).into_iter())
                .map(|(unit_id, max, at)| ProbeTop { unit_id, max, at })
                .collect(),
        },
    };
    if args.json {
        return print_json(&output);
    }
    match output {
        ProbeOutput::Unit {
            tokens,
            unit_id,
            activations,
        } => {
            println!("unit {unit_id} on {} tokens:", tokens.len());
            for (token, a) in tokens.iter().zip(activations) {
                println!("  {a:>10.4}  {}", quoted(token));
            }
        }
        ProbeOutput::Top { tokens, top } => {
            let names = unit_names(&dataset)?;
            println!(
                "the {} units most active on {} tokens:",
                top.len(),
                tokens.len()
            );
            for t in top {
                let name = names.get(t.unit_id as usize).map_or("", String::as_str);
                println!(
                    "  unit {:>6}  {:<28} max {:>9.4} at {}",
                    t.unit_id,
                    name,
                    t.max,
                    quoted(&tokens[t.at])
                );
            }
        }
    }
    Ok(())
}

pub fn similar(args: SimilarArgs) -> Result<()> {
    let (dataset, prober) = open_prober(&args.dataset, &args.subject)?;
    let similar = similar_units(&prober, &dataset, args.unit, args.top)?;
    if args.json {
        return print_json(&similar);
    }
    let names = unit_names(&dataset)?;
    let list = |title: &str, neighbours: &[Neighbour], none: &str| {
        println!("{title}");
        if neighbours.is_empty() {
            println!("  ({none})");
        }
        for n in neighbours {
            let name = names.get(n.unit_id as usize).map_or("", String::as_str);
            println!("  unit {:>6}  {:<28} {:+.4}", n.unit_id, name, n.similarity);
        }
    };
    list(
        &format!("unit {}: nearest by cosine of output directions", args.unit),
        &similar.by_direction,
        "none: the directions of its source are orthogonal",
    );
    list(
        &format!(
            "nearest by correlation of activations over its {} records ({} text tokens)",
            similar.record_ids.len(),
            similar.tokens
        ),
        &similar.by_correlation,
        "none: it is constant over its records",
    );
    println!(
        "  its activation ran again within {:.2e} of the dataset's",
        similar.activation_difference
    );
    Ok(())
}

pub fn steer(args: SteerArgs) -> Result<()> {
    let steer = match (args.add, args.clamp) {
        (Some(amount), _) => Steer::Add(amount),
        (None, value) => Steer::Clamp(value.context("say how to steer: --add or --clamp")?),
    };
    let dataset = Dataset::open(&args.dataset)?;
    let steerer = Steerer::load(
        &dataset,
        args.unit,
        args.subject.model.as_deref(),
        args.subject.device.open()?,
    )?;
    let plan = steering::Plan {
        unit_id: args.unit,
        prompt: args.prompt,
        steer,
        tokens: args.tokens,
        temperature: args.temperature,
        seed: args.seed,
    };
    let steered = steerer.steer(&plan)?;
    if args.json {
        return print_json(&steered);
    }
    println!("prompt: {}", printable_lines(&plan.prompt));
    println!("── unsteered ──\n{}", printable_lines(&steered.unsteered));
    println!(
        "── unit {} at {} {steer} ──\n{}",
        plan.unit_id,
        steered.hook,
        printable_lines(&steered.steered)
    );
    Ok(())
}
