//! The papers' experiments as commands: each one's arithmetic against an
//! independent reference (scipy), its files, and its rerun.
use crate::common::{demo_copy, featurescope, path_str, python, root, stderr, stdout};
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
    assert!(err.contains("2 unit results are missing"), "{err}");
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

/// Patching on the demo's layer-6 bases: the prompts line up token by
/// token, nothing patched is the clean run, a complete basis patched whole
/// is the corrupted run, every point agrees with transformers (SAELens
/// encoding the SAE), and a run cut short after four bases goes on with
/// the fifth.
#[test]
fn patching_agrees_with_transformers_and_goes_on_after_an_interruption() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path(), "ds");
    let run = |extra: &[&str]| {
        let mut args = vec!["experiment", "patching", path_str(&dir), "--prompts", "6"];
        args.extend(extra);
        featurescope(&args)
    };
    let out = run(&["--features", "0,1,8,640", "--json"]);
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let folder = dir.join("experiments/patching-blocks.6.resid_post");
    let written = || -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(folder.join("summary.json")).unwrap()).unwrap()
    };
    assert_eq!(written(), summary);
    assert_eq!(summary["complete"], true);
    let csv = std::fs::read_to_string(folder.join("points.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 5 * 4,
        "a header and four points per basis"
    );
    for figure in ["figure.svg", "logit-difference.svg"] {
        let svg = std::fs::read_to_string(folder.join(figure)).unwrap();
        assert_eq!(
            svg.matches("<polyline").count(),
            5,
            "{figure}: a line per basis"
        );
    }
    let prompts = summary["prompts"].as_array().unwrap();
    assert_eq!(prompts.len(), 6);
    for p in prompts {
        let ids = |key: &str| -> Vec<i64> { serde_json::from_value(p[key].clone()).unwrap() };
        let (clean, corrupted) = (ids("clean_ids"), ids("corrupted_ids"));
        let differ: Vec<usize> = (0..clean.len())
            .filter(|&i| clean[i] != corrupted[i])
            .collect();
        assert_eq!(differ.len(), 1, "{p}: only the indirect object changes");
        assert_eq!(
            clean[differ[0]],
            p["indirect_object"].as_i64().unwrap(),
            "{p}"
        );
        assert_eq!(
            corrupted[differ[0]],
            p["corrupted_indirect_object"].as_i64().unwrap()
        );
        let subject = p["subject"].as_i64().unwrap();
        assert_eq!(clean.iter().filter(|&&t| t == subject).count(), 2, "{p}");
    }
    let bases = summary["bases"].as_array().unwrap();
    let labels: Vec<&str> = bases.iter().map(|b| b["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["sae", "pca", "ica", "random", "neuron"]);
    let get = |v: &serde_json::Value, key: &str| v[key].as_f64().unwrap();
    let (clean, corrupted) = (&summary["clean"], &summary["corrupted"]);
    assert!(
        get(clean, "mean_kl") > 1.0,
        "the corruption changes the answer"
    );
    assert!(
        get(clean, "io_logit_difference") > 0.0,
        "the model does the task"
    );
    for basis in bases {
        let points = basis["points"].as_array().unwrap();
        for key in ["mean_kl", "io_logit_difference"] {
            assert_eq!(
                points[0][key], clean[key],
                "{}: nothing patched",
                basis["label"]
            );
        }
        assert!(
            get(&points[3], "mean_kl") < get(clean, "mean_kl"),
            "{}",
            basis["label"]
        );
    }
    // PCA, ICA and the coordinates span the stream: patched whole, the
    // clean run becomes the corrupted one.
    for basis in &bases[1..=2].iter().chain(&bases[4..]).collect::<Vec<_>>() {
        let whole = &basis["points"][3];
        assert!(get(whole, "mean_kl") < 1e-6, "{}: {whole}", basis["label"]);
        let difference = get(whole, "io_logit_difference") - get(corrupted, "io_logit_difference");
        assert!(difference.abs() < 1e-2, "{}: {whole}", basis["label"]);
    }
    let model = crate::common::root().join(".venv/models/gemma-3-270m-q4_k_m.gguf");
    let file = folder.join("summary.json");
    let reference: serde_json::Value = serde_json::from_str(&python(
        "patching_reference.py",
        &[path_str(&model), path_str(&file)],
    ))
    .unwrap();
    assert_eq!(
        reference["tokens_match"], true,
        "transformers tokenises the prompts alike"
    );
    let close = |ours: &serde_json::Value, theirs: &serde_json::Value, at: &str| {
        // A near tie among the features differing most may be broken the
        // other way: the logits move by a few thousandths, not more.
        for (key, tolerance) in [
            ("mean_kl", 1e-3),
            ("io_logit_difference", 1e-2),
            ("corrupted_io_logit_difference", 1e-2),
        ] {
            let (a, b) = (get(ours, key), get(theirs, key));
            assert!((a - b).abs() < tolerance, "{at} {key}: {a} vs {b}");
        }
    };
    close(clean, &reference["clean"], "clean");
    close(corrupted, &reference["corrupted"], "corrupted");
    for basis in bases {
        let label = basis["label"].as_str().unwrap();
        let theirs = reference["bases"][label].as_array().unwrap();
        for (ours, theirs) in basis["points"].as_array().unwrap().iter().zip(theirs) {
            close(ours, theirs, &format!("{label} n={}", ours["features"]));
        }
    }

    // Cut short after four bases: the rerun (the hook spelt as SAELens
    // spells it) runs the fifth alone.
    let mut partial = summary.clone();
    partial["bases"].as_array_mut().unwrap().pop();
    partial["complete"] = serde_json::json!(false);
    std::fs::write(&file, serde_json::to_vec(&partial).unwrap()).unwrap();
    let out = run(&[
        "--features",
        "0,1,8,640",
        "--hook",
        "blocks.6.hook_resid_post",
    ]);
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    assert!(
        stdout(&out).contains("4 of 5 bases as an earlier run left them"),
        "{}",
        stdout(&out)
    );
    assert_eq!(written(), summary);
    // Another plan starts afresh.
    let out = run(&["--features", "0,2"]);
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    assert!(!stdout(&out).contains("earlier run"), "{}", stdout(&out));
    assert_eq!(written()["bases"][0]["points"].as_array().unwrap().len(), 2);

    for (extra, says) in [
        (
            vec!["--hook", "blocks.2.mlp"],
            "no dictionary is read at blocks.2.mlp",
        ),
        (vec!["--hook", "blocks.x"], "not a hook name"),
        (vec!["--hook", "blocks.40.resid_post"], "layer 40"),
        (vec!["--features", "many"], "not a whole number"),
        (vec!["--features", "8,1"], "must rise"),
    ] {
        let out = run(&extra);
        assert!(!out.status.success(), "{extra:?}");
        let err = crate::common::stderr(&out);
        assert!(err.contains(says), "{extra:?}: {err}");
    }
}

/// A fake LLM whose explanations differ with what they are shown: "the word
/// X", X the most active token of the last record it is shown; its
/// simulator predicts 10 on the tokens that start with X's letter and 0
/// elsewhere. So
/// conditions that show other records get other scores.
fn peak_word_llm(request: &crate::common::http::Request) -> crate::common::http::Reply {
    use crate::common::http::{Reply, echoed_simulation};
    let prompt = request.body["prompt"].as_str().unwrap_or_default();
    if request.body["echo"] == serde_json::json!(true) {
        let cue = "this neuron does is find ";
        let explained = &prompt[prompt.rfind(cue).unwrap() + cue.len()..];
        let explained = &explained[..explained.find('\n').unwrap()];
        let word = explained.strip_prefix("the word ").unwrap_or(explained);
        // By first letter, so that most simulations vary.
        let first = |t: &str| t.trim().chars().next().map(|c| c.to_ascii_lowercase());
        return echoed_simulation(prompt, |token| first(token) == first(word));
    }
    let last = &prompt[prompt.rfind("<start>\n").unwrap()..];
    let mut peak = ("", -1);
    for line in last.lines() {
        if let Some((token, value)) = line.rsplit_once('\t')
            && let Ok(value) = value.parse::<i32>()
            && value > peak.1
        {
            peak = (token.trim(), value);
        }
    }
    if peak.0.is_empty() {
        peak.0 = "nothing";
    }
    Reply::json(serde_json::json!({"choices": [{"text": format!(" the word {}\n", peak.0)}]}))
}

/// As [`peak_word_llm`], but its explanations name the first token of the
/// last record shown, not its peak: another explainer, the same simulator.
fn first_word_llm(request: &crate::common::http::Request) -> crate::common::http::Reply {
    use crate::common::http::Reply;
    let prompt = request.body["prompt"].as_str().unwrap_or_default();
    if request.body["echo"] == serde_json::json!(true) {
        return peak_word_llm(request);
    }
    let last = &prompt[prompt.rfind("<start>\n").unwrap()..];
    let first = (last.lines().skip(1))
        .filter_map(|line| line.rsplit_once('\t'))
        .map(|(token, _)| token.trim())
        .find(|token| !token.is_empty() && !token.starts_with('<'))
        .unwrap_or("nothing");
    Reply::json(serde_json::json!({"choices": [{"text": format!(" the word {first}\n")}]}))
}

/// Two explainer and simulator pairs, each a configuration file naming a
/// fake endpoint, on the same sampled units: each pair's explanations are
/// its own, scored on the same held-out records; the means, intervals and
/// paired differences are numpy's and scipy's; a rerun asks for nothing.
#[test]
fn model_pairs_are_scored_side_by_side_on_the_same_held_out_records() {
    use crate::common::http::ScriptedServer;
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path(), "ds");
    let units = study_units(&dir);
    let spec = ids_spec(&units);
    let servers = [
        ("peak-word", ScriptedServer::respond_with(peak_word_llm)),
        ("first-word", ScriptedServer::respond_with(first_word_llm)),
    ];
    let mut configs = Vec::new();
    for (model, server) in &servers {
        let path = tmp.path().join(format!("{model}.toml"));
        let role = format!(
            "base_url = {:?}\nmodel = {model:?}\napi = \"completions\"\n",
            server.url
        );
        std::fs::write(&path, format!("[explainer]\n{role}[simulator]\n{role}")).unwrap();
        configs.push(path);
    }
    let command = |pairs: &[&std::path::Path]| {
        let mut args = vec![
            "experiment",
            "pairs",
            path_str(&dir),
            "--units",
            &spec,
            "--sample",
            "12",
            "--json",
            "--no-cache",
        ];
        for pair in pairs {
            args.extend(["--pair", path_str(pair)]);
        }
        featurescope(&args)
    };
    let out = command(&[&configs[0], &configs[1]]);
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let labels: Vec<&str> = (summary["pairs"].as_array().unwrap().iter())
        .map(|p| p["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["peak-word", "first-word"]);
    assert_eq!(summary["pairs"][1]["explainer"], "first-word");
    let conditions = summary["conditions"].as_array().unwrap();
    assert_eq!(conditions.len(), 2);
    for c in conditions {
        assert_eq!(c["missing"], 0, "{c}");
        assert_eq!(
            c["n"].as_u64().unwrap() + c["undefined"].as_u64().unwrap(),
            12,
            "{c}"
        );
    }
    assert!(conditions[0]["versus_baseline"].is_null());
    check_study_arithmetic(&dir, "pairs", &summary);

    let ds = Dataset::open(&dir).unwrap();
    let explanations = ds.explanations().unwrap();
    let scores = ds.scores().unwrap();
    let mut differ = 0;
    for &unit in &units {
        let by = |model: &str| -> (&featurescope::dataset::Explanation, &Score) {
            let e = (explanations.iter())
                .find(|e| e.unit_id == unit && e.explainer_model == model)
                .unwrap();
            let s = (scores.iter())
                .find(|s| s.explanation_id == e.explanation_id && s.simulator_model == model)
                .unwrap();
            (e, s)
        };
        let ((peak, peak_score), (first, first_score)) = (by("peak-word"), by("first-word"));
        assert_eq!(
            peak.evidence_record_ids, first.evidence_record_ids,
            "{unit}"
        );
        assert_eq!(
            peak_score.record_ids, first_score.record_ids,
            "{unit}: the same held-out records"
        );
        differ += usize::from(peak.text != first.text);
    }
    assert!(differ >= 6, "the explainers differ: {differ} of 12");
    let asked: Vec<usize> = servers.iter().map(|(_, s)| s.requests().len()).collect();
    let again = command(&[&configs[0], &configs[1]]);
    assert!(again.status.success(), "{}", crate::common::stderr(&again));
    let now: Vec<usize> = servers.iter().map(|(_, s)| s.requests().len()).collect();
    assert_eq!(now, asked, "a rerun asks for nothing");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout(&again)).unwrap(),
        summary
    );

    let missing = tmp.path().join("nowhere.toml");
    for (pairs, says) in [
        (vec![configs[0].as_path()], "two or more"),
        (
            vec![configs[0].as_path(), missing.as_path()],
            "no such configuration file",
        ),
        (
            vec![configs[0].as_path(), configs[0].as_path()],
            "two pairs are named peak-word",
        ),
    ] {
        let out = command(&pairs);
        assert!(!out.status.success(), "{pairs:?}");
        let err = crate::common::stderr(&out);
        assert!(err.contains(says), "{pairs:?}: {err}");
    }
}

/// Per condition, numpy's mean and scipy's bootstrap interval of the
/// scores, and of the differences from the baseline condition.
fn check_study_arithmetic(dir: &std::path::Path, name: &str, summary: &serde_json::Value) {
    let folder = dir.join("experiments").join(name);
    let baseline = summary["plan"]["baseline"].to_string();
    let resamples = summary["plan"]["resamples"].to_string();
    let reference: serde_json::Value = serde_json::from_str(&python(
        "study_reference.py",
        &[path_str(&folder), &baseline, &resamples],
    ))
    .unwrap();
    for (i, c) in summary["conditions"].as_array().unwrap().iter().enumerate() {
        let want = &reference["conditions"][i.to_string()];
        assert_eq!(c["n"], want["n"], "{name} condition {i}");
        let close = |ours: &serde_json::Value, theirs: &serde_json::Value, tolerance: f64| match (
            ours.as_f64(),
            theirs.as_f64(),
        ) {
            (Some(a), Some(b)) => assert!((a - b).abs() <= tolerance, "{name} {i}: {a} vs {b}"),
            (a, b) => assert_eq!(a.is_some(), b.is_some(), "{name} {i}: {ours} vs {theirs}"),
        };
        close(&c["mean"], &want["mean"], 1e-9);
        // Intervals from other resamples agree within resampling noise.
        close(&c["interval"][0], &want["low"], 0.05);
        close(&c["interval"][1], &want["high"], 0.05);
        if let Some(versus) = c["versus_baseline"].as_object() {
            assert_eq!(versus["pairs"], want["pairs"], "{name} {i}");
            close(&versus["mean"], &want["difference"], 1e-9);
            close(&versus["interval"][0], &want["difference_low"], 0.05);
            close(&versus["interval"][1], &want["difference_high"], 0.05);
        }
    }
}

/// The labels of the conditions `unit` lacks the records for, from the
/// study's `units.csv`.
fn unavailable_rows(dir: &std::path::Path, study: &str, unit: u64) -> Vec<String> {
    let csv =
        std::fs::read_to_string(dir.join("experiments").join(study).join("units.csv")).unwrap();
    (csv.lines().skip(1))
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[3] == unit.to_string() && f[6] == "unavailable")
        .map(|f| f[2].to_owned())
        .collect()
}

/// Twelve explained units of the demo, from each of its sources.
fn study_units(dir: &std::path::Path) -> Vec<u64> {
    let explained = explained_units(dir);
    (0..12).map(|i| explained[i * 17 + 3]).collect()
}

fn study_command<'a>(study: &'a str, dir: &'a str, units: &'a str, url: &'a str) -> Vec<&'a str> {
    vec![
        "experiment",
        study,
        dir,
        "--units",
        units,
        "--sample",
        "12",
        "--json",
        "--no-cache",
        "--explainer-url",
        url,
        "--explainer-model",
        "peak-word",
        "--explainer-api",
        "completions",
        "--simulator-url",
        url,
        "--simulator-model",
        "peak-word",
        "--simulator-api",
        "completions",
    ]
}

/// Bills et al.'s revision study: four ways of explaining each unit, all
/// scored on the same held-out records that none of them was shown; the
/// misses a revision is shown come from another score of the first
/// explanation, on records neither held out nor shown to it; its
/// arithmetic is numpy's and scipy's; a rerun asks for nothing.
#[test]
fn the_revision_study_scores_every_condition_on_the_same_held_out_records() {
    use crate::common::http::ScriptedServer;
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path(), "ds");
    let units = study_units(&dir);
    let spec = ids_spec(&units);
    let server = ScriptedServer::respond_with(peak_word_llm);
    let out = featurescope(&study_command(
        "revision",
        path_str(&dir),
        &spec,
        &server.url,
    ));
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let conditions = summary["conditions"].as_array().unwrap();
    assert_eq!(conditions.len(), 4);
    for c in conditions {
        assert_eq!(c["missing"], 0, "{c}");
        let made = c["n"].as_u64().unwrap() + c["undefined"].as_u64().unwrap();
        assert_eq!(made + c["unavailable"].as_u64().unwrap(), 12, "{c}");
    }
    check_study_arithmetic(&dir, "revision", &summary);

    let ds = Dataset::open(&dir).unwrap();
    let explanations = ds.explanations().unwrap();
    let scores = ds.scores().unwrap();
    let ours = |e: &&featurescope::dataset::Explanation| e.explainer_model == "peak-word";
    for &unit in &units {
        let records = ds.records(unit).unwrap();
        let made: Vec<_> = explanations
            .iter()
            .filter(ours)
            .filter(|e| e.unit_id == unit)
            .collect();
        let methods: Vec<&str> = made.iter().map(|e| e.method.as_str()).collect();
        // A unit that fires on none of its unshown random records cannot
        // have the control revision; the study says so rather than fail.
        let fires_on_random = records.iter().any(|r| {
            r.sample == featurescope::dataset::Sample::Random
                && r.rank >= 5
                && r.activations.iter().any(|&a| a > 0.0)
        });
        let unavailable = unavailable_rows(&dir, "revision", unit);
        if fires_on_random {
            assert!(unavailable.is_empty(), "{unit}: {unavailable:?}");
            assert_eq!(made.len(), 4, "{unit}: {methods:?}");
        } else {
            assert_eq!(unavailable, vec!["random non-zero".to_owned()], "{unit}");
            assert_eq!(made.len(), 3, "{unit}: {methods:?}");
        }
        let first = made.iter().find(|e| e.method == "top-activations").unwrap();
        // The held-out records: odd top ranks and the first random ones.
        let held_out =
            |s: &&Score| s.record_set == "top-and-random" && s.simulator_model == "peak-word";
        let test: Vec<u64> = (records.iter())
            .filter(|r| match r.sample {
                featurescope::dataset::Sample::Top => r.rank % 2 == 1 && r.rank < 10,
                featurescope::dataset::Sample::Random => r.rank < 5,
                _ => false,
            })
            .map(|r| r.record_id)
            .collect();
        for e in &made {
            assert!(
                !e.evidence_record_ids.iter().any(|id| test.contains(id)),
                "{unit} {}",
                e.method
            );
            let mut scored: Vec<Vec<u64>> = (scores.iter().filter(held_out))
                .filter(|s| s.explanation_id == e.explanation_id)
                .map(|s| {
                    let mut ids = s.record_ids.clone();
                    ids.sort_unstable();
                    ids
                })
                .collect();
            let mut want = test.clone();
            want.sort_unstable();
            assert!(scored.contains(&want), "{unit} {}: {scored:?}", e.method);
            scored.retain(|ids| *ids != want);
            match e.method.as_str() {
                "top-activations" => {
                    // Its other score is where the misses were found.
                    assert_eq!(scored.len(), 1, "{unit}");
                    let revision = made.iter().find(|r| r.method == "revision").unwrap();
                    let new: Vec<u64> = (revision.evidence_record_ids.iter())
                        .filter(|id| !first.evidence_record_ids.contains(id))
                        .copied()
                        .collect();
                    assert!(
                        !new.is_empty() && new.iter().all(|id| scored[0].contains(id)),
                        "{unit}: {new:?}"
                    );
                }
                "re-explanation" => {
                    assert!(
                        !e.evidence_record_ids
                            .iter()
                            .any(|id| first.evidence_record_ids.contains(id))
                    );
                    assert!(e.parent_id.is_none());
                }
                "revision" | "revision-random" => {
                    assert_eq!(e.parent_id.as_deref(), Some(first.explanation_id.as_str()));
                }
                other => panic!("{other}"),
            }
        }
    }

    let before = server.requests().len();
    let again = featurescope(&study_command(
        "revision",
        path_str(&dir),
        &spec,
        &server.url,
    ));
    assert!(again.status.success(), "{}", crate::common::stderr(&again));
    assert_eq!(server.requests().len(), before, "a rerun asks for nothing");
    let rerun: serde_json::Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert_eq!(rerun["conditions"], summary["conditions"]);
}

/// The evidence study: the texts shown, their window about the peak and
/// their selection are what each condition varies; all are scored on the
/// same held-out records; its arithmetic is numpy's and scipy's.
#[test]
fn the_evidence_study_shows_each_condition_what_it_names() {
    use crate::common::http::ScriptedServer;
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path(), "ds");
    let units = study_units(&dir);
    let spec = ids_spec(&units);
    let server = ScriptedServer::respond_with(peak_word_llm);
    let mut command = study_command("evidence", path_str(&dir), &spec, &server.url);
    command.extend([
        "--counts",
        "1,2,10,20",
        "--windows",
        "8,64",
        "--selection-count",
        "3",
    ]);
    let out = featurescope(&command);
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        summary["plan"]["baseline"], 2,
        "the standard explanation shows 10"
    );
    check_study_arithmetic(&dir, "evidence", &summary);
    let shown: Vec<(String, f64)> = (summary["conditions"].as_array().unwrap().iter())
        .map(|c| {
            assert_eq!(c["missing"], 0, "{c}");
            let label = format!(
                "{}: {}",
                c["group"].as_str().unwrap(),
                c["label"].as_str().unwrap()
            );
            (label, c["mean_shown"].as_f64().unwrap())
        })
        .collect();
    let want = [
        ("texts shown: 1", 1.0),
        ("texts shown: 2", 2.0),
        ("texts shown: 10", 10.0),
        // 20 top records, 5 of them held out.
        ("texts shown: 20", 15.0),
        ("window (tokens): 8", 10.0),
        ("window (tokens): 64", 10.0),
        ("selection: top", 3.0),
        ("selection: random", 3.0),
        ("selection: lower-quantile", 3.0),
    ];
    let want: Vec<(String, f64)> = want.iter().map(|(l, n)| (l.to_string(), *n)).collect();
    assert_eq!(shown, want);

    let ds = Dataset::open(&dir).unwrap();
    let explanations = ds.explanations().unwrap();
    let methods: std::collections::BTreeSet<&str> = (explanations.iter())
        .filter(|e| e.explainer_model == "peak-word")
        .map(|e| e.method.as_str())
        .collect();
    // The demo's windows are 32 tokens: 64 cuts nothing, so it is the
    // standard explanation; the top selection of 3 is its own.
    let expected = [
        "evidence-lower-quantile-3",
        "evidence-random-3",
        "evidence-top-1",
        "evidence-top-2",
        "evidence-top-10-window-8",
        "evidence-top-20",
        "evidence-top-3",
        "top-activations",
    ];
    assert_eq!(methods, expected.into_iter().collect());
    for &unit in &units {
        let records = ds.records(unit).unwrap();
        // A unit without lower-quantile records cannot be shown them.
        let unavailable = unavailable_rows(&dir, "evidence", unit);
        let has_lower = (records.iter())
            .any(|r| matches!(r.sample, featurescope::dataset::Sample::Quantile(b) if b < 4));
        assert_eq!(unavailable.is_empty(), has_lower, "{unit}: {unavailable:?}");
        assert!(
            unavailable.iter().all(|l| l == "lower-quantile"),
            "{unavailable:?}"
        );
        let of = |method: &str| {
            let e = (explanations.iter())
                .find(|e| {
                    e.unit_id == unit && e.method == method && e.explainer_model == "peak-word"
                })
                .unwrap_or_else(|| panic!("unit {unit}, {method}: {summary}"));
            e.evidence_record_ids
                .iter()
                .map(|id| records.iter().find(|r| r.record_id == *id).unwrap())
                .collect::<Vec<_>>()
        };
        use featurescope::dataset::Sample;
        assert!(
            of("evidence-random-3")
                .iter()
                .all(|r| r.sample == Sample::Random && r.rank >= 5)
        );
        if has_lower {
            assert!(
                of("evidence-lower-quantile-3")
                    .iter()
                    .all(|r| matches!(r.sample, Sample::Quantile(b) if b < 4))
            );
        }
        let top_ranks: Vec<u32> = of("evidence-top-3").iter().map(|r| r.rank).collect();
        assert_eq!(top_ranks, vec![0, 2, 4]);
    }
    // The window-8 explanation of each unit was asked from its records cut
    // to 8 tokens, the first peak the sixth of them (three quarters in).
    let prompts: Vec<Vec<Vec<String>>> = (server.requests().iter())
        .filter_map(|r| r.body["prompt"].as_str().map(str::to_owned))
        .filter(|p| p.ends_with("does is find") && !p.contains("Previous explanation"))
        .map(|p| {
            let last = &p[p.rfind("\nNeuron ").unwrap()..];
            // Not the repeat of the non-zero lines that a sparse unit gets.
            let last = last.split("Same activations").next().unwrap();
            (last.split("<start>\n").skip(1))
                .map(|b| {
                    let lines = b.split("<end>").next().unwrap().lines();
                    lines
                        .map(|l| l.rsplit_once('\t').unwrap().0.to_owned())
                        .collect()
                })
                .collect()
        })
        .collect();
    for &unit in &units {
        let records = ds.records(unit).unwrap();
        let window_8 = (explanations.iter())
            .find(|e| e.unit_id == unit && e.method == "evidence-top-10-window-8");
        let Some(e) = window_8 else {
            // Where no top record is longer, the window cuts nothing: the
            // condition is the standard explanation.
            let short = |r: &&featurescope::dataset::Record| {
                r.sample != featurescope::dataset::Sample::Top || r.tokens.len() <= 8
            };
            assert!(records.iter().all(|r| short(&r)), "unit {unit}");
            continue;
        };
        let cut: Vec<Vec<String>> = (e.evidence_record_ids.iter())
            .map(|id| {
                let r = records.iter().find(|r| r.record_id == *id).unwrap();
                let peak = (0..r.activations.len())
                    .find(|&i| {
                        r.activations[i] == r.activations.iter().copied().fold(f32::MIN, f32::max)
                    })
                    .unwrap();
                let start = peak.saturating_sub(5).min(r.tokens.len().saturating_sub(8));
                let end = (start + 8).min(r.tokens.len());
                r.tokens[start..end]
                    .iter()
                    .map(|t| featurescope::interp::explainer::token_text(t))
                    .collect()
            })
            .collect();
        assert!(prompts.contains(&cut), "unit {unit}: {cut:?}");
    }
}

/// One unit of each kind of source in the demo: neurons of two MLPs, and
/// features of the SAE, PCA and the neuron basis at the residual stream.
const LOGIT_UNITS: [u64; 5] = [7, 2148, 4101, 6659, 8585];

#[test]
fn logit_effects_agree_with_transformers_and_land_in_the_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path(), "demo");
    let _ = std::fs::remove_file(dir.join("logit_effects.parquet"));
    let out = featurescope(&["logit-effects", path_str(&dir), "--tokens", "5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("logit effects of 9216 units"),
        "{}",
        stdout(&out)
    );
    let ds = Dataset::open(&dir).unwrap();
    let ours: std::collections::HashMap<u64, _> = ds
        .logit_effects()
        .unwrap()
        .into_iter()
        .map(|e| (e.unit_id, e))
        .collect();
    assert_eq!(ours.len(), 9216);
    assert_eq!(ds.validate().unwrap().logit_effects, 9216);
    let gguf = root().join(".venv/models/gemma-3-270m-q4_k_m.gguf");
    let mut args = vec![
        path_str(&gguf).to_owned(),
        path_str(&dir).to_owned(),
        "5".into(),
    ];
    args.extend(LOGIT_UNITS.iter().map(u64::to_string));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let reference: serde_json::Value =
        serde_json::from_str(&python("logit_effects_reference.py", &args)).unwrap();
    for unit in LOGIT_UNITS {
        let effect = &ours[&unit];
        for (side, list) in [("raised", &effect.raised), ("lowered", &effect.lowered)] {
            let theirs = reference[unit.to_string()][side].as_array().unwrap();
            assert_eq!(list.len(), 5);
            for (t, r) in list.iter().zip(theirs) {
                assert_eq!(t.token, r[0].as_str().unwrap(), "unit {unit} {side}");
                let value = r[1].as_f64().unwrap() as f32;
                assert!(
                    (t.effect - value).abs() <= 1e-3 * value.abs().max(1.0),
                    "unit {unit} {side} {:?}: {} vs {value}",
                    t.token,
                    t.effect
                );
            }
        }
        assert!(effect.raised[0].effect > effect.lowered[0].effect);
    }
}
