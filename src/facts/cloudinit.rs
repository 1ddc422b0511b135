//! cloud-init in the guest (R4/R5): is it installed, which version, which datasource list is
//! in effect, and what state it left behind.

use super::{OsInfo, packages};
use crate::guest::fs::GuestFs;
use crate::parse::cloudcfg::{self, DatasourceList};
use anyhow::Result;
use serde::Serialize;

pub const CLOUD_CFG: &str = "/etc/cloud/cloud.cfg";
pub const CLOUD_CFG_D: &str = "/etc/cloud/cloud.cfg.d";
pub const STATE_DIR: &str = "/var/lib/cloud";

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct CloudInit {
    pub installed: bool,
    /// From the package database (not from files on disk).
    pub version: Option<String>,
    /// The `datasource_list` in effect; None when no file sets it (cloud-init then probes
    /// every datasource it knows).
    pub datasources: Option<Vec<String>>,
    /// `file:line` of the setting in effect.
    pub datasources_from: Option<String>,
    /// Configuration files read, in the order cloud-init reads them.
    pub config_files: Vec<String>,
    /// Files that did not parse as YAML, with the parser's message.
    pub config_errors: Vec<String>,
    /// Entries under /var/lib/cloud (state from an earlier boot).
    pub state_entries: Vec<String>,
    /// Why the package database could not say whether cloud-init is installed
    /// (`package database unreadable: …`); `installed` and `version` are then unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package_database_error: Option<String>,
}

/// cloud.cfg, then cloud.cfg.d/*.cfg in lexical order.
pub fn config_files(fs: &dyn GuestFs) -> Result<Vec<String>> {
    let mut files = Vec::new();
    if fs.read_text(CLOUD_CFG)?.is_some() {
        files.push(CLOUD_CFG.to_string());
    }
    let mut d = fs.glob(&format!("{CLOUD_CFG_D}/*.cfg"))?;
    d.sort();
    files.extend(d);
    Ok(files)
}

/// The datasource list in effect: the last file that sets it wins.
pub fn effective_datasources(
    fs: &dyn GuestFs,
) -> Result<(Option<(Vec<String>, String)>, Vec<String>, Vec<String>)> {
    let files = config_files(fs)?;
    let mut effective = None;
    let mut errors = Vec::new();
    for f in &files {
        let Some(text) = fs.read_text(f)? else {
            continue;
        };
        match cloudcfg::datasource_list(&text) {
            Ok(DatasourceList::Set(list, line)) => effective = Some((list, format!("{f}:{line}"))),
            Ok(DatasourceList::Unset) => {}
            Err(e) => errors.push(format!("{f}: {e}")),
        }
    }
    Ok((effective, files, errors))
}

pub fn scan(fs: &dyn GuestFs, os: &OsInfo) -> Result<CloudInit> {
    // An unreadable database is a fact about the guest, not a reason to stop reading it.
    let (version, package_database_error) = match packages::installed_version(fs, os, "cloud-init")
    {
        Ok(v) => (v, None),
        Err(e) if e.downcast_ref::<packages::Unreadable>().is_some() => (None, Some(e.to_string())),
        Err(e) => return Err(e),
    };
    let (effective, config_files, config_errors) = effective_datasources(fs)?;
    let state_entries = fs
        .list(STATE_DIR)?
        .into_iter()
        .map(|n| crate::guest::fs::join(STATE_DIR, &n))
        .collect();
    Ok(CloudInit {
        installed: version.is_some(),
        version,
        datasources: effective.as_ref().map(|e| e.0.clone()),
        datasources_from: effective.map(|e| e.1),
        config_files,
        config_errors,
        state_entries,
        package_database_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fs::MemFs;

    #[test]
    fn last_file_wins_in_lexical_order() {
        let fs = MemFs::new()
            .file(
                "/var/lib/dpkg/status",
                "Package: cloud-init\nStatus: install ok installed\nVersion: 22.4.2-1\n",
            )
            .file(
                CLOUD_CFG,
                "datasource_list: [ NoCloud, Ec2 ]\nusers: [default]\n",
            )
            .file(
                "/etc/cloud/cloud.cfg.d/90_dpkg.cfg",
                "datasource_list: [ NoCloud, ConfigDrive, OpenStack, None ]\n",
            )
            .file(
                "/etc/cloud/cloud.cfg.d/05_logging.cfg",
                "datasource_list:\n - Ec2\n",
            )
            .file(
                "/etc/cloud/cloud.cfg.d/README",
                "datasource_list: [ Azure ]\n",
            )
            .file(
                "/etc/cloud/cloud.cfg.d/99_broken.cfg",
                "datasource_list: [\n",
            )
            .file("/var/lib/cloud/instance", "")
            .dir("/var/lib/cloud/instances");
        let c = scan(&fs, &OsInfo::linux("debian", 12, 0)).unwrap();
        assert!(c.installed);
        assert_eq!(c.version.as_deref(), Some("22.4.2-1"));
        assert_eq!(
            c.datasources.unwrap(),
            vec!["NoCloud", "ConfigDrive", "OpenStack", "None"]
        );
        assert_eq!(
            c.datasources_from.as_deref(),
            Some("/etc/cloud/cloud.cfg.d/90_dpkg.cfg:1")
        );
        assert_eq!(c.config_files.len(), 4);
        assert_eq!(c.config_files[1], "/etc/cloud/cloud.cfg.d/05_logging.cfg");
        assert_eq!(c.config_errors.len(), 1);
        assert!(c.config_errors[0].starts_with("/etc/cloud/cloud.cfg.d/99_broken.cfg: "));
        assert_eq!(
            c.state_entries,
            vec!["/var/lib/cloud/instance", "/var/lib/cloud/instances"]
        );
    }

    #[test]
    fn nothing_installed() {
        let c = scan(&MemFs::new(), &OsInfo::linux("debian", 12, 0)).unwrap();
        assert_eq!(c, CloudInit::default());
    }
}
