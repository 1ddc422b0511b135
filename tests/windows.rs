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
    // ... which is mapped to the device holding it (the disk's signature and start byte).
    assert_eq!(
        w["drives"][0]["device"],
        format!("/dev/sda{}", m["c_partition"]),
        "{name}: C:'s device"
    );
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

/// `convert` of a fixture is refused: exit 2, one line on stderr holding every key, the input
/// byte-for-byte unchanged, nothing in the output directory, no temporary files left.
fn refused_convert(name: &str, keys: &[&str]) {
    let t = Imgseal::new();
    let img = fixture(&format!("{name}.qcow2"));
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
    assert_eq!(r.status.code(), Some(2), "{name}: {}", stderr(&r));
    let e = stderr(&r);
    for k in keys {
        assert!(e.contains(k), "{name}: {k:?} missing from: {e}");
    }
    assert_eq!(e.trim().lines().count(), 1, "{name}: one line: {e}");
    assert_eq!(sha256_file(&img), before, "{name}: the input changed");
    assert_eq!(
        std::fs::read_dir(out_dir.path()).unwrap().count(),
        0,
        "{name}: nothing written beside the output"
    );
    assert!(t.leftovers().is_empty(), "{name}: {:?}", t.leftovers());
}

#[test]
fn a_hibernated_windows_volume_is_refused_for_conversion_and_left_untouched() {
    refused_convert(
        "winhiber",
        &["the Windows volume is hibernated", "shut it down fully"],
    );
}

#[test]
fn an_ntfs_volume_marked_dirty_is_refused_for_conversion_and_left_untouched() {
    // C: of the 2012 R2 layout has VOLUME_IS_DIRTY set, which ntfs-3g would mount read-write.
    let dev = fixture_meta("windirty")["dirty"]
        .as_str()
        .unwrap()
        .to_string();
    let keys = [
        format!("the NTFS volume {dev} (C:, the Windows system volume) is marked dirty"),
        "will not write to it".to_string(),
        "chkdsk /f C:".to_string(),
        "convert again".to_string(),
    ];
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    refused_convert("windirty", &keys);
    // A dry run says what the conversion would: the same refusal, not a plan.
    let t = Imgseal::new();
    let img = fixture("windirty.qcow2");
    let r = t.run(&[
        "-q",
        "convert",
        "--dry-run",
        "--vendor-dir",
        vendor_dir().to_str().unwrap(),
        img.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2), "dry run: {}", stdout(&r));
    assert!(stderr(&r).contains(keys[0]), "{}", stderr(&r));
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}

#[test]
fn a_bitlocker_volume_is_named_by_inspect_and_refused_by_convert() {
    // C: of the 2012 R2 layout is a BitLocker volume: not "no operating system found" but
    // the device, BitLocker and how to decrypt it.
    let dev = fixture_meta("winbitlocker")["bitlocker"]
        .as_str()
        .unwrap()
        .to_string();
    let keys = [
        format!("{dev} is a BitLocker-encrypted volume"),
        "manage-bde -off C:".to_string(),
        "then run imgseal again".to_string(),
    ];
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let t = Imgseal::new();
    let img = fixture("winbitlocker.qcow2");
    let before = sha256_file(&img);
    let r = t.run(&["-q", "inspect", img.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    let e = stderr(&r);
    for k in &keys {
        assert!(e.contains(k), "inspect: {k:?} missing from: {e}");
    }
    assert!(!e.contains("no operating system found"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "inspect: one line: {e}");
    assert_eq!(sha256_file(&img), before, "inspect changed the input");
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
    refused_convert("winbitlocker", &keys);
}

/// Every value of a hive, as `key\path name = type:hex`, read with libguestfs's hivex calls
/// directly (not through imgseal).
fn hive_dump(
    h: &imgseal::ffi::guestfs::Handle,
    path: &str,
) -> std::collections::BTreeMap<String, String> {
    fn walk(
        h: &imgseal::ffi::guestfs::Handle,
        node: i64,
        key: &str,
        out: &mut std::collections::BTreeMap<String, String>,
    ) {
        for v in h.hivex_node_values(node).unwrap() {
            let name = h.hivex_value_key(v).unwrap();
            let t = h.hivex_value_type(v).unwrap();
            let data = h.hivex_value_value(v).unwrap();
            let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
            out.insert(format!("{key} {name}"), format!("{t}:{hex}"));
        }
        for c in h.hivex_node_children(node).unwrap() {
            let n = h.hivex_node_name(c).unwrap();
            // The key itself (ending in a backslash), so a lost empty key shows too.
            out.insert(format!("{key}\\{n}\\"), "key".into());
            walk(h, c, &format!("{key}\\{n}"), out);
        }
    }
    h.hivex_open(path, false).unwrap();
    let mut out = std::collections::BTreeMap::new();
    walk(h, h.hivex_root().unwrap(), "", &mut out);
    h.hivex_close().unwrap();
    out
}

fn dword(v: u32) -> String {
    format!(
        "4:{}",
        v.to_le_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

#[test]
fn windows_2012_r2_converts_to_a_compliant_image_read_back_with_hivex() {
    let name = "win2012r2";
    let m = fixture_meta(name);
    let t = Imgseal::new();
    let img = fixture(&format!("{name}.qcow2"));
    let before_sum = sha256_file(&img);
    let dir = tempfile::tempdir().unwrap();
    let vendor = vendor_dir();

    // A dry run lists the registry changes with their old values and writes nothing.
    let out = t.run(&[
        "-q",
        "convert",
        "--dry-run",
        "--json",
        "--vendor-dir",
        vendor.to_str().unwrap(),
        img.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = json(&out);
    let changes: Vec<String> = plan["operations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["changes"].as_array().unwrap().clone())
        .filter(|c| c["action"] == "registry")
        .map(|c| c["target"].as_str().unwrap().to_string())
        .collect();
    assert!(
        changes.contains(&"SYSTEM\\ControlSet002\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\DomainProfile EnableFirewall: dword:1 -> dword:0".to_string()),
        "{changes:#?}"
    );
    assert!(changes.contains(&format!(
        "SYSTEM\\ControlSet001\\Services\\Tcpip\\Parameters\\Interfaces\\{} MTU: dword:9000 -> dword:1400",
        m["nic"].as_str().unwrap()
    )));
    assert!(changes.contains(&"SYSTEM\\Setup SetupType: dword:0 -> dword:2".to_string()));
    assert!(
        changes.contains(&format!(
            "SYSTEM\\ControlSet001\\Services\\Tcpip\\Parameters\\Interfaces\\{} DhcpIPAddress: \"10.0.2.15\" -> (deleted)",
            m["nic"].as_str().unwrap()
        )),
        "{changes:#?}"
    );
    assert_eq!(sha256_file(&img), before_sum, "a dry run changed the input");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // The conversion.
    let output = dir.path().join("sealed.qcow2");
    let man = convert_to(&img, &output, &[]);
    assert_eq!(sha256_file(&img), before_sum, "the input changed");
    assert_eq!(man["after"]["compliant"], true, "{man:#}");
    let ops: Vec<&str> = man["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        [
            "cloudbase-init-stage",
            "windows-firewall-disable",
            "windows-mtu",
            "windows-trace-cleanup"
        ]
    );

    // Read input and output with libguestfs and hivex directly.
    let c = m["c_partition"].as_u64().unwrap();
    let app = open_images(&[(&img, "qcow2"), (&output, "qcow2")]);
    let h = app.handle();
    let read_side = |disk: &str| {
        h.mount_ro(&format!("/dev/{disk}{c}"), "/").unwrap();
        let system = hive_dump(h, "/Windows/System32/config/SYSTEM");
        // The interface key found by name through its parent's subkey list (which Windows
        // searches sorted), not only by walking it.
        h.hivex_open("/Windows/System32/config/SYSTEM", false)
            .unwrap();
        let mut node = h.hivex_root().unwrap();
        for part in [
            "ControlSet001",
            "Services",
            "Tcpip",
            "Parameters",
            "Interfaces",
            m["nic"].as_str().unwrap(),
        ] {
            node = h
                .hivex_node_get_child(node, part)
                .unwrap()
                .unwrap_or_else(|| panic!("{disk}: {part} not found by name"));
        }
        h.hivex_close().unwrap();
        let software = hive_dump(h, "/Windows/System32/config/SOFTWARE");
        let files = guest_sums(h, "/");
        let sam = files["/Windows/System32/config/SAM"].clone();
        let link = h.lstat("/Windows/Temp/config-link").ok();
        let msi = h
            .read_file("/ProgramData/imgseal/cloudbase-init/CloudbaseInitSetup_0_9_11_x64.msi")
            .ok();
        let script = guest_read(h, "/ProgramData/imgseal/firstboot.cmd");
        h.umount_all().unwrap();
        (system, software, sam, files, link, msi, script)
    };
    let (sys0, sw0, sam0, files0, link0, msi0, script0) = read_side("sda");
    let (sys1, sw1, sam1, files1, link1, msi1, script1) = read_side("sdb");
    drop(app);

    // R2: every profile of both control sets off; the policy that enabled it off.
    for cs in ["ControlSet001", "ControlSet002"] {
        for p in ["DomainProfile", "StandardProfile", "PublicProfile"] {
            let k = format!(
                "\\{cs}\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\{p} EnableFirewall"
            );
            assert_eq!(sys0[&k], dword(1), "{k} in the input");
            assert_eq!(sys1[&k], dword(0), "{k}");
        }
        // R3: the jumbo interface at the profile's 1400; the other one untouched.
        let k = format!(
            "\\{cs}\\Services\\Tcpip\\Parameters\\Interfaces\\{} MTU",
            m["nic"].as_str().unwrap()
        );
        assert_eq!(sys1[&k], dword(1400), "{k}");
    }
    assert_eq!(
        sw1["\\Policies\\Microsoft\\WindowsFirewall\\DomainProfile EnableFirewall"],
        dword(0)
    );
    // R6: the MSI byte for byte, the runner registered and its script.
    let vendor_msi = std::fs::read(vendor.join("CloudbaseInitSetup_0_9_11_x64.msi")).unwrap();
    assert!(msi0.is_none());
    assert_eq!(msi1.as_deref(), Some(&vendor_msi[..]), "the staged MSI");
    assert!(script0.is_none());
    let script = script1.expect("the first-boot runner");
    assert!(script.split_inclusive('\n').all(|l| l.ends_with("\r\n")));
    assert!(script.contains("msiexec /i \"%MSI%\" /qn /l*v"));
    assert!(script.contains("LOGGINGSERIALPORTNAME=COM1"));
    assert!(
        script.contains("netsh interface ipv4 set subinterface \"%%B\" mtu=1400 store=persistent")
    );
    let cmdline: Vec<u8> = "cmd.exe /c C:\\ProgramData\\imgseal\\firstboot.cmd\0"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    assert_eq!(
        sys1["\\Setup CmdLine"],
        format!(
            "1:{}",
            cmdline
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    );
    assert_eq!(sys1["\\Setup SetupType"], dword(2));
    // Every other registry value is as it was.
    let changed = |a: &std::collections::BTreeMap<String, String>,
                   b: &std::collections::BTreeMap<String, String>| {
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter(|k| a.get(*k) != b.get(*k))
            .cloned()
            .collect::<Vec<_>>()
    };
    // R8: the build's DHCP lease values are gone from every interface key, and each key
    // keeps its other values (rebuilt in the appliance: hivex cannot delete a value).
    let lease = |k: &String| {
        k.contains("\\Tcpip\\Parameters\\Interfaces\\")
            && [
                "DhcpIPAddress",
                "DhcpServer",
                "DhcpSubnetMask",
                "DhcpDefaultGateway",
                "Lease",
                "LeaseObtainedTime",
                "LeaseTerminatesTime",
            ]
            .iter()
            .any(|n| k.ends_with(&format!(" {n}")))
    };
    let leases0: Vec<&String> = sys0.keys().filter(|k| lease(k)).collect();
    assert!(
        leases0.len() == 2 * 7,
        "the fixture plants a lease: {leases0:#?}"
    );
    assert!(sys1.keys().all(|k| !lease(k)), "a lease value left");
    let sys_changed = changed(&sys0, &sys1);
    assert_eq!(
        sys_changed.len(),
        6 + 2 + 2 + leases0.len(),
        "{sys_changed:#?}"
    );
    assert!(sys_changed.iter().all(|k| k.contains("EnableFirewall")
        || k.ends_with(" MTU")
        || k.starts_with("\\Setup ")
        || lease(k)));
    let nic_key = format!(
        "\\ControlSet001\\Services\\Tcpip\\Parameters\\Interfaces\\{} EnableDHCP",
        m["nic"].as_str().unwrap()
    );
    assert_eq!(sys1.get(&nic_key), sys0.get(&nic_key), "{nic_key} kept");
    assert!(sys1.contains_key(&nic_key), "{nic_key} kept");
    // The rebuilt key's subkey, its value and the empty key below it came through.
    let sub = format!(
        "\\ControlSet001\\Services\\Tcpip\\Parameters\\Interfaces\\{}\\{}",
        m["nic"].as_str().unwrap(),
        m["nic_sub"].as_str().unwrap()
    );
    for k in [
        format!("{sub}\\"),
        format!("{sub}\\Empty\\"),
        format!("{sub} ProfileName"),
    ] {
        assert!(sys0.contains_key(&k), "{k} planted");
        assert_eq!(sys1.get(&k), sys0.get(&k), "{k} after the rebuild");
    }
    assert_eq!(changed(&sw0, &sw1).len(), 1);
    assert_eq!(sam0, sam1, "the SAM hive is untouched");
    // R8: each trace gone; the link into System32\\config removed, the hives behind it kept.
    assert!(link0.is_some() && link1.is_none(), "the Temp link");
    for gone in [
        "/Windows/Temp/build.log",
        "/Windows/Panther/unattend.xml",
        "/Windows/System32/Sysprep/unattend.xml",
        "/Windows/MEMORY.DMP",
        "/Windows/System32/winevt/Logs/Security.evtx",
        "/Users/Administrator/AppData/Roaming/Microsoft/Windows/PowerShell/PSReadLine/ConsoleHost_history.txt",
        "/Windows/SoftwareDistribution/Download/3f2a/windows6.3-kb3172614-x64.cab",
        "/Windows/WinSxS/pending.xml",
    ] {
        if gone == "/Windows/WinSxS/pending.xml" {
            // Not a trace: a pending servicing transaction stays (R7 is reported, not fixed).
            assert_eq!(files0.get(gone), files1.get(gone), "{gone}");
            continue;
        }
        assert!(files0.contains_key(gone), "{gone} planted");
        assert!(!files1.contains_key(gone), "{gone} left in the output");
    }
    // Every file that is neither a trace, a hive nor staged is byte-identical.
    for (p, s) in &files0 {
        if files1.contains_key(p) && !p.starts_with("/Windows/System32/config/") {
            assert_eq!(&files1[p], s, "{p} changed");
        }
    }
    assert!(files1.contains_key("/Users/Administrator/Documents/readme.txt"));

    // The output checks compliant; a second conversion of it changes nothing.
    let chk = t.run(&[
        "-q",
        "check",
        "--json",
        "--vendor-dir",
        vendor.to_str().unwrap(),
        output.to_str().unwrap(),
    ]);
    assert_eq!(chk.status.code(), Some(0), "{}", stdout(&chk));
    assert!(
        json(&chk)["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == "windows-cloudbase-init")
            .unwrap()["detail"]
            .as_str()
            .unwrap()
            .starts_with("staged")
    );
    let again = dir.path().join("again.qcow2");
    let man2 = convert_to(&output, &again, &[]);
    for o in man2["operations"].as_array().unwrap() {
        assert_eq!(o["status"], "unchanged", "{o:#}");
    }
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}

#[test]
fn windows_2008_r2_converts_to_a_compliant_image() {
    let img = fixture("win2008r2.qcow2");
    let before = sha256_file(&img);
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("sealed.qcow2");
    let man = convert_to(&img, &output, &[]);
    assert_eq!(sha256_file(&img), before, "the input changed");
    assert_eq!(man["before"]["compliant"], false);
    assert_eq!(man["after"]["compliant"], true, "{man:#}");
    assert_eq!(
        man["after"]["os"]["product_name"],
        "Windows Server 2008 R2 Standard"
    );
    let registry: Vec<String> = man["operations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["changes"].as_array().unwrap().clone())
        .filter(|c| c["action"] == "registry")
        .map(|c| c["target"].as_str().unwrap().to_string())
        .collect();
    // 6 profiles, 1 policy, 2 MTUs, CmdLine and SetupType, and the 7 DHCP lease values of
    // the interface in both control sets: every one recorded old -> new.
    assert_eq!(registry.len(), 11 + 2 * 7, "{registry:#?}");
    assert_eq!(
        registry
            .iter()
            .filter(|r| r.ends_with(" -> (deleted)"))
            .count(),
        14,
        "{registry:#?}"
    );
    assert!(registry.iter().all(|r| r.contains(" -> ")), "{registry:#?}");
    let t = Imgseal::new();
    let v = t.run(&["-q", "verify", output.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
}

#[test]
fn a_hive_that_does_not_open_is_refused_in_one_line() {
    let t = Imgseal::new();
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("badhive.qcow2");
    // A copy of the 2008 R2 fixture whose SOFTWARE hive is not a hive any more.
    let st = Command::new("qemu-img")
        .args(["convert", "-q", "-f", "qcow2", "-O", "qcow2"])
        .arg(fixture("win2008r2.qcow2"))
        .arg(&img)
        .status()
        .unwrap();
    assert!(st.success());
    let st = Command::new("guestfish")
        .args(["--format=qcow2", "-a"])
        .arg(&img)
        .args([
            "run",
            ":",
            "mount",
            "/dev/sda1",
            "/",
            ":",
            "write",
            "/Windows/System32/config/SOFTWARE",
            "not a registry hive",
        ])
        .env("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
        .status()
        .unwrap();
    assert!(st.success());
    let before = sha256_file(&img);
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let r = t.run(&[
        "-q",
        "convert",
        "--vendor-dir",
        vendor_dir().to_str().unwrap(),
        img.to_str().unwrap(),
        "-o",
        out_dir.join("sealed.qcow2").to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    let e = stderr(&r);
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
    assert!(
        e.contains("/Windows/System32/config/SOFTWARE") && e.contains("RegBack"),
        "{e}"
    );
    assert_eq!(sha256_file(&img), before, "the input changed");
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0);
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}
