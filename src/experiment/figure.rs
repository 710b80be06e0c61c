//! Figures as SVG, written by hand: a scatter plot needs axes, ticks and
//! circles, not a plotting library's build.
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

/// Text as SVG character data.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

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

impl Scatter {
    pub fn svg(&self) -> String {
        let (left, right, top, bottom) = MARGIN;
        let (plot_w, plot_h) = (WIDTH - left - right, HEIGHT - top - bottom);
        let x =
            |v: f64| left + (v - self.x_bounds.0) / (self.x_bounds.1 - self.x_bounds.0) * plot_w;
        let y = |v: f64| top + (self.y_bounds.1 - v) / (self.y_bounds.1 - self.y_bounds.0) * plot_h;
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
            escaped(&self.title)
        );
        let _ = writeln!(
            s,
            r#"<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>"#
        );
        for t in ticks(self.x_bounds) {
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{t}</text>"#,
                x(t),
                top + plot_h + 18.0
            );
        }
        for t in ticks(self.y_bounds) {
            let _ = writeln!(
                s,
                r##"<line x1="{left}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{t}</text>"##,
                left + plot_w,
                y(t),
                y(t),
                left - 6.0,
                y(t) + 4.0
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            left + plot_w / 2.0,
            HEIGHT - 15.0,
            escaped(&self.x_label)
        );
        let _ = writeln!(
            s,
            r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            top + plot_h / 2.0,
            escaped(&self.y_label)
        );
        for (i, &(px, py)) in self.points.iter().enumerate() {
            // A fixed spread across each column, so equal ratings do not
            // hide each other.
            let jitter = ((i as f64 * 0.618_034).fract() - 0.5) * 0.3;
            let _ = writeln!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="#1f77b4" fill-opacity="0.6"/>"##,
                x(px + jitter),
                y(py)
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
