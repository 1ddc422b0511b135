//! Issue: batch. A mixed batch (good images, an image whose filesystem refuses writes, a
//! disk with no OS, a non-image), each image in its own appliance, then --resume, then the
//! lock (with the `--junit` file of the first two runs); and Ctrl-C in the middle of a batch.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

fn entry<'a>(j: &'a Value, name: &str) -> &'a Value {
    j["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["input"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("{name} not in {j}"))
}

#[test]
fn a_mixed_batch_isolates_failures_resumes_and_locks_its_out_dir() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let notes = d.path().join("notes.txt");
    std::fs::write(&notes, "not a disk image\n".repeat(100_000)).unwrap();
    let inputs = [
        fixture("centos6.qcow2"),
        fixture("centos7.qcow2"),
        fixture("fserr.qcow2"),
        fixture("blank.qcow2"),
        notes.clone(),
    ];
    let shas: Vec<String> = inputs.iter().map(|p| sha256_file(p)).collect();
    let t = Imgseal::new();
    let xml = d.path().join("batch.xml");
    let mut args: Vec<String> = ["-q", "batch", "--json", "--jobs", "1", "--vendor-dir"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(vendor_dir().to_string_lossy().into_owned());
    args.push("--junit".into());
    args.push(xml.to_string_lossy().into_owned());
    args.push("--out-dir".into());
    args.push(out.to_string_lossy().into_owned());
    args.extend(inputs.iter().map(|p| p.to_string_lossy().into_owned()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = t.run(&refs);
    assert_eq!(
        run.status.code(),
        Some(2),
        "a failed image makes the batch fail: {}",
        stderr(&run)
    );
    let j = json(&run);
    assert_eq!(j["schema"], 1);
    for (p, sha) in inputs.iter().zip(&shas) {
        assert_eq!(&sha256_file(p), sha, "{} changed", p.display());
    }
    for img in j["images"].as_array().unwrap() {
        for k in ["input", "output", "status", "seconds"] {
            assert!(!img[k].is_null(), "{k} missing in {img}");
        }
        assert!(
            img.get("error").is_some() && img.get("sha256").is_some(),
            "{img}"
        );
        assert!(
            Path::new(img["log"].as_str().unwrap()).exists(),
            "a log per image: {img}"
        );
    }
    // The good images converted, each in its own appliance, and verify.
    for name in ["centos6.qcow2", "centos7.qcow2"] {
        let e = entry(&j, name);
        assert_eq!(e["status"], "ok", "{e}");
        assert_eq!(e["images_per_launch"], 1, "{e}");
        let output = e["output"].as_str().unwrap();
        assert_eq!(e["sha256"], sha256_file(Path::new(output)));
        let v = t.run(&["-q", "verify", output]);
        assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
        assert!(
            e["rules_fixed"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "R2"),
            "{e}"
        );
    }
    // The others failed, each with its reason, and left nothing under their output names.
    let fserr = entry(&j, "fserr.qcow2");
    assert_eq!(fserr["status"], "failed");
    assert!(
        fserr["error"]
            .as_str()
            .unwrap()
            .contains("marked as having errors"),
        "{fserr}"
    );
    let blank = entry(&j, "blank.qcow2");
    assert_eq!(blank["status"], "failed");
    assert!(
        blank["error"]
            .as_str()
            .unwrap()
            .contains("no operating system found"),
        "{blank}"
    );
    assert_eq!(
        blank["images_per_launch"], 1,
        "launched, then found no OS: {blank}"
    );
    let nt = entry(&j, "notes.txt");
    assert_eq!(nt["status"], "failed");
    assert!(
        nt["error"]
            .as_str()
            .unwrap()
            .contains("no partition table or filesystem"),
        "{nt}"
    );
    assert!(
        nt["images_per_launch"].is_null(),
        "refused without a launch: {nt}"
    );
    assert_eq!(
        j["launches"], 4,
        "one launch per image that got past attaching (not the non-image)"
    );
    for f in std::fs::read_dir(&out).unwrap() {
        let n = f.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!n.ends_with(".partial"), "{n}");
        assert!(!n.starts_with("fserr.qcow2") || n.ends_with(".log"), "{n}");
        assert!(!n.starts_with("blank.qcow2") || n.ends_with(".log"), "{n}");
    }
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());

    // The JUnit file: one suite per image, in the summary's order. A converted image has its
    // operations and "after" checks, all passing; an image that failed before its checks
    // ran has one testcase, an error carrying the summary's error.
    let x = junit(&xml);
    assert_eq!(x["name"], "imgseal batch");
    let suites = x["suites"].as_array().unwrap();
    let names: Vec<&Value> = suites.iter().map(|s| &s["name"]).collect();
    let inputs: Vec<&Value> = j["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["input"])
        .collect();
    assert_eq!(names, inputs, "one suite per image");
    for (suite, img) in suites.iter().zip(j["images"].as_array().unwrap()) {
        let cases = suite["cases"].as_array().unwrap();
        if img["status"] == "ok" {
            let ops = junit_cases(suite, "imgseal.operation");
            assert_eq!(ops.len(), 5, "{suite}");
            assert!(ops.iter().all(|c| c["result"] == "passed"), "{suite}");
            assert!(!junit_cases(suite, "imgseal.check.after").is_empty());
            assert_eq!(
                (suite["failures"].as_u64(), suite["errors"].as_u64()),
                (Some(0), Some(0))
            );
        } else {
            assert_eq!(cases.len(), 1, "{suite}");
            assert_eq!(cases[0]["classname"], "imgseal.image");
            assert_eq!(cases[0]["result"], "error");
            assert_eq!(cases[0]["message"], img["error"]);
        }
    }
    assert_eq!(x["errors"], 3, "fserr, blank, notes.txt");

    // --resume skips what is done; the non-image still fails.
    let resumed = d.path().join("resume.xml");
    let resume = t.run(&[
        "-q",
        "batch",
        "--json",
        "--junit",
        resumed.to_str().unwrap(),
        "--resume",
        "--vendor-dir",
        vendor_dir().to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
        fixture("centos6.qcow2").to_str().unwrap(),
        fixture("centos7.qcow2").to_str().unwrap(),
        notes.to_str().unwrap(),
    ]);
    assert_eq!(resume.status.code(), Some(2));
    let r = json(&resume);
    for name in ["centos6.qcow2", "centos7.qcow2"] {
        let e = entry(&r, name);
        assert_eq!(e["status"], "skipped", "{e}");
        assert_eq!(e["sha256"], entry(&j, name)["sha256"]);
    }
    assert_eq!(entry(&r, "notes.txt")["status"], "failed");
    assert_eq!(r["launches"], 0);
    let x = junit(&resumed);
    let results: Vec<&Value> = x["suites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["cases"][0]["result"])
        .collect();
    assert_eq!(results, ["skipped", "skipped", "error"], "{x}");

    // While a batch holds the out dir, a second one is refused.
    let lock = std::fs::File::options()
        .read(true)
        .write(true)
        .open(out.join(".imgseal-batch.lock"))
        .unwrap();
    lock.lock().unwrap();
    let second = t.run(&[
        "-q",
        "batch",
        "--vendor-dir",
        vendor_dir().to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
        notes.to_str().unwrap(),
    ]);
    assert_eq!(second.status.code(), Some(2));
    assert!(
        stderr(&second).contains("another imgseal batch is writing this directory"),
        "{}",
        stderr(&second)
    );
    drop(lock);
}

#[test]
fn clashing_outputs_and_missing_out_dir_arguments_are_refused() {
    let t = Imgseal::new();
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    let b = d.path().join("b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(a.join("disk.qcow2"), b"x").unwrap();
    std::fs::write(b.join("disk.img"), b"x").unwrap();
    let out = t.run(&[
        "-q",
        "batch",
        "--out-dir",
        d.path().join("o").to_str().unwrap(),
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("would both be written to disk.qcow2"),
        "{}",
        stderr(&out)
    );
}

/// Ctrl-C in the middle of a batch: the finished image is kept (and listed as ok), the running
/// one is rolled back and listed as interrupted, the batch exits 130 and leaves nothing behind.
#[test]
fn ctrl_c_keeps_finished_outputs_and_rolls_back_the_running_one() {
    use std::io::Read;
    use std::time::{Duration, Instant};
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let (first, second) = (fixture("centos7.qcow2"), fixture("centos6.qcow2"));
    let second_sha = sha256_file(&second);
    let t = Imgseal::new();
    let mut cmd = t.cmd();
    cmd.args(["batch", "--json", "--jobs", "1"])
        .arg("--vendor-dir")
        .arg(vendor_dir())
        .arg("--out-dir")
        .arg(&out)
        .arg(&first)
        .arg(&second)
        .stdout(std::process::Stdio::piped());
    let mut r = Running::spawn(cmd);
    // One log line per stage change on a pipe; wait until the second image is launching.
    assert!(
        r.wait_line(Duration::from_secs(300), |l| l
            .starts_with("imgseal: centos6.qcow2: launch")),
        "the second image never started: {}",
        r.log()
    );
    assert!(
        out.join("centos7.qcow2").exists(),
        "the first image is published before the second starts: {}",
        r.log()
    );
    assert!(imgseal::ffi::os::kill(r.child.id(), libc::SIGINT));
    let mut stdout = r.child.stdout.take().unwrap();
    let (code, seen) = r.finish();
    assert_eq!(code, 130, "{seen}");
    let mut summary = Vec::new();
    stdout.read_to_end(&mut summary).unwrap();
    let j: Value = serde_json::from_slice(&summary).expect("the summary is still printed");
    let done = entry(&j, "centos7.qcow2");
    assert_eq!(done["status"], "ok", "{done}");
    let stopped = entry(&j, "centos6.qcow2");
    assert_eq!(stopped["status"], "failed", "{stopped}");
    assert!(
        stopped["error"].as_str().unwrap().contains("interrupted"),
        "{stopped}"
    );
    let v = t.run(&["-q", "verify", done["output"].as_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "the kept output verifies");
    assert_eq!(sha256_file(&second), second_sha);
    for f in std::fs::read_dir(&out).unwrap() {
        let n = f.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!n.ends_with(".partial"), "{n}");
        assert!(
            !n.starts_with("centos6.qcow2") || n.ends_with(".log"),
            "rolled back: {n}"
        );
    }
    let tmp = t.tmp.path().to_string_lossy().into_owned();
    let t0 = Instant::now();
    while !pids_with(&tmp).is_empty() && t0.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(pids_with(&tmp).is_empty(), "{:?}", pids_with(&tmp));
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}
