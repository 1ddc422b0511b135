//! Guest access, always through the libguestfs appliance (never a host mount).
//!
//! - `launch`: drives, the launch (KVM else TCG, fast-boot copy) and the checked shutdown;
//! - `kvm_record`: a KVM launch failure remembered across runs, per host;
//! - `roots`: finding the one operating system root (imgseal's own `inspect`);
//! - `mount`: mounting it per fstab (read-only for inspect/check/dry runs);
//! - `appliance_fs`: the [`fs::GuestFs`] implementation over the appliance;
//! - `memo`: what an appliance remembers for one image (roots, guest file answers);
//! - `tree`: the tree digest (every file's metadata and content, no times), its format.

pub mod appliance_fs;
pub mod fastboot;
pub mod fs;
pub mod inspect;
pub mod kvm_record;
pub mod launch;
/// In-memory [`fs::GuestFs`] for unit tests; also reachable as `fs::MemFs`.
#[cfg(test)]
pub mod memfs;
pub mod memo;
pub mod mount;
pub mod registry;
pub mod roots;
pub mod tree;
