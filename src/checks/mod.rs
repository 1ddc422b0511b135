//! The rule checks: a registry of read-only checks, each tagged with the rule it serves
//! (R1-R9 of the vendor's spec, B1 for boot readiness) and the guests it is about, each
//! returning pass / fail / warn / skip with a detail that names the guest file it is about.

mod boot;
mod cloudinit;
mod firewall;
mod network;
mod reboot;
mod repos;
mod traces;
mod windows;

use crate::applies::Applies;
use crate::facts::cloudinit::CloudInit;
use crate::facts::firewall::FirewallService;
use crate::facts::network::NetworkFacts;
use crate::facts::{self, OsInfo};
use crate::guest::fs::GuestFs;
use crate::profile::{Profile, Severity};
use crate::rule::{RuleId, RuleTag};
use crate::vendor::Vendor;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::cell::OnceCell;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Skip,
    Warn,
    Fail,
    /// The check itself broke (could not read what it needed).
    Error,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Error => "ERROR",
        }
    }
}

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    pub detail: String,
    /// Each item found, `file:line: what` where a line is known.
    pub findings: Vec<String>,
}

impl Outcome {
    pub fn pass(detail: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Pass,
            detail: detail.into(),
            findings: vec![],
        }
    }
    pub fn fail(detail: impl Into<String>, findings: Vec<String>) -> Outcome {
        Outcome {
            status: Status::Fail,
            detail: detail.into(),
            findings,
        }
    }
    pub fn skip(detail: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Skip,
            detail: detail.into(),
            findings: vec![],
        }
    }
    pub fn warn(detail: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Warn,
            detail: detail.into(),
            findings: vec![],
        }
    }
}

/// One result in a report (a contract: `{"id","rule","status","detail"}` plus findings).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckResult {
    pub id: String,
    pub rule: String,
    pub status: Status,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
    /// How long the check ran (for `--junit`); not in the JSON contract. The first check to
    /// use a shared fact (cloud-init, network, ...) pays for gathering it.
    #[serde(skip)]
    pub seconds: f64,
}

pub type CheckFn = Box<dyn Fn(&Ctx) -> Result<Outcome> + Send + Sync>;

/// A registered check.
pub struct CheckDef {
    pub id: String,
    /// `R2`, or `R4/R5` for checks whose rule depends on the distribution.
    pub rule: RuleTag,
    /// The guests it is about; it is not run on others.
    pub applies: Applies,
    /// One line, no trailing period.
    pub summary: String,
    pub run: CheckFn,
}

impl CheckDef {
    pub fn new(
        id: impl Into<String>,
        rule: impl Into<RuleTag>,
        applies: Applies,
        summary: impl Into<String>,
        run: CheckFn,
    ) -> CheckDef {
        CheckDef {
            id: id.into(),
            rule: rule.into(),
            applies,
            summary: summary.into(),
            run,
        }
    }
}

/// Everything a check may look at, with facts computed once and shared by all checks.
pub struct Ctx<'a> {
    pub fs: &'a dyn GuestFs,
    pub os: &'a OsInfo,
    pub profile: &'a Profile,
    /// The vendor-packages manifest, or why there is none.
    pub vendor: std::result::Result<&'a Vendor, String>,
    cloud_init: OnceCell<CloudInit>,
    network: OnceCell<NetworkFacts>,
    firewall: OnceCell<Vec<FirewallService>>,
    traces: OnceCell<Vec<crate::traces::Trace>>,
    windows_interfaces: OnceCell<Vec<facts::winreg::Interface>>,
}

fn cached<'c, T>(cell: &'c OnceCell<T>, f: impl FnOnce() -> Result<T>) -> Result<&'c T> {
    if let Some(v) = cell.get() {
        return Ok(v);
    }
    let v = f()?;
    Ok(cell.get_or_init(|| v))
}

impl<'a> Ctx<'a> {
    pub fn new(
        fs: &'a dyn GuestFs,
        os: &'a OsInfo,
        profile: &'a Profile,
        vendor: std::result::Result<&'a Vendor, String>,
    ) -> Ctx<'a> {
        Ctx {
            fs,
            os,
            profile,
            vendor,
            cloud_init: OnceCell::new(),
            network: OnceCell::new(),
            firewall: OnceCell::new(),
            traces: OnceCell::new(),
            windows_interfaces: OnceCell::new(),
        }
    }

    pub fn cloud_init(&self) -> Result<&CloudInit> {
        cached(&self.cloud_init, || {
            facts::cloudinit::scan(self.fs, self.os)
        })
    }
    pub fn network(&self) -> Result<&NetworkFacts> {
        cached(&self.network, || facts::network::scan(self.fs))
    }
    pub fn firewall(&self) -> Result<&Vec<FirewallService>> {
        cached(&self.firewall, || {
            facts::firewall::FIREWALLS
                .iter()
                .map(|d| facts::firewall::scan_one(self.fs, self.os, d))
                .collect()
        })
    }
    pub fn traces(&self) -> Result<&Vec<crate::traces::Trace>> {
        cached(&self.traces, || {
            crate::traces::find_all(self.fs, self.os, &[])
        })
    }
    /// A Windows guest's network interfaces in every control set (R3's MTUs, R8's DHCP
    /// leases), read from the SYSTEM hive once per check run.
    pub fn windows_interfaces(&self) -> Result<&Vec<facts::winreg::Interface>> {
        cached(&self.windows_interfaces, || {
            let w = self
                .os
                .windows
                .as_ref()
                .context("the guest's Windows registry facts are missing")?;
            let path = facts::winreg::hive_path(self.fs, &w.system_root, "SYSTEM")?;
            let h = self.fs.hive(&path, false)?;
            facts::winreg::interfaces(h.as_ref(), &w.control_sets)
        })
    }

    /// A per-format tag resolved for this guest: `R4` on rpm guests, `R5` on deb guests;
    /// left whole on guests of another package format.
    pub fn resolve_rule(&self, rule: RuleTag) -> RuleTag {
        match rule {
            RuleTag::ByFormat { rpm, .. } if self.os.is_rpm() => rpm.into(),
            RuleTag::ByFormat { deb, .. } if self.os.is_deb() => deb.into(),
            r => r,
        }
    }
}

/// Every check, in report order, whatever guest it is about (`imgseal rules` lists them all).
pub fn registry() -> Vec<CheckDef> {
    let mut v = Vec::new();
    v.extend(repos::checks());
    v.extend(firewall::checks());
    v.extend(network::checks());
    v.extend(cloudinit::checks());
    v.extend(traces::checks());
    v.extend(reboot::checks());
    v.extend(boot::checks());
    v.extend(windows::checks());
    v
}

/// The checks about this guest, in report order.
pub fn for_os(os: &OsInfo) -> Vec<CheckDef> {
    registry()
        .into_iter()
        .filter(|d| d.applies.matches(os))
        .collect()
}

/// A compliance report (a contract: scripts parse it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema: u32,
    pub image: String,
    pub profile: String,
    pub os: OsInfo,
    pub compliant: bool,
    /// Rules with at least one failing check.
    pub failing_rules: Vec<String>,
    pub results: Vec<CheckResult>,
}

pub const REPORT_SCHEMA: u32 = 1;

impl Report {
    pub fn has_errors(&self) -> bool {
        self.results.iter().any(|r| r.status == Status::Error)
    }

    pub fn count(&self, s: Status) -> usize {
        self.results.iter().filter(|r| r.status == s).count()
    }
}

/// Runs every check about the guest. A check that breaks is reported as `error`, not
/// silently dropped. A guest no check is about is an error: an empty report would read as
/// compliant.
pub fn run_all(ctx: &Ctx, image: &str, profile_name: &str) -> Result<Report> {
    let defs = for_os(ctx.os);
    if defs.is_empty() {
        bail!(
            "{image}: no checks apply to this guest ({}); imgseal has checks for: {}",
            ctx.os.os_type,
            covered()
        );
    }
    let mut results = Vec::new();
    for def in defs {
        let rule = ctx.resolve_rule(def.rule).to_string();
        let t0 = std::time::Instant::now();
        let mut out = match (def.run)(ctx) {
            Ok(o) => o,
            Err(e) => Outcome {
                status: Status::Error,
                detail: format!("the check could not run: {e:#}"),
                findings: vec![],
            },
        };
        if out.status == Status::Fail {
            match ctx.profile.severity(&rule) {
                Severity::Fail => {}
                Severity::Warn => out.status = Status::Warn,
                Severity::Off => {
                    out = Outcome::skip(format!("{rule} is off in profile {}", ctx.profile.name));
                }
            }
        }
        if let Some(cat) = def.id.strip_prefix("traces-") {
            if ctx.profile.traces.exclude.iter().any(|e| e == cat) {
                out = Outcome::skip(format!("category excluded by profile {}", ctx.profile.name));
            }
        }
        results.push(CheckResult {
            id: def.id,
            rule,
            status: out.status,
            detail: out.detail,
            findings: out.findings,
            seconds: t0.elapsed().as_secs_f64(),
        });
    }
    let mut failing: Vec<String> = results
        .iter()
        .filter(|r| r.status == Status::Fail)
        .map(|r| r.rule.clone())
        .collect();
    failing.sort_by_key(|r| report_order(r));
    failing.dedup();
    Ok(Report {
        schema: REPORT_SCHEMA,
        image: image.to_string(),
        profile: profile_name.to_string(),
        os: ctx.os.clone(),
        compliant: failing.is_empty() && !results.iter().any(|r| r.status == Status::Error),
        failing_rules: failing,
        results,
    })
}

/// The guests the registry has checks for: `linux`, or `linux, linux/rpm`, ...
fn covered() -> String {
    let mut seen: Vec<String> = Vec::new();
    for d in registry() {
        let a = d.applies.to_string();
        if !seen.contains(&a) {
            seen.push(a);
        }
    }
    seen.join(", ")
}

/// Where a report's rule string sorts: by rule, an unresolved `R4/R5` first.
fn report_order(rule: &str) -> Option<RuleId> {
    rule.parse().ok()
}

/// Lists items as `a, b, c (+N more)`.
pub fn brief(items: &[String], max: usize) -> String {
    let mut s = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        s.push_str(&format!(" (+{} more)", items.len() - max));
    }
    s
}

/// The human report: a table grouped by rule, colour on a terminal, a one-line verdict.
pub fn render_text(r: &Report, color: bool, verbose: bool) -> String {
    let paint = |s: &str, st: Status| -> String {
        if !color {
            return s.to_string();
        }
        let code = match st {
            Status::Pass => "32",
            Status::Skip => "2",
            Status::Warn => "33",
            Status::Fail | Status::Error => "1;31",
        };
        format!("\x1b[{code}m{s}\x1b[0m")
    };
    let idw = r.results.iter().map(|x| x.id.len()).max().unwrap_or(0);
    let mut out = format!("{}  ({}, profile {})\n", r.image, r.os.short(), r.profile);
    let mut rules: Vec<&str> = r.results.iter().map(|x| x.rule.as_str()).collect();
    rules.sort_by_key(|x| report_order(x));
    rules.dedup();
    for rule in rules {
        let title = rule.parse::<RuleId>().map(RuleId::title).unwrap_or("");
        out.push_str(&format!("\n{rule}  {title}\n"));
        for x in r.results.iter().filter(|x| x.rule == rule) {
            out.push_str(&format!(
                "  {}  {:<idw$}  {}\n",
                paint(&format!("{:<5}", x.status.label()), x.status),
                x.id,
                x.detail
            ));
            if verbose || x.status == Status::Fail {
                // Findings the detail already spells out are not repeated.
                let extra: Vec<&String> = x
                    .findings
                    .iter()
                    .filter(|f| !x.detail.contains(f.as_str()))
                    .collect();
                let show = if verbose { extra.len() } else { 5 };
                for f in extra.iter().take(show) {
                    out.push_str(&format!("  {:<5}  {:<idw$}    {f}\n", "", ""));
                }
                if extra.len() > show {
                    out.push_str(&format!(
                        "  {:<5}  {:<idw$}    (+{} more; -v lists all)\n",
                        "",
                        "",
                        extra.len() - show
                    ));
                }
            }
        }
    }
    let verdict = if r.has_errors() {
        paint("ERROR: some checks could not run", Status::Error)
    } else if r.compliant {
        paint("COMPLIANT", Status::Pass)
    } else {
        paint(
            &format!("NOT COMPLIANT: {} fail", r.failing_rules.join(", ")),
            Status::Fail,
        )
    };
    out.push_str(&format!(
        "\n{verdict} ({} pass, {} fail, {} warn, {} skip)\n",
        r.count(Status::Pass),
        r.count(Status::Fail),
        r.count(Status::Warn),
        r.count(Status::Skip)
    ));
    out
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;
    use crate::guest::fs::MemFs;

    /// Runs every check on an in-memory guest with the built-in profile.
    pub fn report(fs: &MemFs, os: &OsInfo, vendor: Option<&Vendor>) -> Report {
        let p = crate::profile::load("jdcloud").unwrap().profile;
        let ctx = Ctx::new(
            fs,
            os,
            &p,
            vendor.ok_or_else(|| "no vendor dir".to_string()),
        );
        run_all(&ctx, "test.img", &p.name).unwrap()
    }

    pub fn result<'r>(r: &'r Report, id: &str) -> &'r CheckResult {
        r.results
            .iter()
            .find(|x| x.id == id)
            .unwrap_or_else(|| panic!("no result {id}"))
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use crate::guest::fs::MemFs;

    #[test]
    fn registry_ids_are_unique_kebab_case_and_summaries_have_no_period() {
        let reg = registry();
        let mut ids: Vec<&str> = reg.iter().map(|c| c.id.as_str()).collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate check ids");
        for c in &reg {
            assert!(
                c.id.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{}",
                c.id
            );
            assert!(
                !c.summary.ends_with('.'),
                "{}: summary ends with a period",
                c.id
            );
            assert!(!c.summary.is_empty());
            assert!(
                c.rule
                    .to_string()
                    .split('/')
                    .all(|r| r.parse::<RuleId>().is_ok()),
                "{}: unknown rule {}",
                c.id,
                c.rule
            );
        }
    }

    #[test]
    fn a_clean_centos_guest_is_compliant() {
        let fs = MemFs::new()
            .file(
                "/etc/yum.repos.d/base.repo",
                "[base]\nbaseurl=http://mirrors.example.com/centos/7/\n",
            )
            .file(
                "/etc/sysconfig/network-scripts/ifcfg-eth0",
                "DEVICE=eth0\nBOOTPROTO=dhcp\nONBOOT=yes\n",
            )
            .file(
                "/etc/cloud/cloud.cfg.d/99_imgseal.cfg",
                "datasource_list: [ NoCloud, ConfigDrive, OpenStack, None ]\n",
            )
            .file("/etc/fstab", "UUID=abc / xfs defaults 0 0\n")
            .dir("/var/lib/cloud")
            .bytes(
                "/var/lib/rpm/Packages",
                &crate::facts::rpmdb::test_packages_file(&[(
                    "cloud-init",
                    "0.7.5-20.el7.centos.1",
                )]),
            );
        let r = report(&fs, &OsInfo::linux("centos", 7, 9), None);
        let bad: Vec<_> = r
            .results
            .iter()
            .filter(|x| x.status == Status::Fail || x.status == Status::Error)
            .collect();
        assert!(bad.is_empty(), "{bad:#?}");
        assert!(r.compliant);
        assert_eq!(result(&r, "cloud-init-vendor").status, Status::Skip);
        assert_eq!(result(&r, "cloud-init-datasources").rule, "R4");
    }

    #[test]
    fn severity_downgrades_and_errors_are_reported() {
        // A Packages file cut short.
        let mut damaged = crate::facts::rpmdb::test_packages_file(&[("cloud-init", "0.7.5-1")]);
        damaged.truncate(5000);
        let fs = MemFs::new()
            .file("/etc/fstab", "/dev/sda1 / ext4 defaults 1 1\n")
            .bytes("/var/lib/rpm/Packages", &damaged);
        let mut r = report(&fs, &OsInfo::linux("centos", 6, 10), None);
        assert_eq!(result(&r, "fstab-device-names").status, Status::Warn);
        // An unreadable package database is a finding about the guest, not a broken check.
        let installed = result(&r, "cloud-init-installed");
        assert_eq!(installed.status, Status::Fail);
        assert!(
            installed.detail.contains("package database unreadable")
                && installed.detail.contains("/var/lib/rpm/Packages: ")
                && installed.detail.contains("cut short"),
            "{installed:?}"
        );
        assert!(!r.has_errors() && !r.compliant);
        // A check that could not run is reported as such.
        r.results[0].status = Status::Error;
        assert!(r.has_errors());
        let text = render_text(&r, false, false);
        assert!(text.contains("ERROR: some checks could not run"), "{text}");
    }

    #[test]
    fn a_guest_imgseal_has_no_package_operations_for_is_still_reported() {
        let fs = MemFs::new()
            .file("/etc/fstab", "/dev/sda1 / ext4 defaults 0 1\n")
            .file(
                "/var/lib/pacman/local/cloud-init-23.4.4-1/desc",
                "%NAME%\ncloud-init\n\n%VERSION%\n23.4.4-1\n",
            );
        let arch = OsInfo {
            package_format: crate::facts::PackageFormat::Pacman,
            package_management: "pacman".into(),
            ..OsInfo::linux("archlinux", 0, 0)
        };
        let r = report(&fs, &arch, None);
        assert!(!r.has_errors(), "{:#?}", r.results);
        let installed = result(&r, "cloud-init-installed");
        assert_eq!(installed.status, Status::Pass);
        assert!(installed.detail.contains("23.4.4-1"), "{installed:?}");
        let vendor = result(&r, "cloud-init-vendor");
        assert_eq!(vendor.status, Status::Fail);
        assert!(
            vendor.detail.contains("deb and rpm guests only") && vendor.detail.contains("pacman"),
            "{vendor:?}"
        );
    }

    #[test]
    fn checks_are_selected_by_the_guest_they_are_about() {
        let all = registry();
        for c in &all {
            assert!(!c.applies.families.is_empty(), "{}: no OS family", c.id);
        }
        let windows_ids: Vec<String> = all
            .iter()
            .filter(|c| c.applies == Applies::WINDOWS)
            .map(|c| c.id.clone())
            .collect();
        for os in [
            OsInfo::linux("debian", 12, 4),
            OsInfo::linux("centos", 7, 9),
        ] {
            assert_eq!(
                for_os(&os).len(),
                all.len() - windows_ids.len(),
                "a Linux guest gets every check but the Windows ones"
            );
        }
        let windows = OsInfo {
            os_type: crate::facts::OsFamily::Windows,
            distro: "windows".into(),
            ..Default::default()
        };
        let w: Vec<String> = for_os(&windows).into_iter().map(|c| c.id).collect();
        assert_eq!(w, windows_ids);
        assert_eq!(
            w,
            [
                "windows-firewall",
                "windows-mtu",
                "windows-cloudbase-init",
                "windows-pending",
                "windows-traces"
            ]
        );
        // A guest of a family no check is about is an error, not an empty (compliant) report.
        let unknown = OsInfo::default();
        let p = crate::profile::load("jdcloud").unwrap().profile;
        let fs = MemFs::new();
        let ctx = Ctx::new(&fs, &unknown, &p, Err("no vendor dir".into()));
        let e = run_all(&ctx, "x.img", &p.name).unwrap_err().to_string();
        assert_eq!(
            e,
            "x.img: no checks apply to this guest (unknown); imgseal has checks for: linux, windows"
        );
    }

    #[test]
    fn check_times_stay_out_of_the_json_contract() {
        let fs = MemFs::new().file("/etc/ufw/ufw.conf", "ENABLED=yes\n");
        let r = report(&fs, &OsInfo::linux("debian", 12, 4), None);
        assert!(r.results.iter().all(|x| x.seconds >= 0.0));
        let j = serde_json::to_value(&r).unwrap();
        for x in j["results"].as_array().unwrap() {
            let mut keys: Vec<&str> = x.as_object().unwrap().keys().map(String::as_str).collect();
            keys.retain(|k| *k != "findings");
            keys.sort();
            assert_eq!(keys, ["detail", "id", "rule", "status"], "{x}");
        }
        let back: Report = serde_json::from_value(j).unwrap();
        assert!(back.results.iter().all(|x| x.seconds == 0.0));
    }

    #[test]
    fn render_groups_by_rule_and_ends_with_a_verdict() {
        let fs = MemFs::new().file("/etc/ufw/ufw.conf", "ENABLED=yes\n");
        let r = report(&fs, &OsInfo::linux("debian", 12, 4), None);
        let t = render_text(&r, false, false);
        assert!(t.contains("\nR2  firewall off at boot\n"), "{t}");
        assert!(t.contains("FAIL   firewall-ufw"), "{t}");
        let last = t.trim_end().lines().last().unwrap();
        assert!(last.starts_with("NOT COMPLIANT: R1, R2"), "{last}");
        assert!(!t.contains('\x1b'));
        assert!(render_text(&r, true, false).contains("\x1b[1;31mFAIL"));
    }
}
