//! The boot test (`imgseal boot-test`, `convert --boot-test`) on the bootable Debian fixture:
//! real qemu boots under TCG (about a minute each), so each output is booted once and many
//! things are asserted on that one boot. The refusals run without booting.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The vendor build's version, from its file name in the manifest (`cloud-init_VER_all.deb`).
fn vendor_version(manifest: &Value) -> String {
    let file = manifest["vendor_packages"][0]["file"].as_str().unwrap();
    file.split('_').nth(1).unwrap().replace('_', "~")
}

fn failing_ids(bt: &Value) -> Vec<String> {
    bt["judgements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["passed"] == false)
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect()
}

/// No qemu of this test's runs is left: each run's files live under its own temp dir.
fn assert_no_guest_left(t: &Imgseal, also: &Path) {
    let left: Vec<u32> = pids_with(t.tmp.path().to_str().unwrap())
        .into_iter()
        .chain(pids_with(also.to_str().unwrap()))
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains("qemu-system"))
                .unwrap_or(false)
        })
        .collect();
    assert!(left.is_empty(), "qemu still running: {left:?}");
}

/// A copy of the bootable fixture as qcow2 in `dir`.
fn copy_fixture(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::copy(fixture("debian12-boot.qcow2"), &p).unwrap();
    p
}

#[test]
fn converted_with_boot_test_it_boots_and_cloud_init_runs_from_nocloud_as_the_vendor_requires() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sealed.qcow2");
    let xml = dir.path().join("convert.xml");
    let m = convert_to(
        &fixture("debian12-boot.qcow2"),
        &out,
        &["--boot-test", "--junit", xml.to_str().unwrap()],
    );
    let bt = &m["boot_test"];
    assert_eq!(bt["passed"], true, "{bt:#}");
    assert_eq!(failing_ids(bt), Vec::<String>::new());
    assert_eq!(bt["powered_off"], true);
    assert!(bt["failure"].is_null());
    let r = &bt["report"];
    assert!(
        r["cloud_init"]["datasource"]
            .as_str()
            .unwrap()
            .contains("DataSourceNoCloud"),
        "{r:#}"
    );
    assert_eq!(
        r["cloud_init"]["package_version"],
        vendor_version(&m).as_str()
    );
    assert_eq!(r["firewalls"], serde_json::json!([]));
    assert_eq!(r["network"]["nics"][0]["mtu"], 1500);
    assert_eq!(r["reboot"]["required"], false);
    assert!(m["seconds"]["boot-test"].as_f64().unwrap() > 0.0);
    println!(
        "boot under {}: {} s, report after {} s",
        bt["accel"], bt["seconds"], bt["report_after_s"]
    );
    // The console log is kept beside the output: GRUB, the kernel, cloud-init, the report.
    let log = std::fs::read_to_string(dir.path().join("sealed.qcow2.boot.log")).unwrap();
    assert_eq!(
        bt["log"],
        dir.path().join("sealed.qcow2.boot.log").to_str().unwrap()
    );
    for needle in [
        "GNU GRUB",
        "Linux version",
        "Cloud-init v.",
        "IMGSEAL-BOOT-REPORT-END",
    ] {
        assert!(log.contains(needle), "no {needle:?} in the log");
    }
    // The output verifies and verify shows the boot test.
    let t = Imgseal::new();
    let v = t.run(&["verify", out.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    assert!(
        stdout(&v).contains("boot test at conversion: passed"),
        "{}",
        stdout(&v)
    );
    let vj = json(&t.run(&["verify", "--json", out.to_str().unwrap()]));
    assert_eq!(vj["boot_test"]["passed"], true);
    // The JUnit report has one passing testcase per judgement.
    let j = junit(&xml);
    let cases = junit_cases(&j["suites"][0], "imgseal.boot");
    assert_eq!(cases.len(), 7, "{j:#}");
    assert!(cases.iter().all(|c| c["result"] == "passed"), "{cases:#?}");
    assert!(cases.iter().any(|c| c["name"] == "R2 firewall"));
    assert_no_guest_left(&t, dir.path());
}

#[test]
fn boot_test_of_the_unconverted_fixture_names_the_failing_judgements_and_changes_nothing() {
    let input = fixture("debian12-boot.qcow2");
    let before = sha256_file(&input);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("vendor-state.boot.log");
    let t = Imgseal::new();
    let vendor = vendor_dir();
    let out = t.run(&[
        "boot-test",
        "--json",
        "--vendor-dir",
        vendor.to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let bt = json(&out);
    assert_eq!(bt["schema"], 1);
    assert_eq!(bt["passed"], false);
    // It booted and reported: the failures are the vendor state's, each named.
    assert_eq!(
        failing_ids(&bt),
        ["cloud-init-vendor", "firewall", "mtu"],
        "{bt:#}"
    );
    let detail = |id: &str| {
        bt["judgements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == id)
            .unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(detail("firewall").contains("ufw"), "{}", detail("firewall"));
    assert!(detail("mtu").contains("MTU 9000"), "{}", detail("mtu"));
    assert!(detail("cloud-init-vendor").contains("not the vendor's"));
    assert!(log.exists());
    assert!(
        stderr(&out).contains("boot-test"),
        "no progress: {}",
        stderr(&out)
    );
    assert_eq!(sha256_file(&input), before, "the image was written");
    assert!(t.leftovers().is_empty(), "left {:?}", t.leftovers());
    assert_no_guest_left(&t, dir.path());
}

#[test]
fn a_disk_without_a_boot_sector_fails_in_seconds_with_its_name_and_the_console_tail() {
    let dir = tempfile::tempdir().unwrap();
    let img = copy_fixture(dir.path(), "no-mbr.qcow2");
    let st = Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write -z 0 512"])
        .arg(&img)
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", stderr(&st));
    let before = sha256_file(&img);
    let t = Imgseal::new();
    let out = t.run(&["boot-test", "--json", img.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let bt = json(&out);
    assert_eq!(bt["failure"]["kind"], "no-boot-loader", "{bt:#}");
    assert_eq!(failing_ids(&bt), ["booted"]);
    assert!(bt["seconds"].as_f64().unwrap() < 60.0, "{}", bt["seconds"]);
    let tail = bt["console_tail"].as_array().unwrap();
    assert!(
        tail.iter()
            .any(|l| l.as_str().unwrap().contains("not a bootable disk")),
        "{tail:?}"
    );
    // The human form names it too, and the log is beside the image.
    let t2 = Imgseal::new();
    let human = t2.run(&["boot-test", img.to_str().unwrap()]);
    assert_eq!(human.status.code(), Some(1));
    assert!(
        stdout(&human).contains("no boot loader"),
        "{}",
        stdout(&human)
    );
    assert!(dir.path().join("no-mbr.qcow2.boot.log").exists());
    assert_eq!(sha256_file(&img), before, "the image was written");
    for t in [&t, &t2] {
        assert!(t.leftovers().is_empty(), "left {:?}", t.leftovers());
        assert_no_guest_left(t, dir.path());
    }
}

#[test]
fn convert_and_batch_with_boot_test_publish_nothing_when_the_sealed_image_does_not_boot() {
    let dir = tempfile::tempdir().unwrap();
    let img = copy_fixture(dir.path(), "no-kernel.qcow2");
    let kernel = fixture_meta("debian12-boot")["kernel"]
        .as_str()
        .unwrap()
        .to_string();
    // The kernel GRUB's entry names is gone: GRUB says so on the console.
    let st = Command::new("guestfish")
        .env("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
        .args(["-a"])
        .arg(&img)
        .args(["-m", "/dev/sda1", "rm", &format!("/boot/vmlinuz-{kernel}")])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", stderr(&st));
    let out = dir.path().join("out.qcow2");
    let t = Imgseal::new();
    let vendor = vendor_dir();
    let r = t.run(&[
        "convert",
        "--vendor-dir",
        vendor.to_str().unwrap(),
        "--boot-test",
        "-o",
        out.to_str().unwrap(),
        img.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));
    let text = stdout(&r);
    assert!(text.contains("no output published"), "{text}");
    assert!(text.contains("no-kernel"), "{text}");
    assert!(
        text.contains(&format!("vmlinuz-{kernel}")),
        "no console tail: {text}"
    );
    assert!(!out.exists());
    assert!(!dir.path().join("out.qcow2.partial").exists());
    assert!(!dir.path().join("out.qcow2.manifest.json").exists());
    assert!(!dir.path().join("out.qcow2.sha256").exists());
    assert!(dir.path().join("out.qcow2.boot.log").exists());
    assert!(t.leftovers().is_empty(), "left {:?}", t.leftovers());
    assert_no_guest_left(&t, dir.path());
    // batch --boot-test: the image fails with the boot test's verdict in the summary.
    let out_dir = dir.path().join("batch");
    let b = Imgseal::new();
    let r = b.run(&[
        "-q",
        "batch",
        "--json",
        "--vendor-dir",
        vendor.to_str().unwrap(),
        "--boot-test",
        "--out-dir",
        out_dir.to_str().unwrap(),
        img.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    let summary = json(&r);
    let image = &summary["images"][0];
    assert_eq!(image["status"], "failed", "{summary:#}");
    let err = image["error"].as_str().unwrap();
    assert!(
        err.contains("boot test") && err.contains("no-kernel"),
        "{err}"
    );
    assert!(!out_dir.join("no-kernel.qcow2").exists());
    assert!(out_dir.join("no-kernel.qcow2.boot.log").exists());
    assert!(b.leftovers().is_empty(), "left {:?}", b.leftovers());
    assert_no_guest_left(&b, dir.path());
}

#[test]
fn boot_test_refusals_need_no_boot() {
    let dir = tempfile::tempdir().unwrap();
    let t = Imgseal::new();
    let missing = dir.path().join("missing.qcow2");
    let r = t.run(&["boot-test", missing.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("missing.qcow2"), "{}", stderr(&r));
    let r = t.run(&["boot-test", "nbd://localhost:10809/disk"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("needs an image file"), "{}", stderr(&r));
    let img = fixture("debian12-boot.qcow2");
    let r = t.run(&["boot-test", "--timeout", "0", img.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("--timeout"), "{}", stderr(&r));
    let r = t.run(&[
        "boot-test",
        "--log",
        "/nonexistent-dir/x.log",
        img.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("--log FILE"), "{}", stderr(&r));
    // --boot-timeout belongs to --boot-test.
    let r = t.run(&[
        "convert",
        "--boot-timeout",
        "5",
        "-o",
        dir.path().join("o.qcow2").to_str().unwrap(),
        img.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("--boot-test"), "{}", stderr(&r));
    assert!(t.leftovers().is_empty(), "left {:?}", t.leftovers());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
