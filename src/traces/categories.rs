//! The trace categories: the table, and how each finds its traces in a guest.

use super::paths::*;
use super::{Action, Category, Trace};
use crate::applies::Applies;
use crate::guest::fs::{GuestFs, Kind, Meta, join, wildcard};
use crate::parse::shellvars;
use anyhow::Result;

pub(super) static CATEGORIES: &[Category] = &[
    Category {
        id: "shell-history",
        summary: "Shell and REPL histories in home directories (bash, zsh, fish, python, psql, vim...)",
        sysprep: &["bash-history", "zsh-history"],
        applies: Applies::LINUX,
        scan: shell_history,
    },
    Category {
        id: "ssh-userdir",
        summary: "The .ssh directory of every home (authorized and known keys)",
        sysprep: &["ssh-userdir"],
        applies: Applies::LINUX,
        scan: ssh_userdir,
    },
    Category {
        id: "ssh-hostkeys",
        summary: "SSH host keys in /etc/ssh, regenerated at first boot",
        sysprep: &["ssh-hostkeys"],
        applies: Applies::LINUX,
        scan: ssh_hostkeys,
    },
    Category {
        id: "logfiles",
        summary: "Logs in /var/log: current logs are emptied, rotated logs removed",
        sysprep: &["logfiles"],
        applies: Applies::LINUX,
        scan: logfiles,
    },
    Category {
        id: "journal",
        summary: "Persistent systemd journal files in /var/log/journal",
        sysprep: &[],
        applies: Applies::LINUX,
        scan: journal,
    },
    Category {
        id: "login-records",
        summary: "Login records: wtmp, btmp, lastlog, faillog, tallylog, utmp",
        sysprep: &["utmp"],
        applies: Applies::LINUX,
        scan: login_records,
    },
    Category {
        id: "dhcp-client-state",
        summary: "DHCP client leases (dhclient, dhcpcd, NetworkManager)",
        sysprep: &["dhcp-client-state"],
        applies: Applies::LINUX,
        scan: dhcp_client_state,
    },
    Category {
        id: "dhcp-server-state",
        summary: "DHCP server leases",
        sysprep: &["dhcp-server-state"],
        applies: Applies::LINUX,
        scan: dhcp_server_state,
    },
    Category {
        id: "machine-id",
        summary: "The machine ID, emptied so that systemd generates a new one at boot",
        sysprep: &["machine-id"],
        applies: Applies::LINUX,
        scan: machine_id,
    },
    Category {
        id: "cloud-init-state",
        summary: "cloud-init state in /var/lib/cloud and its logs",
        sysprep: &[],
        applies: Applies::LINUX,
        scan: cloud_init_state,
    },
    Category {
        id: "package-manager-cache",
        summary: "Downloaded packages and metadata of apt, dnf, yum and zypper",
        sysprep: &["package-manager-cache"],
        applies: Applies::LINUX,
        scan: package_manager_cache,
    },
    Category {
        id: "tmp-files",
        summary: "Everything in /tmp and /var/tmp",
        sysprep: &["tmp-files"],
        applies: Applies::LINUX,
        scan: tmp_files,
    },
    Category {
        id: "crash-data",
        summary: "Crash dumps and reports (kdump, ABRT, apport, systemd-coredump)",
        sysprep: &["crash-data", "abrt-data"],
        applies: Applies::LINUX,
        scan: crash_data,
    },
    Category {
        id: "mail-spool",
        summary: "Local mail in /var/mail and /var/spool/mail",
        sysprep: &["mail-spool"],
        applies: Applies::LINUX,
        scan: mail_spool,
    },
    Category {
        id: "cron-spool",
        summary: "User crontabs and pending at jobs",
        sysprep: &["cron-spool"],
        applies: Applies::LINUX,
        scan: cron_spool,
    },
    Category {
        id: "udev-persistent-net",
        summary: "udev rules binding interface names to the build machine's MAC addresses",
        sysprep: &["udev-persistent-net"],
        applies: Applies::LINUX,
        scan: udev_persistent_net,
    },
    Category {
        id: "net-hwaddr",
        summary: "HWADDR and UUID lines in ifcfg files",
        sysprep: &["net-hwaddr"],
        applies: Applies::LINUX,
        scan: net_hwaddr,
    },
    Category {
        id: "net-hostname",
        summary: "HOSTNAME and DHCP_HOSTNAME lines in ifcfg files",
        sysprep: &["net-hostname"],
        applies: Applies::LINUX,
        scan: net_hostname,
    },
    Category {
        id: "net-nmconn",
        summary: "NetworkManager connection profiles (keyfiles) made on the build machine",
        sysprep: &["net-nmconn"],
        applies: Applies::LINUX,
        scan: net_nmconn,
    },
    Category {
        id: "passwd-backups",
        summary: "Backups of the account files: /etc/passwd-, /etc/shadow- and the like",
        sysprep: &["passwd-backups"],
        applies: Applies::LINUX,
        scan: passwd_backups,
    },
    Category {
        id: "backup-files",
        summary: "Editor backup and swap files under /etc, /root, /home and /srv",
        sysprep: &["backup-files"],
        applies: Applies::LINUX,
        scan: backup_files,
    },
    Category {
        id: "blkid-tab",
        summary: "The blkid cache",
        sysprep: &["blkid-tab"],
        applies: Applies::LINUX,
        scan: blkid_tab,
    },
    Category {
        id: "pacct-log",
        summary: "Process accounting logs",
        sysprep: &["pacct-log"],
        applies: Applies::LINUX,
        scan: pacct_log,
    },
    Category {
        id: "pam-data",
        summary: "PAM runtime data: console ownership, faillock and sepermit records",
        sysprep: &["pam-data"],
        applies: Applies::LINUX,
        scan: pam_data,
    },
    Category {
        id: "rpm-db",
        summary: "Host-specific RPM database environment files (/var/lib/rpm/__db.*)",
        sysprep: &["rpm-db"],
        applies: Applies::LINUX,
        scan: rpm_db,
    },
    Category {
        id: "yum-uuid",
        summary: "The yum UUID, regenerated by yum when missing",
        sysprep: &["yum-uuid"],
        applies: Applies::LINUX,
        scan: yum_uuid,
    },
    Category {
        id: "installer-leftovers",
        summary: "Installer kickstarts and logs (anaconda, debian-installer)",
        sysprep: &[],
        applies: Applies::LINUX,
        scan: installer_leftovers,
    },
    Category {
        id: "user-cache",
        summary: "The .cache directory of every home",
        sysprep: &[],
        applies: Applies::LINUX,
        scan: user_cache,
    },
    Category {
        id: "random-seed",
        summary: "Saved random seeds, which every clone would otherwise share",
        sysprep: &[],
        applies: Applies::LINUX,
        scan: random_seed,
    },
];

// ---- trace builders ---------------------------------------------------------------------

pub(super) fn trace(category: &'static str, path: &str, action: Action, detail: String) -> Trace {
    Trace {
        category,
        path: path.to_string(),
        action,
        detail,
    }
}

pub(super) fn bytes(n: u64) -> String {
    if n == 1 {
        "1 byte".into()
    } else {
        format!("{n} bytes")
    }
}

/// A link at a trace path: `Delete` the link, unless it points into /dev (a deliberate
/// redirection such as `~/.bash_history -> /dev/null`).
pub(super) fn link_trace(fs: &dyn GuestFs, cat: &'static str, path: &str) -> Result<Option<Trace>> {
    let target = fs.readlink(path)?;
    if target == "/dev" || target.starts_with("/dev/") {
        return Ok(None);
    }
    let detail = format!("symlink to {target}");
    Ok(Some(trace(cat, path, Action::Delete, detail)))
}

/// A file to remove: a non-empty regular file or a link.
pub(super) fn delete_file(
    fs: &dyn GuestFs,
    cat: &'static str,
    path: &str,
    m: Meta,
) -> Result<Option<Trace>> {
    file_trace(fs, cat, path, m, Action::Delete)
}

/// A file to empty: a non-empty regular file is truncated, a link removed.
pub(super) fn truncate_file(
    fs: &dyn GuestFs,
    cat: &'static str,
    path: &str,
    m: Meta,
) -> Result<Option<Trace>> {
    file_trace(fs, cat, path, m, Action::Truncate)
}

/// `action` for a non-empty regular file; a link is a [`link_trace`]; anything else none.
fn file_trace(
    fs: &dyn GuestFs,
    cat: &'static str,
    path: &str,
    m: Meta,
    action: Action,
) -> Result<Option<Trace>> {
    Ok(match m.kind {
        Kind::Symlink => link_trace(fs, cat, path)?,
        Kind::File if m.size > 0 => Some(trace(cat, path, action, bytes(m.size))),
        _ => None,
    })
}

/// Anything to remove: a file or link as [`delete_file`], a non-empty directory as a tree.
pub(super) fn delete_any(
    fs: &dyn GuestFs,
    cat: &'static str,
    path: &str,
    m: Meta,
) -> Result<Option<Trace>> {
    if m.kind != Kind::Dir {
        return delete_file(fs, cat, path, m);
    }
    let n = fs.find(path)?.len();
    Ok((n > 0).then(|| trace(cat, path, Action::DeleteTree, entries_detail(n))))
}

/// Removes whatever it is, empty or not (for places where existence is the state).
pub(super) fn delete_always(
    fs: &dyn GuestFs,
    cat: &'static str,
    path: &str,
    m: Meta,
) -> Result<Trace> {
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

pub(super) fn entries_detail(n: usize) -> String {
    if n == 1 {
        "1 entry".into()
    } else {
        format!("{n} entries")
    }
}

/// Applies `build` to each of the fixed paths that exists.
pub(super) fn fixed(
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
pub(super) fn clear_dir(fs: &dyn GuestFs, cat: &'static str, dir: &str) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for (path, meta) in entries(fs, dir)? {
        out.extend(delete_any(fs, cat, &path, meta)?);
    }
    Ok(out)
}

/// Every file and link anywhere below `dir` whose name `keep` accepts; directories stay
/// (they may carry ownership and modes their programs need).
pub(super) fn files_below(
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

// ---- homes --------------------------------------------------------------------------------

/// Histories, relative to a home directory.
pub(super) const HISTORIES: &[&str] = &[
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

pub(super) fn shell_history(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for home in homes(fs)? {
        let paths: Vec<String> = HISTORIES.iter().map(|rel| join(&home, rel)).collect();
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        out.extend(fixed(fs, "shell-history", &paths, delete_file)?);
    }
    Ok(out)
}

pub(super) fn in_homes(fs: &dyn GuestFs, cat: &'static str, rel: &str) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for home in homes(fs)? {
        out.extend(fixed(fs, cat, &[&join(&home, rel)], delete_any)?);
    }
    Ok(out)
}

pub(super) fn ssh_userdir(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    in_homes(fs, "ssh-userdir", ".ssh")
}

pub(super) fn user_cache(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    in_homes(fs, "user-cache", ".cache")
}

// ---- /etc -----------------------------------------------------------------------------------

pub(super) fn ssh_hostkeys(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for (path, meta) in entries(fs, "/etc/ssh")? {
        if wildcard("*_host_*", basename(&path)) {
            out.extend(delete_file(fs, "ssh-hostkeys", &path, meta)?);
        }
    }
    Ok(out)
}

pub(super) fn machine_id(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
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

pub(super) fn udev_persistent_net(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let paths = ["/etc/udev/rules.d/70-persistent-net.rules"];
    fixed(fs, "udev-persistent-net", &paths, delete_file)
}

pub(super) const IFCFG_DIR: &str = "/etc/sysconfig/network-scripts";

/// ifcfg files that initscripts reads (it ignores backups and rpm leftovers).
pub(super) fn is_active_ifcfg(name: &str) -> bool {
    const IGNORED: &[&str] = &["~", ".bak", ".orig", ".rpmnew", ".rpmorig", ".rpmsave"];
    name.starts_with("ifcfg-") && !IGNORED.iter().any(|s| name.ends_with(s))
}

/// ifcfg files assigning any of `keys`: RemoveKeys of the keys present.
pub(super) fn ifcfg_keys(fs: &dyn GuestFs, cat: &'static str, keys: &[&str]) -> Result<Vec<Trace>> {
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

pub(super) fn net_hwaddr(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    ifcfg_keys(fs, "net-hwaddr", &["HWADDR", "UUID"])
}

pub(super) fn net_hostname(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    ifcfg_keys(fs, "net-hostname", &["HOSTNAME", "DHCP_HOSTNAME"])
}

pub(super) fn net_nmconn(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for (path, meta) in entries(fs, "/etc/NetworkManager/system-connections")? {
        if path.ends_with(".nmconnection") {
            out.extend(delete_file(fs, "net-nmconn", &path, meta)?);
        }
    }
    Ok(out)
}

pub(super) fn passwd_backups(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
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

pub(super) fn blkid_tab(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
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

pub(super) fn is_backup_name(name: &str) -> bool {
    name.ends_with('~')
        || name.ends_with(".bak")
        || name.ends_with(".swp")
        || name.ends_with(".swo")
        || (name.len() >= 2 && name.starts_with('#') && name.ends_with('#'))
        || name.starts_with(".#")
}

pub(super) fn backup_files(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
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

pub(super) fn installer_leftovers(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
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
pub(super) fn is_rotated(name: &str) -> bool {
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
pub(super) fn is_login_record(name: &str) -> bool {
    ["wtmp", "btmp", "lastlog", "faillog", "tallylog"]
        .iter()
        .any(|r| match name.strip_prefix(r) {
            Some(rest) => rest.is_empty() || rest.starts_with(['.', '-']),
            None => false,
        })
}

pub(super) fn is_cloud_init_log(name: &str) -> bool {
    name.starts_with("cloud-init") && name.contains(".log")
}

/// A name a log has: a link with such a name in /var/log is a trace, other links
/// (`README -> /usr/share/doc/...`, `app -> /srv/app/logs`) are not.
pub(super) fn is_log_name(name: &str) -> bool {
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
pub(super) fn log_trace(
    fs: &dyn GuestFs,
    cat: &'static str,
    path: &str,
    m: Meta,
) -> Result<Option<Trace>> {
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
pub(super) fn var_log(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
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

pub(super) fn classify_log(
    fs: &dyn GuestFs,
    path: &str,
    rel: &str,
    m: Meta,
) -> Result<Option<Trace>> {
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

pub(super) fn var_log_of(fs: &dyn GuestFs, cat: &str) -> Result<Vec<Trace>> {
    Ok(var_log(fs)?
        .into_iter()
        .filter(|t| t.category == cat)
        .collect())
}

pub(super) fn logfiles(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = var_log_of(fs, "logfiles")?;
    let status = [
        "/var/lib/logrotate.status",
        "/var/lib/logrotate/status",
        "/var/lib/logrotate/logrotate.status",
    ];
    out.extend(fixed(fs, "logfiles", &status, delete_file)?);
    Ok(out)
}

pub(super) fn journal(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    var_log_of(fs, "journal")
}

pub(super) fn login_records(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
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

pub(super) fn pacct_log(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for (path, meta) in entries(fs, "/var/account")? {
        out.extend(log_trace(fs, "pacct-log", &path, meta)?);
    }
    out.extend(var_log_of(fs, "pacct-log")?);
    Ok(out)
}

pub(super) fn cloud_init_state(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = clear_dir(fs, "cloud-init-state", "/var/lib/cloud")?;
    out.extend(var_log_of(fs, "cloud-init-state")?);
    Ok(out)
}

pub(super) fn crash_data(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for dir in ["/var/crash", "/var/spool/abrt", "/var/lib/systemd/coredump"] {
        out.extend(clear_dir(fs, "crash-data", dir)?);
    }
    out.extend(var_log_of(fs, "crash-data")?);
    Ok(out)
}

// ---- /var/lib, /var/cache, /var/spool, /run, /tmp -----------------------------------------

pub(super) fn dhcp_client_state(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
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

pub(super) fn dhcp_server_state(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
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

pub(super) fn package_manager_cache(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
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

pub(super) fn tmp_files(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
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

pub(super) fn mail_spool(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
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

pub(super) fn cron_spool(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
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

pub(super) fn pam_data(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for dir in ["/var/run/console", "/var/run/faillock", "/var/run/sepermit"] {
        for (path, meta) in entries(fs, dir)? {
            out.push(delete_always(fs, "pam-data", &path, meta)?);
        }
    }
    Ok(out)
}

pub(super) fn rpm_db(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    let mut out = Vec::new();
    for (path, meta) in entries(fs, "/var/lib/rpm")? {
        if basename(&path).starts_with("__db.") {
            out.extend(delete_file(fs, "rpm-db", &path, meta)?);
        }
    }
    Ok(out)
}

pub(super) fn yum_uuid(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
    fixed(fs, "yum-uuid", &["/var/lib/yum/uuid"], delete_file)
}

pub(super) fn random_seed(fs: &dyn GuestFs) -> Result<Vec<Trace>> {
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
