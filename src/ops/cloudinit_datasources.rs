//! R4/R5: make the datasource list in effect exactly the profile's.
//!
//! On deb guests the rule's own procedure comes first: the debconf selection and
//! `dpkg-reconfigure -f noninteractive cloud-init` (Ubuntu's package writes 90_dpkg.cfg from
//! it). Debian's package ignores that question, so the list in effect is always verified
//! (cloud.cfg, then cloud.cfg.d/*.cfg in lexical order, last wins) and a drop-in is written
//! where the package did not. rpm guests get the drop-in directly.

use super::{OpCtx, OpDef};
use crate::facts::cloudinit::{CLOUD_CFG_D, effective_datasources};
use crate::guest::fs::{GuestFs, join};
use crate::parse::cloudcfg;
use anyhow::{Result, bail};

pub fn def() -> OpDef {
    OpDef {
        id: "cloud-init-datasources",
        rule: "R4/R5",
        default: true,
        summary: "Set cloud-init's datasource list to exactly the profile's",
        description: "deb: debconf selection and dpkg-reconfigure, then verified; a drop-in \
                      (cloud.cfg.d/99_imgseal_datasources.cfg) wherever the list in effect is still not exact.",
        order: 11,
        run,
    }
}

pub const DROPIN: &str = "99_imgseal_datasources.cfg";
const SELECTIONS: &str = "/var/lib/imgseal-debconf.sel";

fn exact(fs: &dyn GuestFs, want: &[String]) -> Result<Option<(Vec<String>, String)>> {
    Ok(effective_datasources(fs)?.0.filter(|(l, _)| l == want))
}

fn run(ctx: &OpCtx) -> Result<Vec<String>> {
    if !ctx.os.is_linux() {
        return Ok(vec!["not a Linux guest".into()]);
    }
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
    if ctx.os.is_deb() && fs.exists("/usr/bin/debconf-set-selections")? {
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
        notes.push(
            "the package did not write the list (Debian's ignores the debconf question)".into(),
        );
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
            .file("/usr/bin/debconf-set-selections", "")
            .dir("/var/lib")
            .with_runner(|fs, argv| {
                if argv[0] == "dpkg-reconfigure" {
                    fs.write("/etc/cloud/cloud.cfg.d/90_dpkg.cfg", WANT.as_bytes())
                        .unwrap();
                }
                CmdOut {
                    status: 0,
                    output: String::new(),
                }
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
    fn deb_package_that_ignores_debconf_gets_the_dropin() {
        let fs = MemFs::new()
            .file("/etc/cloud/cloud.cfg", "users: [default]\n")
            .file("/etc/cloud/cloud.cfg.d/05_logging.cfg", "output: {}\n")
            .file("/usr/bin/debconf-set-selections", "")
            .dir("/var/lib")
            .with_runner(|_, _| CmdOut {
                status: 0,
                output: String::new(),
            });
        let r = run_op(&fs, &OsInfo::linux("debian", 12, 4), def(), None, false).unwrap();
        assert!(
            r.notes.iter().any(|n| n.contains("did not write")),
            "{:?}",
            r.notes
        );
        assert_eq!(
            effective_datasources(&fs).unwrap().0.unwrap().0,
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
