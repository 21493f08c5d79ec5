//! Documents made from the case for the world outside the app: the calendar file (iCalendar, RFC 5545) to
//! hand to the phone's calendar, and the request letter to print, sign and send to a records custodian.

use casebook_core::model::calendar::CalendarOptions;
use casebook_core::model::letter::DeliveryFormat;

use crate::case::Case;
use crate::convert::today_or;
use crate::error::Result;

/// How a custodian is asked to deliver copies of records.
#[uniffi::remote(Enum)]
pub enum DeliveryFormat {
    /// On a CD or DVD (imaging studies as DICOM images).
    Disc,
    /// Electronically: the patient portal or a secure download link.
    Portal,
    /// Paper copies (imaging studies still on a disc).
    Paper,
}

#[uniffi::export]
impl Case {
    /// The case as an iCalendar file (`.ics` text, CRLF line endings): appointments (past ones included),
    /// the decision date, records due, slides and blocks to return, tasks due. Titles are generic ("Medical
    /// appointment", "Records request due", …) unless `details`, which adds names, task titles and places:
    /// calendars sync to third-party clouds, so ask before turning it on. Each event keeps its UID from one
    /// export to the next and its SEQUENCE rises when it changes: importing a newer file updates the events,
    /// and removes those that no longer apply (cancelled). `today` (`YYYY-MM-DD`, default: today in the
    /// device's time zone) is the day record requests are read as of. Decodes the case's whole history:
    /// call it when the user exports, not on every render.
    #[uniffi::method(default(today = None))]
    pub fn calendar(&self, details: bool, today: Option<String>) -> Result<String> {
        let options = CalendarOptions { today: today_or(today)?, stamp: time::OffsetDateTime::now_utc(), details };
        self.try_read(|c| c.calendar(&options))
    }

    /// A record request as a ready-to-sign letter (plain text) dated `today` (`YYYY-MM-DD`, default: today
    /// in the device's time zone): the patient's HIPAA right-of-access request for the records, with the
    /// 30-day rule, in `format` (default: a disc when imaging studies are requested, else paper), and a loan
    /// request for pathology slides and blocks with their return-by date. Refused (`InvalidInput`) for a
    /// request for records on a channel other than the patient's own request: change its channel first.
    #[uniffi::method(default(today = None, format = None))]
    pub fn request_letter(
        &self,
        request_id: String,
        today: Option<String>,
        format: Option<DeliveryFormat>,
    ) -> Result<String> {
        let today = today_or(today)?;
        self.try_read(|c| c.request_letter(&request_id, today, format))
    }
}

#[cfg(test)]
mod tests {
    use casebook_core::model::record_request::{Channel, RecordItem};

    use crate::store::Store;

    #[test]
    fn the_calendar_and_the_letter_through_the_bindings() {
        let store = Store::in_memory();
        let case = store.create_case("Mum".into(), "Ana".into(), None).unwrap().case;
        let id = case
            .try_read(|c| c.add_record_request("City Hospital", &[RecordItem::LabReports], Channel::PatientRequest))
            .unwrap();
        case.try_read(|c| c.add_task("Call the lab", None, Some("2026-12-09"))).unwrap();
        let ics = case.calendar(false, Some("2026-12-05".into())).unwrap();
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.contains("SUMMARY:Task due\r\n"), "{ics}");
        assert!(!ics.contains("Call the lab"));
        assert!(case.calendar(true, Some("2026-12-05".into())).unwrap().contains("SUMMARY:Call the lab\r\n"));
        let letter = case.request_letter(id.clone(), Some("2026-12-05".into()), Some(super::DeliveryFormat::Portal));
        let letter = letter.unwrap();
        assert!(letter.contains("City Hospital") && letter.contains("164.524(b)(2)"), "{letter}");
        assert!(case.request_letter("nope".into(), None, None).is_err());
    }
}
