//! The boot itself: one qemu guest with the image's own boot loader (no direct kernel boot),
//! the disk as virtio-blk over a throwaway overlay, the seed as a second disk, virtio-net on
//! user networking, and three logs — the serial console (ttyS0), the report channel (ttyS1)
//! and the firmware's debug port. The logs are watched while it runs: a fatal line stops it
//! early, the report and a power-off end it, and the timeout kills it.

use super::judge::{self, Failure};
use crate::cmd::Cmd;
use crate::guest::launch::Accel;
use crate::ui::Reporter;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How the guest's firmware starts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Firmware {
    Bios,
    Uefi,
}

impl Firmware {
    pub fn as_str(self) -> &'static str {
        match self {
            Firmware::Bios => "bios",
            Firmware::Uefi => "uefi",
        }
    }
}

/// OVMF as Debian's `ovmf` package installs it: the code (read-only) and a template of the
/// variable store (copied per boot).
pub const OVMF: [(&str, &str); 2] = [
    (
        "/usr/share/OVMF/OVMF_CODE_4M.fd",
        "/usr/share/OVMF/OVMF_VARS_4M.fd",
    ),
    (
        "/usr/share/OVMF/OVMF_CODE.fd",
        "/usr/share/OVMF/OVMF_VARS.fd",
    ),
];

/// The installed OVMF, if any.
pub fn ovmf() -> Option<(PathBuf, PathBuf)> {
    OVMF.iter()
        .map(|(c, v)| (PathBuf::from(c), PathBuf::from(v)))
        .find(|(c, v)| c.is_file() && v.is_file())
}

/// Whether the first sectors of a disk (MBR, GPT header and entries: read at least 17 KiB)
/// name an EFI system partition: MBR type 0xEF, or the GPT type
/// C12A7328-F81F-11D2-BA4B-00A0C93EC93B.
pub fn has_esp(head: &[u8]) -> bool {
    const ESP: [u8; 16] = [
        0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9,
        0x3b,
    ];
    if head.len() < 512 || head[510..512] != [0x55, 0xaa] {
        return false;
    }
    let types: Vec<u8> = (0..4).map(|i| head[446 + 16 * i + 4]).collect();
    if types.contains(&0xef) {
        return true;
    }
    if !types.contains(&0xee) || head.len() < 1024 || &head[512..520] != b"EFI PART" {
        return false;
    }
    let le64 = |o: usize| u64::from_le_bytes(head[o..o + 8].try_into().unwrap());
    let le32 = |o: usize| u32::from_le_bytes(head[o..o + 4].try_into().unwrap()) as usize;
    let (lba, count, size) = (le64(512 + 72) as usize, le32(512 + 80), le32(512 + 84));
    if size < 16 || count > 1024 {
        return false;
    }
    (0..count).any(|i| {
        let entry = lba
            .checked_mul(512)
            .and_then(|a| a.checked_add(i * size))
            .and_then(|a| Some(a..a.checked_add(16)?));
        entry.and_then(|r| head.get(r)) == Some(&ESP[..])
    })
}

/// The guest's virtual hardware.
#[derive(Debug, Clone)]
pub struct Machine {
    pub accel: Accel,
    pub firmware: Firmware,
    pub cpus: u32,
    pub mem_mib: u32,
}

/// The run's files, in its work directory.
#[derive(Debug, Clone)]
pub struct Files {
    pub overlay: PathBuf,
    pub seed: PathBuf,
    pub console: PathBuf,
    pub report: PathBuf,
    pub firmware: PathBuf,
    pub qemu_log: PathBuf,
    /// UEFI: the OVMF code and this run's copy of the variable store.
    pub ovmf: Option<(PathBuf, PathBuf)>,
}

impl Files {
    pub fn in_dir(dir: &Path) -> Files {
        Files {
            overlay: dir.join("boot-overlay.qcow2"),
            seed: dir.join("seed.img"),
            console: dir.join("console.log"),
            report: dir.join("report.log"),
            firmware: dir.join("firmware.log"),
            qemu_log: dir.join("qemu.log"),
            ovmf: None,
        }
    }
}

/// qemu's arguments (formats explicit, nothing probed).
pub fn argv(m: &Machine, f: &Files) -> Vec<String> {
    let p = |p: &Path| p.to_string_lossy().into_owned();
    let mut a: Vec<String> = [
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ]
    .map(String::from)
    .to_vec();
    let (machine, cpu) = match m.accel {
        Accel::Kvm => ("pc,accel=kvm", "host"),
        Accel::Tcg => ("pc,accel=tcg", "max"),
    };
    a.extend(["-machine".into(), machine.into(), "-cpu".into(), cpu.into()]);
    a.extend([
        "-smp".into(),
        m.cpus.to_string(),
        "-m".into(),
        m.mem_mib.to_string(),
    ]);
    if let (Firmware::Uefi, Some((code, vars))) = (m.firmware, &f.ovmf) {
        a.extend([
            "-drive".into(),
            format!("if=pflash,format=raw,unit=0,readonly=on,file={}", p(code)),
            "-drive".into(),
            format!("if=pflash,format=raw,unit=1,file={}", p(vars)),
        ]);
    }
    a.extend([
        "-drive".into(),
        format!("file={},format=qcow2,if=virtio,cache=unsafe", p(&f.overlay)),
        "-drive".into(),
        format!("file={},format=raw,if=virtio,readonly=on", p(&f.seed)),
        "-netdev".into(),
        "user,id=net0".into(),
        "-device".into(),
        "virtio-net-pci,netdev=net0".into(),
        "-chardev".into(),
        format!("file,id=console,path={}", p(&f.console)),
        "-serial".into(),
        "chardev:console".into(),
        "-chardev".into(),
        format!("file,id=report,path={}", p(&f.report)),
        "-serial".into(),
        "chardev:report".into(),
        "-chardev".into(),
        format!("file,id=firmware,path={}", p(&f.firmware)),
        "-device".into(),
        "isa-debugcon,iobase=0x402,chardev=firmware".into(),
    ]);
    a
}

/// How a run ended, with the three logs as they were at the end.
#[derive(Debug, Clone)]
pub struct Run {
    pub accel: Accel,
    /// qemu's exit status when it exited by itself (the guest powered off, or qemu failed).
    pub exited: Option<i32>,
    pub timed_out: bool,
    /// A fatal console or firmware line that stopped the run early.
    pub fatal: Option<Failure>,
    pub seconds: f64,
    /// When the complete report arrived, in seconds from the start.
    pub report_at: Option<f64>,
    pub console: String,
    pub report: String,
    pub firmware: String,
    pub qemu_log: String,
}

fn read_lossy(p: &Path) -> String {
    std::fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Kills qemu when dropped (an error, a panic): no guest outlives its boot test.
struct Guest {
    child: std::process::Child,
    _on_signal: crate::signals::ChildGuard,
}

impl Drop for Guest {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// After a fatal line, how long the console is still read (the lines that explain it).
const GRACE: Duration = Duration::from_secs(3);
/// Progress: a line at most this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(15);

/// Boots once and watches. Ok(run) whatever the guest did; Err only when qemu could not be
/// started or the run was interrupted.
pub fn boot(m: &Machine, f: &Files, timeout: Duration, rep: &dyn Reporter) -> Result<Run> {
    for p in [&f.console, &f.report, &f.firmware] {
        std::fs::write(p, b"").with_context(|| format!("creating {}", p.display()))?;
    }
    let log = std::fs::File::create(&f.qemu_log)
        .with_context(|| format!("creating {}", f.qemu_log.display()))?;
    let args = argv(m, f);
    rep.debug(&format!("qemu-system-x86_64 {}", args.join(" ")));
    let child = Cmd::new("qemu-system-x86_64")
        .args(&args)
        .spawn(Stdio::null(), Stdio::from(log))
        .context("starting qemu-system-x86_64 (is qemu-system-x86 installed? run scripts/install-deps.sh)")?;
    let mut guest = Guest {
        _on_signal: crate::signals::ChildGuard::new(child.id()),
        child,
    };
    let t0 = Instant::now();
    let mut fatal: Option<(Failure, Instant)> = None;
    let mut report_at = None;
    let mut last_progress = t0;
    let mut phase = "firmware";
    let (exited, timed_out) = loop {
        if let Some(st) = guest.child.try_wait()? {
            break (Some(st.code().unwrap_or(-1)), false);
        }
        if crate::signals::interrupted() {
            crate::signals::check()?;
        }
        let console = read_lossy(&f.console);
        if report_at.is_none()
            && matches!(
                judge::parse_report(&read_lossy(&f.report)),
                judge::ReportState::Complete(_)
            )
        {
            report_at = Some(t0.elapsed().as_secs_f64());
            rep.stage(
                "boot-test",
                &format!(
                    "report received after {:.0} s; waiting for the power-off",
                    t0.elapsed().as_secs_f64()
                ),
            );
        }
        match &fatal {
            Some((_, at)) if at.elapsed() >= GRACE => break (None, false),
            Some(_) => {}
            None => {
                if report_at.is_none()
                    && let Some(fl) = judge::fatal(&console, &read_lossy(&f.firmware))
                {
                    rep.stage(
                        "boot-test",
                        &format!("{}: stopping the guest", fl.kind.as_str()),
                    );
                    fatal = Some((fl, Instant::now()));
                }
            }
        }
        let now_phase = if console.contains("Cloud-init v.") {
            "cloud-init"
        } else if console.contains("systemd[1]:") || console.contains("Run /init") {
            "init"
        } else if console.contains("Linux version") {
            "kernel"
        } else if console.contains("GRUB") {
            "boot loader"
        } else {
            "firmware"
        };
        if now_phase != phase || last_progress.elapsed() >= PROGRESS_EVERY {
            phase = now_phase;
            last_progress = Instant::now();
            if report_at.is_none() {
                rep.stage(
                    "boot-test",
                    &format!("{:.0} s: {phase}", t0.elapsed().as_secs_f64()),
                );
            }
        }
        if t0.elapsed() >= timeout {
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    drop(guest);
    Ok(Run {
        accel: m.accel,
        exited,
        timed_out,
        fatal: fatal.map(|(f, _)| f),
        seconds: t0.elapsed().as_secs_f64(),
        report_at,
        console: read_lossy(&f.console),
        report: read_lossy(&f.report),
        firmware: read_lossy(&f.firmware),
        qemu_log: read_lossy(&f.qemu_log),
    })
}

/// Whether a run ended because KVM could not run this guest at all: qemu exited on its own
/// within seconds, failing, before the firmware printed anything.
pub fn kvm_failed(r: &Run) -> bool {
    r.accel == Accel::Kvm
        && matches!(r.exited, Some(c) if c != 0)
        && r.seconds < 30.0
        && r.firmware.trim().is_empty()
        && r.console.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mbr(types: [u8; 4]) -> Vec<u8> {
        let mut d = vec![0u8; 64 * 512];
        for (i, t) in types.iter().enumerate() {
            d[446 + 16 * i + 4] = *t;
        }
        d[510] = 0x55;
        d[511] = 0xaa;
        d
    }

    fn gpt(type_guid: [u8; 16]) -> Vec<u8> {
        let mut d = mbr([0xee, 0, 0, 0]);
        d[512..520].copy_from_slice(b"EFI PART");
        d[512 + 72..512 + 80].copy_from_slice(&2u64.to_le_bytes());
        d[512 + 80..512 + 84].copy_from_slice(&128u32.to_le_bytes());
        d[512 + 84..512 + 88].copy_from_slice(&128u32.to_le_bytes());
        // The second entry holds the type.
        d[1024 + 128..1024 + 144].copy_from_slice(&type_guid);
        d
    }

    #[test]
    fn an_esp_is_found_in_mbr_and_gpt_layouts_and_nowhere_else() {
        assert!(has_esp(&mbr([0x83, 0xef, 0, 0])));
        assert!(!has_esp(&mbr([0x83, 0x82, 0, 0])));
        let esp = [
            0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e,
            0xc9, 0x3b,
        ];
        assert!(has_esp(&gpt(esp)));
        // A Linux filesystem partition (0FC63DAF-8483-4772-8E79-3D69D8477DE4).
        let linux = [
            0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47,
            0x7d, 0xe4,
        ];
        assert!(!has_esp(&gpt(linux)));
        // No boot signature; truncated; a GPT header whose entries lie beyond what was read.
        assert!(!has_esp(&vec![0u8; 4096]));
        assert!(!has_esp(&mbr([0xef, 0, 0, 0])[..100]));
        let mut far = gpt(esp);
        far[512 + 72..512 + 80].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(!has_esp(&far));
    }

    #[test]
    fn qemu_gets_the_guests_own_boot_loader_virtio_and_explicit_formats() {
        let f = Files::in_dir(Path::new("/w"));
        let m = Machine {
            accel: Accel::Tcg,
            firmware: Firmware::Bios,
            cpus: 2,
            mem_mib: 1024,
        };
        let a = argv(&m, &f).join(" ");
        assert!(!a.contains("-kernel"), "{a}");
        assert!(
            a.contains("file=/w/boot-overlay.qcow2,format=qcow2,if=virtio"),
            "{a}"
        );
        assert!(
            a.contains("file=/w/seed.img,format=raw,if=virtio,readonly=on"),
            "{a}"
        );
        assert!(a.contains("virtio-net-pci,netdev=net0"), "{a}");
        assert!(a.contains("-machine pc,accel=tcg -cpu max"), "{a}");
        assert!(a.contains("-no-reboot"), "{a}");
        assert!(!a.contains("pflash"), "{a}");
        // Every -drive names its format.
        let args = argv(&m, &f);
        for w in args.windows(2).filter(|w| w[0] == "-drive") {
            assert!(w[1].contains("format="), "{}", w[1]);
        }
        let mut f = f;
        f.ovmf = Some(("/o/CODE.fd".into(), "/w/VARS.fd".into()));
        let m = Machine {
            accel: Accel::Kvm,
            firmware: Firmware::Uefi,
            ..m
        };
        let a = argv(&m, &f).join(" ");
        assert!(
            a.contains("if=pflash,format=raw,unit=0,readonly=on,file=/o/CODE.fd"),
            "{a}"
        );
        assert!(
            a.contains("if=pflash,format=raw,unit=1,file=/w/VARS.fd"),
            "{a}"
        );
        assert!(a.contains("-machine pc,accel=kvm -cpu host"), "{a}");
    }
}
