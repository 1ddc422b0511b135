//! Installed package versions from the guest's own package database, read as files where
//! imgseal knows the format: `/var/lib/dpkg/status` (deb), `/var/lib/pacman/local/*/desc`
//! (pacman), `/lib/apk/db/installed` (apk), and rpm's sqlite or Berkeley DB database
//! ([`super::rpmdb`]): no guest program runs, so a guest without `/bin/sh` or with broken
//! libraries is read like any other. A database that cannot be read is an [`Unreadable`]
//! error, which facts report as a finding rather than end the run on.

use super::rpmdb::{self, Bytes, GuestFile};
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
        PackageFormat::Rpm => rpm_version(fs, name),
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

/// The kinds of database rpm keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpmDb {
    /// `rpmdb.sqlite` (rpm ≥ 4.16: Fedora ≥ 33, RHEL 9 and its rebuilds)
    Sqlite,
    /// The Berkeley DB hash file `Packages` (CentOS 6/7, RHEL 8)
    Bdb,
    /// `Packages.db`, rpm's own "ndb" format (openSUSE, SLES 15 SP3 and later)
    Ndb,
}

/// Where rpm keeps its database: Fedora ≥ 36 and openSUSE under /usr/lib/sysimage/rpm (with
/// /var/lib/rpm a link to it), the others under /var/lib/rpm. The first regular file found
/// (links followed) is the database.
pub const RPM_DATABASES: &[(&str, RpmDb)] = &[
    ("/usr/lib/sysimage/rpm/rpmdb.sqlite", RpmDb::Sqlite),
    ("/var/lib/rpm/rpmdb.sqlite", RpmDb::Sqlite),
    ("/usr/lib/sysimage/rpm/Packages.db", RpmDb::Ndb),
    ("/var/lib/rpm/Packages.db", RpmDb::Ndb),
    ("/usr/lib/sysimage/rpm/Packages", RpmDb::Bdb),
    ("/var/lib/rpm/Packages", RpmDb::Bdb),
];

/// The guest's rpm database, if it has one.
pub fn rpm_database(fs: &dyn GuestFs) -> Result<Option<(&'static str, RpmDb)>> {
    for &(path, kind) in RPM_DATABASES {
        if fs.file_id(path)?.is_some() {
            return Ok(Some((path, kind)));
        }
    }
    Ok(None)
}

/// `VERSION-RELEASE` of the installed package `name` (the first by header number when
/// several are, as `rpm -q` lists them), read from the database file.
fn rpm_version(fs: &dyn GuestFs, name: &str) -> Result<Option<String>> {
    let Some((path, kind)) = rpm_database(fs)? else {
        let places: Vec<&str> = RPM_DATABASES.iter().map(|(p, _)| *p).collect();
        return Err(Unreadable(format!(
            "no rpm database: none of {} exists",
            places.join(", ")
        ))
        .into());
    };
    let unreadable =
        |e: anyhow::Error| -> anyhow::Error { Unreadable(format!("{path}: {e:#}")).into() };
    let file = GuestFile::open(fs, path).map_err(unreadable)?;
    let found = match kind {
        RpmDb::Sqlite => {
            // Committed transactions sqlite has not copied into the file yet.
            let wal_path = format!("{path}-wal");
            let wal = match fs.file_id(&wal_path)? {
                Some(_) => Some(GuestFile::open(fs, &wal_path).map_err(unreadable)?),
                None => None,
            };
            rpmdb::sqlite::find(&file, wal.as_ref().map(|w| w as &dyn Bytes), name)
        }
        RpmDb::Bdb => rpmdb::bdb::find(&file, name),
        RpmDb::Ndb => {
            return Err(Unreadable(format!(
                "{path} is rpm's ndb format, which imgseal does not read"
            ))
            .into());
        }
    }
    .map_err(unreadable)?;
    Ok(found.first().map(rpmdb::Package::version_release))
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
pub fn database(fs: &dyn GuestFs, os: &OsInfo) -> String {
    match os.package_format {
        PackageFormat::Deb => "/var/lib/dpkg/status".into(),
        PackageFormat::Rpm => match rpm_database(fs) {
            Ok(Some((path, _))) => path.into(),
            _ => "no rpm database".into(),
        },
        PackageFormat::Pacman => PACMAN_LOCAL.into(),
        PackageFormat::Apk => APK_INSTALLED.into(),
        _ => "none".into(),
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
    use crate::guest::fs::MemFs;

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

    fn no_guest_program(fs: MemFs) -> MemFs {
        fs.with_runner(|_, argv| panic!("a guest program ran: {argv:?}"))
    }

    fn rpm_fixture(name: &str) -> Vec<u8> {
        crate::facts::rpmdb::tests::fixture(name)
    }

    #[test]
    fn rpm_reads_the_sqlite_database_without_guest_programs() {
        // CentOS 8 / RHEL 9 layout.
        let fs = no_guest_program(MemFs::new().bytes(
            "/var/lib/rpm/rpmdb.sqlite",
            &rpm_fixture("sqlite/rpmdb.sqlite"),
        ));
        let os = OsInfo::linux("centos", 9, 0);
        assert_eq!(
            installed_version(&fs, &os, "cloud-init")
                .unwrap()
                .as_deref(),
            Some("0.7.9-24.el7.centos")
        );
        assert_eq!(
            installed_version(&fs, &os, "firewalld").unwrap().as_deref(),
            Some("0.6.3-13.el7_9")
        );
        assert_eq!(installed_version(&fs, &os, "ufw").unwrap(), None);
        assert_eq!(database(&fs, &os), "/var/lib/rpm/rpmdb.sqlite");
    }

    #[test]
    fn rpm_follows_fedoras_sysimage_layout_and_reads_the_log() {
        // Fedora >= 36: the database under /usr/lib/sysimage/rpm, /var/lib/rpm a link to it;
        // the write-ahead log beside it deletes cloud-init.
        let fs = no_guest_program(
            MemFs::new()
                .bytes(
                    "/usr/lib/sysimage/rpm/rpmdb.sqlite",
                    &rpm_fixture("wal/rpmdb.sqlite"),
                )
                .bytes(
                    "/usr/lib/sysimage/rpm/rpmdb.sqlite-wal",
                    &rpm_fixture("wal/rpmdb.sqlite-wal"),
                )
                .link("/var/lib/rpm", "../../usr/lib/sysimage/rpm"),
        );
        let os = OsInfo::linux("fedora", 39, 0);
        assert_eq!(installed_version(&fs, &os, "cloud-init").unwrap(), None);
        assert_eq!(
            installed_version(&fs, &os, "cloud-init-extra")
                .unwrap()
                .as_deref(),
            Some("1.0-2")
        );
        assert_eq!(database(&fs, &os), "/usr/lib/sysimage/rpm/rpmdb.sqlite");
    }

    #[test]
    fn rpm_reads_the_berkeley_db_packages_file() {
        // CentOS 6/7 layout.
        let fs = no_guest_program(
            MemFs::new().bytes("/var/lib/rpm/Packages", &rpm_fixture("bdb/Packages")),
        );
        let os = OsInfo::linux("centos", 7, 9);
        assert_eq!(
            installed_version(&fs, &os, "cloud-init")
                .unwrap()
                .as_deref(),
            Some("0.7.9-24.el7.centos")
        );
        assert_eq!(installed_version(&fs, &os, "cloud").unwrap(), None);
        assert_eq!(database(&fs, &os), "/var/lib/rpm/Packages");
    }

    #[test]
    fn an_rpm_database_that_cannot_be_read_is_a_finding() {
        let os = OsInfo::linux("centos", 7, 9);
        let unreadable = |fs: MemFs| {
            let e = installed_version(&no_guest_program(fs), &os, "cloud-init").unwrap_err();
            let u = e.downcast_ref::<Unreadable>().expect("an Unreadable error");
            assert!(
                e.to_string().starts_with("package database unreadable: "),
                "{e}"
            );
            u.0.clone()
        };
        let why = unreadable(MemFs::new());
        assert!(
            why.starts_with("no rpm database: none of /usr/lib/sysimage/rpm/rpmdb.sqlite"),
            "{why}"
        );
        let mut damaged = rpm_fixture("bdb/Packages");
        damaged.truncate(600);
        let why = unreadable(MemFs::new().bytes("/var/lib/rpm/Packages", &damaged));
        assert!(why.starts_with("/var/lib/rpm/Packages: "), "{why}");
        let why = unreadable(MemFs::new().file("/var/lib/rpm/rpmdb.sqlite", "not a database"));
        assert!(why.contains("too short to be an sqlite database"), "{why}");
        let why = unreadable(MemFs::new().file("/usr/lib/sysimage/rpm/Packages.db", "ndb"));
        assert!(why.contains("ndb format"), "{why}");
        // A directory where the file should be is no database.
        let why = unreadable(MemFs::new().dir("/var/lib/rpm/Packages"));
        assert!(why.starts_with("no rpm database"), "{why}");
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
