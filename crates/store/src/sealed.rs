//! Every column that holds sealed (encrypted) text, in one registry, and the one loop that
//! re-wraps them all after a master-key rotation.
//!
//! Each module seals and opens its values with the associated data of its entry here
//! ([`SealedColumn::aad`]), so the kind a value is bound to is written once; `circle
//! rotate-key` walks [`SEALED_COLUMNS`]. A test scans every column of a populated
//! database for sealed values and fails when one is in a column this registry does not
//! list, so a new sealed column cannot be forgotten by key rotation.

use circle_vault::{Aad, Keyring};

use crate::{Store, StoreError};

/// A column of sealed values: each bound, as associated data, to `kind` and its row's key.
#[derive(Debug, Clone, Copy)]
pub struct SealedColumn {
    pub table: &'static str,
    /// The row's key column (the id the value is bound to).
    pub key: &'static str,
    pub column: &'static str,
    /// The associated-data kind (fixed forever: changing it would orphan stored values).
    pub kind: &'static str,
    /// Whether the column may still hold values written in clear before it was sealed;
    /// the pass seals them.
    pub legacy_plain: bool,
}

impl SealedColumn {
    const fn new(table: &'static str, column: &'static str, kind: &'static str) -> Self {
        Self {
            table,
            key: "id",
            column,
            kind,
            legacy_plain: false,
        }
    }

    /// The associated data a value of this column in row `id` is sealed with.
    pub fn aad(&self, id: i64) -> Aad {
        Aad::record(self.kind, id)
    }
}

pub(crate) const SEPARATION_REASON: SealedColumn =
    SealedColumn::new("separations", "reason", "separation.reason");
pub(crate) const GROUP_NOTE_BODY: SealedColumn =
    SealedColumn::new("group_notes", "body", "group_notes.body");
pub(crate) const PROGRESS_NOTE_BODY: SealedColumn =
    SealedColumn::new("progress_notes", "body", "progress_notes.body");
pub(crate) const ADDENDUM_BODY: SealedColumn =
    SealedColumn::new("note_addenda", "body", "note_addenda.body");
pub(crate) const ALERT_ACTION: SealedColumn = SealedColumn::new(
    "safety_alerts",
    "action_taken",
    "safety_alerts.action_taken",
);
pub(crate) const REFERRAL_DETAILS: SealedColumn =
    SealedColumn::new("referrals", "details", "referrals.details");
pub(crate) const TRANSITION_REASON: SealedColumn = SealedColumn::new(
    "referral_transitions",
    "reason",
    "referral_transitions.reason",
);
pub(crate) const SCREENING_REASONS: SealedColumn =
    SealedColumn::new("screenings", "reasons", "screenings.reasons");
pub(crate) const PART2_TERMS: SealedColumn =
    SealedColumn::new("part2_consents", "terms", "part2_consents.terms");
pub(crate) const DISCLOSURE_DETAILS: SealedColumn =
    SealedColumn::new("disclosures", "details", "disclosures.details");
pub(crate) const WAITLIST_NOTE: SealedColumn =
    SealedColumn::new("waitlist_entries", "note", "waitlist_entries.note");
pub(crate) const EMERGENCY_REASON: SealedColumn =
    SealedColumn::new("emergency_accesses", "reason", "emergency_access.reason");
pub(crate) const FHIR_EXPORT_PARAMS: SealedColumn =
    SealedColumn::new("fhir_export_jobs", "params", "fhir_export_jobs.params");
pub(crate) const FHIR_EXPORT_FILE: SealedColumn =
    SealedColumn::new("fhir_export_files", "body", "fhir_export_files.body");
pub(crate) const MESSAGE_ADDRESS: SealedColumn = SealedColumn::new(
    "messages",
    "recipient_address",
    "messages.recipient_address",
);
pub(crate) const MESSAGE_PARAMS: SealedColumn =
    SealedColumn::new("messages", "params", "messages.params");
pub(crate) const TOTP_SECRET: SealedColumn = SealedColumn {
    legacy_plain: true,
    ..SealedColumn::new("users", "totp_secret", "users.totp_secret")
};
pub(crate) const PENDING_TOTP_SECRET: SealedColumn = SealedColumn {
    key: "user_id",
    legacy_plain: true,
    ..SealedColumn::new(
        "mfa_enrollments",
        "totp_secret",
        "mfa_enrollments.totp_secret",
    )
};

/// Every sealed column.
pub const SEALED_COLUMNS: &[SealedColumn] = &[
    SEPARATION_REASON,
    GROUP_NOTE_BODY,
    PROGRESS_NOTE_BODY,
    ADDENDUM_BODY,
    ALERT_ACTION,
    REFERRAL_DETAILS,
    TRANSITION_REASON,
    SCREENING_REASONS,
    PART2_TERMS,
    DISCLOSURE_DETAILS,
    WAITLIST_NOTE,
    EMERGENCY_REASON,
    FHIR_EXPORT_PARAMS,
    FHIR_EXPORT_FILE,
    MESSAGE_ADDRESS,
    MESSAGE_PARAMS,
    TOTP_SECRET,
    PENDING_TOTP_SECRET,
];

/// Whether a stored value has the sealed form (a plain value never has its
/// `.`-separated segments with a key id).
pub fn is_sealed(stored: &str) -> bool {
    Keyring::key_id_of(stored).is_ok()
}

#[derive(sqlx::FromRow)]
struct SealedValueRow {
    id: i64,
    sealed: String,
}

impl Store {
    /// Re-wraps every sealed value's data key with the current master key (after a key
    /// rotation), without touching the content, and seals any legacy value still in
    /// clear. Returns how many values changed. Values already under the current key are
    /// left alone, so an interrupted run can resume.
    pub async fn rewrap_sealed(&self) -> Result<usize, StoreError> {
        self.reseal(SEALED_COLUMNS).await
    }

    /// Seals every TOTP secret still stored in clear and re-wraps sealed ones not under the
    /// current master key (`circle serve` runs it at start). Safe to run again.
    pub async fn seal_totp_secrets(&self) -> Result<usize, StoreError> {
        self.reseal(&[TOTP_SECRET, PENDING_TOTP_SECRET]).await
    }

    async fn reseal(&self, columns: &[SealedColumn]) -> Result<usize, StoreError> {
        let keyring = self
            .keyring
            .as_deref()
            .ok_or_else(|| StoreError::Config("no master key is configured".to_owned()))?;
        let mut changed = 0;
        for c in columns {
            let SealedColumn {
                table, key, column, ..
            } = c;
            // Table and column names come from the registry, never from input.
            let rows = sqlx::query_as::<_, SealedValueRow>(&format!(
                "SELECT {key} AS id, {column} AS sealed FROM {table} WHERE {column} IS NOT NULL \
                 AND {column} <> '' ORDER BY {key}"
            ))
            .fetch_all(self.pool())
            .await?;
            for r in rows {
                let (id, stored) = (r.id, r.sealed);
                let fresh = if c.legacy_plain && !is_sealed(&stored) {
                    keyring.seal(&stored, &c.aad(id))
                } else if keyring.needs_rewrap(&stored) {
                    keyring
                        .rewrap(&stored, &c.aad(id))
                        .map_err(|_| StoreError::Corrupt(c.kind))?
                } else {
                    continue;
                };
                // Compare-and-set: a value changed meanwhile was sealed by its writer.
                sqlx::query(&format!(
                    "UPDATE {table} SET {column} = $1 WHERE {key} = $2 AND {column} = $3"
                ))
                .bind(fresh)
                .bind(id)
                .bind(&stored)
                .execute(self.pool())
                .await?;
                changed += 1;
            }
        }
        Ok(changed)
    }
}
