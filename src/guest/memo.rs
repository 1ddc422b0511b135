//! What an appliance remembers for the life of one image's session: the roots inspection
//! found and the guest file answers of its guest views. A leaf: the files that fill these
//! (`roots`, `appliance_fs`) and the appliance that holds them (`launch`) all import it.

use super::fs::{FileId, Meta};
use crate::facts::OsInfo;
use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

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

/// Facts computed from a file's content (an initramfs listing), remembered by the file's
/// identity ([`FileId`]) for the rest of the session. A write does not clear them: a file
/// that changed has a new identity and is read again; one that did not is not.
#[derive(Default)]
pub struct ContentMemo {
    facts: RefCell<HashMap<FactKey, Rc<dyn Any>>>,
}

/// What kind of fact (`"initramfs"`), about which file.
type FactKey = (&'static str, FileId);

impl ContentMemo {
    /// The fact of this kind remembered for this file, if any.
    pub fn get<T: 'static>(&self, kind: &'static str, id: &FileId) -> Option<Rc<T>> {
        let v = self.facts.borrow().get(&(kind, id.clone()))?.clone();
        v.downcast::<T>().ok()
    }

    pub fn put<T: 'static>(&self, kind: &'static str, id: FileId, fact: Rc<T>) {
        // Older identities of the same path are dead: drop them.
        let mut facts = self.facts.borrow_mut();
        facts.retain(|(k, i), _| *k != kind || i.path != id.path);
        facts.insert((kind, id), fact);
    }
}
