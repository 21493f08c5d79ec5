//! The request letter as a PDF: the blocks the text letter is made of ([`LetterData`], built once by the
//! core), laid out by the fixed template `templates/letter.typ` on one or two pages, ready to sign.

use std::sync::Arc;

use casebook_core::Case;
use casebook_core::model::letter::{DeliveryFormat, LetterData};
use serde::Serialize;
use time::Date;

use crate::error::Result;
use crate::fonts::Fonts;
use crate::render::{Job, Ymd, render};

/// The fixed template.
const TEMPLATE: &str = include_str!("../templates/letter.typ");

/// The template's data.
#[derive(Debug, Serialize)]
struct Input<'a> {
    title: String,
    date: Ymd,
    letter: &'a LetterData,
}

/// The letter for record request `request_id` of `case` as a PDF, dated `today`, asking for the copies in
/// `format` (default: the core's default for the items). Refused as `Case::request_letter` is.
pub fn letter_pdf(case: &Case, request_id: &str, today: Date, format: Option<DeliveryFormat>) -> Result<Vec<u8>> {
    let data = case.request_letter_data(request_id, today, format)?;
    render_letter(&data, today, Fonts::shared())
}

/// The letter of `data` as a PDF.
pub fn render_letter(data: &LetterData, today: Date, fonts: Arc<Fonts>) -> Result<Vec<u8>> {
    let title = match &data.patient_name {
        Some(n) => format!("Request for records \u{2014} {n}"),
        None => "Request for records".to_string(),
    };
    let input = Input { title, date: today.into(), letter: data };
    render(Job { name: "letter", template: TEMPLATE, data: &input, files: Vec::new(), today, fonts })
}
