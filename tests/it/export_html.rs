//! `featurescope export html`: a page per unit that headless Chromium (from
//! Debian's packages; `make setup` installs it) renders with its heatmaps
//! coloured, checked on the screenshot's pixels; escaping of what the
//! dataset holds; refusals that lose nothing.
use crate::common;

use common::{featurescope, path_str, root, stderr};
use std::path::Path;
use std::process::Command;

/// The demo's unit with the best top-and-random score, and one without explanations.
const SCORED: u64 = 7283;
const PLAIN: u64 = 3;

/// A screenshot of `page` by headless Chromium, as RGB pixels, with its width.
fn screenshot(page: &Path, out: &Path) -> (Vec<u8>, u32) {
    let run = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,1600",
        ])
        .arg(format!("--screenshot={}", out.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium (make setup installs it)");
    assert!(run.status.success(), "chromium: {}", stderr(&run));
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(out).expect("chromium wrote the screenshot"),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let channels = frame.color_type.samples();
    let rgb = pixels[..frame.buffer_size()]
        .chunks(channels)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    (rgb, frame.width)
}

/// Pixels tinted with the real activations' orange, and with the
/// simulation's blue (pale where the shading is light).
fn shaded(rgb: &[u8]) -> (usize, usize) {
    let pixels = rgb
        .chunks(3)
        .map(|p| (i32::from(p[0]), i32::from(p[1]), i32::from(p[2])));
    let orange = pixels
        .clone()
        .filter(|&(r, g, b)| r > 200 && r > g + 20 && g > b + 20)
        .count();
    let blue = pixels
        .filter(|&(r, g, b)| b > 200 && b > r + 20 && b > g + 10)
        .count();
    (orange, blue)
}

/// `featurescope export html` of the demo's `units` into `out`.
fn export(units: &str, out: &Path) -> std::process::Output {
    featurescope(&[
        "export",
        "html",
        path_str(&root().join("datasets/demo")),
        "--units",
        units,
        "--out",
        path_str(out),
    ])
}

#[test]
fn unit_pages_render_their_heatmaps_in_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pages");
    let units = format!("ids:{PLAIN},{SCORED}");
    let run = export(&units, &out);
    assert!(run.status.success(), "{}", stderr(&run));
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    for id in [PLAIN, SCORED] {
        assert!(
            index.contains(&format!("href=\"unit-{id}.html\"")),
            "{index}"
        );
    }

    // The page holds the unit's records, explanations and scores as the dataset does.
    let dataset = featurescope::dataset::Dataset::open(root().join("datasets/demo")).unwrap();
    let page = std::fs::read_to_string(out.join(format!("unit-{SCORED}.html"))).unwrap();
    let records = dataset.records(SCORED).unwrap();
    let spans = page.matches("<span style=\"background:rgba(").count();
    let tokens: usize = records.iter().map(|r| r.tokens.len()).sum();
    // Every record once, and the scored ones again, real over simulated.
    assert!(spans > tokens, "{spans} shaded tokens for {tokens}");
    let explained: Vec<_> = (dataset.explanations().unwrap().into_iter())
        .filter(|e| e.unit_id == SCORED)
        .collect();
    assert!(!explained.is_empty());
    for e in &explained {
        assert!(page.contains(&e.text), "{:?} missing", e.text);
    }
    assert!(
        page.contains("Real vs simulated"),
        "no real vs simulated section"
    );
    assert!(page.contains("<svg class=\"histogram\""));

    // In a real browser: the heatmaps show, orange for real, blue for simulated.
    let (rgb, width) = screenshot(
        &out.join(format!("unit-{SCORED}.html")),
        &tmp.path().join("scored.png"),
    );
    assert_eq!(width, 1200);
    let (orange, blue) = shaded(&rgb);
    assert!(
        orange > 500 && blue > 500,
        "orange {orange}, blue {blue} pixels"
    );
    let (rgb, _) = screenshot(
        &out.join(format!("unit-{PLAIN}.html")),
        &tmp.path().join("plain.png"),
    );
    let (orange, blue) = shaded(&rgb);
    assert!(orange > 500, "orange {orange} pixels");
    assert_eq!(blue, 0, "a unit without scores shows no simulation");

    // Again into the same folder: replaced whole. Into a folder that is
    // not an export: refused, and the folder untouched.
    let again = export(&format!("ids:{PLAIN}"), &out);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(!out.join(format!("unit-{SCORED}.html")).exists());
    // A web site's folder has an index.html too.
    let mine = tmp.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("index.html"), "keep").unwrap();
    let refused = export(&format!("ids:{PLAIN}"), &mine);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("not an earlier export"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        std::fs::read_to_string(mine.join("index.html")).unwrap(),
        "keep"
    );
    // A unit that is not there: named, and nothing written.
    let missing = tmp.path().join("missing");
    let unknown = export("ids:999999", &missing);
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("999999"), "{}", stderr(&unknown));
    assert!(!missing.exists());
}
