//! Tokens as a heatmap: each token's background shows its activation,
//! relative to the unit's maximum. Positive activations warm, negative ones
//! cool (baselines have both). Tokens are made safe and visible first:
//! control characters escaped, newlines and tabs drawn as symbols, a token
//! of spaces as middle dots.
use featurescope::text::printable;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Palette {
    TrueColor,
    /// xterm's 256 colours, for terminals without 24-bit colour.
    Indexed,
}

impl Palette {
    /// What the terminal says it supports.
    pub fn detect() -> Self {
        match std::env::var("COLORTERM") {
            Ok(v) if v.contains("truecolor") || v.contains("24bit") => Self::TrueColor,
            _ => Self::Indexed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    Dark,
    Light,
}

/// How the explorer colours: the palette the terminal takes and the theme.
pub struct Look {
    pub palette: Palette,
    pub theme: Theme,
}

/// How a token reads on screen: never a control character.
pub fn display_token(token: &str) -> String {
    if !token.is_empty() && token.chars().all(|c| c == ' ') {
        return "·".repeat(token.chars().count());
    }
    let shown: String = token
        .chars()
        .map(|c| match c {
            '\n' => '↵',
            '\t' => '→',
            '\r' => '␍',
            c => c,
        })
        .collect();
    printable(&shown)
}

/// Background for an activation as a fraction of the unit's maximum, in [-1, 1].
pub fn heat(fraction: f32, palette: Palette, theme: Theme) -> Option<Color> {
    let f = fraction.clamp(-1.0, 1.0);
    if f.abs() < 0.02 {
        return None;
    }
    match palette {
        Palette::TrueColor => {
            let (base, hot) = match (theme, f > 0.0) {
                (Theme::Dark, true) => ((30.0, 30.0, 30.0), (230.0, 120.0, 20.0)),
                (Theme::Dark, false) => ((30.0, 30.0, 30.0), (40.0, 110.0, 230.0)),
                (Theme::Light, true) => ((255.0, 255.0, 255.0), (240.0, 110.0, 0.0)),
                (Theme::Light, false) => ((255.0, 255.0, 255.0), (40.0, 110.0, 230.0)),
            };
            let t = f.abs();
            let mix = |a: f32, b: f32| (a + (b - a) * t).round() as u8;
            Some(Color::Rgb(
                mix(base.0, hot.0),
                mix(base.1, hot.1),
                mix(base.2, hot.2),
            ))
        }
        Palette::Indexed => {
            // Five steps of xterm's colour cube towards orange or blue.
            const WARM: [u8; 5] = [52, 88, 130, 166, 208];
            const COOL: [u8; 5] = [17, 18, 19, 20, 27];
            let step = ((f.abs() * 5.0).ceil() as usize).clamp(1, 5) - 1;
            Some(Color::Indexed(if f > 0.0 {
                WARM[step]
            } else {
                COOL[step]
            }))
        }
    }
}

/// The spans of one record; `selected` marks the token under the cursor.
pub fn record_spans(
    tokens: &[String],
    activations: &[f32],
    max: f32,
    selected: Option<usize>,
    palette: Palette,
    theme: Theme,
) -> Vec<Span<'static>> {
    let scale = if max > 0.0 { max } else { 1.0 };
    tokens
        .iter()
        .zip(activations)
        .enumerate()
        .map(|(i, (token, &a))| {
            let mut style = Style::default();
            if let Some(bg) = heat(a / scale, palette, theme) {
                style = style.bg(bg);
            }
            if selected == Some(i) {
                style = style.add_modifier(Modifier::REVERSED | Modifier::UNDERLINED);
            }
            Span::styled(display_token(token), style)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_visible_and_safe() {
        assert_eq!(display_token(" "), "·");
        assert_eq!(display_token("\n"), "↵");
        assert_eq!(display_token(" cat"), " cat");
        let escaped = display_token("\u{1b}[31mred");
        assert!(!escaped.contains('\u{1b}'), "{escaped}");
    }

    #[test]
    fn heat_rises_with_activation_and_zero_has_none() {
        assert_eq!(heat(0.0, Palette::TrueColor, Theme::Dark), None);
        let Some(Color::Rgb(r1, ..)) = heat(0.3, Palette::TrueColor, Theme::Dark) else {
            panic!()
        };
        let Some(Color::Rgb(r2, ..)) = heat(0.9, Palette::TrueColor, Theme::Dark) else {
            panic!()
        };
        assert!(r2 > r1);
        assert_ne!(
            heat(0.9, Palette::Indexed, Theme::Dark),
            heat(-0.9, Palette::Indexed, Theme::Dark)
        );
    }
}
