//! Issue: seal. The manifest recomputed independently, verify (and a flipped byte, and a
//! schema 1 manifest), output formats, the content digest across formats and its cost on a
//! 64 GiB sparse disk, --in-place under SIGKILL.

mod common;
use common::*;
use serde_json::Value;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    assert_eq!(manifest["schema"], 2);
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
    // The content digest: blkhash-sha256 by default, recomputed from the raw bytes.
    let (content_sha, content_blk) = content_digests(&out, "qcow2");
    assert!(manifest["output"].get("content_sha256").is_none());
    assert_eq!(
        manifest["output"]["content_digest"]["algorithm"],
        "blkhash-sha256"
    );
    assert_eq!(manifest["output"]["content_digest"]["value"], content_blk);
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
    assert_eq!(
        dq,
        format!("blkhash-sha256:{content_blk}  {}\n", out.display())
    );
    assert_eq!(
        dr,
        format!("blkhash-sha256:{content_blk}  {}\n", raw.display())
    );
    let ds = stdout(&t.run(&["digest", "--algorithm", "sha256", out.to_str().unwrap()]));
    assert_eq!(ds, format!("sha256:{content_sha}  {}\n", out.display()));
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

    // A manifest of schema 1 (content_sha256, the plain SHA-256) still verifies.
    let old_dir = tempfile::tempdir().unwrap();
    for f in ["sealed.qcow2", "sealed.qcow2.sha256", "sealed.qcow2.md5"] {
        std::fs::copy(dir.path().join(f), old_dir.path().join(f)).unwrap();
    }
    let mut old = manifest.clone();
    old["schema"] = 1.into();
    let o = old["output"].as_object_mut().unwrap();
    o.remove("content_digest");
    o.insert("content_sha256".into(), content_sha.clone().into());
    std::fs::write(
        old_dir.path().join("sealed.qcow2.manifest.json"),
        serde_json::to_vec_pretty(&old).unwrap(),
    )
    .unwrap();
    let old_out = old_dir.path().join("sealed.qcow2");
    let v = t.run(&["-q", "verify", "--json", old_out.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}{}", stdout(&v), stderr(&v));
    assert_eq!(json(&v)["ok"], true);
    // An unknown schema is refused, naming the ones imgseal reads.
    old["schema"] = 3.into();
    std::fs::write(
        old_dir.path().join("sealed.qcow2.manifest.json"),
        serde_json::to_vec_pretty(&old).unwrap(),
    )
    .unwrap();
    let v = t.run(&["-q", "verify", old_out.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(2));
    assert!(
        stderr(&v).contains("schema 3 is not supported"),
        "{}",
        stderr(&v)
    );
    drop(old_dir);

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
    let (_, base_blk) = content_digests(&base, "qcow2");
    assert_eq!(
        j["output"]["content_digest"]["value"], base_blk,
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
        // The guest-visible bytes (vhd may round the virtual size up), digested.
        assert_eq!(
            j["output"]["content_digest"]["value"],
            content_digests(&o, qemu).1,
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

/// `imgseal -q digest ARGS`: must succeed; its one line's first field.
fn digest_field(t: &Imgseal, args: &[&str]) -> String {
    let mut a = vec!["-q", "digest"];
    a.extend_from_slice(args);
    let out = t.run(&a);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = stdout(&out);
    assert_eq!(s.lines().count(), 1, "{s}");
    s.split_whitespace().next().unwrap().to_string()
}

fn qemu_img(args: &[&str]) {
    let st = Command::new("qemu-img").args(args).status().unwrap();
    assert!(st.success(), "qemu-img {args:?}");
}

fn qemu_io_write(img: &Path, byte: u8, offset: u64, len: u64) {
    let out = Command::new("qemu-io")
        .args(["-f", "qcow2", "-c"])
        .arg(format!("write -P {byte:#x} {offset} {len}"))
        .arg(img)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Without an appliance: small generated disks (raw with written zeros, the qcow2 of it with
/// holes), a changed byte, a grown disk, and a 64 GiB sparse disk with a little data.
#[test]
fn the_content_digest_follows_the_data_not_the_virtual_size() {
    let t = Imgseal::new();
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let s = |p: &Path| p.to_str().unwrap().to_string();

    // 130 blocks and a 1 KiB partial one: data, 97 blocks of written zeros, data.
    let size = 130 * BLK + 1024;
    let mut bytes = vec![0u8; size];
    let mut x: u32 = 12345;
    for (i, b) in bytes.iter_mut().enumerate() {
        if !(3 * BLK..100 * BLK).contains(&i) {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *b = (x >> 16) as u8;
        }
    }
    let raw = p("small.raw");
    std::fs::write(&raw, &bytes).unwrap();
    let qcow = p("small.qcow2");
    qemu_img(&["convert", "-f", "raw", "-O", "qcow2", &s(&raw), &s(&qcow)]);
    let (sha, blk) = raw_digests(&raw);

    // raw (zeros read and recognised) and qcow2 (zeros are holes): one digest, blkhash's.
    let want = format!("blkhash-sha256:{blk}");
    assert_eq!(digest_field(&t, &["--format", "raw", &s(&raw)]), want);
    assert_eq!(digest_field(&t, &[&s(&qcow)]), want);
    // The plain algorithm is what `qemu-img convert -O raw | sha256sum` prints.
    let (via_qemu, _) = content_digests(&qcow, "qcow2");
    assert_eq!(via_qemu, sha);
    assert_eq!(
        digest_field(&t, &["--algorithm", "sha256", &s(&qcow)]),
        format!("sha256:{sha}")
    );
    // --json names the algorithm and what was digested; --file is sha256sum's form.
    let j = json(&t.run(&["-q", "digest", "--json", &s(&qcow)]));
    assert_eq!(j["algorithm"], "blkhash-sha256");
    assert_eq!(j["of"], "content");
    assert_eq!(j["value"], blk);
    assert_eq!(j["path"], s(&qcow));
    assert_eq!(digest_field(&t, &["--file", &s(&qcow)]), sha256_file(&qcow));
    let j = json(&t.run(&["-q", "digest", "--json", "--file", &s(&qcow)]));
    assert_eq!(
        (&j["of"], &j["algorithm"]),
        (&"file".into(), &"sha256".into())
    );

    // One byte changed in a data block, or in a zero block: another digest.
    for at in [120 * BLK + 77, 50 * BLK] {
        let mut b = bytes.clone();
        b[at] ^= 0x40;
        let changed = p("changed.raw");
        std::fs::write(&changed, &b).unwrap();
        let d = digest_field(&t, &["--format", "raw", &s(&changed)]);
        assert_ne!(d, want, "byte {at}");
        assert_eq!(d, format!("blkhash-sha256:{}", raw_digests(&changed).1));
    }

    // The same disk grown with zeros: another digest (the size counts).
    let grown = p("grown.qcow2");
    std::fs::copy(&qcow, &grown).unwrap();
    qemu_img(&["resize", "-q", "-f", "qcow2", &s(&grown), "+64K"]);
    let d = digest_field(&t, &[&s(&grown)]);
    assert_ne!(d, want);
    assert_eq!(
        d,
        format!("blkhash-sha256:{}", content_digests(&grown, "qcow2").1)
    );

    // 64 GiB virtual, a few MiB of data (aligned, unaligned, in the last block).
    let big = p("big.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", &s(&big), "64G"]);
    let gib = 1u64 << 30;
    let blk64 = BLK as u64;
    qemu_io_write(&big, 0xab, 1 << 20, 3 << 20);
    qemu_io_write(&big, 0x33, 5 * gib + 1000, 100);
    qemu_io_write(&big, 0x11, 40 * gib, blk64);
    qemu_io_write(&big, 0x22, 64 * gib - blk64, blk64);
    let mut r = RefBlkhash::new();
    r.zero_blocks(16);
    for _ in 0..48 {
        r.block(&[0xab; BLK]);
    }
    r.zero_blocks((5 * gib / blk64 - 64) as usize);
    let mut partial = vec![0u8; BLK];
    partial[1000..1100].fill(0x33);
    r.block(&partial);
    r.zero_blocks((40 * gib / blk64 - 5 * gib / blk64 - 1) as usize);
    r.block(&[0x11; BLK]);
    r.zero_blocks((64 * gib / blk64 - 40 * gib / blk64 - 2) as usize);
    r.block(&[0x22; BLK]);
    let want_big = format!("blkhash-sha256:{}", r.hex());
    assert_eq!(digest_field(&t, &[&s(&big)]), want_big);
    // The sparse raw of it (holes from the filesystem) gives the same.
    let big_raw = p("big.raw");
    qemu_img(&[
        "convert",
        "-f",
        "qcow2",
        "-O",
        "raw",
        &s(&big),
        &s(&big_raw),
    ]);
    assert_eq!(
        digest_field(&t, &["--format", "raw", &s(&big_raw)]),
        want_big
    );
    assert!(t.leftovers().is_empty(), "left {:?}", t.leftovers());
}
