//! Which units a batch command works on: `all`, `layers:0-2`, `ids:1,5,9-12`,
//! `top-density:N` (the N densest), `random:N` (a seeded uniform sample).
use crate::dataset::{DatasetError, UnitOverview};
use rand::SeedableRng;
use rand::seq::SliceRandom;

#[derive(Debug, Clone, PartialEq)]
pub enum UnitSpec {
    All,
    Layers(Vec<u32>),
    Ids(Vec<u64>),
    TopDensity(usize),
    Random(usize),
}

/// What is wrong with a unit selection or a list of numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitSpecError {
    #[error("{0:?} is not a number or a range")]
    NotANumber(String),
    #[error("empty list")]
    Empty,
    #[error("layer number {0} too large")]
    TooLarge(u64),
    #[error("{0:?} is not a count")]
    NotACount(String),
    #[error(
        "unknown unit selection {0:?} (use all, layers:0-2, ids:1,5,9-12, top-density:N or random:N)"
    )]
    Unknown(String),
}

/// A comma-separated list of numbers and inclusive ranges (`1,5,9-12`), in
/// the order given.
pub fn number_list(list: &str) -> Result<Vec<u64>, UnitSpecError> {
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |s: &str| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| UnitSpecError::NotANumber(part.into()))
        };
        match part.split_once('-') {
            Some((a, b)) => out.extend(num(a)?..=num(b)?),
            None => out.push(num(part)?),
        }
    }
    if out.is_empty() {
        return Err(UnitSpecError::Empty);
    }
    Ok(out)
}

impl std::str::FromStr for UnitSpec {
    type Err = UnitSpecError;
    fn from_str(s: &str) -> Result<Self, UnitSpecError> {
        let count = |n: &str| {
            n.trim()
                .parse::<usize>()
                .map_err(|_| UnitSpecError::NotACount(n.into()))
        };
        match s.split_once(':') {
            None if s == "all" => Ok(Self::All),
            Some(("layers", list)) => Ok(Self::Layers(
                number_list(list)?
                    .into_iter()
                    .map(|n| u32::try_from(n).map_err(|_| UnitSpecError::TooLarge(n)))
                    .collect::<Result<_, _>>()?,
            )),
            Some(("ids", list)) => Ok(Self::Ids(number_list(list)?)),
            Some(("top-density", n)) => Ok(Self::TopDensity(count(n)?)),
            Some(("random", n)) => Ok(Self::Random(count(n)?)),
            _ => Err(UnitSpecError::Unknown(s.into())),
        }
    }
}

impl UnitSpec {
    /// The selected unit ids, ascending.
    pub fn select(&self, units: &[UnitOverview], seed: u64) -> Result<Vec<u64>, DatasetError> {
        let mut ids: Vec<u64> = match self {
            Self::All => units.iter().map(|u| u.unit_id).collect(),
            Self::Layers(layers) => units
                .iter()
                .filter(|u| layers.contains(&u.layer))
                .map(|u| u.unit_id)
                .collect(),
            Self::Ids(ids) => {
                if let Some(&unit_id) = ids.iter().find(|&&id| id >= units.len() as u64) {
                    return Err(DatasetError::UnknownUnit {
                        unit_id,
                        units: units.len() as u64,
                    });
                }
                ids.clone()
            }
            Self::TopDensity(n) => {
                let mut by_density: Vec<&UnitOverview> = units.iter().collect();
                by_density.sort_by(|a, b| {
                    b.density
                        .unwrap_or(0.0)
                        .total_cmp(&a.density.unwrap_or(0.0))
                        .then(a.unit_id.cmp(&b.unit_id))
                });
                by_density.into_iter().take(*n).map(|u| u.unit_id).collect()
            }
            Self::Random(n) => {
                let mut all: Vec<u64> = units.iter().map(|u| u.unit_id).collect();
                all.shuffle(&mut rand::rngs::SmallRng::seed_from_u64(seed));
                all.truncate(*n);
                all
            }
        };
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::UnitKind;

    fn units() -> Vec<UnitOverview> {
        (0..10)
            .map(|i| UnitOverview {
                unit_id: i,
                layer: (i / 5) as u32,
                index: (i % 5) as u32,
                kind: UnitKind::Neuron,
                max: 1.0,
                density: Some(i as f64 / 10.0),
            })
            .collect()
    }

    #[test]
    fn selections() {
        let u = units();
        let pick = |s: &str| s.parse::<UnitSpec>().unwrap().select(&u, 1).unwrap();
        assert_eq!(pick("all").len(), 10);
        assert_eq!(pick("layers:1"), vec![5, 6, 7, 8, 9]);
        assert_eq!(pick("ids:1,3-4,3"), vec![1, 3, 4]);
        assert_eq!(pick("top-density:3"), vec![7, 8, 9]);
        let r = pick("random:4");
        assert_eq!(r.len(), 4);
        assert_eq!(r, pick("random:4"), "seeded");
        assert!("ids:12".parse::<UnitSpec>().unwrap().select(&u, 0).is_err());
        assert!("layer:1".parse::<UnitSpec>().is_err());
    }
}
