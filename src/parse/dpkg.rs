//! `/var/lib/dpkg/status`: installed packages and versions.

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// The `Status:` field, e.g. `install ok installed`, `deinstall ok config-files`.
    pub status: String,
}

impl Package {
    /// Unpacked and configured (what `dpkg -s` calls installed).
    pub fn installed(&self) -> bool {
        self.status.split_whitespace().nth(2) == Some("installed")
    }
}

pub fn parse_status(text: &str) -> Vec<Package> {
    let mut out = Vec::new();
    let mut cur = Package::default();
    let flush = |p: &mut Package, out: &mut Vec<Package>| {
        if !p.name.is_empty() {
            out.push(std::mem::take(p));
        } else {
            *p = Package::default();
        }
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            flush(&mut cur, &mut out);
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            continue; // continuation of a multi-line field
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim().to_string();
        match k {
            "Package" => cur.name = v,
            "Version" => cur.version = v,
            "Architecture" => cur.arch = v,
            "Status" => cur.status = v,
            _ => {}
        }
    }
    flush(&mut cur, &mut out);
    out
}

/// The installed version of a package, if it is installed.
pub fn installed_version(pkgs: &[Package], name: &str) -> Option<String> {
    pkgs.iter()
        .find(|p| p.name == name && p.installed())
        .map(|p| p.version.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Package: ufw
Status: install ok installed
Priority: optional
Section: admin
Installed-Size: 859
Maintainer: Jamie Strandboge <jamie@ubuntu.com>
Architecture: all
Version: 0.36.2-1
Depends: iptables, lsb-base, ucf, python3:any, debconf (>= 0.5) | debconf-2.0
Conffiles:
 /etc/default/ufw 7a8d5a1e2f7e4cd0e8ed2ae3c4e0f3ea
 /etc/ufw/ufw.conf 5a9f3e8aa0a7e3c3d93d3c2f43a9e0d4
Description: program for managing a Netfilter firewall
 The Uncomplicated FireWall is a front-end for iptables.

Package: cloud-init
Status: install ok installed
Architecture: all
Version: 22.4.2-1+deb12u1
Description: initialization system for infrastructure cloud instances

Package: ifupdown
Status: deinstall ok config-files
Architecture: amd64
Version: 0.8.41
";

    #[test]
    fn several_stanzas() {
        let p = parse_status(STATUS);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].name, "ufw");
        assert_eq!(p[0].version, "0.36.2-1");
        assert_eq!(
            installed_version(&p, "cloud-init").as_deref(),
            Some("22.4.2-1+deb12u1")
        );
        assert_eq!(installed_version(&p, "ifupdown"), None);
        assert!(!p[2].installed());
        assert_eq!(installed_version(&p, "nope"), None);
    }

    #[test]
    fn garbage_does_not_panic() {
        assert!(parse_status("").is_empty());
        assert!(parse_status("\n\n:::\n Package\nVersion: 1\n").is_empty());
    }
}
