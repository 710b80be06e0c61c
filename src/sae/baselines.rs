//! The baselines Cunningham et al. compare SAE features against, as linear
//! dictionaries: the neuron basis (identity), random unit directions, PCA and
//! ICA (FastICA). PCA and ICA centre their input on the data mean (saved as
//! `b_dec`, subtracted before encoding); each component's sign is chosen so
//! that its projections are skewed positive, so a unit's top activations are
//! the tail of the distribution rather than an arbitrary side of it.
use super::dictionary::{Activation, Dictionary};
use super::{Result, SaeError};
use crate::dataset::UnitKind;
use tch::{Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    Neuron,
    Random,
    Pca,
    Ica,
}

impl Baseline {
    pub fn kind(self) -> UnitKind {
        match self {
            Self::Neuron => UnitKind::Neuron,
            Self::Random => UnitKind::Random,
            Self::Pca => UnitKind::Pca,
            Self::Ica => UnitKind::Ica,
        }
    }
}

impl std::str::FromStr for Baseline {
    type Err = crate::names::UnknownName;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "neuron" | "identity" => Ok(Self::Neuron),
            "random" => Ok(Self::Random),
            "pca" => Ok(Self::Pca),
            "ica" => Ok(Self::Ica),
            other => Err(crate::names::UnknownName::new(
                "baseline",
                other,
                "neuron, random, pca or ica",
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct BaselineOptions {
    /// Components (PCA, ICA) or directions (random); at most d_in for PCA and ICA.
    pub components: Option<i64>,
    pub seed: u64,
    pub ica_max_iter: usize,
    pub ica_tolerance: f64,
}

impl Default for BaselineOptions {
    fn default() -> Self {
        Self {
            components: None,
            seed: 0,
            ica_max_iter: 400,
            ica_tolerance: 1e-5,
        }
    }
}

/// Fits `baseline` on `data` [rows, d_in] (rows are tokens).
pub fn fit(baseline: Baseline, data: &Tensor, options: &BaselineOptions) -> Result<Dictionary> {
    let data = data.to_kind(Kind::Double);
    let (rows, d_in) = (data.size()[0], data.size()[1]);
    if !bool::try_from(data.isfinite().all())? {
        return Err(SaeError::Input {
            what: "baseline data".into(),
            problem: "it holds NaN or infinite values".into(),
        });
    }
    let components = options.components.unwrap_or(d_in);
    let limit = match baseline {
        Baseline::Pca | Baseline::Ica => d_in,
        Baseline::Neuron => d_in,
        Baseline::Random => i64::MAX,
    };
    if components < 1 || components > limit {
        return Err(SaeError::Input {
            what: "--components".into(),
            problem: format!("{components} is out of range 1..={d_in}"),
        });
    }
    if matches!(baseline, Baseline::Pca | Baseline::Ica) && rows < 2 {
        return Err(SaeError::Input {
            what: "baseline data".into(),
            problem: "PCA and ICA need at least two tokens".into(),
        });
    }
    let float = |t: Tensor| t.to_kind(Kind::Float).contiguous();
    let dictionary = match baseline {
        Baseline::Neuron => {
            let eye = Tensor::eye(d_in, (Kind::Float, data.device()));
            Dictionary::new(UnitKind::Neuron, Activation::Linear, eye.copy(), eye)
        }
        Baseline::Random => {
            tch::manual_seed(options.seed as i64);
            let directions = Tensor::randn([components, d_in], (Kind::Double, data.device()));
            let directions =
                &directions / directions.norm_scalaropt_dim(2, [1i64].as_slice(), true);
            Dictionary::new(
                UnitKind::Random,
                Activation::Linear,
                float(directions.tr()),
                float(directions),
            )
        }
        Baseline::Pca | Baseline::Ica => {
            let mean = data.mean_dim([0i64].as_slice(), true, Kind::Double);
            let centred = &data - &mean;
            let (encoder, decoder) = if baseline == Baseline::Pca {
                let v = principal_axes(&centred, components);
                (v.copy(), v.tr())
            } else {
                fast_ica(&centred, options.components, options)?
            };
            let (encoder, decoder) = positive_skew(&centred, encoder, decoder);
            let mut d = Dictionary::new(
                baseline.kind(),
                Activation::Linear,
                float(encoder),
                float(decoder),
            );
            d.b_dec = float(mean.squeeze_dim(0));
            d.apply_b_dec_to_input = true;
            d
        }
    };
    Ok(dictionary)
}

/// Covariance eigenvectors [d_in, n] (columns), largest variance first.
fn principal_axes(centred: &Tensor, n: i64) -> Tensor {
    let rows = centred.size()[0] as f64;
    let covariance = centred.tr().mm(centred) / (rows - 1.0);
    let (values, vectors) = covariance.linalg_eigh("L");
    let order = values.argsort(0, true).narrow(0, 0, n);
    vectors.index_select(1, &order)
}

/// Flips components whose projections are skewed negative.
fn positive_skew(centred: &Tensor, encoder: Tensor, decoder: Tensor) -> (Tensor, Tensor) {
    let projections = centred.mm(&encoder);
    let skew = projections
        .pow_tensor_scalar(3)
        .mean_dim([0i64].as_slice(), false, Kind::Double);
    let sign = skew.sign() + skew.eq(0.0).to_kind(Kind::Double);
    (&encoder * &sign, decoder * sign.unsqueeze(1))
}

/// FastICA (symmetric, logcosh contrast) on whitened data. Returns the
/// unmixing matrix as an encoder [d_in, n] and the mixing matrix as a
/// decoder [n, d_in].
///
/// Without a component count, it uses every direction whose variance is
/// above 1e-6 of the largest: a LayerNorm's output, for one, has a direction
/// of exactly zero variance, and whitening cannot scale it up.
fn fast_ica(
    centred: &Tensor,
    components: Option<i64>,
    options: &BaselineOptions,
) -> Result<(Tensor, Tensor)> {
    let rows = centred.size()[0] as f64;
    let covariance = centred.tr().mm(centred) / (rows - 1.0);
    let (values, vectors) = covariance.linalg_eigh("L");
    let floor = values.max().double_value(&[]) * 1e-6;
    let usable = values.gt(floor).sum(Kind::Int64).int64_value(&[]);
    let n = components.unwrap_or(usable);
    if n > usable {
        return Err(SaeError::Input {
            what: "ICA".into(),
            problem: format!(
                "the data has {usable} directions of non-negligible variance, fewer than \
                 the {n} components asked for"
            ),
        });
    }
    let order = values.argsort(0, true).narrow(0, 0, n);
    let values = values.index_select(0, &order);
    let vectors = vectors.index_select(1, &order);
    // Whitening K [n, d_in]: z = K x has identity covariance.
    let whiten = (vectors.tr()) / values.sqrt().unsqueeze(1);
    // The fixed-point iterations run in float32: whitened data is well
    // conditioned, and they are the costly part (two [rows, n] × [n, n]
    // products each). The decorrelation stays in float64.
    let z = centred.mm(&whiten.tr()).to_kind(Kind::Float);
    tch::manual_seed(options.seed as i64);
    let mut w = symmetric_decorrelation(&Tensor::randn([n, n], (Kind::Double, centred.device())));
    for _ in 0..options.ica_max_iter {
        let y = z.mm(&w.to_kind(Kind::Float).tr());
        let g = y.tanh();
        let g_prime: Tensor = 1.0 - g.square();
        let w_new = g.tr().mm(&z).to_kind(Kind::Double) / rows
            - g_prime
                .mean_dim([0i64].as_slice(), false, Kind::Double)
                .unsqueeze(1)
                * &w;
        let w_new = symmetric_decorrelation(&w_new);
        let change = (w_new.mm(&w.tr()).diagonal(0, 0, 1).abs() - 1.0)
            .abs()
            .max()
            .double_value(&[]);
        w = w_new;
        if change < options.ica_tolerance {
            break;
        }
    }
    let unmixing = w.mm(&whiten); // [n, d_in]
    // W is orthogonal, so the mixing matrix is the whitening's inverse times Wᵀ.
    let mixing = (&vectors * values.sqrt().unsqueeze(0)).mm(&w.tr()); // [d_in, n]
    Ok((unmixing.tr(), mixing.tr()))
}

/// (W Wᵀ)^(-1/2) W.
fn symmetric_decorrelation(w: &Tensor) -> Tensor {
    let (values, vectors) = w.mm(&w.tr()).linalg_eigh("L");
    let inv_sqrt = values.clamp_min(1e-12).rsqrt();
    (&vectors * inv_sqrt.unsqueeze(0)).mm(&vectors.tr()).mm(w)
}
