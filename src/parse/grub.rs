//! Boot loader configuration, only as far as "which kernel boots by default": GRUB 2
//! (`grub.cfg`, `grubenv`), GRUB legacy (`grub.conf`), BLS entries; and kernel version order.

use std::cmp::Ordering;

/// A boot entry: its title and the kernel version its `linux`/`kernel` line names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootEntry {
    pub title: String,
    pub id: Option<String>,
    pub kernel: Option<String>,
}

/// The kernel version in a `vmlinuz-VERSION` path.
pub fn kernel_of(path: &str) -> Option<String> {
    let i = path.find("vmlinuz-")?;
    let v = path[i + "vmlinuz-".len()..].split_whitespace().next()?;
    (!v.is_empty()).then(|| v.to_string())
}

/// GRUB 2 `grub.cfg`: menuentries (also inside submenus) in order, and `set default=`.
pub fn grub2_cfg(text: &str) -> (Vec<BootEntry>, Option<String>) {
    let mut entries = Vec::new();
    let mut default = None;
    for l in text.lines().map(str::trim) {
        if let Some(rest) = l.strip_prefix("menuentry ") {
            let title = rest.split(['\'', '"']).nth(1).unwrap_or("").to_string();
            let id = rest
                .split("$menuentry_id_option")
                .nth(1)
                .and_then(|r| r.split(['\'', '"']).nth(1))
                .map(str::to_string);
            entries.push(BootEntry {
                title,
                id,
                kernel: None,
            });
        } else if l.starts_with("linux") && !l.starts_with("linux_") {
            if let Some(e) = entries.last_mut() {
                if e.kernel.is_none() {
                    e.kernel = l.split_whitespace().nth(1).and_then(kernel_of);
                }
            }
        } else if let Some(v) = l.strip_prefix("set default=") {
            default = Some(v.trim_matches(['"', '\'']).to_string());
        }
    }
    (entries, default)
}

/// `saved_entry=...` from a grubenv block.
pub fn grubenv_saved(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("saved_entry="))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// GRUB legacy `grub.conf`: `default=N` and `title` / `kernel` pairs.
pub fn grub_legacy(text: &str) -> (Vec<BootEntry>, usize) {
    let mut entries = Vec::new();
    let mut default = 0;
    for l in text.lines().map(str::trim) {
        if let Some(v) = l.strip_prefix("default=") {
            default = v.trim().parse().unwrap_or(0);
        } else if let Some(t) = l.strip_prefix("title ") {
            entries.push(BootEntry {
                title: t.trim().to_string(),
                id: None,
                kernel: None,
            });
        } else if let Some(k) = l.strip_prefix("kernel ") {
            if let Some(e) = entries.last_mut() {
                e.kernel = kernel_of(k);
            }
        }
    }
    (entries, default)
}

/// Which entry a GRUB 2 default (index, id, title, or `a>b` submenu path) selects.
pub fn select<'a>(entries: &'a [BootEntry], default: Option<&str>) -> Option<&'a BootEntry> {
    let d = default.unwrap_or("0");
    let d = d.rsplit('>').next().unwrap_or(d);
    if let Ok(i) = d.parse::<usize>() {
        return entries.get(i);
    }
    entries
        .iter()
        .find(|e| e.id.as_deref() == Some(d) || e.title == d)
        .or_else(|| {
            entries
                .iter()
                .find(|e| e.kernel.as_deref().is_some_and(|k| d.contains(k)))
        })
}

/// Version order as rpm and dpkg roughly agree on: digit runs compare numerically, other
/// runs lexically, `~` sorts before anything.
pub fn vercmp(a: &str, b: &str) -> Ordering {
    fn segments(s: &str) -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let digit = c.is_ascii_digit();
            if !c.is_ascii_alphanumeric() && c != '~' {
                out.push((false, String::new()));
                continue;
            }
            match out.last_mut() {
                Some((d, seg))
                    if *d == digit && !seg.is_empty() && c != '~' && !seg.starts_with('~') =>
                {
                    seg.push(c)
                }
                _ => out.push((digit, c.to_string())),
            }
        }
        out.retain(|(_, s)| !s.is_empty());
        out
    }
    let (sa, sb) = (segments(a), segments(b));
    for i in 0..sa.len().max(sb.len()) {
        match (sa.get(i), sb.get(i)) {
            (Some((_, x)), Some((_, y))) if x == y => continue,
            (Some((_, x)), _) if x.starts_with('~') => return Ordering::Less,
            (_, Some((_, y))) if y.starts_with('~') => return Ordering::Greater,
            (Some((true, x)), Some((true, y))) => {
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                return x.len().cmp(&y.len()).then_with(|| x.cmp(y));
            }
            (Some((true, _)), Some((false, _))) => return Ordering::Greater,
            (Some((false, _)), Some((true, _))) => return Ordering::Less,
            (Some((_, x)), Some((_, y))) => return x.cmp(y),
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            (None, None) => break,
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order() {
        assert_eq!(
            vercmp("3.10.0-1160.el7.x86_64", "3.10.0-957.el7.x86_64"),
            Ordering::Greater
        );
        assert_eq!(vercmp("6.1.0-10-amd64", "6.1.0-9-amd64"), Ordering::Greater);
        assert_eq!(vercmp("5.10.0-21-amd64", "6.1.0-9-amd64"), Ordering::Less);
        assert_eq!(vercmp("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(vercmp("1.0", "1.0"), Ordering::Equal);
        assert_eq!(vercmp("1.0a", "1.0"), Ordering::Greater);
    }

    #[test]
    fn grub2_default_entry() {
        let cfg = r#"set default="${saved_entry}"
menuentry 'CentOS Linux (3.10.0-1160.el7.x86_64) 7 (Core)' --class centos $menuentry_id_option 'gnulinux-3.10.0-1160.el7.x86_64-advanced-abc' {
	linux16 /vmlinuz-3.10.0-1160.el7.x86_64 root=UUID=abc ro
	initrd16 /initramfs-3.10.0-1160.el7.x86_64.img
}
menuentry 'CentOS Linux (3.10.0-957.el7.x86_64) 7 (Core)' --class centos $menuentry_id_option 'gnulinux-3.10.0-957.el7.x86_64-advanced-abc' {
	linux16 /vmlinuz-3.10.0-957.el7.x86_64 root=UUID=abc ro
}
"#;
        let (e, d) = grub2_cfg(cfg);
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].kernel.as_deref(), Some("3.10.0-957.el7.x86_64"));
        assert_eq!(
            e[0].id.as_deref(),
            Some("gnulinux-3.10.0-1160.el7.x86_64-advanced-abc")
        );
        assert_eq!(d.as_deref(), Some("${saved_entry}"));
        let saved = grubenv_saved("# GRUB Environment Block\nsaved_entry=CentOS Linux (3.10.0-957.el7.x86_64) 7 (Core)\n####").unwrap();
        assert_eq!(
            select(&e, Some(&saved)).unwrap().kernel.as_deref(),
            Some("3.10.0-957.el7.x86_64")
        );
        assert_eq!(
            select(&e, Some("0")).unwrap().kernel.as_deref(),
            Some("3.10.0-1160.el7.x86_64")
        );
        assert_eq!(
            select(
                &e,
                Some("gnulinux-advanced-x>gnulinux-3.10.0-957.el7.x86_64-advanced-abc")
            )
            .unwrap()
            .title,
            e[1].title
        );
        assert!(select(&e, Some("7")).is_none());
    }

    #[test]
    fn grub_legacy_default() {
        let t = "default=1\ntimeout=5\ntitle CentOS 6 (2.6.32-754.35.1.el6.x86_64)\n\troot (hd0,0)\n\tkernel /vmlinuz-2.6.32-754.35.1.el6.x86_64 ro root=/dev/sda1\ntitle CentOS 6 (2.6.32-754.el6.x86_64)\n\tkernel /vmlinuz-2.6.32-754.el6.x86_64 ro\n";
        let (e, d) = grub_legacy(t);
        assert_eq!(d, 1);
        assert_eq!(e[d].kernel.as_deref(), Some("2.6.32-754.el6.x86_64"));
    }
}
