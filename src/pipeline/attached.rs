//! Stage 1: the input probed (formats explicit), a qcow2 overlay over it in a private work
//! directory, qemu-nbd exporting the overlay, the first MiB sniffed.

use crate::image::{self, AttachOpts, Input};
use crate::ui::Reporter;
use anyhow::Result;

pub struct Attached {
    pub input: Input,
    pub disk: image::Attached,
}

impl Attached {
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
}
