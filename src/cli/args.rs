//! The command line as clap parses it, into typed values: a bad `--hook`,
//! `--api` or `--device` is refused by the parser with the valid choices.
use clap::{Args, Parser, Subcommand};
use featurescope::dataset::UnitKind;
use featurescope::device::DeviceName;
use featurescope::interp::classifier::{ClassifierParams, ScoreMethod};
use featurescope::interp::records::RecordSet;
use featurescope::interp::revision::Evidence;
use featurescope::interp::units::{UnitSpec, UnitSpecError, number_list};
use featurescope::interp::{RECORDS_SHOWN, REVISION_RECORDS, SCORED_RANDOM, SCORED_TOP};
use featurescope::llm::config::{Api, BackendKind};
use featurescope::model::HookSite;
use featurescope::sae::baselines::Baseline;
use std::path::PathBuf;

pub const DEFAULT_DATASET: &str = "datasets/demo";

#[derive(Parser, Debug)]
#[command(
    name = "featurescope",
    version,
    about = "Explore what the neurons and SAE features of a language model respond to."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Dataset to open when no command is given.
    #[arg(default_value = DEFAULT_DATASET)]
    pub dataset: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Summarise a dataset: units per layer and kind, records, explanations, scores, size.
    Inspect {
        dataset: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check every row of every table of a dataset; exit non-zero on the first problem.
    Validate {
        dataset: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Import data made by other tools.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Write a dataset's units for people and tools without featurescope.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Run a subject model over a corpus and write what each unit responds to.
    Extract(ExtractArgs),
    /// Ask an LLM to explain units from their top-activating records.
    Explain(ExplainArgs),
    /// Simulate one explanation (yours, or one in the dataset) on a unit's records and show real vs simulated.
    Simulate(SimulateArgs),
    /// Simulate each explanation on records it was not made from, and score it.
    Score(ScoreArgs),
    /// Revise scored explanations from the records their simulation missed (or, as a control, random firing records).
    Revise(ReviseArgs),
    /// Find units by what their explanations mean: each explained unit ranked by the cosine of its closest explanation to QUERY, embedded offline with a sentence model.
    Search(SearchArgs),
    /// Each unit's direct effect on the next-token logits (the tokens its output direction raises and lowers most), written to DATASET/logit_effects.parquet for the explorer's unit view.
    LogitEffects(LogitEffectsArgs),
    /// Run your own text through the subject model: the units most active on it, or one unit's activation at each token.
    Probe(ProbeArgs),
    /// The units nearest to a unit: by cosine of output directions in its own source, and by correlation of activations over its records in every source.
    Similar(SimilarArgs),
    /// Continue a prompt with a unit steered (added along its direction, or clamped) beside the unsteered continuation from the same seed.
    Steer(SteerArgs),
    /// Summarise scores by layer and unit kind.
    Report {
        dataset: PathBuf,
        /// The scoring method summarised.
        #[arg(long, default_value = "simulation")]
        method: ScoreMethod,
        /// The record set of simulation scores.
        #[arg(long, default_value = "top-and-random")]
        record_set: RecordSet,
        /// Instead: how the methods rank the units alike (Spearman's rho over the units both scored).
        #[arg(long)]
        compare_methods: bool,
        #[arg(long)]
        json: bool,
    },
    /// The papers' experiments on a dataset; results in DATASET/experiments/NAME/ (see docs/experiments.md).
    #[command(subcommand)]
    Experiment(ExperimentCommand),
    /// Write a synthetic dataset of any size (for benchmarks and tests).
    Synth(SynthArgs),
    /// Train a sparse autoencoder as sae.toml describes (see docs/sae.md).
    Train(TrainArgs),
    /// Fit a baseline dictionary (neuron basis, random directions, PCA, ICA) on an activation cache.
    Baseline(BaselineArgs),
    /// Reconstruction metrics of a dictionary on held-out activations.
    EvalSae(EvalSaeArgs),
    /// Drive the explorer with a key script, headless, and report frame times (the explorer benchmark).
    Replay(ReplayArgs),
    /// Report the libtorch this binary runs with and the devices it sees.
    Doctor,
    /// Describe a subject model (a folder or a GGUF file): architecture, layers, attention, hook points and unit counts.
    ModelInfo {
        model: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ExperimentCommand {
    /// Which basis is most interpretable? The same number of live units from
    /// each unit source (SAE features, neurons, PCA, ICA, random directions),
    /// explained and scored alike; the mean score per basis with a 95%
    /// bootstrap interval. Reuses what the same models already made.
    Bases(Box<BasesArgs>),
    /// What does a unit do, causally? Scales it (0 ablates it) in the subject
    /// model on its top records; lists the next tokens whose log-probability
    /// falls and rises most where it fires, with the mean KL divergence.
    Ablation(AblationArgs),
    /// Which tokens make up each activation bin? The subject model over the
    /// first windows of a corpus: the unit's activations above zero in equal
    /// bins, each with its count and the tokens that fill it most.
    Histogram(HistogramArgs),
    /// Which features carry a task? Cunningham et al.'s indirect-object
    /// patching: clean IOI prompts moved towards corrupted ones (the
    /// indirect object changed) by the n features of each basis at a hook
    /// that differ most; KL from the corrupted output and the logit
    /// difference against n, one line per basis.
    Patching(PatchingArgs),
    /// Does revision help? For a sample of live units: the first explanation,
    /// a re-explanation from new top records, a revision shown the records
    /// its simulation missed, and a revision shown random records where the
    /// unit fires (the control), all scored on the same held-out records;
    /// each mean with a 95% bootstrap interval, and its difference from the
    /// first explanation's.
    Revision(Box<RevisionArgs>),
    /// What evidence should the explainer see? From the standard
    /// explanation, one thing varied at a time: the number of texts shown,
    /// their length about the peak, and top against random against
    /// lower-quantile texts; all scored on the same held-out records.
    Evidence(Box<EvidenceArgs>),
    /// Which explainer and simulator do best? The same sampled units
    /// explained (the standard explanation) and scored on the same held-out
    /// records by each --pair; each pair's mean with a 95% bootstrap
    /// interval, and its paired difference from the first pair's.
    Pairs(Box<PairsArgs>),
    /// Does the score agree with people? Spearman's rank correlation between
    /// each rated score and its latest 1-5 rating (given in the explorer).
    Ratings {
        dataset: PathBuf,
        /// Print the summary as JSON instead of text and a chart.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// OpenAI neuron-explainer neuron records (`<layer>/<neuron>.json`) and
    /// scored explanations (`<layer>/<neuron>.jsonl`).
    NeuronExplainer(NeuronExplainerArgs),
    /// A Neuronpedia export (`v1/{model}/{source}/{features,activations,
    /// explanations}/batch-N.jsonl.gz`, and `explanation_scores/` as our
    /// export writes it): folders are searched through, rows grouped by
    /// feature whatever batch they are in.
    Neuronpedia(NeuronpediaImportArgs),
    /// An EleutherAI Delphi run: its latent cache
    /// (`latents/{hookpoint}/{start}_{end}.safetensors`) and explanations
    /// (`explanations/{hookpoint}_latent{i}.txt`); records are chosen from
    /// the cache as extraction chooses them.
    Delphi(DelphiImportArgs),
}

#[derive(Args, Debug)]
pub struct DelphiImportArgs {
    /// The run folder (holding latents/), or its latents/ folder.
    pub run: PathBuf,
    /// The model whose tokenizer made the cache's token ids: a folder with
    /// tokenizer.json, or a GGUF file (the cache holds ids, not text).
    #[arg(long)]
    pub tokenizer: PathBuf,
    /// The new dataset (replaced atomically if it exists).
    #[arg(long)]
    pub out: PathBuf,
    /// Tokens per record: Delphi's example_ctx_len.
    #[arg(long, default_value_t = 32, value_parser = count::<4096>)]
    pub window: usize,
    /// The seed of the random and quantile samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Who wrote the explanations (Delphi's files do not say).
    #[arg(long, default_value = "delphi")]
    pub explainer_model: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct NeuronpediaImportArgs {
    /// Export folders or batch files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The new dataset (replaced atomically if it exists).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// A self-contained HTML page per unit (its records as heatmaps, its
    /// histogram, explanations and scores, real vs simulated) and an index,
    /// for any browser.
    Html(HtmlExportArgs),
    /// Neuronpedia's export layout (features, activations, explanations,
    /// and scores in `explanation_scores/`), with each dictionary source's
    /// SAELens files under `saelens/`, ready to upload; `import neuronpedia`
    /// reads it back whole.
    Neuronpedia(NeuronpediaExportArgs),
}

#[derive(Args, Debug)]
pub struct NeuronpediaExportArgs {
    pub dataset: PathBuf,
    /// all, layers:0-2, ids:1,5,9-12, top-density:N or random:N
    #[arg(long, default_value = "all")]
    pub units: UnitSpec,
    /// The seed of random:N.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The folder to write (replaced whole if it is an earlier export).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct HtmlExportArgs {
    pub dataset: PathBuf,
    /// all, layers:0-2, ids:1,5,9-12, top-density:N or random:N
    #[arg(long, default_value = "random:20")]
    pub units: UnitSpec,
    /// The seed of random:N.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The folder to write (replaced whole if it is an earlier export).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct NeuronExplainerArgs {
    /// Folder of neuron records; with --out, a new dataset is made from them.
    #[arg(long, requires = "out")]
    pub records: Option<PathBuf>,
    /// Folder of explanation files.
    #[arg(long)]
    pub explanations: Option<PathBuf>,
    /// The new dataset (replaced atomically if it exists).
    #[arg(long, conflicts_with = "into")]
    pub out: Option<PathBuf>,
    /// An existing dataset to append the explanations to.
    #[arg(long, requires = "explanations")]
    pub into: Option<PathBuf>,
    /// Name of the subject model, recorded in the manifest.
    #[arg(long)]
    pub subject_model: Option<String>,
    #[arg(long, default_value = "neuron-explainer")]
    pub explainer_model: String,
    #[arg(long, default_value = "neuron-explainer")]
    pub simulator_model: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SynthArgs {
    pub out: PathBuf,
    #[arg(long, default_value_t = 1000)]
    pub units: u64,
    #[arg(long, default_value_t = 50)]
    pub records_per_unit: u32,
    #[arg(long, default_value_t = 64)]
    pub tokens: u32,
    #[arg(long, default_value_t = 48)]
    pub layers: u32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The units' kind.
    #[arg(long, default_value = "neuron")]
    pub kind: UnitKind,
    /// Records shaped like this dataset's units of the same kind: its tokens
    /// and their frequencies, its record lengths, its activation
    /// distributions (for realistic sizes at scale; `datasets/demo` is real).
    /// Without it, a small made-up vocabulary.
    #[arg(long)]
    pub like: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ExtractArgs {
    /// Model folder (config.json, model.safetensors, tokenizer.json) or GGUF file.
    #[arg(long)]
    pub model: PathBuf,
    /// Text file, folder of text files, JSONL or Parquet file.
    #[arg(long)]
    pub corpus: PathBuf,
    /// JSONL field or Parquet column with the text.
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// Layers whose neurons become units: `all`, or a list of numbers and
    /// ranges such as `0,2-4` (default: all, or none when --dictionary is given).
    #[arg(long)]
    pub layers: Option<LayerList>,
    /// `mlp` (neurons after the nonlinearity), `resid_pre`, or `resid`/`resid_post`.
    #[arg(long, default_value = "mlp")]
    pub hook: HookSite,
    /// The dataset to write.
    #[arg(long, required_unless_present = "cache")]
    pub out: Option<PathBuf>,
    /// Dictionary checkpoint (SAE or baseline) whose features become units,
    /// read at its own hook point; repeat for several.
    #[arg(long = "dictionary")]
    pub dictionaries: Vec<PathBuf>,
    /// Instead of a dataset, write the activations of every text token at
    /// the hook of the one layer in --layers to this activation cache (for `train`).
    #[arg(long, conflicts_with_all = ["out", "dictionaries"])]
    pub cache: Option<PathBuf>,
    /// cpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: DeviceName,
    /// Tokens per window, special tokens included.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 20)]
    pub top_k: usize,
    #[arg(long, default_value_t = 15)]
    pub random_k: usize,
    /// Samples per quantile bin ([0, .5), [.5, .9), [.9, .99), [.99, .999) of window maxima).
    #[arg(long, default_value_t = 5)]
    pub quantile_k: usize,
    /// Windows in the calibration pass that estimates quantile boundaries (kept in memory, with their tokens, until the main pass).
    #[arg(long, default_value_t = 1024)]
    pub calibration_windows: usize,
    /// The most bytes of the calibration sample's activations kept in a
    /// temporary file beside --out, so the model reads each window once;
    /// above it the sample runs through the model again (0: always).
    #[arg(long, default_value_t = featurescope::extract::SPILL_LIMIT)]
    pub spill_limit: u64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Skip the logit effects a causal model's units otherwise get
    /// (`featurescope logit-effects` writes them later).
    #[arg(long)]
    pub no_logit_effects: bool,
}

/// Endpoints: from the config file (`featurescope.toml` or --config), overridden here.
#[derive(Args, Debug, Clone, Default)]
pub struct LlmArgs {
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Base URL of the explainer's OpenAI-compatible API, e.g. http://127.0.0.1:8080/v1
    #[arg(long)]
    pub explainer_url: Option<String>,
    #[arg(long)]
    pub explainer_model: Option<String>,
    /// `completions` or `chat`.
    #[arg(long)]
    pub explainer_api: Option<Api>,
    /// `http` (the endpoint at --explainer-url) or `local` (a model run here:
    /// --explainer-model is its GGUF file, the bundled Gemma-3-270M by default).
    #[arg(long)]
    pub explainer_backend: Option<BackendKind>,
    #[arg(long)]
    pub simulator_url: Option<String>,
    #[arg(long)]
    pub simulator_model: Option<String>,
    /// `completions` (echoed prompt logprobs) or `chat` (values written out).
    #[arg(long)]
    pub simulator_api: Option<Api>,
    /// `http` or `local`, as for the explainer.
    #[arg(long)]
    pub simulator_backend: Option<BackendKind>,
    /// Requests in flight at once, per endpoint.
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Response cache folder (default .featurescope-cache); `--no-cache` to skip it.
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    pub dataset: PathBuf,
    /// all, layers:0-2, ids:1,5,9-12, top-density:N or random:N
    #[arg(long, default_value = "all")]
    pub units: UnitSpec,
    /// Explanations per unit.
    #[arg(long, default_value_t = 1)]
    pub samples: u32,
    /// Top records shown to the explainer.
    #[arg(long, default_value_t = RECORDS_SHOWN)]
    pub records_shown: usize,
    /// Explain units that already have explanations from this explainer.
    #[arg(long)]
    pub force: bool,
    /// Print the request for the first unit and send nothing.
    #[arg(long)]
    pub show_prompt: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub llm: LlmArgs,
}

#[derive(Args, Debug)]
pub struct ScoreArgs {
    pub dataset: PathBuf,
    #[arg(long, default_value = "all")]
    pub units: UnitSpec,
    /// simulation (Bills et al.), or one of Delphi's: detection, fuzz, embedding, intruder.
    #[arg(long, default_value = "simulation")]
    pub method: ScoreMethod,
    /// The sentence model of the embedding score.
    #[arg(long, default_value = featurescope::search::BUNDLED_EMBEDDER)]
    pub embedder: PathBuf,
    #[command(flatten)]
    pub scoring: ScoringArgs,
    #[command(flatten)]
    pub classifier: ClassifierArgs,
    /// Score explanations that already have a score from this simulator.
    #[arg(long)]
    pub force: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub llm: LlmArgs,
}

#[derive(Args, Debug)]
pub struct ReviseArgs {
    pub dataset: PathBuf,
    #[arg(long, default_value = "all")]
    pub units: UnitSpec,
    /// `misses` (records the simulation got most wrong) or `random` (random records where the unit fires).
    #[arg(long, default_value = "misses")]
    pub evidence: Evidence,
    /// Records shown as new evidence.
    #[arg(long, default_value_t = REVISION_RECORDS)]
    pub records: usize,
    /// Revise every scored explanation, even those already revised.
    #[arg(long)]
    pub force: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub llm: LlmArgs,
}

#[derive(Args, Debug)]
pub struct SimulateArgs {
    pub dataset: PathBuf,
    #[arg(long)]
    pub unit: u64,
    /// The explanation to try ("the main thing this neuron does is find …" is implied).
    #[arg(long)]
    pub explanation: String,
    #[command(flatten)]
    pub scoring: ScoringArgs,
    /// Append the explanation (method `manual`) and its score to the dataset.
    #[arg(long)]
    pub save: bool,
    #[command(flatten)]
    pub llm: LlmArgs,
}

/// A whole number from 1 to `MAX`.
fn count<const MAX: usize>(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX).contains(&n) => Ok(n),
        _ => Err(format!("{text:?} is not a whole number from 1 to {MAX}")),
    }
}

/// The subject model the causal experiments run.
#[derive(Args, Debug)]
pub struct SubjectArgs {
    /// The subject model (a folder or a GGUF file); by default the one the
    /// dataset was extracted from.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// cpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: DeviceName,
}

#[derive(Args, Debug)]
pub struct AblationArgs {
    pub dataset: PathBuf,
    #[arg(long)]
    pub unit: u64,
    /// The factor the unit is scaled by: 0 ablates it, 2 doubles it.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub scale: f64,
    /// Top records run.
    #[arg(long, default_value_t = featurescope::experiment::ablation::RECORDS, value_parser = count::<{ usize::MAX }>)]
    pub records: usize,
    /// Tokens listed each way.
    #[arg(long, default_value_t = featurescope::experiment::ablation::TOKENS, value_parser = count::<1000>)]
    pub tokens: usize,
    #[command(flatten)]
    pub subject: SubjectArgs,
    /// Print the summary as JSON instead of text and a chart.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PatchingArgs {
    pub dataset: PathBuf,
    /// The hook whose bases are patched; by default the first that holds a
    /// dictionary.
    #[arg(long)]
    pub hook: Option<String>,
    /// Prompt pairs (clean and corrupted) drawn from the template.
    #[arg(long, default_value_t = featurescope::experiment::patching::PROMPTS, value_parser = count::<10_000>)]
    pub prompts: usize,
    /// The numbers of features patched at each position, 0 for none.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2,4,8,16,32,64,128", value_parser = features_patched)]
    pub features: Vec<usize>,
    /// Seeds the draw of names, places and objects.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub subject: SubjectArgs,
    /// Print the summary as JSON instead of text and a chart.
    #[arg(long)]
    pub json: bool,
}

/// A number of features patched: a whole number, 0 included.
fn features_patched(text: &str) -> Result<usize, String> {
    text.parse::<usize>()
        .map_err(|_| format!("{text:?} is not a whole number of features"))
}

#[derive(Args, Debug)]
pub struct HistogramArgs {
    pub dataset: PathBuf,
    #[arg(long)]
    pub unit: u64,
    /// The corpus (a file or folder, JSONL, Parquet or text); by default the
    /// one the dataset was extracted from.
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// The JSONL field or Parquet column holding the text; by default the
    /// dataset's (else `text`).
    #[arg(long)]
    pub text_field: Option<String>,
    /// The first windows of the corpus read.
    #[arg(long, default_value_t = featurescope::experiment::histogram::WINDOWS, value_parser = count::<{ usize::MAX }>)]
    pub windows: usize,
    #[arg(long, default_value_t = featurescope::experiment::histogram::BINS, value_parser = count::<1000>)]
    pub bins: usize,
    /// Tokens named per bin.
    #[arg(long, default_value_t = featurescope::experiment::histogram::TOKENS, value_parser = count::<1000>)]
    pub tokens: usize,
    #[command(flatten)]
    pub subject: SubjectArgs,
    /// Print the summary as JSON instead of text and a chart.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct BasesArgs {
    pub dataset: PathBuf,
    /// The units sampled from: all, layers:0-2, ids:1,5,9-12, …
    #[arg(long, default_value = "all")]
    pub units: UnitSpec,
    /// Live units sampled from each basis.
    #[arg(long, default_value_t = 30, value_parser = count::<{ usize::MAX }>)]
    pub per_basis: usize,
    /// Seeds the sample and the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The record sets each explanation is scored on, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "top-and-random,random-only"
    )]
    pub record_sets: Vec<RecordSet>,
    /// Top records shown to the explainer.
    #[arg(long, default_value_t = RECORDS_SHOWN)]
    pub records_shown: usize,
    #[command(flatten)]
    pub scoring: ExperimentScoringArgs,
}

/// What the explanation studies (`experiment revision` and `evidence`) share.
#[derive(Args, Debug)]
pub struct StudyArgs {
    pub dataset: PathBuf,
    /// The units sampled from: all, layers:0-2, ids:1,5,9-12, …
    #[arg(long, default_value = "all")]
    pub units: UnitSpec,
    /// Live units sampled.
    #[arg(long, default_value_t = 30, value_parser = count::<{ usize::MAX }>)]
    pub sample: usize,
    /// Seeds the sample and the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Top records the standard explanation is shown (they fix the held-out
    /// records: the top and random records it would be scored on).
    #[arg(long, default_value_t = RECORDS_SHOWN, value_parser = count::<1000>)]
    pub records_shown: usize,
    #[command(flatten)]
    pub scoring: ExperimentScoringArgs,
}

/// What the experiments that explain and score (`bases`, `revision`,
/// `evidence`) share: the records scored, the bootstrap, the output and
/// the models.
#[derive(Args, Debug)]
pub struct ExperimentScoringArgs {
    /// Top records scored.
    #[arg(long, default_value_t = SCORED_TOP)]
    pub top: usize,
    /// Random records scored.
    #[arg(long, default_value_t = SCORED_RANDOM)]
    pub random: usize,
    /// Bootstrap resamples per interval.
    #[arg(long, default_value_t = 10_000, value_parser = count::<10_000_000>)]
    pub resamples: usize,
    /// Print the summary as JSON instead of text and a chart.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub llm: LlmArgs,
}

#[derive(Args, Debug)]
pub struct PairsArgs {
    #[command(flatten)]
    pub study: StudyArgs,
    /// An explainer and simulator pair: a configuration file (its
    /// [explainer] and [simulator] sections), or `default` for the LLM flags
    /// and featurescope.toml as every command reads them. Two or more; the
    /// first is the one the others are compared with.
    #[arg(long = "pair", required = true)]
    pub pairs: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RevisionArgs {
    #[command(flatten)]
    pub study: StudyArgs,
    /// Records shown to a revision as new evidence.
    #[arg(long, default_value_t = REVISION_RECORDS, value_parser = count::<1000>)]
    pub revision_records: usize,
}

#[derive(Args, Debug)]
pub struct EvidenceArgs {
    #[command(flatten)]
    pub study: StudyArgs,
    /// The numbers of top texts shown, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,5,10,20", value_parser = count::<1000>)]
    pub counts: Vec<usize>,
    /// The window lengths (tokens about each text's peak), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64", value_parser = count::<100_000>)]
    pub windows: Vec<usize>,
    /// Texts shown when top, random and lower-quantile texts are compared.
    #[arg(long, default_value_t = 5, value_parser = count::<1000>)]
    pub selection_count: usize,
}

/// Which records an explanation is scored on.
#[derive(Args, Debug)]
pub struct ScoringArgs {
    /// top-and-random, top-only or random-only
    #[arg(long, default_value = "top-and-random")]
    pub record_set: RecordSet,
    /// Top records scored.
    #[arg(long, default_value_t = SCORED_TOP)]
    pub top: usize,
    /// Random records scored.
    #[arg(long, default_value_t = SCORED_RANDOM)]
    pub random: usize,
}

/// The examples of detection, fuzzing, intruder and embedding scores (Delphi's defaults).
#[derive(Args, Debug)]
pub struct ClassifierArgs {
    /// Activating records are split into this many quantiles of their maxima…
    #[arg(long, default_value_t = ClassifierParams::default().quantiles)]
    pub quantiles: usize,
    /// …and up to this many drawn from each (and as many random records).
    #[arg(long, default_value_t = ClassifierParams::default().per_quantile)]
    pub per_quantile: usize,
    /// Examples per prompt.
    #[arg(long, default_value_t = ClassifierParams::default().shown)]
    pub shown: usize,
    /// Fuzzing and intruder marks: tokens at or above this fraction of their record's maximum.
    #[arg(long, default_value_t = ClassifierParams::default().threshold)]
    pub mark_threshold: f32,
    /// Seeds which examples are drawn and their order.
    #[arg(long, default_value_t = ClassifierParams::default().seed)]
    pub examples_seed: u64,
}

impl ClassifierArgs {
    pub fn params(&self) -> anyhow::Result<ClassifierParams> {
        if self.quantiles == 0 || self.per_quantile == 0 {
            anyhow::bail!("--quantiles and --per-quantile must be at least 1");
        }
        if self.shown < 2 {
            anyhow::bail!(
                "--shown must be at least 2 (the intruder test shows one intruder among them)"
            );
        }
        if !(self.mark_threshold > 0.0 && self.mark_threshold <= 1.0) {
            anyhow::bail!(
                "--mark-threshold must be in (0, 1], not {}",
                self.mark_threshold
            );
        }
        Ok(ClassifierParams {
            quantiles: self.quantiles,
            per_quantile: self.per_quantile,
            shown: self.shown,
            threshold: self.mark_threshold,
            seed: self.examples_seed,
        })
    }
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The training configuration (TOML).
    #[arg(long)]
    pub config: PathBuf,
    /// Continue from the checkpoint in the output folder.
    #[arg(long)]
    pub resume: bool,
    /// Overrides `device` in the config: cpu or cuda.
    #[arg(long)]
    pub device: Option<DeviceName>,
    /// Print the final metrics as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct BaselineArgs {
    /// neuron, random, pca or ica.
    #[arg(long)]
    pub kind: Baseline,
    /// Activation cache to fit on (`extract --cache`).
    #[arg(long)]
    pub cache: PathBuf,
    /// Output folder (cfg.json + sae_weights.safetensors).
    #[arg(long)]
    pub out: PathBuf,
    /// Components or directions (default: d_in).
    #[arg(long)]
    pub components: Option<i64>,
    /// Tokens sampled from the cache for fitting.
    #[arg(long, default_value_t = 65536)]
    pub tokens: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Args, Debug)]
pub struct EvalSaeArgs {
    /// Dictionary folder (ours or SAELens's).
    pub dictionary: PathBuf,
    /// Held-out activations: a cache…
    #[arg(long, conflicts_with_all = ["model", "corpus"])]
    pub cache: Option<PathBuf>,
    /// …or a model and a corpus, read at the dictionary's hook.
    #[arg(long, requires = "corpus")]
    pub model: Option<PathBuf>,
    #[arg(long, requires = "model")]
    pub corpus: Option<PathBuf>,
    #[arg(long, default_value = "text")]
    pub text_field: String,
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Tokens evaluated at most.
    #[arg(long, default_value_t = 1_000_000)]
    pub tokens: u64,
    /// A feature firing on more than this fraction of tokens is dense.
    #[arg(long, default_value_t = 0.1)]
    pub dense_threshold: f64,
    /// cpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: DeviceName,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct LogitEffectsArgs {
    pub dataset: PathBuf,
    /// Tokens kept on each side (raised most, lowered most) per unit.
    #[arg(long, default_value_t = featurescope::experiment::logit_effects::TOKENS, value_parser = count::<1000>)]
    pub tokens: usize,
    #[command(flatten)]
    pub subject: SubjectArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ProbeArgs {
    pub dataset: PathBuf,
    /// The text to run.
    pub text: String,
    /// Show this unit's activation at each token instead of the top units.
    #[arg(long)]
    pub unit: Option<u64>,
    /// How many units to list (by their maximum on the text).
    #[arg(long, default_value_t = 10, value_parser = count::<100000>)]
    pub top: usize,
    #[command(flatten)]
    pub subject: SubjectArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SimilarArgs {
    pub dataset: PathBuf,
    pub unit: u64,
    /// Units listed each way.
    #[arg(long, default_value_t = featurescope::experiment::similar::NEIGHBOURS, value_parser = count::<10000>)]
    pub top: usize,
    #[command(flatten)]
    pub subject: SubjectArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SteerArgs {
    pub dataset: PathBuf,
    pub unit: u64,
    /// The prompt to continue.
    pub prompt: String,
    /// Add this much of the unit along its direction at every position…
    #[arg(
        long,
        allow_negative_numbers = true,
        conflicts_with = "clamp",
        required_unless_present = "clamp"
    )]
    pub add: Option<f64>,
    /// …or clamp the unit's activation at this value.
    #[arg(long, allow_negative_numbers = true)]
    pub clamp: Option<f64>,
    /// Tokens written.
    #[arg(long, default_value_t = featurescope::experiment::steering::TOKENS, value_parser = count::<4096>)]
    pub tokens: usize,
    /// 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub subject: SubjectArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    pub dataset: PathBuf,
    /// What the units should respond to, in words.
    pub query: String,
    /// How many units to show.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// A sentence-transformers model folder (mean pooling); the bundled
    /// all-MiniLM-L6-v2 by default.
    #[arg(long, default_value = featurescope::search::BUNDLED_EMBEDDER)]
    pub embedder: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    pub dataset: PathBuf,
    /// Keys separated by spaces: names as in [explorer.keys] (`down`, `enter`,
    /// `s`…), `name*N` to repeat, `text:abc` to type. Default: a browsing session.
    #[arg(long)]
    pub script: Option<String>,
    #[arg(long, default_value_t = 120)]
    pub width: u16,
    #[arg(long, default_value_t = 40)]
    pub height: u16,
    /// Play the script this many times over.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Press a key at most every N milliseconds, as a person would (0: back to back).
    #[arg(long, default_value_t = 0)]
    pub pace_ms: u64,
    /// Run an SAE training job with this config inside the explorer while replaying.
    #[arg(long)]
    pub train: Option<PathBuf>,
    /// Explain and score up to N units one after another (e, then m) with
    /// the bundled model while replaying; writes to the dataset.
    #[arg(long, value_name = "N", conflicts_with = "train", value_parser = count::<{ usize::MAX }>)]
    pub explain: Option<usize>,
    #[arg(long)]
    pub json: bool,
}

/// `--layers`: `all`, or comma-separated layers and inclusive ranges (`0,2-4`).
#[derive(Debug, Clone, PartialEq)]
pub enum LayerList {
    All,
    Listed(Vec<u32>),
}

impl std::str::FromStr for LayerList {
    type Err = UnitSpecError;
    fn from_str(spec: &str) -> Result<Self, UnitSpecError> {
        if spec == "all" {
            return Ok(Self::All);
        }
        let mut layers = number_list(spec)?
            .into_iter()
            .map(|n| u32::try_from(n).map_err(|_| UnitSpecError::TooLarge(n)))
            .collect::<Result<Vec<u32>, _>>()?;
        layers.sort_unstable();
        layers.dedup();
        Ok(Self::Listed(layers))
    }
}

impl LayerList {
    /// The layers, for a model of `num_layers`.
    pub fn resolve(&self, num_layers: u32) -> Vec<u32> {
        match self {
            Self::All => (0..num_layers).collect(),
            Self::Listed(layers) => layers.clone(),
        }
    }
}
