//! What a Windows guest is, read from its registry hives through the appliance (the SOFTWARE
//! and SYSTEM hives under `<systemroot>\System32\config`) and from the PE header of
//! `cmd.exe`: product, version, build, edition, installation type, architecture, the control
//! sets, hostname, drive letters and installed applications — what libguestfs's inspection
//! reports for Windows, read in the same launch.

use crate::guest::fs::GuestFs;
use crate::guest::registry::{Hive, RegValue};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The Windows half of [`super::OsInfo`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct WindowsInfo {
    /// `6.3` style version as `SOFTWARE\Microsoft\Windows NT\CurrentVersion` gives it.
    pub build: String,
    /// `ServerStandard`, `ServerDatacenter`, `Professional` …
    pub edition: String,
    /// `Server`, `Server Core` or `Client`.
    pub installation_type: String,
    /// The system root inside the guest, as a guest path (`/Windows`).
    pub system_root: String,
    /// The control set the system boots (`ControlSet001`): `SYSTEM\Select\Current`, since an
    /// offline hive has no `CurrentControlSet`.
    pub current_control_set: String,
    /// Every existing control set `Select` names (Current, Default, LastKnownGood), without
    /// repeats: what a change to the offline system must reach.
    pub control_sets: Vec<String>,
    /// Drive letters from `SYSTEM\MountedDevices`.
    pub drives: Vec<Drive>,
    /// Installed applications from the Uninstall keys of both registry views.
    pub applications: Vec<Application>,
}

impl WindowsInfo {
    /// The first installed application whose display name contains `name` (any letter case):
    /// how cloudbase-init's Uninstall entry is recognised.
    pub fn application(&self, name: &str) -> Option<&Application> {
        let name = name.to_ascii_lowercase();
        self.applications
            .iter()
            .find(|a| a.display_name.to_ascii_lowercase().contains(&name))
    }
}

/// One `\DosDevices\X:` entry of `MountedDevices`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Drive {
    pub letter: String,
    /// `mbr` (disk signature + byte offset), `gpt` (partition GUID) or `other`.
    pub kind: String,
    /// `1a2b3c4d@34603008`, the GPT partition GUID, or the value's bytes in hex.
    pub location: String,
    /// The partition of the attached disks that location names (`/dev/sda2`), when one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// What locates a partition for [`Drive::location`]: its disk's MBR signature and its start
/// byte, or its GPT partition GUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionId {
    pub device: String,
    pub mbr: Option<(u32, u64)>,
    pub gpt_guid: Option<String>,
}

/// Names each drive's partition among the attached disks' partitions, as the registry locates
/// it: by MBR disk signature and start byte, or by GPT partition GUID (any letter case).
pub fn map_drives(drives: &mut [Drive], parts: &[PartitionId]) {
    for d in drives.iter_mut() {
        d.device = parts
            .iter()
            .find(|p| match d.kind.as_str() {
                "mbr" => p
                    .mbr
                    .is_some_and(|(sig, off)| format!("{sig:08x}@{off}") == d.location),
                "gpt" => p
                    .gpt_guid
                    .as_deref()
                    .is_some_and(|g| g.eq_ignore_ascii_case(&d.location)),
                _ => false,
            })
            .map(|p| p.device.clone());
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Application {
    /// The Uninstall subkey's name (a product code or a name).
    pub name: String,
    pub display_name: String,
    pub version: String,
    pub publisher: String,
    /// `64-bit` or `32-bit` (`Wow6432Node`).
    pub view: String,
}

/// Everything read from one Windows root: the OsInfo fields and the Windows ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Read {
    pub product_name: String,
    pub major: i32,
    pub minor: i32,
    pub arch: String,
    pub hostname: String,
    pub info: WindowsInfo,
}

/// The first entry of `dir` whose name equals `name` in any letter case, as a path.
pub fn find_nocase(fs: &dyn GuestFs, dir: &str, name: &str) -> Result<Option<String>> {
    Ok(fs
        .list(dir)?
        .into_iter()
        .find(|n| n.eq_ignore_ascii_case(name))
        .map(|n| crate::guest::fs::join(dir, &n)))
}

/// `a/b/c` under `dir`, each part matched in any letter case.
pub fn path_nocase(fs: &dyn GuestFs, dir: &str, rel: &str) -> Result<Option<String>> {
    let mut cur = dir.to_string();
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        match find_nocase(fs, &cur, part)? {
            Some(p) => cur = p,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

/// The architecture in a PE file's COFF header (`x86_64`, `i386`, `aarch64`), read from its
/// first 4 KiB; `unknown` when it is not a PE file.
pub fn pe_arch(head: &[u8]) -> &'static str {
    let at = |o: usize, n: usize| head.get(o..o + n);
    if at(0, 2) != Some(b"MZ") {
        return "unknown";
    }
    let Some(lfanew) = at(0x3C, 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize)
    else {
        return "unknown";
    };
    if lfanew > head.len() || at(lfanew, 4) != Some(b"PE\0\0") {
        return "unknown";
    }
    match at(lfanew + 4, 2).map(|b| u16::from_le_bytes([b[0], b[1]])) {
        Some(0x8664) => "x86_64",
        Some(0x014C) => "i386",
        Some(0xAA64) => "aarch64",
        _ => "unknown",
    }
}

/// Whether the system volume is hibernated, or left in use by fast startup: `hiberfil.sys`
/// starts with a hibernation signature (`hibr`, `wake`, in any case). ntfs-3g then mounts it
/// read-only, and writing it would lose the hibernated session.
pub fn hibernated(fs: &dyn GuestFs) -> Result<Option<String>> {
    let Some(p) = find_nocase(fs, "/", "hiberfil.sys")? else {
        return Ok(None);
    };
    let head = fs.read_at(&p, 0, 4)?;
    let sig = String::from_utf8_lossy(&head).to_ascii_lowercase();
    Ok(matches!(sig.as_str(), "hibr" | "wake")
        .then(|| format!("the Windows volume is hibernated ({p} holds a saved session)")))
}

const CURRENT_VERSION: &str = "Microsoft\\Windows NT\\CurrentVersion";

/// Reads a Windows root whose system root is `sysroot` (a guest path such as `/Windows`).
pub fn read(fs: &dyn GuestFs, sysroot: &str) -> Result<Read> {
    let mut r = Read {
        arch: "unknown".into(),
        ..Read::default()
    };
    r.info.system_root = sysroot.to_string();
    if let Some(cmd) = path_nocase(fs, sysroot, "System32/cmd.exe")? {
        r.arch = pe_arch(&fs.read_at(&cmd, 0, 4096)?).to_string();
    }
    let config = path_nocase(fs, sysroot, "System32/config")?
        .with_context(|| format!("{sysroot}: no System32\\config (where the hives live)"))?;

    let software = find_nocase(fs, &config, "SOFTWARE")?
        .with_context(|| format!("{config}: no SOFTWARE hive"))?;
    {
        let h = fs.hive(&software, false)?;
        read_software(h.as_ref(), &mut r)?;
    }
    let system =
        find_nocase(fs, &config, "SYSTEM")?.with_context(|| format!("{config}: no SYSTEM hive"))?;
    {
        let h = fs.hive(&system, false)?;
        read_system(h.as_ref(), &mut r)?;
    }
    Ok(r)
}

fn string(h: &dyn Hive, path: &str, name: &str) -> Result<String> {
    Ok(h.get(path, name)?
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default())
}

fn read_software(h: &dyn Hive, r: &mut Read) -> Result<()> {
    r.product_name = string(h, CURRENT_VERSION, "ProductName")?;
    // Windows 10 and later keep the real numbers in CurrentMajor/MinorVersionNumber and
    // leave CurrentVersion at 6.3; older ones have only CurrentVersion.
    let major = h.get(CURRENT_VERSION, "CurrentMajorVersionNumber")?;
    let minor = h.get(CURRENT_VERSION, "CurrentMinorVersionNumber")?;
    if let (Some(RegValue::Dword(a)), Some(RegValue::Dword(b))) = (major, minor) {
        r.major = a as i32;
        r.minor = b as i32;
    } else {
        let v = string(h, CURRENT_VERSION, "CurrentVersion")?;
        let mut it = v.split('.').map(|p| p.trim().parse::<i32>().unwrap_or(0));
        r.major = it.next().unwrap_or(0);
        r.minor = it.next().unwrap_or(0);
    }
    r.info.build = string(h, CURRENT_VERSION, "CurrentBuildNumber")?;
    if r.info.build.is_empty() {
        r.info.build = string(h, CURRENT_VERSION, "CurrentBuild")?;
    }
    r.info.edition = string(h, CURRENT_VERSION, "EditionID")?;
    r.info.installation_type = string(h, CURRENT_VERSION, "InstallationType")?;
    for (view, path) in [
        ("64-bit", "Microsoft\\Windows\\CurrentVersion\\Uninstall"),
        (
            "32-bit",
            "Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall",
        ),
    ] {
        let Some(k) = h.key(path)? else { continue };
        for (name, app) in h.children(k)? {
            let get = |v: &str| -> Result<String> {
                Ok(h.value(app, v)?
                    .and_then(|x| x.as_str().map(str::to_string))
                    .unwrap_or_default())
            };
            r.info.applications.push(Application {
                display_name: get("DisplayName")?,
                version: get("DisplayVersion")?,
                publisher: get("Publisher")?,
                name,
                view: view.into(),
            });
        }
    }
    Ok(())
}

/// The control sets `Select` names that exist, the current one first.
pub fn control_sets(h: &dyn Hive) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for which in ["Current", "Default", "LastKnownGood"] {
        if let Some(RegValue::Dword(n)) = h.get("Select", which)?
            && n > 0
        {
            let name = format!("ControlSet{n:03}");
            if !out.contains(&name) && h.key(&name)?.is_some() {
                out.push(name);
            }
        }
    }
    Ok(out)
}

fn read_system(h: &dyn Hive, r: &mut Read) -> Result<()> {
    r.info.control_sets = control_sets(h)?;
    r.info.current_control_set = r.info.control_sets.first().cloned().unwrap_or_default();
    let cs = &r.info.current_control_set;
    if !cs.is_empty() {
        r.hostname = string(
            h,
            &format!("{cs}\\Control\\ComputerName\\ComputerName"),
            "ComputerName",
        )?;
        if r.hostname.is_empty() {
            r.hostname = string(h, &format!("{cs}\\Services\\Tcpip\\Parameters"), "Hostname")?;
        }
    }
    if let Some(k) = h.key("MountedDevices")? {
        for (name, v) in h.values(k)? {
            let Some(letter) = name
                .strip_prefix("\\DosDevices\\")
                .and_then(|l| l.strip_suffix(':'))
            else {
                continue;
            };
            r.info.drives.push(drive(letter, &v));
        }
        r.info.drives.sort_by(|a, b| a.letter.cmp(&b.letter));
    }
    Ok(())
}

/// A `MountedDevices` value: 12 bytes (MBR disk signature, partition byte offset), or
/// `DMIO:ID:` + a GPT partition GUID, or anything else (a device path in UTF-16).
fn drive(letter: &str, v: &RegValue) -> Drive {
    let bytes = v.to_raw().1;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let (kind, location) = if bytes.len() == 12 {
        let sig = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
        let off = u64::from_le_bytes(bytes[4..12].try_into().unwrap());
        ("mbr", format!("{sig:08x}@{off}"))
    } else if bytes.len() == 24 && &bytes[..8] == b"DMIO:ID:" {
        let g = &bytes[8..24];
        (
            "gpt",
            format!(
                "{:08x}-{:04x}-{:04x}-{}-{}",
                u32::from_le_bytes(g[0..4].try_into().unwrap()),
                u16::from_le_bytes([g[4], g[5]]),
                u16::from_le_bytes([g[6], g[7]]),
                hex(&g[8..10]),
                hex(&g[10..16])
            ),
        )
    } else {
        ("other", hex(&bytes))
    };
    Drive {
        letter: letter.to_string(),
        kind: kind.into(),
        location,
        device: None,
    }
}

/// A Windows Server 2012 R2 guest in memory for the unit tests of checks and operations: the
/// firewall on in both control sets and by policy, a jumbo MTU on one interface.
#[cfg(test)]
pub mod testutil {
    use super::*;
    use crate::facts::winreg::{
        FIREWALL_GPO, FIREWALL_POLICY, FIREWALL_PROFILES, NET_CLASS, TCPIP_INTERFACES,
    };
    use crate::guest::memfs::MemFs;
    use crate::guest::registry::MemHive;

    pub const NIC: &str = "{5A3C9E12-7B41-4C2A-9F0E-1D2B3C4D5E6F}";
    pub const NIC2: &str = "{8E1F2A3B-4C5D-4E6F-8A9B-0C1D2E3F4A5B}";
    pub const SYSTEM: &str = "/Windows/System32/config/SYSTEM";
    pub const SOFTWARE: &str = "/Windows/System32/config/SOFTWARE";

    pub fn guest() -> (MemFs, crate::facts::OsInfo) {
        let mut system = MemHive::new()
            .with("Select", "Current", RegValue::Dword(1))
            .with("Select", "Default", RegValue::Dword(1))
            .with("Select", "LastKnownGood", RegValue::Dword(2))
            .with("Setup", "SetupType", RegValue::Dword(0))
            .with("Setup", "CmdLine", RegValue::Sz(String::new()));
        for cs in ["ControlSet001", "ControlSet002"] {
            for p in FIREWALL_PROFILES {
                system = system.with(
                    &format!("{cs}\\{FIREWALL_POLICY}\\{p}"),
                    "EnableFirewall",
                    RegValue::Dword(1),
                );
            }
            system = system
                .with(
                    &format!("{cs}\\{TCPIP_INTERFACES}\\{NIC}"),
                    "MTU",
                    RegValue::Dword(9000),
                )
                .with(
                    &format!("{cs}\\{TCPIP_INTERFACES}\\{NIC2}"),
                    "MTU",
                    RegValue::Dword(1400),
                )
                .with(
                    &format!("{cs}\\{TCPIP_INTERFACES}\\{NIC}"),
                    "DhcpIPAddress",
                    RegValue::Sz("10.0.2.15".into()),
                )
                .with(
                    &format!("{cs}\\{TCPIP_INTERFACES}\\{NIC}"),
                    "Lease",
                    RegValue::Dword(86400),
                )
                .with(
                    &format!("{cs}\\{NET_CLASS}\\{NIC}\\Connection"),
                    "Name",
                    RegValue::Sz("以太网".into()),
                );
        }
        let software = MemHive::new()
            .with(
                CURRENT_VERSION,
                "ProductName",
                RegValue::Sz("Windows Server 2012 R2 Standard".into()),
            )
            .with(
                CURRENT_VERSION,
                "CurrentVersion",
                RegValue::Sz("6.3".into()),
            )
            .with(
                &format!("{FIREWALL_GPO}\\DomainProfile"),
                "EnableFirewall",
                RegValue::Dword(1),
            )
            .with(
                &format!("{FIREWALL_GPO}\\StandardProfile"),
                "DisableNotifications",
                RegValue::Dword(1),
            );
        let fs = MemFs::new()
            .hive_file(SOFTWARE, software)
            .hive_file(SYSTEM, system);
        let r = read(&fs, "/Windows").expect("read");
        let os = crate::facts::OsInfo {
            os_type: crate::facts::OsFamily::Windows,
            distro: "windows".into(),
            major_version: r.major,
            minor_version: r.minor,
            product_name: r.product_name,
            windows: Some(r.info),
            ..Default::default()
        };
        (fs, os)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::memfs::MemFs;
    use crate::guest::registry::{MemHive, REG_BINARY};

    fn pe(machine: u16) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[0..2].copy_from_slice(b"MZ");
        b[0x3C..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        b[0x84..0x86].copy_from_slice(&machine.to_le_bytes());
        b
    }

    pub fn win2012r2() -> MemFs {
        let mut mounted = vec![0x4d, 0x3c, 0x2b, 0x1a];
        mounted.extend((33u64 << 20).to_le_bytes());
        let software = MemHive::new()
            .with(
                CURRENT_VERSION,
                "ProductName",
                RegValue::Sz("Windows Server 2012 R2 Standard".into()),
            )
            .with(
                CURRENT_VERSION,
                "CurrentVersion",
                RegValue::Sz("6.3".into()),
            )
            .with(
                CURRENT_VERSION,
                "CurrentBuildNumber",
                RegValue::Sz("9600".into()),
            )
            .with(
                CURRENT_VERSION,
                "EditionID",
                RegValue::Sz("ServerStandard".into()),
            )
            .with(
                CURRENT_VERSION,
                "InstallationType",
                RegValue::Sz("Server".into()),
            )
            .with(
                "Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\7-Zip",
                "DisplayName",
                RegValue::Sz("7-Zip 9.20".into()),
            );
        let system = MemHive::new()
            .with("Select", "Current", RegValue::Dword(1))
            .with("Select", "Default", RegValue::Dword(1))
            .with("Select", "LastKnownGood", RegValue::Dword(2))
            .with(
                "ControlSet001\\Control\\ComputerName\\ComputerName",
                "ComputerName",
                RegValue::Sz("WIN-2012R2".into()),
            )
            .with(
                "ControlSet002\\Control\\ComputerName\\ComputerName",
                "ComputerName",
                RegValue::Sz("OLD".into()),
            )
            .with(
                "MountedDevices",
                "\\DosDevices\\C:",
                RegValue::Raw(REG_BINARY, mounted),
            );
        MemFs::new()
            .bytes("/Windows/System32/cmd.exe", &pe(0x8664))
            .hive_file("/Windows/System32/config/SOFTWARE", software)
            .hive_file("/Windows/System32/config/SYSTEM", system)
    }

    #[test]
    fn a_windows_root_reads_as_libguestfs_names_it() {
        let fs = win2012r2();
        let r = read(&fs, "/Windows").unwrap();
        assert_eq!(r.product_name, "Windows Server 2012 R2 Standard");
        assert_eq!((r.major, r.minor), (6, 3));
        assert_eq!(r.arch, "x86_64");
        assert_eq!(r.hostname, "WIN-2012R2");
        assert_eq!(r.info.build, "9600");
        assert_eq!(r.info.edition, "ServerStandard");
        assert_eq!(r.info.installation_type, "Server");
        assert_eq!(r.info.current_control_set, "ControlSet001");
        assert_eq!(r.info.control_sets, ["ControlSet001", "ControlSet002"]);
        assert_eq!(
            r.info.drives,
            [Drive {
                letter: "C".into(),
                kind: "mbr".into(),
                location: format!("1a2b3c4d@{}", 33u64 << 20),
                device: None,
            }]
        );
        // The partition whose disk signature and start byte match is C:.
        let mut drives = r.info.drives.clone();
        let part = |dev: &str, sig: u32, start: u64| PartitionId {
            device: dev.into(),
            mbr: Some((sig, start)),
            gpt_guid: None,
        };
        map_drives(
            &mut drives,
            &[
                part("/dev/sda1", 0x1a2b3c4d, 1 << 20),
                part("/dev/sdb1", 0x0badf00d, 33 << 20),
                part("/dev/sda2", 0x1a2b3c4d, 33 << 20),
            ],
        );
        assert_eq!(drives[0].device.as_deref(), Some("/dev/sda2"));
        map_drives(&mut drives, &[part("/dev/sda1", 0x1a2b3c4d, 1 << 20)]);
        assert_eq!(drives[0].device, None, "no partition there");
        // A GPT drive by its partition GUID, which libguestfs gives in upper case.
        let mut gpt = vec![drive(
            "D",
            &RegValue::Raw(
                REG_BINARY,
                [
                    b"DMIO:ID:".as_slice(),
                    &[
                        0x78, 0x56, 0x34, 0x12, 0xbc, 0x9a, 0xf0, 0xde, 1, 2, 3, 4, 5, 6, 7, 8,
                    ],
                ]
                .concat(),
            ),
        )];
        assert_eq!(gpt[0].location, "12345678-9abc-def0-0102-030405060708");
        map_drives(
            &mut gpt,
            &[PartitionId {
                device: "/dev/sdb2".into(),
                mbr: None,
                gpt_guid: Some("12345678-9ABC-DEF0-0102-030405060708".into()),
            }],
        );
        assert_eq!(gpt[0].device.as_deref(), Some("/dev/sdb2"));
        assert_eq!(r.info.applications.len(), 1);
        assert_eq!(r.info.applications[0].view, "32-bit");
        assert_eq!(r.info.applications[0].display_name, "7-Zip 9.20");
    }

    #[test]
    fn windows_10_numbers_win_over_current_version() {
        let fs = MemFs::new()
            .hive_file(
                "/Windows/System32/config/SOFTWARE",
                MemHive::new()
                    .with(
                        CURRENT_VERSION,
                        "CurrentVersion",
                        RegValue::Sz("6.3".into()),
                    )
                    .with(
                        CURRENT_VERSION,
                        "CurrentMajorVersionNumber",
                        RegValue::Dword(10),
                    )
                    .with(
                        CURRENT_VERSION,
                        "CurrentMinorVersionNumber",
                        RegValue::Dword(0),
                    ),
            )
            .hive_file("/Windows/System32/config/SYSTEM", MemHive::new());
        let r = read(&fs, "/Windows").unwrap();
        assert_eq!((r.major, r.minor), (10, 0));
        // No cmd.exe, no Select: unknown, not an error.
        assert_eq!(r.arch, "unknown");
        assert!(r.info.control_sets.is_empty());
    }

    #[test]
    fn pe_headers_name_their_machine_and_garbage_is_unknown() {
        assert_eq!(pe_arch(&pe(0x014C)), "i386");
        assert_eq!(pe_arch(&pe(0xAA64)), "aarch64");
        assert_eq!(pe_arch(b"MZ"), "unknown");
        let mut far = pe(0x8664);
        far[0x3C..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(pe_arch(&far), "unknown");
        assert_eq!(pe_arch(b"\x7fELF"), "unknown");
    }

    #[test]
    fn a_hibernation_signature_is_named_and_a_cleared_file_is_not() {
        let fs = MemFs::new().file("/hiberfil.sys", "HIBR saved session");
        assert!(hibernated(&fs).unwrap().unwrap().contains("hibernated"));
        let fs = MemFs::new().bytes("/HIBERFIL.SYS", &[0u8; 16]);
        assert_eq!(hibernated(&fs).unwrap(), None);
        assert_eq!(hibernated(&MemFs::new()).unwrap(), None);
    }

    #[test]
    fn a_missing_hive_is_an_error_naming_it() {
        let fs = MemFs::new().dir("/Windows/System32/config");
        let e = read(&fs, "/Windows").unwrap_err().to_string();
        assert!(e.contains("no SOFTWARE hive"), "{e}");
    }
}
