//! R9 (warn): nothing waits for a reboot: the newest kernel boots by default, no
//! reboot-required flag, no unfinished package transaction.

use super::{CheckDef, Ctx, Outcome, brief};
use crate::applies::Applies;
use crate::facts::boot;
use crate::rule::RuleId;
use anyhow::Result;

pub fn checks() -> Vec<CheckDef> {
    vec![
        CheckDef::new(
            "kernel-default",
            RuleId::R9,
            Applies::LINUX,
            "The newest installed kernel is the boot default",
            Box::new(kernel_default),
        ),
        CheckDef::new(
            "reboot-required",
            RuleId::R9,
            Applies::LINUX,
            "No reboot-required flag file",
            Box::new(reboot_required),
        ),
        CheckDef::new(
            "unfinished-transactions",
            RuleId::R9,
            Applies::LINUX,
            "No unfinished yum transaction or half-installed dpkg package",
            Box::new(unfinished),
        ),
    ]
}

fn kernel_default(ctx: &Ctx) -> Result<Outcome> {
    let kernels = boot::installed_kernels(ctx.fs)?;
    let Some(newest) = kernels.first() else {
        return Ok(Outcome::skip("no kernel in /boot"));
    };
    Ok(match boot::default_kernel(ctx.fs)? {
        None => Outcome::warn(format!(
            "newest kernel {newest}; no boot loader configuration says which kernel boots"
        )),
        Some((k, file)) if k == *newest => Outcome::pass(format!("{k} ({file})")),
        Some((k, file)) => Outcome::fail(
            format!(
                "the newest installed kernel {newest} is not the boot default {k} ({file}); boot once to settle it"
            ),
            vec![file],
        ),
    })
}

pub const REBOOT_FLAGS: &[&str] = &[
    "/run/reboot-required",
    "/var/run/reboot-required",
    "/run/reboot-required.pkgs",
    "/var/run/reboot-required.pkgs",
];

fn reboot_required(ctx: &Ctx) -> Result<Outcome> {
    let mut found = Vec::new();
    for f in REBOOT_FLAGS {
        // /var/run is usually a link to /run: report each real file once.
        if ctx.fs.symlinked_ancestor(f)?.is_none() && ctx.fs.exists(f)? {
            found.push(f.to_string());
        }
    }
    Ok(if found.is_empty() {
        Outcome::pass("no flag file")
    } else {
        Outcome::fail(format!("reboot pending: {}", found.join(", ")), found)
    })
}

fn unfinished(ctx: &Ctx) -> Result<Outcome> {
    let mut found = ctx
        .fs
        .list_matching("/var/lib/yum", &|n| n.starts_with("transaction-all."))?;
    found.extend(ctx.fs.list_matching("/var/lib/dpkg/updates", &|n| {
        n.bytes().all(|b| b.is_ascii_digit())
    })?);
    if let Some(status) = ctx.fs.read_text("/var/lib/dpkg/status")? {
        for p in crate::parse::dpkg::parse_status(&status) {
            let state = p.status.split_whitespace().nth(2).unwrap_or("");
            if matches!(
                state,
                "half-installed"
                    | "unpacked"
                    | "half-configured"
                    | "triggers-awaited"
                    | "triggers-pending"
            ) {
                found.push(format!("/var/lib/dpkg/status: {} is {state}", p.name));
            }
        }
    }
    Ok(if found.is_empty() {
        Outcome::pass("none")
    } else {
        Outcome::fail(format!("unfinished: {}", brief(&found, 3)), found)
    })
}

#[cfg(test)]
mod tests {
    use crate::checks::Status;
    use crate::checks::testutil::*;
    use crate::facts::OsInfo;
    use crate::guest::fs::MemFs;

    #[test]
    fn pending_reboots_warn() {
        let fs = MemFs::new()
            .link("/var/run", "/run")
            .file("/run/reboot-required", "*** System restart required ***\n")
            .file("/boot/vmlinuz-4.4.0-210-generic", "")
            .file("/boot/vmlinuz-4.4.0-200-generic", "")
            .file("/boot/grub/grub.cfg", "menuentry 'Ubuntu' {\n linux /boot/vmlinuz-4.4.0-200-generic root=UUID=x\n}\n")
            .file("/var/lib/dpkg/status", "Package: linux-image-4.4.0-210-generic\nStatus: install ok half-configured\nVersion: 4.4.0-210.242\n");
        let r = report(&fs, &OsInfo::linux("ubuntu", 16, 4), None);
        let rr = result(&r, "reboot-required");
        assert_eq!(rr.status, Status::Warn);
        assert_eq!(rr.findings, vec!["/run/reboot-required"]);
        let k = result(&r, "kernel-default");
        assert_eq!(k.status, Status::Warn);
        assert!(
            k.detail
                .contains("4.4.0-210-generic is not the boot default 4.4.0-200-generic"),
            "{}",
            k.detail
        );
        assert_eq!(result(&r, "unfinished-transactions").status, Status::Warn);
        assert_eq!(k.rule, "R9");
    }

    #[test]
    fn yum_transactions_and_clean_state() {
        let fs = MemFs::new().file("/var/lib/yum/transaction-all.2024-01-01.12:00.1", "");
        let r = report(&fs, &OsInfo::linux("centos", 7, 9), None);
        assert_eq!(result(&r, "unfinished-transactions").status, Status::Warn);
        assert_eq!(result(&r, "kernel-default").status, Status::Skip);
        assert_eq!(result(&r, "reboot-required").status, Status::Pass);
    }
}
