//! Ids as typed by a person: in full, or as a prefix that names exactly one item; and ids shown to a
//! person as the names of what they stand for ([`Names`]).

use std::collections::BTreeMap;

use anyhow::Result;
use casebook_core::Case;
use casebook_core::model::question::GUIDE_AUTHOR;

use crate::failure;

/// The id among `ids` that `input` names: itself, or the only id it is a prefix of. An input that names
/// none is returned unchanged, so that the core reports the unknown id in its own words.
pub(crate) fn resolve<'a>(kind: &str, input: &str, ids: impl IntoIterator<Item = &'a str>) -> Result<String> {
    let input = input.trim();
    let mut matches = Vec::new();
    for id in ids {
        if id == input {
            return Ok(id.to_string());
        }
        if !input.is_empty() && id.starts_with(input) {
            matches.push(id);
        }
    }
    match matches.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Ok(input.to_string()),
        many => Err(failure::invalid(format!(
            "{kind} id {input:?} is ambiguous: {} ids start with it; type more of it",
            many.len()
        ))),
    }
}

/// A caregiver named by id, unique id prefix or name (case-insensitive).
pub(crate) fn caregiver(case: &Case, input: &str) -> Result<String> {
    let team = case.care_team();
    let id = resolve("caregiver", input, team.iter().map(|c| c.id.as_str()))?;
    if team.iter().any(|c| c.id == id) {
        return Ok(id);
    }
    let by_name: Vec<_> = team.iter().filter(|c| c.name.trim().eq_ignore_ascii_case(input.trim())).collect();
    match by_name.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(failure::not_found("no caregiver with this id or name in this case (see `casebook caregiver list`)")),
        _ => Err(failure::invalid("several caregivers have this name: use the id (see `casebook caregiver list`)")),
    }
}

/// Resolve an item id among the ids of one kind of item.
pub(crate) fn item(kind: &str, input: &str, ids: Vec<String>) -> Result<String> {
    resolve(kind, input, ids.iter().map(String::as_str))
}

/// An appointment id.
pub(crate) fn appointment(case: &Case, input: &str) -> Result<String> {
    item("appointment", input, case.appointments().into_iter().map(|a| a.id).collect())
}

/// A specialist id.
pub(crate) fn specialist(case: &Case, input: &str) -> Result<String> {
    item("specialist", input, case.specialists().into_iter().map(|a| a.id).collect())
}

/// A question id.
pub(crate) fn question(case: &Case, input: &str) -> Result<String> {
    item("question", input, case.questions().into_iter().map(|a| a.id).collect())
}

/// An opinion id.
pub(crate) fn opinion(case: &Case, input: &str) -> Result<String> {
    item("opinion", input, case.opinions().into_iter().map(|a| a.id).collect())
}

/// What ids of other items stand for, for listings that mention them: caregivers, specialists,
/// appointments and opinions by name (single-line, see [`output::line`](crate::output::line)). A retracted
/// item reads as its name followed by "(retracted)"; an id the case does not hold (an item removed by an
/// older version) as "a former caregiver", "a removed specialist", …: never as a raw id.
pub(crate) struct Names {
    caregivers: BTreeMap<String, String>,
    specialists: BTreeMap<String, String>,
    appointments: BTreeMap<String, String>,
    opinions: BTreeMap<String, u64>,
    retracted: BTreeMap<String, String>,
}

impl Names {
    /// The names of `case`'s items.
    pub(crate) fn of(case: &Case) -> Self {
        let line = crate::output::line;
        Names {
            caregivers: case.care_team().into_iter().map(|c| (c.id, line(&c.name))).collect(),
            specialists: case.specialists().into_iter().map(|s| (s.id, line(&s.name))).collect(),
            appointments: case
                .appointments()
                .into_iter()
                .map(|a| {
                    let kind = a.kind.to_string().replace('_', "-");
                    let name = match a.start {
                        Some(s) => format!("{kind} appointment of {}", crate::output::date_time(Some(s))),
                        None => format!("{kind} appointment (not scheduled)"),
                    };
                    (a.id, name)
                })
                .collect(),
            opinions: case.opinions().into_iter().map(|o| (o.id, o.rank)).collect(),
            retracted: case
                .retracted_items()
                .into_iter()
                .map(|r| (r.id, format!("{} (retracted)", line(&r.name))))
                .collect(),
        }
    }

    /// A caregiver's name ("the guide" for the guide's own questions).
    pub(crate) fn caregiver(&self, id: &str) -> String {
        if id == GUIDE_AUTHOR {
            return "the guide".into();
        }
        self.caregivers.get(id).cloned().unwrap_or_else(|| "a former caregiver".into())
    }

    /// A specialist's name.
    pub(crate) fn specialist(&self, id: &str) -> String {
        self.specialists
            .get(id)
            .or_else(|| self.retracted.get(id))
            .cloned()
            .unwrap_or_else(|| "a removed specialist".into())
    }

    /// An appointment: `second-opinion appointment of 2024-02-28 10:30`.
    pub(crate) fn appointment(&self, id: &str) -> String {
        self.appointments
            .get(id)
            .or_else(|| self.retracted.get(id))
            .cloned()
            .unwrap_or_else(|| "an appointment since removed".into())
    }

    /// An opinion: `opinion 2`.
    pub(crate) fn opinion(&self, id: &str) -> String {
        match (self.opinions.get(id), self.retracted.get(id)) {
            (Some(rank), _) => format!("opinion {rank}"),
            (None, Some(retracted)) => retracted.clone(),
            (None, None) => "an opinion since removed".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn exact_prefix_unknown_and_ambiguous() {
        let ids = ["abc1", "abc2", "def"];
        assert_eq!(resolve("x", "abc1", ids).unwrap(), "abc1");
        assert_eq!(resolve("x", "d", ids).unwrap(), "def");
        assert_eq!(resolve("x", "zzz", ids).unwrap(), "zzz");
        assert!(resolve("x", "abc", ids).is_err());
    }
}
