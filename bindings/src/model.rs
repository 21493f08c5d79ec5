//! The parts of a case, one file each, mirroring the core's `model/`: the records and enums the foreign
//! side sees, their conversions from the core's types, and the [`Case`](crate::Case) methods that read and
//! write that part. Enums that are plain keys in the core are exported as they are (`#[uniffi::remote]`:
//! the compiler checks the variants against the core's).

pub mod agenda;
pub mod appointment;
pub mod attachment;
pub mod calendar;
pub mod chronology;
pub mod conflict;
pub mod cost;
pub mod critical;
pub mod decision;
pub mod exchange;
pub mod history;
pub mod opinion;
pub mod packet;
pub mod patient;
#[cfg(feature = "pdf")]
pub mod pdf;
pub mod plausibility;
pub mod progress;
pub mod question;
pub mod record_request;
pub mod retraction;
pub mod specialist;
pub mod task;
pub mod team;
pub mod text;
