//! Progress through the guide's seven steps, computed from the case (never stored), with what is done —
//! milestones to celebrate — and what is next.

use time::{Date, PrimitiveDateTime};

use super::appointment::AppointmentKind;
use super::decision::DecisionEntry;
use super::opinion::Opinion;
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
    /// Progress through the seven steps as of the start of `today` (local date): a consultation counts as
    /// attended from the day after its start, or once someone marks it attended. See
    /// [`Case::progress_at`].
    pub fn progress(&self, today: Date) -> Progress {
        self.progress_at(today.midnight())
    }

    /// Progress through the seven steps as of `now` (local time). A step is done when the case shows the
    /// family did it:
    /// - step 6, a second- or third-opinion consultation attended: its start time is before `now` or someone
    ///   marked it attended (a mark "not attended" — missed, cancelled — wins over the time), or a specialist
    ///   is marked seen, or a second opinion is recorded;
    /// - step 7, a decision recorded ([`Case::record_decision`]); not merely a third opinion. While decisions
    ///   recorded concurrently disagree, step 7 waits for the family to record the one that stands.
    ///
    /// Derived from the document alone: identical on every replica whatever the order edits arrived in.
    pub fn progress_at(&self, now: PrimitiveDateTime) -> Progress {
        let today = now.date();
        let prefs = self.preferences();
        let specialists = self.specialists();
        let requests = self.request_progress(today);
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
        let received = requests.iter().filter(|p| p.request.is_settled()).count();
        let overdue = requests.iter().filter(|p| p.overdue).count();
        let unsent = requests.iter().filter(|p| p.request.requested_on.is_none()).count();
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
        let consultations: Vec<_> = appointments.iter().filter(|a| consult(a.kind)).collect();
        let attended: Vec<_> = consultations.iter().filter(|a| a.attended_by(now)).collect();
        let upcoming = consultations.iter().filter(|a| a.attended.is_none() && !a.attended_by(now)).count();
        let specialist_seen = specialists.iter().any(|s| s.status == SpecialistStatus::Seen);
        let second_recorded = opinions.iter().any(|o| o.rank >= 2);
        let seen = !attended.is_empty() || specialist_seen || second_recorded;
        let mut achieved = vec![];
        if !consultations.is_empty() {
            achieved.push(format!("{} scheduled", plural(consultations.len(), "consultation")));
        }
        if !attended.is_empty() {
            achieved.push(format!("{} attended", plural(attended.len(), "consultation")));
        } else if specialist_seen {
            achieved.push("Specialist seen".into());
        } else if second_recorded {
            achieved.push("Second opinion recorded".into());
        }
        let summary_pending = attended.iter().any(|a| a.summary_requested.is_none());
        let next = if consultations.is_empty() && !seen {
            Some("Schedule the second-opinion consultation".into())
        } else if !seen && upcoming > 0 {
            Some("Attend together, take notes, ask for a written summary".into())
        } else if !seen {
            Some("Schedule the consultation again, or mark the one that took place attended".into())
        } else if summary_pending {
            Some("Request the written consultation summary".into())
        } else {
            None
        };
        steps.push(step(6, "Schedule and attend consultation", achieved, next));

        // 7. Discuss, and decide together.
        let cmp = self.compare_opinions();
        let record = self.decision();
        let mut achieved = vec![];
        if cmp.opinions >= 2 {
            achieved.push(format!("{} compared", plural(cmp.opinions, "opinion")));
            let agreed: Vec<&str> = cmp.agreements.iter().map(|a| a.aspect.name()).collect();
            if !agreed.is_empty() {
                achieved.push(format!("They agree on {}", join_words(&agreed)));
            }
        }
        if let Some(d) = &record.latest {
            achieved.push(self.describe_decision(d, &opinions));
        }
        let differing: Vec<&str> = cmp.differences.iter().map(|a| a.aspect.name()).collect();
        let next = if !record.concurrent.is_empty() {
            let mut dates: Vec<String> = record.concurrent.iter().map(|e| crate::dates::format_date(e.date)).collect();
            dates.extend(record.latest.iter().map(|e| crate::dates::format_date(e.date)));
            dates.sort();
            dates.dedup();
            Some(format!(
                "{} decisions were recorded separately ({}): agree together which stands and record it",
                record.concurrent.len() + 1,
                dates.join(", ")
            ))
        } else if record.latest.is_some() {
            None
        } else if cmp.opinions < 2 {
            Some("Record each doctor's opinion to compare them, then record your decision together".into())
        } else if cmp.suggest_third_opinion {
            Some(format!(
                "The opinions differ on {}: the guide suggests considering a third opinion; record your decision \
                 together when you have one",
                join_words(&differing)
            ))
        } else if !differing.is_empty() {
            Some(format!(
                "The opinions differ on {}: discuss them together and record your decision",
                join_words(&differing)
            ))
        } else if !cmp.unclear.is_empty() {
            let unclear: Vec<&str> = cmp.unclear.iter().map(|a| a.aspect.name()).collect();
            Some(format!(
                "The opinions write the {} differently: ask the doctors whether they mean the same, then record your \
                 decision together",
                join_words(&unclear)
            ))
        } else {
            Some("Discuss the findings together and record your decision".into())
        };
        steps.push(step(7, "Discuss findings together", achieved, next));

        Progress { done: steps.iter().filter(|s| s.done).count(), steps }
    }

    /// "Decided on 2026-03-02: … (following opinion 2; with Ana, Luis)".
    fn describe_decision(&self, d: &DecisionEntry, opinions: &[Opinion]) -> String {
        let mut extra = vec![];
        if let Some(o) = &d.opinion {
            extra.push(match opinions.iter().find(|x| &x.id == o) {
                Some(x) => format!("following opinion {}", x.rank),
                None => "following an opinion since removed".into(),
            });
        }
        if !d.participants.is_empty() {
            let team = self.care_team();
            let mut names: Vec<String> = d
                .participants
                .iter()
                .map(|p| {
                    team.iter().find(|c| &c.id == p).map_or_else(|| "a former caregiver".into(), |c| c.name.clone())
                })
                .collect();
            // By name, not by (random) id: the same sentence for the same people.
            names.sort();
            extra.push(format!("with {}", names.join(", ")));
        }
        let extra = if extra.is_empty() { String::new() } else { format!(" ({})", extra.join("; ")) };
        format!("Decided on {}: {}{extra}", crate::dates::format_date(d.date), d.text)
    }
}

/// `a`, `a and b`, `a, b and c`.
fn join_words(w: &[&str]) -> String {
    match w {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
