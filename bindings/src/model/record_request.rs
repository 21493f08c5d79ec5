//! Record requests (step 3): status derived from an append-only event log by what each event means (never
//! by arrival order); HIPAA due dates for information (not slides or blocks); overdue; corrections by
//! retraction entries (nothing is ever deleted).

use casebook_core::Keyed;
use casebook_core::model::record_request::{
    Channel, EventKind, LegalClock, NewEvent, RecordItem, RecordRequest as CoreRequest, RequestChanges,
    RequestEvent as CoreEvent, RequestProgress as CoreProgress, RequestStatus, RequestWarning as CoreWarning, Retract,
    Retraction as CoreRetraction, WarningKind,
};
use time::Date;

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

/// Which legal deadline a request runs on.
#[uniffi::remote(Enum)]
pub enum LegalClock {
    /// The patient's own request for information only: HIPAA's 30 days (+30 once) cover every item.
    Hipaa,
    /// The patient's own request for information and specimens: the clock covers the reports, images and
    /// results only; the slides or blocks have no legal deadline.
    HipaaInformationOnly,
    /// The patient's own request for slides or blocks only: specimens, not information — no legal deadline.
    NoneSpecimens,
    /// Provider to provider, or lab to lab: no legal deadline.
    NoneChannel,
}

/// Why an event of the log is flagged.
#[uniffi::remote(Enum)]
pub enum WarningKind {
    /// Dated before the written request it answers: not counted.
    BeforeRequest,
    /// Dated after today: not counted.
    FutureDate,
    /// An extension notice given after the first 30 days: it does not move the due date.
    LateExtension,
    /// A second extension: only one counts.
    ExtraExtension,
    /// Contradicts a final answer logged earlier (denied after received, anything after returned).
    AfterSettled,
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

/// A retraction: an entry of its own (who, when, why); nothing is deleted.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Retraction {
    /// Entry id.
    pub id: String,
    /// Day it was recorded, `YYYY-MM-DD`.
    pub on: String,
    /// Caregiver id of who retracted.
    pub by: Option<String>,
    /// Why, if given.
    pub reason: Option<String>,
}

/// One logged event.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RequestEvent {
    /// Entry id (to retract it).
    pub id: String,
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
    /// Retractions of this event; a retracted event no longer counts.
    pub retractions: Vec<Retraction>,
    /// Whether it counts toward the status and due date (false when retracted or flagged by a warning).
    pub counted: bool,
}

/// An event kept in the log but not counted, and why.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RequestWarning {
    /// Why it is flagged.
    pub kind: WarningKind,
    /// Id of the event concerned.
    pub event: String,
    /// The explanation, for the family.
    pub message: String,
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
    /// Date by which lent slides or blocks must be back (`YYYY-MM-DD`), if any.
    pub return_by: Option<String>,
    /// The log (retracted events included, flagged), ordered by date, then kind, then id.
    pub events: Vec<RequestEvent>,
    /// Derived status.
    pub status: RequestStatus,
    /// Whether nothing more will come (received, denied or returned).
    pub settled: bool,
    /// Date of the first written request.
    pub requested_on: Option<String>,
    /// Date of the final answer, if settled.
    pub answered_on: Option<String>,
    /// Which legal deadline applies.
    pub clock: LegalClock,
    /// What the clock covers, in a sentence to show with the due date (it counts from the day the request
    /// was sent: early, the safe side).
    pub clock_note: String,
    /// Legal due date (the patient's own request for information only): request + 30 days, + 30 after one
    /// extension notice given within the first 30 days.
    pub due: Option<String>,
    /// Total fees asked, in cents.
    pub fees_cents: u64,
    /// Events not counted, and why.
    pub warnings: Vec<RequestWarning>,
    /// Retractions of the whole request (only in `retracted_record_requests`).
    pub retractions: Vec<Retraction>,
}

/// A request with what is derived as of a day.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RequestProgress {
    /// The request, derived as of the same day.
    pub request: RecordRequest,
    /// Past its legal due date without a final answer.
    pub overdue: bool,
    /// Days since the written request (until the final answer, or today).
    pub days_waiting: Option<i64>,
    /// Slides or blocks are out and must go back.
    pub material_out: bool,
    /// The return-by date has passed and nothing is logged as returned.
    pub return_late: bool,
}

/// Changes to a request's fields (`None` leaves a field as it is).
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct RecordRequestChanges {
    /// New custodian.
    #[uniffi(default = None)]
    pub custodian: Option<String>,
    /// The new list of items (replaces the old one; must not be empty).
    #[uniffi(default = None)]
    pub items: Option<Vec<RecordItem>>,
    /// New channel.
    #[uniffi(default = None)]
    pub channel: Option<Channel>,
    /// New return-by date, `YYYY-MM-DD`.
    #[uniffi(default = None)]
    pub return_by: Option<String>,
    /// Clear the return-by date.
    #[uniffi(default = false)]
    pub clear_return_by: bool,
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

impl From<CoreRetraction> for Retraction {
    fn from(r: CoreRetraction) -> Self {
        Self { id: r.id, on: casebook_core::dates::format_date(r.on), by: r.by, reason: r.reason }
    }
}

impl From<CoreEvent> for RequestEvent {
    fn from(e: CoreEvent) -> Self {
        Self {
            id: e.id,
            kind: e.kind,
            date: casebook_core::dates::format_date(e.date),
            note: e.note,
            fee_cents: e.fee_cents,
            by: e.by,
            retractions: e.retractions.into_iter().map(Into::into).collect(),
            counted: e.counted,
        }
    }
}

impl From<CoreWarning> for RequestWarning {
    fn from(w: CoreWarning) -> Self {
        Self { kind: w.kind, event: w.event, message: w.message }
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
            answered_on: date(r.answered_on),
            clock: r.clock,
            clock_note: r.clock_note,
            due: date(r.due),
            fees_cents: r.fees_cents,
            warnings: r.warnings.into_iter().map(Into::into).collect(),
            retractions: r.retractions.into_iter().map(Into::into).collect(),
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
            return_late: p.return_late,
        }
    }
}

/// The latest local date anywhere on Earth (today in UTC + 1 day): used when an app does not pass its local
/// date, so that a family ahead of UTC is never refused an event dated its own "today".
fn latest_local_today(today: Option<String>) -> Result<Date> {
    match today {
        Some(d) => Ok(casebook_core::dates::parse_date("today", &d)?),
        None => {
            let utc = casebook_core::dates::today();
            Ok(utc.next_day().unwrap_or(utc))
        }
    }
}

/// The usual channel for `items`: slides and blocks alone are lent lab to lab (`LAB_RELEASE`: the patient's
/// right of access covers information, not specimens); anything else is the patient's own request.
#[uniffi::export]
pub fn default_channel_for(items: Vec<RecordItem>) -> Channel {
    Channel::default_for(&items)
}

#[uniffi::export]
impl Case {
    /// Every record request with its derived status.
    pub fn record_requests(&self) -> Result<Vec<RecordRequest>> {
        Ok(self.read(|c| c.record_requests())?.into_iter().map(Into::into).collect())
    }

    /// Every request with overdue, days waiting and material out, as of `today` (`YYYY-MM-DD`, the app's
    /// local date; default: today in the device's time zone).
    #[uniffi::method(default(today = None))]
    pub fn request_progress(&self, today: Option<String>) -> Result<Vec<RequestProgress>> {
        let today = today_or(today)?;
        Ok(self.read(|c| c.request_progress(today))?.into_iter().map(Into::into).collect())
    }

    /// Requests past their legal due date, as of `today` (the app's local date; default: today in the
    /// device's time zone).
    #[uniffi::method(default(today = None))]
    pub fn overdue_requests(&self, today: Option<String>) -> Result<Vec<RequestProgress>> {
        let today = today_or(today)?;
        Ok(self.read(|c| c.overdue_requests(today))?.into_iter().map(Into::into).collect())
    }

    /// The retracted requests, with their logs and retractions (the history stays visible).
    pub fn retracted_record_requests(&self) -> Result<Vec<RecordRequest>> {
        Ok(self.read(|c| c.retracted_record_requests())?.into_iter().map(Into::into).collect())
    }

    /// Add a record request (`items` must not be empty), with the date lent slides or blocks must be back
    /// (`YYYY-MM-DD`), if any. Returns its id. `Channel.LAB_RELEASE` is the usual channel for slides or blocks
    /// alone: the patient's right of access covers information, not specimens.
    #[uniffi::method(default(return_by = None))]
    pub fn add_record_request(
        &self,
        custodian: String,
        items: Vec<RecordItem>,
        channel: Channel,
        return_by: Option<String>,
    ) -> Result<String> {
        // Checked first, so that a bad date adds nothing.
        if let Some(d) = return_by.as_deref() {
            casebook_core::dates::parse_date("return_by", d)?;
        }
        self.write(|c| {
            let id = c.add_record_request(&custodian, &items, channel)?;
            if let Some(d) = return_by.as_deref() {
                c.set_return_by(&id, Some(d))?;
            }
            Ok(id)
        })
    }

    /// Set or clear the date lent material must be back (`YYYY-MM-DD`).
    pub fn set_return_by(&self, id: String, date: Option<String>) -> Result<()> {
        self.write(|c| c.set_return_by(&id, date.as_deref()))
    }

    /// Correct a request's fields (custodian, items, channel, return-by date); its log is untouched.
    pub fn edit_record_request(&self, id: String, changes: RecordRequestChanges) -> Result<()> {
        let return_by = casebook_core::model::set_or_clear(changes.return_by.as_deref(), changes.clear_return_by);
        self.write(|c| {
            c.edit_record_request(
                &id,
                RequestChanges {
                    custodian: changes.custodian.as_deref(),
                    items: changes.items.as_deref(),
                    channel: changes.channel,
                    return_by,
                },
            )
        })
    }

    /// Append an event to a request's log (the log is never rewritten: two caregivers logging offline
    /// keep both events). `today` is the app's local date (`YYYY-MM-DD`; default: the latest local date on
    /// Earth, UTC + 1 day). An event dated after `today`, or an answer dated before the written request, is
    /// refused with `InvalidInput`.
    #[uniffi::method(default(today = None))]
    pub fn log_request_event(&self, id: String, event: NewRequestEvent, today: Option<String>) -> Result<()> {
        let today = latest_local_today(today)?;
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
                today,
            )
            .map(|_| ())
        })
    }

    /// Retract an event logged by mistake: a retraction entry (who, when, why) is added and the event no
    /// longer counts; nothing is deleted. `today` is the app's local date (default: today in the device's
    /// time zone). Returns the retraction's id.
    #[uniffi::method(default(reason = None, by = None, today = None))]
    pub fn retract_request_event(
        &self,
        id: String,
        event: String,
        reason: Option<String>,
        by: Option<String>,
        today: Option<String>,
    ) -> Result<String> {
        let today = today_or(today)?;
        self.write(|c| {
            c.retract_request_event(&id, &event, Retract { today, by: by.as_deref(), reason: reason.as_deref() })
        })
    }

    /// Retract a whole request added by mistake: it leaves `record_requests` (and progress, overdue) and
    /// stays, with its log, in `retracted_record_requests`. Returns the retraction's id.
    #[uniffi::method(default(reason = None, by = None, today = None))]
    pub fn retract_record_request(
        &self,
        id: String,
        reason: Option<String>,
        by: Option<String>,
        today: Option<String>,
    ) -> Result<String> {
        let today = today_or(today)?;
        self.write(|c| c.retract_record_request(&id, Retract { today, by: by.as_deref(), reason: reason.as_deref() }))
    }
}
