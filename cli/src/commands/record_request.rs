//! `casebook request` and `casebook overdue`: record requests, their event logs and derived status, and
//! their corrections (edit a request, retract an event or a whole request: nothing is ever deleted).

use anyhow::Result;
use casebook_core::dates::format_date;
use casebook_core::model::cost::parse_amount;
use casebook_core::model::record_request::{
    Channel, EventKind, LegalClock, NewEvent, RecordItem, RecordRequest, RequestChanges, RequestProgress,
    RequestStatus, Retract, Retraction,
};
use clap::{Args, Subcommand};

use crate::context::Ctx;
use crate::failure::{self, Code};
use crate::keyed::keyed;
use crate::lookup::Names;
use crate::{input, lookup, output};

/// Subcommands of `casebook request`.
#[derive(Debug, Subcommand)]
pub(crate) enum RequestCmd {
    /// Add a record request (then log `requested_in_writing` when it is sent).
    Add(AddArgs),
    /// Log an event: requested_in_writing, acknowledged, extension, fee, partially_received, received,
    /// denied, followed_up, returned. The log is never rewritten; the status follows from what the events
    /// mean and their dates. An event dated after today, or an answer dated before the written request, is
    /// refused.
    Event(EventArgs),
    /// Set (or with --clear, clear) the date lent slides or blocks must be back.
    ReturnBy {
        /// Request id (or unique prefix).
        id: String,
        /// The date, YYYY-MM-DD.
        #[arg(required_unless_present = "clear")]
        date: Option<String>,
        /// Clear the date.
        #[arg(long, conflicts_with = "date")]
        clear: bool,
    },
    /// Correct a request's fields: custodian, items, channel, return-by date (the log is untouched).
    Edit(EditArgs),
    /// Retract an event logged by mistake: it stays in the log, marked retracted (by whom, when), and no
    /// longer counts. Log the right event afterwards if needed.
    RetractEvent {
        /// Request id (or unique prefix).
        id: String,
        /// Event id (or unique prefix), as `request show` lists it.
        event: String,
        /// Why (optional; `-` reads it from standard input).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Retract a whole request added by mistake: it leaves the list (and overdue, progress) but stays,
    /// with its log, in `request list --retracted`.
    Retract {
        /// Request id (or unique prefix).
        id: String,
        /// Why (optional; `-` reads it from standard input).
        #[arg(long)]
        reason: Option<String>,
    },
    /// List requests: status, legal due date, overdue, days waiting, material out, warnings.
    List {
        /// List the retracted requests instead.
        #[arg(long)]
        retracted: bool,
    },
    /// Show one request with its event log.
    Show {
        /// Request id (or unique prefix).
        id: String,
    },
}

/// Arguments of `request add`.
#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// Facility that holds the records.
    #[arg(long)]
    custodian: String,
    /// What to request (repeat the flag or separate with commas).
    #[arg(
        long = "item",
        value_name = "ITEM",
        required = true,
        value_delimiter = ',',
        value_parser = keyed::<RecordItem>()
    )]
    items: Vec<RecordItem>,
    /// How the records travel: only the patient's own request runs on the HIPAA 30-day clock, and only for
    /// information (reports, images, results), not for slides or blocks. Default: lab_release when only
    /// slides or blocks are asked for, else patient_request.
    #[arg(long, value_parser = keyed::<Channel>())]
    channel: Option<Channel>,
    /// Date lent material must be back (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD")]
    return_by: Option<String>,
}

/// Arguments of `request edit`.
#[derive(Debug, Args)]
pub(crate) struct EditArgs {
    /// Request id (or unique prefix).
    id: String,
    /// New custodian.
    #[arg(long)]
    custodian: Option<String>,
    /// The items, all of them (replaces the list; repeat the flag or separate with commas).
    #[arg(long = "item", value_name = "ITEM", value_delimiter = ',', value_parser = keyed::<RecordItem>())]
    items: Vec<RecordItem>,
    /// New channel.
    #[arg(long, value_parser = keyed::<Channel>())]
    channel: Option<Channel>,
    /// New return-by date (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with = "clear_return_by")]
    return_by: Option<String>,
    /// Clear the return-by date.
    #[arg(long)]
    clear_return_by: bool,
}

/// Arguments of `request event`.
#[derive(Debug, Args)]
pub(crate) struct EventArgs {
    /// Request id (or unique prefix).
    id: String,
    /// What happened.
    #[arg(value_parser = keyed::<EventKind>())]
    kind: EventKind,
    /// When (YYYY-MM-DD; default: today).
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<String>,
    /// A note (e.g. the reason given for an extension; `-` reads it from standard input).
    #[arg(long)]
    note: Option<String>,
    /// Fee asked, e.g. 25 or 25.50.
    #[arg(long, value_name = "AMOUNT")]
    fee: Option<String>,
}

/// Run a `request` subcommand.
pub(crate) fn run(ctx: &Ctx, cmd: RequestCmd) -> Result<()> {
    match cmd {
        RequestCmd::Add(a) => {
            let channel = a.channel.unwrap_or_else(|| Channel::default_for(&a.items));
            let id = output::edit(ctx, |o| {
                let id = o.case.add_record_request(&a.custodian, &a.items, channel)?;
                if let Some(d) = &a.return_by {
                    o.case.set_return_by(&id, Some(d))?;
                }
                Ok(id)
            })?;
            output::added(ctx, "record request", &id)
        }
        RequestCmd::Event(a) => {
            let fee = a.fee.as_deref().map(parse_amount).transpose()?;
            let date = a.date.clone().unwrap_or_else(|| format_date(ctx.today()));
            let note = input::opt_text(a.note.clone())?;
            let event = output::edit(ctx, |o| {
                let id = request_id(o, &a.id)?;
                let by = ctx.author_opt(o)?;
                Ok(o.case.log_request_event(
                    &id,
                    NewEvent {
                        kind: a.kind.to_string().as_str(),
                        date: &date,
                        note: note.as_deref(),
                        fee_cents: fee,
                        by: by.as_deref(),
                    },
                    ctx.today(),
                )?)
            })?;
            output::saved_id(ctx, &format!("Logged {} on {date} (event {event}).", a.kind), &event)
        }
        RequestCmd::ReturnBy { id, date, clear } => {
            output::edit(ctx, |o| {
                let id = request_id(o, &id)?;
                Ok(o.case.set_return_by(&id, if clear { None } else { date.as_deref() })?)
            })?;
            output::saved(ctx, if clear { "Return date cleared." } else { "Return date set." })
        }
        RequestCmd::Edit(a) => {
            let return_by = casebook_core::model::set_or_clear(a.return_by.as_deref(), a.clear_return_by);
            output::edit(ctx, |o| {
                let id = request_id(o, &a.id)?;
                let changes = RequestChanges {
                    custodian: a.custodian.as_deref(),
                    items: (!a.items.is_empty()).then_some(a.items.as_slice()),
                    channel: a.channel,
                    return_by,
                };
                Ok(o.case.edit_record_request(&id, changes)?)
            })?;
            output::saved(ctx, "Request updated.")
        }
        RequestCmd::RetractEvent { id, event, reason } => {
            let reason = input::opt_text(reason)?;
            let retraction = output::edit(ctx, |o| {
                let id = request_id(o, &id)?;
                let events = o.case.record_requests().into_iter().find(|r| r.id == id).map(|r| r.events);
                let event = lookup::item(
                    "request event",
                    &event,
                    events.unwrap_or_default().into_iter().map(|e| e.id).collect(),
                )?;
                let by = ctx.author_opt(o)?;
                let how = Retract { today: ctx.today(), by: by.as_deref(), reason: reason.as_deref() };
                Ok(o.case.retract_request_event(&id, &event, how)?)
            })?;
            output::saved_id(ctx, "Event retracted: it stays in the log, no longer counted.", &retraction)
        }
        RequestCmd::Retract { id, reason } => {
            let reason = input::opt_text(reason)?;
            let retraction = output::edit(ctx, |o| {
                let id = request_id(o, &id)?;
                let by = ctx.author_opt(o)?;
                let how = Retract { today: ctx.today(), by: by.as_deref(), reason: reason.as_deref() };
                Ok(o.case.retract_record_request(&id, how)?)
            })?;
            output::saved_id(
                ctx,
                "Request retracted: see `casebook request list --retracted` for its history.",
                &retraction,
            )
        }
        RequestCmd::List { retracted: true } => {
            let open = ctx.open()?;
            let names = Names::of(&open.case);
            output::emit(ctx, &open.case.retracted_record_requests(), |list| {
                if list.is_empty() {
                    return "No retracted record request.".into();
                }
                list.iter().map(|r| describe_retracted(r, &names)).collect::<Vec<_>>().join("\n\n")
            })
        }
        RequestCmd::List { retracted: false } => {
            let open = ctx.open()?;
            let names = Names::of(&open.case);
            output::emit(ctx, &open.case.request_progress(ctx.today()), |list| {
                if list.is_empty() {
                    return "No record requests yet: casebook request add --custodian FACILITY --item pathology_slides"
                        .into();
                }
                list.iter().map(|p| describe(p, &names, false)).collect::<Vec<_>>().join("\n\n")
            })
        }
        RequestCmd::Show { id } => {
            let open = ctx.open()?;
            let names = Names::of(&open.case);
            let all = open.case.request_progress(ctx.today());
            let id = lookup::item("record request", &id, all.iter().map(|p| p.request.id.clone()).collect())?;
            let Some(p) = all.into_iter().find(|p| p.request.id == id) else {
                if open.case.retracted_record_requests().iter().any(|r| r.id == id) {
                    return Err(failure::refuse(
                        Code::Retracted,
                        format!("record request {id} was retracted (see `casebook request list --retracted`)"),
                    ));
                }
                return Err(failure::not_found(format!("no record request with id {id} in this case")));
            };
            output::emit(ctx, &p, |p| describe(p, &names, true))
        }
    }
}

/// Record requests past their legal due date.
pub(crate) fn overdue(ctx: &Ctx) -> Result<()> {
    let open = ctx.open()?;
    let names = Names::of(&open.case);
    output::emit(ctx, &open.case.overdue_requests(ctx.today()), |list| {
        if list.is_empty() {
            return "No request is past its legal due date.".into();
        }
        let mut out = vec![format!("{} past the legal due date — follow up in writing:", list.len())];
        out.extend(list.iter().map(|p| describe(p, &names, false)));
        out.join("\n\n")
    })
}

fn request_id(o: &crate::context::Open, input: &str) -> Result<String> {
    lookup::item("record request", input, o.case.record_requests().into_iter().map(|r| r.id).collect())
}

fn describe(p: &RequestProgress, names: &Names, with_log: bool) -> String {
    let r = &p.request;
    let mut lines = vec![heading(r)];
    let mut status = vec![format!("Status: {}", status_label(r.status))];
    if let Some(d) = r.requested_on {
        status.push(format!("requested {}", output::date(Some(d))));
    }
    if let Some(d) = r.due {
        status.push(format!("due {} (counted from the day sent)", output::date(Some(d))));
    }
    if p.overdue {
        status.push("OVERDUE".into());
    }
    if let Some(w) = p.days_waiting {
        status.push(format!("waited {}", output::days(w)));
    }
    lines.push(format!("  {}", status.join("; ")));
    if with_log {
        lines.push(format!("  Legal clock: {}", r.clock_note));
    } else {
        match r.clock {
            LegalClock::HipaaInformationOnly => {
                lines.push("  Legal clock: the reports, images and results only (slides/blocks have none)".into())
            }
            LegalClock::NoneSpecimens => {
                lines.push("  No legal clock: slides and blocks are specimens, not information".into())
            }
            LegalClock::Hipaa | LegalClock::NoneChannel => {}
        }
    }
    let late = if p.return_late { " — LATE, not returned yet" } else { "" };
    if p.material_out {
        let back = r.return_by.map(|d| format!(": must go back by {}", output::date(Some(d)))).unwrap_or_default();
        lines.push(format!("  Slides/blocks are out{back}{late}"));
    } else if let Some(d) = r.return_by {
        lines.push(format!("  Return by: {}{late}", output::date(Some(d))));
    }
    if r.fees_cents > 0 {
        lines.push(format!("  Fees asked: {}", output::money(r.fees_cents)));
    }
    for w in &r.warnings {
        lines.push(format!("  Warning: {}", output::line(&w.message)));
    }
    if with_log {
        lines.push("  Log:".into());
        if r.events.is_empty() {
            lines.push("    (nothing yet: log `requested_in_writing` when it is sent)".into());
        }
        lines.extend(log_lines(r, names));
    }
    lines.join("\n")
}

fn heading(r: &RecordRequest) -> String {
    let items: Vec<String> = r.items.iter().map(|i| i.to_string()).collect();
    format!("{}  {} — {} ({})", r.id, output::line(&r.custodian), items.join(", "), r.channel)
}

fn log_lines(r: &RecordRequest, names: &Names) -> Vec<String> {
    let who = |b: &Option<String>| b.as_ref().map(|b| format!(" by {}", names.caregiver(b))).unwrap_or_default();
    r.events
        .iter()
        .map(|e| {
            let fee = e.fee_cents.map(|f| format!(" (fee {})", output::money(f))).unwrap_or_default();
            let note = e.note.as_deref().map(|n| format!(" — {}", output::line(n))).unwrap_or_default();
            let mut line = format!("    {}  {} {}{}{fee}{note}", e.id, output::date(Some(e.date)), e.kind, who(&e.by));
            if !e.retractions.is_empty() {
                line.push_str(&format!(" [{}]", retracted(&e.retractions, names)));
            } else if !e.counted {
                line.push_str(" [not counted]");
            }
            line
        })
        .collect()
}

/// `retracted on 2024-02-01 by Ana: wrong date` (every retraction, when siblings both retracted).
pub(crate) fn retracted(list: &[Retraction], names: &Names) -> String {
    let one = |r: &Retraction| {
        let by = r.by.as_ref().map(|b| format!(" by {}", names.caregiver(b))).unwrap_or_default();
        let why = r.reason.as_deref().map(|w| format!(": {}", output::line(w))).unwrap_or_default();
        format!("retracted on {}{by}{why}", output::date(Some(r.on)))
    };
    list.iter().map(one).collect::<Vec<_>>().join("; ")
}

fn describe_retracted(r: &RecordRequest, names: &Names) -> String {
    let mut lines = vec![heading(r), format!("  {}", retracted(&r.retractions, names))];
    if !r.events.is_empty() {
        lines.push("  Log:".into());
        lines.extend(log_lines(r, names));
    }
    lines.join("\n")
}

fn status_label(s: RequestStatus) -> &'static str {
    match s {
        RequestStatus::NotRequested => "not requested yet",
        RequestStatus::Requested => "requested",
        RequestStatus::Acknowledged => "acknowledged",
        RequestStatus::Extended => "extended",
        RequestStatus::PartiallyReceived => "partially received",
        RequestStatus::Received => "received",
        RequestStatus::Denied => "denied",
        RequestStatus::Returned => "returned",
    }
}
