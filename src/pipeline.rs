//! The front half of every command: attach the image over NBD, launch one appliance,
//! inspect, mount. A [`Session`] owns all of it; `close()` undoes it in order and reports
//! failures, Drop undoes it best-effort.

use crate::facts::OsInfo;
use crate::guest::session::{Appliance, Drive, Guest, LaunchOpts};
use crate::image::{self, AttachOpts, Attached, Input};
use crate::ui::Reporter;
use anyhow::Result;

#[derive(Debug, Clone, Default)]
pub struct SessionOpts {
    pub attach: AttachOpts,
    pub launch: LaunchOpts,
    /// Mount read-only (inspect, check, dry runs).
    pub readonly: bool,
}

/// Field order is drop order: the appliance goes before the export it reads from.
pub struct Session {
    pub app: Appliance,
    pub attached: Attached,
    pub os: OsInfo,
    pub mounts: Vec<(String, String)>,
}

impl Session {
    pub fn open(input: &Input, opts: &SessionOpts, rep: &dyn Reporter) -> Result<Session> {
        rep.stage("attach", &input.display());
        let attached = image::attach(input, &opts.attach)?;
        rep.debug(&format!(
            "{}: {} {} bytes, {} in the first MiB; overlay {}",
            input.display(),
            attached.probe.format,
            attached.probe.virtual_size,
            attached.recognised,
            attached.overlay.display()
        ));
        crate::signals::check()?;
        rep.stage("launch", "starting the libguestfs appliance");
        let drive = Drive::nbd_unix(
            attached.export().socket(),
            image::nbd::EXPORT_NAME,
            opts.readonly,
        );
        let app = Appliance::launch(&[drive], &opts.launch, rep)?;
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
        crate::signals::check()?;
        rep.stage("inspect", "identifying the operating system");
        let mut os = app.inspect(&input.display())?;
        let mounts = if os.is_linux() {
            app.mount_os(&mut os, opts.readonly, false)?
        } else {
            vec![]
        };
        Ok(Session {
            app,
            attached,
            os,
            mounts,
        })
    }

    pub fn guest<'a>(&'a self, rep: &'a dyn Reporter) -> Guest<'a> {
        self.app.guest(rep)
    }

    /// Shuts the appliance down (checked) and removes the export, overlay and work dir.
    pub fn close(self) -> Result<()> {
        let Session { app, attached, .. } = self;
        let r1 = app.shutdown();
        let r2 = attached.close();
        r1.and(r2)
    }
}
