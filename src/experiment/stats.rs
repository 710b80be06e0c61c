//! The statistics the experiments report, written to agree with scipy.
use crate::interp::score::{average_ranks, score};
use rand::{RngExt, SeedableRng};

/// Spearman's rank correlation (`scipy.stats.spearmanr`): the Pearson
/// correlation of the average ranks, computed as scores are; `None` when
/// either side is constant or there are fewer than two pairs.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    assert_eq!(x.len(), y.len(), "pairs");
    // Ranks are whole or half numbers, exact in f32 below 2^23 pairs.
    let ranks = |v: &[f64]| vec![average_ranks(v).iter().map(|&r| r as f32).collect()];
    score(&ranks(y), &ranks(x)).ok().and_then(|s| s.correlation)
}

/// The mean of `values`; `None` when there are none.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The `q`-quantile (0..=1) of ascending `sorted` values (at least one),
/// interpolated linearly between neighbours (`numpy.percentile`'s default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    sorted[below] + (sorted[above] - sorted[below]) * (position - below as f64)
}

/// The percentile bootstrap confidence interval of the mean at `level`
/// (0.95 for 95%): the mean of each of `resamples` resamples with
/// replacement, seeded, and the two tail quantiles of those means, as
/// `scipy.stats.bootstrap(method="percentile")` gives them. `None` when
/// there are no values.
pub fn bootstrap_mean_interval(
    values: &[f64],
    resamples: usize,
    level: f64,
    seed: u64,
) -> Option<(f64, f64)> {
    if values.is_empty() || resamples == 0 {
        return None;
    }
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let n = values.len();
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some((quantile(&means, tail), quantile(&means, 1.0 - tail)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_share_their_mean_rank() {
        assert_eq!(
            average_ranks(&[3.0, 1.0, 3.0, 2.0, 3.0]),
            vec![4.0, 1.0, 4.0, 2.0, 4.0]
        );
    }

    #[test]
    fn a_monotone_relation_has_rank_correlation_one() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = [0.1, 5.0, 7.0, 100.0];
        assert!((spearman(&x, &y).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(spearman(&x, &[2.0; 4]), None);
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 4.0, 8.0];
        // numpy.percentile([1, 2, 4, 8], [0, 25, 50, 97.5]) = 1, 1.75, 3, 7.7
        for (q, want) in [(0.0, 1.0), (0.25, 1.75), (0.5, 3.0), (0.975, 7.7)] {
            assert!((quantile(&v, q) - want).abs() < 1e-12, "{q}");
        }
    }

    #[test]
    fn a_constant_sample_has_a_point_interval_and_an_empty_one_none() {
        assert_eq!(
            bootstrap_mean_interval(&[0.5; 7], 100, 0.95, 0),
            Some((0.5, 0.5))
        );
        assert_eq!(bootstrap_mean_interval(&[], 100, 0.95, 0), None);
    }
}
