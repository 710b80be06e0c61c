//! Jobs started from keys: against a fake LLM on loopback, a dead endpoint,
//! a slow one, and real training and re-extraction with MiniLM.
use super::app::{App, Screen};
use super::jobs::{Outcome, Product, State};
use super::tests::{Harness, no_endpoints};
use super::work::Settings;
use crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use featurescope::llm::config::{BUNDLED_MODEL, BackendKind, LlmConfig, RoleConfig};
use std::path::{Path, PathBuf};
use std::time::Duration;

// The integration tests' server; these tests use part of it.
#[allow(dead_code)]
#[path = "../../tests/it/common/http.rs"]
mod http;

fn role(url: &str, model: &str) -> RoleConfig {
    RoleConfig {
        base_url: Some(url.into()),
        model: Some(model.into()),
        max_attempts: Some(1),
        timeout_s: Some(30.0),
        ..Default::default()
    }
}

/// Both roles at `url`, with a response cache of their own.
fn endpoints(url: &str, cache: &Path) -> Settings {
    Settings {
        llm: LlmConfig {
            explainer: role(url, "fake-explainer"),
            simulator: role(url, "fake-simulator"),
            cache_dir: Some(cache.to_owned()),
        },
        ..no_endpoints()
    }
}

fn job_over(app: &App, id: u64) -> bool {
    app.jobs
        .get(id)
        .is_some_and(|j| !matches!(j.state, State::Queued | State::Running))
}

fn last_job(app: &App) -> u64 {
    app.jobs.list.last().expect("a job").id
}

fn explanations_of(app: &App, unit: u64) -> usize {
    app.notes.explanations_of(unit).len()
}

#[test]
fn explain_score_and_revise_run_as_jobs_and_land_in_the_dataset() {
    let server = http::ScriptedServer::respond_with(http::fake_llm);
    let cache = tempfile::tempdir().unwrap();
    let mut h = Harness::with_settings(120, 40, endpoints(&server.url, cache.path()));
    h.press(KeyCode::Down);
    h.press(KeyCode::Enter); // unit 1, which has no explanation
    h.app.wait_message();
    h.press(KeyCode::Char('e'));
    assert!(h.screen().contains("job 1 started: explain unit 1"));
    h.settle("the explanation", |app| explanations_of(app, 1) == 1);
    let screen = h.screen();
    assert!(screen.contains("the word cat"), "{screen}");
    assert!(screen.contains("job 1 (explain unit 1) done"), "{screen}");

    h.press(KeyCode::Char('m'));
    h.settle("the score", |app| !app.notes.unit_scores(1).is_empty());
    let (_, score) = h.app.notes.unit_scores(1)[0];
    assert_eq!(score.simulator_model, "fake-simulator");
    // The fake simulator fires on " cat", where the unit peaks.
    assert!(score.score.unwrap() > 0.5, "{:?}", score.score);

    // Scoring again finds nothing new to score, and says so.
    h.press(KeyCode::Char('m'));
    let id = last_job(&h.app);
    h.settle("the second scoring", |app| job_over(app, id));
    assert!(
        matches!(&h.app.jobs.get(id).unwrap().state, State::Ended(Outcome::Failed(r)) if r.contains("nothing to score")),
        "{:?}",
        h.app.jobs.get(id).unwrap().state
    );

    h.press(KeyCode::Char('v'));
    h.settle("the revision", |app| explanations_of(app, 1) == 2);
    let versions = h.app.notes.explanations_of(1);
    let first = versions.iter().find(|e| e.parent_id.is_none()).unwrap();
    let revision = versions.iter().find(|e| e.parent_id.is_some()).unwrap();
    assert_eq!(revision.parent_id.as_ref(), Some(&first.explanation_id));
    assert_eq!(revision.method, "revision");
    // The unit view shows the lineage.
    assert!(h.screen().contains("(revises #"), "{}", h.screen());

    // All of it is in the dataset, and the panel lists the four jobs.
    let ds = h.dataset();
    let on_disk = ds.explanations().unwrap();
    assert_eq!(on_disk.iter().filter(|e| e.unit_id == 1).count(), 2);
    assert_eq!(
        ds.scores()
            .unwrap()
            .iter()
            .filter(|s| s.unit_id == 1)
            .count(),
        1
    );
    h.press(KeyCode::Char('J'));
    let screen = h.screen();
    for line in [
        "explain unit 1",
        "nothing to score",
        "simulate and score unit 1",
        "revise unit 1",
    ] {
        assert!(screen.contains(line), "{line}: {screen}");
    }
    assert_eq!(screen.matches(" done ").count(), 3, "{screen}");
    // One failed job: its row, and the footer's count.
    assert_eq!(screen.matches(" failed ").count(), 2, "{screen}");
    assert!(screen.contains("jobs: 1 failed (J shows them)"), "{screen}");
}

#[test]
fn with_nothing_configured_the_bundled_model_explains_scores_and_revises() {
    let mut h = Harness::with_settings(120, 40, no_endpoints());
    h.press(KeyCode::Down);
    h.press(KeyCode::Enter); // unit 1
    h.app.wait_message();
    h.press(KeyCode::Char('e'));
    h.settle("the explanation", |app| explanations_of(app, 1) == 1);
    let bundled = Path::new(BUNDLED_MODEL)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let explanation = h.app.notes.explanations_of(1)[0].clone();
    assert_eq!(explanation.explainer_model, bundled);
    assert!(!explanation.text.is_empty());
    h.press(KeyCode::Char('m'));
    h.settle("the score", |app| !app.notes.unit_scores(1).is_empty());
    let (_, score) = h.app.notes.unit_scores(1)[0];
    assert_eq!(score.simulator_model, bundled);
    assert_eq!(score.method, "all-at-once-logprobs");
    // Expected values over 0..10, one per token of each scored record.
    assert!(
        score
            .simulated
            .iter()
            .flatten()
            .all(|v| (0.0..=10.0).contains(v))
    );
    h.press(KeyCode::Char('v'));
    let id = last_job(&h.app);
    h.settle("the revision", |app| {
        explanations_of(app, 1) == 2
            || matches!(
                &app.jobs.get(id).unwrap().state,
                State::Ended(Outcome::Failed(_))
            )
    });
    // A 270M base model may write no usable line; either way the job ends
    // with a reason, and a revision that was written names its parent.
    let versions = h.app.notes.explanations_of(1);
    assert!(
        versions.len() == 2
            || matches!(
                &h.app.jobs.get(id).unwrap().state,
                State::Ended(Outcome::Failed(_))
            ),
        "{:?}",
        h.app.jobs.get(id).unwrap().state
    );
    assert!(
        versions
            .iter()
            .filter(|e| e.parent_id.is_some())
            .all(|e| e.parent_id.as_ref() == Some(&explanation.explanation_id))
    );
}

#[test]
fn the_classifier_key_scores_by_delphis_methods_beside_the_simulation() {
    let mut h = Harness::with_settings(120, 40, no_endpoints());
    h.press(KeyCode::Enter); // unit 0: two explanations, one simulation score (0.87)
    h.app.wait_message();
    h.press(KeyCode::Char('M'));
    let id = last_job(&h.app);
    let classified = |app: &App| {
        app.notes
            .scores
            .values()
            .flatten()
            .filter(|s| !s.is_simulation())
            .count()
    };
    h.settle("the classifier scores", |app| {
        classified(app) == 8
            || matches!(
                &app.jobs.get(id).unwrap().state,
                State::Ended(Outcome::Failed(_))
            )
    });
    let state = &h.app.jobs.get(id).unwrap().state;
    let Outcome::Done { summary, .. } = (match state {
        State::Ended(outcome) => outcome,
        other => panic!("{other:?}"),
    }) else {
        panic!("{state:?}")
    };
    assert!(
        summary.starts_with("8 scores; best: embedding"),
        "{summary}"
    );
    let mut methods: Vec<&str> = h
        .app
        .notes
        .scores
        .values()
        .flatten()
        .filter(|s| !s.is_simulation())
        .map(|s| s.method.as_str())
        .collect();
    methods.sort();
    assert_eq!(
        methods,
        [
            "detection",
            "detection",
            "embedding",
            "embedding",
            "fuzz",
            "fuzz",
            "intruder",
            "intruder"
        ]
    );
    // Real vs simulated and the list's score read simulations only.
    assert_eq!(h.app.notes.unit_scores(0).len(), 1);
    assert_eq!(h.app.notes.headline(0).1, Some(0.87));
    let screen = h.screen();
    assert!(
        screen.contains("[0.87 top-and-random, embedding ") && screen.contains(", detection "),
        "{screen}"
    );
}

#[test]
fn a_result_lands_on_its_unit_after_the_user_moved_on() {
    let server = http::ScriptedServer::respond_with(|r| {
        http::fake_llm(r).delayed(Duration::from_millis(500))
    });
    let cache = tempfile::tempdir().unwrap();
    let mut h = Harness::with_settings(120, 30, endpoints(&server.url, cache.path()));
    h.press(KeyCode::Down);
    h.press(KeyCode::Enter); // unit 1
    h.app.wait_message();
    h.press(KeyCode::Char('e'));
    // Elsewhere before the answer comes: back to the list, into unit 2.
    h.press(KeyCode::Esc);
    h.press(KeyCode::Down);
    h.press(KeyCode::Enter);
    assert!(!job_over(&h.app, 1), "the reply is still on its way");
    h.settle("the explanation", |app| explanations_of(app, 1) == 1);
    assert!(matches!(&h.app.screen, Screen::Unit(v) if v.unit_id == 2));
    assert_eq!(explanations_of(&h.app, 2), 0);
    let on_disk = h.dataset().explanations().unwrap();
    assert!(
        on_disk
            .iter()
            .any(|e| e.unit_id == 1 && e.text == "the word cat")
    );
    // The list shows it too, without a key.
    h.press(KeyCode::Esc);
    assert!(h.screen().contains("the word cat"));
}

#[test]
fn a_dead_or_missing_endpoint_fails_the_job_with_its_reason() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cache = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/v1");
    let mut h = Harness::with_settings(120, 30, endpoints(&url, cache.path()));
    let before = h.dataset().explanations().unwrap().len();
    h.press(KeyCode::Char('e'));
    h.settle("the job to fail", |app| job_over(app, 1));
    let screen = h.screen();
    assert!(
        screen.contains("job 1 (explain unit 0) failed") && screen.contains("cannot connect"),
        "{screen}"
    );
    assert!(screen.contains(&format!("127.0.0.1:{port}")), "{screen}");
    h.press(KeyCode::Char('J'));
    assert!(h.screen().contains("failed"));
    assert_eq!(h.dataset().explanations().unwrap().len(), before);

    // An HTTP backend named without its endpoint: the reason says what to set.
    let mut settings = no_endpoints();
    settings.llm.explainer.backend = Some(BackendKind::Http);
    let mut h = Harness::with_settings(120, 30, settings);
    h.press(KeyCode::Char('e'));
    h.settle("the job to fail", |app| job_over(app, 1));
    assert!(
        h.app.status.contains("explainer: no base_url"),
        "{}",
        h.app.status
    );
}

/// Runs `mount` with `args` on `path` (the tests mount tmpfs volumes, as root).
fn mount(args: &[&str], path: &Path) {
    let out = std::process::Command::new("mount")
        .args(args)
        .arg(path)
        .output()
        .expect("run mount");
    assert!(
        out.status.success(),
        "mount {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn on_a_read_only_dataset_jobs_that_would_write_say_why_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path().join("volume");
    std::fs::create_dir(&volume).unwrap();
    mount(&["-t", "tmpfs", "-o", "size=16m", "tmpfs"], &volume);
    let path = volume.join("ds");
    super::tests::write_dataset(&path);
    mount(&["-o", "remount,ro"], &volume);
    let mut h = Harness::on(dir, &path, (120, 30), no_endpoints());
    // Unmounted before the harness's folder goes.
    let _unmount = Unmount(volume);
    // Browsing works: a unit opens with its records.
    h.press(KeyCode::Enter);
    h.settle("the unit", |app| matches!(app.screen, Screen::Unit(_)));
    h.press(KeyCode::Esc);
    for (key, job) in [('e', 1), ('m', 2), ('v', 3)] {
        h.press(KeyCode::Char(key));
        h.settle("the job to fail", |app| job_over(app, job));
        assert!(
            h.app.status.contains("cannot be written") && h.app.status.contains("Read-only"),
            "{key}: {}",
            h.app.status
        );
    }
}

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_running_job_can_be_cancelled_and_writes_nothing() {
    let server =
        http::ScriptedServer::respond_with(|r| http::fake_llm(r).delayed(Duration::from_secs(20)));
    let cache = tempfile::tempdir().unwrap();
    let mut h = Harness::with_settings(120, 30, endpoints(&server.url, cache.path()));
    let before = h.dataset().explanations().unwrap().len();
    h.press(KeyCode::Char('e'));
    h.settle("the request to reach the server", |_| {
        !server.requests().is_empty()
    });
    assert_eq!(h.app.jobs.get(1).unwrap().state, State::Running);
    h.press(KeyCode::Char('x'));
    assert!(h.screen().contains("cancelling job 1"));
    let start = std::time::Instant::now();
    h.settle("the cancellation", |app| job_over(app, 1));
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(
        h.app.jobs.get(1).unwrap().state,
        State::Ended(Outcome::Cancelled)
    );
    assert_eq!(h.dataset().explanations().unwrap().len(), before);
    // Over is over.
    h.press(KeyCode::Char('J'));
    h.press(KeyCode::Char('x'));
    assert!(h.app.status.contains("already ended"), "{}", h.app.status);
}

#[test]
fn clicking_a_row_selects_it_and_clicking_again_opens_it() {
    let mut h = Harness::with_settings(100, 20, no_endpoints());
    let screen = h.screen();
    let row = screen
        .lines()
        .position(|l| l.trim_start_matches('│').trim_start().starts_with("2 "))
        .expect("unit 2's row") as u16;
    let click = MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: 3,
        row,
        modifiers: KeyModifiers::NONE,
    };
    h.app.handle_mouse(click);
    assert_eq!(h.app.list.selected_row().unwrap().unit.unit_id, 2);
    assert!(matches!(h.app.screen, Screen::List));
    h.app.handle_mouse(click);
    assert!(matches!(&h.app.screen, Screen::Unit(v) if v.unit_id == 2));
    // A click below the rows does nothing.
    h.press(KeyCode::Esc);
    h.app.handle_mouse(MouseEvent { row: 18, ..click });
    assert_eq!(h.app.list.selected_row().unwrap().unit.unit_id, 2);
}

/// The demo's model, a GGUF file `make test` assembles from its PyPI packages.
fn gemma() -> PathBuf {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/models/gemma-3-270m-q4_k_m.gguf");
    assert!(
        file.exists(),
        "{} is missing: run `make setup`",
        file.display()
    );
    file
}

/// Forty lines of real text (the repository's own docs) as a JSONL corpus.
fn corpus(path: &Path) {
    let readme = include_str!("../../README.md");
    let lines: Vec<String> = readme
        .lines()
        .filter(|l| l.split_whitespace().count() >= 6)
        .take(40)
        .map(|l| serde_json::json!({ "text": l }).to_string())
        .collect();
    assert_eq!(lines.len(), 40);
    std::fs::write(path, lines.join("\n")).unwrap();
}

/// The train and re-extract keys on a dataset of the demo's model (a GGUF
/// file): training cancels, resumes and finishes; re-extraction reads the
/// GGUF file the manifest names and adds the new features.
#[test]
fn an_sae_trained_from_a_key_joins_the_units_of_a_re_extraction() {
    use featurescope::extract::{ExtractConfig, SelectionConfig, extract};
    use featurescope::model::{HookPoint, HookSite};
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("corpus.jsonl");
    corpus(&text);
    let dataset = dir.path().join("ds");
    let config = ExtractConfig {
        model_dir: gemma(),
        corpus: text.clone(),
        text_field: "text".into(),
        layers: vec![1],
        site: HookSite::Mlp,
        out: dataset.clone(),
        window_tokens: 16,
        // What re-extraction uses (the command's defaults), so that the
        // neurons come out bit for bit the same.
        batch_size: 32,
        device: tch::Device::Cpu,
        selection: SelectionConfig {
            top_k: 3,
            random_k: 2,
            quantile_k: 1,
            ..SelectionConfig::default()
        },
        calibration_windows: 1024,
        spill_limit: featurescope::extract::SPILL_LIMIT,
        dictionaries: Vec::new(),
        logit_effects: false,
    };
    extract(&config, &Default::default(), |_| {}).unwrap();
    let cache = dir.path().join("cache");
    featurescope::activations::build_cache(
        &featurescope::activations::BuildCache {
            model_dir: gemma(),
            corpus: text,
            text_field: "text".into(),
            hook: HookPoint {
                layer: 2,
                site: HookSite::ResidPost,
            },
            out: cache.clone(),
            window_tokens: 16,
            batch_size: 16,
            device: tch::Device::Cpu,
            shard_tokens: 1 << 20,
        },
        |_| {},
    )
    .unwrap();
    // A TopK SAE of 48 features on the cache, into `out`, trained as `train` says.
    let config_file = |name: &str, out: &Path, train: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "out = {out:?}\n[data]\ncache = {cache:?}\n[sae]\narchitecture = \"topk\"\n\
                 d_sae = 48\nk = 4\n[train]\nbatch = 256\n{train}"
            ),
        )
        .unwrap();
        path
    };
    let sae = dir.path().join("sae");
    let train_config = config_file("sae.toml", &sae, "tokens = 10240\nmetrics_every = 10\n");
    // A run too long to finish here, to cancel and resume.
    let long = dir.path().join("sae-long");
    let long_config = config_file(
        "long.toml",
        &long,
        "tokens = 100000000\ncheckpoint_every = 10\n",
    );
    let settings = Settings {
        train_config: long_config.clone(),
        ..no_endpoints()
    };
    let mut h = Harness::on(dir, &dataset, (120, 30), settings);
    assert_eq!(h.app.list.rows().len(), 2048);

    // T proposes the configured file; Enter starts training; x stops it
    // with a checkpoint, and training again resumes from it.
    h.press(KeyCode::Char('T'));
    assert!(h.screen().contains(&long_config.display().to_string()));
    h.press(KeyCode::Enter);
    let past = |step: u64| {
        move |app: &App| {
            app.jobs
                .list
                .last()
                .unwrap()
                .progress
                .is_some_and(|(done, _)| done >= step)
        }
    };
    h.settle("some steps", past(25));
    h.press(KeyCode::Char('x'));
    h.settle("the cancellation", |app| job_over(app, 1));
    let job = h.app.jobs.get(1).unwrap();
    assert_eq!(job.state, State::Ended(Outcome::Cancelled));
    assert!(job.note.contains("checkpoint at step"), "{}", job.note);
    assert!(featurescope::sae::train::has_checkpoint(&long));
    h.press(KeyCode::Char('T'));
    h.press(KeyCode::Enter);
    h.settle("the resumed run's first report", |app| {
        app.jobs.get(2).unwrap().progress.is_some()
    });
    let (resumed_at, _) = h.app.jobs.get(2).unwrap().progress.unwrap();
    assert!(resumed_at >= 20, "resumed at step {resumed_at}");
    // Training and extraction run one at a time: a re-extraction waits.
    h.press(KeyCode::Char('X'));
    assert_eq!(h.app.jobs.get(3).unwrap().state, State::Queued);
    h.press(KeyCode::Char('J'));
    assert!(h.screen().contains("queued"));
    // x in the panel cancels the job picked there (the newest), at once.
    h.press(KeyCode::Char('x'));
    assert_eq!(
        h.app.jobs.get(3).unwrap().state,
        State::Ended(Outcome::Cancelled)
    );
    assert_eq!(h.app.jobs.get(2).unwrap().state, State::Running);
    // With the panel closed, x cancels the newest unfinished job.
    h.press(KeyCode::Char('J'));
    h.press(KeyCode::Char('x'));
    h.settle("the second cancellation", |app| job_over(app, 2));

    // The short run, typed in.
    h.press(KeyCode::Char('T'));
    for _ in 0..long_config.display().to_string().chars().count() {
        h.press(KeyCode::Backspace);
    }
    for c in train_config.display().to_string().chars() {
        h.press(KeyCode::Char(c));
    }
    h.press(KeyCode::Enter);
    h.settle("training", |app| job_over(app, 4));
    let job = h.app.jobs.get(4).unwrap();
    assert!(
        matches!(&job.state, State::Ended(Outcome::Done { summary: s, .. }) if s.contains("dictionary in")),
        "{:?}",
        job.state
    );
    assert!(
        matches!(job.progress, Some((done, 40)) if done == 40),
        "40 steps of 256 tokens: {:?}",
        job.progress
    );
    let trained = featurescope::sae::Dictionary::load(&sae).unwrap();
    assert_eq!(trained.d_sae(), 48);

    // X re-extracts with the new features, into a sibling dataset.
    h.press(KeyCode::Char('X'));
    assert!(
        h.screen()
            .contains("re-extract, adding the SAE trained here")
    );
    h.settle("re-extraction", |app| job_over(app, 5));
    let job = h.app.jobs.get(5).unwrap();
    let Some(Product::Dataset(made)) = job.state.product().cloned() else {
        panic!("{:?}", job.state);
    };
    assert_eq!(made.file_name().unwrap(), "ds-2");
    // Enter on the job in the panel opens it.
    h.press(KeyCode::Char('J'));
    h.press(KeyCode::Enter);
    h.settle("the new dataset", |app| {
        app.dataset_dir == made && !app.list.loading && app.list.rows().len() == 2048 + 48
    });
    let sources = h.dataset().manifest().sources.clone();
    assert_eq!(sources.len(), 2);
    assert_eq!(sources[1].hook, "blocks.2.resid_post");
    // Extraction wrote every unit's logit effects, the new features' too.
    let effects = h.dataset().logit_effects().unwrap();
    assert_eq!(effects.len(), 2048 + 48);
    assert_eq!(effects.last().unwrap().unit_id, 2048 + 47);
    // The neurons are the same as before: same model, corpus and selection.
    let old = featurescope::dataset::Dataset::open(h._dir.path().join("ds")).unwrap();
    assert_eq!(old.records(7).unwrap(), h.dataset().records(7).unwrap());
}

#[test]
fn replay_times_frames_while_a_training_job_runs_in_the_explorer() {
    use featurescope::activations::CacheWriter;
    use featurescope::model::{HookPoint, HookSite};
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("ds");
    super::tests::write_dataset(&dataset);
    let cache = dir.path().join("cache");
    let hook = HookPoint {
        layer: 0,
        site: HookSite::ResidPost,
    };
    let mut writer = CacheWriter::create(&cache, "toy", hook, 32, "synthetic", 16).unwrap();
    let rows: Vec<f32> = (0..4096 * 32)
        .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
        .collect();
    writer.push(&rows).unwrap();
    writer.finish().unwrap();
    let config = dir.path().join("sae.toml");
    std::fs::write(
        &config,
        format!(
            "out = {:?}\n[data]\ncache = {cache:?}\n[sae]\nd_sae = 64\n[train]\ntokens = 100000000\nbatch = 256\n",
            dir.path().join("sae")
        ),
    )
    .unwrap();
    let report = super::replay::replay(
        &dataset,
        super::replay::DEFAULT_SCRIPT,
        3,
        (100, 30),
        Duration::ZERO,
        Some(&config),
        None,
    )
    .unwrap();
    assert_eq!(report.units, 3);
    // About 200 keys, three times over.
    assert!(report.frames >= 550, "{} frames", report.frames);
    // Frames are disjoint stretches of the script, and at least half of them
    // last the median or longer: timing from anywhere but the key fails this.
    assert!(
        report.frame_p50_ms * report.frames as f64 / 2.0 <= report.script_s * 1000.0,
        "{report:?}"
    );
    assert!(
        report.job_steps_during_replay.is_some_and(|n| n > 0),
        "{:?} steps in {} s",
        report.job_steps_during_replay,
        report.script_s
    );
    assert!(
        report.job_steps_per_s_alone.is_some_and(|s| s > 0.0),
        "{report:?}"
    );
    // Three units sort on the event loop: nothing to wait for.
    assert_eq!(report.list_updates, 0);
    // Without a job there is nothing to report, and a bad config fails loudly.
    let alone = super::replay::replay(
        &dataset,
        "down enter esc",
        1,
        (100, 30),
        Duration::from_millis(20),
        None,
        None,
    )
    .unwrap();
    // Three keys and the unit's texts drawn, and the peak tokens' frame if
    // they arrive while the script runs (they are waited for after it).
    assert!((4..=5).contains(&alone.frames), "{alone:?}");
    assert!(alone.peak_tokens_ms >= alone.list_ready_ms, "{alone:?}");
    assert_eq!(alone.job_steps_during_replay, None);
    assert_eq!(alone.job_steps_per_s_alone, None);
    // Paced at 20 ms a key, three keys take at least 60 ms.
    assert!(alone.script_s >= 0.06, "{alone:?}");
    let missing = dir.path().join("missing.toml");
    let err = super::replay::replay(
        &dataset,
        "down",
        1,
        (100, 30),
        Duration::ZERO,
        Some(&missing),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("missing.toml"), "{err}");
}

/// `replay --explain`: the bundled model explains a unit before the script
/// and scores it (and stops: one unit asked for) while the script runs; the
/// explanation lands in the dataset. Not beside a training job.
#[test]
fn replay_explains_and_scores_with_the_bundled_model_beside_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("ds");
    super::tests::write_dataset(&dataset);
    let report = super::replay::replay(
        &dataset,
        "down*5",
        1,
        (100, 30),
        Duration::from_millis(20),
        None,
        Some(1),
    )
    .unwrap();
    let counted = report.llm_jobs_during_replay.unwrap() + report.llm_jobs_alone.unwrap();
    assert!(
        counted <= 1,
        "one score at most after the explanation: {report:?}"
    );
    let explanations = featurescope::dataset::Dataset::open(&dataset)
        .unwrap()
        .explanations()
        .unwrap();
    let made: Vec<_> = (explanations.iter())
        .filter(|e| e.explainer_model == "gemma-3-270m-q4_k_m.gguf")
        .collect();
    assert_eq!(made.len(), 1, "{explanations:?}");
    let both = super::replay::replay(
        &dataset,
        "down",
        1,
        (100, 30),
        Duration::ZERO,
        Some(Path::new("sae.toml")),
        Some(1),
    )
    .unwrap_err()
    .to_string();
    assert!(both.contains("one at a time"), "{both}");
}

/// A list too long to sort on the event loop: each sort or filter key is
/// timed until the new list is drawn.
#[test]
fn replay_times_sorts_of_a_long_list_until_they_are_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let spec = featurescope::synth::SynthSpec {
        units: 25_000,
        records_per_unit: 1,
        tokens_per_record: 4,
        layers: 2,
        seed: 1,
        ..Default::default()
    };
    let dataset = featurescope::synth::generate(&dir.path().join("ds"), &spec, |_| {}).unwrap();
    let report = super::replay::replay(
        &dataset,
        "s s / text:layer:1 enter S",
        1,
        (100, 30),
        Duration::ZERO,
        None,
        None,
    )
    .unwrap();
    assert_eq!(report.units, 25_000);
    // Two sorts, the filter's Enter, and the reversal; typing the filter does not re-sort.
    assert_eq!(report.list_updates, 4, "{report:?}");
    assert!(
        report.list_update_p50_ms.is_some_and(|ms| ms > 0.0),
        "{report:?}"
    );
    // A frame per key, and one more for each list that arrived.
    assert_eq!(report.frames, 12 + 4, "{report:?}");
}

#[test]
fn re_extracting_a_dataset_that_does_not_say_how_it_was_made_fails_with_the_field() {
    let mut h = Harness::with_settings(120, 30, no_endpoints());
    h.press(KeyCode::Char('X'));
    h.settle("the job to fail", |app| job_over(app, 1));
    assert!(
        h.app
            .status
            .contains("manifest.json: no subject_model.source"),
        "{}",
        h.app.status
    );
    assert!(!h._dir.path().join("ds-2").exists());
    // With the model recorded, the next missing field is named.
    let mut manifest = h.dataset().manifest().clone();
    manifest.subject_model = Some(featurescope::dataset::manifest::SubjectModel {
        name: "m".into(),
        architecture: None,
        layers: None,
        source: Some("models/m".into()),
    });
    let err = featurescope::extract::ExtractConfig::repeat(&manifest, "out".into(), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("no corpus.source"), "{err}");
}

/// The ablate key on a copy of the demo: the job runs the demo's own model
/// (the GGUF file its manifest names) and the unit view shows the result.
#[test]
fn an_ablation_from_a_key_shows_in_the_unit_view() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo");
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .args([&demo, &path])
        .status()
        .unwrap();
    assert!(copied.success());
    let mut h = Harness::on(dir, &path, (140, 50), no_endpoints());
    // Unit 4119, an SAE feature of layer 6 that fires on " except".
    h.press(KeyCode::Char(':'));
    for c in "4119".chars() {
        h.press(KeyCode::Char(c));
    }
    h.press(KeyCode::Enter);
    h.app.wait_message();
    h.press(KeyCode::Char('a'));
    let id = last_job(&h.app);
    h.settle("the ablation", |app| job_over(app, id));
    let state = &h.app.jobs.get(id).unwrap().state;
    assert!(
        matches!(state, State::Ended(Outcome::Done { .. })),
        "{state:?}"
    );
    h.settle("the overview", |app| {
        app.notes.ablations.contains_key(&4119)
    });
    let screen = h.screen();
    assert!(screen.contains("ablation: next-token"), "{screen}");
    assert!(screen.contains("scaled by 0 on 20 records"), "{screen}");
    assert!(screen.contains("falls: \""), "{screen}");
    let (published, damaged) = featurescope::experiment::ablation::published(&path).unwrap();
    assert!(damaged.is_empty(), "{damaged:?}");
    assert_eq!(published.len(), 1);
    assert!(published[0].positions > 0 && published[0].mean_kl > 0.0);
}
