//! Streaming per-unit selection of records, in memory bounded by
//! units × samples × window and independent of corpus size:
//! top-k windows by maximum activation, uniform random windows (disjoint from
//! the top ones), random windows from quantile bins of window maxima, and the
//! unit's statistics and histogram.
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

#[derive(Debug, Clone, PartialEq)]
pub struct SelectionConfig {
    pub top_k: usize,
    pub random_k: usize,
    /// Lower edges of the bins of window maxima, as quantiles (the paper's
    /// [0, 0.5, 0.9, 0.99, 0.999] gives four bins).
    pub quantile_levels: Vec<f64>,
    pub quantile_k: usize,
    pub histogram_bins: usize,
    pub seed: u64,
}

impl SelectionConfig {
    /// How the records were chosen, as the manifest records it.
    pub fn params(&self) -> crate::dataset::SelectionParams {
        crate::dataset::SelectionParams {
            top_k: self.top_k as u32,
            random_k: self.random_k as u32,
            quantile_levels: self.quantile_levels.clone(),
            quantile_k: self.quantile_k as u32,
            seed: Some(self.seed),
        }
    }
}

impl Default for SelectionConfig {
    fn default() -> Self {
        Self {
            top_k: 20,
            random_k: 15,
            quantile_levels: vec![0.0, 0.5, 0.9, 0.99, 0.999],
            quantile_k: 5,
            histogram_bins: 32,
            seed: 0,
        }
    }
}

/// A window kept for a unit, with the unit's activation on each token.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub window: u64,
    pub max: f32,
    pub activations: Vec<f32>,
}

/// Reservoir sampling (Algorithm R) over `capacity` slots: says which slot
/// the next item goes to, if it is kept.
#[derive(Debug, Clone)]
pub struct Reservoir {
    capacity: usize,
    seen: u64,
    filled: usize,
}

impl Reservoir {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            seen: 0,
            filled: 0,
        }
    }

    pub fn offer(&mut self, rng: &mut SmallRng) -> Option<usize> {
        self.seen += 1;
        if self.filled < self.capacity {
            self.filled += 1;
            return Some(self.filled - 1);
        }
        if self.capacity == 0 {
            return None;
        }
        let j = rng.random_range(0..self.seen) as usize;
        (j < self.capacity).then_some(j)
    }
}

/// What a calibration pass learns about a unit before the main pass.
#[derive(Debug, Clone)]
pub struct Calibration {
    sampler: Reservoir,
    maxima: Vec<f32>,
    min: f32,
    max: f32,
}

impl Calibration {
    pub fn new() -> Self {
        Self {
            sampler: Reservoir::new(4096),
            maxima: Vec::new(),
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
        }
    }

    /// Takes in one window's extremes for this unit.
    pub fn observe_window(&mut self, rng: &mut SmallRng, hi: f32, lo: f32) {
        self.min = self.min.min(lo);
        self.max = self.max.max(hi);
        match self.sampler.offer(rng) {
            Some(i) if i == self.maxima.len() => self.maxima.push(hi),
            Some(i) => self.maxima[i] = hi,
            None => {}
        }
    }
}

impl Default for Calibration {
    fn default() -> Self {
        Self::new()
    }
}

/// The largest and smallest activation of each unit of a group over one
/// window, read a token row at a time: a row holds the group's units side
/// by side, as the model lays them out, so the loop runs over contiguous
/// floats and vectorises.
#[derive(Debug, Clone)]
pub struct Extremes {
    pub max: Vec<f32>,
    pub min: Vec<f32>,
}

impl Extremes {
    pub fn new(units: usize) -> Self {
        Self {
            max: vec![f32::NEG_INFINITY; units],
            min: vec![f32::INFINITY; units],
        }
    }

    /// The extremes over `rows`, one token's activations each.
    pub fn of_window<'a>(&mut self, rows: impl Iterator<Item = &'a [f32]>) {
        self.max.fill(f32::NEG_INFINITY);
        self.min.fill(f32::INFINITY);
        for row in rows {
            for ((max, min), &a) in self.max.iter_mut().zip(self.min.iter_mut()).zip(row) {
                *max = max.max(a);
                *min = min.min(a);
            }
        }
    }
}

/// Running totals over every token of a group of units (sum, sum of
/// squares, positive count, histogram), a token row at a time like
/// [`Extremes`]. Each unit's sums run over its tokens in the order the
/// pass reads windows.
#[derive(Debug, Clone)]
pub struct TokenStats {
    /// Per unit, the histogram's lower edge and bin width (apart, so that
    /// the bin loop reads each as a vector).
    lower_edges: Vec<f64>,
    bin_widths: Vec<f64>,
    bins: usize,
    /// `[bin][unit]`: a token row's counts land in the few planes of its
    /// common bins, unit after unit, rather than each in a cache line of
    /// its own (a third of this pass's time went to those misses).
    counts: Vec<u64>,
    sum: Vec<f64>,
    sum_squares: Vec<f64>,
    positive: Vec<u64>,
    tokens: u64,
    /// The current row's bin of each unit.
    row_bins: Vec<u32>,
}

/// One unit's share of [`TokenStats`].
#[derive(Debug, Clone, PartialEq)]
pub struct TokenTotals {
    pub tokens: u64,
    pub sum: f64,
    pub sum_squares: f64,
    pub positive: u64,
    pub counts: Vec<u64>,
}

impl TokenStats {
    /// For the units of `selectors`, with their calibrated histograms.
    pub fn new(selectors: &[UnitSelector]) -> Self {
        let bins = selectors.first().map_or(1, |s| s.histogram_edges.len() - 1);
        let units = selectors.len();
        Self {
            lower_edges: selectors.iter().map(|s| s.histogram_edges[0]).collect(),
            bin_widths: selectors
                .iter()
                .map(|s| s.histogram_edges[1] - s.histogram_edges[0])
                .collect(),
            bins,
            counts: vec![0; units * bins],
            sum: vec![0.0; units],
            sum_squares: vec![0.0; units],
            positive: vec![0; units],
            tokens: 0,
            row_bins: vec![0; units],
        }
    }

    /// Adds one token's activations of the group's units.
    pub fn add_row(&mut self, row: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { self.add_row_avx2(row) };
        }
        self.add_row_portable(row);
    }

    /// [`Self::add_row`] compiled with AVX2's wider vectors (the portable
    /// build targets SSE2); the same operations, so the same sums.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn add_row_avx2(&mut self, row: &[f32]) {
        self.add_row_portable(row);
    }

    #[inline(always)]
    fn add_row_portable(&mut self, row: &[f32]) {
        let sums = self.sum.iter_mut().zip(self.sum_squares.iter_mut());
        for (((sum, squares), positive), &a) in sums.zip(self.positive.iter_mut()).zip(row) {
            *sum += a as f64;
            *squares += (a as f64) * (a as f64);
            *positive += (a > 0.0) as u64;
        }
        // Bins first, in a loop that vectorises, then the counts. Values
        // outside the calibrated range go to the edge bins, whose edges are
        // widened to the true range at the end; NaN goes to bin 0.
        let last = (self.bins - 1) as f64;
        let origins = self.lower_edges.iter().zip(&self.bin_widths);
        for ((bin, (&lo, &width)), &a) in self.row_bins.iter_mut().zip(origins).zip(row) {
            // `max` sends NaN to 0; clamped first, so the conversion below
            // truncates (floor here) without Rust's saturating checks,
            // which kept this loop from vectorising.
            let at = ((a as f64 - lo) / width).max(0.0).min(last);
            // SAFETY: `at` is finite and within 0..=last, which fits a u32.
            *bin = unsafe { at.to_int_unchecked::<u32>() };
        }
        let units = self.row_bins.len();
        for (unit, &bin) in self.row_bins.iter().enumerate() {
            self.counts[bin as usize * units + unit] += 1;
        }
        self.tokens += 1;
    }

    /// The totals of the group's unit `unit`.
    pub fn unit(&self, unit: usize) -> TokenTotals {
        TokenTotals {
            tokens: self.tokens,
            sum: self.sum[unit],
            sum_squares: self.sum_squares[unit],
            positive: self.positive[unit],
            counts: (0..self.bins)
                .map(|bin| self.counts[bin * self.sum.len() + unit])
                .collect(),
        }
    }
}

/// The value below which a fraction `q` of `sorted` lies (linear interpolation).
pub fn quantile(sorted: &[f32], q: f64) -> f32 {
    quantile_by(sorted.len(), |i| sorted[i], q)
}

/// [`quantile`] of `len` sorted values given by position, for a sequence
/// that is not in memory (mostly zeros, in a sparse cache).
pub fn quantile_by(len: usize, at: impl Fn(usize) -> f32, q: f64) -> f32 {
    if len == 0 {
        return 0.0;
    }
    let pos = q.clamp(0.0, 1.0) * (len - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract() as f32);
    let next = at((i + 1).min(len - 1));
    at(i) + (next - at(i)) * frac
}

/// A kept window: which one, its maximum, and how many of its slot's floats are used.
#[derive(Debug, Clone, Copy)]
struct Kept {
    window: u64,
    max: f32,
    len: usize,
}

/// Everything kept for one unit during the main pass. Kept windows live in
/// slots allocated once (samples × window floats), so the pass allocates
/// nothing: replacing a window overwrites its slot. (Allocating per kept
/// window, interleaved with the model's large temporaries, fragmented the
/// heap to gigabytes.) Slots: top `[0, top_k)`, then random, then each bin.
pub struct UnitSelector {
    rng: SmallRng,
    window: usize,
    slots: Vec<f32>,
    top_k: usize,
    top: Vec<Kept>,
    weakest: Option<(usize, f32)>,
    random: Reservoir,
    random_kept: Vec<Option<Kept>>,
    boundaries: Vec<f32>,
    quantile_k: usize,
    bins: Vec<Reservoir>,
    bins_kept: Vec<Vec<Option<Kept>>>,
    histogram_edges: Vec<f64>,
    min: f32,
    max: f32,
}

/// A unit's selection when the pass is over.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    pub top: Vec<Candidate>,
    /// Per quantile bin, its samples.
    pub quantile: Vec<Vec<Candidate>>,
    pub random: Vec<Candidate>,
    pub quantile_boundaries: Vec<f64>,
    pub max: f64,
    pub mean: f64,
    pub variance: f64,
    pub density: f64,
    pub histogram_edges: Vec<f64>,
    pub histogram_counts: Vec<u64>,
}

/// The random generator of unit `unit` for `pass`: a unit draws the same
/// numbers whatever the batch size or the other units.
pub fn unit_rng(seed: u64, unit: u64, pass: u64) -> SmallRng {
    SmallRng::seed_from_u64(
        seed ^ unit.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ pass.wrapping_mul(0xd1b5_4a32_d192_ed03),
    )
}

impl UnitSelector {
    /// `window` is the most tokens a window has.
    pub fn new(
        config: &SelectionConfig,
        calibration: &Calibration,
        window: usize,
        rng: SmallRng,
    ) -> Self {
        let mut sorted = calibration.maxima.clone();
        sorted.sort_by(f32::total_cmp);
        let boundaries: Vec<f32> = config
            .quantile_levels
            .iter()
            .map(|&q| quantile(&sorted, q))
            .collect();
        let bins = boundaries.len().saturating_sub(1);
        let (lo, hi) = if calibration.min <= calibration.max {
            (calibration.min, calibration.max)
        } else {
            (0.0, 0.0)
        };
        let n = config.histogram_bins.max(1);
        let width = ((hi - lo) as f64 / n as f64).max(f64::MIN_POSITIVE);
        // Extra room in the random sample so that, after removing top windows, enough remain.
        let random_slots = config.random_k + config.top_k;
        let slots = config.top_k + random_slots + bins * config.quantile_k;
        Self {
            rng,
            window,
            slots: vec![0.0; slots * window],
            top_k: config.top_k,
            top: Vec::with_capacity(config.top_k),
            weakest: None,
            random: Reservoir::new(random_slots),
            random_kept: vec![None; random_slots],
            boundaries,
            quantile_k: config.quantile_k,
            bins: (0..bins)
                .map(|_| Reservoir::new(config.quantile_k))
                .collect(),
            bins_kept: vec![vec![None; config.quantile_k]; bins],
            histogram_edges: (0..=n).map(|i| lo as f64 + width * i as f64).collect(),
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
        }
    }

    /// Takes in one window for this unit: its largest and smallest
    /// activation, and its activations (read only if the window is kept).
    pub fn observe_window(
        &mut self,
        window: u64,
        window_max: f32,
        window_min: f32,
        activations: impl ExactSizeIterator<Item = f32> + Clone,
    ) {
        self.min = self.min.min(window_min);
        self.max = self.max.max(window_max);
        let kept = Kept {
            window,
            max: window_max,
            len: activations.len().min(self.window),
        };
        if self.top.len() < self.top_k {
            self.top.push(kept);
            self.store(self.top.len() - 1, activations.clone());
            self.weakest = self.weakest_top();
        } else if let Some((weakest, max)) = self.weakest
            && window_max > max
        {
            self.top[weakest] = kept;
            self.store(weakest, activations.clone());
            self.weakest = self.weakest_top();
        }
        if let Some(i) = self.random.offer(&mut self.rng) {
            self.random_kept[i] = Some(kept);
            self.store(self.top_k + i, activations.clone());
        }
        // Bin i holds maxima in [boundaries[i], boundaries[i + 1]).
        let bin = (0..self.bins.len())
            .find(|&i| window_max >= self.boundaries[i] && window_max < self.boundaries[i + 1]);
        if let Some(bin) = bin
            && let Some(i) = self.bins[bin].offer(&mut self.rng)
        {
            self.bins_kept[bin][i] = Some(kept);
            self.store(self.bin_slot(bin, i), activations);
        }
    }

    /// The top window with the smallest maximum (the first such), which the
    /// next stronger window replaces; kept up to date rather than searched
    /// for at every window.
    fn weakest_top(&self) -> Option<(usize, f32)> {
        self.top
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.max.total_cmp(&b.1.max))
            .map(|(i, k)| (i, k.max))
    }

    fn bin_slot(&self, bin: usize, i: usize) -> usize {
        self.top_k + self.random_kept.len() + bin * self.quantile_k + i
    }

    fn store(&mut self, slot: usize, activations: impl Iterator<Item = f32>) {
        let start = slot * self.window;
        for (to, a) in self.slots[start..start + self.window]
            .iter_mut()
            .zip(activations)
        {
            *to = a;
        }
    }

    fn candidate(&self, slot: usize, kept: Kept) -> Candidate {
        let start = slot * self.window;
        Candidate {
            window: kept.window,
            max: kept.max,
            activations: self.slots[start..start + kept.len].to_vec(),
        }
    }

    /// The selection, with the unit's totals over every token.
    pub fn finish(self, random_k: usize, totals: TokenTotals) -> Selected {
        let mut top: Vec<Candidate> = self
            .top
            .iter()
            .enumerate()
            .map(|(slot, &k)| self.candidate(slot, k))
            .collect();
        top.sort_by(|a, b| b.max.total_cmp(&a.max).then(a.window.cmp(&b.window)));
        let top_windows: std::collections::HashSet<u64> = top.iter().map(|c| c.window).collect();
        let mut random: Vec<Candidate> = self
            .random_kept
            .iter()
            .enumerate()
            .filter_map(|(i, k)| k.map(|k| self.candidate(self.top_k + i, k)))
            .collect();
        random.sort_by_key(|c| c.window);
        random.retain(|c| !top_windows.contains(&c.window));
        random.truncate(random_k);
        let quantile = self
            .bins_kept
            .iter()
            .enumerate()
            .map(|(bin, kept)| {
                let mut items: Vec<Candidate> = kept
                    .iter()
                    .enumerate()
                    .filter_map(|(i, k)| k.map(|k| self.candidate(self.bin_slot(bin, i), k)))
                    .collect();
                items.sort_by_key(|c| c.window);
                items
            })
            .collect();
        let count = totals.tokens.max(1) as f64;
        let mean = totals.sum / count;
        let variance = (totals.sum_squares / count - mean * mean).max(0.0);
        let mut histogram_edges = self.histogram_edges;
        if totals.tokens > 0 {
            let last = histogram_edges.len() - 1;
            histogram_edges[0] = histogram_edges[0].min(self.min as f64);
            histogram_edges[last] = histogram_edges[last].max(self.max as f64);
        }
        Selected {
            top,
            quantile,
            random,
            quantile_boundaries: self.boundaries.iter().map(|&b| b as f64).collect(),
            max: self.max as f64,
            mean,
            variance,
            density: totals.positive as f64 / count,
            histogram_edges,
            histogram_counts: totals.counts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(top_k: usize, random_k: usize) -> SelectionConfig {
        SelectionConfig {
            top_k,
            random_k,
            quantile_levels: vec![0.0, 0.5, 1.0],
            quantile_k: 2,
            histogram_bins: 4,
            seed: 3,
        }
    }

    #[test]
    fn keeps_the_windows_with_the_highest_maxima_and_random_ones_apart_from_them() {
        let windows: Vec<Vec<f32>> = (0..200)
            .map(|w| vec![0.0, ((w * 37) % 200) as f32, -1.0])
            .collect();
        // One unit: each token row holds one value.
        fn rows(w: &[f32]) -> std::slice::Chunks<'_, f32> {
            w.chunks(1)
        }
        let mut extremes = Extremes::new(1);
        let mut calibration = Calibration::new();
        let mut rng = unit_rng(3, 0, 0);
        for w in &windows {
            extremes.of_window(rows(w));
            calibration.observe_window(&mut rng, extremes.max[0], extremes.min[0]);
        }
        let cfg = config(5, 10);
        let mut selector = UnitSelector::new(&cfg, &calibration, 3, unit_rng(3, 0, 1));
        let mut stats = TokenStats::new(std::slice::from_ref(&selector));
        for (i, w) in windows.iter().enumerate() {
            extremes.of_window(rows(w));
            for row in rows(w) {
                stats.add_row(row);
            }
            let (max, min) = (extremes.max[0], extremes.min[0]);
            selector.observe_window(i as u64, max, min, w.iter().copied());
        }
        let selected = selector.finish(cfg.random_k, stats.unit(0));
        let top_maxima: Vec<f32> = selected.top.iter().map(|c| c.max).collect();
        assert_eq!(top_maxima, vec![199.0, 198.0, 197.0, 196.0, 195.0]);
        assert_eq!(selected.random.len(), 10);
        let top: Vec<u64> = selected.top.iter().map(|c| c.window).collect();
        assert!(selected.random.iter().all(|c| !top.contains(&c.window)));
        // Two bins split at the median of window maxima (99.5): each sample lies in its bin.
        assert!(
            selected.quantile[0].iter().all(|c| c.max < 99.5) && selected.quantile[0].len() == 2
        );
        assert!(
            selected.quantile[1].iter().all(|c| c.max >= 99.5) && selected.quantile[1].len() == 2
        );
        assert_eq!(selected.max, 199.0);
        let all: Vec<f64> = windows.iter().flatten().map(|&a| a as f64).collect();
        let mean = all.iter().sum::<f64>() / all.len() as f64;
        assert!((selected.mean - mean).abs() < 1e-9);
        assert_eq!(selected.histogram_counts.iter().sum::<u64>(), 600);
        assert_eq!(selected.density, 199.0 / 600.0);
    }

    #[test]
    fn quantiles_interpolate() {
        assert_eq!(quantile(&[0.0, 10.0], 0.5), 5.0);
        assert_eq!(quantile(&[1.0, 2.0, 3.0], 1.0), 3.0);
    }
}
