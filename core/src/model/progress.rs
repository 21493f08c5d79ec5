//! Progress through the guide's seven steps, computed from the case (never stored), with what is done —
//! milestones to celebrate — and what is next.

use time::Date;

use super::appointment::AppointmentKind;
use super::question::GUIDE_AUTHOR;
use super::specialist::SpecialistStatus;
use crate::case::Case;

/// One step of the guide.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    /// 1–7.
    pub number: u8,
    /// The guide's title of the step.
    pub title: &'static str,
    /// Whether the step is complete.
    pub done: bool,
    /// Milestones reached in this step.
    pub achieved: Vec<String>,
    /// What to do next, if anything.
    pub next: Option<String>,
}

/// All seven steps.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    /// The steps in order.
    pub steps: Vec<Step>,
    /// How many are done.
    pub done: usize,
}

fn step(number: u8, title: &'static str, achieved: Vec<String>, next: Option<String>) -> Step {
    Step { number, title, done: next.is_none(), achieved, next }
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {one}s") }
}

impl Case {
    /// Progress through the seven steps as of `today`.
    pub fn progress(&self, today: Date) -> Progress {
        let prefs = self.preferences();
        let specialists = self.specialists();
        let requests = self.record_requests();
        let documents = self.documents();
        let meds = self.medications();
        let history = self.family_history();
        let questions = self.questions();
        let appointments = self.appointments();
        let opinions = self.opinions();
        let mut steps = Vec::with_capacity(7);

        // 1. The conversation.
        steps.push(if prefs.agreed_to_second_opinion {
            step(1, "Have the conversation", vec!["Agreed together to seek a second opinion".into()], None)
        } else {
            step(
                1,
                "Have the conversation",
                vec![],
                Some("Talk with your loved one and record that they agree to a second opinion".into()),
            )
        });

        // 2. Specialists.
        let engaged = specialists
            .iter()
            .filter(|s| {
                matches!(s.status, SpecialistStatus::Contacted | SpecialistStatus::Scheduled | SpecialistStatus::Seen)
            })
            .count();
        let mut achieved = vec![];
        if !specialists.is_empty() {
            achieved.push(format!("{} found", plural(specialists.len(), "specialist")));
        }
        if engaged > 0 {
            achieved.push(format!("{} contacted", plural(engaged, "specialist")));
        }
        let next = if specialists.is_empty() {
            Some("Find a subspecialist in this cancer type, ideally at an NCI-designated centre".into())
        } else if engaged == 0 {
            Some("Contact one of the specialists you found".into())
        } else {
            None
        };
        steps.push(step(2, "Identify specialists", achieved, next));

        // 3. Records.
        let received = requests.iter().filter(|r| r.is_settled()).count();
        let overdue = requests.iter().filter(|r| r.is_overdue(today)).count();
        let unsent = requests.iter().filter(|r| r.requested_on.is_none()).count();
        let mut achieved = vec![];
        if !requests.is_empty() {
            achieved.push(format!("{} of {} received", received, plural(requests.len(), "record request")));
        }
        let next = if requests.is_empty() {
            Some("Request pathology slides, imaging discs and reports in writing".into())
        } else if unsent > 0 {
            Some(format!("Send {} in writing", plural(unsent, "request")))
        } else if overdue > 0 {
            Some(format!("Follow up on {} past the legal deadline", plural(overdue, "overdue request")))
        } else if received < requests.len() {
            Some(format!("Wait for {} (follow up if delayed)", plural(requests.len() - received, "request")))
        } else {
            None
        };
        steps.push(step(3, "Request complete medical records", achieved, next));

        // 4. Organise.
        let mut achieved = vec![];
        let mut missing = vec![];
        for (n, what) in [(documents.len(), "document"), (meds.len(), "medication")] {
            if n > 0 {
                achieved.push(format!("{} listed", plural(n, what)));
            }
        }
        if documents.is_empty() {
            missing.push("a records chronology");
        }
        if meds.is_empty() {
            missing.push("the medication list");
        }
        if history.is_empty() {
            missing.push("family cancer history");
        } else {
            achieved.push("Family history written down".into());
        }
        if self.symptoms().trim().is_empty() {
            missing.push("a summary of symptoms and concerns");
        } else {
            achieved.push("Symptoms and concerns written down".into());
        }
        let next = (!missing.is_empty()).then(|| format!("Add {}", missing.join(", ")));
        steps.push(step(4, "Organize documentation", achieved, next));

        // 5. Questions.
        let own = questions.iter().filter(|q| q.added_by != GUIDE_AUTHOR).count();
        let mut achieved = vec![format!("{} ready", plural(questions.len(), "question"))];
        if own > 0 {
            achieved.push(format!("{} of your own added", plural(own, "question")));
        }
        let next = (own == 0).then(|| "Add the questions your loved one and you want answered".to_string());
        steps.push(step(5, "Prepare questions", achieved, next));

        // 6. Consultation.
        let consult = |k: AppointmentKind| matches!(k, AppointmentKind::SecondOpinion | AppointmentKind::ThirdOpinion);
        let scheduled = appointments.iter().filter(|a| consult(a.kind)).count();
        let seen = specialists.iter().any(|s| s.status == SpecialistStatus::Seen)
            || appointments.iter().any(|a| consult(a.kind) && a.start.is_some_and(|s| s.date() < today))
            || opinions.iter().any(|o| o.rank >= 2);
        let mut achieved = vec![];
        if scheduled > 0 {
            achieved.push(format!("{} scheduled", plural(scheduled, "consultation")));
        }
        if seen {
            achieved.push("Consultation attended".into());
        }
        let summary_pending = appointments
            .iter()
            .any(|a| consult(a.kind) && a.summary_requested.is_none() && a.start.is_some_and(|s| s.date() < today));
        let next = if scheduled == 0 && !seen {
            Some("Schedule the second-opinion consultation".into())
        } else if !seen {
            Some("Attend together, take notes, ask for a written summary".into())
        } else if summary_pending {
            Some("Request the written consultation summary".into())
        } else {
            None
        };
        steps.push(step(6, "Schedule and attend consultation", achieved, next));

        // 7. Discuss.
        let cmp = self.compare_opinions();
        let mut achieved = vec![];
        if cmp.opinions >= 2 {
            achieved.push(format!("{} compared", plural(cmp.opinions, "opinion")));
        }
        let next = if cmp.opinions < 2 {
            Some("Record each doctor's opinion to compare them".into())
        } else if cmp.suggest_third_opinion {
            Some("The opinions differ: consider a third opinion".into())
        } else {
            if cmp.differences.is_empty() {
                achieved.push("The opinions agree: proceed with confidence".into());
            }
            None
        };
        steps.push(step(7, "Discuss findings together", achieved, next));

        Progress { done: steps.iter().filter(|s| s.done).count(), steps }
    }
}
