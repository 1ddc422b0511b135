//! The registry state the Windows rules are about, read through the appliance's hivex API:
//! the firewall (R2), the interfaces' MTUs (R3) and the markers of unfinished servicing and
//! pending reboots (R7). Each finding names the hive, key and value it is about.

use super::windows::{find_nocase, path_nocase};
use crate::guest::fs::GuestFs;
use crate::guest::registry::{Hive, RegValue};
use anyhow::{Context, Result};

/// The firewall profiles of `FirewallPolicy` and of the group policy, by their key names.
pub const FIREWALL_PROFILES: &[&str] = &["DomainProfile", "StandardProfile", "PublicProfile"];
pub const FIREWALL_POLICY: &str = "Services\\SharedAccess\\Parameters\\FirewallPolicy";
pub const FIREWALL_GPO: &str = "Policies\\Microsoft\\WindowsFirewall";
pub const TCPIP_INTERFACES: &str = "Services\\Tcpip\\Parameters\\Interfaces";
pub const NET_CLASS: &str = "Control\\Network\\{4D36E972-E325-11CE-BFC1-08002BE10318}";

/// The guest path of a hive (`SYSTEM`, `SOFTWARE`) under the system root.
pub fn hive_path(fs: &dyn GuestFs, system_root: &str, name: &str) -> Result<String> {
    let config = path_nocase(fs, system_root, "System32/config")?
        .with_context(|| format!("{system_root}: no System32\\config"))?;
    find_nocase(fs, &config, name)?.with_context(|| format!("{config}: no {name} hive"))
}

/// One `EnableFirewall` setting: where, and its value (None: absent, which Windows reads as
/// on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallSetting {
    /// `SYSTEM\ControlSet001\...\DomainProfile` or `SOFTWARE\Policies\...\DomainProfile`.
    pub key: String,
    pub hive: &'static str,
    /// The key path inside its hive.
    pub path: String,
    pub value: Option<u32>,
    /// A group-policy value (only present ones count: an absent policy does not enforce).
    pub policy: bool,
}

impl FirewallSetting {
    pub fn enables(&self) -> bool {
        self.value != Some(0)
    }
}

/// Every `EnableFirewall` of every profile in every control set (SYSTEM).
pub fn firewall_profiles(system: &dyn Hive, sets: &[String]) -> Result<Vec<FirewallSetting>> {
    let mut out = Vec::new();
    for cs in sets {
        for p in FIREWALL_PROFILES {
            let path = format!("{cs}\\{FIREWALL_POLICY}\\{p}");
            let value = system
                .get(&path, "EnableFirewall")?
                .and_then(|v| v.as_dword());
            out.push(FirewallSetting {
                key: format!("SYSTEM\\{path}"),
                hive: "SYSTEM",
                path,
                value,
                policy: false,
            });
        }
    }
    Ok(out)
}

/// The group-policy `EnableFirewall` values that are set (SOFTWARE); they override the
/// profiles'.
pub fn firewall_policies(software: &dyn Hive) -> Result<Vec<FirewallSetting>> {
    let mut out = Vec::new();
    for p in FIREWALL_PROFILES {
        let path = format!("{FIREWALL_GPO}\\{p}");
        if let Some(v) = software.get(&path, "EnableFirewall")? {
            out.push(FirewallSetting {
                key: format!("SOFTWARE\\{path}"),
                hive: "SOFTWARE",
                path,
                value: v.as_dword(),
                policy: true,
            });
        }
    }
    Ok(out)
}

/// One TCP/IP interface of one control set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub control_set: String,
    pub guid: String,
    /// The connection's name (`以太网`, `本地连接`), empty when none is recorded.
    pub name: String,
    /// The key path inside SYSTEM.
    pub path: String,
    pub mtu: Option<u32>,
    /// The build host's DHCP lease left in the key ([`DHCP_LEASE_VALUES`]), in the key's order.
    pub dhcp_lease: Vec<(String, RegValue)>,
}

/// The values in which Windows keeps an interface's DHCP lease: the build network's address,
/// server, gateway, DNS and lease times. R8: a trace of the build; Windows asks for a new
/// lease when they are gone.
pub const DHCP_LEASE_VALUES: &[&str] = &[
    "DhcpIPAddress",
    "DhcpSubnetMask",
    "DhcpSubnetMaskOpt",
    "DhcpServer",
    "DhcpDefaultGateway",
    "DhcpGatewayHardware",
    "DhcpGatewayHardwareCount",
    "DhcpNameServer",
    "DhcpDomain",
    "DhcpInterfaceOptions",
    "Lease",
    "LeaseObtainedTime",
    "LeaseTerminatesTime",
    "T1",
    "T2",
];

impl Interface {
    pub fn label(&self) -> String {
        if self.name.is_empty() {
            format!("{} {}", self.control_set, self.guid)
        } else {
            format!("{} {} ({})", self.control_set, self.guid, self.name)
        }
    }
}

pub fn interfaces(system: &dyn Hive, sets: &[String]) -> Result<Vec<Interface>> {
    let mut out = Vec::new();
    for cs in sets {
        let Some(k) = system.key(&format!("{cs}\\{TCPIP_INTERFACES}"))? else {
            continue;
        };
        for (guid, node) in system.children(k)? {
            let values = system.values(node)?;
            let mtu = values
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("MTU"))
                .and_then(|(_, v)| v.as_dword());
            let dhcp_lease = values
                .into_iter()
                .filter(|(n, _)| crate::guest::registry::named(DHCP_LEASE_VALUES, n))
                .collect();
            let name = system
                .get(&format!("{cs}\\{NET_CLASS}\\{guid}\\Connection"), "Name")?
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            out.push(Interface {
                control_set: cs.clone(),
                path: format!("{cs}\\{TCPIP_INTERFACES}\\{guid}"),
                guid,
                name,
                mtu,
                dhcp_lease,
            });
        }
    }
    Ok(out)
}

/// The servicing and Windows Update reboot markers (SOFTWARE), as `HIVE\key: what`.
pub fn pending_software(software: &dyn Hive) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (key, what) in [
        (
            "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending",
            "component servicing waits for a reboot",
        ),
        (
            "Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\RebootRequired",
            "Windows Update waits for a reboot",
        ),
    ] {
        if software.key(key)?.is_some() {
            out.push(format!("SOFTWARE\\{key}: {what}"));
        }
    }
    Ok(out)
}

/// Pending file renames and a pending computer rename in each control set (SYSTEM).
pub fn pending_system(system: &dyn Hive, sets: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for cs in sets {
        let sm = format!("{cs}\\Control\\Session Manager");
        if let Some(RegValue::MultiSz(v)) = system.get(&sm, "PendingFileRenameOperations")?
            && v.iter().any(|s| !s.is_empty())
        {
            out.push(format!(
                "SYSTEM\\{sm} PendingFileRenameOperations: {} file operation(s) wait for a reboot",
                v.iter().filter(|s| !s.is_empty()).count().div_ceil(2)
            ));
        }
        let name = |k: &str, v: &str| -> Result<String> {
            Ok(system
                .get(&format!("{cs}\\{k}"), v)?
                .and_then(|x| x.as_str().map(str::to_string))
                .unwrap_or_default())
        };
        let (want, active) = (
            name("Control\\ComputerName\\ComputerName", "ComputerName")?,
            name("Control\\ComputerName\\ActiveComputerName", "ComputerName")?,
        );
        let (host, nv) = (
            name("Services\\Tcpip\\Parameters", "Hostname")?,
            name("Services\\Tcpip\\Parameters", "NV Hostname")?,
        );
        if !want.is_empty() && !active.is_empty() && !want.eq_ignore_ascii_case(&active) {
            out.push(format!(
                "SYSTEM\\{cs}\\Control\\ComputerName: a rename from {active} to {want} waits for a reboot"
            ));
        } else if !host.is_empty() && !nv.is_empty() && !host.eq_ignore_ascii_case(&nv) {
            out.push(format!(
                "SYSTEM\\{cs}\\Services\\Tcpip\\Parameters NV Hostname: a rename from {host} to {nv} waits for a reboot"
            ));
        }
    }
    Ok(out)
}

/// `WinSxS\pending.xml`: a servicing transaction that finishes at the next boot.
pub fn pending_files(fs: &dyn GuestFs, system_root: &str) -> Result<Vec<String>> {
    Ok(path_nocase(fs, system_root, "WinSxS/pending.xml")?
        .map(|p| format!("{p}: a servicing transaction waits for a reboot"))
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::memfs::MemFs;
    use crate::guest::registry::MemHive;

    fn sets() -> Vec<String> {
        vec!["ControlSet001".into(), "ControlSet002".into()]
    }

    #[test]
    fn every_profile_of_every_control_set_and_set_policies() {
        let mut sys = MemHive::new();
        for cs in ["ControlSet001", "ControlSet002"] {
            for p in FIREWALL_PROFILES {
                sys = sys.with(
                    &format!("{cs}\\{FIREWALL_POLICY}\\{p}"),
                    "EnableFirewall",
                    RegValue::Dword(u32::from(*p != "PublicProfile")),
                );
            }
        }
        let sw = MemHive::new().with(
            &format!("{FIREWALL_GPO}\\DomainProfile"),
            "EnableFirewall",
            RegValue::Dword(1),
        );
        let f = firewall_profiles(&sys, &sets()).unwrap();
        assert_eq!(f.len(), 6, "3 profiles in 2 control sets");
        assert_eq!(f.iter().filter(|s| s.enables()).count(), 4);
        let p = firewall_policies(&sw).unwrap();
        assert_eq!(p.len(), 1, "only the policy that is set");
        assert!(p[0].policy && p[0].enables());
        // An absent value is Windows' default: on.
        let f = firewall_profiles(&MemHive::new(), &sets()).unwrap();
        assert!(f.iter().all(|s| s.enables() && s.value.is_none()));
    }

    #[test]
    fn interfaces_carry_their_utf16_connection_names() {
        let g = "{5A3C9E12-7B41-4C2A-9F0E-1D2B3C4D5E6F}";
        let sys = MemHive::new()
            .with(
                &format!("ControlSet001\\{TCPIP_INTERFACES}\\{g}"),
                "MTU",
                RegValue::Dword(9000),
            )
            .with(
                &format!("ControlSet001\\{NET_CLASS}\\{g}\\Connection"),
                "Name",
                RegValue::Sz("以太网".into()),
            );
        let i = interfaces(&sys, &sets()).unwrap();
        assert_eq!(i.len(), 1);
        assert_eq!(i[0].mtu, Some(9000));
        assert_eq!(i[0].label(), format!("ControlSet001 {g} (以太网)"));
    }

    #[test]
    fn pending_markers_are_each_named() {
        let sys = MemHive::new()
            .with(
                "ControlSet001\\Control\\Session Manager",
                "PendingFileRenameOperations",
                RegValue::MultiSz(vec!["\\??\\C:\\a".into(), "".into()]),
            )
            .with(
                "ControlSet001\\Control\\ComputerName\\ComputerName",
                "ComputerName",
                RegValue::Sz("NEW".into()),
            )
            .with(
                "ControlSet001\\Control\\ComputerName\\ActiveComputerName",
                "ComputerName",
                RegValue::Sz("OLD".into()),
            );
        let sw = MemHive::new().with(
            "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending",
            "x",
            RegValue::Dword(1),
        );
        let fs = MemFs::new().file("/Windows/WinSxS/pending.xml", "<x/>");
        let sw = pending_software(&sw).unwrap();
        assert_eq!(sw.len(), 1);
        assert!(sw[0].contains("RebootPending"));
        let p = pending_system(&sys, &sets()).unwrap();
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(p.iter().any(|x| x.contains("1 file operation(s)")));
        assert!(p.iter().any(|x| x.contains("from OLD to NEW")));
        assert!(pending_files(&fs, "/Windows").unwrap()[0].contains("pending.xml"));
        // A clean registry has none.
        assert!(pending_system(&MemHive::new(), &sets()).unwrap().is_empty());
        assert!(pending_software(&MemHive::new()).unwrap().is_empty());
        assert!(pending_files(&MemFs::new(), "/Windows").unwrap().is_empty());
    }
}
