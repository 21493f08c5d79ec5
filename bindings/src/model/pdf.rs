//! The packet and the request letter as PDFs (cargo feature `pdf`, on by default): thin wrappers over
//! `casebook-pdf`. The case is locked only to gather the data (and read the enclosed files); the PDF is
//! laid out after the lock is released.

use casebook_pdf::{Fonts, PdfError, render_letter, render_packet};

use crate::case::Case;
use crate::convert::today_or;
use crate::error::{CasebookError, Result};
use casebook_core::model::letter::DeliveryFormat;

/// A PDF error in the bindings' terms: the case's refusals as they are, Typst's as `Internal` (a bug).
fn pdf_error(e: PdfError) -> CasebookError {
    match e {
        PdfError::Case(e) => e.into(),
        other => CasebookError::Internal { reason: other.to_string() },
    }
}

#[uniffi::export]
impl Case {
    /// The packet for a new specialist as a PDF (US Letter), dated `today` (`YYYY-MM-DD`, default: today in
    /// the device's time zone): the same sections as [`Case::packet_html`]. With `appendix`, the attached
    /// images (JPEG, PNG, GIF) and PDFs whose bytes are on this device are enclosed (up to 50 MiB); the
    /// others are listed as not enclosed, a damaged one as "could not be enclosed". Takes a second or more
    /// for a large case: call it off the main thread. Refused (`InvalidInput`) for a malformed `today`.
    #[uniffi::method(default(today = None, appendix = false))]
    pub fn packet_pdf(&self, today: Option<String>, appendix: bool) -> Result<Vec<u8>> {
        let today = today_or(today)?;
        let (data, files) = self.read(|c| {
            let data = c.packet_data(today);
            let files = appendix.then(|| casebook_pdf::packet::appendix_files(c, &data, casebook_pdf::APPENDIX_LIMIT));
            (data, files)
        })?;
        render_packet(&data, files.as_deref(), today, Fonts::shared()).map_err(pdf_error)
    }

    /// The letter of [`Case::request_letter`] as a PDF (US Letter), ready to print and sign. Refused as
    /// `request_letter` is.
    #[uniffi::method(default(today = None, format = None))]
    pub fn request_letter_pdf(
        &self,
        request_id: String,
        today: Option<String>,
        format: Option<DeliveryFormat>,
    ) -> Result<Vec<u8>> {
        let today = today_or(today)?;
        let data = self.try_read(|c| c.request_letter_data(&request_id, today, format))?;
        render_letter(&data, today, Fonts::shared()).map_err(pdf_error)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    #[test]
    fn the_pdfs_through_the_bindings() {
        let store = Store::in_memory();
        let case = store.create_case("Zoë".into(), "Ana".into(), None).unwrap().case;
        let pdf = case.packet_pdf(Some("2026-12-05".into()), true).unwrap();
        assert!(pdf.starts_with(b"%PDF"));
        assert!(case.packet_pdf(Some("tomorrow".into()), false).is_err());
        assert!(case.request_letter_pdf("nope".into(), None, None).is_err());
    }
}
