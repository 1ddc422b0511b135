//! One helper for every host command imgseal runs: argv only (never a shell), the whole
//! command line and the tail of stderr in the error, and children that die with imgseal.

use anyhow::{Context, Result, bail};
use std::ffi::OsStr;
use std::process::{Child, Command, Output, Stdio};

/// How many bytes of a failed command's stderr end up in the error message.
const STDERR_TAIL: usize = 2000;

/// A host command, built from argv pieces.
pub struct Cmd {
    inner: Command,
    line: String,
    timeout: Option<std::time::Duration>,
}

impl Cmd {
    pub fn new(program: &str) -> Cmd {
        let mut inner = Command::new(program);
        inner.stdin(Stdio::null());
        crate::ffi::os::die_with_parent(&mut inner);
        Cmd {
            inner,
            line: program.to_string(),
            timeout: None,
        }
    }

    /// Kills the command if it runs longer (a hostile image must not hang imgseal).
    pub fn timeout(mut self, d: std::time::Duration) -> Cmd {
        self.timeout = Some(d);
        self
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Cmd {
        let a = a.as_ref();
        self.line.push(' ');
        self.line.push_str(&shell_quote(&a.to_string_lossy()));
        self.inner.arg(a);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<OsStr>) -> Cmd {
        self.inner.env(k, v);
        self
    }

    /// The command line as a user could paste it (for errors and `-v`).
    pub fn line(&self) -> &str {
        &self.line
    }

    /// Runs to completion; a non-zero exit is an error with the command line and stderr tail.
    pub fn output(self) -> Result<Output> {
        let line = self.line.clone();
        let out = self.output_any()?;
        if !out.status.success() {
            crate::signals::check()?;
            bail!(
                "{} failed ({}): {}",
                line,
                out.status,
                stderr_tail(&out.stderr)
            );
        }
        Ok(out)
    }

    /// Runs and returns stdout as a string.
    pub fn stdout(self) -> Result<String> {
        let out = self.output()?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs and returns the raw output whatever the exit status. The child is killed if
    /// imgseal is interrupted.
    pub fn output_any(mut self) -> Result<Output> {
        crate::signals::check()?;
        trace(&self.line);
        let mut child = self
            .inner
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running {}", self.line))?;
        let _guard = crate::signals::ChildGuard::new(child.id());
        let Some(limit) = self.timeout else {
            return child
                .wait_with_output()
                .with_context(|| format!("running {}", self.line));
        };
        // Read both pipes on threads so the child never blocks on a full pipe while waited.
        let read = |mut r: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                let _ = r.read_to_end(&mut v);
                v
            })
        };
        let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
            bail!("{}: its output pipes were not set up", self.line());
        };
        let out_t = read(Box::new(out));
        let err_t = read(Box::new(err));
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            if let Some(st) = child.try_wait()? {
                break st;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "{} did not finish within {} s and was stopped",
                    self.line,
                    limit.as_secs()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        Ok(Output {
            status,
            stdout: out_t.join().unwrap_or_default(),
            stderr: err_t.join().unwrap_or_default(),
        })
    }

    /// Starts the command in the background with the given stdio for stderr/stdout.
    pub fn spawn(mut self, stdout: Stdio, stderr: Stdio) -> Result<Child> {
        trace(&self.line);
        self.inner
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", self.line))
    }
}

/// `IMGSEAL_TRACE_COMMANDS=FILE` appends every host command line to FILE (the tests use it
/// to check that every qemu command names its formats).
fn trace(line: &str) {
    if let Some(f) = std::env::var_os("IMGSEAL_TRACE_COMMANDS") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(f)
        {
            use std::io::Write;
            let _ = writeln!(f, "{line}");
        }
    }
}

/// The last part of a command's stderr, trimmed, on one line where it is short.
pub fn stderr_tail(stderr: &[u8]) -> String {
    let s = String::from_utf8_lossy(stderr);
    let s = s.trim();
    let start = s.len().saturating_sub(STDERR_TAIL);
    let start = (start..=s.len())
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(s.len());
    let tail = &s[start..];
    if tail.is_empty() {
        "(no error output)".to_string()
    } else {
        tail.to_string()
    }
}

/// Quotes an argument for display only (commands are never run through a shell).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_command_error_has_line_and_stderr() {
        let e = Cmd::new("sh")
            .args(["-c", "echo boom >&2; exit 3"])
            .output()
            .unwrap_err();
        let s = format!("{e:#}");
        assert!(s.contains("sh -c 'echo boom >&2; exit 3' failed"), "{s}");
        assert!(s.contains("exit status: 3"), "{s}");
        assert!(s.ends_with("boom"), "{s}");
    }

    #[test]
    fn a_hanging_command_is_stopped_at_its_timeout() {
        let t0 = std::time::Instant::now();
        let e = Cmd::new("sleep")
            .arg("30")
            .timeout(std::time::Duration::from_millis(300))
            .output_any()
            .unwrap_err();
        assert!(t0.elapsed().as_secs() < 5);
        assert!(
            e.to_string().contains("sleep 30 did not finish within 0 s"),
            "{e}"
        );
        let out = Cmd::new("sh")
            .args(["-c", "echo out; echo err >&2"])
            .timeout(std::time::Duration::from_secs(10))
            .output_any()
            .unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    fn stdout_is_returned() {
        assert_eq!(Cmd::new("echo").arg("a b").stdout().unwrap(), "a b\n");
    }

    #[test]
    fn missing_program_is_an_error_naming_it() {
        let e = Cmd::new("/nonexistent/prog").output().unwrap_err();
        assert!(format!("{e:#}").contains("running /nonexistent/prog"));
    }

    #[test]
    fn quoting_for_display() {
        assert_eq!(shell_quote("abc/d.qcow2"), "abc/d.qcow2");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn stderr_tail_keeps_the_end() {
        let long = "x".repeat(5000) + "END";
        let t = stderr_tail(long.as_bytes());
        assert!(t.len() <= STDERR_TAIL);
        assert!(t.ends_with("END"));
        assert_eq!(stderr_tail(b"  \n"), "(no error output)");
    }

    #[test]
    fn child_dies_with_its_parent_thread() {
        // A thread spawns a long sleep and exits; PDEATHSIG kills the sleep.
        let child = std::thread::spawn(|| {
            Cmd::new("sleep")
                .arg("30")
                .spawn(Stdio::null(), Stdio::null())
                .unwrap()
        })
        .join()
        .unwrap();
        let mut child = child;
        let t0 = std::time::Instant::now();
        let status = child.wait().unwrap();
        assert!(t0.elapsed().as_secs() < 10);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }
}
