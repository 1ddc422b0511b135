//! netplan YAML (`/etc/netplan/*.yaml`): per-interface DHCP and MTU, with the line of each
//! `mtu:` key, found by a scan of the text.

use super::yaml::{self, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetplanIf {
    /// The key under `ethernets:`/`bonds:`/… (an interface name or an id with a `match:`).
    pub name: String,
    /// `ethernets`, `bonds`, `bridges`, `vlans`, `wifis`.
    pub section: String,
    pub dhcp4: bool,
    pub mtu: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Netplan {
    pub ifaces: Vec<NetplanIf>,
    /// (line, value) of every `mtu:` key in the text.
    pub mtu_lines: Vec<(usize, String)>,
}

const SECTIONS: &[&str] = &["ethernets", "bonds", "bridges", "vlans", "wifis"];

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.as_str(), "true" | "yes" | "on"),
        _ => false,
    }
}

pub fn parse(text: &str) -> Result<Netplan, String> {
    let mut out = Netplan::default();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim_start();
        if let Some(v) = t.strip_prefix("mtu:") {
            let v = v
                .split('#')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"')
                .trim_matches('\'');
            out.mtu_lines.push((i + 1, v.to_string()));
        }
    }
    if text.trim().is_empty() {
        return Ok(out);
    }
    let doc = yaml::parse(text)?;
    let Some(network) = doc.get("network") else {
        return Ok(out);
    };
    for section in SECTIONS {
        let Some(Value::Map(m)) = network.get(section) else {
            continue;
        };
        for (k, v) in m {
            let name = k.to_string();
            let mtu = match v.get("mtu") {
                Some(Value::Int(n)) => u64::try_from(*n).ok(),
                Some(Value::String(s)) => s.trim().parse().ok(),
                _ => None,
            };
            out.ifaces.push(NetplanIf {
                name,
                section: section.to_string(),
                dhcp4: truthy(v.get("dhcp4")),
                mtu,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethernets_with_mtu_and_dhcp() {
        let y = r#"# This file is generated from information provided by the datasource.
network:
    version: 2
    ethernets:
        ens3:
            dhcp4: true
            match:
                macaddress: fa:16:3e:2a:9b:01
            mtu: 9000
            set-name: ens3
        eth1:
            addresses: [10.0.0.5/24]
            mtu: "1400"
    bonds:
        bond0:
            interfaces: [eth1]
            dhcp4: yes
"#;
        let n = parse(y).unwrap();
        assert_eq!(n.ifaces.len(), 3);
        assert_eq!(
            n.ifaces[0],
            NetplanIf {
                name: "ens3".into(),
                section: "ethernets".into(),
                dhcp4: true,
                mtu: Some(9000)
            }
        );
        assert_eq!(n.ifaces[1].mtu, Some(1400));
        assert!(!n.ifaces[1].dhcp4);
        assert!(n.ifaces[2].dhcp4);
        assert_eq!(n.mtu_lines, vec![(9, "9000".into()), (13, "1400".into())]);
    }

    #[test]
    fn broken_yaml_is_an_error_not_a_panic() {
        assert!(parse("network: [\n  - : :").is_err());
        assert_eq!(parse("").unwrap(), Netplan::default());
        assert!(parse("just a string").unwrap().ifaces.is_empty());
    }
}
