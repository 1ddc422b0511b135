//! The Windows rules, read from the registry through the appliance (and the system volume's
//! files): R2 firewall off in every profile of every control set and no group policy turning
//! it on, R3 no interface above the profile's MTU, R6 cloudbase-init installed, R7 no
//! servicing or reboot pending, R8 no build traces.

use super::{CheckDef, Ctx, Outcome, brief};
use crate::applies::Applies;
use crate::facts::{winreg, wintraces};
use crate::guest::registry::Hive;
use crate::rule::RuleId;
use anyhow::{Context, Result};

pub fn checks() -> Vec<CheckDef> {
    vec![
        CheckDef::new(
            "windows-firewall",
            RuleId::R2,
            Applies::WINDOWS,
            "EnableFirewall is 0 in every profile of every control set, and no group policy enables the firewall",
            Box::new(firewall),
        ),
        CheckDef::new(
            "windows-mtu",
            RuleId::R3,
            Applies::WINDOWS,
            "No interface of any control set has an MTU above the profile's windows_mtu_max",
            Box::new(mtu),
        ),
        CheckDef::new(
            "windows-cloudbase-init",
            RuleId::R6,
            Applies::WINDOWS,
            "cloudbase-init is installed (its Uninstall entry or service), or staged for the first boot",
            Box::new(cloudbase_init),
        ),
        CheckDef::new(
            "windows-pending",
            RuleId::R7,
            Applies::WINDOWS,
            "No servicing, update reboot, file rename or computer rename is pending",
            Box::new(pending),
        ),
        CheckDef::new(
            "windows-traces",
            RuleId::R8,
            Applies::WINDOWS,
            "No build traces: temp files, histories, answer files, dumps, logs, caches",
            Box::new(traces),
        ),
    ]
}

/// The Windows facts inspection found, or an error saying they are missing.
fn win<'a>(ctx: &Ctx<'a>) -> Result<&'a crate::facts::windows::WindowsInfo> {
    ctx.os
        .windows
        .as_ref()
        .context("the guest's Windows registry facts are missing")
}

/// Runs `f` on the hive `name` (`SYSTEM`, `SOFTWARE`) while it is open (one at a time).
fn with_hive<T>(ctx: &Ctx, name: &str, f: impl FnOnce(&dyn Hive) -> Result<T>) -> Result<T> {
    let w = win(ctx)?;
    let path = winreg::hive_path(ctx.fs, &w.system_root, name)?;
    let h = ctx.fs.hive(&path, false)?;
    f(h.as_ref())
}

fn firewall(ctx: &Ctx) -> Result<Outcome> {
    let w = win(ctx)?;
    let (mut settings, start) = with_hive(ctx, "SYSTEM", |sys| {
        let start = sys
            .get(
                &format!("{}\\Services\\MpsSvc", w.current_control_set),
                "Start",
            )?
            .and_then(|v| v.as_dword());
        Ok((winreg::firewall_profiles(sys, &w.control_sets)?, start))
    })?;
    settings.extend(with_hive(ctx, "SOFTWARE", winreg::firewall_policies)?);
    let on: Vec<String> = settings
        .iter()
        .filter(|s| s.enables())
        .map(|s| match s.value {
            Some(v) => format!("{} EnableFirewall={v}", s.key),
            None => format!("{} EnableFirewall absent (on by default)", s.key),
        })
        .collect();
    let service = match start {
        Some(2) => "the firewall service (MpsSvc) starts automatically".to_string(),
        Some(3) => "the firewall service (MpsSvc) starts on demand".to_string(),
        Some(4) => "the firewall service (MpsSvc) is disabled".to_string(),
        Some(n) => format!("the firewall service (MpsSvc) has start type {n}"),
        None => "no firewall service (MpsSvc) key".to_string(),
    };
    Ok(if on.is_empty() {
        Outcome::pass(format!(
            "off in {} profile value(s); {service}",
            settings.len()
        ))
    } else {
        Outcome::fail(
            format!("the firewall is on: {}; {service}", brief(&on, 3)),
            on,
        )
    })
}

fn mtu(ctx: &Ctx) -> Result<Outcome> {
    let max = ctx.profile.network.windows_mtu_max;
    let ifs = ctx.windows_interfaces()?;
    let over: Vec<String> = ifs
        .iter()
        .filter(|i| i.mtu.is_some_and(|m| m > max))
        .map(|i| format!("{}: MTU {} > {max}", i.label(), i.mtu.unwrap_or(0)))
        .collect();
    Ok(if over.is_empty() {
        let pinned: Vec<String> = ifs
            .iter()
            .filter_map(|i| i.mtu.map(|m| format!("{} MTU {m}", i.label())))
            .collect();
        Outcome::pass(if pinned.is_empty() {
            format!("{} interface(s), no MTU pinned", ifs.len())
        } else {
            brief(&pinned, 4)
        })
    } else {
        Outcome::fail(brief(&over, 3), over)
    })
}

fn cloudbase_init(ctx: &Ctx) -> Result<Outcome> {
    let w = win(ctx)?;
    if let Some(a) = w.application("cloudbase-init") {
        return Ok(Outcome::pass(format!(
            "installed: {} {} ({})",
            a.display_name, a.version, a.view
        )));
    }
    let (service, cmdline) = with_hive(ctx, "SYSTEM", |sys| {
        let service = sys
            .key(&format!(
                "{}\\Services\\cloudbase-init",
                w.current_control_set
            ))?
            .is_some();
        let cmdline = sys.get("Setup", "CmdLine")?;
        let setup_type = sys.get("Setup", "SetupType")?.and_then(|v| v.as_dword());
        Ok((
            service,
            (setup_type == Some(2)).then_some(cmdline).flatten(),
        ))
    })?;
    if service {
        return Ok(Outcome::pass(
            "installed: the cloudbase-init service is registered",
        ));
    }
    // Staged: the pinned MSI in the guest byte for byte, the runner script, and the runner
    // registered as SYSTEM\Setup CmdLine.
    use crate::ops::cloudbase_init_stage::{CMDLINE, SCRIPT, STAGE_DIR};
    let mut missing = Vec::new();
    match &ctx.vendor {
        Ok(v) => match v.find("cloudbase-init", ctx.os) {
            Some(p) => {
                let guest = format!("{STAGE_DIR}/cloudbase-init/{}", p.file);
                let host = v.verified_file(p, true).map(|(_, d)| d);
                let inside = if ctx.fs.is_file(&guest)? {
                    Some(crate::digest::sha256_bytes(&ctx.fs.read(&guest)?))
                } else {
                    None
                };
                match (host, inside) {
                    (Ok(want), Some(got)) if want == got => {}
                    (_, None) => missing.push(format!("{guest} is not staged")),
                    (_, Some(got)) => missing.push(format!(
                        "{guest} (sha256 {got}) is not the vendor's {}",
                        p.file
                    )),
                }
            }
            None => {
                missing.push("vendor.toml names no cloudbase-init package for this Windows".into())
            }
        },
        // verify --deep re-runs the checks without the vendor dir: the MSI was compared
        // with its pin at conversion (the manifest records it); here it must be present.
        Err(_) => {
            let dir = format!("{STAGE_DIR}/cloudbase-init");
            if !ctx
                .fs
                .list(&dir)?
                .iter()
                .any(|n| n.to_ascii_lowercase().ends_with(".msi"))
            {
                missing.push(format!("no MSI staged in {dir}"));
            }
        }
    }
    if !ctx.fs.is_file(SCRIPT)? {
        missing.push(format!("{SCRIPT} is missing"));
    }
    if cmdline.as_ref().and_then(|c| c.as_str()) != Some(CMDLINE) {
        missing
            .push("SYSTEM\\Setup CmdLine (SetupType 2) does not run the first-boot runner".into());
    }
    Ok(if missing.is_empty() {
        Outcome::pass(format!(
            "staged: the vendor MSI and {SCRIPT}, run by SYSTEM\\Setup CmdLine at the first boot"
        ))
    } else {
        Outcome::fail(
            "cloudbase-init is neither installed (no Uninstall entry, no service) nor staged",
            missing,
        )
    })
}

fn pending(ctx: &Ctx) -> Result<Outcome> {
    let w = win(ctx)?;
    let mut found = with_hive(ctx, "SOFTWARE", winreg::pending_software)?;
    found.extend(with_hive(ctx, "SYSTEM", |sys| {
        winreg::pending_system(sys, &w.control_sets)
    })?);
    found.extend(winreg::pending_files(ctx.fs, &w.system_root)?);
    Ok(if found.is_empty() {
        Outcome::pass("nothing waits for a reboot")
    } else {
        Outcome::fail(
            format!(
                "{}; boot the image once to let them finish",
                brief(&found, 2)
            ),
            found,
        )
    })
}

fn traces(ctx: &Ctx) -> Result<Outcome> {
    let t = wintraces::find_all(ctx.fs)?;
    let mut items: Vec<String> = t.iter().map(|(k, p)| format!("{p} ({k})")).collect();
    items.extend(
        ctx.windows_interfaces()?
            .iter()
            .filter(|i| !i.dhcp_lease.is_empty())
            .map(lease),
    );
    Ok(if items.is_empty() {
        Outcome::pass("none found")
    } else {
        Outcome::fail(
            format!("{} trace(s): {}", items.len(), brief(&items, 3)),
            items,
        )
    })
}

/// An interface's leftover DHCP lease, as a finding.
fn lease(i: &winreg::Interface) -> String {
    let addr = i
        .dhcp_lease
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("DhcpIPAddress"))
        .map_or(String::new(), |(_, v)| format!("DhcpIPAddress {v}, "));
    format!(
        "SYSTEM\\{}: the build's DHCP lease ({addr}{} value(s)) (dhcp-lease)",
        i.path,
        i.dhcp_lease.len()
    )
}
