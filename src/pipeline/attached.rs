//! Stage 1: the input probed (formats explicit), a qcow2 overlay over it in a private work
//! directory, qemu-nbd exporting the overlay, the first MiB sniffed.

use super::launched::Launched;
use crate::guest::launch::{Appliance, Drive, LaunchOpts};
use crate::image::{self, AttachOpts, Input};
use crate::ui::Reporter;
use anyhow::Result;

pub struct Attached {
    pub input: Input,
    pub disk: image::Attached,
}

pub fn attach(input: &Input, opts: &AttachOpts, rep: &dyn Reporter) -> Result<Attached> {
    rep.stage("attach", &input.display());
    let disk = image::attach(input, opts)?;
    rep.debug(&format!(
        "{}: {} {} bytes, {} in the first MiB; overlay {}",
        input.display(),
        disk.probe.format,
        disk.probe.virtual_size,
        disk.recognised,
        disk.overlay.display()
    ));
    Ok(Attached {
        input: input.clone(),
        disk,
    })
}

impl Attached {
    /// One appliance over the export; `readonly` for inspect, check and dry runs.
    pub fn launch(self, readonly: bool, opts: &LaunchOpts, rep: &dyn Reporter) -> Result<Launched> {
        crate::signals::check()?;
        rep.stage("launch", "starting the libguestfs appliance");
        let drive = Drive::nbd_unix(
            self.disk.export().socket(),
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
            disk: self.disk,
            input: self.input,
            readonly,
        })
    }
}
