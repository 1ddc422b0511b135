//! R2 on Windows: the firewall off in the registry: `EnableFirewall` = 0 in the Domain,
//! Standard and Public profiles of every control set `Select` names, and every group-policy
//! value that enables it set to 0 (policy overrides the profiles). The old values are in the
//! recorded changes (and so in the manifest).

use super::{OpCtx, OpDef, windows_hives};
use crate::applies::Applies;
use crate::facts::winreg;
use crate::guest::fs::GuestFs;
use crate::guest::registry::RegValue;
use crate::rule::{RuleId, RuleTag};
use anyhow::Result;

pub fn def() -> OpDef {
    OpDef {
        id: "windows-firewall-disable",
        rule: RuleTag::One(RuleId::R2),
        applies: Applies::WINDOWS,
        default: true,
        summary: "Turn the Windows Firewall off in every profile of every control set and in group policy",
        description: "Sets EnableFirewall=0 under Services\\SharedAccess\\Parameters\\FirewallPolicy\\{Domain,Standard,Public}Profile \
                      of each control set Select names, and each SOFTWARE\\Policies\\Microsoft\\WindowsFirewall value that enables it. \
                      The firewall service stays installed; setting the values back to 1 undoes it.",
        order: 25,
        run,
    }
}

fn run(ctx: &OpCtx) -> Result<Vec<String>> {
    let (w, system, software) = windows_hives(ctx)?;
    let mut n = 0;
    {
        let h = ctx.fs.hive(&system, true)?;
        for s in winreg::firewall_profiles(h.as_ref(), &w.control_sets)? {
            if s.enables() {
                // A profile key that is missing is created by Windows on first boot with the
                // default (on): the value is only set where the key exists.
                if let Some(k) = h.key(&s.path)? {
                    h.set_value(k, "EnableFirewall", &RegValue::Dword(0))?;
                    n += 1;
                }
            }
        }
    }
    {
        let h = ctx.fs.hive(&software, true)?;
        for s in winreg::firewall_policies(h.as_ref())? {
            if s.enables()
                && let Some(k) = h.key(&s.path)?
            {
                h.set_value(k, "EnableFirewall", &RegValue::Dword(0))?;
                n += 1;
            }
        }
    }
    Ok(if n == 0 {
        vec![]
    } else {
        vec![format!("EnableFirewall set to 0 in {n} place(s)")]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::windows::testutil::{SOFTWARE, SYSTEM, guest};
    use crate::guest::registry::Hive;
    use crate::ops::OpStatus;
    use crate::ops::testutil::run_op;

    #[test]
    fn every_profile_and_the_enabling_policy_go_to_zero_once() {
        let (fs, os) = guest();
        // A dry run lists each registry change with its old value and changes nothing.
        let plan = run_op(&fs, &os, def(), None, true).unwrap();
        assert_eq!(plan.status, OpStatus::Planned);
        assert_eq!(plan.changes.len(), 7, "{:#?}", plan.changes);
        assert!(plan.changes.iter().any(|c| c.target
            == "SYSTEM\\ControlSet002\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\PublicProfile EnableFirewall: dword:1 -> dword:0"));
        assert!(plan.changes.iter().any(|c| c.target
            == "SOFTWARE\\Policies\\Microsoft\\WindowsFirewall\\DomainProfile EnableFirewall: dword:1 -> dword:0"));
        assert_eq!(fs.hive_at(SYSTEM).commits.get(), 0);

        let r = run_op(&fs, &os, def(), None, false).unwrap();
        assert_eq!(r.status, OpStatus::Changed);
        let sys = fs.hive_at(SYSTEM);
        assert_eq!(sys.commits.get(), 1, "SYSTEM committed once");
        assert_eq!(fs.hive_at(SOFTWARE).commits.get(), 1);
        for cs in ["ControlSet001", "ControlSet002"] {
            for p in winreg::FIREWALL_PROFILES {
                let k = format!("{cs}\\{}\\{p}", winreg::FIREWALL_POLICY);
                assert_eq!(
                    sys.get(&k, "EnableFirewall").unwrap(),
                    Some(RegValue::Dword(0))
                );
            }
        }
        // The policy value that did not enable anything is left alone.
        let sw = fs.hive_at(SOFTWARE);
        assert_eq!(
            sw.get(
                "Policies\\Microsoft\\WindowsFirewall\\StandardProfile",
                "DisableNotifications"
            )
            .unwrap(),
            Some(RegValue::Dword(1))
        );
        // Idempotent: a second run changes nothing and commits nothing.
        let again = run_op(&fs, &os, def(), None, false).unwrap();
        assert_eq!(again.status, OpStatus::Unchanged);
        assert_eq!(sys.commits.get(), 1);
    }
}
