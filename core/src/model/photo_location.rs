//! Photos lose their location: the Exif and XMP metadata (where a phone writes GPS coordinates) removed
//! from a photo's bytes as they are stored, unless the family asks to keep it
//! ([`NewAttachment::keep_location`](super::attachment::NewAttachment::keep_location)).
//!
//! The format is sniffed from the first bytes, whatever the media type says:
//! - **JPEG**: every APP1 segment (Exif, XMP) before the image data is dropped ([`strip_jpeg_app1`]). The
//!   segments before the start of scan are read (at most 16 MiB), the scan is passed through.
//! - **PNG**: `eXIf` chunks are dropped, and `tEXt`/`zTXt`/`iTXt` chunks whose keyword is
//!   `XML:com.adobe.xmp` (XMP) or `Raw profile type exif`/`app1`/`xmp` (ImageMagick's raw profiles). Whole
//!   chunks go, so every other chunk is byte-identical and its CRC stays valid. Streamed: one chunk header
//!   and keyword (at most 88 bytes) in memory.
//! - **HEIC/HEIF/AVIF** (ISO BMFF with a HEIF brand): the `meta` box is read and parsed: its `iinf` items of
//!   type `Exif`, and `mime` items of content type `application/rdf+xml` (XMP), are located through `iloc`
//!   (in the file, or in the `meta`'s own `idat`), and their bytes overwritten **in place** with a neutral
//!   payload of the same length (Exif: an empty big-endian TIFF header with no entries, then zeros; XMP: an
//!   empty `x:xmpmeta` packet, then spaces). Nothing moves, so every offset of the file stays valid. The top
//!   level boxes before `meta` (normally only `ftyp`) are held in memory, at most 32 MiB, the `meta` box at
//!   most 16 MiB; after it the file is streamed, blanking the located ranges as they pass. When the image
//!   data comes **before** `meta` (rare; phones write `meta` first), it is held too, so its ranges can still
//!   be blanked; past the bound the photo is **refused** ([`StripError::NotRemovable`]: attach it keeping
//!   the location, or convert it): the family is told rather than the location silently kept. A declared
//!   Exif/XMP item whose bytes cannot be located (an item built from other items, a malformed `iloc`) is
//!   refused the same way.
//! - **WebP**: the `VP8X` chunk's Exif and XMP flags are cleared and the `EXIF` and `XMP ` chunks' payloads
//!   overwritten with zeros (length-preserving: the RIFF sizes stay valid). Streamed.
//! - Anything else passes through unchanged.
//!
//! Every parser is bounds-checked: malformed input never panics and never loops; a structure that does
//! not parse is passed through from where it stops parsing (as the JPEG stripper always did), except the
//! HEIF refusals above. `casebook-fuzz photo` fuzzes all four.

use std::io::{self, Cursor, Read};

/// The largest JPEG header (segments before the image data) read into memory to drop its APP1 segments.
const MAX_JPEG_HEADER: usize = 16 << 20;
/// The largest HEIF `meta` box read into memory.
const MAX_HEIF_META: u64 = 16 << 20;
/// The most a HEIF's top-level boxes before its `meta` may hold (kept in memory until `meta` is parsed).
pub const MAX_HEIF_HOLD: u64 = 32 << 20;
/// Most extents of an `iloc` box that are examined.
const MAX_EXTENTS: usize = 100_000;
/// An Exif item's neutral payload: `exif_tiff_header_offset` 0, then an empty big-endian TIFF header (IFD0
/// at offset 8 with no entries, no next IFD).
const NEUTRAL_EXIF: [u8; 18] = [0, 0, 0, 0, b'M', b'M', 0, 0x2A, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0];
/// An XMP item's neutral payload (then spaces).
const NEUTRAL_XMP: &[u8] = b"<?xpacket begin=\"\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\
<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"/><?xpacket end=\"w\"?>";

/// Why a photo's location could not be removed.
#[derive(Debug, thiserror::Error)]
pub enum StripError {
    /// The bytes could not be read.
    #[error("cannot be read: {0}")]
    Read(io::ErrorKind),
    /// The location is in the photo but could not be removed safely: the photo is refused.
    #[error("its location cannot be removed ({0}): attach it keeping the location, or convert it to JPEG")]
    NotRemovable(&'static str),
}

impl From<io::Error> for StripError {
    fn from(e: io::Error) -> Self {
        StripError::Read(e.kind())
    }
}

/// The formats whose location is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoFormat {
    /// JPEG (`FF D8 FF`).
    Jpeg,
    /// PNG (its 8-byte signature).
    Png,
    /// HEIC, HEIF or AVIF (an ISO BMFF `ftyp` with a HEIF brand).
    Heif,
    /// WebP (`RIFF…WEBP`).
    Webp,
    /// Anything else (passed through).
    Other,
}

/// How many bytes [`sniff`] wants to see.
pub const SNIFF_LEN: usize = 64;

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];
const HEIF_BRANDS: [&[u8; 4]; 11] =
    [b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1", b"avif"];

/// The format of a file starting with `head` (its first [`SNIFF_LEN`] bytes, or all of a shorter file).
pub fn sniff(head: &[u8]) -> PhotoFormat {
    if head.len() >= 3 && head[..3] == [0xFF, 0xD8, 0xFF] {
        return PhotoFormat::Jpeg;
    }
    if head.starts_with(&PNG_SIGNATURE) {
        return PhotoFormat::Png;
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return PhotoFormat::Webp;
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let end = size.clamp(8, head.len());
        // The major brand (8..12), then the compatible brands from 16 on (12..16 is the minor version).
        let brands = head[8..end].chunks_exact(4).enumerate().filter(|(i, _)| *i != 1).map(|(_, b)| b);
        if brands.into_iter().any(|b| HEIF_BRANDS.iter().any(|h| h.as_slice() == b)) {
            return PhotoFormat::Heif;
        }
    }
    PhotoFormat::Other
}

/// Read until `buf` is full or the stream ends; returns how many bytes were read.
fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Append up to `n` more bytes of `r` to `v`; false on a short stream (what was read is kept).
fn read_more(r: &mut dyn Read, v: &mut Vec<u8>, n: usize) -> io::Result<bool> {
    let start = v.len();
    v.resize(start + n, 0);
    let got = read_up_to(r, &mut v[start..])?;
    v.truncate(start + got);
    Ok(got == n)
}

/// `reader` without the location of the photo it holds (see the [module documentation](self)): a JPEG, PNG,
/// HEIF or WebP is rewritten as it is read; anything else passes through unchanged.
pub fn strip_location<'r>(mut reader: Box<dyn Read + 'r>) -> Result<Box<dyn Read + 'r>, StripError> {
    let mut head = vec![0u8; SNIFF_LEN];
    let got = read_up_to(&mut reader, &mut head)?;
    head.truncate(got);
    let format = sniff(&head);
    let reader: Box<dyn Read + 'r> = Box::new(Cursor::new(head).chain(reader));
    Ok(match format {
        PhotoFormat::Jpeg => strip_jpeg_app1(reader)?,
        PhotoFormat::Png => Box::new(ChunkFilter::new(reader, Chunks::Png)),
        PhotoFormat::Webp => Box::new(ChunkFilter::new(reader, Chunks::Webp)),
        PhotoFormat::Heif => strip_heif(reader, MAX_HEIF_HOLD)?,
        PhotoFormat::Other => reader,
    })
}

/// [`strip_location`] on bytes in memory.
pub fn strip_location_bytes(bytes: &[u8]) -> Result<Vec<u8>, StripError> {
    let mut out = Vec::with_capacity(bytes.len());
    strip_location(Box::new(bytes))?.read_to_end(&mut out)?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------------- JPEG

/// A JPEG stream without its APP1 segments (Exif, XMP: where a phone writes the location). The segments
/// before the image data are read (bounded) and rewritten; everything from the start of scan on is passed
/// through. Anything that does not parse as a JPEG header is passed through unchanged (never a panic).
pub fn strip_jpeg_app1<'r>(mut reader: Box<dyn Read + 'r>) -> io::Result<Box<dyn Read + 'r>> {
    let mut head = Vec::new();
    if !read_more(&mut reader, &mut head, 2)? || head[..] != [0xFF, 0xD8] {
        return Ok(Box::new(Cursor::new(head).chain(reader)));
    }
    let mut out = vec![0xFF, 0xD8];
    loop {
        let at = head.len();
        if !read_more(&mut reader, &mut head, 2)? || head[at] != 0xFF {
            // Not a marker where one must be: give the rest back untouched.
            out.extend_from_slice(&head[at..]);
            return Ok(Box::new(Cursor::new(out).chain(reader)));
        }
        let m = head[at + 1];
        // Markers without a length: TEM, RST0-7, SOI/EOI, and fill bytes.
        if m == 0x01 || (0xD0..=0xD9).contains(&m) || m == 0xFF || m == 0x00 {
            out.extend_from_slice(&head[at..]);
            if m == 0xD9 {
                return Ok(Box::new(Cursor::new(out).chain(reader)));
            }
            continue;
        }
        if !read_more(&mut reader, &mut head, 2)? {
            out.extend_from_slice(&head[at..]);
            return Ok(Box::new(Cursor::new(out).chain(reader)));
        }
        let len = u16::from_be_bytes([head[at + 2], head[at + 3]]) as usize;
        if len < 2 || head.len() + len > MAX_JPEG_HEADER {
            out.extend_from_slice(&head[at..]);
            return Ok(Box::new(Cursor::new(out).chain(reader)));
        }
        if !read_more(&mut reader, &mut head, len - 2)? {
            out.extend_from_slice(&head[at..]);
            return Ok(Box::new(Cursor::new(out).chain(reader)));
        }
        if m != 0xE1 {
            out.extend_from_slice(&head[at..]);
        }
        if m == 0xDA {
            // Start of scan: the image data follows, unparsed.
            return Ok(Box::new(Cursor::new(out).chain(reader)));
        }
    }
}

/// [`strip_jpeg_app1`] on bytes in memory.
pub fn strip_jpeg_app1_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match strip_jpeg_app1(Box::new(bytes)) {
        Ok(mut r) => {
            if r.read_to_end(&mut out).is_err() {
                return bytes.to_vec();
            }
            out
        }
        Err(_) => bytes.to_vec(),
    }
}

// --------------------------------------------------------------------------------------------- PNG, WebP

/// The chunked formats streamed by [`ChunkFilter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunks {
    Png,
    Webp,
}

/// A streaming filter over a chunked file (PNG or WebP): one chunk header at a time, each chunk passed
/// through, dropped or blanked.
struct ChunkFilter<R> {
    inner: R,
    kind: Chunks,
    /// Bytes to emit before anything else.
    out: Vec<u8>,
    out_pos: usize,
    /// Bytes of `inner` to copy through.
    pass: u64,
    /// Bytes of `inner` to read and drop.
    skip: u64,
    /// Bytes of `inner` to read and replace with zeros.
    blank: u64,
    /// Whether the file header was read.
    started: bool,
    /// Copy everything through from here on (the end, or what does not parse).
    raw: bool,
}

/// Whether a PNG text chunk's keyword names a location-carrying profile.
fn png_location_keyword(keyword: &[u8]) -> bool {
    if keyword == b"XML:com.adobe.xmp" {
        return true;
    }
    let raw = b"Raw profile type ";
    keyword.len() > raw.len()
        && keyword[..raw.len()].eq_ignore_ascii_case(raw)
        && ["exif", "app1", "xmp"].iter().any(|p| keyword[raw.len()..].eq_ignore_ascii_case(p.as_bytes()))
}

impl<R: Read> ChunkFilter<R> {
    fn new(inner: R, kind: Chunks) -> Self {
        ChunkFilter { inner, kind, out: Vec::new(), out_pos: 0, pass: 0, skip: 0, blank: 0, started: false, raw: false }
    }

    /// Read the next header and decide what to do with its chunk. Always either queues output or sets
    /// `raw`, so every call makes progress.
    fn next_chunk(&mut self) -> io::Result<()> {
        self.out.clear();
        self.out_pos = 0;
        if !self.started {
            self.started = true;
            // PNG: the signature; WebP: `RIFF`, size, `WEBP`.
            let n = if self.kind == Chunks::Png { 8 } else { 12 };
            if !read_more(&mut self.inner, &mut self.out, n)? {
                self.raw = true;
            }
            return Ok(());
        }
        if !read_more(&mut self.inner, &mut self.out, 8)? {
            self.raw = true;
            return Ok(());
        }
        let h: [u8; 8] = self.out[..8].try_into().expect("8 bytes");
        match self.kind {
            Chunks::Png => {
                let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
                if len > 0x7FFF_FFFF {
                    self.raw = true;
                    return Ok(());
                }
                let len = u64::from(len);
                match &h[4..8] {
                    b"eXIf" => {
                        self.out.clear();
                        self.skip = len + 4;
                    }
                    b"tEXt" | b"zTXt" | b"iTXt" => {
                        // The keyword: 1 to 79 bytes, then a NUL.
                        let k = len.min(80) as usize;
                        if !read_more(&mut self.inner, &mut self.out, k)? {
                            self.raw = true;
                            return Ok(());
                        }
                        let data = &self.out[8..];
                        let keyword = &data[..data.iter().position(|&b| b == 0).unwrap_or(data.len())];
                        if png_location_keyword(keyword) {
                            self.out.clear();
                            self.skip = len - k as u64 + 4;
                        } else {
                            self.pass = len - k as u64 + 4;
                        }
                    }
                    _ => self.pass = len + 4,
                }
            }
            Chunks::Webp => {
                // A WebP chunk: FourCC, then its size (little-endian), then the payload padded to even.
                let size = u64::from(u32::from_le_bytes([h[4], h[5], h[6], h[7]]));
                let padded = size + (size & 1);
                match &h[..4] {
                    b"VP8X" if padded > 0 => {
                        // Flags: bit 3 Exif, bit 2 XMP.
                        if !read_more(&mut self.inner, &mut self.out, 1)? {
                            self.raw = true;
                            return Ok(());
                        }
                        self.out[8] &= !0x0C;
                        self.pass = padded - 1;
                    }
                    b"EXIF" | b"XMP " => self.blank = padded,
                    _ => self.pass = padded,
                }
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for ChunkFilter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.out_pos < self.out.len() {
                let n = (self.out.len() - self.out_pos).min(buf.len());
                buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                return Ok(n);
            }
            if self.pass > 0 || self.blank > 0 {
                let want = self.pass.max(self.blank).min(buf.len() as u64) as usize;
                let n = self.inner.read(&mut buf[..want])?;
                if n == 0 {
                    (self.pass, self.blank, self.raw) = (0, 0, true);
                    return Ok(0);
                }
                if self.blank > 0 {
                    buf[..n].fill(0);
                    self.blank -= n as u64;
                } else {
                    self.pass -= n as u64;
                }
                return Ok(n);
            }
            if self.skip > 0 {
                let mut scratch = [0u8; 8192];
                let want = self.skip.min(scratch.len() as u64) as usize;
                let n = self.inner.read(&mut scratch[..want])?;
                if n == 0 {
                    (self.skip, self.raw) = (0, true);
                } else {
                    self.skip -= n as u64;
                }
                continue;
            }
            if self.raw {
                return self.inner.read(buf);
            }
            self.next_chunk()?;
        }
    }
}

// -------------------------------------------------------------------------------------------------- HEIF

/// What a located item holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meta {
    Exif,
    Xmp,
}

/// A byte range of the file to blank: `[start, end)`, at offset `item_off` of an item of `item_len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Blank {
    start: u64,
    end: u64,
    kind: Meta,
    item_off: u64,
    item_len: u64,
}

impl Blank {
    /// The neutral byte at offset `i` of the item.
    fn neutral(&self, i: u64) -> u8 {
        let (payload, fill) = match self.kind {
            Meta::Exif => (&NEUTRAL_EXIF[..], 0),
            Meta::Xmp => (NEUTRAL_XMP, b' '),
        };
        if self.item_len >= payload.len() as u64 && i < payload.len() as u64 { payload[i as usize] } else { fill }
    }

    /// Blank the part of this range inside `buf`, which holds the file's bytes from `at`.
    fn apply(&self, buf: &mut [u8], at: u64) {
        let from = self.start.max(at);
        let to = self.end.min(at.saturating_add(buf.len() as u64));
        for p in from..to {
            buf[(p - at) as usize] = self.neutral(self.item_off + (p - self.start));
        }
    }
}

/// A bounds-checked big-endian reader over a slice.
struct Rd<'a> {
    d: &'a [u8],
    p: usize,
}

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.d.get(self.p..self.p.checked_add(n)?)?;
        self.p += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    /// An unsigned integer of 0, 4 or 8 bytes (`iloc`'s sizes).
    fn sized(&mut self, n: u8) -> Option<u64> {
        match n {
            0 => Some(0),
            4 => self.u32().map(u64::from),
            8 => Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?)),
            _ => None,
        }
    }
    /// A NUL-terminated string (the rest when there is no NUL).
    fn cstr(&mut self) -> &'a [u8] {
        let rest = self.d.get(self.p..).unwrap_or_default();
        let n = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        self.p += (n + 1).min(rest.len());
        &rest[..n]
    }
}

/// The boxes of `data`: (type, offset of the body in `data`, body). Stops at the first malformed header.
fn boxes(data: &[u8]) -> Vec<([u8; 4], usize, &[u8])> {
    let mut out = Vec::new();
    let mut p = 0usize;
    while data.len() - p >= 8 {
        let size = u32::from_be_bytes(data[p..p + 4].try_into().expect("4 bytes")) as u64;
        let typ: [u8; 4] = data[p + 4..p + 8].try_into().expect("4 bytes");
        let (hdr, size) = match size {
            0 => (8u64, (data.len() - p) as u64),
            1 => {
                let Some(l) = data.get(p + 8..p + 16) else { break };
                (16, u64::from_be_bytes(l.try_into().expect("8 bytes")))
            }
            s => (8, s),
        };
        if size < hdr || size > (data.len() - p) as u64 {
            break;
        }
        let (body, end) = (p + hdr as usize, p + size as usize);
        out.push((typ, body, &data[body..end]));
        p = end;
    }
    out
}

/// The byte ranges of a `meta` box's Exif and XMP items, in file offsets; `body_at` is where the meta
/// box's body starts in the file. `Err` when an item is declared but its bytes cannot be located.
fn heif_ranges(meta_body: &[u8], body_at: u64) -> Result<Vec<Blank>, &'static str> {
    let Some(children) = meta_body.get(4..) else { return Ok(Vec::new()) };
    let children_at = body_at + 4;
    let mut items: Vec<(u32, Meta)> = Vec::new();
    let mut iloc = None;
    let mut idat = None;
    for (typ, off, body) in boxes(children) {
        match &typ {
            b"iinf" => {
                let mut r = Rd { d: body, p: 0 };
                let Some(version) = r.u8() else { continue };
                r.p = 4;
                let count = if version == 0 { r.u16().map(u32::from) } else { r.u32() };
                if count.is_none() {
                    continue;
                }
                for (t, _, infe) in boxes(&body[r.p.min(body.len())..]) {
                    if &t != b"infe" {
                        continue;
                    }
                    let mut e = Rd { d: infe, p: 0 };
                    let Some(v) = e.u8() else { continue };
                    if v < 2 {
                        continue;
                    }
                    e.p = 4;
                    let id = if v == 2 { e.u16().map(u32::from) } else { e.u32() };
                    let (Some(id), Some(_protection), Some(item_type)) = (id, e.u16(), e.take(4)) else { continue };
                    let _name = e.cstr();
                    match item_type {
                        b"Exif" => items.push((id, Meta::Exif)),
                        b"mime" if e.cstr().starts_with(b"application/rdf+xml") => items.push((id, Meta::Xmp)),
                        _ => {}
                    }
                }
            }
            b"iloc" => iloc = Some(body),
            b"idat" => idat = Some((children_at + off as u64, body.len() as u64)),
            _ => {}
        }
    }
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let iloc = iloc.ok_or("its metadata has no item locations")?;
    let malformed = "its item locations are malformed";
    let mut r = Rd { d: iloc, p: 0 };
    let version = r.u8().ok_or(malformed)?;
    r.p = 4;
    let sizes = r.u8().ok_or(malformed)?;
    let (offset_size, length_size) = (sizes >> 4, sizes & 0x0F);
    let sizes = r.u8().ok_or(malformed)?;
    let base_size = sizes >> 4;
    let index_size = if version == 1 || version == 2 { sizes & 0x0F } else { 0 };
    let count = if version < 2 { r.u16().map(u32::from) } else { r.u32() }.ok_or(malformed)?;
    let mut out = Vec::new();
    let mut extents_seen = 0usize;
    for _ in 0..count {
        let id = if version < 2 { r.u16().map(u32::from) } else { r.u32() }.ok_or(malformed)?;
        let method = if version == 1 || version == 2 { r.u16().ok_or(malformed)? & 0x0F } else { 0 };
        let data_ref = r.u16().ok_or(malformed)?;
        let base = r.sized(base_size).ok_or(malformed)?;
        let n = r.u16().ok_or(malformed)?;
        let kind = items.iter().find(|(i, _)| *i == id).map(|(_, k)| *k);
        let mut extents = Vec::new();
        for _ in 0..n {
            extents_seen += 1;
            if extents_seen > MAX_EXTENTS {
                return Err(malformed);
            }
            r.sized(index_size).ok_or(malformed)?;
            let off = r.sized(offset_size).ok_or(malformed)?;
            let len = r.sized(length_size).ok_or(malformed)?;
            extents.push((off, len));
        }
        let Some(kind) = kind else { continue };
        if data_ref != 0 {
            // In another file: nothing of it is in this one.
            continue;
        }
        // Where the item's data lives: the file (method 0) or the meta's `idat` (method 1).
        let (origin, limit) = match method {
            0 => (0u64, u64::MAX),
            1 => {
                let (at, len) = idat.ok_or(malformed)?;
                (at, at + len)
            }
            _ => return Err("its metadata is built from other items"),
        };
        let item_len = extents.iter().try_fold(0u64, |a, (_, l)| if *l == 0 { None } else { a.checked_add(*l) });
        let item_len = item_len.unwrap_or(u64::MAX);
        let mut item_off = 0u64;
        for (off, len) in extents {
            let start = origin.checked_add(base).and_then(|s| s.checked_add(off)).ok_or(malformed)?;
            let end = if len == 0 { limit } else { start.checked_add(len).ok_or(malformed)? };
            if start > limit || end > limit {
                return Err(malformed);
            }
            out.push(Blank { start, end, kind, item_off, item_len });
            item_off = item_off.saturating_add(end - start);
        }
    }
    out.sort_by_key(|b| b.start);
    Ok(out)
}

/// Blanks byte ranges of a stream as they pass (HEIF after its `meta`).
struct Blanker<R> {
    inner: R,
    /// File offset of the next byte read from `inner`.
    pos: u64,
    /// Ranges still ahead, sorted by start.
    ranges: Vec<Blank>,
}

impl<R: Read> Read for Blanker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for b in &self.ranges {
            if b.start >= self.pos.saturating_add(n as u64) {
                break;
            }
            b.apply(&mut buf[..n], self.pos);
        }
        self.pos = self.pos.saturating_add(n as u64);
        let pos = self.pos;
        self.ranges.retain(|b| b.end > pos);
        Ok(n)
    }
}

/// A HEIF stream with its Exif and XMP items blanked in place; at most `max_hold` bytes of top-level
/// boxes before `meta` are held in memory (more is refused).
fn strip_heif<'r>(mut reader: Box<dyn Read + 'r>, max_hold: u64) -> Result<Box<dyn Read + 'r>, StripError> {
    let mut held: Vec<u8> = Vec::new();
    let pass = |held: Vec<u8>, reader: Box<dyn Read + 'r>| -> Result<Box<dyn Read + 'r>, StripError> {
        Ok(Box::new(Cursor::new(held).chain(reader)))
    };
    loop {
        let at = held.len();
        if !read_more(&mut reader, &mut held, 8)? {
            // The end without a `meta`: no metadata items.
            return pass(held, reader);
        }
        let typ: [u8; 4] = held[at + 4..at + 8].try_into().expect("4 bytes");
        let mut hdr = 8u64;
        let size = match u32::from_be_bytes(held[at..at + 4].try_into().expect("4 bytes")) {
            // To the end of the file: the last box; a `meta` cannot be after it.
            0 if &typ != b"meta" => return pass(held, reader),
            0 => return Err(StripError::NotRemovable("its metadata box has no size")),
            1 => {
                if !read_more(&mut reader, &mut held, 8)? {
                    return pass(held, reader);
                }
                hdr = 16;
                u64::from_be_bytes(held[at + 8..at + 16].try_into().expect("8 bytes"))
            }
            s => u64::from(s),
        };
        if size < hdr {
            return pass(held, reader);
        }
        let body = size - hdr;
        if &typ == b"meta" {
            if body > MAX_HEIF_META {
                return Err(StripError::NotRemovable("its metadata is unusually large"));
            }
            if !read_more(&mut reader, &mut held, body as usize)? {
                // A truncated file: no image to show, nothing more to find.
                return pass(held, reader);
            }
            let body_at = at as u64 + hdr;
            let ranges = heif_ranges(&held[body_at as usize..], body_at).map_err(StripError::NotRemovable)?;
            let held_len = held.len() as u64;
            for b in &ranges {
                b.apply(&mut held, 0);
            }
            let ranges: Vec<Blank> = ranges.into_iter().filter(|b| b.end > held_len).collect();
            let rest = Blanker { inner: reader, pos: held_len, ranges };
            return Ok(Box::new(Cursor::new(held).chain(rest)));
        }
        if held.len() as u64 + body > max_hold {
            return Err(StripError::NotRemovable("its metadata comes after the image data"));
        }
        if !read_more(&mut reader, &mut held, body as usize)? {
            return pass(held, reader);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Exif payload with a GPS IFD and coordinates in text (easy to look for).
    const GPS: &[u8] =
        b"MM\0\x2a\0\0\0\x08\0\x01\x88\x25\0\x04\0\0\0\x01\0\0\0\x1aGPS 48.8584N 2.2945E\0\0\0\0\0\0\0\0";
    const XMP_GPS: &[u8] = b"<x:xmpmeta><exif:GPSLatitude>48,51.5N</exif:GPSLatitude></x:xmpmeta>";

    fn has(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }

    fn png_chunk(typ: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend(typ);
        c.extend(data);
        c.extend(crc32(&c[4..]).to_be_bytes());
        c
    }

    /// (the PNG, the PNG with only the chunks that must stay).
    fn png_with_gps() -> (Vec<u8>, Vec<u8>) {
        let ihdr = png_chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
        let exif = png_chunk(b"eXIf", GPS);
        let comment = png_chunk(b"tEXt", b"Comment\0scan of the biopsy report");
        let mut itxt = b"XML:com.adobe.xmp\0\0\0\0\0".to_vec();
        itxt.extend(XMP_GPS);
        let xmp = png_chunk(b"iTXt", &itxt);
        let raw = png_chunk(b"zTXt", b"Raw profile type exif\0\0x\x9c GPS 48.8584N");
        let long = png_chunk(b"tEXt", &[b"Description\0".as_slice(), &[b'a'; 300]].concat());
        let idat = png_chunk(b"IDAT", b"\x78\x9c compressed pixels GPS-free");
        let iend = png_chunk(b"IEND", b"");
        let full = [&PNG_SIGNATURE[..], &ihdr, &exif, &comment, &xmp, &raw, &long, &idat, &iend].concat();
        let kept = [&PNG_SIGNATURE[..], &ihdr, &comment, &long, &idat, &iend].concat();
        (full, kept)
    }

    #[test]
    fn png_loses_exif_and_xmp_chunks_and_keeps_the_rest_identical() {
        let (png, kept) = png_with_gps();
        assert_eq!(sniff(&png), PhotoFormat::Png);
        let out = strip_location_bytes(&png).unwrap();
        assert!(!has(&out, b"48.8584") && !has(&out, b"GPSLatitude"));
        assert_eq!(out, kept);
        // Every chunk left has a valid CRC.
        let mut p = 8;
        while p < out.len() {
            let len = u32::from_be_bytes(out[p..p + 4].try_into().unwrap()) as usize;
            let crc = u32::from_be_bytes(out[p + 8 + len..p + 12 + len].try_into().unwrap());
            assert_eq!(crc, crc32(&out[p + 4..p + 8 + len]));
            p += 12 + len;
        }
        // Read in tiny pieces: the same.
        let mut r = strip_location(Box::new(png.as_slice())).unwrap();
        let mut small = Vec::new();
        let mut b = [0u8; 3];
        loop {
            let n = r.read(&mut b).unwrap();
            if n == 0 {
                break;
            }
            small.extend_from_slice(&b[..n]);
        }
        assert_eq!(small, kept);
    }

    fn bx(typ: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend(typ);
        b.extend(body);
        b
    }

    fn full_box(typ: &[u8; 4], version: u8, body: &[u8]) -> Vec<u8> {
        bx(typ, &[&[version, 0, 0, 0][..], body].concat())
    }

    fn infe(id: u16, typ: &[u8; 4], extra: &[u8]) -> Vec<u8> {
        let body = [&id.to_be_bytes()[..], &[0, 0], typ, b"\0", extra].concat();
        full_box(b"infe", 2, &body)
    }

    /// A `meta` box whose `iloc` places items 1 (image), 2 (Exif), 3 (XMP) at the given file offsets.
    fn meta(locs: [(u32, u32); 3]) -> Vec<u8> {
        let hdlr = full_box(b"hdlr", 0, b"\0\0\0\0pict\0\0\0\0\0\0\0\0\0\0\0\0\0");
        let mut iinf_body = 3u16.to_be_bytes().to_vec();
        iinf_body.extend(infe(1, b"hvc1", b""));
        iinf_body.extend(infe(2, b"Exif", b""));
        iinf_body.extend(infe(3, b"mime", b"application/rdf+xml\0"));
        let iinf = full_box(b"iinf", 0, &iinf_body);
        // Version 1: offset 4, length 4, base 0, index 0.
        let mut iloc_body = vec![0x44, 0x00];
        iloc_body.extend(3u16.to_be_bytes());
        for (i, (off, len)) in locs.iter().enumerate() {
            iloc_body.extend((i as u16 + 1).to_be_bytes());
            iloc_body.extend([0, 0, 0, 0, 0, 1]); // construction method 0, data ref 0, one extent
            iloc_body.extend(off.to_be_bytes());
            iloc_body.extend(len.to_be_bytes());
        }
        let iloc = full_box(b"iloc", 1, &iloc_body);
        full_box(b"meta", 0, &[hdlr, iinf, iloc].concat())
    }

    /// A HEIC; `meta_first` or after `mdat`. Returns it and the Exif and XMP ranges.
    fn heic_with_gps(meta_first: bool) -> (Vec<u8>, std::ops::Range<usize>, std::ops::Range<usize>) {
        let ftyp = bx(b"ftyp", b"heic\0\0\0\0mif1heic");
        let image = b"HEVC image bytes, untouched".to_vec();
        let exif = [&[0, 0, 0, 6][..], b"Exif\0\0", GPS].concat();
        let mdat_body = [&image[..], &exif, XMP_GPS, b"trailing"].concat();
        let meta_len = meta([(0, 0); 3]).len();
        let mdat_at = if meta_first { ftyp.len() + meta_len } else { ftyp.len() } + 8;
        let img = mdat_at..mdat_at + image.len();
        let ex = img.end..img.end + exif.len();
        let xmp = ex.end..ex.end + XMP_GPS.len();
        let m = meta([img, ex.clone(), xmp.clone()].map(|r| (r.start as u32, r.len() as u32)));
        let mdat = bx(b"mdat", &mdat_body);
        let file = if meta_first { [ftyp, m, mdat].concat() } else { [ftyp, mdat, m].concat() };
        (file, ex, xmp)
    }

    fn check_heic(meta_first: bool) {
        let (heic, ex, xmp) = heic_with_gps(meta_first);
        assert_eq!(sniff(&heic), PhotoFormat::Heif);
        assert!(has(&heic, b"48.8584"));
        let out = strip_location_bytes(&heic).unwrap();
        assert_eq!(out.len(), heic.len(), "length preserved: every offset stays valid");
        assert!(!has(&out, b"48.8584") && !has(&out, b"GPSLatitude"));
        for i in 0..heic.len() {
            if !ex.contains(&i) && !xmp.contains(&i) {
                assert_eq!(out[i], heic[i], "byte {i} outside the metadata items changed");
            }
        }
        assert_eq!(&out[ex.start..ex.start + NEUTRAL_EXIF.len()], &NEUTRAL_EXIF);
        assert!(out[ex.start + NEUTRAL_EXIF.len()..ex.end].iter().all(|&b| b == 0));
        assert!(out[xmp.clone()].iter().all(|&b| b == b' '), "shorter than the neutral packet: spaces");
        // Streamed in small reads: the same.
        let mut r = strip_location(Box::new(heic.as_slice())).unwrap();
        let mut small = Vec::new();
        let mut b = [0u8; 5];
        loop {
            let n = r.read(&mut b).unwrap();
            if n == 0 {
                break;
            }
            small.extend_from_slice(&b[..n]);
        }
        assert_eq!(small, out);
    }

    #[test]
    fn heic_exif_and_xmp_items_are_blanked_in_place() {
        check_heic(true);
    }

    #[test]
    fn heic_with_meta_after_the_image_data_is_held_then_blanked() {
        check_heic(false);
    }

    #[test]
    fn heic_with_meta_after_too_much_image_data_is_refused() {
        let (heic, _, _) = heic_with_gps(false);
        let r = strip_heif(Box::new(heic.as_slice()), 16);
        assert!(matches!(r, Err(StripError::NotRemovable(_))));
    }

    #[test]
    fn heic_xmp_long_enough_gets_an_empty_packet() {
        let long = [XMP_GPS, &[b' '; 100][..]].concat();
        let b = Blank { start: 0, end: long.len() as u64, kind: Meta::Xmp, item_off: 0, item_len: long.len() as u64 };
        let mut buf = long.clone();
        b.apply(&mut buf, 0);
        assert!(buf.starts_with(NEUTRAL_XMP));
        assert!(buf[NEUTRAL_XMP.len()..].iter().all(|&c| c == b' '));
    }

    #[test]
    fn webp_loses_exif_and_xmp_in_place() {
        let chunk = |t: &[u8; 4], d: &[u8]| {
            let mut c = t.to_vec();
            c.extend((d.len() as u32).to_le_bytes());
            c.extend(d);
            if d.len() % 2 == 1 {
                c.push(0);
            }
            c
        };
        let vp8x = chunk(b"VP8X", &[0x0C | 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let vp8 = chunk(b"VP8 ", b"image bytes");
        let exif = chunk(b"EXIF", &[b"Exif\0\0", GPS].concat());
        let xmp = chunk(b"XMP ", XMP_GPS);
        let body = [&b"WEBP"[..], &vp8x, &vp8, &exif, &xmp].concat();
        let webp = [&b"RIFF"[..], &(body.len() as u32).to_le_bytes(), &body].concat();
        assert_eq!(sniff(&webp), PhotoFormat::Webp);
        let out = strip_location_bytes(&webp).unwrap();
        assert_eq!(out.len(), webp.len());
        assert!(!has(&out, b"48.8584") && !has(&out, b"GPSLatitude"));
        assert_eq!(out[20], 0x10, "the Exif and XMP flags are cleared, the alpha flag kept");
        assert!(has(&out, b"image bytes"));
        let exif_at = 12 + vp8x.len() + vp8.len();
        assert_eq!(&out[exif_at..exif_at + 8], &exif[..8]);
        assert!(out[exif_at + 8..exif_at + exif.len()].iter().all(|&b| b == 0));
    }

    #[test]
    fn other_files_pass_through_unchanged() {
        for f in [&b""[..], b"%PDF-1.7 GPS 48.8584", b"\x89PN", b"....ftypisom....", b"RIFF\0\0\0\0WAVE"] {
            assert_eq!(strip_location_bytes(f).unwrap(), f);
        }
    }

    /// Every prefix and many corruptions of the sample files: no panic, and the sizes hold.
    #[test]
    fn malformed_photos_never_panic() {
        let (png, _) = png_with_gps();
        let (heic, _, _) = heic_with_gps(true);
        let (heic2, _, _) = heic_with_gps(false);
        let mut x = 7u64;
        for sample in [png, heic, heic2] {
            for n in 0..sample.len() {
                let _ = strip_location_bytes(&sample[..n]);
            }
            for _ in 0..2000 {
                let mut v = sample.clone();
                for _ in 0..4 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let i = 8 + (x as usize) % (v.len() - 8);
                    v[i] = (x >> 32) as u8;
                }
                if let Ok(out) = strip_location_bytes(&v) {
                    match sniff(&v) {
                        PhotoFormat::Heif | PhotoFormat::Webp => assert_eq!(out.len(), v.len()),
                        _ => assert!(out.len() <= v.len()),
                    }
                }
            }
        }
    }
}
