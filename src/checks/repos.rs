//! R1: system update sources are configured (and never modified).

use super::{CheckDef, Ctx, Outcome, brief};
use crate::applies::Applies;
use crate::facts::repos;
use crate::rule::RuleId;
use anyhow::Result;

pub fn checks() -> Vec<CheckDef> {
    vec![CheckDef::new(
        "repos",
        RuleId::R1,
        Applies::LINUX,
        "Package repositories are configured, on the profile's mirror hosts if it lists any",
        Box::new(run),
    )]
}

fn run(ctx: &Ctx) -> Result<Outcome> {
    let all = repos::scan(ctx.fs)?;
    let enabled: Vec<_> = all.iter().filter(|r| r.enabled).collect();
    let findings: Vec<String> = enabled
        .iter()
        .map(|r| format!("{}:{}: {}", r.file, r.line, r.url))
        .collect();
    if enabled.is_empty() {
        return Ok(Outcome::fail(
            "no package repository is configured (/etc/yum.repos.d/*.repo, /etc/apt/sources.list, sources.list.d)",
            all.iter()
                .map(|r| format!("{}:{}: {} (disabled)", r.file, r.line, r.url))
                .collect(),
        ));
    }
    let mut hosts: Vec<String> = enabled.iter().filter_map(|r| r.host.clone()).collect();
    hosts.sort();
    hosts.dedup();
    let expected = &ctx.profile.repositories.expected_hosts;
    if !expected.is_empty() {
        let outside: Vec<String> = enabled
            .iter()
            .filter(|r| {
                r.host
                    .as_ref()
                    .is_some_and(|h| !expected.iter().any(|e| e.eq_ignore_ascii_case(h)))
            })
            .map(|r| format!("{}:{}: {}", r.file, r.line, r.url))
            .collect();
        if !outside.is_empty() {
            return Ok(Outcome::fail(
                format!(
                    "{} repositories point outside the expected hosts ({})",
                    outside.len(),
                    expected.join(", ")
                ),
                outside,
            ));
        }
    }
    Ok(Outcome {
        findings,
        ..Outcome::pass(format!(
            "{} repositories on {}",
            enabled.len(),
            brief(&hosts, 4)
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
    fn none_configured_fails_and_hosts_are_listed() {
        let r = report(&MemFs::new(), &OsInfo::linux("debian", 12, 0), None);
        assert_eq!(result(&r, "repos").status, Status::Fail);
        let fs = MemFs::new().file("/etc/apt/sources.list", "deb http://deb.debian.org/debian bookworm main\ndeb http://security.debian.org/ bookworm-security main\n");
        let r = report(&fs, &OsInfo::linux("debian", 12, 0), None);
        let x = result(&r, "repos");
        assert_eq!(x.status, Status::Pass);
        assert_eq!(
            x.detail,
            "2 repositories on deb.debian.org, security.debian.org"
        );
        assert_eq!(x.rule, "R1");
    }

    #[test]
    fn hosts_outside_a_nonempty_expected_list_fail() {
        use crate::checks::{Ctx, run_all};
        let fs = MemFs::new().file(
            "/etc/yum.repos.d/a.repo",
            "[a]\nbaseurl=http://mirrors.example.com/x\n[b]\nbaseurl=http://evil.example.org/y\n",
        );
        let mut p = crate::profile::load("jdcloud").unwrap().profile;
        p.repositories.expected_hosts = vec!["mirrors.example.com".into()];
        let os = OsInfo::linux("centos", 7, 9);
        let ctx = Ctx::new(&fs, &os, &p, Err("none".into()));
        let r = run_all(&ctx, "x", "p").unwrap();
        let x = result(&r, "repos");
        assert_eq!(x.status, Status::Fail);
        assert_eq!(
            x.findings,
            vec!["/etc/yum.repos.d/a.repo:4: http://evil.example.org/y"]
        );
    }
}
