//! Issue: hardening. Hostile and broken inputs, faults in the middle of a run, and the
//! host's safety. Every bad input ends with the right exit code, one clear line naming the
//! problem and what to do, no panic, the input byte-identical, nothing left behind, and a
//! bounded run time.

mod common;
use common::*;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs imgseal on a bad input and checks the whole contract of a refusal.
fn refused(
    args: &[&str],
    input: Option<&Path>,
    code: i32,
    expect: &[&str],
    limit: Duration,
) -> String {
    let t = Imgseal::new();
    let before = input.filter(|p| p.is_file()).map(fingerprint);
    let t0 = Instant::now();
    let out = t.run(args);
    assert!(t0.elapsed() < limit, "{args:?} took {:?}", t0.elapsed());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: not one line:\n{err}");
    assert!(err.starts_with("imgseal: error: "), "{err}");
    for e in expect {
        assert!(err.contains(e), "{args:?}: expected {e:?} in:\n{err}");
    }
    if let (Some(p), Some(h)) = (input, before) {
        assert_eq!(fingerprint(p), h, "{} changed", p.display());
    }
    assert!(
        t.leftovers().is_empty(),
        "{args:?}: left {:?}",
        t.leftovers()
    );
    err
}

/// The sha256 of a file; for a huge sparse one (terabytes of holes) its size, mtime and
/// the sha256 of its first 64 MiB, which is what a refusal could have touched.
fn fingerprint(p: &Path) -> String {
    let m = std::fs::metadata(p).unwrap();
    if m.len() <= 4 << 30 {
        return sha256_file(p);
    }
    use sha2::Digest;
    use std::io::Read;
    let mut buf = vec![0u8; 64 << 20];
    let n = std::fs::File::open(p).unwrap().read(&mut buf).unwrap();
    let h: String = sha2::Sha256::digest(&buf[..n])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{} {:?} {h}", m.len(), m.modified().unwrap())
}

const FAST: Duration = Duration::from_secs(20);
const LAUNCH: Duration = Duration::from_secs(240);

fn qemu_img(args: &[&str]) {
    let st = Command::new("qemu-img").args(args).status().unwrap();
    assert!(st.success(), "qemu-img {args:?}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn broken_containers_are_refused_before_any_launch() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);

    // A qcow2 header claiming an unknown version.
    qemu_img(&["create", "-q", "-f", "qcow2", s(&p("badver.qcow2")), "16M"]);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(p("badver.qcow2"))
        .unwrap();
    f.seek(SeekFrom::Start(4)).unwrap();
    f.write_all(&[0, 0, 0, 9]).unwrap();
    drop(f);
    refused(
        &["-q", "inspect", s(&p("badver.qcow2"))],
        Some(&p("badver.qcow2")),
        2,
        &["badver.qcow2", "not a readable disk image", "qcow2"],
        FAST,
    );

    // A backing-chain loop: refused as a backing file, and as a loop when backing is allowed.
    qemu_img(&["create", "-q", "-f", "qcow2", s(&p("a.qcow2")), "16M"]);
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        "qcow2",
        "-b",
        s(&p("a.qcow2")),
        s(&p("b.qcow2")),
    ]);
    qemu_img(&[
        "rebase",
        "-q",
        "-u",
        "-f",
        "qcow2",
        "-F",
        "qcow2",
        "-b",
        s(&p("b.qcow2")),
        s(&p("a.qcow2")),
    ]);
    refused(
        &["-q", "inspect", s(&p("b.qcow2"))],
        Some(&p("b.qcow2")),
        2,
        &["refers to other files", "--allow-backing"],
        FAST,
    );
    refused(
        &["-q", "inspect", "--allow-backing", s(&p("b.qcow2"))],
        Some(&p("b.qcow2")),
        2,
        &["backing chain cannot be opened"],
        FAST,
    );

    // A 64 TiB sparse disk with nothing on it, raw and qcow2.
    let big = p("huge.raw");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(8 << 40) // ext4 files stop at 16 TiB; the qcow2 below is 64 TiB
        .unwrap();
    refused(
        &["-q", "inspect", s(&big)],
        Some(&big),
        2,
        &["no partition table or filesystem"],
        FAST,
    );
    qemu_img(&["create", "-q", "-f", "qcow2", s(&p("huge.qcow2")), "64T"]);
    refused(
        &["-q", "inspect", s(&p("huge.qcow2"))],
        Some(&p("huge.qcow2")),
        2,
        &["no partition table or filesystem"],
        FAST,
    );

    // A vmdk whose extent is a host file, and a qcow2 with an external data file.
    std::fs::write(
        p("evil.vmdk"),
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n\nRW 2048 FLAT \"/etc/shadow\" 0\n\nddb.virtualHWVersion = \"4\"\n",
    )
    .unwrap();
    refused(
        &["-q", "inspect", s(&p("evil.vmdk"))],
        Some(&p("evil.vmdk")),
        2,
        &["refers to other files", "/etc/shadow"],
        FAST,
    );
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        &format!("data_file={}", s(&p("data.raw"))),
        s(&p("ext.qcow2")),
        "16M",
    ]);
    refused(
        &["-q", "inspect", s(&p("ext.qcow2"))],
        Some(&p("ext.qcow2")),
        2,
        &["refers to other files", "data.raw"],
        FAST,
    );

    // An encrypted container format.
    let st = Command::new("qemu-img")
        .args([
            "create",
            "-q",
            "--object",
            "secret,id=s0,data=k",
            "-f",
            "luks",
            "-o",
            "key-secret=s0,iter-time=10",
            s(&p("c.luks")),
            "16M",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    refused(
        &["-q", "inspect", s(&p("c.luks"))],
        Some(&p("c.luks")),
        2,
        &["a luks image", "after decrypting it"],
        FAST,
    );

    // A file name with spaces and a newline is still named on one line.
    let odd = p("vendor image\nv2.img");
    std::fs::write(&odd, vec![0x5a; 2 << 20]).unwrap();
    let err = refused(
        &["-q", "inspect", s(&odd)],
        Some(&odd),
        2,
        &["vendor image\\nv2.img", "no partition table"],
        FAST,
    );
    assert!(!err.contains("vendor image\nv2"));

    // Unknown --format.
    refused(
        &["-q", "inspect", "--format", "dmg", s(&odd)],
        Some(&odd),
        2,
        &["--format dmg is not an image format imgseal reads"],
        FAST,
    );
}

#[test]
fn bad_configuration_is_refused_before_any_image_work() {
    let d = tempfile::tempdir().unwrap();
    let img = fixture("debian12.qcow2");
    let out = d.path().join("out.qcow2");
    // A vendor manifest with a syntax error.
    let vdir = d.path().join("vendor");
    std::fs::create_dir(&vdir).unwrap();
    std::fs::write(
        vdir.join("vendor.toml"),
        "schema = 1\n[[package]\nrole = \"cloud-init\"\n",
    )
    .unwrap();
    refused(
        &[
            "-q",
            "convert",
            "--vendor-dir",
            s(&vdir),
            "-o",
            s(&out),
            s(&img),
        ],
        Some(&img),
        2,
        &["vendor.toml:2:", "--skip cloud-init-swap"],
        FAST,
    );
    // A profile with a syntax error, and an unknown profile.
    let prof = d.path().join("p.toml");
    std::fs::write(&prof, "name = \"x\"\n[network\n").unwrap();
    refused(
        &["-q", "check", "--profile", s(&prof), s(&img)],
        Some(&img),
        2,
        &["p.toml:2:"],
        FAST,
    );
    refused(
        &["-q", "convert", "--profile", "aws", "-o", s(&out), s(&img)],
        Some(&img),
        2,
        &["unknown profile 'aws'", "jdcloud"],
        FAST,
    );
    // An operation that does not exist.
    refused(
        &[
            "-q",
            "convert",
            "--vendor-dir",
            s(&vendor_dir()),
            "--skip",
            "firewal",
            "-o",
            s(&out),
            s(&img),
        ],
        Some(&img),
        2,
        &["unknown operation 'firewal'", "firewall-disable"],
        FAST,
    );
    // An output directory that does not exist.
    refused(
        &[
            "-q",
            "convert",
            "--vendor-dir",
            s(&vendor_dir()),
            "-o",
            "/nonexistent-dir/out.qcow2",
            s(&img),
        ],
        Some(&img),
        2,
        &["/nonexistent-dir: the output directory does not exist"],
        FAST,
    );
    assert!(!out.exists());
    // A --junit FILE whose directory does not exist, for each command that writes one:
    // refused before any image work (no host command runs, no output or out dir appears).
    let batch_out = d.path().join("batch-out");
    let trace = d.path().join("commands.trace");
    let junit = "/nonexistent-dir/report.xml";
    for args in [
        vec!["-q", "check", "--junit", junit, s(&img)],
        vec!["-q", "convert", "--junit", junit, "-o", s(&out), s(&img)],
        vec!["-q", "convert", "--junit", junit, "--dry-run", s(&img)],
        vec![
            "-q",
            "batch",
            "--junit",
            junit,
            "--out-dir",
            s(&batch_out),
            s(&img),
        ],
    ] {
        refused(
            &args,
            Some(&img),
            2,
            &["--junit /nonexistent-dir/report.xml: the directory /nonexistent-dir does not exist"],
            FAST,
        );
        let t = Imgseal::new();
        let r = t
            .cmd()
            .env("IMGSEAL_TRACE_COMMANDS", &trace)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(r.status.code(), Some(2), "{args:?}");
        assert!(
            !trace.exists(),
            "{args:?} ran host commands first: {}",
            std::fs::read_to_string(&trace).unwrap_or_default()
        );
        assert!(!out.exists() && !batch_out.exists(), "{args:?}");
    }
}

#[test]
fn disks_the_appliance_must_look_at() {
    // Two operating systems on one disk, and an encrypted (LUKS) root.
    let two = fixture("twoos.qcow2");
    refused(
        &["-q", "inspect", s(&two)],
        Some(&two),
        2,
        &["2 operating systems found on one disk", "single-OS"],
        LAUNCH,
    );
    let luks = fixture("luks.qcow2");
    refused(
        &["-q", "check", s(&luks)],
        Some(&luks),
        2,
        &["encrypted", "LUKS", "decrypt the image first"],
        LAUNCH,
    );
}

#[test]
fn a_full_root_filesystem_and_an_ext4_with_errors_are_not_written() {
    let d = tempfile::tempdir().unwrap();
    let full = fixture("full.qcow2");
    let out = d.path().join("full-out.qcow2");
    refused(
        &[
            "-q",
            "convert",
            "--vendor-dir",
            s(&vendor_dir()),
            "-o",
            s(&out),
            s(&full),
        ],
        Some(&full),
        2,
        &["free; installing cloud-init_", "grow the filesystem first"],
        LAUNCH,
    );
    assert!(!out.exists() && !d.path().join("full-out.qcow2.partial").exists());
    let bad = fixture("fserr.qcow2");
    let out = d.path().join("fserr-out.qcow2");
    refused(
        &[
            "-q",
            "convert",
            "--vendor-dir",
            s(&vendor_dir()),
            "-o",
            s(&out),
            s(&bad),
        ],
        Some(&bad),
        2,
        &["marked as having errors", "e2fsck"],
        LAUNCH,
    );
    assert!(
        std::fs::read_dir(d.path()).unwrap().next().is_none(),
        "nothing half-written"
    );
}

#[test]
fn a_vendor_package_with_the_wrong_sha256_is_never_used() {
    let d = tempfile::tempdir().unwrap();
    let vdir = d.path().join("vendor");
    std::fs::create_dir(&vdir).unwrap();
    for e in std::fs::read_dir(vendor_dir()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), vdir.join(e.file_name())).unwrap();
    }
    let rpm = vdir.join("cloud-init-0.7.5-20.el6.2.x86_64.rpm");
    let mut bytes = std::fs::read(&rpm).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&rpm, bytes).unwrap();
    let img = fixture("centos6.qcow2");
    let out = d.path().join("out.qcow2");
    refused(
        &[
            "-q",
            "convert",
            "--vendor-dir",
            s(&vdir),
            "-o",
            s(&out),
            s(&img),
        ],
        Some(&img),
        2,
        &[
            "cloud-init-0.7.5-20.el6.2.x86_64.rpm: sha256 is",
            "not the vendor's package",
        ],
        LAUNCH,
    );
    assert!(!out.exists());
}

/// A conversion running in the background, its stage lines followed.
fn start_convert(t: &Imgseal, input: &Path, output: &Path) -> Running {
    let mut cmd = t.cmd();
    cmd.args([
        "convert",
        "--vendor-dir",
        s(&vendor_dir()),
        "-o",
        s(output),
        s(input),
    ])
    .stdout(Stdio::null());
    Running::spawn(cmd)
}

/// After a fault: the input intact, no output or partial, no leftovers, no helper process.
fn assert_clean_after_fault(t: &Imgseal, input: &Path, input_sha: &str, out: &Path) {
    assert_eq!(sha256_file(input), input_sha, "the input changed");
    assert!(!out.exists(), "an output under the final name");
    assert!(
        !PathBuf::from(format!("{}.partial", out.display())).exists(),
        "a partial output"
    );
    let tmp = t.tmp.path().to_string_lossy().into_owned();
    let t0 = Instant::now();
    while !pids_with(&tmp).is_empty() && t0.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        pids_with(&tmp).is_empty(),
        "helper processes outlived the run: {:?}",
        pids_with(&tmp)
    );
    assert!(t.leftovers().is_empty(), "left {:?}", t.leftovers());
}

#[test]
fn signals_stop_the_run_cleanly_at_each_stage() {
    let img = fixture("centos6.qcow2");
    let sha = sha256_file(&img);
    let d = tempfile::tempdir().unwrap();
    for (sig, stage) in [
        (libc::SIGINT, "launch"),
        (libc::SIGTERM, "operate"),
        (libc::SIGINT, "seal"),
        (libc::SIGTERM, "checksum"),
    ] {
        let t = Imgseal::new();
        let out = d.path().join("out.qcow2");
        let r = start_convert(&t, &img, &out);
        r.wait_stage(stage);
        let t0 = Instant::now();
        assert!(imgseal::ffi::os::kill(r.child.id(), sig));
        let (code, log) = r.finish();
        assert_eq!(code, 130, "signal {sig} at {stage}: {log}");
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "stopping took {:?}",
            t0.elapsed()
        );
        assert!(
            log.contains("interrupted by a signal; the input is unchanged"),
            "{log}"
        );
        assert!(!log.contains("panicked"), "{log}");
        assert_clean_after_fault(&t, &img, &sha, &out);
    }
}

#[test]
fn a_dying_qemu_nbd_or_appliance_fails_the_run_cleanly() {
    let img = fixture("centos6.qcow2");
    let sha = sha256_file(&img);
    let d = tempfile::tempdir().unwrap();
    for victim in ["qemu-nbd", "qemu-system"] {
        let t = Imgseal::new();
        let out = d.path().join(format!("out-{victim}.qcow2"));
        let r = start_convert(&t, &img, &out);
        r.wait_stage("operate");
        let tmp = t.tmp.path().to_string_lossy().into_owned();
        let pids: Vec<u32> = pids_with(&tmp)
            .into_iter()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                    .unwrap_or_default()
                    .split('\0')
                    .next()
                    .unwrap_or("")
                    .contains(victim)
            })
            .collect();
        assert!(!pids.is_empty(), "no {victim} process found");
        for p in &pids {
            imgseal::ffi::os::kill(*p, libc::SIGKILL);
        }
        let (code, log) = r.finish();
        assert_eq!(code, 2, "{victim} killed: {log}");
        let last = log.lines().last().unwrap_or("");
        assert!(last.starts_with("imgseal: error: "), "{victim}: {log}");
        assert!(!log.contains("panicked"));
        assert_clean_after_fault(&t, &img, &sha, &out);
    }
}

#[test]
fn a_full_output_filesystem_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let mnt = d.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=48m", "imgseal-test", s(&mnt)])
        .status()
        .unwrap();
    assert!(st.success(), "mounting a tmpfs for the output (needs root)");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(mnt.clone());
    let img = fixture("centos6.qcow2");
    let out = mnt.join("out.qcow2");
    refused(
        &[
            "-q",
            "convert",
            "--vendor-dir",
            s(&vendor_dir()),
            "-o",
            s(&out),
            s(&img),
        ],
        Some(&img),
        2,
        &[
            "small: ",
            "free, the output needs about",
            "choose another output directory",
        ],
        LAUNCH,
    );
    assert!(
        std::fs::read_dir(&mnt).unwrap().next().is_none(),
        "nothing half-written on the full filesystem"
    );
}

#[test]
fn the_host_stays_safe_during_a_conversion() {
    // Every qemu command names its formats; the work dir is private; no guest filesystem
    // is ever mounted on the host; nothing a guest file name says runs on the host.
    let img = fixture("symlinks.qcow2");
    let d = tempfile::tempdir().unwrap();
    let trace = d.path().join("commands.log");
    let out = d.path().join("out.qcow2");
    let t = Imgseal::new();
    let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut child = t
        .cmd()
        .args([
            "-q",
            "convert",
            "--vendor-dir",
            s(&vendor_dir()),
            "-o",
            s(&out),
            s(&img),
        ])
        .env("IMGSEAL_TRACE_COMMANDS", &trace)
        .current_dir(d.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut saw_workdir = false;
    // Bounded: the guest's cloud.cfg.d holds a link to a FIFO, which must not be opened.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success(), "convert failed");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("convert of the symlinks fixture did not finish in 600 s");
        }
        assert_eq!(
            std::fs::read_to_string("/proc/self/mountinfo").unwrap(),
            mounts_before,
            "a mount appeared on the host"
        );
        for e in std::fs::read_dir(t.tmp.path()).unwrap().flatten() {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(m) = e.metadata()
                && m.is_dir()
            {
                assert_eq!(
                    m.permissions().mode() & 0o777,
                    0o700,
                    "work dir {:?} is not private",
                    e.path()
                );
                saw_workdir = true;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(saw_workdir);
    let cmds = std::fs::read_to_string(&trace).unwrap();
    let qemu: Vec<&str> = cmds
        .lines()
        .filter(|l| l.starts_with("qemu-img ") || l.starts_with("qemu-nbd "))
        .collect();
    assert!(qemu.len() >= 6, "{cmds}");
    for l in qemu {
        if l == "qemu-img --version" {
            continue;
        }
        let explicit = l.contains(" -f ")
            || l.contains("--format=")
            || (l.contains("json:{") && l.contains("\"driver\":\""));
        assert!(explicit, "a qemu command without an explicit format: {l}");
        if l.contains(" -b ") {
            assert!(l.contains(" -F "), "a backing file without its format: {l}");
        }
    }
    for place in [
        d.path().to_path_buf(),
        std::env::temp_dir(),
        t.tmp.path().to_path_buf(),
        PathBuf::from("/"),
    ] {
        assert!(
            !place.join("imgseal-pwned").exists(),
            "a guest file name ran on the host ({})",
            place.display()
        );
    }
}

#[test]
fn no_host_shell_anywhere_in_the_source() {
    // Host commands are argv vectors (Cmd); a shell would interpolate guest-derived text.
    for e in walk(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))) {
        let text = std::fs::read_to_string(&e).unwrap();
        // The product code, not its unit tests (which run `sh -c` to test the helper).
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        for bad in [
            "Command::new(\"sh\")",
            "Command::new(\"bash\")",
            "Cmd::new(\"sh\")",
            "Cmd::new(\"bash\")",
            "\"/bin/sh\", \"-c\", format!",
        ] {
            assert!(!text.contains(bad), "{}: {bad}", e.display());
        }
    }
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut v = vec![];
    for e in std::fs::read_dir(d).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            v.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            v.push(p);
        }
    }
    v
}
