//! The errors of PDF rendering.

/// Why a PDF could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The case refused (an unknown or retracted record request, a request the letter cannot be for).
    #[error(transparent)]
    Case(#[from] casebook_core::Error),
    /// Typst refused the fixed template (a bug: the templates read only data, so this should never happen).
    /// The messages are Typst's diagnostics, without the data.
    #[error("the {template} template did not compile: {}", messages.join("; "))]
    Compile {
        /// Which template ("packet", "letter").
        template: &'static str,
        /// Typst's diagnostics.
        messages: Vec<String>,
    },
    /// The PDF exporter refused the laid-out document.
    #[error("the {template} could not be written as PDF: {}", messages.join("; "))]
    Export {
        /// Which template ("packet", "letter").
        template: &'static str,
        /// Typst's diagnostics.
        messages: Vec<String>,
    },
    /// The data could not be encoded as JSON (never expected).
    #[error("the {template} data could not be encoded: {source}")]
    Data {
        /// Which template.
        template: &'static str,
        /// The encoder's error.
        source: serde_json::Error,
    },
}

/// The result of PDF rendering.
pub type Result<T> = std::result::Result<T, PdfError>;

/// Typst's diagnostics as messages (the message and its hints; no source text).
pub(crate) fn messages(diags: &[typst::diag::SourceDiagnostic]) -> Vec<String> {
    diags
        .iter()
        .map(|d| {
            let mut m = d.message.to_string();
            for h in &d.hints {
                m.push_str(" (hint: ");
                m.push_str(&h.v);
                m.push(')');
            }
            m
        })
        .collect()
}
