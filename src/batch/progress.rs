//! What a batch shows while it runs: on a terminal an overall bar and a spinner per running
//! image; otherwise one plain line per stage change. Every image also gets its log file.

use crate::ui::{Reporter, human_bytes};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fs::File;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

/// The batch's live display.
pub struct Progress {
    multi: Option<MultiProgress>,
    overall: Option<ProgressBar>,
    /// One line per stage change on stderr (not a terminal, not quiet).
    plain: bool,
}

impl Progress {
    pub fn new(images: usize, quiet: bool) -> Progress {
        let tty = std::io::IsTerminal::is_terminal(&std::io::stderr())
            && std::env::var_os("IMGSEAL_NO_PROGRESS").is_none()
            && !quiet;
        let multi = tty.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let overall = multi.as_ref().map(|m| {
            let b = m.add(ProgressBar::new(images as u64));
            b.set_style(
                ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {pos}/{len} images  [{elapsed_precise}, ETA {eta}]  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.enable_steady_tick(Duration::from_millis(250));
            b
        });
        Progress {
            multi,
            overall,
            plain: !tty && !quiet,
        }
    }

    /// One more image is done (converted, failed or skipped).
    pub fn inc(&self, launches: usize) {
        if let Some(b) = &self.overall {
            b.inc(1);
            b.set_message(format!("{launches} launch(es)"));
        }
    }

    /// The reporter of one image: its log, and its spinner or plain lines.
    pub fn job(&self, name: &str, log: Option<File>) -> JobReporter {
        let bar = match (&self.multi, &self.overall) {
            (Some(m), Some(overall)) => {
                let b = m.insert_before(overall, ProgressBar::new_spinner());
                b.set_style(
                    ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                b.set_prefix(name.to_string());
                b.enable_steady_tick(Duration::from_millis(120));
                Some(b)
            }
            _ => None,
        };
        JobReporter {
            name: name.to_string(),
            log: Mutex::new(log),
            bar,
            plain: self.plain,
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.overall {
            b.finish_and_clear();
        }
    }
}

/// Where one image's conversion stands: its log file always, the display as set up.
pub struct JobReporter {
    name: String,
    /// None when the log could not be created (the image still converts).
    log: Mutex<Option<File>>,
    bar: Option<ProgressBar>,
    plain: bool,
}

impl JobReporter {
    /// A line in the image's log only.
    pub fn log(&self, line: &str) {
        if let Ok(mut g) = self.log.lock()
            && let Some(f) = g.as_mut()
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

impl Drop for JobReporter {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Reporter for JobReporter {
    fn stage(&self, stage: &str, detail: &str) {
        self.log(&format!(
            "[{}] {stage}: {detail}",
            crate::manifest::now_rfc3339()
        ));
        match &self.bar {
            Some(b) => b.set_message(format!("{stage}: {detail}")),
            None if self.plain => eprintln!("imgseal: {}: {stage}: {detail}", self.name),
            None => {}
        }
    }
    fn note(&self, msg: &str) {
        self.log(&format!("note: {msg}"));
        match &self.bar {
            Some(b) => b.println(format!("imgseal: {}: {msg}", self.name)),
            None => eprintln!("imgseal: {}: {msg}", self.name),
        }
    }
    fn debug(&self, msg: &str) {
        self.log(&format!("debug: {msg}"));
    }
    fn is_verbose(&self) -> bool {
        // Guest command output always goes to the per-image log.
        true
    }
    fn bytes(&self, done: u64, total: u64) {
        if let (Some(b), true) = (&self.bar, total > 0) {
            b.set_message(format!("{} / {}", human_bytes(done), human_bytes(total)));
        }
    }
}
