//! Which guests a check, an operation or a trace category is about. Every descriptor
//! declares it and the registries select by it, so no check or operation has to test the
//! guest's OS itself, and `imgseal rules` can say where each one applies.

use crate::facts::{OsFamily, OsInfo, PackageFormat};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applies {
    /// The OS families it is about; never empty.
    pub families: &'static [OsFamily],
    /// The package formats it is limited to; empty for every format of those families.
    pub package_formats: &'static [PackageFormat],
}

impl Applies {
    /// Every Linux guest, whatever its packaging.
    pub const LINUX: Applies = Applies {
        families: &[OsFamily::Linux],
        package_formats: &[],
    };

    /// Every Windows guest.
    pub const WINDOWS: Applies = Applies {
        families: &[OsFamily::Windows],
        package_formats: &[],
    };

    pub fn matches(&self, os: &OsInfo) -> bool {
        self.families.contains(&os.os_type)
            && (self.package_formats.is_empty()
                || self.package_formats.contains(&os.package_format))
    }
}

/// `linux`, `linux/rpm`, `linux/deb,rpm`, `linux,windows`: as `imgseal rules` shows it.
impl fmt::Display for Applies {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let names = |v: Vec<&str>| v.join(",");
        f.write_str(&names(self.families.iter().map(|x| x.as_str()).collect()))?;
        if !self.package_formats.is_empty() {
            let formats = self.package_formats.iter().map(|x| x.as_str()).collect();
            write!(f, "/{}", names(formats))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RPM_ONLY: Applies = Applies {
        families: &[OsFamily::Linux],
        package_formats: &[PackageFormat::Rpm],
    };

    fn windows() -> OsInfo {
        OsInfo {
            os_type: OsFamily::Windows,
            ..Default::default()
        }
    }

    #[test]
    fn families_and_formats_select() {
        let centos = OsInfo::linux("centos", 7, 9);
        let debian = OsInfo::linux("debian", 12, 4);
        assert!(Applies::LINUX.matches(&centos) && Applies::LINUX.matches(&debian));
        assert!(!Applies::LINUX.matches(&windows()));
        assert!(
            !Applies::LINUX.matches(&OsInfo::default()),
            "unknown family"
        );
        assert!(RPM_ONLY.matches(&centos));
        assert!(
            !RPM_ONLY.matches(&debian),
            "an rpm-only descriptor on a deb guest"
        );
        assert!(!RPM_ONLY.matches(&windows()));
    }

    #[test]
    fn text() {
        assert_eq!(Applies::LINUX.to_string(), "linux");
        assert_eq!(RPM_ONLY.to_string(), "linux/rpm");
        let both = Applies {
            families: &[OsFamily::Linux, OsFamily::Windows],
            package_formats: &[PackageFormat::Deb, PackageFormat::Rpm],
        };
        assert_eq!(both.to_string(), "linux,windows/deb,rpm");
    }
}
