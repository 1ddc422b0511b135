//! B1 (warn): the image boots on the target cloud's KVM: disks named by UUID/LABEL, virtio
//! drivers reachable from the initramfs.

use super::{CheckDef, Ctx, Outcome};
use crate::applies::Applies;
use crate::facts::boot;
use crate::facts::initramfs::{self, Unlistable};
use crate::parse::fstab;
use crate::rule::RuleId;
use anyhow::Result;

pub fn checks() -> Vec<CheckDef> {
    vec![
        CheckDef::new(
            "fstab-device-names",
            RuleId::B1,
            Applies::LINUX,
            "fstab names filesystems by UUID or LABEL, not by kernel device name",
            Box::new(fstab_names),
        ),
        CheckDef::new(
            "initramfs-virtio",
            RuleId::B1,
            Applies::LINUX,
            "The default kernel can reach virtio_blk, virtio_net and virtio_scsi at boot",
            Box::new(initramfs_virtio),
        ),
    ]
}

fn fstab_names(ctx: &Ctx) -> Result<Outcome> {
    let Some(t) = ctx.fs.read_text("/etc/fstab")? else {
        return Ok(Outcome::skip("no /etc/fstab"));
    };
    let bad: Vec<String> = fstab::parse(&t)
        .into_iter()
        .filter(|e| fstab::is_unstable_device_name(&e.spec))
        .map(|e| format!("/etc/fstab:{}: {} {}", e.line, e.spec, e.file))
        .collect();
    Ok(if bad.is_empty() {
        Outcome::pass("every entry by UUID, LABEL or a stable path")
    } else {
        Outcome::fail(
            format!(
                "device names change on virtio (sdX becomes vdX): {}",
                bad.join("; ")
            ),
            bad,
        )
    })
}

fn initramfs_virtio(ctx: &Ctx) -> Result<Outcome> {
    let kernels = boot::installed_kernels(ctx.fs)?;
    let version = match boot::default_kernel(ctx.fs)? {
        Some((k, _)) => k,
        None => match kernels.first() {
            Some(k) => k.clone(),
            None => return Ok(Outcome::skip("no kernel in /boot")),
        },
    };
    let builtin = boot::builtin_virtio(ctx.fs, &version)?;
    let needed: Vec<&str> = boot::VIRTIO_MODULES
        .iter()
        .map(|m| m.0)
        .filter(|m| !builtin.contains(m))
        .collect();
    if needed.is_empty() {
        return Ok(Outcome::pass(format!("built into {version}")));
    }
    let Some(initrd) = boot::initramfs_of(ctx.fs, &version)? else {
        return Ok(Outcome::fail(
            format!(
                "kernel {version} has no initramfs and lacks built-in {}",
                needed.join(", ")
            ),
            vec![],
        ));
    };
    // Read and unpacked on the host, bounded, once per file identity: the "after" check of
    // an initramfs the conversion did not rebuild asks the memo, not the guest.
    let listing = initramfs::list_guest(ctx.fs, &initrd)?;
    let held = match &*listing {
        Ok(held) => held,
        Err(Unlistable(why)) => {
            return Ok(Outcome::warn(format!("cannot list {initrd}: {why}")));
        }
    };
    let missing: Vec<&str> = needed.into_iter().filter(|m| !held.has_module(m)).collect();
    Ok(if missing.is_empty() {
        Outcome::pass(format!("{initrd} holds the virtio modules"))
    } else {
        Outcome::fail(
            format!(
                "{initrd} lacks {}; rebuild it with them (dracut --add-drivers / initramfs-tools modules)",
                missing.join(", ")
            ),
            vec![initrd],
        )
    })
}

#[cfg(test)]
mod tests {
    use crate::checks::Status;
    use crate::checks::testutil::*;
    use crate::facts::OsInfo;
    use crate::facts::initramfs::tests::{gzip, newc};
    use crate::guest::fs::{GuestFs, MemFs};

    const INITRD: &str = "/boot/initramfs-2.6.32-754.el6.x86_64.img";

    fn el6(initrd: &[u8]) -> MemFs {
        MemFs::new()
            .file(
                "/etc/fstab",
                "/dev/sda1 / ext4 defaults 1 1\nUUID=x /home ext4 defaults 0 0\n",
            )
            .file("/boot/vmlinuz-2.6.32-754.el6.x86_64", "")
            .bytes(INITRD, initrd)
    }

    #[test]
    fn device_names_and_missing_virtio_warn() {
        let initrd = gzip(&newc(&[(
            "lib/modules/2.6.32-754.el6.x86_64/kernel/drivers/block/virtio_blk.ko",
            0o100644,
            b"\x7fELF",
        )]));
        let fs = el6(&initrd);
        let r = report(&fs, &OsInfo::linux("centos", 6, 10), None);
        let f = result(&r, "fstab-device-names");
        assert_eq!((f.status, f.rule.as_str()), (Status::Warn, "B1"));
        assert_eq!(f.findings, vec!["/etc/fstab:1: /dev/sda1 /"]);
        let v = result(&r, "initramfs-virtio");
        assert_eq!(v.status, Status::Warn);
        assert!(
            v.detail.contains("lacks virtio_net, virtio_scsi"),
            "{}",
            v.detail
        );
        assert_eq!(v.findings, vec![INITRD]);
        // No guest program ran: the archive was read and unpacked on the host.
        assert!(
            !fs.commands
                .borrow()
                .iter()
                .any(|c| c[0].starts_with("lsinitr")),
            "{:?}",
            fs.commands.borrow()
        );
        // The "after" check of an unchanged initramfs does not read it again.
        let reads = fs.reads_at.get();
        assert!(reads > 0);
        let again = report(&fs, &OsInfo::linux("centos", 6, 10), None);
        // Equal but for how long it took (the memo makes the second one fast).
        let mut second = result(&again, "initramfs-virtio").clone();
        second.seconds = v.seconds;
        assert_eq!(&second, v);
        assert_eq!(fs.reads_at.get(), reads);
        // A rebuilt one with every driver (one as built in) passes.
        let m = "lib/modules/2.6.32-754.el6.x86_64";
        let full = newc(&[
            (
                &format!("{m}/kernel/drivers/block/virtio_blk.ko.xz"),
                0o100644,
                b"",
            ),
            (
                &format!("{m}/kernel/drivers/net/virtio_net.ko"),
                0o100644,
                b"",
            ),
            (
                &format!("{m}/modules.builtin"),
                0o100644,
                b"kernel/drivers/scsi/virtio_scsi.ko\n",
            ),
        ]);
        fs.write(INITRD, &gzip(&full)).unwrap();
        let v = result(
            &report(&fs, &OsInfo::linux("centos", 6, 10), None),
            "initramfs-virtio",
        )
        .clone();
        assert_eq!(v.status, Status::Pass, "{}", v.detail);
        assert_eq!(v.detail, format!("{INITRD} holds the virtio modules"));
    }

    #[test]
    fn an_initramfs_that_cannot_be_listed_is_a_warning_that_says_why() {
        let fs = el6(b"MZ this is no initramfs");
        let v = result(
            &report(&fs, &OsInfo::linux("centos", 6, 10), None),
            "initramfs-virtio",
        )
        .clone();
        assert_eq!(v.status, Status::Warn);
        assert_eq!(
            v.detail,
            format!(
                "cannot list {INITRD}: unknown data at offset 0 (neither cpio nor a known compression)"
            )
        );
    }
}
