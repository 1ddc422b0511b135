//! Issue 17: guests laid out as distributions imgseal has no operations for, or missing the
//! guest binaries imgseal used to read facts with, are inspected and checked: a report
//! (exit 0 or 1), never exit 2. One `inspect` and one `check` per fixture.

mod common;
use common::*;
use serde_json::Value;

fn inspect(t: &Imgseal, name: &str) -> Value {
    let img = fixture(&format!("{name}.qcow2"));
    let out = t.run(&["-q", "inspect", "--json", img.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
    json(&out)
}

/// inspect's JSON and what it said on stderr (not quiet).
fn inspect_noting(t: &Imgseal, name: &str) -> (Value, String) {
    let img = fixture(&format!("{name}.qcow2"));
    let out = t.run(&["inspect", "--json", img.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{name}: {err}");
    (json(&out), err)
}

/// The mountpoint inspect reports for a device.
fn mountpoint_of(j: &Value, dev: &str) -> String {
    j["filesystems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["device"] == dev)
        .and_then(|f| f["mountpoint"].as_str())
        .unwrap_or_else(|| panic!("no mountpoint for {dev} in {j}"))
        .to_string()
}

fn check(t: &Imgseal, name: &str) -> (Value, Option<i32>) {
    let img = fixture(&format!("{name}.qcow2"));
    let before = sha256_file(&img);
    let out = t.run(&[
        "-q",
        "check",
        "--json",
        "--vendor-dir",
        vendor_dir().to_str().unwrap(),
        img.to_str().unwrap(),
    ]);
    assert_eq!(sha256_file(&img), before, "{name}: the input image changed");
    let j = json(&out);
    let errors: Vec<_> = j["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "error")
        .collect();
    assert!(
        errors.is_empty(),
        "{name}: checks that could not run: {errors:#?}"
    );
    (j, out.status.code())
}

fn result<'a>(j: &'a Value, id: &str) -> &'a Value {
    j["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no result {id} in {j}"))
}

#[test]
fn arch_linux_is_inspected_with_its_pacman_database_and_checked() {
    let meta = fixture_meta("arch");
    let t = Imgseal::new();
    let j = inspect(&t, "arch");
    assert_eq!(j["os"]["distro"], "archlinux");
    assert_eq!(j["os"]["distro"], meta["distro"]);
    assert_eq!(j["os"]["package_format"], "pacman");
    assert_eq!(j["os"]["package_management"], "pacman");
    assert_eq!(j["cloud_init"]["installed"], true);
    assert_eq!(j["cloud_init"]["version"], meta["cloud_init_version"]);

    let (r, code) = check(&t, "arch");
    assert_eq!(code, Some(1), "a report naming what fails: {r}");
    let installed = result(&r, "cloud-init-installed");
    assert_eq!(installed["status"], "pass", "{installed}");
    assert!(
        installed["detail"]
            .as_str()
            .unwrap()
            .contains("/var/lib/pacman/local"),
        "{installed}"
    );
    let vendor = result(&r, "cloud-init-vendor");
    assert_eq!(vendor["status"], "fail", "{vendor}");
    assert!(
        vendor["detail"]
            .as_str()
            .unwrap()
            .contains("deb and rpm guests only"),
        "the vendor-package gap is named: {vendor}"
    );
    assert!(t.leftovers().is_empty(), "left {:?}", t.leftovers());
}

/// rpm guests' package facts come from the database file, not the guest's `rpm`: these two
/// have no `/bin/sh`, so no guest program could run. CentOS 7 keeps a Berkeley DB `Packages`
/// file; Fedora an `rpmdb.sqlite` under /usr/lib/sysimage/rpm, its os-release only under
/// /usr/lib, and its root in the btrfs subvolume `root` (found by the fast path, mounted
/// with its `home` subvolume per fstab).
#[test]
fn rpm_guests_without_a_shell_are_read_from_their_package_databases() {
    let t = Imgseal::new();
    for name in ["nosh", "fedora"] {
        let meta = fixture_meta(name);
        let (j, err) = inspect_noting(&t, name);
        assert!(
            !err.contains("asking libguestfs"),
            "{name}: found by the fast path: {err}"
        );
        assert_eq!(j["os"]["distro"], meta["distro"], "{name}: {j}");
        assert_eq!(j["os"]["major_version"], meta["major"], "{name}");
        assert_eq!(j["os"]["minor_version"], meta["minor"], "{name}");
        assert_eq!(j["os"]["package_format"], "rpm", "{name}");
        if let Some(root) = meta["root"].as_str() {
            assert_eq!(j["os"]["root"], root, "{name}: {j}");
        }
        // nosh's /var (holding the database) is its own filesystem, mounted per fstab.
        if let Some(var) = meta["var"].as_str() {
            assert_eq!(mountpoint_of(&j, var), "/var", "{name}: {j}");
        }
        assert_eq!(
            j["cloud_init"]["package_database_error"],
            Value::Null,
            "{name}: {j}"
        );
        assert_eq!(j["cloud_init"]["installed"], true, "{name}: {j}");
        assert_eq!(
            j["cloud_init"]["version"], meta["cloud_init_version"],
            "{name}: {j}"
        );

        let (r, code) = check(&t, name);
        assert!(
            matches!(code, Some(0 | 1)),
            "{name}: a report, not exit {code:?}: {r}"
        );
        let installed = result(&r, "cloud-init-installed");
        assert_eq!(installed["status"], "pass", "{name}: {installed}");
        let detail = installed["detail"].as_str().unwrap();
        assert!(
            detail.contains(meta["cloud_init_version"].as_str().unwrap())
                && detail.contains(meta["rpm_database"].as_str().unwrap()),
            "{name}: the version and the database it came from: {installed}"
        );
    }
    assert!(t.leftovers().is_empty(), "left {:?}", t.leftovers());
}

/// CoreOS Container Linux: the root filesystem holds /etc (its os-release a link into /usr,
/// `coreos/update.conf`) and an empty /usr, but no fstab; the filesystem holding
/// `share/coreos` has the only os-release and the binaries. The fast path finds and mounts
/// that /usr before it reads anything, and mounts it there again for the facts.
#[test]
fn a_separate_usr_is_mounted_before_inspection_reads() {
    let meta = fixture_meta("coreos");
    let t = Imgseal::new();
    let (j, err) = inspect_noting(&t, "coreos");
    assert!(
        !err.contains("asking libguestfs"),
        "found by the fast path: {err}"
    );
    assert_eq!(j["os"]["distro"], meta["distro"], "{j}");
    assert_eq!(j["os"]["major_version"], meta["major"], "{j}");
    assert_eq!(j["os"]["minor_version"], meta["minor"], "{j}");
    assert_eq!(j["os"]["root"], meta["root"], "{j}");
    assert_eq!(
        j["os"]["arch"], "x86_64",
        "read from /usr/bin/ls on /usr: {j}"
    );
    assert_eq!(
        mountpoint_of(&j, meta["usr"].as_str().unwrap()),
        "/usr",
        "{j}"
    );
    let (r, code) = check(&t, "coreos");
    assert!(
        matches!(code, Some(0 | 1)),
        "a report, not exit {code:?}: {r}"
    );
    assert!(t.leftovers().is_empty(), "left {:?}", t.leftovers());
}

/// A root imgseal's own inspection does not recognise (Slackware: `/etc/slackware-version`,
/// no fstab) but libguestfs's does: inspect says it asked libguestfs, in one line, and
/// reports libguestfs's answer instead of "no operating system found".
#[test]
fn a_root_only_libguestfs_recognises_is_inspected_by_libguestfs() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    for d in ["etc", "bin", "usr/bin", "root", "tmp"] {
        std::fs::create_dir_all(tree.join(d)).unwrap();
    }
    std::fs::write(tree.join("etc/slackware-version"), "Slackware 14.2\n").unwrap();
    std::fs::write(tree.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    std::fs::copy("/usr/bin/ls", tree.join("bin/ls")).unwrap();
    let disk = dir.path().join("slackware.raw");
    let made = std::process::Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-d"])
        .arg(&tree)
        .arg(&disk)
        .arg("16M")
        .status()
        .unwrap();
    assert!(made.success());
    let t = Imgseal::new();
    let out = t.run(&["inspect", "--json", disk.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let notes: Vec<_> = err
        .lines()
        .filter(|l| l.contains("asking libguestfs's inspect_os"))
        .collect();
    assert_eq!(notes.len(), 1, "said once: {err}");
    assert!(notes[0].contains("/dev/sda holds /etc"), "{}", notes[0]);
    let j = json(&out);
    assert_eq!(j["os"]["type"], "linux", "{j}");
    assert_eq!(j["os"]["distro"], "slackware", "{j}");
    assert_eq!(j["os"]["major_version"], 14);
    assert_eq!(j["os"]["minor_version"], 2);
    assert_eq!(j["os"]["root"], "/dev/sda");
    // Slackware has no package database imgseal reads: a finding, not a failure to inspect.
    assert!(
        j["cloud_init"]["package_database_error"]
            .as_str()
            .is_some_and(|e| e.contains("package database unreadable")),
        "{j}"
    );
    assert!(t.leftovers().is_empty(), "left {:?}", t.leftovers());
}

/// The table: on every layout, imgseal's inspection names the distribution and the
/// version libguestfs's `virt-inspector` (guestfs-tools) names on the same file. One
/// virt-inspector and one `imgseal inspect` per fixture.
#[test]
fn imgseal_inspects_every_layout_as_virt_inspector_does() {
    let t = Imgseal::new();
    let mut differ = Vec::new();
    for name in ["debian12", "ubuntu1604", "arch", "fedora", "coreos", "nosh"] {
        let img = fixture(&format!("{name}.qcow2"));
        let before = sha256_file(&img);
        let out = std::process::Command::new("virt-inspector")
            // Applications and icons are not compared (and its rpm listing needs a writable
            // sqlite database).
            .args(["--no-applications", "--no-icon", "--format=qcow2", "-a"])
            .arg(&img)
            // KVM aborts on the CI hosts: libguestfs must not try it.
            .env("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
            .output()
            .expect("virt-inspector (guestfs-tools, scripts/install-deps.sh)");
        assert!(
            out.status.success(),
            "{name}: virt-inspector failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(sha256_file(&img), before, "{name}: the image changed");
        let xml = String::from_utf8_lossy(&out.stdout);
        let tag = |t: &str| -> String {
            let open = format!("<{t}>");
            let start = xml
                .find(&open)
                .unwrap_or_else(|| panic!("{name}: no <{t}> in virt-inspector's {xml}"))
                + open.len();
            xml[start..][..xml[start..].find('<').unwrap()].to_string()
        };
        let theirs = (
            tag("distro"),
            tag("major_version").parse::<i64>().unwrap(),
            tag("minor_version").parse::<i64>().unwrap(),
        );
        let j = inspect(&t, name);
        let ours = (
            j["os"]["distro"].as_str().unwrap().to_string(),
            j["os"]["major_version"].as_i64().unwrap(),
            j["os"]["minor_version"].as_i64().unwrap(),
        );
        if ours != theirs {
            differ.push(format!(
                "{name}: imgseal {ours:?}, virt-inspector {theirs:?}"
            ));
        }
    }
    assert!(differ.is_empty(), "{differ:#?}");
    assert!(t.leftovers().is_empty(), "left {:?}", t.leftovers());
}
