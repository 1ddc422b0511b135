//! What imgseal learns about a guest by reading its files (through [`GuestFs`]): the facts
//! `inspect` prints and the rule checks judge. Nothing here writes.

pub mod boot;
pub mod cloudinit;
pub mod firewall;
pub mod initsys;
pub mod network;
pub mod packages;
pub mod repos;

use serde::Serialize;

/// The operating system, as libguestfs inspection and imgseal's own reading report it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, Default)]
pub struct OsInfo {
    /// `linux`, `windows`, ...
    #[serde(rename = "type")]
    pub os_type: String,
    /// libguestfs distro name: `debian`, `ubuntu`, `centos`, `rhel`, ...
    pub distro: String,
    pub major_version: i32,
    pub minor_version: i32,
    pub arch: String,
    pub product_name: String,
    /// `deb`, `rpm`, ...
    pub package_format: String,
    /// `apt`, `yum`, `dnf`, ...
    pub package_management: String,
    /// `systemd`, `sysvinit`, `upstart` or `unknown`.
    pub init_system: String,
    pub hostname: String,
    /// The root filesystem's device in the appliance.
    pub root: String,
}

impl OsInfo {
    /// `12.4`, `7.9`, `16.04` (Ubuntu versions keep their two-digit month).
    pub fn version(&self) -> String {
        if self.distro == "ubuntu" {
            format!("{}.{:02}", self.major_version, self.minor_version)
        } else {
            format!("{}.{}", self.major_version, self.minor_version)
        }
    }

    /// `debian 12.4`, `centos 7.9`, `ubuntu 16.04`.
    pub fn short(&self) -> String {
        format!("{} {}", self.distro, self.version())
    }

    pub fn is_linux(&self) -> bool {
        self.os_type == "linux"
    }

    pub fn is_rpm(&self) -> bool {
        self.package_format == "rpm"
    }

    pub fn is_deb(&self) -> bool {
        self.package_format == "deb"
    }

    /// A test helper and a fallback: a Linux guest of the given distro and version.
    pub fn linux(distro: &str, major: i32, minor: i32) -> OsInfo {
        let (fmt, mgmt) = match distro {
            "centos" | "rhel" | "fedora" | "rocky" | "almalinux" | "oraclelinux" => ("rpm", "yum"),
            _ => ("deb", "apt"),
        };
        OsInfo {
            os_type: "linux".into(),
            distro: distro.into(),
            major_version: major,
            minor_version: minor,
            arch: "x86_64".into(),
            package_format: fmt.into(),
            package_management: mgmt.into(),
            init_system: "systemd".into(),
            root: "/dev/sda1".into(),
            ..Default::default()
        }
    }
}
