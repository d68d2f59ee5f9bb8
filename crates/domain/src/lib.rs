//! Circle's domain: the words of DESIGN.md as types, and the rules that keep a clinic's
//! group program safe. Pure: no I/O, no async, no SQL. A value that exists is valid.

pub mod audit;
pub mod billing;
pub mod care;
pub mod claim837;
pub mod client;
pub mod clinician;
pub mod compliance;
pub mod error;
pub mod group;
pub mod ids;
pub mod intake;
pub mod measure;
pub mod membership;
pub mod note;
pub mod placement;
pub mod planning;
pub mod program;
pub mod schedule;
pub mod session;
pub mod telehealth;
pub mod text;
pub mod timetabling;
pub mod user;

pub use error::{Conflict, DomainError, FieldError, FieldErrors, Rule};
