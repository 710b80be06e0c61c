//! A line of text typed into the footer: a filter, a unit id, a rating, a
//! training configuration, a text to probe, a prompt to steer. Enter hands
//! it to the app; Esc drops it.
use crossterm::event::{KeyCode, KeyEvent};
use featurescope::text::printable;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::{Paragraph, Widget};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputPurpose {
    Filter,
    GoTo,
    /// A rating of the score shown in real vs simulated.
    Rate,
    /// The training configuration of a train job.
    Train,
    /// Your own text, for every unit to be run on.
    Probe,
    /// How to steer with the open unit, and the prompt.
    Steer,
}

pub struct TextInput {
    pub purpose: InputPurpose,
    pub text: String,
}

/// Where typing a key left the input.
#[derive(Debug, PartialEq)]
pub enum Edited {
    Editing,
    Cancelled,
    Submitted(InputPurpose, String),
}

impl TextInput {
    pub fn new(purpose: InputPurpose, text: String) -> Self {
        Self { purpose, text }
    }

    pub fn edit(&mut self, key: KeyEvent) -> Edited {
        match key.code {
            KeyCode::Esc => return Edited::Cancelled,
            KeyCode::Backspace => {
                self.text.pop();
            }
            KeyCode::Char(c) if !c.is_control() => self.text.push(c),
            KeyCode::Enter => {
                return Edited::Submitted(self.purpose, std::mem::take(&mut self.text));
            }
            _ => {}
        }
        Edited::Editing
    }
}

impl Widget for &TextInput {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let prompt = match self.purpose {
            InputPurpose::Filter => "filter (words, layer:N, kind:K, score>X, score<X, ~meaning): ",
            InputPurpose::GoTo => "go to unit id: ",
            InputPurpose::Rate => {
                "how well does the simulation match (1 = not at all … 5 = exactly)? "
            }
            InputPurpose::Train => "train an SAE with the configuration: ",
            InputPurpose::Probe => "probe: run every unit on the text: ",
            InputPurpose::Steer => "steer (+AMOUNT adds, =VALUE clamps) then the prompt: ",
        };
        Paragraph::new(format!("{prompt}{}▏", printable(&self.text))).render(area, buf);
    }
}
