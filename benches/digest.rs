//! `cargo bench`: imgseal's streamed SHA-256 and its NBD content digests, each against the
//! baseline a user would run, measured in the same run (ratios, not absolute times).

use std::io::Write;
use std::process::Command;
use std::time::Instant;

fn best_of<F: FnMut()>(n: usize, mut f: F) -> f64 {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let rep = imgseal::ui::Recorder::default();
    let dir = tempfile::Builder::new()
        .prefix("imgseal-bench-")
        .tempdir_in("/dev/shm")
        .unwrap();
    let size: usize = 1 << 30;
    let data = dir.path().join("data.bin");
    {
        // Incompressible, deterministic data.
        let mut f = std::fs::File::create(&data).unwrap();
        let mut x: u64 = 0x9E3779B97F4A7C15;
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..(size >> 20) {
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            f.write_all(&buf).unwrap();
        }
    }
    let ours = best_of(3, || {
        imgseal::seal::hash_file(&data, false, &rep).unwrap();
    });
    let theirs = best_of(3, || {
        assert!(
            Command::new("sha256sum")
                .arg(&data)
                .output()
                .unwrap()
                .status
                .success()
        );
    });
    println!(
        "sha256 of 1 GiB: imgseal {:.2} s ({:.0} MB/s), sha256sum {:.2} s: ratio {:.2}x (goal >= 1.5)",
        ours,
        size as f64 / ours / 1e6,
        theirs,
        theirs / ours
    );

    // Content digest of a 1 GiB raw image over NBD vs qemu-img convert to raw + sha256sum.
    let work = tempfile::tempdir_in("/dev/shm").unwrap();
    let ours = best_of(3, || {
        imgseal::seal::content_digest(
            &data,
            "raw",
            work.path(),
            imgseal::digest::Algorithm::Sha256,
            &rep,
        )
        .unwrap();
    });
    let blk = best_of(3, || {
        imgseal::seal::content_digest(
            &data,
            "raw",
            work.path(),
            imgseal::digest::Algorithm::BlkhashSha256,
            &rep,
        )
        .unwrap();
    });
    let raw = dir.path().join("copy.raw");
    let theirs = best_of(3, || {
        assert!(
            Command::new("qemu-img")
                .args(["convert", "-f", "raw", "-O", "raw"])
                .arg(&data)
                .arg(&raw)
                .status()
                .unwrap()
                .success()
        );
        assert!(
            Command::new("sha256sum")
                .arg(&raw)
                .output()
                .unwrap()
                .status
                .success()
        );
        std::fs::remove_file(&raw).unwrap();
    });
    println!(
        "content digest (sha256) of 1 GiB over NBD: imgseal {:.2} s, qemu-img convert + sha256sum {:.2} s: ratio {:.2}x (goal >= 1.0)",
        ours,
        theirs,
        theirs / ours
    );
    println!(
        "content digest (blkhash-sha256, all data, every core) of 1 GiB over NBD: imgseal {:.2} s: ratio {:.2}x against qemu-img convert + sha256sum",
        blk,
        theirs / blk
    );
}
