//! R3: the MTU comes from DHCP: no static MTU anywhere, the primary NIC on DHCP.

use super::{CheckDef, Ctx, Outcome};
use crate::applies::Applies;
use crate::facts::network::is_dhcp;
use crate::rule::RuleId;
use anyhow::Result;

pub fn checks() -> Vec<CheckDef> {
    vec![
        CheckDef::new(
            "mtu-static",
            RuleId::R3,
            Applies::LINUX,
            "No static MTU in any network configuration",
            Box::new(static_mtu),
        ),
        CheckDef::new(
            "mtu-primary-dhcp",
            RuleId::R3,
            Applies::LINUX,
            "The primary NIC gets its address (and MTU) from DHCP",
            Box::new(primary_dhcp),
        ),
    ]
}

fn static_mtu(ctx: &Ctx) -> Result<Outcome> {
    let n = ctx.network()?;
    if n.mtus.is_empty() {
        return Ok(Outcome::pass(format!(
            "none in {} network files",
            n.files.len()
        )));
    }
    let findings: Vec<String> = n
        .mtus
        .iter()
        .map(|m| format!("{}:{}: {}", m.file, m.line, m.setting))
        .collect();
    Ok(Outcome::fail(
        format!("static MTU at {}", findings.join("; ")),
        findings,
    ))
}

fn primary_dhcp(ctx: &Ctx) -> Result<Outcome> {
    let n = ctx.network()?;
    Ok(match n.primary() {
        None => Outcome::pass(
            "no NIC configured in files: the distribution or cloud-init configures DHCP at boot",
        ),
        Some(p) if is_dhcp(&p.method) => {
            Outcome::pass(format!("{} uses {} ({})", p.name, p.method, p.file))
        }
        Some(p) => Outcome::fail(
            format!(
                "{} is configured '{}' in {}, not DHCP",
                p.name, p.method, p.file
            ),
            vec![p.file.clone()],
        ),
    })
}

#[cfg(test)]
mod tests {
    use crate::checks::Status;
    use crate::checks::testutil::*;
    use crate::facts::OsInfo;
    use crate::guest::fs::MemFs;

    #[test]
    fn static_mtu_and_static_primary_fail() {
        let fs = MemFs::new().file(
            "/etc/sysconfig/network-scripts/ifcfg-eth0",
            "DEVICE=eth0\nBOOTPROTO=static\nIPADDR=10.0.0.5\nMTU=9000\n",
        );
        let r = report(&fs, &OsInfo::linux("centos", 7, 9), None);
        let m = result(&r, "mtu-static");
        assert_eq!(m.status, Status::Fail);
        assert_eq!(
            m.findings,
            vec!["/etc/sysconfig/network-scripts/ifcfg-eth0:4: MTU=9000"]
        );
        assert_eq!(result(&r, "mtu-primary-dhcp").status, Status::Fail);
    }

    #[test]
    fn dhcp_without_mtu_passes() {
        let fs = MemFs::new().file(
            "/etc/network/interfaces",
            "auto eth0\niface eth0 inet dhcp\n",
        );
        let r = report(&fs, &OsInfo::linux("debian", 12, 0), None);
        assert_eq!(result(&r, "mtu-static").status, Status::Pass);
        assert_eq!(
            result(&r, "mtu-primary-dhcp").detail,
            "eth0 uses dhcp (/etc/network/interfaces)"
        );
    }
}
