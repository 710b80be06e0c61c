//! The rows of the dataset tables as Rust values.
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a unit is: a neuron of the subject model or a direction of a dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitKind {
    Neuron,
    Sae,
    Pca,
    Ica,
    Random,
}

impl UnitKind {
    pub const ALL: [UnitKind; 5] = [Self::Neuron, Self::Sae, Self::Pca, Self::Ica, Self::Random];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Neuron => "neuron",
            Self::Sae => "sae",
            Self::Pca => "pca",
            Self::Ica => "ica",
            Self::Random => "random",
        }
    }
}

/// How a record (a text window) was chosen for its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Sample {
    /// Among the windows with the highest maximum activation.
    Top,
    /// Drawn from a quantile bin of window maxima; the bin's index.
    Quantile(u32),
    /// Drawn uniformly from all windows.
    Random,
}

impl Sample {
    pub fn kind_str(self) -> &'static str {
        match self {
            Self::Top => "top",
            Self::Quantile(_) => "quantile",
            Self::Random => "random",
        }
    }

    pub fn quantile_bin(self) -> Option<u32> {
        match self {
            Self::Quantile(bin) => Some(bin),
            _ => None,
        }
    }
}

impl fmt::Display for UnitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UnitKind {
    type Err = crate::names::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                crate::names::UnknownName::new("unit kind", s, "neuron, sae, pca, ica or random")
            })
    }
}

/// Per-unit statistics over every token of the corpus.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UnitStats {
    pub max: f64,
    pub mean: Option<f64>,
    pub variance: Option<f64>,
    /// Fraction of tokens with activation > 0.
    pub density: Option<f64>,
    /// Activation values at the manifest's `selection.quantile_levels`.
    pub quantile_boundaries: Vec<f64>,
    /// Histogram of activations: `edges.len() == counts.len() + 1`; both empty if unknown.
    pub histogram_edges: Vec<f64>,
    pub histogram_counts: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    pub unit_id: u64,
    pub layer: u32,
    pub index: u32,
    pub kind: UnitKind,
    pub stats: UnitStats,
}

/// A unit to be written; its id is assigned by the writer.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUnit {
    pub layer: u32,
    pub index: u32,
    pub kind: UnitKind,
    pub stats: UnitStats,
}

/// One text window with the unit's activation on each token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Unique within the dataset; assigned by the writer.
    pub record_id: u64,
    pub unit_id: u64,
    pub sample: Sample,
    /// Order within (unit, sample kind); 0 is the strongest for top records.
    pub rank: u32,
    pub document_id: Option<i64>,
    pub token_offset: Option<i64>,
    pub tokens: Vec<String>,
    pub activations: Vec<f32>,
}

impl Record {
    pub fn max_activation(&self) -> f32 {
        self.activations
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max)
    }
}

/// A record to be written with its unit.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    pub sample: Sample,
    pub rank: u32,
    pub document_id: Option<i64>,
    pub token_offset: Option<i64>,
    pub tokens: Vec<String>,
    pub activations: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    pub explanation_id: String,
    pub unit_id: u64,
    pub text: String,
    pub explainer_model: String,
    /// How it was made: `top-activations`, `revision`, `revision-random`, `imported`…
    pub method: String,
    /// The explanation this one revises.
    pub parent_id: Option<String>,
    /// Records shown to the explainer (so scoring can avoid them).
    pub evidence_record_ids: Vec<u64>,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub score_id: String,
    pub explanation_id: String,
    pub unit_id: u64,
    pub simulator_model: String,
    /// Simulation method: `all-at-once-logprobs`, `all-at-once-sampled`, `imported`…
    pub method: String,
    /// Which records were scored: `top-and-random`, `top-only`, `random-only`…
    pub record_set: String,
    /// Correlation score; `None` when undefined (a constant simulation).
    pub score: Option<f64>,
    pub r_squared: Option<f64>,
    pub absolute_dev_explained: Option<f64>,
    pub record_ids: Vec<u64>,
    /// Per scored record, per token.
    pub simulated: Vec<Vec<f32>>,
    pub created_at_ms: i64,
}

/// The methods of the scores that treat an explanation as a classifier
/// (`interp::classifier`), stored under these names; every other method is
/// a simulation's.
pub const CLASSIFIER_SCORE_METHODS: [&str; 4] = ["detection", "fuzz", "embedding", "intruder"];

impl Score {
    /// Whether this is a simulation score (Bills et al.), whose `simulated`
    /// holds activations per token of each record.
    pub fn is_simulation(&self) -> bool {
        !CLASSIFIER_SCORE_METHODS.contains(&self.method.as_str())
    }
}

/// A person's judgement of how well a simulation matches the real
/// activations (the paper's human check of its score), 1 (not at all) to 5.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    pub rating_id: String,
    pub score_id: String,
    pub unit_id: u64,
    pub rating: u32,
    pub created_at_ms: i64,
}

/// A unit's direct effect on the next-token logits: the tokens its output
/// direction raises most and lowers most, most first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogitEffect {
    pub unit_id: u64,
    pub raised: Vec<TokenEffect>,
    pub lowered: Vec<TokenEffect>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenEffect {
    pub token: String,
    /// The change of the token's logit per unit of activation.
    pub effect: f32,
}

/// An explanation's text embedded by a sentence model (`embedder`, the
/// model's name), for search by meaning; unit length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplanationEmbedding {
    pub explanation_id: String,
    pub embedder: String,
    pub embedding: Vec<f32>,
}

/// Milliseconds since the Unix epoch, for `created_at` columns.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `2024-05-01T12:34:56.789Z` from milliseconds since the Unix epoch.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

/// Milliseconds since the Unix epoch of an RFC 3339 time in UTC (`Z`,
/// `+00:00`, or no offset, as Python's `isoformat` writes a database's
/// times), years 0 to 9999, fractions of a second optional.
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let (date, time) = text.split_once(['T', ' '])?;
    let time = (time.strip_suffix('Z'))
        .or_else(|| time.strip_suffix("+00:00"))
        .unwrap_or(time);
    let field = |p: &str| {
        (p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty())
            .then(|| p.parse::<i64>().ok())
            .flatten()
    };
    let mut ymd = date.splitn(3, '-').map(field);
    let (y, m, d) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut parts = hms.splitn(3, ':').map(field);
    let (h, min, s) = (parts.next()??, parts.next()??, parts.next()??);
    let millis = field(format!("{fraction:0<3}").get(..3)?)?;
    let valid =
        y <= 9999 && (1..=12).contains(&m) && (1..=31).contains(&d) && h < 24 && min < 60 && s < 61;
    valid.then(|| days_from_civil(y, m, d) * 86_400_000 + ((h * 60 + min) * 60 + s) * 1000 + millis)
}

/// Howard Hinnant's `days_from_civil`: days since 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A fresh 128-bit random id in hex, unique across concurrent processes.
pub fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The scalar columns of a unit: what a unit list shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitOverview {
    pub unit_id: u64,
    pub layer: u32,
    pub index: u32,
    pub kind: UnitKind,
    pub max: f64,
    pub density: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_go_out_and_come_back() {
        assert_eq!(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        // 2024-02-29T23:59:58.123Z, checked with Python's datetime.
        let leap = 1_709_251_198_123;
        assert_eq!(format_rfc3339_ms(leap), "2024-02-29T23:59:58.123Z");
        for ms in [0, leap, 951_782_400_000, 253_402_300_799_999] {
            assert_eq!(parse_rfc3339_ms(&format_rfc3339_ms(ms)), Some(ms));
        }
        let plain = Some(1_709_251_198_000);
        assert_eq!(parse_rfc3339_ms("2024-02-29T23:59:58+00:00"), plain);
        assert_eq!(parse_rfc3339_ms("2024-02-29 23:59:58"), plain);
        for bad in [
            "2024-13-01T00:00:00Z",
            "yesterday",
            "100000000000000-01-01T00:00:00Z",
            "2024-01-01T-1:00:00Z",
            "2024-01-01T00:00:00+02:00",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }
}
