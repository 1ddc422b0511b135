//! Guest access, always through the libguestfs appliance (never a host mount).

pub mod fs;
pub mod session;
