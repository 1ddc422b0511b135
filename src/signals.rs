//! SIGINT / SIGTERM / SIGHUP: stop cleanly. The first signal marks the run interrupted and
//! kills the helper processes imgseal started (qemu-img, qemu-nbd, the appliance), so that
//! whatever call is blocked fails at once and the normal error path's guards remove the
//! overlay, the export and any partial output. A second signal exits immediately.

use anyhow::{Result, bail};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static CHILDREN: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installs the handler (once per process).
pub fn install() {
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        for sig in signals.forever() {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                // Second signal: give up on cleaning.
                std::process::exit(crate::exit::INTERRUPTED);
            }
            eprintln!(
                "imgseal: signal {sig} received: stopping, cleaning up (again to exit at once)"
            );
            kill_children();
        }
    });
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Fails with "interrupted" once a signal arrived; called between stages.
pub fn check() -> Result<()> {
    if interrupted() {
        bail!(Interrupted);
    }
    Ok(())
}

/// The error a signal turns into (main maps it to exit code 130).
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "interrupted by a signal; the input is unchanged and partial files were removed",
        )
    }
}

impl std::error::Error for Interrupted {}

/// Whether an error chain comes from an interruption.
pub fn is_interrupted(e: &anyhow::Error) -> bool {
    interrupted() || e.chain().any(|c| c.is::<Interrupted>())
}

fn kill_children() {
    let pids: Vec<u32> = CHILDREN
        .lock()
        .map(|c| c.iter().copied().collect())
        .unwrap_or_default();
    for p in pids {
        crate::ffi::os::kill(p, libc::SIGKILL);
    }
}

/// Registers a helper process to be killed on interruption, for as long as the guard lives.
pub struct ChildGuard(u32);

impl ChildGuard {
    pub fn new(pid: u32) -> ChildGuard {
        if let Ok(mut c) = CHILDREN.lock() {
            c.insert(pid);
        }
        if interrupted() {
            crate::ffi::os::kill(pid, libc::SIGKILL);
        }
        ChildGuard(pid)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(mut c) = CHILDREN.lock() {
            c.remove(&self.0);
        }
    }
}
