//! One image of a batch: its log, its reporter, its conversion, its line in the summary.

use super::plan::Entry;
use super::progress::Progress;
use super::summary::{ImageResult, ImageStatus};
use crate::image::Input;
use crate::pipeline::{self, Job, Shared};
use crate::ui::Reporter;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Converts `e` into `out_dir`; returns its result and whether an appliance was launched.
pub fn convert(
    e: &Entry,
    out_dir: &Path,
    shared: &Shared,
    progress: &Progress,
) -> (ImageResult, bool) {
    let mut r = ImageResult::new(e, out_dir, ImageStatus::Failed);
    let out = PathBuf::from(&r.output);
    let log_path = PathBuf::from(&r.log);
    // Appended: a later run (--resume, --force) keeps the earlier story.
    let log = File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .ok();
    let rep = progress.job(&e.output, log);
    let started = Instant::now();
    // An input that does not even parse fails here, without a launch.
    let input = match Input::parse(&e.input) {
        Ok(i) => i,
        Err(err) => {
            rep.note(&format!("error: {err:#}"));
            r.fail(format!("{err:#}"));
            return (r, false);
        }
    };
    let job = Job {
        input,
        output: Some(out),
        in_place: false,
    };
    let attempt = pipeline::convert(shared, &job, &rep);
    r.seconds = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    r.images_per_launch = attempt.launched.then_some(1);
    let selected: Vec<&str> = shared.defs.iter().map(|d| d.id).collect();
    r.suite = Some(crate::junit::conversion(&e.input, &attempt, &selected));
    match attempt.outcome {
        Ok(outcome) => r.record(&outcome),
        Err(err) => {
            r.fail(if crate::signals::is_interrupted(&err) {
                "interrupted".to_string()
            } else {
                format!("{err:#}")
            });
            rep.log(&format!("error: {}", r.error.as_deref().unwrap_or("")));
        }
    }
    (r, attempt.launched)
}
