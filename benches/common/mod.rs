//! What the benchmarks share: medians with their range, and timed commands.
#![allow(dead_code)] // each benchmark uses part of it

use std::process::Command;
use std::time::Instant;

/// The median of `values` and their range (min, max).
pub fn median_and_range(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}

/// "median [min–max]" of `values`, with `digits` decimals.
pub fn spread(values: &[f64], digits: usize) -> String {
    let (median, low, high) = median_and_range(values.to_vec());
    format!("{median:.digits$} [{low:.digits$}–{high:.digits$}]")
}

/// Runs `command` to completion: its wall time and its stdout (it must succeed).
pub fn timed(command: &mut Command) -> (f64, String) {
    let start = Instant::now();
    let output = command.output().expect("run the command");
    let seconds = start.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        seconds,
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}
