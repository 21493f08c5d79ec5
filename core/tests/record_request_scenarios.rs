//! Record-request scenarios as a table: an event log → status, due date, overdue, days waiting, warnings —
//! whatever the order in which the events arrive.
//!
//! Each event of a scenario is written on its own fork of the case (a sibling's phone, offline) and arrives
//! at a fresh replica as an exchange file; the replicas receive the files in every possible order and must
//! show the same view, equal to the expected one. A retraction is written on a fork that holds the event it
//! retracts, so its file carries both (it can never arrive before the event it retracts).

use casebook_core::model::record_request::{
    Channel, LegalClock, NewEvent, RecordItem, RequestChanges, RequestProgress, RequestStatus, Retract, WarningKind,
};
use casebook_core::{Case, CaseId, CaseState, Error, Store};
use time::Date;
use time::macros::date;

/// One unit of arrival: an event, or the retraction of one (an index into the scenario's events).
#[derive(Clone, Copy, Debug)]
enum Unit {
    /// Log `(kind, date)`, on a phone whose "today" is the event's date (so a sibling can record an event
    /// that is in the future for the reader only by a wrong clock or a typo accepted by an older version).
    Event(&'static str, &'static str),
    /// Retract the event at this index of the scenario's units.
    Retract(usize),
}

use Unit::{Event, Retract as Retraction};

/// What the reader must see.
#[derive(Debug)]
struct Expect {
    status: RequestStatus,
    due: Option<Date>,
    overdue: bool,
    days_waiting: Option<i64>,
    warnings: &'static [WarningKind],
    clock: LegalClock,
    return_late: bool,
}

struct Scenario {
    name: &'static str,
    items: &'static [RecordItem],
    channel: Channel,
    return_by: Option<&'static str>,
    units: &'static [Unit],
    today: Date,
    expect: Expect,
}

const REPORT: &[RecordItem] = &[RecordItem::PathologyReport];
const SLIDES: &[RecordItem] = &[RecordItem::PathologySlides];
const MIXED: &[RecordItem] = &[RecordItem::PathologySlides, RecordItem::PathologyReport];
const PATIENT: Channel = Channel::PatientRequest;

/// The expectation for a request on the HIPAA clock, not late to return anything.
fn e(
    status: RequestStatus,
    due: Option<Date>,
    overdue: bool,
    days_waiting: Option<i64>,
    warnings: &'static [WarningKind],
) -> Expect {
    Expect { status, due, overdue, days_waiting, warnings, clock: LegalClock::Hipaa, return_late: false }
}

fn scenarios() -> Vec<Scenario> {
    use RequestStatus as S;
    use WarningKind as W;
    vec![
        Scenario {
            name: "plain request, acknowledged, within 30 days",
            items: REPORT,
            channel: PATIENT,
            return_by: None,
            units: &[Event("requested_in_writing", "2026-10-01"), Event("acknowledged", "2026-10-05")],
            today: date!(2026 - 10 - 31),
            expect: e(S::Acknowledged, Some(date!(2026 - 10 - 31)), false, Some(30), &[]),
        },
        Scenario {
            name: "plain request past 30 days is overdue",
            items: REPORT,
            channel: PATIENT,
            return_by: None,
            units: &[Event("requested_in_writing", "2026-10-01"), Event("followed_up", "2026-10-20")],
            today: date!(2026 - 11 - 05),
            expect: e(S::Requested, Some(date!(2026 - 10 - 31)), true, Some(35), &[]),
        },
        Scenario {
            name: "received, then a late-arriving acknowledgement dated after it: still received",
            items: REPORT,
            channel: PATIENT,
            return_by: None,
            units: &[
                Event("requested_in_writing", "2026-10-01"),
                Event("received", "2026-10-10"),
                Event("acknowledged", "2026-10-12"),
            ],
            today: date!(2026 - 11 - 15),
            expect: e(S::Received, Some(date!(2026 - 10 - 31)), false, Some(9), &[]),
        },
        Scenario {
            name: "extension notice within the first 30 days: due + 30",
            items: REPORT,
            channel: PATIENT,
            return_by: None,
            units: &[
                Event("requested_in_writing", "2026-10-01"),
                Event("acknowledged", "2026-10-03"),
                Event("extension", "2026-10-31"),
            ],
            today: date!(2026 - 11 - 15),
            expect: e(S::Extended, Some(date!(2026 - 11 - 30)), false, Some(45), &[]),
        },
        Scenario {
            name: "extension notice after the 30 days: does not count, still overdue",
            items: REPORT,
            channel: PATIENT,
            return_by: None,
            units: &[Event("requested_in_writing", "2026-10-01"), Event("extension", "2026-11-05")],
            today: date!(2026 - 11 - 15),
            expect: e(S::Requested, Some(date!(2026 - 10 - 31)), true, Some(45), &[W::LateExtension]),
        },
        Scenario {
            name: "two extensions: only the first counts",
            items: REPORT,
            channel: PATIENT,
            return_by: None,
            units: &[
                Event("requested_in_writing", "2026-10-01"),
                Event("extension", "2026-10-20"),
                Event("extension", "2026-10-28"),
            ],
            today: date!(2026 - 12 - 05),
            expect: e(S::Extended, Some(date!(2026 - 11 - 30)), true, Some(65), &[W::ExtraExtension]),
        },
        Scenario {
            name: "slides only on the patient's channel: specimens, no legal clock",
            items: SLIDES,
            channel: PATIENT,
            return_by: None,
            units: &[Event("requested_in_writing", "2026-10-01"), Event("acknowledged", "2026-10-02")],
            today: date!(2026 - 12 - 01),
            expect: Expect { clock: LegalClock::NoneSpecimens, ..e(S::Acknowledged, None, false, Some(61), &[]) },
        },
        Scenario {
            name: "slides and a report: the clock runs for the report",
            items: MIXED,
            channel: PATIENT,
            return_by: None,
            units: &[Event("requested_in_writing", "2026-10-01"), Event("partially_received", "2026-10-20")],
            today: date!(2026 - 11 - 05),
            expect: Expect {
                clock: LegalClock::HipaaInformationOnly,
                ..e(S::PartiallyReceived, Some(date!(2026 - 10 - 31)), true, Some(35), &[])
            },
        },
        Scenario {
            name: "slides past their return-by date, not returned: late",
            items: SLIDES,
            channel: Channel::LabRelease,
            return_by: Some("2026-11-15"),
            units: &[Event("requested_in_writing", "2026-10-01"), Event("received", "2026-10-10")],
            today: date!(2026 - 11 - 20),
            expect: Expect {
                clock: LegalClock::NoneChannel,
                return_late: true,
                ..e(S::Received, None, false, Some(9), &[])
            },
        },
        Scenario {
            name: "slides returned (after their return-by date): returned, no longer late",
            items: SLIDES,
            channel: Channel::LabRelease,
            return_by: Some("2026-11-15"),
            units: &[
                Event("requested_in_writing", "2026-10-01"),
                Event("received", "2026-10-10"),
                Event("returned", "2026-11-18"),
            ],
            today: date!(2026 - 11 - 20),
            expect: Expect { clock: LegalClock::NoneChannel, ..e(S::Returned, None, false, Some(9), &[]) },
        },
        Scenario {
            name: "an acknowledgement dated before the written request (synced): flagged, not counted",
            items: REPORT,
            channel: PATIENT,
            return_by: None,
            units: &[
                Event("requested_in_writing", "2026-10-01"),
                Event("acknowledged", "2026-09-28"),
                Event("received", "2026-10-10"),
            ],
            today: date!(2026 - 10 - 20),
            expect: e(S::Received, Some(date!(2026 - 10 - 31)), false, Some(9), &[W::BeforeRequest]),
        },
        Scenario {
            name: "records 'received' before the written request (synced): not counted, the request is overdue",
            items: REPORT,
            channel: PATIENT,
            return_by: None,
            units: &[Event("requested_in_writing", "2026-10-05"), Event("received", "2026-10-03")],
            today: date!(2026 - 11 - 10),
            expect: e(S::Requested, Some(date!(2026 - 11 - 04)), true, Some(36), &[W::BeforeRequest]),
        },
        Scenario {
            name: "an event dated in the future (synced): flagged, not counted",
            items: REPORT,
            channel: PATIENT,
            return_by: None,
            units: &[Event("requested_in_writing", "2026-10-01"), Event("received", "2026-12-20")],
            today: date!(2026 - 11 - 15),
            expect: e(S::Requested, Some(date!(2026 - 10 - 31)), true, Some(45), &[W::FutureDate]),
        },
        Scenario {
            name: "the received event retracted: back to overdue",
            items: REPORT,
            channel: PATIENT,
            return_by: None,
            units: &[Event("requested_in_writing", "2026-10-01"), Event("received", "2026-10-10"), Retraction(1)],
            today: date!(2026 - 11 - 05),
            expect: e(S::Requested, Some(date!(2026 - 10 - 31)), true, Some(35), &[]),
        },
        Scenario {
            name: "two siblings retract the same event offline: both retractions kept",
            items: REPORT,
            channel: PATIENT,
            return_by: None,
            units: &[
                Event("requested_in_writing", "2026-10-01"),
                Event("extension", "2026-10-20"),
                Retraction(1),
                Retraction(1),
            ],
            today: date!(2026 - 11 - 05),
            expect: e(S::Requested, Some(date!(2026 - 10 - 31)), true, Some(35), &[]),
        },
        Scenario {
            name: "denied, then received after an appeal: received",
            items: REPORT,
            channel: PATIENT,
            return_by: None,
            units: &[
                Event("requested_in_writing", "2026-10-01"),
                Event("denied", "2026-10-08"),
                Event("received", "2026-10-25"),
            ],
            today: date!(2026 - 11 - 15),
            expect: e(S::Received, Some(date!(2026 - 10 - 31)), false, Some(24), &[]),
        },
        Scenario {
            name: "received, then a denial dated after it: still received, the denial flagged",
            items: REPORT,
            channel: PATIENT,
            return_by: None,
            units: &[
                Event("requested_in_writing", "2026-10-01"),
                Event("received", "2026-10-08"),
                Event("denied", "2026-10-25"),
            ],
            today: date!(2026 - 11 - 15),
            expect: e(S::Received, Some(date!(2026 - 10 - 31)), false, Some(7), &[W::AfterSettled]),
        },
    ]
}

/// A base case holding the request, and the state it was exported at.
struct Base {
    id: CaseId,
    request: String,
    file: Vec<u8>,
    state: CaseState,
}

fn base(s: &Scenario) -> Base {
    let store = Store::in_memory();
    let (mut case, _) = store.create_case("Mum", "Ana", None).unwrap();
    let request = case.add_record_request("City Hospital", s.items, s.channel).unwrap();
    if let Some(d) = s.return_by {
        case.set_return_by(&request, Some(d)).unwrap();
    }
    case.save().unwrap();
    let state = case.state().unwrap();
    let file = store.export_changes(case.id(), None).unwrap();
    Base { id: case.id().clone(), request, file, state }
}

/// A replica holding the base case and `files`, applied in order.
fn replica(b: &Base, files: &[&[u8]]) -> (Store, Case) {
    let store = Store::in_memory();
    store.import_changes(&b.file).unwrap();
    for f in files {
        store.import_changes(f).unwrap();
    }
    let case = store.open_case(&b.id).unwrap();
    (store, case)
}

/// Log `(kind, date)` on a fork; returns the fork's store and the event id.
fn log_on(b: &Base, files: &[&[u8]], kind: &str, day: &str) -> (Store, Case, String) {
    let (store, mut case) = replica(b, files);
    let today = casebook_core::dates::parse_date("date", day).unwrap();
    let id = case
        .log_request_event(&b.request, NewEvent { kind, date: day, ..Default::default() }, today)
        .unwrap_or_else(|e| panic!("logging {kind} {day}: {e}"));
    case.save().unwrap();
    (store, case, id)
}

/// The exchange file of each unit, written on its own fork.
fn unit_files(b: &Base, units: &[Unit], today: Date) -> Vec<Vec<u8>> {
    let mut files: Vec<Vec<u8>> = Vec::new();
    let mut event_ids: Vec<Option<String>> = Vec::new();
    for (n, u) in units.iter().enumerate() {
        let file = match *u {
            Event(kind, day) => {
                let (store, _, id) = log_on(b, &[], kind, day);
                event_ids.push(Some(id));
                store.export_changes(&b.id, Some(&b.state)).unwrap()
            }
            Retraction(i) => {
                let (store, mut case) = replica(b, &[&files[i]]);
                let event = event_ids[i].clone().expect("a retraction retracts an event");
                let how = Retract { today, by: None, reason: Some(&format!("mistake {n}")) };
                case.retract_request_event(&b.request, &event, how).unwrap();
                case.save().unwrap();
                event_ids.push(None);
                store.export_changes(&b.id, Some(&b.state)).unwrap()
            }
        };
        files.push(file);
    }
    files
}

/// Every permutation of `0..n` (Heap's algorithm).
fn permutations(n: usize) -> Vec<Vec<usize>> {
    fn heap(k: usize, a: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if k <= 1 {
            out.push(a.clone());
            return;
        }
        for i in 0..k {
            heap(k - 1, a, out);
            let j = if k.is_multiple_of(2) { i } else { 0 };
            a.swap(j, k - 1);
        }
    }
    let mut out = Vec::new();
    heap(n, &mut (0..n).collect(), &mut out);
    out
}

fn check(s: &Scenario, p: &RequestProgress) {
    let r = &p.request;
    let name = s.name;
    assert_eq!(r.status, s.expect.status, "{name}: status");
    assert_eq!(r.due, s.expect.due, "{name}: due date");
    assert_eq!(p.overdue, s.expect.overdue, "{name}: overdue");
    assert_eq!(p.days_waiting, s.expect.days_waiting, "{name}: days waiting");
    assert_eq!(r.clock, s.expect.clock, "{name}: clock");
    assert_eq!(p.return_late, s.expect.return_late, "{name}: return late");
    let kinds: Vec<WarningKind> = r.warnings.iter().map(|w| w.kind).collect();
    assert_eq!(kinds, s.expect.warnings, "{name}: warnings {:?}", r.warnings);
    assert_eq!(r.events.len(), s.units.iter().filter(|u| matches!(u, Event(..))).count(), "{name}: events kept");
    if s.expect.due.is_some() {
        assert!(r.clock_note.contains("day the request was sent"), "{name}: {}", r.clock_note);
    }
}

#[test]
fn scenarios_give_the_same_view_in_every_order_of_arrival() {
    for s in scenarios() {
        let b = base(&s);
        let files = unit_files(&b, s.units, s.today);
        let mut first: Option<RequestProgress> = None;
        let orders = permutations(files.len());
        assert!(!orders.is_empty());
        for order in &orders {
            let ordered: Vec<&[u8]> = order.iter().map(|&i| files[i].as_slice()).collect();
            let (_store, case) = replica(&b, &ordered);
            let p = case.request_progress(s.today).remove(0);
            check(&s, &p);
            match &first {
                None => first = Some(p),
                Some(f) => assert_eq!(&p, f, "{}: order {order:?} gives another view", s.name),
            }
        }
        // The same view as a request the overview counts.
        let (_store, case) = replica(&b, &files.iter().map(Vec::as_slice).collect::<Vec<_>>());
        assert_eq!(case.overdue_requests(s.today).len(), usize::from(s.expect.overdue), "{}", s.name);
    }
}

#[test]
fn the_example_of_the_issue_received_stays_received_whatever_arrives_last() {
    // Requested 10-01, received 10-10; a sibling's acknowledgement dated 10-12 arrives last, long after the
    // 30 days: still received, not overdue.
    let s = &scenarios()[2];
    let b = base(s);
    let files = unit_files(&b, s.units, s.today);
    let (_store, case) = replica(&b, &[&files[0], &files[1], &files[2]]);
    let p = case.request_progress(date!(2026 - 12 - 01)).remove(0);
    assert_eq!(p.request.status, RequestStatus::Received);
    assert!(!p.overdue);
    assert!(case.overdue_requests(date!(2026 - 12 - 01)).is_empty());
}

#[test]
fn two_sibling_retractions_are_both_kept() {
    let s = scenarios().into_iter().find(|s| s.name.starts_with("two siblings retract")).unwrap();
    let b = base(&s);
    let files = unit_files(&b, s.units, s.today);
    let (_store, case) = replica(&b, &files.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let r = case.record_requests().remove(0);
    let ext = r.events.iter().find(|e| e.kind.to_string() == "extension").unwrap();
    assert_eq!(ext.retractions.len(), 2, "neither sibling's retraction erases the other's");
    assert!(!ext.counted);
    let reasons: Vec<_> = ext.retractions.iter().filter_map(|r| r.reason.clone()).collect();
    assert_eq!(reasons.len(), 2);
}

fn new_case() -> (Store, Case, String) {
    let store = Store::in_memory();
    let (case, me) = store.create_case("Mum", "Ana", Some("daughter")).unwrap();
    (store, case, me)
}

fn ev<'a>(kind: &'a str, date: &'a str) -> NewEvent<'a> {
    NewEvent { kind, date, ..Default::default() }
}

#[test]
fn impossible_events_are_refused_when_logged() {
    let (_s, mut case, _) = new_case();
    let today = date!(2026 - 10 - 15);
    let r = case.add_record_request("Lab", REPORT, PATIENT).unwrap();
    case.save().unwrap();

    // In the future (even by one day).
    let err = case.log_request_event(&r, ev("received", "2026-10-16"), today).unwrap_err();
    assert!(matches!(&err, Error::ImpossibleDate { reason } if reason.contains("after today")), "{err}");
    let err = case.log_request_event(&r, ev("requested_in_writing", "2027-10-01"), today).unwrap_err();
    assert!(matches!(err, Error::ImpossibleDate { .. }));
    assert!(!case.has_unsaved_changes());

    // Today is fine.
    case.log_request_event(&r, ev("requested_in_writing", "2026-10-05"), today).unwrap();
    // Answers before the written request.
    for kind in ["acknowledged", "extension", "fee", "partially_received", "received", "denied", "returned"] {
        let err = case.log_request_event(&r, ev(kind, "2026-10-04"), today).unwrap_err();
        assert!(matches!(&err, Error::ImpossibleDate { reason } if reason.contains("before the written request")));
    }
    // A second written request earlier than the first is a correction of the start, not an impossibility.
    case.log_request_event(&r, ev("requested_in_writing", "2026-10-03"), today).unwrap();
    case.log_request_event(&r, ev("acknowledged", "2026-10-04"), today).unwrap();

    // A written request dated after answers already logged (on a request with none yet).
    let r2 = case.add_record_request("Imaging", REPORT, PATIENT).unwrap();
    case.log_request_event(&r2, ev("received", "2026-10-08"), today).unwrap();
    let err = case.log_request_event(&r2, ev("requested_in_writing", "2026-10-10"), today).unwrap_err();
    assert!(matches!(&err, Error::ImpossibleDate { reason } if reason.contains("already has received")), "{err}");
    case.log_request_event(&r2, ev("requested_in_writing", "2026-10-01"), today).unwrap();
    assert!(case.request_progress(today).iter().all(|p| p.request.warnings.is_empty()));
}

#[test]
fn retractions_and_edits() {
    let (_s, mut case, me) = new_case();
    let today = date!(2026 - 11 - 05);
    let how = Retract { today, by: Some(&me), reason: Some("wrong date") };
    let r = case.add_record_request("Lab", REPORT, PATIENT).unwrap();
    case.log_request_event(&r, ev("requested_in_writing", "2026-10-01"), today).unwrap();
    let received = case.log_request_event(&r, ev("received", "2026-10-10"), today).unwrap();
    assert!(case.overdue_requests(today).is_empty());

    // Retract the received event: the request is overdue again; the event stays, marked.
    case.retract_request_event(&r, &received, how).unwrap();
    let p = case.request_progress(today).remove(0);
    assert!(p.overdue);
    let e = p.request.events.iter().find(|e| e.id == received).unwrap();
    assert!(!e.counted);
    assert_eq!(e.retractions[0].by.as_deref(), Some(me.as_str()));
    assert_eq!(e.retractions[0].on, today);
    assert_eq!(e.retractions[0].reason.as_deref(), Some("wrong date"));
    case.save().unwrap();
    assert!(matches!(case.retract_request_event(&r, &received, how), Err(Error::Retracted { .. })));
    assert!(matches!(case.retract_request_event(&r, "nope", how), Err(Error::UnknownId { .. })));
    let stranger = Retract { by: Some("stranger"), ..how };
    assert!(matches!(case.retract_request_event(&r, &received, stranger), Err(Error::UnknownId { .. })));
    assert!(!case.has_unsaved_changes());
    // The right event, logged again.
    case.log_request_event(&r, ev("received", "2026-10-12"), today).unwrap();
    assert_eq!(case.request_progress(today)[0].request.status, RequestStatus::Received);

    // Edit the fields: items, channel, custodian, return-by.
    case.edit_record_request(
        &r,
        RequestChanges {
            custodian: Some("City Lab"),
            items: Some(SLIDES),
            channel: Some(Channel::LabRelease),
            return_by: Some(Some("2026-12-01")),
        },
    )
    .unwrap();
    let req = case.record_requests().remove(0);
    assert_eq!((req.custodian.as_str(), req.items.as_slice(), req.channel), ("City Lab", SLIDES, Channel::LabRelease));
    assert_eq!((req.clock, req.due), (LegalClock::NoneChannel, None));
    assert_eq!(req.return_by, Some(date!(2026 - 12 - 01)));
    case.edit_record_request(&r, RequestChanges { return_by: Some(None), ..Default::default() }).unwrap();
    assert_eq!(case.record_requests()[0].return_by, None);
    case.save().unwrap();
    for bad in [
        RequestChanges::default(),
        RequestChanges { items: Some(&[]), ..Default::default() },
        RequestChanges { custodian: Some(" "), ..Default::default() },
        RequestChanges { return_by: Some(Some("2026-02-30")), ..Default::default() },
    ] {
        assert!(matches!(case.edit_record_request(&r, bad), Err(Error::InvalidInput { .. })));
    }
    assert!(!case.has_unsaved_changes());

    // Retract the whole request: gone from the lists, kept with its history among the retracted.
    case.retract_record_request(&r, how).unwrap();
    assert!(case.record_requests().is_empty());
    assert!(case.request_progress(today).is_empty());
    let gone = case.retracted_record_requests();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].retractions[0].by.as_deref(), Some(me.as_str()));
    assert_eq!(gone[0].events.len(), 3);
    assert!(matches!(case.log_request_event(&r, ev("followed_up", "2026-11-01"), today), Err(Error::Retracted { .. })));
    assert!(matches!(case.set_return_by(&r, None), Err(Error::Retracted { .. })));
    assert!(matches!(case.retract_record_request(&r, how), Err(Error::Retracted { .. })));
}

#[test]
fn siblings_editing_and_retracting_offline_keep_each_others_entries() {
    let (store_a, mut a, _) = new_case();
    let today = date!(2026 - 11 - 05);
    let r = a.add_record_request("Lab", REPORT, PATIENT).unwrap();
    a.log_request_event(&r, ev("requested_in_writing", "2026-10-01"), today).unwrap();
    a.save().unwrap();
    let store_b = Store::in_memory();
    store_b.import_changes(&store_a.export_changes(a.id(), None).unwrap()).unwrap();
    let mut b = store_b.open_case(a.id()).unwrap();

    // Offline: Ana adds an item, Ben another; both retract the request.
    let items_a = [RecordItem::PathologyReport, RecordItem::ImagingDisc];
    a.edit_record_request(&r, RequestChanges { items: Some(&items_a), ..Default::default() }).unwrap();
    let items_b = [RecordItem::PathologyReport, RecordItem::LabReports];
    b.edit_record_request(&r, RequestChanges { items: Some(&items_b), ..Default::default() }).unwrap();
    a.retract_record_request(&r, Retract { today, by: None, reason: Some("duplicate") }).unwrap();
    b.retract_record_request(&r, Retract { today, by: None, reason: Some("sent twice") }).unwrap();
    a.save().unwrap();
    b.save().unwrap();
    store_a.import_changes(&store_b.export_changes(a.id(), None).unwrap()).unwrap();
    store_b.import_changes(&store_a.export_changes(a.id(), None).unwrap()).unwrap();
    let (a, b) = (store_a.open_case(a.id()).unwrap(), store_b.open_case(a.id()).unwrap());
    assert_eq!(a.retracted_record_requests(), b.retracted_record_requests());
    let gone = a.retracted_record_requests().remove(0);
    assert_eq!(gone.retractions.len(), 2);
    let mut items = gone.items.clone();
    items.sort();
    assert_eq!(items, vec![RecordItem::PathologyReport, RecordItem::ImagingDisc, RecordItem::LabReports], "both kept");
}

#[test]
fn default_channel_for_slides_and_blocks_is_a_lab_release() {
    assert_eq!(Channel::default_for(SLIDES), Channel::LabRelease);
    assert_eq!(Channel::default_for(&[RecordItem::PathologySlides, RecordItem::TissueBlocks]), Channel::LabRelease);
    assert_eq!(Channel::default_for(MIXED), Channel::PatientRequest);
    assert_eq!(Channel::default_for(REPORT), Channel::PatientRequest);
    assert_eq!(LegalClock::of(PATIENT, &[RecordItem::TissueBlocks]), LegalClock::NoneSpecimens);
    assert_eq!(LegalClock::of(Channel::ProviderToProvider, REPORT), LegalClock::NoneChannel);
}
