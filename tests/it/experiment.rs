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

/// The flags that point both roles at a dead endpoint under the bundled
/// model's name: what the demo's annotations were made by is reused, and
/// anything the experiment had to ask for would fail.
const DEAD_ENDPOINT: [&str; 12] = [
    "--explainer-backend",
    "http",
    "--explainer-url",
    "http://127.0.0.1:9/v1",
    "--explainer-model",
    "gemma-3-270m-q4_k_m.gguf",
    "--simulator-backend",
    "http",
    "--simulator-url",
    "http://127.0.0.1:9/v1",
    "--simulator-model",
    "gemma-3-270m-q4_k_m.gguf",
];

/// The units the demo's annotations explain from their top records, as a
/// `--units` list.
fn explained_units(dir: &std::path::Path) -> Vec<u64> {
    let mut ids: Vec<u64> = (Dataset::open(dir).unwrap().explanations().unwrap())
        .into_iter()
        .filter(|e| e.method == "top-activations")
        .map(|e| e.unit_id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn ids_spec(ids: &[u64]) -> String {
    let list: Vec<String> = ids.iter().map(u64::to_string).collect();
    format!("ids:{}", list.join(","))
}

fn summary_json(dir: &std::path::Path) -> serde_json::Value {
    let bytes = std::fs::read(dir.join("experiments/bases/summary.json")).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The demo's annotations are the basis comparison's inputs (30 live units
/// of each of its seven sources, scored top-and-random and random-only), so
/// on a copy the experiment asks for nothing; its means are numpy's, its
/// intervals scipy's bootstrap within resampling noise.
#[test]
fn the_basis_comparison_matches_numpy_and_scipy_and_asks_for_nothing_it_has() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path(), "ds");
    let units = ids_spec(&explained_units(&dir));
    let mut args = vec!["experiment", "bases", path_str(&dir), "--units", &units];
    args.extend(DEAD_ENDPOINT);
    let out = featurescope(&args);
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let text = stdout(&out);
    // Two endpoints, two cost lines, neither with a request.
    assert_eq!(text.matches(": 0 requests (").count(), 2, "{text}");
    assert!(
        text.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)),
        "a braille chart: {text}"
    );
    let summary = summary_json(&dir);
    let resamples = summary["plan"]["resamples"].to_string();
    let folder = dir.join("experiments/bases");
    let reference: serde_json::Value = serde_json::from_str(&python(
        "bases_reference.py",
        &[path_str(&folder), &resamples],
    ))
    .unwrap();
    let bases = summary["bases"].as_array().unwrap();
    assert_eq!(bases.len(), 7, "the demo's seven unit sources");
    let mut bars = 0;
    for basis in bases {
        let label = basis["label"].as_str().unwrap();
        assert_eq!(basis["sampled"].as_array().unwrap().len(), 30, "{label}");
        assert_eq!(reference["units"][label], basis["sampled"], "{label}");
        for cell in basis["record_sets"].as_array().unwrap() {
            let key = format!("{label}|{}", cell["record_set"].as_str().unwrap());
            let want = &reference["cells"][&key];
            for count in ["n", "undefined", "missing"] {
                assert_eq!(cell[count], want[count], "{key} {count}");
            }
            assert_eq!(cell["missing"], 0, "{key}");
            let get = |v: &serde_json::Value| v.as_f64().unwrap();
            let (mean, numpy) = (get(&cell["mean"]), get(&want["mean"]));
            assert!((mean - numpy).abs() < 1e-12, "{key}: {mean} vs {numpy}");
            let (low, high) = (get(&cell["interval"][0]), get(&cell["interval"][1]));
            let (scipy_low, scipy_high) = (get(&want["low"]), get(&want["high"]));
            // Two sets of 10,000 resamples: each bound's noise is about 1%
            // of the interval's width.
            let tolerance = 0.05 * (scipy_high - scipy_low) + 1e-9;
            assert!(
                (low - scipy_low).abs() < tolerance && (high - scipy_high).abs() < tolerance,
                "{key}: ours [{low}, {high}], scipy [{scipy_low}, {scipy_high}]"
            );
            assert!(low <= mean && mean <= high, "{key}");
            bars += 1;
        }
    }
    assert_eq!(bars, 14, "seven bases by two record sets");
    assert_eq!(reference["bars"], 14, "one bar each in the figure");

    // Seeded: a rerun writes the same summary.
    let out = featurescope(&args);
    assert!(out.status.success());
    assert_eq!(summary_json(&dir), summary);
}

/// A unit with no explanation and an endpoint that does not answer: the
/// command fails, naming the endpoint and what is missing, and the results
/// of everything else are written.
#[test]
fn a_basis_comparison_that_cannot_reach_its_llm_says_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path(), "ds");
    let mut ids = explained_units(&dir);
    let units = Dataset::open(&dir).unwrap().units_overview().unwrap();
    let unexplained = (units.iter())
        .find(|u| u.max > 0.0 && u.unit_id > 4096 && ids.binary_search(&u.unit_id).is_err())
        .unwrap()
        .unit_id;
    ids.push(unexplained);
    let units = ids_spec(&ids);
    let mut args = vec![
        "experiment",
        "bases",
        path_str(&dir),
        "--units",
        &units,
        "--per-basis",
        "31",
    ];
    args.extend(DEAD_ENDPOINT);
    let out = featurescope(&args);
    assert!(!out.status.success());
    let err = crate::common::stderr(&out);
    assert!(
        err.contains(&format!("failed: unit {unexplained}")),
        "{err}"
    );
    assert!(err.contains("127.0.0.1:9"), "{err}");
    assert!(err.contains("2 unit scores are missing"), "{err}");
    let summary = summary_json(&dir);
    for basis in summary["bases"].as_array().unwrap() {
        let has_it = basis["sampled"]
            .as_array()
            .unwrap()
            .contains(&unexplained.into());
        for cell in basis["record_sets"].as_array().unwrap() {
            assert_eq!(cell["missing"], u64::from(has_it), "{basis}");
        }
    }
}

/// Ablation and the token histogram against transformers running the same
/// GGUF model (one load for both): a layer-2 MLP neuron halved and an SAE
/// feature of layer 6 (one that fires on "except") removed, on five top
/// records each, agree in firing positions, mean KL and the listed tokens'
/// mean log-probability changes; that feature's histogram over a corpus of
/// the demo's record texts agrees bin by bin.
#[test]
fn ablation_and_token_histograms_agree_with_transformers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path(), "ds");
    // Real text: the fortunes the demo's records of a few units hold.
    let ds = Dataset::open(&dir).unwrap();
    let mut lines = Vec::new();
    for unit in [4119, 100, 2100, 7000] {
        for r in ds.records(unit).unwrap() {
            let text: String = r.tokens[1..].concat();
            lines.push(serde_json::json!({ "text": text }).to_string());
        }
    }
    let corpus = tmp.path().join("corpus.jsonl");
    std::fs::write(&corpus, lines.join("\n")).unwrap();
    let out = featurescope(&[
        "experiment",
        "histogram",
        path_str(&dir),
        "--unit",
        "4119",
        "--corpus",
        path_str(&corpus),
        "--windows",
        "120",
        "--bins",
        "8",
        "--json",
    ]);
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let histogram: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let histogram_file = dir.join("experiments/histogram-unit-4119/summary.json");
    assert!(
        dir.join("experiments/histogram-unit-4119/bins.csv")
            .exists()
    );
    let mut summaries = Vec::new();
    for (unit, scale) in [("100", "0.5"), ("4119", "0")] {
        let out = featurescope(&[
            "experiment",
            "ablation",
            path_str(&dir),
            "--unit",
            unit,
            "--scale",
            scale,
            "--records",
            "5",
            "--json",
        ]);
        assert!(out.status.success(), "{}", crate::common::stderr(&out));
        let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let folder = dir.join(format!("experiments/ablation-unit-{unit}-scale-{scale}"));
        let written = std::fs::read(folder.join("summary.json")).unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&written).unwrap(),
            summary
        );
        let csv = std::fs::read_to_string(folder.join("tokens.csv")).unwrap();
        assert_eq!(csv.lines().count(), 21, "a header and ten tokens each way");
        assert!(folder.join("figure.svg").exists());
        summaries.push((folder.join("summary.json"), summary));
    }
    let model = crate::common::root().join(".venv/models/gemma-3-270m-q4_k_m.gguf");
    let sae = crate::common::root().join("datasets/dictionaries/gemma-l6-sae");
    let mut args = vec![path_str(&model), path_str(&sae), path_str(&dir)];
    args.extend(summaries.iter().map(|(path, _)| path_str(path)));
    args.push(path_str(&histogram_file));
    let mut reference: Vec<serde_json::Value> =
        serde_json::from_str(&python("causal_reference.py", &args)).unwrap();
    let want = reference.pop().unwrap();
    assert_eq!(histogram["windows"], want["windows"]);
    assert_eq!(histogram["windows"], 120);
    let firing = histogram["tokens"].as_u64().unwrap() - histogram["not_firing"].as_u64().unwrap();
    let close = |a: u64, b: u64| a.abs_diff(b) <= 2;
    // An activation a rounding error from zero or from a bin edge may land
    // on the other side in the other implementation: counts agree within 2.
    assert!(
        close(firing, want["firing"].as_u64().unwrap()),
        "{firing} vs {}",
        want["firing"]
    );
    let (max, reference_max) = (
        histogram["max"].as_f64().unwrap(),
        want["max"].as_f64().unwrap(),
    );
    assert!(
        (max - reference_max).abs() < 1e-4 * reference_max,
        "{max} vs {reference_max}"
    );
    let bins = histogram["bins"].as_array().unwrap();
    assert_eq!(bins.len(), 8);
    for (b, (ours, theirs)) in bins
        .iter()
        .zip(want["bins"].as_array().unwrap())
        .enumerate()
    {
        let count = ours["count"].as_u64().unwrap();
        assert!(
            close(count, theirs["count"].as_u64().unwrap()),
            "bin {b}: {ours} vs {theirs}"
        );
        let named: u64 = ours["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["count"].as_u64().unwrap())
            .sum();
        assert_eq!(named + ours["other"].as_u64().unwrap(), count, "bin {b}");
        // The most common token, where it leads clearly.
        let top = theirs["top"].as_array().unwrap();
        if let [first, second] = &top[..]
            && first[1].as_u64().unwrap() >= second[1].as_u64().unwrap() + 3
        {
            assert_eq!(ours["tokens"][0]["token_id"], first[0], "bin {b}");
        }
    }
    for ((_, ours), want) in summaries.iter().zip(&reference) {
        let unit = &ours["plan"]["unit_id"];
        let get = |v: &serde_json::Value| v.as_f64().unwrap();
        assert_eq!(ours["record_ids"].as_array().unwrap().len(), 5, "{unit}");
        assert_eq!(ours["records_skipped"], serde_json::json!([]), "{unit}");
        assert!(get(&ours["activation_difference"]) < 1e-3, "{unit}");
        assert_eq!(ours["positions"], want["positions"], "{unit}");
        assert!(ours["positions"].as_u64().unwrap() > 0, "{unit}");
        let (kl, reference_kl) = (get(&ours["mean_kl"]), get(&want["mean_kl"]));
        assert!(kl > 0.0, "{unit}");
        assert!(
            (kl - reference_kl).abs() < 1e-4 * reference_kl + 1e-7,
            "{unit}: KL {kl} vs {reference_kl}"
        );
        for (list, kth) in [("falls", "kth_fall"), ("rises", "kth_rise")] {
            let tokens = ours[list].as_array().unwrap();
            assert_eq!(tokens.len(), 10);
            for t in tokens {
                let (change, id) = (get(&t["mean_change"]), t["token_id"].to_string());
                let reference_change = get(&want["at_ours"][&id]);
                assert!(
                    (change - reference_change).abs() < 1e-4,
                    "{unit} {list} {id}: {change} vs {reference_change}"
                );
            }
            // The tenth listed is the tenth by transformers' changes as well.
            let last = get(&tokens[9]["mean_change"]);
            assert!((last - get(&want[kth])).abs() < 1e-4, "{unit} {list}");
        }
    }

    // A factor that is not a number; a model whose tokenizer cuts the
    // records otherwise (MiniLM's); a model whose blocks are too few for a
    // layer-6 feature (MiniLM has 6).
    let minilm = crate::common::root().join(".venv/models/all-MiniLM-L6-v2");
    for (unit, extra, says) in [
        ("100", vec!["--scale", "nan"], "finite"),
        ("100", vec!["--model", path_str(&minilm)], "same tokens"),
        (
            "4119",
            vec!["--model", path_str(&minilm)],
            "layer 6 does not exist",
        ),
    ] {
        let mut args = vec!["experiment", "ablation", path_str(&dir), "--unit", unit];
        args.extend(extra);
        let out = featurescope(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = crate::common::stderr(&out);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // A unit the dataset does not hold, and a model that is not there.
    let out = featurescope(&["experiment", "ablation", path_str(&dir), "--unit", "99999"]);
    assert!(!out.status.success());
    assert!(crate::common::stderr(&out).contains("unit 99999"));
    let out = featurescope(&[
        "experiment",
        "ablation",
        path_str(&dir),
        "--unit",
        "100",
        "--model",
        "/nonexistent/model.gguf",
    ]);
    assert!(!out.status.success());
    assert!(crate::common::stderr(&out).contains("/nonexistent/model.gguf"));
}
