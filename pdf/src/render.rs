//! Compiling a fixed template with its data and writing the PDF: shared by the packet and the letter.

use std::sync::Arc;

use serde::Serialize;
use typst::foundations::{Datetime, Smart};
use typst_layout::PagedDocument;
use typst_pdf::{PdfOptions, Timestamp};

use crate::error::{PdfError, Result, messages};
use crate::fonts::Fonts;
use crate::world::DocWorld;

/// `{year, month, day}`: what a template needs to build its `datetime` (the document's date).
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Ymd {
    year: i32,
    month: u8,
    day: u8,
}

impl From<time::Date> for Ymd {
    fn from(d: time::Date) -> Ymd {
        Ymd { year: d.year(), month: u8::from(d.month()), day: d.day() }
    }
}

/// A document to render: the template, its data, the files it may embed.
pub(crate) struct Job<'a, T: Serialize> {
    /// Which template, for errors ("packet", "letter").
    pub(crate) name: &'static str,
    /// The fixed Typst source.
    pub(crate) template: &'static str,
    /// The data, served as `/data.json`.
    pub(crate) data: &'a T,
    /// Virtual files (enclosed attachments): path and bytes.
    pub(crate) files: Vec<(String, typst::foundations::Bytes)>,
    /// The document's date (its creation date in the PDF's metadata: the output is reproducible).
    pub(crate) today: time::Date,
    /// The fonts.
    pub(crate) fonts: Arc<Fonts>,
}

/// Compile and export `job`.
pub(crate) fn render<T: Serialize>(job: Job<'_, T>) -> Result<Vec<u8>> {
    let data = serde_json::to_vec(job.data).map_err(|source| PdfError::Data { template: job.name, source })?;
    let mut world = DocWorld::new(job.template, data, job.fonts, job.today);
    for (path, bytes) in job.files {
        world.add_file(&path, bytes);
    }
    let result = compile_and_export(&world, job.name, job.today);
    // Typst memoizes across compilations in a process-wide cache; a document is made once, so nothing is
    // kept for the next one (an app stays at the memory it had, and every document is timed cold).
    typst::comemo::evict(0);
    result
}

/// Lay out the document of `world` and write it as a PDF dated `today`.
fn compile_and_export(world: &DocWorld, name: &'static str, today: time::Date) -> Result<Vec<u8>> {
    let document: PagedDocument = typst::compile(world)
        .output
        .map_err(|diags| PdfError::Compile { template: name, messages: messages(&diags) })?;
    let date = Datetime::from_ymd(today.year(), u8::from(today.month()), today.day());
    let options = PdfOptions {
        ident: Smart::Custom(format!("casebook-{name}")),
        creator: Smart::Custom(Some("Casebook".into())),
        timestamp: date.map(Timestamp::new_utc),
        ..PdfOptions::default()
    };
    typst_pdf::pdf(&document, &options).map_err(|diags| PdfError::Export { template: name, messages: messages(&diags) })
}
