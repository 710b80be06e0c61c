//! The help: every binding from the live keymap, in a popup that scrolls
//! when it is longer than the window.
use super::super::keymap::{Action, Keymap};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};

#[derive(Default)]
pub struct Help {
    pub open: bool,
    /// Lines scrolled past.
    scroll: usize,
}

impl Help {
    pub fn show(&mut self) {
        self.open = true;
        self.scroll = 0;
    }

    /// A key while the help is open: up and down scroll it; any other bound
    /// key closes it. True when the key was quit, which still quits.
    pub fn action(&mut self, action: Action) -> bool {
        let last = Action::ALL.len().saturating_sub(1);
        match action {
            Action::Up | Action::PageUp => self.scroll = self.scroll.saturating_sub(1),
            Action::Down | Action::PageDown => self.scroll = (self.scroll + 1).min(last),
            _ => {
                self.open = false;
                return action == Action::Quit;
            }
        }
        false
    }
}

/// The help as drawn from a keymap, centred in the area.
pub struct HelpView<'a> {
    pub help: &'a Help,
    pub keymap: &'a Keymap,
}

impl Widget for HelpView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let help = self.keymap.help();
        let height = (help.len() as u16 + 2).min(area.height);
        let longest = help
            .iter()
            .map(|(_, what)| what.chars().count())
            .max()
            .unwrap_or(0);
        let keys_width = help
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0)
            + 2;
        let width = ((keys_width + longest) as u16 + 3).min(area.width);
        let popup = Rect::new(
            area.x + (area.width - width) / 2,
            area.y + (area.height - height) / 2,
            width,
            height,
        );
        let shown = height.saturating_sub(2) as usize;
        let scroll = self.help.scroll.min(help.len().saturating_sub(shown));
        let title = if shown < help.len() {
            format!(
                "keys {}-{} of {} (↑/↓ scroll)",
                scroll + 1,
                scroll + shown,
                help.len()
            )
        } else {
            "keys".into()
        };
        let lines: Vec<Line> = help
            .into_iter()
            .skip(scroll)
            .map(|(keys, what)| Line::from(format!("{keys:<keys_width$} {what}")))
            .collect();
        Clear.render(popup, buf);
        Paragraph::new(lines)
            .block(Block::default().borders(Borders::ALL).title(title))
            .render(popup, buf);
    }
}
