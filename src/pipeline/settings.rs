//! What every image of a run shares (convert and batch): the settings from the command line,
//! the vendor packages they name and the operations they select.

use crate::checks::{self, Report};
use crate::facts::OsInfo;
use crate::guest::fs::GuestFs;
use crate::image::{AttachOpts, Input};
use crate::ops;
use crate::profile;
use crate::seal::OutFormat;
use crate::vendor::Vendor;
use anyhow::{Result, bail};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Settings {
    pub force: bool,
    pub attach: AttachOpts,
    pub profile: profile::Loaded,
    pub vendor_dir: PathBuf,
    pub skip: Vec<String>,
    pub only: Vec<String>,
    pub dry_run: bool,
    pub network: bool,
    pub allow_unpinned: bool,
    /// None: qcow2, or the input's own format for --in-place.
    pub out_format: Option<OutFormat>,
    pub compress: bool,
    pub md5: bool,
    /// The manifest's content digest algorithm.
    pub digest: crate::digest::Algorithm,
    /// `--boot-test`: boot the sealed output before publishing it.
    pub boot_test: Option<crate::boot::Settings>,
    /// `SOURCE_DATE_EPOCH`: the mtime of every guest file imgseal writes, and the
    /// manifest's `created`.
    pub source_date_epoch: Option<i64>,
    /// Take the tree digest (`--no-tree-digest` leaves it out).
    pub tree_digest: bool,
}

/// The settings with the vendor manifest loaded from them and the operations they select.
pub struct Shared {
    pub settings: Settings,
    pub vendor: std::result::Result<Vendor, String>,
    pub defs: Vec<ops::OpDef>,
}

impl Shared {
    /// Loads the vendor manifest and selects the operations; refuses a run whose package
    /// swap has no manifest to take packages from.
    pub fn new(o: &Settings) -> Result<Shared> {
        let defs = ops::select(&o.skip, &o.only)?;
        let vendor = Vendor::load(&o.vendor_dir).map_err(|e| format!("{e:#}"));
        if let (Err(why), false) = (&vendor, o.dry_run)
            && defs.iter().any(|d| d.id == "cloud-init-swap")
        {
            bail!("{why}; or pass --skip cloud-init-swap");
        }
        Ok(Shared {
            settings: o.clone(),
            vendor,
            defs,
        })
    }

    /// Every rule check of the profile on a mounted guest.
    pub fn report(&self, fs: &dyn GuestFs, os: &OsInfo, image: &str) -> Result<Report> {
        let ctx = checks::Ctx::new(
            fs,
            os,
            &self.settings.profile.profile,
            self.vendor.as_ref().map_err(|e| e.clone()),
        );
        checks::run_all(&ctx, image, &self.settings.profile.profile.name)
    }
}

/// One image of a run.
#[derive(Debug, Clone)]
pub struct Job {
    pub input: Input,
    pub output: Option<PathBuf>,
    pub in_place: bool,
}
