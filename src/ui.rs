//! How imgseal talks while it works: a [`Reporter`] receives stage changes, notes and debug
//! lines. On a terminal it drives an indicatif spinner; otherwise it prints one plain line per
//! stage, so logs of CI jobs and batch runs stay readable.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub trait Reporter: Send + Sync {
    /// A new pipeline stage begins (`probe`, `launch`, `inspect`, ...).
    fn stage(&self, stage: &str, detail: &str);
    /// Something the user should read (one line).
    fn note(&self, msg: &str);
    /// Only with `-v`: guest commands and their output, host commands.
    fn debug(&self, msg: &str);
    /// Byte progress of a long copy in the current stage.
    fn bytes(&self, _done: u64, _total: u64) {}
    fn is_verbose(&self) -> bool {
        false
    }
    /// Stops any live display (before final output is printed).
    fn finish(&self) {}
}

/// Writes lines to stderr; on a terminal shows a spinner for the current stage.
pub struct Console {
    verbose: bool,
    quiet: bool,
    start: Instant,
    bar: Option<ProgressBar>,
    stage: Mutex<String>,
}

impl Console {
    pub fn new(verbose: bool, quiet: bool) -> Console {
        let tty =
            std::io::stderr().is_terminal() && std::env::var_os("IMGSEAL_NO_PROGRESS").is_none();
        let bar = (tty && !quiet).then(|| {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner:.cyan} [{elapsed:>4}] {prefix:.bold} {wide_msg}",
                )
                .unwrap(),
            );
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Console {
            verbose,
            quiet,
            start: Instant::now(),
            bar,
            stage: Mutex::new(String::new()),
        }
    }

    fn line(&self, s: &str) {
        match &self.bar {
            Some(b) => b.println(s),
            None => {
                let mut e = std::io::stderr().lock();
                let _ = writeln!(e, "{s}");
            }
        }
    }
}

impl Reporter for Console {
    fn stage(&self, stage: &str, detail: &str) {
        *self.stage.lock().unwrap() = stage.to_string();
        match &self.bar {
            Some(b) => {
                b.set_prefix(stage.to_string());
                b.set_message(detail.to_string());
            }
            None if !self.quiet => self.line(&format!(
                "imgseal: [{:6.1}s] {stage}{}{detail}",
                self.start.elapsed().as_secs_f64(),
                if detail.is_empty() { "" } else { ": " }
            )),
            None => {}
        }
    }

    fn note(&self, msg: &str) {
        self.line(&format!("imgseal: {msg}"));
    }

    fn debug(&self, msg: &str) {
        if self.verbose {
            self.line(&format!("imgseal: debug: {msg}"));
        }
    }

    fn bytes(&self, done: u64, total: u64) {
        if let Some(b) = &self.bar {
            let pct = if total > 0 { done * 100 / total } else { 0 };
            b.set_message(format!(
                "{} / {} ({pct}%)",
                human_bytes(done),
                human_bytes(total)
            ));
        }
    }

    fn is_verbose(&self) -> bool {
        self.verbose
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// A reporter that records everything (tests, batch logs) and optionally forwards.
#[derive(Default)]
pub struct Recorder {
    pub lines: Mutex<Vec<String>>,
}

impl Reporter for Recorder {
    fn stage(&self, stage: &str, detail: &str) {
        self.lines
            .lock()
            .unwrap()
            .push(format!("stage {stage}: {detail}"));
    }
    fn note(&self, msg: &str) {
        self.lines.lock().unwrap().push(format!("note {msg}"));
    }
    fn debug(&self, msg: &str) {
        self.lines.lock().unwrap().push(format!("debug {msg}"));
    }
}

/// A name safe to print on one line: control characters (a newline in a file name) are
/// shown escaped, everything else as is.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c.is_control()) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

pub fn human_bytes(n: u64) -> String {
    const U: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < U.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

/// Whether colour may be used on stdout (a terminal, and NO_COLOR unset).
pub fn color_stdout() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_names() {
        assert_eq!(printable("a b.img"), "a b.img");
        assert_eq!(printable("a\nb\t.img"), "a\\nb\\t.img");
        assert_eq!(printable("镜像.qcow2"), "镜像.qcow2");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(64 << 40), "64.0 TiB");
    }

    #[test]
    fn recorder_keeps_order() {
        let r = Recorder::default();
        r.stage("probe", "x");
        r.note("n");
        assert_eq!(*r.lines.lock().unwrap(), vec!["stage probe: x", "note n"]);
    }
}
