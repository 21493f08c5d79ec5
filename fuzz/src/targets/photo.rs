//! `photo`: the location stripper of attached photos ([`strip_location`]: JPEG, PNG, HEIF, WebP parsers) on
//! hostile bytes. Invariants: no panic; it returns (never loops: the run's budget would stall); an
//! unrecognised file comes back unchanged; a HEIF or WebP keeps its length (blanked in place), a JPEG or
//! PNG never grows; the intact seeds lose their GPS text.

use casebook_core::model::photo_location::{PhotoFormat, SNIFF_LEN, sniff, strip_location_bytes};
use rand::Rng;
use rand::rngs::StdRng;

use crate::{Target, mutate};

/// Text every seed's location metadata carries (and nothing else in it does).
const GPS: &[u8] = b"GPS 48.8584N 2.2945E";

/// The target.
#[derive(Default)]
pub struct Photo {
    seeds: Vec<Vec<u8>>,
}

impl Photo {
    /// The target, with a small JPEG, PNG, HEIC (meta before and after the image data) and WebP as seeds,
    /// each with a GPS Exif payload.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Photo { seeds: vec![jpeg(), png(), heic(true), heic(false), webp()] })
    }
}

fn exif() -> Vec<u8> {
    [&b"MM\0\x2a\0\0\0\x08\0\x01\x88\x25\0\x04\0\0\0\x01\0\0\0\x1a"[..], GPS, &[0; 8]].concat()
}

fn jpeg() -> Vec<u8> {
    let app1 = [&b"Exif\0\0"[..], &exif()].concat();
    let mut j = vec![0xFF, 0xD8, 0xFF, 0xE1];
    j.extend(((app1.len() + 2) as u16).to_be_bytes());
    j.extend(app1);
    j.extend([0xFF, 0xDB, 0x00, 0x04, 0x01, 0x02, 0xFF, 0xDA, 0x00, 0x03, 0x01]);
    j.extend(b"scan data \xFF\x00\xFF\xD9");
    j
}

fn png() -> Vec<u8> {
    // CRCs are left zero: the stripper never checks them.
    let chunk = |t: &[u8], d: &[u8]| [&(d.len() as u32).to_be_bytes()[..], t, d, &[0; 4]].concat();
    [
        &[0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'][..],
        &chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]),
        &chunk(b"eXIf", &exif()),
        &chunk(b"iTXt", &[&b"XML:com.adobe.xmp\0\0\0\0\0"[..], GPS].concat()),
        &chunk(b"tEXt", b"Comment\0kept"),
        &chunk(b"IDAT", b"pixels"),
        &chunk(b"IEND", b""),
    ]
    .concat()
}

fn bx(t: &[u8], body: &[u8]) -> Vec<u8> {
    [&((body.len() + 8) as u32).to_be_bytes()[..], t, body].concat()
}

fn heic(meta_first: bool) -> Vec<u8> {
    let ftyp = bx(b"ftyp", b"heic\0\0\0\0mif1heic");
    let exif = [&[0, 0, 0, 6][..], b"Exif\0\0", &exif()].concat();
    let meta = |exif_at: u32| {
        let infe = |id: u8, t: &[u8]| bx(b"infe", &[&[2, 0, 0, 0, 0, id, 0, 0][..], t, b"\0"].concat());
        let iinf = bx(b"iinf", &[&[0, 0, 0, 0, 0, 2][..], &infe(1, b"hvc1"), &infe(2, b"Exif")].concat());
        let mut iloc = vec![1, 0, 0, 0, 0x44, 0x00, 0, 1, 0, 2, 0, 0, 0, 0, 0, 1];
        iloc.extend(exif_at.to_be_bytes());
        iloc.extend((exif.len() as u32).to_be_bytes());
        bx(b"meta", &[&[0, 0, 0, 0][..], &iinf, &bx(b"iloc", &iloc)].concat())
    };
    let mdat = bx(b"mdat", &[&b"image"[..], &exif].concat());
    let meta_len = meta(0).len();
    if meta_first {
        let at = ftyp.len() + meta_len + 8 + 5;
        [ftyp, meta(at as u32), mdat].concat()
    } else {
        let at = ftyp.len() + 8 + 5;
        [ftyp, mdat, meta(at as u32)].concat()
    }
}

fn webp() -> Vec<u8> {
    let chunk = |t: &[u8], d: &[u8]| {
        let pad: &[u8] = if d.len() % 2 == 1 { &[0] } else { &[] };
        [t, &(d.len() as u32).to_le_bytes()[..], d, pad].concat()
    };
    let body = [
        &b"WEBP"[..],
        &chunk(b"VP8X", &[0x0C, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        &chunk(b"VP8 ", b"image"),
        &chunk(b"EXIF", &exif()),
    ]
    .concat();
    [&b"RIFF"[..], &(body.len() as u32).to_le_bytes(), &body].concat()
}

impl Target for Photo {
    fn name(&self) -> &'static str {
        "photo"
    }

    fn seeds(&mut self) -> Vec<Vec<u8>> {
        self.seeds.clone()
    }

    fn mutate(&mut self, input: &[u8], corpus: &[Vec<u8>], rng: &mut StdRng) -> Vec<u8> {
        let mut v = input.to_vec();
        match rng.random_range(0..4) {
            // A size or offset field made hostile (a 32-bit big- or little-endian word).
            0 if v.len() >= 8 => {
                let i = rng.random_range(0..v.len() - 4);
                let w: u32 = match rng.random_range(0..4) {
                    0 => 0,
                    1 => 1,
                    2 => u32::MAX,
                    _ => rng.random(),
                };
                let b = if rng.random() { w.to_be_bytes() } else { w.to_le_bytes() };
                v[i..i + 4].copy_from_slice(&b);
                v
            }
            // Truncated.
            1 if !v.is_empty() => {
                v.truncate(rng.random_range(0..v.len()));
                v
            }
            _ => mutate::bytes(input, corpus, rng),
        }
    }

    fn exec(&mut self, input: &[u8]) -> Result<(), String> {
        let format = sniff(&input[..input.len().min(SNIFF_LEN)]);
        let Ok(out) = strip_location_bytes(input) else {
            // A refusal (a HEIF whose location cannot be removed) is an answer.
            return Ok(());
        };
        match format {
            PhotoFormat::Other if out != input => return Err("an unrecognised file was changed".into()),
            PhotoFormat::Heif | PhotoFormat::Webp if out.len() != input.len() => {
                return Err(format!("a {format:?} changed length"));
            }
            PhotoFormat::Jpeg | PhotoFormat::Png if out.len() > input.len() => {
                return Err(format!("a {format:?} grew"));
            }
            _ => {}
        }
        if self.seeds.iter().any(|s| s == input) && out.windows(GPS.len()).any(|w| w == GPS) {
            return Err(format!("a {format:?} seed kept its location"));
        }
        Ok(())
    }
}
