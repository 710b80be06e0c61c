//! What the commands share for talking to the user: JSON, sanitised lines,
//! progress bars, Ctrl-C as a cancel flag, and warnings about skipped documents.
use anyhow::{Context, Result};
use featurescope::activations::{BadDocument, Progress};
use featurescope::text::printable;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// JSON on stdout, as [`terminal_json`] writes it.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", terminal_json(&serde_json::to_string_pretty(value)?));
    Ok(())
}

/// serde escapes only the C0 controls inside strings; the other characters
/// a terminal acts on (DEL, C1 controls, bidi overrides) from datasets and
/// models are escaped here too, as `\uXXXX`, which keeps the JSON the same.
fn terminal_json(json: &str) -> String {
    let mut shown = String::with_capacity(json.len());
    for c in json.chars() {
        if c != '\n' && printable(c.encode_utf8(&mut [0; 4])) != c.to_string() {
            shown.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            shown.push(c);
        }
    }
    shown
}

/// Sanitises each line but keeps the line breaks.
pub fn printable_lines(text: &str) -> String {
    text.lines().map(|l| printable(l) + "\n").collect()
}

/// A progress bar drawn with `template` (indicatif's syntax).
pub fn progress_bar(length: u64, template: &str) -> Result<ProgressBar> {
    Ok(ProgressBar::new(length)
        .with_style(ProgressStyle::with_template(template).context("progress template")?))
}

/// A progress bar for a run over a corpus and the updater that drives it.
pub fn corpus_progress() -> Result<(ProgressBar, impl FnMut(Progress))> {
    let bar = progress_bar(
        0,
        "{msg:10} {bar:40} {human_pos}/{human_len} tokens  {per_sec}  eta {eta}",
    )?;
    bar.set_message("counting");
    let updater = bar.clone();
    Ok((bar, move |p| match p {
        Progress::Planned { model_tokens, .. } => {
            updater.set_length(model_tokens);
            updater.set_message("extracting");
        }
        Progress::Tokens(n) => updater.inc(n),
        Progress::Writing => updater.set_message("writing"),
    }))
}

/// Ctrl-C asks the work to stop: training at the next step, with a
/// checkpoint; an extraction before it writes.
pub fn cancel_on_ctrl_c() -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    // If a handler cannot be installed, Ctrl-C kills the process instead and
    // the last periodic checkpoint is what --resume continues from.
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    cancel
}

pub fn report_bad_documents(bad: &[BadDocument]) {
    for bad in bad {
        eprintln!(
            "warning: {}: document {} skipped: {}",
            printable(&bad.place),
            bad.id,
            printable(&bad.reason)
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_for_the_terminal_escapes_what_the_terminal_acts_on_and_means_the_same() {
        let value = serde_json::json!({ "token": "a\u{9b}31m\u{202e}b\u{7f}" });
        let shown = super::terminal_json(&serde_json::to_string_pretty(&value).unwrap());
        assert!(!shown.contains(['\u{9b}', '\u{202e}', '\u{7f}']), "{shown}");
        assert!(shown.contains("\\u009b"), "{shown}");
        let back: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(back, value);
    }
}
