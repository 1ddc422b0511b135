//! The only place in imgseal with `unsafe` code (the crate root denies it everywhere else):
//! the libguestfs wrapper and a handful of POSIX calls std does not offer.

#![allow(unsafe_code)]

pub mod guestfs;
pub mod os;
