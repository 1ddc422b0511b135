//! Stage 9: the output under its final name. The sidecars and the manifest are written
//! first and the output is renamed last (atomic), so a visible OUTPUT always has true
//! sidecars.

use super::clock::Clock;
use super::sealed::Sealed;
use crate::manifest::Manifest;
use crate::seal;
use crate::ui::Reporter;
use anyhow::Result;

pub struct Published {
    pub manifest: Manifest,
}

impl Published {
    pub fn publish(sealed: Sealed, mut clock: Clock, rep: &dyn Reporter) -> Result<Published> {
        crate::signals::check()?;
        let Sealed {
            mut manifest,
            claimed,
            disk,
        } = sealed;
        let paths = &claimed.partial.paths;
        let name = paths.file_name();
        seal::write_atomic(
            &paths.sha256(),
            seal::sha256_line(&manifest.output.sha256, &name).as_bytes(),
        )?;
        match &manifest.output.md5 {
            Some(md5) => seal::write_atomic(&paths.md5(), format!("{md5}  {name}\n").as_bytes())?,
            None => {
                let _ = std::fs::remove_file(paths.md5());
            }
        }
        clock.done("manifest");
        manifest.seconds = clock.finish();
        seal::write_atomic(
            &paths.manifest(),
            serde_json::to_string_pretty(&manifest)?.as_bytes(),
        )?;
        crate::signals::check()?;
        rep.stage("publish", &claimed.target.display().to_string());
        claimed.partial.publish()?;
        disk.close()?;
        Ok(Published { manifest })
    }
}
