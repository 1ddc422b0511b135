//! The boot test (rule R9's "shut down and booted once", and the proof that cloud-init runs
//! as R4/R5 ask, no firewall comes up (R2) and the MTU is DHCP's (R3)): the image booted
//! under qemu over a throwaway overlay, with a NoCloud seed whose user-data makes the guest
//! report on its second serial port and power off; imgseal judges the report, or names why
//! none came from the console and firmware logs.
//!
//! ```text
//!  seed.rs     the NoCloud seed (cidata): user-data running report.py, power_state
//!  report.py   the guest side: cloud-init, firewalls, MTU, reboot flag, failed units
//!  machine.rs  qemu (the guest's own boot loader, virtio), the logs watched while it runs
//!  judge.rs    the report parsed, failures named, the judgements
//! ```
//!
//! The image is only ever the overlay's read-only backing file: its bytes do not change.

pub mod judge;
pub mod machine;
pub mod seed;

use crate::cmd::Cmd;
use crate::guest::kvm_record;
use crate::guest::launch::{Accel, AccelMode};
use crate::ui::Reporter;
use anyhow::{Context, Result, bail};
use judge::{Failure, FailureKind, GuestReport, Judgement, ReportState};
use machine::{Files, Firmware, Machine};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default timeout: a Debian guest boots, runs cloud-init and powers off in 1–3 minutes
/// under TCG.
pub const DEFAULT_TIMEOUT_S: u64 = 600;

/// `--firmware`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum FirmwareChoice {
    /// UEFI when the image has an EFI system partition and OVMF is installed, else BIOS.
    #[default]
    Auto,
    Bios,
    Uefi,
}

/// How to boot (from the command line; the same for every image of a batch).
#[derive(Debug, Clone)]
pub struct Settings {
    pub timeout_s: u64,
    pub firmware: FirmwareChoice,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout_s: DEFAULT_TIMEOUT_S,
            firmware: FirmwareChoice::Auto,
        }
    }
}

/// The result, as `boot-test --json` prints it and the manifest's `boot_test` keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BootTest {
    pub passed: bool,
    pub accel: String,
    pub firmware: Firmware,
    /// Wall time of the boot, seconds.
    pub seconds: f64,
    /// When the guest's report arrived, seconds after qemu started.
    pub report_after_s: Option<f64>,
    /// The guest powered itself off within the timeout.
    pub powered_off: bool,
    pub timeout_s: u64,
    pub judgements: Vec<Judgement>,
    /// Why the guest did not report, when it did not.
    pub failure: Option<Failure>,
    /// What the report says that no judgement fails on.
    #[serde(default)]
    pub notes: Vec<String>,
    pub report: Option<GuestReport>,
    /// The kept console log.
    pub log: String,
    /// The console's last lines (the firmware's when the console is silent), when it failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub console_tail: Vec<String>,
}

impl BootTest {
    /// The failing judgements, `id (detail)`.
    pub fn failing(&self) -> Vec<String> {
        self.judgements
            .iter()
            .filter(|j| !j.passed)
            .map(|j| format!("{}: {}", j.id, j.detail))
            .collect()
    }

    /// One line: `passed (tcg, bios, 70 s)` or `failed: firewall, mtu`.
    pub fn summary(&self) -> String {
        let how = format!(
            "{}, {}, {:.0} s",
            self.accel,
            self.firmware.as_str(),
            self.seconds
        );
        if self.passed {
            format!("passed ({how})")
        } else {
            let ids: Vec<&str> = self
                .judgements
                .iter()
                .filter(|j| !j.passed)
                .map(|j| j.id.as_str())
                .collect();
            match &self.failure {
                Some(f) => format!("failed: {} ({how})", f.kind.as_str()),
                None => format!("failed: {} ({how})", ids.join(", ")),
            }
        }
    }
}

/// The vendor's cloud-init version for the guest the report describes, or why it is not
/// known.
pub type Expectation<'a> = &'a dyn Fn(&GuestReport) -> std::result::Result<String, String>;

/// The expectation from a vendor directory, by the OS the guest reports.
pub fn vendor_expectation(
    vendor: &std::result::Result<crate::vendor::Vendor, String>,
    r: &GuestReport,
) -> std::result::Result<String, String> {
    let v = vendor.as_ref().map_err(|e| e.clone())?;
    let os = report_os(r);
    v.find("cloud-init", &os)
        .and_then(|p| p.expected_version())
        .ok_or_else(|| {
            format!(
                "{} names no cloud-init for {} {}",
                v.manifest_path().display(),
                r.os.id,
                r.os.version_id
            )
        })
}

/// The report's os-release as imgseal's OS facts (what vendor.toml matches on).
fn report_os(r: &GuestReport) -> crate::facts::OsInfo {
    let mut parts = r.os.version_id.split('.');
    let num = |p: Option<&str>| p.and_then(|s| s.parse().ok()).unwrap_or(0);
    crate::facts::OsInfo {
        distro: r.os.id.clone(),
        major_version: num(parts.next()),
        minor_version: num(parts.next()),
        ..Default::default()
    }
}

/// Boots `image` (of `format`, never probed) once and judges it; the console log goes to
/// `log`. Err when the boot test could not run (qemu, the seed, the overlay).
pub fn run(
    image: &Path,
    format: &str,
    s: &Settings,
    expect: Expectation,
    log: &Path,
    rep: &dyn Reporter,
) -> Result<BootTest> {
    if s.timeout_s == 0 {
        bail!("--timeout must be at least 1 second");
    }
    let image = std::fs::canonicalize(image)
        .with_context(|| format!("{}: cannot open the image", image.display()))?;
    // The log is claimed first: a log that cannot be written is refused before a boot.
    std::fs::write(log, format!("# imgseal boot test of {}\n", image.display())).with_context(
        || {
            format!(
                "{}: cannot write the boot log (use --log FILE)",
                log.display()
            )
        },
    )?;
    let r = boot_and_judge(&image, format, s, expect, log, rep);
    if r.is_err() {
        // Nothing half-written stays behind: the log is only kept for a boot that ran.
        let _ = std::fs::remove_file(log);
    }
    r
}

fn boot_and_judge(
    image: &Path,
    format: &str,
    s: &Settings,
    expect: Expectation,
    log: &Path,
    rep: &dyn Reporter,
) -> Result<BootTest> {
    let work = crate::image::Workdir::new()?;
    let mut files = Files::in_dir(work.path());
    rep.stage(
        "boot-test",
        &format!("overlay and NoCloud seed for {}", image.display()),
    );
    Cmd::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", format, "-b"])
        .arg(image)
        .arg(&files.overlay)
        .output()
        .with_context(|| format!("creating a throwaway overlay over {}", image.display()))?;
    let firmware = choose_firmware(s.firmware, &files.overlay, work.path(), rep)?;
    if firmware == Firmware::Uefi {
        let (code, vars) = machine::ovmf().context(
            "--firmware uefi needs OVMF (apt install ovmf, or run scripts/install-deps.sh)",
        )?;
        let copy = work.path().join("OVMF_VARS.fd");
        std::fs::copy(&vars, &copy).with_context(|| format!("copying {}", vars.display()))?;
        files.ovmf = Some((code, copy));
    }
    let instance = format!(
        "imgseal-boot-test-{}-{}",
        std::process::id(),
        kvm_record::now()
    );
    seed::build(&files.seed, &instance)?;
    let mode = AccelMode::from_env()?;
    let located = (mode == AccelMode::Auto && Path::new("/dev/kvm").exists())
        .then(|| kvm_record::locate().ok())
        .flatten();
    let remembered = located
        .as_ref()
        .and_then(|(d, k)| kvm_record::remembered(d, k, kvm_record::now()));
    let accel = match mode {
        AccelMode::Kvm => Accel::Kvm,
        AccelMode::Tcg => Accel::Tcg,
        AccelMode::Auto if located.is_none() || remembered.is_some() => {
            if let Some(r) = &remembered {
                rep.note(&format!(
                    "KVM failed on this host {} ago ({}); booting under TCG (slower; IMGSEAL_ACCEL=kvm tries KVM)",
                    kvm_record::ago(kvm_record::now().saturating_sub(r.failed_at)),
                    r.reason
                ));
            }
            Accel::Tcg
        }
        AccelMode::Auto => Accel::Kvm,
    };
    let timeout = Duration::from_secs(s.timeout_s);
    let mut m = Machine {
        accel,
        firmware,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get().min(2) as u32),
        mem_mib: 1024,
    };
    rep.stage(
        "boot-test",
        &format!(
            "booting under {} ({}), timeout {} s",
            m.accel.name(),
            firmware.as_str(),
            s.timeout_s
        ),
    );
    let mut r = machine::boot(&m, &files, timeout, rep)?;
    if machine::kvm_failed(&r) && mode == AccelMode::Auto {
        let reason = crate::cmd::stderr_tail(r.qemu_log.as_bytes());
        rep.note(&format!(
            "KVM boot failed ({reason}); booting under TCG (slower)"
        ));
        if let Some((d, k)) = &located {
            let _ = kvm_record::remember(d, k, &reason, kvm_record::now());
        }
        m.accel = Accel::Tcg;
        r = machine::boot(&m, &files, timeout, rep)?;
    }
    if matches!(r.exited, Some(c) if c != 0) && r.console.is_empty() && r.firmware.is_empty() {
        bail!(
            "qemu could not start the guest: {}",
            crate::cmd::stderr_tail(r.qemu_log.as_bytes())
        );
    }
    let bt = assess(&r, firmware, expect, s.timeout_s, log);
    write_log(log, image, &r, &bt)?;
    work.close()?;
    Ok(bt)
}

/// `--firmware auto`: UEFI when the disk has an EFI system partition and OVMF is installed.
fn choose_firmware(
    c: FirmwareChoice,
    overlay: &Path,
    work: &Path,
    rep: &dyn Reporter,
) -> Result<Firmware> {
    match c {
        FirmwareChoice::Bios => return Ok(Firmware::Bios),
        FirmwareChoice::Uefi => return Ok(Firmware::Uefi),
        FirmwareChoice::Auto => {}
    }
    let export = crate::image::nbd::NbdExport::start(overlay, "qcow2", work, "head", true)?;
    let mut head = vec![0u8; 64 << 10];
    let n = export.connect()?.read_at(0, &mut head)?;
    export.close()?;
    if !machine::has_esp(&head[..n]) {
        return Ok(Firmware::Bios);
    }
    if machine::ovmf().is_some() {
        Ok(Firmware::Uefi)
    } else {
        rep.note(
            "the image has an EFI system partition but OVMF is not installed (apt install ovmf): booting with BIOS",
        );
        Ok(Firmware::Bios)
    }
}

/// The judgements on a run.
pub fn assess(
    r: &machine::Run,
    firmware: Firmware,
    expect: Expectation,
    timeout_s: u64,
    log: &Path,
) -> BootTest {
    let state = judge::parse_report(&r.report);
    let powered_off = r.exited == Some(0) && !r.timed_out;
    let (judgements, failure, report, notes) = match state {
        ReportState::Complete(g) => {
            let want = expect(&g);
            let j = judge::judge(
                &g,
                &judge::Expect { cloud_init: want },
                powered_off,
                timeout_s,
            );
            let n = judge::notes(&g);
            (j, None, Some(*g), n)
        }
        other => {
            let f = r.fatal.clone().unwrap_or_else(|| {
                judge::no_report(&r.console, &r.firmware, &other, r.timed_out, timeout_s)
            });
            let booted = matches!(
                f.kind,
                FailureKind::CloudInitNotReached | FailureKind::ReportIncomplete
            );
            let mut j = vec![Judgement {
                id: "booted".into(),
                rule: "R9".into(),
                passed: booted,
                detail: if booted {
                    "kernel and init reached".into()
                } else {
                    f.message.clone()
                },
            }];
            if booted {
                j.push(Judgement {
                    id: "cloud-init-datasource".into(),
                    rule: "R4/R5".into(),
                    passed: false,
                    detail: f.message.clone(),
                });
            }
            (j, Some(f), None, vec![])
        }
    };
    let passed = failure.is_none() && judgements.iter().all(|j| j.passed);
    let console_tail = if passed {
        vec![]
    } else if judge::strip_escapes(&r.console).trim().is_empty() {
        judge::tail(&r.firmware, 12)
    } else {
        judge::tail(&r.console, 20)
    };
    BootTest {
        passed,
        accel: r.accel.name().into(),
        firmware,
        seconds: (r.seconds * 10.0).round() / 10.0,
        report_after_s: r.report_at.map(|s| (s * 10.0).round() / 10.0),
        powered_off: powered_off && report.is_some(),
        timeout_s,
        judgements,
        failure,
        notes,
        report,
        log: log.to_string_lossy().into_owned(),
        console_tail,
    }
}

/// The kept log: the console as the guest wrote it, then the report channel, the firmware's
/// debug port and qemu's own messages.
fn write_log(log: &Path, image: &Path, r: &machine::Run, bt: &BootTest) -> Result<()> {
    let mut text = format!(
        "# imgseal boot test of {}\n# {}; qemu {}\n",
        image.display(),
        bt.summary(),
        match r.exited {
            Some(c) => format!("exited with {c}"),
            None if r.timed_out => format!("killed at the {} s timeout", bt.timeout_s),
            None => "stopped by imgseal after a fatal line".into(),
        }
    );
    for (name, body) in [
        ("serial console (ttyS0)", &r.console),
        ("report channel (ttyS1)", &r.report),
        ("firmware debug port (0x402)", &r.firmware),
        ("qemu", &r.qemu_log),
    ] {
        text.push_str(&format!("\n===== {name} =====\n"));
        text.push_str(body);
        if !body.ends_with('\n') {
            text.push('\n');
        }
    }
    crate::seal::write_atomic(log, text.as_bytes())
}

/// The human form of a result.
pub fn render(image: &str, bt: &BootTest) -> String {
    let mut s = format!("{image}: boot test {}\n", bt.summary());
    if let Some(at) = bt.report_after_s {
        s.push_str(&format!("  report after {at:.0} s\n"));
    }
    for j in &bt.judgements {
        s.push_str(&format!(
            "  {:<4} {:<6} {:<22} {}\n",
            if j.passed { "ok" } else { "FAIL" },
            j.rule,
            j.id,
            j.detail
        ));
    }
    for n in &bt.notes {
        s.push_str(&format!("  note: {n}\n"));
    }
    if !bt.console_tail.is_empty() {
        s.push_str("console (last lines):\n");
        for l in &bt.console_tail {
            s.push_str(&format!("  | {l}\n"));
        }
    }
    s.push_str(&format!("log: {}\n", bt.log));
    s
}

/// Where the log goes by default: beside the image.
pub fn default_log(image: &Path) -> PathBuf {
    let mut p = image.as_os_str().to_owned();
    p.push(".boot.log");
    PathBuf::from(p)
}
