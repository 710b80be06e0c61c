//! Adam (the update of torch.optim.Adam, step for step), gradient clipping
//! by global norm, and the learning-rate and L1 schedules.
use tch::Tensor;

pub struct Adam {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Steps taken so far.
    pub steps: u64,
    /// First and second moments, one pair per parameter.
    pub moments: Vec<(Tensor, Tensor)>,
}

impl Adam {
    pub fn new(params: &[&Tensor], beta1: f64, beta2: f64) -> Self {
        Self {
            beta1,
            beta2,
            eps: 1e-8,
            steps: 0,
            moments: params
                .iter()
                .map(|p| (p.zeros_like(), p.zeros_like()))
                .collect(),
        }
    }

    /// Updates `params` in place from `grads`.
    pub fn step(&mut self, params: &[&Tensor], grads: &[Tensor], lr: f64) {
        self.steps += 1;
        let t = self.steps as i32;
        let bias1 = 1.0 - self.beta1.powi(t);
        let bias2_sqrt = (1.0 - self.beta2.powi(t)).sqrt();
        for ((param, grad), (m, v)) in params.iter().zip(grads).zip(&mut self.moments) {
            let _ = m.lerp_(grad, 1.0 - self.beta1);
            let _ = v.g_mul_scalar_(self.beta2);
            let _ = v.addcmul_(&(grad * (1.0 - self.beta2)), grad);
            let denom = v.sqrt() / bias2_sqrt + self.eps;
            let mut param = param.shallow_clone();
            let _ = param.addcdiv_(&(&*m * (-lr / bias1)), &denom);
        }
    }
}

/// Scales `grads` so that their joint L2 norm is at most `max_norm`, as
/// torch.nn.utils.clip_grad_norm_ does; returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut [Tensor], max_norm: f64) -> f64 {
    let total: f64 = grads
        .iter()
        .map(|g| g.square().sum(tch::Kind::Float).double_value(&[]))
        .sum::<f64>()
        .sqrt();
    let coef = (max_norm / (total + 1e-6)).min(1.0);
    if coef < 1.0 {
        for g in grads.iter_mut() {
            let _ = g.g_mul_scalar_(coef);
        }
    }
    total
}

/// Learning rate at `step` (0-based): linear warm-up from lr/warm_up, then
/// constant, then a linear decay to zero over the last `decay` steps.
pub fn learning_rate(lr: f64, step: u64, total: u64, warm_up: u64, decay: u64) -> f64 {
    let warm = if warm_up > 0 && step < warm_up {
        (step + 1) as f64 / warm_up as f64
    } else {
        1.0
    };
    let decay_start = total.saturating_sub(decay);
    let cool = if decay > 0 && step >= decay_start {
        1.0 - (step - decay_start) as f64 / decay as f64
    } else {
        1.0
    };
    lr * warm * cool
}

/// The L1 coefficient at `step`: 0 at step 0, rising linearly to `alpha` at
/// `warm_up` (SAELens's coefficient scheduler).
pub fn l1_coefficient(alpha: f64, step: u64, warm_up: u64) -> f64 {
    if warm_up == 0 || step >= warm_up {
        alpha
    } else {
        alpha * step as f64 / warm_up as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_warm_up_hold_and_decay() {
        assert_eq!(learning_rate(1.0, 0, 100, 10, 0), 0.1);
        assert_eq!(learning_rate(1.0, 9, 100, 10, 0), 1.0);
        assert_eq!(learning_rate(1.0, 50, 100, 10, 20), 1.0);
        assert_eq!(learning_rate(1.0, 80, 100, 10, 20), 1.0);
        assert_eq!(learning_rate(1.0, 90, 100, 10, 20), 0.5);
        assert_eq!(l1_coefficient(4.0, 0, 4), 0.0);
        assert_eq!(l1_coefficient(4.0, 2, 4), 2.0);
        assert_eq!(l1_coefficient(4.0, 9, 4), 4.0);
    }

    #[test]
    fn clipping_caps_the_joint_norm() {
        let mut grads = vec![Tensor::from_slice(&[3.0f32]), Tensor::from_slice(&[4.0f32])];
        let before = clip_grad_norm(&mut grads, 1.0);
        assert!((before - 5.0).abs() < 1e-6);
        let after: f64 = grads
            .iter()
            .map(|g| g.double_value(&[0]).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((after - 1.0).abs() < 1e-5, "{after}");
    }
}
