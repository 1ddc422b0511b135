//! Firewalls that start at boot (R2): systemd enablement, SysV rc links, ufw's own switch.

use super::{InitSystem, OsInfo};
use crate::guest::fs::{GuestFs, Kind, join};
use anyhow::Result;
use serde::Serialize;

/// A firewall service imgseal knows.
#[derive(Debug, Clone, Copy)]
pub struct FirewallDef {
    /// Check/operation id suffix and display name.
    pub name: &'static str,
    pub unit: &'static str,
    /// Extra unit names that enable the same service (aliases).
    pub aliases: &'static [&'static str],
    /// SysV init script name.
    pub sysv: Option<&'static str>,
}

pub const FIREWALLS: &[FirewallDef] = &[
    FirewallDef {
        name: "firewalld",
        unit: "firewalld.service",
        aliases: &["dbus-org.fedoraproject.FirewallD1.service"],
        sysv: None,
    },
    FirewallDef {
        name: "iptables",
        unit: "iptables.service",
        aliases: &[],
        sysv: Some("iptables"),
    },
    FirewallDef {
        name: "ip6tables",
        unit: "ip6tables.service",
        aliases: &[],
        sysv: Some("ip6tables"),
    },
    FirewallDef {
        name: "nftables",
        unit: "nftables.service",
        aliases: &[],
        sysv: None,
    },
    FirewallDef {
        name: "netfilter-persistent",
        unit: "netfilter-persistent.service",
        aliases: &[],
        sysv: Some("netfilter-persistent"),
    },
    FirewallDef {
        name: "ufw",
        unit: "ufw.service",
        aliases: &[],
        sysv: Some("ufw"),
    },
];

pub const SYSTEMD_ETC: &str = "/etc/systemd/system";
pub const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];
pub const UFW_CONF: &str = "/etc/ufw/ufw.conf";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FirewallService {
    pub name: String,
    /// A unit file, init script or configuration of the service exists.
    pub installed: bool,
    pub starts_at_boot: bool,
    pub masked: bool,
    /// Guest paths (and lines) that make it start, or that show it is off.
    pub evidence: Vec<String>,
}

/// Where SysV start links live, per layout.
pub fn sysv_rc_dirs() -> Vec<String> {
    let mut v = Vec::new();
    for rl in 2..=5 {
        v.push(format!("/etc/rc.d/rc{rl}.d"));
        v.push(format!("/etc/rc{rl}.d"));
    }
    v
}

/// `S*NAME` start links in the runlevel 2-5 directories.
pub fn sysv_start_links(fs: &dyn GuestFs, script: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for d in sysv_rc_dirs() {
        // /etc/rc3.d may be a link to /etc/rc.d/rc3.d (CentOS): count each real link once.
        if fs.is_symlink(&d)? {
            continue;
        }
        out.extend(fs.list_matching(&d, &|n| {
            n.starts_with('S')
                && n.len() > 3
                && &n[3..] == script
                && n[1..3].bytes().all(|b| b.is_ascii_digit())
        })?);
    }
    Ok(out)
}

/// Symlinks named `unit` in any `*.wants`/`*.requires` directory under /etc/systemd/system.
pub fn systemd_enable_links(fs: &dyn GuestFs, unit: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for d in fs.list(SYSTEMD_ETC)? {
        if !(d.ends_with(".wants") || d.ends_with(".requires")) {
            continue;
        }
        let p = join(&join(SYSTEMD_ETC, &d), unit);
        if fs.lstat(&p)?.is_some() {
            out.push(p);
        }
    }
    Ok(out)
}

/// `/etc/systemd/system/UNIT -> /dev/null`.
pub fn systemd_masked(fs: &dyn GuestFs, unit: &str) -> Result<bool> {
    let p = join(SYSTEMD_ETC, unit);
    Ok(fs.is_symlink(&p)? && fs.readlink(&p)? == "/dev/null")
}

pub fn unit_file(fs: &dyn GuestFs, unit: &str) -> Result<Option<String>> {
    for d in UNIT_DIRS {
        let p = join(d, unit);
        if let Some(m) = fs.lstat(&p)? {
            if m.kind != Kind::Symlink || fs.readlink(&p)? != "/dev/null" {
                return Ok(Some(p));
            }
        }
    }
    Ok(None)
}

/// ufw's own switch: (`ENABLED` value, line) from /etc/ufw/ufw.conf.
pub fn ufw_enabled(fs: &dyn GuestFs) -> Result<Option<(bool, usize)>> {
    let Some(t) = fs.read_text(UFW_CONF)? else {
        return Ok(None);
    };
    let vars = crate::parse::shellvars::parse(&t);
    Ok(crate::parse::shellvars::get(&vars, "ENABLED")
        .map(|v| (v.value.eq_ignore_ascii_case("yes"), v.line)))
}

pub fn scan_one(fs: &dyn GuestFs, os: &OsInfo, def: &FirewallDef) -> Result<FirewallService> {
    let mut evidence = Vec::new();
    let systemd = os.init_system == InitSystem::Systemd;
    let unit = unit_file(fs, def.unit)?;
    let masked = systemd_masked(fs, def.unit)?;
    let mut links = systemd_enable_links(fs, def.unit)?;
    for a in def.aliases {
        if fs.lstat(&join(SYSTEMD_ETC, a))?.is_some() {
            links.push(join(SYSTEMD_ETC, a));
        }
    }
    let sysv_script = match def.sysv {
        Some(s) => {
            fs.exists(&format!("/etc/rc.d/init.d/{s}"))?
                || fs.exists(&format!("/etc/init.d/{s}"))?
        }
        None => false,
    };
    let sysv_links = match def.sysv {
        Some(s) => sysv_start_links(fs, s)?,
        None => vec![],
    };
    let mut starts = if systemd {
        // systemd runs a SysV script only when no native unit of that name exists.
        !masked && (!links.is_empty() || (unit.is_none() && !sysv_links.is_empty()))
    } else {
        !sysv_links.is_empty()
    };
    if systemd {
        evidence.extend(links.iter().cloned());
        if unit.is_none() {
            evidence.extend(sysv_links.iter().cloned());
        }
        if masked {
            evidence.push(format!(
                "{} -> /dev/null (masked)",
                join(SYSTEMD_ETC, def.unit)
            ));
        }
    } else {
        evidence.extend(sysv_links.iter().cloned());
    }
    let mut installed =
        unit.is_some() || sysv_script || !sysv_links.is_empty() || !links.is_empty();
    if def.name == "ufw" {
        // ufw's unit always runs at boot; ENABLED decides whether it loads any rules.
        match ufw_enabled(fs)? {
            Some((on, line)) => {
                installed = true;
                evidence.push(format!(
                    "{UFW_CONF}:{line}: ENABLED={}",
                    if on { "yes" } else { "no" }
                ));
                starts = on && !masked;
            }
            None => starts = false,
        }
    }
    Ok(FirewallService {
        name: def.name.to_string(),
        installed,
        starts_at_boot: starts,
        masked,
        evidence,
    })
}

/// Every known firewall that is installed (or leaves enablement traces).
pub fn scan(fs: &dyn GuestFs, os: &OsInfo) -> Result<Vec<FirewallService>> {
    let mut out = Vec::new();
    for def in FIREWALLS {
        let s = scan_one(fs, os, def)?;
        if s.installed || s.starts_at_boot {
            out.push(s);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fs::MemFs;

    fn centos7() -> OsInfo {
        OsInfo::linux("centos", 7, 9)
    }

    #[test]
    fn firewalld_enabled_by_wants_link_and_alias() {
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
        let s = scan(&fs, &centos7()).unwrap();
        assert_eq!(s.len(), 1);
        assert!(s[0].starts_at_boot);
        assert_eq!(s[0].evidence.len(), 2);
    }

    #[test]
    fn masked_unit_does_not_start() {
        let fs = MemFs::new()
            .file("/usr/lib/systemd/system/firewalld.service", "[Unit]")
            .link(
                "/etc/systemd/system/multi-user.target.wants/firewalld.service",
                "/usr/lib/systemd/system/firewalld.service",
            )
            .link("/etc/systemd/system/firewalld.service", "/dev/null");
        let s = scan(&fs, &centos7()).unwrap();
        assert!(!s[0].starts_at_boot);
        assert!(s[0].masked);
    }

    #[test]
    fn sysv_links_on_centos6() {
        let mut os = OsInfo::linux("centos", 6, 10);
        os.init_system = InitSystem::Sysvinit;
        let fs = MemFs::new()
            .file("/etc/rc.d/init.d/iptables", "#!/bin/sh")
            .link("/etc/rc.d/rc3.d/S08iptables", "../init.d/iptables")
            .link("/etc/rc.d/rc5.d/S08iptables", "../init.d/iptables")
            .link("/etc/rc.d/rc0.d/K92iptables", "../init.d/iptables")
            .link("/etc/rc3.d", "rc.d/rc3.d")
            .file("/etc/rc.d/init.d/ip6tables", "#!/bin/sh")
            .link("/etc/rc.d/rc3.d/K08ip6tables", "../init.d/ip6tables");
        let s = scan(&fs, &os).unwrap();
        let ipt = s.iter().find(|x| x.name == "iptables").unwrap();
        assert!(ipt.starts_at_boot);
        assert_eq!(
            ipt.evidence,
            vec!["/etc/rc.d/rc3.d/S08iptables", "/etc/rc.d/rc5.d/S08iptables"]
        );
        let ip6 = s.iter().find(|x| x.name == "ip6tables").unwrap();
        assert!(ip6.installed && !ip6.starts_at_boot);
    }

    #[test]
    fn ufw_follows_its_enabled_switch() {
        let os = OsInfo::linux("ubuntu", 16, 4);
        let on = MemFs::new()
            .file("/lib/systemd/system/ufw.service", "[Unit]")
            .link(
                "/etc/systemd/system/multi-user.target.wants/ufw.service",
                "/lib/systemd/system/ufw.service",
            )
            .file(
                UFW_CONF,
                "# /etc/ufw/ufw.conf\n#\nENABLED=yes\nLOGLEVEL=low\n",
            );
        let s = scan(&on, &os).unwrap();
        assert!(s[0].starts_at_boot);
        assert!(
            s[0].evidence
                .contains(&"/etc/ufw/ufw.conf:3: ENABLED=yes".to_string())
        );
        let off = MemFs::new()
            .file("/lib/systemd/system/ufw.service", "[Unit]")
            .link(
                "/etc/systemd/system/multi-user.target.wants/ufw.service",
                "/lib/systemd/system/ufw.service",
            )
            .file(UFW_CONF, "ENABLED=no\n");
        assert!(!scan(&off, &os).unwrap()[0].starts_at_boot);
    }

    #[test]
    fn sysv_links_ignored_when_systemd_has_a_native_unit() {
        let os = OsInfo::linux("debian", 12, 0);
        let fs = MemFs::new()
            .file("/lib/systemd/system/netfilter-persistent.service", "[Unit]")
            .file("/etc/init.d/netfilter-persistent", "#!/bin/sh")
            .link(
                "/etc/rc2.d/S01netfilter-persistent",
                "../init.d/netfilter-persistent",
            );
        let s = scan(&fs, &os).unwrap();
        assert!(s[0].installed && !s[0].starts_at_boot);
    }

    #[test]
    fn nothing_installed() {
        assert!(scan(&MemFs::new(), &centos7()).unwrap().is_empty());
    }
}
