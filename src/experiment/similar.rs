//! Units like a unit, two ways. By direction (Neuronpedia's cosine-similar
//! features): the cosine of decoder rows among a dictionary's features, or
//! of output directions among a layer's neurons. By activation: the
//! subject model runs the unit's records again and every unit of the
//! dataset is read on them; the units whose activations correlate most with
//! the unit's, over the records' text tokens, come first. The second crosses
//! sources: a feature's correlated neurons, a neuron's correlated features.
use super::probe::Prober;
use super::{ExperimentError, Result};
use crate::dataset::Dataset;
use crate::model::HookSite;
use tch::{Device, Kind, Tensor};

/// Units listed each way unless asked otherwise.
pub const NEIGHBOURS: usize = 10;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Neighbour {
    pub unit_id: u64,
    /// Cosine of the directions, or Pearson correlation of the activations.
    pub similarity: f32,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SimilarUnits {
    pub unit_id: u64,
    /// Of the unit's own source, by cosine of output directions (empty for
    /// coordinates of the residual stream, which are all orthogonal).
    pub by_direction: Vec<Neighbour>,
    /// Of every source, by correlation over the records' text tokens.
    pub by_correlation: Vec<Neighbour>,
    /// Records run for the correlation, by id; those whose text encodes to
    /// other tokens on its own are left out.
    pub record_ids: Vec<u64>,
    /// Text tokens the correlation is over.
    pub tokens: usize,
    /// The largest difference between the unit's activation as run here and
    /// the dataset's record of it: how faithfully the records ran again.
    pub activation_difference: f32,
}

/// The `k` units nearest to `unit` of `ds` each way, with `prober` loaded for `ds`.
pub fn similar_units(prober: &Prober, ds: &Dataset, unit: u64, k: usize) -> Result<SimilarUnits> {
    let _no_grad = tch::no_grad_guard();
    let by_direction = by_direction(prober, unit, k)?;
    let windower = prober.windower()?;
    let (before, after) = windower.special_counts();
    let mut windows = Vec::new();
    let (mut stored, mut record_ids) = (Vec::new(), Vec::new());
    for record in ds.records(unit)? {
        if let Some(ids) = windower.ids_of(&record.tokens)? {
            windows.push(ids);
            stored.push(record.activations);
            record_ids.push(record.record_id);
        }
    }
    if windows.is_empty() {
        return Err(ExperimentError::Input(format!(
            "unit {unit}: none of its records encodes to the same tokens with this \
             tokenizer: is the model the dataset's?"
        )));
    }
    // Sums over text tokens only (a window's first token often carries
    // outsized activations that would decide every correlation), so that
    // the tokens are never all held at once.
    let own = unit as i64;
    let units = prober.units() as i64;
    let zeros = || Tensor::zeros([units], (Kind::Double, Device::Cpu));
    let (mut sum, mut squares, mut products) = (zeros(), zeros(), zeros());
    let (mut tokens, mut activation_difference) = (0usize, 0f32);
    prober.run_each(&windows, |i, run| {
        let len = run.size()[0] - (before + after) as i64;
        let text = run.narrow(0, before as i64, len).to_kind(Kind::Double);
        let y = text.select(1, own);
        let _ = sum.g_add_(&text.sum_dim_intlist(0, false, Kind::Double));
        let _ = squares.g_add_(&text.square().sum_dim_intlist(0, false, Kind::Double));
        let _ = products.g_add_(&y.matmul(&text));
        tokens += len as usize;
        let ran = Vec::<f32>::try_from(run.select(1, own))?;
        for (a, b) in ran.iter().zip(&stored[i]) {
            activation_difference = activation_difference.max((a - b).abs());
        }
        Ok(())
    })?;
    // Pearson's r from the sums: n·Σxy − Σx·Σy over the two spreads.
    let n = tokens as f64;
    let spread = (&squares * n - sum.square()).clamp_min(0.0).sqrt();
    let covariance = &products * n - &sum * sum.get(own);
    // Units constant over these tokens (or held by no source) correlate
    // with nothing: NaN, left out; so is everything if the unit is constant.
    let correlation = covariance / (&spread * spread.get(own));
    let by_correlation = nearest(&correlation.to_kind(Kind::Float), 0, unit, k)?;
    Ok(SimilarUnits {
        unit_id: unit,
        by_direction,
        by_correlation,
        record_ids,
        tokens,
        activation_difference,
    })
}

/// The `k` units of `unit`'s source whose output directions are nearest to its own.
fn by_direction(prober: &Prober, unit: u64, k: usize) -> Result<Vec<Neighbour>> {
    let source = prober.source_of(unit)?;
    let directions = match &source.dictionary {
        Some(dictionary) => dictionary.w_dec.to_kind(Kind::Float),
        None if source.hook.site == HookSite::Mlp => {
            prober.model().neuron_directions(source.hook.layer)?
        }
        None => return Ok(Vec::new()),
    };
    let first_unit_id = source.first_unit_id;
    let directions = directions.narrow(0, 0, source.units).to_device(Device::Cpu);
    let unit_directions = &directions / directions.norm_scalaropt_dim(2, [1i64], true);
    let index = (unit - first_unit_id) as i64;
    let cosines = unit_directions.matmul(&unit_directions.get(index));
    let mut nearest = nearest(&cosines, first_unit_id, unit, k)?;
    // Orthogonal directions (a basis of coordinates) are no one's neighbours.
    nearest.retain(|n| n.similarity.abs() > 1e-6);
    Ok(nearest)
}

/// The `k` highest of `values` (unit `first + i` at `i`) but `unit`'s own
/// and those undefined (NaN), the highest first.
fn nearest(values: &Tensor, first: u64, unit: u64, k: usize) -> Result<Vec<Neighbour>> {
    let values = Vec::<f32>::try_from(values)?;
    let mut ranked: Vec<Neighbour> = (values.into_iter().enumerate())
        .map(|(i, similarity)| Neighbour {
            unit_id: first + i as u64,
            similarity,
        })
        .filter(|n| n.unit_id != unit && n.similarity.is_finite())
        .collect();
    ranked.sort_by(|a, b| (b.similarity.total_cmp(&a.similarity)).then(a.unit_id.cmp(&b.unit_id)));
    ranked.truncate(k);
    Ok(ranked)
}
