//! `casebook appointment`: when and where, who attends, recording consent and the written summary.

use std::collections::BTreeMap;

use anyhow::Result;
use casebook_core::dates::{Zone, format_date};
use casebook_core::model::appointment::{Appointment, AppointmentField, AppointmentKind, NewAppointment};
use clap::{Args, Subcommand};
use serde::Serialize;
use time::PrimitiveDateTime;

use crate::commands::notes;
use crate::commands::retracted;
use crate::context::Ctx;
use crate::keyed::keyed;
use crate::{failure, lookup, output};
use casebook_core::model::retraction::ItemKind;

/// Subcommands of `casebook appointment`.
#[derive(Debug, Subcommand)]
pub(crate) enum AppointmentCmd {
    /// Add an appointment.
    Add(AddArgs),
    /// Set a field: kind, specialist (id), start (YYYY-MM-DDTHH:MM, local time of the place), tz (the
    /// place's time zone, e.g. America/New_York), place, summary_requested or summary_received (YYYY-MM-DD).
    Set {
        /// Appointment id (or unique prefix).
        id: String,
        /// The field.
        #[arg(value_parser = keyed::<AppointmentField>())]
        field: AppointmentField,
        /// The new value.
        value: String,
    },
    /// Clear a field (all but kind).
    Clear {
        /// Appointment id (or unique prefix).
        id: String,
        /// The field.
        #[arg(value_parser = keyed::<AppointmentField>())]
        field: AppointmentField,
    },
    /// List appointments by start time.
    List,
    /// Show an appointment with everyone's notes and the shared summary.
    Show {
        /// Appointment id (or unique prefix).
        id: String,
    },
    /// Add (or with --remove, remove) someone who attends.
    Attend {
        /// Appointment id (or unique prefix).
        id: String,
        /// Who (name as you write it).
        person: String,
        /// Remove them instead.
        #[arg(long)]
        remove: bool,
    },
    /// Mark whether the appointment took place: `yes` (attended), `no` (missed or cancelled), or `unset`
    /// (follow its start time: attended once it has passed).
    Attended {
        /// Appointment id (or unique prefix).
        id: String,
        /// yes, no or unset.
        #[arg(value_parser = ["yes", "no", "unset"], default_value = "yes")]
        mark: String,
    },
    /// Record that someone present consented to recording the consultation.
    Consent {
        /// Appointment id (or unique prefix).
        id: String,
        /// Who consented.
        person: String,
        /// When (YYYY-MM-DD; default: today).
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
    },
    /// Retract an appointment entered by mistake: nothing is deleted; it leaves the lists and stays, with who
    /// retracted it, when and why, in `casebook retracted`.
    #[command(visible_alias = "retract")]
    Remove {
        /// Appointment id (or unique prefix).
        id: String,
        /// Why (optional; `-` reads it from standard input).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// Arguments of `appointment add`.
#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// Kind of appointment.
    #[arg(long, value_parser = keyed::<AppointmentKind>())]
    kind: AppointmentKind,
    /// Specialist id (or unique prefix).
    #[arg(long)]
    specialist: Option<String>,
    /// Start, local time of the place.
    #[arg(long, value_name = "YYYY-MM-DDTHH:MM")]
    start: Option<String>,
    /// Time zone of the place, an IANA name such as America/New_York (default: yours, see --tz).
    #[arg(long, value_name = "ZONE")]
    zone: Option<String>,
    /// Place.
    #[arg(long)]
    place: Option<String>,
    /// Who attends (repeat the flag).
    #[arg(long = "attendee", value_name = "NAME")]
    attendees: Vec<String>,
}

/// Run an `appointment` subcommand.
pub(crate) fn run(ctx: &Ctx, cmd: AppointmentCmd) -> Result<()> {
    match cmd {
        AppointmentCmd::Add(a) => {
            let id = output::edit(ctx, |o| {
                let specialist = a.specialist.as_deref().map(|s| lookup::specialist(&o.case, s)).transpose()?;
                let id = o.case.add_appointment(NewAppointment {
                    kind: Some(a.kind),
                    specialist: specialist.as_deref(),
                    start: a.start.as_deref(),
                    tz: a.zone.as_deref().or(ctx.zone_name()),
                    place: a.place.as_deref(),
                })?;
                for p in &a.attendees {
                    o.case.set_attendee(&id, p, true)?;
                }
                Ok(id)
            })?;
            output::added(ctx, "appointment", &id)
        }
        AppointmentCmd::Set { id, field, value } => {
            output::edit(ctx, |o| {
                let id = lookup::appointment(&o.case, &id)?;
                let value = match field {
                    AppointmentField::Specialist => lookup::specialist(&o.case, &value)?,
                    _ => value,
                };
                Ok(o.case.set_appointment(&id, field, Some(&value))?)
            })?;
            output::saved(ctx, &format!("Appointment {field} set."))
        }
        AppointmentCmd::Clear { id, field } => {
            output::edit(ctx, |o| {
                let id = lookup::appointment(&o.case, &id)?;
                Ok(o.case.set_appointment(&id, field, None)?)
            })?;
            output::saved(ctx, &format!("Appointment {field} cleared."))
        }
        AppointmentCmd::List => {
            let open = ctx.open()?;
            let specialists = specialist_names(&open.case);
            output::emit(ctx, &open.case.appointments(), |list| {
                if list.is_empty() {
                    return "No appointments yet: casebook appointment add --kind second_opinion --start YYYY-MM-DDTHH:MM"
                        .into();
                }
                list.iter().map(|a| describe(ctx, a, &specialists)).collect::<Vec<_>>().join("\n\n")
            })
        }
        AppointmentCmd::Show { id } => show(ctx, &id),
        AppointmentCmd::Attend { id, person, remove } => {
            output::edit(ctx, |o| {
                let id = lookup::appointment(&o.case, &id)?;
                Ok(o.case.set_attendee(&id, &person, !remove)?)
            })?;
            output::saved(ctx, if remove { "Attendee removed." } else { "Attendee added." })
        }
        AppointmentCmd::Attended { id, mark } => {
            let value = match mark.as_str() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            };
            output::edit(ctx, |o| {
                let id = lookup::appointment(&o.case, &id)?;
                Ok(o.case.set_attended(&id, value)?)
            })?;
            output::saved(
                ctx,
                match value {
                    Some(true) => "Marked attended.",
                    Some(false) => "Marked not attended.",
                    None => "Attendance mark cleared: it follows the start time.",
                },
            )
        }
        AppointmentCmd::Consent { id, person, date } => {
            let date = date.unwrap_or_else(|| format_date(ctx.today()));
            output::edit(ctx, |o| {
                let id = lookup::appointment(&o.case, &id)?;
                Ok(o.case.record_consent(&id, &person, &date)?)
            })?;
            output::saved(ctx, &format!("Recording consent recorded ({date})."))
        }
        AppointmentCmd::Remove { id, reason } => {
            retracted::retract(ctx, ItemKind::Appointment, reason, |c| lookup::appointment(c, &id))
        }
    }
}

#[derive(Serialize)]
struct Shown {
    appointment: Appointment,
    notes: notes::NamedNotes,
}

fn show(ctx: &Ctx, id: &str) -> Result<()> {
    let mut open = ctx.open()?;
    let id = lookup::appointment(&open.case, id)?;
    let appointment = open
        .case
        .appointments()
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(|| failure::not_found(format!("no appointment with id {id} in this case")))?;
    let specialists = specialist_names(&open.case);
    let shown = Shown { appointment, notes: notes::named_notes(&mut open.case, &id)? };
    output::emit(ctx, &shown, |s| {
        format!("{}\n\n{}", describe(ctx, &s.appointment, &specialists), notes::human(&s.notes))
    })
}

/// Specialists by id: live ones by name, retracted ones as `name (retracted)`.
fn specialist_names(case: &casebook_core::Case) -> BTreeMap<String, String> {
    let retracted = case
        .retracted_items()
        .into_iter()
        .filter(|r| r.kind == ItemKind::Specialist)
        .map(|r| (r.id, format!("{} (retracted)", r.name)));
    case.specialists().into_iter().map(|s| (s.id, s.name)).chain(retracted).collect()
}

/// A start time as the place's local time, with the place's zone when it is not the viewer's, and then the
/// viewer's time too: `2026-12-07 09:30 America/New_York (06:30 your time)`.
pub(crate) fn start_text(ctx: &Ctx, start: Option<PrimitiveDateTime>, tz: Option<&str>) -> String {
    let shown = output::date_time(start);
    let (Some(start), Some(tz)) = (start, tz) else { return shown };
    if ctx.zone().name() == Some(tz) {
        return shown;
    }
    let yours = Zone::named("tz", tz).and_then(|place| place.convert(start, ctx.zone()));
    match yours {
        Ok(y) if y.date() == start.date() => format!("{shown} {tz} ({:02}:{:02} your time)", y.hour(), y.minute()),
        Ok(y) => format!("{shown} {tz} ({} your time)", output::date_time(Some(y))),
        Err(_) => format!("{shown} {tz}"),
    }
}

fn describe(ctx: &Ctx, a: &Appointment, specialists: &BTreeMap<String, String>) -> String {
    let mut head = format!("{}  {}  {}", a.id, start_text(ctx, a.start, a.tz.as_deref()), a.kind);
    if let Some(s) = &a.specialist {
        head.push_str(&format!(" with {}", specialists.get(s).map_or("a removed specialist", String::as_str)));
    }
    if let Some(p) = &a.place {
        head.push_str(&format!(" at {p}"));
    }
    match a.attended {
        Some(true) => head.push_str("  [attended]"),
        Some(false) => head.push_str("  [not attended]"),
        None => {}
    }
    // Names, place and zone come from the case: one line each, whatever they hold.
    let mut lines = vec![output::line(&head)];
    if !a.attendees.is_empty() {
        lines.push(format!("  Attending: {}", output::line(&a.attendees.join(", "))));
    }
    if !a.recording_consent.is_empty() {
        let c: Vec<String> =
            a.recording_consent.iter().map(|c| format!("{} ({})", c.person, output::date(Some(c.date)))).collect();
        lines.push(format!("  Recording consent: {}", output::line(&c.join(", "))));
    }
    lines.push(format!(
        "  Written summary: requested {}, received {}",
        output::date(a.summary_requested),
        output::date(a.summary_received)
    ));
    lines.join("\n")
}
