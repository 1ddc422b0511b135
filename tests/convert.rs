//! Issue: `imgseal convert`. Each fixture is converted once with the test vendor packages
//! built by the fixture script; the output is then read with libguestfs directly (one
//! appliance with the input and the output attached) and checked against what was planted;
//! a `--junit` file rides along on the debian12 conversion and the ubuntu1604 dry run.

mod common;
use common::*;
use imgseal::ffi::guestfs::Handle;
use serde_json::Value;
use std::path::{Path, PathBuf};

struct Converted {
    input: PathBuf,
    output: PathBuf,
    json: Value,
    _dir: tempfile::TempDir,
}

fn convert(name: &str, extra: &[&str]) -> Converted {
    let input = fixture(&format!("{name}.qcow2"));
    let before = sha256_file(&input);
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join(format!("{name}-sealed.qcow2"));
    let json = convert_to(&input, &output, extra);
    assert_eq!(sha256_file(&input), before, "{name}: the input changed");
    assert!(!Path::new(&format!("{}.partial", output.display())).exists());
    Converted {
        input,
        output,
        json,
        _dir: dir,
    }
}

/// The datasource list in effect, read the plain way: the last of cloud.cfg and
/// cloud.cfg.d/*.cfg (lexical order) with a flow-form `datasource_list:` line.
fn datasources(h: &Handle) -> Option<Vec<String>> {
    let mut files = vec!["/etc/cloud/cloud.cfg".to_string()];
    let mut d: Vec<String> = h
        .ls("/etc/cloud/cloud.cfg.d")
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.ends_with(".cfg"))
        .collect();
    d.sort();
    files.extend(d.into_iter().map(|n| format!("/etc/cloud/cloud.cfg.d/{n}")));
    let mut found = None;
    for f in files {
        if let Some(t) = guest_read(h, &f) {
            for l in t.lines() {
                if let Some(v) = l.strip_prefix("datasource_list:") {
                    let v = v.trim().trim_start_matches('[').trim_end_matches(']');
                    found = Some(
                        v.split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect(),
                    );
                }
            }
        }
    }
    found
}

fn installed_cloud_init(h: &Handle, rpm: bool) -> String {
    if rpm {
        return h
            .command(&["rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}", "cloud-init"])
            .unwrap();
    }
    let status = guest_read(h, "/var/lib/dpkg/status").unwrap();
    let stanza = status
        .split("\n\n")
        .find(|s| s.lines().any(|l| l == "Package: cloud-init"))
        .expect("cloud-init in dpkg status");
    assert!(stanza.contains("Status: install ok installed"), "{stanza}");
    stanza
        .lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .unwrap()
        .to_string()
}

/// Lines that set an MTU and are not comments.
fn active_mtu_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter(|l| l.to_ascii_lowercase().contains("mtu"))
        .map(str::to_string)
        .collect()
}

/// Everything the issue asks of an output, read with libguestfs directly.
fn assert_output(name: &str, c: &Converted, firewall_off: impl Fn(&Handle)) {
    let meta = fixture_meta(name);
    let rpm = meta["package_format"] == "rpm";
    let app = open_images(&[(&c.input, "qcow2"), (&c.output, "qcow2")]);
    let h = app.handle();
    h.mount_ro("/dev/sda1", "/").unwrap();
    let passwd = guest_read(h, "/etc/passwd").unwrap();
    let shadow = guest_read(h, "/etc/shadow").unwrap();
    h.umount_all().unwrap();

    h.mount("/dev/sdb1", "/").unwrap();
    assert_eq!(
        guest_read(h, "/etc/passwd").unwrap(),
        passwd,
        "{name}: /etc/passwd changed"
    );
    assert_eq!(
        guest_read(h, "/etc/shadow").unwrap(),
        shadow,
        "{name}: /etc/shadow changed"
    );
    assert_eq!(
        installed_cloud_init(h, rpm),
        meta["vendor_version"].as_str().unwrap(),
        "{name}: vendor cloud-init"
    );
    assert_eq!(
        datasources(h).unwrap_or_default(),
        vec!["NoCloud", "ConfigDrive", "OpenStack", "None"],
        "{name}: datasource list in effect"
    );
    firewall_off(h);
    for f in meta["mtu_files"].as_array().unwrap() {
        let f = f.as_str().unwrap();
        let t = guest_read(h, f).unwrap_or_default();
        assert!(
            active_mtu_lines(&t).is_empty(),
            "{name}: {f} still sets an MTU:\n{t}"
        );
    }
    for t in meta["traces"].as_array().unwrap() {
        let t = t.as_str().unwrap();
        // Gone, or (mailboxes, whose owner and mode the MTA expects) an empty regular file.
        if let Ok(st) = h.lstat(t) {
            assert!(
                st.mode & libc::S_IFMT == libc::S_IFREG && st.size == 0,
                "{name}: planted trace {t} is still there"
            );
        }
    }
    assert_eq!(
        guest_read(h, "/etc/machine-id").unwrap_or_default(),
        "",
        "{name}: machine-id not emptied"
    );
    let wtmp = h.lstat("/var/log/wtmp").unwrap();
    assert_eq!(wtmp.size, 0, "{name}: wtmp kept but emptied");
    assert!(
        h.ls("/var/lib/cloud").unwrap().is_empty(),
        "{name}: /var/lib/cloud emptied"
    );
    assert!(
        !h.exists("/var/lib/imgseal-vendor").unwrap(),
        "{name}: staged package removed"
    );
    assert!(
        !h.exists("/usr/sbin/policy-rc.d").unwrap(),
        "{name}: policy-rc.d removed"
    );
    h.umount_all().unwrap();
    for (dev, t) in h.list_filesystems().unwrap() {
        if dev.starts_with("/dev/sdb") && t.starts_with("ext") {
            assert_eq!(
                h.fsck(&t, &dev).unwrap(),
                0,
                "{name}: {dev} does not fsck clean"
            );
        }
        if dev.starts_with("/dev/sdb") && t == "swap" {
            let uuid_in = h.vfs_uuid(&dev.replace("sdb", "sda")).unwrap();
            assert_eq!(
                h.vfs_uuid(&dev).unwrap(),
                uuid_in,
                "{name}: swap keeps its UUID"
            );
        }
    }
    app.shutdown().unwrap();
}

fn assert_report(name: &str, c: &Converted, failing_before: &[&str]) {
    let j = &c.json;
    assert_eq!(j["schema"], 2);
    let before: Vec<&str> = j["before"]["failing_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(before, failing_before, "{name}: rules failing before");
    assert_eq!(j["after"]["compliant"], true, "{name}: after");
    let ids: Vec<&str> = j["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            "cloud-init-swap",
            "cloud-init-datasources",
            "firewall-disable",
            "mtu",
            "trace-cleanup"
        ]
    );
    assert_eq!(j["output"]["path"], c.output.to_str().unwrap());
}

fn ufw_off(h: &Handle) {
    let conf = guest_read(h, "/etc/ufw/ufw.conf").unwrap();
    assert!(conf.lines().any(|l| l == "ENABLED=no"), "{conf}");
    assert!(
        h.exists("/usr/sbin/ufw").unwrap() || h.exists("/sbin/ufw").unwrap(),
        "ufw stays installed"
    );
}

/// The `--junit` file of a conversion (read back with junitparser): one suite (the input),
/// a passed testcase per operation the manifest lists, in order, then the "after" checks;
/// the "before" report only summed up in the suite's system-out.
fn assert_junit_conversion(xml: &Path, j: &Value) {
    let x = junit(xml);
    assert_eq!(x["name"], "imgseal convert");
    let suites = x["suites"].as_array().unwrap();
    assert_eq!(suites.len(), 1, "{x}");
    let suite = &suites[0];
    assert_eq!(suite["name"], j["input"]["path"]);
    let ops: Vec<&Value> = junit_cases(suite, "imgseal.operation");
    let want: Vec<&Value> = j["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["id"])
        .collect();
    let got: Vec<&Value> = ops.iter().map(|c| &c["name"]).collect();
    assert_eq!(got, want, "one testcase per operation, in order");
    for (c, o) in ops.iter().zip(j["operations"].as_array().unwrap()) {
        assert_eq!(c["result"], "passed", "{c}");
        let out = c["system_out"].as_str().unwrap();
        assert!(out.starts_with(o["status"].as_str().unwrap()), "{c}");
    }
    assert!(junit_cases(suite, "imgseal.check.before").is_empty());
    assert_junit_checks(suite, &j["after"], "imgseal.check.after");
    assert_eq!(
        (x["failures"].as_u64(), x["errors"].as_u64()),
        (Some(0), Some(0)),
        "{x}"
    );
    assert_eq!(
        x["tests"].as_u64().unwrap() as usize,
        ops.len() + j["after"]["results"].as_array().unwrap().len()
    );
}

#[test]
fn debian12_is_converted_and_reads_back_clean() {
    let reports = tempfile::tempdir().unwrap();
    let xml = reports.path().join("convert.xml");
    let c = convert("debian12", &["--junit", xml.to_str().unwrap()]);
    assert_report("debian12", &c, &["R2", "R3", "R5", "R8"]);
    assert_junit_conversion(&xml, &c.json);
    assert_output("debian12", &c, ufw_off);
}

#[test]
fn centos7_is_converted_and_a_second_convert_changes_nothing() {
    let c = convert("centos7", &[]);
    assert_report("centos7", &c, &["R2", "R3", "R4", "R8"]);
    let fin: Vec<&str> = c.json["finalize"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        fin.iter().any(|n| n.contains("/.autorelabel")),
        "SELinux guest flagged for relabel: {fin:?}"
    );
    assert_output("centos7", &c, |h| {
        assert!(
            !h.exists("/etc/systemd/system/multi-user.target.wants/firewalld.service")
                .unwrap()
        );
        assert!(
            h.lstat("/etc/systemd/system/dbus-org.fedoraproject.FirewallD1.service")
                .is_err()
        );
        assert!(
            h.exists("/usr/lib/systemd/system/firewalld.service")
                .unwrap(),
            "firewalld stays installed"
        );
        assert!(h.exists("/.autorelabel").unwrap());
        let ifcfg = guest_read(h, "/etc/sysconfig/network-scripts/ifcfg-eth0").unwrap();
        assert!(
            !ifcfg
                .lines()
                .any(|l| l.starts_with("HWADDR=") || l.starts_with("UUID=")),
            "{ifcfg}"
        );
        assert!(ifcfg.contains("BOOTPROTO=\"dhcp\""), "{ifcfg}");
    });

    // Converting the output again changes nothing and every rule passes.
    let dir = tempfile::tempdir().unwrap();
    let again = dir.path().join("again.qcow2");
    let t = Imgseal::new();
    let out = t.run(&[
        "-q",
        "convert",
        "--json",
        "--vendor-dir",
        vendor_dir().to_str().unwrap(),
        "-o",
        again.to_str().unwrap(),
        c.output.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["before"]["compliant"], true);
    assert_eq!(j["after"]["compliant"], true);
    for r in j["after"]["results"].as_array().unwrap() {
        assert!(r["status"] != "fail" && r["status"] != "error", "{r}");
    }
    for op in j["operations"].as_array().unwrap() {
        assert_eq!(op["status"], "unchanged", "{op}");
        assert!(op["changes"].as_array().unwrap().is_empty(), "{op}");
    }
    assert!(
        !j["finalize"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("autorelabel")),
        "no relabel when nothing changed"
    );
}

#[test]
fn centos6_is_converted_and_reads_back_clean() {
    let c = convert("centos6", &[]);
    assert_report("centos6", &c, &["R2", "R4", "R8"]);
    assert_output("centos6", &c, |h| {
        for rl in 2..=5 {
            let links = h.ls(&format!("/etc/rc.d/rc{rl}.d")).unwrap();
            assert!(
                !links
                    .iter()
                    .any(|l| l.starts_with('S') && l.ends_with("iptables")),
                "rc{rl}.d: {links:?}"
            );
            assert!(
                links.contains(&"K92iptables".to_string()),
                "rc{rl}.d: {links:?}"
            );
        }
        assert!(
            h.exists("/etc/rc.d/init.d/iptables").unwrap(),
            "the init script stays"
        );
    });
}

#[test]
fn ubuntu1604_dry_run_writes_nothing_then_converts() {
    let input = fixture("ubuntu1604.qcow2");
    let before = sha256_file(&input);
    let t = Imgseal::new();
    let reports = tempfile::tempdir().unwrap();
    let xml = reports.path().join("plan.xml");
    let out = t.run(&[
        "-q",
        "convert",
        "--dry-run",
        "--json",
        "--junit",
        xml.to_str().unwrap(),
        "--vendor-dir",
        vendor_dir().to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = json(&out);
    // A dry run's JUnit file: the "before" checks (failing, as the plan says) and the plan.
    let x = junit(&xml);
    let suite = &x["suites"][0];
    assert_eq!(suite["name"], plan["image"]);
    assert_junit_checks(suite, &plan["before"], "imgseal.check.before");
    let fails = plan["before"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "fail")
        .count();
    assert!(fails > 0);
    assert_eq!(x["failures"], fails);
    let planned = junit_cases(suite, "imgseal.operation");
    assert_eq!(planned.len(), plan["operations"].as_array().unwrap().len());
    let mtu_plan = &plan["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == "mtu")
        .unwrap()["changes"][0];
    let mtu_case = planned.iter().find(|c| c["name"] == "mtu").unwrap();
    let would = format!(
        "would {} {}",
        mtu_plan["action"].as_str().unwrap(),
        mtu_plan["target"].as_str().unwrap()
    );
    assert!(
        mtu_case["system_out"].as_str().unwrap().contains(&would),
        "{would}: {mtu_case}"
    );
    assert_eq!(plan["dry_run"], true);
    let ops = plan["operations"].as_array().unwrap();
    assert!(ops.iter().all(|o| o["status"] == "planned"));
    let swap = &ops[0]["changes"];
    assert!(
        swap.as_array()
            .unwrap()
            .iter()
            .any(|c| c["action"] == "run" && c["target"] == "dpkg --purge cloud-init"),
        "{swap}"
    );
    let mtu = ops.iter().find(|o| o["id"] == "mtu").unwrap();
    assert_eq!(mtu["changes"][0]["target"], "/etc/network/interfaces");
    assert_eq!(sha256_file(&input), before);
    assert!(t.leftovers().is_empty());

    let c = convert("ubuntu1604", &[]);
    assert_report("ubuntu1604", &c, &["R2", "R3", "R5", "R8"]);
    assert_output("ubuntu1604", &c, ufw_off);
}

#[test]
fn symlinked_traces_leave_etc_intact() {
    let c = convert("symlinks", &[]);
    let links = fixture_meta("symlinks")["links"].clone();
    let app = open_images(&[(&c.input, "qcow2"), (&c.output, "qcow2")]);
    let h = app.handle();
    h.mount_ro("/dev/sda1", "/").unwrap();
    let before = guest_sums(h, "/etc");
    h.umount_all().unwrap();
    h.mount_ro("/dev/sdb1", "/").unwrap();
    let after = guest_sums(h, "/etc");
    // What the conversion itself is meant to change under /etc.
    let expected = |p: &str| {
        [
            "/cloud",
            "/cloud.real/",
            "/ssh/ssh_host_",
            "/ufw/ufw.conf",
            "/network/interfaces.d/eth0",
            "/machine-id",
            "/passwd-",
            "/shadow-",
            "/group-",
            "/gshadow-",
            "/udev/rules.d/70-persistent-net.rules",
            "/systemd/system/",
            "/ld.so.cache",
            "/.pwd.lock",
        ]
        .iter()
        .any(|x| p.starts_with(x))
    };
    let mut damaged = vec![];
    for (p, sum) in &before {
        if expected(p) {
            continue;
        }
        if after.get(p) != Some(sum) {
            damaged.push(p.clone());
        }
    }
    assert!(
        damaged.is_empty(),
        "files under /etc changed or vanished: {damaged:?}"
    );
    assert!(
        before.len() > 100,
        "the /etc inventory is real ({} files)",
        before.len()
    );
    for (link, target) in links.as_object().unwrap() {
        // Each link lost the link only; the target (a file or a whole tree in /etc or /) stays.
        if link == "/etc/cloud" {
            continue; // replaced by the package swap, checked below
        }
        let t = target.as_str().unwrap();
        assert!(h.exists(t).unwrap(), "{t} (target of {link}) is gone");
        match h.lstat(link) {
            Err(_) => {}
            Ok(s) => assert_eq!(
                s.mode & libc::S_IFMT,
                libc::S_IFDIR,
                "{link} is still a link"
            ),
        }
    }
    // Sums are keyed relative to /etc.
    for f in ["/passwd", "/shadow", "/hostname", "/group", "/fstab"] {
        assert_eq!(after.get(f), before.get(f), "/etc{f} changed or missing");
        assert!(after.contains_key(f), "/etc{f} missing");
    }
    assert!(
        h.exists("/root/file with spaces.txt").unwrap(),
        "ordinary files with odd names stay"
    );
    app.shutdown().unwrap();
}

#[test]
fn a_rule_the_operations_cannot_fix_fails_the_conversion_without_output() {
    // R1 is never modified: a profile expecting other mirror hosts keeps failing after the
    // operations, so the conversion stops with exit 1, the reports, and no output.
    let d = tempfile::tempdir().unwrap();
    let prof = d.path().join("strict.toml");
    let builtin = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/jdcloud.toml"),
    )
    .unwrap();
    std::fs::write(
        &prof,
        builtin.replace(
            "expected_hosts = []",
            "expected_hosts = [\"mirrors.jdcloud.example\"]",
        ),
    )
    .unwrap();
    let input = fixture("centos6.qcow2");
    let before = sha256_file(&input);
    let out = d.path().join("never.qcow2");
    let t = Imgseal::new();
    let r = t.run(&[
        "-q",
        "convert",
        "--json",
        "--vendor-dir",
        vendor_dir().to_str().unwrap(),
        "--profile",
        prof.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));
    let j = json(&r);
    assert_eq!(j["compliant"], false);
    assert_eq!(j["after"]["failing_rules"], serde_json::json!(["R1"]));
    let repos = j["after"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "repos")
        .unwrap();
    assert!(
        repos["detail"]
            .as_str()
            .unwrap()
            .contains("outside the expected hosts (mirrors.jdcloud.example)"),
        "{repos}"
    );
    assert!(
        j["operations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["status"] == "changed")
    );
    assert!(!out.exists() && !d.path().join("never.qcow2.partial").exists());
    assert_eq!(sha256_file(&input), before);
    assert!(t.leftovers().is_empty());
}
