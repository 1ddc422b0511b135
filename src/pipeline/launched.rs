//! Stage 2: one libguestfs appliance running over the attached disk.

use super::inspected::Inspected;
use crate::guest::launch::Appliance;
use crate::image::{self, Input};
use crate::ui::Reporter;
use anyhow::Result;

/// Field order is drop order: the appliance goes before the export it reads from.
pub struct Launched {
    pub app: Appliance,
    pub disk: image::Attached,
    pub input: Input,
    pub readonly: bool,
}

impl Launched {
    /// The one operating system root, mounted per its fstab (read-only if launched so).
    pub fn inspect(self, rep: &dyn Reporter) -> Result<Inspected> {
        crate::signals::check()?;
        rep.stage("inspect", "identifying the operating system");
        let mut os = self.app.inspect(&self.input.display())?;
        let mounts = self.app.mount_os(&mut os, self.readonly)?;
        Ok(Inspected {
            app: self.app,
            disk: self.disk,
            input: self.input,
            os,
            mounts,
        })
    }
}
