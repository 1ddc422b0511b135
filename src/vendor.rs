//! The vendor-packages manifest (`vendor.toml`, a contract): which vendor package serves
//! which OS, where it comes from, and its pinned SHA-256.

use crate::digest::{self, Sha256Digest};
use crate::facts::OsInfo;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const MANIFEST: &str = "vendor.toml";
pub const SCHEMA: u32 = 1;
pub const DEFAULT_DIR: &str = "vendor-packages";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema: u32,
    #[serde(default, rename = "package")]
    pub packages: Vec<Package>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Package {
    /// `cloud-init` or `cloudbase-init`.
    pub role: String,
    /// libguestfs inspection distro name.
    pub distro: String,
    /// `"7"` matches 7.x; `"16.04"` matches exactly.
    pub versions: Vec<String>,
    pub file: String,
    pub url: String,
    /// Required: empty or mismatching is refused unless --allow-unpinned.
    #[serde(default)]
    pub sha256: String,
    /// The package version as the package database will report it; derived from the file
    /// name when absent.
    #[serde(default)]
    pub version: Option<String>,
}

impl Package {
    pub fn matches(&self, os: &OsInfo) -> bool {
        self.distro == os.distro
            && self.versions.iter().any(|v| match v.split_once('.') {
                None => v.parse::<i32>().ok() == Some(os.major_version),
                Some((ma, mi)) => {
                    ma.parse::<i32>().ok() == Some(os.major_version)
                        && mi.parse::<i32>().ok() == Some(os.minor_version)
                }
            })
    }

    /// The version the package database reports once this package is installed:
    /// `VERSION-RELEASE` for rpm (`cloud-init-0.7.5-20.el7.centos.1.x86_64.rpm`), the
    /// Debian version for deb (`cloud-init_17.2-35-gf576b2a2-0ubuntu1_16.04.2-jd_all.deb`,
    /// where file names spell `~` as `_`).
    pub fn expected_version(&self) -> Option<String> {
        if let Some(v) = &self.version {
            return Some(v.clone());
        }
        let f = &self.file;
        if let Some(stem) = f.strip_suffix(".rpm") {
            let stem = stem.rsplit_once('.').map(|x| x.0)?; // drop .arch
            let prefix = format!("{}-", self.role);
            return stem.strip_prefix(&prefix).map(str::to_string);
        }
        if let Some(stem) = f.strip_suffix(".deb") {
            let (_, rest) = stem.split_once('_')?;
            let (ver, _arch) = rest.rsplit_once('_')?;
            return Some(ver.replace('_', "~"));
        }
        None
    }

    pub fn kind(&self) -> &'static str {
        if self.file.ends_with(".rpm") {
            "rpm"
        } else if self.file.ends_with(".deb") {
            "deb"
        } else if self.file.ends_with(".msi") {
            "msi"
        } else {
            "unknown"
        }
    }
}

/// A loaded manifest and the directory holding the package files.
#[derive(Debug, Clone)]
pub struct Vendor {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Vendor {
    pub fn load(dir: &Path) -> Result<Vendor> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            anyhow::anyhow!(
                "{}: cannot read the vendor-packages manifest ({e}); give --vendor-dir DIR holding vendor.toml and the packages",
                path.display()
            )
        })?;
        let manifest: Manifest = crate::tomltext::parse_toml(&text, &path.to_string_lossy())?;
        if manifest.schema != SCHEMA {
            bail!(
                "{}: schema {} is not supported (imgseal reads schema {SCHEMA})",
                path.display(),
                manifest.schema
            );
        }
        for (i, p) in manifest.packages.iter().enumerate() {
            if p.file.contains('/') || p.file.starts_with('.') || p.file.is_empty() {
                bail!(
                    "{}: package {} has file {:?}; file names must be plain names inside the vendor dir",
                    path.display(),
                    i + 1,
                    p.file
                );
            }
        }
        Ok(Vendor {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// The package of this role for this OS, if the manifest names one.
    pub fn find(&self, role: &str, os: &OsInfo) -> Option<&Package> {
        self.manifest
            .packages
            .iter()
            .find(|p| p.role == role && p.matches(os))
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(MANIFEST)
    }

    /// The package file, only after its SHA-256 matches the pinned one (or, with
    /// `allow_unpinned`, when no hash is pinned: then the hash is reported, not trusted).
    pub fn verified_file(
        &self,
        p: &Package,
        allow_unpinned: bool,
    ) -> Result<(PathBuf, Sha256Digest)> {
        let path = self.dir.join(&p.file);
        if !path.is_file() {
            bail!(
                "{}: vendor package missing; download it with scripts/fetch-vendor-packages.sh (from {})",
                path.display(),
                p.url
            );
        }
        let got =
            digest::sha256_file(&path).with_context(|| format!("hashing {}", path.display()))?;
        if p.sha256.trim().is_empty() {
            if allow_unpinned {
                return Ok((path, got));
            }
            bail!(
                "{}: no sha256 pinned in {} for {}; pin it (scripts/fetch-vendor-packages.sh prints it) or pass --allow-unpinned",
                path.display(),
                self.manifest_path().display(),
                p.file
            );
        }
        let want: Sha256Digest = p
            .sha256
            .parse()
            .with_context(|| format!("{}: sha256 of {}", self.manifest_path().display(), p.file))?;
        if want != got {
            if allow_unpinned {
                bail!(
                    "{}: sha256 is {got}, the manifest pins {want}; --allow-unpinned only covers an empty pin, never a mismatch",
                    path.display()
                );
            }
            bail!(
                "{}: sha256 is {got}, but {} pins {want}; the file is not the vendor's package",
                path.display(),
                self.manifest_path().display()
            );
        }
        Ok((path, got))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(file: &str, distro: &str, versions: &[&str]) -> Package {
        Package {
            role: "cloud-init".into(),
            distro: distro.into(),
            versions: versions.iter().map(|s| s.to_string()).collect(),
            file: file.into(),
            url: format!("http://storage.jd.com/product-design/{file}"),
            sha256: String::new(),
            version: None,
        }
    }

    #[test]
    fn versions_match_major_or_exact() {
        let c7 = pkg(
            "cloud-init-0.7.5-20.el7.centos.1.x86_64.rpm",
            "centos",
            &["7"],
        );
        assert!(c7.matches(&OsInfo::linux("centos", 7, 9)));
        assert!(c7.matches(&OsInfo::linux("centos", 7, 0)));
        assert!(!c7.matches(&OsInfo::linux("centos", 6, 10)));
        assert!(!c7.matches(&OsInfo::linux("rhel", 7, 9)));
        let u = pkg(
            "cloud-init_17.2-35-gf576b2a2-0ubuntu1_16.04.2-jd_all.deb",
            "ubuntu",
            &["16.04"],
        );
        assert!(u.matches(&OsInfo::linux("ubuntu", 16, 4)));
        assert!(!u.matches(&OsInfo::linux("ubuntu", 16, 10)));
        assert!(!u.matches(&OsInfo::linux("ubuntu", 18, 4)));
    }

    #[test]
    fn expected_versions_from_vendor_file_names() {
        assert_eq!(
            pkg(
                "cloud-init-0.7.5-20.el7.centos.1.x86_64.rpm",
                "centos",
                &["7"]
            )
            .expected_version()
            .as_deref(),
            Some("0.7.5-20.el7.centos.1")
        );
        assert_eq!(
            pkg("cloud-init-0.7.5-20.el6.2.x86_64.rpm", "centos", &["6"])
                .expected_version()
                .as_deref(),
            Some("0.7.5-20.el6.2")
        );
        assert_eq!(
            pkg(
                "cloud-init_17.2-35-gf576b2a2-0ubuntu1_16.04.2-jd_all.deb",
                "ubuntu",
                &["16.04"]
            )
            .expected_version()
            .as_deref(),
            Some("17.2-35-gf576b2a2-0ubuntu1~16.04.2-jd")
        );
        let mut p = pkg("x.deb", "debian", &["12"]);
        p.version = Some("1.0".into());
        assert_eq!(p.expected_version().as_deref(), Some("1.0"));
    }

    fn write_vendor(dir: &Path, sha: &str) {
        std::fs::write(
            dir.join("cloud-init-0.7.5-20.el7.centos.1.x86_64.rpm"),
            b"rpm bytes",
        )
        .unwrap();
        std::fs::write(
            dir.join(MANIFEST),
            format!(
                "schema = 1\n[[package]]\nrole = \"cloud-init\"\ndistro = \"centos\"\nversions = [\"7\"]\nfile = \"cloud-init-0.7.5-20.el7.centos.1.x86_64.rpm\"\nurl = \"http://x/y\"\nsha256 = \"{sha}\"\n"
            ),
        )
        .unwrap();
    }

    #[test]
    fn files_are_used_only_when_the_hash_matches() {
        let d = tempfile::tempdir().unwrap();
        let good = digest::sha256_bytes(b"rpm bytes").to_string();
        write_vendor(d.path(), &good);
        let v = Vendor::load(d.path()).unwrap();
        let p = v
            .find("cloud-init", &OsInfo::linux("centos", 7, 9))
            .unwrap()
            .clone();
        let (path, got) = v.verified_file(&p, false).unwrap();
        assert!(path.ends_with("cloud-init-0.7.5-20.el7.centos.1.x86_64.rpm"));
        assert_eq!(got.to_string(), good);
        assert!(
            v.find("cloud-init", &OsInfo::linux("ubuntu", 16, 4))
                .is_none()
        );

        write_vendor(d.path(), &"0".repeat(64));
        let v = Vendor::load(d.path()).unwrap();
        let p = v.manifest.packages[0].clone();
        let e = v.verified_file(&p, false).unwrap_err().to_string();
        assert!(e.contains("not the vendor's package"), "{e}");
        assert!(
            v.verified_file(&p, true)
                .unwrap_err()
                .to_string()
                .contains("never a mismatch")
        );

        write_vendor(d.path(), "");
        let v = Vendor::load(d.path()).unwrap();
        let p = v.manifest.packages[0].clone();
        assert!(
            v.verified_file(&p, false)
                .unwrap_err()
                .to_string()
                .contains("--allow-unpinned")
        );
        assert!(v.verified_file(&p, true).is_ok());
    }

    #[test]
    fn the_committed_manifest_names_the_rules_packages() {
        let v = Vendor::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/vendor-packages"
        )))
        .unwrap();
        let files: Vec<&str> = v
            .manifest
            .packages
            .iter()
            .map(|p| p.file.as_str())
            .collect();
        assert_eq!(
            files,
            vec![
                "cloud-init-0.7.5-20.el7.centos.1.x86_64.rpm",
                "cloud-init-0.7.5-20.el6.2.x86_64.rpm",
                "cloud-init_17.2-35-gf576b2a2-0ubuntu1_16.04.2-jd_all.deb",
                "CloudbaseInitSetup_0_9_11_x64.msi",
            ]
        );
        for p in &v.manifest.packages {
            assert_eq!(
                p.url,
                format!("http://storage.jd.com/product-design/{}", p.file)
            );
        }
        assert_eq!(
            v.find("cloud-init", &OsInfo::linux("centos", 7, 9))
                .unwrap()
                .expected_version()
                .as_deref(),
            Some("0.7.5-20.el7.centos.1")
        );
        assert_eq!(
            v.find("cloud-init", &OsInfo::linux("ubuntu", 16, 4))
                .unwrap()
                .kind(),
            "deb"
        );
        assert!(
            v.find("cloud-init", &OsInfo::linux("debian", 12, 4))
                .is_none()
        );
    }

    #[test]
    fn bad_manifests() {
        let d = tempfile::tempdir().unwrap();
        let e = Vendor::load(d.path()).unwrap_err().to_string();
        assert!(e.contains("vendor.toml: cannot read"), "{e}");
        std::fs::write(
            d.path().join(MANIFEST),
            "schema = 1\n[[package]]\nrole = \"cloud-init\"\nfile = \n",
        )
        .unwrap();
        let e = Vendor::load(d.path()).unwrap_err().to_string();
        assert!(e.contains("vendor.toml:4:"), "{e}");
        std::fs::write(d.path().join(MANIFEST), "schema = 2\n").unwrap();
        assert!(
            Vendor::load(d.path())
                .unwrap_err()
                .to_string()
                .contains("schema 2")
        );
        std::fs::write(d.path().join(MANIFEST), "schema = 1\n[[package]]\nrole=\"a\"\ndistro=\"b\"\nversions=[]\nfile=\"../../etc/passwd\"\nurl=\"\"\n").unwrap();
        assert!(
            Vendor::load(d.path())
                .unwrap_err()
                .to_string()
                .contains("plain names")
        );
    }
}
