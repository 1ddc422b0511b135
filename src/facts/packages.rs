//! Installed package versions from the guest's own package database: `/var/lib/dpkg/status`
//! read directly on deb guests, the guest's own `rpm -q` run inside the appliance on rpm guests.

use super::OsInfo;
use crate::guest::fs::GuestFs;
use crate::parse::dpkg;
use anyhow::{Result, bail};

/// The installed version of `name` (`VERSION-RELEASE` for rpm, the dpkg version for deb).
pub fn installed_version(fs: &dyn GuestFs, os: &OsInfo, name: &str) -> Result<Option<String>> {
    if os.is_deb() {
        let Some(status) = fs.read_text("/var/lib/dpkg/status")? else {
            return Ok(None);
        };
        return Ok(dpkg::installed_version(&dpkg::parse_status(&status), name));
    }
    if os.is_rpm() {
        let out = fs.run_readonly(&["rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}\\n", name])?;
        if out.ok() {
            return Ok(out.output.lines().next().map(|l| l.trim().to_string()));
        }
        if out.output.contains("is not installed") {
            return Ok(None);
        }
        bail!(
            "rpm -q {name} failed in the guest (exit {}): {}",
            out.status,
            out.output.trim()
        );
    }
    Ok(None)
}

/// Which database answered, for reports.
pub fn database(os: &OsInfo) -> &'static str {
    if os.is_deb() {
        "/var/lib/dpkg/status"
    } else if os.is_rpm() {
        "rpm database (guest rpm -q)"
    } else {
        "none"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fs::{CmdOut, MemFs};

    #[test]
    fn deb_reads_the_status_file() {
        let fs = MemFs::new().file(
            "/var/lib/dpkg/status",
            "Package: cloud-init\nStatus: install ok installed\nVersion: 22.4.2-1\n",
        );
        let os = OsInfo::linux("debian", 12, 0);
        assert_eq!(
            installed_version(&fs, &os, "cloud-init")
                .unwrap()
                .as_deref(),
            Some("22.4.2-1")
        );
        assert_eq!(installed_version(&fs, &os, "ufw").unwrap(), None);
    }

    #[test]
    fn rpm_asks_the_guest_rpm() {
        let fs = MemFs::new().with_runner(|_, argv| {
            if argv.last() == Some(&"cloud-init") {
                CmdOut {
                    status: 0,
                    output: "0.7.9-24.el7.centos\n".into(),
                }
            } else if argv.last() == Some(&"broken") {
                CmdOut {
                    status: 1,
                    output: "error: rpmdb open failed\n".into(),
                }
            } else {
                CmdOut {
                    status: 1,
                    output: format!("package {} is not installed\n", argv.last().unwrap()),
                }
            }
        });
        let os = OsInfo::linux("centos", 7, 9);
        assert_eq!(
            installed_version(&fs, &os, "cloud-init")
                .unwrap()
                .as_deref(),
            Some("0.7.9-24.el7.centos")
        );
        assert_eq!(installed_version(&fs, &os, "firewalld").unwrap(), None);
        let e = installed_version(&fs, &os, "broken")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rpmdb open failed"), "{e}");
        assert_eq!(
            fs.commands.borrow()[0],
            vec![
                "rpm",
                "-q",
                "--qf",
                "%{VERSION}-%{RELEASE}\\n",
                "cloud-init"
            ]
        );
    }
}
