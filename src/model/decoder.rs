//! Causal decoders: GPT-2, GPT-NeoX (Pythia) and the Llama family (Llama,
//! Mistral, Qwen2, Gemma 1 to 3). They share one block structure, pre-norm
//! attention and MLP, and differ in the parts chosen when loading: norm kind,
//! how q/k/v are stored, positions (learned or rotary, one base or two),
//! residual wiring (parallel, sandwich norms), QK-norm, sliding windows,
//! soft-capping and MLP gating.
use super::config::{Rope, RopeScaling};
use super::layers::{
    Captures, LayerNorm, Linear, activation, attention, check_positions, merge_heads, split_heads,
};
use super::weights::Weights;
use super::{Architecture, HookPoint, HookSite, ModelConfig, Patch, Result, SubjectModel};
use tch::{Device, Kind, Tensor};

enum Norm {
    Layer(LayerNorm),
    /// RMSNorm: `x / rms(x) * (offset + w)`; Gemma's offset is 1.
    Rms {
        weight: Tensor,
        eps: f64,
        offset: f64,
    },
}

impl Norm {
    fn load(w: &Weights, arch: Architecture, prefix: &str, d: i64, eps: f64) -> Result<Self> {
        Ok(match arch {
            Architecture::Llama | Architecture::Gemma => Norm::Rms {
                weight: w.get(&format!("{prefix}.weight"), &[d])?,
                eps,
                offset: if arch == Architecture::Gemma {
                    1.0
                } else {
                    0.0
                },
            },
            _ => Norm::Layer(LayerNorm::load(w, prefix, d, eps)?),
        })
    }

    /// What the norm multiplies each channel by after normalising: a
    /// direction's path through it, the normalisation itself aside.
    fn scale(&self) -> Tensor {
        match self {
            Norm::Layer(norm) => norm.weight().shallow_clone(),
            Norm::Rms { weight, offset, .. } => weight + *offset,
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            Norm::Layer(norm) => norm.forward(x),
            Norm::Rms {
                weight,
                eps,
                offset,
            } => {
                let rms = (x.pow_tensor_scalar(2).mean_dim(-1, true, Kind::Float) + *eps).rsqrt();
                x * rms * (weight + *offset)
            }
        }
    }
}

/// How the query, key and value projections are stored.
enum Qkv {
    /// One projection whose output is `[q | k | v]` (GPT-2).
    Concatenated(Linear),
    /// One projection whose output interleaves q, k, v per head (GPT-NeoX).
    PerHead(Linear),
    Separate {
        q: Linear,
        k: Linear,
        v: Linear,
    },
}

enum Mlp {
    Plain {
        up: Linear,
        down: Linear,
    },
    Gated {
        gate: Linear,
        up: Linear,
        down: Linear,
    },
}

struct Block {
    attn_norm: Norm,
    mlp_norm: Norm,
    /// Sandwich norms (Gemma 2 and 3): each sublayer's output is normalised
    /// before it is added to the residual stream.
    attn_out_norm: Option<Norm>,
    mlp_out_norm: Option<Norm>,
    /// QK-norm (Gemma 3): per-head RMSNorm of queries and keys.
    qk_norm: Option<(Norm, Norm)>,
    qkv: Qkv,
    attn_out: Linear,
    mlp: Mlp,
}

pub struct Decoder {
    config: ModelConfig,
    embed: Tensor,
    /// Learned absolute positions (GPT-2); the others use rotary embeddings.
    positions: Option<Tensor>,
    embed_scale: f64,
    blocks: Vec<Block>,
    /// The final norm and the unembedding [vocab, d], when the checkpoint
    /// has them (a causal LM does; a bare base model may not).
    head: Option<(Norm, Tensor)>,
    /// A float16 copy of the unembedding, made on first use by
    /// [`Decoder::screened_logits`].
    head_half: std::cell::OnceCell<Tensor>,
}

/// The weight-name prefix of the base model (checkpoints of causal LMs wrap it).
fn base_prefix(w: &Weights, embedding: &str) -> &'static str {
    ["", "transformer.", "gpt_neox.", "model."]
        .into_iter()
        .find(|p| w.contains(&format!("{p}{embedding}")))
        .unwrap_or("")
}

impl Decoder {
    pub fn new(config: ModelConfig, w: &Weights) -> Result<Self> {
        let arch = config.architecture;
        let (d, ff, eps) = (
            config.hidden_size,
            config.intermediate_size,
            config.norm_eps,
        );
        let (q_width, kv_width) = (
            config.num_heads * config.head_dim,
            config.num_kv_heads * config.head_dim,
        );
        let embed_name = match arch {
            Architecture::Gpt2 => "wte.weight",
            Architecture::GptNeox => "embed_in.weight",
            _ => "embed_tokens.weight",
        };
        let p = base_prefix(w, embed_name);
        // NeoX and the Llama family name a block's norms alike.
        let norm =
            |block: &str, name: &str| Norm::load(w, arch, &format!("{block}.{name}"), d, eps);
        let block = |i: u32| -> Result<Block> {
            Ok(match arch {
                Architecture::Gpt2 => {
                    let b = format!("{p}h.{i}");
                    Block {
                        attn_norm: Norm::load(w, arch, &format!("{b}.ln_1"), d, eps)?,
                        mlp_norm: Norm::load(w, arch, &format!("{b}.ln_2"), d, eps)?,
                        qkv: Qkv::Concatenated(Linear::load_transposed(
                            w,
                            &format!("{b}.attn.c_attn"),
                            d,
                            3 * d,
                        )?),
                        attn_out: Linear::load_transposed(w, &format!("{b}.attn.c_proj"), d, d)?,
                        mlp: Mlp::Plain {
                            up: Linear::load_transposed(w, &format!("{b}.mlp.c_fc"), d, ff)?,
                            down: Linear::load_transposed(w, &format!("{b}.mlp.c_proj"), ff, d)?,
                        },
                        attn_out_norm: None,
                        mlp_out_norm: None,
                        qk_norm: None,
                    }
                }
                Architecture::GptNeox => {
                    let b = format!("{p}layers.{i}");
                    Block {
                        attn_norm: norm(&b, "input_layernorm")?,
                        mlp_norm: norm(&b, "post_attention_layernorm")?,
                        qkv: Qkv::PerHead(Linear::load(
                            w,
                            &format!("{b}.attention.query_key_value"),
                            d,
                            3 * d,
                            true,
                        )?),
                        attn_out: Linear::load(w, &format!("{b}.attention.dense"), d, d, true)?,
                        mlp: Mlp::Plain {
                            up: Linear::load(w, &format!("{b}.mlp.dense_h_to_4h"), d, ff, true)?,
                            down: Linear::load(w, &format!("{b}.mlp.dense_4h_to_h"), ff, d, true)?,
                        },
                        attn_out_norm: None,
                        mlp_out_norm: None,
                        qk_norm: None,
                    }
                }
                Architecture::Llama | Architecture::Gemma => {
                    let b = format!("{p}layers.{i}");
                    let a = format!("{b}.self_attn");
                    // Biases where the checkpoint has them: Qwen2 on q/k/v,
                    // Llama with `attention_bias` or `mlp_bias` on more.
                    let linear = |name: &str, d_in, d_out| {
                        Linear::load_with_bias_if_present(w, name, d_in, d_out)
                    };
                    let head_norm = |name: &str| {
                        Norm::load(w, arch, &format!("{a}.{name}"), config.head_dim, eps)
                    };
                    let sandwich = config.sandwich_norms;
                    Block {
                        attn_norm: norm(&b, "input_layernorm")?,
                        mlp_norm: norm(
                            &b,
                            if sandwich {
                                "pre_feedforward_layernorm"
                            } else {
                                "post_attention_layernorm"
                            },
                        )?,
                        attn_out_norm: sandwich
                            .then(|| norm(&b, "post_attention_layernorm"))
                            .transpose()?,
                        mlp_out_norm: sandwich
                            .then(|| norm(&b, "post_feedforward_layernorm"))
                            .transpose()?,
                        qk_norm: config
                            .qk_norm
                            .then(|| {
                                Ok::<_, super::ModelError>((
                                    head_norm("q_norm")?,
                                    head_norm("k_norm")?,
                                ))
                            })
                            .transpose()?,
                        qkv: Qkv::Separate {
                            q: linear(&format!("{a}.q_proj"), d, q_width)?,
                            k: linear(&format!("{a}.k_proj"), d, kv_width)?,
                            v: linear(&format!("{a}.v_proj"), d, kv_width)?,
                        },
                        attn_out: linear(&format!("{a}.o_proj"), q_width, d)?,
                        mlp: Mlp::Gated {
                            gate: linear(&format!("{b}.mlp.gate_proj"), d, ff)?,
                            up: linear(&format!("{b}.mlp.up_proj"), d, ff)?,
                            down: linear(&format!("{b}.mlp.down_proj"), ff, d)?,
                        },
                    }
                }
                Architecture::Bert => unreachable!("BERT is not a decoder"),
            })
        };
        let final_norm = match arch {
            Architecture::Gpt2 => format!("{p}ln_f"),
            Architecture::GptNeox => format!("{p}final_layer_norm"),
            _ => format!("{p}norm"),
        };
        let embed = w.get(&format!("{p}{embed_name}"), &[config.vocab_size, d])?;
        let unembed = ["lm_head.weight", "embed_out.weight"]
            .into_iter()
            .find(|n| w.contains(n))
            .map_or_else(
                || Ok(embed.shallow_clone()),
                |n| w.get(n, &[config.vocab_size, d]),
            )?;
        let head = if w.contains(&format!("{final_norm}.weight")) {
            Some((Norm::load(w, arch, &final_norm, d, eps)?, unembed))
        } else {
            None
        };
        Ok(Self {
            head,
            head_half: Default::default(),
            embed,
            positions: match arch {
                Architecture::Gpt2 => {
                    Some(w.get(&format!("{p}wpe.weight"), &[config.max_positions, d])?)
                }
                _ => None,
            },
            embed_scale: if arch == Architecture::Gemma {
                (d as f64).sqrt()
            } else {
                1.0
            },
            blocks: (0..config.num_layers).map(block).collect::<Result<_>>()?,
            config,
        })
    }

    /// Query, key and value as `[batch, heads, seq, head_dim]`.
    fn project_qkv(&self, qkv: &Qkv, x: &Tensor) -> (Tensor, Tensor, Tensor) {
        let (heads, kv_heads) = (self.config.num_heads, self.config.num_kv_heads);
        match qkv {
            Qkv::Concatenated(proj) => {
                let parts = proj.forward(x).chunk(3, -1);
                (
                    split_heads(&parts[0], heads),
                    split_heads(&parts[1], heads),
                    split_heads(&parts[2], heads),
                )
            }
            Qkv::PerHead(proj) => {
                let (b, s, _) = x.size3().expect("3-d activations");
                let parts = proj
                    .forward(x)
                    .view([b, s, heads, -1])
                    .transpose(1, 2)
                    .chunk(3, -1);
                (
                    parts[0].shallow_clone(),
                    parts[1].shallow_clone(),
                    parts[2].shallow_clone(),
                )
            }
            Qkv::Separate { q, k, v } => (
                split_heads(&q.forward(x), heads),
                split_heads(&k.forward(x), kv_heads),
                split_heads(&v.forward(x), kv_heads),
            ),
        }
    }

    /// The MLP's output, or `None` when its activations were the last thing
    /// a capture-only pass asked for (the down projection is then skipped).
    fn mlp(
        &self,
        mlp: &Mlp,
        x: &Tensor,
        layer: u32,
        captures: &mut Captures,
    ) -> Result<Option<Tensor>> {
        let act = &self.config.hidden_act;
        let (hidden, down) = match mlp {
            Mlp::Plain { up, down } => (activation(act, &up.forward(x))?, down),
            Mlp::Gated { gate, up, down } => {
                (activation(act, &gate.forward(x))? * up.forward(x), down)
            }
        };
        let hidden = captures.offer(layer, HookSite::Mlp, &hidden);
        Ok((!captures.complete()).then(|| down.forward(&hidden)))
    }
}

/// Rotary position embedding applied to the first `rotary_dims` of each head
/// (the rotate-half convention of GPT-NeoX and Llama).
struct Rotary {
    cos: Tensor,
    sin: Tensor,
    dims: i64,
}

impl Rotary {
    /// The rotation of tokens at `positions` (`[seq]`, int64).
    fn new(config: &ModelConfig, rope: &Rope, positions: &Tensor) -> Self {
        let device = positions.device();
        let dims = config.rotary_dims;
        let exponents = Tensor::arange_start_step(0, dims, 2, (Kind::Float, device)) / dims as f64;
        let inv_freq = Tensor::from(rope.theta as f32)
            .to_device(device)
            .pow(&exponents)
            .reciprocal();
        let inv_freq = scaled_frequencies(inv_freq, &rope.scaling);
        let freqs = positions.to_kind(Kind::Float).outer(&inv_freq);
        let emb = Tensor::cat(&[&freqs, &freqs], -1);
        Self {
            cos: emb.cos(),
            sin: emb.sin(),
            dims,
        }
    }

    fn apply(&self, x: &Tensor) -> Tensor {
        let head_dim = x.size()[3];
        let rotated = x.narrow(-1, 0, self.dims);
        let half = rotated.chunk(2, -1);
        let rotate_half = Tensor::cat(&[&half[1].neg(), &half[0]], -1);
        let out = &rotated * &self.cos + rotate_half * &self.sin;
        if self.dims == head_dim {
            out
        } else {
            Tensor::cat(&[out, x.narrow(-1, self.dims, head_dim - self.dims)], -1)
        }
    }
}

/// The inverse frequencies after long-context scaling, computed as
/// transformers does (float32, the same operations in the same order).
fn scaled_frequencies(inv_freq: Tensor, scaling: &RopeScaling) -> Tensor {
    match scaling {
        RopeScaling::None => inv_freq,
        RopeScaling::Linear(factor) => inv_freq / *factor,
        RopeScaling::Divisors(divisors) => {
            let divisors = Tensor::from_slice(divisors).to_device(inv_freq.device());
            inv_freq / divisors
        }
        &RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_positions,
        } => {
            let low_freq_wavelen = original_max_positions / low_freq_factor;
            let high_freq_wavelen = original_max_positions / high_freq_factor;
            let wavelen = inv_freq.reciprocal() * (2.0 * std::f64::consts::PI);
            let low = wavelen.gt(low_freq_wavelen);
            let scaled = (&inv_freq / factor).where_self(&low, &inv_freq);
            let smooth = (wavelen.reciprocal() * original_max_positions - low_freq_factor)
                / (high_freq_factor - low_freq_factor);
            let smoothed: Tensor = (1.0 - &smooth) * &scaled / factor + &smooth * &scaled;
            let medium = wavelen
                .lt(high_freq_wavelen)
                .logical_not()
                .logical_and(&low.logical_not());
            smoothed.where_self(&medium, &scaled)
        }
    }
}

/// `c·tanh(x/c)`: Gemma 2's soft cap on attention scores and logits.
fn softcap(x: Tensor, cap: Option<f64>) -> Tensor {
    match cap {
        Some(c) => (x / c).tanh() * c,
        None => x,
    }
}

impl SubjectModel for Decoder {
    fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn forward(
        &self,
        ids: &Tensor,
        attention_mask: &Tensor,
        hooks: &[HookPoint],
    ) -> Result<Vec<Tensor>> {
        let mut captures = Captures::new(hooks, self.config.num_layers)?;
        let last = captures.last_layer();
        let _residual = self.run(ids, attention_mask, &mut captures, last)?;
        Ok(captures.finish())
    }

    /// The windows packed into one sequence without padding: each token
    /// attends only within its window, at positions counted from its
    /// window's start, so every window reads as if it ran alone.
    fn forward_packed(
        &self,
        windows: &[&[i64]],
        hooks: &[HookPoint],
        device: Device,
    ) -> Result<Vec<Tensor>> {
        let longest = windows.iter().map(|w| w.len()).max().unwrap_or(0);
        check_positions(&self.config, longest as i64)?;
        let ids: Vec<i64> = windows.concat();
        let positions: Vec<i64> = (windows.iter()).flat_map(|w| 0..w.len() as i64).collect();
        let segments: Vec<i64> = (windows.iter().enumerate())
            .flat_map(|(i, w)| std::iter::repeat_n(i as i64, w.len()))
            .collect();
        let ids = Tensor::from_slice(&ids).view([1, -1]).to_device(device);
        let positions = Tensor::from_slice(&positions).to_device(device);
        let segments = Tensor::from_slice(&segments).to_device(device);
        let mut captures = Captures::new(hooks, self.config.num_layers)?;
        let last = captures.last_layer();
        let masks = self.masks_by_window(last as usize + 1, |window| {
            Ok(packed_mask(&segments, &positions, window))
        })?;
        let _residual = self.blocks(&ids, &positions, &masks, None, &mut captures, last)?;
        Ok(captures.finish().iter().map(|t| t.squeeze_dim(0)).collect())
    }

    fn logits(
        &self,
        ids: &Tensor,
        attention_mask: &Tensor,
        patch: Option<Patch>,
    ) -> Result<Tensor> {
        let x = self.final_residual(ids, attention_mask, patch)?;
        self.logits_of(&x, None)
    }

    fn final_logits(
        &self,
        ids: &Tensor,
        attention_mask: &Tensor,
        patch: Option<Patch>,
    ) -> Result<Tensor> {
        let x = self.final_residual(ids, attention_mask, patch)?;
        self.logits_of(&super::last_positions(&x, attention_mask), None)
    }

    /// What each MLP neuron of `layer` writes to the residual stream, `[ff,
    /// d]`: its column of the down projection, through the scale of the
    /// norm on the MLP's output where the model has one (Gemma's sandwich
    /// norms).
    fn neuron_directions(&self, layer: u32) -> Result<Tensor> {
        self.config.check_layer(layer)?;
        let block = &self.blocks[layer as usize];
        let down = match &block.mlp {
            Mlp::Plain { down, .. } | Mlp::Gated { down, .. } => down.weight(),
        };
        let columns = down.tr();
        Ok(match &block.mlp_out_norm {
            Some(norm) => columns * norm.scale(),
            None => columns.contiguous(),
        })
    }
}

/// The additive attention mask of one window: a query sees earlier keys
/// that are not padding and, with a window, fewer than `window` positions back.
fn additive_mask(attention_mask: &Tensor, window: Option<i64>) -> Result<Tensor> {
    let (batch, seq) = attention_mask.size2()?;
    let device = attention_mask.device();
    let ones = Tensor::ones([seq, seq], (Kind::Bool, device));
    let mut visible = ones.tril(0);
    if let Some(window) = window {
        visible = visible.logical_and(&ones.triu(1 - window));
    }
    let keys = attention_mask.to_kind(Kind::Bool).view([batch, 1, 1, seq]);
    let allowed = visible.view([1, 1, seq, seq]).logical_and(&keys);
    Ok(Tensor::zeros([1], (Kind::Float, device))
        .masked_fill(&allowed.logical_not(), f32::MIN as f64))
}

/// The additive attention mask of windows packed into one sequence
/// (`segments` numbers each token's window, `positions` its place in it): a
/// query sees the earlier keys of its own window and, with a window,
/// fewer than `window` positions back.
fn packed_mask(segments: &Tensor, positions: &Tensor, window: Option<i64>) -> Tensor {
    let seq = segments.size()[0];
    let same = segments.view([seq, 1]).eq_tensor(&segments.view([1, seq]));
    let back = positions.view([seq, 1]) - positions.view([1, seq]);
    let mut visible = same.logical_and(&back.ge(0));
    if let Some(window) = window {
        visible = visible.logical_and(&back.lt(window));
    }
    Tensor::zeros([1], (Kind::Float, segments.device()))
        .masked_fill(&visible.logical_not(), f32::MIN as f64)
        .view([1, 1, seq, seq])
}

impl Decoder {
    /// The residual stream after the last block, with `patch` applied on
    /// the way: what the head reads.
    fn final_residual(
        &self,
        ids: &Tensor,
        attention_mask: &Tensor,
        patch: Option<Patch>,
    ) -> Result<Tensor> {
        self.head()?; // before the blocks run for nothing
        let mut captures = Captures::new(&[], self.config.num_layers)?;
        if let Some(patch) = patch {
            captures = captures.with_patch(patch);
        }
        self.run(
            ids,
            attention_mask,
            &mut captures,
            self.config.num_layers.saturating_sub(1),
        )
    }

    /// Runs the blocks up to `last_layer` and returns the residual stream after it.
    fn run(
        &self,
        ids: &Tensor,
        attention_mask: &Tensor,
        captures: &mut Captures,
        last_layer: u32,
    ) -> Result<Tensor> {
        let seq = ids.size2()?.1;
        check_positions(&self.config, seq)?;
        let positions = Tensor::arange(seq, (Kind::Int64, ids.device()));
        let masks = self.masks_by_window(last_layer as usize + 1, |window| {
            additive_mask(attention_mask, window)
        })?;
        self.blocks(ids, &positions, &masks, None, captures, last_layer)
    }

    /// The blocks up to `last_layer` over `ids` at `positions`, each layer
    /// attending through the mask of its window; with a cache, the new
    /// tokens' keys and values follow the cached ones (and are appended to
    /// it when it is [`Cached::Extend`]). A capture-only pass stops once it
    /// has every hook ([`Captures::complete`]); its residual is then stale.
    /// (The cached passes capture nothing, so they never stop early and
    /// every layer's cache is extended.)
    fn blocks(
        &self,
        ids: &Tensor,
        positions: &Tensor,
        masks: &[(Option<i64>, Tensor)],
        mut cache: Option<Cached>,
        captures: &mut Captures,
        last_layer: u32,
    ) -> Result<Tensor> {
        let config = &self.config;
        let (batch, seq) = ids.size2()?;
        let mut x = self
            .embed
            .index_select(0, &ids.flatten(0, 1))
            .view([batch, seq, -1])
            * self.embed_scale;
        if let Some(table) = &self.positions {
            x += table.index_select(0, positions).unsqueeze(0);
        }
        let rotary = self
            .positions
            .is_none()
            .then(|| Rotary::new(config, &config.rope, positions));
        let local_rotary = config
            .local_rope
            .as_ref()
            .filter(|_| self.positions.is_none())
            .map(|rope| Rotary::new(config, rope, positions));
        for (i, b) in self.blocks.iter().enumerate().take(last_layer as usize + 1) {
            let layer = i as u32;
            let window = config.windows[i];
            let (_, mask) = masks
                .iter()
                .find(|(w, _)| *w == window)
                .expect("a mask per window");
            x = captures.offer(layer, HookSite::ResidPre, &x);
            if captures.complete() {
                break;
            }
            let (mut q, mut k, mut v) = self.project_qkv(&b.qkv, &b.attn_norm.forward(&x));
            if let Some((q_norm, k_norm)) = &b.qk_norm {
                q = q_norm.forward(&q);
                k = k_norm.forward(&k);
            }
            let rotary = match (&local_rotary, window) {
                (Some(local), Some(_)) => Some(local),
                _ => rotary.as_ref(),
            };
            if let Some(rotary) = rotary {
                q = rotary.apply(&q);
                k = rotary.apply(&k);
            }
            match &mut cache {
                Some(Cached::Extend(cache)) => (k, v) = cache.append(i, &k, &v),
                Some(Cached::Read(cache)) => {
                    if let Some((past_k, past_v)) = cache.filled(i) {
                        k = Tensor::cat(&[&past_k, &k], 2);
                        v = Tensor::cat(&[&past_v, &v], 2);
                    }
                }
                None => {}
            }
            let context = attention(
                &q,
                &k,
                &v,
                mask,
                config.attention_scale,
                config.attn_softcap,
            );
            let mut attn = b.attn_out.forward(&merge_heads(&context));
            if let Some(norm) = &b.attn_out_norm {
                attn = norm.forward(&attn);
            }
            x = if config.architecture == Architecture::GptNeox && config.parallel_residual {
                let Some(mlp) = self.mlp(&b.mlp, &b.mlp_norm.forward(&x), layer, captures)? else {
                    break;
                };
                x + attn + mlp
            } else {
                let x = &x + attn;
                let Some(mut mlp) = self.mlp(&b.mlp, &b.mlp_norm.forward(&x), layer, captures)?
                else {
                    break;
                };
                if let Some(norm) = &b.mlp_out_norm {
                    mlp = norm.forward(&mlp);
                }
                x + mlp
            };
            x = captures.offer(layer, HookSite::ResidPost, &x);
        }
        if let Some(Cached::Extend(cache)) = cache {
            cache.len += seq;
        }
        Ok(x)
    }
}

/// The keys and values of the tokens a [`Decoder`] has run, per layer, as
/// `[1, kv_heads, capacity, head_dim]` buffers (after the rotary embedding)
/// of which the first `len` tokens are filled: what later tokens attend to
/// without the earlier ones running again. New tokens are written in place,
/// so a generation step copies nothing but its own keys.
#[derive(Default)]
pub struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
    len: i64,
}

/// How a pass uses a cache: appends to it, or only reads it.
enum Cached<'a> {
    Extend(&'a mut KvCache),
    Read(&'a KvCache),
}

impl KvCache {
    /// Tokens cached.
    pub fn len(&self) -> i64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A copy of the first `len` tokens' entries with room for `more`
    /// tokens after them: a prompt that shares a prefix with this one
    /// continues from it without touching this cache.
    pub fn copy_prefix(&self, len: i64, more: i64) -> KvCache {
        let len = len.clamp(0, self.len);
        let mut copy = KvCache::default();
        if len == 0 {
            return copy;
        }
        let capacity = len + more.max(0);
        for (k, v) in &self.layers {
            copy.layers
                .push((resized(k, len, capacity), resized(v, len, capacity)));
        }
        copy.len = len;
        copy
    }

    /// The filled part, sharing this cache's storage: for keeping a prompt's
    /// cache while this one goes on (later appends write after it).
    pub fn view(&self) -> KvCache {
        KvCache {
            layers: (0..self.layers.len())
                .filter_map(|i| self.filled(i))
                .collect(),
            len: self.len,
        }
    }

    /// Layer `layer`'s filled keys and values.
    fn filled(&self, layer: usize) -> Option<(Tensor, Tensor)> {
        let (k, v) = self.layers.get(layer)?;
        Some((k.narrow(2, 0, self.len), v.narrow(2, 0, self.len)))
    }

    /// Writes layer `layer`'s new keys and values after the filled ones
    /// (growing its buffers when full) and returns all of them.
    fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> (Tensor, Tensor) {
        let (len, n) = (self.len, k.size()[2]);
        if self.layers.len() <= layer {
            self.layers.push((resized(k, 0, 0), resized(v, 0, 0)));
        }
        let (keys, values) = &mut self.layers[layer];
        if keys.size()[2] < len + n {
            // Doubling keeps a generation's copies to a few per layer.
            let capacity = (len + n).max(2 * keys.size()[2]);
            (*keys, *values) = (resized(keys, len, capacity), resized(values, len, capacity));
        }
        keys.narrow(2, len, n).copy_(k);
        values.narrow(2, len, n).copy_(v);
        (keys.narrow(2, 0, len + n), values.narrow(2, 0, len + n))
    }
}

/// A buffer like `t` with room for `capacity` tokens, holding its first `len`.
fn resized(t: &Tensor, len: i64, capacity: i64) -> Tensor {
    let mut size = t.size();
    size[2] = capacity;
    let buffer = Tensor::empty(&size, (t.kind(), t.device()));
    if len > 0 {
        buffer.narrow(2, 0, len).copy_(&t.narrow(2, 0, len));
    }
    buffer
}

/// Generation and scoring on top of a [`KvCache`]: one sequence, its tokens
/// run once.
impl Decoder {
    /// The final norm and the unembedding, which only a causal LM has.
    fn head(&self) -> Result<(&Norm, &Tensor)> {
        let (norm, unembed) = self.head.as_ref().ok_or_else(|| super::ModelError::Hook {
            hook: "logits".into(),
            problem: "the checkpoint has no final norm and output head".into(),
        })?;
        Ok((norm, unembed))
    }

    /// One additive mask per distinct window among the first `layers`
    /// layers, each made by `mask`.
    fn masks_by_window(
        &self,
        layers: usize,
        mut mask: impl FnMut(Option<i64>) -> Result<Tensor>,
    ) -> Result<Vec<(Option<i64>, Tensor)>> {
        let mut masks: Vec<(Option<i64>, Tensor)> = Vec::new();
        for &window in self.config.windows.iter().take(layers) {
            if masks.iter().all(|(w, _)| *w != window) {
                masks.push((window, mask(window)?));
            }
        }
        Ok(masks)
    }

    /// Runs `ids` after the cached tokens, appends their keys and values to
    /// `cache`, and returns their residual stream after the last block, `[n, d]`.
    pub fn extend(&self, cache: &mut KvCache, ids: &[i64]) -> Result<Tensor> {
        self.extend_patched(cache, ids, None)
    }

    /// [`Decoder::extend`] with `patch` applied to the new tokens on the
    /// way (steering: a cache made so holds the patched keys and values).
    pub fn extend_patched(
        &self,
        cache: &mut KvCache,
        ids: &[i64],
        patch: Option<Patch>,
    ) -> Result<Tensor> {
        let n = ids.len() as i64;
        let device = self.embed.device();
        check_positions(&self.config, cache.len + n)?;
        let positions = Tensor::arange_start(cache.len, cache.len + n, (Kind::Int64, device));
        let own = Tensor::ones([n, n], (Kind::Bool, device)).tril(0);
        self.after_cache(Cached::Extend(cache), ids, &positions, &own, patch)
    }

    /// Residual streams of side branches: token `ids[i]` put at position
    /// `positions[i]` in place of the cached token there, seeing the cached
    /// tokens before it and itself, not the other branches. One pass asks
    /// "what if this token came here" at many places; the cache is unchanged.
    pub fn branch(&self, cache: &KvCache, ids: &[i64], positions: &[i64]) -> Result<Tensor> {
        if let Some(&p) = positions.iter().find(|&&p| p < 0 || p > cache.len) {
            return Err(super::ModelError::Hook {
                hook: "input".into(),
                problem: format!(
                    "a branch at position {p} is outside the {} cached tokens",
                    cache.len
                ),
            });
        }
        let n = ids.len() as i64;
        let device = self.embed.device();
        let positions = Tensor::from_slice(positions).to_device(device);
        let own = Tensor::eye(n, (Kind::Bool, device));
        self.after_cache(Cached::Read(cache), ids, &positions, &own, None)
    }

    /// Whether the checkpoint has the final norm and the unembedding.
    pub fn has_head(&self) -> bool {
        self.head.is_some()
    }

    /// The direct effect of residual-stream directions `[n, d]` on the
    /// next-token logits, `[n, vocab]`: each direction scaled by the final
    /// norm's per-channel scale and read by the unembedding, as
    /// Neuronpedia's positive and negative logits (and TransformerLens's
    /// direct logit attribution) take it; the normalisation by the whole
    /// residual and a final soft cap, which depend on the context, are left out.
    pub fn direct_logits(&self, directions: &Tensor) -> Result<Tensor> {
        let (norm, unembed) = self.head()?;
        Ok((directions * norm.scale()).matmul(&unembed.tr()))
    }

    /// Next-token logits from residual streams `[n, d]`: over the whole
    /// vocabulary, or only for the token ids in `rows` (`[n, rows]`), which
    /// costs those rows of the output projection and nothing more.
    pub fn logits_of(&self, residual: &Tensor, rows: Option<&[i64]>) -> Result<Tensor> {
        let (norm, unembed) = self.head()?;
        let unembed = match rows {
            Some(rows) => {
                unembed.index_select(0, &Tensor::from_slice(rows).to_device(unembed.device()))
            }
            None => unembed.shallow_clone(),
        };
        let logits = norm.forward(residual).matmul(&unembed.tr());
        Ok(softcap(logits, self.config.final_softcap))
    }

    /// Next-token logits over the whole vocabulary for generation, `[n,
    /// vocab]`: all of them from a float16 copy of the output projection
    /// (a quarter of the bytes a step reads, the largest part for a big
    /// vocabulary), then the `exact` highest of them computed again in
    /// float32, so the tokens that decide greedy and nucleus sampling get
    /// the exact logits and the tail is off by float16 rounding.
    pub fn screened_logits(&self, residual: &Tensor, exact: i64) -> Result<Tensor> {
        let (norm, unembed) = self.head()?;
        let half = self
            .head_half
            .get_or_init(|| unembed.to_kind(Kind::Half).contiguous());
        let normed = norm.forward(residual);
        let screened = normed
            .to_kind(Kind::Half)
            .matmul(&half.tr())
            .to_kind(Kind::Float);
        let (_, top) = screened.topk(exact.min(screened.size()[1]), -1, true, false);
        // [n, exact, d] rows of the unembedding, dotted with their own position.
        let rows =
            unembed
                .index_select(0, &top.flatten(0, 1))
                .view([top.size()[0], top.size()[1], -1]);
        let exact_logits = rows.matmul(&normed.unsqueeze(-1)).squeeze_dim(-1);
        let logits = screened.scatter(-1, &top, &exact_logits);
        Ok(softcap(logits, self.config.final_softcap))
    }

    /// The blocks over new tokens at `positions` that see every cached token
    /// before their position and, among themselves, what `own` allows.
    fn after_cache(
        &self,
        cache: Cached,
        ids: &[i64],
        positions: &Tensor,
        own: &Tensor,
        patch: Option<Patch>,
    ) -> Result<Tensor> {
        let n = ids.len() as i64;
        let device = self.embed.device();
        let past = match &cache {
            Cached::Extend(c) => c.len,
            Cached::Read(c) => c.len,
        };
        let queries = positions.view([n, 1]);
        let keys = Tensor::cat(
            &[&Tensor::arange(past, (Kind::Int64, device)), positions],
            0,
        )
        .view([1, past + n]);
        let cached = keys.narrow(1, 0, past).lt_tensor(&queries);
        let seen = Tensor::cat(&[cached, own.shallow_clone()], 1);
        let layers = self.config.num_layers as usize;
        let masks = self.masks_by_window(layers, |window| {
            let visible = match window {
                Some(w) => seen.logical_and(&(&queries - &keys).lt(w)),
                None => seen.shallow_clone(),
            };
            Ok(Tensor::zeros([1], (Kind::Float, device))
                .masked_fill(&visible.logical_not(), f32::MIN as f64)
                .view([1, 1, n, past + n]))
        })?;
        let ids = Tensor::from_slice(ids).to_device(device).view([1, n]);
        let mut captures = Captures::new(&[], self.config.num_layers)?;
        if let Some(patch) = patch {
            captures = captures.with_patch(patch);
        }
        let last = self.config.num_layers.saturating_sub(1);
        let x = self.blocks(&ids, positions, &masks, Some(cache), &mut captures, last)?;
        Ok(x.squeeze_dim(0))
    }
}
