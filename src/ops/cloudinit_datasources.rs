//! R4/R5: make the datasource list in effect exactly the profile's.
//!
//! On deb guests the rule's own procedure comes first: the debconf selection and
//! `dpkg-reconfigure -f noninteractive cloud-init` (Ubuntu's package writes 90_dpkg.cfg from
//! it). Debian's package ignores that question, so the list in effect is always verified
//! (cloud.cfg, then cloud.cfg.d/*.cfg in lexical order, last wins) and a drop-in is written
//! where the package did not. rpm guests get the drop-in directly.

use super::{OpCtx, OpDef};
use crate::applies::Applies;
use crate::facts::cloudinit::{CLOUD_CFG_D, effective_datasources};
use crate::guest::fs::{GuestFs, join};
use crate::parse::cloudcfg;
use crate::rule::RuleTag;
use anyhow::{Result, bail};

pub fn def() -> OpDef {
    OpDef {
        id: "cloud-init-datasources",
        rule: RuleTag::R4_R5,
        applies: Applies::LINUX,
        default: true,
        summary: "Set cloud-init's datasource list to exactly the profile's",
        description: "deb: debconf selection and dpkg-reconfigure, then verified; a drop-in \
                      (cloud.cfg.d/99_imgseal_datasources.cfg) wherever the list in effect is still not exact.",
        order: 11,
        run,
    }
}

pub const DROPIN: &str = "99_imgseal_datasources.cfg";
pub const QUESTION: &str = "cloud-init/datasources";
const TEMPLATES: &str = "/var/lib/dpkg/info/cloud-init.templates";

/// Whether the installed package asks debconf for the datasources (Ubuntu's does; Debian's
/// does not ship a templates file at all).
fn has_debconf_question(fs: &dyn GuestFs) -> Result<bool> {
    Ok(fs.exists("/usr/bin/debconf-set-selections")?
        && fs.read_text(TEMPLATES)?.is_some_and(|t| {
            t.lines()
                .any(|l| l.trim() == format!("Template: {QUESTION}"))
        }))
}
const SELECTIONS: &str = "/var/lib/imgseal-debconf.sel";

fn exact(fs: &dyn GuestFs, want: &[String]) -> Result<Option<(Vec<String>, String)>> {
    Ok(effective_datasources(fs)?.0.filter(|(l, _)| l == want))
}

fn run(ctx: &OpCtx) -> Result<Vec<String>> {
    let fs = ctx.fs;
    let want = &ctx.profile.cloud_init.datasources;
    if let Some((_, from)) = exact(fs, want)? {
        return Ok(vec![format!(
            "[{}] already in effect ({from})",
            want.join(", ")
        )]);
    }
    if !fs.is_dir("/etc/cloud")? && !ctx.dry_run() {
        bail!(
            "/etc/cloud does not exist (is cloud-init installed?); run cloud-init-swap first or pass --skip cloud-init-datasources"
        );
    }
    let mut notes = Vec::new();
    if ctx.os.is_deb() && has_debconf_question(fs)? {
        let sel = format!(
            "cloud-init cloud-init/datasources multiselect {}\n",
            want.join(", ")
        );
        fs.write(SELECTIONS, sel.as_bytes())?;
        let r1 = fs.run(&["debconf-set-selections", SELECTIONS]);
        fs.remove(SELECTIONS)?;
        let r1 = r1?;
        if !r1.ok() {
            bail!(
                "debconf-set-selections failed in the guest: {}",
                r1.output.trim()
            );
        }
        let r2 = fs.run(&["dpkg-reconfigure", "-f", "noninteractive", "cloud-init"])?;
        if !r2.ok() {
            bail!(
                "dpkg-reconfigure cloud-init failed in the guest: {}",
                r2.output.trim()
            );
        }
        notes.push(format!(
            "debconf cloud-init/datasources = {}; dpkg-reconfigure cloud-init",
            want.join(", ")
        ));
        if let Some((_, from)) = exact(fs, want)? {
            notes.push(format!("the package wrote the list ({from})"));
            return Ok(notes);
        }
        notes.push("dpkg-reconfigure did not write the list".into());
    } else if ctx.os.is_deb() {
        // Debian's package has no such question: reconfiguring would only rerun its
        // postinst (14 s under TCG) and change nothing.
        notes.push(format!(
            "the installed cloud-init has no {QUESTION} debconf question (Debian's package)"
        ));
    }
    let cfg_d = CLOUD_CFG_D;
    if fs.is_symlink(cfg_d)? {
        bail!("{cfg_d} is a symlink; not writing through it");
    }
    fs.mkdir_p(cfg_d)?;
    let path = join(cfg_d, DROPIN);
    let rule = if ctx.os.is_rpm() { "R4" } else { "R5" };
    fs.write(
        &path,
        cloudcfg::render_datasource_dropin(want, rule).as_bytes(),
    )?;
    notes.push(format!("wrote {path}"));
    if !ctx.dry_run() {
        match effective_datasources(fs)?.0 {
            Some((l, _)) if l == *want => {
                notes.push(format!("verified: [{}] in effect", l.join(", ")))
            }
            Some((l, from)) => bail!(
                "{from} still overrides the datasource list with [{}] after {path}; remove or rename it",
                l.join(", ")
            ),
            None => bail!("the datasource list is still not in effect after writing {path}"),
        }
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::OsInfo;
    use crate::guest::fs::{CmdOut, MemFs};
    use crate::ops::testutil::run_op;

    const WANT: &str = "datasource_list: [ NoCloud, ConfigDrive, OpenStack, None ]\n";
    const TEMPLATE: &str = "Template: cloud-init/datasources\nType: multiselect\n";

    fn ok() -> CmdOut {
        CmdOut {
            status: 0,
            output: String::new(),
        }
    }

    fn list(fs: &MemFs) -> Vec<String> {
        effective_datasources(fs).unwrap().0.unwrap().0
    }

    #[test]
    fn rpm_gets_a_dropin_and_a_second_run_changes_nothing() {
        let fs = MemFs::new().file("/etc/cloud/cloud.cfg", "datasource_list: [ Ec2, None ]\n");
        let os = OsInfo::linux("centos", 7, 9);
        let r = run_op(&fs, &os, def(), None, false).unwrap();
        assert_eq!(r.status, "changed");
        let (l, from) = effective_datasources(&fs).unwrap().0.unwrap();
        assert_eq!(l, vec!["NoCloud", "ConfigDrive", "OpenStack", "None"]);
        assert_eq!(from, "/etc/cloud/cloud.cfg.d/99_imgseal_datasources.cfg:2");
        assert_eq!(
            run_op(&fs, &os, def(), None, false).unwrap().status,
            "unchanged"
        );
    }

    #[test]
    fn deb_reconfigure_that_writes_the_list_needs_no_dropin() {
        // An Ubuntu-like package: dpkg-reconfigure writes 90_dpkg.cfg from debconf.
        let fs = MemFs::new()
            .file("/etc/cloud/cloud.cfg", "users: [default]\n")
            .dir("/etc/cloud/cloud.cfg.d")
            .file(TEMPLATES, TEMPLATE)
            .file("/usr/bin/debconf-set-selections", "")
            .with_runner(|fs, argv| {
                if argv[0] == "dpkg-reconfigure" {
                    fs.write("/etc/cloud/cloud.cfg.d/90_dpkg.cfg", WANT.as_bytes())
                        .unwrap();
                }
                ok()
            });
        let r = run_op(&fs, &OsInfo::linux("ubuntu", 16, 4), def(), None, false).unwrap();
        assert!(!fs.exists(&join(CLOUD_CFG_D, DROPIN)).unwrap());
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("the package wrote the list")),
            "{:?}",
            r.notes
        );
        let cmds: Vec<String> = fs.commands.borrow().iter().map(|c| c.join(" ")).collect();
        assert_eq!(
            cmds,
            vec![
                format!("debconf-set-selections {SELECTIONS}"),
                "dpkg-reconfigure -f noninteractive cloud-init".to_string()
            ]
        );
        assert!(!fs.exists(SELECTIONS).unwrap());
    }

    #[test]
    fn reconfigure_that_does_not_write_the_list_is_followed_by_the_dropin() {
        let fs = MemFs::new()
            .file("/etc/cloud/cloud.cfg", "users: [default]\n")
            .file(TEMPLATES, TEMPLATE)
            .file("/usr/bin/debconf-set-selections", "")
            .with_runner(|_, _| ok());
        let r = run_op(&fs, &OsInfo::linux("ubuntu", 16, 4), def(), None, false).unwrap();
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("dpkg-reconfigure did not write the list")),
            "{:?}",
            r.notes
        );
        assert_eq!(fs.commands.borrow().len(), 2);
        assert_eq!(
            list(&fs),
            vec!["NoCloud", "ConfigDrive", "OpenStack", "None"]
        );
    }

    #[test]
    fn deb_package_without_the_question_gets_the_dropin_without_reconfiguring() {
        let fs = MemFs::new()
            .file("/etc/cloud/cloud.cfg", "users: [default]\n")
            .file("/etc/cloud/cloud.cfg.d/05_logging.cfg", "output: {}\n")
            .file("/usr/bin/debconf-set-selections", "")
            .with_runner(|_, _| ok());
        let r = run_op(&fs, &OsInfo::linux("debian", 12, 4), def(), None, false).unwrap();
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("no cloud-init/datasources debconf question")),
            "{:?}",
            r.notes
        );
        assert!(
            fs.commands.borrow().is_empty(),
            "{:?}",
            fs.commands.borrow()
        );
        assert_eq!(
            list(&fs),
            vec!["NoCloud", "ConfigDrive", "OpenStack", "None"]
        );
    }

    #[test]
    fn a_later_file_that_overrides_is_named() {
        let fs = MemFs::new().file(
            "/etc/cloud/cloud.cfg.d/99_zz_local.cfg",
            "datasource_list: [ Ec2 ]\n",
        );
        let e = format!(
            "{:#}",
            run_op(&fs, &OsInfo::linux("centos", 7, 9), def(), None, false).unwrap_err()
        );
        assert!(
            e.contains("/etc/cloud/cloud.cfg.d/99_zz_local.cfg:1 still overrides"),
            "{e}"
        );
    }
}
