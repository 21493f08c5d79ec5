//! The CLI's offline exchange with attachment files: `export` carries them by default, `import` stores them
//! verified, a damaged file is refused whole; and an attached photo arrives without its location.

use casebook_tests::bytes::pseudo_random;

use std::path::Path;

/// A PNG with an `eXIf` chunk holding GPS coordinates (CRCs left zero: nothing here checks them).
fn png_with_gps() -> Vec<u8> {
    let chunk = |t: &[u8], d: &[u8]| [&(d.len() as u32).to_be_bytes()[..], t, d, &[0; 4]].concat();
    [
        &[0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'][..],
        &chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]),
        &chunk(b"eXIf", b"MM\0\x2a\0\0\0\x08GPS 48.8584N 2.2945E"),
        &chunk(b"IDAT", b"pixels"),
        &chunk(b"IEND", b""),
    ]
    .concat()
}

#[test]
fn exchange_files_carry_attachments_between_devices_without_a_relay() {
    let cli = casebook_tests::CliStores::new();
    let dir = cli.dir();
    let run = |store: &str, args: &[&str]| cli.run(store, args);
    let ok = |store: &str, args: &[&str]| cli.ok(store, args);
    let path = |f: &str| dir.join(f);
    let size = |f: &str| std::fs::metadata(path(f)).unwrap().len();

    ok("ana", &["case", "create", "--patient", "Maria", "--me", "Ana"]);
    let doc =
        ok("ana", &["document", "add", "Biopsy", "--kind", "pathology_report"])["id"].as_str().unwrap().to_string();
    let scan = pseudo_random(3 * 1024 * 1024 + 5, 3);
    std::fs::write(path("scan.pdf"), &scan).unwrap();
    let scan_id =
        ok("ana", &["attach", &doc, "scan.pdf", "--media-type", "application/pdf"])["id"].as_str().unwrap().to_string();
    std::fs::write(path("photo.png"), png_with_gps()).unwrap();
    let photo_id =
        ok("ana", &["attach", &doc, "photo.png", "--media-type", "image/png"])["id"].as_str().unwrap().to_string();

    // The default carries the files; `--no-attachments` the changes only.
    let r = ok("ana", &["export", "--out", "all.cbx"]);
    assert_eq!(r["attachments"], 2, "{r}");
    assert!(size("all.cbx") > scan.len() as u64);
    let (success, _, err) = run("ana", &["export", "--out", "human.cbx"]);
    assert!(success, "{err}");
    let r = ok("ana", &["export", "--out", "small.cbx", "--no-attachments"]);
    assert_eq!(r["attachments"], 0);
    assert!(size("small.cbx") < 1024 * 1024);

    // Ben, no relay anywhere: imports, opens both byte-identical (the photo without its location).
    let r = ok("ben", &["import", "all.cbx"]);
    assert_eq!((r["new_case"].as_bool(), r["new_attachments"].as_u64()), (Some(true), Some(2)), "{r}");
    ok("ben", &["open-attachment", &scan_id, "--out", "got.pdf"]);
    assert!(std::fs::read(path("got.pdf")).unwrap() == scan, "byte-identical");
    ok("ben", &["open-attachment", &photo_id, "--out", "got.png"]);
    let photo = std::fs::read(path("got.png")).unwrap();
    assert!(!photo.windows(7).any(|w| w == b"48.8584"), "the location is gone");
    assert!(photo.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0, 0, 0, 0]));
    let list = ok("ben", &["attachments"]);
    assert!(list.as_array().unwrap().iter().all(|a| a["on_device"] == true), "{list}");

    // Ben's state names the files he holds: an export since it carries none of them.
    let (success, state, err) = run("ben", &["state"]);
    assert!(success, "{err}");
    std::fs::write(path("ben.state"), state).unwrap();
    let r = ok("ana", &["export", "--out", "delta.cbx", "--since", "ben.state"]);
    assert_eq!(r["attachments"], 0, "{r}");

    // A damaged file (one byte of the scan flipped) is refused whole: no case, no file stored.
    let mut bad = std::fs::read(path("all.cbx")).unwrap();
    let at = bad.len() - 1024 * 1024;
    bad[at] ^= 0x20;
    std::fs::write(path("bad.cbx"), &bad).unwrap();
    let (success, _, err) = run("cy", &["import", "bad.cbx"]);
    assert!(!success && err.contains("SHA-256"), "{err}");
    let (success, _, err) = run("cy", &["import", "truncated.cbx"]);
    assert!(!success && err.contains("cannot read"), "{err}");
    std::fs::write(path("truncated.cbx"), &bad[..bad.len() / 2]).unwrap();
    let (success, _, err) = run("cy", &["import", "truncated.cbx"]);
    assert!(!success && err.contains("truncated"), "{err}");
    let cases = ok("cy", &["case", "list"]);
    assert_eq!(cases.as_array().map(Vec::len), Some(0), "{cases}");
    assert!(!Path::new(&path("all.cbx.part")).exists());
}
