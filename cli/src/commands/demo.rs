//! `casebook demo`: two siblings, two phones, no network. Each takes notes offline in the same
//! consultation and edits other fields; they swap exchange files (the "AirDrop to my brother" path) and
//! both end with the same merged case. Runs in temporary directories; touches nothing else.

use anyhow::Result;
use casebook_core::model::appointment::{AppointmentField, AppointmentKind, NewAppointment};
use casebook_core::model::critical::Situation;
use casebook_core::model::patient::PatientField;
use casebook_core::model::record_request::{Channel, NewEvent, RecordItem};
use casebook_core::model::specialist::{NciDesignation, NewSpecialist, SpecialistField};
use casebook_core::model::text::TextField;
use casebook_core::{Store, dates};

use crate::context::Ctx;
use crate::output;

/// Type `text` one character at a time, as a phone keyboard does, saving every few keystrokes.
fn type_into(case: &mut casebook_core::Case, field: &TextField, text: &str) -> Result<()> {
    for (i, ch) in text.chars().enumerate() {
        let end = case.text_len(field)?;
        case.splice_text(field, end, 0, ch.encode_utf8(&mut [0; 4]))?;
        if i % 8 == 7 {
            case.save()?;
        }
    }
    case.save()?;
    Ok(())
}

/// Run the demo.
pub(crate) fn run(ctx: &Ctx) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let ana_store = Store::open(&dir.path().join("ana-phone"))?;
    let ben_store = Store::open(&dir.path().join("ben-phone"))?;
    let today = ctx.today();

    // Ana creates the case and shares it with Ben once, before the consultation.
    let (mut ana, ana_id) = ana_store.create_case("Mum", "Ana", Some("daughter"))?;
    let case_id = ana.id().clone();
    ana.set_patient(PatientField::CancerType, Some("lung"))?;
    ana.set_patient(PatientField::DiagnosisDate, Some(&dates::format_date(today - time::Duration::days(10))))?;
    let sp = ana.add_specialist(NewSpecialist {
        name: "Dr. Okafor",
        subspecialty: Some("thoracic oncology"),
        institution: Some("University Cancer Center"),
        nci: Some(NciDesignation::Comprehensive),
        contact: None,
    })?;
    let appt = ana.add_appointment(NewAppointment {
        kind: Some(AppointmentKind::SecondOpinion),
        specialist: Some(&sp),
        start: Some(&format!("{}T09:30", dates::format_date(today))),
        place: Some("Building B, floor -1 (no Wi-Fi)"),
    })?;
    ana.save()?;
    ben_store.import_changes(&ana_store.export_changes(&case_id, None)?)?;
    let mut ben = ben_store.open_case(&case_id)?;
    let ben_id = ben.add_caregiver("Ben", Some("son"))?;
    ben.save()?;

    // In the basement: both type notes in the same consultation, and edit other fields, offline.
    let ana_notes = TextField::AppointmentNotes { appointment: appt.clone(), author: ana_id.clone() };
    let ben_notes = TextField::AppointmentNotes { appointment: appt.clone(), author: ben_id.clone() };
    type_into(&mut ana, &ana_notes, "Dr. Okafor agrees with the diagnosis; wants a PET scan before deciding. ")?;
    type_into(&mut ben, &ben_notes, "Ask about trial NCT-0420 — «immunothérapie» 😀; 診断 confirmed.")?;
    type_into(&mut ana, &TextField::AppointmentSummary(appt.clone()), "PET first, then decide. ")?;
    type_into(&mut ben, &TextField::AppointmentSummary(appt.clone()), "Written summary promised within a week.")?;
    ana.set_patient(PatientField::Stage, Some("IIIA"))?;
    ben.set_patient(PatientField::Stage, Some("IIIB"))?;
    ana.set_flag(Situation::AggressiveTreatment, true, Some("chemoradiation proposed"))?;
    ben.set_appointment(&appt, AppointmentField::SummaryRequested, Some(&dates::format_date(today)))?;
    ben.set_specialist(&sp, SpecialistField::Status, Some("seen"))?;
    let req = ana.add_record_request("City Hospital pathology", &[RecordItem::PathologySlides], Channel::PatientRequest)?;
    ana.log_request_event(&req, NewEvent { kind: "requested_in_writing", date: &dates::format_date(today), by: Some(&ana_id), ..Default::default() })?;
    ana.save()?;
    ben.save()?;

    // Back home: they swap files, each sending only what the other lacks.
    let ana_state = ana.state()?;
    let ben_state = ben.state()?;
    let to_ben = ana_store.export_changes(&case_id, Some(&ben_state))?;
    let to_ana = ben_store.export_changes(&case_id, Some(&ana_state))?;
    ben_store.import_changes(&to_ben)?;
    ana_store.import_changes(&to_ana)?;
    let mut ana = ana_store.open_case(&case_id)?;
    let mut ben = ben_store.open_case(&case_id)?;
    let same = ana.state()? == ben.state()? && ana.notes(&appt)? == ben.notes(&appt)?;

    let notes = ana.notes(&appt)?;
    if ctx.json() {
        return output::json(&serde_json::json!({
            "identical": same,
            "exchange_bytes": {"ana_to_ben": to_ben.len(), "ben_to_ana": to_ana.len()},
            "notes": notes,
            "conflicts": ana.conflicts(),
            "progress": ana.progress(today),
        }));
    }
    let name = |id: &str| ana.caregiver(id).map(|c| c.name).unwrap_or_else(|| id.to_string());
    let mut out = String::new();
    out.push_str("Two siblings, two phones, no network.\n");
    out.push_str(&format!("Exchanged files: Ana → Ben {} bytes, Ben → Ana {} bytes.\n", to_ben.len(), to_ana.len()));
    out.push_str(&format!("Both phones now hold the same case: {}\n\n", if same { "yes" } else { "NO" }));
    out.push_str("Notes from the consultation (one text per caregiver, nothing interleaved):\n");
    for n in &notes.by_author {
        out.push_str(&format!("  {}: {}\n", name(&n.author), n.text));
    }
    out.push_str(&format!("  Shared summary: {}\n\n", notes.summary));
    out.push_str("Set differently on each phone — shown, not hidden:\n");
    for c in ana.conflicts() {
        out.push_str(&format!("  {}: {}  (pick one with `casebook resolve`)\n", c.path, c.values.join(" | ")));
    }
    out.push_str("\nProgress:\n");
    for s in ana.progress(today).steps {
        let mark = if s.done { "✓" } else { "·" };
        out.push_str(&format!("  {mark} {}. {}", s.number, s.title));
        if let Some(n) = s.next {
            out.push_str(&format!(" — next: {n}"));
        }
        out.push('\n');
    }
    output::print(&out)
}
