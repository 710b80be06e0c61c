//! Patching (Cunningham et al.'s indirect-object experiment). Clean
//! prompts such as "Then, Alice and Bob went to the store. Alice gave a
//! snack to" (the model should say " Bob", the indirect object) run beside
//! corrupted ones with the indirect object changed ("… Alice and Carol …",
//! " Carol"). At one hook, each basis there (the SAE, PCA, ICA, random
//! directions, the hook's own coordinates) moves the clean run towards the
//! corrupted one by its n features that differ most at each position:
//! x′ = x + Σ_{j∈F}(c̄ⱼ − cⱼ)·fⱼ. How far the output moved is KL(corrupted ‖
//! patched) of the next-token distribution at the prompt's last token,
//! against n: a basis whose few features carry the task gets there with a
//! small n. The logit difference of the indirect object against the
//! subject is reported beside it.
use super::figure::Lines;
use super::results::csv_field;
use super::subject::{load_dictionary, model_path};
use super::{ExperimentError, Result, Results};
use crate::dataset::{Dataset, UnitKind};
use crate::model::{HookPoint, Patch, SubjectModel, TextTokenizer};
use crate::sae::{Activation, Dictionary};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::cell::RefCell;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// Prompt pairs run, and features patched, unless asked otherwise.
pub const PROMPTS: usize = 24;
pub const FEATURES: [usize; 9] = [0, 1, 2, 4, 8, 16, 32, 64, 128];

/// The template's names, places and objects: those that are one token
/// (after a space) in the subject model's vocabulary are drawn from, so
/// that a clean prompt and its corrupted one line up token by token.
const NAMES: [&str; 40] = [
    "Mary", "John", "Alice", "Bob", "Tom", "James", "Sarah", "Anna", "David", "Paul", "Kate",
    "Mark", "Emma", "Lisa", "Peter", "Jack", "Laura", "Michael", "Daniel", "Susan", "George",
    "Helen", "Robert", "Linda", "Chris", "Sam", "Adam", "Jane", "Eric", "Maria", "Kevin", "Steven",
    "Brian", "Jason", "Ryan", "Nancy", "Karen", "Amy", "Rachel", "Andrew",
];
const PLACES: [&str; 12] = [
    "store",
    "park",
    "school",
    "office",
    "hospital",
    "station",
    "restaurant",
    "beach",
    "library",
    "garden",
    "market",
    "church",
];
const OBJECTS: [&str; 12] = [
    "snack", "drink", "book", "ring", "bone", "kiss", "ball", "computer", "necklace", "letter",
    "flower", "gift",
];

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    /// Where the bases are patched, such as `blocks.6.resid_post`.
    pub hook: String,
    pub prompts: usize,
    /// The numbers of features patched at each position (0: none).
    pub features: Vec<usize>,
    pub seed: u64,
}

/// A clean prompt and its corrupted twin, with the answers' token ids.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prompt {
    pub clean: String,
    pub corrupted: String,
    /// Token ids, the tokenizer's leading ones included; both the same length.
    pub clean_ids: Vec<i64>,
    pub corrupted_ids: Vec<i64>,
    /// The name said twice.
    pub subject: i64,
    /// The clean prompt's answer.
    pub indirect_object: i64,
    /// The corrupted prompt's answer.
    pub corrupted_indirect_object: i64,
}

/// The next-token distribution at the prompts' last token, averaged over them.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Measure {
    /// Mean KL(corrupted ‖ this run), in nats.
    pub mean_kl: f64,
    /// Mean logit of the clean answer minus the subject's.
    pub io_logit_difference: f64,
    /// Mean logit of the corrupted answer minus the subject's.
    pub corrupted_io_logit_difference: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Point {
    pub features: usize,
    #[serde(flatten)]
    pub measure: Measure,
}

/// One basis at the hook and its points, one per number of features.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Basis {
    /// Its kind (`sae`, `pca`, …), with its folder's name where two share one.
    pub label: String,
    pub kind: UnitKind,
    /// The dictionary's folder; none for the hook's own coordinates when
    /// the dataset holds no neuron basis there.
    pub dictionary: Option<String>,
    pub d_sae: i64,
    /// What its weights hash to (see `weights_hash`).
    pub weights_hash: u64,
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Patching {
    pub plan: Plan,
    pub model: String,
    /// Tokens per prompt.
    pub tokens: usize,
    pub prompts: Vec<Prompt>,
    /// The clean run (nothing patched) and the corrupted run it is moved towards.
    pub clean: Measure,
    pub corrupted: Measure,
    pub bases: Vec<Basis>,
    /// False while some basis is still to run: a rerun goes on from here.
    pub complete: bool,
}

/// The id of ` word` where it is one token.
fn one_token(tokenizer: &TextTokenizer, word: &str) -> Result<Option<i64>> {
    let ids = tokenizer.encode(&format!(" {word}"), false)?.ids;
    Ok(match ids[..] {
        [id] => Some(id as i64),
        _ => None,
    })
}

/// The words of `words` that are one token, with their ids.
fn single_tokens<'a>(tokenizer: &TextTokenizer, words: &[&'a str]) -> Result<Vec<(&'a str, i64)>> {
    let mut found = Vec::new();
    for word in words {
        if let Some(id) = one_token(tokenizer, word)? {
            found.push((*word, id));
        }
    }
    Ok(found)
}

/// `count` prompt pairs drawn with `seed`: distinct names for the subject,
/// the indirect object and its replacement, either order in the first clause.
pub fn prompts(tokenizer: &TextTokenizer, count: usize, seed: u64) -> Result<Vec<Prompt>> {
    let names = single_tokens(tokenizer, &NAMES)?;
    let places = single_tokens(tokenizer, &PLACES)?;
    let objects = single_tokens(tokenizer, &OBJECTS)?;
    if names.len() < 3 || places.is_empty() || objects.is_empty() {
        return Err(ExperimentError::Input(format!(
            "the subject model's tokenizer has {} of the template's {} names, {} of its places \
             and {} of its objects as single tokens: at least 3 names, a place and an object \
             are needed",
            names.len(),
            NAMES.len(),
            places.len(),
            objects.len()
        )));
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut drawn = Vec::with_capacity(count);
    let mut length = None;
    let encode = |text: &str| -> Result<Vec<i64>> {
        Ok((tokenizer.encode(text, true)?.ids.into_iter())
            .map(i64::from)
            .collect())
    };
    for _attempt in 0..count * 20 {
        if drawn.len() == count {
            break;
        }
        let mut pick = || names[rng.random_range(0..names.len())];
        let (subject, io, replacement) = (pick(), pick(), pick());
        if subject == io || subject == replacement || io == replacement {
            continue;
        }
        let place = places[rng.random_range(0..places.len())].0;
        let object = objects[rng.random_range(0..objects.len())].0;
        let io_first = rng.random_bool(0.5);
        let text = |io: &str| {
            let (a, b) = if io_first {
                (io, subject.0)
            } else {
                (subject.0, io)
            };
            format!(
                "Then, {a} and {b} went to the {place}. {} gave a {object} to",
                subject.0
            )
        };
        let (clean, corrupted) = (text(io.0), text(replacement.0));
        let (clean_ids, corrupted_ids) = (encode(&clean)?, encode(&corrupted)?);
        // Words that are one token alone might merge with a neighbour:
        // twins must differ in the indirect object's token alone, and every
        // prompt must line up with the others.
        let differing: Vec<(i64, i64)> = (clean_ids.iter().zip(&corrupted_ids))
            .filter(|(a, b)| a != b)
            .map(|(a, b)| (*a, *b))
            .collect();
        let fits = clean_ids.len() == corrupted_ids.len()
            && differing == [(io.1, replacement.1)]
            && *length.get_or_insert(clean_ids.len()) == clean_ids.len();
        if fits {
            drawn.push(Prompt {
                clean,
                corrupted,
                clean_ids,
                corrupted_ids,
                subject: subject.1,
                indirect_object: io.1,
                corrupted_indirect_object: replacement.1,
            });
        }
    }
    if drawn.len() < count {
        return Err(ExperimentError::Input(format!(
            "only {} of {count} prompt pairs could be drawn whose tokens line up: the \
             tokenizer merges the template's words otherwise",
            drawn.len()
        )));
    }
    Ok(drawn)
}

/// A hash (FNV-1a) of a dictionary's encoder and decoder weights: a rerun
/// reuses a basis only if its weights are the ones the points came from.
fn weights_hash(dictionary: &Dictionary) -> Result<u64> {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for weights in [&dictionary.w_enc, &dictionary.w_dec] {
        let values = Vec::<f32>::try_from(weights.to_kind(Kind::Float).flatten(0, -1))?;
        for v in values {
            hash = (hash ^ u64::from(v.to_bits())).wrapping_mul(0x100_0000_01b3);
        }
    }
    Ok(hash)
}

/// The bases at `hook` in the dataset, in the manifest's order, and the
/// hook's own coordinates where the dataset has no neuron basis there.
fn bases_at(
    ds: &Dataset,
    hook: HookPoint,
    width: i64,
    device: tch::Device,
) -> Result<Vec<(Basis, Dictionary)>> {
    let mut found = Vec::new();
    let here = (ds.manifest().sources.iter()).filter(|s| HookPoint::parse(&s.hook) == Some(hook));
    for source in here {
        let Some(dictionary) = load_dictionary(ds, source, device)? else {
            continue;
        };
        if dictionary.d_in() != width {
            return Err(ExperimentError::Input(format!(
                "{hook} has width {width}, but the {} dictionary there reads {}",
                source.kind,
                dictionary.d_in()
            )));
        }
        let folder = source.dictionary.as_ref().and_then(|d| d.source.clone());
        found.push((
            Basis {
                label: source.kind.as_str().to_owned(),
                kind: source.kind,
                dictionary: folder,
                d_sae: dictionary.d_sae(),
                weights_hash: weights_hash(&dictionary)?,
                points: Vec::new(),
            },
            dictionary,
        ));
    }
    if !found.iter().any(|(b, _)| b.kind == UnitKind::Neuron) {
        let eye = Tensor::eye(width, (Kind::Float, device));
        let identity = Dictionary::new(
            UnitKind::Neuron,
            Activation::Linear,
            eye.shallow_clone(),
            eye,
        );
        found.push((
            Basis {
                label: "neuron".into(),
                kind: UnitKind::Neuron,
                dictionary: None,
                d_sae: width,
                weights_hash: weights_hash(&identity)?,
                points: Vec::new(),
            },
            identity,
        ));
    }
    // Two of a kind are told apart by their folders' names, or by their
    // whole paths where those are alike too.
    let named = |b: &Basis| {
        let folder = b.dictionary.as_deref().map(Path::new);
        let name = folder.and_then(|f| f.file_name()).and_then(|n| n.to_str());
        format!("{} ({})", b.label, name.unwrap_or("?"))
    };
    let labels: Vec<String> = found.iter().map(|(b, _)| b.label.clone()).collect();
    let names: Vec<String> = found.iter().map(|(b, _)| named(b)).collect();
    for (basis, _) in &mut found {
        if labels.iter().filter(|l| **l == basis.label).count() > 1 {
            let name = named(basis);
            basis.label = if names.iter().filter(|n| **n == name).count() > 1 {
                format!(
                    "{} ({})",
                    basis.label,
                    basis.dictionary.as_deref().unwrap_or("?")
                )
            } else {
                name
            };
        }
    }
    Ok(found)
}

/// The first hook of the dataset that holds a dictionary.
pub fn default_hook(ds: &Dataset) -> Result<String> {
    (ds.manifest().sources.iter())
        .find(|s| s.dictionary.is_some())
        .map(|s| s.hook.clone())
        .ok_or_else(|| {
            ExperimentError::Input(format!(
                "{}: no unit source is a dictionary; name the hook to patch with --hook",
                ds.dir().join("manifest.json").display()
            ))
        })
}

/// The prompts' ids as a `[prompts, tokens]` batch.
fn batch(prompts: &[Prompt], corrupted: bool, device: tch::Device) -> Tensor {
    let ids: Vec<i64> = (prompts.iter())
        .flat_map(|p| {
            if corrupted {
                &p.corrupted_ids
            } else {
                &p.clean_ids
            }
        })
        .copied()
        .collect();
    Tensor::from_slice(&ids)
        .view([prompts.len() as i64, -1])
        .to_device(device)
}

/// The prompts' next-token logits at their last token `[prompts, vocab]`,
/// with the hook's activation replaced (`replace`), and what the hook
/// carried before.
fn last_token(
    model: &dyn SubjectModel,
    hook: HookPoint,
    ids: &Tensor,
    replace: Option<&dyn Fn(&Tensor) -> Tensor>,
) -> Result<(Tensor, Tensor)> {
    let seen = RefCell::new(None);
    let watch = |t: &Tensor| {
        *seen.borrow_mut() = Some(t.shallow_clone());
        match replace {
            Some(replace) => replace(t),
            None => t.shallow_clone(),
        }
    };
    let patch = Patch {
        hook,
        replace: &watch,
    };
    let logits = model.final_logits(ids, &ids.ones_like(), Some(patch))?;
    let seen = (seen.into_inner())
        .ok_or_else(|| ExperimentError::Input(format!("{hook}: the model never reached it")))?;
    Ok((logits, seen))
}

/// How a run's last-token prediction compares with the corrupted run's.
struct Yardstick {
    /// The corrupted run's log-probabilities `[prompts, vocab]`, in float64.
    corrupted_log_probs: Tensor,
    /// The token ids `[prompts, 1]` of the subject, the clean answer and
    /// the corrupted one.
    answers: [Tensor; 3],
}

impl Yardstick {
    fn measure(&self, logits: &Tensor) -> Measure {
        let logits = logits.to_kind(Kind::Double);
        let log_probs = logits.log_softmax(-1, Kind::Double);
        let kl = (self.corrupted_log_probs.exp() * (&self.corrupted_log_probs - &log_probs))
            .sum_dim_intlist([-1i64].as_slice(), false, Kind::Double)
            .mean(Kind::Double)
            .double_value(&[]);
        let [subject, io, replacement] =
            (self.answers.each_ref()).map(|ids| logits.gather(1, ids, false));
        let difference = |answer: &Tensor| (answer - &subject).mean(Kind::Double).double_value(&[]);
        Measure {
            mean_kl: kl,
            io_logit_difference: difference(&io),
            corrupted_io_logit_difference: difference(&replacement),
        }
    }
}

/// What a previous run of the same plan, model and prompts published, to
/// go on from.
fn previous(folder: &Path, plan: &Plan, model: &str, prompts: &[Prompt]) -> Option<Patching> {
    let bytes = std::fs::read(folder.join("summary.json")).ok()?;
    let before: Patching = serde_json::from_slice(&bytes).ok()?;
    (before.plan == *plan && before.model == model && before.prompts == prompts).then_some(before)
}

/// The folder name of a hook's patching results.
pub fn name(plan: &Plan) -> String {
    format!("patching-{}", plan.hook)
}

/// Runs the patching experiment `plan` describes on the dataset at `path`,
/// with the subject model its manifest names (or `model`) on `device`,
/// publishing after each basis so an interrupted run goes on from there;
/// `on_point(done, total)` follows it. Returns the result, its folder and
/// how many bases an earlier run had already done.
pub fn run(
    path: &Path,
    plan: &Plan,
    model: Option<&Path>,
    device: tch::Device,
    on_point: &mut dyn FnMut(usize, usize),
) -> Result<(Patching, PathBuf, usize)> {
    let input = ExperimentError::Input;
    if plan.prompts == 0 {
        return Err(input("patching needs at least one prompt pair".into()));
    }
    if plan.features.is_empty() || !plan.features.is_sorted_by(|a, b| a < b) {
        return Err(input(format!(
            "features {:?}: the numbers of features patched must rise, each once",
            plan.features
        )));
    }
    let ds = Dataset::open(path)?;
    let hook = HookPoint::parse(&plan.hook).ok_or_else(|| {
        input(format!(
            "hook {:?} is not a hook name like blocks.6.resid_post",
            plan.hook
        ))
    })?;
    // One spelling of the hook, for the results' folder and for a rerun.
    let plan = &Plan {
        hook: hook.to_string(),
        ..plan.clone()
    };
    let model_file = model_path(&ds, model)?;
    let model_name = model_file.display().to_string();
    let subject = crate::model::load(&model_file, device)?;
    subject
        .config()
        .check_layer(hook.layer)
        .map_err(|e| input(format!("{model_name}: {e}")))?;
    let tokenizer = TextTokenizer::load(&model_file)?;
    let mut bases = bases_at(&ds, hook, subject.width(hook.site), device)?;
    if bases.iter().all(|(b, _)| b.dictionary.is_none()) {
        return Err(input(format!(
            "{}: no dictionary is read at {hook}",
            ds.dir().join("manifest.json").display()
        )));
    }
    let prompts = prompts(&tokenizer, plan.prompts, plan.seed)?;
    let folder = Results::folder(path, &name(plan));
    let before = previous(&folder, plan, &model_name, &prompts);
    let answer = |pick: fn(&Prompt) -> i64| {
        let ids: Vec<i64> = prompts.iter().map(pick).collect();
        Tensor::from_slice(&ids).view([-1, 1]).to_device(device)
    };
    let count = bases.len();
    let total = count * plan.features.len();
    let mut reused = 0;
    let model = subject.as_ref();
    let result = tch::no_grad(|| -> Result<Patching> {
        let clean_ids = batch(&prompts, false, device);
        let (corrupted_logits, corrupted_x) =
            last_token(model, hook, &batch(&prompts, true, device), None)?;
        let (clean_logits, clean_x) = last_token(model, hook, &clean_ids, None)?;
        let yardstick = Yardstick {
            corrupted_log_probs: (corrupted_logits.to_kind(Kind::Double))
                .log_softmax(-1, Kind::Double),
            answers: [
                answer(|p| p.subject),
                answer(|p| p.indirect_object),
                answer(|p| p.corrupted_indirect_object),
            ],
        };
        let mut result = Patching {
            plan: plan.clone(),
            model: model_name.clone(),
            tokens: prompts[0].clean_ids.len(),
            clean: yardstick.measure(&clean_logits),
            corrupted: yardstick.measure(&corrupted_logits),
            prompts: prompts.clone(),
            bases: Vec::new(),
            complete: false,
        };
        for (i, (mut basis, dictionary)) in bases.drain(..).enumerate() {
            // A basis an earlier run finished: the same dictionary, every point.
            let done = (before.iter().flat_map(|b| &b.bases)).find(|d| {
                (&d.label, d.kind, &d.dictionary, d.weights_hash)
                    == (
                        &basis.label,
                        basis.kind,
                        &basis.dictionary,
                        basis.weights_hash,
                    )
                    && d.points.len() == plan.features.len()
            });
            match done {
                Some(done) => {
                    basis = done.clone();
                    reused += 1;
                    on_point((i + 1) * plan.features.len(), total);
                }
                None => {
                    let difference = dictionary.feature_difference(&clean_x, &corrupted_x);
                    for (j, &features) in plan.features.iter().enumerate() {
                        let patched = dictionary.patched(&clean_x, &difference, features as i64);
                        let replace = |_: &Tensor| patched.shallow_clone();
                        let (logits, _) = last_token(model, hook, &clean_ids, Some(&replace))?;
                        basis.points.push(Point {
                            features,
                            measure: yardstick.measure(&logits),
                        });
                        on_point(i * plan.features.len() + j + 1, total);
                    }
                }
            }
            // Published after each basis, so that an interrupted run loses
            // at most the one it was on.
            result.bases.push(basis);
            result.complete = result.bases.len() == count;
            publish(path, &result)?;
        }
        Ok(result)
    })?;
    Ok((result, folder, reused))
}

/// The figures: KL from the corrupted run against the number of features
/// patched, and the logit difference of the clean answer, one line per basis.
pub fn figures(patching: &Patching) -> [Lines; 2] {
    let ticks: Vec<String> = patching
        .plan
        .features
        .iter()
        .map(|n| n.to_string())
        .collect();
    let series = |value: fn(&Measure) -> f64| {
        (patching.bases.iter())
            .map(|b| {
                // The plan's numbers rise, each once: a point's place is its index.
                let points = (b.points.iter().enumerate())
                    .map(|(x, p)| (x, value(&p.measure)))
                    .collect();
                (b.label.clone(), points)
            })
            .collect()
    };
    let x_label = format!("features patched at each position ({})", patching.plan.hook);
    [
        Lines {
            title: format!(
                "Patching {} IOI prompts: KL(corrupted || patched)",
                patching.prompts.len()
            ),
            x_label: x_label.clone(),
            y_label: "mean KL at the last token (nats)".into(),
            x_ticks: ticks.clone(),
            series: series(|m| m.mean_kl),
            references: Vec::new(),
        },
        Lines {
            title: "Patching: logit of the clean indirect object minus the subject's".into(),
            x_label,
            y_label: "mean logit difference".into(),
            x_ticks: ticks,
            series: series(|m| m.io_logit_difference),
            references: vec![
                ("clean".into(), patching.clean.io_logit_difference),
                ("corrupted".into(), patching.corrupted.io_logit_difference),
            ],
        },
    ]
}

/// Writes `points.csv`, `prompts.csv`, `summary.json`, `figure.svg` (KL)
/// and `logit-difference.svg` into the hook's results folder.
pub fn publish(path: &Path, patching: &Patching) -> Result<PathBuf> {
    let mut points =
        String::from("basis,features,mean_kl,io_logit_difference,corrupted_io_logit_difference\n");
    for basis in &patching.bases {
        for p in &basis.points {
            let m = &p.measure;
            let _ = writeln!(
                points,
                "{},{},{},{},{}",
                csv_field(&basis.label),
                p.features,
                m.mean_kl,
                m.io_logit_difference,
                m.corrupted_io_logit_difference
            );
        }
    }
    let mut prompts = String::from("clean,corrupted\n");
    for p in &patching.prompts {
        let _ = writeln!(
            prompts,
            "{},{}",
            csv_field(&p.clean),
            csv_field(&p.corrupted)
        );
    }
    let [kl, logit_difference] = figures(patching);
    let mut results = Results::default();
    results.add("points.csv", points);
    results.add("prompts.csv", prompts);
    results.add("summary.json", serde_json::to_vec_pretty(patching)?);
    results.add("figure.svg", kl.svg());
    results.add("logit-difference.svg", logit_difference.svg());
    results.publish(path, &name(&patching.plan))
}
