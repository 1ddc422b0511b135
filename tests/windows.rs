//! Issue 19 (part): Windows guests are inspected from their registry, read through
//! libguestfs's hivex API in the appliance. The fixtures are SYNTHETIC layouts built by
//! scripts/make-windows-fixtures.sh (real NTFS volumes and regf hives, no real Windows).

mod common;
use common::*;
use serde_json::Value;
use std::process::Command;

fn inspect(t: &Imgseal, name: &str) -> Value {
    let img = fixture(&format!("{name}.qcow2"));
    let before = sha256_file(&img);
    let out = t.run(&["-q", "inspect", "--json", img.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
    assert_eq!(sha256_file(&img), before, "{name}: the input image changed");
    assert!(t.leftovers().is_empty(), "{name}: {:?}", t.leftovers());
    json(&out)
}

/// What the fixture script planted, as inspect must report it.
fn assert_as_planted(name: &str, j: &Value) {
    let m = fixture_meta(name);
    let os = &j["os"];
    assert_eq!(os["type"], "windows", "{name}: {os}");
    assert_eq!(os["distro"], "windows");
    assert_eq!(os["product_name"], m["product_name"]);
    assert_eq!(os["major_version"], m["major"]);
    assert_eq!(os["minor_version"], m["minor"]);
    assert_eq!(os["hostname"], m["hostname"]);
    assert_eq!(
        os["arch"], "x86_64",
        "{name}: cmd.exe's PE header says AMD64"
    );
    let w = &os["windows"];
    assert_eq!(w["build"], m["build"]);
    assert_eq!(w["edition"], "ServerStandard");
    assert_eq!(w["installation_type"], "Server");
    assert_eq!(w["system_root"], "/Windows");
    assert_eq!(w["current_control_set"], "ControlSet001");
    assert_eq!(
        w["control_sets"],
        serde_json::json!(["ControlSet001", "ControlSet002"])
    );
    // C: is the partition the fixture put it on: MBR signature 1a2b3c4d, at 1 MiB or after
    // the 32 MiB System Reserved.
    let off: u64 = if m["c_partition"] == 2 {
        33 << 20
    } else {
        1 << 20
    };
    assert_eq!(w["drives"][0]["letter"], "C");
    assert_eq!(w["drives"][0]["location"], format!("1a2b3c4d@{off}"));
    assert_eq!(
        os["root"],
        format!("/dev/sda{}", m["c_partition"]),
        "{name}: the root is C:"
    );
    let apps: Vec<(String, String)> = w["applications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["display_name"].as_str().unwrap().to_string(),
                a["view"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        apps.contains(&("7-Zip 9.20".into(), "32-bit".into()))
            && apps.contains(&("Build Agent Tools".into(), "64-bit".into())),
        "{name}: {apps:?}"
    );
}

/// `virt-inspector`'s XML, one element's text.
fn xml_field(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("virt-inspector gave no <{tag}>: {xml}"))
        + open.len();
    let end = xml[start..].find('<').unwrap() + start;
    xml[start..end].to_string()
}

#[test]
fn windows_2012_r2_is_inspected_from_its_registry_as_virt_inspector_reads_it() {
    let t = Imgseal::new();
    let j = inspect(&t, "win2012r2");
    assert_as_planted("win2012r2", &j);
    // The human summary names the product, the build and the control sets.
    let img = fixture("win2012r2.qcow2");
    let out = t.run(&["-q", "inspect", img.to_str().unwrap()]);
    let text = stdout(&out);
    for want in [
        "Windows Server 2012 R2 Standard",
        "9600 ServerStandard (Server)",
        "ControlSet001 current",
        "WIN-2012R2",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }

    // libguestfs's own inspection of the same file agrees.
    let x = Command::new("virt-inspector")
        .args(["--format=qcow2", "-a", img.to_str().unwrap()])
        .env("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
        .output()
        .expect("virt-inspector (guestfs-tools)");
    let xml = String::from_utf8_lossy(&x.stdout);
    assert!(x.status.success(), "virt-inspector: {}", stderr(&x));
    let os = &j["os"];
    assert_eq!(xml_field(&xml, "distro"), os["distro"].as_str().unwrap());
    assert_eq!(
        xml_field(&xml, "product_name"),
        os["product_name"].as_str().unwrap()
    );
    assert_eq!(
        xml_field(&xml, "major_version"),
        os["major_version"].to_string()
    );
    assert_eq!(
        xml_field(&xml, "minor_version"),
        os["minor_version"].to_string()
    );
    assert_eq!(
        xml_field(&xml, "hostname"),
        os["hostname"].as_str().unwrap()
    );
    assert_eq!(xml_field(&xml, "arch"), os["arch"].as_str().unwrap());
    assert_eq!(
        xml_field(&xml, "windows_current_control_set"),
        os["windows"]["current_control_set"].as_str().unwrap()
    );
    assert_eq!(xml_field(&xml, "root"), os["root"].as_str().unwrap());
}

#[test]
fn windows_2008_r2_is_inspected_and_checked_from_its_registry() {
    let t = Imgseal::new();
    let j = inspect(&t, "win2008r2");
    assert_as_planted("win2008r2", &j);

    // check: a report (exit 1), every Windows rule read from the registry and the volume.
    let img = fixture("win2008r2.qcow2");
    let before = sha256_file(&img);
    let out = t.run(&[
        "-q",
        "check",
        "--json",
        "--vendor-dir",
        vendor_dir().to_str().unwrap(),
        img.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(sha256_file(&img), before, "check changed the input");
    let r = json(&out);
    assert_eq!(r["os"]["type"], "windows");
    assert_eq!(
        r["failing_rules"],
        serde_json::json!(["R2", "R3", "R6", "R8"]),
        "{r:#}"
    );
    let res = |id: &str| -> Value {
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id} in {r:#}"))
    };
    let findings = |id: &str| -> Vec<String> {
        res(id)["findings"]
            .as_array()
            .map(|a| a.iter().map(|f| f.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    // R2: six profile values (3 profiles x 2 control sets) and the one policy.
    let fw = findings("windows-firewall");
    assert_eq!(fw.len(), 7, "{fw:#?}");
    assert!(fw.iter().any(|f| f.starts_with(
        "SYSTEM\\ControlSet002\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\PublicProfile EnableFirewall=1"
    )));
    assert!(
        fw.iter()
            .any(|f| f.starts_with("SOFTWARE\\Policies\\Microsoft\\WindowsFirewall\\DomainProfile"))
    );
    assert!(
        res("windows-firewall")["detail"]
            .as_str()
            .unwrap()
            .contains("MpsSvc) starts automatically")
    );
    // R3: the jumbo interface in both control sets, named in UTF-16 as the fixture wrote it.
    let m = fixture_meta("win2008r2");
    let mtu = findings("windows-mtu");
    assert_eq!(mtu.len(), 2, "{mtu:#?}");
    for cs in ["ControlSet001", "ControlSet002"] {
        let want = format!(
            "{cs} {} ({}): MTU 9000 > 1500",
            m["nic"].as_str().unwrap(),
            m["connection"].as_str().unwrap()
        );
        assert!(mtu.contains(&want), "{want:?} not in {mtu:#?}");
    }
    assert_eq!(res("windows-cloudbase-init")["status"], "fail");
    // R7 (a recommendation: warn): every marker the fixture planted, each named.
    let p = findings("windows-pending");
    assert_eq!(res("windows-pending")["status"], "warn");
    for want in [
        "RebootPending",
        "Auto Update\\RebootRequired",
        "PendingFileRenameOperations: 2 file operation(s)",
        "NV Hostname: a rename from WIN-2008R2 to WIN-2008R2-NEW",
        "WinSxS/pending.xml",
    ] {
        assert!(p.iter().any(|f| f.contains(want)), "{want:?} not in {p:#?}");
    }
    // R8: each planted trace found; the link into System32\\config is a trace itself, and
    // nothing behind it (the hives) or the user's documents is.
    let tr = findings("windows-traces");
    for want in [
        "/Windows/Temp/build.log (temp)",
        "/Windows/Temp/config-link (temp)",
        "ConsoleHost_history.txt (powershell-history)",
        "/Windows/Panther/unattend.xml (answer-files)",
        "/Windows/System32/Sysprep/unattend.xml (answer-files)",
        "/Windows/MEMORY.DMP (memory-dumps)",
        "/Windows/System32/winevt/Logs/Security.evtx (event-logs)",
        "bcache22.bmc (rdp-cache)",
        "/$Recycle.Bin/",
        "/Windows/Prefetch/CMD.EXE-4A81B364.pf (prefetch)",
        "/Windows/SoftwareDistribution/Download/3f2a (update-downloads)",
        "ReportQueue/AppCrash_build (error-reports)",
    ] {
        assert!(
            tr.iter().any(|f| f.contains(want)),
            "{want:?} not in {tr:#?}"
        );
    }
    assert!(
        !tr.iter()
            .any(|f| f.contains("config/SYSTEM") || f.contains("Documents")),
        "{tr:#?}"
    );
    assert!(t.leftovers().is_empty());
}

#[test]
fn a_hibernated_windows_volume_is_refused_for_conversion_and_left_untouched() {
    let t = Imgseal::new();
    let img = fixture("winhiber.qcow2");
    let before = sha256_file(&img);
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("sealed.qcow2");
    let r = t.run(&[
        "-q",
        "convert",
        "--vendor-dir",
        vendor_dir().to_str().unwrap(),
        img.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    let e = stderr(&r);
    assert!(
        e.contains("the Windows volume is hibernated") && e.contains("shut it down fully"),
        "{e}"
    );
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
    assert_eq!(sha256_file(&img), before, "the input changed");
    assert_eq!(
        std::fs::read_dir(out_dir.path()).unwrap().count(),
        0,
        "nothing written beside the output"
    );
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}
