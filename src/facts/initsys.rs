//! Which init system the guest boots with.

use super::InitSystem;
use crate::guest::fs::{GuestFs, Kind};
use anyhow::Result;

/// `systemd`, `upstart`, `sysvinit` or `unknown`, from /sbin/init and what surrounds it.
pub fn detect(fs: &dyn GuestFs) -> Result<InitSystem> {
    let systemd_bin =
        fs.exists("/usr/lib/systemd/systemd")? || fs.exists("/lib/systemd/systemd")?;
    match fs.lstat("/sbin/init")? {
        Some(m) if m.kind == Kind::Symlink => {
            let t = fs.readlink("/sbin/init")?;
            if t.contains("systemd") {
                return Ok(InitSystem::Systemd);
            }
            if t.contains("upstart") {
                return Ok(InitSystem::Upstart);
            }
            Ok(if systemd_bin {
                InitSystem::Systemd
            } else {
                InitSystem::Sysvinit
            })
        }
        Some(_) => {
            let upstart = fs.exists("/sbin/initctl")? && !fs.glob("/etc/init/*.conf")?.is_empty();
            if upstart {
                Ok(InitSystem::Upstart)
            } else {
                Ok(InitSystem::Sysvinit)
            }
        }
        None if systemd_bin => Ok(InitSystem::Systemd),
        None => Ok(InitSystem::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fs::MemFs;

    #[test]
    fn systemd_via_merged_usr_link() {
        let fs = MemFs::new()
            .link("/sbin", "usr/sbin")
            .link("/usr/sbin/init", "../lib/systemd/systemd")
            .file("/usr/lib/systemd/systemd", "");
        assert_eq!(detect(&fs).unwrap(), InitSystem::Systemd);
    }

    #[test]
    fn sysvinit_and_upstart() {
        let fs = MemFs::new()
            .file("/sbin/init", "ELF")
            .file("/etc/inittab", "id:3:initdefault:");
        assert_eq!(detect(&fs).unwrap(), InitSystem::Sysvinit);
        let fs = MemFs::new()
            .file("/sbin/init", "ELF")
            .file("/sbin/initctl", "ELF")
            .file("/etc/init/tty1.conf", "");
        assert_eq!(detect(&fs).unwrap(), InitSystem::Upstart);
        assert_eq!(detect(&MemFs::new()).unwrap(), InitSystem::Unknown);
    }
}
