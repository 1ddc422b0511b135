//! `imgseal batch`: many images, N workers, live progress, a summary, resume.
//!
//! Each worker takes groups of images from a queue and converts a group with one appliance
//! launch (`convert::run_group`). An image that fails because of the sharing (launch,
//! inspection, a lost appliance) is retried alone, so one bad image never costs the others
//! their conversion. A lock file keeps two batches out of one output directory.

use crate::convert::{self, Job, Outcome, Shared};
use crate::digest;
use crate::image::Input;
use crate::manifest::Manifest;
use crate::ui::{Reporter, human_bytes};
use anyhow::{Context, Result, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// File extensions taken as images when a directory is given.
pub const IMAGE_EXTENSIONS: &[&str] = &["qcow2", "img", "raw", "vmdk", "vhd", "vhdx", "vdi", "qed"];

/// Memory one appliance needs (with its qemu), used to size the default worker count.
pub const APPLIANCE_BYTES: u64 = 1_200 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub input: String,
    /// Relative to the output directory.
    pub output: String,
    pub profile: Option<String>,
}

/// A job file: `[[job]] input = "..." output = "..." profile = "..."`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFile {
    #[serde(default, rename = "job")]
    jobs: Vec<JobEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobEntry {
    input: String,
    output: Option<String>,
    profile: Option<String>,
}

fn default_output(input: &str) -> String {
    let base = Path::new(input)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let stem = match base.rsplit_once('.') {
        Some((s, ext)) if IMAGE_EXTENSIONS.contains(&ext) => s.to_string(),
        _ => base,
    };
    format!("{stem}.qcow2")
}

/// Expands the command line's inputs: images, directories of images, job files (`.toml`).
pub fn expand(inputs: &[String]) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for i in inputs {
        let p = Path::new(i);
        if p.is_dir() {
            let mut names: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading directory {i}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file())
                .filter(|f| {
                    f.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e))
                })
                .collect();
            names.sort();
            for f in names {
                let s = f.to_string_lossy().into_owned();
                out.push(Entry {
                    output: default_output(&s),
                    input: s,
                    profile: None,
                });
            }
        } else if i.ends_with(".toml") && p.is_file() {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading job file {i}"))?;
            let jf: JobFile = crate::tomltext::parse_toml(&text, i)?;
            let base = p.parent().unwrap_or(Path::new("."));
            for j in jf.jobs {
                let input = if j.input.contains("://") || Path::new(&j.input).is_absolute() {
                    j.input.clone()
                } else {
                    base.join(&j.input).to_string_lossy().into_owned()
                };
                out.push(Entry {
                    output: j.output.unwrap_or_else(|| default_output(&j.input)),
                    input,
                    profile: j.profile,
                });
            }
        } else {
            out.push(Entry {
                output: default_output(i),
                input: i.clone(),
                profile: None,
            });
        }
    }
    let mut seen = BTreeMap::new();
    for e in &out {
        if e.output.contains('/') || e.output.starts_with('.') || e.output.is_empty() {
            bail!(
                "{}: output name {:?} must be a plain file name inside the output directory",
                e.input,
                e.output
            );
        }
        if let Some(prev) = seen.insert(e.output.clone(), e.input.clone()) {
            bail!(
                "{prev} and {} would both be written to {}; rename one or use a job file with outputs",
                e.input,
                e.output
            );
        }
    }
    if out.is_empty() {
        bail!("no images found in {}", inputs.join(", "));
    }
    Ok(out)
}

/// Default worker count: the cores, but no more appliances than memory holds
/// (`MemAvailable` minus 512 MiB for the host, 1.2 GB per appliance), at least one.
pub fn default_jobs() -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let avail = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                l.strip_prefix("MemAvailable:")
                    .map(|v| v.trim().trim_end_matches(" kB").trim().to_string())
            })
        })
        .and_then(|v| v.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(APPLIANCE_BYTES * 2);
    let by_mem = (avail.saturating_sub(512 << 20) / APPLIANCE_BYTES) as usize;
    cores.min(by_mem).max(1)
}

/// Holds `OUT_DIR/.imgseal-batch.lock` (flock) for the batch's lifetime.
pub struct OutDirLock {
    _f: File,
}

pub const LOCK_NAME: &str = ".imgseal-batch.lock";

impl OutDirLock {
    pub fn take(dir: &Path) -> Result<OutDirLock> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let p = dir.join(LOCK_NAME);
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

/// One image's line in the summary (the JSON is a contract).
#[derive(Debug, Clone, Serialize)]
pub struct ImageResult {
    pub input: String,
    pub output: String,
    /// `ok`, `failed` or `skipped`.
    pub status: String,
    pub error: Option<String>,
    pub seconds: f64,
    pub sha256: Option<String>,
    pub os: Option<String>,
    /// Rules failing before and passing after.
    pub rules_fixed: Vec<String>,
    pub size: Option<u64>,
    /// Images the appliance that converted this one served (1: its own launch).
    pub images_per_launch: Option<usize>,
    pub log: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub schema: u32,
    pub images: Vec<ImageResult>,
    pub launches: usize,
    pub seconds: f64,
}

pub struct BatchOpts {
    pub entries: Vec<Entry>,
    pub out_dir: PathBuf,
    pub jobs: usize,
    /// Images per appliance launch.
    pub per_launch: usize,
    pub resume: bool,
    pub settings: convert::Settings,
    pub verbose: bool,
    pub quiet: bool,
}

/// Where an image's conversion stands, for progress and logs.
struct JobReporter {
    name: String,
    log: Mutex<File>,
    bar: Option<ProgressBar>,
    plain: bool,
    verbose: bool,
}

impl Reporter for JobReporter {
    fn stage(&self, stage: &str, detail: &str) {
        let _ = writeln!(
            self.log.lock().unwrap(),
            "[{}] {stage}: {detail}",
            crate::manifest::now_rfc3339()
        );
        match &self.bar {
            Some(b) => b.set_message(format!("{stage}: {detail}")),
            None if self.plain => eprintln!("imgseal: {}: {stage}: {detail}", self.name),
            None => {}
        }
    }
    fn note(&self, msg: &str) {
        let _ = writeln!(self.log.lock().unwrap(), "note: {msg}");
        match &self.bar {
            Some(b) => b.println(format!("imgseal: {}: {msg}", self.name)),
            None => eprintln!("imgseal: {}: {msg}", self.name),
        }
    }
    fn debug(&self, msg: &str) {
        let _ = writeln!(self.log.lock().unwrap(), "debug: {msg}");
    }
    fn is_verbose(&self) -> bool {
        // Guest command output always goes to the per-image log.
        true
    }
    fn bytes(&self, done: u64, total: u64) {
        if let Some(b) = &self.bar {
            if total > 0 {
                b.set_message(format!("{} / {}", human_bytes(done), human_bytes(total)));
            }
        }
        let _ = self.verbose;
    }
}

/// Whether the output of `e` is already the conversion of this input with this profile.
/// The output's manifest when it records this input (sha256) and this profile, and the
/// output still has the sha256 it records; None otherwise.
fn up_to_date(out: &Path, input: &Path, profile_sha: &str) -> Result<Option<Manifest>> {
    let m = crate::seal::OutputPaths::new(out).manifest();
    if !out.is_file() || !m.is_file() {
        return Ok(None);
    }
    let Ok(man) = serde_json::from_str::<Manifest>(&std::fs::read_to_string(&m)?) else {
        return Ok(None);
    };
    if man.profile.sha256 != profile_sha {
        return Ok(None);
    }
    let Some(want) = man.input.sha256 else {
        return Ok(None);
    };
    let current =
        digest::sha256_file(input)? == want && digest::sha256_file(out)? == man.output.sha256;
    Ok(current.then_some(man))
}

fn outcome_result(r: &mut ImageResult, outcome: &Outcome) {
    match outcome {
        Outcome::Converted(m) => {
            r.status = "ok".into();
            r.sha256 = Some(m.output.sha256.to_string());
            r.size = Some(m.output.size);
            let before: crate::checks::Report =
                serde_json::from_value(m.before.clone()).unwrap_or_else(|_| unreachable!());
            r.rules_fixed = before.failing_rules.clone();
            r.os = Some(before.os.short());
        }
        Outcome::NotCompliant(f) => {
            r.status = "failed".into();
            r.error = Some(format!(
                "rules still fail after the operations: {}",
                f.after.failing_rules.join(", ")
            ));
            r.os = Some(f.before.os.short());
        }
        Outcome::Planned(_) => r.status = "ok".into(),
    }
}

pub fn run(o: BatchOpts) -> Result<Summary> {
    let t0 = Instant::now();
    let _lock = OutDirLock::take(&o.out_dir)?;
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("IMGSEAL_NO_PROGRESS").is_none()
        && !o.quiet;
    let multi = tty.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
    let overall = multi.as_ref().map(|m| {
        let b = m.add(ProgressBar::new(o.entries.len() as u64));
        b.set_style(
            ProgressStyle::with_template(
                "{bar:30.cyan/blue} {pos}/{len} images  [{elapsed_precise}, ETA {eta}]  {msg}",
            )
            .unwrap(),
        );
        b.enable_steady_tick(Duration::from_millis(250));
        b
    });

    // Shared settings per profile (a job file may name several).
    let mut shareds: BTreeMap<String, Shared> = BTreeMap::new();
    let profile_key = |e: &Entry| {
        e.profile
            .clone()
            .unwrap_or_else(|| o.settings.profile.source.clone())
    };
    for e in &o.entries {
        let key = profile_key(e);
        if !shareds.contains_key(&key) {
            let mut opts = o.settings.clone();
            if let Some(p) = &e.profile {
                opts.profile = crate::profile::load(p)?;
            }
            shareds.insert(key, Shared::new(&opts)?);
        }
    }

    let results: Mutex<Vec<Option<ImageResult>>> = Mutex::new(vec![None; o.entries.len()]);
    // Resume and output checks before any work.
    let mut queue: VecDeque<usize> = VecDeque::new();
    for (i, e) in o.entries.iter().enumerate() {
        let out = o.out_dir.join(&e.output);
        let shared = &shareds[&profile_key(e)];
        let mut r = ImageResult {
            input: e.input.clone(),
            output: out.to_string_lossy().into_owned(),
            status: "skipped".into(),
            error: None,
            seconds: 0.0,
            sha256: None,
            os: None,
            rules_fixed: vec![],
            size: None,
            images_per_launch: None,
            log: o
                .out_dir
                .join(format!("{}.log", e.output))
                .to_string_lossy()
                .into_owned(),
        };
        let done = (o.resume && Path::new(&e.input).is_file())
            .then(|| up_to_date(&out, Path::new(&e.input), &shared.settings.profile.sha256))
            .and_then(|r| r.ok().flatten());
        if let Some(m) = done {
            r.error = Some(
                "up to date (resume): the output's manifest matches the input and the profile"
                    .into(),
            );
            r.sha256 = Some(m.output.sha256.to_string());
            results.lock().unwrap()[i] = Some(r);
            if let Some(b) = &overall {
                b.inc(1);
            }
            continue;
        }
        results.lock().unwrap()[i] = Some(r);
        queue.push_back(i);
    }

    let launches = Mutex::new(0usize);
    let queue = Mutex::new(queue);
    let retry_alone: Mutex<VecDeque<usize>> = Mutex::new(VecDeque::new());
    let workers = o.jobs.max(1).min(o.entries.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    if crate::signals::interrupted() {
                        break;
                    }
                    // Retries first (alone), then a group from the queue.
                    let group: Vec<usize> = if let Some(i) = retry_alone.lock().unwrap().pop_front()
                    {
                        vec![i]
                    } else {
                        let mut q = queue.lock().unwrap();
                        // Groups only share a profile.
                        let Some(first) = q.pop_front() else { break };
                        let key = o.entries[first].profile.clone();
                        let mut g = vec![first];
                        let size = group_size(o.per_launch, q.len() + 1, workers);
                        while g.len() < size {
                            match q.iter().position(|j| o.entries[*j].profile == key) {
                                Some(p) => g.push(q.remove(p).unwrap()),
                                None => break,
                            }
                        }
                        g
                    };
                    let alone = group.len() == 1;
                    let shared = &shareds[&profile_key(&o.entries[group[0]])];
                    let mut reps = Vec::new();
                    let mut jobs = Vec::new();
                    for &i in &group {
                        let e = &o.entries[i];
                        let log_path = o.out_dir.join(format!("{}.log", e.output));
                        // Appended: a retry alone keeps the shared attempt's story.
                        let log = File::options()
                            .create(true)
                            .append(true)
                            .open(&log_path)
                            .unwrap_or_else(|_| File::create("/dev/null").unwrap());
                        let bar = multi.as_ref().map(|m| {
                            let b = m.insert_before(
                                overall.as_ref().unwrap(),
                                ProgressBar::new_spinner(),
                            );
                            b.set_style(
                                ProgressStyle::with_template(
                                    "{spinner:.cyan} {prefix:.bold} {wide_msg}",
                                )
                                .unwrap(),
                            );
                            b.set_prefix(e.output.clone());
                            b.enable_steady_tick(Duration::from_millis(120));
                            b
                        });
                        reps.push(JobReporter {
                            name: e.output.clone(),
                            log: Mutex::new(log),
                            bar,
                            plain: !tty && !o.quiet,
                            verbose: o.verbose,
                        });
                        let input = Input::parse(&e.input);
                        jobs.push((i, input));
                    }
                    let started = Instant::now();
                    // Inputs that do not even parse fail here, without a launch.
                    let mut runnable: Vec<(Job, &dyn Reporter)> = Vec::new();
                    let mut index: Vec<usize> = Vec::new();
                    for (k, (i, input)) in jobs.into_iter().enumerate() {
                        match input {
                            Ok(input) => {
                                let out = o.out_dir.join(&o.entries[i].output);
                                runnable.push((
                                    Job {
                                        input,
                                        output: Some(out),
                                        in_place: false,
                                    },
                                    &reps[k] as &dyn Reporter,
                                ));
                                index.push(k);
                            }
                            Err(e) => {
                                reps[k].note(&format!("error: {e:#}"));
                                let mut res = results.lock().unwrap();
                                let r = res[i].as_mut().unwrap();
                                r.status = "failed".into();
                                r.error = Some(format!("{e:#}"));
                            }
                        }
                    }
                    if !runnable.is_empty() {
                        let outs = convert::run_group(shared, &runnable);
                        if outs.iter().any(|g| g.images_per_launch > 0) {
                            *launches.lock().unwrap() += 1;
                        }
                        let secs = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
                        for (k, gr) in index.iter().zip(outs) {
                            let i = group[*k];
                            if gr.shared_failure && !alone {
                                let why = gr
                                    .result
                                    .as_ref()
                                    .err()
                                    .map(|e| format!("{e:#}"))
                                    .unwrap_or_default();
                                reps[*k].note(&format!(
                                    "failed in a shared appliance ({why}); retrying alone"
                                ));
                                retry_alone.lock().unwrap().push_back(i);
                                continue;
                            }
                            let mut res = results.lock().unwrap();
                            let r = res[i].as_mut().unwrap();
                            r.seconds = secs;
                            r.images_per_launch =
                                (gr.images_per_launch > 0).then_some(gr.images_per_launch);
                            match gr.result {
                                Ok(outcome) => outcome_result(r, &outcome),
                                Err(e) => {
                                    r.status = "failed".into();
                                    r.error = Some(if crate::signals::is_interrupted(&e) {
                                        "interrupted".to_string()
                                    } else {
                                        format!("{e:#}")
                                    });
                                    let _ = writeln!(
                                        reps[*k].log.lock().unwrap(),
                                        "error: {}",
                                        r.error.as_deref().unwrap_or("")
                                    );
                                }
                            }
                            if let Some(b) = &overall {
                                b.inc(1);
                            }
                        }
                    }
                    for r in &reps {
                        if let Some(b) = &r.bar {
                            b.finish_and_clear();
                        }
                    }
                    if let Some(b) = &overall {
                        b.set_message(format!("{} launch(es)", launches.lock().unwrap()));
                    }
                }
            });
        }
    });
    if let Some(b) = &overall {
        b.finish_and_clear();
    }
    let interrupted = crate::signals::interrupted();
    let images: Vec<ImageResult> = results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| {
            let mut r = r.unwrap();
            if r.status == "skipped" && r.error.is_none() {
                // Never started (interrupted before its turn).
                r.status = "failed".into();
                r.error = Some(if interrupted {
                    "not started: interrupted".into()
                } else {
                    "not started".into()
                });
            }
            r
        })
        .collect();
    Ok(Summary {
        schema: 1,
        images,
        launches: launches.into_inner().unwrap(),
        seconds: (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    })
}

/// How many images the next appliance launch takes: at most `per_launch`, and no more than
/// an even share of the `queued` images among the `workers`, so one group never takes the
/// images another worker could start on its own appliance.
pub fn group_size(per_launch: usize, queued: usize, workers: usize) -> usize {
    per_launch.min(queued.div_ceil(workers.max(1))).max(1)
}

/// The summary table.
pub fn render(s: &Summary) -> String {
    let mut rows = vec![[
        "image".to_string(),
        "os".into(),
        "status".into(),
        "rules fixed".into(),
        "seconds".into(),
        "size".into(),
        "sha256".into(),
    ]];
    for r in &s.images {
        rows.push([
            Path::new(&r.input)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| r.input.clone()),
            r.os.clone().unwrap_or_else(|| "-".into()),
            r.status.clone(),
            if r.rules_fixed.is_empty() {
                "-".into()
            } else {
                r.rules_fixed.join(",")
            },
            format!("{:.0}", r.seconds),
            r.size.map(human_bytes).unwrap_or_else(|| "-".into()),
            r.sha256
                .as_deref()
                .map(|h| h[..16].to_string())
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    let w: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r.iter().zip(&w).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    for r in s.images.iter().filter(|r| r.status == "failed") {
        out.push_str(&format!(
            "\n{}: {}\n  log: {}\n",
            r.input,
            r.error.as_deref().unwrap_or("failed"),
            r.log
        ));
    }
    let ok = s.images.iter().filter(|r| r.status == "ok").count();
    let skipped = s.images.iter().filter(|r| r.status == "skipped").count();
    let failed = s.images.len() - ok - skipped;
    let converted = s
        .images
        .iter()
        .filter(|r| r.images_per_launch.is_some())
        .count();
    out.push_str(&format!(
        "\n{ok} converted, {skipped} skipped, {failed} failed in {:.0} s; {} appliance launch(es) for {converted} image(s)\n",
        s.seconds, s.launches
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_spread_the_queue_over_the_workers() {
        // 4 images, 2 workers, up to 4 per launch: 2 each, not 4 on one worker.
        assert_eq!(group_size(4, 4, 2), 2);
        assert_eq!(group_size(4, 2, 2), 1);
        // One worker takes up to per_launch.
        assert_eq!(group_size(4, 5, 1), 4);
        assert_eq!(group_size(2, 9, 2), 2);
        // 1 per launch is always alone; an odd tail still makes progress.
        assert_eq!(group_size(1, 8, 2), 1);
        assert_eq!(group_size(3, 1, 4), 1);
        assert_eq!(group_size(0, 3, 0), 1);
    }

    #[test]
    fn inputs_expand_from_dirs_files_and_job_files() {
        let d = tempfile::tempdir().unwrap();
        for n in ["b.qcow2", "a.img", "notes.txt"] {
            std::fs::write(d.path().join(n), b"x").unwrap();
        }
        let e = expand(&[d.path().to_string_lossy().into_owned()]).unwrap();
        let outs: Vec<&str> = e.iter().map(|x| x.output.as_str()).collect();
        assert_eq!(outs, vec!["a.qcow2", "b.qcow2"]);
        let jf = d.path().join("jobs.toml");
        std::fs::write(&jf, "[[job]]\ninput = \"a.img\"\noutput = \"a-sealed.qcow2\"\nprofile = \"jdcloud\"\n[[job]]\ninput = \"/abs/c.vmdk\"\n").unwrap();
        let e = expand(&[jf.to_string_lossy().into_owned()]).unwrap();
        assert_eq!(e[0].input, d.path().join("a.img").to_string_lossy());
        assert_eq!(e[0].output, "a-sealed.qcow2");
        assert_eq!(e[0].profile.as_deref(), Some("jdcloud"));
        assert_eq!(e[1].output, "c.qcow2");
        std::fs::write(&jf, "[[job]]\ninput = \"a.img\"\noutpt = \"x\"\n").unwrap();
        assert!(
            expand(&[jf.to_string_lossy().into_owned()])
                .unwrap_err()
                .to_string()
                .contains("jobs.toml:3:1")
        );
    }

    #[test]
    fn clashing_outputs_are_refused() {
        let e = expand(&["/x/disk.qcow2".into(), "/y/disk.img".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("would both be written to disk.qcow2"), "{e}");
    }

    #[test]
    fn default_jobs_is_at_least_one_and_at_most_the_cores() {
        let n = default_jobs();
        assert!(n >= 1);
        assert!(n <= std::thread::available_parallelism().unwrap().get());
    }

    #[test]
    fn the_summary_table_lists_every_image_and_the_failures() {
        let ok = ImageResult {
            input: "/in/centos7.qcow2".into(),
            output: "/out/centos7.qcow2".into(),
            status: "ok".into(),
            error: None,
            seconds: 61.4,
            sha256: Some("ab".repeat(32)),
            os: Some("centos 7.9".into()),
            rules_fixed: vec!["R2".into(), "R4".into()],
            size: Some(460 << 20),
            images_per_launch: Some(2),
            log: "/out/centos7.qcow2.log".into(),
        };
        let bad = ImageResult {
            input: "/in/notes.txt".into(),
            status: "failed".into(),
            error: Some("/in/notes.txt: no partition table".into()),
            sha256: None,
            os: None,
            rules_fixed: vec![],
            size: None,
            images_per_launch: None,
            log: "/out/notes.txt.qcow2.log".into(),
            ..ok.clone()
        };
        let t = render(&Summary {
            schema: 1,
            images: vec![ok, bad],
            launches: 1,
            seconds: 70.0,
        });
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].starts_with("image") && lines[0].contains("rules fixed"),
            "{t}"
        );
        assert!(
            lines[1].starts_with("centos7.qcow2")
                && lines[1].contains("R2,R4")
                && lines[1].contains("abababababababab"),
            "{t}"
        );
        assert!(
            lines[2].starts_with("notes.txt") && lines[2].contains("failed"),
            "{t}"
        );
        assert!(
            t.contains(
                "/in/notes.txt: /in/notes.txt: no partition table\n  log: /out/notes.txt.qcow2.log"
            ),
            "{t}"
        );
        assert!(
            t.trim_end().ends_with(
                "1 converted, 0 skipped, 1 failed in 70 s; 1 appliance launch(es) for 1 image(s)"
            ),
            "{t}"
        );
    }

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
