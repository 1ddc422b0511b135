//! /etc/fstab.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub spec: String,
    pub file: String,
    pub vfstype: String,
    pub options: String,
    pub line: usize,
}

pub fn parse(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.len() < 3 {
            continue;
        }
        out.push(Entry {
            spec: w[0].to_string(),
            file: w[1].to_string(),
            vfstype: w[2].to_string(),
            options: w.get(3).unwrap_or(&"defaults").to_string(),
            line: i + 1,
        });
    }
    out
}

/// A spec naming a disk by kernel device name, which changes when the disk bus changes
/// (IDE/SCSI `sdX`/`hdX`/`xvdX` → virtio `vdX`).
pub fn is_unstable_device_name(spec: &str) -> bool {
    ["/dev/sd", "/dev/hd", "/dev/xvd", "/dev/vd"]
        .iter()
        .any(|p| spec.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_device_names() {
        let t = "# /etc/fstab\nUUID=0b6a-1 / ext4 errors=remount-ro 0 1\n/dev/sda2 swap swap defaults 0 0\nLABEL=boot /boot xfs defaults\n/dev/mapper/vg-home /home ext4\nproc /proc\n";
        let e = parse(t);
        assert_eq!(e.len(), 4);
        assert_eq!(e[1].line, 3);
        let bad: Vec<&str> = e
            .iter()
            .filter(|x| is_unstable_device_name(&x.spec))
            .map(|x| x.spec.as_str())
            .collect();
        assert_eq!(bad, vec!["/dev/sda2"]);
    }
}
