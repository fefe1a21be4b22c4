//! Progress display: an indicatif bar (bytes, with the object count in its message) or
//! spinner on stderr when stderr is a terminal. When it is not (scripts, CI logs), bars draw
//! nothing and [`Progress::line`] prints plain lines instead, so a log still shows progress.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// Redraws per second of a terminal bar.
const DRAW_HZ: u8 = 10;

#[derive(Clone)]
pub struct Progress {
    pub bar: ProgressBar,
    tty: bool,
}

impl Progress {
    /// A byte-count bar of `total_bytes` (hidden unless stderr is a terminal).
    pub fn bytes(total_bytes: u64) -> Progress {
        let tty = std::io::stderr().is_terminal();
        let bar = ProgressBar::with_draw_target(
            Some(total_bytes),
            ProgressDrawTarget::stderr_with_hz(DRAW_HZ),
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {elapsed:>3} [{bar:24.cyan/blue}] {bytes}/{total_bytes} ({bytes_per_sec}) {msg}",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        if !tty {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        Progress { bar, tty }
    }

    /// A spinner with a message (job progress), ticking on its own.
    pub fn spinner() -> Progress {
        let tty = std::io::stderr().is_terminal();
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(DRAW_HZ));
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                .expect("the template is valid"),
        );
        if tty {
            bar.enable_steady_tick(Duration::from_millis(100));
        } else {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        Progress { bar, tty }
    }

    /// Update the message; without a terminal, print it as a line on stderr.
    pub fn line(&self, msg: String) {
        if self.tty {
            self.bar.set_message(msg);
        } else {
            eprintln!("{msg}");
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
