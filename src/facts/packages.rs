//! Installed package versions from the guest's own package database, read as files where
//! imgseal knows the format: `/var/lib/dpkg/status` (deb), `/var/lib/pacman/local/*/desc`
//! (pacman), `/lib/apk/db/installed` (apk). On rpm guests the guest's own `rpm -q` runs inside
//! the appliance (imgseal has no rpm database reader yet). A database that cannot be read is
//! an [`Unreadable`] error, which facts report as a finding rather than end the run on.

use super::{OsInfo, PackageFormat};
use crate::guest::fs::{GuestFs, join};
use crate::parse::dpkg;
use anyhow::Result;
use std::fmt;

/// The package database could not be read; the message says which and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "package database unreadable: {}", self.0)
    }
}

impl std::error::Error for Unreadable {}

pub const PACMAN_LOCAL: &str = "/var/lib/pacman/local";
pub const APK_INSTALLED: &str = "/lib/apk/db/installed";

/// The installed version of `name` (`VERSION-RELEASE` for rpm, the dpkg version for deb,
/// pacman's `[EPOCH:]VERSION-REL`, apk's `V:`). An `Unreadable` error when the database
/// cannot be read (or imgseal has no reader for the format).
pub fn installed_version(fs: &dyn GuestFs, os: &OsInfo, name: &str) -> Result<Option<String>> {
    let unreadable = |why: String| -> anyhow::Error { Unreadable(why).into() };
    match os.package_format {
        PackageFormat::Deb => {
            let Some(status) = fs.read_text("/var/lib/dpkg/status")? else {
                return Ok(None);
            };
            Ok(dpkg::installed_version(&dpkg::parse_status(&status), name))
        }
        PackageFormat::Rpm => {
            let out = fs
                .run_readonly(&["rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}\\n", name])
                .map_err(|e| unreadable(format!("running the guest's rpm -q {name}: {e:#}")))?;
            if out.ok() {
                return Ok(out.output.lines().next().map(|l| l.trim().to_string()));
            }
            if out.output.contains("is not installed") {
                return Ok(None);
            }
            Err(unreadable(format!(
                "the guest's rpm -q {name} failed (exit {}): {}",
                out.status,
                out.output.trim()
            )))
        }
        PackageFormat::Pacman => pacman_version(fs, name),
        PackageFormat::Apk => {
            let Some(db) = fs.read_text(APK_INSTALLED)? else {
                return Err(unreadable(format!("{APK_INSTALLED} is missing")));
            };
            Ok(apk_version(&db, name))
        }
        f => Err(unreadable(format!(
            "imgseal reads no {} package database ({})",
            f, os.distro
        ))),
    }
}

/// pacman keeps one directory per package, `NAME-VERSION-REL`, whose `desc` names it.
fn pacman_version(fs: &dyn GuestFs, name: &str) -> Result<Option<String>> {
    if !fs.is_dir(PACMAN_LOCAL)? {
        return Err(Unreadable(format!("{PACMAN_LOCAL} is missing")).into());
    }
    let prefix = format!("{name}-");
    for dir in fs.list(PACMAN_LOCAL)? {
        // The name itself may hold dashes; VERSION and REL do not.
        let Some(rest) = dir.strip_prefix(&prefix) else {
            continue;
        };
        if rest.matches('-').count() != 1 {
            continue;
        }
        let Some(desc) = fs.read_text(&join(&join(PACMAN_LOCAL, &dir), "desc"))? else {
            continue;
        };
        let fields = pacman_desc(&desc);
        let field = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
        if field("NAME").as_deref() == Some(name) {
            return Ok(field("VERSION"));
        }
    }
    Ok(None)
}

/// `%NAME%` / value lines / blank line blocks: (field, first value).
fn pacman_desc(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(l) = lines.next() {
        if let Some(k) = l.strip_prefix('%').and_then(|l| l.strip_suffix('%'))
            && let Some(v) = lines.next()
        {
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

/// apk's installed database: blank-line separated blocks of `P:name`, `V:version`, ….
fn apk_version(db: &str, name: &str) -> Option<String> {
    db.split("\n\n").find_map(|block| {
        let get = |k: &str| block.lines().find_map(|l| l.strip_prefix(k));
        (get("P:")? == name).then(|| get("V:").map(str::to_string))?
    })
}

/// Which database answered, for reports.
pub fn database(os: &OsInfo) -> &'static str {
    match os.package_format {
        PackageFormat::Deb => "/var/lib/dpkg/status",
        PackageFormat::Rpm => "rpm database (guest rpm -q)",
        PackageFormat::Pacman => PACMAN_LOCAL,
        PackageFormat::Apk => APK_INSTALLED,
        _ => "none",
    }
}

/// Why imgseal cannot install a vendor package on this guest, if it cannot: its package
/// operations drive rpm and dpkg only.
pub fn vendor_gap(os: &OsInfo) -> Option<String> {
    (!os.is_deb() && !os.is_rpm()).then(|| {
        format!(
            "imgseal installs vendor packages on deb and rpm guests only; {} uses {} ({}), so its \
             vendor cloud-init has to be installed by other means",
            os.short(),
            os.package_format,
            os.package_management
        )
    })
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
        let e = installed_version(&fs, &os, "broken").unwrap_err();
        assert!(e.downcast_ref::<Unreadable>().is_some(), "{e}");
        let e = e.to_string();
        assert!(e.starts_with("package database unreadable: "), "{e}");
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

    #[test]
    fn a_guest_without_a_shell_gives_an_unreadable_database() {
        // The appliance runs guest programs through /bin/sh: without one, rpm never starts.
        let fs = MemFs::new().with_runner(|_, _| CmdOut {
            status: 127,
            output: "/bin/sh: No such file or directory\n".into(),
        });
        let os = OsInfo::linux("fedora", 39, 0);
        let e = installed_version(&fs, &os, "cloud-init").unwrap_err();
        let u = e.downcast_ref::<Unreadable>().expect("an Unreadable error");
        assert!(u.0.contains("/bin/sh: No such file"), "{u}");
    }

    fn os_of(distro: &str, format: PackageFormat) -> OsInfo {
        OsInfo {
            package_format: format,
            package_management: format.to_string(),
            ..OsInfo::linux(distro, 0, 0)
        }
    }

    #[test]
    fn pacman_reads_local_desc_files() {
        let desc = |n: &str, v: &str| format!("%NAME%\n{n}\n\n%VERSION%\n{v}\n\n%BASE%\n{n}\n");
        let fs = MemFs::new()
            .file(
                "/var/lib/pacman/local/cloud-init-23.4.4-1/desc",
                &desc("cloud-init", "23.4.4-1"),
            )
            // A package whose name starts like cloud-init's is another package.
            .file(
                "/var/lib/pacman/local/cloud-init-extra-1.0-2/desc",
                &desc("cloud-init-extra", "1.0-2"),
            )
            .file(
                "/var/lib/pacman/local/ufw-0.36.2-3/desc",
                &desc("ufw", "1:0.36.2-3"),
            );
        let os = os_of("archlinux", PackageFormat::Pacman);
        assert_eq!(
            installed_version(&fs, &os, "cloud-init")
                .unwrap()
                .as_deref(),
            Some("23.4.4-1")
        );
        assert_eq!(
            installed_version(&fs, &os, "ufw").unwrap().as_deref(),
            Some("1:0.36.2-3")
        );
        assert_eq!(installed_version(&fs, &os, "firewalld").unwrap(), None);
        // No database at all is a finding, not "not installed".
        let e = installed_version(&MemFs::new(), &os, "cloud-init").unwrap_err();
        assert!(
            e.to_string().contains("/var/lib/pacman/local is missing"),
            "{e}"
        );
    }

    #[test]
    fn apk_reads_the_installed_database() {
        let fs = MemFs::new().file(
            "/lib/apk/db/installed",
            "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\n\nC:Q1def=\nP:cloud-init\nV:23.1.1-r1\nA:noarch\n",
        );
        let os = os_of("alpinelinux", PackageFormat::Apk);
        assert_eq!(
            installed_version(&fs, &os, "cloud-init")
                .unwrap()
                .as_deref(),
            Some("23.1.1-r1")
        );
        assert_eq!(installed_version(&fs, &os, "cloud").unwrap(), None);
        assert!(installed_version(&MemFs::new(), &os, "musl").is_err());
    }

    #[test]
    fn formats_without_a_reader_say_so() {
        let os = os_of("gentoo", PackageFormat::Ebuild);
        let e = installed_version(&MemFs::new(), &os, "cloud-init").unwrap_err();
        assert_eq!(
            e.to_string(),
            "package database unreadable: imgseal reads no ebuild package database (gentoo)"
        );
        let gap = vendor_gap(&os).unwrap();
        assert!(
            gap.contains("deb and rpm guests only") && gap.contains("ebuild"),
            "{gap}"
        );
        assert_eq!(vendor_gap(&OsInfo::linux("debian", 12, 0)), None);
        assert_eq!(vendor_gap(&OsInfo::linux("centos", 7, 9)), None);
    }
}
