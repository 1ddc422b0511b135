//! Issue 18: reproducible conversion. The debian12 fixture is converted three times on the
//! host (two alike, one with a vendor package changed by one byte) and every claim is
//! asserted on those three outputs: the tree digest is the same for two conversions of one
//! input and for the qcow2 and raw forms of one output, differs when the vendor package does,
//! is recomputed by `verify --deep`; `SOURCE_DATE_EPOCH` dates what imgseal wrote and the
//! manifest; the manifest pins the environment; `diff-manifest` answers with its exit status.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const SDE: i64 = 1_700_000_000;
const SDE_RFC3339: &str = "2023-11-14T22:13:20Z";

/// `imgseal convert --json` of debian12 with SOURCE_DATE_EPOCH set; the manifest it printed.
fn convert(output: &Path, vendor: &Path, extra: &[&str]) -> Value {
    let t = Imgseal::new();
    let input = fixture("debian12.qcow2");
    let mut args = vec![
        "-q",
        "convert",
        "--json",
        "--vendor-dir",
        vendor.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.extend(["-o", output.to_str().unwrap(), input.to_str().unwrap()]);
    let out = t
        .cmd()
        .env("SOURCE_DATE_EPOCH", SDE.to_string())
        .env_remove("IMGSEAL_NO_TREE_DIGEST")
        .args(&args)
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "convert failed:\n{}",
        stderr(&out)
    );
    assert!(t.leftovers().is_empty(), "left {:?}", t.leftovers());
    json(&out)
}

fn tree(m: &Value) -> String {
    let t = m["output"]["tree_sha256"].as_str().unwrap_or_default();
    assert_eq!(
        t.len(),
        64,
        "no tree digest in the manifest: {}",
        m["output"]
    );
    t.to_string()
}

/// A copy of the test vendor directory whose Debian 12 cloud-init deb has one byte of one
/// payload file changed (a comment in a Python module: the package still installs and
/// works), repacked with dpkg-deb and pinned by its new sha256 in the copy's vendor.toml.
fn vendor_with_one_byte_changed(dir: &Path) -> PathBuf {
    let src = vendor_dir();
    let dst = dir.join("vendor");
    std::fs::create_dir(&dst).unwrap();
    let mut toml = std::fs::read_to_string(src.join("vendor.toml")).unwrap();
    let deb = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("cloud-init_") && n.ends_with("+jd1_all.deb"))
        .expect("the Debian 12 vendor deb in the fixture's vendor dir");
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy() != deb && e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
    let x = dir.join("x");
    let st = Command::new("dpkg-deb")
        .arg("-R")
        .arg(src.join(&deb))
        .arg(&x)
        .status()
        .unwrap();
    assert!(st.success());
    // The first module (by name) that opens with a comment line.
    let pkg = x.join("usr/lib/python3/dist-packages/cloudinit");
    let mut mods: Vec<PathBuf> = std::fs::read_dir(&pkg)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    mods.sort();
    let (module, mut text) = mods
        .into_iter()
        .find_map(|p| {
            let t = std::fs::read(&p).unwrap();
            (t.starts_with(b"# ") && t.len() > 3).then_some((p, t))
        })
        .expect("a cloudinit module starting with a comment");
    text[2] = if text[2] == b'X' { b'Y' } else { b'X' };
    std::fs::write(&module, &text).unwrap();
    let st = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zxz", "-b"])
        .arg(&x)
        .arg(dst.join(&deb))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let (old, new) = (sha256_file(&src.join(&deb)), sha256_file(&dst.join(&deb)));
    assert_ne!(old, new);
    assert!(toml.contains(&old), "vendor.toml pins {deb} by its sha256");
    toml = toml.replace(&old, &new);
    std::fs::write(dst.join("vendor.toml"), toml).unwrap();
    dst
}

fn diff_manifest(a: &Path, b: &Path) -> (Option<i32>, String) {
    let out = Imgseal::new().run(&["diff-manifest", a.to_str().unwrap(), b.to_str().unwrap()]);
    (
        out.status.code(),
        format!("{}{}", stdout(&out), stderr(&out)),
    )
}

#[test]
fn one_input_converted_twice_has_one_tree_digest_and_a_changed_vendor_byte_another() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (a, b, c) = (d.join("a.qcow2"), d.join("b.raw"), d.join("c.qcow2"));
    let vendor_c = vendor_with_one_byte_changed(d);
    // The three conversions run at once: each is mostly one single-threaded TCG appliance,
    // so on two cores this takes about half the time of one after another.
    let (ma, mb, mc) = std::thread::scope(|s| {
        let join = |h: std::thread::ScopedJoinHandle<'_, Value>| {
            h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
        };
        let ha = s.spawn(|| convert(&a, &vendor_dir(), &[]));
        let hb = s.spawn(|| convert(&b, &vendor_dir(), &["--output-format", "raw"]));
        let hc = s.spawn(|| convert(&c, &vendor_c, &[]));
        (join(ha), join(hb), join(hc))
    });

    // Two conversions of one input with the same pins: one tree (a qcow2 and a raw output).
    assert_eq!(tree(&ma), tree(&mb), "two conversions of one input");
    // One byte of the vendor package's payload: another tree, and diff-manifest says why.
    assert_ne!(tree(&ma), tree(&mc), "a vendor package changed by one byte");
    assert_ne!(ma["vendor_packages"], mc["vendor_packages"]);

    // SOURCE_DATE_EPOCH: the manifest's date, and every file imgseal wrote in the guest.
    for m in [&ma, &mb, &mc] {
        assert_eq!(m["created"], SDE_RFC3339);
        assert!(m["seconds"]["tree-digest"].as_f64().unwrap() > 0.0);
        let env = &m["environment"];
        assert_eq!(env["container"], "host", "{env}");
        assert!(
            env["imgseal"].as_str().unwrap().contains("(source "),
            "{env}"
        );
        for k in ["libguestfs", "qemu", "appliance_kernel"] {
            assert!(
                !env[k].as_str().unwrap_or_default().is_empty(),
                "{k}: {env}"
            );
        }
        assert!(env.get("base_snapshot").is_none(), "{env}");
    }
    let written: Vec<String> = ma["operations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["changes"].as_array().unwrap().iter())
        .filter(|c| ["write", "truncate", "upload"].contains(&c["action"].as_str().unwrap()))
        .map(|c| c["target"].as_str().unwrap().to_string())
        .collect();
    assert!(
        written.iter().any(|p| p.starts_with("/etc/cloud/")) && written.len() >= 3,
        "{written:?}"
    );
    let app = open_images(&[(&a, "qcow2")]);
    let h = app.handle();
    h.mount_ro("/dev/sda1", "/").unwrap();
    let mut stamped = 0;
    for p in &written {
        if let Ok(st) = h.lstat(p) {
            assert_eq!(st.mtime, SDE, "{p}: mtime");
            stamped += 1;
        }
    }
    assert!(stamped >= 3, "{stamped} of {written:?}");
    drop(app);

    // The raw form of one output has the tree its qcow2 manifest records.
    let raw = d.join("a-copy.raw");
    let st = Command::new("qemu-img")
        .args(["convert", "-f", "qcow2", "-O", "raw"])
        .arg(&a)
        .arg(&raw)
        .status()
        .unwrap();
    assert!(st.success());
    let out = Imgseal::new().run(&["digest", "--tree", "--format", "raw", raw.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("imgseal-tree-v1:{}  {}\n", tree(&ma), raw.display())
    );

    // verify --deep recomputes the tree (of the raw output) and prints what it recorded.
    let out = Imgseal::new().run(&["verify", "--deep", b.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains("tree digest,") || text.contains("tree digest)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("tree digest: {}", tree(&mb))),
        "{text}"
    );
    assert!(text.contains("container         host"), "{text}");
    // A manifest whose tree digest was tampered with is a mismatch (exit 1).
    let mpath = d.join("b.raw.manifest.json");
    let mtext = std::fs::read_to_string(&mpath).unwrap();
    let flipped = if tree(&mb).starts_with('0') { "1" } else { "0" };
    let bad = mtext.replace(
        &format!("\"tree_sha256\": \"{}", tree(&mb)),
        &format!("\"tree_sha256\": \"{flipped}{}", &tree(&mb)[1..]),
    );
    assert_ne!(bad, mtext);
    std::fs::write(&mpath, bad).unwrap();
    let out = Imgseal::new().run(&["verify", "--deep", b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("tree digest is "), "{}", stdout(&out));
    std::fs::write(&mpath, mtext).unwrap();

    // diff-manifest: 0 with the same tree, 1 with another and what differs, 2 on bad input.
    let (code, text) = diff_manifest(&a, &d.join("b.raw.manifest.json"));
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.starts_with(&format!("tree digest: same ({})", tree(&ma))),
        "{text}"
    );
    assert!(!text.contains("DIFFERS  input"), "{text}");
    let (code, text) = diff_manifest(&a, &c);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("tree digest: DIFFERS"), "{text}");
    assert!(text.contains("DIFFERS  vendor packages"), "{text}");
    assert!(text.contains("same     input sha256"), "{text}");
    assert!(text.contains("same     imgseal"), "{text}");
    let (code, text) = diff_manifest(&a, &d.join("nope.qcow2"));
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("nope.qcow2.manifest.json: reading the manifest"),
        "{text}"
    );
}

/// Two independent readings of one guest give one digest: imgseal's (`find0`,
/// `checksums_out`, `lstatnslist`, `lxattrlist`, `readlinklist`) and a GNU tar archive of the
/// same tree (`tar_out` with numeric owners and xattrs) read by imgseal's tar reader. On the
/// tiny synthetic Arch root, so the archive costs nothing.
#[test]
fn the_tree_digest_equals_the_digest_of_a_tar_archive_of_the_same_tree() {
    let img = fixture("arch.qcow2");
    let out = Imgseal::new().run(&["digest", "--tree", "--json", img.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["of"], "tree");
    assert_eq!(j["algorithm"], "imgseal-tree-v1");
    assert!(j["entries"].as_u64().unwrap() > 10, "{j}");

    let app = open_images(&[(&img, "qcow2")]);
    let h = app.handle();
    let root = h
        .list_filesystems()
        .unwrap()
        .into_iter()
        .find(|(_, t)| t.starts_with("ext"))
        .expect("the Arch root's filesystem")
        .0;
    h.mount_ro(&root, "/").unwrap();
    let d = tempfile::tempdir().unwrap();
    let tar = d.path().join("tree.tar");
    h.tar_out("/", tar.to_str().unwrap(), true).unwrap();
    drop(app);
    let entries = imgseal::guest::tree::read_tar(&mut std::fs::File::open(&tar).unwrap()).unwrap();
    let from_tar = imgseal::guest::tree::digest(entries);
    assert_eq!(j["value"], from_tar.sha256.to_string());
    assert_eq!(j["entries"], from_tar.entries);
}
