//! Figures as SVG, written by hand: a scatter plot, bar charts and lines
//! need axes, ticks, circles, rectangles and polylines, not a plotting
//! library's build.
use crate::text::markup_escaped;
use std::fmt::Write;

/// A scatter plot: its labels, axis ranges and points.
#[derive(Debug, Clone, PartialEq)]
pub struct Scatter {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_bounds: (f64, f64),
    pub y_bounds: (f64, f64),
    pub points: Vec<(f64, f64)>,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 440.0;
const MARGIN: (f64, f64, f64, f64) = (70.0, 20.0, 50.0, 60.0); // left, right, top, bottom

/// About five round tick values across `(low, high)`.
fn ticks((low, high): (f64, f64)) -> Vec<f64> {
    if !(low.is_finite() && high.is_finite() && high > low) {
        return Vec::new();
    }
    let raw = (high - low) / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(raw);
    let first = (low / step).ceil() as i64;
    let last = (high / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Where the plot area lies: `(left, top, width, height)`.
fn plot_area() -> (f64, f64, f64, f64) {
    let (left, right, top, bottom) = MARGIN;
    (left, top, WIDTH - left - right, HEIGHT - top - bottom)
}

/// The vertical position of `v` on a y axis spanning `bounds`.
fn y_position((low, high): (f64, f64), v: f64) -> f64 {
    let (_, top, _, plot_h) = plot_area();
    top + (high - v) / (high - low) * plot_h
}

/// The opening of a figure: its canvas, title, frame, the y axis's grid,
/// ticks and label, and the x axis's label.
fn begin(title: &str, y_bounds: (f64, f64), y_label: &str, x_label: &str) -> String {
    let (left, top, plot_w, plot_h) = plot_area();
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="28" text-anchor="middle" font-size="14">{}</text>"#,
        WIDTH / 2.0,
        markup_escaped(title)
    );
    let _ = writeln!(
        s,
        r#"<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>"#
    );
    for t in ticks(y_bounds) {
        let y = y_position(y_bounds, t);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{t}</text>"##,
            left + plot_w,
            left - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        left + plot_w / 2.0,
        HEIGHT - 10.0,
        markup_escaped(x_label)
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        top + plot_h / 2.0,
        markup_escaped(y_label)
    );
    s
}

impl Scatter {
    pub fn svg(&self) -> String {
        let (left, top, plot_w, plot_h) = plot_area();
        let x =
            |v: f64| left + (v - self.x_bounds.0) / (self.x_bounds.1 - self.x_bounds.0) * plot_w;
        let mut s = begin(&self.title, self.y_bounds, &self.y_label, &self.x_label);
        for t in ticks(self.x_bounds) {
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{t}</text>"#,
                x(t),
                top + plot_h + 18.0
            );
        }
        for (i, &(px, py)) in self.points.iter().enumerate() {
            // A fixed spread across each column, so equal ratings do not
            // hide each other.
            let jitter = ((i as f64 * 0.618_034).fract() - 0.5) * 0.3;
            let _ = writeln!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="#1f77b4" fill-opacity="0.6"/>"##,
                x(px + jitter),
                y_position(self.y_bounds, py)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

/// One bar: its height and, where there is one, its interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub value: f64,
    pub interval: Option<(f64, f64)>,
}

impl Bar {
    pub fn new(value: f64, interval: Option<(f64, f64)>) -> Self {
        Self { value, interval }
    }

    /// The lowest and highest point drawn.
    fn extent(&self) -> (f64, f64) {
        let (low, high) = self.interval.unwrap_or((self.value, self.value));
        (low.min(self.value), high.max(self.value))
    }
}

/// A grouped bar chart: per group (its label, a line or two), one bar per
/// series, `None` where a series has no value.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupedBars {
    pub title: String,
    pub y_label: String,
    pub series: Vec<String>,
    pub groups: Vec<(Vec<String>, Vec<Option<Bar>>)>,
}

/// Colours of the series, in order (matplotlib's first six).
const SERIES_COLOURS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];

impl GroupedBars {
    /// The y range drawn: every bar and interval, and zero, rounded out to
    /// tenths.
    pub fn y_bounds(&self) -> (f64, f64) {
        let bars = self
            .groups
            .iter()
            .flat_map(|(_, bars)| bars.iter().flatten());
        let (low, high) = bars
            .map(Bar::extent)
            .filter(|(l, h)| l.is_finite() && h.is_finite())
            .fold((0.0f64, 0.1f64), |(l, h), (bl, bh)| (l.min(bl), h.max(bh)));
        ((low * 10.0).floor() / 10.0, (high * 10.0).ceil() / 10.0)
    }

    pub fn svg(&self) -> String {
        let (left, top, plot_w, plot_h) = plot_area();
        let y_bounds = self.y_bounds();
        let y = |v: f64| y_position(y_bounds, v);
        let mut s = begin(&self.title, y_bounds, &self.y_label, "");
        let group_w = plot_w / self.groups.len().max(1) as f64;
        let bar_w = group_w * 0.8 / self.series.len().max(1) as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{left}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="black"/>"#,
            left + plot_w,
            y(0.0),
            y(0.0)
        );
        for (g, (label, bars)) in self.groups.iter().enumerate() {
            let centre = left + group_w * (g as f64 + 0.5);
            for (line, text) in label.iter().enumerate() {
                let _ = writeln!(
                    s,
                    r#"<text x="{centre:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                    top + plot_h + 16.0 + 14.0 * line as f64,
                    markup_escaped(text)
                );
            }
            for (i, bar) in bars.iter().enumerate() {
                let Some(bar) = bar else { continue };
                let colour = SERIES_COLOURS[i % SERIES_COLOURS.len()];
                let x = centre - group_w * 0.4 + bar_w * i as f64;
                let (from, to) = (y(bar.value.max(0.0)), y(bar.value.min(0.0)));
                let _ = writeln!(
                    s,
                    r#"<rect x="{x:.1}" y="{from:.1}" width="{:.1}" height="{:.1}" fill="{colour}"/>"#,
                    bar_w * 0.9,
                    to - from
                );
                if let Some((low, high)) = bar.interval {
                    let mid = x + bar_w * 0.45;
                    let _ = writeln!(
                        s,
                        r#"<path d="M{mid:.1} {:.1}V{:.1}M{:.1} {:.1}h{:.1}M{:.1} {:.1}h{:.1}" stroke="black"/>"#,
                        y(low),
                        y(high),
                        mid - 4.0,
                        y(low),
                        8.0,
                        mid - 4.0,
                        y(high),
                        8.0
                    );
                }
            }
        }
        for (i, name) in self.series.iter().enumerate() {
            let colour = SERIES_COLOURS[i % SERIES_COLOURS.len()];
            let x = left + 10.0 + 150.0 * i as f64;
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{:.1}" width="10" height="10" fill="{colour}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
                top + 8.0,
                x + 14.0,
                top + 17.0,
                markup_escaped(name)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

/// Stacked bars: per bar (its label), its parts (a name and a size), the
/// parts of each bar coloured in order and named inside when they fit.
#[derive(Debug, Clone, PartialEq)]
pub struct StackedBars {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub bars: Vec<(String, Vec<(String, f64)>)>,
}

impl StackedBars {
    pub fn svg(&self) -> String {
        let (left, top, plot_w, plot_h) = plot_area();
        let highest = (self.bars.iter())
            .map(|(_, parts)| parts.iter().map(|(_, v)| v).sum::<f64>())
            .fold(0.0, f64::max);
        let y_bounds = (0.0, highest.max(1.0) * 1.05);
        let y = |v: f64| y_position(y_bounds, v);
        let mut s = begin(&self.title, y_bounds, &self.y_label, &self.x_label);
        let bar_w = plot_w / self.bars.len().max(1) as f64;
        for (i, (label, parts)) in self.bars.iter().enumerate() {
            let x = left + bar_w * i as f64;
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
                x + bar_w / 2.0,
                top + plot_h + 14.0,
                markup_escaped(label)
            );
            let mut base = 0.0;
            for (j, (name, value)) in parts.iter().enumerate() {
                if *value <= 0.0 {
                    continue;
                }
                let colour = if j + 1 == parts.len() {
                    "#bbbbbb"
                } else {
                    SERIES_COLOURS[j % SERIES_COLOURS.len()]
                };
                let (from, to) = (y(base + value), y(base));
                let _ = writeln!(
                    s,
                    r#"<rect x="{:.1}" y="{from:.1}" width="{:.1}" height="{:.1}" fill="{colour}" stroke="white"><title>{}: {value}</title></rect>"#,
                    x + bar_w * 0.05,
                    bar_w * 0.9,
                    to - from,
                    markup_escaped(name)
                );
                if to - from >= 11.0 {
                    let _ = writeln!(
                        s,
                        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9">{}</text>"#,
                        x + bar_w / 2.0,
                        (from + to) / 2.0 + 3.0,
                        markup_escaped(name)
                    );
                }
                base += value;
            }
        }
        s.push_str("</svg>\n");
        s
    }
}

/// Lines over evenly spaced x positions, each labelled (the numbers of
/// features patched, say): per series its name and `(position, value)`
/// points; dashed horizontal references, each named.
#[derive(Debug, Clone, PartialEq)]
pub struct Lines {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_ticks: Vec<String>,
    pub series: Vec<(String, Vec<(usize, f64)>)>,
    pub references: Vec<(String, f64)>,
}

impl Lines {
    /// The y range drawn: every point and reference, and zero, with a
    /// twentieth to spare above and below.
    pub fn y_bounds(&self) -> (f64, f64) {
        let values = (self.series.iter())
            .flat_map(|(_, points)| points.iter().map(|(_, v)| *v))
            .chain(self.references.iter().map(|(_, v)| *v))
            .filter(|v| v.is_finite());
        let (low, high) = values.fold((0.0f64, 0.0f64), |(l, h), v| (l.min(v), h.max(v)));
        let spare = ((high - low) * 0.05).max(1e-3);
        (low - if low < 0.0 { spare } else { 0.0 }, high + spare)
    }

    pub fn svg(&self) -> String {
        let (left, top, plot_w, plot_h) = plot_area();
        let y_bounds = self.y_bounds();
        let y = |v: f64| y_position(y_bounds, v);
        let x = |i: usize| left + plot_w * (i as f64 + 0.5) / self.x_ticks.len().max(1) as f64;
        let mut s = begin(&self.title, y_bounds, &self.y_label, &self.x_label);
        for (i, tick) in self.x_ticks.iter().enumerate() {
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x(i),
                top + plot_h + 18.0,
                markup_escaped(tick)
            );
        }
        for (name, value) in &self.references {
            let _ = writeln!(
                s,
                r##"<line x1="{left}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#777" stroke-dasharray="5 4"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
                left + plot_w,
                y(*value),
                y(*value),
                left + plot_w - 4.0,
                y(*value) - 4.0,
                markup_escaped(name)
            );
        }
        let mut legend_at = 0.0;
        for (k, (name, points)) in self.series.iter().enumerate() {
            let colour = SERIES_COLOURS[k % SERIES_COLOURS.len()];
            let at: Vec<(f64, f64)> = (points.iter().filter(|(_, v)| v.is_finite()))
                .map(|&(i, v)| (x(i), y(v)))
                .collect();
            let path: Vec<String> = at
                .iter()
                .map(|(px, py)| format!("{px:.1},{py:.1}"))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                path.join(" ")
            );
            for (cx, cy) in &at {
                let _ = writeln!(
                    s,
                    r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="3" fill="{colour}"/>"#
                );
            }
            // Between the title and the plot, clear of every line, each
            // entry as wide as its name.
            let legend_x = left + legend_at;
            legend_at += 30.0 + 7.0 * name.chars().count() as f64;
            let _ = writeln!(
                s,
                r#"<rect x="{legend_x:.1}" y="{:.1}" width="10" height="10" fill="{colour}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
                top - 14.0,
                legend_x + 14.0,
                top - 5.0,
                markup_escaped(name)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside_the_range() {
        assert_eq!(ticks((0.5, 5.5)), vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(ticks((-1.0, 1.0)), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
    }
}
