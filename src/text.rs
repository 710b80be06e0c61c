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

/// `s` as HTML or XML character data and attribute values: its control
/// characters written out as [`printable_lines`] writes them (line breaks
/// and tabs kept), and `& < > " '` as entities, so no text from a dataset
/// or a model can become markup.
pub fn markup_escaped(s: &str) -> String {
    let visible = printable_lines(s);
    let mut out = String::with_capacity(visible.len());
    for c in visible.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// [`printable`], line by line: newlines and tabs stay (they only move the
/// cursor), every other control character is escaped.
pub fn printable_lines(s: &str) -> String {
    s.split('\n')
        .map(|line| {
            line.split('\t')
                .map(printable)
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect::<Vec<_>>()
        .join("\n")
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
    fn lines_keep_their_breaks_and_tabs_only() {
        assert_eq!(
            super::printable_lines("a\tb\n\x1b[2Jc\r"),
            "a\tb\n\\u{1b}[2Jc\\u{d}"
        );
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        assert_eq!(printable("héllo, 世界 — ok"), "héllo, 世界 — ok");
    }
}
