//! On databases written by Debian's real rpm 4.18 and db_load (scripts/make-rpmdb-fixtures.sh;
//! a missing fixture fails the test, it never skips), compared with what rpm itself lists
//! from them; and on damaged copies made here.

use super::*;
use crate::guest::fs::MemFs;
use std::path::PathBuf;

fn fixture_dir() -> PathBuf {
    let base = std::env::var_os("IMGSEAL_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fixtures"));
    let d = base.join("rpmdb");
    assert!(
        d.join(".stamp").exists(),
        "rpm database fixtures missing in {}: run scripts/make-test-images.sh (or \
         scripts/make-rpmdb-fixtures.sh)",
        d.display()
    );
    d
}

pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let p = fixture_dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// rpm's own listing: `NAME EPOCH VERSION RELEASE ARCH`, sorted.
fn expected(name: &str) -> Vec<String> {
    String::from_utf8(fixture(name))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn listing(pkgs: &[Package]) -> Vec<String> {
    let mut v: Vec<String> = pkgs
        .iter()
        .map(|p| {
            format!(
                "{} {} {} {} {}",
                p.name,
                p.epoch.map_or("(none)".to_string(), |e| e.to_string()),
                p.version,
                p.release,
                p.arch.as_deref().unwrap_or("(none)")
            )
        })
        .collect();
    v.sort();
    v
}

fn cloud_init() -> Package {
    Package {
        name: "cloud-init".into(),
        epoch: None,
        version: "0.7.9".into(),
        release: "24.el7.centos".into(),
        arch: Some("noarch".into()),
    }
}

#[test]
fn sqlite_lists_what_rpm_lists() {
    let db = fixture("sqlite/rpmdb.sqlite");
    let all = sqlite::packages(&db, None).unwrap();
    assert_eq!(listing(&all), expected("sqlite.expected"));
    assert_eq!(all.len(), 63);
}

#[test]
fn sqlite_finds_packages_by_name() {
    let db = fixture("sqlite/rpmdb.sqlite");
    assert_eq!(
        sqlite::find(&db, None, "cloud-init").unwrap(),
        vec![cloud_init()]
    );
    let fw = sqlite::find(&db, None, "firewalld").unwrap();
    assert_eq!(fw.len(), 1);
    assert_eq!(fw[0].epoch, Some(1));
    assert_eq!(fw[0].arch.as_deref(), Some("x86_64"));
    assert_eq!(fw[0].version_release(), "0.6.3-13.el7_9");
    assert_eq!(
        sqlite::find(&db, None, "cloud-init-extra").unwrap()[0].version_release(),
        "1.0-2"
    );
    assert!(sqlite::find(&db, None, "cloud").unwrap().is_empty());
}

/// The fixture exercises what the reader claims to walk: a Packages b-tree with interior
/// pages, and headers longer than a page (overflow chains).
#[test]
fn the_sqlite_fixture_has_interior_pages_and_overflow_chains() {
    let db = fixture("sqlite/rpmdb.sqlite");
    let d = sqlite::Db::open(&db, None).unwrap();
    let root = d
        .schema()
        .unwrap()
        .into_iter()
        .find(|(t, n, _)| t == "table" && n == "Packages")
        .unwrap()
        .2;
    assert!(d.btree(root).unwrap().interior);
    let mut longest = 0;
    d.scan(root, &mut |_, rec| {
        longest = longest.max(rec.len());
        Ok(())
    })
    .unwrap();
    assert!(longest > 2 * d.page_size, "{longest}");
}

#[test]
fn a_committed_transaction_in_the_write_ahead_log_is_read() {
    let db = fixture("wal/rpmdb.sqlite");
    let wal = fixture("wal/rpmdb.sqlite-wal");
    // The log deletes cloud-init; the database file alone still holds it.
    let all = sqlite::packages(&db, Some(&wal)).unwrap();
    assert_eq!(listing(&all), expected("wal.expected"));
    assert!(
        sqlite::find(&db, Some(&wal), "cloud-init")
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        sqlite::find(&db, None, "cloud-init").unwrap(),
        vec![cloud_init()]
    );
    // A damaged frame ends the log before the commit: the transaction did not happen.
    let mut bad = wal.clone();
    let n = bad.len();
    bad[n - 100] ^= 0x55;
    assert_eq!(
        listing(&sqlite::packages(&db, Some(&bad)).unwrap()),
        expected("sqlite.expected")
    );
    // A log with another salt or a broken header is ignored as a whole.
    let mut bad = wal.clone();
    bad[16] ^= 1;
    assert_eq!(
        sqlite::find(&db, Some(&bad), "cloud-init").unwrap().len(),
        1
    );
    assert_eq!(
        sqlite::find(&db, Some(&wal[..20].to_vec()), "cloud-init")
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn berkeley_db_lists_what_rpm_lists() {
    let db = fixture("bdb/Packages");
    let all = bdb::packages(&db).unwrap();
    assert_eq!(listing(&all), expected("bdb.expected"));
    assert_eq!(bdb::find(&db, "cloud-init").unwrap(), vec![cloud_init()]);
    assert_eq!(bdb::find(&db, "firewalld").unwrap()[0].epoch, Some(1));
    assert!(bdb::find(&db, "cloud").unwrap().is_empty());
}

#[test]
fn berkeley_db_variants_rpm_never_writes_are_refused_by_name() {
    let db = fixture("bdb/Packages");
    let refused = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut d = db.clone();
        f(&mut d);
        bdb::packages(&d).unwrap_err().to_string()
    };
    let e = refused(&|d| d[12..16].copy_from_slice(&0x061561u32.to_be_bytes()));
    assert!(e.contains("big-endian"), "{e}");
    let e = refused(&|d| d[24] = 1);
    assert!(e.contains("encrypted"), "{e}");
    let e = refused(&|d| d[26] |= 1);
    assert!(e.contains("checksums"), "{e}");
    let e = refused(&|d| d[12] = 0);
    assert!(e.contains("not a Berkeley DB hash file"), "{e}");
    let e = bdb::packages(&fixture("sqlite/rpmdb.sqlite")).unwrap_err();
    assert!(e.to_string().contains("not a Berkeley DB"), "{e}");
    let e = sqlite::packages(&db, None).unwrap_err();
    assert!(e.to_string().contains("not an sqlite 3 database"), "{e}");
}

/// Pages that link back to themselves: an error, not a hang.
#[test]
fn loops_between_pages_are_errors() {
    // sqlite: make the Packages root's right-most child point at the root itself.
    let mut db = fixture("sqlite/rpmdb.sqlite");
    let d = sqlite::Db::open(&db, None).unwrap();
    let ps = d.page_size;
    let root = d
        .schema()
        .unwrap()
        .into_iter()
        .find(|(t, n, _)| t == "table" && n == "Packages")
        .unwrap()
        .2;
    drop(d);
    let at = (root as usize - 1) * ps + 8;
    db[at..at + 4].copy_from_slice(&root.to_be_bytes());
    let e = sqlite::packages(&db, None).unwrap_err().to_string();
    assert!(e.contains("twice"), "{e}");
    // Berkeley DB: an overflow page whose next page is itself.
    let mut b = fixture("bdb/Packages");
    let ps = le32(&b, 20).unwrap() as usize;
    let n = (1..b.len() / ps)
        .find(|&n| b[n * ps + 25] == 7 && le32(&b, n * ps + 16).unwrap() != 0)
        .expect("an overflow page with a successor");
    b[n * ps + 16..n * ps + 20].copy_from_slice(&(n as u32).to_le_bytes());
    let e = format!("{:#}", bdb::packages(&b).unwrap_err());
    assert!(e.contains("loops (at page"), "{e}");
    // sqlite: an overflow page whose next page is itself (the first overflow page of the
    // first Packages row, found by following the root's leftmost children).
    let mut db = fixture("sqlite/rpmdb.sqlite");
    let ps = 4096;
    let mut n = root as usize;
    while db[(n - 1) * ps] == 0x05 {
        let cell = u16::from_be_bytes([db[(n - 1) * ps + 12], db[(n - 1) * ps + 13]]) as usize;
        n = u32::from_be_bytes(db[(n - 1) * ps + cell..][..4].try_into().unwrap()) as usize;
    }
    assert_eq!(db[(n - 1) * ps], 0x0d, "a leaf");
    let cells = u16::from_be_bytes([db[(n - 1) * ps + 3], db[(n - 1) * ps + 4]]) as usize;
    let mut first_overflow = None;
    for i in 0..cells {
        let cell = u16::from_be_bytes([db[(n - 1) * ps + 8 + 2 * i], db[(n - 1) * ps + 9 + 2 * i]]);
        let page = &db[(n - 1) * ps..n * ps];
        let (size, o) = sqlite::varint(page, cell as usize).unwrap();
        let (_, o) = sqlite::varint(page, o).unwrap();
        if size > 4061 {
            let (u, x, m) = (4096u64, 4096 - 35, ((4096 - 12) * 32 / 255) - 23);
            let k = m + (size - m) % (u - 4);
            let local = if k <= x { k } else { m } as usize;
            first_overflow = Some(u32::from_be_bytes(
                page[o + local..][..4].try_into().unwrap(),
            ));
            break;
        }
    }
    let f = first_overflow.expect("a row with an overflow chain") as usize;
    db[(f - 1) * ps..(f - 1) * ps + 4].copy_from_slice(&(f as u32).to_be_bytes());
    let e = format!("{:#}", sqlite::packages(&db, None).unwrap_err());
    assert!(e.contains("ends early or loops"), "{e}");
}

#[test]
fn truncated_databases_are_errors() {
    let db = fixture("sqlite/rpmdb.sqlite");
    for cut in [0, 50, 100, 4096, db.len() / 2] {
        assert!(
            sqlite::packages(&db[..cut].to_vec(), None).is_err(),
            "cut {cut}"
        );
    }
    let b = fixture("bdb/Packages");
    for cut in [0, 100, 512, b.len() / 2] {
        assert!(bdb::packages(&b[..cut].to_vec()).is_err(), "cut {cut}");
    }
}

#[test]
fn headers_are_read_within_their_bounds() {
    use header::*;
    let h = build(&[
        string(NAME, "cloud-init"),
        string(VERSION, "22.1"),
        string(RELEASE, "5.el9"),
        int32(EPOCH, 2),
        string(ARCH, "noarch"),
    ]);
    let p = parse(&h).unwrap();
    assert_eq!(p.name, "cloud-init");
    assert_eq!(p.epoch, Some(2));
    assert_eq!(p.version_release(), "22.1-5.el9");
    // As a package file carries it: behind the header magic.
    let mut with_magic = vec![0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];
    with_magic.extend_from_slice(&h);
    assert_eq!(parse(&with_magic).unwrap(), p);
    // No name.
    let e = parse(&build(&[string(VERSION, "1"), string(RELEASE, "1")])).unwrap_err();
    assert!(e.to_string().contains("without a NAME"), "{e}");
    // A data size larger than the blob.
    let mut short = h.clone();
    short.truncate(h.len() - 3);
    assert!(parse(&short).is_err());
    // A string offset past the data, and a string without its NUL.
    let mut off = h.clone();
    off[8 + 8..8 + 12].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
    assert!(parse(&off).is_err());
    let mut nul = build(&[string(NAME, "x")]);
    let n = nul.len();
    nul[n - 1] = b'x';
    assert!(parse(&nul).is_err());
    assert!(parse(&[]).is_err());
    assert!(parse(&[0, 0, 0, 0, 0, 0, 0, 0]).is_err());
}

#[test]
fn guest_files_are_read_in_pieces_through_the_appliance() {
    let db = fixture("sqlite/rpmdb.sqlite");
    let fs = MemFs::new().bytes("/var/lib/rpm/rpmdb.sqlite", &db);
    let f = GuestFile::open(&fs, "/var/lib/rpm/rpmdb.sqlite").unwrap();
    assert_eq!(f.size(), db.len() as u64);
    assert_eq!(f.fetch(4000, 200).unwrap(), db[4000..4200]);
    assert!(f.fetch(db.len() as u64 - 10, 11).is_err());
    assert_eq!(
        sqlite::find(&f, None, "cloud-init").unwrap(),
        vec![cloud_init()]
    );
    assert!(GuestFile::open(&fs, "/var/lib/rpm").is_err());
}

#[test]
fn the_test_packages_file_reads_back() {
    let f = test_packages_file(&[("cloud-init", "0.7.9-24.el7.centos"), ("ufw", "0.36-2")]);
    let all = bdb::packages(&f).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(bdb::find(&f, "cloud-init").unwrap(), vec![cloud_init()]);
    assert_eq!(bdb::find(&f, "ufw").unwrap()[0].version_release(), "0.36-2");
}
