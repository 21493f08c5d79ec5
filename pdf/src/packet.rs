//! The packet for a new specialist as a PDF: the data the HTML page shows ([`PacketData`], gathered once by
//! the core), laid out by the fixed template `templates/packet.typ`, with an optional appendix that
//! encloses the attached images (JPEG, PNG, GIF) and PDFs whose bytes are on this device.
//!
//! The appendix lists every attached file with a label (`A1`, `A2`, …) and what became of it: enclosed
//! (an image on a page of its own, a PDF page by page), "not enclosed" (not on this device, not an image
//! or PDF, beyond the size limit) or "could not be enclosed" (damaged: it does not decode). A damaged file
//! never fails the packet. The records section names, for each file, its label and status.

use std::collections::BTreeMap;
use std::sync::Arc;

use casebook_core::Case;
use casebook_core::model::packet::{PacketData, PacketFile};
use serde::Serialize;
use time::Date;
use typst::foundations::Bytes;
use typst::visualize::{ExchangeFormat, ImageFormat, RasterFormat, RasterImage, VectorFormat};

use crate::error::Result;
use crate::fonts::Fonts;
use crate::render::{Job, Ymd, render};

/// The fixed template.
const TEMPLATE: &str = include_str!("../templates/packet.typ");

/// The default limit of the bytes the appendix encloses (50 MiB): files beyond it are listed as "not
/// enclosed: too large".
pub const APPENDIX_LIMIT: u64 = 50 * 1024 * 1024;

/// How to make the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketOptions {
    /// Enclose the attached images and PDFs in an appendix.
    pub appendix: bool,
    /// At most this many bytes of files enclosed (in the order of the appendix).
    pub appendix_limit: u64,
}

impl Default for PacketOptions {
    fn default() -> Self {
        PacketOptions { appendix: false, appendix_limit: APPENDIX_LIMIT }
    }
}

/// A file offered to the appendix: its listing, and its bytes or why there are none.
#[derive(Debug, Clone)]
pub struct AppendixFile {
    /// The file as the packet lists it.
    pub file: PacketFile,
    /// Its bytes, or why they are not enclosed (the status shown, e.g. "not enclosed: not on this device").
    pub bytes: std::result::Result<Vec<u8>, String>,
}

/// The status of a file the appendix does not enclose because its bytes are not here.
const NOT_ON_DEVICE: &str = "not enclosed: not on this device";
const TOO_LARGE: &str = "not enclosed: too large";
const NOT_ENCLOSABLE: &str = "not enclosed: not an image or PDF";
const DAMAGED: &str = "could not be enclosed: damaged or unreadable";

/// Whether a file may be an image or a PDF, from what is recorded (before reading its bytes).
fn enclosable(f: &PacketFile) -> bool {
    let media = f.media_type.as_deref().unwrap_or("").to_ascii_lowercase();
    let ext = f
        .file_name
        .as_deref()
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    matches!(media.as_str(), "image/jpeg" | "image/jpg" | "image/png" | "image/gif" | "application/pdf")
        || matches!(ext.as_str(), "jpg" | "jpeg" | "png" | "gif" | "pdf")
}

/// Every attached file of `data` (the records' files in order, then files attached elsewhere) with the bytes
/// of those the appendix can enclose: on this device, an image or a PDF by their media type or name, and
/// within `limit` bytes in all.
pub fn appendix_files(case: &Case, data: &PacketData, limit: u64) -> Vec<AppendixFile> {
    let mut used = 0u64;
    let files = data.records.iter().flat_map(|r| r.files.iter()).chain(data.other_files.iter());
    files
        .map(|f| {
            let bytes = if !f.on_device {
                Err(NOT_ON_DEVICE.to_string())
            } else if !enclosable(f) {
                Err(NOT_ENCLOSABLE.to_string())
            } else if used.saturating_add(f.size) > limit {
                Err(TOO_LARGE.to_string())
            } else {
                match case.read_attachment(&f.id) {
                    Ok(b) => {
                        used += f.size;
                        Ok(b)
                    }
                    Err(_) => Err(DAMAGED.to_string()),
                }
            };
            AppendixFile { file: f.clone(), bytes }
        })
        .collect()
}

/// An appendix entry as the template reads it.
#[derive(Debug, Clone, Serialize)]
struct Entry {
    label: String,
    file_name: Option<String>,
    attached_to: &'static str,
    media_type: Option<String>,
    size_words: String,
    /// What became of it ("enclosed: 3 pages", "not enclosed: …").
    status: String,
    /// `image` or `pdf` when enclosed.
    kind: Option<&'static str>,
    /// The virtual file of the enclosed bytes.
    path: Option<String>,
    /// Pages of an enclosed PDF.
    pages: usize,
}

/// The appendix as the template reads it.
#[derive(Debug, Clone, Serialize)]
struct Appendix {
    requested: bool,
    entries: Vec<Entry>,
    /// Attachment id → "A3, enclosed: image" (the records section's note).
    by_id: BTreeMap<String, String>,
}

/// The template's data.
#[derive(Debug, Serialize)]
struct Input<'a> {
    title: String,
    date: Ymd,
    packet: &'a PacketData,
    appendix: Appendix,
}

/// What an enclosed file is, after checking that it decodes.
enum Decoded {
    Image(&'static str),
    Pdf(usize),
}

/// Check that `bytes` is a JPEG, PNG or GIF that decodes, or a PDF whose pages all load.
fn decode(bytes: &Bytes) -> std::result::Result<Decoded, &'static str> {
    match ImageFormat::detect(bytes) {
        Some(ImageFormat::Raster(RasterFormat::Exchange(
            f @ (ExchangeFormat::Jpg | ExchangeFormat::Png | ExchangeFormat::Gif),
        ))) => {
            RasterImage::plain(bytes.clone(), f).map_err(|_| DAMAGED)?;
            Ok(Decoded::Image(match f {
                ExchangeFormat::Jpg => "jpg",
                ExchangeFormat::Png => "png",
                _ => "gif",
            }))
        }
        Some(ImageFormat::Vector(VectorFormat::Pdf)) => {
            // The parser Typst embeds PDF pages with (hayro), so that what loads here embeds there.
            let pdf = hayro_syntax::Pdf::new(std::sync::Arc::new(bytes.clone())).map_err(|_| DAMAGED)?;
            let pages = pdf.pages().len();
            if pages == 0 {
                return Err(DAMAGED);
            }
            Ok(Decoded::Pdf(pages))
        }
        _ => Err(DAMAGED),
    }
}

/// The packet of `case` as a PDF, dated `today`; with `options.appendix`, the attached images and PDFs
/// enclosed. See the [module documentation](self).
pub fn packet_pdf(case: &Case, today: Date, options: &PacketOptions) -> Result<Vec<u8>> {
    let data = case.packet_data(today);
    let files = if options.appendix { Some(appendix_files(case, &data, options.appendix_limit)) } else { None };
    render_packet(&data, files.as_deref(), today, Fonts::shared())
}

/// The packet of `data` as a PDF; `appendix`: the files to list and enclose (`None`: no appendix).
/// A file that fails to decode, or that makes the PDF fail, is listed as "could not be enclosed".
pub fn render_packet(
    data: &PacketData,
    appendix: Option<&[AppendixFile]>,
    today: Date,
    fonts: Arc<Fonts>,
) -> Result<Vec<u8>> {
    let mut entries = Vec::new();
    let mut files = Vec::new();
    for (i, a) in appendix.unwrap_or_default().iter().enumerate() {
        let label = format!("A{}", i + 1);
        let (status, kind, path, pages) = match &a.bytes {
            Err(why) => (why.clone(), None, None, 0),
            Ok(b) => {
                let bytes = Bytes::new(b.clone());
                match decode(&bytes) {
                    Err(why) => (why.to_string(), None, None, 0),
                    Ok(Decoded::Image(ext)) => {
                        let path = format!("/appendix/{}.{ext}", i + 1);
                        files.push((path.clone(), bytes));
                        ("enclosed: image".to_string(), Some("image"), Some(path), 1)
                    }
                    Ok(Decoded::Pdf(n)) => {
                        let path = format!("/appendix/{}.pdf", i + 1);
                        files.push((path.clone(), bytes));
                        let status =
                            if n == 1 { "enclosed: 1 page".to_string() } else { format!("enclosed: {n} pages") };
                        (status, Some("pdf"), Some(path), n)
                    }
                }
            }
        };
        entries.push(Entry {
            label,
            file_name: a.file.file_name.clone(),
            attached_to: a.file.attached_to,
            media_type: a.file.media_type.clone(),
            size_words: a.file.size_words.clone(),
            status,
            kind,
            path,
            pages,
        });
    }
    let by_id = |entries: &[Entry]| {
        appendix
            .unwrap_or_default()
            .iter()
            .zip(entries)
            .map(|(a, e)| (a.file.id.clone(), format!("{}, {}", e.label, e.status)))
            .collect::<BTreeMap<_, _>>()
    };
    let title = match &data.patient_name {
        Some(n) => format!("Second-opinion packet \u{2014} {n}"),
        None => "Second-opinion packet".to_string(),
    };
    let mut input = Input {
        title,
        date: today.into(),
        packet: data,
        appendix: Appendix { requested: appendix.is_some(), by_id: by_id(&entries), entries },
    };
    let attempt = |input: &Input<'_>, files: Vec<(String, Bytes)>| {
        render(Job { name: "packet", template: TEMPLATE, data: input, files, today, fonts: fonts.clone() })
    };
    match attempt(&input, files.clone()) {
        Ok(pdf) => Ok(pdf),
        // Everything enclosed decoded, yet the PDF failed: enclose nothing rather than fail the packet.
        Err(e) if !files.is_empty() => {
            for entry in &mut input.appendix.entries {
                if entry.path.take().is_some() {
                    entry.status = DAMAGED.to_string();
                    entry.kind = None;
                    entry.pages = 0;
                }
            }
            input.appendix.by_id = by_id(&input.appendix.entries);
            attempt(&input, Vec::new()).map_err(|_| e)
        }
        Err(e) => Err(e),
    }
}
