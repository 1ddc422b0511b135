//! What an appliance remembers for the life of one image's session: the roots inspection
//! found and the guest file answers of its guest views. Below everything but `fs` (the file
//! types it stores): the files that fill these
//! (`roots`, `appliance_fs`) and the appliance that holds them (`launch`) all import it.

use super::fs::{ContentMemo, Meta};
use crate::facts::OsInfo;
use std::cell::RefCell;
use std::collections::HashMap;

/// One operating system root found by inspection.
#[derive(Debug, Clone)]
pub struct Root {
    pub(super) os: OsInfo,
    pub(super) mountpoints: Vec<(String, String)>,
}

/// The answers a guest view ([`super::appliance_fs::Guest`]) remembers. It lives in the
/// appliance, so what one stage of an image read (the "before" check) serves the next (the
/// operations); it is cleared on every write, guest command, mount and unmount.
#[derive(Default)]
pub struct GuestCache {
    pub(super) stats: RefCell<HashMap<String, Option<Meta>>>,
    pub(super) lists: RefCell<HashMap<String, Vec<String>>>,
    pub(super) reads: RefCell<HashMap<String, Vec<u8>>>,
    pub(super) finds: RefCell<HashMap<String, Vec<String>>>,
    /// Not cleared: its answers are keyed by file identity, which a change renews.
    pub(super) contents: ContentMemo,
    /// A registry hive is open on the handle (libguestfs holds one at a time).
    pub(super) hive_open: std::cell::Cell<bool>,
}

impl GuestCache {
    /// Forgets every remembered answer: the guest is about to change.
    pub fn clear(&self) {
        self.stats.borrow_mut().clear();
        self.lists.borrow_mut().clear();
        self.reads.borrow_mut().clear();
        self.finds.borrow_mut().clear();
    }
}
