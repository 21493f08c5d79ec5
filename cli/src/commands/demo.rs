//! `casebook demo`: two siblings, two phones. Each takes notes offline in the same consultation and edits
//! other fields; then both sync through a relay started in this process on a free port (or, with
//! `--files`, swap exchange files: the "AirDrop to my brother" path) and both end with the same merged
//! case. Runs in temporary directories; touches nothing else.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use casebook_core::model::appointment::{AppointmentField, AppointmentKind, NewAppointment};
use casebook_core::model::critical::Situation;
use casebook_core::model::patient::PatientField;
use casebook_core::model::record_request::{Channel, NewEvent, RecordItem};
use casebook_core::model::specialist::{NciDesignation, NewSpecialist, SpecialistField};
use casebook_core::model::text::TextField;
use casebook_core::relay_api::Role;
use casebook_core::sync::{RelayClient, SharedCase, SyncClient};
use casebook_core::{Store, dates};
use clap::Args;

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

/// `casebook demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Swap exchange files instead of syncing through a relay.
    #[arg(long)]
    files: bool,
}

/// Run the demo.
pub(crate) fn run(ctx: &Ctx, a: DemoArgs) -> Result<()> {
    if a.files { run_files(ctx) } else { run_relay(ctx) }
}

/// The consultation, typed offline on both phones: notes per author, a shared summary, a field both set
/// differently, and other edits.
fn consultation(
    ana: &mut casebook_core::Case,
    ben: &mut casebook_core::Case,
    ana_id: &str,
    ben_id: &str,
    appt: &str,
    sp: &str,
    today: time::Date,
) -> Result<()> {
    let ana_notes = TextField::AppointmentNotes { appointment: appt.to_string(), author: ana_id.to_string() };
    let ben_notes = TextField::AppointmentNotes { appointment: appt.to_string(), author: ben_id.to_string() };
    type_into(ana, &ana_notes, "Dr. Okafor agrees with the diagnosis; wants a PET scan before deciding. ")?;
    type_into(ben, &ben_notes, "Ask about trial NCT-0420 — «immunothérapie» 😀; 診断 confirmed.")?;
    type_into(ana, &TextField::AppointmentSummary(appt.to_string()), "PET first, then decide. ")?;
    type_into(ben, &TextField::AppointmentSummary(appt.to_string()), "Written summary promised within a week.")?;
    ana.set_patient(PatientField::Stage, Some("IIIA"))?;
    ben.set_patient(PatientField::Stage, Some("IIIB"))?;
    ana.set_flag(Situation::AggressiveTreatment, true, Some("chemoradiation proposed"))?;
    ben.set_appointment(appt, AppointmentField::SummaryRequested, Some(&dates::format_date(today)))?;
    ben.set_specialist(sp, SpecialistField::Status, Some("seen"))?;
    let slides = [RecordItem::PathologySlides];
    let req = ana.add_record_request("City Hospital pathology", &slides, Channel::default_for(&slides))?;
    ana.log_request_event(
        &req,
        NewEvent {
            kind: "requested_in_writing",
            date: &dates::format_date(today),
            by: Some(ana_id),
            ..Default::default()
        },
        today,
    )?;
    ana.save()?;
    ben.save()?;
    Ok(())
}

/// Ana's case before the consultation: patient, specialist, appointment. Returns (specialist, appointment).
fn prepare(ana: &mut casebook_core::Case, today: time::Date) -> Result<(String, String)> {
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
        tz: None,
        place: Some("Building B, floor -1 (no Wi-Fi)"),
    })?;
    ana.save()?;
    Ok((sp, appt))
}

/// The relay version: accounts, share, invite, offline edits, sync, merged result.
fn run_relay(ctx: &Ctx) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let today = ctx.today();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let relay = rt
        .block_on(casebook_server::Relay::start(casebook_server::Config::for_tests(&dir.path().join("relay-data"))))
        .context("could not start the in-process relay")?;
    let url = relay.http_url();
    let started = std::time::Instant::now();

    let ana_store = Store::open(&dir.path().join("ana-phone"))?;
    let ben_store = Store::open(&dir.path().join("ben-phone"))?;
    let ana_creds = RelayClient::new(&url)?.create_account("Ana", Some("Ana's phone"))?;
    let ben_creds = RelayClient::new(&url)?.create_account("Ben", Some("Ben's phone"))?;
    let (ana_creds2, ben_creds2) = (ana_creds.clone(), ben_creds.clone());

    // Ana creates the case, puts it on the relay and invites Ben, who joins.
    let (mut ana, ana_id) = ana_store.create_case("Mum", "Ana", Some("daughter"))?;
    let case_id = ana.id().clone();
    let (sp, appt) = prepare(&mut ana, today)?;
    let ana = Arc::new(Mutex::new(ana));
    let wait = Duration::from_secs(30);
    let ana_sync = SyncClient::start(&ana_store, &url, ana_creds)?;
    ana_sync.block_on(ana_sync.share_case(&ana))?;
    ana_sync.block_on(ana_sync.sync_and_wait(&ana, wait))?;
    let invite = ana_sync.relay().create_invite(&case_id, Role::Editor, Some(3600))?;
    RelayClient::with_token(&url, &ben_creds.token)?.redeem_invite(&invite.code)?;
    let ben_sync = SyncClient::start(&ben_store, &url, ben_creds)?;
    let ben = ben_sync.block_on(ben_sync.join_case(&case_id, wait))?;
    let ben_id = {
        let mut b = lock(&ben)?;
        let id = b.add_caregiver("Ben", Some("son"))?;
        b.save()?;
        id
    };
    ben_sync.block_on(ben_sync.sync_and_wait(&ben, wait))?;
    ana_sync.block_on(ana_sync.sync_and_wait(&ana, wait))?;
    // The basement: no network. Both phones stop syncing while they type.
    ana_sync.stop()?;
    ben_sync.stop()?;
    consultation(&mut *lock(&ana)?, &mut *lock(&ben)?, &ana_id, &ben_id, &appt, &sp, today)?;

    // Back upstairs: both phones reconnect and sync; the relay forwards each one's edits to the other.
    let sync_started = std::time::Instant::now();
    let ana_sync = SyncClient::start(&ana_store, &url, ana_creds2)?;
    let ben_sync = SyncClient::start(&ben_store, &url, ben_creds2)?;
    ana_sync.block_on(ana_sync.sync_and_wait(&ana, wait))?;
    ben_sync.block_on(ben_sync.sync_and_wait(&ben, wait))?;
    ana_sync.block_on(ana_sync.sync_and_wait(&ana, wait))?;
    let sync_ms = sync_started.elapsed().as_millis();
    let same = {
        let (mut a, mut b) = (lock(&ana)?, lock(&ben)?);
        a.state()? == b.state()? && a.notes(&appt)? == b.notes(&appt)?
    };
    let saved = ana_sync.status(&case_id).saved_to_relay && ben_sync.status(&case_id).saved_to_relay;
    ana_sync.stop()?;
    ben_sync.stop()?;
    rt.block_on(relay.shutdown());
    let header = format!(
        "Two siblings, two phones, one relay (started here at {url}).\n\
         Sync after the consultation took {sync_ms} ms; every edit saved to the relay: {}.\n\
         Both phones now hold the same case: {}  (demo ran in {} ms)\n",
        if saved { "yes" } else { "NO" },
        if same { "yes" } else { "NO" },
        started.elapsed().as_millis()
    );
    report(
        ctx,
        &mut *lock(&ana)?,
        &appt,
        today,
        header,
        serde_json::json!({"identical": same, "saved_to_relay": saved, "sync_ms": sync_ms}),
    )
}

/// Lock a case shared with a sync client.
fn lock(case: &SharedCase) -> Result<std::sync::MutexGuard<'_, casebook_core::Case>> {
    case.lock().map_err(|_| anyhow::anyhow!("the case is unusable"))
}

/// Print the merged case.
fn report(
    ctx: &Ctx,
    ana: &mut casebook_core::Case,
    appt: &str,
    today: time::Date,
    header: String,
    extra: serde_json::Value,
) -> Result<()> {
    let notes = ana.notes(appt)?;
    if ctx.json() {
        let mut v = serde_json::json!({
            "notes": notes,
            "conflicts": ana.conflicts(),
            "progress": ana.progress(today),
        });
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        return output::json(&v);
    }
    let name = |id: &str| ana.caregiver(id).map(|c| c.name).unwrap_or_else(|| id.to_string());
    let mut out = header;
    out.push('\n');
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

/// The file version (no relay).
fn run_files(ctx: &Ctx) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let today = ctx.today();
    let ana_store = Store::open(&dir.path().join("ana-phone"))?;
    let ben_store = Store::open(&dir.path().join("ben-phone"))?;

    // Ana creates the case and shares it with Ben once, before the consultation.
    let (mut ana, ana_id) = ana_store.create_case("Mum", "Ana", Some("daughter"))?;
    let case_id = ana.id().clone();
    let (sp, appt) = prepare(&mut ana, today)?;
    ben_store.import_changes(&ana_store.export_changes(&case_id, None)?)?;
    let mut ben = ben_store.open_case(&case_id)?;
    let ben_id = ben.add_caregiver("Ben", Some("son"))?;
    ben.save()?;
    ana_store.import_changes(&ben_store.export_changes(&case_id, None)?)?;
    let mut ana = ana_store.open_case(&case_id)?;
    consultation(&mut ana, &mut ben, &ana_id, &ben_id, &appt, &sp, today)?;

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
    let header = format!(
        "Two siblings, two phones, no network.\nExchanged files: Ana → Ben {} bytes, Ben → Ana {} bytes.\n\
         Both phones now hold the same case: {}\n",
        to_ben.len(),
        to_ana.len(),
        if same { "yes" } else { "NO" }
    );
    let extra = serde_json::json!({"identical": same, "exchange_bytes": {"ana_to_ben": to_ben.len(), "ben_to_ana": to_ana.len()}});
    report(ctx, &mut ana, &appt, today, header, extra)
}
