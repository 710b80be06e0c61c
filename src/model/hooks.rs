//! Where activations are read. The MLP site is the input of the MLP's output
//! projection: after the nonlinearity, and for gated MLPs the product that
//! feeds the down projection. The residual sites are a block's input and output.
use crate::names::UnknownName;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HookSite {
    Mlp,
    ResidPre,
    ResidPost,
}

impl HookSite {
    pub const ALL: [HookSite; 3] = [Self::ResidPre, Self::Mlp, Self::ResidPost];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mlp => "mlp",
            Self::ResidPre => "resid_pre",
            Self::ResidPost => "resid_post",
        }
    }
}

impl FromStr for HookSite {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "mlp" => Ok(Self::Mlp),
            "resid_pre" => Ok(Self::ResidPre),
            "resid" | "resid_post" => Ok(Self::ResidPost),
            other => Err(UnknownName::new(
                "hook",
                other,
                "mlp, resid_pre, resid_post or resid",
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HookPoint {
    pub layer: u32,
    pub site: HookSite,
}

impl HookPoint {
    /// TransformerLens's name of this hook, as SAELens checkpoints record it.
    pub fn saelens_name(self) -> String {
        let site = match self.site {
            HookSite::ResidPre => "hook_resid_pre",
            HookSite::ResidPost => "hook_resid_post",
            HookSite::Mlp => "mlp.hook_post",
        };
        format!("blocks.{}.{site}", self.layer)
    }

    /// Parses either spelling; `None` for hooks featurescope cannot read.
    pub fn parse(name: &str) -> Option<Self> {
        let rest = name.strip_prefix("blocks.")?;
        let (layer, site) = rest.split_once('.')?;
        let layer = layer.parse().ok()?;
        let site = match site {
            "hook_resid_pre" | "resid_pre" => HookSite::ResidPre,
            "hook_resid_post" | "resid_post" | "resid" => HookSite::ResidPost,
            "mlp.hook_post" | "hook_mlp_post" | "mlp" => HookSite::Mlp,
            _ => return None,
        };
        Some(Self { layer, site })
    }
}

impl fmt::Display for HookPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blocks.{}.{}", self.layer, self.site.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_round_trip() {
        for site in HookSite::ALL {
            let hook = HookPoint { layer: 7, site };
            assert_eq!(HookPoint::parse(&hook.saelens_name()), Some(hook));
            assert_eq!(HookPoint::parse(&hook.to_string()), Some(hook));
        }
        assert_eq!(HookPoint::parse("blocks.2.attn.hook_z"), None);
        assert_eq!(HookPoint::parse("embed"), None);
    }
}
