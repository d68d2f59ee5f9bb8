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
    /// Anything else the driver reported.
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
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
    pub fn into_domain(self) -> Option<DomainError> {
        match self {
            Self::Domain(d) => Some(d),
            _ => None,
        }
    }
}
