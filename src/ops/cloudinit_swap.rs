//! R4 (CentOS) / R5 (Ubuntu, Debian): replace the distribution's cloud-init with the
//! vendor's build, with the guest's own package tools inside the appliance, as the rules
//! spell it out: `rpm -e`, empty /etc/cloud and /var/lib/cloud, `rpm -ivh`; or purge, empty
//! /var/lib/cloud, `dpkg -i` (after `apt-get install -f` when dependencies are missing and
//! the appliance has a network). The installed version is verified from the package database.

use super::{OpCtx, OpDef};
use crate::applies::Applies;
use crate::facts::cloudinit::STATE_DIR;
use crate::facts::packages;
use crate::guest::fs::{GuestFs, join};
use crate::rule::RuleTag;
use crate::vendor::Package;
use anyhow::{Context, Result, bail};

pub fn def() -> OpDef {
    OpDef {
        id: "cloud-init-swap",
        rule: RuleTag::R4_R5,
        applies: Applies::LINUX,
        default: true,
        summary: "Replace the distribution's cloud-init with the vendor's build from vendor-packages",
        description: "Removes the distribution's package with the guest's own rpm/dpkg, empties /etc/cloud (rpm) \
                      and /var/lib/cloud, installs the vendor package (sha256 verified first), and checks the \
                      installed version in the package database. Nothing happens when the vendor build is \
                      already installed.",
        order: 10,
        run,
    }
}

/// Where the vendor package is staged in the guest while it is installed.
pub const STAGING: &str = "/var/lib/imgseal-vendor";
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

fn run(ctx: &OpCtx) -> Result<Vec<String>> {
    if let Some(gap) = packages::vendor_gap(ctx.os) {
        bail!("{gap}; pass --skip cloud-init-swap to convert without it");
    }
    let vendor = match &ctx.vendor {
        Ok(v) => *v,
        Err(why) => bail!(
            "no vendor-packages manifest ({why}); pass --vendor-dir, or --skip cloud-init-swap"
        ),
    };
    let Some(pkg) = vendor.find("cloud-init", ctx.os) else {
        bail!(
            "{} names no cloud-init package for {} ({} {}); add one, or pass --skip cloud-init-swap",
            vendor.manifest_path().display(),
            ctx.os.short(),
            ctx.os.package_format,
            ctx.os.product_name
        );
    };
    let want = pkg.expected_version().with_context(|| {
        format!(
            "cannot tell the version of {} from its name; set `version` in the manifest",
            pkg.file
        )
    })?;
    // The vendor package is used only once its sha256 matches the pin.
    let (host_file, digest) = vendor.verified_file(pkg, ctx.opts.allow_unpinned)?;
    let fs = ctx.fs;
    let installed = packages::installed_version(fs, ctx.os, "cloud-init")?;
    if installed.as_deref() == Some(want.as_str()) {
        return Ok(vec![format!("vendor build {want} already installed")]);
    }
    let expected_kind = if ctx.os.is_rpm() {
        "rpm"
    } else if ctx.os.is_deb() {
        "deb"
    } else {
        "?"
    };
    if pkg.kind() != expected_kind {
        bail!(
            "{} is a {} package but {} uses {}",
            pkg.file,
            pkg.kind(),
            ctx.os.short(),
            ctx.os.package_format
        );
    }
    let mut notes = vec![format!("vendor package {} (sha256 {digest})", pkg.file)];
    check_space(fs, &host_file)?;
    let staged = join(STAGING, &pkg.file);
    if ctx.os.is_rpm() {
        swap_rpm(ctx, installed.as_deref(), &host_file, &staged, &mut notes)?;
    } else {
        swap_deb(
            ctx,
            installed.as_deref(),
            pkg,
            &host_file,
            &staged,
            &mut notes,
        )?;
    }
    if !ctx.dry_run() {
        let now = packages::installed_version(fs, ctx.os, "cloud-init")?;
        if now.as_deref() != Some(want.as_str()) {
            bail!(
                "after installing {}, the package database reports cloud-init {} instead of {want}",
                pkg.file,
                now.as_deref().unwrap_or("not installed")
            );
        }
        notes.push(format!(
            "installed cloud-init {want} (verified in {})",
            packages::database(ctx.fs, ctx.os)
        ));
    }
    Ok(notes)
}

/// Refuses early when the guest has no room for the package (the install needs several
/// times its size: the staged file, the unpacked files, the package database).
fn check_space(fs: &dyn GuestFs, host_file: &std::path::Path) -> Result<()> {
    let size = std::fs::metadata(host_file)?.len();
    let need = size.saturating_mul(4) + (16 << 20);
    if let Some(avail) = fs.available("/")? {
        if avail < need {
            bail!(
                "the guest's root filesystem has {} free; installing {} needs about {}; grow the filesystem first",
                crate::ui::human_bytes(avail),
                host_file.file_name().unwrap_or_default().to_string_lossy(),
                crate::ui::human_bytes(need)
            );
        }
    }
    Ok(())
}

fn must(fs: &dyn GuestFs, argv: &[&str]) -> Result<String> {
    let out = fs.run(argv)?;
    if !out.ok() {
        bail!(
            "`{}` failed in the guest (exit {}): {}",
            argv.join(" "),
            out.status,
            tail(&out.output)
        );
    }
    Ok(out.output)
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.trim().lines().collect();
    lines[lines.len().saturating_sub(8)..].join(" | ")
}

/// A link at `dir` becomes an empty directory; the link's target is left alone (never
/// followed). Returns the target it pointed to, or None when `dir` was not a link.
fn link_to_dir(fs: &dyn GuestFs, dir: &str) -> Result<Option<String>> {
    if !fs.is_symlink(dir)? {
        return Ok(None);
    }
    let target = fs.readlink(dir)?;
    fs.remove(dir)?;
    fs.mkdir_p(dir)?;
    Ok(Some(target))
}

/// Empties a directory the rules say to empty. A symlink in its place is replaced by a
/// real directory (the link is removed, never followed).
fn empty_dir(fs: &dyn GuestFs, dir: &str) -> Result<bool> {
    if link_to_dir(fs, dir)?.is_some() {
        return Ok(true);
    }
    let mut changed = false;
    for name in fs.list(dir)? {
        fs.remove_tree(&join(dir, &name))?;
        changed = true;
    }
    Ok(changed)
}

fn stage(fs: &dyn GuestFs, host_file: &std::path::Path, staged: &str) -> Result<()> {
    link_to_dir(fs, STAGING)?;
    fs.mkdir_p(STAGING)?;
    fs.upload(host_file, staged)
}

fn unstage(fs: &dyn GuestFs) -> Result<()> {
    if fs.lstat(STAGING)?.is_some() {
        fs.remove_tree(STAGING)?;
    }
    Ok(())
}

fn swap_rpm(
    ctx: &OpCtx,
    installed: Option<&str>,
    host_file: &std::path::Path,
    staged: &str,
    notes: &mut Vec<String>,
) -> Result<()> {
    let fs = ctx.fs;
    if let Some(v) = installed {
        must(fs, &["rpm", "-e", "cloud-init"])?;
        notes.push(format!("removed cloud-init {v} (rpm -e)"));
    }
    for d in ["/etc/cloud", STATE_DIR] {
        if empty_dir(fs, d)? {
            notes.push(format!("emptied {d}"));
        }
    }
    stage(fs, host_file, staged)?;
    let r = must(fs, &["rpm", "-ivh", staged]);
    unstage(fs)?;
    r.context("installing the vendor rpm")?;
    Ok(())
}

fn swap_deb(
    ctx: &OpCtx,
    installed: Option<&str>,
    pkg: &Package,
    host_file: &std::path::Path,
    staged: &str,
    notes: &mut Vec<String>,
) -> Result<()> {
    let fs = ctx.fs;
    // Maintainer scripts must not start services inside the appliance.
    let own_policy = fs.lstat(POLICY_RC_D)?.is_none();
    if own_policy {
        fs.write(
            POLICY_RC_D,
            b"#!/bin/sh\n# imgseal: no service starts while packages change offline\nexit 101\n",
        )?;
        fs.chmod(0o755, POLICY_RC_D)?;
    }
    let r = swap_deb_inner(ctx, installed, pkg, host_file, staged, notes);
    let cleanup = unstage(fs).and_then(|_| {
        if own_policy {
            fs.remove(POLICY_RC_D)
        } else {
            Ok(())
        }
    });
    r?;
    cleanup
}

fn swap_deb_inner(
    ctx: &OpCtx,
    installed: Option<&str>,
    pkg: &Package,
    host_file: &std::path::Path,
    staged: &str,
    notes: &mut Vec<String>,
) -> Result<()> {
    let fs = ctx.fs;
    if let Some(v) = installed {
        must(fs, &["dpkg", "--purge", "cloud-init"])?;
        notes.push(format!("purged cloud-init {v} (dpkg --purge)"));
    }
    // dpkg removes an /etc/cloud link with the package's files, but keeps it while files it
    // does not own remain behind it. The vendor package and the datasource drop-in then
    // belong in a real directory, not wherever the link points: the link goes, its target
    // and the files there stay.
    if let Some(target) = link_to_dir(fs, "/etc/cloud")? {
        notes.push(format!(
            "replaced the /etc/cloud link (to {target}) with a directory; {target} is left as it was"
        ));
    }
    if empty_dir(fs, STATE_DIR)? {
        notes.push(format!("emptied {STATE_DIR}"));
    }
    stage(fs, host_file, staged)?;
    let first = fs.run(&["dpkg", "-i", staged])?;
    if first.ok() {
        return Ok(());
    }
    let missing = missing_dependencies(&first.output);
    if !ctx.opts.network {
        if missing.is_empty() {
            bail!(
                "`dpkg -i {}` failed in the guest (exit {}): {}",
                pkg.file,
                first.status,
                tail(&first.output)
            );
        }
        bail!(
            "{} needs packages the guest does not have: {}; without a network `apt-get install -f` cannot fetch them \
             (pass --network to let the appliance download them, or add them to the image first)",
            pkg.file,
            missing.join(", ")
        );
    }
    notes.push(format!(
        "dpkg -i left dependencies unmet ({}); running apt-get install -f",
        missing.join(", ")
    ));
    with_resolver(fs, || {
        must(fs, &["apt-get", "install", "-f", "-y", "-q"]).map(drop)
    })?;
    must(fs, &["dpkg", "-i", staged])?;
    Ok(())
}

/// Package names from dpkg's "depends on X; however: Package X is not installed." lines.
pub fn missing_dependencies(dpkg_output: &str) -> Vec<String> {
    let mut v: Vec<String> = dpkg_output
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("Package ")
                .and_then(|r| r.strip_suffix(" is not installed."))
        })
        .map(|s| s.trim().to_string())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The appliance's user-mode network answers DNS at 10.0.2.3; the guest's resolv.conf (often
/// a link into /run) does not. It is swapped in for the call and restored after.
fn with_resolver(fs: &dyn GuestFs, f: impl FnOnce() -> Result<()>) -> Result<()> {
    const RESOLV: &str = "/etc/resolv.conf";
    let saved_link = if fs.is_symlink(RESOLV)? {
        Some(fs.readlink(RESOLV)?)
    } else {
        None
    };
    let saved_text = if saved_link.is_none() {
        fs.read_text(RESOLV)?
    } else {
        None
    };
    if saved_link.is_some() {
        fs.remove(RESOLV)?;
    }
    fs.write(RESOLV, b"nameserver 10.0.2.3\n")?;
    let r = f();
    fs.remove(RESOLV)?;
    match (saved_link, saved_text) {
        (Some(t), _) => fs.symlink(&t, RESOLV)?,
        (None, Some(t)) => fs.write(RESOLV, t.as_bytes())?,
        (None, None) => {}
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::OsInfo;
    use crate::guest::fs::{CmdOut, MemFs};
    use crate::ops::testutil::run_op;
    use crate::vendor::Vendor;
    use std::cell::RefCell;
    use std::rc::Rc;

    fn vendor_with(file: &str, distro: &str, versions: &str) -> (tempfile::TempDir, Vendor) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(file), b"package bytes").unwrap();
        let sha = crate::digest::sha256_bytes(b"package bytes");
        std::fs::write(
            d.path().join("vendor.toml"),
            format!("schema = 1\n[[package]]\nrole = \"cloud-init\"\ndistro = \"{distro}\"\nversions = [{versions}]\nfile = \"{file}\"\nurl = \"http://x/{file}\"\nsha256 = \"{sha}\"\n"),
        )
        .unwrap();
        let v = Vendor::load(d.path()).unwrap();
        (d, v)
    }

    /// A fake rpm: `-q` answers from `installed`, `-e` clears it, `-ivh` sets the vendor version.
    fn rpm_guest(installed: Option<&str>) -> (MemFs, Rc<RefCell<Option<String>>>) {
        rpm_guest_on(
            MemFs::new()
                .file("/etc/cloud/cloud.cfg", "datasource_list: [ Ec2 ]\n")
                .file("/var/lib/cloud/instance/x", ""),
            installed,
        )
    }

    /// An rpm guest whose database (a Berkeley DB `Packages` file, read by imgseal) holds
    /// cloud-init `installed`; the guest's `rpm -e` and `rpm -ivh` rewrite it.
    fn rpm_guest_on(base: MemFs, installed: Option<&str>) -> (MemFs, Rc<RefCell<Option<String>>>) {
        let db = |v: Option<&str>| {
            let mut pkgs = vec![("bash", "4.2.46-34.el7")];
            pkgs.extend(v.map(|v| ("cloud-init", v)));
            crate::facts::rpmdb::test_packages_file(&pkgs)
        };
        let base = base.bytes("/var/lib/rpm/Packages", &db(installed));
        let state = Rc::new(RefCell::new(installed.map(str::to_string)));
        let s = state.clone();
        let fs = base.with_runner(move |fs, argv| match argv[1] {
            "-e" => {
                *s.borrow_mut() = None;
                fs.write("/var/lib/rpm/Packages", &db(None)).unwrap();
                CmdOut {
                    status: 0,
                    output: String::new(),
                }
            }
            "-ivh" => {
                *s.borrow_mut() = Some("0.7.5-20.el7.centos.1".into());
                fs.write("/var/lib/rpm/Packages", &db(Some("0.7.5-20.el7.centos.1")))
                    .unwrap();
                CmdOut {
                    status: 0,
                    output: "Preparing...\n".into(),
                }
            }
            _ => CmdOut {
                status: 127,
                output: String::new(),
            },
        });
        (fs, state)
    }

    #[test]
    fn rpm_swap_follows_r4_and_verifies_the_version() {
        let (_d, v) = vendor_with(
            "cloud-init-0.7.5-20.el7.centos.1.x86_64.rpm",
            "centos",
            "\"7\"",
        );
        let (fs, state) = rpm_guest(Some("0.7.9-24.el7.centos"));
        let os = OsInfo::linux("centos", 7, 9);
        let r = run_op(&fs, &os, def(), Some(&v), false).unwrap();
        let cmds: Vec<String> = fs.commands.borrow().iter().map(|c| c.join(" ")).collect();
        let pos = |s: &str| {
            cmds.iter()
                .position(|c| c.starts_with(s))
                .unwrap_or_else(|| panic!("{s} not run: {cmds:?}"))
        };
        assert!(
            pos("rpm -e cloud-init") < pos("rpm -ivh /var/lib/imgseal-vendor/cloud-init-0.7.5")
        );
        assert!(
            !fs.exists("/etc/cloud/cloud.cfg").unwrap(),
            "/etc/cloud emptied"
        );
        assert!(
            fs.list("/var/lib/cloud").unwrap().is_empty(),
            "/var/lib/cloud emptied"
        );
        assert!(!fs.exists(STAGING).unwrap(), "staged package removed");
        assert_eq!(state.borrow().as_deref(), Some("0.7.5-20.el7.centos.1"));
        assert!(
            r.notes.iter().any(|n| n.contains("verified")),
            "{:?}",
            r.notes
        );
        // Idempotent: the vendor build is there, nothing runs (the database is read).
        fs.commands.borrow_mut().clear();
        let again = run_op(&fs, &os, def(), Some(&v), false).unwrap();
        assert_eq!(again.status, "unchanged");
        assert!(
            fs.commands.borrow().is_empty(),
            "{:?}",
            fs.commands.borrow()
        );
    }

    #[test]
    fn a_wrong_version_after_install_is_an_error() {
        let (_d, v) = vendor_with(
            "cloud-init-0.7.5-20.el7.centos.1.x86_64.rpm",
            "centos",
            "\"7\"",
        );
        // The guest's rpm says it worked, but its database still holds the old build.
        let fs = MemFs::new()
            .bytes(
                "/var/lib/rpm/Packages",
                &crate::facts::rpmdb::test_packages_file(&[("cloud-init", "0.7.9-24.el7.centos")]),
            )
            .with_runner(|_, _| CmdOut {
                status: 0,
                output: String::new(),
            });
        let e = run_op(&fs, &OsInfo::linux("centos", 7, 9), def(), Some(&v), false).unwrap_err();
        assert!(
            format!("{e:#}").contains(
                "reports cloud-init 0.7.9-24.el7.centos instead of 0.7.5-20.el7.centos.1"
            ),
            "{e:#}"
        );
    }

    #[test]
    fn no_vendor_package_for_the_os_names_os_manifest_and_skip() {
        let (_d, v) = vendor_with(
            "cloud-init-0.7.5-20.el7.centos.1.x86_64.rpm",
            "centos",
            "\"7\"",
        );
        let e = format!(
            "{:#}",
            run_op(
                &MemFs::new(),
                &OsInfo::linux("debian", 12, 4),
                def(),
                Some(&v),
                false
            )
            .unwrap_err()
        );
        assert!(
            e.contains("names no cloud-init package for debian 12.4") && e.contains("vendor.toml"),
            "{e}"
        );
        assert!(e.contains("--skip cloud-init-swap"), "{e}");
    }

    #[test]
    fn tampered_package_is_refused_before_anything_runs() {
        let (d, v) = vendor_with(
            "cloud-init-0.7.5-20.el7.centos.1.x86_64.rpm",
            "centos",
            "\"7\"",
        );
        std::fs::write(
            d.path().join("cloud-init-0.7.5-20.el7.centos.1.x86_64.rpm"),
            b"tampered",
        )
        .unwrap();
        let (fs, _) = rpm_guest(Some("0.7.9-24.el7.centos"));
        let e = format!(
            "{:#}",
            run_op(&fs, &OsInfo::linux("centos", 7, 9), def(), Some(&v), false).unwrap_err()
        );
        assert!(e.contains("not the vendor's package"), "{e}");
        assert!(
            fs.commands.borrow().is_empty(),
            "ran {:?}",
            fs.commands.borrow()
        );
    }

    #[test]
    fn deb_without_network_lists_missing_dependencies() {
        let (_d, v) = vendor_with(
            "cloud-init_17.2-35-gf576b2a2-0ubuntu1_16.04.2-jd_all.deb",
            "ubuntu",
            "\"16.04\"",
        );
        let fs = MemFs::new()
            .file("/var/lib/dpkg/status", "Package: cloud-init\nStatus: install ok installed\nVersion: 0.7.9-0ubuntu1~16.04.2\n")
            .dir("/usr/sbin")
            .with_runner(|_, argv| match (argv[0], argv[1]) {
                ("dpkg", "-i") => CmdOut {
                    status: 1,
                    output: "dpkg: dependency problems prevent configuration of cloud-init:\n cloud-init depends on python3-jsonpatch; however:\n  Package python3-jsonpatch is not installed.\n cloud-init depends on python3-oauthlib; however:\n  Package python3-oauthlib is not installed.\n".into(),
                },
                _ => CmdOut { status: 0, output: String::new() },
            });
        let e = format!(
            "{:#}",
            run_op(&fs, &OsInfo::linux("ubuntu", 16, 4), def(), Some(&v), false).unwrap_err()
        );
        assert!(
            e.contains("python3-jsonpatch, python3-oauthlib") && e.contains("--network"),
            "{e}"
        );
        assert!(
            !fs.exists(POLICY_RC_D).unwrap(),
            "policy-rc.d removed on failure"
        );
        assert!(!fs.exists(STAGING).unwrap());
    }

    #[test]
    fn dry_run_plans_without_running_or_writing() {
        let (_d, v) = vendor_with(
            "cloud-init-0.7.5-20.el7.centos.1.x86_64.rpm",
            "centos",
            "\"7\"",
        );
        let (fs, state) = rpm_guest(Some("0.7.9-24.el7.centos"));
        let before = fs.snapshot();
        let r = run_op(&fs, &OsInfo::linux("centos", 7, 9), def(), Some(&v), true).unwrap();
        assert_eq!(r.status, "planned");
        assert!(
            r.changes
                .iter()
                .any(|c| c.action == "run" && c.target == "rpm -e cloud-init")
        );
        assert!(r.changes.iter().any(|c| c.action == "upload"));
        assert_eq!(fs.snapshot(), before);
        assert_eq!(state.borrow().as_deref(), Some("0.7.9-24.el7.centos"));
    }

    #[test]
    fn deb_etc_cloud_link_left_by_the_purge_becomes_a_directory() {
        let (_d, v) = vendor_with(
            "cloud-init_17.2-35-gf576b2a2-0ubuntu1_16.04.2-jd_all.deb",
            "ubuntu",
            "\"16.04\"",
        );
        const OLD: &str =
            "Package: cloud-init\nStatus: install ok installed\nVersion: 0.7.9-0ubuntu1~16.04.2\n";
        let fs = MemFs::new()
            .file("/var/lib/dpkg/status", OLD)
            .dir("/usr/sbin")
            // A file dpkg does not own keeps the link through the purge.
            .file("/etc/cloud.real/cloud.cfg.d/50_local.cfg", "datasource_list: [ Ec2 ]\n")
            .link("/etc/cloud", "/etc/cloud.real")
            .with_runner(|fs, argv| {
                if argv[..2] == ["dpkg", "-i"] {
                    assert!(fs.is_dir("/etc/cloud").unwrap(), "installed through the link");
                    fs.write(
                        "/var/lib/dpkg/status",
                        b"Package: cloud-init\nStatus: install ok installed\nVersion: 17.2-35-gf576b2a2-0ubuntu1~16.04.2-jd\n",
                    )
                    .unwrap();
                }
                CmdOut {
                    status: 0,
                    output: String::new(),
                }
            });
        let r = run_op(&fs, &OsInfo::linux("ubuntu", 16, 4), def(), Some(&v), false).unwrap();
        assert!(fs.is_dir("/etc/cloud").unwrap());
        assert_eq!(
            fs.text("/etc/cloud.real/cloud.cfg.d/50_local.cfg").unwrap(),
            "datasource_list: [ Ec2 ]\n",
            "the link's target is left alone"
        );
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("replaced the /etc/cloud link (to /etc/cloud.real)")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn etc_cloud_symlink_is_replaced_not_followed() {
        let (_d, v) = vendor_with(
            "cloud-init-0.7.5-20.el7.centos.1.x86_64.rpm",
            "centos",
            "\"7\"",
        );
        let (fs, _) = rpm_guest_on(
            MemFs::new()
                .file("/etc/important", "keep")
                .link("/etc/cloud", "/etc"),
            None,
        );
        run_op(&fs, &OsInfo::linux("centos", 7, 9), def(), Some(&v), false).unwrap();
        assert_eq!(fs.text("/etc/important").unwrap(), "keep");
        assert!(fs.is_dir("/etc/cloud").unwrap());
    }
}
