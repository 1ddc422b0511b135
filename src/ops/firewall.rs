//! R2: disable every firewall that starts at boot, reversibly: systemd enablement links
//! removed (what `systemctl disable` does), SysV start links turned into kill links (what
//! `chkconfig off` does), ufw's `ENABLED=no`. No package is removed.

use super::{OpCtx, OpDef, edit};
use crate::applies::Applies;
use crate::facts::firewall::{self, FIREWALLS, SYSTEMD_ETC, UFW_CONF};
use crate::guest::fs::{GuestFs, join, parent};
use crate::rule::{RuleId, RuleTag};
use anyhow::Result;

pub fn def() -> OpDef {
    OpDef {
        id: "firewall-disable",
        rule: RuleTag::One(RuleId::R2),
        applies: Applies::LINUX,
        default: true,
        summary: "Disable every firewall that starts at boot (firewalld, iptables, ip6tables, nftables, ufw)",
        description: "Removes systemd enablement links, turns SysV S-links into K-links, sets ufw ENABLED=no. \
                      Packages stay installed; `systemctl enable`, `chkconfig on` or `ufw enable` undo it.",
        order: 20,
        run,
    }
}

fn run(ctx: &OpCtx) -> Result<Vec<String>> {
    let fs = ctx.fs;
    let mut notes = Vec::new();
    for def in FIREWALLS {
        let s = firewall::scan_one(fs, ctx.os, def)?;
        if !s.starts_at_boot {
            continue;
        }
        // systemd: enablement and alias links.
        let mut links = firewall::systemd_enable_links(fs, def.unit)?;
        for a in def.aliases {
            let p = join(SYSTEMD_ETC, a);
            if fs.is_symlink(&p)? {
                links.push(p);
            }
        }
        for l in &links {
            if fs.is_symlink(l)? {
                fs.remove(l)?;
            }
        }
        if !links.is_empty() {
            notes.push(format!(
                "{}: removed {} systemd link(s)",
                def.name,
                links.len()
            ));
        }
        // SysV: S##name -> K(100-##)name, as chkconfig off does.
        if let Some(script) = def.sysv {
            let starts = firewall::sysv_start_links(fs, script)?;
            for l in &starts {
                let name = l.rsplit('/').next().unwrap_or("");
                let nn: u32 = name[1..3].parse().unwrap_or(50);
                let kill = join(
                    parent(l),
                    &format!("K{:02}{script}", 100u32.saturating_sub(nn).min(99)),
                );
                let target = fs
                    .readlink(l)
                    .unwrap_or_else(|_| format!("../init.d/{script}"));
                fs.remove(l)?;
                if fs.lstat(&kill)?.is_none() {
                    fs.symlink(&target, &kill)?;
                }
            }
            if !starts.is_empty() {
                notes.push(format!(
                    "{}: {} SysV start link(s) turned into kill links",
                    def.name,
                    starts.len()
                ));
            }
        }
        if def.name == "ufw" && firewall::ufw_enabled(fs)?.is_some_and(|(on, _)| on) {
            disable_ufw(fs)?;
            notes.push(format!("ufw: ENABLED=no in {UFW_CONF}"));
        }
    }
    if notes.is_empty() {
        notes.push("no firewall starts at boot".into());
    }
    Ok(notes)
}

fn disable_ufw(fs: &dyn GuestFs) -> Result<()> {
    if !fs.is_file(UFW_CONF)? {
        // A link: never write through it to somewhere else.
        anyhow::bail!("{UFW_CONF} is not a regular file; not editing through it");
    }
    let t = fs.read_text(UFW_CONF)?.unwrap_or_default();
    fs.write(
        UFW_CONF,
        edit::set_shell_var(&t, "ENABLED", "no").as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{InitSystem, OsInfo};
    use crate::guest::fs::MemFs;
    use crate::ops::testutil::run_op;

    #[test]
    fn systemd_firewalld_is_disabled_and_a_second_run_changes_nothing() {
        let fs = MemFs::new()
            .file("/usr/lib/systemd/system/firewalld.service", "[Unit]")
            .link(
                "/etc/systemd/system/multi-user.target.wants/firewalld.service",
                "/usr/lib/systemd/system/firewalld.service",
            )
            .link(
                "/etc/systemd/system/dbus-org.fedoraproject.FirewallD1.service",
                "/usr/lib/systemd/system/firewalld.service",
            );
        let os = OsInfo::linux("centos", 7, 9);
        let r = run_op(&fs, &os, def(), None, false).unwrap();
        assert_eq!(r.status, "changed");
        assert_eq!(r.changes.len(), 2);
        assert!(
            !firewall::scan(&fs, &os)
                .unwrap()
                .iter()
                .any(|s| s.starts_at_boot)
        );
        assert!(
            fs.exists("/usr/lib/systemd/system/firewalld.service")
                .unwrap(),
            "package files stay"
        );
        let again = run_op(&fs, &os, def(), None, false).unwrap();
        assert_eq!(again.status, "unchanged");
    }

    #[test]
    fn sysv_links_become_kill_links() {
        let mut os = OsInfo::linux("centos", 6, 10);
        os.init_system = InitSystem::Sysvinit;
        let mut fs = MemFs::new().file("/etc/rc.d/init.d/iptables", "#!/bin/sh");
        for rl in 2..=5 {
            fs = fs.link(
                &format!("/etc/rc.d/rc{rl}.d/S08iptables"),
                "../init.d/iptables",
            );
        }
        let r = run_op(&fs, &os, def(), None, false).unwrap();
        assert_eq!(r.status, "changed");
        for rl in 2..=5 {
            assert!(
                !fs.exists(&format!("/etc/rc.d/rc{rl}.d/S08iptables"))
                    .unwrap()
            );
            assert_eq!(
                fs.readlink(&format!("/etc/rc.d/rc{rl}.d/K92iptables"))
                    .unwrap(),
                "../init.d/iptables"
            );
        }
        assert!(
            !firewall::scan(&fs, &os)
                .unwrap()
                .iter()
                .any(|s| s.starts_at_boot)
        );
    }

    #[test]
    fn ufw_is_switched_off_and_dry_run_only_plans() {
        let fs = MemFs::new()
            .file("/lib/systemd/system/ufw.service", "[Unit]")
            .file(UFW_CONF, "# /etc/ufw/ufw.conf\nENABLED=yes\nLOGLEVEL=low\n");
        let os = OsInfo::linux("ubuntu", 16, 4);
        let plan = run_op(&fs, &os, def(), None, true).unwrap();
        assert_eq!(plan.status, "planned");
        assert_eq!(plan.changes[0].target, UFW_CONF);
        assert_eq!(
            fs.text(UFW_CONF).unwrap(),
            "# /etc/ufw/ufw.conf\nENABLED=yes\nLOGLEVEL=low\n"
        );
        run_op(&fs, &os, def(), None, false).unwrap();
        assert_eq!(
            fs.text(UFW_CONF).unwrap(),
            "# /etc/ufw/ufw.conf\nENABLED=no\nLOGLEVEL=low\n"
        );
    }

    #[test]
    fn ufw_conf_symlink_is_not_written_through() {
        let fs = MemFs::new()
            .file("/etc/passwd", "root")
            .file("/srv/ufw.conf", "ENABLED=yes\n")
            .link(UFW_CONF, "/srv/ufw.conf");
        let e = run_op(&fs, &OsInfo::linux("ubuntu", 16, 4), def(), None, false).unwrap_err();
        assert!(format!("{e:#}").contains("not a regular file"));
        assert_eq!(fs.text("/srv/ufw.conf").unwrap(), "ENABLED=yes\n");
    }
}
