//! Each unit's direct effect on the next-token logits (Neuronpedia's
//! positive and negative logits): the unit's output direction in the
//! residual stream, read through the final norm's scale and the
//! unembedding ([`Decoder::direct_logits`]). A dictionary feature's
//! direction is its decoder row (carried through the MLP's down projection
//! when the dictionary reads the MLP's neurons); a neuron's is its column
//! of the down projection. Unlike the experiments, the effects are a table
//! of the dataset (`logit_effects.parquet`), which the explorer shows.
use super::subject::{load_dictionary, model_path, source_hook, token_text};
use super::{ExperimentError, Result};
use crate::dataset::{Dataset, LogitEffect, TokenEffect};
use crate::model::{Decoder, HookPoint, HookSite, SubjectModel, TextTokenizer};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Tokens kept on each side by default.
pub const TOKENS: usize = 10;

/// Directions whose logits are computed at once (`[256, vocab]` floats).
const CHUNK: i64 = 256;

/// The logit effects of every unit of `ds` in its subject model (`model`,
/// else the manifest's), the `tokens` raised most and lowered most each;
/// `None` when the checkpoint has no output head (a bare base model).
pub fn compute(
    ds: &Dataset,
    model: Option<&Path>,
    tokens: usize,
    device: Device,
) -> Result<Option<Vec<LogitEffect>>> {
    let _no_grad = tch::no_grad_guard();
    let path = model_path(ds, model)?;
    let decoder = crate::model::load_decoder(&path, device)?;
    if !decoder.has_head() {
        return Ok(None);
    }
    let tokenizer = TextTokenizer::load(&path)?;
    let manifest_path = ds.dir().join("manifest.json");
    let mut out = Vec::new();
    for source in &ds.manifest().sources {
        let hook = source_hook(ds, source)?;
        let dictionary = load_dictionary(ds, source, device)?;
        let basis = residual_basis(&decoder, hook, device)?;
        let directions = match &dictionary {
            Some(d) => d.w_dec.to_kind(Kind::Float).matmul(&basis),
            None => basis,
        };
        if directions.size()[0] < source.units as i64 {
            return Err(ExperimentError::Input(format!(
                "{}: {} lists {} units at {}, which has {}",
                manifest_path.display(),
                source.hook,
                source.units,
                path.display(),
                directions.size()[0]
            )));
        }
        for start in (0..source.units as i64).step_by(CHUNK as usize) {
            let n = CHUNK.min(source.units as i64 - start);
            let logits = decoder.direct_logits(&directions.narrow(0, start, n))?;
            let k = (tokens as i64).min(logits.size()[1]);
            let side = |largest: bool, row: i64| -> Result<Vec<TokenEffect>> {
                let (values, ids) = logits.get(row).topk(k, -1, largest, true);
                let values = Vec::<f32>::try_from(values)?;
                let ids = Vec::<i64>::try_from(ids)?;
                Ok(ids
                    .into_iter()
                    .zip(values)
                    .map(|(id, effect)| TokenEffect {
                        token: token_text(&tokenizer, id),
                        effect,
                    })
                    .collect())
            };
            for row in 0..n {
                out.push(LogitEffect {
                    unit_id: source.first_unit_id + (start + row) as u64,
                    raised: side(true, row)?,
                    lowered: side(false, row)?,
                });
            }
        }
    }
    Ok(Some(out))
}

/// What one unit of activation at each coordinate of `hook` writes to the
/// residual stream, `[width, d]`: the identity for the residual stream,
/// the neurons' output directions for the MLP.
fn residual_basis(decoder: &Decoder, hook: HookPoint, device: Device) -> Result<Tensor> {
    Ok(match hook.site {
        HookSite::Mlp => decoder.neuron_directions(hook.layer)?,
        HookSite::ResidPre | HookSite::ResidPost => {
            Tensor::eye(decoder.config().hidden_size, (Kind::Float, device))
        }
    })
}
