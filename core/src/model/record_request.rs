//! Record requests (step 3). Status is derived from an append-only event log, so two siblings recording
//! events offline never overwrite each other: both events are kept and the status follows the dates.

use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc};
use time::{Date, Duration};

use super::{Keyed, check_caregiver, item, items, new_item, optional, required};
use crate::am;
use crate::case::Case;
use crate::dates::{format_date, parse_date, stored_date};
use crate::error::{Error, Result};

/// Days a provider has to act on a patient's own written request (HIPAA right of access).
pub const HIPAA_DAYS: i64 = 30;
/// Days one written extension adds (allowed once).
pub const HIPAA_EXTENSION_DAYS: i64 = 30;

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
}

impl std::fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

/// One logged event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RequestEvent {
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
    /// Date by which lent material must be back, if any.
    pub return_by: Option<Date>,
    /// The log, in date order.
    pub events: Vec<RequestEvent>,
    /// Derived status.
    pub status: RequestStatus,
    /// Date of the first written request.
    pub requested_on: Option<Date>,
    /// Legal due date (patient's own requests only): request + 30 days, + 30 after an extension.
    pub due: Option<Date>,
    /// Total fees asked, in cents.
    pub fees_cents: u64,
}

/// Derived facts about a request as of a day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RequestProgress {
    /// The request.
    pub request: RecordRequest,
    /// Past its due date without a final answer.
    pub overdue: bool,
    /// Days since the written request (until received, or today).
    pub days_waiting: Option<i64>,
    /// Slides or blocks are with the family or second-opinion lab and must go back.
    pub material_out: bool,
}

impl RecordRequest {
    fn derive(&mut self) {
        self.events.sort_by_key(|e| (e.date, e.kind));
        self.requested_on = self.events.iter().find(|e| e.kind == EventKind::RequestedInWriting).map(|e| e.date);
        self.fees_cents = self.events.iter().filter_map(|e| e.fee_cents).sum();
        let extended = self.events.iter().any(|e| e.kind == EventKind::Extension);
        self.due = match (self.channel, self.requested_on) {
            (Channel::PatientRequest, Some(r)) => {
                let days = HIPAA_DAYS + if extended { HIPAA_EXTENSION_DAYS } else { 0 };
                r.checked_add(Duration::days(days))
            }
            _ => None,
        };
        let mut status = RequestStatus::NotRequested;
        for e in &self.events {
            status = match e.kind {
                EventKind::RequestedInWriting if status == RequestStatus::NotRequested => RequestStatus::Requested,
                EventKind::Acknowledged => RequestStatus::Acknowledged,
                EventKind::Extension => RequestStatus::Extended,
                EventKind::PartiallyReceived => RequestStatus::PartiallyReceived,
                EventKind::Received => RequestStatus::Received,
                EventKind::Denied => RequestStatus::Denied,
                EventKind::Returned => RequestStatus::Returned,
                _ => status,
            };
        }
        self.status = status;
    }

    /// Whether the request is settled (nothing more will come).
    pub fn is_settled(&self) -> bool {
        matches!(self.status, RequestStatus::Received | RequestStatus::Denied | RequestStatus::Returned)
    }

    /// Past its legal due date without a final answer, as of `today`.
    pub fn is_overdue(&self, today: Date) -> bool {
        !self.is_settled() && self.due.is_some_and(|d| today > d)
    }

    /// Overdue, waiting days and material out, as of `today`.
    pub fn progress(self, today: Date) -> RequestProgress {
        let overdue = self.is_overdue(today);
        let end = self
            .events
            .iter()
            .find(|e| matches!(e.kind, EventKind::Received | EventKind::Denied))
            .map(|e| e.date)
            .unwrap_or(today);
        let days_waiting = self.requested_on.map(|r| (end - r).whole_days().max(0));
        let material = self.items.iter().any(|i| matches!(i, RecordItem::PathologySlides | RecordItem::TissueBlocks));
        let material_out = material
            && matches!(self.status, RequestStatus::Received | RequestStatus::PartiallyReceived)
            && !self.events.iter().any(|e| e.kind == EventKind::Returned);
        RequestProgress { request: self, overdue, days_waiting, material_out }
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

impl Case {
    /// Add a record request. `items` must not be empty.
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
        let d = date.map(|d| parse_date("return_by", d)).transpose()?;
        self.edit(|doc| {
            let o = item(doc, "record_requests", id, "record request")?;
            am::put_opt_str(doc, &o, "return_by", d.map(format_date).as_deref())
        })
    }

    /// Append an event to a request's log (the log is never rewritten).
    pub fn log_request_event(&mut self, id: &str, ev: NewEvent<'_>) -> Result<()> {
        let kind = EventKind::parse("event", ev.kind)?;
        let date = parse_date("date", ev.date)?;
        let note = optional(ev.note);
        self.edit(|doc| {
            if let Some(by) = ev.by {
                check_caregiver(doc, by)?;
            }
            let o = item(doc, "record_requests", id, "record request")?;
            let log = am::child(doc, &o, "events", "event log")?;
            let at = doc.length(&log);
            let e = doc.insert_object(&log, at, ObjType::Map)?;
            doc.put(&e, "kind", kind.key())?;
            doc.put(&e, "date", format_date(date))?;
            am::put_opt_str(doc, &e, "note", note.as_deref())?;
            if let Some(f) = ev.fee_cents {
                doc.put(&e, "fee_cents", f)?;
            }
            am::put_opt_str(doc, &e, "by", ev.by)?;
            Ok(())
        })
    }

    /// Every record request with its derived status.
    pub fn record_requests(&self) -> Vec<RecordRequest> {
        let doc = &self.main.doc;
        items(doc, "record_requests")
            .into_iter()
            .map(|(id, o)| {
                let items = am::get_obj(doc, &o, "items")
                    .map(|m| {
                        am::keys(doc, &m)
                            .into_iter()
                            .filter(|k| am::get_bool(doc, &m, k))
                            .filter_map(|k| RecordItem::from_key(&k))
                            .collect()
                    })
                    .unwrap_or_default();
                let events = am::get_obj(doc, &o, "events")
                    .map(|log| {
                        (0..doc.length(&log))
                            .filter_map(|i| match doc.get(&log, i) {
                                Ok(Some((_, e))) => Some(e),
                                _ => None,
                            })
                            .filter_map(|e| {
                                Some(RequestEvent {
                                    kind: EventKind::from_key(&am::get_str(doc, &e, "kind")?)?,
                                    date: stored_date(am::get_str(doc, &e, "date"))?,
                                    note: am::get_str(doc, &e, "note"),
                                    fee_cents: am::get_u64(doc, &e, "fee_cents"),
                                    by: am::get_str(doc, &e, "by"),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let mut r = RecordRequest {
                    id,
                    custodian: am::get_str(doc, &o, "custodian").unwrap_or_default(),
                    items,
                    channel: am::get_str(doc, &o, "channel")
                        .and_then(|c| Channel::from_key(&c))
                        .unwrap_or(Channel::PatientRequest),
                    return_by: stored_date(am::get_str(doc, &o, "return_by")),
                    events,
                    status: RequestStatus::NotRequested,
                    requested_on: None,
                    due: None,
                    fees_cents: 0,
                };
                r.derive();
                r
            })
            .collect()
    }

    /// Every request with overdue, waiting days and material out, as of `today`.
    pub fn request_progress(&self, today: Date) -> Vec<RequestProgress> {
        self.record_requests().into_iter().map(|r| r.progress(today)).collect()
    }

    /// Requests past their legal due date, as of `today`.
    pub fn overdue_requests(&self, today: Date) -> Vec<RequestProgress> {
        self.request_progress(today).into_iter().filter(|p| p.overdue).collect()
    }
}
