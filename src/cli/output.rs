//! What the commands share for talking to the user: JSON, sanitised lines,
//! progress bars, Ctrl-C as a cancel flag, and warnings about skipped documents.
use anyhow::{Context, Result};
use featurescope::activations::{BadDocument, Progress};
use featurescope::text::printable;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
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
