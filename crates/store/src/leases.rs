//! Leases on background work, so that several servers over one database run each job once
//! (issue 16). A job runs only while its server holds the job's lease; the holder renews it
//! while it works and releases it when done. A server that dies keeps its lease only until
//! it expires; another server then claims it and takes the work over.
//!
//! Each claim is one statement (an upsert whose update applies only to a free lease), run in
//! a transaction whose `COMMIT` reports any failure: PostgreSQL's row lock and SQLite's
//! write lock each let exactly one of several racing claimants through. Every claim bumps
//! the lease's generation, which numbers the job's runs and fences a holder that lost its
//! lease (its renewals and releases change nothing). Nothing here is specific to one job:
//! an outbox or an export queue claims its own names the same way.

use jiff::{SignedDuration, Timestamp};

use crate::codec::read;
use crate::codec::ts;
use crate::{Store, StoreError};

/// A lease this process holds: the job's name, the holder and the generation that fences it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    /// Grows at every claim: the number of this run of the job.
    pub generation: i64,
}

/// A lease as stored, whoever holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseState {
    pub holder: String,
    pub generation: i64,
    pub expires_at: Timestamp,
    /// When a run of the job last finished (released as done), if ever.
    pub last_done_at: Option<Timestamp>,
}

#[derive(sqlx::FromRow)]
struct LeaseRow {
    holder: String,
    generation: i64,
    expires_at: String,
    last_done_at: Option<String>,
}

impl Store {
    /// Claims the lease `name` for `holder` until `at + ttl`, if nobody holds it (or the
    /// holder's lease expired). `None` when another holder has it.
    pub async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        at: Timestamp,
        ttl: SignedDuration,
    ) -> Result<Option<Lease>, StoreError> {
        self.claim(name, holder, at, ttl, None).await
    }

    /// Claims the lease `name` like [`Store::claim_lease`], but only when the job is due:
    /// no run has finished within `every` before `at`. A periodic job claimed this way runs
    /// once per period across all servers, whichever server's timer fires first.
    pub async fn claim_lease_if_due(
        &self,
        name: &str,
        holder: &str,
        at: Timestamp,
        ttl: SignedDuration,
        every: SignedDuration,
    ) -> Result<Option<Lease>, StoreError> {
        let due_before = at
            .checked_sub(every)
            .map_err(|_| StoreError::Config("the job period is out of range".to_owned()))?;
        self.claim(name, holder, at, ttl, Some(due_before)).await
    }

    async fn claim(
        &self,
        name: &str,
        holder: &str,
        at: Timestamp,
        ttl: SignedDuration,
        done_before: Option<Timestamp>,
    ) -> Result<Option<Lease>, StoreError> {
        let expires = at
            .checked_add(ttl)
            .map_err(|_| StoreError::Config("the lease time is out of range".to_owned()))?;
        let now = ts(at);
        let mut tx = self.pool().begin().await?;
        // A job never claimed yet is due at once: the first claim inserts.
        let generation: Option<i64> = sqlx::query_scalar(
            "INSERT INTO job_leases (name, holder, generation, expires_at, last_done_at, \
             created_at, updated_at) VALUES ($1, $2, 1, $3, NULL, $4, $4) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             generation = job_leases.generation + 1, expires_at = excluded.expires_at, \
             updated_at = excluded.updated_at \
             WHERE job_leases.expires_at <= $4 \
             AND ($5 = '' OR job_leases.last_done_at IS NULL OR job_leases.last_done_at <= $5) \
             RETURNING generation",
        )
        .bind(name)
        .bind(holder)
        .bind(ts(expires))
        .bind(&now)
        .bind(done_before.map(ts).unwrap_or_default())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(generation.map(|generation| Lease {
            name: name.to_owned(),
            holder: holder.to_owned(),
            generation,
        }))
    }

    /// Extends a held lease to `at + ttl`. `false` when the lease was lost (it expired and
    /// another holder claimed it): the holder must stop working on the job.
    pub async fn renew_lease(
        &self,
        lease: &Lease,
        at: Timestamp,
        ttl: SignedDuration,
    ) -> Result<bool, StoreError> {
        let expires = at
            .checked_add(ttl)
            .map_err(|_| StoreError::Config("the lease time is out of range".to_owned()))?;
        let done = sqlx::query(
            "UPDATE job_leases SET expires_at = $1, updated_at = $2 \
             WHERE name = $3 AND holder = $4 AND generation = $5",
        )
        .bind(ts(expires))
        .bind(ts(at))
        .bind(&lease.name)
        .bind(&lease.holder)
        .bind(lease.generation)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a held lease back at `at`; `done` records that the run finished (a periodic
    /// job's next run is due a period later). `false` when the lease had been lost.
    pub async fn release_lease(
        &self,
        lease: &Lease,
        at: Timestamp,
        done: bool,
    ) -> Result<bool, StoreError> {
        let now = ts(at);
        let result = sqlx::query(
            "UPDATE job_leases SET expires_at = $1, updated_at = $1, \
             last_done_at = CASE WHEN $2 = 1 THEN $1 ELSE last_done_at END \
             WHERE name = $3 AND holder = $4 AND generation = $5",
        )
        .bind(&now)
        .bind(i64::from(done))
        .bind(&lease.name)
        .bind(&lease.holder)
        .bind(lease.generation)
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// The lease `name` as stored, for operators and tests.
    pub async fn lease_state(&self, name: &str) -> Result<Option<LeaseState>, StoreError> {
        let row = sqlx::query_as::<_, LeaseRow>(
            "SELECT holder, generation, expires_at, last_done_at FROM job_leases WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(LeaseState {
            holder: row.holder,
            generation: row.generation,
            expires_at: read::ts(&row.expires_at, "expires_at")?,
            last_done_at: read::opt_ts(row.last_done_at.as_deref(), "last_done_at")?,
        }))
    }
}
