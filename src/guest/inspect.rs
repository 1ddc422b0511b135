//! imgseal's own operating-system inspection.
//!
//! libguestfs's `inspect_os` answers the same questions but costs ~6.5 s per launch under
//! TCG: its `list_filesystems` alone takes ~2.3 s (it asks parted about every partition and
//! scans for LDM and btrfs volumes), and it starts augeas (~3 s) to read fstab, which imgseal
//! parses itself anyway. Here a filesystem listing is one `blkid` per block device, and a
//! candidate filesystem is mounted read-only and asked for its release files, fstab,
//! hostname and the ELF header of one binary: about 1 s in all for a one-partition guest.
//!
//! What is identified: Linux roots from `/etc/os-release` (or `/usr/lib/os-release` when
//! the one in `/etc` is missing, a dangling link or names no `ID`), with the release files
//! libguestfs also reads when os-release is missing or gives only a major version
//! (`/etc/{oracle,centos,rocky,almalinux,redhat,fedora,system}-release`,
//! `/etc/debian_version`, `/etc/lsb-release`, `/etc/arch-release`, `/etc/gentoo-release`,
//! `/etc/alpine-release`, `/etc/SuSE-release`); a root with `/etc/fstab` but no release
//! file is Linux of unknown distribution. Windows roots are recognised by `\Windows\System32` (and refused by the
//! callers). Distribution names are libguestfs's, so vendor manifests keep their meaning.
//! A btrfs filesystem whose default subvolume holds no root is looked at subvolume by
//! subvolume (Fedora's `root`, Ubuntu's `@`), and a separate `/usr` named in the root's fstab
//! is mounted before anything is read (see `roots.rs`).

use crate::facts::{InitSystem, OsFamily, OsInfo, PackageFormat};
use crate::ffi::guestfs::Handle;
use crate::guest::fs::{GuestFs, Kind};
use crate::parse::{fstab, shellvars};
use anyhow::{Context, Result};

/// Filesystem types a root (or a Windows system volume) can live on.
const ROOT_TYPES: &[&str] = &[
    "ext2", "ext3", "ext4", "xfs", "btrfs", "jfs", "reiserfs", "f2fs", "ntfs",
];

/// One block device and what `blkid` says is on it (`unknown` when nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockFs {
    pub dev: String,
    pub vfs: String,
}

/// Every partition, whole disk without partitions, md array and logical volume, with its
/// filesystem type. LVM is asked only when a physical volume is present.
pub fn list_filesystems(h: &Handle) -> Result<Vec<BlockFs>> {
    let parts = h.list_partitions()?;
    let mut devs: Vec<String> = h
        .list_devices()?
        .into_iter()
        .filter(|d| !parts.iter().any(|p| is_partition_of(p, d)))
        .collect();
    devs.extend(parts);
    devs.extend(h.list_md_devices().unwrap_or_default());
    let vfs = |d: &str| {
        h.vfs_type(d)
            .ok()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "unknown".into())
    };
    let mut out: Vec<BlockFs> = devs
        .into_iter()
        .map(|dev| BlockFs {
            vfs: vfs(&dev),
            dev,
        })
        .collect();
    if out.iter().any(|f| f.vfs == "LVM2_member") {
        for lv in h.lvs()? {
            out.push(BlockFs {
                vfs: vfs(&lv),
                dev: lv,
            });
        }
    }
    Ok(out)
}

/// `/dev/sda1` is a partition of `/dev/sda`; `/dev/md0p1` of `/dev/md0`.
fn is_partition_of(part: &str, disk: &str) -> bool {
    part.strip_prefix(disk).is_some_and(|rest| {
        let rest = rest.strip_prefix('p').unwrap_or(rest);
        !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit())
    })
}

/// Whether a filesystem of this type is worth mounting to look for an operating system.
pub fn may_hold_root(vfs: &str) -> bool {
    ROOT_TYPES.contains(&vfs)
}

/// An operating system found on a mounted candidate filesystem (`root` left empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub os: OsInfo,
    /// The guest's /etc/fstab entries (Linux).
    pub fstab: Vec<fstab::Entry>,
}

/// Looks at a filesystem mounted at `/`: None when it holds no operating system.
pub fn examine(fs: &dyn GuestFs) -> Result<Option<Found>> {
    if let Some(os) = windows(fs)? {
        return Ok(Some(Found { os, fstab: vec![] }));
    }
    if !fs.is_dir("/etc")? {
        return Ok(None);
    }
    // The first of several places a file may be.
    let first = |paths: &[&str]| -> Result<Option<String>> {
        for p in paths {
            if let Some(t) = fs.read_text(p)? {
                return Ok(Some(t));
            }
        }
        Ok(None)
    };
    // An os-release that is missing, a dangling link (absolute links resolve inside the
    // guest) or names no ID defers to systemd's fallback copy in /usr/lib.
    let mut os_release = None;
    for p in ["/etc/os-release", "/usr/lib/os-release"] {
        if let Some(t) = fs.read_text(p)?
            && os_release_id(&t).is_some()
        {
            os_release = Some(t);
            break;
        }
    }
    let files = ReleaseFiles {
        os_release,
        // Oracle Linux's redhat-release names Red Hat: its own file comes first.
        redhat_release: first(&[
            "/etc/oracle-release",
            "/etc/centos-release",
            "/etc/rocky-release",
            "/etc/almalinux-release",
            "/etc/redhat-release",
            "/etc/fedora-release",
            "/etc/system-release",
        ])?,
        debian_version: fs.read_text("/etc/debian_version")?,
        lsb_release: fs.read_text("/etc/lsb-release")?,
        arch_release: fs.lstat("/etc/arch-release")?.is_some(),
        gentoo_release: fs.read_text("/etc/gentoo-release")?,
        alpine_release: fs.read_text("/etc/alpine-release")?,
        suse_release: first(&["/etc/SuSE-release", "/etc/SUSE-brand"])?,
    };
    let fstab_text = fs.read_text("/etc/fstab")?;
    let id = match identify(&files) {
        Some(id) => id,
        // A Linux root, but of a distribution nothing names.
        None if fstab_text.is_some() => Identity::default(),
        None => return Ok(None),
    };
    Ok(Some(Found {
        os: linux_info(id, fs)?,
        fstab: fstab::parse(fstab_text.as_deref().unwrap_or("")),
    }))
}

fn linux_info(id: Identity, fs: &dyn GuestFs) -> Result<OsInfo> {
    let (format, management) = package_tools(&id.distro, id.major);
    Ok(OsInfo {
        os_type: OsFamily::Linux,
        distro: if id.distro.is_empty() {
            "unknown".into()
        } else {
            id.distro
        },
        major_version: id.major,
        minor_version: id.minor,
        arch: arch(fs)?,
        product_name: id.product,
        package_format: format,
        package_management: management.into(),
        init_system: InitSystem::Unknown,
        hostname: hostname(fs)?,
        root: String::new(),
        windows: None,
    })
}

/// `\Windows\System32` on the volume, in any letter case: a Windows root, described from
/// its registry hives (read through the appliance) and `cmd.exe`'s PE header.
fn windows(fs: &dyn GuestFs) -> Result<Option<OsInfo>> {
    use crate::facts::windows as win;
    let Some(sysroot) = win::find_nocase(fs, "/", "windows")? else {
        return Ok(None);
    };
    if !fs.is_dir(&sysroot)? || win::find_nocase(fs, &sysroot, "system32")?.is_none() {
        return Ok(None);
    }
    let r =
        win::read(fs, &sysroot).with_context(|| format!("reading the Windows root {sysroot}"))?;
    Ok(Some(OsInfo {
        os_type: OsFamily::Windows,
        distro: "windows".into(),
        major_version: r.major,
        minor_version: r.minor,
        arch: r.arch,
        product_name: r.product_name,
        package_format: PackageFormat::Unknown,
        package_management: "unknown".into(),
        init_system: InitSystem::Unknown,
        hostname: r.hostname,
        root: String::new(),
        windows: Some(r.info),
    }))
}

/// The release files inspection reads, as text.
#[derive(Debug, Default, Clone)]
pub struct ReleaseFiles {
    pub os_release: Option<String>,
    pub redhat_release: Option<String>,
    pub debian_version: Option<String>,
    pub lsb_release: Option<String>,
    /// `/etc/arch-release` exists (it is empty on Arch).
    pub arch_release: bool,
    pub gentoo_release: Option<String>,
    pub alpine_release: Option<String>,
    /// `/etc/SuSE-release` (SLES 11, openSUSE before 15).
    pub suse_release: Option<String>,
}

/// The `ID` an os-release text names, if any.
fn os_release_id(text: &str) -> Option<String> {
    let vars = shellvars::parse(text);
    shellvars::get(&vars, "ID")
        .map(|v| v.value.trim().to_string())
        .filter(|v| !v.is_empty())
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Identity {
    /// libguestfs's distribution name.
    pub distro: String,
    pub major: i32,
    pub minor: i32,
    pub product: String,
}

/// libguestfs's name for an os-release `ID`.
fn distro_name(id: &str) -> String {
    let id = id.to_ascii_lowercase();
    match id.as_str() {
        "ol" => "oraclelinux".into(),
        "arch" => "archlinux".into(),
        "alpine" => "alpinelinux".into(),
        "kali" => "kalilinux".into(),
        "void" => "voidlinux".into(),
        "sled" | "sles" | "sles_sap" => "sles".into(),
        "amzn" => "amazonlinux".into(),
        "scientific" => "scientificlinux".into(),
        s if s.starts_with("opensuse") => "opensuse".into(),
        _ => id,
    }
}

/// `12` → (12, 0), `16.04` → (16, 4), `7.9.2009` → (7, 9); None without a leading number.
pub fn parse_version(v: &str) -> Option<(i32, i32)> {
    let mut it = v.trim().split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it
        .next()
        .map(|m| {
            m.chars()
                .take_while(|c| c.is_ascii_digit())
                .collect::<String>()
        })
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    Some((major, minor))
}

/// `CentOS Linux release 7.9.2009 (Core)` → (centos, 7, 9).
fn parse_redhat_release(line: &str) -> Option<Identity> {
    let line = line.lines().next()?.trim();
    let lower = line.to_ascii_lowercase();
    let distro = [
        ("centos", "centos"),
        ("red hat enterprise linux", "rhel"),
        ("fedora", "fedora"),
        ("rocky", "rocky"),
        ("almalinux", "almalinux"),
        ("scientific linux", "scientificlinux"),
        ("oracle linux", "oraclelinux"),
        ("amazon linux", "amazonlinux"),
    ]
    .iter()
    .find(|(p, _)| lower.contains(p))
    .map(|(_, d)| d.to_string())?;
    let after = &line[lower.find("release")? + "release".len()..];
    let (major, minor) = parse_version(after.split_whitespace().next()?)?;
    Some(Identity {
        distro,
        major,
        minor,
        product: line.to_string(),
    })
}

/// The distribution and version, the way libguestfs decides them: os-release first, but a
/// Debian, CentOS or Rocky os-release with only a major version defers to the release file
/// that has the minor one.
pub fn identify(f: &ReleaseFiles) -> Option<Identity> {
    let from_os_release = f.os_release.as_deref().and_then(|t| {
        let vars = shellvars::parse(t);
        let get = |k| shellvars::get(&vars, k).map(|v| v.value.clone());
        let distro = distro_name(&get("ID")?);
        let (major, minor) = get("VERSION_ID")
            .and_then(|v| parse_version(&v))
            .unwrap_or((0, 0));
        Some(Identity {
            product: get("PRETTY_NAME")
                .or_else(|| get("NAME"))
                .unwrap_or_default(),
            distro,
            major,
            minor,
        })
    });
    let redhat = f.redhat_release.as_deref().and_then(parse_redhat_release);
    let debian = f.debian_version.as_deref().and_then(|t| {
        let (major, minor) = parse_version(t.lines().next()?)?;
        Some(Identity {
            distro: "debian".into(),
            major,
            minor,
            product: t.trim().to_string(),
        })
    });
    let lsb = f.lsb_release.as_deref().and_then(|t| {
        let vars = shellvars::parse(t);
        let get = |k| shellvars::get(&vars, k).map(|v| v.value.clone());
        let distro = distro_name(&get("DISTRIB_ID")?);
        let (major, minor) = parse_version(&get("DISTRIB_RELEASE")?)?;
        Some(Identity {
            product: get("DISTRIB_DESCRIPTION").unwrap_or_default(),
            distro,
            major,
            minor,
        })
    });
    match from_os_release {
        Some(mut id) if id.minor == 0 => {
            let better = match id.distro.as_str() {
                "debian" => debian,
                "centos" | "rocky" | "rhel" | "almalinux" => {
                    redhat.filter(|r| r.distro == id.distro)
                }
                _ => None,
            };
            if let Some(b) = better.filter(|b| b.major == id.major || id.major == 0) {
                id.major = b.major;
                id.minor = b.minor;
            }
            Some(id)
        }
        Some(id) => Some(id),
        None => redhat
            .or(lsb)
            .or(debian)
            .or_else(|| f.arch_release.then(|| release_line("archlinux", "")))
            .or_else(|| {
                f.gentoo_release
                    .as_deref()
                    .map(|t| release_line("gentoo", t))
            })
            .or_else(|| {
                f.alpine_release
                    .as_deref()
                    .map(|t| release_line("alpinelinux", t))
            })
            .or_else(|| f.suse_release.as_deref().and_then(parse_suse_release)),
    }
}

/// A release file whose first line is the product, with the first `N.N` (or `N`) in it as
/// the version: `Gentoo Base System release 2.14` → 2.14; an empty file gives 0.0.
fn release_line(distro: &str, text: &str) -> Identity {
    let line = text.lines().next().unwrap_or("").trim();
    let (major, minor) = line
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find_map(|w| parse_version(w.trim_matches('.')))
        .unwrap_or((0, 0));
    Identity {
        distro: distro.into(),
        major,
        minor,
        product: line.to_string(),
    }
}

/// `/etc/SuSE-release`: the product on the first line, `VERSION = 11` and
/// `PATCHLEVEL = 4` (SLES) or `VERSION = 13.2` (openSUSE) below it.
fn parse_suse_release(text: &str) -> Option<Identity> {
    let product = text.lines().next()?.trim();
    let distro = if product.starts_with("SUSE Linux Enterprise")
        || product.starts_with("SUSE LINUX Enterprise")
        || product.starts_with("Novell Linux Desktop")
    {
        "sles"
    } else if ["openSUSE", "SuSE Linux", "SUSE LINUX"]
        .iter()
        .any(|p| product.starts_with(p))
    {
        "opensuse"
    } else {
        return None;
    };
    let field = |k: &str| {
        text.lines().find_map(|l| {
            let (key, v) = l.split_once('=')?;
            (key.trim() == k).then(|| v.trim().to_string())
        })
    };
    let (mut major, mut minor) = field("VERSION")
        .and_then(|v| parse_version(&v))
        .unwrap_or((0, 0));
    if distro == "sles"
        && let Some(p) = field("PATCHLEVEL").and_then(|p| p.parse().ok())
    {
        minor = p;
    }
    if major == 0 {
        let r = release_line(distro, product);
        (major, minor) = (r.major, r.minor);
    }
    Some(Identity {
        distro: distro.into(),
        major,
        minor,
        product: product.to_string(),
    })
}

/// (package format, package manager) of a distribution, as libguestfs names them.
pub fn package_tools(distro: &str, major: i32) -> (PackageFormat, &'static str) {
    use PackageFormat::*;
    match distro {
        "debian" | "ubuntu" | "linuxmint" | "kalilinux" => (Deb, "apt"),
        "centos" | "rhel" | "rocky" | "almalinux" | "oraclelinux" | "scientificlinux" => {
            (Rpm, if major >= 8 { "dnf" } else { "yum" })
        }
        "fedora" => (Rpm, if major >= 22 { "dnf" } else { "yum" }),
        "amazonlinux" => (Rpm, if major >= 2022 { "dnf" } else { "yum" }),
        "opensuse" | "sles" => (Rpm, "zypper"),
        "archlinux" => (Pacman, "pacman"),
        "alpinelinux" => (Apk, "apk"),
        "gentoo" => (Ebuild, "portage"),
        "voidlinux" => (Xbps, "xbps"),
        "mageia" => (Rpm, "urpmi"),
        _ => (Unknown, "unknown"),
    }
}

/// The architecture of the first system binary found, from its ELF header.
fn arch(fs: &dyn GuestFs) -> Result<String> {
    for p in [
        "/usr/bin/ls",
        "/bin/ls",
        "/usr/bin/bash",
        "/bin/bash",
        "/bin/sh",
        "/sbin/init",
    ] {
        if !matches!(
            fs.lstat(p)?.map(|m| m.kind),
            Some(Kind::File | Kind::Symlink)
        ) {
            continue;
        }
        if let Ok(b) = fs.read(p)
            && let Some(a) = elf_arch(&b)
        {
            return Ok(a.to_string());
        }
    }
    Ok("unknown".into())
}

/// The machine an ELF file is built for, in libguestfs's words.
pub fn elf_arch(b: &[u8]) -> Option<&'static str> {
    if b.len() < 20 || &b[..4] != b"\x7fELF" {
        return None;
    }
    let little = b[5] == 1;
    let machine = if little {
        u16::from_le_bytes([b[18], b[19]])
    } else {
        u16::from_be_bytes([b[18], b[19]])
    };
    let bits64 = b[4] == 2;
    Some(match machine {
        0x3e => "x86_64",
        0x03 => "i386",
        0xb7 => "aarch64",
        0x28 => "arm",
        0xf3 if bits64 => "riscv64",
        0xf3 => "riscv32",
        0x15 if little => "ppc64le",
        0x15 => "ppc64",
        0x14 => "ppc",
        0x16 => "s390x",
        _ => return None,
    })
}

/// /etc/hostname, else /etc/HOSTNAME, else HOSTNAME= in /etc/sysconfig/network.
fn hostname(fs: &dyn GuestFs) -> Result<String> {
    for p in ["/etc/hostname", "/etc/HOSTNAME"] {
        if let Some(t) = fs.read_text(p)?
            && let Some(l) = t
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
        {
            return Ok(l.to_string());
        }
    }
    if let Some(t) = fs.read_text("/etc/sysconfig/network")? {
        let vars = shellvars::parse(&t);
        if let Some(v) = shellvars::get(&vars, "HOSTNAME") {
            return Ok(v.value.clone());
        }
    }
    Ok(String::new())
}

/// A filesystem as fstab can name it.
#[derive(Debug, Clone, Default)]
pub struct Named {
    pub dev: String,
    pub uuid: Option<String>,
    pub label: Option<String>,
    /// A btrfs filesystem's subvolumes, (id, path), when fstab names one by `subvolid=`.
    pub subvolumes: Vec<(u64, String)>,
}

/// The subvolume an fstab entry's options name: `subvol=root` (`subvol=/@` is `@`), or
/// `subvolid=256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subvolume {
    Path(String),
    Id(u64),
}

pub fn subvolume_of(options: &str) -> Option<Subvolume> {
    let opts: Vec<&str> = options.split(',').map(str::trim).collect();
    if let Some(p) = opts.iter().find_map(|o| o.strip_prefix("subvol=")) {
        return Some(Subvolume::Path(p.trim_matches('/').to_string()));
    }
    opts.iter()
        .find_map(|o| o.strip_prefix("subvolid="))
        .and_then(|i| i.parse().ok())
        .map(Subvolume::Id)
}

/// What libguestfs mounts for an fstab entry on `dev`: a btrfs subvolume is
/// `btrfsvol:DEV/PATH`; the top level (`subvol=/`, `subvolid=5`) and an id not among
/// `subvolumes` are the device itself.
pub fn mountable(dev: &str, options: &str, subvolumes: &[(u64, String)]) -> String {
    let path = match subvolume_of(options) {
        Some(Subvolume::Path(p)) => p,
        Some(Subvolume::Id(id)) => subvolumes
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, p)| p.clone())
            .unwrap_or_default(),
        None => String::new(),
    };
    if path.is_empty() {
        dev.to_string()
    } else {
        format!("btrfsvol:{dev}/{path}")
    }
}

/// The appliance device an fstab `spec` names, among `known` filesystems: `UUID=`,
/// `LABEL=`, `/dev/disk/by-uuid|by-label/…`, kernel names of any bus (`/dev/vda1`,
/// `/dev/xvda1`, `/dev/hda1` are the appliance's `/dev/sda1`), `/dev/mapper/VG-LV` and
/// `/dev/VG/LV`. None when it names nothing here (network and pseudo filesystems).
pub fn resolve_spec(spec: &str, known: &[Named]) -> Option<String> {
    let by = |f: &dyn Fn(&Named) -> bool| known.iter().find(|n| f(n)).map(|n| n.dev.clone());
    let unquote = |s: &str| s.trim_matches('"').to_string();
    if let Some(u) = spec
        .strip_prefix("UUID=")
        .or_else(|| spec.strip_prefix("/dev/disk/by-uuid/"))
    {
        let u = unquote(u);
        return by(&|n| {
            n.uuid
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(&u))
        });
    }
    if let Some(l) = spec
        .strip_prefix("LABEL=")
        .or_else(|| spec.strip_prefix("/dev/disk/by-label/"))
    {
        let l = unquote(l);
        return by(&|n| n.label.as_deref() == Some(l.as_str()));
    }
    if let Some(rest) = ["/dev/sd", "/dev/vd", "/dev/xvd", "/dev/hd"]
        .iter()
        .find_map(|p| spec.strip_prefix(p))
    {
        let dev = format!("/dev/sd{rest}");
        return by(&|n| n.dev == dev);
    }
    if let Some(rest) = spec.strip_prefix("/dev/mapper/") {
        // VG-LV, with `-` inside a name doubled.
        let chars: Vec<char> = rest.chars().collect();
        let mut i = 0;
        let mut split = None;
        while i < chars.len() {
            if chars[i] == '-' {
                if chars.get(i + 1) == Some(&'-') {
                    i += 2;
                    continue;
                }
                split = Some(i);
                break;
            }
            i += 1;
        }
        let split = split?;
        let vg: String = chars[..split].iter().collect::<String>().replace("--", "-");
        let lv: String = chars[split + 1..]
            .iter()
            .collect::<String>()
            .replace("--", "-");
        let dev = format!("/dev/{vg}/{lv}");
        return by(&|n| n.dev == dev);
    }
    by(&|n| n.dev == spec)
}

/// The mountpoints an fstab gives, resolved to appliance devices (entries naming nothing
/// known are left out, as are swap and entries that are not absolute paths).
pub fn mountpoints(entries: &[fstab::Entry], known: &[Named]) -> Vec<(String, String)> {
    entries
        .iter()
        .filter(|e| e.file.starts_with('/') && e.vfstype != "swap")
        .filter_map(|e| {
            let dev = resolve_spec(&e.spec, known)?;
            let subvolumes = known
                .iter()
                .find(|n| n.dev == dev)
                .map(|n| n.subvolumes.as_slice())
                .unwrap_or_default();
            Some((e.file.clone(), mountable(&dev, &e.options, subvolumes)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fs::MemFs;

    const ELF_X86_64: &str = "\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0\x01\0\0\0";

    fn files(
        os: Option<&str>,
        rh: Option<&str>,
        deb: Option<&str>,
        lsb: Option<&str>,
    ) -> ReleaseFiles {
        ReleaseFiles {
            os_release: os.map(str::to_string),
            redhat_release: rh.map(str::to_string),
            debian_version: deb.map(str::to_string),
            lsb_release: lsb.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn debian_takes_its_minor_version_from_debian_version() {
        let id = identify(&files(
            Some("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"),
            None,
            Some("12.4\n"),
            None,
        ))
        .unwrap();
        assert_eq!(
            id,
            Identity {
                distro: "debian".into(),
                major: 12,
                minor: 4,
                product: "Debian GNU/Linux 12 (bookworm)".into()
            }
        );
        // A testing/sid debian_version leaves os-release's answer alone.
        let id = identify(&files(
            Some("ID=debian\nVERSION_ID=12\n"),
            None,
            Some("bookworm/sid"),
            None,
        ))
        .unwrap();
        assert_eq!((id.major, id.minor), (12, 0));
    }

    #[test]
    fn centos_versions_come_from_redhat_release() {
        let c7 = identify(&files(
            Some("NAME=\"CentOS Linux\"\nID=\"centos\"\nVERSION_ID=\"7\"\nPRETTY_NAME=\"CentOS Linux 7 (Core)\"\n"),
            Some("CentOS Linux release 7.9.2009 (Core)\n"),
            None,
            None,
        ))
        .unwrap();
        assert_eq!((c7.distro.as_str(), c7.major, c7.minor), ("centos", 7, 9));
        // CentOS 6 has no os-release at all.
        let c6 = identify(&files(
            None,
            Some("CentOS release 6.10 (Final)\n"),
            None,
            None,
        ))
        .unwrap();
        assert_eq!((c6.distro.as_str(), c6.major, c6.minor), ("centos", 6, 10));
        assert_eq!(c6.product, "CentOS release 6.10 (Final)");
        let rhel = identify(&files(
            None,
            Some("Red Hat Enterprise Linux Server release 7.9 (Maipo)"),
            None,
            None,
        ))
        .unwrap();
        assert_eq!(
            (rhel.distro.as_str(), rhel.major, rhel.minor),
            ("rhel", 7, 9)
        );
    }

    #[test]
    fn ubuntu_keeps_its_two_digit_month_as_the_minor() {
        let u = identify(&files(
            Some("NAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"16.04\"\nPRETTY_NAME=\"Ubuntu 16.04.7 LTS\"\n"),
            None,
            Some("stretch/sid\n"),
            Some("DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=16.04\n"),
        ))
        .unwrap();
        assert_eq!((u.distro.as_str(), u.major, u.minor), ("ubuntu", 16, 4));
        // lsb-release alone is enough.
        let u = identify(&files(None, None, None, Some("DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=14.04\nDISTRIB_DESCRIPTION=\"Ubuntu 14.04 LTS\"\n"))).unwrap();
        assert_eq!(
            (u.distro.as_str(), u.major, u.minor, u.product.as_str()),
            ("ubuntu", 14, 4, "Ubuntu 14.04 LTS")
        );
    }

    #[test]
    fn os_release_ids_take_libguestfs_names() {
        for (id, want) in [
            ("ol", "oraclelinux"),
            ("opensuse-leap", "opensuse"),
            ("rocky", "rocky"),
            ("arch", "archlinux"),
        ] {
            let f = files(
                Some(&format!("ID={id}\nVERSION_ID=1.2\n")),
                None,
                None,
                None,
            );
            assert_eq!(identify(&f).unwrap().distro, want);
        }
        assert_eq!(identify(&ReleaseFiles::default()), None);
    }

    #[test]
    fn package_tools_follow_the_distribution() {
        assert_eq!(package_tools("debian", 12), (PackageFormat::Deb, "apt"));
        assert_eq!(package_tools("centos", 7), (PackageFormat::Rpm, "yum"));
        assert_eq!(package_tools("centos", 8), (PackageFormat::Rpm, "dnf"));
        assert_eq!(
            package_tools("plan9", 4),
            (PackageFormat::Unknown, "unknown")
        );
    }

    #[test]
    fn elf_headers_name_the_machine() {
        assert_eq!(elf_arch(ELF_X86_64.as_bytes()), Some("x86_64"));
        let mut arm = ELF_X86_64.as_bytes().to_vec();
        arm[18] = 0xb7;
        assert_eq!(elf_arch(&arm), Some("aarch64"));
        assert_eq!(elf_arch(b"#!/bin/sh\n echo not an ELF file"), None);
        assert_eq!(elf_arch(b"\x7fELF"), None);
    }

    #[test]
    fn examine_a_debian_root() {
        let fs = MemFs::new()
            .file(
                "/etc/os-release",
                "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
            )
            .file("/etc/debian_version", "12.4\n")
            .file("/etc/hostname", "\n# set by the build\nfixture-debian\n")
            .file(
                "/etc/fstab",
                "UUID=abc / ext4 defaults 0 1\nUUID=def none swap sw 0 0\n",
            )
            .file("/usr/bin/ls", ELF_X86_64)
            .link("/bin", "usr/bin");
        let f = examine(&fs).unwrap().unwrap();
        assert_eq!(f.os.os_type, OsFamily::Linux);
        assert_eq!(f.os.version(), "12.4");
        assert_eq!(f.os.arch, "x86_64");
        assert_eq!(f.os.hostname, "fixture-debian");
        assert_eq!(
            (
                f.os.package_format.as_str(),
                f.os.package_management.as_str()
            ),
            ("deb", "apt")
        );
        assert_eq!(f.fstab.len(), 2);
    }

    #[test]
    fn examine_tells_roots_from_other_filesystems() {
        // A /boot or data filesystem: no /etc.
        let boot = MemFs::new().file("/vmlinuz", "x").dir("/grub");
        assert_eq!(examine(&boot).unwrap(), None);
        // /etc with an fstab but no release file: Linux, distribution unknown.
        let bare = MemFs::new()
            .file("/etc/fstab", "/dev/sda1 / ext4 defaults 0 1\n")
            .file("/etc/sysconfig/network", "HOSTNAME=\"old-style\"\n");
        let f = examine(&bare).unwrap().unwrap();
        assert_eq!(
            (f.os.os_type.as_str(), f.os.distro.as_str()),
            ("linux", "unknown")
        );
        assert_eq!(f.os.hostname, "old-style");
        assert_eq!(f.os.arch, "unknown");
        // A Windows system volume, in any letter case, described by its hives.
        use crate::guest::registry::{MemHive, RegValue};
        let win = MemFs::new()
            .hive_file(
                "/WINDOWS/System32/config/software",
                MemHive::new().with(
                    "Microsoft\\Windows NT\\CurrentVersion",
                    "ProductName",
                    RegValue::Sz("Windows Server 2008 R2 Standard".into()),
                ),
            )
            .hive_file("/WINDOWS/System32/config/System", MemHive::new());
        let f = examine(&win).unwrap().unwrap();
        assert_eq!(f.os.os_type, OsFamily::Windows);
        assert_eq!(f.os.product_name, "Windows Server 2008 R2 Standard");
        assert!(f.os.windows.is_some());
        // Without its hives a Windows root is an error that names what is missing.
        let hiveless = MemFs::new().dir("/Windows/System32/config");
        let e = format!("{:#}", examine(&hiveless).unwrap_err());
        assert!(e.contains("no SOFTWARE hive"), "{e}");
    }

    /// What `examine` makes of a root holding these files (and an fstab, so it is a root).
    fn examined(files: &[(&str, &str)]) -> OsInfo {
        let mut fs = MemFs::new().file("/etc/fstab", "/dev/sda1 / ext4 defaults 0 1\n");
        for (p, t) in files {
            fs = fs.file(p, t);
        }
        examine(&fs).unwrap().unwrap().os
    }

    fn summary(os: &OsInfo) -> (String, i32, i32, String, String) {
        (
            os.distro.clone(),
            os.major_version,
            os.minor_version,
            os.package_format.to_string(),
            os.package_management.clone(),
        )
    }

    fn want(
        d: &str,
        major: i32,
        minor: i32,
        fmt: &str,
        mgr: &str,
    ) -> (String, i32, i32, String, String) {
        (d.into(), major, minor, fmt.into(), mgr.into())
    }

    #[test]
    fn os_release_falls_back_to_usr_lib() {
        let usr_lib =
            "NAME=\"Fedora Linux\"\nID=fedora\nVERSION_ID=39\nPRETTY_NAME=\"Fedora Linux 39\"\n";
        // Missing from /etc.
        let os = examined(&[("/usr/lib/os-release", usr_lib)]);
        assert_eq!(summary(&os), want("fedora", 39, 0, "rpm", "dnf"));
        assert_eq!(os.product_name, "Fedora Linux 39");
        // A link, absolute or relative, resolves inside the guest.
        for target in ["/usr/lib/os-release", "../usr/lib/os-release"] {
            let fs = MemFs::new()
                .file("/etc/fstab", "")
                .file("/usr/lib/os-release", usr_lib)
                .link("/etc/os-release", target);
            let os = examine(&fs).unwrap().unwrap().os;
            assert_eq!(os.distro, "fedora", "link to {target}");
        }
        // A dangling link (the target on a /usr not mounted, or gone) defers to /usr/lib.
        let fs = MemFs::new()
            .file("/etc/fstab", "")
            .file("/usr/lib/os-release", usr_lib)
            .link("/etc/os-release", "/usr/share/nowhere/os-release");
        assert_eq!(examine(&fs).unwrap().unwrap().os.distro, "fedora");
        // An /etc/os-release naming no ID does too.
        let os = examined(&[
            ("/etc/os-release", "# emptied by an image builder\n"),
            ("/usr/lib/os-release", usr_lib),
        ]);
        assert_eq!(os.distro, "fedora");
        // /etc wins when both name a distribution.
        let os = examined(&[
            ("/etc/os-release", "ID=rocky\nVERSION_ID=9.3\n"),
            ("/usr/lib/os-release", usr_lib),
        ]);
        assert_eq!(summary(&os), want("rocky", 9, 3, "rpm", "dnf"));
    }

    #[test]
    fn arch_linux_from_os_release_or_arch_release() {
        let os = examined(&[(
            "/etc/os-release",
            "NAME=\"Arch Linux\"\nPRETTY_NAME=\"Arch Linux\"\nID=arch\nBUILD_ID=rolling\n",
        )]);
        assert_eq!(summary(&os), want("archlinux", 0, 0, "pacman", "pacman"));
        assert_eq!(os.product_name, "Arch Linux");
        // An old Arch: only the empty /etc/arch-release.
        let os = examined(&[("/etc/arch-release", "")]);
        assert_eq!(summary(&os), want("archlinux", 0, 0, "pacman", "pacman"));
    }

    #[test]
    fn suse_from_os_release_and_suse_release() {
        let os = examined(&[(
            "/etc/os-release",
            "NAME=\"openSUSE Leap\"\nVERSION_ID=\"15.5\"\nID=\"opensuse-leap\"\nPRETTY_NAME=\"openSUSE Leap 15.5\"\n",
        )]);
        assert_eq!(summary(&os), want("opensuse", 15, 5, "rpm", "zypper"));
        let os = examined(&[(
            "/etc/os-release",
            "NAME=\"SLES\"\nVERSION_ID=\"15.4\"\nID=\"sles\"\n",
        )]);
        assert_eq!(summary(&os), want("sles", 15, 4, "rpm", "zypper"));
        let os = examined(&[(
            "/etc/SuSE-release",
            "SUSE Linux Enterprise Server 11 (x86_64)\nVERSION = 11\nPATCHLEVEL = 4\n",
        )]);
        assert_eq!(summary(&os), want("sles", 11, 4, "rpm", "zypper"));
        assert_eq!(os.product_name, "SUSE Linux Enterprise Server 11 (x86_64)");
        let os = examined(&[(
            "/etc/SuSE-release",
            "openSUSE 13.2 (x86_64)\nVERSION = 13.2\nCODENAME = Harlequin\n",
        )]);
        assert_eq!(summary(&os), want("opensuse", 13, 2, "rpm", "zypper"));
        // A SuSE-release of something else is not taken for SUSE.
        let os = examined(&[("/etc/SuSE-release", "Plan 9 from Bell Labs\n")]);
        assert_eq!(os.distro, "unknown");
    }

    #[test]
    fn alpine_and_gentoo() {
        let os = examined(&[(
            "/etc/os-release",
            "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.18.4\nPRETTY_NAME=\"Alpine Linux v3.18\"\n",
        )]);
        assert_eq!(summary(&os), want("alpinelinux", 3, 18, "apk", "apk"));
        let os = examined(&[("/etc/alpine-release", "3.16.2\n")]);
        assert_eq!(summary(&os), want("alpinelinux", 3, 16, "apk", "apk"));
        let os = examined(&[("/etc/gentoo-release", "Gentoo Base System release 2.14\n")]);
        assert_eq!(summary(&os), want("gentoo", 2, 14, "ebuild", "portage"));
        assert_eq!(os.product_name, "Gentoo Base System release 2.14");
        let os = examined(&[(
            "/etc/os-release",
            "NAME=Gentoo\nID=gentoo\nPRETTY_NAME=\"Gentoo Linux\"\nVERSION_ID=\"2.15\"\n",
        )]);
        assert_eq!(summary(&os), want("gentoo", 2, 15, "ebuild", "portage"));
    }

    #[test]
    fn coreos_and_fedora_coreos() {
        // Container Linux names itself coreos, and has no package manager.
        let os = examined(&[(
            "/usr/lib/os-release",
            "NAME=\"Container Linux by CoreOS\"\nID=coreos\nVERSION_ID=2512.3.0\n",
        )]);
        assert_eq!(summary(&os), want("coreos", 2512, 3, "unknown", "unknown"));
        // Fedora CoreOS is Fedora (its VARIANT_ID says coreos), as libguestfs reports it.
        let os = examined(&[(
            "/usr/lib/os-release",
            "NAME=\"Fedora Linux\"\nID=fedora\nVERSION_ID=39\nVARIANT_ID=coreos\n",
        )]);
        assert_eq!(summary(&os), want("fedora", 39, 0, "rpm", "dnf"));
    }

    #[test]
    fn rhel_rebuilds_from_their_own_release_files() {
        let os = examined(&[(
            "/etc/rocky-release",
            "Rocky Linux release 8.9 (Green Obsidian)\n",
        )]);
        assert_eq!(summary(&os), want("rocky", 8, 9, "rpm", "dnf"));
        let os = examined(&[(
            "/etc/almalinux-release",
            "AlmaLinux release 9.3 (Shamrock Pampas Cat)\n",
        )]);
        assert_eq!(summary(&os), want("almalinux", 9, 3, "rpm", "dnf"));
        // Oracle's redhat-release says Red Hat: oracle-release decides.
        let os = examined(&[
            (
                "/etc/redhat-release",
                "Red Hat Enterprise Linux Server release 7.9 (Maipo)\n",
            ),
            ("/etc/oracle-release", "Oracle Linux Server release 7.9\n"),
        ]);
        assert_eq!(summary(&os), want("oraclelinux", 7, 9, "rpm", "yum"));
        let os = examined(&[(
            "/etc/os-release",
            "NAME=\"Oracle Linux Server\"\nID=\"ol\"\nVERSION_ID=\"8.9\"\n",
        )]);
        assert_eq!(summary(&os), want("oraclelinux", 8, 9, "rpm", "dnf"));
        let os = examined(&[("/etc/system-release", "Amazon Linux release 2 (Karoo)\n")]);
        assert_eq!(summary(&os), want("amazonlinux", 2, 0, "rpm", "yum"));
        let os = examined(&[(
            "/etc/os-release",
            "NAME=\"Amazon Linux\"\nID=\"amzn\"\nVERSION_ID=\"2023\"\n",
        )]);
        assert_eq!(summary(&os), want("amazonlinux", 2023, 0, "rpm", "dnf"));
        let os = examined(&[("/etc/fedora-release", "Fedora release 38 (Thirty Eight)\n")]);
        assert_eq!(summary(&os), want("fedora", 38, 0, "rpm", "dnf"));
    }

    #[test]
    fn btrfs_subvolumes_in_fstab_become_libguestfs_mountables() {
        let subvols = vec![(256, "root".to_string()), (257, "home".to_string())];
        let m = |o: &str| mountable("/dev/sda2", o, &subvols);
        assert_eq!(m("subvol=root,compress=zstd:1"), "btrfsvol:/dev/sda2/root");
        assert_eq!(m("defaults,subvol=/@"), "btrfsvol:/dev/sda2/@");
        assert_eq!(m("subvolid=257"), "btrfsvol:/dev/sda2/home");
        assert_eq!(m("subvol=/"), "/dev/sda2");
        assert_eq!(m("subvolid=5"), "/dev/sda2");
        assert_eq!(m("subvolid=999"), "/dev/sda2");
        assert_eq!(m("defaults"), "/dev/sda2");
        assert_eq!(subvolume_of("ro,subvolid=256"), Some(Subvolume::Id(256)));
        let entries = fstab::parse(
            "UUID=b7 / btrfs subvol=root,compress=zstd:1 0 0\nUUID=b7 /home btrfs subvolid=257 0 0\nLABEL=boot /boot ext4 defaults 1 2\n",
        );
        let known = vec![
            Named {
                dev: "/dev/sda2".into(),
                uuid: Some("b7".into()),
                subvolumes: subvols.clone(),
                ..Default::default()
            },
            Named {
                dev: "/dev/sda1".into(),
                label: Some("boot".into()),
                ..Default::default()
            },
        ];
        assert_eq!(
            mountpoints(&entries, &known),
            vec![
                ("/".to_string(), "btrfsvol:/dev/sda2/root".to_string()),
                ("/home".to_string(), "btrfsvol:/dev/sda2/home".to_string()),
                ("/boot".to_string(), "/dev/sda1".to_string()),
            ]
        );
    }

    #[test]
    fn fstab_specs_resolve_to_appliance_devices() {
        let known = vec![
            Named {
                dev: "/dev/sda1".into(),
                uuid: Some("0B6A-11".into()),
                label: Some("root".into()),
                ..Default::default()
            },
            Named {
                dev: "/dev/sda2".into(),
                ..Default::default()
            },
            Named {
                dev: "/dev/vg-sys/lv-home".into(),
                ..Default::default()
            },
        ];
        assert_eq!(
            resolve_spec("UUID=0b6a-11", &known).as_deref(),
            Some("/dev/sda1")
        );
        assert_eq!(
            resolve_spec("/dev/disk/by-uuid/0B6A-11", &known).as_deref(),
            Some("/dev/sda1")
        );
        assert_eq!(
            resolve_spec("LABEL=root", &known).as_deref(),
            Some("/dev/sda1")
        );
        assert_eq!(
            resolve_spec("LABEL=\"root\"", &known).as_deref(),
            Some("/dev/sda1")
        );
        assert_eq!(
            resolve_spec("/dev/vda2", &known).as_deref(),
            Some("/dev/sda2")
        );
        assert_eq!(
            resolve_spec("/dev/xvda2", &known).as_deref(),
            Some("/dev/sda2")
        );
        assert_eq!(
            resolve_spec("/dev/mapper/vg--sys-lv--home", &known).as_deref(),
            Some("/dev/vg-sys/lv-home")
        );
        assert_eq!(
            resolve_spec("/dev/vg-sys/lv-home", &known).as_deref(),
            Some("/dev/vg-sys/lv-home")
        );
        assert_eq!(resolve_spec("UUID=nope", &known), None);
        assert_eq!(resolve_spec("/dev/sdb1", &known), None);
        assert_eq!(resolve_spec("tmpfs", &known), None);
        let entries = fstab::parse(
            "UUID=0b6a-11 / ext4 defaults 0 1\n/dev/vda2 none swap sw 0 0\ntmpfs /tmp tmpfs defaults 0 0\n\
             server:/export /srv nfs defaults 0 0\n/dev/mapper/vg--sys-lv--home /home xfs defaults 0 2\n",
        );
        assert_eq!(
            mountpoints(&entries, &known),
            vec![
                ("/".to_string(), "/dev/sda1".to_string()),
                ("/home".to_string(), "/dev/vg-sys/lv-home".to_string())
            ]
        );
    }

    #[test]
    fn partitions_belong_to_their_disk() {
        assert!(is_partition_of("/dev/sda1", "/dev/sda"));
        assert!(is_partition_of("/dev/md0p1", "/dev/md0"));
        assert!(!is_partition_of("/dev/sdab1", "/dev/sda"));
        assert!(!is_partition_of("/dev/sda", "/dev/sda"));
    }
}
