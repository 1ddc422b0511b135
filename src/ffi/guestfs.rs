//! Safe wrapper over `libguestfs-sys`. This is the only module of imgseal with `unsafe`.
//!
//! Every call goes through one of a few conversion helpers, so that each C string passed in is
//! owned by Rust for the duration of the call, and each string, string list, buffer or struct
//! returned by libguestfs is copied into Rust values and freed exactly once.
//!
//! libguestfs's default error handler prints to stderr; the handle disables it and instead
//! returns [`GuestfsError`] values carrying the call name, message and errno.

use libguestfs_sys as sys;
use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::fmt;
use std::ptr;

/// An error from a libguestfs call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestfsError {
    /// The libguestfs call that failed, e.g. `mount_ro`.
    pub call: &'static str,
    /// libguestfs's message (`guestfs_last_error`).
    pub message: String,
    /// `guestfs_last_errno`, 0 if unknown.
    pub errno: i32,
}

impl fmt::Display for GuestfsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "guestfs_{}: {}", self.call, self.message)?;
        if self.errno != 0 {
            write!(f, " ({})", std::io::Error::from_raw_os_error(self.errno))?;
        }
        Ok(())
    }
}

impl std::error::Error for GuestfsError {}

pub type Result<T> = std::result::Result<T, GuestfsError>;

/// Converts a Rust string into a C string; an embedded NUL is an error naming the call.
pub fn to_cstring(call: &'static str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| GuestfsError {
        call,
        message: format!("argument contains a NUL byte: {:?}", s),
        errno: libc::EINVAL,
    })
}

/// A NULL-terminated `char **` built from Rust strings; owns every string it points to.
pub struct CStringList {
    _owned: Vec<CString>,
    ptrs: Vec<*mut c_char>,
}

impl CStringList {
    pub fn new(call: &'static str, items: &[&str]) -> Result<Self> {
        let owned = items
            .iter()
            .map(|s| to_cstring(call, s))
            .collect::<Result<Vec<_>>>()?;
        let mut ptrs: Vec<*mut c_char> = owned.iter().map(|c| c.as_ptr() as *mut c_char).collect();
        ptrs.push(ptr::null_mut());
        Ok(CStringList {
            _owned: owned,
            ptrs,
        })
    }

    /// From byte strings (guest file names need not be UTF-8).
    pub fn from_bytes(call: &'static str, items: &[&[u8]]) -> Result<Self> {
        let owned = items
            .iter()
            .map(|s| {
                CString::new(s.to_vec()).map_err(|_| GuestfsError {
                    call,
                    message: format!(
                        "argument contains a NUL byte: {:?}",
                        String::from_utf8_lossy(s)
                    ),
                    errno: libc::EINVAL,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut ptrs: Vec<*mut c_char> = owned.iter().map(|c| c.as_ptr() as *mut c_char).collect();
        ptrs.push(ptr::null_mut());
        Ok(CStringList {
            _owned: owned,
            ptrs,
        })
    }

    pub fn as_ptr(&self) -> *const *mut c_char {
        self.ptrs.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.ptrs.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Takes ownership of a `char *` returned by libguestfs: copies it and frees it.
///
/// # Safety
/// `p` must be NULL or a NUL-terminated string allocated with malloc.
unsafe fn take_string(p: *mut c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    unsafe { libc::free(p as *mut libc::c_void) };
    s
}

/// Takes ownership of a NULL-terminated `char **` returned by libguestfs.
///
/// # Safety
/// `p` must be a malloc'd NULL-terminated array of malloc'd strings.
unsafe fn take_string_list(p: *mut *mut c_char) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let item = unsafe { *p.add(i) };
        if item.is_null() {
            break;
        }
        out.push(unsafe { take_string(item) });
        i += 1;
    }
    unsafe { libc::free(p as *mut libc::c_void) };
    out
}

/// One file's extended attributes: (name, raw value) pairs.
pub type Xattrs = Vec<(String, Vec<u8>)>;

fn nul_error(call: &'static str) -> GuestfsError {
    GuestfsError {
        call,
        message: "a path contains a NUL byte".into(),
        errno: libc::EINVAL,
    }
}

/// The items of a list libguestfs returned (`len` and `val` of its struct), borrowed until
/// the caller frees the list. An empty list may carry any pointer, so none is made from it.
///
/// # Safety
/// `val` must point at `len` initialised items (or be anything when `len` is 0), alive for
/// as long as the slice is used.
unsafe fn items<'a, T>(len: u32, val: *const T) -> &'a [T] {
    if len == 0 {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(val, len as usize) }
    }
}

/// The handles of a hivex node or value list libguestfs returned (copied; the caller frees
/// the list).
///
/// # Safety
/// As [`items`].
unsafe fn handles<T>(len: u32, val: *const T, handle: impl Fn(&T) -> i64) -> Vec<i64> {
    unsafe { items(len, val) }.iter().map(handle).collect()
}

/// libguestfs appends a paragraph of debugging advice to some errors; keep what went wrong.
pub fn first_sentence(msg: &str) -> String {
    let cut = msg
        .find("\nTo see full error messages")
        .unwrap_or(msg.len());
    msg[..cut].split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Turns a flat `[k1, v1, k2, v2, ...]` list (libguestfs "hashtable" returns) into pairs.
pub fn pairs(flat: Vec<String>) -> Vec<(String, String)> {
    let mut it = flat.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}

/// The file type and metadata of one guest path (from `lstatns`: links are not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub mode: u32,
    pub size: u64,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub mtime_nsec: i64,
    pub ctime: i64,
    pub ctime_nsec: i64,
    pub dev: u64,
    pub ino: u64,
    /// The device a character or block special file stands for.
    pub rdev: u64,
}

fn stat_from(s: &sys::guestfs_statns) -> Stat {
    Stat {
        mode: s.st_mode as u32,
        size: s.st_size as u64,
        uid: s.st_uid as u32,
        gid: s.st_gid as u32,
        mtime: s.st_mtime_sec,
        mtime_nsec: s.st_mtime_nsec,
        ctime: s.st_ctime_sec,
        ctime_nsec: s.st_ctime_nsec,
        dev: s.st_dev as u64,
        ino: s.st_ino as u64,
        rdev: s.st_rdev as u64,
    }
}

/// libguestfs library version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: i64,
    pub minor: i64,
    pub release: i64,
    pub extra: String,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}{}",
            self.major, self.minor, self.release, self.extra
        )
    }
}

/// How a drive is added to the appliance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DriveOpts {
    pub readonly: bool,
    /// Always given: imgseal never lets qemu probe a format.
    pub format: String,
    /// `nbd` for an NBD export; `None` for a local file.
    pub protocol: Option<String>,
    /// Servers for a network protocol, e.g. `unix:/tmp/x/nbd.sock`.
    pub server: Vec<String>,
    /// Export name for NBD (the "filename" of a network drive).
    pub name: Option<String>,
    /// `unmap` lets fstrim inside the appliance reach the image.
    pub discard: Option<String>,
    pub cachemode: Option<String>,
}

/// A libguestfs handle. Closed (appliance killed if still running) on Drop.
pub struct Handle {
    g: *mut sys::guestfs_h,
    /// Every error message libguestfs raised (most recent last, bounded): a failed launch
    /// reports its real cause in messages before the last one.
    errors: Box<RefCell<Vec<String>>>,
}

const ERROR_LOG_MAX: usize = 16;

/// libguestfs error callback: records the message instead of printing it.
unsafe extern "C" fn record_error(
    _g: *mut sys::guestfs_h,
    opaque: *mut c_void,
    msg: *const c_char,
) {
    if opaque.is_null() || msg.is_null() {
        return;
    }
    // SAFETY: opaque is the Box<RefCell<..>> owned by the Handle, alive until guestfs_close.
    let log = unsafe { &*(opaque as *const RefCell<Vec<String>>) };
    let m = unsafe { CStr::from_ptr(msg) }
        .to_string_lossy()
        .into_owned();
    if let Ok(mut l) = log.try_borrow_mut() {
        if l.len() >= ERROR_LOG_MAX {
            l.remove(0);
        }
        l.push(m);
    }
}

// A handle may move between threads; it is never shared (all methods take &self but the
// type is !Sync).
unsafe impl Send for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        if !self.g.is_null() {
            unsafe { sys::guestfs_close(self.g) };
            self.g = ptr::null_mut();
        }
    }
}

/// Turns an int-returning call into a Result (-1 is the error value).
macro_rules! check_int {
    ($self:ident, $call:literal, $e:expr) => {{
        let r = unsafe { $e };
        if r == -1 {
            Err($self.error($call))
        } else {
            Ok(r)
        }
    }};
}

impl Handle {
    /// Creates a handle that ignores the `LIBGUESTFS_*` environment except for what imgseal
    /// passes on explicitly (see `guest::launch`), and reports errors only through return values.
    pub fn create() -> Result<Handle> {
        // flags = 0: parse the environment (LIBGUESTFS_BACKEND, _DEBUG, _TRACE ... stay usable
        // for debugging), keep close-on-exit so an exiting imgseal kills the appliance.
        let g = unsafe { sys::guestfs_create_flags(0) };
        if g.is_null() {
            return Err(GuestfsError {
                call: "create",
                message: "could not create a libguestfs handle".into(),
                errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
            });
        }
        let errors = Box::new(RefCell::new(Vec::new()));
        let opaque = &*errors as *const RefCell<Vec<String>> as *mut c_void;
        unsafe { sys::guestfs_set_error_handler(g, Some(record_error), opaque) };
        Ok(Handle { g, errors })
    }

    fn error(&self, call: &'static str) -> GuestfsError {
        let msg = unsafe { sys::guestfs_last_error(self.g) };
        let message = if msg.is_null() {
            "unknown error".to_string()
        } else {
            unsafe { CStr::from_ptr(msg) }
                .to_string_lossy()
                .into_owned()
        };
        let errno = unsafe { sys::guestfs_last_errno(self.g) };
        GuestfsError {
            call,
            message: first_sentence(&message),
            errno,
        }
    }

    fn string_call(
        &self,
        call: &'static str,
        f: impl FnOnce(*mut sys::guestfs_h) -> *mut c_char,
    ) -> Result<String> {
        let p = f(self.g);
        if p.is_null() {
            return Err(self.error(call));
        }
        Ok(unsafe { take_string(p) })
    }

    fn list_call(
        &self,
        call: &'static str,
        f: impl FnOnce(*mut sys::guestfs_h) -> *mut *mut c_char,
    ) -> Result<Vec<String>> {
        let p = f(self.g);
        if p.is_null() {
            return Err(self.error(call));
        }
        Ok(unsafe { take_string_list(p) })
    }

    fn path_stat(
        &self,
        call: &'static str,
        path: &str,
        f: unsafe extern "C" fn(*mut sys::guestfs_h, *const c_char) -> *mut sys::guestfs_statns,
    ) -> Result<Stat> {
        let p = to_cstring(call, path)?;
        let s = unsafe { f(self.g, p.as_ptr()) };
        if s.is_null() {
            return Err(self.error(call));
        }
        let out = unsafe { stat_from(&*s) };
        unsafe { sys::guestfs_free_statns(s) };
        Ok(out)
    }

    fn path_int(
        &self,
        call: &'static str,
        path: &str,
        f: unsafe extern "C" fn(*mut sys::guestfs_h, *const c_char) -> c_int,
    ) -> Result<c_int> {
        let p = to_cstring(call, path)?;
        let r = unsafe { f(self.g, p.as_ptr()) };
        if r == -1 {
            Err(self.error(call))
        } else {
            Ok(r)
        }
    }

    fn path_string(
        &self,
        call: &'static str,
        path: &str,
        f: unsafe extern "C" fn(*mut sys::guestfs_h, *const c_char) -> *mut c_char,
    ) -> Result<String> {
        let p = to_cstring(call, path)?;
        self.string_call(call, |g| unsafe { f(g, p.as_ptr()) })
    }

    fn path_list(
        &self,
        call: &'static str,
        path: &str,
        f: unsafe extern "C" fn(*mut sys::guestfs_h, *const c_char) -> *mut *mut c_char,
    ) -> Result<Vec<String>> {
        let p = to_cstring(call, path)?;
        self.list_call(call, |g| unsafe { f(g, p.as_ptr()) })
    }

    fn two_paths(
        &self,
        call: &'static str,
        a: &str,
        b: &str,
        f: unsafe extern "C" fn(*mut sys::guestfs_h, *const c_char, *const c_char) -> c_int,
    ) -> Result<()> {
        let a = to_cstring(call, a)?;
        let b = to_cstring(call, b)?;
        let r = unsafe { f(self.g, a.as_ptr(), b.as_ptr()) };
        if r == -1 {
            Err(self.error(call))
        } else {
            Ok(())
        }
    }

    // ---- configuration (before launch) ----

    pub fn set_backend_settings(&self, settings: &[&str]) -> Result<()> {
        let l = CStringList::new("set_backend_settings", settings)?;
        check_int!(
            self,
            "set_backend_settings",
            sys::guestfs_set_backend_settings(self.g, l.as_ptr())
        )
        .map(drop)
    }

    pub fn get_backend_settings(&self) -> Result<Vec<String>> {
        self.list_call("get_backend_settings", |g| unsafe {
            sys::guestfs_get_backend_settings(g)
        })
    }

    pub fn set_append(&self, append: &str) -> Result<()> {
        let a = to_cstring("set_append", append)?;
        check_int!(
            self,
            "set_append",
            sys::guestfs_set_append(self.g, a.as_ptr())
        )
        .map(drop)
    }

    /// The qemu binary libguestfs runs.
    pub fn get_hv(&self) -> Result<String> {
        self.string_call("get_hv", |g| unsafe { sys::guestfs_get_hv(g) })
    }

    /// Where libguestfs keeps its appliance cache (`$cachedir/.guestfs-$UID/appliance.d`).
    pub fn get_cachedir(&self) -> Result<String> {
        self.string_call("get_cachedir", |g| unsafe { sys::guestfs_get_cachedir(g) })
    }

    /// Where libguestfs looks for an appliance (a directory holding a fixed appliance).
    pub fn set_path(&self, path: &str) -> Result<()> {
        let p = to_cstring("set_path", path)?;
        check_int!(self, "set_path", sys::guestfs_set_path(self.g, p.as_ptr())).map(drop)
    }

    pub fn set_memsize(&self, mib: i32) -> Result<()> {
        check_int!(self, "set_memsize", sys::guestfs_set_memsize(self.g, mib)).map(drop)
    }

    pub fn set_network(&self, on: bool) -> Result<()> {
        check_int!(
            self,
            "set_network",
            sys::guestfs_set_network(self.g, on as c_int)
        )
        .map(drop)
    }

    pub fn add_drive(&self, filename: &str, o: &DriveOpts) -> Result<()> {
        let call = "add_drive_opts";
        let filename = to_cstring(call, filename)?;
        let format = to_cstring(call, &o.format)?;
        let protocol = o
            .protocol
            .as_deref()
            .map(|s| to_cstring(call, s))
            .transpose()?;
        let discard = o
            .discard
            .as_deref()
            .map(|s| to_cstring(call, s))
            .transpose()?;
        let cachemode = o
            .cachemode
            .as_deref()
            .map(|s| to_cstring(call, s))
            .transpose()?;
        let servers: Vec<&str> = o.server.iter().map(String::as_str).collect();
        let server = CStringList::new(call, &servers)?;
        let mut a = sys::guestfs_add_drive_opts_argv {
            bitmask: 0,
            readonly: 0,
            format: ptr::null(),
            iface: ptr::null(),
            name: ptr::null(),
            label: ptr::null(),
            protocol: ptr::null(),
            server: ptr::null(),
            username: ptr::null(),
            secret: ptr::null(),
            cachemode: ptr::null(),
            discard: ptr::null(),
            copyonread: 0,
            blocksize: 0,
        };
        a.bitmask |= 1 << sys::GUESTFS_ADD_DRIVE_OPTS_READONLY;
        a.readonly = o.readonly as c_int;
        a.bitmask |= 1 << sys::GUESTFS_ADD_DRIVE_OPTS_FORMAT;
        a.format = format.as_ptr();
        if let Some(p) = &protocol {
            a.bitmask |= 1 << sys::GUESTFS_ADD_DRIVE_OPTS_PROTOCOL;
            a.protocol = p.as_ptr();
        }
        if !server.is_empty() {
            a.bitmask |= 1 << sys::GUESTFS_ADD_DRIVE_OPTS_SERVER;
            a.server = server.as_ptr();
        }
        if let Some(d) = &discard {
            a.bitmask |= 1 << sys::GUESTFS_ADD_DRIVE_OPTS_DISCARD;
            a.discard = d.as_ptr();
        }
        if let Some(c) = &cachemode {
            a.bitmask |= 1 << sys::GUESTFS_ADD_DRIVE_OPTS_CACHEMODE;
            a.cachemode = c.as_ptr();
        }
        check_int!(
            self,
            "add_drive_opts",
            sys::guestfs_add_drive_opts_argv(self.g, filename.as_ptr(), &a)
        )
        .map(drop)
    }

    /// A temporary blank disk that lives only as long as the appliance (used by `doctor`).
    pub fn add_drive_scratch(&self, size: i64) -> Result<()> {
        let a = sys::guestfs_add_drive_scratch_argv {
            bitmask: 0,
            name: ptr::null(),
            label: ptr::null(),
            blocksize: 0,
        };
        check_int!(
            self,
            "add_drive_scratch",
            sys::guestfs_add_drive_scratch_argv(self.g, size, &a)
        )
        .map(drop)
    }

    // ---- lifecycle ----

    /// Launches the appliance. On failure the message holds every error libguestfs raised
    /// during the launch (the cause usually comes before "guestfs_launch failed").
    pub fn launch(&self) -> Result<()> {
        self.errors.borrow_mut().clear();
        let r = unsafe { sys::guestfs_launch(self.g) };
        if r != -1 {
            return Ok(());
        }
        let mut e = self.error("launch");
        let msgs: Vec<String> = self
            .errors
            .borrow()
            .iter()
            .filter(|m| {
                !m.contains("see earlier error messages") && !m.contains("guestfs_launch failed")
            })
            .cloned()
            .collect();
        if !msgs.is_empty() {
            e.message = msgs.join("; ");
        }
        Err(e)
    }

    /// Cleanly shuts the appliance down; an error means writes may not have reached the disks.
    pub fn shutdown(&self) -> Result<()> {
        check_int!(self, "shutdown", sys::guestfs_shutdown(self.g)).map(drop)
    }

    /// The qemu process id (after launch).
    pub fn pid(&self) -> Result<i32> {
        check_int!(self, "get_pid", sys::guestfs_get_pid(self.g))
    }

    pub fn version(&self) -> Result<Version> {
        let v = unsafe { sys::guestfs_version(self.g) };
        if v.is_null() {
            return Err(self.error("version"));
        }
        let out = unsafe {
            Version {
                major: (*v).major,
                minor: (*v).minor,
                release: (*v).release,
                extra: if (*v).extra.is_null() {
                    String::new()
                } else {
                    CStr::from_ptr((*v).extra).to_string_lossy().into_owned()
                },
            }
        };
        unsafe { sys::guestfs_free_version(v) };
        Ok(out)
    }

    /// The appliance's kernel: `uname -r` and `uname -v` (after launch).
    pub fn utsname(&self) -> Result<(String, String)> {
        let u = unsafe { sys::guestfs_utsname(self.g) };
        if u.is_null() {
            return Err(self.error("utsname"));
        }
        let field = |p: *mut c_char| {
            if p.is_null() {
                String::new()
            } else {
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            }
        };
        let out = unsafe { (field((*u).uts_release), field((*u).uts_version)) };
        unsafe { sys::guestfs_free_utsname(u) };
        Ok(out)
    }

    // ---- inspection ----

    pub fn inspect_os(&self) -> Result<Vec<String>> {
        self.list_call("inspect_os", |g| unsafe { sys::guestfs_inspect_os(g) })
    }

    /// (major, minor) version of an operating system `inspect_os` found.
    pub fn inspect_get_version(&self, root: &str) -> Result<(i32, i32)> {
        let major = self.path_int(
            "inspect_get_major_version",
            root,
            sys::guestfs_inspect_get_major_version,
        )?;
        let minor = self.path_int(
            "inspect_get_minor_version",
            root,
            sys::guestfs_inspect_get_minor_version,
        )?;
        Ok((major, minor))
    }

    /// (mountpoint, device) pairs of an operating system `inspect_os` found.
    pub fn inspect_get_mountpoints(&self, root: &str) -> Result<Vec<(String, String)>> {
        let r = to_cstring("inspect_get_mountpoints", root)?;
        self.list_call("inspect_get_mountpoints", |g| unsafe {
            sys::guestfs_inspect_get_mountpoints(g, r.as_ptr())
        })
        .map(pairs)
    }

    /// One of the string-valued `inspect_get_*` calls, by name.
    pub fn inspect_get(&self, what: InspectField, root: &str) -> Result<String> {
        use InspectField::*;
        let f: unsafe extern "C" fn(*mut sys::guestfs_h, *const c_char) -> *mut c_char = match what
        {
            Type => sys::guestfs_inspect_get_type,
            Distro => sys::guestfs_inspect_get_distro,
            Arch => sys::guestfs_inspect_get_arch,
            ProductName => sys::guestfs_inspect_get_product_name,
            PackageFormat => sys::guestfs_inspect_get_package_format,
            PackageManagement => sys::guestfs_inspect_get_package_management,
            Hostname => sys::guestfs_inspect_get_hostname,
            OsInfo => sys::guestfs_inspect_get_osinfo,
        };
        self.path_string(what.call(), root, f)
    }

    /// (device, vfs type) pairs for every filesystem the appliance sees.
    pub fn list_filesystems(&self) -> Result<Vec<(String, String)>> {
        self.list_call("list_filesystems", |g| unsafe {
            sys::guestfs_list_filesystems(g)
        })
        .map(pairs)
    }

    pub fn list_devices(&self) -> Result<Vec<String>> {
        self.list_call("list_devices", |g| unsafe { sys::guestfs_list_devices(g) })
    }

    pub fn list_partitions(&self) -> Result<Vec<String>> {
        self.list_call("list_partitions", |g| unsafe {
            sys::guestfs_list_partitions(g)
        })
    }

    pub fn list_md_devices(&self) -> Result<Vec<String>> {
        self.list_call("list_md_devices", |g| unsafe {
            sys::guestfs_list_md_devices(g)
        })
    }

    /// Logical volumes as `/dev/VG/LV`.
    pub fn lvs(&self) -> Result<Vec<String>> {
        self.list_call("lvs", |g| unsafe { sys::guestfs_lvs(g) })
    }

    pub fn vfs_uuid(&self, dev: &str) -> Result<String> {
        self.path_string("vfs_uuid", dev, sys::guestfs_vfs_uuid)
    }

    pub fn vfs_label(&self, dev: &str) -> Result<String> {
        self.path_string("vfs_label", dev, sys::guestfs_vfs_label)
    }

    pub fn vfs_type(&self, dev: &str) -> Result<String> {
        self.path_string("vfs_type", dev, sys::guestfs_vfs_type)
    }

    /// The subvolumes of a btrfs filesystem: (id, path from the top level), e.g.
    /// `(256, "root")`. The daemon mounts the filesystem itself for the listing.
    pub fn btrfs_subvolume_list(&self, fs: &str) -> Result<Vec<(u64, String)>> {
        let f = to_cstring("btrfs_subvolume_list", fs)?;
        let r = unsafe { sys::guestfs_btrfs_subvolume_list(self.g, f.as_ptr()) };
        if r.is_null() {
            return Err(self.error("btrfs_subvolume_list"));
        }
        let out = unsafe {
            let vals = items((*r).len, (*r).val);
            vals.iter()
                .map(|v| {
                    let path = if v.btrfssubvolume_path.is_null() {
                        String::new()
                    } else {
                        std::ffi::CStr::from_ptr(v.btrfssubvolume_path)
                            .to_string_lossy()
                            .into_owned()
                    };
                    (v.btrfssubvolume_id, path)
                })
                .collect()
        };
        unsafe { sys::guestfs_free_btrfssubvolume_list(r) };
        Ok(out)
    }

    // ---- mounting ----

    pub fn mount(&self, dev: &str, mountpoint: &str) -> Result<()> {
        self.two_paths("mount", dev, mountpoint, sys::guestfs_mount)
    }

    pub fn mount_ro(&self, dev: &str, mountpoint: &str) -> Result<()> {
        self.two_paths("mount_ro", dev, mountpoint, sys::guestfs_mount_ro)
    }

    pub fn umount(&self, mountpoint: &str) -> Result<()> {
        let m = to_cstring("umount", mountpoint)?;
        let a = sys::guestfs_umount_opts_argv {
            bitmask: 0,
            force: 0,
            lazyunmount: 0,
        };
        check_int!(
            self,
            "umount",
            sys::guestfs_umount_opts_argv(self.g, m.as_ptr(), &a)
        )
        .map(drop)
    }

    pub fn umount_all(&self) -> Result<()> {
        check_int!(self, "umount_all", sys::guestfs_umount_all(self.g)).map(drop)
    }

    pub fn sync(&self) -> Result<()> {
        check_int!(self, "sync", sys::guestfs_sync(self.g)).map(drop)
    }

    pub fn fstrim(&self, mountpoint: &str) -> Result<()> {
        let m = to_cstring("fstrim", mountpoint)?;
        let a = sys::guestfs_fstrim_argv {
            bitmask: 0,
            offset: 0,
            length: 0,
            minimumfreeextent: 0,
        };
        check_int!(
            self,
            "fstrim",
            sys::guestfs_fstrim_argv(self.g, m.as_ptr(), &a)
        )
        .map(drop)
    }

    /// Runs the filesystem's fsck; returns its exit status (0 clean, 1 errors corrected, ...).
    pub fn fsck(&self, fstype: &str, dev: &str) -> Result<i32> {
        let t = to_cstring("fsck", fstype)?;
        let d = to_cstring("fsck", dev)?;
        check_int!(
            self,
            "fsck",
            sys::guestfs_fsck(self.g, t.as_ptr(), d.as_ptr())
        )
    }

    pub fn mkswap(&self, dev: &str, label: Option<&str>, uuid: Option<&str>) -> Result<()> {
        let call = "mkswap";
        let d = to_cstring(call, dev)?;
        let l = label.map(|s| to_cstring(call, s)).transpose()?;
        let u = uuid.map(|s| to_cstring(call, s)).transpose()?;
        let mut a = sys::guestfs_mkswap_opts_argv {
            bitmask: 0,
            label: ptr::null(),
            uuid: ptr::null(),
        };
        if let Some(l) = &l {
            a.bitmask |= 1 << sys::GUESTFS_MKSWAP_OPTS_LABEL;
            a.label = l.as_ptr();
        }
        if let Some(u) = &u {
            a.bitmask |= 1 << sys::GUESTFS_MKSWAP_OPTS_UUID;
            a.uuid = u.as_ptr();
        }
        check_int!(
            self,
            "mkswap",
            sys::guestfs_mkswap_opts_argv(self.g, d.as_ptr(), &a)
        )
        .map(drop)
    }

    /// Discards every block of a device (they read back as zeros through the overlay).
    pub fn blkdiscard(&self, dev: &str) -> Result<()> {
        self.path_int("blkdiscard", dev, sys::guestfs_blkdiscard)
            .map(drop)
    }

    /// Writes zeros over a whole device (skipping blocks that already read as zero).
    pub fn zero_device(&self, dev: &str) -> Result<()> {
        self.path_int("zero_device", dev, sys::guestfs_zero_device)
            .map(drop)
    }

    /// Writes `SUM  ./path` lines for every regular file under `dir` to a host file.
    pub fn checksums_out(&self, csumtype: &str, dir: &str, host_file: &str) -> Result<()> {
        let c = to_cstring("checksums_out", csumtype)?;
        let d = to_cstring("checksums_out", dir)?;
        let f = to_cstring("checksums_out", host_file)?;
        check_int!(
            self,
            "checksums_out",
            sys::guestfs_checksums_out(self.g, c.as_ptr(), d.as_ptr(), f.as_ptr())
        )
        .map(drop)
    }

    /// A tar archive of `dir` (every filesystem mounted below it too) written to a host file,
    /// which may be a pipe (`/dev/fd/N`): numeric owners, and with `xattrs` every extended
    /// attribute (GNU tar's pax `SCHILY.xattr.*` records). One call, streamed.
    pub fn tar_out(&self, dir: &str, host_file: &str, xattrs: bool) -> Result<()> {
        let d = to_cstring("tar_out", dir)?;
        let f = to_cstring("tar_out", host_file)?;
        let mut a = sys::guestfs_tar_out_opts_argv {
            bitmask: 0,
            compress: ptr::null(),
            numericowner: 1,
            excludes: ptr::null(),
            xattrs: xattrs as c_int,
            selinux: 0,
            acls: 0,
        };
        a.bitmask |= 1 << sys::GUESTFS_TAR_OUT_OPTS_NUMERICOWNER;
        a.bitmask |= 1 << sys::GUESTFS_TAR_OUT_OPTS_XATTRS;
        check_int!(
            self,
            "tar_out",
            sys::guestfs_tar_out_opts_argv(self.g, d.as_ptr(), f.as_ptr(), &a)
        )
        .map(drop)
    }

    /// `tune2fs -l` of an ext2/3/4 filesystem as (field, value) pairs.
    pub fn tune2fs_l(&self, dev: &str) -> Result<Vec<(String, String)>> {
        self.path_list("tune2fs_l", dev, sys::guestfs_tune2fs_l)
            .map(pairs)
    }

    // ---- files (paths are resolved inside the guest root by the appliance) ----

    pub fn exists(&self, path: &str) -> Result<bool> {
        self.path_int("exists", path, sys::guestfs_exists)
            .map(|r| r != 0)
    }

    /// Metadata of `path` itself (a link is not followed).
    pub fn lstat(&self, path: &str) -> Result<Stat> {
        self.path_stat("lstatns", path, sys::guestfs_lstatns)
    }

    /// Metadata of what `path` resolves to (links followed).
    pub fn stat(&self, path: &str) -> Result<Stat> {
        self.path_stat("statns", path, sys::guestfs_statns)
    }

    /// lstat of many names in one directory in one round trip; None for names that do not
    /// exist.
    pub fn lstat_list(&self, dir: &str, names: &[&str]) -> Result<Vec<Option<Stat>>> {
        let names: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
        self.lstat_list_bytes(dir.as_bytes(), &names)
    }

    /// lstat of many names (bytes) in one directory (bytes); None for names that do not
    /// exist. libguestfs splits a long list into as many daemon calls as its messages need.
    pub fn lstat_list_bytes(&self, dir: &[u8], names: &[&[u8]]) -> Result<Vec<Option<Stat>>> {
        let d = CString::new(dir.to_vec()).map_err(|_| nul_error("lstatnslist"))?;
        let l = CStringList::from_bytes("lstatnslist", names)?;
        let r = unsafe { sys::guestfs_lstatnslist(self.g, d.as_ptr(), l.as_ptr()) };
        if r.is_null() {
            return Err(self.error("lstatnslist"));
        }
        let out = unsafe {
            let vals = items((*r).len, (*r).val);
            vals.iter()
                .map(|s| (s.st_ino != -1).then(|| stat_from(s)))
                .collect()
        };
        unsafe { sys::guestfs_free_statns_list(r) };
        Ok(out)
    }

    /// The extended attributes of many names in one directory (links not followed): for
    /// each name, its (attribute, value) pairs.
    pub fn lxattr_list(&self, dir: &[u8], names: &[&[u8]]) -> Result<Vec<Xattrs>> {
        let d = CString::new(dir.to_vec()).map_err(|_| nul_error("lxattrlist"))?;
        let l = CStringList::from_bytes("lxattrlist", names)?;
        let r = unsafe { sys::guestfs_lxattrlist(self.g, d.as_ptr(), l.as_ptr()) };
        if r.is_null() {
            return Err(self.error("lxattrlist"));
        }
        // The flat list holds, per name, a header entry (empty name, the count as decimal
        // text) and then that many attributes.
        let flat: Vec<(String, Vec<u8>)> = unsafe {
            let vals = items((*r).len, (*r).val);
            vals.iter()
                .map(|x| {
                    let name = if x.attrname.is_null() {
                        String::new()
                    } else {
                        CStr::from_ptr(x.attrname).to_string_lossy().into_owned()
                    };
                    let val = if x.attrval.is_null() {
                        vec![]
                    } else {
                        std::slice::from_raw_parts(x.attrval as *const u8, x.attrval_len as usize)
                            .to_vec()
                    };
                    (name, val)
                })
                .collect()
        };
        unsafe { sys::guestfs_free_xattr_list(r) };
        let bad = || GuestfsError {
            call: "lxattrlist",
            message: "a reply that does not follow the documented layout".into(),
            errno: 0,
        };
        let mut out = Vec::with_capacity(names.len());
        let mut it = flat.into_iter();
        while let Some((h, count)) = it.next() {
            if !h.is_empty() {
                return Err(bad());
            }
            let n: usize = std::str::from_utf8(&count)
                .ok()
                .and_then(|c| c.trim_end_matches('\0').parse().ok())
                .ok_or_else(bad)?;
            out.push(it.by_ref().take(n).collect());
        }
        if out.len() != names.len() {
            return Err(bad());
        }
        Ok(out)
    }

    /// readlink of many names in one directory; an empty string for a name that is not a
    /// link (or cannot be read).
    pub fn readlink_list(&self, dir: &[u8], names: &[&[u8]]) -> Result<Vec<String>> {
        let d = CString::new(dir.to_vec()).map_err(|_| nul_error("readlinklist"))?;
        let l = CStringList::from_bytes("readlinklist", names)?;
        self.list_call("readlinklist", |g| unsafe {
            sys::guestfs_readlinklist(g, d.as_ptr(), l.as_ptr())
        })
    }

    /// Every name below `dir`, recursively, relative to it, written NUL-separated to a
    /// host file (one call; names are bytes, unsorted; links are not followed).
    pub fn find0(&self, dir: &str, host_file: &str) -> Result<()> {
        self.two_paths("find0", dir, host_file, sys::guestfs_find0)
    }

    /// Every name below `dir`, recursively, relative to it (links are not followed).
    pub fn find(&self, dir: &str) -> Result<Vec<String>> {
        self.path_list("find", dir, sys::guestfs_find)
    }

    pub fn readlink(&self, path: &str) -> Result<String> {
        self.path_string("readlink", path, sys::guestfs_readlink)
    }

    pub fn ls(&self, dir: &str) -> Result<Vec<String>> {
        self.path_list("ls", dir, sys::guestfs_ls)
    }

    pub fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let p = to_cstring("read_file", path)?;
        let mut size: usize = 0;
        let buf = unsafe { sys::guestfs_read_file(self.g, p.as_ptr(), &mut size) };
        self.take_buffer("read_file", buf, size)
    }

    /// Up to `count` bytes of a file from `offset` in one daemon call (fewer at the end of
    /// the file, none past it). Cheaper than `read_file`, which goes through a download.
    pub fn pread(&self, path: &str, count: i32, offset: i64) -> Result<Vec<u8>> {
        let p = to_cstring("pread", path)?;
        let mut size: usize = 0;
        let buf = unsafe { sys::guestfs_pread(self.g, p.as_ptr(), count, offset, &mut size) };
        self.take_buffer("pread", buf, size)
    }

    /// `count` bytes of a block device from `offset` (fewer at its end).
    pub fn pread_device(&self, device: &str, count: i32, offset: i64) -> Result<Vec<u8>> {
        let d = to_cstring("pread_device", device)?;
        let mut size: usize = 0;
        let buf =
            unsafe { sys::guestfs_pread_device(self.g, d.as_ptr(), count, offset, &mut size) };
        self.take_buffer("pread_device", buf, size)
    }

    /// A disk's partitions as (number, start byte).
    pub fn part_list(&self, device: &str) -> Result<Vec<(i32, u64)>> {
        let d = to_cstring("part_list", device)?;
        let r = unsafe { sys::guestfs_part_list(self.g, d.as_ptr()) };
        if r.is_null() {
            return Err(self.error("part_list"));
        }
        let out = unsafe { items((*r).len, (*r).val) }
            .iter()
            .map(|p| (p.part_num, p.part_start))
            .collect();
        unsafe { sys::guestfs_free_partition_list(r) };
        Ok(out)
    }

    /// A disk's partition table type (`msdos`, `gpt`).
    pub fn part_get_parttype(&self, device: &str) -> Result<String> {
        let d = to_cstring("part_get_parttype", device)?;
        self.string_call("part_get_parttype", |g| unsafe {
            sys::guestfs_part_get_parttype(g, d.as_ptr())
        })
    }

    /// A GPT partition's unique GUID (upper case, dashed).
    pub fn part_get_gpt_guid(&self, device: &str, partnum: i32) -> Result<String> {
        let d = to_cstring("part_get_gpt_guid", device)?;
        self.string_call("part_get_gpt_guid", |g| unsafe {
            sys::guestfs_part_get_gpt_guid(g, d.as_ptr(), partnum)
        })
    }

    // ---- Windows registry hives (hivex, run by the appliance's daemon) ----
    // libguestfs holds one open hive per handle: `hivex_open` replaces it, `hivex_close` drops
    // it without writing, `hivex_commit` writes the changes back into the guest file.

    /// Opens the hive file at a guest path, for writing when `write`.
    pub fn hivex_open(&self, path: &str, write: bool) -> Result<()> {
        // GUESTFS_HIVEX_OPEN_WRITE is optional argument 2 of hivex_open.
        const WRITE_BITMASK: u64 = 1 << 2;
        let p = to_cstring("hivex_open", path)?;
        let args = sys::guestfs_hivex_open_argv {
            bitmask: if write { WRITE_BITMASK } else { 0 },
            verbose: 0,
            debug: 0,
            write: c_int::from(write),
            unsafe_: 0,
        };
        check_int!(
            self,
            "hivex_open",
            sys::guestfs_hivex_open_argv(self.g, p.as_ptr(), &args)
        )
        .map(|_| ())
    }

    pub fn hivex_close(&self) -> Result<()> {
        check_int!(self, "hivex_close", sys::guestfs_hivex_close(self.g)).map(|_| ())
    }

    /// Writes the open hive back to the file it was opened from.
    pub fn hivex_commit(&self) -> Result<()> {
        check_int!(
            self,
            "hivex_commit",
            sys::guestfs_hivex_commit(self.g, ptr::null())
        )
        .map(|_| ())
    }

    pub fn hivex_root(&self) -> Result<i64> {
        check_int!(self, "hivex_root", sys::guestfs_hivex_root(self.g))
    }

    /// The child key of `node` named `name` (case-insensitive, as Windows compares); None when
    /// there is none.
    pub fn hivex_node_get_child(&self, node: i64, name: &str) -> Result<Option<i64>> {
        let n = to_cstring("hivex_node_get_child", name)?;
        let r = check_int!(
            self,
            "hivex_node_get_child",
            sys::guestfs_hivex_node_get_child(self.g, node, n.as_ptr())
        )?;
        Ok((r != 0).then_some(r))
    }

    pub fn hivex_node_children(&self, node: i64) -> Result<Vec<i64>> {
        let r = unsafe { sys::guestfs_hivex_node_children(self.g, node) };
        if r.is_null() {
            return Err(self.error("hivex_node_children"));
        }
        let out = unsafe { handles((*r).len, (*r).val, |n| n.hivex_node_h) };
        unsafe { sys::guestfs_free_hivex_node_list(r) };
        Ok(out)
    }

    pub fn hivex_node_name(&self, node: i64) -> Result<String> {
        self.string_call("hivex_node_name", |g| unsafe {
            sys::guestfs_hivex_node_name(g, node)
        })
    }

    pub fn hivex_node_values(&self, node: i64) -> Result<Vec<i64>> {
        let r = unsafe { sys::guestfs_hivex_node_values(self.g, node) };
        if r.is_null() {
            return Err(self.error("hivex_node_values"));
        }
        let out = unsafe { handles((*r).len, (*r).val, |v| v.hivex_value_h) };
        unsafe { sys::guestfs_free_hivex_value_list(r) };
        Ok(out)
    }

    /// A value's name (empty for the key's default value).
    pub fn hivex_value_key(&self, value: i64) -> Result<String> {
        self.string_call("hivex_value_key", |g| unsafe {
            sys::guestfs_hivex_value_key(g, value)
        })
    }

    /// A value's registry type (REG_SZ = 1, REG_DWORD = 4, ...).
    pub fn hivex_value_type(&self, value: i64) -> Result<i64> {
        check_int!(
            self,
            "hivex_value_type",
            sys::guestfs_hivex_value_type(self.g, value)
        )
    }

    /// A value's raw bytes.
    pub fn hivex_value_value(&self, value: i64) -> Result<Vec<u8>> {
        let mut size: usize = 0;
        let buf = unsafe { sys::guestfs_hivex_value_value(self.g, value, &mut size) };
        self.take_buffer("hivex_value_value", buf, size)
    }

    /// Sets (adds or replaces) the value `name` of `node` to `data` of registry type `kind`.
    pub fn hivex_node_set_value(
        &self,
        node: i64,
        name: &str,
        kind: i64,
        data: &[u8],
    ) -> Result<()> {
        let n = to_cstring("hivex_node_set_value", name)?;
        check_int!(
            self,
            "hivex_node_set_value",
            sys::guestfs_hivex_node_set_value(
                self.g,
                node,
                n.as_ptr(),
                kind,
                data.as_ptr() as *const c_char,
                data.len()
            )
        )
        .map(|_| ())
    }

    /// The parent key of `node` (an error for the root).
    pub fn hivex_node_parent(&self, node: i64) -> Result<i64> {
        check_int!(
            self,
            "hivex_node_parent",
            sys::guestfs_hivex_node_parent(self.g, node)
        )
    }

    /// Deletes `node` with its values and every key below it.
    pub fn hivex_node_delete_child(&self, node: i64) -> Result<()> {
        check_int!(
            self,
            "hivex_node_delete_child",
            sys::guestfs_hivex_node_delete_child(self.g, node)
        )
        .map(|_| ())
    }

    /// Adds an empty child key `name` under `parent`; its handle.
    pub fn hivex_node_add_child(&self, parent: i64, name: &str) -> Result<i64> {
        let n = to_cstring("hivex_node_add_child", name)?;
        check_int!(
            self,
            "hivex_node_add_child",
            sys::guestfs_hivex_node_add_child(self.g, parent, n.as_ptr())
        )
    }

    /// Copies a buffer libguestfs returned (`size` bytes) and frees it; NULL is the call's error.
    fn take_buffer(&self, call: &'static str, buf: *mut c_char, size: usize) -> Result<Vec<u8>> {
        if buf.is_null() {
            return Err(self.error(call));
        }
        let out = unsafe { std::slice::from_raw_parts(buf as *const u8, size) }.to_vec();
        unsafe { libc::free(buf as *mut libc::c_void) };
        Ok(out)
    }

    pub fn write(&self, path: &str, content: &[u8]) -> Result<()> {
        let p = to_cstring("write", path)?;
        check_int!(
            self,
            "write",
            sys::guestfs_write(
                self.g,
                p.as_ptr(),
                content.as_ptr() as *const c_char,
                content.len()
            )
        )
        .map(drop)
    }

    pub fn upload(&self, host_file: &str, guest_path: &str) -> Result<()> {
        self.two_paths("upload", host_file, guest_path, sys::guestfs_upload)
    }

    pub fn rm(&self, path: &str) -> Result<()> {
        self.path_int("rm", path, sys::guestfs_rm).map(drop)
    }

    pub fn rm_rf(&self, path: &str) -> Result<()> {
        self.path_int("rm_rf", path, sys::guestfs_rm_rf).map(drop)
    }

    pub fn rmdir(&self, path: &str) -> Result<()> {
        self.path_int("rmdir", path, sys::guestfs_rmdir).map(drop)
    }

    pub fn mkdir_p(&self, path: &str) -> Result<()> {
        self.path_int("mkdir_p", path, sys::guestfs_mkdir_p)
            .map(drop)
    }

    pub fn truncate(&self, path: &str) -> Result<()> {
        self.path_int("truncate", path, sys::guestfs_truncate)
            .map(drop)
    }

    pub fn ln_s(&self, target: &str, linkname: &str) -> Result<()> {
        self.two_paths("ln_s", target, linkname, sys::guestfs_ln_s)
    }

    /// Sets the access and modification times of `path` itself (a link is not followed).
    pub fn utimens(&self, path: &str, secs: i64, nsecs: i64) -> Result<()> {
        let p = to_cstring("utimens", path)?;
        check_int!(
            self,
            "utimens",
            sys::guestfs_utimens(self.g, p.as_ptr(), secs, nsecs, secs, nsecs)
        )
        .map(drop)
    }

    pub fn chmod(&self, mode: u32, path: &str) -> Result<()> {
        let p = to_cstring("chmod", path)?;
        check_int!(
            self,
            "chmod",
            sys::guestfs_chmod(self.g, mode as c_int, p.as_ptr())
        )
        .map(drop)
    }

    /// Free bytes available to unprivileged users on the filesystem holding `path`.
    pub fn statvfs_avail(&self, path: &str) -> Result<u64> {
        let p = to_cstring("statvfs", path)?;
        let s = unsafe { sys::guestfs_statvfs(self.g, p.as_ptr()) };
        if s.is_null() {
            return Err(self.error("statvfs"));
        }
        let out = unsafe { ((*s).bavail as u64).saturating_mul((*s).bsize as u64) };
        unsafe { sys::guestfs_free_statvfs(s) };
        Ok(out)
    }

    /// Runs a program of the guest, chrooted into the mounted guest root, with argv (no shell).
    /// Returns stdout; a non-zero exit is an error whose message holds the program's stderr.
    pub fn command(&self, argv: &[&str]) -> Result<String> {
        let l = CStringList::new("command", argv)?;
        self.string_call("command", |g| unsafe {
            sys::guestfs_command(g, l.as_ptr())
        })
    }
}

/// String-valued inspection fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectField {
    Type,
    Distro,
    Arch,
    ProductName,
    PackageFormat,
    PackageManagement,
    Hostname,
    OsInfo,
}

impl InspectField {
    fn call(self) -> &'static str {
        match self {
            InspectField::Type => "inspect_get_type",
            InspectField::Distro => "inspect_get_distro",
            InspectField::Arch => "inspect_get_arch",
            InspectField::ProductName => "inspect_get_product_name",
            InspectField::PackageFormat => "inspect_get_package_format",
            InspectField::PackageManagement => "inspect_get_package_management",
            InspectField::Hostname => "inspect_get_hostname",
            InspectField::OsInfo => "inspect_get_osinfo",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_list_is_null_terminated_and_owns_its_strings() {
        let l = CStringList::new("t", &["a", "bc", ""]).unwrap();
        assert_eq!(l.len(), 3);
        let got: Vec<String> = (0..3)
            .map(|i| {
                unsafe { CStr::from_ptr(*l.as_ptr().add(i)) }
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(got, vec!["a", "bc", ""]);
        assert!(unsafe { *l.as_ptr().add(3) }.is_null());
    }

    #[test]
    fn nul_byte_in_an_argument_is_an_error_naming_the_call() {
        let e = CStringList::new("mount", &["ok", "bad\0x"]).err().unwrap();
        assert_eq!(e.call, "mount");
        assert_eq!(e.errno, libc::EINVAL);
        assert!(
            e.to_string()
                .starts_with("guestfs_mount: argument contains a NUL byte")
        );
    }

    #[test]
    fn returned_strings_and_lists_are_copied_and_freed() {
        // Build malloc'd values the way libguestfs returns them and take them back.
        unsafe {
            let s = libc::strdup(c"hello".as_ptr());
            assert_eq!(take_string(s), "hello");
            assert_eq!(take_string(ptr::null_mut()), "");
            let arr = libc::malloc(3 * std::mem::size_of::<*mut c_char>()) as *mut *mut c_char;
            *arr = libc::strdup(c"/dev/sda1".as_ptr());
            *arr.add(1) = libc::strdup(c"ext4".as_ptr());
            *arr.add(2) = ptr::null_mut();
            let l = take_string_list(arr);
            assert_eq!(
                pairs(l),
                vec![("/dev/sda1".to_string(), "ext4".to_string())]
            );
        }
    }

    #[test]
    fn debugging_advice_is_cut_from_messages() {
        let m = "/usr/bin/qemu-system-x86_64 killed by signal 9 (Killed).\nTo see full error messages you may need to enable debugging.\nDo:\n  export LIBGUESTFS_DEBUG=1";
        assert_eq!(
            first_sentence(m),
            "/usr/bin/qemu-system-x86_64 killed by signal 9 (Killed)."
        );
        assert_eq!(first_sentence("a\n  b"), "a b");
    }

    #[test]
    fn pairs_drops_an_odd_trailing_key() {
        assert_eq!(
            pairs(vec!["a".into(), "1".into(), "b".into()]),
            vec![("a".to_string(), "1".to_string())]
        );
    }

    #[test]
    fn error_display_names_call_message_and_errno() {
        let e = GuestfsError {
            call: "read_file",
            message: "/etc/x: No such file or directory".into(),
            errno: libc::ENOENT,
        };
        let s = e.to_string();
        assert!(
            s.starts_with("guestfs_read_file: /etc/x: No such file or directory ("),
            "{s}"
        );
        assert!(s.contains("No such file or directory (os error 2)"), "{s}");
    }

    #[test]
    fn a_fresh_handle_reports_errors_through_results() {
        let g = Handle::create().expect("guestfs_create");
        // Not launched: any daemon call fails with a message, without printing.
        let e = g.exists("/").unwrap_err();
        assert_eq!(e.call, "exists");
        assert!(!e.message.is_empty());
        let v = g.version().unwrap();
        assert_eq!(v.major, 1);
    }
}
