//! The PDF packet and letter rendered from data at the edges: an empty case, very long names, 200
//! chronology entries, right-to-left text, markup-like text, damaged attachments, the bundled fonts only;
//! the output reproducible. Text is read back with poppler's `pdftotext` (installed by `scripts/test.sh`).

use std::process::Command;
use std::sync::Arc;

use casebook_core::Store;
use casebook_core::model::attachment::{AttachTarget, NewAttachment, TargetKind};
use casebook_core::model::chronology::{DocumentKind, Location};
use casebook_core::model::packet::PacketData;
use casebook_core::model::record_request::{Channel, RecordItem};
use casebook_pdf::{AppendixFile, Fonts, PacketOptions, packet_pdf, render_letter, render_packet};
use time::Date;
use time::macros::date;

const TODAY: Date = date!(2026 - 12 - 05);

/// The text of `pdf` as `pdftotext` reads it; fails clearly when poppler is not installed.
fn pdftotext(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = match Command::new("pdftotext").args(["-enc", "UTF-8"]).arg(&path).arg("-").output() {
        Ok(out) => out,
        Err(e) => panic!(
            "pdftotext (poppler-utils) is needed to read the PDFs back ({e}): run the README's test command, \
             scripts/test.sh, which installs it"
        ),
    };
    assert!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The text with all whitespace removed (pdftotext breaks lines where the layout does).
fn squeeze(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn empty_data(name: &str) -> PacketData {
    let store = Store::in_memory();
    let (case, _me) = store.create_case(name, "Ana", None).unwrap();
    case.packet_data(TODAY)
}

#[test]
fn an_empty_case_renders_every_heading_and_none_recorded() {
    let pdf = render_packet(&empty_data("Maria"), None, TODAY, Fonts::shared()).unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    let text = pdftotext(&pdf);
    for heading in casebook_core::model::packet::SECTIONS {
        assert!(text.contains(heading), "{heading:?} missing:\n{text}");
    }
    assert!(text.matches("None recorded").count() >= 6, "{text}");
    assert!(text.contains("Maria") && text.contains("December 5, 2026"));
}

#[test]
fn the_output_is_reproducible() {
    let data = empty_data("Zoë");
    let a = render_packet(&data, None, TODAY, Fonts::shared()).unwrap();
    let b = render_packet(&data, None, TODAY, Fonts::shared()).unwrap();
    assert_eq!(a, b, "the same data gives the same bytes");
    let text = String::from_utf8_lossy(&a);
    assert!(text.contains("20261205"), "the creation date is the packet's date");
}

#[test]
fn markup_in_case_text_is_printed_as_text() {
    let evil = "#panic(\"x\") *bold* $x^2$ <lbl> @ref ] [ \\ `raw` // comment /* c */ #{ 1 } = Heading";
    let mut data = empty_data(evil);
    data.symptoms = Some(format!("#import \"/data.json\"\n{evil}"));
    let pdf = render_packet(&data, None, TODAY, Fonts::shared()).unwrap();
    let text = squeeze(&pdftotext(&pdf));
    assert!(text.contains(&squeeze("#panic(\"x\") *bold* $x^2$ <lbl>")), "{text}");
    assert!(text.contains(&squeeze("#import \"/data.json\"")), "{text}");
    assert!(text.contains(&squeeze("// comment /* c */ #{ 1 } = Heading")), "{text}");
}

#[test]
fn long_names_many_records_and_right_to_left_text_render() {
    let store = Store::in_memory();
    let long = "Ααααααααα-Бббббббббб-".repeat(40);
    let (mut case, _me) = store.create_case(&long, "Ana", None).unwrap();
    for i in 0..200 {
        case.add_document(
            Some(&format!("2026-{:02}-{:02}", 1 + i % 12, 1 + i % 28)),
            DocumentKind::LabResult,
            Some("مستشفى الملك فيصل التخصصي"),
            &format!("Entry {i}: تحليل الدم {}", "x".repeat(i % 50)),
            Location::Digital,
        )
        .unwrap();
    }
    case.add_medication("مريم", Some("500 mg")).unwrap();
    let pdf = packet_pdf(&case, TODAY, &PacketOptions::default()).unwrap();
    let text = pdftotext(&pdf);
    assert!(text.contains("Entry 0:") && text.contains("Entry 199:"), "every record printed");
    assert!(text.contains("Ααααααααα"), "Greek printed");
    assert!(text.contains("مريم") || text.contains("ميرم"), "Arabic printed:\n{}", &text[..2000.min(text.len())]);
}

#[test]
fn the_bundled_fonts_alone_render_latin_greek_and_cyrillic() {
    let fonts = Arc::new(Fonts::embedded_only());
    assert!(fonts.has_family("libertinus serif"));
    let pdf = render_packet(&empty_data("Zoë Ренатова Ζωή"), None, TODAY, fonts).unwrap();
    let text = pdftotext(&pdf);
    assert!(text.contains("Zoë Ренатова Ζωή"), "{text}");
}

#[test]
fn damaged_or_missing_attachments_are_listed_not_fatal() {
    let store = Store::in_memory();
    let (mut case, me) = store.create_case("Maria", "Ana", None).unwrap();
    let doc = case.add_document(Some("2026-10-01"), DocumentKind::ImagingStudy, None, "CT", Location::Digital).unwrap();
    let target = AttachTarget { kind: TargetKind::Document, id: doc };
    for (name, media, bytes) in [
        ("scan.png", "image/png", b"\x89PNG\r\n\x1a\n not really a png".to_vec()),
        ("report.pdf", "application/pdf", b"%PDF-1.7 broken".to_vec()),
        ("notes.docx", "application/octet-stream", b"PK\x03\x04".to_vec()),
        ("big.pdf", "application/pdf", vec![b'%'; 2000]),
    ] {
        case.attach_bytes(target.clone(), NewAttachment::new(name, media, Some(&me)), &bytes).unwrap();
    }
    let options = PacketOptions { appendix: true, appendix_limit: 1000 };
    let pdf = packet_pdf(&case, TODAY, &options).unwrap();
    let text = pdftotext(&pdf);
    assert!(text.contains("Appendix: attached files"), "{text}");
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.matches("could not be enclosed").count() >= 2, "{flat}");
    assert!(flat.contains("not enclosed: not an image or PDF"), "{flat}");
    assert!(flat.contains("not enclosed: too large"), "{flat}");

    // Bytes that are not here.
    let data = case.packet_data(TODAY);
    let files: Vec<AppendixFile> = data.records[0]
        .files
        .iter()
        .map(|f| AppendixFile { file: f.clone(), bytes: Err("not enclosed: not on this device".into()) })
        .collect();
    let pdf = render_packet(&data, Some(&files), TODAY, Fonts::shared()).unwrap();
    assert!(pdftotext(&pdf).contains("not on this device"));
}

#[test]
fn the_letter_renders_its_blocks() {
    let store = Store::in_memory();
    let (mut case, _me) = store.create_case("Zoë Ренатова", "Ana", None).unwrap();
    let id = case
        .add_record_request(
            "City Hospital",
            &[RecordItem::PathologyReport, RecordItem::PathologySlides],
            Channel::PatientRequest,
        )
        .unwrap();
    let data = case.request_letter_data(&id, TODAY, None).unwrap();
    let pdf = render_letter(&data, TODAY, Fonts::shared()).unwrap();
    let text = pdftotext(&pdf);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for value in [
        "City Hospital",
        "Zoë Ренатова",
        "for a second-opinion consultation",
        "30 days",
        "Signature of patient:",
        "as a loan",
    ] {
        assert!(flat.contains(value), "{value:?} missing:\n{text}");
    }
}
