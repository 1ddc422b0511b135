//! R8: remove the traces of the image build (the categories of `crate::traces`), last, so
//! that logs written by earlier operations go too.

use super::{OpCtx, OpDef};
use crate::applies::Applies;
use crate::rule::{RuleId, RuleTag};
use crate::traces;
use anyhow::Result;
use std::collections::BTreeMap;

pub fn def() -> OpDef {
    OpDef {
        id: "trace-cleanup",
        rule: RuleTag::One(RuleId::R8),
        applies: Applies::LINUX,
        default: true,
        summary: "Remove histories, keys, logs, leases, caches, machine identity and other build traces",
        description: "Covers virt-sysprep's default Linux operations and what they miss (every shell and REPL \
                      history, cloud-init state and logs, the journal, installer leftovers). Logs daemons expect \
                      are truncated, the rest deleted; a trace path that is a symlink loses the link only.",
        order: 90,
        run,
    }
}

fn run(ctx: &OpCtx) -> Result<Vec<String>> {
    let found = traces::find_all(ctx.fs, ctx.os, &ctx.profile.traces.exclude)?;
    let mut per: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &found {
        if traces::apply(ctx.fs, t)? || ctx.dry_run() {
            *per.entry(t.category).or_default() += 1;
        }
    }
    if per.is_empty() {
        return Ok(vec!["no traces found".into()]);
    }
    Ok(per.into_iter().map(|(c, n)| format!("{c}: {n}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::OsInfo;
    use crate::guest::fs::{GuestFs, MemFs};
    use crate::ops::testutil::run_op;

    #[test]
    fn traces_go_and_a_second_run_finds_none() {
        let fs = MemFs::new()
            .file("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
            .file("/root/.bash_history", "ls\n")
            .file("/var/log/syslog", "boot\n")
            .file("/var/log/syslog.1", "old\n")
            .link("/root/.python_history", "/etc/passwd");
        let os = OsInfo::linux("debian", 12, 4);
        let r = run_op(&fs, &os, def(), None, false).unwrap();
        assert_eq!(r.status, "changed");
        assert!(!fs.exists("/root/.bash_history").unwrap());
        assert_eq!(fs.text("/var/log/syslog").unwrap(), "");
        assert!(!fs.exists("/var/log/syslog.1").unwrap());
        assert_eq!(
            fs.text("/etc/passwd").unwrap(),
            "root:x:0:0:root:/root:/bin/bash\n"
        );
        assert!(traces::find_all(&fs, &os, &[]).unwrap().is_empty());
        assert_eq!(
            run_op(&fs, &os, def(), None, false).unwrap().status,
            "unchanged"
        );
    }
}
