//! Building blocks shared by the architectures.
use super::weights::Weights;
use super::{ModelError, Result};
use tch::Tensor;

/// `y = x Wᵀ + b`, with W stored `[out, in]` as in PyTorch's nn.Linear.
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    pub fn load(w: &Weights, prefix: &str, d_in: i64, d_out: i64, bias: bool) -> Result<Self> {
        Ok(Self {
            weight: w.get(&format!("{prefix}.weight"), &[d_out, d_in])?,
            bias: if bias {
                Some(w.get(&format!("{prefix}.bias"), &[d_out])?)
            } else {
                None
            },
        })
    }

    /// A projection with a bias exactly when the checkpoint holds one.
    pub fn load_with_bias_if_present(
        w: &Weights,
        prefix: &str,
        d_in: i64,
        d_out: i64,
    ) -> Result<Self> {
        let bias = w.contains(&format!("{prefix}.bias"));
        Self::load(w, prefix, d_in, d_out, bias)
    }

    /// GPT-2's Conv1D stores the weight `[in, out]`; it is transposed once here.
    pub fn load_transposed(w: &Weights, prefix: &str, d_in: i64, d_out: i64) -> Result<Self> {
        Ok(Self {
            weight: w
                .get(&format!("{prefix}.weight"), &[d_in, d_out])?
                .tr()
                .contiguous(),
            bias: Some(w.get(&format!("{prefix}.bias"), &[d_out])?),
        })
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, self.bias.as_ref())
    }

    /// The weight, `[out, in]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
}

pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    pub fn load(w: &Weights, prefix: &str, d: i64, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: w.get(&format!("{prefix}.weight"), &[d])?,
            bias: w.get(&format!("{prefix}.bias"), &[d])?,
            eps,
        })
    }

    /// The per-channel scale (gamma).
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let d = self.weight.size()[0];
        x.layer_norm([d], Some(&self.weight), Some(&self.bias), self.eps, false)
    }
}

/// Scaled dot-product attention of queries `[batch, heads, seq, head_dim]`
/// over keys and values `[batch, kv_heads, keys, head_dim]` (grouped-query
/// attention when `kv_heads` divides `heads`: query head `h` reads key head
/// `h / (heads / kv_heads)`), with an additive mask broadcastable to
/// `[batch, 1, seq, keys]`: scores are `q·k * scale`, soft-capped
/// (`c·tanh(s/c)`) when `softcap` is given, then masked.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    additive_mask: &Tensor,
    scale: f64,
    softcap: Option<f64>,
) -> Tensor {
    let (batch, heads, seq, head_dim) = q.size4().expect("4-d queries");
    let kv_heads = k.size()[1];
    let group = heads / kv_heads;
    if softcap.is_none() {
        // libtorch's fused kernel, which need not materialise the scores
        // (transformers' default, "sdpa", too).
        return Tensor::scaled_dot_product_attention(
            q,
            k,
            v,
            Some(additive_mask),
            0.0,
            false,
            scale,
            group > 1,
        );
    }
    // The queries of a key head's group attend as one longer sequence, so
    // shared keys and values are read in place instead of copied per head.
    let (q, mask) = if group > 1 {
        let mask = additive_mask.unsqueeze(2);
        let mut size = mask.size();
        size[2] = group;
        let keys = size[4];
        (
            q.reshape([batch, kv_heads, group * seq, head_dim]),
            mask.expand(&size, false)
                .reshape([size[0], 1, group * seq, keys]),
        )
    } else {
        (q.shallow_clone(), additive_mask.shallow_clone())
    };
    let mut scores = q.matmul(&k.transpose(-1, -2)) * scale;
    if let Some(cap) = softcap {
        scores = (scores / cap).tanh() * cap;
    }
    let scores = scores + mask;
    scores
        .softmax(-1, scores.kind())
        .matmul(v)
        .reshape([batch, heads, seq, head_dim])
}

/// `[batch, seq, heads*head_dim]` → `[batch, heads, seq, head_dim]`.
pub fn split_heads(x: &Tensor, heads: i64) -> Tensor {
    let (b, s, d) = x.size3().expect("3-d activations");
    x.view([b, s, heads, d / heads]).transpose(1, 2)
}

/// The inverse of [`split_heads`].
pub fn merge_heads(x: &Tensor) -> Tensor {
    let (b, h, s, dh) = x.size4().expect("4-d activations");
    x.transpose(1, 2).contiguous().view([b, s, h * dh])
}

/// Collects the activations a forward pass was asked for, in the order
/// asked, and applies the patch (an intervention) if there is one.
pub struct Captures<'a> {
    hooks: &'a [super::HookPoint],
    found: Vec<Option<Tensor>>,
    patch: Option<super::Patch<'a>>,
}

impl<'a> Captures<'a> {
    pub fn new(hooks: &'a [super::HookPoint], layers: u32) -> Result<Self> {
        if let Some(bad) = hooks.iter().find(|h| h.layer >= layers) {
            return Err(super::ModelError::Hook {
                hook: bad.to_string(),
                problem: format!("the model has {layers} layers"),
            });
        }
        Ok(Self {
            hooks,
            found: hooks.iter().map(|_| None).collect(),
            patch: None,
        })
    }

    pub fn with_patch(mut self, patch: super::Patch<'a>) -> Self {
        self.patch = Some(patch);
        self
    }

    /// Records `t` where a hook asks for it, and returns what the forward
    /// pass goes on with: `t`, or its replacement at the patched hook.
    pub fn offer(&mut self, layer: u32, site: super::HookSite, t: &Tensor) -> Tensor {
        for (i, h) in self.hooks.iter().enumerate() {
            if h.layer == layer && h.site == site {
                self.found[i] = Some(t.shallow_clone());
            }
        }
        match &self.patch {
            Some(p) if p.hook.layer == layer && p.hook.site == site => (p.replace)(t),
            _ => t.shallow_clone(),
        }
    }

    /// Whether every hook asked for has been captured (and no patch is
    /// pending): the rest of the forward pass would be computed for nothing,
    /// so a capture-only pass stops here, even inside a block. Never true
    /// when no hook was asked for (a pass run for its logits).
    pub fn complete(&self) -> bool {
        !self.hooks.is_empty() && self.patch.is_none() && self.found.iter().all(Option::is_some)
    }

    /// The deepest layer asked for: later layers need not run.
    pub fn last_layer(&self) -> u32 {
        self.hooks.iter().map(|h| h.layer).max().unwrap_or(0)
    }

    pub fn finish(self) -> Vec<Tensor> {
        self.found
            .into_iter()
            .map(|t| t.expect("every hook visited"))
            .collect()
    }
}

/// BERT's "gelu" is the exact (erf) form; "gelu_new" the tanh approximation.
pub fn activation(name: &str, x: &Tensor) -> Result<Tensor> {
    match name {
        "gelu" => Ok(x.gelu("none")),
        "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(x.gelu("tanh")),
        "relu" => Ok(x.relu()),
        "silu" | "swish" => Ok(x.silu()),
        other => Err(ModelError::Hook {
            hook: "mlp".into(),
            problem: format!("unsupported activation function {other:?}"),
        }),
    }
}

/// Refuses inputs longer than the model's position table.
pub fn check_positions(config: &super::ModelConfig, seq: i64) -> Result<()> {
    if seq > config.max_positions {
        return Err(ModelError::Hook {
            hook: "input".into(),
            problem: format!(
                "{seq} tokens exceed the model's {} positions",
                config.max_positions
            ),
        });
    }
    Ok(())
}
