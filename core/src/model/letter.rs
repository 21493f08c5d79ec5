//! The request letter: a record request as a ready-to-sign letter to its custodian, built once as blocks
//! ([`LetterData`]) that the plain text here and the PDF of `casebook-pdf` both render.
//!
//! For the information in the request (reports, images, results) it is the patient's own written request
//! under the HIPAA right of access (45 CFR 164.524), "for a second-opinion consultation", with the
//! delivery format and the 30-day rule (one 30-day extension, with a written notice given within the first
//! 30 days). Slides and blocks are specimens, not information (DOMAIN.md): the letter asks the lab to lend
//! them for the consultation, to be returned by the request's return-by date, and says that the 30-day rule
//! does not cover them. A request for slides or blocks only is a loan request alone.
//!
//! The case keeps the patient's name as the family refers to them, and no date of birth: the letter prints
//! the name and leaves a line for the date of birth.

use serde::Serialize;
use time::Date;

use super::Keyed;
use super::record_request::{Channel, RecordItem, RecordRequest};
use crate::case::Case;
use crate::error::{Error, Result};

keyed_enum! {
    /// How the custodian is asked to deliver the copies.
    DeliveryFormat {
        /// On a CD or DVD (imaging studies as DICOM images).
        Disc => "disc",
        /// Electronically: the patient portal or a secure download link.
        Portal => "portal",
        /// Paper copies (imaging studies still on a disc).
        Paper => "paper",
    }
}

impl DeliveryFormat {
    /// The usual format for `items`: a disc when imaging studies are requested, else paper copies.
    pub fn default_for(items: &[RecordItem]) -> DeliveryFormat {
        if items.contains(&RecordItem::ImagingDisc) { DeliveryFormat::Disc } else { DeliveryFormat::Paper }
    }
}

/// The width paragraphs are wrapped to.
const WIDTH: usize = 76;

/// A line to fill in by hand.
const BLANK: &str = "______________________________";

/// The 30-day rule, as the letter states it (45 CFR 164.524(b)(2)).
pub const THIRTY_DAY_RULE: &str = "Under 45 CFR 164.524(b)(2), you must act on this request no later than 30 days \
                                   after receiving it. If you cannot, you may extend that time once, by no more \
                                   than 30 days, and only if within the first 30 days you give me a written notice \
                                   stating the reason for the delay and the date by which you will act.";

/// An item of information, in plain words.
fn information_words(item: RecordItem, items: &[RecordItem]) -> Option<String> {
    Some(match item {
        RecordItem::PathologyReport => {
            "Pathology reports, with the name and address of the laboratory that issued each one".into()
        }
        RecordItem::ImagingDisc => "Imaging studies (CT, MRI, PET and other scans) as DICOM images".into(),
        RecordItem::ImagingReport if items.contains(&RecordItem::ImagingDisc) => {
            "The radiologist's report of each of those imaging studies".into()
        }
        RecordItem::ImagingReport => "Imaging reports (the radiologist's report of each study)".into(),
        RecordItem::LabReports => "Laboratory test results".into(),
        RecordItem::OperativeReport => "Operative and procedure reports".into(),
        RecordItem::TreatmentHistory => {
            "Records of the treatment given so far: treatment plans and summaries, and the medications given".into()
        }
        RecordItem::Other => format!("Other records: {BLANK}"),
        RecordItem::PathologySlides | RecordItem::TissueBlocks => return None,
    })
}

/// The specimens lent, in plain words.
fn specimen_words(items: &[RecordItem]) -> Option<&'static str> {
    match (items.contains(&RecordItem::PathologySlides), items.contains(&RecordItem::TissueBlocks)) {
        (true, true) => Some(
            "the original diagnostic pathology slides (including any special stains) and the tissue blocks (or \
             unstained slides cut from them)",
        ),
        (true, false) => Some("the original diagnostic pathology slides (including any special stains)"),
        (false, true) => Some("the tissue blocks (or unstained slides cut from them)"),
        (false, false) => None,
    }
}

/// A text from the case on one line: line breaks, tabs and controls become spaces, bidi controls are
/// dropped, runs of spaces collapse.
fn one_line(s: &str) -> String {
    let spaced: String = s
        .chars()
        .filter(|c| !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
        .map(|c| if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') { ' ' } else { c })
        .collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` wrapped to [`WIDTH`] columns, the first line starting with `first`, the others with `rest`.
fn wrap(text: &str, first: &str, rest: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > WIDTH {
            lines.push(std::mem::replace(&mut line, rest.to_string()));
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    lines.push(line);
    lines.join("\n")
}

/// "December 5, 2026".
fn long_date(d: Date) -> String {
    format!("{} {}, {}", d.month(), d.day(), d.year())
}

impl Case {
    /// The letter for record request `request_id`, dated `today` (the device's local date), asking for the
    /// copies in `format` (default: [`DeliveryFormat::default_for`] the items). See the
    /// [module documentation](crate::model::letter).
    ///
    /// Refused: an unknown or retracted request; a request for information on a channel other than the
    /// patient's own request ([`Channel::PatientRequest`]): the letter *is* the patient's written request,
    /// and the case must track its 30-day clock, so the request's channel is changed first.
    pub fn request_letter(&self, request_id: &str, today: Date, format: Option<DeliveryFormat>) -> Result<String> {
        Ok(self.request_letter_data(request_id, today, format)?.text())
    }

    /// What the letter of [`Case::request_letter`] says, as blocks: the text letter and the PDF
    /// (`casebook-pdf`) both render it, so that they cannot disagree. Refused as `request_letter` is.
    pub fn request_letter_data(
        &self,
        request_id: &str,
        today: Date,
        format: Option<DeliveryFormat>,
    ) -> Result<LetterData> {
        let Some(r) = self.record_requests().into_iter().find(|r| r.id == request_id) else {
            if self.retracted_record_requests().iter().any(|r| r.id == request_id) {
                return Err(Error::Retracted { kind: "record request", id: request_id.to_string() });
            }
            return Err(Error::UnknownId { kind: "record request", id: request_id.to_string() });
        };
        let information: Vec<String> = RecordItem::ALL
            .iter()
            .filter(|i| r.items.contains(i))
            .filter_map(|&i| information_words(i, &r.items))
            .collect();
        if !information.is_empty() && r.channel != Channel::PatientRequest {
            return Err(Error::InvalidInput {
                field: "channel",
                reason: format!(
                    "this request is recorded as {}: the letter is the patient's own right-of-access request; \
                     change the request's channel to patient_request first, so that its 30-day due date is tracked",
                    r.channel
                ),
            });
        }
        let patient = self.patient().display_name.map(|n| one_line(&n)).filter(|n| !n.is_empty());
        let format = format.unwrap_or(DeliveryFormat::default_for(&r.items));
        Ok(LetterData {
            date: iso(today),
            patient_name: patient.clone(),
            blocks: letter(&r, &information, patient.as_deref(), today, format),
        })
    }
}

/// A block of the letter, as both the text letter and the PDF lay it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LetterBlock {
    /// A paragraph, then an empty line (wrapped in the text letter).
    Paragraph {
        /// The paragraph.
        text: String,
    },
    /// One line, as it is.
    Line {
        /// The line.
        text: String,
    },
    /// A paragraph with no empty line after it; `hanging`: its continuation lines are indented.
    Wrapped {
        /// The paragraph.
        text: String,
        /// Whether continuation lines are indented.
        hanging: bool,
    },
    /// An item of the list of what is requested.
    Item {
        /// The item.
        text: String,
    },
    /// An empty line.
    Space,
    /// A line to fill in by hand.
    Fill,
}

/// The request letter, as blocks (see [`Case::request_letter_data`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LetterData {
    /// The letter's date, `YYYY-MM-DD`.
    pub date: String,
    /// The patient's name, on one line, if recorded.
    pub patient_name: Option<String>,
    /// The letter, from the date to the representative's line.
    pub blocks: Vec<LetterBlock>,
}

impl LetterData {
    /// The letter in plain text, paragraphs wrapped to 76 columns.
    pub fn text(&self) -> String {
        let mut out: Vec<String> = Vec::new();
        for b in &self.blocks {
            match b {
                LetterBlock::Paragraph { text } => {
                    out.push(wrap(text, "", ""));
                    out.push(String::new());
                }
                LetterBlock::Line { text } => out.push(text.clone()),
                LetterBlock::Wrapped { text, hanging } => out.push(wrap(text, "", if *hanging { "    " } else { "" })),
                LetterBlock::Item { text } => out.push(wrap(text, "  - ", "    ")),
                LetterBlock::Space => out.push(String::new()),
                LetterBlock::Fill => out.push(BLANK.repeat(2)),
            }
        }
        let mut text = out.join("\n");
        text.push('\n');
        text
    }
}

/// "2026-12-05".
fn iso(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Append a paragraph.
fn para(out: &mut Vec<LetterBlock>, text: &str) {
    out.push(LetterBlock::Paragraph { text: text.to_string() });
}

/// Append a line.
fn line(out: &mut Vec<LetterBlock>, text: impl Into<String>) {
    out.push(LetterBlock::Line { text: text.into() });
}

/// How the copies are to be delivered, in a sentence.
fn delivery(format: DeliveryFormat, imaging: bool) -> &'static str {
    match (format, imaging) {
        (DeliveryFormat::Disc, true) => {
            "Please provide the copies on a CD or DVD, with the imaging studies as DICOM images."
        }
        (DeliveryFormat::Disc, false) => "Please provide the copies on a CD or DVD.",
        (DeliveryFormat::Portal, true) => {
            "Please provide the copies electronically, through the patient portal or a secure download link, with \
             the imaging studies as DICOM images."
        }
        (DeliveryFormat::Portal, false) => {
            "Please provide the copies electronically, through the patient portal or a secure download link."
        }
        (DeliveryFormat::Paper, true) => {
            "Please provide paper copies, and the imaging studies as DICOM images on a CD or DVD."
        }
        (DeliveryFormat::Paper, false) => "Please provide paper copies.",
    }
}

/// The blocks of the letter.
fn letter(
    r: &RecordRequest,
    information: &[String],
    patient: Option<&str>,
    today: Date,
    format: DeliveryFormat,
) -> Vec<LetterBlock> {
    let custodian = Some(one_line(&r.custodian)).filter(|c| !c.is_empty()).unwrap_or_else(|| BLANK.to_string());
    let access = !information.is_empty();
    let mut out: Vec<LetterBlock> = Vec::new();

    para(&mut out, &long_date(today));
    line(&mut out, custodian.clone());
    para(
        &mut out,
        if access { "Attn: Health Information Management (medical records)" } else { "Attn: Pathology department" },
    );
    let subject = if access {
        "Re: Request for access to my health information (45 CFR 164.524), for a second-opinion consultation"
    } else {
        "Re: Request to lend pathology material for a second-opinion consultation"
    };
    out.push(LetterBlock::Wrapped { text: subject.to_string(), hanging: true });
    line(&mut out, format!("Patient: {}", patient.unwrap_or(BLANK)));
    line(&mut out, format!("Date of birth: {BLANK}"));
    out.push(LetterBlock::Space);
    para(&mut out, "To whom it may concern,");

    if access {
        para(
            &mut out,
            &format!(
                "Under my HIPAA right of access (45 CFR 164.524), I request copies of the following health \
                 information from my designated record set at {custodian}, for a second-opinion consultation:"
            ),
        );
        for item in information {
            out.push(LetterBlock::Item { text: item.clone() });
        }
        out.push(LetterBlock::Space);
        para(&mut out, delivery(format, r.items.contains(&RecordItem::ImagingDisc)));
        para(&mut out, THIRTY_DAY_RULE);
        para(&mut out, "Any fee for the copies must be a reasonable, cost-based fee (45 CFR 164.524(c)(4)).");
    }
    if let Some(what) = specimen_words(&r.items) {
        let return_by = match r.return_by {
            Some(d) => format!("They will be returned to you by {}.", long_date(d)),
            None => "They will be returned by the date you set: please tell us when you need them back.".to_string(),
        };
        let ask = if access {
            format!(
                "Pathology material. I also ask that your pathology department lend {what} of my case to the \
                 pathologist who will review them for a second-opinion consultation, as a loan. Slides and blocks \
                 are specimens, not information: they are not covered by the right of access, and the 30-day rule \
                 above does not apply to them. {return_by}"
            )
        } else {
            format!(
                "I ask that your pathology department lend {what} of my case to the pathologist who will review \
                 them for a second-opinion consultation, as a loan. Slides and blocks are specimens, not \
                 information: this is a request for a loan under your laboratory's own policy, not a request \
                 under the HIPAA right of access. {return_by}"
            )
        };
        para(&mut out, &ask);
        line(&mut out, "Please send the material to (consulting pathologist, institution, address):");
        out.push(LetterBlock::Fill);
        out.push(LetterBlock::Fill);
        out.push(LetterBlock::Space);
    }
    if access {
        line(&mut out, "Please send the copies to (address, or secure e-mail for electronic copies):");
        out.push(LetterBlock::Fill);
        out.push(LetterBlock::Fill);
        line(&mut out, format!("Phone: {BLANK}"));
        out.push(LetterBlock::Space);
    }
    line(&mut out, "Thank you.");
    out.push(LetterBlock::Space);
    out.push(LetterBlock::Space);
    line(&mut out, format!("Signature of patient: {BLANK}    Date: ____________"));
    line(&mut out, format!("Printed name: {}", patient.unwrap_or(BLANK)));
    out.push(LetterBlock::Space);
    out.push(LetterBlock::Wrapped {
        text: "If signed by a personal representative: name, relationship to the patient, and authority to act \
               for the patient:"
            .to_string(),
        hanging: false,
    });
    out.push(LetterBlock::Fill);
    out
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn text_from_the_case_stays_on_one_line() {
        assert_eq!(one_line("City\nHospital\t\u{202E}lab\u{1b}  x"), "City Hospital lab x");
        assert_eq!(long_date(date!(2026 - 12 - 05)), "December 5, 2026");
    }

    #[test]
    fn paragraphs_wrap_within_the_width() {
        let text = "word ".repeat(60);
        let wrapped = wrap(&text, "  - ", "    ");
        assert!(wrapped.lines().all(|l| l.chars().count() <= WIDTH), "{wrapped}");
        assert!(wrapped.starts_with("  - word"));
        assert!(wrapped.lines().skip(1).all(|l| l.starts_with("    word")));
        assert_eq!(wrapped.split_whitespace().filter(|w| *w == "word").count(), 60);
    }

    #[test]
    fn the_default_format_follows_the_items() {
        assert_eq!(DeliveryFormat::default_for(&[RecordItem::ImagingDisc]), DeliveryFormat::Disc);
        assert_eq!(DeliveryFormat::default_for(&[RecordItem::LabReports]), DeliveryFormat::Paper);
        assert_eq!(DeliveryFormat::from_key("Portal"), Some(DeliveryFormat::Portal));
    }
}
