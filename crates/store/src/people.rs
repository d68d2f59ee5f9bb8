//! Clinicians with their licenses; clients with their episodes and separations.

use circle_domain::DomainError;
use circle_domain::billing::Npi;
use circle_domain::care::{Concern, LevelOfCare, Modality};
use circle_domain::client::{
    Client, ClientPatch, Episode, NewClient, NewEpisode, NewSeparation, ReferralSource, Separation,
    check_episode_change,
};
use circle_domain::clinician::{Clinician, License, LicenseKind, NewClinician};
use circle_domain::ids::{ClientId, ClinicianId, EpisodeId, ProgramId, SeparationId, UserId};
use circle_domain::schedule::AvailabilityWindow;
use circle_domain::text::ShortText;
use jiff::Timestamp;
use jiff::civil::Date;

use crate::access::{ClientAccess, Listing, RoleAccess, purpose};
use crate::audit::{Record, append};
use crate::codec::{LockTable, date, json, lock_row, page_of, read, ts};
use crate::programs::stale;
use crate::{Page, PageRequest, Store, StoreError};
use circle_domain::audit::AuditAction;

pub(crate) const CLIENT_COLUMNS: &str = "c.id, c.record_number, c.given_name, c.family_name, c.preferred_name, \
     c.date_of_birth, c.email, c.phone, c.concerns, c.availability, c.referral_source, c.version, \
     (SELECT e.level_of_care FROM episodes e WHERE e.client_id = c.id AND e.ended_on IS NULL) AS current_level";

/// A row of `CLIENT_COLUMNS`.
#[derive(sqlx::FromRow)]
pub(crate) struct ClientRow {
    id: i64,
    record_number: String,
    given_name: String,
    family_name: String,
    preferred_name: Option<String>,
    date_of_birth: String,
    email: Option<String>,
    phone: Option<String>,
    concerns: String,
    availability: String,
    referral_source: String,
    current_level: Option<String>,
    version: i64,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> Result<Self, StoreError> {
        Ok(Client {
            id: ClientId(r.id),
            record_number: read::parsed(r.record_number, "record_number")?,
            given_name: read::parsed(r.given_name, "given_name")?,
            family_name: read::parsed(r.family_name, "family_name")?,
            preferred_name: read::opt_parsed(r.preferred_name, "preferred_name")?,
            date_of_birth: read::date(&r.date_of_birth, "date_of_birth")?,
            email: read::opt_parsed(r.email, "email")?,
            phone: read::opt_parsed(r.phone, "phone")?,
            concerns: read::json::<Vec<Concern>>(&r.concerns, "concerns")?,
            availability: read::json::<Vec<AvailabilityWindow>>(&r.availability, "availability")?,
            referral_source: read::vocab(
                &r.referral_source,
                "referral_source",
                ReferralSource::parse,
            )?,
            current_level: read::opt_vocab(
                r.current_level.as_deref(),
                "current_level",
                LevelOfCare::parse,
            )?,
            version: r.version,
        })
    }
}

pub(crate) const EPISODE_COLUMNS: &str =
    "id, client_id, program_id, level_of_care, started_on, ended_on";

#[derive(sqlx::FromRow)]
pub(crate) struct EpisodeRow {
    id: i64,
    client_id: i64,
    program_id: Option<i64>,
    level_of_care: String,
    started_on: String,
    ended_on: Option<String>,
}

impl TryFrom<EpisodeRow> for Episode {
    type Error = StoreError;
    fn try_from(r: EpisodeRow) -> Result<Self, StoreError> {
        Ok(Episode {
            id: EpisodeId(r.id),
            client_id: ClientId(r.client_id),
            program_id: r.program_id.map(ProgramId),
            level_of_care: read::vocab(&r.level_of_care, "level_of_care", LevelOfCare::parse)?,
            started_on: read::date(&r.started_on, "started_on")?,
            ended_on: read::opt_date(r.ended_on.as_deref(), "ended_on")?,
        })
    }
}

/// Only the contact columns, for matching someone asking again.
#[derive(sqlx::FromRow)]
struct ContactRow {
    id: i64,
    email: Option<String>,
    phone: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SeparationRow {
    id: i64,
    client_low: i64,
    client_high: i64,
    /// Sealed.
    reason: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ClinicianRow {
    given_name: String,
    family_name: String,
    email: String,
    modalities: String,
    npi: Option<String>,
    version: i64,
}

#[derive(sqlx::FromRow)]
struct LicenseRow {
    kind: String,
    number: String,
    state: String,
    issued_on: String,
    expires_on: String,
}

impl TryFrom<LicenseRow> for License {
    type Error = StoreError;
    fn try_from(l: LicenseRow) -> Result<Self, StoreError> {
        Ok(License {
            kind: read::vocab(&l.kind, "kind", LicenseKind::parse)?,
            number: read::parsed(l.number, "number")?,
            state: read::parsed(l.state, "state")?,
            issued_on: read::date(&l.issued_on, "issued_on")?,
            expires_on: read::date(&l.expires_on, "expires_on")?,
        })
    }
}

impl Store {
    pub async fn create_clinician(
        &self,
        new: &NewClinician,
        now: Timestamp,
    ) -> Result<Clinician, StoreError> {
        new.validate()?;
        let mut tx = self.begin_write().await?;
        let id = insert_clinician(&mut tx, new, None, now).await?;
        tx.commit().await?;
        self.clinician(id).await
    }

    pub async fn clinician(&self, id: ClinicianId) -> Result<Clinician, StoreError> {
        let mut conn = self.pool().acquire().await?;
        clinician_in(&mut conn, id).await
    }

    /// Records (or, with `None`, removes) a clinician's NPI.
    pub async fn set_clinician_npi(
        &self,
        id: ClinicianId,
        npi: Option<&Npi>,
        now: Timestamp,
    ) -> Result<Clinician, StoreError> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE clinicians SET npi = $1, version = version + 1, updated_at = $2 WHERE id = $3",
        )
        .bind(npi.map(Npi::as_str))
        .bind(ts(now))
        .bind(id.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(DomainError::not_found("clinician").into());
        }
        tx.commit().await?;
        self.clinician(id).await
    }

    pub async fn list_clinicians(&self, page: PageRequest) -> Result<Page<Clinician>, StoreError> {
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM clinicians WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(page.after)
                .bind(i64::from(page.limit) + 1)
                .fetch_all(self.pool())
                .await?;
        let mut conn = self.pool().acquire().await?;
        let mut items = Vec::with_capacity(ids.len());
        for id in ids {
            items.push(clinician_in(&mut conn, ClinicianId(id)).await?);
        }
        Ok(page_of(items, page.limit, |c| c.id.0))
    }

    pub async fn create_client(
        &self,
        who: &RoleAccess<purpose::ClientCreate>,
        new: &NewClient,
        today: Date,
        at: Timestamp,
    ) -> Result<Client, StoreError> {
        let ctx = who.audit();
        new.validate(today)?;
        let mut tx = self.begin_write().await?;
        let id = insert_client(&mut tx, new, today, None, at).await?;
        let client = client_in(&mut tx, id).await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::ClientCreate, &[client.id]),
        )
        .await?;
        tx.commit().await?;
        Ok(client)
    }

    /// One client's record; the read is audited.
    pub async fn client<P: purpose::ReadsClient>(
        &self,
        a: &ClientAccess<P>,
        at: Timestamp,
    ) -> Result<Client, StoreError> {
        let (id, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_read().await?;
        let client = client_in(&mut tx, id).await?;
        tx.commit().await?;
        self.audit_read(at, Record::success(ctx, AuditAction::ClientRead, &[id]))
            .await?;
        Ok(client)
    }

    /// Whether a client exists (no clinical content is read, so nothing is audited).
    pub async fn client_exists(&self, id: ClientId) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clients WHERE id = $1")
            .bind(id.0)
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    /// Clients in a stable order, all or one clinician's caseload; the listing is audited
    /// with the ids it returned.
    pub async fn list_clients(
        &self,
        listing: &Listing<purpose::ClientList>,
        page: PageRequest,
        at: Timestamp,
    ) -> Result<Page<Client>, StoreError> {
        let (scope, ctx) = (listing.client_scope(), listing.audit());
        let mut tx = self.begin_read().await?;
        let (clinician, since) = scope.binds();
        let rows = sqlx::query_as::<_, ClientRow>(&format!(
            "SELECT {CLIENT_COLUMNS} FROM clients c WHERE c.id > $1 AND {} ORDER BY c.id LIMIT $2",
            scope.condition("$3", "$4")
        ))
        .bind(page.after)
        .bind(i64::from(page.limit) + 1)
        .bind(clinician)
        .bind(since)
        .fetch_all(&mut *tx)
        .await?;
        let items = rows
            .into_iter()
            .map(Client::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let page = page_of(items, page.limit, |c| c.id.0);
        let ids: Vec<ClientId> = page.items.iter().map(|c| c.id).collect();
        tx.commit().await?;
        self.audit_read(at, Record::success(ctx, AuditAction::ClientList, &ids))
            .await?;
        Ok(page)
    }

    /// Clients in the listing's reach with this email address (case-insensitive) or this
    /// phone number (same digits, at least seven): someone asking again who is already a
    /// client. Every client is checked, not a first page; only the matches are audited.
    pub async fn clients_with_contact(
        &self,
        listing: &Listing<purpose::ClientList>,
        email: Option<&str>,
        phone: Option<&str>,
        at: Timestamp,
    ) -> Result<Vec<Client>, StoreError> {
        let digits = |p: &str| -> String { p.chars().filter(char::is_ascii_digit).collect() };
        let email = email.map(str::to_lowercase);
        let phone = phone.map(digits).filter(|d| d.len() >= 7);
        if email.is_none() && phone.is_none() {
            return Ok(vec![]);
        }
        let (scope, ctx) = (listing.client_scope(), listing.audit());
        let (clinician, since) = scope.binds();
        let mut tx = self.begin_read().await?;
        // Phones are stored as typed ("(617) 555-0199"): the digits are compared here, over
        // the two contact columns only, so the whole clinic is checked cheaply.
        let rows = sqlx::query_as::<_, ContactRow>(&format!(
            "SELECT c.id, c.email, c.phone FROM clients c WHERE \
             (c.email IS NOT NULL OR c.phone IS NOT NULL) AND {}",
            scope.condition("$1", "$2")
        ))
        .bind(clinician)
        .bind(since)
        .fetch_all(&mut *tx)
        .await?;
        let mut ids = vec![];
        for r in &rows {
            let same_email =
                matches!((&email, &r.email), (Some(a), Some(b)) if *a == b.to_lowercase());
            let same_phone = matches!((&phone, &r.phone), (Some(a), Some(b)) if *a == digits(b));
            if same_email || same_phone {
                ids.push(r.id);
            }
        }
        let mut items = vec![];
        for id in ids {
            let row = sqlx::query_as::<_, ClientRow>(&format!(
                "SELECT {CLIENT_COLUMNS} FROM clients c WHERE c.id = $1"
            ))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            items.push(Client::try_from(row)?);
        }
        let ids: Vec<ClientId> = items.iter().map(|c| c.id).collect();
        tx.commit().await?;
        // Nothing found, nothing read: no entry.
        self.audit_reads(
            at,
            (!ids.is_empty()).then(|| Record::success(ctx, AuditAction::ClientList, &ids)),
        )
        .await?;
        Ok(items)
    }

    /// The clients among `ids` that the listing reaches (the others are left out, not
    /// refused), read in one transaction and audited as one `client.list` naming those
    /// found: a page that shows a few names from lists it already read (Today) pays one
    /// audited read for all of them instead of one per name.
    pub async fn clients_with_ids(
        &self,
        listing: &Listing<purpose::ClientList>,
        ids: &[ClientId],
        at: Timestamp,
    ) -> Result<Vec<Client>, StoreError> {
        let mut ids: Vec<i64> = ids.iter().map(|c| c.0).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let (scope, ctx) = (listing.client_scope(), listing.audit());
        let (clinician, since) = scope.binds();
        let mut tx = self.begin_read().await?;
        let mut items = Vec::with_capacity(ids.len());
        // Bounded statements: a long list is read a chunk at a time inside the one
        // transaction (both databases take far more parameters than this).
        for chunk in ids.chunks(200) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
            let sql = format!(
                "SELECT {CLIENT_COLUMNS} FROM clients c WHERE {} AND c.id IN ({}) ORDER BY c.id",
                scope.condition("$1", "$2"),
                marks.join(", ")
            );
            let mut q = sqlx::query_as::<_, ClientRow>(&sql)
                .bind(clinician)
                .bind(since.clone());
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&mut *tx).await? {
                items.push(Client::try_from(row)?);
            }
        }
        let found: Vec<ClientId> = items.iter().map(|c| c.id).collect();
        tx.commit().await?;
        // Nothing found, nothing read: no entry.
        self.audit_reads(
            at,
            (!found.is_empty()).then(|| Record::success(ctx, AuditAction::ClientList, &found)),
        )
        .await?;
        Ok(items)
    }

    /// Whether `client` is in `clinician`'s caseload: a current member of a group the
    /// clinician leads or co-leads, or one whose membership ended on or after `since`.
    pub async fn in_caseload(
        &self,
        clinician: ClinicianId,
        client: ClientId,
        since: Date,
    ) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM clients c WHERE c.id = $1 AND EXISTS ({})",
            caseload("$2", "$3")
        ))
        .bind(client.0)
        .bind(clinician.0)
        .bind(date(since))
        .fetch_one(self.pool())
        .await?;
        Ok(n > 0)
    }

    pub async fn update_client(
        &self,
        a: &ClientAccess<purpose::ClientUpdate>,
        patch: &ClientPatch,
        now: Timestamp,
    ) -> Result<Client, StoreError> {
        let (id, ctx) = (a.client(), a.audit());
        patch.validate()?;
        let mut tx = self.begin_write().await?;
        let current = client_in(&mut tx, id).await?;
        let done = sqlx::query(
            "UPDATE clients SET preferred_name = $1, email = $2, phone = $3, concerns = $4, \
             availability = $5, version = version + 1, updated_at = $6 WHERE id = $7 AND version = $8",
        )
        .bind(
            patch
                .preferred_name
                .as_ref()
                .or(current.preferred_name.as_ref())
                .map(|n| n.as_str().to_owned()),
        )
        .bind(patch.email.as_ref().or(current.email.as_ref()).map(|e| e.normalized()))
        .bind(
            patch
                .phone
                .as_ref()
                .or(current.phone.as_ref())
                .map(|p| p.as_str().to_owned()),
        )
        .bind(json(patch.concerns.as_ref().unwrap_or(&current.concerns)))
        .bind(json(patch.availability.as_ref().unwrap_or(&current.availability)))
        .bind(ts(now))
        .bind(id.0)
        .bind(patch.version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(stale());
        }
        let client = client_in(&mut tx, id).await?;
        append(
            &mut tx,
            self.audit_key(),
            now,
            Record::success(ctx, AuditAction::ClientUpdate, &[id]),
        )
        .await?;
        tx.commit().await?;
        Ok(client)
    }

    pub async fn episodes<P: purpose::ReadsEpisodes>(
        &self,
        a: &ClientAccess<P>,
        at: Timestamp,
    ) -> Result<Vec<Episode>, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_read().await?;
        client_in(&mut tx, client).await?;
        let rows = sqlx::query_as::<_, EpisodeRow>(&format!(
            "SELECT {EPISODE_COLUMNS} FROM episodes WHERE client_id = $1 ORDER BY started_on, id",
        ))
        .bind(client.0)
        .fetch_all(&mut *tx)
        .await?;
        let episodes = rows
            .into_iter()
            .map(Episode::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::EpisodeRead, &[client]),
        )
        .await?;
        Ok(episodes)
    }

    /// Changes a client's level of care from a date: closes the open episode on that date
    /// and opens the next, in one transaction. History is kept, never overwritten.
    pub async fn change_level(
        &self,
        a: &ClientAccess<purpose::EpisodeCreate>,
        next: &NewEpisode,
        at: Timestamp,
    ) -> Result<Episode, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let now = ts(at);
        let mut tx = self.begin_write().await?;
        if !lock_row(&mut tx, LockTable::Clients, client.0).await? {
            return Err(DomainError::not_found("client").into());
        }
        if let Some(program) = next.program_id {
            let level: Option<String> =
                sqlx::query_scalar("SELECT level_of_care FROM programs WHERE id = $1")
                    .bind(program.0)
                    .fetch_optional(&mut *tx)
                    .await?;
            match level {
                None => return Err(DomainError::invalid("program_id", "names no program").into()),
                Some(l) if l != next.level_of_care.as_str() => {
                    return Err(DomainError::invalid(
                        "program_id",
                        "must be a program at the episode's level of care",
                    )
                    .into());
                }
                Some(_) => {}
            }
        }
        let open = sqlx::query_as::<_, EpisodeRow>(&format!(
            "SELECT {EPISODE_COLUMNS} FROM episodes WHERE client_id = $1 AND ended_on IS NULL",
        ))
        .bind(client.0)
        .fetch_optional(&mut *tx)
        .await?
        .map(Episode::try_from)
        .transpose()?;
        check_episode_change(open.as_ref(), next)?;
        crate::placement::apply_taper(
            self,
            &mut tx,
            client,
            circle_domain::placement::LevelChange {
                from: open.as_ref().map(|e| e.level_of_care),
                to: next.level_of_care,
                taper_weeks: next.taper_weeks,
            },
            next.started_on,
            ctx,
            at,
        )
        .await?;
        if let Some(open) = &open {
            sqlx::query("UPDATE episodes SET ended_on = $1, updated_at = $2 WHERE id = $3")
                .bind(date(next.started_on))
                .bind(&now)
                .bind(open.id.0)
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query_as::<_, EpisodeRow>(&format!(
            "INSERT INTO episodes (client_id, program_id, level_of_care, started_on, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING {EPISODE_COLUMNS}",
        ))
        .bind(client.0)
        .bind(next.program_id.map(|p| p.0))
        .bind(next.level_of_care.as_str())
        .bind(date(next.started_on))
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        let episode = Episode::try_from(row)?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::EpisodeCreate, &[client]).object(episode.id),
        )
        .await?;
        tx.commit().await?;
        Ok(episode)
    }

    /// Discharges a client: closes their open episode on `ended_on`. Refused while any
    /// group membership is still open (ending those goes through the waitlist's offers).
    pub async fn discharge(
        &self,
        a: &ClientAccess<purpose::EpisodeEnd>,
        d: &circle_domain::client::NewDischarge,
        at: Timestamp,
    ) -> Result<Episode, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_write().await?;
        if !lock_row(&mut tx, LockTable::Clients, client.0).await? {
            return Err(DomainError::not_found("client").into());
        }
        let open = sqlx::query_as::<_, EpisodeRow>(&format!(
            "SELECT {EPISODE_COLUMNS} FROM episodes WHERE client_id = $1 AND ended_on IS NULL",
        ))
        .bind(client.0)
        .fetch_optional(&mut *tx)
        .await?
        .map(Episode::try_from)
        .transpose()?
        .ok_or_else(|| {
            DomainError::conflict(
                circle_domain::Rule::NoOpenEpisode,
                "the client has no open episode of care to end",
            )
        })?;
        if d.ended_on <= open.started_on {
            return Err(DomainError::invalid(
                "ended_on",
                "must be after the day the current episode started",
            )
            .into());
        }
        let memberships: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM memberships WHERE client_id = $1 \
             AND (end_date IS NULL OR end_date > $2)",
        )
        .bind(client.0)
        .bind(date(d.ended_on))
        .fetch_one(&mut *tx)
        .await?;
        if memberships > 0 {
            return Err(DomainError::conflict(
                circle_domain::Rule::OpenMemberships,
                format!(
                    "end the client's {memberships} group membership(s) on or before the discharge date first"
                ),
            )
            .into());
        }
        let row = sqlx::query_as::<_, EpisodeRow>(&format!(
            "UPDATE episodes SET ended_on = $1, updated_at = $2 WHERE id = $3 \
             RETURNING {EPISODE_COLUMNS}",
        ))
        .bind(date(d.ended_on))
        .bind(ts(at))
        .bind(open.id.0)
        .fetch_one(&mut *tx)
        .await?;
        let episode = Episode::try_from(row)?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::EpisodeEnd, &[client]).object(episode.id),
        )
        .await?;
        tx.commit().await?;
        Ok(episode)
    }

    /// Records that two clients must never share a group.
    /// Both clients are named by access values: the other client must be in the caller's
    /// reach too, so a separation cannot be used to learn that a record exists.
    pub async fn add_separation(
        &self,
        a: &ClientAccess<purpose::SeparationCreate>,
        other: &ClientAccess<purpose::SeparationCreate>,
        new: &NewSeparation,
        at: Timestamp,
    ) -> Result<Separation, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        if other.client() != new.other_client_id {
            return Err(DomainError::invalid("other_client_id", "names no client").into());
        }
        if new.other_client_id == client {
            return Err(DomainError::invalid("other_client_id", "must be another client").into());
        }
        let mut tx = self.begin_write().await?;
        client_in(&mut tx, client).await?;
        client_in(&mut tx, new.other_client_id)
            .await
            .map_err(|_| DomainError::invalid("other_client_id", "names no client"))?;
        let (low, high) = (
            client.0.min(new.other_client_id.0),
            client.0.max(new.other_client_id.0),
        );
        let now = ts(at);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO separations (client_low, client_high, reason, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(low)
        .bind(high)
        .bind(None::<String>)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        // The reason is clinical free text: sealed with the row's id as associated data.
        if let Some(reason) = &new.reason {
            let sealed = self.seal(reason.as_str(), &separation_aad(id))?;
            sqlx::query("UPDATE separations SET reason = $1 WHERE id = $2")
                .bind(sealed)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(
                ctx,
                AuditAction::SeparationCreate,
                &[client, new.other_client_id],
            )
            .object(id),
        )
        .await?;
        tx.commit().await?;
        Ok(Separation {
            id: SeparationId(id),
            client_id: client,
            other_client_id: new.other_client_id,
            reason: new.reason.clone(),
        })
    }

    /// A client's separations, each seen from that client's side.
    pub async fn separations(
        &self,
        a: &ClientAccess<purpose::SeparationRead>,
        at: Timestamp,
    ) -> Result<Vec<Separation>, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_write().await?;
        client_in(&mut tx, client).await?;
        let rows = sqlx::query_as::<_, SeparationRow>(
            "SELECT id, client_low, client_high, reason FROM separations \
             WHERE client_low = $1 OR client_high = $1 ORDER BY id",
        )
        .bind(client.0)
        .fetch_all(&mut *tx)
        .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::SeparationRead, &[client]),
        )
        .await?;
        tx.commit().await?;
        rows.into_iter()
            .map(|r| {
                let (low, high, id) = (r.client_low, r.client_high, r.id);
                let reason = match r.reason {
                    Some(sealed) => {
                        let text =
                            self.open_sealed(&sealed, &separation_aad(id), "separations.reason")?;
                        Some(
                            ShortText::parse(&text)
                                .map_err(|_| StoreError::Corrupt("separations.reason"))?,
                        )
                    }
                    None => None,
                };
                Ok(Separation {
                    id: SeparationId(id),
                    client_id: client,
                    other_client_id: ClientId(if low == client.0 { high } else { low }),
                    reason,
                })
            })
            .collect()
    }
}

pub(crate) async fn clinician_in(
    conn: &mut sqlx::AnyConnection,
    id: ClinicianId,
) -> Result<Clinician, StoreError> {
    let row = sqlx::query_as::<_, ClinicianRow>(
        "SELECT given_name, family_name, email, modalities, npi, version FROM clinicians WHERE id = $1",
    )
    .bind(id.0)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(DomainError::not_found("clinician"))?;
    let licenses = sqlx::query_as::<_, LicenseRow>(
        "SELECT kind, number, state, issued_on, expires_on FROM licenses WHERE clinician_id = $1 ORDER BY id",
    )
    .bind(id.0)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(License::try_from)
    .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Clinician {
        id,
        given_name: read::parsed(row.given_name, "given_name")?,
        family_name: read::parsed(row.family_name, "family_name")?,
        email: read::parsed(row.email, "email")?,
        licenses,
        modalities: read::json::<Vec<Modality>>(&row.modalities, "modalities")?,
        npi: read::opt_parsed(row.npi, "npi")?,
        version: row.version,
    })
}

/// Which clients a listing may return.
#[derive(Debug, Clone, Copy)]
pub enum ClientScope {
    All,
    /// Members of groups the clinician leads or co-leads whose membership is current or
    /// ended on or after `since`.
    Caseload {
        clinician: ClinicianId,
        since: Date,
    },
    /// Clients reached through the programs linked to a scoped director (see
    /// `director_programs::director_client`).
    Programs {
        director: UserId,
    },
}

impl ClientScope {
    /// The values to bind at the two placeholders given to [`ClientScope::condition`].
    pub(crate) fn binds(self) -> (i64, String) {
        match self {
            ClientScope::All => (-1, String::new()),
            ClientScope::Caseload { clinician, since } => (clinician.0, date(since)),
            ClientScope::Programs { director } => (director.0, String::new()),
        }
    }

    /// The condition on client `c` for this scope, given the placeholders `id` and `since`
    /// bound with [`ClientScope::binds`]. Both placeholders appear in every variant, so
    /// both databases see the same parameters whatever the scope.
    pub(crate) fn condition(self, id: &str, since: &str) -> String {
        match self {
            ClientScope::All | ClientScope::Caseload { .. } => {
                format!("({id} = -1 OR EXISTS ({}))", caseload(id, since))
            }
            ClientScope::Programs { .. } => format!(
                "({since} = '' AND {})",
                crate::director_programs::director_client(id)
            ),
        }
    }
}

/// The caseload condition for client `c`, given the placeholders of the clinician id and of
/// the earliest end date that still counts.
pub(crate) fn caseload(clinician: &str, since: &str) -> String {
    format!(
        "SELECT 1 FROM memberships m JOIN therapy_groups g ON g.id = m.group_id \
         WHERE m.client_id = c.id AND (g.lead_facilitator_id = {clinician} OR g.co_facilitator_id = {clinician}) \
         AND (m.end_date IS NULL OR m.end_date >= {since})"
    )
}

pub(crate) async fn client_in(
    conn: &mut sqlx::AnyConnection,
    id: ClientId,
) -> Result<Client, StoreError> {
    let row = sqlx::query_as::<_, ClientRow>(&format!(
        "SELECT {CLIENT_COLUMNS} FROM clients c WHERE c.id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(DomainError::not_found("client"))?;
    Client::try_from(row)
}

fn separation_aad(id: i64) -> circle_vault::Aad {
    crate::sealed::SEPARATION_REASON.aad(id)
}

/// Inserts a clinician with their licenses after checking them (creation and the clinic
/// import share it); `external_id` is the clinic's own id of an imported one.
pub(crate) async fn insert_clinician(
    tx: &mut crate::groups::Tx<'_>,
    new: &NewClinician,
    external_id: Option<&str>,
    now: Timestamp,
) -> Result<ClinicianId, StoreError> {
    new.validate()?;
    let now = ts(now);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO clinicians (given_name, family_name, email, modalities, external_id, npi, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $6, $7, $5, $5) RETURNING id",
    )
    .bind(new.given_name.as_str())
    .bind(new.family_name.as_str())
    .bind(new.email.normalized())
    .bind(json(&new.modalities))
    .bind(&now)
    .bind(external_id)
    .bind(new.npi.as_ref().map(Npi::as_str))
    .fetch_one(&mut **tx)
    .await?;
    for l in &new.licenses {
        sqlx::query(
            "INSERT INTO licenses (clinician_id, kind, number, state, issued_on, expires_on, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(id)
        .bind(l.kind.as_str())
        .bind(l.number.as_str())
        .bind(l.state.as_str())
        .bind(date(l.issued_on))
        .bind(date(l.expires_on))
        .bind(&now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(ClinicianId(id))
}

/// Inserts a client after checking them against `today` (registration and the clinic
/// import share it; the caller audits).
pub(crate) async fn insert_client(
    tx: &mut crate::groups::Tx<'_>,
    new: &NewClient,
    today: Date,
    external_id: Option<&str>,
    at: Timestamp,
) -> Result<ClientId, StoreError> {
    new.validate(today)?;
    let now = ts(at);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO clients (record_number, given_name, family_name, preferred_name, date_of_birth, \
         email, phone, concerns, availability, referral_source, external_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12, $11, $11) RETURNING id",
    )
    .bind(new.record_number.as_str())
    .bind(new.given_name.as_str())
    .bind(new.family_name.as_str())
    .bind(new.preferred_name.as_ref().map(|n| n.as_str().to_owned()))
    .bind(date(new.date_of_birth))
    .bind(new.email.as_ref().map(|e| e.normalized()))
    .bind(new.phone.as_ref().map(|p| p.as_str().to_owned()))
    .bind(json(&new.concerns))
    .bind(json(&new.availability))
    .bind(new.referral_source.as_str())
    .bind(&now)
    .bind(external_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(ClientId(id))
}
