//! The explorer driven by key events on ratatui's TestBackend: what the
//! screen says, and the heatmap's cell colours.
use super::app::App;
use super::heatmap::Look;
use super::heatmap::{Palette, Theme};
use super::keymap::Keymap;
use super::view::draw;
use super::work::Settings;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use featurescope::dataset::{
    Dataset, DatasetWriter, Explanation, LogitEffect, Manifest, NewRecord, NewUnit, Sample, Score,
    TokenEffect, UnitKind, UnitStats, WriterOptions,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use std::path::Path;

const LOOK: Look = Look {
    palette: Palette::TrueColor,
    theme: Theme::Dark,
};

/// Three units, each with two top records and one random (record ids 3u,
/// 3u + 1, 3u + 2), whose tokens include an escape sequence; unit 0 has an
/// explanation, a revision of it, and a score on records 1 and 2.
pub(super) fn write_dataset(dir: &Path) {
    let mut writer = DatasetWriter::create(dir, Manifest::new(), WriterOptions::default()).unwrap();
    for u in 0..3u32 {
        let tokens: Vec<String> = ["The", " cat", " sat", "\n", " ", "\u{1b}[31mred"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let activations = vec![0.0, 4.0 + u as f32, 1.0, 0.0, 0.5, 2.0];
        let record = |sample, rank| NewRecord {
            sample,
            rank,
            document_id: Some(1),
            token_offset: Some(0),
            tokens: tokens.clone(),
            activations: activations.clone(),
        };
        writer
            .add_unit(
                NewUnit {
                    layer: u % 2,
                    index: u,
                    kind: if u == 2 {
                        UnitKind::Sae
                    } else {
                        UnitKind::Neuron
                    },
                    stats: UnitStats {
                        max: 4.0 + u as f64,
                        mean: Some(0.5),
                        variance: Some(1.0),
                        density: Some(0.1 * (3 - u) as f64),
                        quantile_boundaries: vec![],
                        histogram_edges: vec![0.0, 2.0, 4.0, 6.0],
                        histogram_counts: vec![10, 3, 1],
                    },
                },
                vec![
                    record(Sample::Top, 0),
                    record(Sample::Top, 1),
                    record(Sample::Random, 0),
                ],
            )
            .unwrap();
    }
    let explanation = |id: &str, text: &str, parent: Option<&str>| Explanation {
        explanation_id: id.into(),
        unit_id: 0,
        text: text.into(),
        explainer_model: "test".into(),
        method: if parent.is_some() {
            "revision"
        } else {
            "top-activations"
        }
        .into(),
        parent_id: parent.map(Into::into),
        evidence_record_ids: vec![0],
        created_at_ms: 1,
    };
    writer.add_explanations([
        explanation("e1", "cats and where they sit", None),
        explanation("e2", "the word cat", Some("e1")),
    ]);
    writer.add_scores([Score {
        score_id: "s1".into(),
        explanation_id: "e1".into(),
        unit_id: 0,
        simulator_model: "sim-model".into(),
        method: "all-at-once-logprobs".into(),
        record_set: "top-and-random".into(),
        score: Some(0.87),
        r_squared: None,
        absolute_dev_explained: None,
        record_ids: vec![1, 2],
        simulated: vec![
            vec![0.0, 9.0, 1.0, 0.0, 0.0, 2.0],
            vec![0.0, 8.0, 0.0, 0.0, 1.0, 1.0],
        ],
        created_at_ms: 2,
    }]);
    writer.finish().unwrap();
}

pub(super) struct Harness {
    pub(super) app: App,
    terminal: Terminal<TestBackend>,
    pub(super) _dir: tempfile::TempDir,
}

/// Jobs that talk to no endpoint.
pub(super) fn no_endpoints() -> Settings {
    Settings {
        llm: Default::default(),
        train_config: "sae.toml".into(),
        embedder: featurescope::search::BUNDLED_EMBEDDER.into(),
    }
}

impl Harness {
    fn new(width: u16, height: u16) -> Self {
        Self::with_settings(width, height, no_endpoints())
    }

    /// The dataset of `write_dataset`, with jobs configured by `settings`.
    pub(super) fn with_settings(width: u16, height: u16, settings: Settings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ds");
        write_dataset(&path);
        Self::on(dir, &path, (width, height), settings)
    }

    /// The dataset at `path` (inside `dir`, kept for the harness's life).
    pub(super) fn on(
        dir: tempfile::TempDir,
        path: &Path,
        (width, height): (u16, u16),
        settings: Settings,
    ) -> Self {
        let mut app = super::app_for(Dataset::open(path).unwrap(), Keymap::default(), settings);
        // The overview, then the peak tokens (read after it is sent): once
        // both are in, every later answer is one a test asked for.
        while app.list.loading || !app.list.peak_tokens_read() {
            app.wait_message();
        }
        Self {
            app,
            terminal: Terminal::new(TestBackend::new(width, height)).unwrap(),
            _dir: dir,
        }
    }

    pub(super) fn dataset(&self) -> Dataset {
        Dataset::open(self.app.dataset_dir.clone()).unwrap()
    }

    /// Applies answers and job reports until `done` holds (or fails after 120 s).
    pub(super) fn settle(&mut self, what: &str, done: impl Fn(&App) -> bool) {
        let start = std::time::Instant::now();
        while !done(&self.app) {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(120),
                "timed out waiting for {what}; status: {}",
                self.app.status
            );
            if !self.app.poll_messages() {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }

    pub(super) fn press(&mut self, code: KeyCode) {
        self.app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
    }

    pub(super) fn screen(&mut self) -> String {
        let app = &self.app;
        self.terminal.draw(|f| draw(f, app, &LOOK)).unwrap();
        let buffer = self.terminal.backend().buffer();
        (0..buffer.area.height)
            .map(|y| {
                (0..buffer.area.width)
                    .map(|x| buffer[(x, y)].symbol().to_owned())
                    .collect::<String>()
                    + "\n"
            })
            .collect()
    }

    /// The background of `text` in the first line that contains `marker`.
    fn background_in_line(&self, marker: &str, text: &str) -> Color {
        let buffer = self.terminal.backend().buffer();
        for y in 0..buffer.area.height {
            let row: String = (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol().to_owned())
                .collect();
            if let Some(start) = row.find(marker) {
                let pos = start + row[start..].find(text).expect("text after the marker");
                let x = row[..pos].chars().count() as u16;
                return buffer[(x, y)].bg;
            }
        }
        panic!("{marker:?} is not on screen");
    }

    /// The background of the first cell showing `text` on screen.
    fn background_of(&self, text: &str) -> Color {
        let buffer = self.terminal.backend().buffer();
        for y in 0..buffer.area.height {
            let row: String = (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol().to_owned())
                .collect();
            if let Some(pos) = row.find(text) {
                let x = row[..pos].chars().count() as u16;
                return buffer[(x, y)].bg;
            }
        }
        panic!("{text:?} is not on screen");
    }
}

#[test]
fn the_list_shows_units_sorts_and_filters_by_kind() {
    let mut h = Harness::new(100, 20);
    let screen = h.screen();
    assert!(screen.contains("3 of 3 units"), "{screen}");
    assert!(screen.contains("density"), "{screen}");
    h.press(KeyCode::Char('s')); // layer
    h.press(KeyCode::Char('s')); // kind
    h.press(KeyCode::Char('s')); // max, largest first
    let screen = h.screen();
    assert!(screen.contains("sort max ↓"), "{screen}");
    assert_eq!(
        h.app.list.selected_row().unwrap().unit.unit_id,
        0,
        "the selection stays"
    );
    h.press(KeyCode::Home);
    assert_eq!(
        h.app.list.selected_row().unwrap().unit.unit_id,
        2,
        "largest max first"
    );
    h.press(KeyCode::Char('t'));
    let screen = h.screen();
    assert!(
        screen.contains("2 of 3 units") && screen.contains("kind neuron"),
        "{screen}"
    );
    h.press(KeyCode::Char('t'));
    assert!(h.screen().contains("1 of 3 units"));
    h.press(KeyCode::Char('t'));
    assert!(h.screen().contains("3 of 3 units"));
}

#[test]
fn a_unit_shows_its_texts_as_a_heatmap_with_safe_tokens() {
    let mut h = Harness::new(100, 30);
    h.press(KeyCode::Down);
    h.press(KeyCode::Enter);
    assert!(h.screen().contains("loading unit 1"));
    h.app.wait_message();
    let screen = h.screen();
    assert!(
        screen.contains("unit 1 · layer 1 · neuron 1 · max 5.000"),
        "{screen}"
    );
    assert!(screen.contains("top-activating texts"), "{screen}");
    assert!(screen.contains("random texts"), "{screen}");
    // Newline and space tokens are visible; the escape sequence is not interpreted.
    assert!(screen.contains("↵"), "{screen}");
    assert!(screen.contains('·'), "{screen}");
    assert!(!screen.contains('\u{1b}'), "{screen}");
    assert!(screen.contains("\\u{1b}[31mred"), "{screen}");
    // The strongest token is hot, a zero one has no background.
    let Color::Rgb(r, g, _) = h.background_of(" cat") else {
        panic!("the top token has a heat colour");
    };
    assert!(r > 200 && g > 100, "{r} {g}");
    assert_eq!(h.background_of("The"), Color::Reset);
    // The cursor shows the exact value of the selected token.
    h.press(KeyCode::Right);
    assert!(h.screen().contains("token \" cat\" = 5.0000"));
    h.press(KeyCode::Esc);
    assert!(h.screen().contains("3 of 3 units"));
}

#[test]
fn go_to_opens_a_unit_and_rejects_what_is_not_one() {
    let mut h = Harness::new(100, 30);
    for c in [':', '2'] {
        h.press(KeyCode::Char(c));
    }
    assert!(h.screen().contains("go to unit id: 2"));
    h.press(KeyCode::Enter);
    h.app.wait_message();
    assert!(h.screen().contains("unit 2 · layer 0 · sae 2"));
    h.press(KeyCode::Esc);
    for c in [':', '9'] {
        h.press(KeyCode::Char(c));
    }
    h.press(KeyCode::Enter);
    assert!(h.screen().contains("no unit 9 (the dataset has 3)"));
}

#[test]
fn help_lists_every_binding_of_the_live_keymap() {
    let mut h = Harness::new(100, 36);
    h.press(KeyCode::Char('?'));
    let screen = h.screen();
    for (keys, what) in Keymap::default().help() {
        assert!(screen.contains(what), "{what} missing:\n{screen}");
        assert!(screen.contains(&keys), "{keys} missing:\n{screen}");
    }
    h.press(KeyCode::Char('s'));
    assert!(!h.screen().contains("show or hide this help"));
    // At 80×24 it does not fit: it scrolls, to its last line.
    let mut h = Harness::new(80, 24);
    h.press(KeyCode::Char('?'));
    let last = Keymap::default().help().pop().unwrap().1;
    let screen = h.screen();
    assert!(screen.contains("keys 1-22 of 33 (↑/↓ scroll)"), "{screen}");
    assert!(!screen.contains(last), "{screen}");
    for _ in 0..40 {
        h.press(KeyCode::Down);
    }
    let screen = h.screen();
    assert!(
        screen.contains(last) && screen.contains("keys 12-33 of 33"),
        "{screen}"
    );
    h.press(KeyCode::Char('q'));
    assert!(h.app.should_quit);
    // A rebound key shows in the help.
    let overrides = [("quit".to_owned(), vec!["x".to_owned()])]
        .into_iter()
        .collect();
    let keymap = Keymap::with_overrides(&overrides).unwrap();
    assert!(
        keymap
            .help()
            .iter()
            .any(|(k, what)| k == "x" && *what == "quit")
    );
    let bad = [("launch".to_owned(), vec!["x".to_owned()])]
        .into_iter()
        .collect();
    assert!(Keymap::with_overrides(&bad).unwrap_err().contains("launch"));
}

#[test]
fn a_tiny_window_says_so_instead_of_breaking() {
    let mut h = Harness::new(20, 5);
    assert!(h.screen().contains("too small"));
    h.press(KeyCode::Enter);
    h.app.wait_message();
    assert!(h.screen().contains("too small"));
}

#[test]
fn an_answer_for_a_unit_left_behind_is_dropped() {
    let mut h = Harness::new(100, 30);
    h.press(KeyCode::Enter); // unit 0
    h.press(KeyCode::Esc);
    h.press(KeyCode::Down);
    h.press(KeyCode::Enter); // unit 1
    h.app.wait_message(); // unit 0's answer: stale
    h.app.wait_message(); // unit 1's
    assert!(h.screen().contains("unit 1 · layer 1"));
}

#[test]
fn the_filter_takes_layers_kinds_and_words() {
    let mut h = Harness::new(100, 20);
    for c in "/layer:1".chars() {
        h.press(KeyCode::Char(c));
    }
    h.press(KeyCode::Enter);
    let screen = h.screen();
    assert!(
        screen.contains("1 of 3 units") && screen.contains("filter \"layer:1\""),
        "{screen}"
    );
    h.press(KeyCode::Esc); // clears the filters
    for c in "/kind:sae".chars() {
        h.press(KeyCode::Char(c));
    }
    h.press(KeyCode::Enter);
    assert!(h.screen().contains("1 of 3 units"));
    h.press(KeyCode::Esc);
    // Only unit 0 is scored (0.87).
    for c in "/score>0.5".chars() {
        h.press(KeyCode::Char(c));
    }
    h.press(KeyCode::Enter);
    assert!(h.screen().contains("1 of 3 units"));
    h.press(KeyCode::Esc);
    for c in "/score>0.9".chars() {
        h.press(KeyCode::Char(c));
    }
    h.press(KeyCode::Enter);
    assert!(h.screen().contains("0 of 3 units"));
    h.press(KeyCode::Esc);
    for c in "/where cats".chars() {
        h.press(KeyCode::Char(c));
    }
    h.press(KeyCode::Enter);
    assert!(
        h.screen().contains("1 of 3 units"),
        "all words, in any order"
    );
}

#[test]
fn a_scored_explanation_shows_real_against_simulated() {
    let mut h = Harness::new(150, 40);
    let screen = h.screen();
    // The list shows the best-scored explanation and its score.
    assert!(
        screen.contains("0.87") && screen.contains("cats and where they sit"),
        "{screen}"
    );
    h.press(KeyCode::Enter);
    h.app.wait_message();
    let screen = h.screen();
    assert!(
        screen.contains("#1 [0.87 top-and-random] top-activations — cats and where they sit"),
        "{screen}"
    );
    assert!(
        screen.contains("#2 [unscored] revision — the word cat  (revises #1)"),
        "{screen}"
    );
    h.press(KeyCode::Char('c'));
    let screen = h.screen();
    assert!(
        screen.contains("real vs simulated · cats and where they sit · top-and-random score 0.870"),
        "{screen}"
    );
    assert!(screen.contains("sim-model"), "{screen}");
    assert!(
        screen.contains("top #1   r = ") && screen.contains("random #0   r = "),
        "{screen}"
    );
    // Two rows per text, aligned token for token.
    let lines: Vec<&str> = screen.lines().collect();
    let real = lines
        .iter()
        .position(|l| l.contains("real The"))
        .expect("a real row");
    assert!(lines[real + 1].contains("sim  The"), "{}", lines[real + 1]);
    assert_eq!(
        lines[real].find("The"),
        lines[real + 1].find("The"),
        "the rows start at the same column"
    );
    // Each row is coloured by its own values: " sat" is warm in the real
    // row (1 of 4) and nearly cold in the simulated one (1 of 9).
    let real_sat = h.background_in_line("real The", " sat");
    let sim_sat = h.background_in_line("sim  The", " sat");
    let (Color::Rgb(real_r, ..), Color::Rgb(sim_r, ..)) = (real_sat, sim_sat) else {
        panic!("{real_sat:?} {sim_sat:?}");
    };
    assert!(real_r > sim_r, "{real_r} vs {sim_r}");
    // Overlay: one row per text.
    h.press(KeyCode::Char('o'));
    let screen = h.screen();
    assert!(screen.contains("real vs simulated, overlaid"), "{screen}");
    assert!(!screen.contains("sim  The"), "{screen}");
    // Rate it: 7 is refused, 4 is saved in the dataset and shown.
    for key in [KeyCode::Char('r'), KeyCode::Char('7'), KeyCode::Enter] {
        h.press(key);
    }
    assert!(
        h.screen()
            .contains("a rating is a number from 1 to 5, not 7")
    );
    for key in [KeyCode::Char('r'), KeyCode::Char('4'), KeyCode::Enter] {
        h.press(key);
    }
    h.app.wait_message();
    let screen = h.screen();
    assert!(screen.contains("rated 4/5, saved"), "{screen}");
    assert!(screen.contains("rated 4/5 · sim-model"), "{screen}");
    let ds = Dataset::open(h._dir.path().join("ds")).unwrap();
    let ratings = ds.ratings().unwrap();
    assert_eq!(ratings.len(), 1);
    assert_eq!(
        (
            ratings[0].score_id.as_str(),
            ratings[0].unit_id,
            ratings[0].rating
        ),
        ("s1", 0, 4)
    );
    assert_eq!(ds.validate().unwrap().ratings, 1);
    // The rating queue: with the only score rated, nothing is left.
    h.press(KeyCode::Char('R'));
    assert_eq!(h.app.status, "every score is rated");
    // A new session shows the saved rating.
    let mut again = super::app_for(ds, Keymap::default(), no_endpoints());
    again.wait_message();
    assert_eq!(again.notes.ratings.get("s1"), Some(&4));
    // c again: the only score, so the comparison closes.
    h.press(KeyCode::Char('c'));
    assert!(h.screen().contains("top-activating texts"));
    // A unit without scores says so.
    h.press(KeyCode::Esc);
    h.press(KeyCode::Down);
    h.press(KeyCode::Enter);
    h.app.wait_message();
    h.press(KeyCode::Char('c'));
    assert!(
        h.screen()
            .contains("no scored explanation for this unit yet")
    );
}

#[test]
fn long_lists_are_sorted_off_the_drawing_thread_and_only_the_last_order_counts() {
    let mut h = Harness::new(100, 20);
    h.app.list.sync_refresh_rows = 0; // as if the list were long
    h.press(KeyCode::Char('s')); // layer
    assert!(h.app.list.refreshing());
    assert!(h.screen().contains("sorting…"));
    h.press(KeyCode::Char('S')); // layer, reversed: supersedes the first
    let start = std::time::Instant::now();
    while h.app.list.refreshing() {
        h.app.poll_messages();
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
        std::thread::yield_now();
    }
    let order: Vec<u64> = h.app.list.visible_units();
    // Layer descending (1 before 0), ties by id descending too.
    assert_eq!(order, vec![1, 2, 0]);
    assert_eq!(
        h.app.list.selected_row().unwrap().unit.unit_id,
        0,
        "the selection follows its unit"
    );
    assert!(!h.screen().contains("sorting…"));
}

/// Units whose top records peak at different tokens: the list names each
/// unit's most frequent peaks, safe for the terminal.
#[test]
fn the_list_shows_each_units_peak_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ds");
    let mut writer =
        DatasetWriter::create(&path, Manifest::new(), WriterOptions::default()).unwrap();
    let record = |sample, rank, tokens: &[&str], activations: &[f32]| NewRecord {
        sample,
        rank,
        document_id: None,
        token_offset: None,
        tokens: tokens.iter().map(|t| t.to_string()).collect(),
        activations: activations.to_vec(),
    };
    let units: [Vec<NewRecord>; 3] = [
        // "dog" twice, "cat" once; the random record's peak does not count.
        vec![
            record(Sample::Top, 0, &["a", " cat", " dog"], &[0.0, 3.0, 1.0]),
            record(Sample::Top, 1, &["a", " dog"], &[0.5, 2.0]),
            record(Sample::Top, 2, &[" dog", "b"], &[1.5, 1.0]),
            record(Sample::Random, 0, &["zebra", "b"], &[9.0, 0.0]),
        ],
        // Never positive: no peak tokens.
        vec![record(Sample::Top, 0, &["x", "y"], &[0.0, -1.0])],
        // A tie at a record's maximum goes to the first token, a tie in
        // counts to the better-ranked record; a space and an escape
        // sequence are shown, not obeyed.
        vec![
            record(Sample::Top, 0, &["first", "second"], &[2.0, 2.0]),
            record(Sample::Top, 1, &[" ", "\u{1b}[31mred"], &[1.0, 0.5]),
            record(Sample::Top, 2, &["q", "\u{1b}[31mred"], &[0.0, 0.5]),
        ],
    ];
    for (i, records) in units.into_iter().enumerate() {
        let stats = UnitStats {
            max: 3.0,
            mean: None,
            variance: None,
            density: None,
            quantile_boundaries: vec![],
            histogram_edges: vec![0.0, 1.0],
            histogram_counts: vec![1],
        };
        let unit = NewUnit {
            layer: 0,
            index: i as u32,
            kind: UnitKind::Neuron,
            stats,
        };
        writer.add_unit(unit, records).unwrap();
    }
    writer.finish().unwrap();
    let mut h = Harness::on(dir, &path, (120, 12), no_endpoints());
    let screen = h.screen();
    assert!(screen.contains("peak tokens"), "{screen}");
    let row = |id: &str| {
        screen
            .lines()
            .find(|l| l.trim_start_matches(['│', ' ']).starts_with(id))
            .unwrap_or_else(|| panic!("no row {id}: {screen}"))
            .to_owned()
    };
    assert!(row("0 ").contains("dog · cat "), "{screen}");
    assert!(!row("0 ").contains("zebra"), "{screen}");
    assert!(
        !row("1 ").contains('x') && !row("1 ").contains('y'),
        "{screen}"
    );
    assert!(row("2 ").contains(r"first · ␣ · \u{1b}[31mred"), "{screen}");
    assert!(!screen.contains('\u{1b}'), "{screen}");
}

/// `~` in the filter searches by meaning: the explained units, closest
/// first, with the other terms still applied; explanations written after
/// the explorer opened are found.
#[test]
fn a_tilde_in_the_filter_ranks_the_explained_units_by_meaning() {
    let mut h = Harness::new(120, 12);
    let explanation = |id: &str, unit_id: u64, text: &str| Explanation {
        explanation_id: id.into(),
        unit_id,
        text: text.into(),
        explainer_model: "test".into(),
        method: "top-activations".into(),
        parent_id: None,
        evidence_record_ids: vec![],
        created_at_ms: 3,
    };
    h.dataset()
        .append_explanations(&[explanation("n1", 1, "numbers, digits and dates")])
        .unwrap();
    let filter = |h: &mut Harness, text: &str| {
        h.press(KeyCode::Char('/'));
        // The prompt starts from the filter in force.
        for _ in 0..h.app.list.filter().chars().count() {
            h.press(KeyCode::Backspace);
        }
        for c in text.chars() {
            h.press(KeyCode::Char(c));
        }
        h.press(KeyCode::Enter);
    };
    filter(&mut h, "~kittens");
    // Nothing is applied before the frame loop polls: the wait is seen.
    assert!(h.app.list.searching());
    assert!(h.screen().contains("searching by meaning…"));
    h.settle("the search", |app| !app.list.searching());
    assert_eq!(h.app.list.visible_units(), vec![0, 1], "{}", h.app.status);
    let screen = h.screen();
    assert!(screen.contains("sort meaning ↓"), "{screen}");
    assert!(screen.contains("≈0."), "{screen}");
    filter(&mut h, "~digits");
    h.settle("the search", |app| !app.list.searching());
    assert_eq!(h.app.list.visible_units(), vec![1, 0]);
    // The other terms apply too: layer 0 holds units 0 and 2, and unit 2
    // has no explanation.
    filter(&mut h, "layer:0 ~digits");
    h.settle("the search", |app| !app.list.searching());
    assert_eq!(h.app.list.visible_units(), vec![0]);
    h.press(KeyCode::Esc);
    assert_eq!(h.app.list.visible_units(), vec![0, 1, 2]);
    assert!(!h.screen().contains("meaning"));
}

#[test]
fn a_search_by_meaning_that_cannot_run_says_why_and_the_other_terms_stay() {
    let settings = Settings {
        embedder: "/no/such/model".into(),
        ..no_endpoints()
    };
    let mut h = Harness::with_settings(120, 12, settings);
    h.press(KeyCode::Char('/'));
    for c in "layer:1 ~cats".chars() {
        h.press(KeyCode::Char(c));
    }
    h.press(KeyCode::Enter);
    h.settle("the search", |app| !app.list.searching());
    assert!(
        h.app.status.contains("search by meaning") && h.app.status.contains("/no/such/model"),
        "{}",
        h.app.status
    );
    assert_eq!(h.app.list.visible_units(), vec![1]);
}

/// The unit view shows the tokens a unit's direction raises and lowers,
/// safe for the terminal; a unit without logit effects has no such block,
/// and a damaged table is named, not a dataset that cannot be browsed.
#[test]
fn the_unit_view_shows_logit_effects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ds");
    write_dataset(&path);
    let effect = |token: &str, effect| TokenEffect {
        token: token.into(),
        effect,
    };
    Dataset::open(&path)
        .unwrap()
        .write_logit_effects(&[LogitEffect {
            unit_id: 0,
            raised: vec![effect(" mat", 1.25), effect(" chair", 0.5)],
            lowered: vec![effect("\u{1b}[2J", -0.75)],
        }])
        .unwrap();
    let mut h = Harness::on(dir, &path, (120, 40), no_endpoints());
    h.press(KeyCode::Enter);
    h.app.wait_message();
    let screen = h.screen();
    assert!(screen.contains("logit effects"), "{screen}");
    assert!(
        screen.contains(r#"raises: " mat" +1.250  " chair" +0.500"#),
        "{screen}"
    );
    assert!(screen.contains(r#"lowers: "\u{1b}[2J" -0.750"#), "{screen}");
    assert!(!screen.contains('\u{1b}'), "{screen}");
    h.press(KeyCode::Esc);
    h.press(KeyCode::Down);
    h.press(KeyCode::Enter);
    h.app.wait_message();
    assert!(!h.screen().contains("logit effects"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ds");
    write_dataset(&path);
    std::fs::write(path.join("logit_effects.parquet"), b"not parquet").unwrap();
    let mut h = Harness::on(dir, &path, (120, 20), no_endpoints());
    assert!(
        h.app.status.contains("logit effects not shown")
            && h.app.status.contains("logit_effects.parquet"),
        "{}",
        h.app.status
    );
    assert!(h.screen().contains("3 of 3 units"));
}

#[test]
fn a_corrupt_dataset_is_reported_on_screen_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ds");
    write_dataset(&path);
    // Damage the units table after the (lazy) open would have succeeded.
    let units = path.join("units.parquet");
    let bytes = std::fs::read(&units).unwrap();
    std::fs::write(&units, &bytes[..bytes.len() / 2]).unwrap();
    let mut app = super::app_for(
        Dataset::open(&path).unwrap(),
        Keymap::default(),
        no_endpoints(),
    );
    app.wait_message();
    let mut terminal = Terminal::new(TestBackend::new(120, 20)).unwrap();
    terminal.draw(|f| draw(f, &app, &LOOK)).unwrap();
    let buffer = terminal.backend().buffer();
    let screen: String = (0..buffer.area.height)
        .flat_map(|y| (0..buffer.area.width).map(move |x| (x, y)))
        .map(|p| buffer[p].symbol().to_owned())
        .collect();
    assert!(
        screen.contains("error:") && screen.contains("units.parquet"),
        "{screen}"
    );
    assert!(screen.contains("0 of 0 units"), "{screen}");
    // Keys still work: the explorer can be left normally.
    app.handle_key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE));
    assert!(app.should_quit);
}

/// The rating queue opens an unrated score in the real vs simulated view
/// from the list, and a rating there empties it.
#[test]
fn the_rating_queue_opens_an_unrated_score_to_rate() {
    let mut h = Harness::new(120, 40);
    h.press(KeyCode::Char('R'));
    assert!(
        h.app.status.starts_with("rating queue: 1 unrated scores"),
        "{}",
        h.app.status
    );
    h.app.wait_message();
    let screen = h.screen();
    assert!(screen.contains("real vs simulated"), "{screen}");
    for key in [KeyCode::Char('r'), KeyCode::Char('3'), KeyCode::Enter] {
        h.press(key);
    }
    h.app.wait_message();
    assert_eq!(h.app.notes.ratings.get("s1"), Some(&3));
    h.press(KeyCode::Char('R'));
    assert_eq!(h.app.status, "every score is rated");
}

/// The lab on the demo's Gemma: a probe sorts the list and shows in the
/// unit view, the similar-units picker opens a neighbour, and steering
/// shows both continuations; the frames go on being drawn meanwhile.
#[test]
fn the_lab_probes_a_text_finds_similar_units_and_steers_on_the_demo() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join(".venv/models/gemma-3-270m-q4_k_m.gguf");
    assert!(model.exists(), "{} is missing: make setup", model.display());
    let demo = root.join("datasets/demo");
    let mut h = Harness::on(
        tempfile::tempdir().unwrap(),
        &demo,
        (140, 50),
        no_endpoints(),
    );
    h.press(KeyCode::Char('p'));
    for c in "The cat sat on the mat".chars() {
        h.press(KeyCode::Char(c));
    }
    h.press(KeyCode::Enter);
    assert!(h.screen().contains("probing…"));
    h.settle("the probe", |app| app.list.probe().is_some());
    let probe = h.app.list.probe().unwrap().clone();
    assert_eq!(probe.text, "The cat sat on the mat");
    let screen = h.screen();
    assert!(screen.contains("sort probe ↓"), "{screen}");
    assert!(
        screen.contains("your text; sorted by each unit's maximum"),
        "{screen}"
    );
    let maxima = probe.maxima();
    let best = (0..maxima.len())
        .max_by(|&a, &b| maxima[a].total_cmp(&maxima[b]).then(b.cmp(&a)))
        .unwrap() as u64;
    assert_eq!(h.app.list.visible_units()[0], best);
    // On the token " cat", the top units are those most active there.
    for _ in 0..3 {
        h.press(KeyCode::Right); // first "<bos>", then "The", then " cat"
    }
    assert!(h.screen().contains(r#"sorted by the activation at " cat""#));
    let cat = probe.row(2).unwrap();
    let mut at_cat: Vec<u64> = (0..cat.len() as u64).collect();
    at_cat.sort_by(|&a, &b| cat[b as usize].total_cmp(&cat[a as usize]).then(a.cmp(&b)));
    assert_eq!(h.app.list.visible_units()[..3], at_cat[..3]);
    // S reverses the order; back before the first token, the maxima sort again.
    h.press(KeyCode::Char('S'));
    assert_eq!(h.app.list.visible_units()[0], *at_cat.last().unwrap());
    assert!(h.screen().contains("sort probe ↑"));
    h.press(KeyCode::Char('S'));
    for _ in 0..3 {
        h.press(KeyCode::Left);
    }
    assert_eq!(h.app.list.visible_units()[0], best);
    for _ in 0..3 {
        h.press(KeyCode::Right);
    }

    h.press(KeyCode::Enter);
    h.app.wait_message();
    let screen = h.screen();
    assert!(screen.contains("on your text: max"), "{screen}");

    h.press(KeyCode::Char('n'));
    assert!(h.screen().contains("finding similar units"));
    h.settle("similar units", |app| match &app.screen {
        super::app::Screen::Unit(view) => matches!(view.similar, Some((Some(_), _))),
        _ => false,
    });
    let screen = h.screen();
    assert!(
        screen.contains("by cosine of output directions"),
        "{screen}"
    );
    assert!(screen.contains("by correlation over its"), "{screen}");
    let second = match &h.app.screen {
        super::app::Screen::Unit(view) => match &view.similar {
            Some((Some(Ok(similar)), _)) => {
                let mut rows = similar.by_direction.iter().chain(&similar.by_correlation);
                rows.nth(1).unwrap().unit_id
            }
            other => panic!(
                "no similar units: {:?}",
                other.as_ref().map(|o| o.0.is_some())
            ),
        },
        _ => unreachable!(),
    };
    h.press(KeyCode::Down);
    h.press(KeyCode::Enter);
    h.app.wait_message();
    let screen = h.screen();
    assert!(screen.contains(&format!("unit {second} ·")), "{screen}");

    h.press(KeyCode::Char('w'));
    for c in "+40 The weather today is".chars() {
        h.press(KeyCode::Char(c));
    }
    h.press(KeyCode::Enter);
    assert!(h.screen().contains("steering…"));
    h.settle("steering", |app| match &app.screen {
        super::app::Screen::Unit(view) => matches!(view.steered, Some(Some(_))),
        _ => false,
    });
    let screen = h.screen();
    assert!(
        screen.contains("The weather today is … unsteered"),
        "{screen}"
    );
    assert!(
        screen.contains("steered +40 along its direction"),
        "{screen}"
    );
    match &h.app.screen {
        super::app::Screen::Unit(view) => match &view.steered {
            Some(Some(Ok(s))) => assert_ne!(s.steered, s.unsteered, "steering changed nothing"),
            other => panic!("no steering: {:?}", other.as_ref().map(Option::is_some)),
        },
        _ => unreachable!(),
    }
    h.press(KeyCode::Char('w'));
    for c in "louder please".chars() {
        h.press(KeyCode::Char(c));
    }
    h.press(KeyCode::Enter);
    assert!(h.app.status.contains("steer with"), "{}", h.app.status);
}

/// The bytes a backend writes, kept where the test can read them.
#[derive(Clone, Default)]
struct Written(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl std::io::Write for Written {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What reached the terminal that a dataset put there: any control
/// character but the escape that starts the backend's own CSI sequences
/// (cursor moves, colours), an escape starting anything else (OSC, DCS),
/// a C1 control, a bidirectional override, and the CSI sequences the
/// hostile data carries (clearing the screen or scrollback, asking for the
/// cursor, leaving the alternate screen), which the backend never writes here.
fn foreign_controls(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut found = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
                found.push(format!("{c:?}"));
            }
            continue;
        }
        if chars.next() != Some('[') {
            found.push("an escape that starts no CSI".into());
            continue;
        }
        let mut body = String::new();
        for n in chars.by_ref() {
            body.push(n);
            if ('\u{40}'..='\u{7e}').contains(&n) {
                break;
            }
        }
        if ["2J", "3J", "6n", "?1049l"].contains(&body.as_str()) {
            found.push(format!("CSI {body}"));
        }
    }
    found
}

/// Every view of a dataset whose tokens, explanations, model names and
/// score methods are hostile text, drawn through the real crossterm
/// backend into bytes: nothing the data holds reaches the terminal as a
/// control; and the check finds such bytes when they are written raw.
/// Two layers stand in the way: our `text` sanitising, and ratatui's buffer,
/// which itself skips control and zero-width graphemes; so breaking the
/// sanitising alone does not fail this test, the two must both fail.
#[test]
fn hostile_dataset_text_never_reaches_the_terminal_as_control() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile");
    featurescope::synth::hostile::hostile_dataset(&path, 6).unwrap();
    let mut app = super::app_for(
        Dataset::open(&path).unwrap(),
        Keymap::default(),
        no_endpoints(),
    );
    while app.list.loading || !app.list.peak_tokens_read() {
        app.wait_message();
    }
    let written = Written::default();
    let mut terminal = Terminal::with_options(
        ratatui::backend::CrosstermBackend::new(written.clone()),
        ratatui::TerminalOptions {
            viewport: ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, 120, 40)),
        },
    )
    .unwrap();
    let keys = super::replay::parse_script(
        "down*2 enter right*12 down*3 c o c esc J esc ? esc down enter c esc esc",
        2,
    )
    .unwrap();
    for key in keys {
        app.handle_key(key);
        while super::replay::waiting_for_unit(&app) {
            app.wait_message();
        }
        app.poll_messages();
        terminal.draw(|f| draw(f, &app, &LOOK)).unwrap();
    }
    let bytes = written.0.borrow().clone();
    assert!(bytes.len() > 10_000, "{} bytes drawn", bytes.len());
    let found = foreign_controls(&bytes);
    assert!(found.is_empty(), "reached the terminal: {found:?}");
    // The check sees each of the hostile sequences written raw.
    for sequence in featurescope::synth::hostile::SEQUENCES {
        let mut raw = bytes.clone();
        raw.extend_from_slice(sequence.as_bytes());
        assert!(!foreign_controls(&raw).is_empty(), "{sequence:?} not seen");
    }
}
