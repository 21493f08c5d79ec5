//! `casebook request` and `casebook overdue`: record requests, their event logs and derived status.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use casebook_core::dates::format_date;
use casebook_core::model::cost::parse_amount;
use casebook_core::model::record_request::{Channel, EventKind, NewEvent, RecordItem, RequestProgress, RequestStatus};
use clap::{Args, Subcommand};

use crate::context::Ctx;
use crate::keyed::keyed;
use crate::{lookup, output};

/// Subcommands of `casebook request`.
#[derive(Debug, Subcommand)]
pub(crate) enum RequestCmd {
    /// Add a record request (then log `requested_in_writing` when it is sent).
    Add(AddArgs),
    /// Log an event: requested_in_writing, acknowledged, extension, fee, partially_received, received,
    /// denied, followed_up, returned. The log is never rewritten; the status follows from it.
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
    /// List requests: status, legal due date, overdue, days waiting, material out.
    List,
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
    /// How the records travel: only the patient's own request runs on the HIPAA 30-day clock.
    #[arg(long, default_value = "patient_request", value_parser = keyed::<Channel>())]
    channel: Channel,
    /// Date lent material must be back (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD")]
    return_by: Option<String>,
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
    /// A note (e.g. the reason given for an extension).
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
            let id = ctx.edit(|o| {
                let id = o.case.add_record_request(&a.custodian, &a.items, a.channel)?;
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
            ctx.edit(|o| {
                let id = request_id(o, &a.id)?;
                let by = ctx.author_opt(o)?;
                Ok(o.case.log_request_event(
                    &id,
                    NewEvent {
                        kind: a.kind.to_string().as_str(),
                        date: &date,
                        note: a.note.as_deref(),
                        fee_cents: fee,
                        by: by.as_deref(),
                    },
                )?)
            })?;
            output::saved(ctx, &format!("Logged {} on {date}.", a.kind))
        }
        RequestCmd::ReturnBy { id, date, clear } => {
            ctx.edit(|o| {
                let id = request_id(o, &id)?;
                Ok(o.case.set_return_by(&id, if clear { None } else { date.as_deref() })?)
            })?;
            output::saved(ctx, if clear { "Return date cleared." } else { "Return date set." })
        }
        RequestCmd::List => {
            let open = ctx.open()?;
            let names = names(&open.case);
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
            let names = names(&open.case);
            let all = open.case.request_progress(ctx.today());
            let id = lookup::item("record request", &id, all.iter().map(|p| p.request.id.clone()).collect())?;
            let p = all
                .into_iter()
                .find(|p| p.request.id == id)
                .with_context(|| format!("no record request with id {id} in this case"))?;
            output::emit(ctx, &p, |p| describe(p, &names, true))
        }
    }
}

/// Record requests past their legal due date.
pub(crate) fn overdue(ctx: &Ctx) -> Result<()> {
    let open = ctx.open()?;
    let names = names(&open.case);
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

/// Caregiver names by id.
fn names(case: &casebook_core::Case) -> BTreeMap<String, String> {
    case.care_team().into_iter().map(|c| (c.id, c.name)).collect()
}

fn describe(p: &RequestProgress, names: &BTreeMap<String, String>, with_log: bool) -> String {
    let r = &p.request;
    let items: Vec<String> = r.items.iter().map(|i| i.to_string()).collect();
    let mut lines = vec![format!("{}  {} — {} ({})", r.id, r.custodian, items.join(", "), r.channel)];
    let mut status = vec![format!("Status: {}", status_label(r.status))];
    if let Some(d) = r.requested_on {
        status.push(format!("requested {}", output::date(Some(d))));
    }
    if let Some(d) = r.due {
        status.push(format!("due {}", output::date(Some(d))));
    }
    if p.overdue {
        status.push("OVERDUE".into());
    }
    if let Some(w) = p.days_waiting {
        status.push(format!("waited {}", output::days(w)));
    }
    lines.push(format!("  {}", status.join("; ")));
    if p.material_out {
        let back = r.return_by.map(|d| format!(": must go back by {}", output::date(Some(d)))).unwrap_or_default();
        lines.push(format!("  Slides/blocks are out{back}"));
    } else if let Some(d) = r.return_by {
        lines.push(format!("  Return by: {}", output::date(Some(d))));
    }
    if r.fees_cents > 0 {
        lines.push(format!("  Fees asked: {}", output::money(r.fees_cents)));
    }
    if with_log {
        lines.push("  Log:".into());
        if r.events.is_empty() {
            lines.push("    (nothing yet: log `requested_in_writing` when it is sent)".into());
        }
        for e in &r.events {
            let by = e.by.as_ref().map(|b| format!(" by {}", names.get(b).unwrap_or(b))).unwrap_or_default();
            let fee = e.fee_cents.map(|f| format!(" (fee {})", output::money(f))).unwrap_or_default();
            let note = e.note.as_deref().map(|n| format!(" — {n}")).unwrap_or_default();
            lines.push(format!("    {} {}{by}{fee}{note}", output::date(Some(e.date)), e.kind));
        }
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
