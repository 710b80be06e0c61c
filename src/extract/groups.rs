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
/// unit `first + k` of source `source`, unit `first_unit + k` counting
/// source after source; the groups of one `worker` share a thread.
pub struct UnitGroup<T> {
    pub source: usize,
    pub first: usize,
    pub first_unit: usize,
    pub worker: usize,
    pub state: Vec<T>,
    pub extremes: Extremes,
    /// The units' totals over every token (the main pass keeps them).
    pub stats: Option<TokenStats>,
}

impl<T> UnitGroup<T> {
    pub fn units(&self) -> Range<usize> {
        self.first..self.first + self.state.len()
    }

    /// The same units with each one's state replaced by `f(unit, state)`
    /// (`unit` counting source after source).
    pub fn map<U>(self, mut f: impl FnMut(usize, T) -> U) -> UnitGroup<U> {
        let first_unit = self.first_unit;
        UnitGroup {
            source: self.source,
            first: self.first,
            first_unit,
            worker: self.worker,
            state: (self.state.into_iter().enumerate())
                .map(|(k, state)| f(first_unit + k, state))
                .collect(),
            extremes: self.extremes,
            stats: self.stats,
        }
    }
}

/// Splits all units (`widths[source]` for each source) into `workers`
/// equal shares, each cut into groups at source boundaries; a group's state
/// is made by `make(unit)`, with units numbered source after source.
pub fn unit_groups<T>(
    widths: &[usize],
    workers: usize,
    mut make: impl FnMut(usize) -> T,
) -> Vec<UnitGroup<T>> {
    let share = widths.iter().sum::<usize>().div_ceil(workers.max(1)).max(1);
    let mut groups = Vec::new();
    let mut unit = 0;
    for (source, &width) in widths.iter().enumerate() {
        let mut first = 0;
        while first < width {
            let worker = unit / share;
            let len = ((worker + 1) * share - unit).min(width - first);
            groups.push(UnitGroup {
                source,
                first,
                first_unit: unit,
                worker,
                state: (unit..unit + len).map(&mut make).collect(),
                extremes: Extremes::new(len),
                stats: None,
            });
            unit += len;
            first += len;
        }
    }
    groups
}

/// A window of a batch: its index in the corpus and its length in tokens.
pub type WindowSpan = (u64, usize);

/// Runs `work(group, position, window, source batch)` for every window of
/// a batch, in order, and every group, each worker's groups on a thread.
pub fn for_each_group_window<T: Send>(
    groups: &mut [UnitGroup<T>],
    windows: &[WindowSpan],
    acts: &[SourceBatch],
    work: impl Fn(&mut UnitGroup<T>, usize, WindowSpan, &SourceBatch) + Sync,
) {
    let run = |share: &mut [UnitGroup<T>]| {
        for group in share {
            let source = &acts[group.source];
            for (b, &window) in windows.iter().enumerate() {
                work(group, b, window, source);
            }
        }
    };
    if groups.iter().all(|g| g.worker == 0) {
        return run(groups);
    }
    std::thread::scope(|scope| {
        for share in groups.chunk_by_mut(|a, b| a.worker == b.worker) {
            scope.spawn(|| run(share));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_get_equal_shares_cut_at_source_boundaries() {
        let groups = unit_groups(&[5, 3], 2, |u| u);
        let layout: Vec<_> = groups
            .iter()
            .map(|g| (g.source, g.first, g.first_unit, g.worker, g.state.clone()))
            .collect();
        assert_eq!(
            layout,
            vec![
                (0, 0, 0, 0, vec![0, 1, 2, 3]),
                (0, 4, 4, 1, vec![4]),
                (1, 0, 5, 1, vec![5, 6, 7]),
            ]
        );
    }
}
