//! The global flags resolved: which store, which case, who is writing, what time zone and what day it is.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use casebook_core::dates::{self, Zone};
use casebook_core::{Case, CaseId, Store};
use time::{Date, PrimitiveDateTime};

use crate::cli::Global;
use crate::{failure, lookup};

/// What every command runs with.
pub(crate) struct Ctx {
    store_dir: PathBuf,
    json: bool,
    case: Option<String>,
    author: Option<String>,
    zone: Zone,
    /// Whether the zone was given or found (not the UTC fallback).
    zone_known: bool,
    today: Date,
    now: PrimitiveDateTime,
}

/// A store and one of its cases, open.
pub(crate) struct Open {
    /// The store.
    pub(crate) store: Store,
    /// The case.
    pub(crate) case: Case,
}

impl Ctx {
    /// Resolve the global flags (only `--tz` and `--today` can fail here). "Today" and "now" are the local
    /// date and time in the `--tz` zone (default: the system's, else UTC); `--today` overrides the date,
    /// and then "now" is the start of that day, so that a run with `--today` gives the same answers at any
    /// hour.
    pub(crate) fn new(g: Global) -> Result<Self> {
        let (zone, zone_known) = match g.tz.as_deref().map(str::trim).filter(|z| !z.is_empty()) {
            Some(name) => (Zone::named("tz", name)?, true),
            None => Zone::system().map_or_else(|| (Zone::utc(), false), |z| (z, true)),
        };
        let (today, now) = match g.today.as_deref() {
            Some(s) => {
                let d = dates::parse_date("today", s)?;
                (d, d.midnight())
            }
            None => {
                let now = zone.now();
                (now.date(), now)
            }
        };
        Ok(Self { store_dir: g.store, json: g.json, case: g.case, author: g.author, zone, zone_known, today, now })
    }

    /// Whether JSON output was asked for.
    pub(crate) fn json(&self) -> bool {
        self.json
    }

    /// The date derived views are computed for: the local date in [`Ctx::zone`], or `--today`.
    pub(crate) fn today(&self) -> Date {
        self.today
    }

    /// The local date and time derived views are computed for (the start of the day with `--today`).
    pub(crate) fn now(&self) -> PrimitiveDateTime {
        self.now
    }

    /// The user's time zone (`--tz`, else the system's, else UTC).
    pub(crate) fn zone(&self) -> &Zone {
        &self.zone
    }

    /// The IANA name of the user's zone, when it was given or found (not the UTC fallback, nor a system
    /// zone without a name): what new appointments take by default.
    pub(crate) fn zone_name(&self) -> Option<&str> {
        if self.zone_known { self.zone.name() } else { None }
    }

    /// The store directory.
    pub(crate) fn store_dir(&self) -> &Path {
        &self.store_dir
    }

    /// Whether the store directory already holds a store.
    pub(crate) fn store_exists(&self) -> bool {
        casebook_core::storage::SledStorage::exists(&self.store_dir)
    }

    /// Open the existing store; a missing one is an error (a mistyped `--store` must not create one).
    pub(crate) fn store(&self) -> Result<Store> {
        if !self.store_exists() {
            return Err(failure::not_found(format!(
                "no Casebook store at {}: run `casebook init` first, or pass --store DIR",
                self.store_dir.display()
            )));
        }
        open_waiting(&self.store_dir)
    }

    /// Open the store, creating it if needed.
    pub(crate) fn store_or_create(&self) -> Result<Store> {
        if !self.store_exists() {
            if self.store_dir.exists() && !self.store_dir.is_dir() {
                return Err(failure::usage(format!("{} exists and is not a directory", self.store_dir.display())));
            }
            std::fs::create_dir_all(&self.store_dir)
                .with_context(|| format!("cannot create the store directory {}", self.store_dir.display()))?;
        }
        open_waiting(&self.store_dir)
    }

    /// The case to work on: `--case` (id or unique prefix), else the store's only case.
    pub(crate) fn case_id(&self, store: &Store) -> Result<CaseId> {
        if let Some(given) = self.case.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            if let Ok(id) = given.parse::<CaseId>() {
                return Ok(id);
            }
            let cases = store.list_cases()?;
            let ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
            let found = lookup::resolve("case", given, ids)?;
            return cases.into_iter().find(|c| c.id.as_str() == found).map(|c| c.id).ok_or_else(|| {
                failure::not_found(format!("no case {given} in this store (see `casebook case list`)"))
            });
        }
        let mut cases = store.list_cases()?;
        match cases.len() {
            0 => Err(failure::not_found(
                "the store holds no case: create one with `casebook case create --patient NAME --me NAME`, \
                 or import an exchange file",
            )),
            1 => Ok(cases.remove(0).id),
            n => Err(failure::usage(format!(
                "the store holds {n} cases: choose one with --case ID (see `casebook case list`)"
            ))),
        }
    }

    /// Open the store and the case.
    pub(crate) fn open(&self) -> Result<Open> {
        let store = self.store()?;
        let id = self.case_id(&store)?;
        let case = store.open_case(&id)?;
        Ok(Open { store, case })
    }

    /// Open the case, apply `f`, save, and return what `f` returned. Nothing is saved if `f` fails; when
    /// this returns `Ok` the edit is durable.
    pub(crate) fn edit<T>(&self, f: impl FnOnce(&mut Open) -> Result<T>) -> Result<T> {
        let mut open = self.open()?;
        let out = f(&mut open)?;
        open.case.save().context("the change could not be saved")?;
        Ok(out)
    }

    /// The caregiver writing: `--as`, else this device's caregiver for the case.
    pub(crate) fn author(&self, open: &Open) -> Result<String> {
        match self.author_opt(open)? {
            Some(a) => Ok(a),
            None => Err(failure::usage(
                "no caregiver is set for this device on this case: pass --as CAREGIVER, \
                 or run `casebook me set CAREGIVER` (see `casebook caregiver list`)",
            )),
        }
    }

    /// The caregiver writing, if known.
    pub(crate) fn author_opt(&self, open: &Open) -> Result<Option<String>> {
        match self.author.as_deref() {
            Some(given) => Ok(Some(lookup::caregiver(&open.case, given)?)),
            None => Ok(open.store.me(open.case.id())?),
        }
    }
}

/// How long a command waits for a store another `casebook` process has open (a `sync --watch` holds it
/// for a moment each round).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Open the store at `dir`, waiting up to [`LOCK_WAIT`] while another process has it open.
pub(crate) fn open_waiting(dir: &std::path::Path) -> Result<Store> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match Store::open(dir) {
            Err(casebook_core::Error::Storage(casebook_core::storage::StorageError::Locked(_)))
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            other => return Ok(other?),
        }
    }
}
