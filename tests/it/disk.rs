//! Datasets on disks that refuse: a read-only mount (browsed; writes refused
//! before any work, with the reason), a full file system (appends and
//! extraction fail naming the cause, and what was there stays whole), and
//! files missing or unreadable inside a dataset (named). The volumes are
//! tmpfs mounts made by the test (CI runs as root).
use crate::common;

use common::http::{ScriptedServer, fake_llm};
use common::{featurescope, path_str, root, sample_unit, stderr};
use featurescope::dataset::{Dataset, DatasetWriter, Manifest, WriterOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs of `size` (`mount`'s syntax, e.g. `16m`) at a fresh folder,
/// unmounted when dropped.
struct Volume {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Volume {
    fn new(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("volume");
        std::fs::create_dir(&path).unwrap();
        mount(
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"],
            &path,
        );
        Self { path, _dir: dir }
    }

    fn make_read_only(&self) {
        mount(&["-o", "remount,ro"], &self.path);
    }

    /// Fills the volume: a file grown until the disk is full.
    fn fill(&self) {
        let mut filler = std::fs::File::create(self.path.join("filler")).unwrap();
        let block = vec![0u8; 64 * 1024];
        while filler.write_all(&block).is_ok() {}
        // And the last bytes, in smaller pieces.
        while filler.write_all(&block[..512]).is_ok() {}
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn mount(args: &[&str], path: &Path) {
    let out = Command::new("mount")
        .args(args)
        .arg(path)
        .output()
        .expect("run mount");
    assert!(
        out.status.success(),
        "mount {args:?} {}: {} (these tests mount tmpfs volumes, as root)",
        path.display(),
        stderr(&out)
    );
}

/// A small dataset of 12 units at `dest`.
fn small_dataset(dest: &Path) {
    let mut writer =
        DatasetWriter::create(dest, Manifest::new(), WriterOptions::default()).unwrap();
    for seed in 0..12 {
        let (unit, records) = sample_unit(seed, 6);
        writer.add_unit(unit, records).unwrap();
    }
    writer.finish().unwrap();
}

/// Every file under `dir` with its bytes, sorted by path.
fn contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

fn explain(dataset: &Path, server: &ScriptedServer) -> std::process::Output {
    featurescope(&[
        "explain",
        path_str(dataset),
        "--explainer-url",
        &server.url,
        "--explainer-model",
        "fake-explainer",
        "--no-cache",
    ])
}

#[test]
fn a_read_only_dataset_is_browsed_and_writes_are_refused_before_any_work() {
    let volume = Volume::new("16m");
    let dataset = volume.path.join("ds");
    small_dataset(&dataset);
    volume.make_read_only();
    let before = contents(&dataset);
    for command in ["inspect", "validate"] {
        let out = featurescope(&[command, path_str(&dataset)]);
        assert!(out.status.success(), "{command}: {}", stderr(&out));
    }
    let server = ScriptedServer::respond_with(fake_llm);
    let refused = explain(&dataset, &server);
    assert!(!refused.status.success());
    let error = stderr(&refused);
    for part in [
        path_str(&dataset),
        "cannot be written",
        "Read-only file system",
    ] {
        assert!(error.contains(part), "{error:?} lacks {part:?}");
    }
    assert!(
        server.requests().is_empty(),
        "the explainer was asked anyway"
    );
    // Showing the prompt writes nothing, so it still works.
    let shown = featurescope(&[
        "explain",
        path_str(&dataset),
        "--units",
        "ids:0",
        "--show-prompt",
        "--explainer-url",
        &server.url,
        "--explainer-model",
        "fake-explainer",
    ]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert_eq!(contents(&dataset), before);
}

#[test]
fn a_full_disk_fails_appends_and_extraction_by_name_and_keeps_the_data() {
    let volume = Volume::new("4m");
    let dataset = volume.path.join("ds");
    small_dataset(&dataset);
    volume.fill();
    let before = contents(&dataset);

    let server = ScriptedServer::respond_with(fake_llm);
    let append = explain(&dataset, &server);
    assert!(!append.status.success());
    assert!(
        stderr(&append).contains("No space left on device"),
        "{}",
        stderr(&append)
    );
    // The dataset is as it was: no explanation, no part or temporary file.
    let after = contents(&dataset);
    assert_eq!(
        after.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        before.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    assert_eq!(after, before);
    let ds = Dataset::open(&dataset).unwrap();
    ds.validate().unwrap();
    assert!(ds.explanations().unwrap().is_empty());

    // An extraction onto the full disk: named, and nothing left behind.
    let tmp = tempfile::tempdir().unwrap();
    let corpus = common::write_corpus(
        tmp.path(),
        &["The cat sat on the mat.", "A dog ran in the park today."],
    );
    let out = volume.path.join("extracted");
    let extract = featurescope(&[
        "extract",
        "--model",
        path_str(&root().join(".venv/models/all-MiniLM-L6-v2")),
        "--corpus",
        path_str(&corpus),
        "--window",
        "16",
        "--layers",
        "1",
        "--out",
        path_str(&out),
    ]);
    assert!(!extract.status.success());
    assert!(
        stderr(&extract).contains("No space left on device"),
        "{}",
        stderr(&extract)
    );
    let left: Vec<String> = std::fs::read_dir(&volume.path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut left = left;
    left.sort();
    assert_eq!(left, ["ds", "filler"], "left on the volume");
    assert_eq!(contents(&dataset), before);
}

#[test]
fn a_missing_or_unreadable_file_inside_a_dataset_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dataset = tmp.path().join("ds");
    small_dataset(&dataset);
    let records = std::fs::read_dir(dataset.join("records"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .unwrap();
    // A records part that cannot be read as a file (root reads any file
    // whatever its mode; a folder in its place cannot be).
    std::fs::remove_file(&records).unwrap();
    std::fs::create_dir(&records).unwrap();
    let out = featurescope(&["validate", path_str(&dataset)]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(path_str(&records)),
        "{}",
        stderr(&out)
    );
    // The units table gone.
    std::fs::remove_dir(&records).unwrap();
    std::fs::remove_file(dataset.join("units.parquet")).unwrap();
    let out = featurescope(&["inspect", path_str(&dataset)]);
    assert!(!out.status.success());
    let error = stderr(&out);
    assert!(
        error.contains(path_str(&dataset)) && error.contains("no units.parquet"),
        "{error}"
    );
}
