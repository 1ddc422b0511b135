//! Guest access, always through the libguestfs appliance (never a host mount).

pub mod fastboot;
pub mod fs;
pub mod inspect;
/// In-memory [`fs::GuestFs`] for unit tests; also reachable as `fs::MemFs`.
#[cfg(test)]
pub mod memfs;
pub mod session;
