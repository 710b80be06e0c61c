mod cli;
mod settings;
mod tui;

use anyhow::Result;
use clap::Parser;
use cli::args::{Cli, Command, ExperimentCommand, ExportCommand, ImportCommand};
use featurescope::dataset::Dataset;
use featurescope::text::printable;

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        // Messages can quote dataset contents: sanitise before they reach the terminal.
        eprintln!("error: {}", printable(&format!("{e:#}")));
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    use cli::{dataset, extract, llm, sae, system};
    match cli.command {
        // In a terminal, the explorer; piped, the summary.
        None if std::io::IsTerminal::is_terminal(&std::io::stdout()) => {
            tui::run(Dataset::open(&cli.dataset)?)
        }
        None => dataset::inspect(&cli.dataset, false),
        Some(Command::Inspect { dataset, json }) => dataset::inspect(&dataset, json),
        Some(Command::Validate { dataset, json }) => dataset::validate(&dataset, json),
        Some(Command::Import(ImportCommand::NeuronExplainer(args))) => {
            dataset::import_neuron_explainer(args)
        }
        Some(Command::Import(ImportCommand::Delphi(args))) => dataset::import_delphi(args),
        Some(Command::Import(ImportCommand::Neuronpedia(args))) => {
            dataset::import_neuronpedia(args)
        }
        Some(Command::Export(ExportCommand::Html(args))) => dataset::export_html(args),
        Some(Command::Export(ExportCommand::Neuronpedia(args))) => {
            dataset::export_neuronpedia(args)
        }
        Some(Command::Experiment(ExperimentCommand::Bases(args))) => cli::experiment::bases(*args),
        Some(Command::Experiment(ExperimentCommand::Revision(args))) => {
            cli::experiment::revision(*args)
        }
        Some(Command::Experiment(ExperimentCommand::Evidence(args))) => {
            cli::experiment::evidence(*args)
        }
        Some(Command::Experiment(ExperimentCommand::Histogram(args))) => {
            cli::experiment::histogram(args)
        }
        Some(Command::Experiment(ExperimentCommand::Ablation(args))) => {
            cli::experiment::ablation(args)
        }
        Some(Command::Experiment(ExperimentCommand::Pairs(args))) => cli::experiment::pairs(*args),
        Some(Command::Experiment(ExperimentCommand::Patching(args))) => {
            cli::experiment::patching(args)
        }
        Some(Command::Experiment(ExperimentCommand::Ratings { dataset, json })) => {
            cli::experiment::ratings(&dataset, json)
        }
        Some(Command::Synth(args)) => dataset::synth(args),
        Some(Command::Extract(args)) => extract::extract(args),
        Some(Command::Explain(args)) => llm::explain(args),
        Some(Command::Score(args)) => llm::score(args),
        Some(Command::Simulate(args)) => llm::simulate(args),
        Some(Command::Revise(args)) => llm::revise(args),
        Some(Command::Search(args)) => dataset::search(args),
        Some(Command::LogitEffects(args)) => cli::experiment::logit_effects(args),
        Some(Command::Probe(args)) => cli::lab::probe(args),
        Some(Command::Similar(args)) => cli::lab::similar(args),
        Some(Command::Steer(args)) => cli::lab::steer(args),
        Some(Command::Report {
            dataset,
            record_set,
            compare_methods: true,
            json,
            ..
        }) => llm::compare_methods(&dataset, record_set, json),
        Some(Command::Report {
            dataset,
            method,
            record_set,
            json,
            ..
        }) => llm::report(&dataset, method, record_set, json),
        Some(Command::Train(args)) => sae::train(args),
        Some(Command::Baseline(args)) => sae::baseline(args),
        Some(Command::EvalSae(args)) => sae::eval_sae(args),
        Some(Command::Replay(args)) => system::replay(args),
        Some(Command::Doctor) => system::doctor(),
        Some(Command::ModelInfo { model, json }) => system::model_info(&model, json),
    }
}
