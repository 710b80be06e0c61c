//! Text from datasets and LLMs is untrusted: before it reaches a terminal,
//! control characters and escape sequences are made visible instead of obeyed.

/// `s` with every control character (C0, DEL, C1) written as `\u{XX}`, and the
/// Unicode bidirectional overrides too, which can reorder what a line shows.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn escape_sequences_are_made_visible() {
        assert_eq!(printable("a\x1b[31mred\x07"), "a\\u{1b}[31mred\\u{7}");
        assert_eq!(printable("tab\there\nnl"), "tab\\u{9}here\\u{a}nl");
        assert_eq!(printable("\u{9b}2J"), "\\u{9b}2J");
        assert_eq!(printable("abc\u{202e}def"), "abc\\u{202e}def");
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        assert_eq!(printable("héllo, 世界 — ok"), "héllo, 世界 — ok");
    }
}
