//! The papers' experiments as commands: each one's arithmetic against an
//! independent reference (scipy), its files, and its rerun.
use crate::common::{demo_copy, featurescope, path_str, python, stdout};
use featurescope::dataset::{Dataset, Rating, Score};

/// A copy of the demo (real scores) with ratings given to 40 of its scores,
/// ties included, one score rated twice (the later rating counts) and one
/// rated score whose score is undefined.
fn rated_demo() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path(), "ds");
    let ds = Dataset::open(&dir).unwrap();
    let scores: Vec<Score> = ds
        .scores()
        .unwrap()
        .into_iter()
        .filter(|s| s.score.is_some())
        .take(40)
        .collect();
    assert_eq!(scores.len(), 40, "the demo has scores");
    let undefined = Score {
        score_id: "undefined-score".into(),
        score: None,
        r_squared: None,
        absolute_dev_explained: None,
        ..scores[0].clone()
    };
    ds.append_scores(std::slice::from_ref(&undefined)).unwrap();
    let rating = |i: usize, s: &Score, rating: u32, at: i64| Rating {
        rating_id: format!("r{i}"),
        score_id: s.score_id.clone(),
        unit_id: s.unit_id,
        rating,
        created_at_ms: at,
    };
    let mut ratings: Vec<Rating> = scores
        .iter()
        .enumerate()
        // Tie groups of unequal sizes (with equal ones, ranks that were not
        // averaged would only shift by a constant and correlate the same).
        .map(|(i, s)| {
            let level = match i % 10 {
                3 => 3,
                6 => 4,
                _ => 1 + (i as u32 * i as u32) % 5,
            };
            rating(i, s, level, 1_000)
        })
        .collect();
    // The first score is rated again later: 5 first, then 1 (given first in
    // the file, so the time decides, not the order).
    ratings[0].rating = 5;
    ratings.insert(0, rating(100, &scores[0], 1, 2_000));
    ratings.push(rating(101, &undefined, 3, 1_000));
    ds.append_ratings(&ratings).unwrap();
    (tmp, dir, scores[0].score_id.clone())
}

#[test]
fn rating_agreement_matches_scipy_and_writes_its_files() {
    let (_tmp, dir, twice_rated) = rated_demo();
    let out = featurescope(&["experiment", "ratings", path_str(&dir), "--json"]);
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let folder = dir.join("experiments/ratings");
    let reference: serde_json::Value =
        serde_json::from_str(&python("spearman_reference.py", &[path_str(&folder)])).unwrap();
    assert_eq!(summary["n"], 40);
    assert_eq!(reference["n"], 40);
    assert_eq!(summary["undefined_scores"], 1);
    assert_eq!(
        reference["ratings"][&twice_rated], 1,
        "the latest rating counts"
    );
    let (ours, scipy) = (
        summary["spearman"].as_f64().unwrap(),
        reference["rho"].as_f64().unwrap(),
    );
    assert!((ours - scipy).abs() < 1e-9, "ours {ours}, scipy {scipy}");
    assert_eq!(reference["circles"], 40, "one point per rated score");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("summary.json")).unwrap()).unwrap();
    assert_eq!(written, summary);
    let levels: u64 = (summary["by_rating"].as_array().unwrap().iter())
        .map(|l| l["n"].as_u64().unwrap())
        .sum();
    assert_eq!(levels, 40);

    // The text form shows the figure in the terminal; a rerun replaces the
    // folder whole, leaving nothing staged beside it.
    let out = featurescope(&["experiment", "ratings", path_str(&dir)]);
    let text = stdout(&out);
    assert!(text.contains(&format!("rho = {ours:.3}, n = 40")), "{text}");
    assert!(
        text.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)),
        "a braille chart: {text}"
    );
    let entries: Vec<String> = std::fs::read_dir(dir.join("experiments"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, vec!["ratings"]);
    // The dataset is still valid with its results inside.
    assert!(featurescope(&["validate", path_str(&dir)]).status.success());
}

#[test]
fn without_ratings_the_correlation_is_undefined_not_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path(), "ds");
    let out = featurescope(&["experiment", "ratings", path_str(&dir), "--json"]);
    assert!(out.status.success());
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary["n"], 0);
    assert!(summary["spearman"].is_null());
    let missing = featurescope(&["experiment", "ratings", "/nonexistent/ds"]);
    assert!(!missing.status.success());
    assert!(crate::common::stderr(&missing).contains("/nonexistent/ds"));
}
