//! Store errors. Driver errors become domain conflicts where they mean one (a unique
//! value used twice); handlers never see a driver error.

use circle_domain::{DomainError, Rule};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A rule was broken or a record is missing; carries the domain's own error.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The URL or settings are wrong; the message says how to fix it.
    #[error("{0}")]
    Config(String),
    /// The database cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A stored value does not parse as its domain type: names the column, never the value.
    #[error("stored data in column {0} is not valid")]
    Corrupt(&'static str),
    /// A signed record no longer matches the digest stored when it was signed: it was
    /// changed outside Circle and must not be shown as valid. Names the record kind only.
    #[error("integrity check failed: a signed {0} no longer matches its signature digest")]
    Integrity(&'static str),
    /// The audit witness (files outside the database) could not be read or written; the
    /// message names the path and the cause.
    #[error("{0}")]
    Witness(String),
    /// The database could not write: the disk is full (`full`) or storage failed (an I/O
    /// error). Nothing of the operation was committed; the request may be retried once the
    /// operator has freed space. Presented as 503, never with driver text.
    #[error("{}", if *full { "the database cannot write: disk full" } else { "the database cannot write: storage error" })]
    Storage { full: bool },
    /// Anything else the driver reported.
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

/// What a driver error says about storage: `Some(true)` for a full disk, `Some(false)` for
/// another storage failure, `None` for anything else.
///
/// SQLite reports extended result codes (numbers up to four digits): the primary code is
/// the low byte, 13 `SQLITE_FULL`, 10 `SQLITE_IOERR`. PostgreSQL reports a five-character
/// SQLSTATE: class 53 is insufficient resources (`53100` disk full), class 58 system and
/// I/O errors; `25006` a database that takes no writes (read-only).
pub(crate) fn storage_fault(e: &sqlx::Error) -> Option<bool> {
    if let sqlx::Error::Io(_) = e {
        return None;
    }
    let db = e.as_database_error()?;
    let code = db.code()?;
    if code.len() == 5 {
        // 25006: the database takes no writes (a read-only standby after a failover, or
        // `default_transaction_read_only` set by an operator) — a storage state, not a bug.
        if code == "25006" {
            return Some(false);
        }
        return match &code[..2] {
            "53" => Some(code == "53100"),
            "58" => Some(false),
            _ => None,
        };
    }
    match code.parse::<i32>().ok()? & 0xff {
        13 => Some(true),
        10 => Some(false),
        _ => None,
    }
}

/// The column a row struct failed to decode (a NULL where a value must be, or a value of
/// another type), as a `&'static str` for `StoreError::Corrupt`. The names come from the
/// store's own SQL, never from data, so the set is bounded by the schema: each distinct name
/// is kept once for the life of the process.
fn column_name(index: &str) -> &'static str {
    use std::collections::BTreeSet;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<BTreeSet<&'static str>>> = OnceLock::new();
    // sqlx names a column by its index's `Debug` form: a quoted name.
    let name = index.trim_matches('"');
    let Ok(mut names) = NAMES.get_or_init(Mutex::default).lock() else {
        return "a column";
    };
    if let Some(known) = names.get(name) {
        return known;
    }
    let kept: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(kept);
    kept
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // A row struct (`FromRow`) whose column does not decode: the same verdict as a value
        // that does not parse as its domain type.
        if let sqlx::Error::ColumnDecode { index, .. } = &e {
            return StoreError::Corrupt(column_name(index));
        }
        if let Some(full) = storage_fault(&e) {
            tracing::error!(
                disk_full = full,
                error = %e,
                "the database could not write; the operation was not committed"
            );
            return StoreError::Storage { full };
        }
        if let Some(db) = e.as_database_error()
            && db.is_unique_violation()
        {
            {
                // Name the field from the constraint or message, never the value.
                let text = format!("{} {}", db.constraint().unwrap_or(""), db.message());
                let field = [
                    ("record_number", "record_number"),
                    ("licenses", "licenses/number"),
                    ("email", "email"),
                    ("programs", "name"),
                    ("rooms", "name"),
                    ("therapy_groups", "name"),
                    ("separations", "other_client_id"),
                    ("memberships", "client_id"),
                    ("episodes", "started_on"),
                ]
                .iter()
                .find(|(needle, _)| text.contains(needle))
                .map_or("value", |(_, f)| *f);
                return StoreError::Domain(DomainError::conflict(
                    Rule::Duplicate,
                    format!("{field} is already in use and must be unique"),
                ));
            }
        }
        StoreError::Database(e)
    }
}

impl StoreError {
    /// `Some(true)` when the database cannot write because its disk is full, `Some(false)`
    /// for another storage failure, `None` otherwise.
    pub fn storage(&self) -> Option<bool> {
        match self {
            Self::Storage { full } => Some(*full),
            Self::Database(e) => storage_fault(e),
            _ => None,
        }
    }

    pub fn into_domain(self) -> Option<DomainError> {
        match self {
            Self::Domain(d) => Some(d),
            _ => None,
        }
    }
}
