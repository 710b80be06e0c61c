//! Corpus readers: every document in order, and every unreadable one reported
//! with its place instead of being skipped in silence.
use featurescope::activations::{ActivationError, Corpus};
use std::sync::Arc;

/// Documents read: (id, text).
type Good = Vec<(i64, String)>;
/// Documents reported: (id, place, reason).
type Bad = Vec<(i64, String, String)>;

fn read_all(path: &std::path::Path, field: &str) -> (Good, Bad) {
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    Corpus::open(path, field)
        .unwrap()
        .for_each(|doc| -> Result<(), ActivationError> {
            match doc {
                Ok(d) => good.push((d.id, d.text)),
                Err(b) => bad.push((b.id, b.place, b.reason)),
            }
            Ok(())
        })
        .unwrap();
    (good, bad)
}

#[test]
fn a_folder_of_text_files_is_read_in_name_order_and_bad_utf8_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("b.txt"), "second file").unwrap();
    std::fs::write(tmp.path().join("a.txt"), "first file\nwith two lines").unwrap();
    std::fs::create_dir(tmp.path().join("c")).unwrap();
    std::fs::write(tmp.path().join("c").join("d.txt"), b"bad \xff byte").unwrap();
    std::fs::write(tmp.path().join(".hidden"), "not read").unwrap();
    let (good, bad) = read_all(tmp.path(), "text");
    assert_eq!(
        good,
        vec![
            (0, "first file\nwith two lines".into()),
            (1, "second file".into())
        ]
    );
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].0, 2);
    assert!(
        bad[0].1.ends_with("c/d.txt") && bad[0].2 == "invalid UTF-8 at byte 4",
        "{bad:?}"
    );
}

#[test]
fn jsonl_lines_that_are_not_documents_are_reported_with_their_line() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("c.jsonl");
    std::fs::write(&path, "{\"body\": \"one\"}\n\n{\"body\": 2}\nnot json\n{\"other\": \"x\"}\n{\"body\": \"five\"}\n").unwrap();
    let (good, bad) = read_all(&path, "body");
    assert_eq!(good, vec![(0, "one".into()), (4, "five".into())]);
    let places: Vec<(i64, String, String)> = bad
        .into_iter()
        .map(|(i, p, r)| (i, p.rsplit('/').next().unwrap().to_owned(), r))
        .collect();
    assert_eq!(
        places[0],
        (1, "c.jsonl:3".into(), "field `body` is not a string".into())
    );
    assert_eq!((places[1].0, places[1].1.as_str()), (2, "c.jsonl:4"));
    assert!(places[1].2.starts_with("not JSON"));
    assert_eq!(places[2], (3, "c.jsonl:5".into(), "no field `body`".into()));
}

#[test]
fn a_parquet_column_is_read_and_nulls_are_reported() {
    use arrow::array::{Int64Array, RecordBatch, StringArray};
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("c.parquet");
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as _),
        (
            "content",
            Arc::new(StringArray::from(vec![Some("alpha"), None, Some("gamma")])) as _,
        ),
    ])
    .unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&path).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let (good, bad) = read_all(&path, "content");
    assert_eq!(good, vec![(0, "alpha".into()), (2, "gamma".into())]);
    assert_eq!(bad.len(), 1);
    assert!(
        bad[0].1.ends_with("c.parquet: column `content`, row 1") && bad[0].2 == "null",
        "{bad:?}"
    );
    let err = Corpus::open(&path, "text")
        .unwrap()
        .for_each(|_| Ok::<(), ActivationError>(()))
        .unwrap_err();
    assert!(err.to_string().ends_with("no column `text`"), "{err}");
    let err = Corpus::open(&path, "id")
        .unwrap()
        .for_each(|_| Ok::<(), ActivationError>(()))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("column `id` is not a string column"),
        "{err}"
    );
}

#[test]
fn a_missing_corpus_is_an_error_naming_it() {
    let err = Corpus::open(std::path::Path::new("/nonexistent/corpus.txt"), "text")
        .err()
        .unwrap();
    assert!(
        err.to_string().starts_with("/nonexistent/corpus.txt: "),
        "{err}"
    );
}

/// The windows of a corpus as the reading thread cuts them ahead of the
/// visitor: every one in order, the unreadable documents reported, and a
/// visitor that stops early gets its own error back (with no hang).
#[test]
fn windows_are_read_ahead_in_order_and_a_visitor_can_stop() {
    use featurescope::activations::{Windower, for_each_window};
    use featurescope::model::TextTokenizer;
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("c.jsonl");
    // Enough documents for several of the reader's messages.
    let mut lines: Vec<String> = (0..1500)
        .map(|i| format!("{{\"text\": \"document number {i} says hello\"}}"))
        .collect();
    lines[700] = "not json".into();
    std::fs::write(&corpus, lines.join("\n")).unwrap();
    let tokenizer =
        TextTokenizer::load(&crate::common::root().join(".venv/models/all-MiniLM-L6-v2")).unwrap();
    let windower = Windower::new(&tokenizer, 64).unwrap();
    let corpus = Corpus::open(&corpus, "text").unwrap();

    let (mut seen, mut bad) = (Vec::new(), Vec::new());
    for_each_window::<ActivationError>(
        &corpus,
        &windower,
        |b| bad.push(b.id),
        |i, w| {
            seen.push((i, w.document_id));
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(bad, vec![700]);
    let expected: Vec<(u64, i64)> = (0..1500i64)
        .filter(|&d| d != 700)
        .enumerate()
        .map(|(i, d)| (i as u64, d))
        .collect();
    assert_eq!(seen, expected, "one window per document, in order");

    let mut visited = 0;
    let stopped = for_each_window::<ActivationError>(
        &corpus,
        &windower,
        |_| {},
        |i, _| {
            visited += 1;
            if i == 600 {
                return Err(ActivationError::Input {
                    what: "visitor".into(),
                    problem: "enough".into(),
                });
            }
            Ok(())
        },
    );
    assert!(
        matches!(stopped, Err(ActivationError::Input { ref problem, .. }) if problem == "enough")
    );
    assert_eq!(visited, 601);
}
