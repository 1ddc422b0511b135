//! What makes imgseal feel installed: shell completions and man pages, both generated from
//! the same clap tree as `--help`, so they can never disagree with it.

use anyhow::{Context, Result};
use clap::CommandFactory;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut cmd = crate::cli::Cli::command();
    let mut out = vec![];
    clap_complete::generate(shell, &mut cmd, "imgseal", &mut out);
    out
}

/// Writes `imgseal.1` and one `imgseal-COMMAND.1` per command into `dir` (created if
/// missing); each page is written beside its final name and renamed over it. Returns the
/// files written, the main page first.
pub fn manpages(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the man page directory {}", dir.display()))?;
    let mut cmd = crate::cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = vec![cmd.clone()];
    pages.extend(cmd.get_subcommands().filter(|c| !c.is_hide_set()).cloned());
    let mut written = vec![];
    for c in pages {
        let man = clap_mangen::Man::new(c)
            .source(format!("imgseal {}", env!("CARGO_PKG_VERSION")))
            .manual("imgseal manual");
        let path = dir.join(man.get_filename());
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        man.render(&mut tmp)?;
        tmp.flush()?;
        tmp.persist(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        // NamedTempFile is 0600; a man page is for every user.
        set_readable(&path)?;
        written.push(path);
    }
    Ok(written)
}

fn set_readable(p: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644))
        .with_context(|| format!("cannot chmod {}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_command_named_after_it() {
        let d = tempfile::tempdir().unwrap();
        let pages = manpages(&d.path().join("man1")).unwrap();
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let commands = crate::cli::Cli::command().get_subcommands().count();
        assert_eq!(names.len(), commands + 1, "{names:?}");
        assert_eq!(names[0], "imgseal.1");
        for n in [
            "imgseal-convert.1",
            "imgseal-check.1",
            "imgseal-batch.1",
            "imgseal-manpages.1",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
        }
        let convert = std::fs::read_to_string(d.path().join("man1/imgseal-convert.1")).unwrap();
        assert!(
            convert.starts_with(".ie \\n(.g .ds Aq"),
            "{}",
            &convert[..80]
        );
        assert!(convert.contains(".TH imgseal-convert 1"), "{convert}");
        assert!(convert.contains("\\-\\-dry\\-run"), "{convert}");
        let mode = std::fs::metadata(d.path().join("man1/imgseal.1")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o644);
    }

    #[test]
    fn completions_know_the_commands_and_their_flags() {
        let bash = String::from_utf8(completions(clap_complete::Shell::Bash)).unwrap();
        assert!(bash.contains("complete -F _imgseal"), "{bash}");
        assert!(bash.contains("--vendor-dir"), "{bash}");
        let zsh = String::from_utf8(completions(clap_complete::Shell::Zsh)).unwrap();
        assert!(zsh.starts_with("#compdef imgseal"), "{}", &zsh[..40]);
        let fish = String::from_utf8(completions(clap_complete::Shell::Fish)).unwrap();
        assert!(
            fish.contains("__fish_imgseal_using_subcommand convert\" -l vendor-dir"),
            "{fish}"
        );
    }
}
