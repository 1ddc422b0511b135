//! The repository stands on its own: no file names a path outside it (the workspace it was
//! developed in, a developer's home), and every relative link in its documents resolves.

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every file of the repository: tracked, and new files not yet committed (not ignored).
fn files() -> Vec<PathBuf> {
    let o = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(ROOT)
        .output()
        .expect("git runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let list: Vec<PathBuf> = o
        .stdout
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| Path::new(ROOT).join(String::from_utf8_lossy(s).as_ref()))
        .filter(|p| p.is_file())
        .collect();
    assert!(list.len() > 50, "only {} files listed", list.len());
    list
}

#[test]
fn no_file_names_a_path_outside_the_repository() {
    let root = Path::new(ROOT);
    // Spelled in pieces, so that this file does not name them itself.
    let mut needles: Vec<String> = vec![
        ["..", "/shared"].concat(),
        ["shared", "/spec/"].concat(),
        ["shared", "/design/"].concat(),
    ];
    // Where this checkout lives (its parent: the workspace), spelled absolutely.
    if let Some(parent) = root.parent().filter(|p| p != &Path::new("/")) {
        needles.push(format!("{}/", parent.display()));
    }
    // A developer's home. /root is left out: it is also a path inside guest images, which
    // the trace tests name on purpose.
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        if home != Path::new("/root") && home != Path::new("/") {
            needles.push(format!("{}/", home.display()));
        }
    }
    // A macOS home. Users/ on a Windows guest is where it keeps its profiles: the Windows
    // profile names the tests and fixtures use are not homes of a developer.
    let mac_home = ["/Users", "/"].concat();
    let windows_profiles = ["Administrator", "Public", "Default", "Evil"];
    let mut hits = vec![];
    for f in files() {
        let Ok(text) = std::fs::read(&f) else {
            continue;
        };
        let text = String::from_utf8_lossy(&text);
        for (n, line) in text.lines().enumerate() {
            let mac = line.match_indices(mac_home.as_str()).any(|(i, _)| {
                let rest = &line[i + mac_home.len()..];
                !windows_profiles.iter().any(|p| rest.starts_with(p))
            });
            if mac {
                let rel = f.strip_prefix(root).unwrap();
                hits.push(format!(
                    "{}:{}: names {mac_home:?}: {line}",
                    rel.display(),
                    n + 1
                ));
            }
            for needle in &needles {
                if line.contains(needle.as_str()) {
                    let rel = f.strip_prefix(root).unwrap();
                    hits.push(format!(
                        "{}:{}: names {needle:?}: {line}",
                        rel.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "paths outside the repository:\n{}",
        hits.join("\n")
    );
}

#[test]
fn every_relative_link_in_the_documents_resolves() {
    let mut broken = vec![];
    let mut seen = 0;
    for f in files()
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "md"))
    {
        let text = std::fs::read_to_string(&f).unwrap();
        // [text](target): the target up to ')' or '#'.
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split('#').next().unwrap();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            seen += 1;
            let resolved = f.parent().unwrap().join(target);
            let inside = resolved
                .canonicalize()
                .is_ok_and(|p| p.starts_with(Path::new(ROOT).canonicalize().unwrap()));
            if !inside {
                broken.push(format!("{}: {target}", f.display()));
            }
        }
    }
    assert!(seen >= 2, "no relative links found at all");
    assert!(
        broken.is_empty(),
        "links that leave the repository or lead nowhere:\n{}",
        broken.join("\n")
    );
}
