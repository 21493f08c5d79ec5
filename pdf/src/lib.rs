//! Casebook's PDF documents: the packet for a new specialist ([`packet_pdf`]) and the request letter
//! ([`letter_pdf`]), made with Typst as a library, so that `casebook-core` does not depend on Typst.
//!
//! **User text never enters Typst markup.** Each document is a fixed template of this crate
//! (`templates/*.typ`, compiled in with `include_str!`) that reads its data from a JSON virtual file
//! (`json("/data.json")`) that the [`world`] serves; every text from the case reaches the page as a
//! Typst string, shown as text, never parsed. The data is the core's own (`Case::packet_data`,
//! `Case::request_letter_data`), the same the HTML packet and the text letter render.
//!
//! The world reads nothing but the fonts ([`fonts`]: system fonts found once per process, plus the fonts
//! bundled in the binary) and the data and enclosed files it is given: no network, no packages, no other
//! file. The output is reproducible: the PDF's dates are the document's `today`.
//!
//! One concept per file: [`world`] (the Typst world), [`fonts`] (font discovery), [`packet`] (the packet
//! and its appendix), [`letter`] (the letter), [`error`] (the typed errors), `render` (compile and export).

pub mod error;
pub mod fonts;
pub mod letter;
pub mod packet;
mod render;
pub mod world;

pub use error::{PdfError, Result};
pub use fonts::Fonts;
pub use letter::{letter_pdf, render_letter};
pub use packet::{APPENDIX_LIMIT, AppendixFile, PacketOptions, packet_pdf, render_packet};
