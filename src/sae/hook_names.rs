//! Hook names in both spellings: ours (`blocks.3.resid_post`) and
//! TransformerLens's, which SAELens checkpoints use (`blocks.3.hook_resid_post`,
//! `blocks.3.mlp.hook_post`).
use crate::model::{HookPoint, HookSite};

pub fn saelens_hook_name(hook: HookPoint) -> String {
    let site = match hook.site {
        HookSite::ResidPre => "hook_resid_pre",
        HookSite::ResidPost => "hook_resid_post",
        HookSite::Mlp => "mlp.hook_post",
    };
    format!("blocks.{}.{site}", hook.layer)
}

/// Parses either spelling; `None` for hooks featurescope cannot read.
pub fn parse_hook(name: &str) -> Option<HookPoint> {
    let rest = name.strip_prefix("blocks.")?;
    let (layer, site) = rest.split_once('.')?;
    let layer = layer.parse().ok()?;
    let site = match site {
        "hook_resid_pre" | "resid_pre" => HookSite::ResidPre,
        "hook_resid_post" | "resid_post" | "resid" => HookSite::ResidPost,
        "mlp.hook_post" | "hook_mlp_post" | "mlp" => HookSite::Mlp,
        _ => return None,
    };
    Some(HookPoint { layer, site })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_round_trip() {
        for site in HookSite::ALL {
            let hook = HookPoint { layer: 7, site };
            assert_eq!(parse_hook(&saelens_hook_name(hook)), Some(hook));
            assert_eq!(parse_hook(&hook.to_string()), Some(hook));
        }
        assert_eq!(parse_hook("blocks.2.attn.hook_z"), None);
        assert_eq!(parse_hook("embed"), None);
    }
}
