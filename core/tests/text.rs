//! Collaborative text in UTF-16 code units, with accents, emoji and CJK.

use casebook_core::model::text::TextField;
use casebook_core::{Error, Store};

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

#[test]
fn splices_count_utf16_units() {
    let store = Store::in_memory();
    let (mut case, _) = store.create_case("Grand-mère", "Zoë", None).unwrap();
    let f = TextField::Symptoms;
    let s = "héllo wörld 😀 診断";
    case.append_text(&f, s).unwrap();
    assert!(case.has_unsaved_changes());
    assert_eq!(case.text_len(&f).unwrap(), utf16_len(s));
    assert_eq!(utf16_len(s), 17, "the emoji counts two units");
    assert_eq!(s.chars().count(), 16);
    // Insert after the emoji: index in UTF-16 units (code points would say 14).
    let after_emoji = utf16_len("héllo wörld 😀");
    case.splice_text(&f, after_emoji, 0, "!").unwrap();
    assert_eq!(case.text(&f).unwrap(), "héllo wörld 😀! 診断");
    // Replace the CJK word.
    let at = utf16_len("héllo wörld 😀! ");
    case.splice_text(&f, at, 2, "がん").unwrap();
    assert_eq!(case.text(&f).unwrap(), "héllo wörld 😀! がん");
    // Delete the accented é (one unit).
    case.splice_text(&f, 1, 1, "e").unwrap();
    assert_eq!(case.text(&f).unwrap(), "hello wörld 😀! がん");
    case.save().unwrap();
    let reopened = store.open_case(case.id()).unwrap();
    assert_eq!(reopened.symptoms(), "hello wörld 😀! がん");
}

#[test]
fn out_of_range_and_split_surrogates_are_refused_without_change() {
    let store = Store::in_memory();
    let (mut case, _) = store.create_case("P", "C", None).unwrap();
    let f = TextField::Symptoms;
    case.append_text(&f, "a😀b").unwrap();
    case.save().unwrap();
    for (index, delete) in [(5, 0), (4, 1), (2, 0), (1, 1), (0, 2), (usize::MAX, 1)] {
        let e = case.splice_text(&f, index, delete, "X").unwrap_err();
        assert!(matches!(e, Error::TextIndex { .. }), "({index},{delete}) gave {e}");
        assert!(!case.has_unsaved_changes());
    }
    assert_eq!(case.text(&f).unwrap(), "a😀b");
    case.splice_text(&f, 1, 2, "").unwrap();
    assert_eq!(case.text(&f).unwrap(), "ab");
}

#[test]
fn unknown_ids_in_text_fields_are_typed_errors() {
    let store = Store::in_memory();
    let (mut case, me) = store.create_case("P", "C", None).unwrap();
    for f in [
        TextField::Question("nope".into()),
        TextField::SpecialistNotes("nope".into()),
        TextField::OpinionTreatment("nope".into()),
        TextField::AppointmentNotes { appointment: "nope".into(), author: me.clone() },
        TextField::AppointmentSummary("nope".into()),
    ] {
        assert!(matches!(case.append_text(&f, "x"), Err(Error::UnknownId { .. })), "{f:?}");
    }
    assert!(TextField::parse("notes:a:b").is_ok());
    assert!(TextField::parse("notes:a").is_err());
}

#[test]
fn typing_is_coalesced_into_one_change_per_save() {
    let store = Store::in_memory();
    let (mut case, _) = store.create_case("P", "C", None).unwrap();
    for ch in "typing in the basement".chars() {
        let n = case.text_len(&TextField::Symptoms).unwrap();
        case.splice_text(&TextField::Symptoms, n, 0, &ch.to_string()).unwrap();
    }
    let stats = case.save().unwrap();
    assert_eq!(stats.changes, 1);
    assert_eq!(store.open_case(case.id()).unwrap().symptoms(), "typing in the basement");
}

#[test]
fn reading_a_text_never_writes() {
    use casebook_core::model::appointment::{AppointmentKind, NewAppointment};
    let store = Store::in_memory();
    let (mut case, me) = store.create_case("P", "C", None).unwrap();
    let a =
        case.add_appointment(NewAppointment { kind: Some(AppointmentKind::FollowUp), ..Default::default() }).unwrap();
    case.save().unwrap();
    let notes = TextField::AppointmentNotes { appointment: a.clone(), author: me.clone() };
    assert_eq!(case.text(&notes).unwrap(), "");
    assert_eq!(case.text(&TextField::Symptoms).unwrap(), "");
    assert!(case.notes(&a).unwrap().by_author.is_empty(), "reading created no author text");
    assert!(matches!(
        case.text(&TextField::AppointmentNotes { appointment: a, author: "ghost".into() }),
        Err(Error::UnknownId { .. })
    ));
}
