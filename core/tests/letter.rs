//! The request letter (`Case::request_letter`): the custodian, the patient, the items in plain words, "for a
//! second-opinion consultation", the delivery format, the HIPAA 30-day rule, signature and date lines; slides
//! and blocks asked as a loan with their return-by date, outside the 30-day rule.

use casebook_core::model::letter::{DeliveryFormat, THIRTY_DAY_RULE};
use casebook_core::model::patient::PatientField;
use casebook_core::model::record_request::{Channel, RecordItem, Retract};
use casebook_core::{Case, Error, Store};
use time::Date;
use time::macros::date;

const TODAY: Date = date!(2026 - 12 - 05);

fn new_case() -> (Store, Case) {
    let store = Store::in_memory();
    let (case, _me) = store.create_case("Maria Lopez", "Ana", Some("daughter")).unwrap();
    (store, case)
}

/// The letter with its line breaks and wrapping undone, for sentences that may be wrapped.
fn flat(letter: &str) -> String {
    letter.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn a_right_of_access_letter_names_the_custodian_the_items_and_the_30_day_rule() {
    let (_s, mut case) = new_case();
    let id = case
        .add_record_request(
            "City Hospital\nHealth Information",
            &[RecordItem::PathologyReport, RecordItem::ImagingDisc, RecordItem::ImagingReport, RecordItem::LabReports],
            Channel::PatientRequest,
        )
        .unwrap();
    let letter = case.request_letter(&id, TODAY, None).unwrap();
    let text = flat(&letter);

    assert!(letter.starts_with("December 5, 2026\n"), "{letter}");
    assert!(letter.contains("\nCity Hospital Health Information\n"), "the custodian on one line:\n{letter}");
    assert!(letter.contains("\nPatient: Maria Lopez\n"));
    assert!(letter.contains("\nDate of birth: ____"));
    assert!(text.contains("for a second-opinion consultation"));
    assert!(text.contains("45 CFR 164.524"));
    for item in [
        "Pathology reports, with the name and address of the laboratory",
        "Imaging studies (CT, MRI, PET and other scans) as DICOM images",
        "The radiologist's report of each of those imaging studies",
        "Laboratory test results",
    ] {
        assert!(text.contains(item), "{item:?} missing:\n{letter}");
    }
    assert!(letter.contains("\n  - Laboratory test results\n"), "items as a list:\n{letter}");
    // Imaging requested: a disc by default.
    assert!(text.contains("Please provide the copies on a CD or DVD, with the imaging studies as DICOM images."));
    // The rule: 30 days, one extension of 30 days with a written notice within the first 30.
    assert!(text.contains(THIRTY_DAY_RULE), "{letter}");
    assert!(THIRTY_DAY_RULE.contains("164.524(b)(2)") && THIRTY_DAY_RULE.contains("no later than 30 days"));
    assert!(THIRTY_DAY_RULE.contains("extend that time once, by no more than 30 days"));
    assert!(THIRTY_DAY_RULE.contains("written notice") && THIRTY_DAY_RULE.contains("within the first 30 days"));
    assert!(text.contains("reasonable, cost-based fee"));
    // Signature and date lines, the name printed; a line for a personal representative.
    assert!(letter.contains("\nSignature of patient: ______________________________    Date: ____________\n"));
    assert!(letter.contains("\nPrinted name: Maria Lopez\n"));
    assert!(text.contains("If signed by a personal representative"));
    // No specimen was asked: no loan paragraph.
    assert!(!text.contains("lend"), "{letter}");
    assert!(letter.lines().all(|l| l.chars().count() <= 76), "wrapped:\n{letter}");
    assert!(letter.ends_with('\n') && !letter.contains('\r'));

    // The format asked for.
    let portal = flat(&case.request_letter(&id, TODAY, Some(DeliveryFormat::Portal)).unwrap());
    assert!(portal.contains("electronically, through the patient portal or a secure download link"));
    let paper = flat(&case.request_letter(&id, TODAY, Some(DeliveryFormat::Paper)).unwrap());
    assert!(paper.contains("Please provide paper copies, and the imaging studies as DICOM images on a CD or DVD."));
}

#[test]
fn slides_and_blocks_are_asked_as_a_loan_outside_the_30_day_rule() {
    let (_s, mut case) = new_case();
    // Information and slides in one request: the right of access for the report, a loan for the slides.
    let both = case
        .add_record_request(
            "City Hospital",
            &[RecordItem::PathologyReport, RecordItem::PathologySlides],
            Channel::PatientRequest,
        )
        .unwrap();
    case.set_return_by(&both, Some("2027-01-15")).unwrap();
    let letter = case.request_letter(&both, TODAY, None).unwrap();
    let text = flat(&letter);
    assert!(text.contains(THIRTY_DAY_RULE));
    assert!(text.contains("lend the original diagnostic pathology slides"), "{letter}");
    assert!(text.contains("as a loan"));
    assert!(text.contains("not covered by the right of access, and the 30-day rule above does not apply to them"));
    assert!(text.contains("They will be returned to you by January 15, 2027."));
    assert!(!text.contains("- the original diagnostic"), "slides are not among the items requested under the rule");
    assert!(text.contains("Please provide paper copies."), "no imaging: paper by default");

    // Slides and blocks alone, lent lab to lab: a loan request only, no 30-day rule, no return date yet.
    let loan = case
        .add_record_request(
            "City Hospital pathology",
            &[RecordItem::PathologySlides, RecordItem::TissueBlocks],
            Channel::LabRelease,
        )
        .unwrap();
    let letter = case.request_letter(&loan, TODAY, None).unwrap();
    let text = flat(&letter);
    assert!(letter.contains("\nAttn: Pathology department\n"));
    assert!(text.contains("Request to lend pathology material for a second-opinion consultation"));
    assert!(text.contains(
        "lend the original diagnostic pathology slides (including any special stains) and the tissue blocks"
    ));
    assert!(text.contains("as a loan") && text.contains("not a request under the HIPAA right of access"));
    assert!(text.contains("They will be returned by the date you set"));
    assert!(!text.contains("164.524(b)(2)") && !text.contains("30 days"), "{letter}");
    assert!(text.contains("Signature of patient:"));
}

#[test]
fn refusals_unknown_retracted_and_information_on_another_channel() {
    let (_s, mut case) = new_case();
    assert!(matches!(case.request_letter("nope", TODAY, None), Err(Error::UnknownId { .. })));
    let id = case.add_record_request("Lab", &[RecordItem::LabReports], Channel::PatientRequest).unwrap();
    case.retract_record_request(&id, Retract { today: TODAY, by: None, reason: None }).unwrap();
    assert!(matches!(case.request_letter(&id, TODAY, None), Err(Error::Retracted { .. })));

    // Provider to provider: the letter would be the patient's own request; the channel must say so first.
    let p2p = case.add_record_request("Lab", &[RecordItem::LabReports], Channel::ProviderToProvider).unwrap();
    let e = case.request_letter(&p2p, TODAY, None).unwrap_err();
    assert!(matches!(e, Error::InvalidInput { field: "channel", .. }), "{e}");
    assert!(e.to_string().contains("patient_request"));

    // Without a name, a line to fill in.
    case.set_patient(PatientField::DisplayName, None).unwrap();
    let ok = case.add_record_request("Lab", &[RecordItem::OperativeReport], Channel::PatientRequest).unwrap();
    let letter = case.request_letter(&ok, TODAY, None).unwrap();
    assert!(letter.contains("\nPatient: ______________________________\n"), "{letter}");
    assert!(letter.contains("Operative and procedure reports"));
}
