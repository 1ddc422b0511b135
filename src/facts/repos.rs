//! Configured package repositories (R1).

use crate::guest::fs::GuestFs;
use crate::parse::repos::{self, Repo};
use anyhow::Result;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RepoRef {
    pub file: String,
    pub line: usize,
    pub name: String,
    pub url: String,
    pub host: Option<String>,
    pub enabled: bool,
}

fn push(out: &mut Vec<RepoRef>, file: &str, v: Vec<Repo>) {
    for r in v {
        out.push(RepoRef {
            file: file.to_string(),
            line: r.line,
            host: repos::host_of(&r.url),
            name: r.name,
            url: r.url,
            enabled: r.enabled,
        });
    }
}

/// Every repository in yum/dnf and apt configuration.
pub fn scan(fs: &dyn GuestFs) -> Result<Vec<RepoRef>> {
    let mut out = Vec::new();
    for f in fs.glob("/etc/yum.repos.d/*.repo")? {
        if let Some(t) = fs.read_text(&f)? {
            push(&mut out, &f, repos::yum(&t));
        }
    }
    let mut apt = vec!["/etc/apt/sources.list".to_string()];
    apt.extend(fs.glob("/etc/apt/sources.list.d/*.list")?);
    for f in apt {
        if let Some(t) = fs.read_text(&f)? {
            push(&mut out, &f, repos::apt_list(&t));
        }
    }
    for f in fs.glob("/etc/apt/sources.list.d/*.sources")? {
        if let Some(t) = fs.read_text(&f)? {
            push(&mut out, &f, repos::apt_deb822(&t));
        }
    }
    Ok(out)
}
