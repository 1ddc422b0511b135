//! R3 on Windows: interfaces whose MTU is above the profile's `windows_mtu_max`, in every
//! control set, are brought to `windows_mtu`. The cloud's NIC will be a new interface no
//! offline value reaches: the first-boot runner of `cloudbase-init-stage` sets the MTU of
//! every interface too, and cloudbase-init's MTU plugin stays on.

use super::{OpCtx, OpDef, windows_hives};
use crate::applies::Applies;
use crate::facts::winreg;
use crate::guest::fs::GuestFs;
use crate::guest::registry::RegValue;
use crate::rule::{RuleId, RuleTag};
use anyhow::Result;

pub fn def() -> OpDef {
    OpDef {
        id: "windows-mtu",
        rule: RuleTag::One(RuleId::R3),
        applies: Applies::WINDOWS,
        default: true,
        summary: "Bring every Windows interface MTU above windows_mtu_max to windows_mtu",
        description: "Sets MTU under Tcpip\\Parameters\\Interfaces\\{GUID} of each control set Select names to the profile's \
                      windows_mtu (1400) where it is above windows_mtu_max; interfaces within the limit are left alone.",
        order: 35,
        run,
    }
}

fn run(ctx: &OpCtx) -> Result<Vec<String>> {
    let (w, system, _) = windows_hives(ctx)?;
    let (max, want) = (
        ctx.profile.network.windows_mtu_max,
        ctx.profile.network.windows_mtu,
    );
    let h = ctx.fs.hive(&system, true)?;
    let mut notes = Vec::new();
    for i in winreg::interfaces(h.as_ref(), &w.control_sets)? {
        if let Some(m) = i.mtu.filter(|m| *m > max)
            && let Some(k) = h.key(&i.path)?
        {
            h.set_value(k, "MTU", &RegValue::Dword(want))?;
            notes.push(format!("{}: MTU {m} -> {want}", i.label()));
        }
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::windows::testutil::{NIC, NIC2, SYSTEM, guest};
    use crate::guest::registry::Hive;
    use crate::ops::OpStatus;
    use crate::ops::testutil::run_op;

    #[test]
    fn interfaces_above_the_maximum_go_to_the_profiles_mtu_in_every_control_set() {
        let (fs, os) = guest();
        let r = run_op(&fs, &os, def(), None, false).unwrap();
        assert_eq!(r.status, OpStatus::Changed);
        assert_eq!(r.changes.len(), 2, "{:#?}", r.changes);
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("(以太网): MTU 9000 -> 1400")),
            "{:?}",
            r.notes
        );
        let sys = fs.hive_at(SYSTEM);
        for cs in ["ControlSet001", "ControlSet002"] {
            let k = |nic: &str| format!("{cs}\\{}\\{nic}", winreg::TCPIP_INTERFACES);
            assert_eq!(
                sys.get(&k(NIC), "MTU").unwrap(),
                Some(RegValue::Dword(1400))
            );
            // Within the limit: untouched.
            assert_eq!(
                sys.get(&k(NIC2), "MTU").unwrap(),
                Some(RegValue::Dword(1400))
            );
        }
        assert_eq!(sys.commits.get(), 1);
        assert_eq!(
            run_op(&fs, &os, def(), None, false).unwrap().status,
            OpStatus::Unchanged
        );
    }
}
