//! What imgseal learns about a guest by reading its files (through [`GuestFs`]): the facts
//! `inspect` prints and the rule checks judge. Nothing here writes.

pub mod boot;
pub mod cloudinit;
pub mod firewall;
pub mod initramfs;
pub mod initsys;
pub mod network;
pub mod ntfs;
pub mod packages;
pub mod repos;
pub mod rpmdb;
pub mod windows;
pub mod winreg;
pub mod wintraces;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An enum of names with an `Unknown` fallback, serialised as the bare name (`"linux"`), so
/// reports and manifests keep their strings. Reading a name it does not know (an older or
/// newer manifest) gives `Unknown` rather than an error.
macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum $name {
            $($variant,)*
            #[default]
            Unknown,
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Unknown => "unknown",
                }
            }

            /// The variant of that name; `Unknown` for any other.
            pub fn from_name(s: &str) -> $name {
                match s {
                    $($text => $name::$variant,)*
                    _ => $name::Unknown,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                Ok($name::from_name(&String::deserialize(d)?))
            }
        }
    };
}

named_enum! {
    /// The family of operating systems a guest belongs to: what decides which checks,
    /// operations and trace categories are about it.
    OsFamily {
        Linux = "linux",
        Windows = "windows",
    }
}

named_enum! {
    /// How the guest's software is packaged, as inspection names it.
    PackageFormat {
        Deb = "deb",
        Rpm = "rpm",
        Pacman = "pacman",
        Apk = "apk",
        Ebuild = "ebuild",
        Xbps = "xbps",
    }
}

named_enum! {
    /// The init system the guest boots with (see [`initsys::detect`]).
    InitSystem {
        Systemd = "systemd",
        Sysvinit = "sysvinit",
        Upstart = "upstart",
    }
}

/// The operating system, as libguestfs inspection and imgseal's own reading report it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct OsInfo {
    /// `linux`, `windows` or `unknown`.
    #[serde(rename = "type")]
    pub os_type: OsFamily,
    /// libguestfs distro name: `debian`, `ubuntu`, `centos`, `rhel`, ...
    pub distro: String,
    pub major_version: i32,
    pub minor_version: i32,
    pub arch: String,
    pub product_name: String,
    /// `deb`, `rpm`, `pacman`, `apk`, `ebuild`, `xbps` or `unknown` (libguestfs's names).
    pub package_format: PackageFormat,
    /// `apt`, `yum`, `dnf`, ...
    pub package_management: String,
    /// `systemd`, `sysvinit`, `upstart` or `unknown`.
    pub init_system: InitSystem,
    pub hostname: String,
    /// The root filesystem's device in the appliance.
    pub root: String,
    /// What the registry says of a Windows guest (absent for every other guest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<windows::WindowsInfo>,
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
        self.os_type == OsFamily::Linux
    }

    pub fn is_rpm(&self) -> bool {
        self.package_format == PackageFormat::Rpm
    }

    pub fn is_deb(&self) -> bool {
        self.package_format == PackageFormat::Deb
    }

    /// A test helper and a fallback: a Linux guest of the given distro and version.
    pub fn linux(distro: &str, major: i32, minor: i32) -> OsInfo {
        let (fmt, mgmt) = match distro {
            "centos" | "rhel" | "fedora" | "rocky" | "almalinux" | "oraclelinux" => {
                (PackageFormat::Rpm, "yum")
            }
            _ => (PackageFormat::Deb, "apt"),
        };
        OsInfo {
            os_type: OsFamily::Linux,
            distro: distro.into(),
            major_version: major,
            minor_version: minor,
            arch: "x86_64".into(),
            package_format: fmt,
            package_management: mgmt.into(),
            init_system: InitSystem::Systemd,
            root: "/dev/sda1".into(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_names_serialise_as_before_and_unknown_names_read_as_unknown() {
        let os = OsInfo::linux("centos", 7, 9);
        let j = serde_json::to_value(&os).unwrap();
        assert_eq!(j["type"], "linux");
        assert_eq!(j["package_format"], "rpm");
        assert_eq!(j["init_system"], "systemd");
        assert_eq!(serde_json::from_value::<OsInfo>(j).unwrap(), os);
        for (f, s) in [
            (OsFamily::Windows, "windows"),
            (OsFamily::Unknown, "unknown"),
        ] {
            assert_eq!(serde_json::to_string(&f).unwrap(), format!("\"{s}\""));
            assert_eq!(OsFamily::from_name(s), f);
        }
        assert_eq!(PackageFormat::from_name("pacman").to_string(), "pacman");
        assert_eq!(
            serde_json::from_str::<OsFamily>("\"plan9\"").unwrap(),
            OsFamily::Unknown
        );
        assert_eq!(
            serde_json::from_str::<PackageFormat>("\"nix\"").unwrap(),
            PackageFormat::Unknown
        );
        assert_eq!(
            serde_json::from_str::<InitSystem>("\"openrc\"").unwrap(),
            InitSystem::Unknown
        );
    }
}
