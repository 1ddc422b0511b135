//! Debian/Ubuntu ifupdown `/etc/network/interfaces` (interfaces(5)): stanzas, options,
//! `source` / `source-directory` lines, with line numbers.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opt {
    pub key: String,
    pub value: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    pub name: String,
    pub family: String,
    pub method: String,
    pub line: usize,
    pub options: Vec<Opt>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `source` or `source-directory`.
    pub directive: String,
    pub pattern: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interfaces {
    pub ifaces: Vec<Iface>,
    /// Interfaces brought up at boot (`auto` and `allow-hotplug`).
    pub auto: Vec<String>,
    pub sources: Vec<Source>,
}

const STANZAS: &[&str] = &[
    "iface",
    "mapping",
    "auto",
    "source",
    "source-directory",
    "rename",
    "no-auto-down",
    "no-scripts",
];

/// Logical lines: comments dropped, `\` continuations joined; each with its first line number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let (start, mut acc) = cur.take().unwrap_or((i + 1, String::new()));
        let t = raw.trim();
        if acc.is_empty() && (t.starts_with('#') || t.is_empty()) {
            continue;
        }
        if let Some(stripped) = t.strip_suffix('\\') {
            acc.push_str(stripped);
            acc.push(' ');
            cur = Some((start, acc));
        } else {
            acc.push_str(t);
            out.push((start, acc));
        }
    }
    if let Some(last) = cur {
        out.push(last);
    }
    out
}

pub fn parse(text: &str) -> Interfaces {
    let mut r = Interfaces::default();
    let mut in_iface = false;
    for (line, l) in logical_lines(text) {
        let mut words = l.split_whitespace();
        let Some(first) = words.next() else { continue };
        let rest: Vec<&str> = words.collect();
        let is_allow = first.starts_with("allow-");
        if STANZAS.contains(&first) || is_allow {
            in_iface = false;
            match first {
                "iface" => {
                    r.ifaces.push(Iface {
                        name: rest.first().unwrap_or(&"").to_string(),
                        family: rest.get(1).unwrap_or(&"").to_string(),
                        method: rest.get(2).unwrap_or(&"").to_string(),
                        line,
                        options: vec![],
                    });
                    in_iface = true;
                }
                "auto" => r.auto.extend(rest.iter().map(|s| s.to_string())),
                "source" | "source-directory" => r.sources.push(Source {
                    directive: first.to_string(),
                    pattern: rest.join(" "),
                    line,
                }),
                _ if first == "allow-hotplug" || first == "allow-auto" => {
                    r.auto.extend(rest.iter().map(|s| s.to_string()))
                }
                _ => {}
            }
            continue;
        }
        if in_iface {
            if let Some(iface) = r.ifaces.last_mut() {
                iface.options.push(Opt {
                    key: first.to_string(),
                    value: rest.join(" "),
                    line,
                });
            }
        }
    }
    r
}

/// The MTU a hook command sets, if it sets one: `ip link set [dev] IF mtu N`,
/// `ifconfig IF mtu N`, `ip link set mtu N dev IF`.
pub fn hook_mtu(cmd: &str) -> Option<String> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let sets_link = words
        .windows(2)
        .any(|w| (w[0].ends_with("ip") || w[0] == "link") && (w[1] == "link" || w[1] == "set"))
        || words.iter().any(|w| w.ends_with("ifconfig"));
    if !sets_link {
        return None;
    }
    words
        .windows(2)
        .find(|w| w[0] == "mtu")
        .map(|w| w[1].trim_end_matches(';').to_string())
}

/// Hook option names that run commands.
pub const HOOKS: &[&str] = &["pre-up", "up", "post-up"];

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
allow-hotplug eth0
iface eth0 inet dhcp
    mtu 9000
    post-up ip link set dev eth0 mtu 9000
    pre-up /sbin/ifconfig eth0 \
        mtu 8000

auto eth1
iface eth1 inet static
  address 10.0.0.2/24
  gateway 10.0.0.1
iface eth1 inet6 auto
source-directory interfaces.d
"#;

    #[test]
    fn stanzas_options_and_sources() {
        let r = parse(SAMPLE);
        assert_eq!(r.auto, vec!["lo", "eth0", "eth1"]);
        assert_eq!(r.sources.len(), 2);
        assert_eq!(r.sources[0].pattern, "/etc/network/interfaces.d/*");
        assert_eq!(r.sources[0].line, 4);
        assert_eq!(r.sources[1].directive, "source-directory");
        let names: Vec<_> = r
            .ifaces
            .iter()
            .map(|i| (i.name.as_str(), i.family.as_str(), i.method.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("lo", "inet", "loopback"),
                ("eth0", "inet", "dhcp"),
                ("eth1", "inet", "static"),
                ("eth1", "inet6", "auto")
            ]
        );
        let eth0 = &r.ifaces[1];
        assert_eq!(
            eth0.options[0],
            Opt {
                key: "mtu".into(),
                value: "9000".into(),
                line: 13
            }
        );
        assert_eq!(eth0.options[2].key, "pre-up");
        assert_eq!(eth0.options[2].line, 15);
        assert_eq!(eth0.options[2].value, "/sbin/ifconfig eth0 mtu 8000");
        assert_eq!(r.ifaces[2].options.len(), 2);
    }

    #[test]
    fn hook_mtus() {
        assert_eq!(
            hook_mtu("ip link set dev eth0 mtu 9000").as_deref(),
            Some("9000")
        );
        assert_eq!(
            hook_mtu("/sbin/ip link set mtu 1400 dev eth0").as_deref(),
            Some("1400")
        );
        assert_eq!(
            hook_mtu("/sbin/ifconfig eth0 mtu 8000").as_deref(),
            Some("8000")
        );
        assert_eq!(hook_mtu("ip route add default via 10.0.0.1"), None);
        assert_eq!(hook_mtu("echo mtu 9000"), None);
    }

    #[test]
    fn empty_and_garbage() {
        assert_eq!(parse(""), Interfaces::default());
        let r = parse("mtu 9000\nfoo\\");
        assert!(r.ifaces.is_empty());
    }
}
