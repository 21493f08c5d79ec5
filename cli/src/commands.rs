//! The commands, one file per part of the case. Each file defines its subcommands (clap) and runs them:
//! reads print the core's read structs (as text or `--json`), writes apply one named operation and save.

pub(crate) mod agenda;
pub(crate) mod appointment;
pub(crate) mod attachment;
pub(crate) mod calendar;
pub(crate) mod care_team;
pub(crate) mod case;
pub(crate) mod conflict;
pub(crate) mod cost;
pub(crate) mod critical;
pub(crate) mod decision;
pub(crate) mod demo;
pub(crate) mod exchange;
pub(crate) mod history;
pub(crate) mod letter;
pub(crate) mod notes;
pub(crate) mod opinion;
pub(crate) mod packet;
pub(crate) mod patient;
pub(crate) mod preferences;
pub(crate) mod progress;
pub(crate) mod question;
pub(crate) mod record_request;
pub(crate) mod records;
pub(crate) mod relay;
pub(crate) mod retracted;
pub(crate) mod specialist;
pub(crate) mod store;
pub(crate) mod symptoms;
pub(crate) mod task;
pub(crate) mod text;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::context::Ctx;

/// Run a parsed command line.
pub(crate) fn run(cli: Cli) -> Result<()> {
    let ctx = Ctx::new(cli.global)?;
    match cli.command {
        Command::Init => store::init(&ctx),
        Command::Demo(a) => demo::run(&ctx, a),
        Command::Account(c) => relay::account_cmd(&ctx, c),
        Command::Invite(c) => relay::invite(&ctx, c),
        Command::Members => relay::members(&ctx),
        Command::RemoveMember(a) => relay::remove_member(&ctx, a),
        Command::SetRole(a) => relay::set_role(&ctx, a),
        Command::Sync(a) => relay::sync(&ctx, a),
        Command::Attach(a) => attachment::attach(&ctx, a),
        Command::Attachments(a) => attachment::list(&ctx, a),
        Command::OpenAttachment(a) => attachment::open_attachment(&ctx, a),
        Command::KeepOffline(a) => attachment::keep_offline(&ctx, a),
        Command::Case(c) => case::run(&ctx, c),
        Command::Patient(c) => patient::run(&ctx, c),
        Command::Decision(c) => decision::run(&ctx, c),
        Command::Flag(c) => critical::run(&ctx, c),
        Command::Flags => critical::list(&ctx),
        Command::Specialist(c) => specialist::run(&ctx, c),
        Command::Request(c) => record_request::run(&ctx, c),
        Command::Overdue => record_request::overdue(&ctx),
        Command::Document(c) => records::run_documents(&ctx, c),
        Command::Medication(c) => records::run_medications(&ctx, c),
        Command::History(c) => records::run_history(&ctx, c),
        Command::Symptoms(c) => symptoms::run(&ctx, c),
        Command::Question(c) => question::run(&ctx, c),
        Command::Appointment(c) => appointment::run(&ctx, c),
        Command::Notes(c) => notes::run_notes(&ctx, c),
        Command::Summary(c) => notes::run_summary(&ctx, c),
        Command::Text(c) => text::run(&ctx, c),
        Command::Opinion(c) => opinion::run(&ctx, c),
        Command::Caregiver(c) => care_team::run_caregivers(&ctx, c),
        Command::Me(c) => care_team::run_me(&ctx, c),
        Command::Prefs(c) => preferences::run(&ctx, c),
        Command::Task(c) => task::run(&ctx, c),
        Command::Cost(c) => cost::run(&ctx, c),
        Command::Agenda => agenda::show(&ctx),
        Command::Calendar(a) => calendar::export(&ctx, a),
        Command::Letter(a) => letter::print(&ctx, a),
        Command::Packet(a) => packet::export(&ctx, a),
        Command::Progress => progress::show(&ctx),
        Command::Retracted => retracted::list(&ctx),
        Command::Conflicts => conflict::list(&ctx),
        Command::Resolve(a) => conflict::resolve(&ctx, a),
        Command::Log(a) => history::log(&ctx, a),
        Command::Export(a) => exchange::export(&ctx, a),
        Command::Import(a) => exchange::import(&ctx, a),
        Command::State(a) => exchange::state(&ctx, a),
    }
}
