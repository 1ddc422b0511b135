//! Issue: foundation. inspect on a real Debian 12 image through NBD and one appliance,
//! input untouched, backing files refused, no qemu-nbd outliving imgseal, bad input.

mod common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn inspect_json_reports_the_debian_fixture_and_leaves_it_untouched() {
    let img = fixture("debian12.qcow2");
    let meta = fixture_meta("debian12");
    let before = sha256_file(&img);
    let t = Imgseal::new();
    // Automatic acceleration: KVM first, TCG if the KVM launch fails.
    let out = t
        .cmd()
        .env_remove("IMGSEAL_ACCEL")
        .args(["inspect", "--json", img.to_str().unwrap()])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert!(out.status.success(), "inspect failed: {}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["schema"], 1);
    assert_eq!(j["os"]["type"], "linux");
    assert_eq!(j["os"]["distro"], "debian");
    assert_eq!(j["os"]["major_version"], 12);
    assert_eq!(j["os"]["package_format"], "deb");
    assert_eq!(j["os"]["package_management"], "apt");
    assert_eq!(j["os"]["init_system"], "systemd");
    assert_eq!(j["os"]["hostname"], "fixture-debian");
    assert_eq!(j["cloud_init"]["installed"], true);
    assert_eq!(j["cloud_init"]["version"], meta["cloud_init_version"]);
    assert!(j["os"]["minor_version"].is_number());
    let ufw = j["firewall"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "ufw")
        .expect("ufw listed");
    assert_eq!(ufw["starts_at_boot"], true);
    let fs = j["filesystems"].as_array().unwrap();
    assert!(fs.iter().any(|f| f["mountpoint"] == "/"
        && f["type"] == "ext4"
        && f["uuid"] == "0b6a6d4e-1111-4a6b-9c3e-0000000000d1"));
    let mtus = j["network"]["mtus"].as_array().unwrap();
    assert_eq!(mtus.len(), 1);
    assert_eq!(mtus[0]["file"], "/etc/network/interfaces.d/eth0");
    assert_eq!(mtus[0]["value"], "9000");
    // The acceleration actually used is reported; when KVM exists but the launch fell back,
    // imgseal said so in one line.
    let accel = j["appliance"]["accel"].as_str().unwrap();
    assert!(accel == "kvm" || accel == "tcg");
    // Under TCG the fast-boot copy of the appliance runs (`imgseal doctor` at the end of
    // install-deps.sh made it).
    if accel == "tcg" {
        assert_eq!(j["appliance"]["fast_boot"], true, "{}", stderr(&out));
    }
    // imgseal's own inspection: architecture from the ELF header of /usr/bin/ls, product
    // name from os-release, the minor version from /etc/debian_version.
    assert_eq!(j["os"]["arch"], "x86_64");
    assert!(
        j["os"]["product_name"]
            .as_str()
            .unwrap()
            .starts_with("Debian GNU/Linux 12")
    );
    // A fresh cache dir (the test's own): KVM is tried; a failure is said once and
    // remembered for the next runs.
    let record = t.cache.path().join("imgseal-kvm-failed.json");
    if accel == "tcg" && std::path::Path::new("/dev/kvm").exists() {
        let err = stderr(&out);
        assert_eq!(err.matches("retrying with TCG").count(), 1, "{err}");
        assert!(record.exists(), "no KVM failure recorded: {err}");
    } else {
        assert!(!record.exists());
    }
    assert_eq!(sha256_file(&img), before, "the input image changed");
    assert!(t.leftovers().is_empty(), "left behind: {:?}", t.leftovers());
}

#[test]
fn human_output_is_an_aligned_summary() {
    let img = fixture("centos6.qcow2");
    let t = Imgseal::new();
    let out = t.run(&["-q", "inspect", img.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = stdout(&out);
    let col = |l: &str| {
        l.find("  ")
            .map(|i| i + l[i..].len() - l[i..].trim_start().len())
    };
    let cols: std::collections::BTreeSet<_> = s.lines().filter_map(col).collect();
    assert_eq!(cols.len(), 1, "values not aligned:\n{s}");
    for want in [
        "centos 6.10",
        "sysvinit",
        "iptables starts at boot",
        "0.7.5-10.el6.centos.2",
        "rpm / yum",
    ] {
        assert!(s.contains(want), "missing {want:?} in:\n{s}");
    }
}

#[test]
fn nbd_uri_input_is_attached_the_same_way() {
    let img = fixture("ubuntu1604.qcow2");
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("export.sock");
    // Someone else's NBD server: a read-only qemu-nbd with a named export.
    let mut server = std::process::Command::new("qemu-nbd")
        .args([
            "--read-only",
            "--persistent",
            "--shared=4",
            "-f",
            "qcow2",
            "-x",
            "vendor-disk",
            "-k",
        ])
        .arg(&sock)
        .arg(&img)
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !sock.exists() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let uri = format!("nbd+unix:///vendor-disk?socket={}", sock.display());
    let t = Imgseal::new();
    let out = t.run(&["-q", "inspect", "--json", &uri]);
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["image"], uri);
    assert_eq!(j["format"], "raw");
    assert_eq!(j["os"]["distro"], "ubuntu");
    assert_eq!(j["os"]["major_version"], 16);
    assert_eq!(j["os"]["minor_version"], 4);
    assert_eq!(j["cloud_init"]["version"], "0.7.9-0ubuntu1~16.04.2");
    assert!(t.leftovers().is_empty());
}

#[test]
fn nbd_uri_to_a_closed_port_is_a_clear_error() {
    let t = Imgseal::new();
    let out = t.run(&["-q", "inspect", "nbd://127.0.0.1:1/disk"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("nbd://127.0.0.1:1/disk: cannot read the NBD export"),
        "{err}"
    );
    assert!(t.leftovers().is_empty());
}

#[test]
fn an_input_with_a_backing_file_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    // The backing file is a FIFO: opening it for reading would block, so a refusal that
    // returns at once proves imgseal (and qemu under it) never opened it.
    let fifo = dir.path().join("host-secret");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let img = dir.path().join("crafted.qcow2");
    let st = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-u", "-F", "raw", "-b"])
        .arg(&fifo)
        .arg(&img)
        .arg("1G")
        .status()
        .unwrap();
    assert!(st.success());
    let before = sha256_file(&img);
    let t = Imgseal::new();
    let t0 = Instant::now();
    let out = t.run(&["-q", "inspect", img.to_str().unwrap()]);
    assert!(t0.elapsed() < Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("refers to other files") && err.contains("host-secret"),
        "{err}"
    );
    assert!(err.contains("--allow-backing"), "{err}");
    assert_eq!(sha256_file(&img), before);
    assert!(t.leftovers().is_empty());
}

#[test]
fn qemu_nbd_dies_with_imgseal_even_on_sigkill() {
    let img = fixture("debian12.qcow2");
    let t = Imgseal::new();
    let tmp = t.tmp.path().to_string_lossy().into_owned();
    let mut child = t
        .cmd()
        .args(["-q", "inspect", img.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for imgseal's own qemu-nbd (its socket lives in imgseal's temp dir).
    let t0 = Instant::now();
    let mut nbd = vec![];
    while nbd.is_empty() && t0.elapsed() < Duration::from_secs(30) {
        nbd = pids_with(&tmp)
            .into_iter()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .map(|c| c.trim() == "qemu-nbd")
                    .unwrap_or(false)
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!nbd.is_empty(), "qemu-nbd never started");
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap(); // SIGKILL: no destructor runs
    child.wait().unwrap();
    let t0 = Instant::now();
    while nbd
        .iter()
        .any(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
        && t0.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    for p in &nbd {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        // Gone, or a zombie awaiting its (dead) parent's reaper.
        assert!(
            stat.is_empty() || stat.contains(") Z "),
            "qemu-nbd {p} outlived imgseal: {stat}"
        );
    }
    // The next run removes the work dir the killed run could not.
    assert!(
        !t.leftovers().is_empty(),
        "the killed run left nothing to clean?"
    );
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), vec![0u8; 2 << 20]).unwrap();
    let out = t.run(&["-q", "inspect", junk.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        t.leftovers().is_empty(),
        "stale work dir kept: {:?}",
        t.leftovers()
    );
}

/// Bad input: exit 2, one line naming the file and the problem, no panic, nothing left.
fn bad_input(path: &str, expect: &str) {
    let t = Imgseal::new();
    let before = std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|_| sha256_file(std::path::Path::new(path)));
    let out = t.run(&["-q", "inspect", path]);
    assert_eq!(out.status.code(), Some(2), "{path}: {}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{path}: more than one line:\n{err}");
    assert!(err.starts_with("imgseal: error: "), "{err}");
    assert!(err.contains(path), "{path} not named: {err}");
    assert!(err.contains(expect), "{path}: expected {expect:?} in {err}");
    assert!(t.leftovers().is_empty(), "{path}: left {:?}", t.leftovers());
    if let Some(h) = before {
        assert_eq!(sha256_file(std::path::Path::new(path)), h, "{path} changed");
    }
}

#[test]
fn bad_inputs_fail_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    let mut seed: u64 = 0x2545F4914F6CDD1D;
    let random: Vec<u8> = (0..(3 << 20))
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    std::fs::write(p("random.img"), &random).unwrap();
    std::fs::write(p("empty.img"), b"").unwrap();
    let q = std::fs::read(fixture("debian12.qcow2")).unwrap();
    std::fs::write(p("truncated.qcow2"), &q[..400_000]).unwrap();
    std::fs::create_dir(p("a-directory")).unwrap();
    bad_input(&p("random.img"), "no partition table or filesystem");
    bad_input(&p("empty.img"), "empty");
    bad_input(&p("truncated.qcow2"), "damaged");
    bad_input(&p("a-directory"), "is a directory");
    bad_input(&p("missing.qcow2"), "no such file");
}

#[test]
fn a_blank_disk_with_no_os_is_refused() {
    bad_input(
        fixture("blank.qcow2").to_str().unwrap(),
        "no operating system found",
    );
}

/// The fast-boot appliance (an uncompressed copy of libguestfs's appliance kernel for TCG
/// launches): made after the first launch of a fresh libguestfs cache, used by the next,
/// and a copy that does not boot is reported, replaced by the stock appliance in the same
/// run, and not tried again. A private libguestfs cache keeps the other tests' copy apart.
#[test]
fn fast_boot_appliance_is_made_used_and_dropped_when_broken() {
    let t = Imgseal::new();
    let cache = tempfile::tempdir().unwrap();
    let doctor = || {
        let out = t
            .cmd()
            .env("LIBGUESTFS_CACHEDIR", cache.path())
            .arg("doctor")
            .output()
            .unwrap();
        assert_no_panic(&out);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(out.status.success(), "doctor failed: {text}");
        let line = text
            .lines()
            .find(|l| l.contains("appliance") && l.contains("launched with"))
            .unwrap_or_else(|| panic!("no appliance line: {text}"))
            .to_string();
        (line, text)
    };
    let copies = || -> Vec<std::path::PathBuf> {
        let dir = cache
            .path()
            .join(format!(".guestfs-{}", unsafe_free_euid()));
        std::fs::read_dir(&dir)
            .map(|r| {
                r.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .unwrap()
                            .to_string_lossy()
                            .starts_with("imgseal-fastboot-")
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    // 1. A fresh cache: libguestfs builds its appliance, the launch is a stock one, and the
    //    copy is made afterwards, with an uncompressed (ELF) kernel.
    let (line, _) = doctor();
    assert!(line.contains("launched with tcg in"), "{line}");
    let made = copies();
    assert_eq!(made.len(), 1, "{made:?}");
    let kernel = std::fs::read(made[0].join("kernel")).unwrap();
    assert_eq!(&kernel[..4], b"\x7fELF");
    assert!(made[0].join("README.fixed").exists());
    // 2. The next launch boots the copy.
    let (line, _) = doctor();
    assert!(line.contains("(fast-boot appliance)"), "{line}");
    // 3. A copy that cannot boot: said once, the stock appliance serves this run, and the
    //    copy is replaced by a marker.
    std::fs::write(made[0].join("kernel"), b"not a kernel").unwrap();
    let (line, text) = doctor();
    assert!(line.contains("launched with tcg in"), "{line}");
    assert_eq!(
        text.matches("the fast-boot appliance did not start")
            .count(),
        1,
        "{text}"
    );
    assert!(made[0].join("FAILED").exists());
    assert!(!made[0].join("README.fixed").exists());
    // 4. ... and is not tried again.
    let (line, text) = doctor();
    assert!(line.contains("launched with tcg in"), "{line}");
    assert!(
        !text.contains("fast-boot appliance did not start"),
        "{text}"
    );
    assert!(t.leftovers().is_empty(), "left behind: {:?}", t.leftovers());
}

fn unsafe_free_euid() -> u32 {
    let out = std::process::Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// A KVM failure on this host is remembered: the next automatic launch goes straight to TCG
/// (no KVM attempt in its log) and says so once; IMGSEAL_ACCEL=kvm still tries KVM; a record
/// of another host (kernel release) is ignored, and replaced after KVM fails again.
#[test]
fn a_remembered_kvm_failure_skips_kvm_for_this_host_only() {
    use imgseal::guest::kvm_record::{self, HostKey};
    assert!(
        std::path::Path::new("/dev/kvm").exists(),
        "this test needs /dev/kvm (the CI hosts have it; qemu cannot use it there)"
    );
    let img = fixture("debian12.qcow2");
    let t = Imgseal::new();
    let cache = t.cache.path();
    let record = cache.join(kvm_record::FILE);
    let inspect = |accel: Option<&str>| {
        let mut c = t.cmd();
        match accel {
            Some(a) => c.env("IMGSEAL_ACCEL", a),
            None => c.env_remove("IMGSEAL_ACCEL"),
        };
        let out = c
            .args(["-v", "inspect", "--json", img.to_str().unwrap()])
            .output()
            .unwrap();
        assert_no_panic(&out);
        let err = stderr(&out);
        let tried_kvm = err.contains("launching the appliance with kvm");
        let accel = out.status.success().then(|| {
            json(&out)["appliance"]["accel"]
                .as_str()
                .unwrap()
                .to_string()
        });
        (accel, tried_kvm, err)
    };
    let read = || -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap()
    };
    let this_kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap()
        .trim()
        .to_string();
    // 1. A record of another kernel release: not this host's, so KVM is tried.
    let other = HostKey {
        kernel: "0.0.0-another-host".into(),
        qemu: "QEMU emulator version 0.1".into(),
        cpu: "another cpu".into(),
    };
    kvm_record::remember(cache, &other, "elsewhere", kvm_record::now()).unwrap();
    let (accel, tried, err) = inspect(None);
    assert!(tried, "{err}");
    match accel.as_deref() {
        // KVM failed here (the CI hosts): recorded again, now for this host.
        Some("tcg") => {
            let r = read();
            assert_eq!(r["kernel"], this_kernel.as_str(), "{r}");
            assert_ne!(r["reason"], "elsewhere");
        }
        // KVM works here: nothing to remember; record this host's key by hand for the rest.
        Some("kvm") => {
            assert!(!record.exists());
            let h = imgseal::ffi::guestfs::Handle::create().unwrap();
            let key = kvm_record::host_key(&h.get_hv().unwrap());
            kvm_record::remember(cache, &key, "by hand", kvm_record::now()).unwrap();
        }
        other => panic!("inspect failed ({other:?}): {err}"),
    }
    // 2. Remembered: straight to TCG, said once, with how to retry.
    let (accel, tried, err) = inspect(None);
    assert_eq!(accel.as_deref(), Some("tcg"), "{err}");
    assert!(!tried, "KVM was tried: {err}");
    assert_eq!(
        err.matches("using TCG without trying KVM").count(),
        1,
        "{err}"
    );
    assert!(err.contains("IMGSEAL_ACCEL=kvm"), "{err}");
    // 3. Forced: KVM is tried whatever was remembered.
    let (_, tried, err) = inspect(Some("kvm"));
    assert!(tried, "{err}");
    // 4. doctor tries KVM afresh and updates the record (a failure rewrites it, a success
    //    removes it).
    let before = read()["failed_at"].as_u64().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = t
        .cmd()
        .env_remove("IMGSEAL_ACCEL")
        .args(["-v", "doctor"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    let err = stderr(&out);
    assert!(err.contains("launching the appliance with kvm"), "{err}");
    if err.contains("retrying with TCG") {
        assert!(read()["failed_at"].as_u64().unwrap() > before, "{err}");
    } else {
        assert!(!record.exists(), "{err}");
    }
    assert!(t.leftovers().is_empty(), "left behind: {:?}", t.leftovers());
}
