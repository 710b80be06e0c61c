//! The real binary in a real terminal: tmux runs `featurescope` on the
//! bundled demo; keys go in with send-keys and the screen comes back with
//! capture-pane.
use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    session: String,
}

impl Tmux {
    fn start(command: &str) -> Self {
        let session = format!("featurescope-e2e-{}", std::process::id());
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", &session, "-x", "100", "-y", "30"])
            .arg(command)
            .status()
            .expect("tmux is installed (Debian's tmux)");
        assert!(status.success());
        Self { session }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{text:?} never appeared:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

#[test]
fn the_explorer_opens_the_demo_browses_and_restores_the_terminal() {
    let binary = env!("CARGO_BIN_EXE_featurescope");
    // A copy of the demo: the job below writes to the dataset it runs on.
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    let copied = Command::new("cp")
        .arg("-r")
        .arg(common::root().join("datasets/demo"))
        .arg(&demo)
        .status()
        .unwrap();
    assert!(copied.success());
    let tmux = Tmux::start(&format!(
        "cd {} && echo before-the-explorer && {binary} {}; echo exited $?; sleep 60",
        tmp.path().display(),
        demo.display()
    ));
    let screen = tmux.wait_for("of 9216 units");
    assert!(screen.contains("explanation"), "{screen}");
    assert!(
        !screen.contains("before-the-explorer"),
        "the alternate screen is in use"
    );
    tmux.keys(&[":", "4", "0", "9", "7", "Enter"]);
    let screen = tmux.wait_for("unit 4097 · layer 6 · sae");
    assert!(screen.contains("top-activating texts"), "{screen}");
    // A job from a key, with no endpoint configured: the bundled model explains.
    tmux.keys(&["e"]);
    let screen = tmux.wait_for("(explain unit 4097) done");
    assert!(screen.contains("#1 [unscored] top-activations"), "{screen}");
    tmux.keys(&["J"]);
    tmux.wait_for("explain unit 4097");
    tmux.keys(&["J"]);
    tmux.keys(&["?"]);
    tmux.wait_for("show or hide this help");
    tmux.keys(&["Escape"]);
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("exited 0");
    // Back on the normal screen, with what was there before.
    assert!(screen.contains("before-the-explorer"), "{screen}");
    assert!(!screen.contains("of 9216 units"), "{screen}");
}
