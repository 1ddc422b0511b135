//! Path safety for the trace categories: well-known system links mapped to their canonical
//! path, nothing below a symlink, listings that never follow a link.

use crate::guest::fs::{GuestFs, Kind, Meta, join};
use anyhow::Result;

/// Well-known system links, mapped to their canonical path before any ancestor check:
/// (alias, canonical path, the link targets that make it that alias).
pub(super) const ALIASES: &[(&str, &str, &[&str])] = &[
    ("/var/run", "/run", &["/run", "../run"]),
    ("/var/lock", "/run/lock", &["/run/lock", "../run/lock"]),
    (
        "/var/mail",
        "/var/spool/mail",
        &["spool/mail", "/var/spool/mail"],
    ),
    ("/var/spool/mail", "/var/mail", &["../mail", "/var/mail"]),
    ("/home", "/var/home", &["var/home", "/var/home"]),
    ("/root", "/var/roothome", &["var/roothome", "/var/roothome"]),
];

pub(super) const TMP_DIRS: &[&str] = &["/tmp", "/var/tmp"];

/// `path` with a well-known alias prefix replaced by its canonical path, when the alias is
/// a link with the expected target; otherwise `path` unchanged.
pub(super) fn canonical(fs: &dyn GuestFs, path: &str) -> Result<String> {
    for (alias, canon, targets) in ALIASES {
        let rest = match path.strip_prefix(alias) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            _ => continue,
        };
        if fs.symlinked_ancestor(alias)?.is_some() || !fs.is_symlink(alias)? {
            continue;
        }
        let target = fs.readlink(alias)?;
        if targets.contains(&target.trim_end_matches('/')) {
            return Ok(format!("{canon}{rest}"));
        }
    }
    Ok(path.to_string())
}

/// The canonical path and its metadata; None if it does not exist or lies below a link.
pub(super) fn at(fs: &dyn GuestFs, path: &str) -> Result<Option<(String, Meta)>> {
    let path = canonical(fs, path)?;
    if fs.symlinked_ancestor(&path)?.is_some() {
        return Ok(None);
    }
    Ok(fs.lstat(&path)?.map(|m| (path, m)))
}

/// The canonical path of a real directory (not a link, not below one).
pub(super) fn real_dir(fs: &dyn GuestFs, path: &str) -> Result<Option<String>> {
    Ok(match at(fs, path)? {
        Some((p, m)) if m.kind == Kind::Dir => Some(p),
        _ => None,
    })
}

/// The entries directly in a real directory, with their metadata.
pub(super) fn entries(fs: &dyn GuestFs, dir: &str) -> Result<Vec<(String, Meta)>> {
    let Some(dir) = real_dir(fs, dir)? else {
        return Ok(vec![]);
    };
    let names = fs.list(&dir)?;
    let metas = fs.lstat_many(&dir, &names)?;
    Ok(names
        .iter()
        .zip(metas)
        .filter_map(|(n, m)| m.map(|m| (join(&dir, n), m)))
        .collect())
}

/// Every entry below a real directory (links not followed).
pub(super) fn walk(fs: &dyn GuestFs, dir: &str) -> Result<Vec<(String, Meta)>> {
    match real_dir(fs, dir)? {
        Some(dir) => fs.walk(&dir),
        None => Ok(vec![]),
    }
}

pub(super) fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `path` is `dir` or below it.
pub(super) fn is_under(path: &str, dir: &str) -> bool {
    path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The home directories: /root, the homes under /home of /etc/passwd users with uid 0 or
/// >= 1000, and every directory directly in /home; canonical, real directories only.
pub(super) fn homes(fs: &dyn GuestFs) -> Result<Vec<String>> {
    let mut candidates = vec!["/root".to_string()];
    if let Some((path, m)) = at(fs, "/etc/passwd")?
        && m.kind == Kind::File
    {
        candidates.extend(passwd_homes(&String::from_utf8_lossy(&fs.read(&path)?)));
    }
    for (path, meta) in entries(fs, "/home")? {
        if meta.kind == Kind::Dir {
            candidates.push(path);
        }
    }
    let mut out: Vec<String> = Vec::new();
    for c in candidates {
        if let Some(dir) = real_dir(fs, &c)?
            && !out.contains(&dir)
        {
            out.push(dir);
        }
    }
    Ok(out)
}

/// Homes below /home of the users with uid 0 or >= 1000 in an /etc/passwd text.
pub(super) fn passwd_homes(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            continue;
        }
        let Ok(uid) = f[2].trim().parse::<u32>() else {
            continue;
        };
        let home = f[5].trim().trim_end_matches('/');
        let plain = !home.split('/').any(|c| c == ".." || c == ".");
        if (uid == 0 || uid >= 1000) && home.starts_with("/home/") && plain {
            out.push(home.to_string());
        }
    }
    out
}
