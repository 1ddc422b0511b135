//! Profiles: the rules a conversion enforces, as TOML data. The built-in `jdcloud` profile
//! is `profiles/jdcloud.toml`, compiled in.

use crate::rule::RuleId;
use crate::tomltext::parse_toml;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

pub const BUILTIN: &[(&str, &str)] = &[("jdcloud", include_str!("../profiles/jdcloud.toml"))];
pub const DEFAULT: &str = "jdcloud";

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub cloud_init: CloudInit,
    pub network: Network,
    #[serde(default)]
    pub repositories: Repositories,
    #[serde(default)]
    pub traces: Traces,
    #[serde(default)]
    pub severity: BTreeMap<String, Severity>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CloudInit {
    pub datasources: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub linux_mtu: LinuxMtu,
    pub windows_mtu: u32,
    pub windows_mtu_max: u32,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LinuxMtu {
    /// No static MTU anywhere; DHCP decides.
    Dhcp,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Repositories {
    #[serde(default)]
    pub expected_hosts: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Traces {
    #[serde(default)]
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Fail,
    Warn,
    Off,
}

/// A loaded profile with where it came from and the hash of its text (for the manifest).
#[derive(Debug, Clone, Serialize)]
pub struct Loaded {
    pub profile: Profile,
    /// `builtin:jdcloud` or the file path.
    pub source: String,
    pub sha256: String,
}

impl Profile {
    /// How a failing check of `rule` counts (`R4/R5` style tags take their first rule).
    pub fn severity(&self, rule: &str) -> Severity {
        let r = rule.split('/').next().unwrap_or(rule);
        self.severity.get(r).copied().unwrap_or(Severity::Fail)
    }

    fn validate(&self, src: &str) -> Result<()> {
        if self.cloud_init.datasources.is_empty() {
            bail!("{src}: cloud_init.datasources is empty; list the datasources cloud-init keeps");
        }
        if self.network.windows_mtu > self.network.windows_mtu_max {
            bail!(
                "{src}: network.windows_mtu ({}) exceeds windows_mtu_max ({})",
                self.network.windows_mtu,
                self.network.windows_mtu_max
            );
        }
        for k in self.severity.keys() {
            if let Err(e) = k.parse::<RuleId>() {
                bail!("{src}: [severity] names {e}");
            }
        }
        Ok(())
    }
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// `--profile NAME|FILE`: a built-in name, else a TOML file.
pub fn load(spec: &str) -> Result<Loaded> {
    if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == spec) {
        let src = format!("builtin:{name}");
        let profile: Profile = parse_toml(text, &src)?;
        profile.validate(&src)?;
        return Ok(Loaded {
            profile,
            source: src,
            sha256: sha256_hex(text.as_bytes()),
        });
    }
    let p = Path::new(spec);
    if !p.exists() {
        bail!(
            "unknown profile '{spec}': not a built-in profile ({}) and no such file",
            BUILTIN.iter().map(|b| b.0).collect::<Vec<_>>().join(", ")
        );
    }
    let text = std::fs::read_to_string(p).with_context(|| format!("reading profile {spec}"))?;
    let profile: Profile = parse_toml(&text, spec)?;
    profile.validate(spec)?;
    Ok(Loaded {
        profile,
        source: spec.to_string(),
        sha256: sha256_hex(text.as_bytes()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_jdcloud_encodes_the_rules() {
        let l = load("jdcloud").unwrap();
        let p = &l.profile;
        assert_eq!(
            p.cloud_init.datasources,
            vec!["NoCloud", "ConfigDrive", "OpenStack", "None"]
        );
        assert_eq!(p.network.linux_mtu, LinuxMtu::Dhcp);
        assert_eq!(p.network.windows_mtu, 1400);
        assert!(p.network.windows_mtu_max <= 1500);
        assert!(p.repositories.expected_hosts.is_empty());
        assert_eq!(p.severity("R8"), Severity::Fail);
        assert_eq!(p.severity("R9"), Severity::Warn);
        assert_eq!(p.severity("R4/R5"), Severity::Fail);
        assert_eq!(l.source, "builtin:jdcloud");
        assert_eq!(l.sha256.len(), 64);
    }

    #[test]
    fn syntax_error_names_file_line_and_column() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("p.toml");
        std::fs::write(
            &f,
            "name = \"x\"\n[cloud_init]\ndatasources = [\"NoCloud\",\n",
        )
        .unwrap();
        let e = load(f.to_str().unwrap()).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}:3:26: unclosed array", f.display())),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1);
    }

    #[test]
    fn unknown_key_names_file_line_and_column() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("p.toml");
        let text = BUILTIN[0]
            .1
            .replace("windows_mtu = 1400", "windows_mtu = 1400\nwindows_mut = 1");
        std::fs::write(&f, &text).unwrap();
        let e = load(f.to_str().unwrap()).unwrap_err().to_string();
        let line = text
            .lines()
            .position(|l| l.starts_with("windows_mut"))
            .unwrap()
            + 1;
        assert!(
            e.starts_with(&format!(
                "{}:{line}:1: unknown field `windows_mut`",
                f.display()
            )),
            "{e}"
        );
    }

    #[test]
    fn unknown_profile_and_bad_values() {
        let e = load("aws").unwrap_err().to_string();
        assert!(
            e.contains("unknown profile 'aws'") && e.contains("jdcloud"),
            "{e}"
        );
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("p.toml");
        std::fs::write(&f, BUILTIN[0].1.replace("R9 = \"warn\"", "R99 = \"warn\"")).unwrap();
        assert!(
            load(f.to_str().unwrap())
                .unwrap_err()
                .to_string()
                .contains("unknown rule 'R99'")
        );
        std::fs::write(
            &f,
            BUILTIN[0]
                .1
                .replace("windows_mtu = 1400", "windows_mtu = 9000"),
        )
        .unwrap();
        assert!(
            load(f.to_str().unwrap())
                .unwrap_err()
                .to_string()
                .contains("exceeds")
        );
    }
}
