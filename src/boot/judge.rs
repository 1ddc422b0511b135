//! What a boot showed: the guest's report (read from its own serial port), the failure the
//! console and firmware logs name when no report came, and the judgements on both.
//! Everything here is pure text in, values out: the unit tests feed it recorded logs.

use crate::rule::{RuleId, RuleTag};
use serde::{Deserialize, Serialize};

/// The marker lines around the guest's one-line JSON report (see `report.py`).
pub const BEGIN: &str = "IMGSEAL-BOOT-REPORT-BEGIN";
pub const END: &str = "IMGSEAL-BOOT-REPORT-END";
/// Printed instead when the guest has no Python to run the report with.
pub const NO_PYTHON: &str = "IMGSEAL-BOOT-REPORT-NO-PYTHON";

/// The MTU a NIC on qemu's user network has when nothing in the guest pins one: its DHCP
/// server offers no MTU option, so the link keeps Ethernet's default.
pub const DHCP_MTU: u32 = 1500;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct GuestReport {
    pub os: ReportOs,
    pub kernel: String,
    pub uptime_s: Option<f64>,
    pub cloud_init: ReportCloudInit,
    pub firewalls: Vec<ActiveFirewall>,
    pub network: ReportNetwork,
    pub reboot: ReportReboot,
    /// None when systemctl could not say (not a systemd guest).
    pub failed_units: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ReportOs {
    pub id: String,
    pub version_id: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ReportCloudInit {
    /// `cloud-init --version`.
    pub version: Option<String>,
    /// The package database's version (dpkg or rpm).
    pub package_version: Option<String>,
    /// The datasource cloud-init used (`DataSourceNoCloud [seed=/dev/vdb][dsmode=net]`).
    pub datasource: Option<String>,
    /// Errors cloud-init recorded in its stages so far.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ActiveFirewall {
    pub name: String,
    pub detail: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ReportNetwork {
    /// The NIC of the default route (else the first one).
    pub primary: Option<String>,
    pub nics: Vec<Nic>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Nic {
    pub name: String,
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ReportReboot {
    pub required: bool,
    pub why: String,
}

/// What the report channel held at the end.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportState {
    /// Nothing from the report script.
    Missing,
    /// The script ran but the guest has no Python.
    NoPython,
    /// A begin marker without its end, or a report that does not parse.
    Broken(String),
    Complete(Box<GuestReport>),
}

/// Reads the report channel's text.
pub fn parse_report(channel: &str) -> ReportState {
    let Some(start) = channel.rfind(BEGIN) else {
        return if channel.contains(NO_PYTHON) {
            ReportState::NoPython
        } else {
            ReportState::Missing
        };
    };
    let body = &channel[start + BEGIN.len()..];
    let Some(end) = body.find(END) else {
        return ReportState::Broken(format!(
            "the report was cut off after {} bytes (no {END} line)",
            body.trim().len()
        ));
    };
    match serde_json::from_str::<GuestReport>(body[..end].trim()) {
        Ok(r) => ReportState::Complete(Box::new(r)),
        Err(e) => ReportState::Broken(format!("the report does not parse: {e}")),
    }
}

/// Why a guest did not report, as the logs show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    NoBootLoader,
    NoKernel,
    KernelPanic,
    RootNotFound,
    EmergencyMode,
    CloudInitNotReached,
    ReportIncomplete,
    Stopped,
    Timeout,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::NoBootLoader => "no-boot-loader",
            FailureKind::NoKernel => "no-kernel",
            FailureKind::KernelPanic => "kernel-panic",
            FailureKind::RootNotFound => "root-not-found",
            FailureKind::EmergencyMode => "emergency-mode",
            FailureKind::CloudInitNotReached => "cloud-init-not-reached",
            FailureKind::ReportIncomplete => "report-incomplete",
            FailureKind::Stopped => "stopped",
            FailureKind::Timeout => "timeout",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

/// A log line that settles the boot: the firmware found nothing to boot, the boot loader
/// found no kernel, the kernel panicked, the initramfs gave up on the root filesystem, or
/// init went to emergency mode. Such a guest never gets further, so the run stops at once
/// (after a moment for the lines that follow).
pub fn fatal(console: &str, firmware: &str) -> Option<Failure> {
    fn fw(firmware: &str, needles: &[&'static str]) -> Option<&'static str> {
        needles.iter().find(|n| firmware.contains(**n)).copied()
    }
    let con = |needles: &[&str]| {
        needles
            .iter()
            .find_map(|n| console.find(n).map(|at| (at, *n)))
            .map(|(at, _)| line_at(console, at))
    };
    if let Some(m) = fw(
        firmware,
        &[
            "No bootable device",
            "Boot failed: not a bootable disk",
            "Boot failed: could not read the boot disk",
            "No bootable option or device was found",
        ],
    ) {
        return Some(Failure {
            kind: FailureKind::NoBootLoader,
            message: format!(
                "no boot loader: the firmware found nothing to boot on the disk (\"{m}\"); the \
                 MBR or the EFI system partition lacks a boot loader (reinstall GRUB: \
                 grub-install on the disk, then update-grub)"
            ),
        });
    }
    if let Some(l) = con(&[
        "grub rescue>",
        "error: unknown filesystem.",
        "error: no such partition.",
    ]) {
        return Some(Failure {
            kind: FailureKind::NoBootLoader,
            message: format!(
                "no boot loader: GRUB started but cannot find its own files (\"{l}\"); reinstall \
                 it (grub-install, update-grub)"
            ),
        });
    }
    if let Some(l) = con(&["VFS: Unable to mount root fs"]) {
        return Some(Failure {
            kind: FailureKind::RootNotFound,
            message: format!(
                "root not found: the kernel cannot mount the root filesystem (\"{l}\"); check \
                 root= on the kernel command line and that the initramfs has the disk's driver"
            ),
        });
    }
    if let Some(l) = con(&["Kernel panic - not syncing"]) {
        return Some(Failure {
            kind: FailureKind::KernelPanic,
            message: format!("kernel panic: \"{l}\""),
        });
    }
    if let Some(l) = con(&[
        "Gave up waiting for root",
        "does not exist.  Dropping to a shell",
        "does not exist. Dropping to a shell",
        "Could not boot.",
        "Cannot find root device",
    ]) {
        return Some(Failure {
            kind: FailureKind::RootNotFound,
            message: format!(
                "root not found: the initramfs gave up waiting for the root filesystem (\"{l}\"); \
                 check root= on the kernel command line (a UUID that no disk has) and the \
                 initramfs's disk drivers (virtio_blk)"
            ),
        });
    }
    if let Some(l) = con(&[
        "error: file `/boot/vmlinuz",
        "error: file `/vmlinuz",
        "error: file '/boot/vmlinuz",
        "error: file '/vmlinuz",
        "you need to load the kernel first",
    ]) {
        return Some(Failure {
            kind: FailureKind::NoKernel,
            message: format!(
                "no kernel found: the boot loader's entry names a kernel that is not there \
                 (\"{l}\"); run update-grub in the guest"
            ),
        });
    }
    if let Some(l) = con(&[
        "You are in emergency mode",
        "Give root password for maintenance",
        "Entering emergency mode",
    ]) {
        return Some(Failure {
            kind: FailureKind::EmergencyMode,
            message: format!(
                "emergency mode: the guest booted but init stopped in emergency mode (\"{l}\"); \
                 usually an /etc/fstab entry that cannot be mounted"
            ),
        });
    }
    None
}

/// Why no report came, when no fatal line settled it: how far the console shows the boot
/// got.
pub fn no_report(
    console: &str,
    firmware: &str,
    report: &ReportState,
    timed_out: bool,
    timeout_s: u64,
) -> Failure {
    if let Some(f) = fatal(console, firmware) {
        return f;
    }
    match report {
        ReportState::Broken(why) => {
            return Failure {
                kind: FailureKind::ReportIncomplete,
                message: format!("cloud-init ran the report, but {why}"),
            };
        }
        ReportState::NoPython => {
            return Failure {
                kind: FailureKind::ReportIncomplete,
                message: "cloud-init ran the seed's commands, but the guest has no python3 or \
                          python to write the report with"
                    .into(),
            };
        }
        _ => {}
    }
    let kernel = console.contains("Linux version");
    let init = [
        "systemd[1]:",
        "Welcome to ",
        "Run /init as init process",
        "INIT: version",
        "login:",
    ]
    .iter()
    .any(|n| console.contains(n));
    let cloud_init = console.contains("Cloud-init v.") || console.contains("cloud-init[");
    let how = if timed_out {
        format!("within {timeout_s} s")
    } else {
        "before the guest stopped (it rebooted or powered off)".to_string()
    };
    if cloud_init {
        return Failure {
            kind: FailureKind::CloudInitNotReached,
            message: format!(
                "cloud-init started but never ran the seed's user-data {how}: it did not use \
                 the NoCloud seed (label cidata), or stopped before its final stage"
            ),
        };
    }
    if kernel || init {
        return Failure {
            kind: FailureKind::CloudInitNotReached,
            message: format!(
                "the guest booted (kernel{}) but cloud-init did not start {how}: is it \
                 installed and enabled?",
                if init { " and init" } else { "" }
            ),
        };
    }
    let loader = firmware.contains("Booting from") || console.contains("GNU GRUB");
    let kind = if timed_out {
        FailureKind::Timeout
    } else {
        FailureKind::Stopped
    };
    let message = if loader {
        format!(
            "nothing reached the serial console {how} after the firmware started the boot \
             loader: the kernel does not log to ttyS0 (console=ttyS0) or hung early"
        )
    } else {
        format!("nothing on the serial console or from the firmware {how}")
    };
    Failure { kind, message }
}

/// The line of `text` holding byte `at`, trimmed, at most 160 characters.
fn line_at(text: &str, at: usize) -> String {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    text[start..end].trim().chars().take(160).collect()
}

/// One verdict of the boot test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    pub id: String,
    pub rule: String,
    pub passed: bool,
    pub detail: String,
}

fn judgement(id: &str, rule: impl Into<RuleTag>, passed: bool, detail: String) -> Judgement {
    Judgement {
        id: id.into(),
        rule: rule.into().to_string(),
        passed,
        detail,
    }
}

/// What the guest should show.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The vendor's cloud-init version for this guest, as its package database names it;
    /// Err says why it is not known.
    pub cloud_init: Result<String, String>,
}

/// The judgements on a complete report; `powered_off` is whether the guest powered itself
/// off within the timeout.
pub fn judge(
    r: &GuestReport,
    expect: &Expect,
    powered_off: bool,
    timeout_s: u64,
) -> Vec<Judgement> {
    let mut j = vec![judgement(
        "booted",
        RuleId::R9,
        true,
        format!(
            "kernel {} and init reached; cloud-init ran the report{}",
            if r.kernel.is_empty() { "?" } else { &r.kernel },
            r.uptime_s
                .map(|u| format!(" {u:.0} s after the kernel started"))
                .unwrap_or_default()
        ),
    )];
    let ds = r.cloud_init.datasource.clone().unwrap_or_default();
    j.push(judgement(
        "cloud-init-datasource",
        RuleTag::R4_R5,
        ds.contains("NoCloud"),
        if ds.is_empty() {
            "cloud-init named no datasource".into()
        } else if ds.contains("NoCloud") {
            format!("cloud-init ran from the NoCloud seed: {ds}")
        } else {
            format!("cloud-init ran from {ds}, not from the NoCloud seed")
        },
    ));
    let got = r.cloud_init.package_version.clone();
    j.push(match (&expect.cloud_init, got) {
        (_, None) => judgement(
            "cloud-init-vendor",
            RuleTag::R4_R5,
            false,
            format!(
                "the package database names no cloud-init (cloud-init --version: {})",
                r.cloud_init.version.as_deref().unwrap_or("none")
            ),
        ),
        (Ok(want), Some(got)) if *want == got => judgement(
            "cloud-init-vendor",
            RuleTag::R4_R5,
            true,
            format!("cloud-init {got}, the vendor's build"),
        ),
        (Ok(want), Some(got)) => judgement(
            "cloud-init-vendor",
            RuleTag::R4_R5,
            false,
            format!("cloud-init {got} runs, not the vendor's {want} (the distribution's?)"),
        ),
        (Err(why), Some(got)) => judgement(
            "cloud-init-vendor",
            RuleTag::R4_R5,
            false,
            format!("cloud-init {got} runs; the vendor's version is not known: {why}"),
        ),
    });
    j.push(if r.firewalls.is_empty() {
        judgement(
            "firewall",
            RuleId::R2,
            true,
            "no firewall active (ufw, firewalld, iptables, ip6tables, nftables)".into(),
        )
    } else {
        judgement(
            "firewall",
            RuleId::R2,
            false,
            format!(
                "firewall active: {}",
                r.firewalls
                    .iter()
                    .map(|f| format!("{} ({})", f.name, f.detail))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    });
    let primary = r.network.primary.as_deref();
    let nic = r
        .network
        .nics
        .iter()
        .find(|n| Some(n.name.as_str()) == primary)
        .or(r.network.nics.first());
    j.push(match nic {
        None => judgement(
            "mtu",
            RuleId::R3,
            false,
            "the guest has no network interface".into(),
        ),
        Some(n) => match n.mtu {
            Some(m) if m == DHCP_MTU => judgement(
                "mtu",
                RuleId::R3,
                true,
                format!(
                    "{} MTU {m}: not pinned (DHCP's; qemu's user network offers {DHCP_MTU})",
                    n.name
                ),
            ),
            Some(m) => judgement(
                "mtu",
                RuleId::R3,
                false,
                format!(
                    "{} MTU {m}: pinned in the guest (DHCP offered {DHCP_MTU})",
                    n.name
                ),
            ),
            None => judgement("mtu", RuleId::R3, false, format!("{}: MTU unknown", n.name)),
        },
    });
    j.push(judgement(
        "reboot-required",
        RuleId::R9,
        !r.reboot.required,
        if r.reboot.required {
            format!("a reboot is required: {}", r.reboot.why)
        } else {
            "no reboot required".into()
        },
    ));
    j.push(judgement(
        "powered-off",
        RuleId::R9,
        powered_off,
        if powered_off {
            "the guest powered itself off after its report".into()
        } else {
            format!("the guest did not power off within {timeout_s} s of the start")
        },
    ));
    j
}

/// What a complete report says that no judgement fails on: cloud-init's errors, failed units.
pub fn notes(r: &GuestReport) -> Vec<String> {
    let mut n = vec![];
    if !r.cloud_init.errors.is_empty() {
        n.push(format!(
            "cloud-init reported {} error(s): {}",
            r.cloud_init.errors.len(),
            r.cloud_init
                .errors
                .iter()
                .map(|e| e.chars().take(200).collect::<String>())
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if let Some(u) = &r.failed_units
        && !u.is_empty()
    {
        n.push(format!("failed systemd units: {}", u.join(", ")));
    }
    n
}

/// The last `n` non-empty lines of a console log, terminal escapes removed.
pub fn tail(console: &str, n: usize) -> Vec<String> {
    let clean = strip_escapes(console);
    let lines: Vec<String> = clean
        .lines()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// Removes ANSI escape sequences (GRUB's menu, systemd's colours) and other control bytes.
pub fn strip_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    // CSI: parameters, then one final byte in @..~
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => out.push('\n'),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONVERTED: &str = include_str!("../../tests/data/boot/debian12-converted.report.log");
    const VENDOR_STATE: &str =
        include_str!("../../tests/data/boot/debian12-vendor-state.report.log");
    const CONSOLE: &str = include_str!("../../tests/data/boot/debian12-converted.console.log");
    const VENDOR: &str = "22.4.2-1+deb12u4+jd1";

    fn complete(channel: &str) -> GuestReport {
        match parse_report(channel) {
            ReportState::Complete(r) => *r,
            other => panic!("not a complete report: {other:?}"),
        }
    }

    fn expect() -> Expect {
        Expect {
            cloud_init: Ok(VENDOR.into()),
        }
    }

    fn failing(j: &[Judgement]) -> Vec<&str> {
        j.iter()
            .filter(|j| !j.passed)
            .map(|j| j.id.as_str())
            .collect()
    }

    #[test]
    fn the_converted_fixtures_recorded_report_passes_every_judgement() {
        let r = complete(CONVERTED);
        assert_eq!(r.os.id, "debian");
        assert_eq!(r.cloud_init.package_version.as_deref(), Some(VENDOR));
        assert!(
            r.cloud_init
                .datasource
                .as_deref()
                .unwrap()
                .contains("NoCloud")
        );
        let j = judge(&r, &expect(), true, 600);
        assert_eq!(failing(&j), Vec::<&str>::new(), "{j:#?}");
        let ids: Vec<&str> = j.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "booted",
                "cloud-init-datasource",
                "cloud-init-vendor",
                "firewall",
                "mtu",
                "reboot-required",
                "powered-off"
            ]
        );
        // Every judgement names the rule it serves.
        assert!(j.iter().all(|j| j.rule.starts_with('R')));
        // What the guest said that no judgement fails on is kept.
        let n = notes(&r);
        assert!(
            n.iter().any(|n| n.contains("cloud-config.service")),
            "{n:?}"
        );
        // The same report without the power-off fails that judgement only.
        assert_eq!(failing(&judge(&r, &expect(), false, 600)), ["powered-off"]);
    }

    #[test]
    fn the_unconverted_fixtures_report_fails_firewall_mtu_and_the_vendor_build() {
        let r = complete(VENDOR_STATE);
        let j = judge(&r, &expect(), true, 600);
        assert_eq!(
            failing(&j),
            ["cloud-init-vendor", "firewall", "mtu"],
            "{j:#?}"
        );
        let detail = |id: &str| j.iter().find(|x| x.id == id).unwrap().detail.clone();
        assert!(detail("firewall").contains("ufw"), "{}", detail("firewall"));
        assert!(detail("mtu").contains("MTU 9000"), "{}", detail("mtu"));
        assert!(
            detail("cloud-init-vendor").contains("22.4.2-1+deb12u4 runs, not the vendor's"),
            "{}",
            detail("cloud-init-vendor")
        );
        // An unknown vendor version fails the judgement and says why.
        let unknown = Expect {
            cloud_init: Err("vendor.toml names no cloud-init for debian 12".into()),
        };
        let j = judge(&r, &unknown, true, 600);
        let v = j.iter().find(|x| x.id == "cloud-init-vendor").unwrap();
        assert!(
            !v.passed && v.detail.contains("names no cloud-init"),
            "{v:?}"
        );
    }

    #[test]
    fn a_truncated_or_garbled_report_is_named_not_guessed() {
        let cut = &CONVERTED[..CONVERTED.len() / 2];
        let state = parse_report(cut);
        assert!(
            matches!(&state, ReportState::Broken(w) if w.contains("cut off")),
            "{state:?}"
        );
        let f = no_report(CONSOLE, "", &state, true, 600);
        assert_eq!(f.kind, FailureKind::ReportIncomplete);
        let garbled = format!("{BEGIN}\n{{\"os\": [1,\n{END}\n");
        assert!(
            matches!(parse_report(&garbled), ReportState::Broken(w) if w.contains("does not parse"))
        );
        assert_eq!(parse_report(""), ReportState::Missing);
        assert_eq!(
            parse_report(&format!("{NO_PYTHON}\n")),
            ReportState::NoPython
        );
        let f = no_report(CONSOLE, "", &ReportState::NoPython, false, 600);
        assert_eq!(f.kind, FailureKind::ReportIncomplete);
        assert!(f.message.contains("no python3"), "{}", f.message);
        // Noise before the report (a second report wins: the last one is read).
        let twice = format!("garbage\n{}\n{}", VENDOR_STATE, CONVERTED);
        assert_eq!(complete(&twice), complete(CONVERTED));
    }

    #[test]
    fn a_healthy_console_is_not_fatal_and_without_a_report_cloud_init_is_blamed() {
        assert_eq!(fatal(CONSOLE, ""), None);
        let f = no_report(
            CONSOLE,
            "Booting from Hard Disk...",
            &ReportState::Missing,
            true,
            600,
        );
        assert_eq!(f.kind, FailureKind::CloudInitNotReached);
        assert!(f.message.contains("within 600 s"), "{}", f.message);
        // Kernel and init but no cloud-init line at all.
        let no_ci: String = CONSOLE
            .lines()
            .filter(|l| !l.contains("cloud-init"))
            .collect::<Vec<_>>()
            .join("\n");
        let f = no_report(&no_ci, "", &ReportState::Missing, false, 600);
        assert_eq!(f.kind, FailureKind::CloudInitNotReached);
        assert!(f.message.contains("did not start"), "{}", f.message);
    }

    #[test]
    fn each_way_a_boot_fails_has_its_own_name() {
        let fw_none =
            "Booting from Hard Disk...\nBoot failed: not a bootable disk\n\nNo bootable device.";
        let cases: &[(&str, &str, FailureKind)] = &[
            ("", fw_none, FailureKind::NoBootLoader),
            (
                "",
                "BdsDxe: No bootable option or device was found.",
                FailureKind::NoBootLoader,
            ),
            (
                "error: unknown filesystem.\nEntering rescue mode...\ngrub rescue> ",
                "",
                FailureKind::NoBootLoader,
            ),
            (
                "error: file `/boot/vmlinuz-6.1.0-50-amd64' not found.\nerror: you need to load the kernel first.\n",
                "",
                FailureKind::NoKernel,
            ),
            (
                "[    2.1] VFS: Unable to mount root fs on unknown-block(0,0)\n[    2.1] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n",
                "",
                FailureKind::RootNotFound,
            ),
            (
                "[    3.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\n",
                "",
                FailureKind::KernelPanic,
            ),
            (
                "Begin: Waiting for root file system ... done.\nGave up waiting for root file system device.  Common problems:\nALERT!  UUID=0b1c2d3e-0000-4000-8000-000000000000 does not exist.  Dropping to a shell!\n(initramfs) ",
                "",
                FailureKind::RootNotFound,
            ),
            (
                "[  OK  ] Reached target local-fs-pre.target\nYou are in emergency mode. After logging in, type \"journalctl -xb\"\n",
                "",
                FailureKind::EmergencyMode,
            ),
        ];
        for (console, firmware, kind) in cases {
            let f = fatal(console, firmware).unwrap_or_else(|| panic!("not fatal: {console:?}"));
            assert_eq!(f.kind, *kind, "{console:?} {firmware:?}: {}", f.message);
            assert!(!f.message.is_empty());
        }
        // Nothing at all: a timeout, or a guest that stopped (rebooted) by itself.
        assert_eq!(
            no_report("", "", &ReportState::Missing, true, 60).kind,
            FailureKind::Timeout
        );
        let f = no_report(
            "",
            "Booting from Hard Disk...",
            &ReportState::Missing,
            false,
            60,
        );
        assert_eq!(f.kind, FailureKind::Stopped);
        assert!(f.message.contains("console=ttyS0"), "{}", f.message);
    }

    #[test]
    fn the_tail_has_no_terminal_escapes() {
        let t = tail(
            "a\n\u{1b}[0;32m  OK  \u{1b}[0m] Reached\r\n\n\u{1b}[Hb\n",
            2,
        );
        assert_eq!(t, ["  OK  ] Reached", "b"]);
    }
}
