//! R6 on Windows: the vendor's cloudbase-init MSI (sha256-pinned in vendor.toml, matched by
//! Windows version) staged for the first boot, since an MSI cannot be installed offline.
//!
//! The runner is `HKLM\SYSTEM\Setup` `CmdLine` with `SetupType` = 2: Windows runs that command
//! line as SYSTEM early in the next boot, before any logon, and then goes on booting (1 would
//! reboot after it). It needs no extra binary. `RunOnce` waits for an interactive logon, which a
//! cloud instance may never see; `SetupComplete.cmd` runs only at the end of Windows Setup
//! (a sysprepped image), not on a plain boot; a service needs a service binary (cmd.exe is
//! killed by the service manager when it does not report). The script logs every step, installs
//! the MSI with `LOGGINGSERIALPORTNAME=COM1`, writes cloudbase-init's configuration with this
//! cloud's metadata services (config drive and the OpenStack metadata service), sets the MTU of
//! every interface (the cloud's NIC is new to the image), and clears its own registration only
//! once the install succeeded, so a failed first boot tries again at the next.

use super::{OpCtx, OpDef, windows_hives};
use crate::applies::Applies;
use crate::guest::fs::GuestFs;
use crate::guest::registry::RegValue;
use crate::rule::{RuleId, RuleTag};
use anyhow::{Context, Result, bail};

/// The staging directory on C: (trace cleanup never touches ProgramData\imgseal).
pub const STAGE_DIR: &str = "/ProgramData/imgseal";
pub const SCRIPT: &str = "/ProgramData/imgseal/firstboot.cmd";
/// What `SYSTEM\Setup\CmdLine` runs.
pub const CMDLINE: &str = "cmd.exe /c C:\\ProgramData\\imgseal\\firstboot.cmd";

pub fn def() -> OpDef {
    OpDef {
        id: "cloudbase-init-stage",
        rule: RuleTag::One(RuleId::R6),
        applies: Applies::WINDOWS,
        default: true,
        summary: "Stage the vendor's cloudbase-init MSI and a first-boot runner that installs and configures it",
        description: "Copies the pinned MSI (sha256 verified first) to C:\\ProgramData\\imgseal\\cloudbase-init, writes \
                      C:\\ProgramData\\imgseal\\firstboot.cmd (msiexec /qn with a verbose log and LOGGINGSERIALPORTNAME=COM1, \
                      cloudbase-init.conf with the config drive and OpenStack metadata services, netsh MTU on every interface), \
                      and registers it as SYSTEM\\Setup CmdLine with SetupType=2, which the script clears once the install succeeded. \
                      Nothing happens when cloudbase-init is already installed.",
        order: 15,
        run,
    }
}

/// The first-boot script for this MSI and MTU, with CRLF line endings.
pub fn script(msi: &str, mtu: u32) -> String {
    let lines = [
        "@echo off".to_string(),
        "rem imgseal: installs and configures cloudbase-init at the first boot, then unregisters itself.".into(),
        "setlocal EnableExtensions".into(),
        "set STAGE=C:\\ProgramData\\imgseal".into(),
        "set LOG=%STAGE%\\firstboot.log".into(),
        format!("set MSI=%STAGE%\\cloudbase-init\\{msi}"),
        "set CONF=%ProgramFiles%\\Cloudbase Solutions\\Cloudbase-Init\\conf".into(),
        "echo %DATE% %TIME% first boot: start>> \"%LOG%\"".into(),
        "echo %DATE% %TIME% msiexec /i \"%MSI%\">> \"%LOG%\"".into(),
        "msiexec /i \"%MSI%\" /qn /l*v \"%STAGE%\\cloudbase-init-msi.log\" LOGGINGSERIALPORTNAME=COM1".into(),
        "set RC=%ERRORLEVEL%".into(),
        "echo %DATE% %TIME% msiexec exit %RC%>> \"%LOG%\"".into(),
        "if not \"%RC%\"==\"0\" if not \"%RC%\"==\"3010\" goto mtu".into(),
        "echo %DATE% %TIME% writing \"%CONF%\\cloudbase-init.conf\">> \"%LOG%\"".into(),
        "for %%F in (cloudbase-init.conf cloudbase-init-unattend.conf) do (".into(),
        "  >> \"%CONF%\\%%F\" echo metadata_services=cloudbaseinit.metadata.services.configdrive.ConfigDriveService,cloudbaseinit.metadata.services.httpservice.HttpService".into(),
        "  >> \"%CONF%\\%%F\" echo logging_serial_port_settings=COM1,115200,N,8".into(),
        ")".into(),
        ":mtu".into(),
        format!("echo %DATE% %TIME% MTU {mtu} on every interface>> \"%LOG%\""),
        "for /f \"skip=3 tokens=4*\" %%A in ('netsh interface ipv4 show subinterfaces') do (".into(),
        format!("  netsh interface ipv4 set subinterface \"%%B\" mtu={mtu} store=persistent>> \"%LOG%\" 2>&1"),
        ")".into(),
        "if not \"%RC%\"==\"0\" if not \"%RC%\"==\"3010\" (".into(),
        "  echo %DATE% %TIME% install failed: left registered for the next boot>> \"%LOG%\"".into(),
        "  exit /b 1".into(),
        ")".into(),
        "reg add HKLM\\SYSTEM\\Setup /v SetupType /t REG_DWORD /d 0 /f>> \"%LOG%\" 2>&1".into(),
        "reg add HKLM\\SYSTEM\\Setup /v CmdLine /t REG_SZ /d \"\" /f>> \"%LOG%\" 2>&1".into(),
        "echo %DATE% %TIME% first boot: done, unregistered>> \"%LOG%\"".into(),
        "exit /b 0".into(),
    ];
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}

fn run(ctx: &OpCtx) -> Result<Vec<String>> {
    let w = ctx
        .os
        .windows
        .as_ref()
        .context("the guest's Windows registry facts are missing")?;
    if let Some(a) = w.application("cloudbase-init") {
        return Ok(vec![format!(
            "{} {} already installed",
            a.display_name, a.version
        )]);
    }
    let vendor = match &ctx.vendor {
        Ok(v) => *v,
        Err(why) => bail!(
            "no vendor-packages manifest ({why}); pass --vendor-dir, or --skip cloudbase-init-stage"
        ),
    };
    let Some(pkg) = vendor.find("cloudbase-init", ctx.os) else {
        bail!(
            "{} names no cloudbase-init package for {}; add one (role = \"cloudbase-init\", distro = \"windows\")",
            vendor.manifest_path().display(),
            ctx.os.short()
        );
    };
    let (host_file, digest) = vendor.verified_file(pkg, ctx.opts.allow_unpinned)?;
    let fs = ctx.fs;
    let msi_dir = format!("{STAGE_DIR}/cloudbase-init");
    let msi = format!("{msi_dir}/{}", pkg.file);
    let mut notes = Vec::new();
    let same = fs.is_file(&msi)? && crate::digest::sha256_bytes(&fs.read(&msi)?) == digest;
    if !same {
        fs.mkdir_p(&msi_dir)?;
        fs.upload(&host_file, &msi)?;
        notes.push(format!("{} staged (sha256 {digest})", pkg.file));
    }
    let body = script(&pkg.file, ctx.profile.network.windows_mtu);
    if fs.read_text(SCRIPT)?.as_deref() != Some(body.as_str()) {
        fs.write(SCRIPT, body.as_bytes())?;
        notes.push(format!("first-boot runner {SCRIPT}"));
    }
    let (_, system, _) = windows_hives(ctx)?;
    let h = fs.hive(&system, true)?;
    let setup = h
        .key("Setup")?
        .with_context(|| format!("{system}: no Setup key (every Windows has one)"))?;
    h.set_value(setup, "CmdLine", &RegValue::Sz(CMDLINE.into()))?;
    h.set_value(setup, "SetupType", &RegValue::Dword(2))?;
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::windows::testutil::{SYSTEM, guest};
    use crate::guest::registry::Hive;
    use crate::ops::OpStatus;
    use crate::ops::testutil::run_op;
    use crate::vendor::Vendor;

    fn vendor() -> (tempfile::TempDir, Vendor) {
        let d = tempfile::tempdir().unwrap();
        let msi = b"MSI stand-in bytes";
        std::fs::write(d.path().join("CloudbaseInitSetup_0_9_11_x64.msi"), msi).unwrap();
        std::fs::write(
            d.path().join("vendor.toml"),
            format!(
                "schema = 1\n[[package]]\nrole = \"cloudbase-init\"\ndistro = \"windows\"\nversions = [\"6\"]\nfile = \"CloudbaseInitSetup_0_9_11_x64.msi\"\nurl = \"http://example.invalid/x.msi\"\nsha256 = \"{}\"\n",
                crate::digest::sha256_bytes(msi)
            ),
        )
        .unwrap();
        let v = Vendor::load(d.path()).unwrap();
        (d, v)
    }

    #[test]
    fn the_msi_is_staged_byte_identical_and_the_runner_registered_once() {
        let (fs, mut os) = guest();
        os.major_version = 6;
        let (_d, v) = vendor();
        let r = run_op(&fs, &os, def(), Some(&v), false).unwrap();
        assert_eq!(r.status, OpStatus::Changed, "{r:#?}");
        assert_eq!(
            fs.read("/ProgramData/imgseal/cloudbase-init/CloudbaseInitSetup_0_9_11_x64.msi")
                .unwrap(),
            b"MSI stand-in bytes"
        );
        let s = fs.text(SCRIPT).unwrap();
        assert!(
            s.split_inclusive('\n').all(|l| l.ends_with("\r\n")),
            "CRLF line endings"
        );
        assert!(s.contains("msiexec /i \"%MSI%\" /qn /l*v"));
        assert!(s.contains("LOGGINGSERIALPORTNAME=COM1"));
        assert!(s.contains("ConfigDriveService") && s.contains("httpservice.HttpService"));
        assert!(s.contains("mtu=1400 store=persistent"));
        assert!(s.contains("/v CmdLine /t REG_SZ /d \"\""));
        let sys = fs.hive_at(SYSTEM);
        assert_eq!(
            sys.get("Setup", "CmdLine").unwrap(),
            Some(RegValue::Sz(CMDLINE.into()))
        );
        assert_eq!(
            sys.get("Setup", "SetupType").unwrap(),
            Some(RegValue::Dword(2))
        );
        // Idempotent.
        let again = run_op(&fs, &os, def(), Some(&v), false).unwrap();
        assert_eq!(again.status, OpStatus::Unchanged, "{again:#?}");
    }

    #[test]
    fn no_vendor_package_is_an_error_saying_what_to_do() {
        let (fs, os) = guest();
        let e = run_op(&fs, &os, def(), None, false).unwrap_err();
        assert!(
            format!("{e:#}").contains("--skip cloudbase-init-stage"),
            "{e:#}"
        );
    }
}
