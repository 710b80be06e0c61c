//! Scoring a simulation: the Pearson correlation between simulated and real
//! activations over all tokens of all scored records together (not a mean of
//! per-record correlations), and, after a least-squares linear calibration of
//! the simulation onto the real activations, r² and the absolute deviation
//! explained. Undefined values are `None`, never NaN.

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Scores {
    /// Correlation; `None` when either side is constant (or fewer than 2 tokens).
    pub correlation: Option<f64>,
    /// 1 − SS_res / SS_tot of the calibrated simulation.
    pub r_squared: Option<f64>,
    /// 1 − mean |real − calibrated| / mean |real|.
    pub absolute_dev_explained: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScoreError {
    #[error("{simulated} simulated records for {real} real ones")]
    RecordCount { real: usize, simulated: usize },
    #[error("record {record}: {simulated} simulated activations for {real} tokens")]
    TokenCount {
        record: usize,
        real: usize,
        simulated: usize,
    },
    #[error("record {record}, token {token}: {value} is not a finite number")]
    NotFinite {
        record: usize,
        token: usize,
        value: f32,
    },
}

fn flatten(real: &[Vec<f32>], simulated: &[Vec<f32>]) -> Result<(Vec<f64>, Vec<f64>), ScoreError> {
    if real.len() != simulated.len() {
        return Err(ScoreError::RecordCount {
            real: real.len(),
            simulated: simulated.len(),
        });
    }
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (record, (r, s)) in real.iter().zip(simulated).enumerate() {
        if r.len() != s.len() {
            return Err(ScoreError::TokenCount {
                record,
                real: r.len(),
                simulated: s.len(),
            });
        }
        for (token, (&a, &b)) in r.iter().zip(s).enumerate() {
            if let Some(value) = [a, b].into_iter().find(|v| !v.is_finite()) {
                return Err(ScoreError::NotFinite {
                    record,
                    token,
                    value,
                });
            }
            x.push(b as f64);
            y.push(a as f64);
        }
    }
    Ok((x, y))
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Scores `simulated` against `real`, record by record, token by token.
pub fn score(real: &[Vec<f32>], simulated: &[Vec<f32>]) -> Result<Scores, ScoreError> {
    let (sim, act) = flatten(real, simulated)?;
    let undefined = Scores {
        correlation: None,
        r_squared: None,
        absolute_dev_explained: None,
    };
    if sim.len() < 2 {
        return Ok(undefined);
    }
    let (mx, my) = (mean(&sim), mean(&act));
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for (&x, &y) in sim.iter().zip(&act) {
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
        sxy += (x - mx) * (y - my);
    }
    // Relative thresholds: a constant up to rounding is constant.
    let constant =
        |ss: f64, m: f64, n: usize| ss <= f64::EPSILON * (m * m * n as f64).max(f64::MIN_POSITIVE);
    let sim_constant = constant(sxx, mx, sim.len());
    let real_constant = constant(syy, my, act.len());
    let correlation =
        (!sim_constant && !real_constant).then(|| (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0));
    // Calibration: real ≈ slope · simulated + intercept (a constant simulation
    // calibrates to the mean of the real activations).
    let slope = if sim_constant { 0.0 } else { sxy / sxx };
    let intercept = my - slope * mx;
    let calibrated = sim.iter().map(|&x| slope * x + intercept);
    let (mut ss_res, mut abs_dev) = (0.0, 0.0);
    for (c, &y) in calibrated.zip(&act) {
        ss_res += (y - c) * (y - c);
        abs_dev += (y - c).abs();
    }
    let mean_abs_real = act.iter().map(|y| y.abs()).sum::<f64>();
    Ok(Scores {
        correlation,
        r_squared: (!real_constant).then(|| 1.0 - ss_res / syy),
        absolute_dev_explained: (mean_abs_real > 0.0).then(|| 1.0 - abs_dev / mean_abs_real),
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_linear_simulation_scores_one() {
        let real = vec![vec![0.0, 1.0, 4.0], vec![2.0]];
        let sim = vec![vec![1.0, 1.5, 3.0], vec![2.0]];
        let s = score(&real, &sim).unwrap();
        assert!((s.correlation.unwrap() - 1.0).abs() < 1e-12);
        assert!((s.r_squared.unwrap() - 1.0).abs() < 1e-12);
        assert!((s.absolute_dev_explained.unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_constant_simulation_is_undefined_not_nan() {
        let real = vec![vec![0.0, 1.0, 4.0]];
        let s = score(&real, &[vec![3.0, 3.0, 3.0]]).unwrap();
        assert_eq!(s.correlation, None);
        assert_eq!(s.r_squared, Some(0.0), "the mean predicts nothing");
        let zero = score(&[vec![0.0, 0.0]], &[vec![0.0, 5.0]]).unwrap();
        assert_eq!(
            (
                zero.correlation,
                zero.r_squared,
                zero.absolute_dev_explained
            ),
            (None, None, None)
        );
    }

    #[test]
    fn mismatched_shapes_and_nan_are_errors() {
        assert_eq!(
            score(&[vec![1.0]], &[]),
            Err(ScoreError::RecordCount {
                real: 1,
                simulated: 0
            })
        );
        assert_eq!(
            score(&[vec![1.0, 2.0]], &[vec![1.0]]),
            Err(ScoreError::TokenCount {
                record: 0,
                real: 2,
                simulated: 1
            })
        );
        assert!(matches!(
            score(&[vec![1.0, 2.0]], &[vec![1.0, f32::NAN]]),
            Err(ScoreError::NotFinite {
                record: 0,
                token: 1,
                ..
            })
        ));
    }
}
