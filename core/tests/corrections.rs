//! Corrections: every document, medication, family history entry, cost, task and caregiver can be edited
//! after it was added. Bad corrections are refused and change nothing; two siblings correcting different
//! fields of the same item offline both keep their correction whatever the order of the merge; the same
//! field corrected on both sides is a conflict shown until someone picks a value.

#[path = "support/replicas.rs"]
mod replicas;
use casebook_core::model::chronology::{
    DocumentChanges, DocumentKind, FamilyHistoryChanges, Location, MedicationChanges,
};
use casebook_core::model::cost::{CostCategory, CostChanges, MAX_AMOUNT_CENTS};
use casebook_core::model::retraction::{ItemKind, Retract};
use casebook_core::model::task::TaskChanges;
use casebook_core::model::team::CaregiverChanges;
use casebook_core::{Case, Error, Store};
use replicas::{exchange, replica_of};
use time::macros::date;

fn new_case() -> (Store, Case, String) {
    let store = Store::in_memory();
    let (case, me) = store.create_case("Mum", "Ana", Some("daughter")).unwrap();
    (store, case, me)
}

/// Asserts that a refused correction left nothing to save.
fn assert_unchanged(case: &mut Case) {
    assert!(!case.has_unsaved_changes(), "a refused correction must change nothing");
}

fn assert_invalid<T: std::fmt::Debug>(r: Result<T, Error>, field: &str) {
    match r {
        Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
        other => panic!("expected invalid {field}, got {other:?}"),
    }
}

fn assert_retracted<T: std::fmt::Debug>(r: Result<T, Error>, kind: &str) {
    match r {
        Err(Error::Retracted { kind: k, .. }) => assert_eq!(k, kind),
        other => panic!("expected retracted {kind}, got {other:?}"),
    }
}

fn assert_unknown<T: std::fmt::Debug>(r: Result<T, Error>, kind: &str) {
    match r {
        Err(Error::UnknownId { kind: k, .. }) => assert_eq!(k, kind),
        other => panic!("expected unknown {kind}, got {other:?}"),
    }
}

/// One item of every kind, on a case with two caregivers (Ana and Luis).
struct Items {
    document: String,
    medication: String,
    history: String,
    cost: String,
    task: String,
    luis: String,
}

fn add_items(case: &mut Case) -> Items {
    let luis = case.add_caregiver("Luis", Some("son")).unwrap();
    Items {
        document: case
            .add_document(
                Some("2026-01-15"),
                DocumentKind::Other,
                Some("City Lab"),
                "Biopsy reprot",
                Location::Physical,
            )
            .unwrap(),
        medication: case.add_medication("Metformn", Some("500 mg")).unwrap(),
        history: case.add_family_history("mother", "breast", Some(52)).unwrap(),
        cost: case.add_cost(CostCategory::Other, 12_000, Some("2026-02-01"), Some("Train")).unwrap(),
        task: case.add_task("Call the lab", None, Some("2026-02-10")).unwrap(),
        luis,
    }
}

#[test]
fn every_kind_of_entry_is_corrected_in_place() {
    let (_s, mut case, ana) = new_case();
    let it = add_items(&mut case);

    case.edit_document(
        &it.document,
        DocumentChanges {
            date: Some(Some("2026-01-16")),
            kind: Some(DocumentKind::PathologyReport),
            facility: Some(None),
            description: Some("  Biopsy report "),
            location: Some(Location::Both),
        },
    )
    .unwrap();
    let d = &case.documents()[0];
    assert_eq!(d.date, Some(date!(2026 - 01 - 16)));
    assert_eq!(d.kind, DocumentKind::PathologyReport);
    assert_eq!(d.facility, None);
    assert_eq!(d.description, "Biopsy report");
    assert_eq!(d.location, Location::Both);
    case.edit_document(&it.document, DocumentChanges { date: Some(None), ..Default::default() }).unwrap();
    assert_eq!(case.documents()[0].date, None);

    case.edit_medication(&it.medication, MedicationChanges { name: Some("Metformin"), ..Default::default() }).unwrap();
    assert_eq!(case.medications()[0].name, "Metformin");
    assert_eq!(case.medications()[0].dose.as_deref(), Some("500 mg"), "a field not named is left as it is");
    case.edit_medication(&it.medication, MedicationChanges { dose: Some(Some("   ")), ..Default::default() }).unwrap();
    assert_eq!(case.medications()[0].dose, None, "a blank optional text clears it");

    case.edit_family_history(
        &it.history,
        FamilyHistoryChanges {
            relative: Some("maternal aunt"),
            cancer: Some("breast cancer"),
            age_at_diagnosis: Some(Some(48)),
        },
    )
    .unwrap();
    let h = &case.family_history()[0];
    assert_eq!(
        (h.relative.as_str(), h.cancer.as_str(), h.age_at_diagnosis),
        ("maternal aunt", "breast cancer", Some(48))
    );
    case.edit_family_history(&it.history, FamilyHistoryChanges { age_at_diagnosis: Some(None), ..Default::default() })
        .unwrap();
    assert_eq!(case.family_history()[0].age_at_diagnosis, None);

    case.edit_cost(
        &it.cost,
        CostChanges {
            category: Some(CostCategory::Travel),
            amount_cents: Some(12_050),
            date: Some(Some("2026-02-02")),
            description: Some(Some("Train to the cancer centre")),
        },
    )
    .unwrap();
    let c = &case.costs()[0];
    assert_eq!((c.category, c.amount_cents, c.date), (CostCategory::Travel, 12_050, Some(date!(2026 - 02 - 02))));
    assert_eq!(c.description.as_deref(), Some("Train to the cancer centre"));
    assert_eq!(case.cost_totals().total_cents, 12_050, "totals follow the correction");
    case.edit_cost(&it.cost, CostChanges { date: Some(None), description: Some(None), ..Default::default() }).unwrap();
    let c = &case.costs()[0];
    assert_eq!((c.date, c.description.as_deref()), (None, None));

    case.edit_task(
        &it.task,
        TaskChanges { title: Some("Call the lab about the slides"), assignee: Some(Some(&it.luis)), due: Some(None) },
    )
    .unwrap();
    let t = &case.tasks()[0];
    assert_eq!(t.title, "Call the lab about the slides");
    assert_eq!(t.assignee.as_deref(), Some(it.luis.as_str()));
    assert_eq!(t.due, None);
    assert!(!t.done, "done is left as it is");
    case.edit_task(&it.task, TaskChanges { assignee: Some(None), due: Some(Some("2026-02-12")), ..Default::default() })
        .unwrap();
    let t = &case.tasks()[0];
    assert_eq!((t.assignee.as_deref(), t.due), (None, Some(date!(2026 - 02 - 12))));

    case.edit_caregiver(&ana, CaregiverChanges { name: Some("Ana María"), relationship: Some(None) }).unwrap();
    let a = case.caregiver(&ana).unwrap();
    assert_eq!((a.name.as_str(), a.relationship.as_deref()), ("Ana María", None));
    case.edit_caregiver(&it.luis, CaregiverChanges { relationship: Some(Some("grandson")), ..Default::default() })
        .unwrap();
    assert_eq!(case.caregiver(&it.luis).unwrap().relationship.as_deref(), Some("grandson"));

    assert!(case.conflicts().is_empty());
    case.save().unwrap();

    // A field restated with the value it has is not written: a form sent back whole never makes a conflict
    // with a sibling's correction of that field.
    case.edit_caregiver(&it.luis, CaregiverChanges { name: Some("Luis"), relationship: Some(Some("grandson")) })
        .unwrap();
    assert_unchanged(&mut case);
}

#[test]
fn bad_corrections_are_refused_and_change_nothing() {
    let (_s, mut case, ana) = new_case();
    let it = add_items(&mut case);
    case.save().unwrap();
    let before = (case.documents(), case.medications(), case.family_history(), case.costs(), case.tasks());
    let team = case.care_team();

    // Nothing to change.
    assert_invalid(case.edit_document(&it.document, DocumentChanges::default()), "changes");
    assert_invalid(case.edit_medication(&it.medication, MedicationChanges::default()), "changes");
    assert_invalid(case.edit_family_history(&it.history, FamilyHistoryChanges::default()), "changes");
    assert_invalid(case.edit_cost(&it.cost, CostChanges::default()), "changes");
    assert_invalid(case.edit_task(&it.task, TaskChanges::default()), "changes");
    assert_invalid(case.edit_caregiver(&ana, CaregiverChanges::default()), "changes");
    assert_unchanged(&mut case);

    // Empty required texts (spaces, line breaks, invisible characters), bad dates, amounts and ages; a valid
    // field next to a bad one is not written either.
    let blank = " \n\u{200B} ";
    assert_invalid(
        case.edit_document(
            &it.document,
            DocumentChanges { description: Some(blank), kind: Some(DocumentKind::LabResult), ..Default::default() },
        ),
        "description",
    );
    assert_invalid(
        case.edit_document(
            &it.document,
            DocumentChanges { date: Some(Some("2026-02-30")), location: Some(Location::Digital), ..Default::default() },
        ),
        "date",
    );
    assert_invalid(
        case.edit_medication(&it.medication, MedicationChanges { name: Some(""), dose: Some(Some("1 mg")) }),
        "name",
    );
    assert_invalid(
        case.edit_family_history(&it.history, FamilyHistoryChanges { relative: Some(blank), ..Default::default() }),
        "relative",
    );
    assert_invalid(
        case.edit_family_history(&it.history, FamilyHistoryChanges { cancer: Some("\t"), ..Default::default() }),
        "cancer",
    );
    assert_invalid(
        case.edit_family_history(
            &it.history,
            FamilyHistoryChanges { age_at_diagnosis: Some(Some(400)), relative: Some("aunt"), ..Default::default() },
        ),
        "age_at_diagnosis",
    );
    assert_invalid(
        case.edit_cost(&it.cost, CostChanges { amount_cents: Some(MAX_AMOUNT_CENTS + 1), ..Default::default() }),
        "amount",
    );
    assert_invalid(
        case.edit_cost(&it.cost, CostChanges { date: Some(Some("1/2/2026")), ..Default::default() }),
        "date",
    );
    assert_invalid(case.edit_task(&it.task, TaskChanges { title: Some("  "), ..Default::default() }), "title");
    assert_invalid(case.edit_task(&it.task, TaskChanges { due: Some(Some("tomorrow")), ..Default::default() }), "due");
    assert_invalid(case.edit_caregiver(&ana, CaregiverChanges { name: Some(blank), ..Default::default() }), "name");
    assert_unchanged(&mut case);

    // Unknown ids (also an assignee who is not on the care team).
    assert_unknown(
        case.edit_document("nope", DocumentChanges { kind: Some(DocumentKind::LabResult), ..Default::default() }),
        "document",
    );
    assert_unknown(
        case.edit_medication("nope", MedicationChanges { name: Some("x"), ..Default::default() }),
        "medication",
    );
    assert_unknown(
        case.edit_family_history("nope", FamilyHistoryChanges { cancer: Some("x"), ..Default::default() }),
        "family history entry",
    );
    assert_unknown(case.edit_cost("nope", CostChanges { amount_cents: Some(1), ..Default::default() }), "cost");
    assert_unknown(case.edit_task("nope", TaskChanges { title: Some("x"), ..Default::default() }), "task");
    assert_unknown(
        case.edit_task(
            &it.task,
            TaskChanges { title: Some("x"), assignee: Some(Some("nobody")), ..Default::default() },
        ),
        "caregiver",
    );
    assert_unknown(
        case.edit_caregiver("nope", CaregiverChanges { name: Some("x"), ..Default::default() }),
        "caregiver",
    );
    // A retracted item can no longer be corrected.
    case.retract_medication(&it.medication, Retract { today: date!(2026 - 03 - 01), by: None, reason: None }).unwrap();
    case.save().unwrap();
    assert_retracted(
        case.edit_medication(&it.medication, MedicationChanges { name: Some("x"), ..Default::default() }),
        "medication",
    );
    assert_unchanged(&mut case);

    assert_eq!(
        (case.documents(), case.family_history(), case.costs(), case.tasks(), case.care_team()),
        (before.0, before.2, before.3, before.4, team)
    );
}

/// Two replicas of one case holding the same items.
fn two_replicas() -> (Store, Case, Store, Case, Items, String) {
    let a = Store::in_memory();
    let (mut ca, ana) = a.create_case("Mum", "Ana", Some("daughter")).unwrap();
    let it = add_items(&mut ca);
    let (b, cb) = replica_of(&a, &mut ca);
    (a, ca, b, cb, it, ana)
}

/// Every list a correction can change, to compare replicas.
fn lists(c: &Case) -> String {
    format!("{:?}", (c.documents(), c.medications(), c.family_history(), c.costs(), c.tasks(), c.care_team()))
}

#[test]
fn siblings_correcting_different_fields_offline_both_keep_their_correction_in_either_order() {
    for a_first in [true, false] {
        let (a, mut ca, b, mut cb, it, ana) = two_replicas();

        // Ana (replica A) and Luis (replica B) correct different fields of the same items, offline.
        ca.edit_document(&it.document, DocumentChanges { description: Some("Biopsy report"), ..Default::default() })
            .unwrap();
        cb.edit_document(
            &it.document,
            DocumentChanges { kind: Some(DocumentKind::PathologyReport), date: Some(None), ..Default::default() },
        )
        .unwrap();
        ca.edit_medication(&it.medication, MedicationChanges { name: Some("Metformin"), ..Default::default() })
            .unwrap();
        cb.edit_medication(
            &it.medication,
            MedicationChanges { dose: Some(Some("500 mg twice daily")), ..Default::default() },
        )
        .unwrap();
        ca.edit_family_history(
            &it.history,
            FamilyHistoryChanges { cancer: Some("breast cancer"), ..Default::default() },
        )
        .unwrap();
        cb.edit_family_history(
            &it.history,
            FamilyHistoryChanges { age_at_diagnosis: Some(Some(50)), ..Default::default() },
        )
        .unwrap();
        ca.edit_cost(&it.cost, CostChanges { amount_cents: Some(12_050), ..Default::default() }).unwrap();
        cb.edit_cost(
            &it.cost,
            CostChanges { category: Some(CostCategory::Travel), description: Some(None), ..Default::default() },
        )
        .unwrap();
        ca.edit_task(&it.task, TaskChanges { title: Some("Call the lab about the slides"), ..Default::default() })
            .unwrap();
        cb.edit_task(&it.task, TaskChanges { assignee: Some(Some(&it.luis)), ..Default::default() }).unwrap();
        cb.set_task_done(&it.task, true).unwrap();
        ca.edit_caregiver(&ana, CaregiverChanges { name: Some("Ana María"), ..Default::default() }).unwrap();
        cb.edit_caregiver(&ana, CaregiverChanges { relationship: Some(Some("eldest daughter")), ..Default::default() })
            .unwrap();

        exchange(&a, &mut ca, &b, &mut cb, a_first);
        assert_eq!(lists(&ca), lists(&cb), "both replicas show the same case (a_first: {a_first})");
        assert!(ca.conflicts().is_empty(), "different fields never conflict: {:?}", ca.conflicts());

        let d = &ca.documents()[0];
        assert_eq!((d.description.as_str(), d.kind, d.date), ("Biopsy report", DocumentKind::PathologyReport, None));
        let m = &ca.medications()[0];
        assert_eq!((m.name.as_str(), m.dose.as_deref()), ("Metformin", Some("500 mg twice daily")));
        let h = &ca.family_history()[0];
        assert_eq!((h.cancer.as_str(), h.age_at_diagnosis), ("breast cancer", Some(50)));
        let c = &ca.costs()[0];
        assert_eq!((c.amount_cents, c.category, c.description.as_deref()), (12_050, CostCategory::Travel, None));
        let t = &ca.tasks()[0];
        assert_eq!(
            (t.title.as_str(), t.assignee.as_deref(), t.done),
            ("Call the lab about the slides", Some(it.luis.as_str()), true)
        );
        let me = ca.caregiver(&ana).unwrap();
        assert_eq!((me.name.as_str(), me.relationship.as_deref()), ("Ana María", Some("eldest daughter")));
    }
}

#[test]
fn the_same_field_corrected_on_both_sides_is_a_conflict_until_someone_picks() {
    for a_first in [true, false] {
        let (a, mut ca, b, mut cb, it, ana) = two_replicas();
        ca.edit_medication(
            &it.medication,
            MedicationChanges { dose: Some(Some("500 mg daily")), ..Default::default() },
        )
        .unwrap();
        cb.edit_medication(&it.medication, MedicationChanges { dose: Some(Some("850 mg")), ..Default::default() })
            .unwrap();
        ca.edit_cost(&it.cost, CostChanges { amount_cents: Some(12_050), ..Default::default() }).unwrap();
        cb.edit_cost(&it.cost, CostChanges { amount_cents: Some(21_050), ..Default::default() }).unwrap();
        ca.edit_document(&it.document, DocumentChanges { kind: Some(DocumentKind::LabResult), ..Default::default() })
            .unwrap();
        cb.edit_document(
            &it.document,
            DocumentChanges { kind: Some(DocumentKind::PathologyReport), ..Default::default() },
        )
        .unwrap();
        ca.edit_family_history(
            &it.history,
            FamilyHistoryChanges { age_at_diagnosis: Some(Some(50)), ..Default::default() },
        )
        .unwrap();
        cb.edit_family_history(
            &it.history,
            FamilyHistoryChanges { age_at_diagnosis: Some(Some(55)), ..Default::default() },
        )
        .unwrap();
        ca.edit_task(&it.task, TaskChanges { due: Some(Some("2026-02-11")), ..Default::default() }).unwrap();
        cb.edit_task(&it.task, TaskChanges { due: Some(Some("2026-02-12")), ..Default::default() }).unwrap();
        ca.edit_caregiver(&ana, CaregiverChanges { name: Some("Ana María"), ..Default::default() }).unwrap();
        cb.edit_caregiver(&ana, CaregiverChanges { name: Some("Anita"), ..Default::default() }).unwrap();

        exchange(&a, &mut ca, &b, &mut cb, a_first);
        assert_eq!(lists(&ca), lists(&cb), "both replicas show the same winner (a_first: {a_first})");
        let conflicts = ca.conflicts();
        assert_eq!(conflicts, cb.conflicts(), "both replicas show the same conflicts");
        let values = |path: String| -> Vec<String> {
            let mut v = conflicts.iter().find(|c| c.path == path).unwrap_or_else(|| panic!("{path}")).values.clone();
            v.sort();
            v
        };
        assert_eq!(values(format!("medications/{}/dose", it.medication)), ["500 mg daily", "850 mg"]);
        assert_eq!(values(format!("costs/{}/amount_cents", it.cost)), ["12050", "21050"]);
        assert_eq!(values(format!("documents/{}/kind", it.document)), ["lab_result", "pathology_report"]);
        assert_eq!(values(format!("family_history/{}/age_at_diagnosis", it.history)), ["50", "55"]);
        assert_eq!(values(format!("tasks/{}/due", it.task)), ["2026-02-11", "2026-02-12"]);
        assert_eq!(values(format!("care_team/{ana}/name")), ["Ana María", "Anita"]);
        assert_eq!(conflicts.len(), 6, "{conflicts:?}");

        // Picking a value resolves a conflict; correcting the field again resolves it too.
        let dose = format!("medications/{}/dose", it.medication);
        let pick =
            conflicts.iter().find(|c| c.path == dose).unwrap().values.iter().position(|v| v == "850 mg").unwrap();
        ca.resolve_conflict(&dose, pick).unwrap();
        assert_eq!(ca.medications()[0].dose.as_deref(), Some("850 mg"));
        ca.edit_cost(&it.cost, CostChanges { amount_cents: Some(21_050), ..Default::default() }).unwrap();
        assert_eq!(ca.costs()[0].amount_cents, 21_050);
        let left: Vec<String> = ca.conflicts().into_iter().map(|c| c.path).collect();
        assert_eq!(left.len(), 4, "{left:?}");
        assert!(!left.contains(&dose));

        // The resolutions travel.
        exchange(&a, &mut ca, &b, &mut cb, a_first);
        assert_eq!(cb.conflicts().len(), 4);
        assert_eq!(cb.medications()[0].dose.as_deref(), Some("850 mg"));
        assert_eq!(cb.costs()[0].amount_cents, 21_050);
    }
}

// ---------------------------------------------------------------------------------------------------------
// Retractions: nothing is deleted; a retraction is an entry of its own (who, when, why).

const TODAY: time::Date = date!(2026 - 03 - 01);

fn by<'a>(who: &'a str, reason: &'a str) -> Retract<'a> {
    Retract { today: TODAY, by: Some(who), reason: Some(reason) }
}

fn assert_retracted_err<T: std::fmt::Debug>(r: Result<T, Error>) {
    assert!(matches!(r, Err(Error::Retracted { .. })), "expected a retracted error, got {r:?}");
}

/// Every derived view, to compare before and after.
fn derived(c: &Case) -> String {
    format!("{:?}", (c.progress(TODAY), c.agenda(TODAY), c.plausibility(TODAY), c.compare_opinions(), c.verdict()))
}

/// Every derived view and every list, to compare replicas.
fn views(c: &Case) -> String {
    format!("{}{}", derived(c), lists(c))
}

#[test]
fn every_kind_of_item_is_retracted_not_deleted_and_leaves_every_list() {
    let (store, mut case, ana) = new_case();
    let before = derived(&case);
    let it = add_items(&mut case);
    let specialist = case
        .add_specialist(casebook_core::model::specialist::NewSpecialist { name: "Dr. Okafor", ..Default::default() })
        .unwrap();
    let question = case
        .add_question(
            "Is surgery an option?",
            casebook_core::model::question::Category::Treatment,
            casebook_core::model::question::Priority::High,
            &ana,
        )
        .unwrap();
    let appointment = case
        .add_appointment(casebook_core::model::appointment::NewAppointment {
            kind: Some(casebook_core::model::appointment::AppointmentKind::SecondOpinion),
            specialist: Some(&specialist),
            start: Some("2026-03-10T10:00"),
            ..Default::default()
        })
        .unwrap();
    let opinion = case
        .add_opinion(casebook_core::model::opinion::NewOpinion {
            rank: 1,
            specialist: Some(&specialist),
            date: Some("2026-04-01"),
            diagnosis: Some("NSCLC"),
            ..Default::default()
        })
        .unwrap();
    assert_ne!(derived(&case), before);

    let questions = case.questions().len();
    let all = [
        (ItemKind::Specialist, specialist.clone()),
        (ItemKind::Document, it.document.clone()),
        (ItemKind::Medication, it.medication.clone()),
        (ItemKind::FamilyHistory, it.history.clone()),
        (ItemKind::Question, question.clone()),
        (ItemKind::Appointment, appointment.clone()),
        (ItemKind::Opinion, opinion.clone()),
        (ItemKind::Task, it.task.clone()),
        (ItemKind::Cost, it.cost.clone()),
    ];
    // The named operations and the generic one write the same entry.
    case.retract_specialist(&specialist, by(&it.luis, "wrong doctor")).unwrap();
    case.retract_document(&it.document, by(&it.luis, "wrong doctor")).unwrap();
    case.retract_medication(&it.medication, by(&it.luis, "wrong doctor")).unwrap();
    case.retract_family_history(&it.history, by(&it.luis, "wrong doctor")).unwrap();
    case.retract_question(&question, by(&it.luis, "wrong doctor")).unwrap();
    case.retract_appointment(&appointment, by(&it.luis, "wrong doctor")).unwrap();
    case.retract_opinion(&opinion, by(&it.luis, "wrong doctor")).unwrap();
    case.retract_task(&it.task, by(&it.luis, "wrong doctor")).unwrap();
    case.retract_item(ItemKind::Cost, &it.cost, by(&it.luis, "wrong doctor")).unwrap();
    case.save().unwrap();
    let mut case = store.open_case(case.id()).unwrap();

    // Gone from every list and every derived view: as if never added.
    assert_eq!(derived(&case), before);
    assert_eq!(
        lists(&case),
        format!("{:?}", (vec![(); 0], vec![(); 0], vec![(); 0], vec![(); 0], vec![(); 0], case.care_team()))
    );
    assert!(case.specialists().is_empty() && case.appointments().is_empty() && case.opinions().is_empty());
    assert_eq!(case.questions().len(), questions - 1);

    // Still there, with who, when and why.
    let retracted = case.retracted_items();
    assert_eq!(retracted.len(), all.len(), "{retracted:?}");
    for (kind, id) in &all {
        let r = retracted.iter().find(|r| &r.id == id).unwrap_or_else(|| panic!("{kind} {id} not listed"));
        assert_eq!(r.kind, *kind);
        assert_eq!(r.retractions.len(), 1);
        let e = &r.retractions[0];
        assert_eq!((e.on, e.by.as_deref(), e.reason.as_deref()), (TODAY, Some(it.luis.as_str()), Some("wrong doctor")));
        assert!(!r.name.contains(id.as_str()) && !r.name.trim().is_empty(), "{r:?}");
    }
    let name = |id: &str| retracted.iter().find(|r| r.id == id).unwrap().name.clone();
    assert_eq!(name(&specialist), "Dr. Okafor");
    assert_eq!(name(&it.medication), "Metformn");
    assert_eq!(name(&it.task), "Call the lab");
    assert_eq!(name(&appointment), "second-opinion appointment of 2026-03-10T10:00");

    // A retracted item can no longer be changed, retracted again, nor referred to; its notes can no longer be
    // written.
    assert_retracted_err(case.retract_task(&it.task, by(&ana, "again")));
    assert_retracted_err(case.edit_task(&it.task, TaskChanges { title: Some("x"), ..Default::default() }));
    assert_retracted_err(case.set_task_done(&it.task, true));
    assert_retracted_err(case.edit_cost(&it.cost, CostChanges { amount_cents: Some(1), ..Default::default() }));
    assert_retracted_err(case.set_opinion(&opinion, "stage", Some("IIIA")));
    assert_retracted_err(case.add_answer(&question, &appointment, &ana, "yes"));
    assert_retracted_err(case.set_attended(&appointment, Some(true)));
    let notes = casebook_core::model::text::TextField::AppointmentNotes {
        appointment: appointment.clone(),
        author: ana.clone(),
    };
    assert_retracted_err(case.append_text(&notes, "hello"));
    assert_retracted_err(case.add_opinion(casebook_core::model::opinion::NewOpinion {
        rank: 2,
        specialist: Some(&specialist),
        ..Default::default()
    }));
    assert_unchanged(&mut case);
    assert!(case.notes(&appointment).is_ok(), "the notes stay readable");
    case.save().unwrap();

    // Refused, changing nothing: an unknown item, an author who is not on the care team.
    assert_unknown(case.retract_task("nope", by(&ana, "x")), "task");
    assert_unknown(case.retract_medication("nope", by(&ana, "x")), "medication");
    let d = case.add_document(None, DocumentKind::Other, None, "Letter", Location::Both).unwrap();
    case.save().unwrap();
    assert_unknown(case.retract_document(&d, by("stranger", "x")), "caregiver");
    assert_unchanged(&mut case);
    // Without an author or a reason.
    case.retract_document(&d, Retract { today: TODAY, by: None, reason: Some("  ") }).unwrap();
    let r = case.retracted_items().into_iter().find(|r| r.id == d).unwrap();
    assert_eq!((r.retractions[0].by.clone(), r.retractions[0].reason.clone()), (None, None));
}

#[test]
fn a_retracted_opinion_no_longer_counts_in_the_comparison() {
    use casebook_core::model::opinion::NewOpinion;
    let (_s, mut case, ana) = new_case();
    let first = case.add_opinion(NewOpinion { rank: 1, stage: Some("IIIA"), ..Default::default() }).unwrap();
    let second = case.add_opinion(NewOpinion { rank: 2, stage: Some("IV"), ..Default::default() }).unwrap();
    assert!(case.compare_opinions().suggest_third_opinion);
    let third = case.add_opinion(NewOpinion { rank: 3, stage: Some("IIIA"), ..Default::default() }).unwrap();
    assert!(!case.compare_opinions().suggest_third_opinion, "a third opinion settles the suggestion");
    // A third opinion entered by mistake no longer settles it…
    case.retract_opinion(&third, by(&ana, "entered on the wrong case")).unwrap();
    assert!(case.compare_opinions().suggest_third_opinion);
    // … and a retracted second opinion no longer triggers it.
    case.retract_opinion(&second, by(&ana, "typo")).unwrap();
    let c = case.compare_opinions();
    assert!(!c.suggest_third_opinion && c.opinions == 1, "{c:?}");
    assert_eq!(case.opinions().into_iter().map(|o| o.id).collect::<Vec<_>>(), vec![first]);
}

#[test]
fn a_retraction_and_a_concurrent_edit_both_survive_in_either_order() {
    for a_first in [true, false] {
        let (a, mut ca, b, mut cb, it, ana) = two_replicas();
        // Ana retracts the medication on A while Luis, offline on B, corrects its name.
        ca.retract_medication(&it.medication, by(&ana, "not hers")).unwrap();
        cb.edit_medication(&it.medication, MedicationChanges { name: Some("Metformin"), ..Default::default() })
            .unwrap();
        exchange(&a, &mut ca, &b, &mut cb, a_first);

        for c in [&ca, &cb] {
            assert!(c.medications().is_empty(), "the item stays retracted");
            let r = c.retracted_items();
            assert_eq!(r.len(), 1);
            assert_eq!(r[0].name, "Metformin", "the edit is kept, visible among the retracted items");
            assert_eq!(r[0].retractions[0].by.as_deref(), Some(ana.as_str()));
        }
        assert_eq!(ca.retracted_items(), cb.retracted_items());
        assert_eq!(views(&ca), views(&cb));
        assert!(ca.conflicts().is_empty(), "{:?}", ca.conflicts());
    }
}

#[test]
fn two_siblings_retracting_the_same_item_offline_keep_both_entries() {
    for a_first in [true, false] {
        let (a, mut ca, b, mut cb, it, ana) = two_replicas();
        ca.retract_task(&it.task, by(&ana, "done elsewhere")).unwrap();
        cb.retract_task(&it.task, Retract { today: date!(2026 - 03 - 02), by: Some(&it.luis), reason: None }).unwrap();
        exchange(&a, &mut ca, &b, &mut cb, a_first);
        for c in [&ca, &cb] {
            assert!(c.tasks().is_empty());
            let r = c.retracted_items();
            assert_eq!(r.len(), 1);
            let who: Vec<_> = r[0].retractions.iter().map(|e| (e.on, e.by.clone(), e.reason.clone())).collect();
            assert_eq!(
                who,
                vec![
                    (TODAY, Some(ana.clone()), Some("done elsewhere".to_string())),
                    (date!(2026 - 03 - 02), Some(it.luis.clone()), None)
                ]
            );
        }
        assert_eq!(ca.retracted_items(), cb.retracted_items());
        assert!(ca.conflicts().is_empty() && cb.conflicts().is_empty());
    }
}
