//! R8 on Windows: the traces `windows-traces` finds are removed: files and directories whole,
//! a link (an NTFS symlink or junction as ntfs-3g shows it) as the link only, never what it
//! points to. Runs last among the Windows operations.

use super::{OpCtx, OpDef, windows_hives};
use crate::applies::Applies;
use crate::facts::{winreg, wintraces};
use crate::guest::fs::{GuestFs, Kind};
use crate::rule::{RuleId, RuleTag};
use anyhow::Result;

pub fn def() -> OpDef {
    OpDef {
        id: "windows-trace-cleanup",
        rule: RuleTag::One(RuleId::R8),
        applies: Applies::WINDOWS,
        default: true,
        summary: "Remove the traces a Windows build leaves: temp files, histories, answer files, dumps, logs, caches",
        description: "Removes Windows\\Temp and every profile's AppData\\Local\\Temp contents, PSReadLine history, Recent items, Prefetch, \
                      $Recycle.Bin contents, unattend/sysprep answer files, SoftwareDistribution\\Download, WER queues, memory dumps, \
                      event logs and RDP caches. A trace that is a link loses the link only. The build network's DHCP lease \
                      values (DhcpIPAddress, DhcpServer, Lease...) are deleted from every interface key of every control set.",
        order: 95,
        run,
    }
}

fn run(ctx: &OpCtx) -> Result<Vec<String>> {
    let fs = ctx.fs;
    let mut by_kind: Vec<(&str, usize)> = Vec::new();
    for (kind, path) in wintraces::find_all(fs)? {
        match fs.lstat(&path)?.map(|m| m.kind) {
            None => continue,
            Some(Kind::Dir) => fs.remove_tree(&path)?,
            // A link, a file or anything else: the entry itself.
            Some(_) => fs.remove(&path)?,
        }
        match by_kind.iter_mut().find(|(k, _)| *k == kind) {
            Some(slot) => slot.1 += 1,
            None => by_kind.push((kind, 1)),
        }
    }
    let mut notes: Vec<String> = by_kind
        .into_iter()
        .map(|(k, n)| format!("{k}: {n} removed"))
        .collect();
    let (w, system, _) = windows_hives(ctx)?;
    let h = fs.hive(&system, true)?;
    for i in winreg::interfaces(h.as_ref(), &w.control_sets)? {
        if i.dhcp_lease.is_empty() {
            continue;
        }
        if let Some(k) = h.key(&i.path)? {
            h.delete_values(k, winreg::DHCP_LEASE_VALUES)?;
            notes.push(format!(
                "{}: DHCP lease deleted ({} value(s))",
                i.label(),
                i.dhcp_lease.len()
            ));
        }
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::windows::testutil::{NIC, SYSTEM, guest};
    use crate::guest::registry::{Hive, RegValue};
    use crate::ops::OpStatus;
    use crate::ops::testutil::run_op;

    #[test]
    fn traces_go_and_a_link_into_the_hives_loses_only_the_link() {
        let (fs, os) = guest();
        let fs = fs
            .file("/Windows/Temp/build/artifact.zip", "x")
            .file(
                "/Windows/Panther/unattend.xml",
                "<Value>Build-Pass-1</Value>",
            )
            .file("/Windows/System32/winevt/Logs/Security.evtx", "ElfFile")
            .link("/Windows/Temp/config-link", "/Windows/System32/config")
            .file("/Users/Administrator/Documents/keep.txt", "mine");
        let plan = run_op(&fs, &os, def(), None, true).unwrap();
        assert_eq!(plan.status, OpStatus::Planned);
        assert!(fs.exists("/Windows/Panther/unattend.xml").unwrap());
        let r = run_op(&fs, &os, def(), None, false).unwrap();
        assert_eq!(r.status, OpStatus::Changed);
        for gone in [
            "/Windows/Temp/build",
            "/Windows/Panther/unattend.xml",
            "/Windows/System32/winevt/Logs/Security.evtx",
            "/Windows/Temp/config-link",
        ] {
            assert!(fs.lstat(gone).unwrap().is_none(), "{gone} left");
        }
        // What the link pointed at, and what is no trace, stay.
        assert!(fs.exists("/Windows/System32/config/SYSTEM").unwrap());
        assert!(
            fs.exists("/Users/Administrator/Documents/keep.txt")
                .unwrap()
        );
        assert!(
            fs.is_dir("/Windows/Temp").unwrap(),
            "the Temp directory itself stays"
        );
        // The build's DHCP lease leaves every control set's interface key; the rest stays.
        let sys = fs.hive_at(SYSTEM);
        for cs in ["ControlSet001", "ControlSet002"] {
            let k = format!("{cs}\\{}\\{NIC}", winreg::TCPIP_INTERFACES);
            assert_eq!(sys.get(&k, "DhcpIPAddress").unwrap(), None, "{k}");
            assert_eq!(sys.get(&k, "Lease").unwrap(), None, "{k}");
            assert_eq!(sys.get(&k, "MTU").unwrap(), Some(RegValue::Dword(9000)));
        }
        let leases: Vec<_> = r
            .changes
            .iter()
            .filter(|c| c.action == "registry" && c.target.ends_with("-> (deleted)"))
            .collect();
        assert_eq!(leases.len(), 4, "{:#?}", r.changes);
        assert!(
            leases[0]
                .target
                .contains(&format!("{NIC} DhcpIPAddress: \"10.0.2.15\" -> (deleted)")),
            "{:?}",
            leases[0]
        );
        assert_eq!(
            run_op(&fs, &os, def(), None, false).unwrap().status,
            OpStatus::Unchanged
        );
    }
}
