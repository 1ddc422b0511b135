//! Issue: rules engine and `imgseal check`. One check per fixture (one appliance launch
//! each); the exact set of failing rules and checks, the report's contract, input untouched,
//! and the `--junit` file of the same run read back with junitparser.

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;

/// `check --json --junit` of a fixture; the JUnit file is checked against the JSON here.
fn check(name: &str) -> (Value, std::process::Output) {
    let img = fixture(&format!("{name}.qcow2"));
    let before = sha256_file(&img);
    let t = Imgseal::new();
    let reports = tempfile::tempdir().unwrap();
    let xml = reports.path().join("check.xml");
    let out = t.run(&[
        "-q",
        "check",
        "--json",
        "--junit",
        xml.to_str().unwrap(),
        "--vendor-dir",
        vendor_dir().to_str().unwrap(),
        img.to_str().unwrap(),
    ]);
    assert_eq!(sha256_file(&img), before, "{name}: the input image changed");
    assert!(t.leftovers().is_empty(), "{name}: left {:?}", t.leftovers());
    let j = json(&out);
    assert_junit_is_the_report(&junit(&xml), &j, name);
    let left: Vec<_> = std::fs::read_dir(reports.path()).unwrap().collect();
    assert_eq!(
        left.len(),
        1,
        "{name}: only the report, no temporary file: {left:?}"
    );
    (j, out)
}

/// The JUnit file of a check: one suite (the image), one testcase per check, and the
/// totals of `check --json` (tests, failures, errors, skipped).
fn assert_junit_is_the_report(x: &Value, j: &Value, name: &str) {
    let results = j["results"].as_array().unwrap();
    let count = |s: &str| results.iter().filter(|r| r["status"] == s).count();
    assert_eq!(x["name"], "imgseal check");
    let suites = x["suites"].as_array().unwrap();
    assert_eq!(suites.len(), 1, "{name}: {x}");
    let suite = &suites[0];
    assert_eq!(suite["name"], j["image"], "{name}");
    for (k, want) in [
        ("tests", results.len()),
        ("failures", count("fail")),
        ("errors", count("error")),
        ("skipped", count("skip")),
    ] {
        assert_eq!(x[k], want, "{name}: {k}");
        assert_eq!(suite[k], want, "{name}: suite {k}");
    }
    assert!(
        count("fail") > 0,
        "{name}: a non-compliant fixture has failures"
    );
    assert_junit_checks(suite, j, "imgseal.check");
}

fn failing(j: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let results = j["results"].as_array().unwrap();
    let ids = results
        .iter()
        .filter(|r| r["status"] == "fail")
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let rules = results
        .iter()
        .filter(|r| r["status"] == "fail")
        .map(|r| r["rule"].as_str().unwrap().to_string())
        .collect();
    (rules, ids)
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The report's contract: schema, keys, every result rule-tagged with a known status.
fn assert_contract(j: &Value, name: &str, distro: &str) {
    assert_eq!(j["schema"], 1);
    assert!(
        j["image"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{name}.qcow2"))
    );
    assert_eq!(j["profile"], "jdcloud");
    assert_eq!(j["os"]["distro"], distro);
    assert_eq!(j["compliant"], false);
    for r in j["results"].as_array().unwrap() {
        for k in ["id", "rule", "status", "detail"] {
            assert!(r[k].is_string(), "{name}: result without {k}: {r}");
        }
        assert!(
            ["pass", "fail", "warn", "skip"].contains(&r["status"].as_str().unwrap()),
            "{name}: {r}"
        );
    }
}

fn traces_failing(ids: &BTreeSet<String>) -> BTreeSet<String> {
    ids.iter()
        .filter(|i| i.starts_with("traces-"))
        .cloned()
        .collect()
}

#[test]
fn debian12_fails_r2_r3_r5_r8() {
    let (j, out) = check("debian12");
    assert_eq!(out.status.code(), Some(1), "non-compliant exits 1");
    assert_contract(&j, "debian12", "debian");
    let (rules, ids) = failing(&j);
    assert_eq!(rules, set(&["R2", "R3", "R5", "R8"]));
    let non_trace: BTreeSet<String> = ids
        .iter()
        .filter(|i| !i.starts_with("traces-"))
        .cloned()
        .collect();
    assert_eq!(
        non_trace,
        set(&[
            "firewall-ufw",
            "mtu-static",
            "cloud-init-vendor",
            "cloud-init-datasources",
            "cloud-init-state"
        ])
    );
    for t in [
        "traces-shell-history",
        "traces-ssh-userdir",
        "traces-ssh-hostkeys",
        "traces-logfiles",
        "traces-machine-id",
        "traces-tmp-files",
    ] {
        assert!(ids.contains(t), "{t} not failing: {ids:?}");
    }
    let mtu = j["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "mtu-static")
        .unwrap();
    assert!(
        mtu["detail"]
            .as_str()
            .unwrap()
            .contains("/etc/network/interfaces.d/eth0:3"),
        "{mtu}"
    );
}

#[test]
fn debian12_boot_fails_the_same_rules_and_its_kernel_is_ready_for_virtio() {
    // The bootable fixture: the vendor state of debian12 on a root with a real kernel,
    // initramfs and GRUB, so the boot-readiness checks see what a vendor image has.
    let meta = fixture_meta("debian12-boot");
    let kernel = meta["kernel"]
        .as_str()
        .expect("the fixture names its kernel");
    let (j, out) = check("debian12-boot");
    assert_eq!(out.status.code(), Some(1));
    assert_contract(&j, "debian12-boot", "debian");
    let (rules, ids) = failing(&j);
    assert_eq!(rules, set(&["R2", "R3", "R5", "R8"]), "{ids:?}");
    let result = |id: &str| {
        j["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no {id} result"))
            .clone()
    };
    for id in [
        "kernel-default",
        "initramfs-virtio",
        "fstab-device-names",
        "reboot-required",
    ] {
        assert_eq!(result(id)["status"], "pass", "{}", result(id));
    }
    let initramfs = result("initramfs-virtio");
    assert!(
        initramfs["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("/boot/initrd.img-{kernel}")),
        "{initramfs}"
    );
}

#[test]
fn centos7_fails_r2_r3_r4_r8() {
    let (j, out) = check("centos7");
    assert_eq!(out.status.code(), Some(1));
    assert_contract(&j, "centos7", "centos");
    let (rules, ids) = failing(&j);
    assert_eq!(rules, set(&["R2", "R3", "R4", "R8"]));
    let non_trace: BTreeSet<String> = ids
        .iter()
        .filter(|i| !i.starts_with("traces-"))
        .cloned()
        .collect();
    assert_eq!(
        non_trace,
        set(&[
            "firewall-firewalld",
            "mtu-static",
            "cloud-init-vendor",
            "cloud-init-datasources",
            "cloud-init-state"
        ])
    );
    for t in [
        "traces-installer-leftovers",
        "traces-net-hwaddr",
        "traces-yum-uuid",
    ] {
        assert!(traces_failing(&ids).contains(t), "{t} not failing: {ids:?}");
    }
    let r = j["results"].as_array().unwrap();
    let vendor = r.iter().find(|x| x["id"] == "cloud-init-vendor").unwrap();
    assert_eq!(vendor["rule"], "R4");
    assert!(
        vendor["detail"]
            .as_str()
            .unwrap()
            .contains("installed 0.7.9-24.el7.centos; the vendor build is 0.7.5-20.el7.centos.1"),
        "{vendor}"
    );
    let mtu = r.iter().find(|x| x["id"] == "mtu-static").unwrap();
    assert!(
        mtu["detail"]
            .as_str()
            .unwrap()
            .contains("/etc/sysconfig/network-scripts/ifcfg-eth0:10: MTU=9000"),
        "{mtu}"
    );
}

#[test]
fn centos6_fails_r2_r4_r8_and_warns_b1() {
    let (j, out) = check("centos6");
    assert_eq!(out.status.code(), Some(1));
    assert_contract(&j, "centos6", "centos");
    let (rules, ids) = failing(&j);
    assert_eq!(rules, set(&["R2", "R4", "R8"]));
    assert!(
        ids.contains("firewall-iptables") && ids.contains("firewall-ip6tables"),
        "{ids:?}"
    );
    assert!(ids.contains("traces-udev-persistent-net"), "{ids:?}");
    let r = j["results"].as_array().unwrap();
    let fstab = r.iter().find(|x| x["id"] == "fstab-device-names").unwrap();
    assert_eq!(fstab["status"], "warn");
    assert_eq!(fstab["rule"], "B1");
    assert!(
        fstab["detail"]
            .as_str()
            .unwrap()
            .contains("/etc/fstab:1: /dev/sda1 /"),
        "{fstab}"
    );
    let ipt = r.iter().find(|x| x["id"] == "firewall-iptables").unwrap();
    assert!(
        ipt["detail"]
            .as_str()
            .unwrap()
            .contains("/etc/rc.d/rc3.d/S08iptables"),
        "{ipt}"
    );
}

#[test]
fn ubuntu1604_fails_r2_r3_r5_r8_and_warns_r9() {
    let (j, out) = check("ubuntu1604");
    assert_eq!(out.status.code(), Some(1));
    assert_contract(&j, "ubuntu1604", "ubuntu");
    let (rules, ids) = failing(&j);
    assert_eq!(rules, set(&["R2", "R3", "R5", "R8"]));
    let non_trace: BTreeSet<String> = ids
        .iter()
        .filter(|i| !i.starts_with("traces-"))
        .cloned()
        .collect();
    assert_eq!(
        non_trace,
        set(&[
            "firewall-ufw",
            "mtu-static",
            "cloud-init-vendor",
            "cloud-init-datasources",
            "cloud-init-state"
        ])
    );
    let r = j["results"].as_array().unwrap();
    let ds = r
        .iter()
        .find(|x| x["id"] == "cloud-init-datasources")
        .unwrap();
    assert!(
        ds["detail"]
            .as_str()
            .unwrap()
            .contains("/etc/cloud/cloud.cfg.d/90_dpkg.cfg:2"),
        "{ds}"
    );
    let reboot = r.iter().find(|x| x["id"] == "reboot-required").unwrap();
    assert_eq!(reboot["status"], "warn");
    assert_eq!(reboot["rule"], "R9");
}

#[test]
fn profile_and_vendor_errors_come_before_any_image_work() {
    let t = Imgseal::new();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\n[cloud_init]\ndatasources = \"NoCloud\"\n",
    )
    .unwrap();
    let img = fixture("debian12.qcow2");
    let out = t.run(&[
        "-q",
        "check",
        "--profile",
        bad.to_str().unwrap(),
        img.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}:3:15", bad.display())), "{err}");
    let out = t.run(&["-q", "check", "--profile", "nosuch", img.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown profile 'nosuch'"));
    assert!(t.leftovers().is_empty());
}

#[test]
fn rules_lists_the_registry() {
    let t = Imgseal::new();
    let out = t.run(&["rules", "--json"]);
    assert!(out.status.success());
    let j = json(&out);
    let ids: Vec<&str> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    for want in [
        "repos",
        "firewall-ufw",
        "mtu-static",
        "cloud-init-datasources",
        "traces-shell-history",
        "kernel-default",
        "fstab-device-names",
    ] {
        assert!(ids.contains(&want), "{want} missing from imgseal rules");
    }
}

/// The boot check reads an initramfs through the appliance (in pieces, on the host) and
/// remembers it by file identity: a real initramfs made by mkinitramfs, put into an overlay
/// of the Debian fixture (which has no kernel of its own), passes; the same path rewritten
/// with an archive that has only virtio_blk is a new identity and is read again. One launch.
#[test]
fn initramfs_virtio_reads_a_real_initramfs_once_per_identity() {
    use imgseal::checks::{self, Ctx, Status};
    use imgseal::facts::initramfs::Listing;
    use imgseal::guest::fs::GuestFs;
    use imgseal::guest::launch::{Appliance, Drive, LaunchOpts};
    let initramfs = fixtures().join("initramfs");
    let (real, partial) = (
        initramfs.join("mkinitramfs.img"),
        initramfs.join("partial.gz.img"),
    );
    assert!(
        real.exists() && partial.exists(),
        "initramfs fixtures missing in {}: run scripts/make-test-images.sh",
        initramfs.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let overlay = dir.path().join("overlay.qcow2");
    let made = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(fixture("debian12.qcow2"))
        .arg(&overlay)
        .status()
        .unwrap();
    assert!(made.success());
    let rep = imgseal::ui::Recorder::default();
    let app = Appliance::launch(
        &[Drive::file(&overlay, "qcow2", false)],
        &LaunchOpts::default(),
        &rep,
    )
    .expect("launching a test appliance");
    let mut os = app.inspect("overlay", &rep).unwrap();
    app.mount_os(&mut os, false).unwrap();
    let g = app.guest(&rep);
    let path = "/boot/initrd.img-6.1.0-99-amd64";
    g.write("/boot/vmlinuz-6.1.0-99-amd64", b"not a kernel")
        .unwrap();
    g.upload(&real, path).unwrap();
    let profile = imgseal::profile::load("jdcloud").unwrap().profile;
    let virtio = || {
        let ctx = Ctx::new(&g, &os, &profile, Err("no vendor dir".into()));
        let r = checks::run_all(&ctx, "overlay", &profile.name).unwrap();
        r.results
            .into_iter()
            .find(|r| r.id == "initramfs-virtio")
            .unwrap()
    };
    let v = virtio();
    assert_eq!(
        (v.status, v.detail.as_str()),
        (Status::Pass, &*format!("{path} holds the virtio modules"))
    );
    let id = g.file_id(path).unwrap().unwrap();
    assert_eq!(id.size, std::fs::metadata(&real).unwrap().len());
    let memo = g.content_memo().unwrap();
    assert!(memo.get::<Listing>("initramfs", &id).is_some());
    // Rewritten: a new identity, listed again.
    g.upload(&partial, path).unwrap();
    let id2 = g.file_id(path).unwrap().unwrap();
    assert_ne!(id, id2);
    assert!(memo.get::<Listing>("initramfs", &id2).is_none());
    let v = virtio();
    assert_eq!(v.status, Status::Warn, "{}", v.detail);
    assert!(
        v.detail.contains("lacks virtio_net, virtio_scsi"),
        "{}",
        v.detail
    );
    assert!(memo.get::<Listing>("initramfs", &id2).is_some());
}
