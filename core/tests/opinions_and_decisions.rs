//! Opinions compared by meaning, the verdict from the opinions already obtained, progress that says what the
//! family did (attended consultations, step 7 done by a recorded decision), and the decision record merged
//! from two siblings offline.

#[path = "support/replicas.rs"]
mod replicas;
use casebook_core::model::appointment::{AppointmentKind, NewAppointment};
use casebook_core::model::critical::{Situation, Suggestion};
use casebook_core::model::decision::NewDecision;
use casebook_core::model::notation::Outcome;
use casebook_core::model::opinion::{Aspect, Comparison, NewOpinion};
use casebook_core::model::specialist::{NewSpecialist, SpecialistField, SpecialistStatus};
use casebook_core::{Case, Error, Keyed, Store};
use replicas::{exchange, replica_of};
use time::macros::{date, datetime};

fn new_case() -> (Store, Case, String) {
    let store = Store::in_memory();
    let (case, me) = store.create_case("Mum", "Ana", Some("daughter")).unwrap();
    (store, case, me)
}

fn nonempty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn opinion(case: &mut Case, rank: u64, diagnosis: &str, stage: &str, treatment: &str) -> String {
    case.add_opinion(NewOpinion {
        rank,
        diagnosis: nonempty(diagnosis),
        stage: nonempty(stage),
        treatment: nonempty(treatment),
        ..Default::default()
    })
    .unwrap()
}

/// The outcome of comparing two opinions on one aspect (`None` when the aspect was not compared).
fn outcome(c: &Comparison, aspect: Aspect) -> Option<(Outcome, Vec<String>)> {
    c.differences
        .iter()
        .chain(&c.unclear)
        .chain(&c.agreements)
        .find(|a| a.aspect == aspect)
        .map(|a| (a.outcome, a.components.clone()))
}

/// Real-world stage notations, two opinions at a time: (first, second, outcome, parts that differ).
#[test]
fn stages_compare_by_meaning_not_spelling() {
    use Outcome::{Agree, Differ, Unclear};
    let table: &[(&str, &str, Outcome, &[&str])] = &[
        // Stage groups: roman or arabic, letter case, "stage", hyphens.
        ("IIIA", "Stage IIIA", Agree, &[]),
        ("IIIA", "stage 3A", Agree, &[]),
        ("Stage III-A", "IIIa", Agree, &[]),
        ("stage iv", "Stage 4", Agree, &[]),
        ("IB", "stage 1b", Agree, &[]),
        ("IA2", "Stage IA2", Agree, &[]),
        ("Stage II", "stage 2", Agree, &[]),
        ("IIIA", "IIB", Differ, &["stage group"]),
        ("IIIA", "IIIB", Differ, &["substage"]),
        ("IA1", "IA3", Differ, &["substage"]),
        ("IV", "Stage III", Differ, &["stage group"]),
        ("III", "IIIA", Unclear, &["substage"]),
        // TNM: spacing, prefixes noted but compared by category.
        ("cT2N1M0", "T2 N1 M0", Agree, &[]),
        ("cT2N1M0", "pT2 N1 M0", Agree, &[]),
        ("T2a N0 M0", "t2a n0 m0", Agree, &[]),
        ("cT2N1M0", "cT2N2M0", Differ, &["N"]),
        ("pT3 N1 M0", "T2 N1 M1a", Differ, &["T", "M"]),
        ("T1a N0 M0", "T1b N0 M0", Differ, &["T"]),
        ("T2 N0 M0", "T2a N0 M0", Unclear, &["T"]),
        ("TX N1 M0", "T2 N1 M0", Unclear, &["T"]),
        // Both notations at once; one against the other.
        ("Stage IIIA (T2N2M0)", "IIIA", Agree, &[]),
        ("IIIA (T2 N2 M0)", "IIIA (T3 N2 M0)", Differ, &["T"]),
        ("IIIA", "T2 N2 M0", Unclear, &["notation"]),
        // Free text: spelling only.
        ("Limited-stage", "limited stage", Agree, &[]),
        ("limited", "extensive", Differ, &[]),
    ];
    for (a, b, expected, parts) in table {
        let (_s, mut case, _) = new_case();
        opinion(&mut case, 1, "", a, "");
        opinion(&mut case, 2, "", b, "");
        let c = case.compare_opinions();
        let (got, components) = outcome(&c, Aspect::Stage).unwrap_or_else(|| panic!("{a} / {b}: not compared"));
        assert_eq!(got, *expected, "{a} / {b}: {c:#?}");
        assert_eq!(components, parts.iter().map(|p| p.to_string()).collect::<Vec<_>>(), "{a} / {b}");
        assert_eq!(c.suggest_third_opinion, *expected == Differ, "{a} / {b}: only a difference of meaning counts");
    }
}

#[test]
fn tnm_prefixes_are_noted_not_ignored() {
    let (_s, mut case, _) = new_case();
    opinion(&mut case, 1, "", "cT2N1M0", "");
    opinion(&mut case, 2, "", "pT2 N1 M0", "");
    let c = case.compare_opinions();
    let stage = &c.agreements[0];
    assert_eq!(stage.aspect, Aspect::Stage);
    assert_eq!(stage.values[0].value, "cT2N1M0", "the text as written is kept for display");
    assert_eq!(stage.values[0].reads_as, "cT2 N1 M0");
    assert_eq!(stage.values[1].reads_as, "pT2 N1 M0");
    assert_eq!(stage.notes.len(), 1, "{:?}", stage.notes);
    assert!(stage.notes[0].contains("clinical") && stage.notes[0].contains("pathological"), "{:?}", stage.notes);
    // The same prefix on both: nothing to note.
    let (_s, mut case, _) = new_case();
    opinion(&mut case, 1, "", "pT2N1M0", "");
    opinion(&mut case, 2, "", "pT2 N1 M0", "");
    assert!(case.compare_opinions().agreements[0].notes.is_empty());
}

/// Treatment and diagnosis wording: (first, second, same meaning).
#[test]
fn treatments_and_diagnoses_compare_by_wording_normalised() {
    let table: &[(&str, &str, bool)] = &[
        ("chemoradiation then durvalumab", "Chemoradiation, then durvalumab.", true),
        ("Chemoradiation followed by durvalumab", "chemoradiation + durvalumab", true),
        ("Carboplatin and pemetrexed", "carboplatin/pemetrexed", true),
        ("Surgery (lobectomy); adjuvant chemo", "surgery lobectomy, then adjuvant chemo", true),
        ("Chemo-radiation", "chemoradiation", true),
        ("60 Gy radiation", "60Gy  radiation", true),
        ("Surgery first", "Chemoradiation", false),
        ("surgery then chemo", "chemo then surgery", false),
        ("chemoradiation then durvalumab", "chemoradiation", false),
    ];
    for (a, b, same) in table {
        let (_s, mut case, _) = new_case();
        opinion(&mut case, 1, "", "", a);
        opinion(&mut case, 2, "", "", b);
        let c = case.compare_opinions();
        let (got, _) = outcome(&c, Aspect::Treatment).unwrap();
        assert_eq!(got == Outcome::Agree, *same, "{a} / {b}");
        if !same {
            let d = &c.differences[0];
            assert_eq!((d.values[0].rank, d.values[0].value.as_str()), (1, *a), "each opinion's value, as written");
            assert_eq!((d.values[1].rank, d.values[1].value.as_str()), (2, *b));
        }
    }
    let (_s, mut case, _) = new_case();
    opinion(&mut case, 1, "Non-small cell lung cancer, adenocarcinoma", "", "");
    opinion(&mut case, 2, "non small-cell lung cancer (adenocarcinoma)", "", "");
    assert_eq!(outcome(&case.compare_opinions(), Aspect::Diagnosis).unwrap().0, Outcome::Agree);
}

#[test]
fn comparison_names_what_differs_and_what_agrees() {
    let (_s, mut case, _) = new_case();
    opinion(&mut case, 1, "Adenocarcinoma", "IIIA", "Chemoradiation then durvalumab");
    opinion(&mut case, 2, "adenocarcinoma", "Stage 3B", "Chemoradiation, then durvalumab.");
    let c = case.compare_opinions();
    assert_eq!(c.differences.iter().map(|d| d.aspect).collect::<Vec<_>>(), [Aspect::Stage]);
    assert_eq!(c.differences[0].components, ["substage"]);
    assert_eq!(c.agreements.iter().map(|d| d.aspect).collect::<Vec<_>>(), [Aspect::Diagnosis, Aspect::Treatment]);
    assert!(c.unclear.is_empty());
    // An opinion that does not state an aspect is left out of that aspect.
    opinion(&mut case, 3, "", "", "Surgery");
    let c = case.compare_opinions();
    let stage = c.differences.iter().find(|d| d.aspect == Aspect::Stage).unwrap();
    assert_eq!(stage.values.len(), 2);
    assert_eq!(c.differences.iter().find(|d| d.aspect == Aspect::Treatment).unwrap().values.len(), 3);
}

#[test]
fn the_verdict_follows_the_opinions_already_obtained() {
    let (_s, mut case, _) = new_case();
    // 0 opinions: nothing; a critical situation flagged → a second opinion.
    let v = case.verdict();
    assert_eq!((v.suggestion, v.strongly_advised, v.opinions), (Suggestion::Nothing, false, 0));
    case.set_flag(Situation::AdvancedOrMetastatic, true, None).unwrap();
    let v = case.verdict();
    assert_eq!((v.suggestion, v.strongly_advised), (Suggestion::SecondOpinion, true));
    // 1 opinion: still.
    opinion(&mut case, 1, "NSCLC", "IIIA", "Chemoradiation then durvalumab");
    assert_eq!(case.verdict().suggestion, Suggestion::SecondOpinion);
    // 2 opinions agreeing in meaning: the advice was followed; nothing more.
    let second = opinion(&mut case, 2, "nsclc", "Stage 3A", "Chemoradiation, then durvalumab.");
    let v = case.verdict();
    assert_eq!((v.suggestion, v.strongly_advised, v.second_opinion_recorded), (Suggestion::Nothing, false, true));
    assert_eq!(v.reasons, [Situation::AdvancedOrMetastatic], "the situations stay listed");
    assert!(v.differing.is_empty());
    // 2 opinions differing in meaning: a third.
    case.set_opinion(&second, "stage", Some("IIB")).unwrap();
    let v = case.verdict();
    assert_eq!((v.suggestion, v.differing.clone()), (Suggestion::ThirdOpinion, vec![Aspect::Stage]));
    // Only unclear (III against IIIA): no third.
    case.set_opinion(&second, "stage", Some("III")).unwrap();
    assert_eq!(case.verdict().suggestion, Suggestion::Nothing);
    case.set_opinion(&second, "stage", Some("IIB")).unwrap();
    // 3 opinions: the third exists; not suggested again, even if all three differ.
    opinion(&mut case, 3, "NSCLC", "IV", "Surgery");
    let v = case.verdict();
    assert_eq!((v.suggestion, v.third_opinion_recorded), (Suggestion::Nothing, true));
    assert!(!case.compare_opinions().suggest_third_opinion);
    assert_eq!(v.differing, [Aspect::Stage, Aspect::Treatment]);
}

#[test]
fn two_entries_of_the_same_rank_do_not_call_for_a_third_opinion() {
    let (_s, mut case, _) = new_case();
    opinion(&mut case, 1, "", "IIIA", "");
    opinion(&mut case, 1, "", "IIB", "");
    let c = case.compare_opinions();
    assert_eq!(c.differences.len(), 1, "the difference is shown");
    assert!(!c.suggest_third_opinion, "one opinion recorded twice is not a first and a second");
}

#[test]
fn a_consultation_is_attended_when_its_time_has_passed_or_someone_marks_it() {
    let (_s, mut case, _) = new_case();
    let appt = case
        .add_appointment(NewAppointment {
            kind: Some(AppointmentKind::SecondOpinion),
            start: Some("2026-03-10T14:00"),
            ..Default::default()
        })
        .unwrap();
    let step6 = |c: &Case, now| c.progress_at(now).steps[5].clone();
    // Before the start, even on the same day: not attended.
    assert!(!step6(&case, datetime!(2026-03-10 13:59)).done);
    assert_eq!(
        step6(&case, datetime!(2026-03-10 9:00)).next.as_deref(),
        Some("Attend together, take notes, ask for a written summary")
    );
    // After the start: attended; the written summary is next.
    let s = step6(&case, datetime!(2026-03-10 14:01));
    assert!(s.achieved.iter().any(|a| a == "1 consultation attended"), "{s:?}");
    assert_eq!(s.next.as_deref(), Some("Request the written consultation summary"));
    // `progress(today)` counts from the day after.
    assert!(!case.progress(date!(2026 - 03 - 10)).steps[5].achieved.iter().any(|a| a.contains("attended")));
    assert!(case.progress(date!(2026 - 03 - 11)).steps[5].achieved.iter().any(|a| a.contains("attended")));
    // Marked attended early (same day, before the time the family typed): attended.
    case.set_attended(&appt, Some(true)).unwrap();
    assert_eq!(case.appointments()[0].attended, Some(true));
    assert!(step6(&case, datetime!(2026-03-10 8:00)).achieved.iter().any(|a| a.contains("attended")));
    // Marked not attended (cancelled): the time passing does not count.
    case.set_attended(&appt, Some(false)).unwrap();
    let s = step6(&case, datetime!(2026-04-01 0:00));
    assert!(!s.done);
    assert!(s.next.unwrap().contains("mark the one that took place attended"));
    // Cleared: back to the time.
    case.set_attended(&appt, None).unwrap();
    assert_eq!(case.appointments()[0].attended, None);
    assert!(step6(&case, datetime!(2026-04-01 0:00)).achieved.iter().any(|a| a.contains("attended")));
    assert!(matches!(case.set_attended("nope", Some(true)), Err(Error::UnknownId { .. })));
    // A first-opinion appointment is not the consultation of step 6.
    let (_s, mut case, _) = new_case();
    case.add_appointment(NewAppointment {
        kind: Some(AppointmentKind::FirstOpinion),
        start: Some("2026-03-01T10:00"),
        ..Default::default()
    })
    .unwrap();
    assert!(!case.progress(date!(2026 - 03 - 20)).steps[5].done);
    // A specialist marked seen counts.
    let s = case.add_specialist(NewSpecialist { name: "Dr. Okafor", ..Default::default() }).unwrap();
    case.set_specialist(&s, SpecialistField::Status, Some(SpecialistStatus::Seen.key())).unwrap();
    assert!(case.progress(date!(2026 - 03 - 20)).steps[5].done);
}

#[test]
fn step_7_is_done_when_the_family_records_a_decision_not_when_a_third_opinion_exists() {
    let (_s, mut case, me) = new_case();
    let today = date!(2026 - 03 - 20);
    let step7 = |c: &Case| c.progress(today).steps[6].clone();
    assert_eq!(
        step7(&case).next.as_deref(),
        Some("Record each doctor's opinion to compare them, then record your decision together")
    );
    opinion(&mut case, 1, "NSCLC", "IIIA", "Chemoradiation then durvalumab");
    opinion(&mut case, 2, "NSCLC", "IIB", "Surgery");
    let s = step7(&case);
    assert!(!s.done);
    assert!(
        s.next
            .as_deref()
            .unwrap()
            .contains("The opinions differ on stage and treatment: the guide suggests considering a third opinion"),
        "{s:?}"
    );
    // Three opinions that all disagree: not done.
    let third = opinion(&mut case, 3, "NSCLC", "IV", "Chemotherapy");
    let s = step7(&case);
    assert!(!s.done, "a third opinion is not a decision");
    assert_eq!(
        s.next.as_deref(),
        Some("The opinions differ on stage and treatment: discuss them together and record your decision")
    );
    // The decision.
    let luis = case.add_caregiver("Luis", Some("son")).unwrap();
    case.record_decision(
        NewDecision {
            text: "Chemotherapy at the university centre",
            date: "2026-03-18",
            opinion: Some(&third),
            participants: vec![&me, &luis],
            recorded_by: Some(&me),
        },
        today,
    )
    .unwrap();
    let s = step7(&case);
    assert!(s.done, "{s:?}");
    assert!(
        s.achieved.contains(
            &"Decided on 2026-03-18: Chemotherapy at the university centre (following opinion 3; with Ana, Luis)"
                .to_string()
        ),
        "{s:?}"
    );
    assert_eq!(case.progress(today).steps[6].next, None);
}

#[test]
fn a_decision_is_validated_and_survives_a_reopen() {
    let (store, mut case, me) = new_case();
    let today = date!(2026 - 03 - 20);
    let o = opinion(&mut case, 2, "", "", "Surgery");
    case.save().unwrap();
    let base = NewDecision { text: "Surgery", date: "2026-03-19", ..Default::default() };
    for (bad, what) in [
        (NewDecision { text: "  ", ..base.clone() }, "empty text"),
        (NewDecision { date: "2026-03-21", ..base.clone() }, "after today"),
        (NewDecision { date: "2026-02-30", ..base.clone() }, "impossible date"),
        (NewDecision { opinion: Some("nope"), ..base.clone() }, "unknown opinion"),
        (NewDecision { participants: vec!["ghost"], ..base.clone() }, "unknown caregiver"),
    ] {
        assert!(case.record_decision(bad, today).is_err(), "{what}");
        assert!(!case.has_unsaved_changes(), "{what}: a refused decision changes nothing");
    }
    assert!(matches!(
        case.record_decision(NewDecision { date: "2026-03-21", ..base.clone() }, today),
        Err(Error::ImpossibleDate { .. })
    ));
    let id = case
        .record_decision(
            NewDecision { opinion: Some(&o), participants: vec![&me, &me], recorded_by: Some(&me), ..base.clone() },
            today,
        )
        .unwrap();
    case.save().unwrap();
    let case = store.open_case(case.id()).unwrap();
    let r = case.decision();
    let d = r.latest.clone().unwrap();
    assert_eq!(
        (d.id.as_str(), d.text.as_str(), d.date, d.opinion.as_deref(), d.participants.clone(), d.recorded_on),
        (id.as_str(), "Surgery", date!(2026 - 03 - 19), Some(o.as_str()), vec![me.clone()], today)
    );
    assert_eq!(r.entries.len(), 1);
    assert!(r.concurrent.is_empty());
    // The decision date of the window is untouched, and entries are no conflicts.
    assert!(case.decision_window(today).date.is_none());
    assert!(case.conflicts().is_empty());
}

/// Two replicas of one case, the second made from the first's changes.
fn two_replicas() -> (Store, Case, String, Store, Case, String) {
    let a = Store::in_memory();
    let (mut ca, ana) = a.create_case("Mum", "Ana", None).unwrap();
    let luis = ca.add_caregiver("Luis", None).unwrap();
    let (b, cb) = replica_of(&a, &mut ca);
    (a, ca, ana, b, cb, luis)
}

#[test]
fn two_siblings_recording_decisions_offline_keep_both_and_see_the_same() {
    for a_first in [true, false] {
        let (a, mut ca, ana, b, mut cb, luis) = two_replicas();
        let today = date!(2026 - 03 - 20);
        let ea = ca
            .record_decision(
                NewDecision {
                    text: "Surgery first",
                    date: "2026-03-18",
                    participants: vec![&ana],
                    ..Default::default()
                },
                today,
            )
            .unwrap();
        let eb = cb
            .record_decision(
                NewDecision {
                    text: "Chemoradiation",
                    date: "2026-03-18",
                    participants: vec![&luis],
                    ..Default::default()
                },
                today,
            )
            .unwrap();
        exchange(&a, &mut ca, &b, &mut cb, a_first);
        let (ra, rb) = (ca.decision(), cb.decision());
        assert_eq!(ra, rb, "the same on both replicas");
        assert_eq!(ra.entries.len(), 2, "neither entry is lost");
        let latest = ra.latest.clone().unwrap();
        let expected_latest = if ea > eb { &ea } else { &eb };
        assert_eq!(&latest.id, expected_latest, "same date and day recorded: the id breaks the tie");
        assert_eq!(ra.concurrent.len(), 1, "the other is surfaced");
        assert_ne!(ra.concurrent[0].id, latest.id);
        assert_eq!(ca.progress(today), cb.progress(today));
        let s = ca.progress(today).steps[6].clone();
        assert!(!s.done, "two different decisions recorded separately: the family agrees which stands");
        assert!(s.next.unwrap().starts_with("2 decisions were recorded separately (2026-03-18)"));
        assert!(ca.conflicts().is_empty(), "entries are not field conflicts");

        // Recorded again after syncing: it has seen both, it stands, nothing concurrent.
        let settled = ca
            .record_decision(
                NewDecision {
                    text: "Chemoradiation",
                    date: "2026-03-19",
                    participants: vec![&ana, &luis],
                    ..Default::default()
                },
                today,
            )
            .unwrap();
        exchange(&a, &mut ca, &b, &mut cb, !a_first);
        let r = cb.decision();
        assert_eq!(r.latest.as_ref().map(|e| e.id.as_str()), Some(settled.as_str()));
        assert!(r.concurrent.is_empty());
        assert_eq!(r.entries.len(), 3, "the history stays");
        assert!(cb.progress(today).steps[6].done);
        assert_eq!(ca.decision(), r);
    }
}

#[test]
fn decisions_recorded_offline_on_different_days_order_by_date_not_arrival() {
    for a_first in [true, false] {
        let (a, mut ca, _ana, b, mut cb, _luis) = two_replicas();
        let today = date!(2026 - 03 - 20);
        // B records later in real time, but dates its decision earlier.
        ca.record_decision(NewDecision { text: "Chemoradiation", date: "2026-03-19", ..Default::default() }, today)
            .unwrap();
        cb.record_decision(NewDecision { text: "Surgery", date: "2026-03-12", ..Default::default() }, today).unwrap();
        exchange(&a, &mut ca, &b, &mut cb, a_first);
        for c in [&ca, &cb] {
            let r = c.decision();
            assert_eq!(r.latest.unwrap().text, "Chemoradiation");
            assert_eq!(r.concurrent.len(), 1, "recorded without seeing each other: surfaced");
        }
        // The same words recorded by both offline are one decision, not a disagreement.
        let (a, mut ca, _ana, b, mut cb, _luis) = two_replicas();
        ca.record_decision(NewDecision { text: "Chemoradiation.", date: "2026-03-19", ..Default::default() }, today)
            .unwrap();
        cb.record_decision(NewDecision { text: "chemoradiation", date: "2026-03-18", ..Default::default() }, today)
            .unwrap();
        exchange(&a, &mut ca, &b, &mut cb, a_first);
        assert!(ca.decision().concurrent.is_empty());
        assert!(ca.progress(today).steps[6].done);
    }
}

#[test]
fn an_attended_mark_set_differently_offline_is_a_visible_conflict_resolved_the_same_everywhere() {
    let (a, mut ca, _ana, b, mut cb, _luis) = two_replicas();
    let appt = ca
        .add_appointment(NewAppointment { kind: Some(AppointmentKind::SecondOpinion), ..Default::default() })
        .unwrap();
    exchange(&a, &mut ca, &b, &mut cb, true);
    ca.set_attended(&appt, Some(true)).unwrap();
    cb.set_attended(&appt, Some(false)).unwrap();
    exchange(&a, &mut ca, &b, &mut cb, false);
    assert_eq!(ca.appointments(), cb.appointments());
    let today = date!(2026 - 03 - 20);
    assert_eq!(ca.progress(today), cb.progress(today));
    assert!(ca.conflicts().iter().any(|c| c.path == format!("appointments/{appt}/attended")));
}
