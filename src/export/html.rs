//! One self-contained HTML page per unit (inline CSS and SVG, no script,
//! nothing fetched), and an index linking them: what a colleague without
//! featurescope needs to see a unit. Every text from the dataset (tokens,
//! explanations, model names) is escaped, control characters made visible.
use super::{ExportError, Result, io};
use crate::dataset::{Dataset, Explanation, LogitEffect, Record, Score, Unit};
use crate::text::markup_escaped;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The colour of real activations, and of simulated ones.
const REAL: (u8, u8, u8) = (255, 122, 0);
const SIMULATED: (u8, u8, u8) = (30, 110, 255);
/// The simulator's scale: 0 to 10.
const SIMULATED_MAX: f64 = 10.0;

/// Writes `index.html` and `unit-<id>.html` for each of `units` (once each,
/// in the order given) into the folder `out`, built beside it and put in
/// place whole; an existing `out` is replaced only if it is an earlier
/// export (it holds [`super::MARKER`]). Returns the pages written, index first.
pub fn write_pages(dataset: &Dataset, units: &[u64], out: &Path) -> Result<Vec<PathBuf>> {
    let mut seen = std::collections::HashSet::new();
    let units: Vec<u64> = units.iter().copied().filter(|u| seen.insert(*u)).collect();
    if units.is_empty() {
        return Err(ExportError::NoUnits);
    }
    let names = super::write_folder(out, "html", |dir| write_into(dataset, &units, dir))?;
    Ok(names.into_iter().map(|name| out.join(name)).collect())
}

fn write_into(dataset: &Dataset, units: &[u64], dir: &Path) -> Result<Vec<String>> {
    let super::Annotations {
        mut explanations,
        scores,
        effects,
    } = super::Annotations::read(dataset)?;
    let subject = (dataset.manifest().subject_model.as_ref()).map(|m| m.name.clone());
    let mut rows = Vec::with_capacity(units.len());
    let mut names = vec!["index.html".to_owned()];
    for &id in units {
        let unit = dataset.unit(id)?;
        let page = UnitPage {
            source: source_label(dataset, &unit),
            records: dataset.records(id)?,
            explanations: explanations.remove(&id).unwrap_or_default(),
            scores: &scores,
            effects: effects.get(&id),
            subject: subject.as_deref(),
            unit,
        };
        let name = format!("unit-{id}.html");
        let path = dir.join(&name);
        std::fs::write(&path, page.html()).map_err(io(&path))?;
        rows.push(page.index_row(&name));
        names.push(name);
    }
    let index = dir.join("index.html");
    std::fs::write(&index, index_html(dataset, &rows)).map_err(io(&index))?;
    Ok(names)
}

/// Where the unit's activations come from: `neurons of blocks.2.mlp`,
/// `sae features of blocks.6.resid_post`.
fn source_label(dataset: &Dataset, unit: &Unit) -> String {
    match dataset.manifest().source_of(unit.unit_id) {
        Some((_, s)) => format!("{} of {}", kind_plural(unit), s.hook),
        None => format!("{} of layer {}", kind_plural(unit), unit.layer),
    }
}

fn kind_plural(unit: &Unit) -> String {
    match unit.kind.as_str() {
        "neuron" => "neurons".into(),
        other => format!("{other} features"),
    }
}

struct UnitPage<'a> {
    unit: Unit,
    source: String,
    records: Vec<Record>,
    explanations: Vec<Explanation>,
    scores: &'a HashMap<String, Vec<Score>>,
    effects: Option<&'a LogitEffect>,
    subject: Option<&'a str>,
}

impl UnitPage<'_> {
    fn title(&self) -> String {
        format!(
            "Unit {} · {} · index {}",
            self.unit.unit_id, self.source, self.unit.index
        )
    }

    /// The best simulation score of any of the unit's explanations, with it.
    fn best(&self) -> Option<(&Explanation, &Score)> {
        let scored = self.explanations.iter().flat_map(|e| {
            (self.scores.get(&e.explanation_id).into_iter().flatten())
                .filter(|s| s.is_simulation() && s.score.is_some())
                .map(move |s| (e, s))
        });
        scored.max_by(|a, b| {
            let score = |s: &Score| s.score.unwrap_or(f64::NEG_INFINITY);
            score(a.1).total_cmp(&score(b.1))
        })
    }

    fn index_row(&self, link: &str) -> String {
        let (explanation, score) = match self.best() {
            Some((e, s)) => (markup_escaped(&e.text), number(s.score)),
            None => match self.explanations.last() {
                Some(e) => (markup_escaped(&e.text), "–".into()),
                None => ("–".into(), "–".into()),
            },
        };
        format!(
            "<tr><td><a href=\"{link}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{explanation}</td><td>{score}</td></tr>\n",
            self.unit.unit_id,
            markup_escaped(&self.source),
            self.unit.index,
            number(Some(self.unit.stats.max)),
        )
    }

    fn html(&self) -> String {
        let stats = &self.unit.stats;
        let mut body = String::new();
        let _ = writeln!(
            body,
            "<h1>{}</h1>\n<p class=\"meta\">{}max {} · mean {} · density {}</p>",
            markup_escaped(&self.title()),
            self.subject
                .map(|s| format!("{} · ", markup_escaped(s)))
                .unwrap_or_default(),
            number(Some(stats.max)),
            number(stats.mean),
            stats
                .density
                .map_or("–".into(), |d| format!("{:.3}%", 100.0 * d)),
        );
        if !stats.histogram_counts.is_empty() {
            let _ = writeln!(
                body,
                "<h2>Activation histogram</h2>\n{}",
                histogram_svg(&stats.histogram_edges, &stats.histogram_counts)
            );
        }
        body.push_str(&self.explanations_html());
        if let Some(effects) = self.effects {
            body.push_str(&effects_html(effects));
        }
        if let Some((explanation, score)) = self.best() {
            body.push_str(&self.real_vs_simulated(explanation, score));
        }
        body.push_str(&self.records_html());
        page(&self.title(), &body)
    }

    fn explanations_html(&self) -> String {
        if self.explanations.is_empty() {
            return "<h2>Explanations</h2>\n<p>None yet.</p>\n".into();
        }
        let mut out = String::from(
            "<h2>Explanations</h2>\n<table>\n<tr><th>explanation</th><th>explainer</th><th>method</th><th>scores</th></tr>\n",
        );
        for e in &self.explanations {
            let scores: Vec<String> = (self.scores.get(&e.explanation_id).into_iter().flatten())
                .map(|s| {
                    format!(
                        "{} {} <span class=\"meta\">({})</span>",
                        markup_escaped(&s.method),
                        number(s.score),
                        markup_escaped(&s.record_set)
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                markup_escaped(&e.text),
                e.parent_id
                    .as_ref()
                    .map(|_| " <span class=\"meta\">(a revision)</span>")
                    .unwrap_or_default(),
                markup_escaped(&e.explainer_model),
                markup_escaped(&e.method),
                if scores.is_empty() {
                    "–".into()
                } else {
                    scores.join("<br>")
                }
            );
        }
        out.push_str("</table>\n");
        out
    }

    /// Each record the best simulation scored, its real activations over
    /// the simulator's, in the manner of neuron-viewer.
    fn real_vs_simulated(&self, explanation: &Explanation, score: &Score) -> String {
        let by_id: HashMap<u64, &Record> = self.records.iter().map(|r| (r.record_id, r)).collect();
        let mut out = format!(
            "<h2>Real vs simulated</h2>\n<p>“{}”, scored {} ({}, simulated by {}). \
             <span class=\"swatch real\"></span> real <span class=\"swatch sim\"></span> simulated</p>\n",
            markup_escaped(&explanation.text),
            number(score.score),
            markup_escaped(&score.record_set),
            markup_escaped(&score.simulator_model),
        );
        for (id, simulated) in score.record_ids.iter().zip(&score.simulated) {
            let Some(record) = by_id.get(id) else {
                continue;
            };
            let _ = writeln!(
                out,
                "<div class=\"pair\">{}{}</div>",
                tokens_html(
                    &record.tokens,
                    &record.activations,
                    self.unit.stats.max,
                    REAL
                ),
                tokens_html(&record.tokens, simulated, SIMULATED_MAX, SIMULATED)
            );
        }
        out
    }

    fn records_html(&self) -> String {
        let mut out = String::new();
        for (title, kind) in [
            ("Top activations", "top"),
            ("By activation quantile", "quantile"),
            ("Random", "random"),
        ] {
            let mut records: Vec<&Record> = (self.records.iter())
                .filter(|r| r.sample.kind_str() == kind)
                .collect();
            if records.is_empty() {
                continue;
            }
            records.sort_by_key(|r| (std::cmp::Reverse(r.sample.quantile_bin()), r.rank));
            let _ = writeln!(out, "<h2>{title}</h2>");
            for r in records {
                let peak = number(r.activations.iter().map(|&a| a as f64).reduce(f64::max));
                let label = match r.sample.quantile_bin() {
                    Some(bin) => format!("bin {bin} · max {peak}"),
                    None => format!("#{} · max {peak}", r.rank + 1),
                };
                let _ = writeln!(
                    out,
                    "<div class=\"record\"><span class=\"meta\">{label}</span>{}</div>",
                    tokens_html(&r.tokens, &r.activations, self.unit.stats.max, REAL)
                );
            }
        }
        out
    }
}

/// A record's tokens, each shaded by its value over `scale` (negative
/// values unshaded), the value in its tooltip.
fn tokens_html(tokens: &[String], values: &[f32], scale: f64, (r, g, b): (u8, u8, u8)) -> String {
    let mut out = String::from("<div class=\"tokens\">");
    for (token, &value) in tokens.iter().zip(values) {
        let alpha = if scale > 0.0 {
            (value as f64 / scale).clamp(0.0, 1.0)
        } else {
            0.0
        };
        // A line break shows as ↵ and breaks the line.
        let shown = markup_escaped(token).replace('\n', "↵\n");
        let _ = write!(
            out,
            "<span style=\"background:rgba({r},{g},{b},{alpha:.3})\" title=\"{value:.3}\">{shown}</span>"
        );
    }
    out.push_str("</div>");
    out
}

fn effects_html(effects: &LogitEffect) -> String {
    let list = |tokens: &[crate::dataset::TokenEffect]| {
        (tokens.iter())
            .map(|t| format!("<code>{}</code> {:+.3}", markup_escaped(&t.token), t.effect))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "<h2>Logit effects</h2>\n<p>Raises: {}</p>\n<p>Lowers: {}</p>\n",
        list(&effects.raised),
        list(&effects.lowered)
    )
}

/// Bars of the histogram's counts (on a log scale, so the tail shows) over
/// its edges, as an inline SVG.
fn histogram_svg(edges: &[f64], counts: &[u64]) -> String {
    let (width, height) = (640.0, 120.0);
    let bar = width / counts.len() as f64;
    let top = counts
        .iter()
        .map(|&c| (c as f64).ln_1p())
        .fold(0.0, f64::max);
    let mut svg = format!(
        "<svg class=\"histogram\" width=\"{width}\" height=\"{}\" viewBox=\"0 0 {width} {}\" xmlns=\"http://www.w3.org/2000/svg\">",
        height + 16.0,
        height + 16.0
    );
    for (i, &count) in counts.iter().enumerate() {
        let h = if top > 0.0 {
            height * (count as f64).ln_1p() / top
        } else {
            0.0
        };
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"rgb(120,120,120)\"><title>{} to {}: {count}</title></rect>",
            i as f64 * bar,
            height - h,
            (bar - 1.0).max(0.5),
            number(edges.get(i).copied()),
            number(edges.get(i + 1).copied()),
        );
    }
    let _ = write!(
        svg,
        "<text x=\"0\" y=\"{}\" font-size=\"11\">{}</text><text x=\"{width}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text></svg>",
        height + 13.0,
        number(edges.first().copied()),
        height + 13.0,
        number(edges.last().copied()),
    );
    svg
}

fn index_html(dataset: &Dataset, rows: &[String]) -> String {
    let subject = (dataset.manifest().subject_model.as_ref())
        .map(|m| format!(" of {}", markup_escaped(&m.name)))
        .unwrap_or_default();
    let name = dataset
        .dir()
        .file_name()
        .map(|n| markup_escaped(&n.to_string_lossy()))
        .unwrap_or_default();
    page(
        &format!("featurescope: {name}"),
        &format!(
            "<h1>{name}: units{subject}</h1>\n<table>\n<tr><th>unit</th><th>source</th><th>index</th><th>max</th><th>best explanation</th><th>score</th></tr>\n{}</table>\n",
            rows.concat()
        ),
    )
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}<p class=\"meta\">Written by featurescope {}.</p>\n</body>\n</html>\n",
        markup_escaped(title),
        env!("CARGO_PKG_VERSION"),
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;max-width:75em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}\
.meta{color:#777;font-size:.85em;margin-right:.6em}\
table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}\
.tokens{font-family:ui-monospace,monospace;white-space:pre-wrap;line-height:1.7;display:inline}\
.tokens span{border-radius:2px}\
.record,.pair{margin:.35em 0;padding:.2em 0;border-bottom:1px dotted #eee}\
.pair .tokens{display:block}\
.swatch{display:inline-block;width:1em;height:1em;vertical-align:middle}\
.swatch.real{background:rgb(255,122,0)}.swatch.sim{background:rgb(30,110,255)}";

/// A number as the pages show it: three significant decimals, `–` for none.
fn number(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.3}"),
        _ => "–".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_text_cannot_become_markup_or_control_the_page() {
        let shown = markup_escaped("<script>alert('x')</script> & \"q\"\u{1b}[31m\u{202e}");
        assert_eq!(
            shown,
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;\\u{1b}[31m\\u{202e}"
        );
        let html = tokens_html(&["<b>".into(), "\n".into()], &[2.0, -1.0], 4.0, REAL);
        assert!(
            html.contains("rgba(255,122,0,0.500)\" title=\"2.000\">&lt;b&gt;</span>"),
            "{html}"
        );
        // Negative values are not shaded; a line break shows and breaks.
        assert!(
            html.contains("rgba(255,122,0,0.000)\" title=\"-1.000\">↵\n</span>"),
            "{html}"
        );
    }
}
