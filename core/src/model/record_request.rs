//! Record requests (step 3).
//!
//! # What is stored
//! `record_requests/<id>`: `{custodian, channel, items: {<item key>: bool}, return_by?, events: [entry]}`.
//! The `events` list only grows: entries are never rewritten or deleted, so two siblings logging or correcting
//! offline never overwrite each other, and the history stays visible. An entry is
//! - an event: `{id, kind: <EventKind key>, date, note?, fee_cents?, by?}` (events written before entries had
//!   ids have none: their Automerge object id, the same on every replica, stands in);
//! - the retraction of an event: `{id, kind: "retract_event", event: <event id>, date: <day recorded>,
//!   note?: <reason>, by?}`;
//! - the retraction of the whole request: `{id, kind: "retract_request", date, note?, by?}`.
//!
//! Older readers skip entry kinds they do not know, so retractions are an additive change of the schema.
//!
//! # What is derived (never stored)
//! The status follows from what each event *means* and its date, never from which event arrived last: the
//! events are ordered by date, then kind, then id (the same order on every replica whatever the order of
//! arrival), and a received request stays received whatever is logged later. Events that cannot be right —
//! dated before the written request, or after today — are refused when logged; arriving anyway through a
//! sync (another replica accepted them), they are not counted and are shown as [`RequestWarning`]s.
//!
//! The legal clock is HIPAA's right of access (45 CFR 164.524): the patient's own written request, 30 days,
//! extendable once by 30 days with a written notice given within the first 30. It covers information
//! (reports, images, results), not specimens: slides and blocks have no legal deadline and are tracked by
//! their own return-by date instead. The due date counts from the day the request was sent, which is early
//! (the law counts from receipt): the safe direction.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, Value};
use time::{Date, Duration};

pub use super::retraction::{Retract, Retraction};
use super::{Keyed, check_caregiver, item, items, new_item, optional, required};
use crate::am;
use crate::case::Case;
use crate::dates::{format_date, parse_date, stored_date};
use crate::error::{Error, Result};
use crate::ids::new_item_id;

/// Days a provider has to act on a patient's own written request (HIPAA right of access).
pub const HIPAA_DAYS: i64 = 30;
/// Days one written extension adds (allowed once, and only when the notice comes within [`HIPAA_DAYS`]).
pub const HIPAA_EXTENSION_DAYS: i64 = 30;

/// Entry kind of the retraction of an event.
const RETRACT_EVENT: &str = "retract_event";
/// Entry kind of the retraction of a whole request.
const RETRACT_REQUEST: &str = "retract_request";

/// Shown with every due date: the law counts from receipt, the app from sending.
const SENT_DAY_NOTE: &str = "The due date counts from the day the request was sent; the law counts from the day \
                             the provider received it, so this date is a little early: the safe side.";

keyed_enum! {
    /// What is requested.
    RecordItem {
        /// Pathology slides (the tissue itself).
        PathologySlides => "pathology_slides",
        /// Tissue blocks.
        TissueBlocks => "tissue_blocks",
        /// Pathology report.
        PathologyReport => "pathology_report",
        /// Imaging studies on disc (DICOM).
        ImagingDisc => "imaging_disc",
        /// Imaging reports.
        ImagingReport => "imaging_report",
        /// Laboratory reports.
        LabReports => "lab_reports",
        /// Operative report.
        OperativeReport => "operative_report",
        /// Treatment history.
        TreatmentHistory => "treatment_history",
        /// Anything else.
        Other => "other",
    }
}

impl RecordItem {
    /// Slides and blocks are specimens (lent and expected back), not information: the HIPAA right of access
    /// does not cover them.
    pub fn is_specimen(self) -> bool {
        matches!(self, RecordItem::PathologySlides | RecordItem::TissueBlocks)
    }
}

keyed_enum! {
    /// How the records travel: only the patient's own request runs on the HIPAA 30-day clock.
    Channel {
        /// The patient's (or representative's) own written HIPAA access request.
        PatientRequest => "patient_request",
        /// Sent provider to provider (no legal clock).
        ProviderToProvider => "provider_to_provider",
        /// Slides or blocks lent lab to lab (no legal clock; expected back).
        LabRelease => "lab_release",
    }
}

impl Channel {
    /// The usual channel for `items`: slides and blocks alone are lent lab to lab ([`Channel::LabRelease`]);
    /// anything else is the patient's own request ([`Channel::PatientRequest`]).
    pub fn default_for(items: &[RecordItem]) -> Channel {
        if !items.is_empty() && items.iter().all(|i| i.is_specimen()) {
            Channel::LabRelease
        } else {
            Channel::PatientRequest
        }
    }
}

keyed_enum! {
    /// An event in a request's log.
    EventKind {
        /// The request was sent in writing (starts the clock).
        RequestedInWriting => "requested_in_writing",
        /// The custodian acknowledged it.
        Acknowledged => "acknowledged",
        /// The custodian gave written notice of a 30-day extension.
        Extension => "extension",
        /// A fee was asked.
        Fee => "fee",
        /// Part of the items arrived.
        PartiallyReceived => "partially_received",
        /// Everything arrived.
        Received => "received",
        /// The request was denied.
        Denied => "denied",
        /// The family followed up.
        FollowedUp => "followed_up",
        /// Slides or blocks were returned to the lab.
        Returned => "returned",
    }
}

keyed_enum! {
    /// Which legal deadline a request runs on.
    LegalClock {
        /// The patient's own request for information only: HIPAA's 30 days (+30 once) cover every item.
        Hipaa => "hipaa",
        /// The patient's own request for information and specimens: the HIPAA clock covers the reports,
        /// images and results only; the slides or blocks have no legal deadline.
        HipaaInformationOnly => "hipaa_information_only",
        /// The patient's own request for slides or blocks only: specimens, not information, so no legal
        /// deadline (they are tracked by their return-by date).
        NoneSpecimens => "none_specimens",
        /// Provider to provider, or lab to lab: no legal deadline.
        NoneChannel => "none_channel",
    }
}

impl LegalClock {
    /// The clock of a request on `channel` for `items`. A request listing no item (only a damaged document
    /// has one) counts as a request for information: the clock runs, the safe direction.
    pub fn of(channel: Channel, items: &[RecordItem]) -> LegalClock {
        if channel != Channel::PatientRequest {
            return LegalClock::NoneChannel;
        }
        let specimens = items.iter().any(|i| i.is_specimen());
        let information = items.is_empty() || items.iter().any(|i| !i.is_specimen());
        match (information, specimens) {
            (true, false) => LegalClock::Hipaa,
            (true, true) => LegalClock::HipaaInformationOnly,
            (false, _) => LegalClock::NoneSpecimens,
        }
    }

    /// Whether a legal due date applies.
    pub fn runs(self) -> bool {
        matches!(self, LegalClock::Hipaa | LegalClock::HipaaInformationOnly)
    }

    /// What the clock covers, in a sentence for the family (with the sent-day caveat when a clock runs).
    pub fn explain(self, channel: Channel) -> String {
        let hipaa = "HIPAA right of access: the provider must act within 30 days of the written request, \
                     extendable once by 30 days with a written notice given within the first 30.";
        match self {
            LegalClock::Hipaa => format!("{hipaa} {SENT_DAY_NOTE}"),
            LegalClock::HipaaInformationOnly => format!(
                "{hipaa} The clock covers the reports, images and results in this request only: slides and \
                 blocks are specimens with no legal deadline (track them by their return-by date). {SENT_DAY_NOTE}"
            ),
            LegalClock::NoneSpecimens => "No legal deadline: the right of access covers information, not \
                                          specimens such as slides or blocks. Track them by their return-by date."
                .into(),
            LegalClock::NoneChannel if channel == Channel::LabRelease => {
                "No legal deadline: slides or blocks lent lab to lab. Track them by their return-by date.".into()
            }
            LegalClock::NoneChannel => {
                "No legal deadline: records sent provider to provider. Follow up if they are slow.".into()
            }
        }
    }
}

keyed_enum! {
    /// Why an event of the log is flagged.
    WarningKind {
        /// Dated before the written request it answers: not counted.
        BeforeRequest => "before_request",
        /// Dated after today: not counted.
        FutureDate => "future_date",
        /// An extension notice given after the first 30 days: it does not move the due date.
        LateExtension => "late_extension",
        /// A second extension: only one counts.
        ExtraExtension => "extra_extension",
        /// Contradicts a final answer logged earlier (denied after received, anything after returned): not
        /// counted.
        AfterSettled => "after_settled",
    }
}

/// Derived status of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Not yet requested in writing.
    NotRequested,
    /// Requested, no answer yet.
    Requested,
    /// Acknowledged by the custodian.
    Acknowledged,
    /// Extended by written notice.
    Extended,
    /// Partially received.
    PartiallyReceived,
    /// Received.
    Received,
    /// Denied.
    Denied,
    /// Material returned to the lab.
    Returned,
}

impl RequestStatus {
    /// The status as a snake_case key.
    pub fn key(self) -> &'static str {
        match self {
            RequestStatus::NotRequested => "not_requested",
            RequestStatus::Requested => "requested",
            RequestStatus::Acknowledged => "acknowledged",
            RequestStatus::Extended => "extended",
            RequestStatus::PartiallyReceived => "partially_received",
            RequestStatus::Received => "received",
            RequestStatus::Denied => "denied",
            RequestStatus::Returned => "returned",
        }
    }

    /// Rank among the states before any answer (a later event only moves these forward), or `None`.
    fn waiting_rank(self) -> Option<u8> {
        match self {
            RequestStatus::NotRequested => Some(0),
            RequestStatus::Requested => Some(1),
            RequestStatus::Acknowledged => Some(2),
            RequestStatus::Extended => Some(3),
            _ => None,
        }
    }

    /// `to` if both are waiting states and `to` is further on, else `self`.
    fn advance(self, to: RequestStatus) -> RequestStatus {
        match (self.waiting_rank(), to.waiting_rank()) {
            (Some(a), Some(b)) if b > a => to,
            _ => self,
        }
    }
}

impl std::fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

/// One logged event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RequestEvent {
    /// Entry id (used to retract it).
    pub id: String,
    /// What happened.
    pub kind: EventKind,
    /// When.
    pub date: Date,
    /// Free note (e.g. the reason of an extension).
    pub note: Option<String>,
    /// Fee in cents, for a fee event.
    pub fee_cents: Option<u64>,
    /// Caregiver who recorded it.
    pub by: Option<String>,
    /// Retractions of this event (two siblings may both retract it); a retracted event no longer counts.
    pub retractions: Vec<Retraction>,
    /// Whether the event counts toward the status and the due date (false when retracted, or flagged by a
    /// [`RequestWarning`] that says why).
    pub counted: bool,
}

/// An event that is kept in the log but not counted, or counted differently from what it claims.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RequestWarning {
    /// Why it is flagged.
    pub kind: WarningKind,
    /// The event concerned.
    pub event: String,
    /// The explanation, for the family (event kinds and dates only).
    pub message: String,
}

/// A record request with its derived state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordRequest {
    /// Item id.
    pub id: String,
    /// Facility that holds the records.
    pub custodian: String,
    /// What is requested.
    pub items: Vec<RecordItem>,
    /// Channel.
    pub channel: Channel,
    /// Date by which lent slides or blocks must be back, if any.
    pub return_by: Option<Date>,
    /// The log (retracted events included, flagged), ordered by date, then kind, then id.
    pub events: Vec<RequestEvent>,
    /// Derived status.
    pub status: RequestStatus,
    /// Date of the first written request.
    pub requested_on: Option<Date>,
    /// Date the final answer came (received, denied, or material returned), if the request is settled.
    pub answered_on: Option<Date>,
    /// Which legal deadline applies.
    pub clock: LegalClock,
    /// What the clock covers, in a sentence (with the caveat that the due date counts from the day sent).
    pub clock_note: String,
    /// Legal due date (the patient's own request for information only): written request + 30 days, + 30 after
    /// one extension notice given within the first 30 days.
    pub due: Option<Date>,
    /// Total fees asked, in cents (counted events only).
    pub fees_cents: u64,
    /// Events of the log not counted, and why.
    pub warnings: Vec<RequestWarning>,
    /// Retractions of the whole request (empty unless it is listed among the retracted requests).
    pub retractions: Vec<Retraction>,
}

/// Derived facts about a request as of a day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RequestProgress {
    /// The request, derived as of the same day (events dated after it are not counted and are flagged).
    pub request: RecordRequest,
    /// Past its legal due date without a final answer.
    pub overdue: bool,
    /// Days since the written request (until the final answer, or today).
    pub days_waiting: Option<i64>,
    /// Slides or blocks are with the family or second-opinion lab and must go back.
    pub material_out: bool,
    /// The return-by date has passed and no `returned` event is logged (nor a denial).
    pub return_late: bool,
}

impl RecordRequest {
    /// Derive status, dates, fees and warnings from the log. With `today`, events dated after it are set
    /// aside (and flagged). The result depends only on the set of entries, never on their order of arrival.
    fn derive(&mut self, today: Option<Date>) {
        self.events.sort_by(|a, b| (a.date, a.kind, &a.id).cmp(&(b.date, b.kind, &b.id)));
        let mut warnings: Vec<(usize, RequestWarning)> = Vec::new();
        let mut flag = |i: usize, e: &mut RequestEvent, kind: WarningKind, message: String| {
            e.counted = false;
            warnings.push((i, RequestWarning { kind, event: e.id.clone(), message }));
        };

        for (i, e) in self.events.iter_mut().enumerate() {
            e.counted = e.retractions.is_empty();
            if let Some(t) = today.filter(|t| e.counted && e.date > *t) {
                let msg = format!(
                    "{} dated {} is after today ({}): not counted; retract it and log it with the right date",
                    e.kind,
                    format_date(e.date),
                    format_date(t)
                );
                flag(i, e, WarningKind::FutureDate, msg);
            }
        }
        let requested_on =
            self.events.iter().filter(|e| e.counted && e.kind == EventKind::RequestedInWriting).map(|e| e.date).min();
        if let Some(r) = requested_on {
            for (i, e) in self.events.iter_mut().enumerate() {
                if e.counted && e.kind != EventKind::RequestedInWriting && e.date < r {
                    let msg = format!(
                        "{} dated {} is before the written request ({}): not counted; retract whichever entry is wrong",
                        e.kind,
                        format_date(e.date),
                        format_date(r)
                    );
                    flag(i, e, WarningKind::BeforeRequest, msg);
                }
            }
        }

        let clock = LegalClock::of(self.channel, &self.items);
        let deadline = requested_on.filter(|_| clock.runs()).and_then(|r| r.checked_add(Duration::days(HIPAA_DAYS)));
        let mut extended = false;
        let mut status = RequestStatus::NotRequested;
        let mut answered_on = None;
        for (i, e) in self.events.iter_mut().enumerate() {
            if !e.counted {
                continue;
            }
            let after_settled = |e: &RequestEvent, status: RequestStatus| {
                format!(
                    "{} dated {} comes after the request was {}: not counted",
                    e.kind,
                    format_date(e.date),
                    status.key().replace('_', " ")
                )
            };
            match e.kind {
                EventKind::RequestedInWriting => status = status.advance(RequestStatus::Requested),
                EventKind::Acknowledged => status = status.advance(RequestStatus::Acknowledged),
                EventKind::Extension => match deadline {
                    Some(limit) if e.date > limit => {
                        let msg = format!(
                            "extension notice dated {} came after the first 30 days (due {}): it does not extend \
                             the due date",
                            format_date(e.date),
                            format_date(limit)
                        );
                        flag(i, e, WarningKind::LateExtension, msg);
                    }
                    Some(_) if extended => {
                        let msg = format!(
                            "a second extension (dated {}) does not count: the law allows one",
                            format_date(e.date)
                        );
                        flag(i, e, WarningKind::ExtraExtension, msg);
                    }
                    Some(_) => {
                        extended = true;
                        status = status.advance(RequestStatus::Extended);
                    }
                    None => status = status.advance(RequestStatus::Extended),
                },
                EventKind::Fee | EventKind::FollowedUp => {}
                EventKind::PartiallyReceived => match status {
                    RequestStatus::Received | RequestStatus::Returned => {
                        let msg = after_settled(e, status);
                        flag(i, e, WarningKind::AfterSettled, msg);
                    }
                    _ => {
                        status = RequestStatus::PartiallyReceived;
                        answered_on = None;
                    }
                },
                EventKind::Received => match status {
                    RequestStatus::Returned => {
                        let msg = after_settled(e, status);
                        flag(i, e, WarningKind::AfterSettled, msg);
                    }
                    RequestStatus::Received => {}
                    _ => {
                        status = RequestStatus::Received;
                        answered_on = Some(e.date);
                    }
                },
                EventKind::Denied => match status {
                    RequestStatus::Received | RequestStatus::Returned => {
                        let msg = after_settled(e, status);
                        flag(i, e, WarningKind::AfterSettled, msg);
                    }
                    RequestStatus::Denied => {}
                    _ => {
                        status = RequestStatus::Denied;
                        answered_on = Some(e.date);
                    }
                },
                EventKind::Returned => {
                    if status != RequestStatus::Returned {
                        answered_on = answered_on.or(Some(e.date));
                        status = RequestStatus::Returned;
                    }
                }
            }
        }

        warnings.sort_by_key(|(i, _)| *i);
        self.warnings = warnings.into_iter().map(|(_, w)| w).collect();
        self.requested_on = requested_on;
        self.status = status;
        self.answered_on = answered_on;
        self.clock = clock;
        self.clock_note = clock.explain(self.channel);
        self.due = match deadline {
            Some(d) if extended => d.checked_add(Duration::days(HIPAA_EXTENSION_DAYS)),
            d => d,
        };
        self.fees_cents =
            self.events.iter().filter(|e| e.counted).filter_map(|e| e.fee_cents).fold(0, u64::saturating_add);
    }

    /// The order requests are listed in: those still awaited first, then the settled ones; within each, by
    /// the day the written request went out (not sent yet last), then custodian, then id.
    pub fn list_order(&self) -> (bool, bool, Option<Date>, String, String) {
        (
            self.is_settled(),
            self.requested_on.is_none(),
            self.requested_on,
            self.custodian.to_lowercase(),
            self.id.clone(),
        )
    }

    /// Whether the request is settled (nothing more will come).
    pub fn is_settled(&self) -> bool {
        matches!(self.status, RequestStatus::Received | RequestStatus::Denied | RequestStatus::Returned)
    }

    /// Past its legal due date without a final answer, as of `today` (events dated after it not counted).
    pub fn is_overdue(&self, today: Date) -> bool {
        self.clone().progress(today).overdue
    }

    /// The request as of `today`, with overdue, waiting days, material out and late return.
    pub fn progress(mut self, today: Date) -> RequestProgress {
        self.derive(Some(today));
        let overdue = !self.is_settled() && self.due.is_some_and(|d| today > d);
        let end = self.answered_on.unwrap_or(today);
        let days_waiting = self.requested_on.map(|r| (end - r).whole_days().max(0));
        let material = self.items.iter().any(|i| i.is_specimen());
        let material_out =
            material && matches!(self.status, RequestStatus::Received | RequestStatus::PartiallyReceived);
        let return_late = self.return_by.is_some_and(|d| today > d)
            && !matches!(self.status, RequestStatus::Returned | RequestStatus::Denied);
        RequestProgress { request: self, overdue, days_waiting, material_out, return_late }
    }
}

/// A new event to log.
#[derive(Debug, Clone, Default)]
pub struct NewEvent<'a> {
    /// Kind, as its key (e.g. "received").
    pub kind: &'a str,
    /// Date, YYYY-MM-DD.
    pub date: &'a str,
    /// Note.
    pub note: Option<&'a str>,
    /// Fee in cents (fee events).
    pub fee_cents: Option<u64>,
    /// Caregiver id of who records it.
    pub by: Option<&'a str>,
}

/// Changes to a request's fields (`None` leaves a field as it is).
#[derive(Debug, Clone, Default)]
pub struct RequestChanges<'a> {
    /// New custodian.
    pub custodian: Option<&'a str>,
    /// The new list of items (replaces the old one; must not be empty).
    pub items: Option<&'a [RecordItem]>,
    /// New channel.
    pub channel: Option<Channel>,
    /// `Some(Some(date))` sets the return-by date (YYYY-MM-DD), `Some(None)` clears it.
    pub return_by: Option<Option<&'a str>>,
}

/// Read a request and its log as stored, with its derived state as the log stands (no "today").
fn load(doc: &AutoCommit, id: String, o: &ObjId) -> RecordRequest {
    let items: Vec<RecordItem> = am::get_obj(doc, o, "items")
        .map(|m| {
            am::keys(doc, &m)
                .into_iter()
                .filter(|k| am::get_bool(doc, &m, k))
                .filter_map(|k| RecordItem::from_key(&k))
                .collect()
        })
        .unwrap_or_default();
    let mut events: Vec<RequestEvent> = Vec::new();
    let mut of_events: Vec<(String, Retraction)> = Vec::new();
    let mut of_request: Vec<Retraction> = Vec::new();
    if let Some(log) = am::get_obj(doc, o, "events") {
        for i in 0..doc.length(&log) {
            let Ok(Some((Value::Object(_), e))) = doc.get(&log, i) else { continue };
            let (Some(kind), Some(date)) = (am::get_str(doc, &e, "kind"), stored_date(am::get_str(doc, &e, "date")))
            else {
                continue;
            };
            let id = am::get_str(doc, &e, "id").unwrap_or_else(|| e.to_string());
            let (note, by) = (am::get_str(doc, &e, "note"), am::get_str(doc, &e, "by"));
            match kind.as_str() {
                RETRACT_EVENT => {
                    if let Some(target) = am::get_str(doc, &e, "event") {
                        of_events.push((target, Retraction { id, on: date, by, reason: note }));
                    }
                }
                RETRACT_REQUEST => of_request.push(Retraction { id, on: date, by, reason: note }),
                other => {
                    if let Some(kind) = EventKind::from_key(other) {
                        let fee_cents = am::get_u64(doc, &e, "fee_cents");
                        events.push(RequestEvent {
                            id,
                            kind,
                            date,
                            note,
                            fee_cents,
                            by,
                            retractions: Vec::new(),
                            counted: true,
                        });
                    }
                }
            }
        }
    }
    for (target, r) in of_events {
        for e in events.iter_mut().filter(|e| e.id == target) {
            e.retractions.push(r.clone());
        }
    }
    let order = |a: &Retraction, b: &Retraction| (a.on, &a.id).cmp(&(b.on, &b.id));
    for e in &mut events {
        e.retractions.sort_by(order);
    }
    of_request.sort_by(order);
    let channel = am::get_str(doc, o, "channel").and_then(|c| Channel::from_key(&c)).unwrap_or(Channel::PatientRequest);
    let mut r = RecordRequest {
        id,
        custodian: am::get_str(doc, o, "custodian").unwrap_or_default(),
        clock: LegalClock::of(channel, &items),
        items,
        channel,
        return_by: stored_date(am::get_str(doc, o, "return_by")),
        events,
        status: RequestStatus::NotRequested,
        requested_on: None,
        answered_on: None,
        clock_note: String::new(),
        due: None,
        fees_cents: 0,
        warnings: Vec::new(),
        retractions: of_request,
    };
    r.derive(None);
    r
}

/// A request that is not retracted, with its object.
fn live(doc: &AutoCommit, id: &str) -> Result<(ObjId, RecordRequest)> {
    let o = item(doc, "record_requests", id, "record request")?;
    let r = load(doc, id.to_string(), &o);
    if !r.retractions.is_empty() {
        return Err(Error::Retracted { kind: "record request", id: id.to_string() });
    }
    Ok((o, r))
}

/// Append an entry to a request's log; returns its id and object.
fn append_entry(
    doc: &mut AutoCommit,
    request: &ObjId,
    kind: &str,
    date: Date,
    note: Option<&str>,
    by: Option<&str>,
) -> Result<(String, ObjId)> {
    let log = am::child(doc, request, "events", "event log")?;
    let at = doc.length(&log);
    let e = doc.insert_object(&log, at, ObjType::Map)?;
    let id = new_item_id();
    doc.put(&e, "id", id.as_str())?;
    doc.put(&e, "kind", kind)?;
    doc.put(&e, "date", format_date(date))?;
    am::put_opt_str(doc, &e, "note", note)?;
    am::put_opt_str(doc, &e, "by", by)?;
    Ok((id, e))
}

/// Refuse an event the log (as of `today`) shows cannot be right: dated after today, or before the written
/// request (or a written request dated after events that answer it).
fn check_sequence(r: &RecordRequest, kind: EventKind, date: Date, today: Date) -> Result<()> {
    if date > today {
        return Err(Error::ImpossibleDate {
            reason: format!(
                "{kind} dated {} is after today ({}): an event cannot be logged before it happens",
                format_date(date),
                format_date(today)
            ),
        });
    }
    match (kind, r.requested_on) {
        (EventKind::RequestedInWriting, None) => {
            match r.events.iter().find(|e| e.counted && e.kind != EventKind::RequestedInWriting && e.date < date) {
                Some(e) => Err(Error::ImpossibleDate {
                    reason: format!(
                        "the log already has {} dated {}, before this written request ({}): log the request with \
                         the day it was sent, or retract that entry first",
                        e.kind,
                        format_date(e.date),
                        format_date(date)
                    ),
                }),
                None => Ok(()),
            }
        }
        (EventKind::RequestedInWriting, Some(_)) => Ok(()),
        (_, Some(requested)) if date < requested => Err(Error::ImpossibleDate {
            reason: format!(
                "{kind} dated {} is before the written request ({}): check the date, or retract the written \
                 request if it is the one that is wrong",
                format_date(date),
                format_date(requested)
            ),
        }),
        _ => Ok(()),
    }
}

/// Store the set of items: `true` for each requested item, `false` for one no longer requested.
fn put_items(doc: &mut AutoCommit, request: &ObjId, items_: &[RecordItem]) -> Result<()> {
    let its = match am::get_obj(doc, request, "items") {
        Some(m) => m,
        None => doc.put_object(request, "items", ObjType::Map)?,
    };
    for i in RecordItem::ALL {
        let wanted = items_.contains(i);
        if wanted {
            doc.put(&its, i.key(), true)?;
        } else if am::get_bool(doc, &its, i.key()) {
            doc.put(&its, i.key(), false)?;
        }
    }
    Ok(())
}

impl Case {
    /// Add a record request. `items` must not be empty. See [`Channel::default_for`] for the usual channel.
    pub fn add_record_request(&mut self, custodian: &str, items_: &[RecordItem], channel: Channel) -> Result<String> {
        let custodian = required("custodian", custodian)?;
        if items_.is_empty() {
            return Err(Error::InvalidInput { field: "items", reason: "name at least one item to request".into() });
        }
        self.edit(|doc| {
            let (id, o) = new_item(doc, "record_requests")?;
            doc.put(&o, "custodian", custodian)?;
            doc.put(&o, "channel", channel.key())?;
            let its = doc.put_object(&o, "items", ObjType::Map)?;
            for i in items_ {
                doc.put(&its, i.key(), true)?;
            }
            doc.put_object(&o, "events", ObjType::List)?;
            Ok(id)
        })
    }

    /// Set or clear the date lent material must be back.
    pub fn set_return_by(&mut self, id: &str, date: Option<&str>) -> Result<()> {
        self.edit_record_request(id, RequestChanges { return_by: Some(date), ..Default::default() })
    }

    /// Change a request's fields: custodian, items, channel, return-by date. Concurrent edits of different
    /// fields (or items) merge; the log is untouched.
    pub fn edit_record_request(&mut self, id: &str, changes: RequestChanges<'_>) -> Result<()> {
        let custodian = changes.custodian.map(|c| required("custodian", c)).transpose()?;
        if changes.items.is_some_and(|i| i.is_empty()) {
            return Err(Error::InvalidInput { field: "items", reason: "name at least one item to request".into() });
        }
        let return_by = changes.return_by.map(|d| d.map(|d| parse_date("return_by", d)).transpose()).transpose()?;
        if custodian.is_none() && changes.items.is_none() && changes.channel.is_none() && return_by.is_none() {
            return Err(Error::InvalidInput { field: "changes", reason: "nothing to change".into() });
        }
        self.edit(|doc| {
            let (o, _) = live(doc, id)?;
            if let Some(c) = custodian {
                doc.put(&o, "custodian", c)?;
            }
            if let Some(i) = changes.items {
                put_items(doc, &o, i)?;
            }
            if let Some(c) = changes.channel {
                doc.put(&o, "channel", c.key())?;
            }
            if let Some(d) = return_by {
                am::put_opt_str(doc, &o, "return_by", d.map(format_date).as_deref())?;
            }
            Ok(())
        })
    }

    /// Append an event to a request's log (the log is never rewritten). Returns the event's id.
    ///
    /// `today` is the caller's local date. Refused with [`Error::ImpossibleDate`]: an event dated after
    /// `today`; an answer (acknowledged, received, extension, …) dated before the written request; a written
    /// request dated after answers already logged.
    pub fn log_request_event(&mut self, id: &str, ev: NewEvent<'_>, today: Date) -> Result<String> {
        let kind = EventKind::parse("event", ev.kind)?;
        let date = parse_date("date", ev.date)?;
        let note = optional(ev.note);
        self.edit(|doc| {
            if let Some(by) = ev.by {
                check_caregiver(doc, by)?;
            }
            let (o, mut r) = live(doc, id)?;
            r.derive(Some(today));
            check_sequence(&r, kind, date, today)?;
            let (event, e) = append_entry(doc, &o, kind.key(), date, note.as_deref(), ev.by)?;
            if let Some(f) = ev.fee_cents {
                doc.put(&e, "fee_cents", f)?;
            }
            Ok(event)
        })
    }

    /// Retract an event of a request's log: a retraction entry (who, when, why) is appended and the event no
    /// longer counts; nothing is deleted. Returns the retraction's id. An event already retracted is refused
    /// with [`Error::Retracted`].
    pub fn retract_request_event(&mut self, id: &str, event: &str, how: Retract<'_>) -> Result<String> {
        let reason = optional(how.reason);
        self.edit(|doc| {
            if let Some(by) = how.by {
                check_caregiver(doc, by)?;
            }
            let (o, r) = live(doc, id)?;
            let e = r
                .events
                .iter()
                .find(|e| e.id == event)
                .ok_or_else(|| Error::UnknownId { kind: "request event", id: event.to_string() })?;
            if !e.retractions.is_empty() {
                return Err(Error::Retracted { kind: "request event", id: event.to_string() });
            }
            let (rid, entry) = append_entry(doc, &o, RETRACT_EVENT, how.today, reason.as_deref(), how.by)?;
            doc.put(&entry, "event", event)?;
            Ok(rid)
        })
    }

    /// Retract a whole request: it leaves the list of requests (and progress, overdue) but stays, with its
    /// log and the retraction (who, when, why), among [`Case::retracted_record_requests`]. Returns the
    /// retraction's id.
    pub fn retract_record_request(&mut self, id: &str, how: Retract<'_>) -> Result<String> {
        let reason = optional(how.reason);
        self.edit(|doc| {
            if let Some(by) = how.by {
                check_caregiver(doc, by)?;
            }
            let (o, _) = live(doc, id)?;
            Ok(append_entry(doc, &o, RETRACT_REQUEST, how.today, reason.as_deref(), how.by)?.0)
        })
    }

    /// Every record request (retracted ones left out) with its status as the log stands, in the order of
    /// [`RecordRequest::list_order`]. Events dated in the future still count here:
    /// [`Case::request_progress`] gives the view as of a day, which sets them aside and flags them.
    pub fn record_requests(&self) -> Vec<RecordRequest> {
        self.all_record_requests().into_iter().filter(|r| r.retractions.is_empty()).collect()
    }

    /// The retracted requests, with their logs and retractions (the history stays visible).
    pub fn retracted_record_requests(&self) -> Vec<RecordRequest> {
        self.all_record_requests().into_iter().filter(|r| !r.retractions.is_empty()).collect()
    }

    fn all_record_requests(&self) -> Vec<RecordRequest> {
        let doc = &self.main.doc;
        let mut v: Vec<RecordRequest> =
            items(doc, "record_requests").into_iter().map(|(id, o)| load(doc, id, &o)).collect();
        v.sort_by_cached_key(RecordRequest::list_order);
        v
    }

    /// Every request with overdue, waiting days, material out and late return, as of `today`, in the order
    /// of [`RecordRequest::list_order`] as of that day.
    pub fn request_progress(&self, today: Date) -> Vec<RequestProgress> {
        let mut v: Vec<RequestProgress> = self.record_requests().into_iter().map(|r| r.progress(today)).collect();
        v.sort_by_cached_key(|p| p.request.list_order());
        v
    }

    /// Requests past their legal due date, as of `today`.
    pub fn overdue_requests(&self, today: Date) -> Vec<RequestProgress> {
        self.request_progress(today).into_iter().filter(|p| p.overdue).collect()
    }
}

#[cfg(test)]
mod tests {
    use automerge::ROOT;
    use time::macros::date;

    use super::*;

    /// A request as the first version wrote it: events without ids.
    fn legacy_request(doc: &mut AutoCommit) -> ObjId {
        let o = doc.put_object(ROOT, "r", ObjType::Map).unwrap();
        doc.put(&o, "custodian", "Lab").unwrap();
        doc.put(&o, "channel", "patient_request").unwrap();
        let its = doc.put_object(&o, "items", ObjType::Map).unwrap();
        doc.put(&its, "pathology_report", true).unwrap();
        let log = doc.put_object(&o, "events", ObjType::List).unwrap();
        for (i, (kind, day)) in
            [("requested_in_writing", "2026-10-01"), ("received", "2026-10-10")].into_iter().enumerate()
        {
            let e = doc.insert_object(&log, i, ObjType::Map).unwrap();
            doc.put(&e, "kind", kind).unwrap();
            doc.put(&e, "date", day).unwrap();
        }
        o
    }

    #[test]
    fn events_without_ids_are_named_by_their_object_id_the_same_on_every_replica() {
        let mut doc = AutoCommit::new();
        let o = legacy_request(&mut doc);
        let r = load(&doc, "r".into(), &o);
        assert_eq!(r.status, RequestStatus::Received);
        let received = r.events[1].id.clone();
        assert!(received.contains('@'), "{received}");
        let mut fork = doc.fork();
        assert_eq!(load(&fork, "r".into(), &o).events[1].id, received);

        // They can be retracted by that id; an entry of a kind this version does not know is skipped.
        let (_, e) = append_entry(&mut fork, &o, RETRACT_EVENT, date!(2026 - 11 - 01), None, None).unwrap();
        fork.put(&e, "event", received.as_str()).unwrap();
        append_entry(&mut fork, &o, "from_a_newer_version", date!(2026 - 11 - 01), None, None).unwrap();
        let r = load(&fork, "r".into(), &o);
        assert_eq!(r.status, RequestStatus::Requested);
        assert_eq!(r.events.len(), 2);
        assert!(!r.events[1].counted);
        assert_eq!(r.events[1].retractions.len(), 1);
    }

    #[test]
    fn an_older_reader_skips_retraction_entries() {
        // What the first version did with each entry: parse its kind as an event kind, else skip it.
        let mut doc = AutoCommit::new();
        let o = legacy_request(&mut doc);
        append_entry(&mut doc, &o, RETRACT_REQUEST, date!(2026 - 11 - 01), Some("duplicate"), None).unwrap();
        let log = am::get_obj(&doc, &o, "events").unwrap();
        let kinds: Vec<_> = (0..doc.length(&log))
            .filter_map(|i| match doc.get(&log, i) {
                Ok(Some((_, e))) => am::get_str(&doc, &e, "kind").and_then(|k| EventKind::from_key(&k)),
                _ => None,
            })
            .collect();
        assert_eq!(kinds, vec![EventKind::RequestedInWriting, EventKind::Received]);
    }
}
