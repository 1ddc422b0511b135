//! Operations: one file each, rule-tagged, idempotent, run in a fixed order.
//!
//! The operation contract (as virt-sysprep's): an operation never unmounts; a missing file
//! is normal, not an error; it declares the guests it is about, and is run on no others; it
//! never follows a guest symlink out of the path it changes (regular files are truncated,
//! links are removed, never their targets). Operations change the guest only through [`Tracked`], which records every
//! change (and in a dry run records without changing). Side effects that concern the whole
//! guest (an SELinux relabel) are decided once by the driver, from the recorded changes.

pub mod cloudbase_init_stage;
pub mod cloudinit_datasources;
pub mod cloudinit_swap;
pub mod edit;
pub mod firewall;
pub mod mtu;
pub mod trace_cleanup;
pub mod tracked;
pub mod windows_firewall;
pub mod windows_mtu;
pub mod windows_traces;

use crate::applies::Applies;
use crate::facts::OsInfo;
use crate::guest::fs::GuestFs;
use crate::profile::Profile;
use crate::rule::RuleTag;
use crate::ui::Reporter;
use crate::vendor::Vendor;
use anyhow::{Context, Result, bail};
use serde::Serialize;
pub use tracked::{Change, Tracked};

#[derive(Debug, Clone, Default)]
pub struct OpOpts {
    /// Accept a vendor package with no pinned sha256 (its hash is reported).
    pub allow_unpinned: bool,
    /// The appliance has a network (apt-get install -f may fetch dependencies).
    pub network: bool,
}

/// What an operation sees.
pub struct OpCtx<'a> {
    pub fs: &'a Tracked<'a>,
    pub os: &'a OsInfo,
    pub profile: &'a Profile,
    pub vendor: std::result::Result<&'a Vendor, String>,
    pub opts: &'a OpOpts,
    pub rep: &'a dyn Reporter,
}

impl OpCtx<'_> {
    pub fn dry_run(&self) -> bool {
        self.fs.dry_run()
    }
}

pub type OpFn = fn(&OpCtx) -> Result<Vec<String>>;

/// An operation's descriptor.
pub struct OpDef {
    /// kebab-case, unique; what --skip/--only take.
    pub id: &'static str,
    pub rule: RuleTag,
    /// The guests it is about; `run_all` runs it on no others.
    pub applies: Applies,
    pub default: bool,
    /// One line, no trailing period.
    pub summary: &'static str,
    pub description: &'static str,
    /// Operations run in ascending order.
    pub order: u32,
    /// Returns notes (what it did, in words); changes are recorded by `Tracked`.
    pub run: OpFn,
}

pub fn registry() -> Vec<OpDef> {
    let mut v = vec![
        cloudinit_swap::def(),
        cloudinit_datasources::def(),
        firewall::def(),
        mtu::def(),
        trace_cleanup::def(),
        cloudbase_init_stage::def(),
        windows_firewall::def(),
        windows_mtu::def(),
        windows_traces::def(),
    ];
    v.sort_by_key(|d| d.order);
    v
}

/// The operations to run: the defaults, minus `--skip`, or exactly `--only`.
pub fn select(skip: &[String], only: &[String]) -> Result<Vec<OpDef>> {
    let all = registry();
    for name in skip.iter().chain(only) {
        if !all.iter().any(|d| d.id == name) {
            bail!(
                "unknown operation '{name}'; operations are: {}",
                all.iter().map(|d| d.id).collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(all
        .into_iter()
        .filter(|d| {
            if only.is_empty() {
                d.default && !skip.iter().any(|s| s == d.id)
            } else {
                only.iter().any(|o| o == d.id)
            }
        })
        .collect())
}

/// How an operation ended (serialised as today's strings: a contract).
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OpStatus {
    Changed,
    Unchanged,
    /// A dry run: the changes it lists would be made.
    Planned,
}

impl OpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OpStatus::Changed => "changed",
            OpStatus::Unchanged => "unchanged",
            OpStatus::Planned => "planned",
        }
    }
}

impl PartialEq<&str> for OpStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct OpResult {
    pub id: String,
    pub rule: String,
    pub status: OpStatus,
    pub notes: Vec<String>,
    pub changes: Vec<Change>,
    pub seconds: f64,
}

/// Those of `defs` that are about this guest, in their order.
pub fn for_os<'d>(defs: &'d [OpDef], os: &OsInfo) -> Vec<&'d OpDef> {
    defs.iter().filter(|d| d.applies.matches(os)).collect()
}

/// The Windows facts of the guest and the guest paths of its SYSTEM and SOFTWARE hives.
pub fn windows_hives<'c>(
    ctx: &OpCtx<'c>,
) -> Result<(&'c crate::facts::windows::WindowsInfo, String, String)> {
    let w = ctx
        .os
        .windows
        .as_ref()
        .context("the guest's Windows registry facts are missing")?;
    let system = crate::facts::winreg::hive_path(ctx.fs, &w.system_root, "SYSTEM")?;
    let software = crate::facts::winreg::hive_path(ctx.fs, &w.system_root, "SOFTWARE")?;
    Ok((w, system, software))
}

/// The context of an operation's error, `operation ID (RULE)`: which operation failed, and
/// the results of those that ran before it (`--junit` reports them; find it with
/// `anyhow::Error::downcast_ref`).
#[derive(Debug)]
pub struct OpFailed {
    pub id: &'static str,
    pub rule: String,
    pub seconds: f64,
    pub done: Vec<OpResult>,
}

impl std::fmt::Display for OpFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "operation {} ({})", self.id, self.rule)
    }
}

/// Runs, in order, the operations of `defs` that are about the guest; the first failure
/// stops the conversion (its error carries [`OpFailed`]). Those about other guests are left
/// out of the results.
pub fn run_all(ctx: &OpCtx, defs: &[OpDef]) -> Result<Vec<OpResult>> {
    let mut out = Vec::new();
    for d in for_os(defs, ctx.os) {
        ctx.rep.stage("operate", &format!("{} ({})", d.id, d.rule));
        let t0 = std::time::Instant::now();
        ctx.fs.take();
        let notes = (d.run)(ctx).with_context(|| OpFailed {
            id: d.id,
            rule: d.rule.to_string(),
            seconds: t0.elapsed().as_secs_f64(),
            done: std::mem::take(&mut out),
        })?;
        let changes = ctx.fs.take();
        let status = if ctx.dry_run() {
            OpStatus::Planned
        } else if changes.is_empty() {
            OpStatus::Unchanged
        } else {
            OpStatus::Changed
        };
        for n in &notes {
            ctx.rep.debug(&format!("{}: {n}", d.id));
        }
        out.push(OpResult {
            id: d.id.to_string(),
            rule: d.rule.to_string(),
            status,
            notes,
            changes,
            seconds: (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        });
    }
    Ok(out)
}

/// SELinux in enforcing or permissive mode per /etc/selinux/config.
pub fn selinux_enabled(fs: &dyn crate::guest::fs::GuestFs) -> Result<bool> {
    let Some(t) = fs.read_text("/etc/selinux/config")? else {
        return Ok(false);
    };
    let vars = crate::parse::shellvars::parse(&t);
    Ok(crate::parse::shellvars::get(&vars, "SELINUX").is_some_and(|v| v.value != "disabled"))
}

pub const AUTORELABEL: &str = "/.autorelabel";

/// The driver's side effect: when files changed on an SELinux guest, ask for a relabel at
/// next boot, once.
pub fn relabel_if_needed(fs: &Tracked, changed: bool) -> Result<Option<String>> {
    if !changed || !selinux_enabled(fs)? || fs.exists(AUTORELABEL)? {
        return Ok(None);
    }
    fs.write(AUTORELABEL, b"")?;
    Ok(Some(format!(
        "files changed on an SELinux guest: {AUTORELABEL} makes the next boot relabel them"
    )))
}

/// `SOURCE_DATE_EPOCH`: every path the changes wrote (written, truncated, uploaded, made,
/// linked, chmod'ed) and the directory of every changed path, removals included, gets
/// `secs` as its modification time (a link's own time; links are not followed), so what
/// imgseal wrote carries no time of the run. What guest programs wrote (`run`: a package
/// install) keeps the times they gave it. Returns how many paths were stamped.
pub fn stamp_times(fs: &dyn GuestFs, changes: &[Change], secs: i64) -> Result<usize> {
    let mut paths = std::collections::BTreeSet::new();
    for c in changes {
        if c.action == "run" || !c.target.starts_with('/') {
            continue;
        }
        if c.action != "remove" && c.action != "remove-tree" {
            paths.insert(c.target.clone());
        }
        paths.insert(crate::guest::fs::parent(&c.target).to_string());
    }
    let mut n = 0;
    for p in paths {
        if fs.lstat(&p)?.is_some() {
            fs.set_mtime(&p, secs)
                .with_context(|| format!("setting the time of {p} (SOURCE_DATE_EPOCH)"))?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;
    use crate::guest::fs::MemFs;

    /// Runs one operation on an in-memory guest.
    pub fn run_op(
        fs: &MemFs,
        os: &OsInfo,
        def: OpDef,
        vendor: Option<&Vendor>,
        dry_run: bool,
    ) -> Result<OpResult> {
        let p = crate::profile::load("jdcloud").unwrap().profile;
        let t = Tracked::new(fs, dry_run);
        let rep = crate::ui::Recorder::default();
        let opts = OpOpts::default();
        let ctx = OpCtx {
            fs: &t,
            os,
            profile: &p,
            vendor: vendor.ok_or_else(|| "no vendor dir".to_string()),
            opts: &opts,
            rep: &rep,
        };
        let r = run_all(&ctx, &[def])?.remove(0);
        t.commit_hives()?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_date_epoch_stamps_what_imgseal_wrote_and_nothing_else() {
        use crate::guest::fs::MemFs;
        let fs = MemFs::new()
            .file("/etc/cloud/cloud.cfg.d/99-x.cfg", "a")
            .file("/var/log/dpkg.log", "b")
            .file("/etc/untouched", "c")
            .link("/etc/alt", "/etc/untouched");
        let ch = |action: &str, target: &str| Change {
            action: action.into(),
            target: target.into(),
        };
        let changes = [
            ch("write", "/etc/cloud/cloud.cfg.d/99-x.cfg"),
            ch("truncate", "/var/log/dpkg.log"),
            ch("remove", "/root/.bash_history"),
            ch("symlink", "/etc/alt"),
            ch("run", "dpkg -i /tmp/x.deb"),
        ];
        let n = stamp_times(&fs, &changes, 1_700_000_000).unwrap();
        let t = |p: &str| fs.extra(p).mtime;
        for p in [
            "/etc/cloud/cloud.cfg.d/99-x.cfg",
            "/etc/cloud/cloud.cfg.d",
            "/var/log/dpkg.log",
            "/var/log",
            "/etc/alt",
            "/etc",
        ] {
            assert_eq!(t(p), 1_700_000_000, "{p}");
        }
        // The link's own time, not its target's; a removed file's directory only when it
        // exists (/root does not); nothing for a guest program's run.
        assert_eq!(t("/etc/untouched"), 0);
        assert_eq!(n, 6);
    }

    #[test]
    fn registry_is_well_formed() {
        let r = registry();
        let mut ids: Vec<&str> = r.iter().map(|d| d.id).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
        for d in &r {
            assert!(
                d.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{}",
                d.id
            );
            assert!(
                !d.summary.ends_with('.') && !d.summary.is_empty(),
                "{}",
                d.id
            );
            assert!(!d.description.is_empty());
            assert!(
                d.rule
                    .to_string()
                    .split('/')
                    .all(|x| x.parse::<crate::rule::RuleId>().is_ok()),
                "{}",
                d.id
            );
        }
        let orders: Vec<u32> = r.iter().map(|d| d.order).collect();
        assert!(
            orders.windows(2).all(|w| w[0] < w[1]),
            "orders are unique and sorted"
        );
        // Traces go last in each family: other operations leave logs.
        for (applies, last) in [
            (Applies::LINUX, "trace-cleanup"),
            (Applies::WINDOWS, "windows-trace-cleanup"),
        ] {
            let family: Vec<&OpDef> = r.iter().filter(|d| d.applies == applies).collect();
            assert_eq!(family.last().unwrap().id, last);
        }
    }

    #[test]
    fn every_operation_has_a_test_that_runs_it() {
        // Each operation file's tests call testutil::run_op with its def(); this keeps the
        // list honest when an operation is added.
        let sources = [
            include_str!("cloudinit_swap.rs"),
            include_str!("cloudinit_datasources.rs"),
            include_str!("firewall.rs"),
            include_str!("mtu.rs"),
            include_str!("trace_cleanup.rs"),
            include_str!("cloudbase_init_stage.rs"),
            include_str!("windows_firewall.rs"),
            include_str!("windows_mtu.rs"),
            include_str!("windows_traces.rs"),
        ];
        assert_eq!(sources.len(), registry().len());
        for s in sources {
            assert!(
                s.contains("run_op("),
                "an operation file without a test that runs it"
            );
        }
    }

    #[test]
    fn selection() {
        let ids = |v: Vec<OpDef>| v.into_iter().map(|d| d.id).collect::<Vec<_>>();
        assert_eq!(ids(select(&[], &[]).unwrap()).len(), registry().len());
        let s = ids(select(&["cloud-init-swap".into()], &[]).unwrap());
        assert!(!s.contains(&"cloud-init-swap") && s.contains(&"mtu"));
        assert_eq!(ids(select(&[], &["mtu".into()]).unwrap()), vec!["mtu"]);
        let e = select(&["nope".into()], &[]).err().unwrap().to_string();
        assert!(
            e.contains("unknown operation 'nope'") && e.contains("firewall-disable"),
            "{e}"
        );
    }

    #[test]
    fn operations_run_only_on_the_guests_they_are_about() {
        use crate::facts::{OsFamily, PackageFormat};
        use crate::guest::fs::MemFs;
        let all = registry();
        for d in &all {
            assert!(!d.applies.families.is_empty(), "{}: no OS family", d.id);
        }
        let debian = OsInfo::linux("debian", 12, 4);
        let centos = OsInfo::linux("centos", 7, 9);
        let windows = OsInfo {
            os_type: OsFamily::Windows,
            ..Default::default()
        };
        let ids = |os: &OsInfo| for_os(&all, os).iter().map(|d| d.id).collect::<Vec<_>>();
        let win_ids = ids(&windows);
        assert_eq!(
            win_ids,
            [
                "cloudbase-init-stage",
                "windows-firewall-disable",
                "windows-mtu",
                "windows-trace-cleanup"
            ]
        );
        for os in [&debian, &centos] {
            let l = ids(os);
            assert_eq!(l.len() + win_ids.len(), all.len());
            assert!(!l.iter().any(|id| win_ids.contains(id)), "{l:?}");
        }

        // run_all runs none of the Linux ones on Windows: the trace stays.
        let all: Vec<OpDef> = registry()
            .into_iter()
            .filter(|d| d.applies == Applies::LINUX)
            .collect();
        let fs = MemFs::new().file("/root/.bash_history", "ls\n");
        let p = crate::profile::load("jdcloud").unwrap().profile;
        let t = Tracked::new(&fs, false);
        let rep = crate::ui::Recorder::default();
        let opts = OpOpts::default();
        let ctx = OpCtx {
            fs: &t,
            os: &windows,
            profile: &p,
            vendor: Err("no vendor dir".into()),
            opts: &opts,
            rep: &rep,
        };
        assert!(run_all(&ctx, &all).unwrap().is_empty());
        assert!(fs.exists("/root/.bash_history").unwrap());

        let rpm_only = OpDef {
            id: "rpm-only",
            rule: crate::rule::RuleId::R4.into(),
            applies: Applies {
                families: &[OsFamily::Linux],
                package_formats: &[PackageFormat::Rpm],
            },
            default: true,
            summary: "An rpm-only operation",
            description: "Only for the test.",
            order: 1,
            run: |_| Ok(vec![]),
        };
        let defs = [rpm_only];
        assert_eq!(for_os(&defs, &centos).len(), 1);
        assert!(for_os(&defs, &debian).is_empty());
    }

    #[test]
    fn a_failed_operation_names_itself_and_keeps_what_ran_before_it() {
        use crate::facts::OsFamily;
        use crate::guest::fs::MemFs;
        let op = |id: &'static str, order: u32, run: OpFn| OpDef {
            id,
            rule: crate::rule::RuleId::R8.into(),
            applies: Applies {
                families: &[OsFamily::Linux],
                package_formats: &[],
            },
            default: true,
            summary: "A test operation",
            description: "Only for the test.",
            order,
            run,
        };
        let defs = [
            op("first", 1, |_| Ok(vec!["did it".into()])),
            op("second", 2, |_| anyhow::bail!("boom")),
            op("third", 3, |_| Ok(vec![])),
        ];
        let fs = MemFs::new();
        let os = OsInfo::linux("debian", 12, 4);
        let p = crate::profile::load("jdcloud").unwrap().profile;
        let t = Tracked::new(&fs, false);
        let rep = crate::ui::Recorder::default();
        let opts = OpOpts::default();
        let ctx = OpCtx {
            fs: &t,
            os: &os,
            profile: &p,
            vendor: Err("no vendor dir".into()),
            opts: &opts,
            rep: &rep,
        };
        let e = run_all(&ctx, &defs).unwrap_err();
        assert_eq!(format!("{e:#}"), "operation second (R8): boom");
        let f = e.downcast_ref::<OpFailed>().expect("typed context");
        assert_eq!((f.id, f.rule.as_str()), ("second", "R8"));
        let done: Vec<&str> = f.done.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(done, ["first"]);
        assert_eq!(f.done[0].notes, ["did it"]);
    }

    #[test]
    fn relabel_once_on_selinux_guests_that_changed() {
        use crate::guest::fs::MemFs;
        let fs = MemFs::new().file("/etc/selinux/config", "SELINUX=enforcing\n");
        let t = Tracked::new(&fs, false);
        assert!(relabel_if_needed(&t, false).unwrap().is_none());
        assert!(relabel_if_needed(&t, true).unwrap().is_some());
        assert!(fs.exists(AUTORELABEL).unwrap());
        assert!(
            relabel_if_needed(&t, true).unwrap().is_none(),
            "flagged once"
        );
        let fs = MemFs::new().file("/etc/selinux/config", "SELINUX=disabled\n");
        assert!(
            relabel_if_needed(&Tracked::new(&fs, false), true)
                .unwrap()
                .is_none()
        );
    }
}
