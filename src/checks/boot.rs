//! B1 (warn): the image boots on the target cloud's KVM: disks named by UUID/LABEL, virtio
//! drivers reachable from the initramfs.

use super::{CheckDef, Ctx, Outcome};
use crate::applies::Applies;
use crate::facts::boot;
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
    let Some(listing) = boot::list_initramfs(ctx.fs, &initrd)? else {
        return Ok(Outcome::warn(format!(
            "cannot list {initrd} (neither lsinitrd nor lsinitramfs in the guest)"
        )));
    };
    let missing: Vec<&str> = needed
        .into_iter()
        .filter(|m| !listing.lines().any(|l| l.contains(&format!("/{m}.ko"))))
        .collect();
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
    use crate::guest::fs::{CmdOut, MemFs};

    #[test]
    fn device_names_and_missing_virtio_warn() {
        let fs = MemFs::new()
            .file(
                "/etc/fstab",
                "/dev/sda1 / ext4 defaults 1 1\nUUID=x /home ext4 defaults 0 0\n",
            )
            .file("/boot/vmlinuz-2.6.32-754.el6.x86_64", "")
            .file("/boot/initramfs-2.6.32-754.el6.x86_64.img", "")
            .with_runner(|_, argv| match argv[0] {
                "lsinitrd" => CmdOut {
                    status: 0,
                    output:
                        "lib/modules/2.6.32-754.el6.x86_64/kernel/drivers/block/virtio_blk.ko\n"
                            .into(),
                },
                _ => CmdOut {
                    status: 127,
                    output: String::new(),
                },
            });
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
    }
}
