//! Network configuration (R3): every file that configures a NIC, every static MTU in them,
//! and how each NIC gets its address.

use crate::guest::fs::{GuestFs, join};
use crate::parse::{dhclient, ini, interfaces, netplan, shellvars};
use anyhow::Result;
use serde::Serialize;

pub const IFCFG_DIR: &str = "/etc/sysconfig/network-scripts";
pub const INTERFACES: &str = "/etc/network/interfaces";
pub const NETPLAN_GLOB: &str = "/etc/netplan/*.yaml";
pub const NM_DIR: &str = "/etc/NetworkManager/system-connections";
pub const NETWORKD_DIRS: &[&str] = &["/etc/systemd/network"];
pub const DHCLIENT_CONFS: &[&str] = &[
    "/etc/dhcp/dhclient.conf",
    "/etc/dhcp3/dhclient.conf",
    "/etc/dhclient.conf",
];

/// Which configuration system a file belongs to.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Ifcfg,
    Interfaces,
    Netplan,
    NetworkManager,
    Networkd,
    Dhclient,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MtuSetting {
    pub file: String,
    pub line: usize,
    pub source: Source,
    pub interface: Option<String>,
    pub value: String,
    /// The text that sets it, e.g. `MTU=9000`, `mtu 9000`, `post-up ip link set dev eth0 mtu 9000`.
    pub setting: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NicConfig {
    pub name: String,
    pub file: String,
    pub source: Source,
    /// `dhcp`, `static`, `manual`, `auto` (ipv6/NM auto), or what the file says.
    pub method: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct NetworkFacts {
    pub files: Vec<String>,
    pub mtus: Vec<MtuSetting>,
    pub nics: Vec<NicConfig>,
    /// Files that did not parse.
    pub errors: Vec<String>,
}

impl NetworkFacts {
    /// The NIC the guest most likely reaches the network through: eth0, else the first
    /// non-loopback NIC configured.
    pub fn primary(&self) -> Option<&NicConfig> {
        let real = |n: &&NicConfig| n.name != "lo" && !n.name.is_empty();
        self.nics
            .iter()
            .filter(real)
            .find(|n| n.name == "eth0")
            .or_else(|| self.nics.iter().find(real))
    }
}

pub fn is_dhcp(method: &str) -> bool {
    matches!(method, "dhcp" | "auto" | "bootp")
}

fn ifcfg(fs: &dyn GuestFs, out: &mut NetworkFacts) -> Result<()> {
    let files = fs.list_matching(IFCFG_DIR, &|n| {
        n.starts_with("ifcfg-")
            && n != "ifcfg-lo"
            && !n.ends_with('~')
            && !n.ends_with(".bak")
            && !n.ends_with(".orig")
    })?;
    for f in files {
        let Some(text) = fs.read_text(&f)? else {
            continue;
        };
        out.files.push(f.clone());
        let vars = shellvars::parse(&text);
        let name = shellvars::get(&vars, "DEVICE")
            .map(|v| v.value.clone())
            .unwrap_or_else(|| f.rsplit("ifcfg-").next().unwrap_or("").to_string());
        for v in vars.iter().filter(|v| v.key.eq_ignore_ascii_case("MTU")) {
            out.mtus.push(MtuSetting {
                file: f.clone(),
                line: v.line,
                source: Source::Ifcfg,
                interface: Some(name.clone()),
                value: v.value.clone(),
                setting: format!("{}={}", v.key, v.value),
            });
        }
        let method = shellvars::get(&vars, "BOOTPROTO")
            .map(|v| v.value.to_ascii_lowercase())
            .unwrap_or_else(|| "none".into());
        let method = if method == "none" {
            "static".into()
        } else {
            method
        };
        out.nics.push(NicConfig {
            name,
            file: f,
            source: Source::Ifcfg,
            method,
        });
    }
    Ok(())
}

/// /etc/network/interfaces and every file it sources (recursively, each file once).
pub fn interfaces_files(fs: &dyn GuestFs) -> Result<Vec<(String, interfaces::Interfaces)>> {
    let mut out: Vec<(String, interfaces::Interfaces)> = Vec::new();
    let mut todo = vec![INTERFACES.to_string()];
    while let Some(f) = todo.pop() {
        if out.iter().any(|(p, _)| *p == f) || out.len() > 256 {
            continue;
        }
        let Some(text) = fs.read_text(&f)? else {
            continue;
        };
        let parsed = interfaces::parse(&text);
        let mut next = Vec::new();
        for s in &parsed.sources {
            let pat = if s.pattern.starts_with('/') {
                s.pattern.clone()
            } else {
                join("/etc/network", &s.pattern)
            };
            if s.directive == "source-directory" {
                // run-parts naming: letters, digits, _ and -.
                next.extend(fs.list_matching(&pat, &|n| {
                    n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                })?);
            } else {
                next.extend(fs.glob(&pat)?);
            }
        }
        out.push((f, parsed));
        next.reverse();
        todo.extend(next);
    }
    Ok(out)
}

fn ifupdown(fs: &dyn GuestFs, out: &mut NetworkFacts) -> Result<()> {
    for (f, parsed) in interfaces_files(fs)? {
        out.files.push(f.clone());
        for i in &parsed.ifaces {
            if i.family == "inet" || i.family == "inet6" {
                out.nics.push(NicConfig {
                    name: i.name.clone(),
                    file: f.clone(),
                    source: Source::Interfaces,
                    method: i.method.clone(),
                });
            }
            for o in &i.options {
                let value = if o.key == "mtu" {
                    Some(o.value.clone())
                } else if interfaces::HOOKS.contains(&o.key.as_str()) {
                    interfaces::hook_mtu(&o.value)
                } else {
                    None
                };
                if let Some(value) = value {
                    out.mtus.push(MtuSetting {
                        file: f.clone(),
                        line: o.line,
                        source: Source::Interfaces,
                        interface: Some(i.name.clone()),
                        value,
                        setting: format!("{} {}", o.key, o.value),
                    });
                }
            }
        }
    }
    Ok(())
}

fn netplan_files(fs: &dyn GuestFs, out: &mut NetworkFacts) -> Result<()> {
    for f in fs.glob(NETPLAN_GLOB)? {
        let Some(text) = fs.read_text(&f)? else {
            continue;
        };
        out.files.push(f.clone());
        match netplan::parse(&text) {
            Ok(n) => {
                for i in &n.ifaces {
                    out.nics.push(NicConfig {
                        name: i.name.clone(),
                        file: f.clone(),
                        source: Source::Netplan,
                        method: if i.dhcp4 {
                            "dhcp".into()
                        } else {
                            "static".into()
                        },
                    });
                }
                for (line, value) in n.mtu_lines {
                    out.mtus.push(MtuSetting {
                        file: f.clone(),
                        line,
                        source: Source::Netplan,
                        interface: None,
                        setting: format!("mtu: {value}"),
                        value,
                    });
                }
            }
            Err(e) => out.errors.push(format!("{f}: {e}")),
        }
    }
    Ok(())
}

fn nm(fs: &dyn GuestFs, out: &mut NetworkFacts) -> Result<()> {
    for f in fs.list_matching(NM_DIR, &|_| true)? {
        let Some(text) = fs.read_text(&f)? else {
            continue;
        };
        out.files.push(f.clone());
        let e = ini::parse(&text);
        let name = ini::get(&e, &["connection"], "interface-name")
            .or_else(|| ini::get(&e, &["connection"], "id"))
            .map(|x| x.value.clone())
            .unwrap_or_default();
        if let Some(m) = ini::get(&e, &["ethernet", "802-3-ethernet"], "mtu") {
            if m.value != "0" && !m.value.eq_ignore_ascii_case("auto") {
                out.mtus.push(MtuSetting {
                    file: f.clone(),
                    line: m.line,
                    source: Source::NetworkManager,
                    interface: Some(name.clone()),
                    value: m.value.clone(),
                    setting: format!("mtu={}", m.value),
                });
            }
        }
        let method = ini::get(&e, &["ipv4"], "method")
            .map(|x| x.value.clone())
            .unwrap_or_else(|| "auto".into());
        let method = if method == "auto" {
            "dhcp".into()
        } else {
            method
        };
        out.nics.push(NicConfig {
            name,
            file: f,
            source: Source::NetworkManager,
            method,
        });
    }
    Ok(())
}

fn networkd(fs: &dyn GuestFs, out: &mut NetworkFacts) -> Result<()> {
    for d in NETWORKD_DIRS {
        for f in fs.list_matching(d, &|n| n.ends_with(".network") || n.ends_with(".link"))? {
            let Some(text) = fs.read_text(&f)? else {
                continue;
            };
            out.files.push(f.clone());
            let e = ini::parse(&text);
            let name = ini::get(&e, &["Match"], "Name").map(|x| x.value.clone());
            if let Some(m) = ini::get(&e, &["Link"], "MTUBytes") {
                out.mtus.push(MtuSetting {
                    file: f.clone(),
                    line: m.line,
                    source: Source::Networkd,
                    interface: name.clone(),
                    value: m.value.clone(),
                    setting: format!("MTUBytes={}", m.value),
                });
            }
            if f.ends_with(".network") {
                let dhcp = ini::get(&e, &["Network"], "DHCP").map(|x| x.value.to_ascii_lowercase());
                let method = match dhcp.as_deref() {
                    Some("yes" | "ipv4" | "true" | "both") => "dhcp",
                    _ => "static",
                };
                out.nics.push(NicConfig {
                    name: name.unwrap_or_default(),
                    file: f,
                    source: Source::Networkd,
                    method: method.into(),
                });
            }
        }
    }
    Ok(())
}

fn dhclient_confs(fs: &dyn GuestFs, out: &mut NetworkFacts) -> Result<()> {
    for f in DHCLIENT_CONFS {
        let Some(text) = fs.read_text(f)? else {
            continue;
        };
        out.files.push(f.to_string());
        for s in dhclient::mtu_statements(&text) {
            out.mtus.push(MtuSetting {
                file: f.to_string(),
                line: s.line,
                source: Source::Dhclient,
                interface: None,
                setting: format!("{} interface-mtu {}", s.kind, s.value),
                value: s.value,
            });
        }
    }
    Ok(())
}

pub fn scan(fs: &dyn GuestFs) -> Result<NetworkFacts> {
    let mut out = NetworkFacts::default();
    ifcfg(fs, &mut out)?;
    ifupdown(fs, &mut out)?;
    netplan_files(fs, &mut out)?;
    nm(fs, &mut out)?;
    networkd(fs, &mut out)?;
    dhclient_confs(fs, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fs::MemFs;

    #[test]
    fn every_source_of_a_static_mtu() {
        let fs = MemFs::new()
            .file("/etc/sysconfig/network-scripts/ifcfg-eth0", "DEVICE=eth0\nBOOTPROTO=dhcp\nMTU=\"9000\"\nHWADDR=52:54:00:12:34:56\n")
            .file("/etc/sysconfig/network-scripts/ifcfg-lo", "DEVICE=lo\nMTU=65536\n")
            .file("/etc/network/interfaces", "source interfaces.d/*\nauto eth1\niface eth1 inet static\n  address 10.0.0.2/24\n  mtu 1400\n")
            .file("/etc/network/interfaces.d/eth2", "iface eth2 inet dhcp\n post-up ip link set dev eth2 mtu 8000\n")
            .file("/etc/netplan/50-cloud-init.yaml", "network:\n  ethernets:\n    ens3:\n      dhcp4: true\n      mtu: 1500\n")
            .file("/etc/NetworkManager/system-connections/eth3.nmconnection", "[connection]\ninterface-name=eth3\n[ethernet]\nmtu=7000\n[ipv4]\nmethod=auto\n")
            .file("/etc/systemd/network/10-eth4.network", "[Match]\nName=eth4\n[Network]\nDHCP=yes\n[Link]\nMTUBytes=6000\n")
            .file("/etc/dhcp/dhclient.conf", "request interface-mtu;\nsupersede interface-mtu 5000;\n");
        let n = scan(&fs).unwrap();
        let got: Vec<(&str, usize, &str)> = n
            .mtus
            .iter()
            .map(|m| (m.file.as_str(), m.line, m.value.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/etc/sysconfig/network-scripts/ifcfg-eth0", 3, "9000"),
                ("/etc/network/interfaces", 5, "1400"),
                ("/etc/network/interfaces.d/eth2", 2, "8000"),
                ("/etc/netplan/50-cloud-init.yaml", 5, "1500"),
                (
                    "/etc/NetworkManager/system-connections/eth3.nmconnection",
                    4,
                    "7000"
                ),
                ("/etc/systemd/network/10-eth4.network", 6, "6000"),
                ("/etc/dhcp/dhclient.conf", 2, "5000"),
            ]
        );
        assert_eq!(n.mtus[0].setting, "MTU=9000");
        assert_eq!(n.primary().unwrap().name, "eth0");
        assert_eq!(n.primary().unwrap().method, "dhcp");
        assert_eq!(n.files.len(), 7);
        assert!(n.nics.iter().all(|c| c.name != "lo"));
    }

    #[test]
    fn primary_falls_back_to_first_real_nic() {
        let fs = MemFs::new().file(
            "/etc/network/interfaces",
            "auto lo\niface lo inet loopback\nallow-hotplug ens3\niface ens3 inet static\n address 1.2.3.4/24\n",
        );
        let n = scan(&fs).unwrap();
        assert_eq!(n.primary().unwrap().name, "ens3");
        assert!(!is_dhcp(&n.primary().unwrap().method));
        assert!(n.mtus.is_empty());
    }

    #[test]
    fn source_loops_terminate() {
        let fs = MemFs::new()
            .file(
                "/etc/network/interfaces",
                "source /etc/network/interfaces\nsource /etc/network/a\n",
            )
            .file(
                "/etc/network/a",
                "source /etc/network/interfaces\niface eth0 inet dhcp\n",
            );
        let n = scan(&fs).unwrap();
        assert_eq!(n.files, vec!["/etc/network/interfaces", "/etc/network/a"]);
    }

    #[test]
    fn broken_netplan_is_reported() {
        let fs = MemFs::new().file("/etc/netplan/01.yaml", "network: [\n");
        let n = scan(&fs).unwrap();
        assert_eq!(n.errors.len(), 1);
    }
}
