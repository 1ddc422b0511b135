//! INI-style files: NetworkManager keyfiles and systemd unit/.network/.link files.
//! Sections, `key=value` with line numbers; `#` and `;` comments.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub section: String,
    pub key: String,
    pub value: String,
    pub line: usize,
}

pub fn parse(text: &str) -> Vec<Entry> {
    let mut section = String::new();
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        if l.starts_with('[') && l.ends_with(']') {
            section = l[1..l.len() - 1].trim().to_string();
            continue;
        }
        if let Some((k, v)) = l.split_once('=') {
            out.push(Entry {
                section: section.clone(),
                key: k.trim().to_string(),
                value: v.trim().to_string(),
                line: i + 1,
            });
        }
    }
    out
}

/// The last entry with this key (in any of the given sections; empty list = any section).
pub fn get<'a>(entries: &'a [Entry], sections: &[&str], key: &str) -> Option<&'a Entry> {
    entries
        .iter()
        .rev()
        .find(|e| e.key == key && (sections.is_empty() || sections.contains(&e.section.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nm_keyfile() {
        let t = "[connection]\nid=Wired connection 1\nuuid=1c7e0a3a-1111-2222-3333-444455556666\ntype=ethernet\ninterface-name=eth0\n\n[ethernet]\nmac-address=52:54:00:AA:BB:CC\nmtu=9000\n\n[ipv4]\nmethod=auto\n";
        let e = parse(t);
        let mtu = get(&e, &["ethernet", "802-3-ethernet"], "mtu").unwrap();
        assert_eq!((mtu.value.as_str(), mtu.line), ("9000", 9));
        assert_eq!(get(&e, &["ipv4"], "method").unwrap().value, "auto");
        assert_eq!(get(&e, &[], "interface-name").unwrap().value, "eth0");
        assert!(get(&e, &["ipv4"], "mtu").is_none());
    }

    #[test]
    fn networkd_file() {
        let t = "# comment\n[Match]\nName=en*\n\n[Network]\nDHCP=yes\n\n[Link]\nMTUBytes=9000\n; other\n";
        let e = parse(t);
        assert_eq!(get(&e, &["Link"], "MTUBytes").unwrap().line, 9);
        assert_eq!(get(&e, &["Network"], "DHCP").unwrap().value, "yes");
        assert_eq!(e.len(), 3);
    }
}
