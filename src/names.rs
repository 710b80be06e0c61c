//! Names chosen from a fixed list (a hook site, a unit kind, an API): the
//! one error for a name that is not on it, listing the valid ones, so that a
//! bad `--hook` or `kind = "…"` says what it accepts.
//!
//! ```
//! use featurescope::names::UnknownName;
//! let e = UnknownName::new("hook", "attn", "mlp, resid_pre, resid_post or resid");
//! assert_eq!(e.to_string(), r#"unknown hook "attn" (expected mlp, resid_pre, resid_post or resid)"#);
//! ```

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?} (expected {expected})")]
pub struct UnknownName {
    pub what: &'static str,
    pub given: String,
    pub expected: &'static str,
}

impl UnknownName {
    pub fn new(what: &'static str, given: &str, expected: &'static str) -> Self {
        Self {
            what,
            given: given.into(),
            expected,
        }
    }
}

/// The one of `all` whose `name` is `given`, else the error for a `what`
/// that lists the `expected` names.
pub fn pick<T: Copy>(
    all: &[T],
    name: impl Fn(T) -> &'static str,
    what: &'static str,
    given: &str,
    expected: &'static str,
) -> Result<T, UnknownName> {
    all.iter()
        .copied()
        .find(|&item| name(item) == given)
        .ok_or_else(|| UnknownName::new(what, given, expected))
}
