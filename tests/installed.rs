//! The set-up installs imgseal like a tool (scripts/install.sh, run by
//! scripts/install-deps.sh): the binary on PATH is built from this very source, man finds a
//! page per command, and the shells find their completions. A missing or stale install fails
//! these tests: run scripts/install.sh.

use std::path::Path;
use std::process::{Command, Output};

const PREFIX: &str = "/usr/local";

fn run(cmd: &mut Command) -> Output {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?} failed ({}): {}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(run(cmd).stdout).unwrap()
}

/// The command names the man pages and completions must cover, from the binary under test.
fn commands() -> Vec<String> {
    let help = stdout(Command::new(env!("CARGO_BIN_EXE_imgseal")).arg("--help"));
    let list = help
        .split("Commands:\n")
        .nth(1)
        .expect("--help lists commands")
        .split("\n\n")
        .next()
        .unwrap();
    let names: Vec<String> = list
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(String::from)
        .collect();
    assert!(names.len() >= 10, "{names:?}");
    names
}

#[test]
fn imgseal_on_path_is_built_from_this_source() {
    let on_path = stdout(Command::new("sh").args(["-c", "command -v imgseal"]));
    assert_eq!(on_path.trim(), format!("{PREFIX}/bin/imgseal"));
    let installed = stdout(Command::new("imgseal").arg("--version"));
    let here = stdout(Command::new(env!("CARGO_BIN_EXE_imgseal")).arg("--version"));
    assert!(installed.starts_with("imgseal 0."), "{installed}");
    assert!(installed.contains("(source "), "{installed}");
    assert_eq!(
        installed, here,
        "the installed imgseal is not built from this source: run scripts/install.sh"
    );
    // A release build, as the README says.
    let size = std::fs::metadata(format!("{PREFIX}/bin/imgseal"))
        .unwrap()
        .len();
    let debug = std::fs::metadata(env!("CARGO_BIN_EXE_imgseal"))
        .unwrap()
        .len();
    assert!(size < debug, "installed {size} bytes, debug build {debug}");
}

#[test]
fn man_finds_a_current_page_for_every_command() {
    let fresh = tempfile::tempdir().unwrap();
    run(Command::new(env!("CARGO_BIN_EXE_imgseal"))
        .arg("manpages")
        .arg(fresh.path()));
    let mut pages = vec!["imgseal".to_string()];
    pages.extend(commands().iter().map(|c| format!("imgseal-{c}")));
    for page in &pages {
        let w = stdout(Command::new("man").args(["-w", page]));
        // Debian links /usr/local/man to share/man: compare where the two really are.
        let path = w.trim();
        assert_eq!(
            Path::new(path).canonicalize().unwrap(),
            Path::new(&format!("{PREFIX}/share/man/man1/{page}.1"))
                .canonicalize()
                .unwrap_or_else(|e| panic!("{page}: {e}")),
            "man -w {page} finds {path}"
        );
        assert_eq!(
            std::fs::read(path).unwrap(),
            std::fs::read(fresh.path().join(format!("{page}.1"))).unwrap(),
            "{path} is stale: run scripts/install.sh"
        );
    }
    // man renders it, with the options --help has.
    let text = stdout(
        Command::new("man")
            .args(["-P", "cat", "imgseal-convert"])
            .env("MANWIDTH", "100"),
    );
    assert!(text.contains("--dry-run"), "{text}");
    assert!(text.contains("--vendor-dir"), "{text}");
}

#[test]
fn bash_completes_commands_and_flags_from_the_installed_script() {
    let script = format!("{PREFIX}/share/bash-completion/completions/imgseal");
    assert_eq!(
        std::fs::read(&script).unwrap(),
        run(Command::new(env!("CARGO_BIN_EXE_imgseal")).args(["completions", "bash"])).stdout,
        "{script} is stale: run scripts/install.sh"
    );
    // bash-completion finds the script itself (by the command's name), then completes.
    let complete = |words: &str| {
        stdout(Command::new("bash").args([
            "-c",
            &format!(
                ". /usr/share/bash-completion/bash_completion
                 _completion_loader imgseal
                 COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))
                 COMP_LINE=\"{words}\"; COMP_POINT=${{#COMP_LINE}}
                 _imgseal imgseal \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"
                 printf '%s\\n' \"${{COMPREPLY[@]}}\""
            ),
        ]))
    };
    let c = complete("imgseal con");
    assert_eq!(c.lines().collect::<Vec<_>>(), ["convert"], "{c}");
    let c = complete("imgseal convert --vendor-");
    assert!(c.lines().any(|l| l == "--vendor-dir"), "{c}");
}

#[test]
fn zsh_and_fish_find_their_completions_where_they_look() {
    for (shell, path) in [
        ("zsh", format!("{PREFIX}/share/zsh/site-functions/_imgseal")),
        (
            "fish",
            format!("{PREFIX}/share/fish/vendor_completions.d/imgseal.fish"),
        ),
    ] {
        assert_eq!(
            std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")),
            run(Command::new(env!("CARGO_BIN_EXE_imgseal")).args(["completions", shell])).stdout,
            "{path} is stale: run scripts/install.sh"
        );
    }
}

#[test]
fn manpages_into_an_unwritable_place_is_a_clear_error() {
    let o = Command::new(env!("CARGO_BIN_EXE_imgseal"))
        .args(["manpages", "/proc/imgseal-man"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot create the man page directory /proc/imgseal-man"),
        "{err}"
    );
    assert!(!Path::new("/proc/imgseal-man").exists());
}
