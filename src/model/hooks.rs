//! Where activations are read. The MLP site is the input of the MLP's output
//! projection: after the nonlinearity, and for gated MLPs the product that
//! feeds the down projection. The residual sites are a block's input and output.
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
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mlp" => Ok(Self::Mlp),
            "resid_pre" => Ok(Self::ResidPre),
            "resid" | "resid_post" => Ok(Self::ResidPost),
            other => Err(format!(
                "unknown hook {other:?} (expected mlp, resid_pre, resid_post or resid)"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HookPoint {
    pub layer: u32,
    pub site: HookSite,
}

impl fmt::Display for HookPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blocks.{}.{}", self.layer, self.site.as_str())
    }
}
