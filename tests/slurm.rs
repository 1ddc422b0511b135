//! `batch --shard auto` as a real Slurm job array: a one-node cluster on this host
//! (scripts/slurm-local.sh), deploy/'s array script, four fixture copies, one shared output
//! directory; one task killed mid-conversion and the array resubmitted converts nothing twice;
//! `batch-report` merges what the shards left.

mod common;
use common::*;
use imgseal::batch::shard;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Starts the cluster (idempotent) and returns its SLURM_CONF.
fn cluster() -> String {
    let out = Command::new(root().join("scripts/slurm-local.sh"))
        .arg("start")
        .output()
        .expect("running scripts/slurm-local.sh");
    assert!(
        out.status.success(),
        "the local Slurm cluster did not start:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    let s = stdout(&out);
    s.lines()
        .find_map(|l| l.strip_prefix("export SLURM_CONF="))
        .expect("slurm-local.sh prints SLURM_CONF")
        .to_string()
}

fn slurm(conf: &str, prog: &str, args: &[&str]) -> String {
    let out = Command::new(prog)
        .env("SLURM_CONF", conf)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{prog}: {e}"));
    assert!(out.status.success(), "{prog} {args:?}: {}", stderr(&out));
    stdout(&out)
}

/// Four names, shard 0's two first (the partition always splits 4 images 2 + 2).
fn names() -> Vec<String> {
    let all: Vec<String> = (0..4).map(|i| format!("vendor-{i}.qcow2")).collect();
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let shards = shard::assign(&refs, 2);
    let mut named: Vec<(u32, String)> = shards.into_iter().zip(all).collect();
    named.sort();
    assert_eq!(
        named[1].0, 0,
        "4 images over 2 shards split 2 + 2: {named:?}"
    );
    named.into_iter().map(|(_, n)| n).collect()
}

struct Array<'a> {
    conf: &'a str,
    t: &'a Imgseal,
    inputs: &'a Path,
    out: &'a Path,
}

impl Array<'_> {
    /// `sbatch --array=0-1` of deploy/'s script; returns the job id (`--wait`: when it ended).
    fn submit(&self, wait: bool) -> String {
        let vendor = vendor_dir();
        let mut args = vec![
            "--parsable".to_string(),
            "--array=0-1".into(),
            "--cpus-per-task=1".into(),
        ];
        if wait {
            args.push("--wait".into());
        }
        args.extend([
            format!("--output={}/slurm-%A_%a.out", self.out.display()),
            format!("--chdir={}", self.out.display()),
            root()
                .join("deploy/slurm/imgseal-array.sbatch")
                .to_string_lossy()
                .into_owned(),
        ]);
        // The environment imgseal's own test runs get (a private temp dir, TCG, a private
        // cache), exported to the tasks by sbatch.
        let out = Command::new("sbatch")
            .env("IMGSEAL_TMPDIR", self.t.tmp.path())
            .env("IMGSEAL_ACCEL", "tcg")
            .env("IMGSEAL_CACHE_DIR", self.t.cache.path())
            .env("NO_COLOR", "1")
            .env_remove("LIBGUESTFS_BACKEND_SETTINGS")
            .env("SLURM_CONF", self.conf)
            .env("IMGSEAL_BIN", env!("CARGO_BIN_EXE_imgseal"))
            .env("IMGSEAL_INPUTS", self.inputs)
            .env("IMGSEAL_OUT_DIR", self.out)
            .env("IMGSEAL_JOBS", "1")
            .env("IMGSEAL_NO_PROGRESS", "1")
            // As every test's conversions but the reproducibility ones: no tree digest.
            .env("IMGSEAL_NO_TREE_DIGEST", "1")
            .env("IMGSEAL_ARGS", format!("--vendor-dir {}", vendor.display()))
            .args(args.iter().map(String::as_str))
            .current_dir(self.out)
            .output()
            .map(|o| (o.status.success(), stdout(&o), stderr(&o)))
            .unwrap();
        panic_unless(out)
    }
}

fn panic_unless((ok, out, err): (bool, String, String)) -> String {
    // `sbatch --wait` exits non-zero when a task failed: the tests read the summaries instead.
    let id = out.trim().split(';').next().unwrap_or("").to_string();
    assert!(ok || !id.is_empty(), "sbatch failed: {err}");
    id
}

fn report(t: &Imgseal, out: &Path) -> (i32, Value) {
    let r = t.run(&["batch-report", "--json", out.to_str().unwrap()]);
    (r.status.code().unwrap_or(-1), json(&r))
}

fn wait_gone(conf: &str, job: &str, limit: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if slurm(conf, "squeue", &["-h", "-j", job, "-o", "%i"])
            .trim()
            .is_empty()
        {
            return;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    panic!("job {job} still queued or running after {limit:?}");
}

#[test]
fn a_slurm_array_shares_one_output_directory_and_a_retried_task_repeats_nothing() {
    let conf = cluster();
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    let out = dir.path().join("shared-out");
    std::fs::create_dir_all(&inputs).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let names = names();
    for n in &names {
        std::fs::copy(fixture("debian12.qcow2"), inputs.join(n)).unwrap();
    }
    let t = Imgseal::new();
    let array = Array {
        conf: &conf,
        t: &t,
        inputs: &inputs,
        out: &out,
    };
    // First submission: task 0 is killed (SIGKILL, as a node failure would) once its first
    // conversion is under way; task 1 finishes.
    let job = array.submit(false);
    let log0 = out.join(format!("slurm-{job}_0.out"));
    let t0 = Instant::now();
    loop {
        let partial = std::fs::read_dir(&out).unwrap().flatten().any(|e| {
            e.file_name().to_string_lossy().ends_with(".partial")
                && names[..2]
                    .iter()
                    .any(|n| e.file_name().to_string_lossy().starts_with(n.as_str()))
        });
        let launched = std::fs::read_to_string(&log0)
            .unwrap_or_default()
            .contains("launch");
        if partial && launched {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(240),
            "task 0 never started converting: {}",
            std::fs::read_to_string(&log0).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // SIGKILL to task 0's imgseal, as a node failure would stop it (no clean-up, no
    // summary); Slurm then ends the task and its helper processes.
    let task0: Vec<u32> = pids_with(inputs.to_str().unwrap())
        .into_iter()
        .filter(|p| {
            let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            let env = std::fs::read(format!("/proc/{p}/environ")).unwrap_or_default();
            String::from_utf8_lossy(&cmd).contains("batch\0--shard\0auto")
                && env
                    .split(|b| *b == 0)
                    .any(|v| v == b"SLURM_ARRAY_TASK_ID=0")
        })
        .collect();
    // libguestfs forks helpers of imgseal (its recovery process keeps imgseal's command
    // line): the task's imgseal is the one whose parent is not among them.
    let ppid = |p: u32| -> Option<u32> {
        let st = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        st.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let top: Vec<u32> = task0
        .iter()
        .copied()
        .filter(|p| ppid(*p).is_none_or(|pp| !task0.contains(&pp)))
        .collect();
    assert_eq!(top.len(), 1, "task 0's imgseal: {task0:?} (top: {top:?})");
    let st = Command::new("kill")
        .args(["-KILL", &top[0].to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    wait_gone(&conf, &job, Duration::from_secs(600));
    // The report names task 0's images missing and task 1's done.
    let (code, m) = report(&t, &out);
    assert_eq!(code, 1, "{m:#}");
    let status = |m: &Value, n: &str| {
        m["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["output"].as_str().unwrap().ends_with(n))
            .unwrap_or_else(|| panic!("{n} not in the report: {m:#}"))["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for n in &names[..2] {
        assert_eq!(status(&m, n), "missing", "{m:#}");
    }
    for n in &names[2..] {
        assert_eq!(status(&m, n), "ok", "{m:#}");
    }
    let shard1_files: Vec<(String, std::time::SystemTime)> = names[2..]
        .iter()
        .map(|n| {
            (
                n.clone(),
                std::fs::metadata(out.join(n)).unwrap().modified().unwrap(),
            )
        })
        .collect();
    // The killed task left its partial output behind (its owner is dead).
    assert!(
        std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".partial")),
        "SIGKILL left no partial output to clean up"
    );
    // Resubmitted: task 0 converts its two images, task 1 converts nothing.
    array.submit(true);
    let (code, m) = report(&t, &out);
    assert_eq!(code, 0, "{m:#}");
    assert_eq!(m["shards"].as_array().unwrap().len(), 2);
    for n in &names[..2] {
        assert_eq!(status(&m, n), "ok", "{m:#}");
    }
    for n in &names[2..] {
        assert_eq!(status(&m, n), "skipped", "{m:#}");
    }
    let s1: Value = serde_json::from_str(
        &std::fs::read_to_string(
            out.join(shard::summary_name(shard::Shard { index: 1, count: 2 })),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        s1["launches"], 0,
        "the retried task 1 launched an appliance: {s1:#}"
    );
    for (n, mtime) in &shard1_files {
        assert_eq!(
            &std::fs::metadata(out.join(n)).unwrap().modified().unwrap(),
            mtime,
            "{n} was written again"
        );
    }
    // Every output verifies; nothing partial or temporary is left.
    for n in &names {
        let v = t.run(&["verify", out.join(n).to_str().unwrap()]);
        assert_eq!(v.status.code(), Some(0), "{n}: {}", stdout(&v));
    }
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial") || n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "left in the shared directory: {left:?}");
    assert!(
        t.leftovers().is_empty(),
        "left in the work dir: {:?}",
        t.leftovers()
    );
    // The human report says what each shard did.
    let h = t.run(&["batch-report", out.to_str().unwrap()]);
    assert!(
        stdout(&h).contains("shard 0/2") && stdout(&h).contains("shard 1/2"),
        "{}",
        stdout(&h)
    );
}
