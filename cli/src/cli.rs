//! Command-line flags and the top-level commands. Each part of the case has its own subcommands, defined
//! next to their implementation in [`crate::commands`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands::{
    appointment, care_team, case, conflict, cost, critical, decision, demo, exchange, history, notes, opinion, patient,
    preferences, question, record_request, records, relay, specialist, symptoms, task, text,
};

/// Organise a cancer second opinion with your family, offline. Data stays in a local store; share it with
/// `export` and `import`.
#[derive(Debug, Parser)]
#[command(
    name = "casebook",
    version,
    propagate_version = true,
    max_term_width = 100,
    args_override_self = true,
    after_long_help = crate::failure::EXIT_HELP
)]
pub(crate) struct Cli {
    /// Flags every command accepts.
    #[command(flatten)]
    pub(crate) global: Global,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags every command accepts (before or after the subcommand).
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Directory of the local store.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "CASEBOOK_STORE",
        default_value = "./casebook-store",
        value_name = "DIR"
    )]
    pub(crate) store: PathBuf,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true, help_heading = "Global options")]
    pub(crate) json: bool,
    /// Case to work on, by id or unique id prefix (default: the only case in the store).
    #[arg(long = "case", global = true, help_heading = "Global options", env = "CASEBOOK_CASE", value_name = "ID")]
    pub(crate) case: Option<String>,
    /// Caregiver (id, id prefix or name) who writes notes, answers, questions and request events
    /// (default: this device's caregiver, see `casebook me`).
    #[arg(long = "as", global = true, help_heading = "Global options", env = "CASEBOOK_AS", value_name = "CAREGIVER")]
    pub(crate) author: Option<String>,
    /// Date that days left, overdue requests, the agenda and progress are computed for (default: today in
    /// the --tz zone).
    #[arg(long, global = true, help_heading = "Global options", value_name = "YYYY-MM-DD")]
    pub(crate) today: Option<String>,
    /// Your time zone, an IANA name such as America/Los_Angeles: "today", "late" and "days left" follow it,
    /// and new appointments take it (default: the system's zone — TZ, else /etc/localtime — or UTC if none
    /// is found).
    #[arg(long, global = true, help_heading = "Global options", env = "CASEBOOK_TZ", value_name = "ZONE")]
    pub(crate) tz: Option<String>,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create the store directory (does nothing if it exists).
    Init,
    /// See Casebook work: two siblings take notes offline in the same consultation, then sync through a relay
    /// started in this process (or swap files with --files) and print the merged case.
    Demo(demo::DemoArgs),
    /// This device's account on a relay.
    #[command(subcommand)]
    Account(relay::AccountCmd),
    /// Invite codes: create one (owner) or accept one to join a case.
    #[command(subcommand)]
    Invite(relay::InviteCmd),
    /// List the members of the case on the relay, with when each last synced it.
    Members,
    /// Remove a member from the case (owner), or leave it (your own account id; the last owner names a
    /// successor).
    RemoveMember(relay::RemoveMemberArgs),
    /// Change a member's role (owner): make a co-owner, an editor or a viewer, or step down yourself.
    SetRole(relay::SetRoleArgs),
    /// Sync the case with the relay: returns when up to date, or fails with the reason.
    Sync(relay::SyncArgs),
    /// Attach a file (photo, scan, PDF, recording) to a document of the chronology, a record request, an
    /// appointment or an opinion: kept on this device, uploaded by `casebook sync`. A photo's location is
    /// removed unless --keep-location.
    Attach(crate::commands::attachment::AttachArgs),
    /// The attachments of the case, or of one item.
    Attachments(crate::commands::attachment::ListArgs),
    /// Write an attachment to a file (downloading it first if it is not on this device), verified by its
    /// hash.
    OpenAttachment(crate::commands::attachment::OpenArgs),
    /// Keep an attachment on this device: `casebook sync` downloads it (--off to stop).
    KeepOffline(crate::commands::attachment::KeepOfflineArgs),
    /// Create, list, show and delete cases.
    #[command(subcommand)]
    Case(case::CaseCmd),
    /// The patient and the diagnosis.
    #[command(subcommand)]
    Patient(patient::PatientCmd),
    /// The date by which a treatment decision is agreed, and the days left.
    #[command(subcommand)]
    Decision(decision::DecisionCmd),
    /// Set or clear a critical situation (when a second opinion is strongly advised).
    #[command(subcommand)]
    Flag(critical::FlagCmd),
    /// List the critical situations and the verdict.
    Flags,
    /// Specialists to research and contact.
    #[command(subcommand)]
    Specialist(specialist::SpecialistCmd),
    /// Record requests (slides, imaging, reports) and their event logs.
    #[command(subcommand)]
    Request(record_request::RequestCmd),
    /// Record requests past their legal due date.
    Overdue,
    /// The records chronology.
    #[command(subcommand)]
    Document(records::DocumentCmd),
    /// The medication list.
    #[command(subcommand)]
    Medication(records::MedicationCmd),
    /// The family cancer history.
    #[command(subcommand)]
    History(records::HistoryCmd),
    /// Symptoms and concerns (shared text).
    #[command(subcommand)]
    Symptoms(symptoms::SymptomsCmd),
    /// Questions to ask, and the answers heard.
    #[command(subcommand)]
    Question(question::QuestionCmd),
    /// Appointments: when, where, who attends, recording consent, written summary.
    #[command(subcommand)]
    Appointment(appointment::AppointmentCmd),
    /// Your own notes of an appointment (one text per caregiver).
    #[command(subcommand)]
    Notes(notes::NotesCmd),
    /// The shared summary of an appointment.
    #[command(subcommand)]
    Summary(notes::SummaryCmd),
    /// Any shared text field, edited by position (UTF-16 code units).
    #[command(subcommand)]
    Text(text::TextCmd),
    /// Each doctor's opinion, and how they compare.
    #[command(subcommand)]
    Opinion(opinion::OpinionCmd),
    /// The care team.
    #[command(subcommand)]
    Caregiver(care_team::CaregiverCmd),
    /// Which caregiver uses this device for the case.
    #[command(subcommand)]
    Me(care_team::MeCmd),
    /// The patient's preferences.
    #[command(subcommand)]
    Prefs(preferences::PrefsCmd),
    /// Tasks shared among the care team.
    #[command(subcommand)]
    Task(task::TaskCmd),
    /// Costs of seeking opinions, with totals.
    #[command(subcommand)]
    Cost(cost::CostCmd),
    /// What comes next, in time order: appointments, the decision date, records due, slides to return,
    /// tasks — with what is late.
    Agenda,
    /// The case as a calendar file (.ics) for your calendar app: appointments, the decision date, records
    /// due, slides to return, tasks due. Titles are generic ("Medical appointment") unless --details;
    /// importing a newer file updates the events and removes those that no longer apply.
    Calendar(crate::commands::calendar::CalendarArgs),
    /// A record request as a letter to sign and send (text, or a PDF with --out letter.pdf): the patient's
    /// right-of-access request for the records (with the 30-day rule), and a loan request for slides and
    /// blocks.
    Letter(crate::commands::letter::LetterArgs),
    /// The case for the new specialist (records, medications, history, opinions, questions, contacts): a PDF
    /// (--out packet.pdf, --appendix encloses the attached images and PDFs) or one self-contained HTML page.
    Packet(crate::commands::packet::PacketArgs),
    /// Progress through the guide's seven steps.
    Progress,
    /// What was retracted (items removed by mistake, retracted record requests): by whom, when and why.
    Retracted,
    /// Fields that two caregivers set differently at the same time.
    Conflicts,
    /// Keep one value of a conflicting field.
    Resolve(conflict::ResolveArgs),
    /// Who did what: every value a field took (or every change of an item), by whom and when.
    Log(history::LogArgs),
    /// Write the case's changes to an exchange file for another device.
    Export(exchange::ExportArgs),
    /// Merge an exchange file into this store (importing twice is harmless).
    Import(exchange::ImportArgs),
    /// Print the case's state (what this store has), for `export --since` on another device.
    State(exchange::StateArgs),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent() {
        super::Cli::command().debug_assert();
    }
}
