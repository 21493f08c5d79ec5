//! Costs of seeking opinions (consultations, travel, lodging) with totals.

use automerge::transaction::Transactable;
use time::Date;

use super::retraction::{ItemKind, Retract};
use super::{Keyed, item, items, nothing_to_change, optional};
use crate::am;
use crate::case::Case;
use crate::dates::{format_date, parse_date, stored_date};
use crate::error::{Error, Result};

keyed_enum! {
    /// What a cost is for.
    CostCategory {
        /// Consultation fees.
        Consultation => "consultation",
        /// Travel.
        Travel => "travel",
        /// Lodging.
        Lodging => "lodging",
        /// Records fees and the like.
        Records => "records",
        /// Anything else.
        Other => "other",
    }
}

/// A cost.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cost {
    /// Item id.
    pub id: String,
    /// Category.
    pub category: CostCategory,
    /// Amount in cents.
    pub amount_cents: u64,
    /// Date.
    pub date: Option<Date>,
    /// Description.
    pub description: Option<String>,
}

/// Totals in cents.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CostTotals {
    /// Per category, in category order (categories without costs omitted).
    pub by_category: Vec<(CostCategory, u64)>,
    /// Everything.
    pub total_cents: u64,
}

/// The largest amount accepted, in cents (one billion).
pub const MAX_AMOUNT_CENTS: u64 = 100_000_000_000;

/// Corrections to a cost (`None` leaves a field as it is). Each field is stored on its own: two caregivers
/// correcting different fields offline both keep their correction.
#[derive(Debug, Clone, Default)]
pub struct CostChanges<'a> {
    /// New category.
    pub category: Option<CostCategory>,
    /// New amount in cents (at most [`MAX_AMOUNT_CENTS`]; [`parse_amount`] reads a typed amount).
    pub amount_cents: Option<u64>,
    /// `Some(Some(date))` sets the date (YYYY-MM-DD), `Some(None)` clears it.
    pub date: Option<Option<&'a str>>,
    /// `Some(Some(text))` sets the description, `Some(None)` (or a blank text) clears it.
    pub description: Option<Option<&'a str>>,
}

/// Parse an amount like "120", "120.5" or "120.50" into cents.
pub fn parse_amount(s: &str) -> Result<u64> {
    let bad = || Error::InvalidInput {
        field: "amount",
        reason: format!("{:?} is not an amount like 120.50", s.chars().take(20).collect::<String>()),
    };
    let s = s.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let cents: u64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    whole.checked_mul(100).and_then(|w| w.checked_add(cents)).filter(|&c| c <= MAX_AMOUNT_CENTS).ok_or_else(bad)
}

/// Refuse an amount over [`MAX_AMOUNT_CENTS`].
fn check_amount(cents: u64) -> Result<()> {
    if cents > MAX_AMOUNT_CENTS {
        return Err(Error::InvalidInput { field: "amount", reason: "more than 1000000000.00".into() });
    }
    Ok(())
}

impl Case {
    /// Record a cost (an amount over [`MAX_AMOUNT_CENTS`] is refused).
    pub fn add_cost(
        &mut self,
        category: CostCategory,
        amount_cents: u64,
        date: Option<&str>,
        description: Option<&str>,
    ) -> Result<String> {
        check_amount(amount_cents)?;
        let date = date.map(|d| parse_date("date", d)).transpose()?;
        self.edit(|doc| {
            let (id, o) = super::new_item(doc, "costs")?;
            doc.put(&o, "category", category.key())?;
            doc.put(&o, "amount_cents", amount_cents)?;
            am::put_opt_str(doc, &o, "date", date.map(format_date).as_deref())?;
            am::put_opt_str(doc, &o, "description", optional(description).as_deref())?;
            Ok(id)
        })
    }

    /// Correct a cost: category, amount, date, description. Refused, changing nothing: an amount over
    /// [`MAX_AMOUNT_CENTS`], a date that does not parse, no change at all, an unknown id.
    pub fn edit_cost(&mut self, id: &str, changes: CostChanges<'_>) -> Result<()> {
        changes.amount_cents.map(check_amount).transpose()?;
        let date = changes.date.map(|d| d.map(|d| parse_date("date", d)).transpose()).transpose()?;
        let description = changes.description.map(optional);
        if changes.category.is_none() && changes.amount_cents.is_none() && date.is_none() && description.is_none() {
            return Err(nothing_to_change());
        }
        self.edit(|doc| {
            let o = item(doc, "costs", id, "cost")?;
            if let Some(c) = changes.category {
                doc.put(&o, "category", c.key())?;
            }
            if let Some(a) = changes.amount_cents {
                doc.put(&o, "amount_cents", a)?;
            }
            if let Some(d) = date {
                am::put_opt_str(doc, &o, "date", d.map(format_date).as_deref())?;
            }
            if let Some(d) = description {
                am::put_opt_str(doc, &o, "description", d.as_deref())?;
            }
            Ok(())
        })
    }

    /// Retract a cost: a retraction entry (who, when, why) is written on it and it leaves every listing,
    /// but nothing is deleted: it stays, as it stands, among [`Case::retracted_items`]. It no longer counts in the totals.
    /// Refused: an unknown or already retracted id, an author who is not on the care team. Returns the
    /// retraction's id.
    pub fn retract_cost(&mut self, id: &str, how: Retract<'_>) -> Result<String> {
        self.retract_item(ItemKind::Cost, id, how)
    }

    /// Every cost, oldest first (undated last, then by id).
    pub fn costs(&self) -> Vec<Cost> {
        let doc = &self.main.doc;
        let mut v: Vec<Cost> = items(doc, "costs")
            .into_iter()
            .map(|(id, o)| Cost {
                category: am::get_str(doc, &o, "category")
                    .and_then(|c| CostCategory::from_key(&c))
                    .unwrap_or(CostCategory::Other),
                amount_cents: am::get_u64(doc, &o, "amount_cents").unwrap_or(0),
                date: stored_date(am::get_str(doc, &o, "date")),
                description: am::get_str(doc, &o, "description"),
                id,
            })
            .collect();
        v.sort_by(|a, b| (a.date.is_none(), a.date, &a.id).cmp(&(b.date.is_none(), b.date, &b.id)));
        v
    }

    /// Totals per category and overall.
    pub fn cost_totals(&self) -> CostTotals {
        let costs = self.costs();
        let by_category: Vec<(CostCategory, u64)> = CostCategory::ALL
            .iter()
            .map(|&c| (c, costs.iter().filter(|x| x.category == c).map(|x| x.amount_cents).sum()))
            .filter(|(_, t)| *t > 0)
            .collect();
        CostTotals { total_cents: by_category.iter().map(|(_, t)| t).sum(), by_category }
    }
}
