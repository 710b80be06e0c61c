//! The unit list: one row per unit with its best explanation and score,
//! filtered by words, layer, kind and score, sorted by any column. Lists
//! longer than `sync_refresh_rows` are filtered and sorted on a thread (a
//! sort of 300k rows takes longer than a frame); only the latest answer counts.
use super::super::annotations::Annotations;
use super::super::heatmap::{Look, display_token};
use super::super::keymap::Action;
use super::{fmt_opt, moved, probe_strip};
use featurescope::dataset::{UnitKind, UnitOverview};
use featurescope::experiment::probe::Probe;
use featurescope::text::printable;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{
    Block, Borders, Cell, Paragraph, Row, StatefulWidget, Table, TableState, Widget,
};
use std::cell::Cell as Remembered;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Id,
    Layer,
    Kind,
    Max,
    Density,
    Score,
}

impl SortKey {
    const ALL: [SortKey; 6] = [
        Self::Id,
        Self::Layer,
        Self::Kind,
        Self::Max,
        Self::Density,
        Self::Score,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Layer => "layer",
            Self::Kind => "kind",
            Self::Max => "max",
            Self::Density => "density",
            Self::Score => "score",
        }
    }
}

/// A row of the unit list.
pub struct UnitRow {
    pub unit: UnitOverview,
    /// The best-scored explanation (or the latest, when none is scored).
    pub explanation: Option<String>,
    pub score: Option<f64>,
}

/// The list filter: `layer:3`, `kind:sae`, `score>0.5`, `score<0.2`, and
/// any other words, which must all appear in the explanation; after a `~`,
/// a search by meaning (the rest of the text, embedded).
#[derive(Debug, Default, PartialEq)]
pub struct Query {
    layer: Option<u32>,
    kind: Option<UnitKind>,
    min_score: Option<f64>,
    max_score: Option<f64>,
    words: Vec<String>,
    meaning: Option<String>,
}

impl Query {
    pub fn parse(text: &str) -> Self {
        let (text, meaning) = match text.split_once('~') {
            Some((terms, meaning)) => (terms, Some(meaning.trim()).filter(|m| !m.is_empty())),
            None => (text, None),
        };
        let mut q = Query {
            meaning: meaning.map(str::to_owned),
            ..Query::default()
        };
        for word in text.split_whitespace() {
            let lower = word.to_lowercase();
            if let Some(layer) = lower.strip_prefix("layer:").and_then(|v| v.parse().ok()) {
                q.layer = Some(layer);
            } else if let Some(kind) = lower.strip_prefix("kind:").and_then(|v| v.parse().ok()) {
                q.kind = Some(kind);
            } else if let Some(v) = lower.strip_prefix("score>").and_then(|v| v.parse().ok()) {
                q.min_score = Some(v);
            } else if let Some(v) = lower.strip_prefix("score<").and_then(|v| v.parse().ok()) {
                q.max_score = Some(v);
            } else {
                q.words.push(lower);
            }
        }
        q
    }

    fn matches(&self, row: &UnitRow) -> bool {
        let text = row.explanation.as_deref().unwrap_or("").to_lowercase();
        self.layer.is_none_or(|l| row.unit.layer == l)
            && self.kind.is_none_or(|k| row.unit.kind == k)
            && self
                .min_score
                .is_none_or(|m| row.score.is_some_and(|s| s > m))
            && self
                .max_score
                .is_none_or(|m| row.score.is_some_and(|s| s < m))
            && self.words.iter().all(|w| text.contains(w.as_str()))
    }
}

/// A filtered, sorted list for the request of that generation.
type ViewAnswer = (u64, Vec<usize>);

/// Each explained unit's similarity to a search by meaning.
pub type Similarity = Arc<HashMap<u64, f32>>;

/// A search by meaning: its text, and the similarities once they are in.
struct Meaning {
    query: String,
    similarity: Option<Similarity>,
}

/// Your own text, every unit run on it: the list is sorted by each unit's
/// value on it, its maximum over the text or its activation at `token`.
struct ListProbe {
    probe: Arc<Probe>,
    token: Option<usize>,
    /// Per unit id, what the list is sorted by.
    values: Arc<Vec<f32>>,
    /// The smallest first (the sort-reverse key), else the largest.
    ascending: bool,
}

impl ListProbe {
    fn new(probe: Arc<Probe>, token: Option<usize>, ascending: bool) -> Self {
        let values = match token.and_then(|t| probe.row(t)) {
            Some(row) => row.to_vec(),
            None => probe.maxima(),
        };
        Self {
            probe,
            token,
            values: Arc::new(values),
            ascending,
        }
    }
}

/// What the list shows: filters and order.
struct ViewSpec {
    query: Query,
    kind: Option<UnitKind>,
    sort: SortKey,
    descending: bool,
    /// Given, only units with a similarity are shown, the closest first.
    similarity: Option<Similarity>,
    /// Given, the units are sorted by these values (per unit id), the
    /// largest first, or with `true` the smallest.
    probe: Option<(Arc<Vec<f32>>, bool)>,
}

impl ViewSpec {
    fn visible(&self, rows: &[UnitRow]) -> Vec<usize> {
        let (query, kind) = (&self.query, self.kind);
        let mut visible: Vec<usize> = (0..rows.len())
            .filter(|&i| {
                let row = &rows[i];
                kind.is_none_or(|k| row.unit.kind == k)
                    && query.matches(row)
                    && self
                        .similarity
                        .as_ref()
                        .is_none_or(|s| s.contains_key(&row.unit.unit_id))
            })
            .collect();
        if let Some((values, ascending)) = &self.probe {
            let of = |i: usize| {
                let unit = rows[i].unit.unit_id as usize;
                values.get(unit).copied().unwrap_or(f32::NEG_INFINITY)
            };
            visible.sort_by(|&a, &b| {
                let largest_first =
                    (of(b).total_cmp(&of(a))).then(rows[a].unit.unit_id.cmp(&rows[b].unit.unit_id));
                if *ascending {
                    largest_first.reverse()
                } else {
                    largest_first
                }
            });
            return visible;
        }
        if let Some(similarity) = &self.similarity {
            let of = |i: usize| similarity[&rows[i].unit.unit_id];
            visible.sort_by(|&a, &b| {
                of(b)
                    .total_cmp(&of(a))
                    .then(rows[a].unit.unit_id.cmp(&rows[b].unit.unit_id))
            });
            return visible;
        }
        let key = self.sort;
        visible.sort_by(|&a, &b| {
            let (a, b) = (&rows[a], &rows[b]);
            let ordering = match key {
                SortKey::Id => a.unit.unit_id.cmp(&b.unit.unit_id),
                SortKey::Layer => (a.unit.layer, a.unit.index).cmp(&(b.unit.layer, b.unit.index)),
                SortKey::Kind => a.unit.kind.cmp(&b.unit.kind),
                SortKey::Max => a.unit.max.total_cmp(&b.unit.max),
                SortKey::Density => a
                    .unit
                    .density
                    .unwrap_or(-1.0)
                    .total_cmp(&b.unit.density.unwrap_or(-1.0)),
                SortKey::Score => a
                    .score
                    .unwrap_or(f64::NEG_INFINITY)
                    .total_cmp(&b.score.unwrap_or(f64::NEG_INFINITY)),
            };
            let ordering = ordering.then(a.unit.unit_id.cmp(&b.unit.unit_id));
            if self.descending {
                ordering.reverse()
            } else {
                ordering
            }
        });
        visible
    }
}

pub struct UnitList {
    /// What the title calls the dataset.
    title: String,
    /// Shared with the threads that filter and sort long lists.
    rows: Arc<Vec<UnitRow>>,
    /// The unit kinds present, in order (for the kind filter).
    kinds: Vec<UnitKind>,
    /// Indices into `rows` after filtering and sorting.
    visible: Vec<usize>,
    selected: usize,
    sort: SortKey,
    descending: bool,
    filter: String,
    kind_filter: Option<UnitKind>,
    /// The filter's search by meaning, if it has one.
    meaning: Option<Meaning>,
    /// Each unit's most frequent peak tokens; `None` while they are read.
    peak_tokens: Option<HashMap<u64, Vec<String>>>,
    /// The probe the list is sorted by, if any.
    probe: Option<ListProbe>,
    /// A probe of this text has been asked for and not yet answered.
    pub probing: Option<String>,
    /// The units are being read.
    pub loading: bool,
    /// Lists longer than this are filtered and sorted off the drawing thread.
    pub sync_refresh_rows: usize,
    /// A filter or sort is being computed.
    refreshing: bool,
    views: (Sender<ViewAnswer>, Receiver<ViewAnswer>),
    view_generation: u64,
    pending_keep: Option<u64>,
    /// Rows shown last frame: the page size.
    height: Remembered<usize>,
    /// Where the rows were drawn last frame: (screen row of the first,
    /// index in `visible` of the first), for mouse clicks.
    origin: Remembered<(u16, usize)>,
}

impl UnitList {
    pub fn new(title: String) -> Self {
        Self {
            title,
            rows: Arc::new(Vec::new()),
            kinds: Vec::new(),
            visible: Vec::new(),
            selected: 0,
            sort: SortKey::Id,
            descending: false,
            filter: String::new(),
            kind_filter: None,
            meaning: None,
            peak_tokens: None,
            probe: None,
            probing: None,
            loading: true,
            sync_refresh_rows: 20_000,
            refreshing: false,
            views: channel(),
            view_generation: 0,
            pending_keep: None,
            height: Remembered::new(20),
            origin: Remembered::new((0, 0)),
        }
    }

    /// Another dataset is being opened: back to the top, no filters.
    pub fn reset(&mut self, title: String) {
        self.title = title;
        self.selected = 0;
        self.clear_filters();
        self.peak_tokens = None;
        self.loading = true;
    }

    pub fn set_peak_tokens(&mut self, tokens: HashMap<u64, Vec<String>>) {
        self.peak_tokens = Some(tokens);
    }

    /// The peak tokens have arrived (or failed: then every unit has none).
    pub fn peak_tokens_read(&self) -> bool {
        self.peak_tokens.is_some()
    }

    /// The headline explanation; in a search by meaning, after the unit's
    /// similarity (that of its closest explanation).
    fn explanation_cell(&self, row: &UnitRow) -> String {
        let text = row
            .explanation
            .as_deref()
            .map(printable)
            .unwrap_or_default();
        let similarity = self
            .meaning
            .as_ref()
            .and_then(|m| m.similarity.as_ref()?.get(&row.unit.unit_id));
        match similarity {
            Some(s) => format!("≈{s:.2}  {text}"),
            None => text,
        }
    }

    /// What the peak-tokens column shows for `unit_id`.
    fn peak_tokens_cell(&self, unit_id: u64) -> String {
        let Some(tokens) = &self.peak_tokens else {
            return "…".into();
        };
        tokens
            .get(&unit_id)
            .map(|tokens| {
                tokens
                    .iter()
                    .map(|t| match t.trim_matches(' ') {
                        // "·" separates the tokens here, so spaces are ␣.
                        "" => "␣".repeat(t.chars().count()),
                        word => display_token(word),
                    })
                    .collect::<Vec<_>>()
                    .join(" · ")
            })
            .unwrap_or_default()
    }

    /// The units of the overview, with their headline explanations.
    pub fn set_units(&mut self, units: Vec<UnitOverview>, notes: &Annotations) {
        self.rows = Arc::new(
            units
                .into_iter()
                .map(|unit| {
                    let (explanation, score) = notes.headline(unit.unit_id);
                    UnitRow {
                        unit,
                        explanation,
                        score,
                    }
                })
                .collect(),
        );
        let mut kinds: Vec<UnitKind> = self.rows.iter().map(|r| r.unit.kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        self.kinds = kinds;
        self.loading = false;
        self.refresh_visible();
    }

    /// Takes the latest off-thread filter and sort; true when it changed the list.
    pub fn poll(&mut self) -> bool {
        let mut changed = false;
        while let Ok((generation, visible)) = self.views.1.try_recv() {
            if generation == self.view_generation {
                self.refreshing = false;
                self.set_visible(visible, self.pending_keep);
                changed = true;
            }
        }
        changed
    }

    pub fn rows(&self) -> &[UnitRow] {
        &self.rows
    }

    /// The units shown, in order.
    #[cfg(test)]
    pub fn visible_units(&self) -> Vec<u64> {
        self.visible
            .iter()
            .map(|&i| self.rows[i].unit.unit_id)
            .collect()
    }

    pub fn refreshing(&self) -> bool {
        self.refreshing
    }

    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Filters by `text`; returns its search by meaning when that is new
    /// (the app has it embedded and ranked, and hands back the answer
    /// through `set_similarity`; until then the other terms apply).
    pub fn set_filter(&mut self, text: String) -> Option<String> {
        let wanted = Query::parse(&text).meaning;
        self.filter = text;
        let asked = self.meaning.as_ref().map(|m| &m.query);
        let new = wanted.as_ref().filter(|&w| asked != Some(w)).cloned();
        self.meaning = match (wanted, self.meaning.take()) {
            (Some(query), Some(kept)) if kept.query == query => Some(kept),
            (Some(query), _) => Some(Meaning {
                query,
                similarity: None,
            }),
            (None, _) => None,
        };
        self.refresh_visible();
        new
    }

    /// The answer to the search by meaning `query`, if the filter still asks it.
    pub fn set_similarity(&mut self, query: &str, similarity: Similarity) {
        if let Some(meaning) = self.meaning.as_mut().filter(|m| m.query == query) {
            meaning.similarity = Some(similarity);
            self.refresh_visible();
        }
    }

    /// The search by meaning `query` failed: the other terms apply, and
    /// the same filter again asks anew.
    pub fn drop_meaning(&mut self, query: &str) {
        if self.meaning.as_ref().is_some_and(|m| m.query == query) {
            self.meaning = None;
        }
    }

    /// The filter's search by meaning is waiting for its answer.
    pub fn searching(&self) -> bool {
        self.meaning
            .as_ref()
            .is_some_and(|m| m.similarity.is_none())
    }

    fn clear_filters(&mut self) {
        self.filter.clear();
        self.kind_filter = None;
        self.meaning = None;
        self.probe = None;
        self.probing = None;
    }

    /// Sorts by each unit's maximum on `probe`, the text probed last.
    pub fn set_probe(&mut self, probe: Arc<Probe>) {
        self.probing = None;
        self.probe = Some(ListProbe::new(probe, None, false));
        self.refresh_visible();
    }

    /// The probe shown, if any.
    pub fn probe(&self) -> Option<&Arc<Probe>> {
        self.probe.as_ref().map(|p| &p.probe)
    }

    /// Moves the probe's token cursor: before the first token the list is
    /// sorted by each unit's maximum, on a token by the activations there.
    fn move_probe_token(&mut self, right: bool) {
        let Some(current) = &self.probe else {
            return;
        };
        let last = current.probe.tokens.len().saturating_sub(1);
        let token = match (current.token, right) {
            (None, true) => Some(0),
            (None, false) => None,
            (Some(0), false) => None,
            (Some(t), false) => Some(t - 1),
            (Some(t), true) => Some((t + 1).min(last)),
        };
        let probe = ListProbe::new(current.probe.clone(), token, current.ascending);
        self.probe = Some(probe);
        self.refresh_visible();
    }

    /// Rows per page, as drawn last.
    pub fn page(&self) -> usize {
        self.height.get()
    }

    pub fn selected_row(&self) -> Option<&UnitRow> {
        self.visible.get(self.selected).map(|&i| &self.rows[i])
    }

    /// Re-applies the filters and the sort, keeping the selected unit if it
    /// is still shown; the answer to a long list arrives through `poll`.
    fn refresh_visible(&mut self) {
        let keep = self.selected_row().map(|r| r.unit.unit_id);
        self.refresh_keeping(keep);
    }

    fn refresh_keeping(&mut self, keep: Option<u64>) {
        let spec = ViewSpec {
            query: Query::parse(&self.filter),
            kind: self.kind_filter,
            sort: self.sort,
            descending: self.descending,
            similarity: self.meaning.as_ref().and_then(|m| m.similarity.clone()),
            probe: self.probe.as_ref().map(|p| (p.values.clone(), p.ascending)),
        };
        if self.rows.len() <= self.sync_refresh_rows {
            let visible = spec.visible(&self.rows);
            self.set_visible(visible, keep);
            return;
        }
        self.view_generation += 1;
        self.pending_keep = keep;
        self.refreshing = true;
        let (rows, generation, tx) = (
            self.rows.clone(),
            self.view_generation,
            self.views.0.clone(),
        );
        std::thread::spawn(move || {
            let _ = tx.send((generation, spec.visible(&rows)));
        });
    }

    fn set_visible(&mut self, visible: Vec<usize>, keep: Option<u64>) {
        self.visible = visible;
        self.selected = keep
            .and_then(|id| {
                self.visible
                    .iter()
                    .position(|&i| self.rows[i].unit.unit_id == id)
            })
            .unwrap_or(0);
    }

    /// A key for the list; returns the unit to open, if the key opens one.
    pub fn action(&mut self, action: Action) -> Option<u64> {
        match action {
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => {
                self.selected = moved(action, self.visible.len(), self.selected, self.page());
            }
            Action::Open => return self.selected_row().map(|r| r.unit.unit_id),
            // The probe is an order too: another replaces it.
            Action::SortNext if self.probe.take().is_some() => self.refresh_visible(),
            Action::SortNext => {
                let i = SortKey::ALL
                    .iter()
                    .position(|k| *k == self.sort)
                    .unwrap_or(0);
                self.sort = SortKey::ALL[(i + 1) % SortKey::ALL.len()];
                // Numbers are most useful largest first.
                self.descending =
                    matches!(self.sort, SortKey::Max | SortKey::Density | SortKey::Score);
                self.refresh_visible();
            }
            Action::SortReverse => {
                match &mut self.probe {
                    Some(probe) => probe.ascending = !probe.ascending,
                    None => self.descending = !self.descending,
                }
                self.refresh_visible();
            }
            Action::KindFilter => {
                let kinds = &self.kinds;
                self.kind_filter = match self.kind_filter {
                    None => kinds.first().copied(),
                    Some(k) => kinds.iter().skip_while(|&&x| x != k).nth(1).copied(),
                };
                self.refresh_visible();
            }
            Action::Back => {
                self.clear_filters();
                self.refresh_visible();
            }
            Action::TokenLeft | Action::TokenRight => {
                self.move_probe_token(action == Action::TokenRight);
            }
            _ => {}
        }
        None
    }

    /// A click on a row selects it; a click on the selected row opens it
    /// (the unit to open is returned).
    pub fn click(&mut self, row: u16) -> Option<u64> {
        let (top, start) = self.origin.get();
        let offset = row.checked_sub(top)? as usize;
        let index = start + offset;
        if offset >= self.height.get() || index >= self.visible.len() {
            return None;
        }
        if index == self.selected {
            return self.action(Action::Open);
        }
        self.selected = index;
        None
    }

    /// Selects unit `id`, clearing the filters that hide it; the error says
    /// why it cannot.
    pub fn go_to(&mut self, id: u64) -> Result<(), String> {
        if (id as usize) >= self.rows.len() {
            return Err(format!(
                "no unit {id} (the dataset has {})",
                self.rows.len()
            ));
        }
        let position = |list: &Self| {
            list.visible
                .iter()
                .position(|&i| list.rows[i].unit.unit_id == id)
        };
        if position(self).is_none() {
            self.clear_filters();
            self.refresh_keeping(Some(id));
        }
        if let Some(pos) = position(self) {
            self.selected = pos;
        }
        Ok(())
    }
}

/// The list as drawn, with the look of the probe's heatmap.
pub struct ListView<'a> {
    pub list: &'a UnitList,
    pub look: &'a Look,
}

impl ListView<'_> {
    /// The probed text as a heatmap of the selected unit's activations on
    /// it, the token the list is sorted at marked.
    fn probe_lines(&self, width: usize) -> Vec<ratatui::text::Line<'static>> {
        let (list, look) = (self.list, self.look);
        let Some(shown) = &list.probe else {
            return Vec::new();
        };
        let selected = list.selected_row().map(|r| r.unit.unit_id);
        probe_strip(&shown.probe, selected, None, shown.token, look, width).0
    }
}

impl Widget for ListView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let probe_lines = self.probe_lines(area.width.saturating_sub(2) as usize);
        let list = self.list;
        let probe_rows = if probe_lines.is_empty() {
            0
        } else {
            probe_lines.len() as u16 + 2
        };
        let [header, probe_area, table_area] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(probe_rows),
            Constraint::Min(1),
        ])
        .areas(area);
        if let Some(shown) = &list.probe {
            let at = match shown.token {
                None => "each unit's maximum on it (→ picks a token)".to_owned(),
                Some(t) => format!(
                    "the activation at \"{}\" (←/→)",
                    display_token(&shown.probe.tokens[t])
                ),
            };
            let unit = list
                .selected_row()
                .map_or(String::new(), |r| format!("unit {} on ", r.unit.unit_id));
            Paragraph::new(probe_lines)
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(format!("{unit}your text; sorted by {at}")),
                )
                .render(probe_area, buf);
        }
        list.render_table(header, table_area, buf);
    }
}

impl UnitList {
    fn render_table(&self, header: Rect, table_area: Rect, buf: &mut Buffer) {
        let order = if self.descending { "↓" } else { "↑" };
        let kind = self.kind_filter.map_or("all".to_owned(), |k| k.to_string());
        let sort = match (&self.probe, &self.meaning) {
            (Some(probe), _) => format!("probe {}", if probe.ascending { "↑" } else { "↓" }),
            (
                None,
                Some(Meaning {
                    similarity: Some(_),
                    ..
                }),
            ) => "meaning ↓".to_owned(),
            _ => format!("{} {order}", self.sort.name()),
        };
        let mut title = format!(
            "featurescope  {}   {} of {} units   sort {sort}   kind {kind}",
            printable(&self.title),
            self.visible.len(),
            self.rows.len(),
        );
        if !self.filter.is_empty() {
            title.push_str(&format!("   filter \"{}\"", printable(&self.filter)));
        }
        if self.refreshing {
            title.push_str("   sorting…");
        }
        if self.searching() {
            title.push_str("   searching by meaning…");
        }
        if self.probing.is_some() {
            title.push_str("   probing…");
        }
        Paragraph::new(title)
            .style(Style::default().add_modifier(Modifier::BOLD))
            .render(header, buf);
        // Header row and borders take three lines.
        let height = table_area.height.saturating_sub(3) as usize;
        self.height.set(height.max(1));
        let start = self.selected.saturating_sub(height.saturating_sub(1));
        // Below the border and the header row.
        self.origin.set((table_area.y + 2, start));
        let rows = self
            .visible
            .iter()
            .skip(start)
            .take(height.max(1))
            .map(|&i| {
                let r = &self.rows[i];
                let mut cells = vec![
                    Cell::from(r.unit.unit_id.to_string()),
                    Cell::from(r.unit.layer.to_string()),
                    Cell::from(r.unit.index.to_string()),
                    Cell::from(r.unit.kind.to_string()),
                    Cell::from(format!("{:.3}", r.unit.max)),
                    Cell::from(fmt_opt(r.unit.density, 4)),
                    Cell::from(fmt_opt(r.score, 2)),
                    Cell::from(self.peak_tokens_cell(r.unit.unit_id)),
                    Cell::from(self.explanation_cell(r)),
                ];
                if let Some(p) = &self.probe {
                    let value = p.values.get(r.unit.unit_id as usize);
                    let value = value.map_or_else(String::new, |v| format!("{v:.3}"));
                    cells.insert(8, Cell::from(value));
                }
                Row::new(cells)
            });
        let mut widths = vec![
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(5),
            Constraint::Length(26),
            Constraint::Min(10),
        ];
        let mut headers = vec![
            "id",
            "layer",
            "index",
            "kind",
            "max",
            "density",
            "score",
            "peak tokens",
            "explanation",
        ];
        if self.probe.is_some() {
            // Before the explanation, which takes what is left.
            widths.insert(8, Constraint::Length(8));
            headers.insert(8, "probe");
        }
        let table = Table::new(rows, widths)
            .header(Row::new(headers).style(Style::default().add_modifier(Modifier::BOLD)))
            .block(Block::default().borders(Borders::ALL))
            .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
        let mut state = TableState::default();
        if !self.visible.is_empty() {
            state.select(Some(self.selected - start));
        }
        StatefulWidget::render(table, table_area, buf, &mut state);
        if self.loading {
            let note = Rect::new(
                table_area.x + 2,
                table_area.y + 2,
                table_area.width.saturating_sub(4),
                1,
            );
            Paragraph::new("loading units…").render(note, buf);
        }
    }
}
