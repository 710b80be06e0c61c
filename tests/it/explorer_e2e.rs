//! The real binary in a real terminal: tmux runs `featurescope` on the
//! bundled demo; keys go in with send-keys and the screen comes back with
//! capture-pane.
use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    /// Holds the socket of this session's own tmux server.
    dir: tempfile::TempDir,
}

impl Tmux {
    fn start(command: &str) -> Self {
        let tmux = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        let out = tmux
            .command()
            .args(["new-session", "-d", "-x", "100", "-y", "30"])
            .arg(command)
            .output()
            .expect("tmux is installed (Debian's tmux)");
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }

    /// tmux on a server of this session's own: with one shared server, a
    /// session started while another test's last session is being killed
    /// can meet a server that is exiting ("server exited unexpectedly").
    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command.arg("-S").arg(self.dir.path().join("socket"));
        command
    }

    fn screen(&self) -> String {
        let out = self
            .command()
            .args(["capture-pane", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What the pane's terminal is in: alternate screen on (1) or off (0),
    /// the four mouse-reporting modes a capture turns on, and the cursor shown.
    fn modes(&self) -> String {
        let out = self
            .command()
            .args(["display-message", "-p"])
            .arg("alternate #{alternate_on} mouse #{mouse_standard_flag}#{mouse_button_flag}#{mouse_any_flag}#{mouse_sgr_flag} cursor #{cursor_flag}")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let status = self.command().arg("send-keys").args(keys).status().unwrap();
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
        let _ = self.command().arg("kill-server").status();
    }
}

#[test]
fn the_explorer_opens_the_demo_browses_and_restores_the_terminal() {
    let binary = env!("CARGO_BIN_EXE_featurescope");
    // A copy of the demo: the job below writes to the dataset it runs on.
    let tmp = tempfile::tempdir().unwrap();
    let demo = common::demo_copy(tmp.path(), "demo");
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
    assert!(
        // 1003 (any motion) and SGR; tmux keeps one of 1000/1002/1003 at a time.
        tmux.modes().starts_with("alternate 1 mouse 0011"),
        "{}",
        tmux.modes()
    );
    tmux.keys(&[":", "4", "0", "9", "7", "Enter"]);
    let screen = tmux.wait_for("unit 4097 · layer 6 · sae");
    assert!(screen.contains("top-activating texts"), "{screen}");
    // A job from a key, with no endpoint configured: the bundled model explains.
    tmux.keys(&["e"]);
    tmux.wait_for("(explain unit 4097) done");
    // The view rereads the dataset's annotations once the job has ended.
    tmux.wait_for("#1 [unscored] top-activations");
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
    assert_eq!(tmux.modes(), "alternate 0 mouse 0000 cursor 1");
}

/// A panic and an error inside the explorer's loop (injected after the first
/// frame): either way the alternate screen is left, mouse reporting is off,
/// the cursor is back, the tty's settings are what they were, the cause is
/// printed on the normal screen and the exit status is non-zero.
#[test]
fn after_a_panic_or_an_error_the_terminal_is_restored() {
    let binary = env!("CARGO_BIN_EXE_featurescope");
    let demo = common::root().join("datasets/demo");
    for (fault, status) in [("panic", 101), ("error", 1)] {
        let tmp = tempfile::tempdir().unwrap();
        let tmux = Tmux::start(&format!(
            "cd {} && stty -g > before && echo before-the-explorer && \
             FEATURESCOPE_FAULT={fault} {binary} {}; echo exited $?; stty -g > after.tmp && mv after.tmp after; sleep 60",
            tmp.path().display(),
            demo.display()
        ));
        let screen = tmux.wait_for("exited ");
        assert!(
            screen.contains(&format!("exited {status}")),
            "{fault}: {screen}"
        );
        assert!(screen.contains("before-the-explorer"), "{fault}: {screen}");
        assert!(
            screen.contains("fault injected by FEATURESCOPE_FAULT"),
            "{fault}: {screen}"
        );
        assert_eq!(tmux.modes(), "alternate 0 mouse 0000 cursor 1", "{fault}");
        let start = Instant::now();
        // Written whole, then renamed: once it exists, it is complete.
        while !tmp.path().join("after").exists() {
            assert!(start.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(50));
        }
        let tty = |name: &str| std::fs::read_to_string(tmp.path().join(name)).unwrap();
        assert_eq!(tty("before"), tty("after"), "{fault}: tty settings");
    }
}
