//! Guest access, always through the libguestfs appliance (never a host mount).

pub mod fastboot;
pub mod fs;
pub mod inspect;
pub mod session;
