//! Property: 3–5 replicas apply random operations offline, exchange changes in random orders with
//! duplicates and omissions (made up later), and end identical — same documents, every derived view equal,
//! and no text lost.

use casebook_core::model::appointment::{AppointmentField, AppointmentKind, NewAppointment};
use casebook_core::model::critical::Situation;
use casebook_core::model::decision::NewDecision;
use casebook_core::model::opinion::NewOpinion;
use casebook_core::model::patient::PatientField;
use casebook_core::model::question::{Category, Priority};
use casebook_core::model::record_request::{Channel, NewEvent, RecordItem, Retract};
use casebook_core::model::specialist::{NewSpecialist, SpecialistField};
use casebook_core::model::task::TaskChanges;
use casebook_core::model::text::TextField;
use casebook_core::{Case, CaseId, Keyed, Store};
use proptest::prelude::*;
use time::macros::{date, datetime};

#[derive(Debug, Clone)]
enum Op {
    Stage(usize, u8),
    Decision(usize, u8),
    Flag(usize, usize, bool),
    AddSpecialist(usize),
    SpecialistStatus(usize, usize, usize),
    AddRequest(usize),
    Event(usize, usize, usize, u8),
    AddAppointment(usize),
    AppointmentStart(usize, usize, u8),
    Notes(usize, usize),
    Summary(usize, usize),
    Symptoms(usize),
    AddQuestion(usize),
    MoveQuestion(usize, usize, usize),
    Opinion(usize, u8),
    Task(usize),
    Decide(usize, u8, usize),
    Attended(usize, usize, usize),
    Retract(usize, usize, usize),
    RetractEvent(usize, usize, usize),
    EditTask(usize, usize, u8),
    Save(usize),
    Sync { from: usize, to: usize, delta: bool, twice: bool },
}

fn op(n: usize) -> impl Strategy<Value = Op> {
    let r = 0..n;
    prop_oneof![
        1 => (r.clone(), 0u8..4).prop_map(|(r, v)| Op::Stage(r, v)),
        1 => (r.clone(), 1u8..28).prop_map(|(r, v)| Op::Decision(r, v)),
        1 => (r.clone(), 0usize..7, any::<bool>()).prop_map(|(r, s, b)| Op::Flag(r, s, b)),
        1 => r.clone().prop_map(Op::AddSpecialist),
        1 => (r.clone(), any::<usize>(), 0usize..5).prop_map(|(r, i, s)| Op::SpecialistStatus(r, i, s)),
        1 => r.clone().prop_map(Op::AddRequest),
        1 => (r.clone(), any::<usize>(), 0usize..9, 1u8..28).prop_map(|(r, i, k, d)| Op::Event(r, i, k, d)),
        1 => r.clone().prop_map(Op::AddAppointment),
        1 => (r.clone(), any::<usize>(), 8u8..18).prop_map(|(r, i, h)| Op::AppointmentStart(r, i, h)),
        3 => (r.clone(), any::<usize>()).prop_map(|(r, i)| Op::Notes(r, i)),
        1 => (r.clone(), any::<usize>()).prop_map(|(r, i)| Op::Summary(r, i)),
        2 => r.clone().prop_map(Op::Symptoms),
        1 => r.clone().prop_map(Op::AddQuestion),
        1 => (r.clone(), any::<usize>(), any::<usize>()).prop_map(|(r, i, t)| Op::MoveQuestion(r, i, t)),
        1 => (r.clone(), 1u8..4).prop_map(|(r, k)| Op::Opinion(r, k)),
        1 => r.clone().prop_map(Op::Task),
        1 => (r.clone(), 1u8..16, 0usize..3).prop_map(|(r, d, t)| Op::Decide(r, d, t)),
        1 => (r.clone(), any::<usize>(), 0usize..3).prop_map(|(r, i, m)| Op::Attended(r, i, m)),
        1 => (r.clone(), 0usize..4, any::<usize>()).prop_map(|(r, k, i)| Op::Retract(r, k, i)),
        1 => (r.clone(), any::<usize>(), any::<usize>()).prop_map(|(r, i, j)| Op::RetractEvent(r, i, j)),
        1 => (r.clone(), any::<usize>(), 1u8..28).prop_map(|(r, i, d)| Op::EditTask(r, i, d)),
        1 => r.clone().prop_map(Op::Save),
        3 => (r.clone(), r, any::<bool>(), any::<bool>()).prop_map(|(from, to, delta, twice)| Op::Sync { from, to, delta, twice }),
    ]
}

struct Replica {
    store: Store,
    case: Case,
    me: String,
    /// Text tokens this replica wrote, with the field they went to.
    written: Vec<(TextField, String)>,
}

const TEXTS: [&str; 4] = ["héllo", "wörld😀", "診断", "plain"];

fn sync(reps: &mut [Replica], id: &CaseId, from: usize, to: usize, delta: bool, twice: bool) {
    if from == to {
        return;
    }
    reps[from].case.save().unwrap();
    reps[to].case.save().unwrap();
    let since = if delta { Some(reps[to].case.state().unwrap()) } else { None };
    let file = reps[from].store.export_changes(id, since.as_ref()).unwrap();
    reps[to].store.import_changes(&file).unwrap();
    if twice {
        reps[to].store.import_changes(&file).unwrap();
    }
    reps[to].case = reps[to].store.open_case(id).unwrap();
}

fn apply(reps: &mut [Replica], id: &CaseId, op: &Op, step: usize) {
    let token = |r: usize, kind: usize| format!("«{r}.{step} {}»", TEXTS[(step + kind) % TEXTS.len()]);
    match *op {
        Op::Sync { from, to, delta, twice } => return sync(reps, id, from, to, delta, twice),
        Op::Save(r) => {
            reps[r].case.save().unwrap();
            return;
        }
        _ => {}
    }
    let r = match *op {
        Op::Stage(r, _)
        | Op::Decision(r, _)
        | Op::Flag(r, ..)
        | Op::AddSpecialist(r)
        | Op::SpecialistStatus(r, ..)
        | Op::AddRequest(r)
        | Op::Event(r, ..)
        | Op::AddAppointment(r)
        | Op::AppointmentStart(r, ..)
        | Op::Notes(r, _)
        | Op::Summary(r, _)
        | Op::Symptoms(r)
        | Op::AddQuestion(r)
        | Op::MoveQuestion(r, ..)
        | Op::Opinion(r, _)
        | Op::Task(r)
        | Op::Decide(r, ..)
        | Op::Attended(r, ..)
        | Op::Retract(r, ..)
        | Op::RetractEvent(r, ..)
        | Op::EditTask(r, ..) => r,
        Op::Save(_) | Op::Sync { .. } => unreachable!(),
    };
    let rep = &mut reps[r];
    let me = rep.me.clone();
    let c = &mut rep.case;
    match *op {
        Op::Stage(_, v) => c.set_patient(PatientField::Stage, Some(["I", "IIA", "IIIB", "IV"][v as usize])).unwrap(),
        Op::Decision(_, d) => c.set_decision_date(Some(&format!("2026-02-{d:02}"))).unwrap(),
        Op::Flag(_, s, b) => c.set_flag(Situation::ALL[s], b, Some("note")).unwrap(),
        Op::AddSpecialist(_) => {
            c.add_specialist(NewSpecialist { name: &format!("Dr {r}.{step}"), ..Default::default() }).unwrap();
        }
        Op::SpecialistStatus(_, i, s) => {
            let sp = c.specialists();
            if !sp.is_empty() {
                let status = ["researching", "contacted", "scheduled", "seen", "declined"][s];
                c.set_specialist(&sp[i % sp.len()].id, SpecialistField::Status, Some(status)).unwrap();
            }
        }
        Op::AddRequest(_) => {
            c.add_record_request("Lab", &[RecordItem::PathologySlides], Channel::PatientRequest).unwrap();
        }
        Op::Event(_, i, k, d) => {
            let rq = c.record_requests();
            if !rq.is_empty() {
                let kind = casebook_core::model::record_request::EventKind::ALL[k].key();
                let date = format!("2026-01-{d:02}");
                let ev = NewEvent { kind, date: &date, by: Some(&me), ..Default::default() };
                // An answer dated before the written request is refused (as in the app); merges can still
                // bring one in, and every replica must then show the same warning.
                match c.log_request_event(&rq[i % rq.len()].id, ev, date!(2026 - 02 - 15)) {
                    Ok(_) | Err(casebook_core::Error::ImpossibleDate { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        }
        Op::AddAppointment(_) => {
            c.add_appointment(NewAppointment { kind: Some(AppointmentKind::SecondOpinion), ..Default::default() })
                .unwrap();
        }
        Op::AppointmentStart(_, i, h) => {
            let ap = c.appointments();
            if !ap.is_empty() {
                let id = &ap[i % ap.len()].id;
                c.set_appointment(id, AppointmentField::Start, Some(&format!("2026-03-01T{h:02}:00"))).unwrap();
                // The zone of the place too, now and then (two siblings may set different ones offline).
                let tz = [None, Some("America/New_York"), Some("Europe/Madrid")][h as usize % 3];
                c.set_appointment(id, AppointmentField::Tz, tz).unwrap();
            }
        }
        Op::Notes(_, i) | Op::Summary(_, i) => {
            let mut ap: Vec<String> = c.appointments().into_iter().map(|a| a.id).collect();
            ap.sort();
            if !ap.is_empty() {
                let a = ap[i % ap.len()].clone();
                let field = if matches!(op, Op::Notes(..)) {
                    TextField::AppointmentNotes { appointment: a, author: me.clone() }
                } else {
                    TextField::AppointmentSummary(a)
                };
                let t = token(r, i);
                // Typed one character at a time, as on a phone.
                for ch in t.chars() {
                    let n = c.text_len(&field).unwrap();
                    c.splice_text(&field, n, 0, &ch.to_string()).unwrap();
                }
                rep.written.push((field, t));
            }
        }
        Op::Symptoms(_) => {
            let t = token(r, 1);
            c.append_text(&TextField::Symptoms, &t).unwrap();
            rep.written.push((TextField::Symptoms, t));
        }
        Op::AddQuestion(_) => {
            let t = token(r, 2);
            c.add_question(&t, Category::Other, Priority::Normal, &me).unwrap();
        }
        Op::MoveQuestion(_, i, to) => {
            let q = c.questions();
            c.move_question(&q[i % q.len()].id, to % q.len()).unwrap();
        }
        Op::Opinion(_, k) => {
            c.add_opinion(NewOpinion {
                rank: k as u64,
                stage: Some(["II", "III", "IV"][k as usize - 1]),
                ..Default::default()
            })
            .unwrap();
        }
        Op::Task(_) => {
            c.add_task(&format!("task {r}.{step}"), Some(&me), Some("2026-02-01")).unwrap();
        }
        Op::Decide(_, d, t) => {
            let decision = NewDecision {
                text: ["Surgery", "surgery.", "Chemoradiation"][t],
                date: &format!("2026-02-{d:02}"),
                participants: vec![&me],
                recorded_by: Some(&me),
                ..Default::default()
            };
            c.record_decision(decision, date!(2026 - 02 - 15)).unwrap();
        }
        Op::Attended(_, i, m) => {
            let ap = c.appointments();
            if !ap.is_empty() {
                c.set_attended(&ap[i % ap.len()].id, [Some(true), Some(false), None][m]).unwrap();
            }
        }
        Op::Retract(_, k, i) => {
            // Corrections: an item entered by mistake is retracted (an entry of its own; a sibling may edit or
            // retract the same item offline).
            let how = Retract { today: date!(2026 - 02 - 15), by: Some(&me), reason: Some("mistake") };
            let ids: Vec<String> = match k {
                0 => c.specialists().into_iter().map(|x| x.id).collect(),
                1 => c.opinions().into_iter().map(|x| x.id).collect(),
                2 => c.tasks().into_iter().map(|x| x.id).collect(),
                _ => c.record_requests().into_iter().map(|x| x.id).collect(),
            };
            if !ids.is_empty() {
                let id = &ids[i % ids.len()];
                match k {
                    0 => c.retract_specialist(id, how),
                    1 => c.retract_opinion(id, how),
                    2 => c.retract_task(id, how),
                    _ => c.retract_record_request(id, how),
                }
                .unwrap();
            }
        }
        Op::RetractEvent(_, i, j) => {
            let rq = c.record_requests();
            if !rq.is_empty() {
                let r = &rq[i % rq.len()];
                let live: Vec<&str> =
                    r.events.iter().filter(|e| e.retractions.is_empty()).map(|e| e.id.as_str()).collect();
                if !live.is_empty() {
                    let how = Retract { today: date!(2026 - 02 - 15), by: Some(&me), reason: None };
                    c.retract_request_event(&r.id, live[j % live.len()], how).unwrap();
                }
            }
        }
        Op::EditTask(_, i, d) => {
            let tasks = c.tasks();
            if !tasks.is_empty() {
                let due = format!("2026-02-{d:02}");
                let changes = TaskChanges { due: Some(Some(&due)), ..Default::default() };
                c.edit_task(&tasks[i % tasks.len()].id, changes).unwrap();
            }
        }
        Op::Save(_) | Op::Sync { .. } => unreachable!(),
    }
}

/// Every derived view of a case, as one comparable JSON value.
fn views(c: &mut Case) -> serde_json::Value {
    let today = date!(2026 - 02 - 15);
    let mut notes = serde_json::Map::new();
    for a in c.appointments() {
        notes.insert(a.id.clone(), serde_json::to_value(c.notes(&a.id).unwrap()).unwrap());
    }
    serde_json::json!({
        "patient": c.patient(), "decision": c.decision_window(today), "flags": c.flags(), "verdict": c.verdict(),
        "specialists": c.specialists(), "requests": c.request_progress(today), "documents": c.documents(),
        "questions": c.questions(), "appointments": c.appointments(), "notes": notes, "opinions": c.opinions(),
        "comparison": c.compare_opinions(), "team": c.care_team(), "tasks": c.tasks(), "costs": c.cost_totals(),
        "progress": c.progress(today), "progress_at": c.progress_at(datetime!(2026-03-01 12:00)),
        "decision_record": c.decision(), "conflicts": c.conflicts(), "symptoms": c.symptoms(),
        "agenda": c.agenda(today), "agenda_later": c.agenda(date!(2026 - 03 - 02)),
        "retracted": c.retracted_items(), "plausibility": c.plausibility(today),
    })
}

fn run(n: usize, ops: &[Op]) {
    let first = Store::in_memory();
    let (case, me0) = first.create_case("Patient", "Caregiver 0", None).unwrap();
    let id = case.id().clone();
    let file = first.export_changes(&id, None).unwrap();
    let mut reps = vec![Replica { store: first, case, me: me0, written: vec![] }];
    for i in 1..n {
        let store = Store::in_memory();
        store.import_changes(&file).unwrap();
        let mut case = store.open_case(&id).unwrap();
        let me = case.add_caregiver(&format!("Caregiver {i}"), None).unwrap();
        case.save().unwrap();
        reps.push(Replica { store, case, me, written: vec![] });
    }
    for (step, op) in ops.iter().enumerate() {
        apply(&mut reps, &id, op, step);
    }
    // Make up every omission: everyone sends everything to everyone, twice around.
    for _ in 0..2 {
        for from in 0..n {
            for to in 0..n {
                sync(&mut reps, &id, from, to, true, false);
            }
        }
    }
    let reference_state = reps[0].case.state().unwrap();
    let reference = views(&mut reps[0].case);
    for (r, rep) in reps.iter_mut().enumerate().skip(1) {
        assert_eq!(rep.case.state().unwrap(), reference_state, "replica {r} documents differ");
        assert_eq!(views(&mut rep.case), reference, "replica {r} views differ");
    }
    let written: Vec<(TextField, String)> = reps.iter().flat_map(|r| r.written.clone()).collect();
    for (field, token) in &written {
        let text = reps[0].case.text(field).unwrap();
        assert!(text.contains(token.as_str()), "lost {token:?} in {field:?}: {text:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge(n in 3usize..=5, ops in prop::collection::vec(op(5), 1..60)) {
        let ops: Vec<Op> = ops.into_iter().map(|o| clamp(o, n)).collect();
        run(n, &ops);
    }
}

/// Map replica indices generated for 5 replicas onto `n`.
fn clamp(op: Op, n: usize) -> Op {
    let m = |r: usize| r % n;
    match op {
        Op::Stage(r, v) => Op::Stage(m(r), v),
        Op::Decision(r, v) => Op::Decision(m(r), v),
        Op::Flag(r, s, b) => Op::Flag(m(r), s, b),
        Op::AddSpecialist(r) => Op::AddSpecialist(m(r)),
        Op::SpecialistStatus(r, i, s) => Op::SpecialistStatus(m(r), i, s),
        Op::AddRequest(r) => Op::AddRequest(m(r)),
        Op::Event(r, i, k, d) => Op::Event(m(r), i, k, d),
        Op::AddAppointment(r) => Op::AddAppointment(m(r)),
        Op::AppointmentStart(r, i, h) => Op::AppointmentStart(m(r), i, h),
        Op::Notes(r, i) => Op::Notes(m(r), i),
        Op::Summary(r, i) => Op::Summary(m(r), i),
        Op::Symptoms(r) => Op::Symptoms(m(r)),
        Op::AddQuestion(r) => Op::AddQuestion(m(r)),
        Op::MoveQuestion(r, i, t) => Op::MoveQuestion(m(r), i, t),
        Op::Opinion(r, k) => Op::Opinion(m(r), k),
        Op::Task(r) => Op::Task(m(r)),
        Op::Decide(r, d, t) => Op::Decide(m(r), d, t),
        Op::Attended(r, i, k) => Op::Attended(m(r), i, k),
        Op::Retract(r, k, i) => Op::Retract(m(r), k, i),
        Op::RetractEvent(r, i, j) => Op::RetractEvent(m(r), i, j),
        Op::EditTask(r, i, d) => Op::EditTask(m(r), i, d),
        Op::Save(r) => Op::Save(m(r)),
        Op::Sync { from, to, delta, twice } => Op::Sync { from: m(from), to: m(to), delta, twice },
    }
}

#[test]
fn two_siblings_typing_in_the_same_appointment_offline() {
    run(
        3,
        &[
            Op::AddAppointment(0),
            Op::Sync { from: 0, to: 1, delta: false, twice: false },
            Op::Sync { from: 0, to: 2, delta: true, twice: true },
            Op::Notes(1, 0),
            Op::Notes(2, 0),
            Op::Summary(1, 0),
            Op::Summary(2, 0),
            Op::Stage(1, 0),
            Op::Stage(2, 3),
        ],
    );
}

/// Found by the simulation: one caregiver typing notes for the same appointment on two devices offline
/// (a phone and a tablet; a lost phone and its replacement) — neither device's words may be hidden.
#[test]
fn one_caregiver_on_two_devices_keeps_both_devices_notes() {
    let phone = Store::in_memory();
    let (mut case, me) = phone.create_case("Patient", "Ana", None).unwrap();
    let appt = case
        .add_appointment(NewAppointment { kind: Some(AppointmentKind::SecondOpinion), ..Default::default() })
        .unwrap();
    case.save().unwrap();
    let id = case.id().clone();
    let tablet = Store::in_memory();
    tablet.import_changes(&phone.export_changes(&id, None).unwrap()).unwrap();
    let mut on_tablet = tablet.open_case(&id).unwrap();
    let field = TextField::AppointmentNotes { appointment: appt.clone(), author: me.clone() };
    case.append_text(&field, "from the phone. ").unwrap();
    on_tablet.append_text(&field, "from the tablet. ").unwrap();
    case.save().unwrap();
    on_tablet.save().unwrap();
    tablet.import_changes(&phone.export_changes(&id, None).unwrap()).unwrap();
    phone.import_changes(&tablet.export_changes(&id, None).unwrap()).unwrap();
    for store in [&phone, &tablet] {
        let text = store.open_case(&id).unwrap().text(&field).unwrap();
        assert!(text.contains("from the phone.") && text.contains("from the tablet."), "{text:?}");
    }
}
