//! R4 (CentOS) / R5 (Ubuntu, Debian): the vendor's cloud-init build with exactly the
//! profile's datasources, and no state from an earlier boot.

use super::{CheckDef, Ctx, Outcome, brief};
use crate::applies::Applies;
use crate::facts::packages;
use crate::rule::RuleTag;
use anyhow::Result;

pub fn checks() -> Vec<CheckDef> {
    vec![
        CheckDef::new(
            "cloud-init-installed",
            RuleTag::R4_R5,
            Applies::LINUX,
            "cloud-init is installed (per the package database)",
            Box::new(installed),
        ),
        CheckDef::new(
            "cloud-init-vendor",
            RuleTag::R4_R5,
            Applies::LINUX,
            "The installed cloud-init is the vendor build the vendor-packages manifest names",
            Box::new(vendor),
        ),
        CheckDef::new(
            "cloud-init-datasources",
            RuleTag::R4_R5,
            Applies::LINUX,
            "The datasource list in effect is exactly the profile's",
            Box::new(datasources),
        ),
        CheckDef::new(
            "cloud-init-state",
            RuleTag::R4_R5,
            Applies::LINUX,
            "/var/lib/cloud holds no state from an earlier boot",
            Box::new(state),
        ),
    ]
}

fn installed(ctx: &Ctx) -> Result<Outcome> {
    let c = ctx.cloud_init()?;
    if let Some(e) = &c.package_database_error {
        return Ok(Outcome::fail(
            format!("cannot tell whether cloud-init is installed: {e}"),
            vec![e.clone()],
        ));
    }
    Ok(match &c.version {
        Some(v) => Outcome::pass(format!(
            "version {v} ({})",
            packages::database(ctx.fs, ctx.os)
        )),
        None => Outcome::fail(
            format!(
                "cloud-init is not installed ({})",
                packages::database(ctx.fs, ctx.os)
            ),
            vec![],
        ),
    })
}

fn vendor(ctx: &Ctx) -> Result<Outcome> {
    if let Some(gap) = packages::vendor_gap(ctx.os) {
        return Ok(Outcome::fail(
            format!("no vendor-package operation for this guest: {gap}"),
            vec![gap],
        ));
    }
    let vendor = match &ctx.vendor {
        Ok(v) => *v,
        Err(why) => return Ok(Outcome::skip(format!("no vendor-packages manifest: {why}"))),
    };
    let Some(pkg) = vendor.find("cloud-init", ctx.os) else {
        return Ok(Outcome::skip(format!(
            "{} names no cloud-init package for {}",
            vendor.manifest_path().display(),
            ctx.os.short()
        )));
    };
    let want = pkg.expected_version().unwrap_or_else(|| pkg.file.clone());
    let c = ctx.cloud_init()?;
    if let Some(e) = &c.package_database_error {
        return Ok(Outcome::fail(
            format!("the vendor build is {want} ({}); {e}", pkg.file),
            vec![e.clone()],
        ));
    }
    Ok(match &c.version {
        Some(v) if *v == want => Outcome::pass(format!("{v}, the vendor build ({})", pkg.file)),
        Some(v) => Outcome::fail(
            format!("installed {v}; the vendor build is {want} ({})", pkg.file),
            vec![],
        ),
        None => Outcome::fail(
            format!("not installed; the vendor build is {want} ({})", pkg.file),
            vec![],
        ),
    })
}

fn datasources(ctx: &Ctx) -> Result<Outcome> {
    let c = ctx.cloud_init()?;
    let want = &ctx.profile.cloud_init.datasources;
    if !c.installed && c.config_files.is_empty() {
        return Ok(Outcome::skip("cloud-init is not installed"));
    }
    let mut findings = c.config_errors.clone();
    Ok(match (&c.datasources, &c.datasources_from) {
        (Some(l), Some(from)) if l == want && findings.is_empty() => {
            Outcome::pass(format!("[{}] ({from})", l.join(", ")))
        }
        (Some(l), Some(from)) => {
            findings.insert(0, format!("{from}: datasource_list: [{}]", l.join(", ")));
            Outcome::fail(
                format!(
                    "[{}] in effect ({from}); the profile requires [{}]",
                    l.join(", "),
                    want.join(", ")
                ),
                findings,
            )
        }
        _ => Outcome::fail(
            format!(
                "no datasource_list set in {}; cloud-init would probe every datasource; the profile requires [{}]",
                if c.config_files.is_empty() {
                    "/etc/cloud".to_string()
                } else {
                    brief(&c.config_files, 3)
                },
                want.join(", ")
            ),
            findings,
        ),
    })
}

fn state(ctx: &Ctx) -> Result<Outcome> {
    let c = ctx.cloud_init()?;
    Ok(if c.state_entries.is_empty() {
        Outcome::pass("empty")
    } else {
        Outcome::fail(
            format!("state from an earlier boot: {}", brief(&c.state_entries, 4)),
            c.state_entries.clone(),
        )
    })
}

#[cfg(test)]
mod tests {
    use crate::checks::Status;
    use crate::checks::testutil::*;
    use crate::facts::OsInfo;
    use crate::guest::fs::MemFs;
    use crate::vendor::Vendor;

    fn vendor_dir() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("vendor.toml"),
            "schema = 1\n[[package]]\nrole = \"cloud-init\"\ndistro = \"ubuntu\"\nversions = [\"16.04\"]\nfile = \"cloud-init_17.2-35-gf576b2a2-0ubuntu1_16.04.2-jd_all.deb\"\nurl = \"http://storage.jd.com/product-design/cloud-init_17.2-35-gf576b2a2-0ubuntu1_16.04.2-jd_all.deb\"\nsha256 = \"\"\n",
        )
        .unwrap();
        d
    }

    fn ubuntu(version: &str, ds: &str) -> MemFs {
        MemFs::new()
            .file(
                "/var/lib/dpkg/status",
                &format!("Package: cloud-init\nStatus: install ok installed\nVersion: {version}\n"),
            )
            .file("/etc/cloud/cloud.cfg", "users: [default]\n")
            .file(
                "/etc/cloud/cloud.cfg.d/90_dpkg.cfg",
                &format!("datasource_list: [ {ds} ]\n"),
            )
    }

    #[test]
    fn distribution_build_with_wrong_datasources_fails_r5() {
        let d = vendor_dir();
        let v = Vendor::load(d.path()).unwrap();
        let fs = ubuntu(
            "0.7.9-0ubuntu1~16.04.2",
            "NoCloud, ConfigDrive, OpenStack, Ec2, MAAS, None",
        )
        .dir("/var/lib/cloud/instances/i-1");
        let r = report(&fs, &OsInfo::linux("ubuntu", 16, 4), Some(&v));
        let x = result(&r, "cloud-init-vendor");
        assert_eq!((x.status, x.rule.as_str()), (Status::Fail, "R5"));
        assert_eq!(
            x.detail,
            "installed 0.7.9-0ubuntu1~16.04.2; the vendor build is 17.2-35-gf576b2a2-0ubuntu1~16.04.2-jd (cloud-init_17.2-35-gf576b2a2-0ubuntu1_16.04.2-jd_all.deb)"
        );
        let ds = result(&r, "cloud-init-datasources");
        assert_eq!(ds.status, Status::Fail);
        assert!(
            ds.detail.contains("/etc/cloud/cloud.cfg.d/90_dpkg.cfg:1"),
            "{}",
            ds.detail
        );
        assert_eq!(result(&r, "cloud-init-state").status, Status::Fail);
        assert_eq!(result(&r, "cloud-init-installed").status, Status::Pass);
    }

    #[test]
    fn vendor_build_with_exact_datasources_passes() {
        let d = vendor_dir();
        let v = Vendor::load(d.path()).unwrap();
        let fs = ubuntu(
            "17.2-35-gf576b2a2-0ubuntu1~16.04.2-jd",
            "NoCloud, ConfigDrive, OpenStack, None",
        );
        let r = report(&fs, &OsInfo::linux("ubuntu", 16, 4), Some(&v));
        for id in [
            "cloud-init-installed",
            "cloud-init-vendor",
            "cloud-init-datasources",
            "cloud-init-state",
        ] {
            assert_eq!(
                result(&r, id).status,
                Status::Pass,
                "{id}: {}",
                result(&r, id).detail
            );
        }
        // Same list in another order is not "exactly".
        let fs = ubuntu(
            "17.2-35-gf576b2a2-0ubuntu1~16.04.2-jd",
            "ConfigDrive, NoCloud, OpenStack, None",
        );
        let r = report(&fs, &OsInfo::linux("ubuntu", 16, 4), Some(&v));
        assert_eq!(result(&r, "cloud-init-datasources").status, Status::Fail);
    }

    #[test]
    fn no_vendor_package_for_this_os_is_a_skip_naming_the_manifest() {
        let d = vendor_dir();
        let v = Vendor::load(d.path()).unwrap();
        let r = report(
            &ubuntu("22.4.2-1", "None"),
            &OsInfo::linux("debian", 12, 4),
            Some(&v),
        );
        let x = result(&r, "cloud-init-vendor");
        assert_eq!(x.status, Status::Skip);
        assert!(
            x.detail
                .contains("vendor.toml names no cloud-init package for debian 12.4"),
            "{}",
            x.detail
        );
    }
}
