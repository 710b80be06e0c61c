//! One training step of each architecture: forward pass, loss and the
//! gradients, written out by hand instead of through autograd.
//!
//! Why by hand: autograd computes the gradient with respect to the input
//! `x − b_dec` as well (a full [batch, d_sae] × [d_sae, d_in] matmul), because
//! `b_dec` is a parameter; its gradient only needs the batch-summed vector,
//! so a step costs five large matmuls instead of six. TopK goes further: the
//! decoder, its gradients and the encoder's weight gradient touch only the k
//! active latents per token (embedding-bag and sparse products), leaving one
//! dense matmul per step. Every formula is checked against SAELens's
//! autograd gradients in tests/sae_reference.rs.
use tch::{Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// Cunningham et al.: c = ReLU(M x + b), x̂ = Mᵀ c, unit-norm rows of M,
    /// loss ‖x − x̂‖² + α‖c‖₁.
    Tied,
    /// SAELens's standard SAE: pre-encoder bias b_dec, L1 weighted by decoder row norms.
    Standard,
    /// TopK activation with the AuxK loss on dead latents (Gao et al. 2024).
    TopK,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tied => "tied",
            Self::Standard => "standard",
            Self::TopK => "topk",
        }
    }
}

/// The trained parameters. For `Tied`, `w_dec` is M, `w_enc` is unused (Mᵀ)
/// and `b_dec` stays zero.
pub struct Params {
    pub w_enc: Tensor,
    pub b_enc: Tensor,
    pub w_dec: Tensor,
    pub b_dec: Tensor,
}

impl Params {
    /// Names and tensors of what the optimiser updates, in a fixed order.
    pub fn trainable(&self, arch: Architecture) -> Vec<(&'static str, &Tensor)> {
        match arch {
            Architecture::Tied => vec![("W_dec", &self.w_dec), ("b_enc", &self.b_enc)],
            _ => vec![
                ("W_enc", &self.w_enc),
                ("b_enc", &self.b_enc),
                ("W_dec", &self.w_dec),
                ("b_dec", &self.b_dec),
            ],
        }
    }
}

/// Loss weights for one step.
#[derive(Debug, Clone, Copy)]
pub struct Coefficients {
    /// α of the L1 penalty (Tied, Standard), after warm-up.
    pub l1: f64,
    /// AuxK loss weight (TopK).
    pub aux: f64,
    pub k: i64,
}

pub struct StepOutput {
    /// Gradients in the order of `Params::trainable`.
    pub grads: Vec<Tensor>,
    pub mse: f64,
    pub sparsity: f64,
    pub aux: f64,
    /// x̂ − x.
    pub error: Tensor,
    /// Per latent: did it fire on any token of the batch.
    pub fired: Tensor,
    /// Per latent, tokens it fired on; computed only when asked (it costs a pass).
    pub fire_counts: Option<Tensor>,
}

pub fn step(
    arch: Architecture,
    p: &Params,
    x: &Tensor,
    coef: Coefficients,
    dead: Option<&Tensor>,
    count_fires: bool,
) -> StepOutput {
    match arch {
        Architecture::Tied => tied(p, x, coef, count_fires),
        Architecture::Standard => standard(p, x, coef, count_fires),
        Architecture::TopK => topk(p, x, coef, dead, count_fires),
    }
}

fn scalar(t: &Tensor) -> f64 {
    t.double_value(&[])
}

fn batch_size(x: &Tensor) -> f64 {
    x.size()[0] as f64
}

fn sum_rows(t: &Tensor) -> Tensor {
    t.sum_dim_intlist([0i64].as_slice(), false, Kind::Float)
}

fn relu_fire_counts(acts: &Tensor, count_fires: bool) -> Option<Tensor> {
    count_fires.then(|| {
        acts.gt(0.0)
            .sum_dim_intlist([0i64].as_slice(), false, Kind::Float)
    })
}

/// ReLU SAE whose encoder is the decoder's transpose.
fn tied(p: &Params, x: &Tensor, coef: Coefficients, count_fires: bool) -> StepOutput {
    let n = batch_size(x);
    let m = &p.w_dec;
    let acts = p.b_enc.addmm(x, &m.tr()).relu_();
    let error = acts.mm(m) - x;
    let mse = scalar(&error.square().sum(Kind::Float)) / n;
    let act_sum = sum_rows(&acts);
    let sparsity = coef.l1 * scalar(&act_sum.sum(Kind::Float)) / n;
    let g_out = &error * (2.0 / n);
    // ∂/∂c of α/n Σ c is α/n wherever c > 0.
    let g_acts = g_out.mm(&m.tr()) + coef.l1 / n;
    let g_hidden = acts.threshold_backward(&g_acts, 0.0);
    // M is both decoder (cᵀ g_out) and encoder (g_hiddenᵀ x).
    let g_m = acts.tr().mm(&g_out).addmm(&g_hidden.tr(), x);
    let g_b_enc = sum_rows(&g_hidden);
    StepOutput {
        grads: vec![g_m, g_b_enc],
        mse,
        sparsity,
        aux: 0.0,
        fired: act_sum.gt(0.0),
        fire_counts: relu_fire_counts(&acts, count_fires),
        error,
    }
}

/// SAELens's standard SAE: x' = x − b_dec, c = ReLU(x' W_enc + b_enc),
/// x̂ = c W_dec + b_dec, loss Σ‖x̂ − x‖²/n + α Σ c·‖W_dec‖/n.
fn standard(p: &Params, x: &Tensor, coef: Coefficients, count_fires: bool) -> StepOutput {
    let n = batch_size(x);
    let sae_in = x - &p.b_dec;
    let acts = p.b_enc.addmm(&sae_in, &p.w_enc).relu_();
    let error = p.b_dec.addmm(&acts, &p.w_dec) - x;
    let mse = scalar(&error.square().sum(Kind::Float)) / n;
    let norms = p.w_dec.norm_scalaropt_dim(2, [1i64].as_slice(), false);
    let act_sum = sum_rows(&acts);
    let sparsity = coef.l1 * scalar(&(&act_sum * &norms).sum(Kind::Float)) / n;
    let g_out = &error * (2.0 / n);
    let g_acts = (&norms * (coef.l1 / n)).addmm(&g_out, &p.w_dec.tr());
    let g_hidden = acts.threshold_backward(&g_acts, 0.0);
    let g_w_enc = sae_in.tr().mm(&g_hidden);
    let g_b_enc = sum_rows(&g_hidden);
    // The L1 term's pull on each decoder row: α/n Σ_b c_bj · W_j / ‖W_j‖.
    let row_scale = (&act_sum * (coef.l1 / n)) / norms.clamp_min(1e-8);
    let g_w_dec = acts
        .tr()
        .mm(&g_out)
        .addcmul(&row_scale.unsqueeze(1), &p.w_dec);
    // b_dec is added after decoding and subtracted before encoding.
    let g_b_dec = sum_rows(&g_out) - p.w_enc.mv(&g_b_enc);
    StepOutput {
        grads: vec![g_w_enc, g_b_enc, g_w_dec, g_b_dec],
        mse,
        sparsity,
        aux: 0.0,
        fired: act_sum.gt(0.0),
        fire_counts: relu_fire_counts(&acts, count_fires),
        error,
    }
}

/// Decoding of sparse codes: for each row b, Σ_j values[b, j] · W[indices[b, j]].
struct SparseDecode {
    indices: Tensor,
    offsets: Tensor,
    offset2bag: Tensor,
    values: Tensor,
    out: Tensor,
}

const EMBEDDING_BAG_SUM: i64 = 0;

impl SparseDecode {
    fn new(w: &Tensor, indices: &Tensor, values: &Tensor) -> Self {
        let (rows, k) = (indices.size()[0], indices.size()[1]);
        let indices = indices.reshape([-1]);
        let values = values.reshape([-1]);
        let offsets = Tensor::arange_start_step(0, rows * k, k, (Kind::Int64, w.device()));
        let (out, offset2bag, _, _) = Tensor::internal_embedding_bag(
            w,
            &indices,
            &offsets,
            false,
            EMBEDDING_BAG_SUM,
            false,
            Some(&values),
            false,
            -1,
        );
        Self {
            indices,
            offsets,
            offset2bag,
            values,
            out,
        }
    }

    /// ∂L/∂values given ∂L/∂out: the dot product of each row's gradient
    /// with the weight rows it used.
    fn values_grad(&self, w: &Tensor, g_out: &Tensor) -> Tensor {
        Tensor::internal_embedding_bag_per_sample_weights_backward(
            g_out,
            w,
            &self.indices,
            &self.offsets,
            &self.offset2bag,
            EMBEDDING_BAG_SUM,
            -1,
        )
    }

    /// ∂L/∂W given ∂L/∂out: Σ over uses of row j of value · g_out[b], as a
    /// sparse [d_sae, rows] × dense [rows, d_in] product.
    fn weight_grad(&self, g_out: &Tensor, d_sae: i64) -> Tensor {
        sparse_transpose_mm(&self.indices, &self.values, g_out, d_sae)
    }
}

/// Sᵀ · dense, where S [rows, d_sae] holds `values` at column `indices`
/// (k per row, flattened row-major).
fn sparse_transpose_mm(indices: &Tensor, values: &Tensor, dense: &Tensor, d_sae: i64) -> Tensor {
    let rows = dense.size()[0];
    let k = indices.size()[0] / rows.max(1);
    let row_of = Tensor::arange(rows, (Kind::Int64, dense.device())).repeat_interleave_self_int(
        k,
        None::<i64>,
        None::<i64>,
    );
    let coo = Tensor::stack(&[indices, &row_of], 0);
    let sparse = Tensor::sparse_coo_tensor_indices_size(
        &coo,
        values,
        [d_sae, rows],
        (Kind::Float, dense.device()),
        false,
    );
    sparse.mm(dense)
}

/// TopK SAE with AuxK: the top k pre-activations (through a ReLU) decode
/// x̂; when latents are dead, the top k_aux = d_in/2 of the dead ones
/// reconstruct the residual x − x̂, weighted by min(dead/k_aux, 1).
fn topk(
    p: &Params,
    x: &Tensor,
    coef: Coefficients,
    dead: Option<&Tensor>,
    count_fires: bool,
) -> StepOutput {
    let n = batch_size(x);
    let (d_in, d_sae) = (p.w_enc.size()[0], p.w_enc.size()[1]);
    let sae_in = x - &p.b_dec;
    let hidden = p.b_enc.addmm(&sae_in, &p.w_enc);
    let (top_values, top_indices) = hidden.topk(coef.k.min(d_sae), -1, true, false);
    let values = top_values.relu();
    let decode = SparseDecode::new(&p.w_dec, &top_indices, &values);
    let error = &decode.out + &p.b_dec - x;
    let mse = scalar(&error.square().sum(Kind::Float)) / n;
    let g_out = &error * (2.0 / n);

    // Gradients of the pre-activations are sparse: per token, (latent, value)
    // pairs from the top k and, when latents are dead, from the AuxK selection.
    let g_top = decode
        .values
        .threshold_backward(&decode.values_grad(&p.w_dec, &g_out), 0.0);
    let mut g_w_dec = decode.weight_grad(&g_out, d_sae);
    let mut sparse_grads = vec![(decode.indices.shallow_clone(), g_top)];

    let mut aux = 0.0;
    let dead_ids = dead.map(|d| d.nonzero().reshape([-1]));
    if let Some(dead_ids) = dead_ids.filter(|ids| ids.size()[0] > 0) {
        let num_dead = dead_ids.size()[0];
        let k_aux = (d_in / 2).max(1);
        let scale = (num_dead as f64 / k_aux as f64).min(1.0);
        let k_aux = k_aux.min(num_dead);
        let (aux_values, local) = hidden
            .index_select(1, &dead_ids)
            .topk(k_aux, -1, true, false);
        let aux_indices = dead_ids
            .index_select(0, &local.reshape([-1]))
            .reshape([-1, k_aux]);
        let aux_decode = SparseDecode::new(&p.w_dec, &aux_indices, &aux_values);
        // The residual is a constant here: x − x̂ = −error.
        let aux_error = &aux_decode.out + &error;
        aux = coef.aux * scale * scalar(&aux_error.square().sum(Kind::Float)) / n;
        let g_aux_out = aux_error * (2.0 * coef.aux * scale / n);
        g_w_dec += aux_decode.weight_grad(&g_aux_out, d_sae);
        let g_aux = aux_decode.values_grad(&p.w_dec, &g_aux_out);
        sparse_grads.push((aux_decode.indices, g_aux));
    }

    let mut g_w_enc_t = Tensor::zeros([d_sae, d_in], (Kind::Float, x.device()));
    let mut g_b_enc = Tensor::zeros([d_sae], (Kind::Float, x.device()));
    for (indices, values) in &sparse_grads {
        g_w_enc_t += sparse_transpose_mm(indices, values, &sae_in, d_sae);
        g_b_enc = g_b_enc.index_add(0, indices, values);
    }
    let g_w_enc = g_w_enc_t.tr().contiguous();
    let g_b_dec = sum_rows(&g_out) - p.w_enc.mv(&g_b_enc);

    let fired_counts = Tensor::zeros([d_sae], (Kind::Float, x.device())).index_add(
        0,
        &decode.indices,
        &decode.values.gt(0.0).to_kind(Kind::Float),
    );
    StepOutput {
        grads: vec![g_w_enc, g_b_enc, g_w_dec, g_b_dec],
        mse,
        sparsity: 0.0,
        aux,
        fired: fired_counts.gt(0.0),
        fire_counts: count_fires.then_some(fired_counts),
        error,
    }
}
