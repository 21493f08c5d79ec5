//! The calendar export (`Case::calendar`): every kind of entry with a stable UID, a SEQUENCE that rises
//! when an event changes (also across a merge), retracted and closed entries cancelled under the same UID,
//! generic titles that name no one unless asked, RFC 5545 escaping, folding and line endings.

#[path = "support/replicas.rs"]
mod replicas;

use std::collections::BTreeMap;

use casebook_core::model::agenda::AgendaKind;
use casebook_core::model::appointment::{AppointmentField, AppointmentKind, NewAppointment};
use casebook_core::model::calendar::{CalendarOptions, EventTime, generic_title};
use casebook_core::model::decision::NewDecision;
use casebook_core::model::patient::PatientField;
use casebook_core::model::record_request::{Channel, NewEvent, RecordItem, Retract};
use casebook_core::model::specialist::{NewSpecialist, SpecialistField};
use casebook_core::model::task::TaskChanges;
use casebook_core::model::text::TextField;
use casebook_core::{Case, Store};
use time::Date;
use time::macros::{date, datetime};

const TODAY: Date = date!(2026 - 12 - 05);

fn options(details: bool) -> CalendarOptions {
    CalendarOptions { today: TODAY, stamp: datetime!(2026-12-05 17:30:00 UTC), details }
}

/// One VEVENT: property name (with its parameters) → value, unfolded, still escaped.
type Event = BTreeMap<String, String>;

/// Unfold (RFC 5545 3.1) and split a calendar into its events, checking the line endings on the way.
fn events(ics: &str) -> Vec<Event> {
    assert!(ics.ends_with("\r\n"), "ends with CRLF");
    assert!(!ics.replace("\r\n", "").contains(['\r', '\n']), "every line ends with CRLF");
    let unfolded = ics.replace("\r\n ", "").replace("\r\n\t", "");
    let lines: Vec<&str> = unfolded.trim_end_matches("\r\n").split("\r\n").collect();
    assert_eq!(lines.first(), Some(&"BEGIN:VCALENDAR"));
    assert_eq!(lines.last(), Some(&"END:VCALENDAR"));
    assert!(lines.contains(&"VERSION:2.0") && lines.iter().any(|l| l.starts_with("PRODID:")));
    let mut out = Vec::new();
    let mut current: Option<Event> = None;
    for l in lines {
        match l {
            "BEGIN:VEVENT" => current = Some(Event::new()),
            "END:VEVENT" => out.push(current.take().expect("an open event")),
            _ => {
                if let Some(e) = current.as_mut() {
                    let (name, value) = l.split_once(':').expect("name:value");
                    assert!(e.insert(name.to_string(), value.to_string()).is_none(), "{name} once per event");
                }
            }
        }
    }
    out
}

/// A TEXT value unescaped.
fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(c) => out.push(c),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn by_uid(events: &[Event]) -> BTreeMap<String, Event> {
    events.iter().map(|e| (unescape(&e["UID"]), e.clone())).collect()
}

fn seq(e: &Event) -> u64 {
    e["SEQUENCE"].parse().unwrap()
}

/// A case with one entry of every kind: an upcoming consultation with a specialist (zoned), a past
/// appointment without a zone, a request for a report and slides (requested, return-by date set), a task
/// due, the default decision date. Distinctive words stand in every field that must not reach a calendar.
struct Fixture {
    _store: Store,
    case: Case,
    consult: String,
    past: String,
    request: String,
    task: String,
}

const SECRETS: &[&str] = &[
    "Zebracarcinoma",    // cancer type
    "Quokkacytic",       // histology
    "IIIQ",              // stage
    "Dr Wombatson",      // specialist
    "Narwhal Institute", // specialist's institution
    "Mercy Okapi",       // custodian
    "Pangolin Tower",    // place
    "Axolotl",           // task title
    "Tapirnote",         // notes and texts
    "Mariposa",          // patient
    "Luis Ibex",         // caregiver
    "Dr Capybara",       // treating oncologist
];

/// What `details` adds (and only then).
const DETAILS: &[&str] = &["Dr Wombatson", "Mercy Okapi", "Pangolin Tower", "Axolotl", "Luis Ibex"];

fn fixture() -> Fixture {
    let store = Store::in_memory();
    let (mut case, me) = store.create_case("Mariposa", "Ana", Some("daughter")).unwrap();
    case.set_patient(PatientField::DiagnosisDate, Some("2026-11-20")).unwrap();
    case.set_patient(PatientField::CancerType, Some("Zebracarcinoma")).unwrap();
    case.set_patient(PatientField::Histology, Some("Quokkacytic")).unwrap();
    case.set_patient(PatientField::Stage, Some("IIIQ")).unwrap();
    case.set_patient(PatientField::OncologistName, Some("Dr Capybara")).unwrap();
    case.append_text(&TextField::ProposedTreatment, "Tapirnote treatment").unwrap();
    let luis = case.add_caregiver("Luis Ibex", Some("son")).unwrap();
    let spec = case
        .add_specialist(NewSpecialist {
            name: "Dr Wombatson",
            institution: Some("Narwhal Institute"),
            subspecialty: Some("Zebracarcinoma surgery"),
            ..Default::default()
        })
        .unwrap();
    case.append_text(&TextField::SpecialistNotes(spec.clone()), "Tapirnote about the specialist").unwrap();
    let consult = case
        .add_appointment(NewAppointment {
            kind: Some(AppointmentKind::SecondOpinion),
            specialist: Some(&spec),
            start: Some("2026-12-07T09:30"),
            tz: Some("America/New_York"),
            place: Some("Pangolin Tower, floor 3"),
        })
        .unwrap();
    let past = case
        .add_appointment(NewAppointment {
            kind: Some(AppointmentKind::FirstOpinion),
            start: Some("2026-11-25T10:00"),
            ..Default::default()
        })
        .unwrap();
    case.append_text(
        &TextField::AppointmentNotes { appointment: past.clone(), author: me.clone() },
        "Tapirnote: the Zebracarcinoma is IIIQ",
    )
    .unwrap();
    let request = case
        .add_record_request(
            "Mercy Okapi",
            &[RecordItem::PathologyReport, RecordItem::PathologySlides],
            Channel::PatientRequest,
        )
        .unwrap();
    case.log_request_event(
        &request,
        NewEvent { kind: "requested_in_writing", date: "2026-11-10", ..Default::default() },
        TODAY,
    )
    .unwrap();
    case.set_return_by(&request, Some("2027-01-15")).unwrap();
    let task = case.add_task("Call Axolotl about the Zebracarcinoma slides", Some(&luis), Some("2026-12-09")).unwrap();
    case.save().unwrap();
    Fixture { _store: store, case, consult, past, request, task }
}

#[test]
fn every_kind_of_entry_appears_with_a_stable_uid() {
    let mut f = fixture();
    let ics = f.case.calendar(&options(false)).unwrap();
    let case = f.case.id().to_string();
    let evs = by_uid(&events(&ics));
    let expected = [
        format!("appointment-{}@{case}.casebook", f.consult),
        format!("appointment-{}@{case}.casebook", f.past),
        format!("records-due-{}@{case}.casebook", f.request),
        format!("return-material-{}@{case}.casebook", f.request),
        format!("task-{}@{case}.casebook", f.task),
        format!("decision-date@{case}.casebook"),
    ];
    assert_eq!(evs.len(), expected.len(), "{ics}");
    for uid in &expected {
        let e = evs.get(uid).unwrap_or_else(|| panic!("{uid} missing:\n{ics}"));
        assert_eq!(e["STATUS"], "CONFIRMED");
        assert_eq!(e["DTSTAMP"], "20261205T173000Z");
        assert!(seq(e) >= 1);
    }

    // Times: the zoned consultation in UTC (09:30 in New York is 14:30Z), one hour; the appointment without
    // a zone as a floating time; dates as all-day events.
    let consult = &evs[&expected[0]];
    assert_eq!((consult["DTSTART"].as_str(), consult["DTEND"].as_str()), ("20261207T143000Z", "20261207T153000Z"));
    let past = &evs[&expected[1]];
    assert_eq!((past["DTSTART"].as_str(), past["DTEND"].as_str()), ("20261125T100000", "20261125T110000"));
    let due = &evs[&expected[2]];
    assert_eq!(due["DTSTART;VALUE=DATE"], "20261210"); // requested 11-10 + 30 days
    assert_eq!(due["DTEND;VALUE=DATE"], "20261211");
    assert!(unescape(&due["DESCRIPTION"]).contains("counted from the day the request was sent"));
    assert_eq!(evs[&expected[3]]["DTSTART;VALUE=DATE"], "20270115");
    assert_eq!(evs[&expected[4]]["DTSTART;VALUE=DATE"], "20261209");
    let decision = &evs[&expected[5]];
    assert_eq!(decision["DTSTART;VALUE=DATE"], "20261218"); // diagnosis 11-20 + 28 days
    assert!(unescape(&decision["DESCRIPTION"]).starts_with("Default date"));

    // Default titles are the generic ones.
    for (uid, kind) in expected.iter().zip([
        AgendaKind::Appointment,
        AgendaKind::Appointment,
        AgendaKind::RecordsDue,
        AgendaKind::ReturnMaterial,
        AgendaKind::Task,
        AgendaKind::DecisionDate,
    ]) {
        assert_eq!(unescape(&evs[uid]["SUMMARY"]), generic_title(kind));
    }

    // The same document gives the same file; so does another replica of it, whatever it was opened from.
    assert_eq!(f.case.calendar(&options(false)).unwrap(), ics);
    let (_b, mut other) = replicas::replica_of(&f._store, &mut f.case);
    assert_eq!(other.calendar(&options(false)).unwrap(), ics);
    // The structured events say the same.
    let list = f.case.calendar_events(&options(false)).unwrap();
    assert_eq!(list.len(), 6);
    assert!(list.windows(2).all(|w| w[0].time.date() <= w[1].time.date()), "in time order");
    assert!(matches!(list.iter().find(|e| e.item.as_deref() == Some(&f.consult)).unwrap().time, EventTime::Utc { .. }));
}

#[test]
fn editing_an_appointment_keeps_its_uid_and_raises_its_sequence() {
    let mut f = fixture();
    let before = by_uid(&events(&f.case.calendar(&options(false)).unwrap()));
    f.case.set_appointment(&f.consult, AppointmentField::Start, Some("2026-12-08T11:00")).unwrap();
    let after = by_uid(&events(&f.case.calendar(&options(false)).unwrap()));
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>(), "same UIDs, none added");
    let uid = format!("appointment-{}@{}.casebook", f.consult, f.case.id());
    assert_eq!(after[&uid]["DTSTART"], "20261208T160000Z");
    assert!(seq(&after[&uid]) > seq(&before[&uid]));
    // The other events did not change: their SEQUENCE neither.
    for (u, e) in &before {
        if *u != uid {
            assert_eq!(seq(e), seq(&after[u]), "{u}");
        }
    }

    // Renaming the specialist changes a detailed title: the appointment's SEQUENCE rises.
    let spec = f.case.specialists()[0].id.clone();
    f.case.set_specialist(&spec, SpecialistField::Name, Some("Dr Wombatson-Hale")).unwrap();
    let renamed = by_uid(&events(&f.case.calendar(&options(true)).unwrap()));
    assert!(seq(&renamed[&uid]) > seq(&after[&uid]));
    assert!(unescape(&renamed[&uid]["SUMMARY"]).ends_with("with Dr Wombatson-Hale"));

    // A task's due date moved, its assignee renamed: its SEQUENCE rises each time.
    let task_uid = format!("task-{}@{}.casebook", f.task, f.case.id());
    f.case.edit_task(&f.task, TaskChanges { due: Some(Some("2026-12-10")), ..Default::default() }).unwrap();
    let moved = by_uid(&events(&f.case.calendar(&options(false)).unwrap()));
    assert_eq!(moved[&task_uid]["DTSTART;VALUE=DATE"], "20261210");
    assert!(seq(&moved[&task_uid]) > seq(&renamed[&task_uid]));
}

#[test]
fn concurrent_edits_merge_to_a_higher_sequence_than_either_side() {
    let mut f = fixture();
    let (b, mut cb) = replicas::replica_of(&f._store, &mut f.case);
    let uid = format!("appointment-{}@{}.casebook", f.consult, f.case.id());
    f.case.set_appointment(&f.consult, AppointmentField::Start, Some("2026-12-08T11:00")).unwrap();
    cb.set_appointment(&f.consult, AppointmentField::Place, Some("Annex")).unwrap();
    let seq_a = seq(&by_uid(&events(&f.case.calendar(&options(false)).unwrap()))[&uid]);
    let seq_b = seq(&by_uid(&events(&cb.calendar(&options(false)).unwrap()))[&uid]);
    replicas::exchange(&f._store, &mut f.case, &b, &mut cb, true);
    let merged_a = f.case.calendar(&options(false)).unwrap();
    assert_eq!(merged_a, cb.calendar(&options(false)).unwrap(), "both replicas export the same file");
    let merged = seq(&by_uid(&events(&merged_a))[&uid]);
    assert!(merged > seq_a && merged > seq_b, "{merged} vs {seq_a}, {seq_b}");
}

#[test]
fn entries_that_no_longer_apply_are_cancelled_under_the_same_uid() {
    let mut f = fixture();
    let case = f.case.id().to_string();
    let before = by_uid(&events(&f.case.calendar(&options(false)).unwrap()));
    let how = Retract { today: TODAY, by: None, reason: Some("entered twice") };

    f.case.retract_appointment(&f.consult, how).unwrap(); // retracted
    f.case.set_appointment(&f.past, AppointmentField::Start, None).unwrap(); // its date cleared
    f.case.set_task_done(&f.task, true).unwrap(); // done
    f.case
        .log_request_event(&f.request, NewEvent { kind: "received", date: "2026-12-01", ..Default::default() }, TODAY)
        .unwrap(); // answered: records no longer due; the slides are out until returned
    f.case.record_decision(NewDecision { text: "Surgery", date: "2026-12-04", ..Default::default() }, TODAY).unwrap(); // decided
    let after = by_uid(&events(&f.case.calendar(&options(false)).unwrap()));
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>(), "no UID added or lost");
    let cancelled = [
        format!("appointment-{}@{case}.casebook", f.consult),
        format!("appointment-{}@{case}.casebook", f.past),
        format!("task-{}@{case}.casebook", f.task),
        format!("records-due-{}@{case}.casebook", f.request),
        format!("decision-date@{case}.casebook"),
    ];
    for uid in &cancelled {
        assert_eq!(after[uid]["STATUS"], "CANCELLED", "{uid}");
        assert!(seq(&after[uid]) > seq(&before[uid]), "{uid}: the cancellation is an update");
    }
    // The cleared appointment is cancelled at the time it had.
    assert_eq!(after[&cancelled[1]]["DTSTART"], before[&cancelled[1]]["DTSTART"]);
    // The slides are still out: still to return.
    assert_eq!(after[&format!("return-material-{}@{case}.casebook", f.request)]["STATUS"], "CONFIRMED");

    // Returned: cancelled too; a retracted request's entries as well.
    f.case
        .log_request_event(&f.request, NewEvent { kind: "returned", date: "2026-12-05", ..Default::default() }, TODAY)
        .unwrap();
    let other =
        f.case.add_record_request("Okapi Imaging", &[RecordItem::ImagingDisc], Channel::PatientRequest).unwrap();
    f.case
        .log_request_event(
            &other,
            NewEvent { kind: "requested_in_writing", date: "2026-11-20", ..Default::default() },
            TODAY,
        )
        .unwrap();
    let other_uid = format!("records-due-{other}@{case}.casebook");
    let open = by_uid(&events(&f.case.calendar(&options(false)).unwrap()));
    assert_eq!(open[&other_uid]["STATUS"], "CONFIRMED");
    f.case.retract_record_request(&other, how).unwrap();
    let last = by_uid(&events(&f.case.calendar(&options(false)).unwrap()));
    assert_eq!(last[&format!("return-material-{}@{case}.casebook", f.request)]["STATUS"], "CANCELLED");
    assert_eq!(last[&other_uid]["STATUS"], "CANCELLED");
    assert!(seq(&last[&other_uid]) > seq(&open[&other_uid]));

    // A task un-done comes back under its UID, with a higher SEQUENCE still.
    let task_uid = &cancelled[2];
    f.case.set_task_done(&f.task, false).unwrap();
    let again = by_uid(&events(&f.case.calendar(&options(false)).unwrap()));
    assert_eq!(again[task_uid]["STATUS"], "CONFIRMED");
    assert!(seq(&again[task_uid]) > seq(&last[task_uid]));
}

#[test]
fn default_titles_name_no_diagnosis_note_person_or_place_and_details_do() {
    let mut f = fixture();
    let plain = f.case.calendar(&options(false)).unwrap();
    let unfolded = unescape(&plain.replace("\r\n ", ""));
    for s in SECRETS {
        assert!(!unfolded.contains(s), "{s:?} reached the default calendar:\n{unfolded}");
    }
    assert!(!unfolded.contains("LOCATION"), "no place by default");

    let detailed = f.case.calendar(&options(true)).unwrap();
    let unfolded = unescape(&detailed.replace("\r\n ", ""));
    for s in DETAILS {
        assert!(unfolded.contains(s), "{s:?} missing from the detailed calendar:\n{unfolded}");
    }
    // Even with details: no diagnosis, no notes, not the patient (the task's own wording aside, which the
    // family wrote into the task's title).
    for s in ["Quokkacytic", "IIIQ", "Tapirnote", "Mariposa", "Dr Capybara", "Narwhal Institute"] {
        assert!(!unfolded.contains(s), "{s:?} reached the detailed calendar");
    }
    let evs = by_uid(&events(&detailed));
    let consult = &evs[&format!("appointment-{}@{}.casebook", f.consult, f.case.id())];
    assert_eq!(unescape(&consult["SUMMARY"]), "Second-opinion consultation with Dr Wombatson");
    assert_eq!(unescape(&consult["LOCATION"]), "Pangolin Tower, floor 3");
    assert!(consult["LOCATION"].contains("\\,"), "the comma is escaped");
    let task = &evs[&format!("task-{}@{}.casebook", f.task, f.case.id())];
    assert_eq!(unescape(&task["SUMMARY"]), "Call Axolotl about the Zebracarcinoma slides (Luis Ibex)");
    // Details do not change a SEQUENCE.
    let plain = by_uid(&events(&f.case.calendar(&options(false)).unwrap()));
    assert!(evs.iter().all(|(u, e)| seq(e) == seq(&plain[u])));
}

#[test]
fn text_is_escaped_and_long_lines_fold_at_75_octets() {
    let mut f = fixture();
    let spec = f.case.specialists()[0].id.clone();
    let name = "Dr Élodie-Wombatson, MD; PhD \\ Thoracic 🫁🩺 surgery, Pangolin campus, 2nd floor (east wing), \
                👩🏽‍⚕️ team, ñandú, 東京大学 — long enough to fold twice";
    f.case.set_specialist(&spec, SpecialistField::Name, Some(name)).unwrap();
    f.case.set_appointment(&f.consult, AppointmentField::Place, Some("Line one\nline two; third, \"quoted\"")).unwrap();
    let ics = f.case.calendar(&options(true)).unwrap();
    let physical: Vec<&str> = ics.trim_end_matches("\r\n").split("\r\n").collect();
    for l in &physical {
        assert!(l.len() <= 75, "{} octets: {l:?}", l.len());
    }
    assert!(physical.iter().any(|l| l.starts_with(' ')), "something was folded");
    let evs = by_uid(&events(&ics));
    let consult = &evs[&format!("appointment-{}@{}.casebook", f.consult, f.case.id())];
    assert_eq!(unescape(&consult["SUMMARY"]), format!("Second-opinion consultation with {name}"));
    assert!(consult["SUMMARY"].contains("MD\\; PhD \\\\ Thoracic"), "{}", consult["SUMMARY"]);
    assert_eq!(unescape(&consult["LOCATION"]), "Line one\nline two; third, \"quoted\"");
    assert!(consult["LOCATION"].starts_with("Line one\\nline two\\; third\\,"));
}
