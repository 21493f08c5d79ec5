//! `casebook case`: create, list, show (the overview) and delete cases.

use anyhow::Result;
use casebook_core::CaseId;
use casebook_core::model::critical::Verdict;
use casebook_core::model::decision::DecisionWindow;
use casebook_core::model::patient::Patient;
use casebook_core::model::plausibility::Warning;
use casebook_core::model::progress::Progress;
use casebook_core::model::team::Caregiver;
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::commands::{critical, decision, patient, progress};
use crate::context::Ctx;
use crate::{failure, output};

/// Subcommands of `casebook case`.
#[derive(Debug, Subcommand)]
pub(crate) enum CaseCmd {
    /// Create a case for a patient, with you as its first caregiver (creates the store if needed).
    Create(CreateArgs),
    /// List the cases in the store, by patient name.
    List,
    /// Overview: patient, decision date and days left, verdict, progress and counts.
    Show,
    /// Put the case on the relay (you become its owner) and print an invite code for a sibling.
    Share(super::relay::ShareArgs),
    /// Delete the case and all its notes from this store (other devices keep their copy).
    Delete {
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
    },
}

/// Arguments of `case create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// How the family refers to the patient.
    #[arg(long, value_name = "NAME")]
    patient: String,
    /// Your name (you become this device's caregiver for the case).
    #[arg(long = "me", value_name = "NAME")]
    me: String,
    /// Your relationship to the patient (e.g. daughter).
    #[arg(long, value_name = "R")]
    relationship: Option<String>,
}

/// Run a `case` subcommand.
pub(crate) fn run(ctx: &Ctx, cmd: CaseCmd) -> Result<()> {
    match cmd {
        CaseCmd::Create(a) => create(ctx, a),
        CaseCmd::List => list(ctx),
        CaseCmd::Show => show(ctx),
        CaseCmd::Share(a) => super::relay::share(ctx, a),
        CaseCmd::Delete { yes } => delete(ctx, yes),
    }
}

#[derive(Serialize)]
struct Created {
    case: CaseId,
    me: String,
}

fn create(ctx: &Ctx, a: CreateArgs) -> Result<()> {
    let store = ctx.store_or_create()?;
    let (case, me) = store.create_case(&a.patient, &a.me, a.relationship.as_deref())?;
    let created = Created { case: case.id().clone(), me };
    output::emit(ctx, &created, |c| format!("Created case {}.\nYou are caregiver {} on this device.", c.case, c.me))
}

fn list(ctx: &Ctx) -> Result<()> {
    let mut cases = ctx.store()?.list_cases()?;
    // By patient name, then id (cases that cannot be opened, without a name, last).
    cases.sort_by_cached_key(|c| {
        (c.display_name.is_none(), c.display_name.as_deref().map(str::to_lowercase), c.id.to_string())
    });
    output::emit(ctx, &cases, |cases| {
        let rows: Vec<Vec<String>> = cases
            .iter()
            .map(|c| {
                let name = match (&c.display_name, &c.error) {
                    (_, Some(e)) => format!("(cannot open: {e})"),
                    (Some(n), None) => output::line(n),
                    (None, None) => "(no name)".into(),
                };
                vec![c.id.to_string(), name]
            })
            .collect();
        output::table_or(
            "No cases yet: casebook case create --patient NAME --me YOUR_NAME",
            &["CASE", "PATIENT"],
            &rows,
        )
    })
}

/// How many of each part a case holds.
#[derive(Serialize)]
struct Counts {
    caregivers: usize,
    specialists: usize,
    record_requests: usize,
    overdue_requests: usize,
    documents: usize,
    medications: usize,
    family_history: usize,
    questions: usize,
    unanswered_questions: usize,
    appointments: usize,
    opinions: usize,
    open_tasks: usize,
    costs: usize,
    cost_total_cents: u64,
    conflicts: usize,
}

/// The case overview.
#[derive(Serialize)]
struct Overview {
    id: CaseId,
    patient: Patient,
    age: Option<u64>,
    decision: DecisionWindow,
    verdict: Verdict,
    progress: Progress,
    me: Option<Caregiver>,
    counts: Counts,
    /// What looks like a typing mistake (see `Case::plausibility`).
    warnings: Vec<Warning>,
}

fn show(ctx: &Ctx) -> Result<()> {
    let open = ctx.open()?;
    let case = &open.case;
    let today = ctx.today();
    let patient = case.patient();
    let questions = case.questions();
    let me = ctx.author_opt(&open)?.and_then(|id| case.caregiver(&id));
    let overview = Overview {
        id: case.id().clone(),
        age: patient.age_at(today),
        patient,
        decision: case.decision_window(today),
        verdict: case.verdict(),
        progress: case.progress_at(ctx.now()),
        me,
        counts: Counts {
            caregivers: case.care_team().len(),
            specialists: case.specialists().len(),
            record_requests: case.record_requests().len(),
            overdue_requests: case.overdue_requests(today).len(),
            documents: case.documents().len(),
            medications: case.medications().len(),
            family_history: case.family_history().len(),
            unanswered_questions: questions.iter().filter(|q| q.answers.is_empty()).count(),
            questions: questions.len(),
            appointments: case.appointments().len(),
            opinions: case.opinions().len(),
            open_tasks: case.tasks().iter().filter(|t| !t.done).count(),
            costs: case.costs().len(),
            cost_total_cents: case.cost_totals().total_cents,
            conflicts: case.conflicts().len(),
        },
        warnings: case.plausibility(today),
    };
    output::emit(ctx, &overview, human_overview)
}

fn human_overview(o: &Overview) -> String {
    let p = &o.patient;
    let c = &o.counts;
    let mut out = vec![format!("Case {}", o.id)];
    out.push(format!("Patient: {}", output::opt(p.display_name.as_deref())));
    out.push(patient::diagnosis_line(p, o.age));
    out.push(format!("Decision: {}", decision::window_line(&o.decision)));
    out.push(critical::verdict_line(&o.verdict));
    out.push(format!("Progress: {}", progress::summary_line(&o.progress)));
    if let Some(me) = &o.me {
        out.push(format!("You: {} ({})", output::line(&me.name), me.id));
    }
    out.push(String::new());
    out.push(format!("Care team: {}", c.caregivers));
    out.push(format!("Specialists: {}", c.specialists));
    out.push(format!("Record requests: {} ({} overdue)", c.record_requests, c.overdue_requests));
    out.push(format!(
        "Documents: {}, medications: {}, family history: {}",
        c.documents, c.medications, c.family_history
    ));
    out.push(format!("Questions: {} ({} unanswered)", c.questions, c.unanswered_questions));
    out.push(format!("Appointments: {}, opinions: {}", c.appointments, c.opinions));
    out.push(format!("Open tasks: {}", c.open_tasks));
    out.push(format!("Costs: {} (total {})", c.costs, output::money(c.cost_total_cents)));
    if c.conflicts > 0 {
        out.push(format!("Conflicts to resolve: {} (casebook conflicts)", c.conflicts));
    }
    if !o.warnings.is_empty() {
        out.push(String::new());
        out.push("Worth checking:".into());
        out.extend(o.warnings.iter().map(|w| format!("  - {}", output::line(&w.message))));
    }
    out.join("\n")
}

fn delete(ctx: &Ctx, yes: bool) -> Result<()> {
    let store = ctx.store()?;
    let id = ctx.case_id(&store)?;
    if !yes {
        return Err(failure::usage(format!(
            "this deletes case {id} and all its notes from this store: run again with --yes to confirm"
        )));
    }
    store.delete_case(&id)?;
    output::saved(ctx, &format!("Deleted case {id} from this store."))
}
