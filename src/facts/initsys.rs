//! Which init system the guest boots with.

use crate::guest::fs::{GuestFs, Kind};
use anyhow::Result;

/// `systemd`, `upstart`, `sysvinit` or `unknown`, from /sbin/init and what surrounds it.
pub fn detect(fs: &dyn GuestFs) -> Result<String> {
    let systemd_bin =
        fs.exists("/usr/lib/systemd/systemd")? || fs.exists("/lib/systemd/systemd")?;
    match fs.lstat("/sbin/init")? {
        Some(m) if m.kind == Kind::Symlink => {
            let t = fs.readlink("/sbin/init")?;
            if t.contains("systemd") {
                return Ok("systemd".into());
            }
            if t.contains("upstart") {
                return Ok("upstart".into());
            }
            Ok(if systemd_bin { "systemd" } else { "sysvinit" }.into())
        }
        Some(_) => {
            let upstart = fs.exists("/sbin/initctl")? && !fs.glob("/etc/init/*.conf")?.is_empty();
            if upstart {
                Ok("upstart".into())
            } else {
                Ok("sysvinit".into())
            }
        }
        None if systemd_bin => Ok("systemd".into()),
        None => Ok("unknown".into()),
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
        assert_eq!(detect(&fs).unwrap(), "systemd");
    }

    #[test]
    fn sysvinit_and_upstart() {
        let fs = MemFs::new()
            .file("/sbin/init", "ELF")
            .file("/etc/inittab", "id:3:initdefault:");
        assert_eq!(detect(&fs).unwrap(), "sysvinit");
        let fs = MemFs::new()
            .file("/sbin/init", "ELF")
            .file("/sbin/initctl", "ELF")
            .file("/etc/init/tty1.conf", "");
        assert_eq!(detect(&fs).unwrap(), "upstart");
        assert_eq!(detect(&MemFs::new()).unwrap(), "unknown");
    }
}
