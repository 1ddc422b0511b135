//! `imgseal batch`: many images, N workers, live progress, a summary, resume.
//!
//! - `plan`: the inputs expanded, output names checked, the worker count, resume;
//! - `worker`: one image (its log, its conversion through the pipeline, its result);
//! - `progress`: the live display and each image's reporter;
//! - `summary`: the summary (schema 1) and its table.
//!
//! Every image gets its own appliance: sharing one launch between images measured slower on
//! every run (inspecting several disks at once cost more than the launch it saved). A lock
//! file keeps two batches out of one output directory; with `--shard` each shard locks only
//! its own lock file (shards of one array share the directory; each output is locked while
//! it is written), resumes what an earlier attempt finished, and leaves its summary in the
//! directory for `batch-report`.

mod plan;
mod progress;
pub mod report;
pub mod shard;
mod summary;
mod worker;

pub use plan::{APPLIANCE_BYTES, Entry, IMAGE_EXTENSIONS, default_jobs, expand, workers_for};
pub use shard::Shard;
pub use summary::{ImageResult, ImageStatus, PlannedImage, Summary, render};

use crate::pipeline::{Settings, Shared};
use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

pub struct BatchOpts {
    /// Every image of the batch (of all shards).
    pub entries: Vec<Entry>,
    pub out_dir: PathBuf,
    pub jobs: usize,
    pub resume: bool,
    pub settings: Settings,
    pub quiet: bool,
    /// Only this shard's images; a retried shard always resumes.
    pub shard: Option<Shard>,
}

/// The whole batch's images with the shard each belongs to (every shard writes this list
/// into its summary, so `batch-report` knows the images of a shard that never ran).
pub fn plan(entries: &[Entry], shard: Option<Shard>) -> Vec<PlannedImage> {
    let names: Vec<&str> = entries.iter().map(|e| e.output.as_str()).collect();
    let shards = shard.map(|s| shard::assign(&names, s.count));
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| PlannedImage {
            input: e.input.clone(),
            output: e.output.clone(),
            shard: shards.as_ref().map(|v| v[i]),
        })
        .collect()
}

/// Holds `OUT_DIR/.imgseal-batch.lock` (flock) for the batch's lifetime.
pub struct OutDirLock {
    _f: File,
}

pub const LOCK_NAME: &str = ".imgseal-batch.lock";

impl OutDirLock {
    pub fn take(dir: &Path) -> Result<OutDirLock> {
        Self::take_named(dir, LOCK_NAME)
    }

    fn take_named(dir: &Path, name: &str) -> Result<OutDirLock> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let p = dir.join(name);
        let mut f = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&p)?;
        if f.try_lock().is_err() {
            let holder = std::fs::read_to_string(&p).unwrap_or_default();
            bail!(
                "{}: another imgseal batch is writing this directory ({}); wait for it or choose another --out-dir",
                dir.display(),
                holder.trim()
            );
        }
        f.set_len(0)?;
        writeln!(f, "pid {}", std::process::id())?;
        Ok(OutDirLock { _f: f })
    }
}

pub fn run(mut o: BatchOpts) -> Result<Summary> {
    let t0 = Instant::now();
    let planned = plan(&o.entries, o.shard);
    let _lock = match o.shard {
        None => OutDirLock::take(&o.out_dir)?,
        Some(s) => OutDirLock::take_named(&o.out_dir, &shard::lock_name(s)).map_err(|e| {
            anyhow::anyhow!(
                "{e:#} (shard {s}: an earlier attempt of this array task is still running)"
            )
        })?,
    };
    if let Some(s) = o.shard {
        o.entries = s.select(std::mem::take(&mut o.entries));
        // The engine retries a failed or preempted task: what it finished is kept.
        o.resume = true;
    }
    let progress = progress::Progress::new(o.entries.len(), o.quiet);

    // Settings per profile (a job file may name several): configuration errors surface
    // before any image work.
    let mut shareds: BTreeMap<String, Shared> = BTreeMap::new();
    let profile_key = |e: &Entry| {
        e.profile
            .clone()
            .unwrap_or_else(|| o.settings.profile.source.clone())
    };
    for e in &o.entries {
        if let std::collections::btree_map::Entry::Vacant(slot) = shareds.entry(profile_key(e)) {
            let mut s = o.settings.clone();
            if let Some(p) = &e.profile {
                s.profile = crate::profile::load(p)?;
            }
            slot.insert(Shared::new(&s)?);
        }
    }

    // Resume before any work: outputs already done are skipped.
    let mut results: Vec<Option<ImageResult>> = vec![None; o.entries.len()];
    let mut queue: VecDeque<usize> = VecDeque::new();
    for (i, e) in o.entries.iter().enumerate() {
        let out = o.out_dir.join(&e.output);
        let done = (o.resume && Path::new(&e.input).is_file())
            .then(|| {
                plan::up_to_date(
                    &out,
                    Path::new(&e.input),
                    &shareds[&profile_key(e)].settings.profile.sha256,
                )
            })
            .and_then(|r| r.ok().flatten());
        match done {
            Some(m) => {
                let mut r = ImageResult::new(e, &o.out_dir, ImageStatus::Skipped);
                r.error = Some(
                    "up to date (resume): the output's manifest matches the input and the profile"
                        .into(),
                );
                r.sha256 = Some(m.output.sha256.to_string());
                results[i] = Some(r);
                progress.inc(0);
            }
            None => queue.push_back(i),
        }
    }

    let results = Mutex::new(results);
    let queue = Mutex::new(queue);
    let launches = AtomicUsize::new(0);
    let workers = o.jobs.max(1).min(o.entries.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while !crate::signals::interrupted() {
                    let next = queue.lock().map(|mut q| q.pop_front()).unwrap_or(None);
                    let Some(i) = next else { break };
                    let e = &o.entries[i];
                    let (r, launched) =
                        worker::convert(e, &o.out_dir, &shareds[&profile_key(e)], &progress);
                    if launched {
                        launches.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Ok(mut res) = results.lock() {
                        res[i] = Some(r);
                    }
                    progress.inc(launches.load(Ordering::Relaxed));
                }
            });
        }
    });
    progress.finish();
    let interrupted = crate::signals::interrupted();
    let images = results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .zip(&o.entries)
        .map(|(r, e)| {
            r.unwrap_or_else(|| {
                // Never started (interrupted before its turn).
                let mut r = ImageResult::new(e, &o.out_dir, ImageStatus::Failed);
                r.error = Some(if interrupted {
                    "not started: interrupted".into()
                } else {
                    "not started".into()
                });
                r
            })
        })
        .collect();
    let summary = Summary {
        schema: 1,
        images,
        launches: launches.into_inner(),
        seconds: (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        shard: o.shard,
        plan: if o.shard.is_some() { planned } else { vec![] },
    };
    if let Some(s) = o.shard {
        let p = o.out_dir.join(shard::summary_name(s));
        crate::seal::write_atomic(&p, serde_json::to_string_pretty(&summary)?.as_bytes())
            .with_context(|| format!("writing the shard summary {}", p.display()))?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_keeps_a_second_batch_out() {
        let d = tempfile::tempdir().unwrap();
        let l = OutDirLock::take(d.path()).unwrap();
        let e = OutDirLock::take(d.path()).err().unwrap().to_string();
        assert!(
            e.contains("another imgseal batch")
                && e.contains(&format!("pid {}", std::process::id())),
            "{e}"
        );
        drop(l);
        OutDirLock::take(d.path()).unwrap();
    }
}
