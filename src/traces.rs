//! R8: traces of the image build. One table of categories drives both the read-only
//! inventory (`check`) and the cleanup operation (`convert`).
//!
//! Each [`Category`] finds the concrete [`Trace`]s present in a guest, each with the
//! [`Action`] that clears it; [`apply`] performs one trace's action. The categories cover
//! virt-sysprep's default Linux operations (see [`Category::sysprep`]) plus what sysprep
//! misses: every shell and REPL history, cloud-init state and logs, the systemd journal,
//! installer leftovers, user caches and the systemd random seed.
//!
//! What counts as a trace:
//! - an empty regular file or an empty directory carries nothing and is not a trace, except
//!   in `tmp-files` and `pam-data`, where an entry's existence is the state;
//! - a symlink at a trace path is a trace to `Delete` (the link, never its target), except a
//!   link into `/dev` (`~/.bash_history -> /dev/null` is a deliberate setting), and except
//!   where noted (`machine-id`, `blkid-tab`, `net-*` files, links in `/var/log` without a
//!   log's name such as Debian's `/var/log/README`);
//! - every path belongs to one category at most (the two `net-*` categories remove disjoint
//!   keys from the same ifcfg file).
//!
//! Safety, the operation contract: a missing file is normal, not an error; decisions are
//! made on `lstat`/`walk`, never by reading through a link; a path below a symlink is
//! skipped (the link, when it is a trace itself, is reported by its own category and
//! removed as a link); well-known system links (`/var/run -> /run`, `/var/lock ->
//! /run/lock`, `/var/mail <-> /var/spool/mail`, `/home -> var/home`, `/root ->
//! var/roothome`) are mapped to their canonical path first, so they do not hide traces.
//! `apply` checks all of this again right before acting.

use crate::facts::OsInfo;
use crate::guest::fs::{GuestFs, Kind, Meta, join, wildcard};
use crate::parse::shellvars;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeSet;

/// What the cleanup does to one trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum Action {
    /// Remove a file, or a symlink (never its target).
    Delete,
    /// Remove a directory tree (links inside are removed, never followed).
    DeleteTree,
    /// Empty a regular file that daemons expect to exist (current logs, wtmp, machine-id).
    Truncate,
    /// Remove the lines assigning these keys from a KEY=value file (ifcfg HWADDR, UUID).
    RemoveKeys { keys: Vec<String> },
}

/// One trace found in the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trace {
    /// The category id, e.g. `shell-history`.
    pub category: &'static str,
    /// The canonical guest path (`/run/utmp`, not `/var/run/utmp`).
    pub path: String,
    #[serde(flatten)]
    pub action: Action,
    /// Human detail, e.g. `2 lines: HWADDR (line 9), UUID (line 6)` or `123 bytes`.
    pub detail: String,
}

/// A category of traces.
pub struct Category {
    /// kebab-case id; the check id is `traces-<id>`.
    pub id: &'static str,
    /// One line, no trailing period.
    pub summary: &'static str,
    /// The virt-sysprep operations this category covers (empty: imgseal's own addition).
    pub sysprep: &'static [&'static str],
    /// The traces of this category present in the guest; nothing on a guest that is not
    /// Linux. Read-only.
    pub find: fn(&dyn GuestFs, &OsInfo) -> Result<Vec<Trace>>,
}

static CATEGORIES: &[Category] = &[
    Category {
        id: "shell-history",
        summary: "Shell and REPL histories in home directories (bash, zsh, fish, python, psql, vim...)",
        sysprep: &["bash-history", "zsh-history"],
        find: |fs, os| linux_only(fs, os, shell_history),
    },
    Category {
        id: "ssh-userdir",
        summary: "The .ssh directory of every home (authorized and known keys)",
        sysprep: &["ssh-userdir"],
        find: |fs, os| linux_only(fs, os, ssh_userdir),
    },
    Category {
        id: "ssh-hostkeys",
        summary: "SSH host keys in /etc/ssh, regenerated at first boot",
        sysprep: &["ssh-hostkeys"],
        find: |fs, os| linux_only(fs, os, ssh_hostkeys),
    },
    Category {
        id: "logfiles",
        summary: "Logs in /var/log: current logs are emptied, rotated logs removed",
        sysprep: &["logfiles"],
        find: |fs, os| linux_only(fs, os, logfiles),
    },
    Category {
        id: "journal",
        summary: "Persistent systemd journal files in /var/log/journal",
        sysprep: &[],
        find: |fs, os| linux_only(fs, os, journal),
    },
    Category {
        id: "login-records",
        summary: "Login records: wtmp, btmp, lastlog, faillog, tallylog, utmp",
        sysprep: &["utmp"],
        find: |fs, os| linux_only(fs, os, login_records),
    },
    Category {
        id: "dhcp-client-state",
        summary: "DHCP client leases (dhclient, dhcpcd, NetworkManager)",
        sysprep: &["dhcp-client-state"],
        find: |fs, os| linux_only(fs, os, dhcp_client_state),
    },
    Category {
        id: "dhcp-server-state",
        summary: "DHCP server leases",
        sysprep: &["dhcp-server-state"],
        find: |fs, os| linux_only(fs, os, dhcp_server_state),
    },
    Category {
        id: "machine-id",
        summary: "The machine ID, emptied so that systemd generates a new one at boot",
        sysprep: &["machine-id"],
        find: |fs, os| linux_only(fs, os, machine_id),
    },
    Category {
        id: "cloud-init-state",
        summary: "cloud-init state in /var/lib/cloud and its logs",
        sysprep: &[],
        find: |fs, os| linux_only(fs, os, cloud_init_state),
    },
    Category {
        id: "package-manager-cache",
        summary: "Downloaded packages and metadata of apt, dnf, yum and zypper",
        sysprep: &["package-manager-cache"],
        find: |fs, os| linux_only(fs, os, package_manager_cache),
    },
    Category {
        id: "tmp-files",
        summary: "Everything in /tmp and /var/tmp",
        sysprep: &["tmp-files"],
        find: |fs, os| linux_only(fs, os, tmp_files),
    },
    Category {
        id: "crash-data",
        summary: "Crash dumps and reports (kdump, ABRT, apport, systemd-coredump)",
        sysprep: &["crash-data", "abrt-data"],
        find: |fs, os| linux_only(fs, os, crash_data),
    },
    Category {
        id: "mail-spool",
        summary: "Local mail in /var/mail and /var/spool/mail",
        sysprep: &["mail-spool"],
        find: |fs, os| linux_only(fs, os, mail_spool),
    },
    Category {
        id: "cron-spool",
        summary: "User crontabs and pending at jobs",
        sysprep: &["cron-spool"],
        find: |fs, os| linux_only(fs, os, cron_spool),
    },
    Category {
        id: "udev-persistent-net",
        summary: "udev rules binding interface names to the build machine's MAC addresses",
        sysprep: &["udev-persistent-net"],
        find: |fs, os| linux_only(fs, os, udev_persistent_net),
    },
    Category {
        id: "net-hwaddr",
        summary: "HWADDR and UUID lines in ifcfg files",
        sysprep: &["net-hwaddr"],
        find: |fs, os| linux_only(fs, os, net_hwaddr),
    },
    Category {
        id: "net-hostname",
        summary: "HOSTNAME and DHCP_HOSTNAME lines in ifcfg files",
        sysprep: &["net-hostname"],
        find: |fs, os| linux_only(fs, os, net_hostname),
    },
    Category {
        id: "net-nmconn",
        summary: "NetworkManager connection profiles (keyfiles) made on the build machine",
        sysprep: &["net-nmconn"],
        find: |fs, os| linux_only(fs, os, net_nmconn),
    },
    Category {
        id: "passwd-backups",
        summary: "Backups of the account files: /etc/passwd-, /etc/shadow- and the like",
        sysprep: &["passwd-backups"],
        find: |fs, os| linux_only(fs, os, passwd_backups),
    },
    Category {
        id: "backup-files",
        summary: "Editor backup and swap files under /etc, /root, /home and /srv",
        sysprep: &["backup-files"],
        find: |fs, os| linux_only(fs, os, backup_files),
    },
    Category {
        id: "blkid-tab",
        summary: "The blkid cache",
        sysprep: &["blkid-tab"],
        find: |fs, os| linux_only(fs, os, blkid_tab),
    },
    Category {
        id: "pacct-log",
        summary: "Process accounting logs",
        sysprep: &["pacct-log"],
        find: |fs, os| linux_only(fs, os, pacct_log),
    },
    Category {
        id: "pam-data",
        summary: "PAM runtime data: console ownership, faillock and sepermit records",
        sysprep: &["pam-data"],
        find: |fs, os| linux_only(fs, os, pam_data),
    },
    Category {
        id: "rpm-db",
        summary: "Host-specific RPM database environment files (/var/lib/rpm/__db.*)",
        sysprep: &["rpm-db"],
        find: |fs, os| linux_only(fs, os, rpm_db),
    },
    Category {
        id: "yum-uuid",
        summary: "The yum UUID, regenerated by yum when missing",
        sysprep: &["yum-uuid"],
        find: |fs, os| linux_only(fs, os, yum_uuid),
    },
    Category {
        id: "installer-leftovers",
        summary: "Installer kickstarts and logs (anaconda, debian-installer)",
        sysprep: &[],
        find: |fs, os| linux_only(fs, os, installer_leftovers),
    },
    Category {
        id: "user-cache",
        summary: "The .cache directory of every home",
        sysprep: &[],
        find: |fs, os| linux_only(fs, os, user_cache),
    },
    Category {
        id: "random-seed",
        summary: "Saved random seeds, which every clone would otherwise share",
        sysprep: &[],
        find: |fs, os| linux_only(fs, os, random_seed),
    },
];

/// Every category, in the order `check` reports them and `convert` clears them.
pub fn categories() -> &'static [Category] {
    CATEGORIES
}

/// Every trace of every category not excluded.
pub fn find_all(fs: &dyn GuestFs, os: &OsInfo, exclude: &[String]) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for c in categories() {
        if exclude.iter().any(|e| e == c.id) {
            continue;
        }
        out.extend((c.find)(fs, os)?);
    }
    Ok(out)
}

/// Performs one trace's action; returns whether it changed anything.
///
/// The path is checked again with `lstat` right before acting, since the guest may have
/// changed: a missing path, or one below a symlink, is left alone (`Ok(false)`); a path
/// that is a symlink is removed as a link, whatever the action; only regular files are
/// truncated or rewritten; a `Delete` never removes a directory.
///
/// The one place `apply` creates something: when `/tmp` or `/var/tmp` is a symlink (a
/// `tmp-files` trace), the link is replaced by an empty directory with mode 01777, because
/// a system needs both.
pub fn apply(fs: &dyn GuestFs, t: &Trace) -> Result<bool> {
    apply_checked(fs, t).with_context(|| format!("clearing {} ({})", t.path, t.category))
}

fn apply_checked(fs: &dyn GuestFs, t: &Trace) -> Result<bool> {
    let Some((path, meta)) = at(fs, &t.path)? else {
        return Ok(false);
    };
    if let Action::RemoveKeys { keys } = &t.action {
        return match meta.kind {
            Kind::File => remove_keys(fs, &path, keys),
            _ => Ok(false),
        };
    }
    match (meta.kind, &t.action) {
        (Kind::Symlink, _) => {
            fs.remove(&path)?;
            if t.category == "tmp-files" && TMP_DIRS.contains(&path.as_str()) {
                fs.mkdir_p(&path)?;
                fs.chmod(0o1777, &path)?;
            }
            Ok(true)
        }
        (Kind::File, Action::Truncate) if meta.size > 0 => {
            fs.truncate(&path)?;
            Ok(true)
        }
        (_, Action::Truncate) => Ok(false),
        (Kind::Dir, Action::DeleteTree) => {
            fs.remove_tree(&path)?;
            Ok(true)
        }
        // Found as a file: never remove a directory that has taken its place.
        (Kind::Dir, _) => Ok(false),
        (_, _) => {
            fs.remove(&path)?;
            Ok(true)
        }
    }
}

/// Rewrites a regular file without the lines assigning `keys`; whether it changed.
fn remove_keys(fs: &dyn GuestFs, path: &str, keys: &[String]) -> Result<bool> {
    let data = fs.read(path)?;
    let kept = without_keys(&data, keys);
    if kept == data {
        return Ok(false);
    }
    fs.write(path, &kept)?;
    Ok(true)
}

/// The bytes of a KEY=value file without the lines assigning `keys`; every other byte
/// (comments, quoting, line endings, a missing final newline) is kept as it was.
fn without_keys(data: &[u8], keys: &[String]) -> Vec<u8> {
    let text = String::from_utf8_lossy(data);
    let drop: BTreeSet<usize> = shellvars::parse(&text)
        .into_iter()
        .filter(|v| keys.contains(&v.key))
        .map(|v| v.line)
        .collect();
    data.split_inclusive(|b| *b == b'\n')
        .enumerate()
        .filter(|(i, _)| !drop.contains(&(i + 1)))
        .flat_map(|(_, line)| line.iter().copied())
        .collect()
}

// ---- paths: aliases, ancestors, listings ----------------------------------------------

/// Well-known system links, mapped to their canonical path before any ancestor check:
/// (alias, canonical path, the link targets that make it that alias).
const ALIASES: &[(&str, &str, &[&str])] = &[
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

const TMP_DIRS: &[&str] = &["/tmp", "/var/tmp"];

/// `path` with a well-known alias prefix replaced by its canonical path, when the alias is
/// a link with the expected target; otherwise `path` unchanged.
fn canonical(fs: &dyn GuestFs, path: &str) -> Result<String> {
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
fn at(fs: &dyn GuestFs, path: &str) -> Result<Option<(String, Meta)>> {
    let path = canonical(fs, path)?;
    if fs.symlinked_ancestor(&path)?.is_some() {
        return Ok(None);
    }
    Ok(fs.lstat(&path)?.map(|m| (path, m)))
}

/// The canonical path of a real directory (not a link, not below one).
fn real_dir(fs: &dyn GuestFs, path: &str) -> Result<Option<String>> {
    Ok(match at(fs, path)? {
        Some((p, m)) if m.kind == Kind::Dir => Some(p),
        _ => None,
    })
}

/// The entries directly in a real directory, with their metadata.
fn entries(fs: &dyn GuestFs, dir: &str) -> Result<Vec<(String, Meta)>> {
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
fn walk(fs: &dyn GuestFs, dir: &str) -> Result<Vec<(String, Meta)>> {
    match real_dir(fs, dir)? {
        Some(dir) => fs.walk(&dir),
        None => Ok(vec![]),
    }
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `path` is `dir` or below it.
fn is_under(path: &str, dir: &str) -> bool {
    path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The home directories: /root, the homes under /home of /etc/passwd users with uid 0 or
/// >= 1000, and every directory directly in /home; canonical, real directories only.
fn homes(fs: &dyn GuestFs) -> Result<Vec<String>> {
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
fn passwd_homes(text: &str) -> Vec<String> {
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

// ---- trace builders ---------------------------------------------------------------------

fn trace(category: &'static str, path: &str, action: Action, detail: String) -> Trace {
    Trace {
        category,
        path: path.to_string(),
        action,
        detail,
    }
}

fn bytes(n: u64) -> String {
    if n == 1 {
        "1 byte".into()
    } else {
        format!("{n} bytes")
    }
}

/// A link at a trace path: `Delete` the link, unless it points into /dev (a deliberate
/// redirection such as `~/.bash_history -> /dev/null`).
fn link_trace(fs: &dyn GuestFs, cat: &'static str, path: &str) -> Result<Option<Trace>> {
    let target = fs.readlink(path)?;
    if target == "/dev" || target.starts_with("/dev/") {
        return Ok(None);
    }
    let detail = format!("symlink to {target}");
    Ok(Some(trace(cat, path, Action::Delete, detail)))
}

/// A file to remove: a non-empty regular file or a link.
fn delete_file(fs: &dyn GuestFs, cat: &'static str, path: &str, m: Meta) -> Result<Option<Trace>> {
    Ok(match m.kind {
        Kind::Symlink => link_trace(fs, cat, path)?,
        Kind::File if m.size > 0 => Some(trace(cat, path, Action::Delete, bytes(m.size))),
        _ => None,
    })
}

/// A file to empty: a non-empty regular file is truncated, a link removed.
fn truncate_file(
    fs: &dyn GuestFs,
    cat: &'static str,
    path: &str,
    m: Meta,
) -> Result<Option<Trace>> {
    Ok(match m.kind {
        Kind::Symlink => link_trace(fs, cat, path)?,
        Kind::File if m.size > 0 => Some(trace(cat, path, Action::Truncate, bytes(m.size))),
        _ => None,
    })
}

/// Anything to remove: a file or link as [`delete_file`], a non-empty directory as a tree.
fn delete_any(fs: &dyn GuestFs, cat: &'static str, path: &str, m: Meta) -> Result<Option<Trace>> {
    if m.kind != Kind::Dir {
        return delete_file(fs, cat, path, m);
    }
    let n = fs.find(path)?.len();
    Ok((n > 0).then(|| trace(cat, path, Action::DeleteTree, entries_detail(n))))
}

/// Removes whatever it is, empty or not (for places where existence is the state).
fn delete_always(fs: &dyn GuestFs, cat: &'static str, path: &str, m: Meta) -> Result<Trace> {
    Ok(match m.kind {
        Kind::Symlink => {
            let detail = format!("symlink to {}", fs.readlink(path)?);
            trace(cat, path, Action::Delete, detail)
        }
        Kind::Dir => {
            let detail = entries_detail(fs.find(path)?.len());
            trace(cat, path, Action::DeleteTree, detail)
        }
        Kind::File => trace(cat, path, Action::Delete, bytes(m.size)),
        Kind::Other => trace(cat, path, Action::Delete, "special file".into()),
    })
}

fn entries_detail(n: usize) -> String {
    if n == 1 {
        "1 entry".into()
    } else {
        format!("{n} entries")
    }
}

/// Applies `build` to each of the fixed paths that exists.
fn fixed(
    fs: &dyn GuestFs,
    cat: &'static str,
    paths: &[&str],
    build: fn(&dyn GuestFs, &'static str, &str, Meta) -> Result<Option<Trace>>,
) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for p in paths {
        if let Some((path, meta)) = at(fs, p)? {
            out.extend(build(fs, cat, &path, meta)?);
        }
    }
    Ok(out)
}

/// Every entry directly in `dir`, as [`delete_any`]; the directory itself stays.
fn clear_dir(fs: &dyn GuestFs, cat: &'static str, dir: &str) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for (path, meta) in entries(fs, dir)? {
        out.extend(delete_any(fs, cat, &path, meta)?);
    }
    Ok(out)
}

/// Every file and link anywhere below `dir` whose name `keep` accepts; directories stay
/// (they may carry ownership and modes their programs need).
fn files_below(
    fs: &dyn GuestFs,
    cat: &'static str,
    dir: &str,
    keep: fn(&str) -> bool,
) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for (path, meta) in walk(fs, dir)? {
        if keep(basename(&path)) {
            out.extend(delete_file(fs, cat, &path, meta)?);
        }
    }
    Ok(out)
}

/// Finds nothing on a guest that is not Linux.
fn linux_only(
    fs: &dyn GuestFs,
    os: &OsInfo,
    find: fn(&dyn GuestFs) -> Result<Vec<Trace>>,
) -> Result<Vec<Trace>> {
    if os.is_linux() { find(fs) } else { Ok(vec![]) }
}

// ---- homes --------------------------------------------------------------------------------

/// Histories, relative to a home directory.
const HISTORIES: &[&str] = &[
    ".bash_history",
    ".sh_history",
    ".ash_history",
    ".mksh_history",
    ".history",
    ".zsh_history",
    ".zhistory",
    ".histfile",
    ".local/share/fish/fish_history",
    ".config/fish/fish_history",
    ".python_history",
    ".ipython/profile_default/history.sqlite",
    ".mysql_history",
    ".psql_history",
    ".sqlite_history",
    ".dbshell",
    ".rediscli_history",
    ".node_repl_history",
    ".irb_history",
    ".pry_history",
    ".php_history",
    ".scala_history",
    ".Rhistory",
    ".octave_hist",
    ".gdb_history",
    ".lesshst",
    ".viminfo",
    ".local/state/nvim/shada/main.shada",
    ".local/share/nvim/shada/main.shada",
];

fn shell_history(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for home in homes(fs)? {
        let paths: Vec<String> = HISTORIES.iter().map(|rel| join(&home, rel)).collect();
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        out.extend(fixed(fs, "shell-history", &paths, delete_file)?);
    }
    Ok(out)
}

fn in_homes(fs: &dyn GuestFs, cat: &'static str, rel: &str) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for home in homes(fs)? {
        out.extend(fixed(fs, cat, &[&join(&home, rel)], delete_any)?);
    }
    Ok(out)
}

fn ssh_userdir(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    in_homes(fs, "ssh-userdir", ".ssh")
}

fn user_cache(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    in_homes(fs, "user-cache", ".cache")
}

// ---- /etc -----------------------------------------------------------------------------------

fn ssh_hostkeys(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for (path, meta) in entries(fs, "/etc/ssh")? {
        if wildcard("*_host_*", basename(&path)) {
            out.extend(delete_file(fs, "ssh-hostkeys", &path, meta)?);
        }
    }
    Ok(out)
}

fn machine_id(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    // Emptied, not removed: a missing /etc/machine-id makes the next boot a "first boot"
    // (presets applied again). "uninitialized" already asks for a new ID. A link is not
    // ours to judge: the identity lives in its target.
    if let Some((path, m)) = at(fs, "/etc/machine-id")?
        && m.kind == Kind::File
        && m.size > 0
        && String::from_utf8_lossy(&fs.read(&path)?).trim() != "uninitialized"
    {
        out.push(trace("machine-id", &path, Action::Truncate, bytes(m.size)));
    }
    // D-Bus falls back to /etc/machine-id; the usual link to it is not a trace.
    if let Some((path, m)) = at(fs, "/var/lib/dbus/machine-id")?
        && m.kind == Kind::File
        && m.size > 0
    {
        out.push(trace("machine-id", &path, Action::Delete, bytes(m.size)));
    }
    Ok(out)
}

fn udev_persistent_net(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let paths = ["/etc/udev/rules.d/70-persistent-net.rules"];
    fixed(fs, "udev-persistent-net", &paths, delete_file)
}

const IFCFG_DIR: &str = "/etc/sysconfig/network-scripts";

/// ifcfg files that initscripts reads (it ignores backups and rpm leftovers).
fn is_active_ifcfg(name: &str) -> bool {
    const IGNORED: &[&str] = &["~", ".bak", ".orig", ".rpmnew", ".rpmorig", ".rpmsave"];
    name.starts_with("ifcfg-") && !IGNORED.iter().any(|s| name.ends_with(s))
}

/// ifcfg files assigning any of `keys`: RemoveKeys of the keys present.
fn ifcfg_keys(fs: &dyn GuestFs, cat: &'static str, keys: &[&str]) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for (path, meta) in entries(fs, IFCFG_DIR)? {
        if !is_active_ifcfg(basename(&path)) || meta.kind != Kind::File || meta.size == 0 {
            continue;
        }
        let text = String::from_utf8_lossy(&fs.read(&path)?).into_owned();
        let vars = shellvars::parse(&text);
        let mut present = Vec::new();
        let mut lines = Vec::new();
        for key in keys {
            for v in vars.iter().filter(|v| v.key == *key) {
                lines.push(format!("{key} (line {})", v.line));
                if !present.contains(&key.to_string()) {
                    present.push(key.to_string());
                }
            }
        }
        if lines.is_empty() {
            continue;
        }
        let n = lines.len();
        let detail = format!(
            "{n} line{}: {}",
            if n == 1 { "" } else { "s" },
            lines.join(", ")
        );
        out.push(trace(
            cat,
            &path,
            Action::RemoveKeys { keys: present },
            detail,
        ));
    }
    Ok(out)
}

fn net_hwaddr(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    ifcfg_keys(fs, "net-hwaddr", &["HWADDR", "UUID"])
}

fn net_hostname(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    ifcfg_keys(fs, "net-hostname", &["HOSTNAME", "DHCP_HOSTNAME"])
}

fn net_nmconn(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for (path, meta) in entries(fs, "/etc/NetworkManager/system-connections")? {
        if path.ends_with(".nmconnection") {
            out.extend(delete_file(fs, "net-nmconn", &path, meta)?);
        }
    }
    Ok(out)
}

fn passwd_backups(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let paths = [
        "/etc/passwd-",
        "/etc/shadow-",
        "/etc/group-",
        "/etc/gshadow-",
        "/etc/subuid-",
        "/etc/subgid-",
    ];
    fixed(fs, "passwd-backups", &paths, delete_file)
}

fn blkid_tab(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let paths = [
        "/var/run/blkid.tab",
        "/var/run/blkid.tab.old",
        "/etc/blkid/blkid.tab",
        "/etc/blkid/blkid.tab.old",
        "/etc/blkid.tab",
        "/etc/blkid.tab.old",
        "/dev/.blkid.tab",
        "/dev/.blkid.tab.old",
    ];
    // Like sysprep, links are left alone (old systems link /etc/blkid/blkid.tab to the
    // cache in /dev, which is removed in its own right).
    fixed(fs, "blkid-tab", &paths, |_, cat, path, m| {
        Ok((m.kind == Kind::File && m.size > 0)
            .then(|| trace(cat, path, Action::Delete, bytes(m.size))))
    })
}

fn is_backup_name(name: &str) -> bool {
    name.ends_with('~')
        || name.ends_with(".bak")
        || name.ends_with(".swp")
        || name.ends_with(".swo")
        || (name.len() >= 2 && name.starts_with('#') && name.ends_with('#'))
        || name.starts_with(".#")
}

fn backup_files(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    // Paths other categories already clear are theirs (~/.ssh/authorized_keys~,
    // /etc/ssh/ssh_host_rsa_key.bak...).
    let mut others = Vec::new();
    for find in [ssh_userdir, user_cache, ssh_hostkeys, shell_history] {
        others.extend(find(fs)?);
    }
    let mut out: Vec<Trace> = Vec::new();
    for root in ["/etc", "/root", "/home", "/srv"] {
        for (path, meta) in walk(fs, root)? {
            if !is_backup_name(basename(&path))
                || others.iter().chain(&out).any(|t| is_under(&path, &t.path))
            {
                continue;
            }
            out.extend(delete_file(fs, "backup-files", &path, meta)?);
        }
    }
    Ok(out)
}

fn installer_leftovers(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let paths = [
        "/root/anaconda-ks.cfg",
        "/root/anaconda-post.log",
        "/root/initial-setup-ks.cfg",
        "/root/original-ks.cfg",
        "/root/install.log",
        "/root/install.log.syslog",
    ];
    let mut out = fixed(fs, "installer-leftovers", &paths, delete_file)?;
    out.extend(var_log_of(fs, "installer-leftovers")?);
    Ok(out)
}

// ---- /var/log -----------------------------------------------------------------------------

/// A rotated log's name: `*.1`, `*.2.gz`, `*.gz`, `*.xz`, `*.bz2`, `*.old`, `*-YYYYMMDD`,
/// `*-YYYYMMDD.gz`...
fn is_rotated(name: &str) -> bool {
    const ROTATED: &[&str] = &[".gz", ".xz", ".bz2", ".zst", ".lz4", ".Z", ".old"];
    fn digits(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
    }
    if ROTATED
        .iter()
        .any(|s| name.len() > s.len() && name.ends_with(s))
    {
        return true;
    }
    if let Some((stem, n)) = name.rsplit_once('.')
        && !stem.is_empty()
        && digits(n)
    {
        return true;
    }
    matches!(name.rsplit_once('-'), Some((stem, date))
        if !stem.is_empty() && (date.len() == 8 || date.len() == 10) && digits(date))
}

/// wtmp, btmp, lastlog, faillog, tallylog and their rotations.
fn is_login_record(name: &str) -> bool {
    ["wtmp", "btmp", "lastlog", "faillog", "tallylog"]
        .iter()
        .any(|r| match name.strip_prefix(r) {
            Some(rest) => rest.is_empty() || rest.starts_with(['.', '-']),
            None => false,
        })
}

fn is_cloud_init_log(name: &str) -> bool {
    name.starts_with("cloud-init") && name.contains(".log")
}

/// A name a log has: a link with such a name in /var/log is a trace, other links
/// (`README -> /usr/share/doc/...`, `app -> /srv/app/logs`) are not.
fn is_log_name(name: &str) -> bool {
    const KNOWN: &[&str] = &[
        "syslog",
        "messages",
        "secure",
        "maillog",
        "cron",
        "debug",
        "dmesg",
        "spooler",
        "xferlog",
        "boot",
        "localmessages",
        "mail.err",
        "mail.warn",
        "mail.info",
        "pacct",
        "savacct",
        "usracct",
    ];
    is_rotated(name) || name.ends_with(".log") || KNOWN.contains(&name) || is_login_record(name)
}

/// A log: a current one is emptied (daemons expect it to exist), a rotated one removed.
fn log_trace(fs: &dyn GuestFs, cat: &'static str, path: &str, m: Meta) -> Result<Option<Trace>> {
    let name = basename(path);
    match m.kind {
        Kind::Symlink if is_log_name(name) => link_trace(fs, cat, path),
        Kind::File if is_rotated(name) => delete_file(fs, cat, path, m),
        Kind::File => truncate_file(fs, cat, path, m),
        _ => Ok(None),
    }
}

/// Every trace in /var/log, each in exactly one category: one walk, one classification
/// (each category using /var/log keeps its own share).
fn var_log(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out: Vec<Trace> = Vec::new();
    for (path, meta) in walk(fs, "/var/log")? {
        if out.iter().any(|t| is_under(&path, &t.path)) {
            continue;
        }
        let Some(rel) = path.strip_prefix("/var/log/") else {
            continue;
        };
        out.extend(classify_log(fs, &path, rel, meta)?);
    }
    Ok(out)
}

fn classify_log(fs: &dyn GuestFs, path: &str, rel: &str, m: Meta) -> Result<Option<Trace>> {
    let parts: Vec<&str> = rel.split('/').collect();
    let name = basename(rel);
    match (parts[0], parts.len()) {
        // Keep /var/log/journal itself: its existence makes the journal persistent.
        ("journal", 2) => delete_any(fs, "journal", path, m),
        ("journal", _) => Ok(None),
        ("installer" | "anaconda", 1) => delete_any(fs, "installer-leftovers", path, m),
        ("installer" | "anaconda", _) => Ok(None),
        ("dump", 2) => delete_any(fs, "crash-data", path, m),
        ("dump", _) => Ok(None),
        ("account", 1) => Ok(None),
        ("account", _) => log_trace(fs, "pacct-log", path, m),
        (_, 1) if is_login_record(name) => log_trace(fs, "login-records", path, m),
        (_, 1) if is_cloud_init_log(name) => delete_file(fs, "cloud-init-state", path, m),
        (_, 1) if name.starts_with("anaconda.") => delete_file(fs, "installer-leftovers", path, m),
        _ if name.starts_with("README") => Ok(None),
        _ => log_trace(fs, "logfiles", path, m),
    }
}

fn var_log_of(fs: &dyn GuestFs, cat: &str) -> Result<Vec<Trace>> {
    Ok(var_log(fs)?
        .into_iter()
        .filter(|t| t.category == cat)
        .collect())
}

fn logfiles(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = var_log_of(fs, "logfiles")?;
    let status = [
        "/var/lib/logrotate.status",
        "/var/lib/logrotate/status",
        "/var/lib/logrotate/logrotate.status",
    ];
    out.extend(fixed(fs, "logfiles", &status, delete_file)?);
    Ok(out)
}

fn journal(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    var_log_of(fs, "journal")
}

fn login_records(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = var_log_of(fs, "login-records")?;
    out.extend(fixed(
        fs,
        "login-records",
        &["/var/run/utmp"],
        truncate_file,
    )?);
    let dbs = ["/var/lib/wtmpdb/wtmp.db", "/var/lib/lastlog/lastlog2.db"];
    out.extend(fixed(fs, "login-records", &dbs, delete_file)?);
    Ok(out)
}

fn pacct_log(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for (path, meta) in entries(fs, "/var/account")? {
        out.extend(log_trace(fs, "pacct-log", &path, meta)?);
    }
    out.extend(var_log_of(fs, "pacct-log")?);
    Ok(out)
}

fn cloud_init_state(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = clear_dir(fs, "cloud-init-state", "/var/lib/cloud")?;
    out.extend(var_log_of(fs, "cloud-init-state")?);
    Ok(out)
}

fn crash_data(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for dir in ["/var/crash", "/var/spool/abrt", "/var/lib/systemd/coredump"] {
        out.extend(clear_dir(fs, "crash-data", dir)?);
    }
    out.extend(var_log_of(fs, "crash-data")?);
    Ok(out)
}

// ---- /var/lib, /var/cache, /var/spool, /run, /tmp -----------------------------------------

fn dhcp_client_state(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let cat = "dhcp-client-state";
    let mut out = Vec::new();
    for dir in ["/var/lib/dhclient", "/var/lib/dhcpcd", "/var/lib/dhcpcd5"] {
        out.extend(clear_dir(fs, cat, dir)?);
    }
    // Debian keeps client and server leases in one directory.
    for (path, meta) in entries(fs, "/var/lib/dhcp")? {
        if !basename(&path).starts_with("dhcpd") {
            out.extend(delete_any(fs, cat, &path, meta)?);
        }
    }
    for (path, meta) in entries(fs, "/var/lib/NetworkManager")? {
        if path.ends_with(".lease") {
            out.extend(delete_file(fs, cat, &path, meta)?);
        }
    }
    Ok(out)
}

fn dhcp_server_state(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let cat = "dhcp-server-state";
    let mut found = entries(fs, "/var/lib/dhcpd")?;
    found.extend(
        entries(fs, "/var/lib/dhcp")?
            .into_iter()
            .filter(|(p, _)| basename(p).starts_with("dhcpd")),
    );
    let mut out = Vec::new();
    for (path, meta) in found {
        // dhcpd refuses to start without its lease database: empty it, keep it.
        let t = match basename(&path) {
            "dhcpd.leases" | "dhcpd6.leases" => truncate_file(fs, cat, &path, meta)?,
            _ => delete_any(fs, cat, &path, meta)?,
        };
        out.extend(t);
    }
    Ok(out)
}

fn package_manager_cache(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let cat = "package-manager-cache";
    let mut out = files_below(fs, cat, "/var/cache/apt/archives", |_| true)?;
    for (path, meta) in entries(fs, "/var/cache/apt")? {
        if path.ends_with(".bin") {
            out.extend(delete_file(fs, cat, &path, meta)?);
        }
    }
    for dir in ["/var/cache/dnf", "/var/cache/yum", "/var/cache/zypp"] {
        out.extend(files_below(fs, cat, dir, |_| true)?);
    }
    Ok(out)
}

fn tmp_files(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let cat = "tmp-files";
    let mut out = Vec::new();
    for dir in TMP_DIRS {
        match at(fs, dir)? {
            Some((path, m)) if m.kind == Kind::Symlink => {
                let detail = format!(
                    "symlink to {}; replaced by an empty directory (mode 1777)",
                    fs.readlink(&path)?
                );
                out.push(trace(cat, &path, Action::Delete, detail));
            }
            Some((path, m)) if m.kind == Kind::Dir => {
                for (p, m) in entries(fs, &path)? {
                    out.push(delete_always(fs, cat, &p, m)?);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn mail_spool(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let cat = "mail-spool";
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for dir in ["/var/mail", "/var/spool/mail"] {
        let Some(dir) = real_dir(fs, dir)? else {
            continue;
        };
        if seen.contains(&dir) {
            continue;
        }
        for (path, meta) in entries(fs, &dir)? {
            // A mailbox is emptied, keeping the owner and mode the delivery agent expects.
            let t = match meta.kind {
                Kind::File => truncate_file(fs, cat, &path, meta)?,
                _ => delete_any(fs, cat, &path, meta)?,
            };
            out.extend(t);
        }
        seen.push(dir);
    }
    Ok(out)
}

fn cron_spool(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let cat = "cron-spool";
    let mut out = Vec::new();
    // The directories stay (Debian's crontabs is 1730 root:crontab); at's .SEQ counter too.
    for dir in [
        "/var/spool/cron",
        "/var/spool/at",
        "/var/spool/atjobs",
        "/var/spool/atspool",
    ] {
        out.extend(files_below(fs, cat, dir, |n| n != ".SEQ")?);
    }
    Ok(out)
}

fn pam_data(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for dir in ["/var/run/console", "/var/run/faillock", "/var/run/sepermit"] {
        for (path, meta) in entries(fs, dir)? {
            out.push(delete_always(fs, "pam-data", &path, meta)?);
        }
    }
    Ok(out)
}

fn rpm_db(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for (path, meta) in entries(fs, "/var/lib/rpm")? {
        if basename(&path).starts_with("__db.") {
            out.extend(delete_file(fs, "rpm-db", &path, meta)?);
        }
    }
    Ok(out)
}

fn yum_uuid(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    fixed(fs, "yum-uuid", &["/var/lib/yum/uuid"], delete_file)
}

fn random_seed(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let paths = [
        "/var/lib/systemd/random-seed",
        "/var/lib/random-seed",
        "/var/lib/urandom/random-seed",
        "/boot/efi/loader/random-seed",
        "/efi/loader/random-seed",
        "/boot/loader/random-seed",
    ];
    fixed(fs, "random-seed", &paths, delete_file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::fs::{MemFs, Node};
    use std::collections::{BTreeMap, BTreeSet};

    type Found = BTreeSet<(String, String, String)>;

    fn os() -> OsInfo {
        OsInfo::linux("debian", 12, 0)
    }

    fn short(a: &Action) -> String {
        match a {
            Action::Delete => "delete".into(),
            Action::DeleteTree => "delete-tree".into(),
            Action::Truncate => "truncate".into(),
            Action::RemoveKeys { keys } => format!("remove-keys {}", keys.join(",")),
        }
    }

    /// (category, path, action) of every trace found.
    fn found(fs: &MemFs) -> Found {
        find_all(fs, &os(), &[])
            .unwrap()
            .iter()
            .map(|t| (t.category.to_string(), t.path.clone(), short(&t.action)))
            .collect()
    }

    fn expect(items: &[(&str, &str, &str)]) -> Found {
        items
            .iter()
            .map(|(c, p, a)| (c.to_string(), p.to_string(), a.to_string()))
            .collect()
    }

    /// Asserts set equality with a readable list of what is missing and what is extra.
    fn assert_found(got: &Found, want: &Found) {
        let missing: Vec<_> = want.difference(got).collect();
        let extra: Vec<_> = got.difference(want).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "missing: {missing:#?}\nextra: {extra:#?}"
        );
    }

    fn t(category: &'static str, path: &str, action: Action) -> Trace {
        trace(category, path, action, String::new())
    }

    fn clean_all(fs: &MemFs) -> Vec<Trace> {
        let traces = find_all(fs, &os(), &[]).unwrap();
        for tr in &traces {
            assert!(
                apply(fs, tr).unwrap(),
                "first apply changed nothing: {tr:?}"
            );
        }
        traces
    }

    fn under(snap: &BTreeMap<String, Node>, dir: &str) -> BTreeMap<String, Node> {
        snap.iter()
            .filter(|(k, _)| is_under(k, dir))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    // ---- fixtures ---------------------------------------------------------------------

    const PASSWD_DEBIAN: &str = "root:x:0:0:root:/root:/bin/bash\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        postgres:x:110:118:PostgreSQL administrator:/var/lib/postgresql:/bin/bash\n\
        debian:x:1000:1000:Debian:/home/debian:/bin/bash\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";

    /// A Debian 12 image as it should look once cleaned: nothing here is a trace.
    fn debian_clean() -> MemFs {
        MemFs::new()
            .file("/etc/passwd", PASSWD_DEBIAN)
            .file("/etc/shadow", "root:*:19000:0:99999:7:::\n")
            .file("/etc/group", "root:x:0:\n")
            .file("/etc/hostname", "debian\n")
            .file("/etc/machine-id", "")
            .file("/etc/fstab", "UUID=0a1b / ext4 errors=remount-ro 0 1\n")
            .file(
                "/etc/ssh/sshd_config",
                "PermitRootLogin prohibit-password\n",
            )
            .file("/etc/ssh/ssh_config", "Host *\n")
            .file("/etc/ssh/moduli", "20230316 2 6 100 3071 2 CAFE\n")
            .file(
                "/etc/network/interfaces",
                "auto lo\niface lo inet loopback\n",
            )
            .file("/etc/skel/.bashrc", "# ~/.bashrc\n")
            .link("/var/lib/dbus/machine-id", "/etc/machine-id")
            .dir("/run/lock")
            .link("/var/run", "/run")
            .link("/var/lock", "/run/lock")
            .dir("/tmp")
            .dir("/var/tmp")
            .file("/usr/share/doc/systemd/README.logs", "See journalctl(1)\n")
            .link("/var/log/README", "../../usr/share/doc/systemd/README.logs")
            .file("/var/log/wtmp", "")
            .file("/var/log/btmp", "")
            .file("/var/log/lastlog", "")
            .file("/var/log/faillog", "")
            .file("/var/log/syslog", "")
            .dir("/var/log/journal")
            .dir("/var/log/apt")
            .dir("/var/log/private")
            .file("/var/mail/debian", "")
            .link("/var/spool/mail", "../mail")
            .file("/var/cache/apt/archives/lock", "")
            .dir("/var/cache/apt/archives/partial")
            .dir("/var/lib/dhcp")
            .dir("/var/lib/cloud")
            .dir("/var/spool/cron/crontabs")
            .file("/var/spool/cron/atjobs/.SEQ", "00004\n")
            .dir("/var/crash")
            .file("/var/lib/dpkg/status", "Package: base-files\n")
            .file("/root/.bashrc", "# ~/.bashrc\n")
            .file("/root/.profile", "# ~/.profile\n")
            .file("/home/debian/.bashrc", "# ~/.bashrc\n")
            .link("/home/debian/.bash_history", "/dev/null")
    }

    fn debian_dirty() -> MemFs {
        debian_clean()
            .file("/root/.bash_history", "apt install curl\n")
            .file("/root/.python_history", "import os\n")
            .file("/root/.lesshst", ".less-history-file:\n")
            .file(
                "/root/.viminfo",
                "# This viminfo file was generated by Vim\n",
            )
            .file("/home/debian/.zsh_history", ": 1700000000:0;ls\n")
            .file("/home/debian/.local/share/fish/fish_history", "- cmd: ls\n")
            .file("/home/debian/.psql_history", "\\dt\n")
            .file("/home/debian/.mysql_history", "show databases;\n")
            .file("/home/debian/.sqlite_history", ".tables\n")
            .file("/home/debian/.node_repl_history", "1+1\n")
            .file("/home/debian/.rediscli_history", "keys *\n")
            .file("/home/debian/.irb_history", "puts 1\n")
            .file("/root/.ssh/authorized_keys", "ssh-ed25519 AAAA builder\n")
            .file(
                "/home/debian/.ssh/authorized_keys",
                "ssh-ed25519 AAAA debian\n",
            )
            .file(
                "/home/debian/.ssh/known_hosts",
                "git.example.com ssh-ed25519 AAAA\n",
            )
            .file("/home/debian/.ssh/authorized_keys~", "old\n")
            .file(
                "/etc/ssh/ssh_host_ed25519_key",
                "-----BEGIN OPENSSH PRIVATE KEY-----\n",
            )
            .file(
                "/etc/ssh/ssh_host_ed25519_key.pub",
                "ssh-ed25519 AAAA root@build\n",
            )
            .file("/etc/ssh/ssh_host_rsa_key.bak", "an old key\n")
            .file("/var/log/syslog", "Jan  1 00:00:00 build kernel: Linux\n")
            .file("/var/log/syslog.1", "older\n")
            .file("/var/log/syslog.2.gz", "\u{1f}\u{8b}")
            .file("/var/log/auth.log", "sshd: Accepted publickey for root\n")
            .file("/var/log/dpkg.log", "install curl\n")
            .file(
                "/var/log/apt/history.log",
                "Commandline: apt install curl\n",
            )
            .file("/var/log/apt/term.log.1.gz", "\u{1f}\u{8b}")
            .file("/var/log/alternatives.log-20240101", "old\n")
            .file("/var/log/Xorg.0.log.old", "old\n")
            .file("/var/log/private/app/app.log", "started\n")
            .file(
                "/var/lib/logrotate/status",
                "logrotate state -- version 2\n",
            )
            .file(
                "/var/log/journal/0123456789abcdef0123456789abcdef/system.journal",
                "LPKSHHRH",
            )
            .file(
                "/var/log/journal/0123456789abcdef0123456789abcdef/user-1000.journal",
                "LPKSHHRH",
            )
            .file("/var/log/wtmp", "record")
            .file("/var/log/wtmp.1", "record")
            .file("/var/log/btmp.1", "record")
            .file("/var/log/lastlog", "record")
            .file("/run/utmp", "record")
            .file("/var/lib/dhcp/dhclient.ens3.leases", "lease {}\n")
            .file("/var/lib/dhcp/dhcpd.leases", "lease 10.0.0.5 {}\n")
            .file("/var/lib/dhcp/dhcpd.leases~", "lease\n")
            .file("/etc/machine-id", "0123456789abcdef0123456789abcdef\n")
            .file("/var/lib/cloud/instances/i-0abc/obj.pkl", "pickle")
            .link("/var/lib/cloud/instance", "/var/lib/cloud/instances/i-0abc")
            .file("/var/lib/cloud/data/instance-id", "i-0abc\n")
            .file("/var/log/cloud-init.log", "cloud-init\n")
            .file("/var/log/cloud-init-output.log", "cloud-init\n")
            .file(
                "/var/cache/apt/archives/curl_7.88.1-10_amd64.deb",
                "!<arch>",
            )
            .file(
                "/var/cache/apt/archives/partial/vim_9.0_amd64.deb",
                "!<arch>",
            )
            .file("/var/cache/apt/pkgcache.bin", "cache")
            .file("/tmp/tmp.Xyz123", "")
            .dir("/tmp/.X11-unix")
            .file("/var/tmp/build/out.o", "obj")
            .file("/var/crash/_usr_bin_foo.1000.crash", "ProblemType: Crash\n")
            .file("/var/lib/systemd/coredump/core.foo.1000.zst", "core")
            .file("/var/mail/root", "From cron@build\n")
            .file("/var/spool/cron/crontabs/root", "* * * * * /build.sh\n")
            .file("/var/spool/cron/atjobs/a0000101b2c3d4", "#!/bin/sh\n")
            .file(
                "/etc/udev/rules.d/70-persistent-net.rules",
                "SUBSYSTEM==\"net\"\n",
            )
            .file("/etc/passwd-", PASSWD_DEBIAN)
            .file("/etc/shadow-", "root:$6$salt$hash:19000:0:99999:7:::\n")
            .file("/etc/group-", "root:x:0:\n")
            .file("/etc/gshadow-", "root:*::\n")
            .file("/etc/subuid-", "debian:100000:65536\n")
            .file("/etc/subgid-", "debian:100000:65536\n")
            .file("/etc/fstab.bak", "old fstab\n")
            .file("/etc/ssh/sshd_config~", "old\n")
            .file("/root/.notes.txt.swp", "b0VIM")
            .file("/home/debian/#draft.txt#", "autosave")
            .file("/srv/www/index.html.bak", "<html>")
            .file(
                "/home/debian/.cache/pip/x.bak",
                "user-cache's, not backup-files'",
            )
            .file("/var/log/account/pacct", "acct")
            .file("/var/log/account/pacct.0", "acct")
            .file("/run/faillock/debian", "tally")
            .file("/var/log/installer/syslog", "d-i\n")
            .file("/var/log/installer/partman", "d-i\n")
            .file("/root/.cache/motd.legal-displayed", "")
            .file("/var/lib/systemd/random-seed", "seed")
    }

    fn debian_expected() -> Found {
        expect(&[
            ("shell-history", "/root/.bash_history", "delete"),
            ("shell-history", "/root/.python_history", "delete"),
            ("shell-history", "/root/.lesshst", "delete"),
            ("shell-history", "/root/.viminfo", "delete"),
            ("shell-history", "/home/debian/.zsh_history", "delete"),
            (
                "shell-history",
                "/home/debian/.local/share/fish/fish_history",
                "delete",
            ),
            ("shell-history", "/home/debian/.psql_history", "delete"),
            ("shell-history", "/home/debian/.mysql_history", "delete"),
            ("shell-history", "/home/debian/.sqlite_history", "delete"),
            ("shell-history", "/home/debian/.node_repl_history", "delete"),
            ("shell-history", "/home/debian/.rediscli_history", "delete"),
            ("shell-history", "/home/debian/.irb_history", "delete"),
            ("ssh-userdir", "/root/.ssh", "delete-tree"),
            ("ssh-userdir", "/home/debian/.ssh", "delete-tree"),
            ("ssh-hostkeys", "/etc/ssh/ssh_host_ed25519_key", "delete"),
            (
                "ssh-hostkeys",
                "/etc/ssh/ssh_host_ed25519_key.pub",
                "delete",
            ),
            ("ssh-hostkeys", "/etc/ssh/ssh_host_rsa_key.bak", "delete"),
            ("logfiles", "/var/log/syslog", "truncate"),
            ("logfiles", "/var/log/syslog.1", "delete"),
            ("logfiles", "/var/log/syslog.2.gz", "delete"),
            ("logfiles", "/var/log/auth.log", "truncate"),
            ("logfiles", "/var/log/dpkg.log", "truncate"),
            ("logfiles", "/var/log/apt/history.log", "truncate"),
            ("logfiles", "/var/log/apt/term.log.1.gz", "delete"),
            ("logfiles", "/var/log/alternatives.log-20240101", "delete"),
            ("logfiles", "/var/log/Xorg.0.log.old", "delete"),
            ("logfiles", "/var/log/private/app/app.log", "truncate"),
            ("logfiles", "/var/lib/logrotate/status", "delete"),
            (
                "journal",
                "/var/log/journal/0123456789abcdef0123456789abcdef",
                "delete-tree",
            ),
            ("login-records", "/var/log/wtmp", "truncate"),
            ("login-records", "/var/log/wtmp.1", "delete"),
            ("login-records", "/var/log/btmp.1", "delete"),
            ("login-records", "/var/log/lastlog", "truncate"),
            ("login-records", "/run/utmp", "truncate"),
            (
                "dhcp-client-state",
                "/var/lib/dhcp/dhclient.ens3.leases",
                "delete",
            ),
            (
                "dhcp-server-state",
                "/var/lib/dhcp/dhcpd.leases",
                "truncate",
            ),
            ("dhcp-server-state", "/var/lib/dhcp/dhcpd.leases~", "delete"),
            ("machine-id", "/etc/machine-id", "truncate"),
            ("cloud-init-state", "/var/lib/cloud/data", "delete-tree"),
            ("cloud-init-state", "/var/lib/cloud/instance", "delete"),
            (
                "cloud-init-state",
                "/var/lib/cloud/instances",
                "delete-tree",
            ),
            ("cloud-init-state", "/var/log/cloud-init.log", "delete"),
            (
                "cloud-init-state",
                "/var/log/cloud-init-output.log",
                "delete",
            ),
            (
                "package-manager-cache",
                "/var/cache/apt/archives/curl_7.88.1-10_amd64.deb",
                "delete",
            ),
            (
                "package-manager-cache",
                "/var/cache/apt/archives/partial/vim_9.0_amd64.deb",
                "delete",
            ),
            (
                "package-manager-cache",
                "/var/cache/apt/pkgcache.bin",
                "delete",
            ),
            ("tmp-files", "/tmp/tmp.Xyz123", "delete"),
            ("tmp-files", "/tmp/.X11-unix", "delete-tree"),
            ("tmp-files", "/var/tmp/build", "delete-tree"),
            ("crash-data", "/var/crash/_usr_bin_foo.1000.crash", "delete"),
            (
                "crash-data",
                "/var/lib/systemd/coredump/core.foo.1000.zst",
                "delete",
            ),
            ("mail-spool", "/var/mail/root", "truncate"),
            ("cron-spool", "/var/spool/cron/crontabs/root", "delete"),
            (
                "cron-spool",
                "/var/spool/cron/atjobs/a0000101b2c3d4",
                "delete",
            ),
            (
                "udev-persistent-net",
                "/etc/udev/rules.d/70-persistent-net.rules",
                "delete",
            ),
            ("passwd-backups", "/etc/passwd-", "delete"),
            ("passwd-backups", "/etc/shadow-", "delete"),
            ("passwd-backups", "/etc/group-", "delete"),
            ("passwd-backups", "/etc/gshadow-", "delete"),
            ("passwd-backups", "/etc/subuid-", "delete"),
            ("passwd-backups", "/etc/subgid-", "delete"),
            ("backup-files", "/etc/fstab.bak", "delete"),
            ("backup-files", "/etc/ssh/sshd_config~", "delete"),
            ("backup-files", "/root/.notes.txt.swp", "delete"),
            ("backup-files", "/home/debian/#draft.txt#", "delete"),
            ("backup-files", "/srv/www/index.html.bak", "delete"),
            ("pacct-log", "/var/log/account/pacct", "truncate"),
            ("pacct-log", "/var/log/account/pacct.0", "delete"),
            ("pam-data", "/run/faillock/debian", "delete"),
            ("installer-leftovers", "/var/log/installer", "delete-tree"),
            ("user-cache", "/root/.cache", "delete-tree"),
            ("user-cache", "/home/debian/.cache", "delete-tree"),
            ("random-seed", "/var/lib/systemd/random-seed", "delete"),
        ])
    }

    const PASSWD_CENTOS: &str = "root:x:0:0:root:/root:/bin/bash\n\
        bin:x:1:1:bin:/bin:/sbin/nologin\n\
        centos:x:1000:1000:Cloud User:/home/centos:/bin/bash\n\
        builder:x:1001:1001::/home/build/builder:/bin/bash\n";

    const IFCFG_CLEAN: &str = "DEVICE=eth0\nBOOTPROTO=dhcp\nONBOOT=yes\nTYPE=Ethernet\n";

    const IFCFG_DIRTY: &str = r#"# Generated by dracut initrd
NAME="eth0"
DEVICE="eth0"
ONBOOT=yes
NETBOOT=yes
UUID="41a7ba05-cd5b-4e8b-8b0c-5a7a2b58d8b2"
IPV6INIT=yes
BOOTPROTO=dhcp
HWADDR="52:54:00:12:34:56"   # the build VM's NIC
TYPE=Ethernet
DHCP_HOSTNAME=build-host
  # HWADDR=00:00:00:00:00:00 is only a comment
"#;

    /// A CentOS 7 image as it should look once cleaned.
    fn centos_clean() -> MemFs {
        let nsd = "/etc/sysconfig/network-scripts";
        MemFs::new()
            .file("/etc/passwd", PASSWD_CENTOS)
            .file("/etc/shadow", "root:!!:19000:0:99999:7:::\n")
            .file("/etc/hostname", "localhost.localdomain\n")
            .file("/etc/machine-id", "")
            .file(&format!("{nsd}/ifcfg-eth0"), IFCFG_CLEAN)
            .file(
                &format!("{nsd}/ifcfg-lo"),
                "DEVICE=lo\nIPADDR=127.0.0.1\nONBOOT=yes\n",
            )
            .file(&format!("{nsd}/ifup-eth"), "#!/bin/bash\n")
            .file("/etc/ssh/sshd_config", "UseDNS no\n")
            .file("/etc/yum.repos.d/CentOS-Base.repo", "[base]\n")
            .dir("/etc/NetworkManager/system-connections")
            .dir("/run/lock")
            .link("/var/run", "../run")
            .link("/var/lock", "../run/lock")
            .file("/var/spool/mail/centos", "")
            .link("/var/mail", "spool/mail")
            .file("/var/lib/rpm/Packages", "rpmdb")
            .file("/var/lib/rpm/Name", "rpmdb")
            .dir("/var/lib/yum/history")
            .file("/var/log/tallylog", "")
            .file("/var/log/wtmp", "")
            .file("/var/log/btmp", "")
            .file("/var/log/lastlog", "")
            .file("/var/log/messages", "")
            .file("/var/log/secure", "")
            .dir("/var/log/audit")
            .file("/var/account/pacct", "")
            .dir("/var/cache/yum/x86_64/7")
            .dir("/var/lib/dhclient")
            .file("/var/lib/NetworkManager/NetworkManager.state", "[main]\n")
            .file("/var/lib/dhcpd/dhcpd.leases", "")
            .file("/var/spool/at/.SEQ", "00000\n")
            .dir("/var/spool/at/spool")
            .dir("/var/spool/cron")
            .dir("/tmp")
            .dir("/var/tmp")
            .file("/home/centos/.bash_logout", "# ~/.bash_logout\n")
            .dir("/home/build/builder")
    }

    fn centos_dirty() -> MemFs {
        let nsd = "/etc/sysconfig/network-scripts";
        centos_clean()
            .file(&format!("{nsd}/ifcfg-eth0"), IFCFG_DIRTY)
            .file(
                &format!("{nsd}/ifcfg-eth0.bak"),
                "HWADDR=52:54:00:12:34:56\n",
            )
            .file(
                "/etc/NetworkManager/system-connections/ens3.nmconnection",
                "[connection]\n",
            )
            .file("/etc/yum.repos.d/CentOS-Base.repo~", "[base]\n")
            .file("/var/log/messages", "systemd: Started\n")
            .file("/var/log/messages-20240101", "old\n")
            .file("/var/log/secure", "sshd: Accepted\n")
            .file("/var/log/cron-20240101.gz", "\u{1f}\u{8b}")
            .file("/var/log/audit/audit.log", "type=LOGIN\n")
            .file("/var/log/audit/audit.log.1", "type=LOGIN\n")
            .file("/var/log/yum.log", "Installed: vim\n")
            .file("/var/log/boot.log", "[ OK ]\n")
            .file("/var/log/tuned/tuned.log", "tuned\n")
            .file("/var/lib/logrotate/logrotate.status", "logrotate state\n")
            .file("/var/log/anaconda/anaconda.log", "anaconda\n")
            .file("/var/log/anaconda/ks-script-abc.log", "ks\n")
            .file("/root/anaconda-ks.cfg", "#version=DEVEL\n")
            .file("/root/original-ks.cfg", "#version=DEVEL\n")
            .file("/root/anaconda-post.log", "post\n")
            .file("/root/initial-setup-ks.cfg", "#version=DEVEL\n")
            .file("/root/install.log", "Installing\n")
            .file("/root/install.log.syslog", "syslog\n")
            .file("/var/log/wtmp", "record")
            .file("/var/log/btmp-20240101", "record")
            .file("/var/log/tallylog", "record")
            .file("/var/log/cloud-init.log", "cloud-init\n")
            .file("/var/lib/cloud/instances/i-1/boot-finished", "done\n")
            .dir("/var/lib/cloud/scripts/per-boot")
            .file("/var/crash/127.0.0.1-2024-01-01-10:00:00/vmcore", "core")
            .file(
                "/var/spool/abrt/ccpp-2024-01-01-10:00:00-1234/coredump",
                "core",
            )
            .file("/var/log/dump/vmcore-1", "core")
            .file("/var/account/pacct", "acct")
            .file("/var/account/pacct-20240101", "acct")
            .file("/var/lib/rpm/__db.001", "env")
            .file("/var/lib/rpm/__db.002", "env")
            .file(
                "/var/lib/yum/uuid",
                "5f2e6c3a-0000-4000-8000-000000000000\n",
            )
            .file("/var/cache/yum/x86_64/7/base/repomd.xml", "<repomd/>")
            .file("/var/cache/yum/x86_64/7/base/packages/vim-8.0.rpm", "rpm")
            .file("/var/lib/dhclient/dhclient--eth0.lease", "lease {}\n")
            .file(
                "/var/lib/NetworkManager/internal-41a7-eth0.lease",
                "ADDRESS=10.0.0.5\n",
            )
            .file("/var/lib/dhcpd/dhcpd.leases", "lease 10.0.0.9 {}\n")
            .file("/etc/machine-id", "0123456789abcdef0123456789abcdef\n")
            .file(
                "/var/lib/dbus/machine-id",
                "0123456789abcdef0123456789abcdef\n",
            )
            .file("/var/spool/mail/root", "From: cron\n")
            .file("/var/spool/cron/root", "@reboot /root/firstboot.sh\n")
            .file("/var/spool/at/a0000101a2b3c", "#!/bin/sh\n")
            .file("/etc/blkid/blkid.tab", "<device>/dev/vda1</device>\n")
            .link("/etc/blkid/blkid.tab.old", "/dev/.blkid.tab.old")
            .file("/run/console/centos", "")
            .file("/home/centos/.bash_history", "sudo -i\n")
            .file("/home/build/builder/.bash_history", "make\n")
            .file("/home/centos/.ssh/authorized_keys", "ssh-rsa AAAA centos\n")
            .file("/home/centos/.cache/abrt/lastnotification", "1700000000\n")
            .file(
                "/etc/ssh/ssh_host_rsa_key",
                "-----BEGIN RSA PRIVATE KEY-----\n",
            )
            .file(
                "/etc/ssh/ssh_host_ecdsa_key.pub",
                "ecdsa-sha2-nistp256 AAAA\n",
            )
            .file(
                "/etc/udev/rules.d/70-persistent-net.rules",
                "SUBSYSTEM==\"net\"\n",
            )
            .file("/tmp/ks-script-abc", "#!/bin/sh\n")
            .file("/tmp/yum.log", "")
            .dir("/var/tmp/abrt")
            .file("/etc/shadow-", "root:$6$salt$hash:19000:0:99999:7:::\n")
            .file("/etc/gshadow-", "root:::\n")
            .file("/var/lib/systemd/random-seed", "seed")
    }

    fn centos_expected() -> Found {
        let eth0 = "/etc/sysconfig/network-scripts/ifcfg-eth0";
        expect(&[
            ("net-hwaddr", eth0, "remove-keys HWADDR,UUID"),
            ("net-hostname", eth0, "remove-keys DHCP_HOSTNAME"),
            (
                "net-nmconn",
                "/etc/NetworkManager/system-connections/ens3.nmconnection",
                "delete",
            ),
            (
                "backup-files",
                "/etc/sysconfig/network-scripts/ifcfg-eth0.bak",
                "delete",
            ),
            (
                "backup-files",
                "/etc/yum.repos.d/CentOS-Base.repo~",
                "delete",
            ),
            ("logfiles", "/var/log/messages", "truncate"),
            ("logfiles", "/var/log/messages-20240101", "delete"),
            ("logfiles", "/var/log/secure", "truncate"),
            ("logfiles", "/var/log/cron-20240101.gz", "delete"),
            ("logfiles", "/var/log/audit/audit.log", "truncate"),
            ("logfiles", "/var/log/audit/audit.log.1", "delete"),
            ("logfiles", "/var/log/yum.log", "truncate"),
            ("logfiles", "/var/log/boot.log", "truncate"),
            ("logfiles", "/var/log/tuned/tuned.log", "truncate"),
            ("logfiles", "/var/lib/logrotate/logrotate.status", "delete"),
            ("installer-leftovers", "/var/log/anaconda", "delete-tree"),
            ("installer-leftovers", "/root/anaconda-ks.cfg", "delete"),
            ("installer-leftovers", "/root/original-ks.cfg", "delete"),
            ("installer-leftovers", "/root/anaconda-post.log", "delete"),
            (
                "installer-leftovers",
                "/root/initial-setup-ks.cfg",
                "delete",
            ),
            ("installer-leftovers", "/root/install.log", "delete"),
            ("installer-leftovers", "/root/install.log.syslog", "delete"),
            ("login-records", "/var/log/wtmp", "truncate"),
            ("login-records", "/var/log/btmp-20240101", "delete"),
            ("login-records", "/var/log/tallylog", "truncate"),
            ("cloud-init-state", "/var/log/cloud-init.log", "delete"),
            (
                "cloud-init-state",
                "/var/lib/cloud/instances",
                "delete-tree",
            ),
            ("cloud-init-state", "/var/lib/cloud/scripts", "delete-tree"),
            (
                "crash-data",
                "/var/crash/127.0.0.1-2024-01-01-10:00:00",
                "delete-tree",
            ),
            (
                "crash-data",
                "/var/spool/abrt/ccpp-2024-01-01-10:00:00-1234",
                "delete-tree",
            ),
            ("crash-data", "/var/log/dump/vmcore-1", "delete"),
            ("pacct-log", "/var/account/pacct", "truncate"),
            ("pacct-log", "/var/account/pacct-20240101", "delete"),
            ("rpm-db", "/var/lib/rpm/__db.001", "delete"),
            ("rpm-db", "/var/lib/rpm/__db.002", "delete"),
            ("yum-uuid", "/var/lib/yum/uuid", "delete"),
            (
                "package-manager-cache",
                "/var/cache/yum/x86_64/7/base/repomd.xml",
                "delete",
            ),
            (
                "package-manager-cache",
                "/var/cache/yum/x86_64/7/base/packages/vim-8.0.rpm",
                "delete",
            ),
            (
                "dhcp-client-state",
                "/var/lib/dhclient/dhclient--eth0.lease",
                "delete",
            ),
            (
                "dhcp-client-state",
                "/var/lib/NetworkManager/internal-41a7-eth0.lease",
                "delete",
            ),
            (
                "dhcp-server-state",
                "/var/lib/dhcpd/dhcpd.leases",
                "truncate",
            ),
            ("machine-id", "/etc/machine-id", "truncate"),
            ("machine-id", "/var/lib/dbus/machine-id", "delete"),
            ("mail-spool", "/var/spool/mail/root", "truncate"),
            ("cron-spool", "/var/spool/cron/root", "delete"),
            ("cron-spool", "/var/spool/at/a0000101a2b3c", "delete"),
            ("blkid-tab", "/etc/blkid/blkid.tab", "delete"),
            ("pam-data", "/run/console/centos", "delete"),
            ("shell-history", "/home/centos/.bash_history", "delete"),
            (
                "shell-history",
                "/home/build/builder/.bash_history",
                "delete",
            ),
            ("ssh-userdir", "/home/centos/.ssh", "delete-tree"),
            ("user-cache", "/home/centos/.cache", "delete-tree"),
            ("ssh-hostkeys", "/etc/ssh/ssh_host_rsa_key", "delete"),
            ("ssh-hostkeys", "/etc/ssh/ssh_host_ecdsa_key.pub", "delete"),
            (
                "udev-persistent-net",
                "/etc/udev/rules.d/70-persistent-net.rules",
                "delete",
            ),
            ("tmp-files", "/tmp/ks-script-abc", "delete"),
            ("tmp-files", "/tmp/yum.log", "delete"),
            ("tmp-files", "/var/tmp/abrt", "delete-tree"),
            ("passwd-backups", "/etc/shadow-", "delete"),
            ("passwd-backups", "/etc/gshadow-", "delete"),
            ("random-seed", "/var/lib/systemd/random-seed", "delete"),
        ])
    }

    // ---- the table ----------------------------------------------------------------------

    fn is_kebab(s: &str) -> bool {
        !s.is_empty()
            && !s.starts_with('-')
            && !s.ends_with('-')
            && !s.contains("--")
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }

    #[test]
    fn table_is_well_formed() {
        let mut ids = BTreeSet::new();
        for c in categories() {
            assert!(is_kebab(c.id), "{}: not kebab-case", c.id);
            assert!(ids.insert(c.id), "{}: duplicate id", c.id);
            let s = c.summary;
            assert!(!s.is_empty() && !s.contains('\n'), "{}: summary", c.id);
            assert!(!s.ends_with('.'), "{}: trailing period", c.id);
            assert_eq!(s.trim(), s, "{}: summary has outer spaces", c.id);
        }
        assert!(categories().len() >= 29);
    }

    #[test]
    fn every_sysprep_linux_default_op_is_covered_once() {
        let required = [
            "abrt-data",
            "backup-files",
            "bash-history",
            "blkid-tab",
            "crash-data",
            "cron-spool",
            "dhcp-client-state",
            "dhcp-server-state",
            "logfiles",
            "machine-id",
            "mail-spool",
            "net-hwaddr",
            "net-hostname",
            "net-nmconn",
            "pacct-log",
            "package-manager-cache",
            "pam-data",
            "passwd-backups",
            "rpm-db",
            "ssh-hostkeys",
            "ssh-userdir",
            "tmp-files",
            "udev-persistent-net",
            "utmp",
            "yum-uuid",
        ];
        let mut listed = BTreeMap::new();
        for c in categories() {
            for op in c.sysprep {
                assert!(is_kebab(op), "{op}");
                if let Some(other) = listed.insert(*op, c.id) {
                    panic!("{op} listed by both {other} and {}", c.id);
                }
            }
        }
        for op in required {
            assert!(listed.contains_key(op), "sysprep {op} is not covered");
        }
    }

    #[test]
    fn each_category_reports_only_its_own_id() {
        for fs in [debian_dirty(), centos_dirty()] {
            for c in categories() {
                for tr in (c.find)(&fs, &os()).unwrap() {
                    assert_eq!(tr.category, c.id, "{tr:?}");
                    assert!(!tr.detail.is_empty(), "{tr:?}");
                }
            }
        }
    }

    #[test]
    fn the_fixtures_exercise_every_category() {
        let mut seen = BTreeSet::new();
        for fs in [debian_dirty(), centos_dirty()] {
            seen.extend(found(&fs).into_iter().map(|(c, _, _)| c));
        }
        for c in categories() {
            assert!(
                seen.contains(c.id),
                "{} found nothing in the fixtures",
                c.id
            );
        }
    }

    // ---- finding ------------------------------------------------------------------------

    #[test]
    fn clean_systems_have_no_traces() {
        assert_found(&found(&debian_clean()), &Found::new());
        assert_found(&found(&centos_clean()), &Found::new());
    }

    #[test]
    fn debian_traces_are_exactly_what_was_planted() {
        assert_found(&found(&debian_dirty()), &debian_expected());
    }

    #[test]
    fn centos_traces_are_exactly_what_was_planted() {
        assert_found(&found(&centos_dirty()), &centos_expected());
    }

    #[test]
    fn no_path_is_counted_twice() {
        for fs in [debian_dirty(), centos_dirty()] {
            let all = find_all(&fs, &os(), &[]).unwrap();
            for (i, a) in all.iter().enumerate() {
                for b in &all[i + 1..] {
                    if a.path == b.path {
                        // Only the two net-* categories share a file, removing disjoint keys.
                        let (Action::RemoveKeys { keys: ka }, Action::RemoveKeys { keys: kb }) =
                            (&a.action, &b.action)
                        else {
                            panic!("{} reported twice: {a:?} {b:?}", a.path);
                        };
                        assert!(ka.iter().all(|k| !kb.contains(k)));
                        continue;
                    }
                    assert!(!is_under(&a.path, &b.path), "{a:?} is inside {b:?}");
                    assert!(!is_under(&b.path, &a.path), "{b:?} is inside {a:?}");
                }
            }
        }
    }

    #[test]
    fn details_say_what_was_found() {
        let all = find_all(&centos_dirty(), &os(), &[]).unwrap();
        let detail = |cat: &str, path: &str| {
            all.iter()
                .find(|t| t.category == cat && t.path == path)
                .unwrap()
                .detail
                .clone()
        };
        let eth0 = "/etc/sysconfig/network-scripts/ifcfg-eth0";
        assert_eq!(
            detail("net-hwaddr", eth0),
            "2 lines: HWADDR (line 9), UUID (line 6)"
        );
        assert_eq!(
            detail("net-hostname", eth0),
            "1 line: DHCP_HOSTNAME (line 11)"
        );
        assert_eq!(detail("yum-uuid", "/var/lib/yum/uuid"), "37 bytes");
        assert_eq!(detail("ssh-userdir", "/home/centos/.ssh"), "1 entry");
        assert_eq!(
            detail("installer-leftovers", "/var/log/anaconda"),
            "2 entries"
        );
    }

    #[test]
    fn exclude_and_non_linux() {
        let fs = debian_dirty();
        let without = find_all(&fs, &os(), &["logfiles".into(), "journal".into()]).unwrap();
        assert!(
            without
                .iter()
                .all(|t| t.category != "logfiles" && t.category != "journal")
        );
        assert!(without.iter().any(|t| t.category == "login-records"));
        let windows = OsInfo {
            os_type: "windows".into(),
            ..Default::default()
        };
        assert!(find_all(&fs, &windows, &[]).unwrap().is_empty());
    }

    #[test]
    fn rotated_and_current_logs() {
        for name in [
            "syslog.1",
            "syslog.2.gz",
            "messages.gz",
            "kern.log.xz",
            "auth.log.3.bz2",
            "Xorg.0.log.old",
            "messages-20240101",
            "secure-20240101.gz",
            "cron-2024010112",
            "dmesg.0",
        ] {
            assert!(is_rotated(name), "{name} should be rotated");
        }
        for name in [
            "syslog",
            "messages",
            "auth.log",
            "Xorg.0.log",
            "php7.4-fpm.log",
            "cloud-init-output.log",
            "lastlog",
            "sa-2024",
            ".gz",
            "README",
        ] {
            assert!(!is_rotated(name), "{name} should be current");
        }

        let fs = MemFs::new()
            .file("/var/log/syslog", "now")
            .file("/var/log/syslog.1", "then")
            .file("/var/log/syslog.2.gz", "then")
            .file("/var/log/nginx/access.log", "GET /")
            .file("/var/log/nginx/access.log-20240101.gz", "GET /")
            .file("/var/log/empty.log", "")
            .file("/var/log/empty.log.1", "")
            .file("/var/log/btmp", "bad login")
            .file("/var/log/faillog", "fail")
            .file("/var/log/wtmp-20240101", "login")
            .file("/var/log/cloud-init-output.log.1", "ci")
            .file("/var/log/anaconda.syslog", "anaconda")
            .link("/var/log/README", "../../usr/share/doc/systemd/README.logs")
            .file("/var/log/README.txt", "documentation")
            .link("/var/log/app", "/srv/app/logs")
            .file("/srv/app/logs/app.log", "not ours")
            .link("/var/log/kern.log", "/dev/null")
            .file("/var/log/dump/vmcore-1", "core");
        assert_found(
            &found(&fs),
            &expect(&[
                ("logfiles", "/var/log/syslog", "truncate"),
                ("logfiles", "/var/log/syslog.1", "delete"),
                ("logfiles", "/var/log/syslog.2.gz", "delete"),
                ("logfiles", "/var/log/nginx/access.log", "truncate"),
                (
                    "logfiles",
                    "/var/log/nginx/access.log-20240101.gz",
                    "delete",
                ),
                ("login-records", "/var/log/btmp", "truncate"),
                ("login-records", "/var/log/faillog", "truncate"),
                ("login-records", "/var/log/wtmp-20240101", "delete"),
                (
                    "cloud-init-state",
                    "/var/log/cloud-init-output.log.1",
                    "delete",
                ),
                ("installer-leftovers", "/var/log/anaconda.syslog", "delete"),
                ("crash-data", "/var/log/dump/vmcore-1", "delete"),
            ]),
        );
    }

    #[test]
    fn machine_id_rules() {
        let fs = MemFs::new()
            .file("/etc/machine-id", "uninitialized\n")
            .file("/var/lib/dbus/machine-id", "");
        assert!(machine_id(&fs).unwrap().is_empty());
        let fs = MemFs::new()
            .file("/run/machine-id", "0123\n")
            .link("/etc/machine-id", "/run/machine-id")
            .link("/var/lib/dbus/machine-id", "/etc/machine-id");
        assert!(machine_id(&fs).unwrap().is_empty());
        let fs = MemFs::new()
            .file("/etc/machine-id", "0123\n")
            .file("/var/lib/dbus/machine-id", "0123\n");
        let got: Vec<_> = machine_id(&fs)
            .unwrap()
            .into_iter()
            .map(|t| (t.path, t.action))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/etc/machine-id".to_string(), Action::Truncate),
                ("/var/lib/dbus/machine-id".to_string(), Action::Delete),
            ]
        );
    }

    #[test]
    fn homes_from_passwd_and_home() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
            svc:x:999:999::/home/svc:/bin/sh\n\
            old:x:500:500::/home/old/x:/bin/sh\n\
            builder:x:1001:1001::/home/build/builder/:/bin/bash\n\
            web:x:1002:1002::/srv/users/web:/bin/bash\n\
            ghost:x:1003:1003::/home/ghost:/bin/bash\n\
            sneaky:x:1004:1004::/home/../etc:/bin/bash\n\
            broken line\n";
        let fs = MemFs::new()
            .file("/etc/passwd", passwd)
            .dir("/root")
            .dir("/home/svc")
            .dir("/home/old/x")
            .dir("/home/build/builder")
            .dir("/srv/users/web")
            .dir("/srv/bob")
            .link("/home/bob", "/srv/bob")
            .file("/home/notes.txt", "x");
        let mut got = homes(&fs).unwrap();
        got.sort();
        assert_eq!(
            got,
            vec![
                "/home/build",
                "/home/build/builder",
                "/home/old",
                "/home/svc",
                "/root"
            ]
        );
    }

    #[test]
    fn well_known_aliases_do_not_hide_traces() {
        // ostree layout: /home -> var/home, /root -> var/roothome.
        let fs = MemFs::new()
            .file(
                "/etc/passwd",
                "root:x:0:0::/root:/bin/bash\ncore:x:1000:1000::/home/core:/bin/bash\n",
            )
            .link("/home", "var/home")
            .link("/root", "var/roothome")
            .file("/var/home/core/.bash_history", "ls\n")
            .file("/var/roothome/.bash_history", "ls\n");
        assert_found(
            &found(&fs),
            &expect(&[
                ("shell-history", "/var/home/core/.bash_history", "delete"),
                ("shell-history", "/var/roothome/.bash_history", "delete"),
            ]),
        );
        // An unexpected /var/run link is not an alias: what is behind it is not looked at.
        let fs = MemFs::new()
            .link("/var/run", "/srv/run")
            .file("/srv/run/utmp", "record")
            .file("/srv/run/faillock/root", "tally");
        assert_found(&found(&fs), &Found::new());
        // Both mail spools point at one directory: each mailbox is reported once.
        let fs = MemFs::new()
            .file("/var/mail/root", "From: cron\n")
            .link("/var/spool/mail", "../mail/");
        assert_found(
            &found(&fs),
            &expect(&[("mail-spool", "/var/mail/root", "truncate")]),
        );
    }

    // ---- applying -----------------------------------------------------------------------

    #[test]
    fn symlinks_never_lead_out_of_the_cleaned_path() {
        let fs = debian_clean()
            .link("/root/.bash_history", "/etc/passwd")
            .link("/root/.ssh", "/etc")
            .link("/var/tmp", "/")
            .link("/tmp/build-dir", "/etc")
            .link("/var/log/syslog.1", "/etc/hostname")
            .link("/var/log/syslog", "/etc/hostname")
            .link("/var/log/app", "/srv/app/logs")
            .file("/srv/app/logs/app.log", "not a trace of ours")
            .file("/home/debian/.ssh/authorized_keys", "ssh-ed25519 AAAA\n")
            .link("/home/debian/.ssh/evil", "/etc")
            .link("/var/lib/cloud/instance", "/etc")
            .link("/home/debian/.local", "/srv/shared")
            .file(
                "/srv/shared/share/fish/fish_history",
                "below a link: not looked at",
            );
        let planted = expect(&[
            ("shell-history", "/root/.bash_history", "delete"),
            ("ssh-userdir", "/root/.ssh", "delete"),
            ("ssh-userdir", "/home/debian/.ssh", "delete-tree"),
            ("tmp-files", "/var/tmp", "delete"),
            ("tmp-files", "/tmp/build-dir", "delete"),
            ("logfiles", "/var/log/syslog.1", "delete"),
            ("logfiles", "/var/log/syslog", "delete"),
            ("cloud-init-state", "/var/lib/cloud/instance", "delete"),
        ]);
        assert_found(&found(&fs), &planted);

        let before = fs.snapshot();
        let traces = clean_all(&fs);
        let after = fs.snapshot();
        assert_eq!(
            under(&before, "/etc"),
            under(&after, "/etc"),
            "/etc changed"
        );
        assert_eq!(
            under(&before, "/srv"),
            under(&after, "/srv"),
            "/srv changed"
        );
        assert_eq!(
            fs.node("/var/tmp"),
            Some(Node::Dir { mode: 0o1777 }),
            "/var/tmp is a sticky, world-writable directory again"
        );
        // Nothing else changed: every other node is as it was.
        let removed: BTreeSet<&str> = traces.iter().map(|t| t.path.as_str()).collect();
        for (path, node) in &before {
            if removed.iter().any(|r| is_under(path, r)) {
                continue;
            }
            assert_eq!(after.get(path), Some(node), "{path} changed");
        }
        assert!(found(&fs).is_empty());
        for tr in &traces {
            assert!(!apply(&fs, tr).unwrap(), "second apply changed {tr:?}");
        }
    }

    #[test]
    fn tmp_itself_a_link_is_replaced_by_a_directory() {
        let fs = MemFs::new()
            .file("/srv/scratch/keep", "data")
            .link("/tmp", "/srv/scratch")
            .dir("/var/tmp");
        let traces = find_all(&fs, &os(), &[]).unwrap();
        assert_eq!(traces.len(), 1);
        assert_eq!(
            traces[0].detail,
            "symlink to /srv/scratch; replaced by an empty directory (mode 1777)"
        );
        assert!(apply(&fs, &traces[0]).unwrap());
        assert_eq!(fs.node("/tmp"), Some(Node::Dir { mode: 0o1777 }));
        assert_eq!(fs.text("/srv/scratch/keep").as_deref(), Some("data"));
        assert!(find_all(&fs, &os(), &[]).unwrap().is_empty());
        // Once /tmp is a directory, the same trace does nothing (never removes /tmp).
        assert!(!apply(&fs, &traces[0]).unwrap());
        assert!(fs.is_dir("/tmp").unwrap());
    }

    #[test]
    fn cleaning_is_idempotent() {
        for fs in [debian_dirty(), centos_dirty()] {
            let traces = clean_all(&fs);
            assert!(!traces.is_empty());
            assert_found(&found(&fs), &Found::new());
            for tr in &traces {
                assert!(!apply(&fs, tr).unwrap(), "second apply changed {tr:?}");
            }
        }
    }

    #[test]
    fn cleaning_keeps_what_daemons_expect() {
        let fs = debian_dirty();
        clean_all(&fs);
        for file in [
            "/var/log/syslog",
            "/var/log/wtmp",
            "/var/log/lastlog",
            "/var/log/apt/history.log",
            "/var/log/account/pacct",
            "/etc/machine-id",
            "/var/mail/root",
            "/var/lib/dhcp/dhcpd.leases",
            "/run/utmp",
        ] {
            assert_eq!(fs.text(file).as_deref(), Some(""), "{file} emptied, kept");
        }
        for dir in [
            "/var/log/journal",
            "/var/log/account",
            "/var/spool/cron/crontabs",
            "/var/spool/cron/atjobs",
            "/var/cache/apt/archives/partial",
            "/var/lib/cloud",
            "/tmp",
            "/var/tmp",
            "/root",
            "/home/debian",
        ] {
            assert!(fs.is_dir(dir).unwrap(), "{dir} kept");
        }
        assert_eq!(
            fs.text("/var/spool/cron/atjobs/.SEQ").as_deref(),
            Some("00004\n")
        );
        assert!(fs.is_symlink("/home/debian/.bash_history").unwrap());
        assert!(fs.is_symlink("/var/lib/dbus/machine-id").unwrap());
        assert!(!fs.exists("/var/log/syslog.1").unwrap());
        assert!(!fs.exists("/root/.ssh").unwrap());
    }

    #[test]
    fn remove_keys_keeps_everything_else_byte_for_byte() {
        let eth0 = "/etc/sysconfig/network-scripts/ifcfg-eth0";
        let fs = centos_dirty();
        let traces: Vec<Trace> = find_all(&fs, &os(), &[])
            .unwrap()
            .into_iter()
            .filter(|t| t.path == eth0)
            .collect();
        assert_eq!(traces.len(), 2);
        for tr in &traces {
            assert!(apply(&fs, tr).unwrap());
        }
        assert_eq!(
            fs.text(eth0).unwrap(),
            r#"# Generated by dracut initrd
NAME="eth0"
DEVICE="eth0"
ONBOOT=yes
NETBOOT=yes
IPV6INIT=yes
BOOTPROTO=dhcp
TYPE=Ethernet
  # HWADDR=00:00:00:00:00:00 is only a comment
"#
        );
        // The backup is not read by initscripts: backup-files removes it whole, untouched here.
        assert_eq!(
            fs.text("/etc/sysconfig/network-scripts/ifcfg-eth0.bak")
                .as_deref(),
            Some("HWADDR=52:54:00:12:34:56\n")
        );

        let keys = vec!["HWADDR".to_string(), "UUID".to_string()];
        let text = "# c\nHWADDR=aa\r\n export UUID='x y'\nNAME=\"HWADDR=x\"\n#HWADDR=old\nMTU=1500";
        assert_eq!(
            without_keys(text.as_bytes(), &keys),
            b"# c\nNAME=\"HWADDR=x\"\n#HWADDR=old\nMTU=1500"
        );
        assert_eq!(without_keys(b"A=1\nHWADDR=x", &keys), b"A=1\n");
        assert_eq!(without_keys(b"", &keys), b"");
        let latin1 = b"NAME=caf\xe9\nHWADDR=aa\n";
        assert_eq!(without_keys(latin1, &keys), b"NAME=caf\xe9\n");
    }

    #[test]
    fn remove_keys_only_rewrites_regular_files() {
        let keys = Action::RemoveKeys {
            keys: vec!["HWADDR".into()],
        };
        let fs = MemFs::new().file("/srv/ifcfg-real", "HWADDR=aa\n").link(
            "/etc/sysconfig/network-scripts/ifcfg-eth0",
            "/srv/ifcfg-real",
        );
        let eth0 = "/etc/sysconfig/network-scripts/ifcfg-eth0";
        assert!(net_hwaddr(&fs).unwrap().is_empty());
        assert!(!apply(&fs, &t("net-hwaddr", eth0, keys.clone())).unwrap());
        assert!(fs.is_symlink(eth0).unwrap());
        assert_eq!(fs.text("/srv/ifcfg-real").as_deref(), Some("HWADDR=aa\n"));
        assert!(!apply(&fs, &t("net-hwaddr", "/nope", keys)).unwrap());
    }

    #[test]
    fn apply_checks_the_path_again() {
        let fs = MemFs::new()
            .file("/etc/passwd", "root:x:0:0\n")
            .link("/var/log/syslog", "/etc/passwd")
            .link("/root/.ssh", "/etc")
            .dir("/var/log/messages")
            .file("/var/log/messages/x", "x")
            .dir("/root/.bash_history")
            .link("/home/u/.cache", "/etc")
            .file("/var/log/empty", "");
        // Missing: nothing to do, not an error.
        assert!(!apply(&fs, &t("logfiles", "/var/log/gone", Action::Truncate)).unwrap());
        assert!(!apply(&fs, &t("logfiles", "/nope/x", Action::DeleteTree)).unwrap());
        // Below a link: untouched.
        let below = t("ssh-userdir", "/root/.ssh/passwd", Action::Delete);
        assert!(!apply(&fs, &below).unwrap());
        // Became a link: the link goes, never its target.
        assert!(apply(&fs, &t("logfiles", "/var/log/syslog", Action::Truncate)).unwrap());
        assert!(!fs.exists("/var/log/syslog").unwrap());
        assert!(apply(&fs, &t("user-cache", "/home/u/.cache", Action::DeleteTree)).unwrap());
        assert!(fs.is_dir("/home/u").unwrap() && !fs.exists("/home/u/.cache").unwrap());
        assert_eq!(fs.text("/etc/passwd").as_deref(), Some("root:x:0:0\n"));
        // Never truncates a directory, never removes one found as a file.
        assert!(!apply(&fs, &t("logfiles", "/var/log/messages", Action::Truncate)).unwrap());
        assert!(
            !apply(
                &fs,
                &t("shell-history", "/root/.bash_history", Action::Delete)
            )
            .unwrap()
        );
        assert!(fs.is_dir("/root/.bash_history").unwrap());
        assert_eq!(fs.text("/var/log/messages/x").as_deref(), Some("x"));
        // An empty file needs no truncation.
        assert!(!apply(&fs, &t("logfiles", "/var/log/empty", Action::Truncate)).unwrap());
        // A file found where a tree was is removed (no link involved).
        let fs = MemFs::new().file("/var/crash/core", "x");
        assert!(apply(&fs, &t("crash-data", "/var/crash/core", Action::DeleteTree)).unwrap());
        assert!(fs.is_dir("/var/crash").unwrap());
    }

    #[test]
    fn traces_serialize_flat() {
        let tr = trace(
            "net-hwaddr",
            "/etc/sysconfig/network-scripts/ifcfg-eth0",
            Action::RemoveKeys {
                keys: vec!["HWADDR".into()],
            },
            "1 line: HWADDR (line 3)".into(),
        );
        assert_eq!(
            serde_json::to_value(&tr).unwrap(),
            serde_json::json!({
                "category": "net-hwaddr",
                "path": "/etc/sysconfig/network-scripts/ifcfg-eth0",
                "action": "remove-keys",
                "keys": ["HWADDR"],
                "detail": "1 line: HWADDR (line 3)",
            })
        );
        let tr = trace(
            "tmp-files",
            "/tmp/x",
            Action::DeleteTree,
            "2 entries".into(),
        );
        assert_eq!(
            serde_json::to_value(&tr).unwrap()["action"],
            serde_json::json!("delete-tree")
        );
    }
}
