//! Record requests (step 3): status derived from an append-only event log; HIPAA due dates; overdue.

use casebook_core::Keyed;
use casebook_core::model::record_request::{
    Channel, EventKind, NewEvent, RecordItem, RecordRequest as CoreRequest, RequestEvent as CoreEvent,
    RequestProgress as CoreProgress, RequestStatus,
};

use crate::case::Case;
use crate::convert::{date, today_or};
use crate::error::Result;

/// What is requested.
#[uniffi::remote(Enum)]
pub enum RecordItem {
    /// Pathology slides (the tissue itself).
    PathologySlides,
    /// Tissue blocks.
    TissueBlocks,
    /// Pathology report.
    PathologyReport,
    /// Imaging studies on disc (DICOM).
    ImagingDisc,
    /// Imaging reports.
    ImagingReport,
    /// Laboratory reports.
    LabReports,
    /// Operative report.
    OperativeReport,
    /// Treatment history.
    TreatmentHistory,
    /// Anything else.
    Other,
}

/// How the records travel: only the patient's own request runs on the HIPAA 30-day clock.
#[uniffi::remote(Enum)]
pub enum Channel {
    /// The patient's (or representative's) own written HIPAA access request.
    PatientRequest,
    /// Sent provider to provider (no legal clock).
    ProviderToProvider,
    /// Slides or blocks lent lab to lab (no legal clock; expected back).
    LabRelease,
}

/// An event in a request's log.
#[uniffi::remote(Enum)]
pub enum EventKind {
    /// The request was sent in writing (starts the clock).
    RequestedInWriting,
    /// The custodian acknowledged it.
    Acknowledged,
    /// The custodian gave written notice of a 30-day extension.
    Extension,
    /// A fee was asked.
    Fee,
    /// Part of the items arrived.
    PartiallyReceived,
    /// Everything arrived.
    Received,
    /// The request was denied.
    Denied,
    /// The family followed up.
    FollowedUp,
    /// Slides or blocks were returned to the lab.
    Returned,
}

/// Derived status of a request.
#[uniffi::remote(Enum)]
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

/// One logged event.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RequestEvent {
    /// What happened.
    pub kind: EventKind,
    /// When, `YYYY-MM-DD`.
    pub date: String,
    /// Free note (e.g. the reason of an extension).
    pub note: Option<String>,
    /// Fee in cents, for a fee event.
    pub fee_cents: Option<u64>,
    /// Caregiver id of who recorded it.
    pub by: Option<String>,
}

/// A record request with its derived state.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecordRequest {
    /// Item id.
    pub id: String,
    /// Facility that holds the records.
    pub custodian: String,
    /// What is requested.
    pub items: Vec<RecordItem>,
    /// Channel.
    pub channel: Channel,
    /// Date by which lent material must be back (`YYYY-MM-DD`), if any.
    pub return_by: Option<String>,
    /// The log, in date order.
    pub events: Vec<RequestEvent>,
    /// Derived status.
    pub status: RequestStatus,
    /// Whether nothing more will come (received, denied or returned).
    pub settled: bool,
    /// Date of the first written request.
    pub requested_on: Option<String>,
    /// Legal due date (patient's own requests only): request + 30 days, + 30 after an extension.
    pub due: Option<String>,
    /// Total fees asked, in cents.
    pub fees_cents: u64,
}

/// A request with what is derived as of a day.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RequestProgress {
    /// The request.
    pub request: RecordRequest,
    /// Past its legal due date without a final answer.
    pub overdue: bool,
    /// Days since the written request (until received, or today).
    pub days_waiting: Option<i64>,
    /// Slides or blocks are out and must go back.
    pub material_out: bool,
}

/// A new event to log.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewRequestEvent {
    /// What happened.
    pub kind: EventKind,
    /// When, `YYYY-MM-DD`.
    pub date: String,
    /// Note.
    #[uniffi(default = None)]
    pub note: Option<String>,
    /// Fee in cents (fee events).
    #[uniffi(default = None)]
    pub fee_cents: Option<u64>,
    /// Caregiver id of who records it.
    #[uniffi(default = None)]
    pub by: Option<String>,
}

impl From<CoreEvent> for RequestEvent {
    fn from(e: CoreEvent) -> Self {
        Self {
            kind: e.kind,
            date: casebook_core::dates::format_date(e.date),
            note: e.note,
            fee_cents: e.fee_cents,
            by: e.by,
        }
    }
}

impl From<CoreRequest> for RecordRequest {
    fn from(r: CoreRequest) -> Self {
        Self {
            settled: r.is_settled(),
            id: r.id,
            custodian: r.custodian,
            items: r.items,
            channel: r.channel,
            return_by: date(r.return_by),
            events: r.events.into_iter().map(Into::into).collect(),
            status: r.status,
            requested_on: date(r.requested_on),
            due: date(r.due),
            fees_cents: r.fees_cents,
        }
    }
}

impl From<CoreProgress> for RequestProgress {
    fn from(p: CoreProgress) -> Self {
        Self {
            request: p.request.into(),
            overdue: p.overdue,
            days_waiting: p.days_waiting,
            material_out: p.material_out,
        }
    }
}

#[uniffi::export]
impl Case {
    /// Every record request with its derived status.
    pub fn record_requests(&self) -> Result<Vec<RecordRequest>> {
        Ok(self.read(|c| c.record_requests())?.into_iter().map(Into::into).collect())
    }

    /// Every request with overdue, days waiting and material out, as of `today` (`YYYY-MM-DD`, the app's
    /// local date; default today in UTC).
    #[uniffi::method(default(today = None))]
    pub fn request_progress(&self, today: Option<String>) -> Result<Vec<RequestProgress>> {
        let today = today_or(today)?;
        Ok(self.read(|c| c.request_progress(today))?.into_iter().map(Into::into).collect())
    }

    /// Requests past their legal due date, as of `today` (default today in UTC).
    #[uniffi::method(default(today = None))]
    pub fn overdue_requests(&self, today: Option<String>) -> Result<Vec<RequestProgress>> {
        let today = today_or(today)?;
        Ok(self.read(|c| c.overdue_requests(today))?.into_iter().map(Into::into).collect())
    }

    /// Add a record request (`items` must not be empty). Returns its id.
    pub fn add_record_request(&self, custodian: String, items: Vec<RecordItem>, channel: Channel) -> Result<String> {
        self.write(|c| c.add_record_request(&custodian, &items, channel))
    }

    /// Set or clear the date lent material must be back (`YYYY-MM-DD`).
    pub fn set_return_by(&self, id: String, date: Option<String>) -> Result<()> {
        self.write(|c| c.set_return_by(&id, date.as_deref()))
    }

    /// Append an event to a request's log (the log is never rewritten: two caregivers logging offline
    /// keep both events).
    pub fn log_request_event(&self, id: String, event: NewRequestEvent) -> Result<()> {
        self.write(|c| {
            c.log_request_event(
                &id,
                NewEvent {
                    kind: event.kind.key(),
                    date: &event.date,
                    note: event.note.as_deref(),
                    fee_cents: event.fee_cents,
                    by: event.by.as_deref(),
                },
            )
        })
    }
}
