//! Kernels and boot configuration (R9, B1): installed kernels, the boot default, and
//! whether the initramfs can find a virtio disk.

use crate::guest::fs::{GuestFs, join};
use crate::parse::grub::{self, BootEntry};
use anyhow::Result;
use std::cmp::Ordering;

/// Kernel versions with a `/boot/vmlinuz-VERSION`, newest first.
pub fn installed_kernels(fs: &dyn GuestFs) -> Result<Vec<String>> {
    let mut v: Vec<String> = fs
        .list("/boot")?
        .into_iter()
        .filter_map(|n| n.strip_prefix("vmlinuz-").map(str::to_string))
        .filter(|v| !v.contains("rescue"))
        .collect();
    v.sort_by(|a, b| grub::vercmp(b, a));
    Ok(v)
}

/// The kernel the boot loader starts by default, and the file that says so.
pub fn default_kernel(fs: &dyn GuestFs) -> Result<Option<(String, String)>> {
    // GRUB 2 (BIOS and EFI layouts).
    for cfg in [
        "/boot/grub2/grub.cfg",
        "/boot/grub/grub.cfg",
        "/boot/efi/EFI/centos/grub.cfg",
    ] {
        let Some(text) = fs.read_text(cfg)? else {
            continue;
        };
        let (entries, default) = grub::grub2_cfg(&text);
        let mut d = default;
        if d.as_deref().is_some_and(|d| d.contains("saved_entry")) || d.is_none() {
            let env = join(crate::guest::fs::parent(cfg), "grubenv");
            d = fs
                .read_text(&env)?
                .and_then(|t| grub::grubenv_saved(&t))
                .or(Some("0".into()));
        }
        // BLS (CentOS 8+, Fedora): entries live in /boot/loader/entries.
        let entries = if entries.is_empty() {
            bls_entries(fs)?
        } else {
            entries
        };
        if let Some(k) = grub::select(&entries, d.as_deref()).and_then(|e| e.kernel.clone()) {
            return Ok(Some((k, cfg.to_string())));
        }
    }
    for cfg in [
        "/boot/grub/grub.conf",
        "/boot/grub/menu.lst",
        "/etc/grub.conf",
    ] {
        let Some(text) = fs.read_text(cfg)? else {
            continue;
        };
        let (entries, d) = grub::grub_legacy(&text);
        if let Some(k) = entries.get(d).and_then(|e| e.kernel.clone()) {
            return Ok(Some((k, cfg.to_string())));
        }
    }
    Ok(None)
}

fn bls_entries(fs: &dyn GuestFs) -> Result<Vec<BootEntry>> {
    let mut out = Vec::new();
    for f in fs.glob("/boot/loader/entries/*.conf")? {
        let Some(t) = fs.read_text(&f)? else { continue };
        let kernel = t
            .lines()
            .find_map(|l| l.trim().strip_prefix("linux "))
            .and_then(grub::kernel_of);
        let id = f
            .rsplit('/')
            .next()
            .map(|n| n.trim_end_matches(".conf").to_string());
        out.push(BootEntry {
            title: id.clone().unwrap_or_default(),
            id,
            kernel,
        });
    }
    // BLS menus list the newest kernel first.
    out.sort_by(|a, b| match (&a.kernel, &b.kernel) {
        (Some(x), Some(y)) => grub::vercmp(y, x),
        _ => Ordering::Equal,
    });
    Ok(out)
}

/// The initramfs of a kernel version, if there is one.
pub fn initramfs_of(fs: &dyn GuestFs, version: &str) -> Result<Option<String>> {
    for p in [
        format!("/boot/initramfs-{version}.img"),
        format!("/boot/initrd.img-{version}"),
        format!("/boot/initrd-{version}.img"),
        format!("/boot/initrd-{version}"),
    ] {
        if fs.exists(&p)? {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

pub const VIRTIO_MODULES: &[(&str, &str)] = &[
    ("virtio_blk", "CONFIG_VIRTIO_BLK"),
    ("virtio_net", "CONFIG_VIRTIO_NET"),
    ("virtio_scsi", "CONFIG_SCSI_VIRTIO"),
];

/// Virtio drivers built into the kernel (`CONFIG_...=y` in /boot/config-VERSION).
pub fn builtin_virtio(fs: &dyn GuestFs, version: &str) -> Result<Vec<&'static str>> {
    let Some(cfg) = fs.read_text(&format!("/boot/config-{version}"))? else {
        return Ok(vec![]);
    };
    Ok(VIRTIO_MODULES
        .iter()
        .filter(|(_, opt)| cfg.lines().any(|l| l.trim() == format!("{opt}=y")))
        .map(|(m, _)| *m)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fs::MemFs;

    #[test]
    fn kernels_newest_first_and_default_from_grubenv() {
        let fs = MemFs::new()
            .file("/boot/vmlinuz-3.10.0-957.el7.x86_64", "")
            .file("/boot/vmlinuz-3.10.0-1160.el7.x86_64", "")
            .file("/boot/vmlinuz-0-rescue-abc", "")
            .file("/boot/grub2/grub.cfg", "set default=\"${saved_entry}\"\nmenuentry 'CentOS (3.10.0-1160.el7.x86_64)' {\n linux16 /vmlinuz-3.10.0-1160.el7.x86_64 ro\n}\nmenuentry 'CentOS (3.10.0-957.el7.x86_64)' {\n linux16 /vmlinuz-3.10.0-957.el7.x86_64 ro\n}\n")
            .file("/boot/grub2/grubenv", "saved_entry=CentOS (3.10.0-957.el7.x86_64)\n");
        assert_eq!(
            installed_kernels(&fs).unwrap(),
            vec!["3.10.0-1160.el7.x86_64", "3.10.0-957.el7.x86_64"]
        );
        assert_eq!(
            default_kernel(&fs).unwrap(),
            Some((
                "3.10.0-957.el7.x86_64".into(),
                "/boot/grub2/grub.cfg".into()
            ))
        );
    }

    #[test]
    fn bls_and_legacy() {
        let fs = MemFs::new()
            .file(
                "/boot/grub2/grub.cfg",
                "set default=\"${saved_entry}\"\nblscfg\n",
            )
            .file(
                "/boot/loader/entries/abc-4.18.0-80.el8.x86_64.conf",
                "title CentOS\nlinux /vmlinuz-4.18.0-80.el8.x86_64\n",
            )
            .file(
                "/boot/loader/entries/abc-4.18.0-348.el8.x86_64.conf",
                "title CentOS\nlinux /vmlinuz-4.18.0-348.el8.x86_64\n",
            );
        assert_eq!(
            default_kernel(&fs).unwrap().unwrap().0,
            "4.18.0-348.el8.x86_64"
        );
        let fs = MemFs::new().file(
            "/boot/grub/grub.conf",
            "default=0\ntitle C6\n kernel /vmlinuz-2.6.32-754.el6.x86_64 ro\n",
        );
        assert_eq!(
            default_kernel(&fs).unwrap().unwrap().0,
            "2.6.32-754.el6.x86_64"
        );
        assert_eq!(default_kernel(&MemFs::new()).unwrap(), None);
    }

    #[test]
    fn virtio_builtin_and_initramfs_path() {
        let fs = MemFs::new()
            .file(
                "/boot/config-6.1.0-9-amd64",
                "CONFIG_VIRTIO_BLK=m\nCONFIG_VIRTIO_NET=y\n# CONFIG_SCSI_VIRTIO is not set\n",
            )
            .file("/boot/initrd.img-6.1.0-9-amd64", "");
        assert_eq!(
            builtin_virtio(&fs, "6.1.0-9-amd64").unwrap(),
            vec!["virtio_net"]
        );
        assert_eq!(
            initramfs_of(&fs, "6.1.0-9-amd64").unwrap().as_deref(),
            Some("/boot/initrd.img-6.1.0-9-amd64")
        );
    }
}
