//! Issue: seal. The manifest recomputed independently, verify (and a flipped byte), output
//! formats, the content digest across formats, --in-place under SIGKILL.

mod common;
use common::*;
use serde_json::Value;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// SHA-256 of the guest-visible bytes the way anyone could compute it: qemu-img to raw, then hash.
fn raw_content_sha256(img: &Path, fmt: &str) -> String {
    let d = tempfile::tempdir().unwrap();
    let raw = d.path().join("content.raw");
    let st = Command::new("qemu-img")
        .args(["convert", "-f", fmt, "-O", "raw"])
        .arg(img)
        .arg(&raw)
        .status()
        .unwrap();
    assert!(st.success());
    sha256_file(&raw)
}

#[test]
fn manifest_fields_are_true_and_verify_rejects_a_flipped_byte() {
    let input = fixture("debian12.qcow2");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sealed.qcow2");
    let j = convert_to(&input, &out, &["--md5"]);
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("sealed.qcow2.manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(j, manifest, "--json prints the manifest");

    // Every field, recomputed independently.
    assert_eq!(manifest["schema"], 1);
    assert_eq!(manifest["tool"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["input"]["sha256"], sha256_file(&input));
    assert_eq!(manifest["input"]["format"], "qcow2");
    assert_eq!(manifest["input"]["virtual_size"], 2u64 << 30);
    assert_eq!(manifest["output"]["sha256"], sha256_file(&out));
    assert_eq!(manifest["output"]["md5"], md5_file(&out));
    assert_eq!(
        manifest["output"]["size"],
        std::fs::metadata(&out).unwrap().len()
    );
    assert_eq!(manifest["output"]["format"], "qcow2");
    assert_eq!(
        manifest["output"]["content_sha256"],
        raw_content_sha256(&out, "qcow2")
    );
    assert_eq!(manifest["profile"]["name"], "jdcloud");
    let prof = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/jdcloud.toml");
    assert_eq!(manifest["profile"]["sha256"], sha256_file(&prof));
    let vp = &manifest["vendor_packages"][0];
    assert_eq!(
        vp["sha256"],
        sha256_file(&vendor_dir().join(vp["file"].as_str().unwrap()))
    );
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(manifest["host"]["kernel"], kernel.trim());
    let qemu = String::from_utf8(
        Command::new("qemu-img")
            .arg("--version")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(manifest["host"]["qemu"], qemu.lines().next().unwrap());
    assert!(
        manifest["host"]["libguestfs"]
            .as_str()
            .unwrap()
            .starts_with("1.")
    );
    let secs = manifest["seconds"].as_object().unwrap();
    for stage in [
        "operations",
        "convert",
        "checksum",
        "content-digest",
        "total",
    ] {
        assert!(secs[stage].as_f64().unwrap() >= 0.0, "{stage}");
    }
    assert!(secs["total"].as_f64().unwrap() >= secs["operations"].as_f64().unwrap());
    assert_eq!(manifest["before"]["compliant"], false);
    assert_eq!(manifest["after"]["compliant"], true);
    let ops = manifest["operations"].as_array().unwrap();
    assert!(
        ops.iter()
            .any(|o| o["id"] == "trace-cleanup" && !o["changes"].as_array().unwrap().is_empty())
    );
    let sums = std::fs::read_to_string(dir.path().join("sealed.qcow2.sha256")).unwrap();
    assert_eq!(sums, format!("{}  sealed.qcow2\n", sha256_file(&out)));
    let st = Command::new("sha256sum")
        .args(["-c", "sealed.qcow2.sha256"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(st.status.success(), "sha256sum -c accepts the sidecar");
    let md5s = std::fs::read_to_string(dir.path().join("sealed.qcow2.md5")).unwrap();
    assert_eq!(md5s, format!("{}  sealed.qcow2\n", md5_file(&out)));

    // The content digest is the same for the raw output of this conversion.
    let raw = dir.path().join("sealed.raw");
    assert!(
        Command::new("qemu-img")
            .args(["convert", "-f", "qcow2", "-O", "raw"])
            .arg(&out)
            .arg(&raw)
            .status()
            .unwrap()
            .success()
    );
    let t = Imgseal::new();
    let dq = stdout(&t.run(&["digest", out.to_str().unwrap()]));
    let dr = stdout(&t.run(&["digest", "--format", "raw", raw.to_str().unwrap()]));
    assert_eq!(dq.split_whitespace().next(), dr.split_whitespace().next());
    assert_eq!(
        dq.split_whitespace().next().unwrap(),
        manifest["output"]["content_sha256"]
    );
    std::fs::remove_file(&raw).unwrap();

    // verify accepts the output, also deeply (content digest + checks re-run).
    let v = t.run(&["-q", "verify", "--json", out.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    assert_eq!(json(&v)["ok"], true);
    let v = t.run(&["-q", "verify", "--deep", "--json", out.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    let vj = json(&v);
    assert!(
        vj["checked"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "content digest")
    );
    assert_eq!(vj["report"]["compliant"], true);

    // A copy with one flipped byte is rejected, saying what differs.
    let copy_dir = tempfile::tempdir().unwrap();
    for f in [
        "sealed.qcow2",
        "sealed.qcow2.sha256",
        "sealed.qcow2.md5",
        "sealed.qcow2.manifest.json",
    ] {
        std::fs::copy(dir.path().join(f), copy_dir.path().join(f)).unwrap();
    }
    let bad = copy_dir.path().join("sealed.qcow2");
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&bad)
        .unwrap();
    let mid = f.metadata().unwrap().len() / 2;
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(mid)).unwrap();
    f.read_exact(&mut b).unwrap();
    f.seek(SeekFrom::Start(mid)).unwrap();
    f.write_all(&[b[0] ^ 0x01]).unwrap();
    drop(f);
    let v = t.run(&["-q", "verify", bad.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(1));
    let s = stdout(&v);
    assert!(
        s.contains("MISMATCH") && s.contains("sha256 is") && s.contains("the manifest says"),
        "{s}"
    );
    assert!(s.contains("md5 is"), "{s}");
    assert!(t.leftovers().is_empty());
}

#[test]
fn each_output_format_opens_in_qemu_img_and_libguestfs() {
    // Re-seal an already converted image (nothing left to change) in each format.
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.qcow2");
    let j = convert_to(&fixture("centos6.qcow2"), &base, &["--compress"]);
    assert_eq!(j["output"]["format"], "qcow2");
    assert_eq!(
        j["output"]["content_sha256"],
        raw_content_sha256(&base, "qcow2"),
        "compressed qcow2: content digest"
    );
    let mut outs: Vec<(PathBuf, &str)> = vec![];
    for (fmt, qemu) in [("raw", "raw"), ("vmdk", "vmdk"), ("vhd", "vpc")] {
        let o = dir.path().join(format!("out.{fmt}"));
        let j = convert_to(&base, &o, &["--output-format", fmt]);
        assert_eq!(j["output"]["format"], qemu);
        let info: Value = serde_json::from_slice(
            &Command::new("qemu-img")
                .args(["info", "--output=json", "-f", qemu])
                .arg(&o)
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        assert_eq!(info["format"], qemu, "{fmt}");
        assert!(info["virtual-size"].as_u64().unwrap() >= 2 << 30, "{fmt}");
        assert_eq!(
            j["output"]["content_sha256"],
            raw_content_sha256(&o, qemu),
            "{fmt}: content digest"
        );
        outs.push((o, qemu));
    }
    outs.push((base.clone(), "qcow2"));
    // One appliance opens all of them and finds the operating system on each.
    let imgs: Vec<(&Path, &str)> = outs.iter().map(|(p, f)| (p.as_path(), *f)).collect();
    let app = open_images(&imgs);
    let roots = app.handle().inspect_os().unwrap();
    assert_eq!(roots.len(), outs.len(), "{roots:?}");
    for r in roots {
        assert_eq!(
            app.handle()
                .inspect_get(imgseal::ffi::guestfs::InspectField::Distro, &r)
                .unwrap(),
            "centos"
        );
    }
    app.shutdown().unwrap();
}

/// Runs `convert --in-place` on `img` and SIGKILLs it when stderr shows `stage`.
fn kill_in_place_at(img: &Path, stage: &str, t: &Imgseal) -> bool {
    let mut cmd = t.cmd();
    cmd.args([
        "convert",
        "--in-place",
        "--vendor-dir",
        vendor_dir().to_str().unwrap(),
        img.to_str().unwrap(),
    ])
    .stdout(Stdio::null());
    let mut r = Running::spawn(cmd);
    let seen = r.wait_line(Duration::from_secs(600), |l| {
        l.contains(&format!("] {stage}"))
    });
    let _ = r.child.kill();
    r.child.wait().unwrap();
    seen
}

#[test]
fn in_place_is_all_or_nothing_under_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("vendor-image.qcow2");
    std::fs::copy(fixture("debian12.qcow2"), &img).unwrap();
    let old = sha256_file(&img);
    let t = Imgseal::new();
    let partial = dir.path().join("vendor-image.qcow2.partial");
    for stage in ["launch", "operate", "seal", "checksum"] {
        let t0 = Instant::now();
        assert!(kill_in_place_at(&img, stage, &t), "never reached {stage}");
        // Whatever the stage, the input is the old image, byte for byte.
        assert_eq!(
            sha256_file(&img),
            old,
            "killed at {stage}: the input changed"
        );
        assert!(t0.elapsed() < Duration::from_secs(300));
        let stray: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "vendor-image.qcow2" && n != "vendor-image.qcow2.partial")
            .collect();
        assert!(stray.is_empty(), "killed at {stage}: stray files {stray:?}");
    }
    // Killed during checksum, the partial output was left behind (its owner is dead) ...
    assert!(partial.exists(), "a partial from the killed run");
    // ... and the next run removes it, finishes, and replaces the input atomically.
    let out = t.run(&[
        "-q",
        "convert",
        "--in-place",
        "--json",
        "--vendor-dir",
        vendor_dir().to_str().unwrap(),
        img.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!partial.exists());
    let new = sha256_file(&img);
    assert_ne!(new, old);
    assert_eq!(json(&out)["output"]["sha256"], new);
    assert_eq!(json(&out)["input"]["sha256"], old);
    let v = t.run(&["-q", "verify", img.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
    // Killed right at publish, the input is either the old image or the new one, verified.
    let before_publish = sha256_file(&img);
    assert!(kill_in_place_at(&img, "publish", &t));
    let now = sha256_file(&img);
    if now != before_publish {
        let v = t.run(&["-q", "verify", img.to_str().unwrap()]);
        assert_eq!(
            v.status.code(),
            Some(0),
            "a replaced input must verify: {}",
            stdout(&v)
        );
    }
    let out = t.run(&["-q", "inspect", "/nonexistent"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_existing_output_and_a_locked_partial_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("exists.qcow2");
    std::fs::write(&out, b"precious").unwrap();
    let t = Imgseal::new();
    let r = t.run(&[
        "-q",
        "convert",
        "--vendor-dir",
        vendor_dir().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        fixture("debian12.qcow2").to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        stderr(&r).contains("exists; pass --force"),
        "{}",
        stderr(&r)
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    assert!(!dir.path().join("exists.qcow2.partial").exists());
    let r = t.run(&[
        "-q",
        "convert",
        "--vendor-dir",
        vendor_dir().to_str().unwrap(),
        "-o",
        fixture("debian12.qcow2").to_str().unwrap(),
        fixture("debian12.qcow2").to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        stderr(&r).contains("the output is the input; use --in-place"),
        "{}",
        stderr(&r)
    );
    assert!(t.leftovers().is_empty());
}
