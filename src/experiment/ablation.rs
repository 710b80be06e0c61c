//! What a unit does, causally (Cunningham et al.'s ablations: their
//! apostrophe feature, once ablated, lowers "s" most). The subject model
//! runs each of the unit's top records twice, as it is and with the unit
//! scaled by a factor (0 ablates it); at the positions where the unit fires,
//! the change of every next token's log-probability is averaged, and so is
//! KL(clean ‖ scaled) = Σ p_clean · (log p_clean − log p_scaled).
//!
//! A neuron is scaled where it is read. A dictionary feature's share of
//! the activation, its activation times its decoder row, is scaled, and the
//! rest of the activation (the dictionary's error included) stays:
//! x′ = x + (s − 1)·c·d.
use super::figure::{Bar, GroupedBars};
use super::results::csv_field;
use super::subject::{Site, Subject, token_text};
use super::{ExperimentError, Result, Results};
use crate::activations::Windower;
use crate::dataset::{Dataset, Record, Sample};
use crate::model::{Patch, SubjectModel};
use std::cell::RefCell;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// Top records run, and tokens listed each way, unless asked otherwise.
pub const RECORDS: usize = 20;
pub const TOKENS: usize = 10;

/// What is ablated and how the result is told.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub unit_id: u64,
    /// The factor the unit is scaled by: 0 ablates it, 2 doubles it.
    pub scale: f64,
    /// Top records run (the strongest first).
    pub records: usize,
    /// Tokens listed each way.
    pub tokens: usize,
}

/// One next token's mean change.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TokenChange {
    pub token_id: i64,
    pub token: String,
    /// Mean change of its log-probability (natural log) where the unit fires.
    pub mean_change: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ablation {
    pub plan: Plan,
    pub hook: String,
    pub kind: String,
    /// Records run, by id.
    pub record_ids: Vec<u64>,
    /// Records left out, by id, and why.
    pub records_skipped: Vec<(u64, String)>,
    /// Positions where the unit fires (activation above zero) in the clean
    /// run: what the means are over.
    pub positions: usize,
    /// The largest difference between the unit's activation in the clean
    /// run and the dataset's record of it: how faithfully the records ran again.
    pub activation_difference: f64,
    /// Mean KL(clean ‖ ablated) of the next-token distribution, in nats.
    pub mean_kl: f64,
    /// The tokens whose log-probability falls most, the largest fall first.
    pub falls: Vec<TokenChange>,
    /// The tokens whose log-probability rises most, the largest rise first.
    pub rises: Vec<TokenChange>,
}

/// Sums over the firing positions of every record run.
struct Totals {
    /// Per vocabulary entry, the summed change of its log-probability.
    change: Tensor,
    kl: f64,
    positions: usize,
    activation_difference: f64,
}

/// Runs `record` clean and ablated and adds what changed at its firing
/// positions to `totals`.
fn run_record(
    model: &dyn SubjectModel,
    site: &Site,
    scale: f64,
    ids: Vec<i64>,
    record: &Record,
    totals: &mut Totals,
) -> Result<()> {
    let device = totals.change.device();
    let ids = Tensor::from_slice(&ids).view([1, -1]).to_device(device);
    let mask = ids.ones_like();
    let seen = RefCell::new(None);
    let watch = |t: &Tensor| {
        *seen.borrow_mut() = Some(site.activation(t));
        t.shallow_clone()
    };
    let ablate = |t: &Tensor| site.scaled(t, scale);
    let clean = model.logits(
        &ids,
        &mask,
        Some(Patch {
            hook: site.hook,
            replace: &watch,
        }),
    )?;
    let ablated = model.logits(
        &ids,
        &mask,
        Some(Patch {
            hook: site.hook,
            replace: &ablate,
        }),
    )?;
    let activation = (seen.into_inner())
        .ok_or_else(|| ExperimentError::Input(format!("{}: never reached", site.hook)))?
        .view([-1]);
    let stored = Tensor::from_slice(&record.activations).to_device(device);
    let difference = (&activation - &stored).abs().max().double_value(&[]);
    totals.activation_difference = totals.activation_difference.max(difference);
    let firing = activation.gt(0.0).nonzero().view([-1]);
    let positions = firing.size()[0];
    if positions == 0 {
        return Ok(());
    }
    let log_probs = |logits: &Tensor| {
        logits
            .get(0)
            .index_select(0, &firing)
            .to_kind(Kind::Double)
            .log_softmax(-1, Kind::Double)
    };
    let (clean, ablated) = (log_probs(&clean), log_probs(&ablated));
    let change = &ablated - &clean;
    totals.change += change.sum_dim_intlist([0i64].as_slice(), false, Kind::Double);
    totals.kl -= (clean.exp() * &change).sum(Kind::Double).double_value(&[]);
    totals.positions += positions as usize;
    Ok(())
}

/// Ablates the unit on its top records of `ds` (up to `plan.records` of
/// them) in `subject`.
pub fn ablate(ds: &Dataset, subject: &Subject, plan: &Plan) -> Result<Ablation> {
    let (model, tokenizer, site) = (subject.model.as_ref(), &subject.tokenizer, &subject.site);
    let window_tokens = ds.manifest().window_tokens.unwrap_or(64) as usize;
    let windower = Windower::new(tokenizer, window_tokens)
        .map_err(|e| ExperimentError::Input(e.to_string()))?;
    let mut top: Vec<Record> = (ds.records(plan.unit_id)?.into_iter())
        .filter(|r| r.sample == Sample::Top)
        .collect();
    top.sort_by_key(|r| r.rank);
    top.truncate(plan.records);
    let vocabulary = model.config().vocab_size;
    let mut totals = Totals {
        change: Tensor::zeros([vocabulary], (Kind::Double, subject.device)),
        kl: 0.0,
        positions: 0,
        activation_difference: 0.0,
    };
    let (mut record_ids, mut records_skipped) = (Vec::new(), Vec::new());
    tch::no_grad(|| -> Result<()> {
        for record in &top {
            let ids = windower
                .ids_of(&record.tokens)
                .map_err(|e| ExperimentError::Input(e.to_string()))?;
            let Some(ids) = ids else {
                records_skipped.push((
                    record.record_id,
                    "its text encodes to other tokens on its own".to_owned(),
                ));
                continue;
            };
            run_record(model, site, plan.scale, ids, record, &mut totals)?;
            record_ids.push(record.record_id);
        }
        Ok(())
    })?;
    if record_ids.is_empty() && !records_skipped.is_empty() {
        return Err(ExperimentError::Input(format!(
            "unit {}: none of its {} top records encodes to the same tokens with this \
             tokenizer: is the model the dataset's?",
            plan.unit_id,
            records_skipped.len()
        )));
    }
    let per_position = (totals.positions.max(1)) as f64;
    let mean_change = &totals.change / per_position;
    let listed = |largest: bool| -> Result<Vec<TokenChange>> {
        if totals.positions == 0 {
            return Ok(Vec::new());
        }
        let k = (plan.tokens as i64).min(vocabulary);
        let (values, ids) = mean_change.topk(k, 0, largest, true);
        let (values, ids) = (Vec::<f64>::try_from(values)?, Vec::<i64>::try_from(ids)?);
        Ok(values
            .into_iter()
            .zip(ids)
            .map(|(mean_change, token_id)| TokenChange {
                token_id,
                token: token_text(tokenizer, token_id),
                mean_change,
            })
            .collect())
    };
    let unit = ds.unit(plan.unit_id)?;
    Ok(Ablation {
        plan: plan.clone(),
        hook: site.hook.to_string(),
        kind: unit.kind.as_str().to_owned(),
        record_ids,
        records_skipped,
        positions: totals.positions,
        activation_difference: totals.activation_difference,
        mean_kl: totals.kl / per_position,
        falls: listed(false)?,
        rises: listed(true)?,
    })
}

/// A token as a label: quoted, so leading spaces and line breaks show.
fn label(token: &str) -> String {
    format!("{:?}", token)
}

/// The folder name of an ablation's results: one per unit and factor.
pub fn name(plan: &Plan) -> String {
    format!("ablation-unit-{}-scale-{}", plan.unit_id, plan.scale)
}

/// The figure: the tokens that fall most and rise most, one bar each.
pub fn figure(ablation: &Ablation) -> GroupedBars {
    let p = &ablation.plan;
    let groups = (ablation.falls.iter().chain(ablation.rises.iter().rev()))
        .map(|t| {
            (
                vec![label(&t.token)],
                vec![Some(Bar::new(t.mean_change, None))],
            )
        })
        .collect();
    GroupedBars {
        title: format!(
            "Unit {} scaled by {}: next-token log-probability change (KL {:.4} nats)",
            p.unit_id, p.scale, ablation.mean_kl
        ),
        y_label: "mean change of log-probability".into(),
        series: vec![format!("{} firing positions", ablation.positions)],
        groups,
    }
}

/// Ablates the unit `plan` names in the dataset at `path`, with the subject
/// model the manifest names (or `model`) on `device`, and publishes the
/// result; returns it and its folder.
pub fn run(
    path: &Path,
    plan: &Plan,
    model: Option<&Path>,
    device: tch::Device,
) -> Result<(Ablation, PathBuf)> {
    if !plan.scale.is_finite() {
        return Err(ExperimentError::Input(format!(
            "scale {}: the factor must be a finite number",
            plan.scale
        )));
    }
    let ds = Dataset::open(path)?;
    let subject = Subject::load(&ds, plan.unit_id, model, device)?;
    let ablation = ablate(&ds, &subject, plan)?;
    let folder = publish(path, &ablation)?;
    Ok((ablation, folder))
}

/// Every ablation published in the dataset at `path`, by folder name, and
/// what is wrong with each that cannot be read (a damaged one does not
/// hide the others).
pub fn published(path: &Path) -> Result<(Vec<Ablation>, Vec<String>)> {
    let dir = path.join("experiments");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => return Err(crate::publish::PublishError::io(&dir, e).into()),
    };
    let mut names: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("ablation-unit-"))
        })
        .collect();
    names.sort();
    let (mut ablations, mut damaged) = (Vec::new(), Vec::new());
    for folder in names {
        let file = folder.join("summary.json");
        let read = std::fs::read(&file)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()));
        match read {
            Ok(ablation) => ablations.push(ablation),
            Err(e) => damaged.push(format!("{}: {e}", file.display())),
        }
    }
    Ok((ablations, damaged))
}

/// Writes `tokens.csv` (the tokens listed each way), `summary.json` and
/// `figure.svg` into the ablation's results folder.
pub fn publish(path: &Path, ablation: &Ablation) -> Result<PathBuf> {
    let mut csv = String::from("direction,rank,token_id,token,mean_change\n");
    for (direction, list) in [("fall", &ablation.falls), ("rise", &ablation.rises)] {
        for (rank, t) in list.iter().enumerate() {
            let _ = writeln!(
                csv,
                "{direction},{},{},{},{}",
                rank + 1,
                t.token_id,
                csv_field(&t.token),
                t.mean_change
            );
        }
    }
    let mut results = Results::default();
    results.add("tokens.csv", csv);
    results.add("summary.json", serde_json::to_vec_pretty(ablation)?);
    results.add("figure.svg", figure(ablation).svg());
    results.publish(path, &name(&ablation.plan))
}
