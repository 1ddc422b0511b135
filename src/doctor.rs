//! `imgseal doctor`: can a conversion run on this host? Each failed check says how to fix it.

use crate::cmd::Cmd;
use crate::ffi::guestfs::Handle;
use crate::guest::launch::{Appliance, LaunchOpts};
use crate::ui::Reporter;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    /// How to fix a failure.
    pub fix: Option<String>,
}

/// Free space the temp dir should have for an overlay plus an output (a rule of thumb).
pub const MIN_TEMP_FREE: u64 = 2 << 30;

fn tool_version(tool: &str) -> Result<String, String> {
    Cmd::new(tool)
        .arg("--version")
        .stdout()
        .map(|s| s.lines().next().unwrap_or("").trim().to_string())
        .map_err(|e| format!("{e:#}"))
}

/// What `boot-test` needs beside qemu-img: qemu-system-x86_64, mkfs.vfat and mcopy for the
/// seed; OVMF is optional (UEFI guests), so it is reported, not required.
fn boot_test_tools() -> Check {
    let found = |t: &str| {
        std::env::var_os("PATH").is_some_and(|p| {
            std::env::split_paths(&p)
                .chain(["/usr/sbin".into(), "/sbin".into()])
                .any(|d| d.join(t).is_file())
        })
    };
    let missing: Vec<&str> = ["qemu-system-x86_64", "mkfs.vfat", "mcopy"]
        .into_iter()
        .filter(|t| !found(t))
        .collect();
    let ovmf = match crate::boot::machine::ovmf() {
        Some((code, _)) => format!("UEFI with {}", code.display()),
        None => "no OVMF: UEFI guests boot with BIOS (apt install ovmf)".into(),
    };
    Check {
        name: "boot-test tools".into(),
        ok: missing.is_empty(),
        detail: if missing.is_empty() {
            format!("qemu-system-x86_64, mkfs.vfat, mcopy; {ovmf}")
        } else {
            format!("missing {}; {ovmf}", missing.join(", "))
        },
        fix: (!missing.is_empty()).then(|| {
            "run scripts/install-deps.sh (installs qemu-system-x86, dosfstools, mtools, ovmf)"
                .into()
        }),
    }
}

pub fn run(rep: &dyn Reporter) -> Vec<Check> {
    let mut out = Vec::new();
    let install = "run scripts/install-deps.sh (installs qemu-utils, qemu-system-x86 from bookworm-backports, libguestfs)";
    for tool in ["qemu-img", "qemu-nbd"] {
        rep.stage("doctor", tool);
        match tool_version(tool) {
            Ok(v) => out.push(Check {
                name: tool.into(),
                ok: true,
                detail: v,
                fix: None,
            }),
            Err(e) => out.push(Check {
                name: tool.into(),
                ok: false,
                detail: e,
                fix: Some(install.into()),
            }),
        }
    }
    rep.stage("doctor", "boot-test tools");
    out.push(boot_test_tools());
    let base = crate::image::temp_base();
    match crate::ffi::os::free_bytes(&base) {
        Ok(free) => out.push(Check {
            name: "temp space".into(),
            ok: free >= MIN_TEMP_FREE,
            detail: format!("{} free in {}", crate::ui::human_bytes(free), base.display()),
            fix: (free < MIN_TEMP_FREE).then(|| {
                "free space there, or point IMGSEAL_TMPDIR (or TMPDIR) at a filesystem with room for an overlay".into()
            }),
        }),
        Err(e) => out.push(Check {
            name: "temp space".into(),
            ok: false,
            detail: format!("{}: {e}", base.display()),
            fix: Some("set IMGSEAL_TMPDIR to a writable directory".into()),
        }),
    }
    match Handle::create().and_then(|h| h.version()) {
        Ok(v) => out.push(Check {
            name: "libguestfs".into(),
            ok: true,
            detail: v.to_string(),
            fix: None,
        }),
        Err(e) => out.push(Check {
            name: "libguestfs".into(),
            ok: false,
            detail: e.to_string(),
            fix: Some(install.into()),
        }),
    }
    rep.stage("doctor", "launching a test appliance");
    // KVM is tried afresh whatever was remembered, and the record updated.
    let launch = Appliance::launch_scratch(
        &LaunchOpts {
            fresh_kvm: true,
            ..Default::default()
        },
        rep,
    );
    match launch {
        Ok(app) => {
            let detail = format!(
                "launched with {}{} in {:.1} s",
                app.accel.name(),
                if app.fast_boot { " (fast-boot appliance)" } else { "" },
                app.launch_secs
            );
            let shut = app.shutdown();
            out.push(Check {
                name: "appliance".into(),
                ok: shut.is_ok(),
                detail: match shut {
                    Ok(()) => detail,
                    Err(e) => format!("{detail}, but shutdown failed: {e:#}"),
                },
                fix: None,
            });
        }
        Err(e) => out.push(Check {
            name: "appliance".into(),
            ok: false,
            detail: format!("{e:#}"),
            fix: Some(
                "run libguestfs-test-tool for details; a kernel must be installed (linux-image-amd64) and readable, \
                 and on hosts where KVM is broken set IMGSEAL_ACCEL=tcg"
                    .into(),
            ),
        }),
    }
    out
}

pub fn render_text(checks: &[Check]) -> String {
    let w = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut s = String::new();
    for c in checks {
        s.push_str(&format!(
            "{:<4}  {:<w$}  {}\n",
            if c.ok { "ok" } else { "FAIL" },
            c.name,
            c.detail
        ));
        if let Some(f) = &c.fix {
            s.push_str(&format!("{:<4}  {:<w$}  fix: {f}\n", "", ""));
        }
    }
    s
}
