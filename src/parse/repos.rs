//! Package repositories (R1): yum `.repo` files, apt one-line `sources.list` files and
//! deb822 `.sources` files. Each repository with its URL, file line and enabled state.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// Section name (yum) or suite (apt).
    pub name: String,
    pub url: String,
    pub line: usize,
    pub enabled: bool,
}

/// The host part of a URL (`http://user@host:port/path` → `host`); None for file:, cdrom:.
pub fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = if host.starts_with('[') {
        host.split(']').next()?.trim_start_matches('[')
    } else {
        host.split(':').next()?
    };
    let host = host.trim().to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// yum/dnf `.repo`: `[id]` sections with `baseurl` (possibly several URLs, continuation lines),
/// `mirrorlist`, `metalink`, `enabled`.
pub fn yum(text: &str) -> Vec<Repo> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut enabled = true;
    let mut pending: Vec<Repo> = Vec::new();
    let mut in_baseurl = false;
    let flush = |pending: &mut Vec<Repo>, enabled: bool, out: &mut Vec<Repo>| {
        for mut r in pending.drain(..) {
            r.enabled = enabled;
            out.push(r);
        }
    };
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            in_baseurl = false;
            continue;
        }
        if l.starts_with('[') && l.ends_with(']') {
            flush(&mut pending, enabled, &mut out);
            section = l[1..l.len() - 1].to_string();
            enabled = true;
            in_baseurl = false;
            continue;
        }
        let continuation = raw.starts_with(char::is_whitespace) && in_baseurl;
        if continuation {
            for u in l.split_whitespace() {
                pending.push(Repo {
                    name: section.clone(),
                    url: u.to_string(),
                    line: i + 1,
                    enabled: true,
                });
            }
            continue;
        }
        in_baseurl = false;
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "baseurl" => {
                in_baseurl = true;
                for u in v.split([' ', ',']).filter(|u| !u.is_empty()) {
                    pending.push(Repo {
                        name: section.clone(),
                        url: u.to_string(),
                        line: i + 1,
                        enabled: true,
                    });
                }
            }
            "mirrorlist" | "metalink" => pending.push(Repo {
                name: section.clone(),
                url: v.to_string(),
                line: i + 1,
                enabled: true,
            }),
            "enabled" => enabled = !matches!(v, "0" | "false" | "no" | "False"),
            _ => {}
        }
    }
    flush(&mut pending, enabled, &mut out);
    out
}

/// apt one-line format: `deb [options] URL suite [components]`.
pub fn apt_list(text: &str) -> Vec<Repo> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.split('#').next().unwrap_or("").trim();
        let mut w = l.split_whitespace().peekable();
        let Some(kind) = w.next() else { continue };
        if kind != "deb" && kind != "deb-src" {
            continue;
        }
        if w.peek().is_some_and(|x| x.starts_with('[')) {
            for x in w.by_ref() {
                if x.ends_with(']') {
                    break;
                }
            }
        }
        let (Some(url), suite) = (w.next(), w.next()) else {
            continue;
        };
        out.push(Repo {
            name: suite.unwrap_or("").to_string(),
            url: url.to_string(),
            line: i + 1,
            enabled: true,
        });
    }
    out
}

/// deb822 `.sources`: stanzas with `URIs:` (several), `Suites:`, `Enabled:`.
pub fn apt_deb822(text: &str) -> Vec<Repo> {
    let mut out = Vec::new();
    let mut stanza: Vec<Repo> = Vec::new();
    let mut enabled = true;
    let mut suites = String::new();
    let flush =
        |stanza: &mut Vec<Repo>, enabled: &mut bool, suites: &mut String, out: &mut Vec<Repo>| {
            for mut r in stanza.drain(..) {
                r.enabled = *enabled;
                r.name = suites.clone();
                out.push(r);
            }
            *enabled = true;
            suites.clear();
        };
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            flush(&mut stanza, &mut enabled, &mut suites, &mut out);
            continue;
        }
        if raw.starts_with('#') {
            continue;
        }
        let Some((k, v)) = raw.split_once(':') else {
            continue;
        };
        match k.trim() {
            "URIs" => {
                for u in v.split_whitespace() {
                    stanza.push(Repo {
                        name: String::new(),
                        url: u.to_string(),
                        line: i + 1,
                        enabled: true,
                    });
                }
            }
            "Suites" => suites = v.trim().to_string(),
            "Enabled" => enabled = !matches!(v.trim(), "no" | "false" | "0"),
            _ => {}
        }
    }
    flush(&mut stanza, &mut enabled, &mut suites, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            host_of("http://mirror.centos.org/centos/7/os/x86_64/").as_deref(),
            Some("mirror.centos.org")
        );
        assert_eq!(
            host_of("https://u:p@Mirrors.Example.com:8080/x").as_deref(),
            Some("mirrors.example.com")
        );
        assert_eq!(host_of("http://[::1]:80/").as_deref(), Some("::1"));
        assert_eq!(host_of("file:///srv/repo"), None);
        assert_eq!(host_of("cdrom:[Debian]/"), None);
    }

    #[test]
    fn yum_repo_file() {
        let t = "[base]\nname=CentOS-$releasever - Base\nmirrorlist=http://mirrorlist.centos.org/?release=7&repo=os\n#baseurl=http://mirror.centos.org/centos/\ngpgcheck=1\n\n[updates]\nbaseurl=http://a.example.com/c7/\n        http://b.example.com/c7/\nenabled=1\n\n[extras]\nbaseurl=http://c.example.com/\nenabled=0\n";
        let r = yum(t);
        let got: Vec<(&str, &str, usize, bool)> = r
            .iter()
            .map(|x| (x.name.as_str(), x.url.as_str(), x.line, x.enabled))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "base",
                    "http://mirrorlist.centos.org/?release=7&repo=os",
                    3,
                    true
                ),
                ("updates", "http://a.example.com/c7/", 8, true),
                ("updates", "http://b.example.com/c7/", 9, true),
                ("extras", "http://c.example.com/", 13, false),
            ]
        );
    }

    #[test]
    fn apt_one_line_and_deb822() {
        let t = "# comment\ndeb http://deb.debian.org/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] https://mirrors.example.com/debian bookworm-updates main\ndeb-src http://deb.debian.org/debian bookworm main\nnonsense\n";
        let r = apt_list(t);
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].url, "https://mirrors.example.com/debian");
        assert_eq!(r[1].line, 3);
        let s = "Types: deb\nURIs: http://deb.debian.org/debian http://ftp.example.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://security.debian.org/debian-security\nSuites: bookworm-security\nEnabled: no\n";
        let r = apt_deb822(s);
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].url, "http://ftp.example.org/debian");
        assert_eq!(r[0].name, "bookworm bookworm-updates");
        assert!(!r[2].enabled);
        assert_eq!(r[2].line, 7);
    }
}
