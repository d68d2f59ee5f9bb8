//! Encoding domain values to the portable column types (text and 64-bit integers) and back.
//! A stored value that does not decode is reported by column, never by value.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use crate::StoreError;

/// RFC 3339 UTC with whole seconds: fixed width, so text order is time order.
pub(crate) fn ts(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The instant as it reads back after `ts`: a value a write returns equals the one a later
/// read of the row gives.
pub(crate) fn whole_second(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

pub(crate) fn date(d: Date) -> String {
    d.strftime("%Y-%m-%d").to_string()
}

pub(crate) fn json<T: Serialize + ?Sized>(v: &T) -> String {
    // Serializing plain domain data (enums, dates, numbers) cannot fail.
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

/// Reading a row struct's raw column values into domain types. Each takes the value the
/// driver decoded (text or a 64-bit integer) and the column it came from; a value that does
/// not parse is `StoreError::Corrupt(column)`, never the value.
pub(crate) mod read {
    use jiff::Timestamp;
    use jiff::civil::Date;
    use serde::de::DeserializeOwned;

    use crate::StoreError;

    pub(crate) fn uint(v: i64, col: &'static str) -> Result<u32, StoreError> {
        u32::try_from(v).map_err(|_| StoreError::Corrupt(col))
    }
    pub(crate) fn date(v: &str, col: &'static str) -> Result<Date, StoreError> {
        v.parse().map_err(|_| StoreError::Corrupt(col))
    }
    pub(crate) fn opt_date(v: Option<&str>, col: &'static str) -> Result<Option<Date>, StoreError> {
        v.map(|s| date(s, col)).transpose()
    }
    pub(crate) fn ts(v: &str, col: &'static str) -> Result<Timestamp, StoreError> {
        v.parse().map_err(|_| StoreError::Corrupt(col))
    }
    pub(crate) fn opt_ts(
        v: Option<&str>,
        col: &'static str,
    ) -> Result<Option<Timestamp>, StoreError> {
        v.map(|s| ts(s, col)).transpose()
    }
    pub(crate) fn json<T: DeserializeOwned>(v: &str, col: &'static str) -> Result<T, StoreError> {
        serde_json::from_str(v).map_err(|_| StoreError::Corrupt(col))
    }
    /// A validated domain text type.
    pub(crate) fn parsed<T: TryFrom<String>>(
        v: String,
        col: &'static str,
    ) -> Result<T, StoreError> {
        T::try_from(v).map_err(|_| StoreError::Corrupt(col))
    }
    pub(crate) fn opt_parsed<T: TryFrom<String>>(
        v: Option<String>,
        col: &'static str,
    ) -> Result<Option<T>, StoreError> {
        v.map(|s| parsed(s, col)).transpose()
    }
    /// A vocabulary enum stored by its wire name.
    pub(crate) fn vocab<T>(
        v: &str,
        col: &'static str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<T, StoreError> {
        parse(v).ok_or(StoreError::Corrupt(col))
    }
    pub(crate) fn opt_vocab<T>(
        v: Option<&str>,
        col: &'static str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<Option<T>, StoreError> {
        v.map(|s| vocab(s, col, parse)).transpose()
    }
}

/// Takes the write lock on one row before any read in a transaction: PostgreSQL locks the
/// row, SQLite takes its database write lock up front (a read-then-write transaction could
/// otherwise fail with SQLITE_BUSY instead of waiting). Returns whether the row exists.
pub(crate) async fn lock_row(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: LockTable,
    id: i64,
) -> Result<bool, StoreError> {
    let sql = match table {
        LockTable::Groups => "UPDATE therapy_groups SET version = version WHERE id = $1",
        LockTable::Clients => "UPDATE clients SET version = version WHERE id = $1",
        LockTable::Sessions => "UPDATE sessions SET version = version WHERE id = $1",
        LockTable::Programs => "UPDATE programs SET version = version WHERE id = $1",
    };
    let done = sqlx::query(sql).bind(id).execute(&mut **tx).await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum LockTable {
    Groups,
    Clients,
    Sessions,
    Programs,
}

/// Fetch `limit + 1` rows to learn whether another page follows.
pub(crate) fn page_of<T>(
    mut items: Vec<T>,
    limit: u32,
    id_of: impl Fn(&T) -> i64,
) -> crate::Page<T> {
    let limit = limit as usize;
    let next_after = if items.len() > limit {
        items.truncate(limit);
        items.last().map(&id_of)
    } else {
        None
    };
    crate::Page { items, next_after }
}
