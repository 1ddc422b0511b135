//! R8 on Windows: the traces a Windows build leaves, as path patterns under the system volume
//! (`*` is one directory entry; names compare in any letter case, as Windows compares them).
//! Answer files are here because they can hold the administrator's password in clear.

use crate::guest::fs::{GuestFs, Kind, join};
use anyhow::Result;

/// One kind of trace: a name for reports and the patterns that find it.
pub struct WinTrace {
    pub name: &'static str,
    pub patterns: &'static [&'static str],
}

pub const WIN_TRACES: &[WinTrace] = &[
    WinTrace {
        name: "temp",
        patterns: &["Windows/Temp/*", "Users/*/AppData/Local/Temp/*"],
    },
    WinTrace {
        name: "powershell-history",
        patterns: &[
            "Users/*/AppData/Roaming/Microsoft/Windows/PowerShell/PSReadLine/ConsoleHost_history.txt",
        ],
    },
    WinTrace {
        name: "recent-items",
        patterns: &["Users/*/AppData/Roaming/Microsoft/Windows/Recent/*"],
    },
    WinTrace {
        name: "prefetch",
        patterns: &["Windows/Prefetch/*"],
    },
    WinTrace {
        name: "recycle-bin",
        patterns: &["$Recycle.Bin/*/*"],
    },
    WinTrace {
        name: "answer-files",
        patterns: &[
            "Windows/Panther/unattend.xml",
            "Windows/Panther/autounattend.xml",
            "Windows/Panther/Unattend/*",
            "Windows/Panther/*.log",
            "Windows/System32/Sysprep/unattend.xml",
            "Windows/System32/Sysprep/Panther/*",
            "unattend.xml",
            "autounattend.xml",
        ],
    },
    WinTrace {
        name: "update-downloads",
        patterns: &["Windows/SoftwareDistribution/Download/*"],
    },
    WinTrace {
        name: "error-reports",
        patterns: &[
            "ProgramData/Microsoft/Windows/WER/ReportQueue/*",
            "ProgramData/Microsoft/Windows/WER/ReportArchive/*",
        ],
    },
    WinTrace {
        name: "memory-dumps",
        patterns: &["Windows/MEMORY.DMP", "Windows/Minidump/*"],
    },
    WinTrace {
        name: "event-logs",
        patterns: &["Windows/System32/winevt/Logs/*.evtx"],
    },
    WinTrace {
        name: "rdp-cache",
        patterns: &["Users/*/AppData/Local/Microsoft/Terminal Server Client/Cache/*"],
    },
];

/// The existing paths a pattern names under `root`, sorted. Links are never followed: a link
/// is matched as itself (and only removed, never its target), and no `*` descends through one.
pub fn expand(fs: &dyn GuestFs, root: &str, pattern: &str) -> Result<Vec<String>> {
    let mut cur = vec![root.to_string()];
    let parts: Vec<&str> = pattern.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        for dir in &cur {
            // Only real directories are entered.
            if fs.lstat(dir)?.map(|m| m.kind) != Some(Kind::Dir) {
                continue;
            }
            for name in fs.list(dir)? {
                if crate::guest::fs::wildcard(
                    &part.to_ascii_lowercase(),
                    &name.to_ascii_lowercase(),
                ) {
                    let p = join(dir, &name);
                    if last || fs.lstat(&p)?.map(|m| m.kind) == Some(Kind::Dir) {
                        next.push(p);
                    }
                }
            }
        }
        cur = next;
    }
    cur.sort();
    cur.dedup();
    Ok(cur)
}

/// Every trace present, by kind: `(kind, path)`.
pub fn find_all(fs: &dyn GuestFs) -> Result<Vec<(&'static str, String)>> {
    let mut out = Vec::new();
    for t in WIN_TRACES {
        for p in t.patterns {
            for hit in expand(fs, "/", p)? {
                out.push((t.name, hit));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::memfs::MemFs;

    #[test]
    fn patterns_match_in_any_case_and_never_through_links() {
        let fs = MemFs::new()
            .file("/WINDOWS/temp/build.log", "x")
            .file("/Users/Administrator/AppData/Local/Temp/a.tmp", "x")
            .file("/Windows/System32/config/SYSTEM", "regf")
            .link("/Windows/Temp/config-link", "/Windows/System32/config")
            .file("/Users/Administrator/Documents/keep.txt", "x")
            .link("/Users/Evil", "/Windows/System32");
        let t = find_all(&fs).unwrap();
        let paths: Vec<&str> = t.iter().map(|(_, p)| p.as_str()).collect();
        assert!(paths.contains(&"/WINDOWS/temp/build.log"), "{paths:?}");
        assert!(paths.contains(&"/Windows/Temp/config-link"), "{paths:?}");
        assert!(paths.contains(&"/Users/Administrator/AppData/Local/Temp/a.tmp"));
        assert!(
            !paths
                .iter()
                .any(|p| p.contains("config/SYSTEM") || p.contains("keep.txt")),
            "{paths:?}"
        );
    }
}
