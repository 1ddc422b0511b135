//! R3: the MTU comes from DHCP. Static MTU settings are commented out (marked, reversible);
//! a primary NIC configured statically is switched to DHCP where the format allows.

use super::{OpCtx, OpDef, edit};
use crate::applies::Applies;
use crate::facts::network::{self, MtuSetting, Source, is_dhcp};
use crate::guest::fs::GuestFs;
use crate::rule::{RuleId, RuleTag};
use anyhow::{Result, bail};
use std::collections::BTreeMap;

pub fn def() -> OpDef {
    OpDef {
        id: "mtu",
        rule: RuleTag::One(RuleId::R3),
        applies: Applies::LINUX,
        default: true,
        summary: "Remove static MTU settings and keep the primary NIC on DHCP",
        description: "Comments out every static MTU (ifcfg MTU=, interfaces mtu and ip-link hooks, netplan mtu:, \
                      NetworkManager mtu=, networkd MTUBytes=) with an imgseal marker, removes dhclient \
                      supersede/default interface-mtu statements, and switches a static primary NIC to DHCP \
                      (ifcfg and ifupdown).",
        order: 30,
        run,
    }
}

fn run(ctx: &OpCtx) -> Result<Vec<String>> {
    let fs = ctx.fs;
    let facts = network::scan(fs)?;
    let mut notes = Vec::new();
    let mut by_file: BTreeMap<&str, Vec<&MtuSetting>> = BTreeMap::new();
    for m in &facts.mtus {
        by_file.entry(m.file.as_str()).or_default().push(m);
    }
    let prefix = edit::marker("R3");
    for (file, settings) in by_file {
        let text = regular_text(fs, file)?;
        let new = if settings[0].source == Source::Dhclient {
            edit::map_lines(&text, |n, l| {
                if settings.iter().any(|s| s.line == n) {
                    strip_dhclient_mtu(l)
                } else {
                    l.to_string()
                }
            })
        } else {
            let lines: Vec<usize> = settings.iter().map(|s| s.line).collect();
            edit::comment_out(&text, &lines, &prefix)
        };
        fs.write(file, new.as_bytes())?;
        for s in settings {
            notes.push(format!("{file}:{}: removed {}", s.line, s.setting));
        }
    }
    if let Some(p) = facts.primary() {
        if !is_dhcp(&p.method) {
            let text = regular_text(fs, &p.file)?;
            let new = match p.source {
                Source::Ifcfg => ifcfg_to_dhcp(&text, &prefix),
                Source::Interfaces => interfaces_to_dhcp(&text, &p.name, &prefix),
                _ => bail!(
                    "the primary NIC {} is static in {} and imgseal switches only ifcfg and ifupdown files to DHCP; \
                     change it by hand or pass --skip mtu",
                    p.name,
                    p.file
                ),
            };
            fs.write(&p.file, new.as_bytes())?;
            notes.push(format!(
                "{}: {} switched from {} to dhcp",
                p.file, p.name, p.method
            ));
        }
    }
    if notes.is_empty() {
        notes.push("no static MTU; the primary NIC uses DHCP".into());
    }
    Ok(notes)
}

/// The text of a regular file; a link is never edited through.
fn regular_text(fs: &dyn GuestFs, path: &str) -> Result<String> {
    if !fs.is_file(path)? {
        bail!("{path} is not a regular file (a symlink?); not editing through it");
    }
    Ok(fs.read_text(path)?.unwrap_or_default())
}

/// Removes `supersede|default interface-mtu N;` statements from a dhclient.conf line.
fn strip_dhclient_mtu(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = ["supersede", "default"]
        .iter()
        .filter_map(|k| rest.find(&format!("{k} interface-mtu")).map(|i| (i, *k)))
        .min()
        .map(|x| x.0)
    {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let end = after.find(';').map(|j| j + 1).unwrap_or(after.len());
        rest = &after[end..];
    }
    out.push_str(rest);
    if out.trim().is_empty() {
        String::new()
    } else {
        out.trim_end().to_string()
    }
}

fn ifcfg_to_dhcp(text: &str, prefix: &str) -> String {
    let vars = crate::parse::shellvars::parse(text);
    let static_keys = [
        "IPADDR", "NETMASK", "PREFIX", "GATEWAY", "IPADDR0", "PREFIX0", "NETMASK0", "GATEWAY0",
    ];
    let lines: Vec<usize> = vars
        .iter()
        .filter(|v| static_keys.contains(&v.key.as_str()))
        .map(|v| v.line)
        .collect();
    let t = edit::comment_out(text, &lines, prefix);
    edit::set_shell_var(&t, "BOOTPROTO", "dhcp")
}

fn interfaces_to_dhcp(text: &str, nic: &str, prefix: &str) -> String {
    let parsed = crate::parse::interfaces::parse(text);
    let Some(iface) = parsed
        .ifaces
        .iter()
        .find(|i| i.name == nic && i.family == "inet")
    else {
        return text.to_string();
    };
    let addr_keys = ["address", "netmask", "gateway", "broadcast", "network"];
    let lines: Vec<usize> = iface
        .options
        .iter()
        .filter(|o| addr_keys.contains(&o.key.as_str()))
        .map(|o| o.line)
        .collect();
    let head = iface.line;
    edit::map_lines(&edit::comment_out(text, &lines, prefix), |n, l| {
        if n == head {
            l.replacen(" static", " dhcp", 1)
        } else {
            l.to_string()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::OsInfo;
    use crate::guest::fs::MemFs;
    use crate::ops::testutil::run_op;

    #[test]
    fn every_kind_of_static_mtu_is_removed_idempotently() {
        let fs = MemFs::new()
            .file("/etc/sysconfig/network-scripts/ifcfg-eth0", "DEVICE=eth0\nBOOTPROTO=dhcp\nMTU=\"9000\"\n")
            .file("/etc/network/interfaces", "auto eth1\niface eth1 inet dhcp\n  mtu 1400\n  post-up ip link set dev eth1 mtu 1400\n")
            .file("/etc/netplan/50.yaml", "network:\n  ethernets:\n    ens3:\n      dhcp4: true\n      mtu: 9000\n")
            .file("/etc/NetworkManager/system-connections/a.nmconnection", "[connection]\nid=a\n[ethernet]\nmtu=7000\n")
            .file("/etc/systemd/network/10.network", "[Match]\nName=e*\n[Network]\nDHCP=yes\n[Link]\nMTUBytes=6000\n")
            .file("/etc/dhcp/dhclient.conf", "request interface-mtu;\nsupersede interface-mtu 5000;\ninterface \"eth0\" { default interface-mtu 1400; }\n");
        let os = OsInfo::linux("debian", 12, 4);
        let r = run_op(&fs, &os, def(), None, false).unwrap();
        assert_eq!(r.status, "changed");
        assert!(
            network::scan(&fs).unwrap().mtus.is_empty(),
            "{:?}",
            network::scan(&fs).unwrap().mtus
        );
        assert_eq!(
            fs.text("/etc/sysconfig/network-scripts/ifcfg-eth0")
                .unwrap(),
            "DEVICE=eth0\nBOOTPROTO=dhcp\n# disabled by imgseal (R3): MTU=\"9000\"\n"
        );
        assert_eq!(
            fs.text("/etc/dhcp/dhclient.conf").unwrap(),
            "request interface-mtu;\n\ninterface \"eth0\" {  }\n"
        );
        assert!(
            fs.text("/etc/netplan/50.yaml")
                .unwrap()
                .contains("# disabled by imgseal (R3):       mtu: 9000")
        );
        assert_eq!(
            run_op(&fs, &os, def(), None, false).unwrap().status,
            "unchanged"
        );
    }

    #[test]
    fn static_primary_nic_goes_to_dhcp() {
        let fs = MemFs::new().file(
            "/etc/sysconfig/network-scripts/ifcfg-eth0",
            "DEVICE=eth0\nBOOTPROTO=none\nIPADDR=10.0.0.5\nPREFIX=24\nGATEWAY=10.0.0.1\n",
        );
        let os = OsInfo::linux("centos", 7, 9);
        run_op(&fs, &os, def(), None, false).unwrap();
        let t = fs
            .text("/etc/sysconfig/network-scripts/ifcfg-eth0")
            .unwrap();
        assert!(
            t.contains("BOOTPROTO=dhcp")
                && t.contains("# disabled by imgseal (R3): IPADDR=10.0.0.5"),
            "{t}"
        );
        assert_eq!(
            network::scan(&fs).unwrap().primary().unwrap().method,
            "dhcp"
        );
        let fs = MemFs::new().file("/etc/network/interfaces", "auto eth0\niface eth0 inet static\n address 10.0.0.5/24\n gateway 10.0.0.1\n dns-nameservers 1.1.1.1\n");
        run_op(&fs, &OsInfo::linux("debian", 12, 4), def(), None, false).unwrap();
        let t = fs.text("/etc/network/interfaces").unwrap();
        assert!(
            t.contains("iface eth0 inet dhcp") && t.contains("dns-nameservers 1.1.1.1"),
            "{t}"
        );
    }

    #[test]
    fn static_netplan_primary_is_a_clear_error() {
        let fs = MemFs::new().file(
            "/etc/netplan/01.yaml",
            "network:\n  ethernets:\n    eth0:\n      addresses: [10.0.0.5/24]\n",
        );
        let e = run_op(&fs, &OsInfo::linux("ubuntu", 18, 4), def(), None, false).unwrap_err();
        assert!(format!("{e:#}").contains("--skip mtu"));
    }
}
