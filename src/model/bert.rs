//! BERT-family encoders (all-MiniLM-L6-v2 and relatives): post-LayerNorm
//! blocks, absolute position and token-type embeddings, bidirectional attention.
use super::layers::{
    Captures, LayerNorm, Linear, activation, attention, check_positions, merge_heads, split_heads,
};
use super::weights::Weights;
use super::{HookPoint, HookSite, ModelConfig, Result, SubjectModel};
use tch::{Kind, Tensor};

struct Block {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    mlp_in: Linear,
    mlp_out: Linear,
    mlp_norm: LayerNorm,
}

pub struct Bert {
    config: ModelConfig,
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    embed_norm: LayerNorm,
    blocks: Vec<Block>,
}

impl Bert {
    pub fn new(config: ModelConfig, w: &Weights) -> Result<Self> {
        let (d, ff, eps) = (
            config.hidden_size,
            config.intermediate_size,
            config.norm_eps,
        );
        // sentence-transformers checkpoints drop the `bert.` prefix; others keep it.
        let prefix = if w.contains("bert.embeddings.word_embeddings.weight") {
            "bert."
        } else {
            ""
        };
        let block = |i: u32| -> Result<Block> {
            let p = format!("{prefix}encoder.layer.{i}");
            Ok(Block {
                query: Linear::load(w, &format!("{p}.attention.self.query"), d, d, true)?,
                key: Linear::load(w, &format!("{p}.attention.self.key"), d, d, true)?,
                value: Linear::load(w, &format!("{p}.attention.self.value"), d, d, true)?,
                attn_out: Linear::load(w, &format!("{p}.attention.output.dense"), d, d, true)?,
                attn_norm: LayerNorm::load(w, &format!("{p}.attention.output.LayerNorm"), d, eps)?,
                mlp_in: Linear::load(w, &format!("{p}.intermediate.dense"), d, ff, true)?,
                mlp_out: Linear::load(w, &format!("{p}.output.dense"), ff, d, true)?,
                mlp_norm: LayerNorm::load(w, &format!("{p}.output.LayerNorm"), d, eps)?,
            })
        };
        let e = format!("{prefix}embeddings");
        Ok(Self {
            word: w.get(
                &format!("{e}.word_embeddings.weight"),
                &[config.vocab_size, d],
            )?,
            position: w.get(
                &format!("{e}.position_embeddings.weight"),
                &[config.max_positions, d],
            )?,
            token_type: w.get(
                &format!("{e}.token_type_embeddings.weight"),
                &[config.type_vocab_size, d],
            )?,
            embed_norm: LayerNorm::load(w, &format!("{e}.LayerNorm"), d, eps)?,
            blocks: (0..config.num_layers).map(block).collect::<Result<_>>()?,
            config,
        })
    }
}

impl SubjectModel for Bert {
    fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The output dense layer's columns (its LayerNorm comes after the
    /// residual sum, so it scales no neuron on its own).
    fn neuron_directions(&self, layer: u32) -> Result<Tensor> {
        self.config.check_layer(layer)?;
        Ok(self.blocks[layer as usize]
            .mlp_out
            .weight()
            .tr()
            .contiguous())
    }

    fn forward(
        &self,
        ids: &Tensor,
        attention_mask: &Tensor,
        hooks: &[HookPoint],
    ) -> Result<Vec<Tensor>> {
        let mut captures = Captures::new(hooks, self.config.num_layers)?;
        let (_, seq) = ids.size2()?;
        check_positions(&self.config, seq)?;
        let positions = Tensor::arange(seq, (Kind::Int64, ids.device()));
        let mut x = self
            .word
            .index_select(0, &ids.flatten(0, 1))
            .view([ids.size()[0], seq, -1])
            + self.position.index_select(0, &positions).unsqueeze(0)
            + self.token_type.get(0);
        x = self.embed_norm.forward(&x);
        // Padding keys get a large negative score so they receive no attention.
        let additive = (attention_mask.to_kind(Kind::Float).ones_like()
            - attention_mask.to_kind(Kind::Float))
        .view([ids.size()[0], 1, 1, seq])
            * f32::MIN as f64;
        let heads = self.config.num_heads;
        for (i, b) in self
            .blocks
            .iter()
            .enumerate()
            .take(captures.last_layer() as usize + 1)
        {
            let layer = i as u32;
            x = captures.offer(layer, HookSite::ResidPre, &x);
            if captures.complete() {
                break;
            }
            let q = split_heads(&b.query.forward(&x), heads);
            let k = split_heads(&b.key.forward(&x), heads);
            let v = split_heads(&b.value.forward(&x), heads);
            let context = merge_heads(&attention(
                &q,
                &k,
                &v,
                &additive,
                self.config.attention_scale,
                None,
            ));
            x = b.attn_norm.forward(&(b.attn_out.forward(&context) + &x));
            let hidden = activation(&self.config.hidden_act, &b.mlp_in.forward(&x))?;
            let hidden = captures.offer(layer, HookSite::Mlp, &hidden);
            if captures.complete() {
                break;
            }
            x = b.mlp_norm.forward(&(b.mlp_out.forward(&hidden) + &x));
            x = captures.offer(layer, HookSite::ResidPost, &x);
        }
        Ok(captures.finish())
    }
}
