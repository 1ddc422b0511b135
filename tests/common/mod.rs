//! Shared helpers of the integration tests: the fixtures (built by
//! scripts/make-test-images.sh; a missing fixture fails the test, it never skips), the
//! imgseal binary with a private temp dir, hashing.
#![allow(dead_code)]

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn fixtures() -> PathBuf {
    let d = std::env::var_os("IMGSEAL_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixtures"));
    assert!(
        d.join(".stamp").exists(),
        "test fixtures missing in {}: run scripts/make-test-images.sh (scripts/test.sh does)",
        d.display()
    );
    d
}

pub fn fixture(name: &str) -> PathBuf {
    let p = fixtures().join(name);
    assert!(
        p.exists(),
        "fixture {} missing: run scripts/make-test-images.sh",
        p.display()
    );
    p
}

/// The fixture's description written by the fixture script.
pub fn fixture_meta(name: &str) -> Value {
    let p = fixtures().join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn vendor_dir() -> PathBuf {
    fixtures().join("vendor")
}

/// imgseal with its own temp dir (so a test can assert nothing is left in it), TCG (KVM is
/// broken on the CI hosts; the tests of the automatic fallback remove IMGSEAL_ACCEL), no
/// colour, no tree digest (`IMGSEAL_NO_TREE_DIGEST`: it hashes every guest file under TCG;
/// tests/reproducible.rs and the container test, which are about it, take it), and its own
/// cache dir for imgseal's records (a remembered KVM failure), so no
/// test depends on what another run remembered.
pub struct Imgseal {
    pub tmp: tempfile::TempDir,
    pub cache: tempfile::TempDir,
}

impl Imgseal {
    pub fn new() -> Imgseal {
        Imgseal {
            tmp: tempfile::Builder::new()
                .prefix("imgseal-test-")
                .tempdir()
                .unwrap(),
            cache: tempfile::Builder::new()
                .prefix("imgseal-test-cache-")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_imgseal"));
        c.env("IMGSEAL_TMPDIR", self.tmp.path())
            .env("IMGSEAL_ACCEL", "tcg")
            .env("IMGSEAL_CACHE_DIR", self.cache.path())
            .env("NO_COLOR", "1")
            .env("IMGSEAL_NO_TREE_DIGEST", "1")
            .env_remove("LIBGUESTFS_BACKEND_SETTINGS");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().expect("running imgseal");
        assert_no_panic(&out);
        out
    }

    /// Entries left in imgseal's temp dir (must be none after any run).
    pub fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

pub fn assert_no_panic(out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "imgseal panicked:\n{err}");
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            stdout(out),
            stderr(out)
        )
    })
}

pub fn sha256_file(p: &Path) -> String {
    hash_file::<Sha256>(p)
}

pub fn md5_file(p: &Path) -> String {
    hash_file::<md5::Md5>(p)
}

/// A file's digest in lower-case hex, streamed.
fn hash_file<D: Digest>(p: &Path) -> String {
    let mut f = std::fs::File::open(p).unwrap();
    let mut h = D::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// blkhash-sha256 the plain way, to check imgseal's against: every block hashed (no zero
/// shortcut, no threads), block `i` to stream `i % 64`, the result the SHA-256 of the
/// stream digests (blkhash's construction, 64 KiB blocks, 64 streams).
pub struct RefBlkhash {
    streams: Vec<Sha256>,
    blocks: usize,
}

pub const BLK: usize = 64 << 10;

impl RefBlkhash {
    pub fn new() -> RefBlkhash {
        RefBlkhash {
            streams: (0..64).map(|_| Sha256::new()).collect(),
            blocks: 0,
        }
    }

    /// The next block (only the last may be shorter than 64 KiB).
    pub fn block(&mut self, b: &[u8]) {
        assert!(!b.is_empty() && b.len() <= BLK);
        let d = Sha256::digest(b);
        self.streams[self.blocks % 64].update(d);
        self.blocks += 1;
    }

    /// `n` blocks of zeros.
    pub fn zero_blocks(&mut self, n: usize) {
        let d = Sha256::digest(vec![0u8; BLK]);
        for _ in 0..n {
            self.streams[self.blocks % 64].update(d);
            self.blocks += 1;
        }
    }

    pub fn hex(self) -> String {
        let mut root = Sha256::new();
        for s in self.streams {
            root.update(s.finalize());
        }
        root.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The SHA-256 and the reference blkhash-sha256 of a raw file's bytes, in one pass.
pub fn raw_digests(raw: &Path) -> (String, String) {
    let mut f = std::fs::File::open(raw).unwrap();
    let mut sha = Sha256::new();
    let mut blk = RefBlkhash::new();
    let mut buf = vec![0u8; BLK];
    loop {
        // A whole block unless the file ends.
        let mut n = 0;
        while n < BLK {
            let k = f.read(&mut buf[n..]).unwrap();
            if k == 0 {
                break;
            }
            n += k;
        }
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        blk.block(&buf[..n]);
    }
    let sha = sha.finalize().iter().map(|b| format!("{b:02x}")).collect();
    (sha, blk.hex())
}

/// The guest-visible bytes' SHA-256 and reference blkhash-sha256 the way anyone could
/// compute them: `qemu-img convert -O raw`, then hash the file.
pub fn content_digests(img: &Path, fmt: &str) -> (String, String) {
    let d = tempfile::tempdir().unwrap();
    let raw = d.path().join("content.raw");
    let st = Command::new("qemu-img")
        .args(["convert", "-f", fmt, "-O", "raw"])
        .arg(img)
        .arg(&raw)
        .status()
        .unwrap();
    assert!(st.success());
    raw_digests(&raw)
}

/// Pids of processes whose command line contains `needle`.
pub fn pids_with(needle: &str) -> Vec<u32> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cl) = std::fs::read(e.path().join("cmdline")) {
            let cl = String::from_utf8_lossy(&cl).replace('\0', " ");
            if cl.contains(needle) && pid != std::process::id() {
                v.push(pid);
            }
        }
    }
    v
}

/// `imgseal convert --json` with the test vendor packages; must succeed and leave nothing in
/// its temp dir. Returns the manifest it printed.
pub fn convert_to(input: &Path, output: &Path, extra: &[&str]) -> Value {
    let t = Imgseal::new();
    let vendor = vendor_dir();
    let mut args = vec![
        "-q",
        "convert",
        "--json",
        "--vendor-dir",
        vendor.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.extend(["-o", output.to_str().unwrap(), input.to_str().unwrap()]);
    let out = t.run(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}: convert failed:\n{}",
        input.display(),
        stderr(&out)
    );
    assert!(t.leftovers().is_empty(), "left {:?}", t.leftovers());
    json(&out)
}

/// An appliance with the given images attached read-only (writes go to libguestfs's own
/// throwaway overlay), for tests that read outputs with libguestfs directly.
pub fn open_images(images: &[(&Path, &str)]) -> imgseal::guest::launch::Appliance {
    use imgseal::guest::launch::{Appliance, Drive, LaunchOpts};
    // SAFETY of the environment: tests run imgseal's library in-process; TCG as in CI.
    let drives: Vec<Drive> = images
        .iter()
        .map(|(p, f)| Drive::file(p, f, true))
        .collect();
    let rep = imgseal::ui::Recorder::default();
    Appliance::launch(&drives, &LaunchOpts::default(), &rep).expect("launching a test appliance")
}

/// Reads a guest file, None if it does not exist.
pub fn guest_read(h: &imgseal::ffi::guestfs::Handle, path: &str) -> Option<String> {
    if !h.exists(path).unwrap() {
        return None;
    }
    h.read_file(path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// `path  sha256` of every regular file under `dir` (one call), as a map.
pub fn guest_sums(
    h: &imgseal::ffi::guestfs::Handle,
    dir: &str,
) -> std::collections::BTreeMap<String, String> {
    let f = tempfile::NamedTempFile::new().unwrap();
    h.checksums_out("sha256", dir, f.path().to_str().unwrap())
        .unwrap();
    std::fs::read_to_string(f.path())
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.split_once("  ")
                .map(|(s, p)| (p.trim_start_matches('.').to_string(), s.to_string()))
        })
        .collect()
}

/// An imgseal run in the background whose stderr lines are followed as they come (a reader
/// thread keeps the pipe drained, so the run's own logging never fails).
pub struct Running {
    pub child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Running {
    /// Spawns `cmd` with stderr piped and plain stage lines (stdout as the caller set it).
    pub fn spawn(mut cmd: Command) -> Running {
        use std::io::{BufRead, BufReader};
        let mut child = cmd
            .env("IMGSEAL_NO_PROGRESS", "1")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let err = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                log2.lock().unwrap().push_str(&format!("{l}\n"));
                let _ = tx.send(l);
            }
        });
        Running {
            child,
            lines: rx,
            log,
        }
    }

    /// Waits up to `limit` for a stderr line matching `pred`; false if none came before the
    /// limit or the end of stderr.
    pub fn wait_line(&self, limit: std::time::Duration, pred: impl Fn(&str) -> bool) -> bool {
        use std::sync::mpsc::RecvTimeoutError;
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            match self.lines.recv_timeout(std::time::Duration::from_secs(1)) {
                Ok(l) if pred(&l) => return true,
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
        false
    }

    /// Waits for convert's stage line `[   1.2s] STAGE: …`; panics with the log if it never comes.
    pub fn wait_stage(&self, stage: &str) {
        let seen = self.wait_line(std::time::Duration::from_secs(240), |l| {
            l.contains(&format!("] {stage}"))
        });
        assert!(seen, "never reached stage {stage}: {}", self.log());
    }

    /// Everything on stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits for the exit; the exit code (-1 for a signal) and all of stderr.
    pub fn finish(mut self) -> (i32, String) {
        let st = self.child.wait().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        (st.code().unwrap_or(-1), self.log())
    }
}

/// A `--junit` file as junitparser reads it (Debian's python3-junitparser, installed by
/// scripts/install-deps.sh; /usr/bin/python3 because a pyenv python may come first on PATH),
/// after `junit_summary.py` checked its structure and totals: `{"tests","failures","errors",
/// "skipped","suites":[{"name",…,"cases":[{"classname","name","result","message",…}]}]}`.
pub fn junit(path: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/junit_summary.py");
    let out = Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(path)
        .output()
        .expect("running /usr/bin/python3 (scripts/install-deps.sh installs it)");
    assert!(
        out.status.success(),
        "{}: junitparser refused it:\n{}\n{}",
        path.display(),
        stderr(&out),
        std::fs::read_to_string(path).unwrap_or_default()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The testcases of `classname` in a JUnit suite (from [`junit`]).
pub fn junit_cases<'a>(suite: &'a Value, classname: &str) -> Vec<&'a Value> {
    suite["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["classname"] == classname)
        .collect()
}

/// A check report (JSON) against its testcases of `classname` in a JUnit suite: one per
/// check, in order, named `RULE id`; fail a failure carrying the detail and every finding,
/// error an error, skip skipped, pass and warn passed (a warning's detail in system-out).
pub fn assert_junit_checks(suite: &Value, report: &Value, classname: &str) {
    let results = report["results"].as_array().unwrap();
    let cases = junit_cases(suite, classname);
    assert_eq!(cases.len(), results.len(), "{classname}: {suite}");
    for (c, r) in cases.iter().zip(results) {
        let name = format!(
            "{} {}",
            r["rule"].as_str().unwrap(),
            r["id"].as_str().unwrap()
        );
        assert_eq!(c["name"], name.as_str(), "{c}");
        let want = match r["status"].as_str().unwrap() {
            "pass" | "warn" => "passed",
            "fail" => "failure",
            "error" => "error",
            "skip" => "skipped",
            s => panic!("status {s}"),
        };
        assert_eq!(c["result"], want, "{name}: {c} for {r}");
        if want != "passed" {
            assert_eq!(c["message"], r["detail"], "{name}");
        }
        if want == "failure" {
            let text = c["text"].as_str().unwrap();
            for f in r["findings"].as_array().into_iter().flatten() {
                assert!(
                    text.contains(f.as_str().unwrap()),
                    "{name}: {f} not in {text}"
                );
            }
        }
        if r["status"] == "warn" {
            let out = c["system_out"].as_str().unwrap_or_default();
            assert!(out.contains(r["detail"].as_str().unwrap()), "{name}: {c}");
        }
    }
}
