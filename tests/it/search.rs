//! Search by meaning: our MiniLM sentence embeddings against
//! sentence-transformers', and `featurescope search` ranking units by them,
//! with the cache of embeddings in the dataset.
use crate::common;

use common::{featurescope, path_str, python, sample_unit, stderr, stdout};
use featurescope::dataset::{Dataset, DatasetWriter, Explanation, Manifest, WriterOptions};
use featurescope::search::{BUNDLED_EMBEDDER, SentenceEmbedder};
use std::path::Path;

/// sentence-transformers' embeddings of `texts` with the bundled model.
fn reference_embeddings(dir: &Path, texts: &[&str]) -> Vec<Vec<f32>> {
    let file = dir.join("texts.json");
    std::fs::write(&file, serde_json::to_string(texts).unwrap()).unwrap();
    let out = python(
        "sentence_embeddings_reference.py",
        &[BUNDLED_EMBEDDER, path_str(&file)],
    );
    serde_json::from_str(&out).unwrap()
}

fn explanation(id: &str, unit_id: u64, text: &str) -> Explanation {
    Explanation {
        explanation_id: id.into(),
        unit_id,
        text: text.into(),
        explainer_model: "test".into(),
        method: "top-activations".into(),
        parent_id: None,
        evidence_record_ids: vec![],
        created_at_ms: 1,
    }
}

/// Explanations of four units (unit 3 has none; unit 0 has two).
const EXPLANATIONS: [(&str, u64, &str); 4] = [
    ("e0", 0, "cats, kittens and other pets"),
    ("e1", 0, "the verb to sit"),
    ("e2", 1, "numbers and dates in lists"),
    ("e3", 2, "punctuation at the end of a sentence"),
];

fn write_explained(dest: &Path) {
    let mut writer =
        DatasetWriter::create(dest, Manifest::new(), WriterOptions::default()).unwrap();
    for seed in 0..4 {
        let (unit, records) = sample_unit(seed, 4);
        writer.add_unit(unit, records).unwrap();
    }
    writer.add_explanations(
        EXPLANATIONS
            .iter()
            .map(|&(id, unit, text)| explanation(id, unit, text)),
    );
    writer.finish().unwrap();
}

fn parts(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("embeddings")).map_or(0, |d| d.count())
}

#[test]
fn sentence_embeddings_match_sentence_transformers() {
    let tmp = tempfile::tempdir().unwrap();
    // Past the model's 256-token cut, the text is cut as sentence-transformers cuts it.
    let long = "word ".repeat(400);
    let texts = [
        "the word cat",
        "",
        "Ünïcödé — and \"quotes\"\tand tabs\n",
        "numbers and dates in lists",
        long.as_str(),
    ];
    let reference = reference_embeddings(tmp.path(), &texts);
    let embedder = SentenceEmbedder::load(BUNDLED_EMBEDDER.as_ref()).unwrap();
    let ours = embedder.embed(&texts).unwrap();
    assert_eq!(ours.len(), texts.len());
    for ((text, ours), reference) in texts.iter().zip(&ours).zip(&reference) {
        assert_eq!(ours.len(), 384);
        let worst = ours
            .iter()
            .zip(reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let start: String = text.chars().take(30).collect();
        assert!(worst < 2e-5, "{start:?}…: off by {worst}");
    }
    // One at a time (no padding) gives the same vectors as a padded batch.
    let alone = embedder.embed(&texts[..1]).unwrap();
    let worst = alone[0]
        .iter()
        .zip(&ours[0])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "padding changed the embedding by {worst}");
}

#[test]
fn search_ranks_units_by_meaning_and_embeds_each_explanation_once() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("ds");
    write_explained(&ds);
    let query = "kittens";
    let search = |query: &str| {
        let out = featurescope(&["search", path_str(&ds), query, "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str::<Vec<serde_json::Value>>(&stdout(&out)).unwrap()
    };
    let hits = search(query);
    // Every explained unit once, by its closest explanation, with
    // sentence-transformers' cosine.
    let texts: Vec<&str> = EXPLANATIONS.iter().map(|e| e.2).collect();
    let mut all = texts.clone();
    all.push(query);
    let vectors = reference_embeddings(tmp.path(), &all);
    let cosine = |i: usize| -> f32 { vectors[i].iter().zip(&vectors[4]).map(|(a, b)| a * b).sum() };
    let mut expected: Vec<(u64, &str, f32)> = Vec::new();
    for (i, &(id, unit, _)) in EXPLANATIONS.iter().enumerate() {
        match expected.iter_mut().find(|e| e.0 == unit) {
            Some(best) if best.2 >= cosine(i) => {}
            Some(best) => *best = (unit, id, cosine(i)),
            None => expected.push((unit, id, cosine(i))),
        }
    }
    expected.sort_by(|a, b| b.2.total_cmp(&a.2));
    assert_eq!(hits.len(), 3, "{hits:?}");
    for (hit, (unit, id, similarity)) in hits.iter().zip(&expected) {
        assert_eq!(hit["unit_id"], *unit, "{hits:?}");
        assert_eq!(hit["explanation_id"], *id, "{hits:?}");
        let ours = hit["similarity"].as_f64().unwrap() as f32;
        assert!((ours - similarity).abs() < 1e-4, "{ours} vs {similarity}");
    }
    assert_eq!(hits[0]["unit_id"], 0, "kittens are closest to the pets");
    assert_eq!(search("digits and years")[0]["unit_id"], 1);
    // The first search embedded the four explanations into one part; the
    // others embedded nothing more.
    assert_eq!(parts(&ds), 1);
    let dataset = Dataset::open(&ds).unwrap();
    assert_eq!(dataset.explanation_embeddings().unwrap().len(), 4);
    // A new explanation is embedded, alone, at the next search, and found.
    dataset
        .append_explanations(&[explanation("e4", 3, "full stops and question marks")])
        .unwrap();
    let hits = search("question marks");
    assert_eq!(parts(&ds), 2);
    assert_eq!(dataset.explanation_embeddings().unwrap().len(), 5);
    assert_eq!(hits[0]["unit_id"], 3, "{hits:?}");
    assert_eq!(dataset.validate().unwrap().embeddings, 5);
    // The text output names each unit with its explanation.
    let out = featurescope(&["search", path_str(&ds), "pets", "--top", "1"]);
    let text = stdout(&out);
    assert!(text.contains("cats, kittens and other pets"), "{text}");
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[test]
fn search_refuses_what_it_cannot_search_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = tmp.path().join("bare");
    let mut writer =
        DatasetWriter::create(&bare, Manifest::new(), WriterOptions::default()).unwrap();
    let (unit, records) = sample_unit(0, 3);
    writer.add_unit(unit, records).unwrap();
    writer.finish().unwrap();
    let out = featurescope(&["search", path_str(&bare), "cats"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no explanations"), "{}", stderr(&out));
    let missing = tmp.path().join("no-model");
    let out = featurescope(&[
        "search",
        path_str(&bare),
        "cats",
        "--embedder",
        path_str(&missing),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(path_str(&missing)),
        "{}",
        stderr(&out)
    );
    // A cached embedding of an explanation that does not exist is named.
    write_explained(&tmp.path().join("ds"));
    let ds = Dataset::open(tmp.path().join("ds")).unwrap();
    ds.append_embeddings(&[featurescope::dataset::ExplanationEmbedding {
        explanation_id: "nope".into(),
        embedder: "all-MiniLM-L6-v2".into(),
        embedding: vec![1.0],
    }])
    .unwrap();
    let err = ds.validate().unwrap_err().to_string();
    assert!(err.contains("explanation nope does not exist"), "{err}");
}
