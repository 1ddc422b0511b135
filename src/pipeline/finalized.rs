//! Stage 7: finalized — the tree digest taken, the guest trimmed, swap recreated, the appliance shut down (checked)
//! and every write in the overlay.

use super::compliant::Compliant;
use super::inspected::Inspected;
use crate::checks::Report;
use crate::guest::tree::{self, TreeDigest};
use crate::image::{self, Input};
use crate::manifest::ApplianceInfo;
use crate::ops::OpResult;
use crate::ui::Reporter;
use anyhow::Result;

pub struct Finalized {
    pub disk: image::Attached,
    pub input: Input,
    pub before: Report,
    pub ops: Vec<OpResult>,
    pub after: Report,
    /// What finalizing did (fstrim, swap, the relabel flag), in words.
    pub notes: Vec<String>,
    pub appliance: ApplianceInfo,
    /// The guest's tree digest, taken after every change and before the shutdown (None
    /// with `--no-tree-digest`).
    pub tree: Option<TreeDigest>,
    /// Seconds the tree digest took (the manifest's `seconds.tree-digest`).
    pub tree_seconds: f64,
    /// The appliance's kernel, `uname -r` and `-v` (the manifest's environment).
    pub appliance_kernel: String,
}

impl Finalized {
    /// The tree digest of the finished guest (every file change is done: the operations,
    /// the relabel flag; what follows changes no file), fstrim of every mounted filesystem
    /// (the discards reach the overlay, so free space is not copied), swap recreated empty,
    /// and the appliance shut down — checked, since a failed shutdown may have lost writes.
    pub fn finalize(c: Compliant, tree_digest: bool, rep: &dyn Reporter) -> Result<Finalized> {
        crate::signals::check()?;
        let t0 = std::time::Instant::now();
        let tree = if tree_digest {
            rep.stage("finalize", "tree digest of the guest's files");
            let tree = tree::digest(c.session.guest(rep).tree()?);
            rep.debug(&format!(
                "tree digest {} over {} entries in {:.1} s",
                tree.sha256,
                tree.entries,
                t0.elapsed().as_secs_f64()
            ));
            Some(tree)
        } else {
            None
        };
        let tree_seconds = t0.elapsed().as_secs_f64();
        let appliance_kernel = match c.session.app.handle().utsname() {
            Ok((release, version)) => format!("{release} {version}"),
            Err(e) => format!("unknown ({})", e.message),
        };
        crate::signals::check()?;
        let mut notes = c.notes;
        notes.extend(crate::seal::finalize(
            &c.session.app,
            &c.session.mounts,
            rep,
        )?);
        let appliance = c.session.appliance_info();
        let Inspected {
            app, disk, input, ..
        } = c.session;
        rep.stage("finalize", "shutting the appliance down");
        app.shutdown()?;
        Ok(Finalized {
            disk,
            input,
            before: c.before,
            ops: c.ops,
            after: c.after,
            notes,
            appliance,
            tree,
            tree_seconds,
            appliance_kernel,
        })
    }
}
