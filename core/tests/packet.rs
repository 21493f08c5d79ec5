//! The packet for a new specialist (`Case::packet_html`): one self-contained HTML page with every section,
//! every text escaped and kept as UTF-8, retracted items left out, empty sections marked "None recorded".

use casebook_core::model::appointment::{AppointmentKind, NewAppointment};
use casebook_core::model::attachment::{AttachTarget, NewAttachment, TargetKind};
use casebook_core::model::chronology::{DocumentKind, Location};
use casebook_core::model::opinion::NewOpinion;
use casebook_core::model::packet::{NONE_RECORDED, SECTIONS, escape_html};
use casebook_core::model::patient::PatientField;
use casebook_core::model::question::{Category, Priority};
use casebook_core::model::retraction::Retract;
use casebook_core::model::specialist::NewSpecialist;
use casebook_core::model::text::TextField;
use casebook_core::{Case, Store};
use time::Date;
use time::macros::date;

const TODAY: Date = date!(2026 - 12 - 05);

fn new_case(name: &str) -> (Store, Case, String) {
    let store = Store::in_memory();
    let (case, me) = store.create_case(name, "Ana", Some("daughter")).unwrap();
    (store, case, me)
}

/// Checks that hold for every packet: self-contained, no script, UTF-8, English, the footer.
fn assert_well_formed(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"), "{html}");
    assert!(html.contains("<meta charset=\"utf-8\">"));
    assert!(html.trim_end().ends_with("</html>"));
    let lower = html.to_lowercase();
    for banned in ["<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import", "http://", "https://"] {
        assert!(!lower.contains(banned), "{banned:?} in the packet:\n{html}");
    }
    assert!(html.contains("break-before: page"), "page breaks for print");
    assert!(html.contains("Prepared with Casebook on December 5, 2026; contents as recorded by the family"));
    for heading in SECTIONS {
        assert!(html.contains(&format!("<h2>{heading}</h2>")), "{heading:?} missing:\n{html}");
    }
}

#[test]
fn escape_html_escapes_the_five_characters_and_keeps_unicode() {
    assert_eq!(
        escape_html(r#"<a href="x">Tom & Jerry's</a>"#),
        "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
    );
    assert_eq!(escape_html("Zoë 陈 😀\nline\u{202E}two\u{0007}"), "Zoë 陈 😀\nlinetwo");
}

#[test]
fn a_full_case_renders_every_section_escaped() {
    let (_s, mut case, me) = new_case("Zoë 陈 😀");
    for (field, value) in [
        (PatientField::Age, "67"),
        (PatientField::BirthYear, "1959"),
        (PatientField::CancerType, "Non-small cell lung cancer"),
        (PatientField::Histology, "Adenocarcinoma"),
        (PatientField::Stage, "IIIA"),
        (PatientField::DiagnosisDate, "2026-11-02"),
        (PatientField::DiagnosingFacility, "St. Mary's Hospital"),
        (PatientField::OncologistName, "Dr. Lee"),
        (PatientField::OncologistFacility, "City Cancer Center"),
    ] {
        case.set_patient(field, Some(value)).unwrap();
    }
    case.append_text(&TextField::ProposedTreatment, "Chemoradiation, then durvalumab").unwrap();

    let biopsy = case
        .add_document(
            Some("2026-10-28"),
            DocumentKind::PathologyReport,
            Some("City Lab"),
            "Biopsy <script>alert(1)</script>",
            Location::Both,
        )
        .unwrap();
    case.attach_bytes(
        AttachTarget { kind: TargetKind::Document, id: biopsy.clone() },
        NewAttachment::new("biopsy report.pdf", "application/pdf", Some(&me)),
        &vec![b'%'; 340_000],
    )
    .unwrap();
    case.add_document(
        Some("2026-10-30"),
        DocumentKind::ImagingStudy,
        Some("Imaging & Co"),
        "PET-CT",
        Location::Digital,
    )
    .unwrap();
    let wrong = case.add_document(None, DocumentKind::Other, None, "Someone else's scan", Location::Physical).unwrap();
    case.retract_document(&wrong, Retract { today: TODAY, by: Some(&me), reason: Some("wrong patient") }).unwrap();

    case.add_medication("Metformin", Some("500 mg twice daily")).unwrap();
    case.add_family_history("Mother", "Breast cancer", Some(52)).unwrap();
    case.append_text(&TextField::Symptoms, "Cough for 3 months\nNote: <script>alert(1)</script>").unwrap();

    let dr = case
        .add_specialist(NewSpecialist {
            name: "Dr. Okafor",
            subspecialty: Some("Thoracic oncology"),
            institution: Some("University Cancer Center"),
            nci: None,
            contact: Some("+1 555 0100"),
        })
        .unwrap();
    case.add_opinion(NewOpinion {
        rank: 1,
        specialist: Some(&dr),
        date: Some("2026-11-10"),
        diagnosis: Some("Adenocarcinoma"),
        stage: Some("Stage 3B"),
        treatment: Some("Surgery after induction chemotherapy"),
        trials: Some("NCT01234567"),
    })
    .unwrap();

    case.add_question("Is surgery an option?", Category::Treatment, Priority::High, &me).unwrap();
    let done = case.add_question("Was PD-L1 tested?", Category::Testing, Priority::Normal, &me).unwrap();
    let visit =
        case.add_appointment(NewAppointment { kind: Some(AppointmentKind::Tests), ..Default::default() }).unwrap();
    case.add_answer(&done, &visit, &me, "Yes, 60%").unwrap();
    case.add_caregiver("Ben", Some("son")).unwrap();

    let html = case.packet_html(TODAY);
    assert_well_formed(&html);

    // Patient and diagnosis, the name in UTF-8 as typed.
    for value in [
        "Zoë 陈 😀",
        "67 (born 1959)",
        "Non-small cell lung cancer",
        "Adenocarcinoma",
        "IIIA",
        "2026-11-02",
        "St. Mary&#39;s Hospital",
        "Dr. Lee, City Cancer Center",
        "Chemoradiation, then durvalumab",
    ] {
        assert!(html.contains(value), "{value:?} missing:\n{html}");
    }
    // Records with their files; the retracted one absent.
    for value in ["2026-10-28", "Pathology report", "City Lab", "biopsy report.pdf", "application/pdf", "340 KB"] {
        assert!(html.contains(value), "{value:?} missing:\n{html}");
    }
    assert!(html.contains("Imaging &amp; Co") && html.contains("PET-CT") && html.contains("Imaging study"));
    assert!(!html.contains("Someone else") && !html.contains("wrong patient"), "a retracted document:\n{html}");
    // The script is text, never markup.
    assert!(!html.contains("<script"), "{html}");
    assert!(html.contains("Biopsy &lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("Note: &lt;script&gt;alert(1)&lt;/script&gt;"));
    // Medications, family history, symptoms.
    for value in ["Metformin", "500 mg twice daily", "Mother", "Breast cancer", "52", "Cough for 3 months"] {
        assert!(html.contains(value), "{value:?} missing:\n{html}");
    }
    // The prior opinion, with who gave it.
    for value in ["First opinion", "Dr. Okafor, University Cancer Center", "2026-11-10", "Stage 3B", "NCT01234567"] {
        assert!(html.contains(value), "{value:?} missing:\n{html}");
    }
    assert!(html.contains("Surgery after induction chemotherapy"));
    // Questions: open first, answered ones marked after them.
    let q_open = html.find("Is surgery an option?").expect("the open question");
    let answered = html.find("Already answered").expect("answered questions marked");
    let q_done = html.find("Was PD-L1 tested?").expect("the answered question");
    assert!(q_open < answered && answered < q_done, "{html}");
    // Contacts: the care team and the specialists.
    for value in ["Ana", "daughter", "Ben", "son", "Thoracic oncology", "+1 555 0100"] {
        assert!(html.contains(value), "{value:?} missing:\n{html}");
    }
    assert!(!html.contains(NONE_RECORDED), "every section is filled:\n{html}");
}

#[test]
fn an_empty_case_renders_none_recorded_lines() {
    let (_s, case, _me) = new_case("Maria");
    let html = case.packet_html(TODAY);
    assert_well_formed(&html);
    // Records, medications, family history, symptoms, opinions, specialists, and the diagnosis fields.
    assert!(html.matches(NONE_RECORDED).count() >= 6, "{html}");
    for heading in ["Records", "Medications", "Family cancer history", "Symptoms and concerns", "Prior opinions"] {
        let at = html.find(&format!("<h2>{heading}</h2>")).unwrap();
        let rest = &html[at..];
        let end = rest.find("</section>").unwrap();
        assert!(rest[..end].contains(NONE_RECORDED), "{heading}: no None recorded line:\n{html}");
    }
    assert!(html.contains("Maria"));
}
