//! The statistics the experiments report, written to agree with scipy.
use crate::interp::score::score;

/// Ranks 1..=n, ties given the mean of the ranks they span
/// (`scipy.stats.rankdata`'s "average").
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Ranks start..end (0-based) share their mean, counted from 1.
        let mean = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = mean;
        }
        start = end;
    }
    ranks
}

/// Spearman's rank correlation (`scipy.stats.spearmanr`): the Pearson
/// correlation of the average ranks, computed as scores are; `None` when
/// either side is constant or there are fewer than two pairs.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    assert_eq!(x.len(), y.len(), "pairs");
    // Ranks are whole or half numbers, exact in f32 below 2^23 pairs.
    let ranks = |v: &[f64]| vec![average_ranks(v).iter().map(|&r| r as f32).collect()];
    score(&ranks(y), &ranks(x)).ok().and_then(|s| s.correlation)
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
}
