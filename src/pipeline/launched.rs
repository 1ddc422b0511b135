//! Stage 2: one libguestfs appliance running over the attached disk.

use super::attached::Attached;
use crate::guest::launch::{Appliance, Drive, LaunchOpts};
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
    /// One appliance over the export; `readonly` for inspect, check and dry runs.
    pub fn launch(
        attached: Attached,
        readonly: bool,
        opts: &LaunchOpts,
        rep: &dyn Reporter,
    ) -> Result<Launched> {
        crate::signals::check()?;
        rep.stage("launch", "starting the libguestfs appliance");
        let drive = Drive::nbd_unix(
            attached.disk.export().socket(),
            image::nbd::EXPORT_NAME,
            readonly,
        );
        let app = Appliance::launch(&[drive], opts, rep)?;
        rep.debug(&format!(
            "appliance up in {:.1} s with {}{}",
            app.launch_secs,
            app.accel.name(),
            if app.fast_boot {
                " (fast-boot appliance)"
            } else {
                ""
            }
        ));
        Ok(Launched {
            app,
            disk: attached.disk,
            input: attached.input,
            readonly,
        })
    }
}
