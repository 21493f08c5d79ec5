//! The packet for the new specialist: the case as one self-contained HTML page (the guide's step 4,
//! "organize documentation").

use crate::case::Case;
use crate::convert::today_or;
use crate::error::Result;

#[uniffi::export]
impl Case {
    /// The case as one self-contained HTML page for a new specialist, dated `today` (`YYYY-MM-DD`, default:
    /// today in the device's time zone): patient and diagnosis, the records with the files enclosed,
    /// medications, family cancer history, symptoms and concerns, prior opinions, the family's questions
    /// (open ones first, answered ones marked) and the contacts. No script and nothing loaded from
    /// elsewhere; inline print style (A4 or Letter). Every text is HTML-escaped; retracted items are left
    /// out; an empty section says "None recorded". Show it in a web view or hand it to the print dialog or
    /// the share sheet. Refused (`InvalidInput`) for a malformed `today`.
    #[uniffi::method(default(today = None))]
    pub fn packet_html(&self, today: Option<String>) -> Result<String> {
        let today = today_or(today)?;
        self.read(|c| c.packet_html(today))
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    #[test]
    fn the_packet_through_the_bindings() {
        let store = Store::in_memory();
        let case = store.create_case("Zoë <b>".into(), "Ana".into(), None).unwrap().case;
        let html = case.packet_html(Some("2026-12-05".into())).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>") && html.contains("Zoë &lt;b&gt;"), "{html}");
        assert!(html.contains("Prepared with Casebook on December 5, 2026"));
        assert!(case.packet_html(Some("tomorrow".into())).is_err());
        assert!(case.packet_html(None).unwrap().contains("</html>"));
    }
}
