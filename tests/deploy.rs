//! deploy/: the Kubernetes Indexed Job validated against the Kubernetes schemas offline
//! (kubernetes-validate, installed by scripts/install-deps.sh), the AWS Batch job definition
//! JSON-checked, and `batch --shard auto` (the code path both run) taking the shard their
//! variables name. No cluster runs here: the Slurm array runs for real in tests/slurm.rs.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const VALIDATE: &str = "/opt/imgseal-venv/bin/kubernetes-validate";

fn validate(file: &Path) -> std::process::Output {
    Command::new(VALIDATE)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{VALIDATE}: {e} (scripts/install-deps.sh installs it)"))
}

#[test]
fn the_kubernetes_indexed_job_is_valid_and_runs_shard_auto_with_its_count() {
    let job = root().join("deploy/kubernetes/imgseal-indexed-job.yaml");
    let out = validate(&job);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("passed"), "{}", stdout(&out));
    // The validator does reject a broken Job (a count that is not a number).
    let text = std::fs::read_to_string(&job).unwrap();
    assert!(text.contains("completionMode: Indexed"));
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, text.replace("completions: 4", "completions: four")).unwrap();
    assert!(
        !validate(&broken).status.success(),
        "kubernetes-validate accepted a broken Job"
    );
    // Its args are imgseal's: --shard auto with --shard-count equal to completions.
    assert!(
        text.contains(
            "- --shard\n            - auto\n            - --shard-count\n            - \"4\""
        ),
        "{text}"
    );
}

#[test]
fn the_aws_batch_job_definition_is_json_with_retries_and_shard_auto() {
    let p = root().join("deploy/aws-batch/imgseal-job-definition.json");
    let d: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    assert_eq!(d["type"], "container");
    let cmd: Vec<&str> = d["containerProperties"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(&cmd[..3], ["batch", "--shard", "auto"], "{cmd:?}");
    assert!(d["retryStrategy"]["attempts"].as_u64().unwrap() >= 2);
    let mounts = d["containerProperties"]["mountPoints"].as_array().unwrap();
    assert!(mounts.iter().any(|m| m["containerPath"] == "/images"));
}

#[test]
fn the_slurm_script_is_valid_bash() {
    let st = Command::new("bash")
        .arg("-n")
        .arg(root().join("deploy/slurm/imgseal-array.sbatch"))
        .status()
        .unwrap();
    assert!(st.success());
}

/// `batch --dry-run --json` under the given variables: the outputs the shard takes.
fn dry_run(
    t: &Imgseal,
    vars: &[(&str, &str)],
    args: &[&str],
    dir: &Path,
) -> (i32, Vec<String>, String) {
    let mut c = t.cmd();
    for k in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "JOB_COMPLETION_INDEX",
        "AWS_BATCH_JOB_ARRAY_INDEX",
        "AWS_BATCH_JOB_ARRAY_SIZE",
    ] {
        c.env_remove(k);
    }
    for (k, v) in vars {
        c.env(k, v);
    }
    let out = c
        .args(["batch", "--dry-run", "--json", "--out-dir"])
        .arg(dir.join("out"))
        .args(args)
        .arg(dir.join("in"))
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    let outputs = if code == 0 {
        json(&out)["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["output"].as_str().unwrap().to_string())
            .collect()
    } else {
        vec![]
    };
    (code, outputs, stderr(&out))
}

#[test]
fn shard_auto_takes_the_same_images_under_each_engines_variables() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    for i in 0..9 {
        std::fs::write(dir.path().join(format!("in/img-{i}.qcow2")), b"x").unwrap();
    }
    let t = Imgseal::new();
    let mut all = vec![];
    for i in 0..3 {
        let fixed = dry_run(&t, &[], &["--shard", &format!("{i}/3")], dir.path());
        assert_eq!(fixed.0, 0, "{}", fixed.2);
        let idx = i.to_string();
        let slurm = dry_run(
            &t,
            &[
                ("SLURM_ARRAY_TASK_ID", &idx),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
            ],
            &["--shard", "auto"],
            dir.path(),
        );
        let k8s = dry_run(
            &t,
            &[("JOB_COMPLETION_INDEX", &idx)],
            &["--shard", "auto", "--shard-count", "3"],
            dir.path(),
        );
        let aws = dry_run(
            &t,
            &[
                ("AWS_BATCH_JOB_ARRAY_INDEX", &idx),
                ("AWS_BATCH_JOB_ARRAY_SIZE", "3"),
            ],
            &["--shard", "auto"],
            dir.path(),
        );
        for (name, r) in [("slurm", &slurm), ("kubernetes", &k8s), ("aws", &aws)] {
            assert_eq!(r.0, 0, "{name}: {}", r.2);
            assert_eq!(r.1, fixed.1, "{name} shard {i}");
        }
        all.extend(fixed.1);
    }
    all.sort();
    assert_eq!(all.len(), 9, "every image in exactly one shard: {all:?}");
    all.dedup();
    assert_eq!(all.len(), 9);
    // Kubernetes without --shard-count, and no engine at all: clear errors, exit 2.
    let (code, _, err) = dry_run(
        &t,
        &[("JOB_COMPLETION_INDEX", "0")],
        &["--shard", "auto"],
        dir.path(),
    );
    assert_eq!(code, 2);
    assert!(err.contains("--shard-count"), "{err}");
    let (code, _, err) = dry_run(&t, &[], &["--shard", "auto"], dir.path());
    assert_eq!(code, 2);
    assert!(err.contains("SLURM_ARRAY_TASK_ID"), "{err}");
    // A dry run writes nothing.
    assert!(!dir.path().join("out").exists());
}
