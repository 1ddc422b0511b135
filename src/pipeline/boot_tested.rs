//! Stage 8½ (`--boot-test`): the sealed `OUTPUT.partial` booted once under qemu before it is
//! published (see [`crate::boot`]). A passing boot adds its section to the manifest; a
//! failing one ends the conversion with nothing published. The console log is kept beside
//! the output (`OUTPUT.boot.log`) either way.

use super::outcome::BootFailed;
use super::sealed::Sealed;
use super::settings::Shared;
use crate::ui::Reporter;
use anyhow::Result;

/// Boots the sealed output; Ok(Err(..)) when the boot test ran and failed.
pub fn boot_test(
    mut sealed: Sealed,
    s: &crate::boot::Settings,
    shared: &Shared,
    rep: &dyn Reporter,
) -> Result<std::result::Result<Sealed, Box<BootFailed>>> {
    crate::signals::check()?;
    let partial = sealed.claimed.partial.partial();
    let log = crate::boot::default_log(&sealed.claimed.target);
    // The vendor build the conversion installed, for the OS it found.
    let os = sealed.manifest.before.os.clone();
    let expect = |_: &crate::boot::judge::GuestReport| -> std::result::Result<String, String> {
        let v = shared.vendor.as_ref().map_err(|e| e.clone())?;
        v.find("cloud-init", &os)
            .and_then(|p| p.expected_version())
            .ok_or_else(|| format!("no vendor cloud-init for {}", os.short()))
    };
    let bt = crate::boot::run(
        &partial,
        &sealed.manifest.output.format,
        s,
        &expect,
        &log,
        rep,
    )?;
    if bt.passed {
        sealed.manifest.boot_test = Some(bt);
        return Ok(Ok(sealed));
    }
    let m = &sealed.manifest;
    Ok(Err(Box::new(BootFailed {
        schema: crate::manifest::SCHEMA,
        image: m.input.path.clone(),
        output: m.output.path.clone(),
        published: false,
        before: m.before.clone(),
        operations: m.operations.clone(),
        after: m.after.clone(),
        boot_test: bt,
    })))
}
