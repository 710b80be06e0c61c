//! A batch's activations as selection reads them, and the units split into
//! groups whose per-window work runs on threads of their own: between the
//! model's passes this is the only work, and the model's threads are idle.
use super::select::{Extremes, TokenStats};
use std::ops::Range;

/// One batch's activations of one unit source, laid out
/// `[window][token][unit]` as the model's hook (or the dictionary's encoder)
/// gives them; rows past a window's end are padding.
pub struct SourceBatch {
    pub values: Vec<f32>,
    pub longest: usize,
    pub width: usize,
}

impl SourceBatch {
    /// The first `len` token rows of window `window`, each cut to `units`.
    pub fn rows(
        &self,
        window: usize,
        len: usize,
        units: Range<usize>,
    ) -> impl Iterator<Item = &[f32]> {
        (0..len).map(move |t| {
            let row = (window * self.longest + t) * self.width;
            &self.values[row + units.start..row + units.end]
        })
    }

    /// Unit `unit`'s activations on the first `len` tokens of window `window`.
    pub fn unit(
        &self,
        window: usize,
        len: usize,
        unit: usize,
    ) -> impl ExactSizeIterator<Item = f32> + Clone + '_ {
        (0..len).map(move |t| self.values[(window * self.longest + t) * self.width + unit])
    }
}

/// A range of one source's units handled together: `state[k]` belongs to
/// unit `first + k` of source `source`.
pub struct UnitGroup<T> {
    pub source: usize,
    pub first: usize,
    pub state: Vec<T>,
    pub extremes: Extremes,
    /// The units' totals over every token (the main pass keeps them).
    pub stats: Option<TokenStats>,
}

impl<T> UnitGroup<T> {
    pub fn units(&self) -> Range<usize> {
        self.first..self.first + self.state.len()
    }

    /// The same units with each one's state replaced by `f(state)`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> UnitGroup<U> {
        UnitGroup {
            source: self.source,
            first: self.first,
            state: self.state.into_iter().map(f).collect(),
            extremes: self.extremes,
            stats: self.stats,
        }
    }
}

/// Splits each source's units (`widths[source]` of them) into `parts`
/// groups, their state made by `make(unit)` with units numbered source
/// after source.
pub fn unit_groups<T>(
    widths: &[usize],
    parts: usize,
    mut make: impl FnMut(usize) -> T,
) -> Vec<UnitGroup<T>> {
    let mut groups = Vec::new();
    let mut unit = 0;
    for (source, &width) in widths.iter().enumerate() {
        let size = width.div_ceil(parts.max(1)).max(1);
        for first in (0..width).step_by(size) {
            let len = size.min(width - first);
            groups.push(UnitGroup {
                source,
                first,
                state: (unit..unit + len).map(&mut make).collect(),
                extremes: Extremes::new(len),
                stats: None,
            });
            unit += len;
        }
    }
    groups
}

/// A window of a batch: its index in the corpus and its length in tokens.
pub type WindowSpan = (u64, usize);

/// Runs `work(group, position, window, source batch)` for every window of
/// a batch, in order, and every group, each group on a thread of its own.
pub fn for_each_group_window<T: Send>(
    groups: &mut [UnitGroup<T>],
    windows: &[WindowSpan],
    acts: &[SourceBatch],
    work: impl Fn(&mut UnitGroup<T>, usize, WindowSpan, &SourceBatch) + Sync,
) {
    let run = |group: &mut UnitGroup<T>| {
        let source = &acts[group.source];
        for (b, &window) in windows.iter().enumerate() {
            work(group, b, window, source);
        }
    };
    if let [only] = groups {
        return run(only);
    }
    std::thread::scope(|scope| {
        for group in groups.iter_mut() {
            scope.spawn(|| run(group));
        }
    });
}
