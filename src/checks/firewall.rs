//! R2: no firewall starts at boot.

use super::{CheckDef, Ctx, Outcome};
use crate::applies::Applies;
use crate::facts::firewall::FIREWALLS;
use crate::rule::RuleId;
use anyhow::Result;

pub fn checks() -> Vec<CheckDef> {
    FIREWALLS
        .iter()
        .enumerate()
        .map(|(i, def)| {
            CheckDef::new(
                format!("firewall-{}", def.name),
                RuleId::R2,
                Applies::LINUX,
                format!("{} does not start at boot", def.name),
                Box::new(move |ctx: &Ctx| run(ctx, i)),
            )
        })
        .collect()
}

fn run(ctx: &Ctx, i: usize) -> Result<Outcome> {
    let s = &ctx.firewall()?[i];
    if s.starts_at_boot {
        return Ok(Outcome::fail(
            format!("{} starts at boot: {}", s.name, s.evidence.join("; ")),
            s.evidence.clone(),
        ));
    }
    Ok(if !s.installed {
        Outcome::pass("not installed")
    } else if s.masked {
        Outcome::pass("installed, masked")
    } else {
        Outcome::pass(format!(
            "installed, off at boot{}",
            if s.evidence.is_empty() {
                String::new()
            } else {
                format!(" ({})", s.evidence.join("; "))
            }
        ))
    })
}

#[cfg(test)]
mod tests {
    use crate::checks::Status;
    use crate::checks::testutil::*;
    use crate::facts::OsInfo;
    use crate::guest::fs::MemFs;

    #[test]
    fn one_result_per_firewall() {
        let fs = MemFs::new()
            .file("/usr/lib/systemd/system/firewalld.service", "")
            .link(
                "/etc/systemd/system/multi-user.target.wants/firewalld.service",
                "/usr/lib/systemd/system/firewalld.service",
            );
        let r = report(&fs, &OsInfo::linux("centos", 7, 9), None);
        let f = result(&r, "firewall-firewalld");
        assert_eq!((f.status, f.rule.as_str()), (Status::Fail, "R2"));
        assert!(
            f.detail
                .contains("/etc/systemd/system/multi-user.target.wants/firewalld.service")
        );
        assert_eq!(result(&r, "firewall-ufw").detail, "not installed");
        assert_eq!(result(&r, "firewall-iptables").status, Status::Pass);
    }
}
