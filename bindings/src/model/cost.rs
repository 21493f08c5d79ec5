//! Costs of seeking opinions, with totals.

use casebook_core::model::cost::{
    Cost as CoreCost, CostCategory, CostChanges as CoreCostChanges, CostTotals as CoreTotals,
};

use casebook_core::model::retraction::Retract;

use crate::case::Case;
use crate::convert::date;
use crate::error::Result;
use crate::model::chronology::set_or_clear;

/// What a cost is for.
#[uniffi::remote(Enum)]
pub enum CostCategory {
    /// Consultation fees.
    Consultation,
    /// Travel.
    Travel,
    /// Lodging.
    Lodging,
    /// Records fees and the like.
    Records,
    /// Anything else.
    Other,
}

/// A cost.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Cost {
    /// Item id.
    pub id: String,
    /// Category.
    pub category: CostCategory,
    /// Amount in cents.
    pub amount_cents: u64,
    /// Date, `YYYY-MM-DD`.
    pub date: Option<String>,
    /// Description.
    pub description: Option<String>,
}

/// The total of one category.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CategoryTotal {
    /// Category.
    pub category: CostCategory,
    /// Total in cents.
    pub total_cents: u64,
}

/// Totals in cents.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CostTotals {
    /// Per category, in category order (categories without costs omitted).
    pub by_category: Vec<CategoryTotal>,
    /// Everything.
    pub total_cents: u64,
}

/// Corrections to a cost (`None` leaves a field as it is; give only the fields that change, so that a
/// sibling's correction of another field is kept).
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct CostChanges {
    /// New category.
    #[uniffi(default = None)]
    pub category: Option<CostCategory>,
    /// New amount in cents (`parse_amount` reads a typed amount).
    #[uniffi(default = None)]
    pub amount_cents: Option<u64>,
    /// New date, `YYYY-MM-DD`.
    #[uniffi(default = None)]
    pub date: Option<String>,
    /// Clear the date.
    #[uniffi(default = false)]
    pub clear_date: bool,
    /// New description.
    #[uniffi(default = None)]
    pub description: Option<String>,
    /// Clear the description.
    #[uniffi(default = false)]
    pub clear_description: bool,
}

impl From<CoreCost> for Cost {
    fn from(c: CoreCost) -> Self {
        Self {
            id: c.id,
            category: c.category,
            amount_cents: c.amount_cents,
            date: date(c.date),
            description: c.description,
        }
    }
}

impl From<CoreTotals> for CostTotals {
    fn from(t: CoreTotals) -> Self {
        Self {
            by_category: t
                .by_category
                .into_iter()
                .map(|(category, total_cents)| CategoryTotal { category, total_cents })
                .collect(),
            total_cents: t.total_cents,
        }
    }
}

/// Parse an amount typed by the user ("120", "120.5", "120.50") into cents.
#[uniffi::export]
pub fn parse_amount(text: String) -> Result<u64> {
    Ok(casebook_core::model::cost::parse_amount(&text)?)
}

#[uniffi::export]
impl Case {
    /// Every cost.
    pub fn costs(&self) -> Result<Vec<Cost>> {
        Ok(self.read(|c| c.costs())?.into_iter().map(Into::into).collect())
    }

    /// Record a cost (`date` as `YYYY-MM-DD`). Returns its id.
    pub fn add_cost(
        &self,
        category: CostCategory,
        amount_cents: u64,
        date: Option<String>,
        description: Option<String>,
    ) -> Result<String> {
        self.write(|c| c.add_cost(category, amount_cents, date.as_deref(), description.as_deref()))
    }

    /// Correct a cost (give only the fields that change). Refused, changing nothing: an amount over one
    /// billion, a bad date, no change at all, an unknown id.
    pub fn edit_cost(&self, id: String, changes: CostChanges) -> Result<()> {
        self.write(|c| {
            c.edit_cost(
                &id,
                CoreCostChanges {
                    category: changes.category,
                    amount_cents: changes.amount_cents,
                    date: set_or_clear(changes.date.as_deref(), changes.clear_date),
                    description: set_or_clear(changes.description.as_deref(), changes.clear_description),
                },
            )
        })
    }

    /// Retract a cost entered by mistake: a retraction entry (who, when, why) is written on it; it leaves
    /// the lists but nothing is deleted (see `retracted_items`). `today` is the app's local date (default:
    /// today in the device's time zone). Returns the retraction's id.
    #[uniffi::method(default(reason = None, by = None, today = None))]
    pub fn retract_cost(
        &self,
        id: String,
        reason: Option<String>,
        by: Option<String>,
        today: Option<String>,
    ) -> Result<String> {
        let today = crate::convert::today_or(today)?;
        self.write(|c| c.retract_cost(&id, Retract { today, by: by.as_deref(), reason: reason.as_deref() }))
    }

    /// Totals per category and overall.
    pub fn cost_totals(&self) -> Result<CostTotals> {
        Ok(self.read(|c| c.cost_totals())?.into())
    }
}
