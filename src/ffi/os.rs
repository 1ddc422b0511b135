//! Safe wrappers for the few POSIX calls imgseal needs beyond std.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// Makes the child receive SIGKILL when the thread that spawned it dies (also when imgseal
/// itself is killed with SIGKILL), so no qemu-nbd or qemu-img outlives imgseal.
pub fn die_with_parent(c: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: prctl, getppid and _exit are async-signal-safe; nothing is allocated after fork.
    unsafe {
        c.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// Sends a signal; false if the process does not exist (or cannot be signalled).
pub fn kill(pid: u32, sig: i32) -> bool {
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(pid as libc::pid_t, sig) == 0 }
}

/// Whether a process with this pid exists (possibly owned by someone else).
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

pub fn geteuid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Bytes available to unprivileged users on the filesystem holding `p`.
pub fn free_bytes(p: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes())?;
    // SAFETY: statvfs writes only into the struct we pass.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(s.f_bavail as u64 * s.f_frsize as u64)
}

/// The filesystem (device) id of a path, to tell whether a rename can be atomic.
pub fn same_filesystem(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata(a)?.dev() == std::fs::metadata(b)?.dev())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_checks() {
        assert!(pid_alive(std::process::id() as i32));
        assert!(!pid_alive(0));
        assert!(!pid_alive(-5));
        assert!(kill(std::process::id(), 0));
    }

    #[test]
    fn free_space_of_tmp() {
        assert!(free_bytes(Path::new("/tmp")).unwrap() > 0);
        assert!(free_bytes(Path::new("/nonexistent/x")).is_err());
        assert!(same_filesystem(Path::new("/tmp"), Path::new("/tmp")).unwrap());
    }
}
