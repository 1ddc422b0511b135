//! imgseal: prepares VM disk images for upload to a cloud without booting them.
//! See ARCHITECTURE notes in the README; `main.rs` is a thin shell over this library.

#![deny(unsafe_code)]

pub mod applies;
pub mod batch;
pub mod blkhash;
pub mod boot;
pub mod checks;
pub mod cli;
pub mod cmd;
pub mod convert;
pub mod diffmanifest;
pub mod digest;
pub mod doctor;
pub mod facts;
pub mod ffi;
pub mod guest;
pub mod image;
pub mod inspect;
pub mod installed;
pub mod junit;
pub mod manifest;
pub mod ops;
pub mod parse;
pub mod pipeline;
pub mod profile;
pub mod rule;
pub mod rules;
pub mod seal;
pub mod signals;
pub mod tomltext;
pub mod traces;
pub mod ui;
pub mod vendor;
pub mod verify;

/// Exit codes (a contract).
pub mod exit {
    /// Success; for `check`, the image is compliant.
    pub const OK: i32 = 0;
    /// The image is not compliant, or verification found a mismatch.
    pub const NONCOMPLIANT: i32 = 1;
    /// An error: bad input, a failed tool, a broken host.
    pub const ERROR: i32 = 2;
    /// Interrupted by SIGINT/SIGTERM.
    pub const INTERRUPTED: i32 = 130;
}
