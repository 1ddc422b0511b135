//! Pure parsers over the text of guest files. No I/O: every parser is unit tested on
//! realistic samples and fuzzed for panics.

pub mod cloudcfg;
pub mod dhclient;
pub mod dpkg;
pub mod fstab;
pub mod grub;
pub mod ini;
pub mod interfaces;
pub mod netplan;
pub mod repos;
pub mod shellvars;
pub mod yaml;
