//! Stage 8: `OUTPUT.partial` is written, checked and hashed, and its manifest is complete but
//! for the timings. A stage that only examines the sealed output (a boot test) takes and
//! gives back a `Sealed`, adding its section to the manifest.

use super::claimed::Claimed;
use crate::image;
use crate::manifest::Manifest;

pub struct Sealed {
    pub manifest: Manifest,
    /// The output being written, still `OUTPUT.partial`.
    pub claimed: Claimed,
    /// The work directory and overlay, removed once published.
    pub disk: image::Attached,
}
