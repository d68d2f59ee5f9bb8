//! Referrals and their intake states, screenings, the group agreement, 42 CFR Part 2
//! consents and the accounting of disclosures.
//!
//! Personal free text is sealed with the vault, bound to its row: a referral's details
//! (`referrals.details`), transition reasons, screening comments, consent terms and what
//! was disclosed to whom.

use circle_domain::DomainError;
use circle_domain::care::{Concern, LevelOfCare};
use circle_domain::client::ReferralSource;
use circle_domain::ids::{ClientId, ClinicianId, GroupId, ProgramId, UserId};
use circle_domain::intake::{
    AgreementSignature, Consents, Disclosure, GROUP_AGREEMENT_VERSION, NewDisclosure, NewReferral,
    NewScreening, NewTransition, Part2Consent, Part2Terms, PreferredTime, Referral,
    ReferralDetails, ReferralState, RevocationReason, Screening, ScreeningDecision,
    SelfReferralForm, SignatureMethod, Transition, check_transition, disclosure_permitted,
};
use circle_domain::text::{Label, ShortText};
use circle_domain::{Rule, intake};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::access::{
    AuditContext, ClientAccess, ListScope, Listing, PlaceAccess, ProgramAccess, ReferralAccess,
    RoleAccess, purpose,
};
use crate::audit::{Record, append, mac_of};
use crate::codec::{date, json, page_of, read, ts, whole_second};
use crate::people::client_in;
use crate::programs::stale;
use crate::{Page, PageRequest, Store, StoreError};
use circle_domain::audit::AuditAction;

/// The answer to a public self-referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfReferralOutcome {
    Accepted,
    /// Too many from this source within the window; try again after this many seconds.
    Limited {
        retry_after_secs: i64,
    },
}

/// How public referrals are limited: per source address, and overall — behind a proxy
/// every visitor shares one address, so the overall cap is what bounds a flood.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// From one source address within the window.
    pub max: i64,
    /// From all sources together within the window.
    pub overall: i64,
    /// Naming one group within the window.
    pub per_group: i64,
    pub window: SignedDuration,
}

/// Where a public referral came from: the caller's address, and the group it asks about
/// when the page it was sent from named one.
#[derive(Debug, Clone, Copy)]
pub struct PublicSource<'a> {
    pub address: &'a str,
    pub group: Option<GroupId>,
}

/// Which attempts a limit counts.
enum Counted<'a> {
    /// Attempts from one source (by its MAC).
    Source(&'a str),
    /// Attempts naming one group (by its tagged MAC).
    Group(&'a str),
    /// Every attempt (each counted once: the group rows are extra).
    Everyone,
}

/// Rows marking the group an attempt named are tagged so the overall count skips them.
const GROUP_TAG: &str = "group:";

/// When each counted attempt since `since` was made, oldest first.
async fn attempts_since(
    tx: &mut sqlx::AnyConnection,
    counted: Counted<'_>,
    since: Timestamp,
) -> Result<Vec<Timestamp>, StoreError> {
    let (filter, key) = match counted {
        Counted::Source(h) | Counted::Group(h) => ("source_hash = $2", h.to_owned()),
        Counted::Everyone => ("source_hash NOT LIKE $2", format!("{GROUP_TAG}%")),
    };
    let rows: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT attempted_at FROM self_referral_attempts WHERE attempted_at > $1 AND {filter} \
         ORDER BY attempted_at, id"
    ))
    .bind(ts(since))
    .bind(key)
    .fetch_all(tx)
    .await?;
    rows.iter().map(|t| read::ts(t, "attempted_at")).collect()
}

const REFERRAL_COLUMNS: &str = "id, path, state, details, preferred_times, program_id, \
     level_of_care, client_id, screener_id, received_at, version";

fn aad(kind: &str, id: i64) -> circle_vault::Aad {
    circle_vault::Aad::record(kind, id)
}

#[derive(sqlx::FromRow)]
struct TransitionRow {
    id: i64,
    from_state: Option<String>,
    to_state: String,
    at: String,
    by_user_id: Option<i64>,
    reason: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Part2Row {
    id: i64,
    terms: String,
    revoked_at: Option<String>,
    client_id: i64,
    expires_on: Option<String>,
    revocation_reason: Option<String>,
    recorded_by: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct AgreementRow {
    id: i64,
    client_id: i64,
    version: String,
    signed_on: String,
    method: String,
    recorded_by: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct DisclosureRow {
    id: i64,
    details: String,
    client_id: i64,
    disclosed_at: String,
    disclosed_by: Option<i64>,
    consent_id: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct ReferralStateRow {
    state: String,
    client_id: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct ScreeningRow {
    id: i64,
    referral_id: i64,
    decision: String,
    reasons: Option<String>,
    measure_response_id: Option<i64>,
    screened_by: Option<i64>,
    screened_at: String,
}

#[derive(sqlx::FromRow)]
struct ReferralRow {
    id: i64,
    details: String,
    path: String,
    state: String,
    preferred_times: String,
    program_id: Option<i64>,
    level_of_care: Option<String>,
    client_id: Option<i64>,
    screener_id: Option<i64>,
    received_at: String,
    version: i64,
}

impl Store {
    fn seal_json<T: Serialize>(&self, v: &T, kind: &str, id: i64) -> Result<String, StoreError> {
        self.seal(&json(v), &aad(kind, id))
    }

    fn open_json<T: for<'de> Deserialize<'de>>(
        &self,
        sealed: &str,
        kind: &str,
        id: i64,
        column: &'static str,
    ) -> Result<T, StoreError> {
        let text = self.open_sealed(sealed, &aad(kind, id), column)?;
        serde_json::from_str(&text).map_err(|_| StoreError::Corrupt(column))
    }

    fn open_text(
        &self,
        sealed: Option<String>,
        kind: &str,
        id: i64,
        column: &'static str,
    ) -> Result<Option<ShortText>, StoreError> {
        sealed
            .map(|s| {
                let text = self.open_sealed(&s, &aad(kind, id), column)?;
                ShortText::parse(&text).map_err(|_| StoreError::Corrupt(column))
            })
            .transpose()
    }

    fn referral_of(&self, r: ReferralRow) -> Result<Referral, StoreError> {
        let id = r.id;
        let details: ReferralDetails =
            self.open_json(&r.details, "referrals.details", id, "referrals.details")?;
        Ok(Referral {
            id,
            path: read::vocab(&r.path, "path", ReferralSource::parse)?,
            state: read::vocab(&r.state, "state", ReferralState::parse)?,
            details,
            preferred_times: read::json::<Vec<PreferredTime>>(
                &r.preferred_times,
                "preferred_times",
            )?,
            program_id: r.program_id.map(ProgramId),
            level_of_care: read::opt_vocab(
                r.level_of_care.as_deref(),
                "level_of_care",
                LevelOfCare::parse,
            )?,
            client_id: r.client_id.map(ClientId),
            screener_id: r.screener_id.map(ClinicianId),
            received_at: read::ts(&r.received_at, "received_at")?,
            version: r.version,
            transitions: vec![],
            screenings: vec![],
        })
    }

    /// Inserts a referral in `referred` with its first transition; returns its id.
    #[allow(
        clippy::too_many_arguments,
        reason = "one insert of a referral's columns"
    )]
    pub(crate) async fn insert_referral(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        path: ReferralSource,
        details: &ReferralDetails,
        times: &[PreferredTime],
        program: Option<ProgramId>,
        level: Option<LevelOfCare>,
        client: Option<ClientId>,
        screener: Option<ClinicianId>,
        by: Option<UserId>,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let now = ts(at);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO referrals (path, state, preferred_times, program_id, level_of_care, \
             client_id, screener_id, received_at, created_by, created_at, updated_at) \
             VALUES ($1, 'referred', $2, $3, $4, $5, $6, $7, $8, $7, $7) RETURNING id",
        )
        .bind(path.as_str())
        .bind(json(times))
        .bind(program.map(|p| p.0))
        .bind(level.map(|l| l.as_str()))
        .bind(client.map(|c| c.0))
        .bind(screener.map(|c| c.0))
        .bind(&now)
        .bind(by.map(|u| u.0))
        .fetch_one(&mut **tx)
        .await?;
        let sealed = self.seal_json(details, "referrals.details", id)?;
        sqlx::query("UPDATE referrals SET details = $1 WHERE id = $2")
            .bind(sealed)
            .bind(id)
            .execute(&mut **tx)
            .await?;
        insert_transition(tx, id, None, ReferralState::Referred, by, None, at).await?;
        Ok(id)
    }

    /// The public self-referral: rate-limited per source (an HMAC of the address under the
    /// audit key, so attempts are counted across servers without storing addresses).
    pub async fn submit_self_referral(
        &self,
        form: &SelfReferralForm,
        source: PublicSource<'_>,
        limit: RateLimit,
        ctx: &AuditContext,
        at: Timestamp,
    ) -> Result<SelfReferralOutcome, StoreError> {
        form.validate()?;
        let details = ReferralDetails {
            name: form.name.clone(),
            email: form.email.clone(),
            phone: form.phone.clone(),
            reason: Some(form.looking_for.clone()),
            provider: None,
        };
        self.public_referral(
            ReferralSource::SelfReferral,
            &details,
            &form.preferred_times,
            None,
            source,
            limit,
            ctx,
            at,
        )
        .await
    }

    /// A referral from a public page (no sign-in), rate-limited per source: an HMAC of the
    /// address under the audit key, so attempts are counted across servers without storing
    /// addresses, and self-referrals and therapists' referrals share one limit.
    #[allow(
        clippy::too_many_arguments,
        reason = "one referral's parts and its context"
    )]
    pub(crate) async fn public_referral(
        &self,
        path: ReferralSource,
        details: &ReferralDetails,
        preferred_times: &[PreferredTime],
        admission: Option<(ProgramId, LevelOfCare)>,
        source: PublicSource<'_>,
        limit: RateLimit,
        ctx: &AuditContext,
        at: Timestamp,
    ) -> Result<SelfReferralOutcome, StoreError> {
        let key = self.audit_key().ok_or_else(|| {
            StoreError::Config("no audit key is configured; the action was not performed".into())
        })?;
        let source_hash = mac_of(key, "self-referral-source", source.address);
        let group_hash = source.group.map(|g| {
            format!(
                "{GROUP_TAG}{}",
                mac_of(key, "self-referral-group", &g.0.to_string())
            )
        });
        let since = at
            .checked_sub(limit.window)
            .map_err(|_| StoreError::Corrupt("attempted_at"))?;
        let mut tx = self.begin_write().await?;
        // Insert first, then count: two servers racing both see each other's row.
        for hash in std::iter::once(&source_hash).chain(group_hash.as_ref()) {
            sqlx::query(
                "INSERT INTO self_referral_attempts (source_hash, attempted_at) VALUES ($1, $2)",
            )
            .bind(hash)
            .bind(ts(at))
            .execute(&mut *tx)
            .await?;
        }
        let mut limits = vec![
            (Counted::Source(&source_hash), limit.max),
            (Counted::Everyone, limit.overall),
        ];
        if let Some(h) = &group_hash {
            limits.push((Counted::Group(h), limit.per_group));
        }
        let mut free_at: Option<Timestamp> = None;
        for (counted, max) in limits {
            let seen = attempts_since(&mut tx, counted, since).await?;
            let over = seen.len() as i64 - max;
            if over > 0 {
                // This attempt is rolled back: the next one passes once `over` of the
                // recorded ones have left the window.
                let leaving = usize::try_from(over - 1).unwrap_or(0);
                let oldest = seen.get(leaving).copied().unwrap_or(at);
                let then = oldest.checked_add(limit.window).unwrap_or(at);
                free_at = Some(free_at.map_or(then, |f| f.max(then)));
            }
        }
        if let Some(free_at) = free_at {
            tx.rollback().await?;
            let secs = (free_at.as_second() - at.as_second()).max(1);
            return Ok(SelfReferralOutcome::Limited {
                retry_after_secs: secs,
            });
        }
        let id = self
            .insert_referral(
                &mut tx,
                path,
                details,
                preferred_times,
                admission.map(|(p, _)| p),
                admission.map(|(_, l)| l),
                None,
                None,
                None,
                at,
            )
            .await?;
        // The person who asked hears that we have it, and intake that it waits (issue 18).
        let ack = (path == ReferralSource::SelfReferral)
            .then(|| details.email.as_ref().map(|e| e.normalized()))
            .flatten();
        self.queue_referral_notices(&mut tx, id, ack.as_deref(), at)
            .await?;
        // Old attempts are no longer needed for the limit.
        sqlx::query("DELETE FROM self_referral_attempts WHERE attempted_at <= $1")
            .bind(ts(since))
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::ReferralCreate, &[]).object(id),
        )
        .await?;
        tx.commit().await?;
        Ok(SelfReferralOutcome::Accepted)
    }

    /// A referral entered by staff.
    /// The program and the client it names, if any, come with access values: a referral
    /// aimed at a program is one the caller may refer to, and a client it names is one
    /// the caller may place.
    pub async fn create_referral(
        &self,
        who: &RoleAccess<purpose::Refer>,
        program: Option<&ProgramAccess<purpose::Refer>>,
        client: Option<&PlaceAccess<purpose::Refer>>,
        new: &NewReferral,
        at: Timestamp,
    ) -> Result<Referral, StoreError> {
        let ctx = who.audit();
        if program.map(|p| p.program()) != new.program_id {
            return Err(DomainError::invalid("program_id", "names no program").into());
        }
        if client.map(|c| c.client()) != new.client_id {
            return Err(DomainError::invalid("client_id", "names no client").into());
        }
        new.validate()?;
        let mut tx = self.begin_write().await?;
        if let (Some(program), Some(level)) = (new.program_id, new.level_of_care) {
            let l: Option<String> =
                sqlx::query_scalar("SELECT level_of_care FROM programs WHERE id = $1")
                    .bind(program.0)
                    .fetch_optional(&mut *tx)
                    .await?;
            match l {
                None => return Err(DomainError::invalid("program_id", "names no program").into()),
                Some(l) if l != level.as_str() => {
                    return Err(DomainError::invalid(
                        "level_of_care",
                        "must be the program's level of care",
                    )
                    .into());
                }
                Some(_) => {}
            }
        }
        if let Some(c) = new.client_id {
            client_in(&mut tx, c)
                .await
                .map_err(|_| DomainError::invalid("client_id", "names no client"))?;
        }
        if let Some(s) = new.screener_id {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clinicians WHERE id = $1")
                .bind(s.0)
                .fetch_one(&mut *tx)
                .await?;
            if n == 0 {
                return Err(DomainError::invalid("screener_id", "names no clinician").into());
            }
        }
        let details = ReferralDetails {
            name: new.name.clone(),
            email: new.email.clone(),
            phone: new.phone.clone(),
            reason: new.reason.clone(),
            provider: new.provider.clone(),
        };
        let id = self
            .insert_referral(
                &mut tx,
                new.path,
                &details,
                &new.preferred_times,
                new.program_id,
                new.level_of_care,
                new.client_id,
                new.screener_id,
                ctx.actor_user_id(),
                at,
            )
            .await?;
        let clients: Vec<ClientId> = new.client_id.into_iter().collect();
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::ReferralCreate, &clients).object(id),
        )
        .await?;
        let referral = self.referral_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(referral)
    }

    /// Referrals by state, oldest first: every referral for intake and clinic-wide
    /// directors, those aimed at a scoped director's programs, those a clinician screens.
    pub async fn list_referrals(
        &self,
        listing: &Listing<purpose::ReferralList>,
        state: Option<ReferralState>,
        page: PageRequest,
        at: Timestamp,
    ) -> Result<Page<Referral>, StoreError> {
        let ctx = listing.audit();
        let (screener, director) = referral_scope(listing);
        let mut tx = self.begin_read().await?;
        let rows = sqlx::query_as::<_, ReferralRow>(&format!(
            "SELECT {REFERRAL_COLUMNS} FROM referrals WHERE id > $1 AND ($2 = '' OR state = $2) \
             AND ($3 = -1 OR screener_id = $3) AND ($5 = -1 OR {}) ORDER BY id LIMIT $4",
            crate::director_programs::director_program("$5", "referrals.program_id")
        ))
        .bind(page.after)
        .bind(state.map_or("", |s| s.as_str()))
        .bind(screener.map_or(-1, |c| c.0))
        .bind(i64::from(page.limit) + 1)
        .bind(director.map_or(-1, |d| d.0))
        .fetch_all(&mut *tx)
        .await?;
        let items = rows
            .into_iter()
            .map(|r| self.referral_of(r))
            .collect::<Result<Vec<_>, _>>()?;
        let page = page_of(items, page.limit, |r| r.id);
        let clients: Vec<ClientId> = page.items.iter().filter_map(|r| r.client_id).collect();
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::ReferralList, &clients),
        )
        .await?;
        Ok(page)
    }

    /// How many referrals the listing reaches are in each state (those with none are
    /// left out). Counts name no one, so nothing is audited; the scope is
    /// `list_referrals`'s.
    pub async fn referral_counts(
        &self,
        listing: &Listing<purpose::ReferralList>,
    ) -> Result<Vec<(ReferralState, i64)>, StoreError> {
        let (screener, director) = referral_scope(listing);
        let rows = sqlx::query_as::<_, StateCountRow>(&format!(
            "SELECT state, COUNT(*) AS n FROM referrals WHERE ($1 = -1 OR screener_id = $1) \
             AND ($2 = -1 OR {}) GROUP BY state",
            crate::director_programs::director_program("$2", "referrals.program_id")
        ))
        .bind(screener.map_or(-1, |c| c.0))
        .bind(director.map_or(-1, |d| d.0))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| Ok((read::vocab(&r.state, "state", ReferralState::parse)?, r.n)))
            .collect()
    }

    /// Who screens a referral (for access checks); 404 when there is no such referral.
    /// The program a referral is aimed at, if any (for authorization; no content).
    pub async fn referral_program(&self, id: i64) -> Result<Option<ProgramId>, StoreError> {
        let program: Option<i64> =
            sqlx::query_scalar("SELECT program_id FROM referrals WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?
                .ok_or(DomainError::not_found("referral"))?;
        Ok(program.map(ProgramId))
    }

    pub async fn referral_screener(&self, id: i64) -> Result<Option<ClinicianId>, StoreError> {
        let screener: Option<i64> =
            sqlx::query_scalar("SELECT screener_id FROM referrals WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?
                .ok_or(DomainError::not_found("referral"))?;
        Ok(screener.map(ClinicianId))
    }

    async fn referral_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: i64,
    ) -> Result<Referral, StoreError> {
        let row = sqlx::query_as::<_, ReferralRow>(&format!(
            "SELECT {REFERRAL_COLUMNS} FROM referrals WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(DomainError::not_found("referral"))?;
        let mut referral = self.referral_of(row)?;
        let rows = sqlx::query_as::<_, TransitionRow>(
            "SELECT id, from_state, to_state, at, by_user_id, reason FROM referral_transitions \
             WHERE referral_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut **tx)
        .await?;
        for r in rows {
            let tid = r.id;
            referral.transitions.push(Transition {
                from: read::opt_vocab(r.from_state.as_deref(), "from_state", ReferralState::parse)?,
                to: read::vocab(&r.to_state, "to_state", ReferralState::parse)?,
                at: read::ts(&r.at, "at")?,
                by_user_id: r.by_user_id.map(UserId),
                reason: self.open_text(
                    r.reason,
                    "referral_transitions.reason",
                    tid,
                    "referral_transitions.reason",
                )?,
            });
        }
        let rows = sqlx::query_as::<_, ScreeningRow>(
            "SELECT id, referral_id, decision, reasons, measure_response_id, screened_by, screened_at \
             FROM screenings WHERE referral_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut **tx)
        .await?;
        for r in rows {
            referral.screenings.push(self.screening_of(r)?);
        }
        Ok(referral)
    }

    fn screening_of(&self, r: ScreeningRow) -> Result<Screening, StoreError> {
        let id = r.id;
        Ok(Screening {
            id,
            referral_id: r.referral_id,
            decision: read::vocab(&r.decision, "decision", ScreeningDecision::parse)?,
            reasons: self.open_text(r.reasons, "screenings.reasons", id, "screenings.reasons")?,
            measure_response_id: r.measure_response_id,
            screened_by: r.screened_by.map(UserId),
            screened_at: read::ts(&r.screened_at, "screened_at")?,
        })
    }

    /// One referral with its transitions and screenings (comments included: the service
    /// hides them from callers who may not read them).
    pub async fn referral(
        &self,
        a: &ReferralAccess<purpose::ReferralRead>,
        at: Timestamp,
    ) -> Result<Referral, StoreError> {
        let (id, ctx) = (a.referral(), a.audit());
        let mut tx = self.begin_read().await?;
        let referral = self.referral_in(&mut tx, id).await?;
        let clients: Vec<ClientId> = referral.client_id.into_iter().collect();
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::ReferralRead, &clients).object(id),
        )
        .await?;
        Ok(referral)
    }

    /// Moves a referral on, if the state machine allows it; dated and attributed.
    /// Linking a client (`client_id`) needs an access value for them: the caller must be
    /// able to place that client, so a referral cannot pull another program's client into
    /// a scoped director's reach (issue 13, hole 1).
    pub async fn transition_referral(
        &self,
        a: &ReferralAccess<purpose::ReferralTransition>,
        link: Option<&PlaceAccess<purpose::LinkReferral>>,
        t: &NewTransition,
        at: Timestamp,
    ) -> Result<Referral, StoreError> {
        let (id, ctx) = (a.referral(), a.audit());
        if link.map(|l| l.client()) != t.client_id {
            return Err(DomainError::invalid("client_id", "names no client").into());
        }
        let mut tx = self.begin_write().await?;
        let (from, client) = lock_referral(&mut tx, id).await?;
        check_transition(from, t.to)?;
        // Ready is a screening's finding (issue 14): the latest screening must have found
        // the person ready for group, whoever asks and through whichever door.
        if t.to == ReferralState::Ready {
            let latest: Option<String> = sqlx::query_scalar(
                "SELECT decision FROM screenings WHERE referral_id = $1 ORDER BY id DESC LIMIT 1",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if latest.as_deref() != Some(ScreeningDecision::Ready.as_str()) {
                return Err(DomainError::conflict(
                    Rule::ScreeningNeeded,
                    "a referral becomes ready only when a group-readiness screening finds the person ready: record the screening",
                )
                .into());
            }
        }
        let client = match t.client_id {
            Some(c) => {
                client_in(&mut tx, c)
                    .await
                    .map_err(|_| DomainError::invalid("client_id", "names no client"))?;
                Some(c)
            }
            None => client,
        };
        if matches!(t.to, ReferralState::Placed | ReferralState::Active) && client.is_none() {
            return Err(DomainError::conflict(
                Rule::ReferralNeedsClient,
                "register the client and link the referral (client_id) before placing them",
            )
            .into());
        }
        move_to(&mut tx, id, from, t.to, client, at).await?;
        let tid =
            insert_transition(&mut tx, id, Some(from), t.to, ctx.actor_user_id(), None, at).await?;
        if let Some(reason) = &t.reason {
            let sealed = self.seal(reason.as_str(), &aad("referral_transitions.reason", tid))?;
            sqlx::query("UPDATE referral_transitions SET reason = $1 WHERE id = $2")
                .bind(sealed)
                .bind(tid)
                .execute(&mut *tx)
                .await?;
        }
        let clients: Vec<ClientId> = client.into_iter().collect();
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::ReferralTransition, &clients).object(id),
        )
        .await?;
        let referral = self.referral_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(referral)
    }

    /// Assigns (or, with `None`, clears) the clinician who screens the referral: they then
    /// see it among their referrals. A referral already past screening keeps its screener
    /// (the screening it records stands).
    pub async fn assign_screener(
        &self,
        a: &ReferralAccess<purpose::ReferralTransition>,
        screener: Option<ClinicianId>,
        at: Timestamp,
    ) -> Result<Referral, StoreError> {
        let (id, ctx) = (a.referral(), a.audit());
        let mut tx = self.begin_write().await?;
        let (state, client) = lock_referral(&mut tx, id).await?;
        if !matches!(state, ReferralState::Referred | ReferralState::Screening) {
            return Err(DomainError::conflict(
                Rule::IllegalTransition,
                format!("a screener is assigned before the screening; this referral is {state}"),
            )
            .into());
        }
        if let Some(s) = screener {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clinicians WHERE id = $1")
                .bind(s.0)
                .fetch_one(&mut *tx)
                .await?;
            if n == 0 {
                return Err(DomainError::invalid("screener_id", "names no clinician").into());
            }
        }
        sqlx::query(
            "UPDATE referrals SET screener_id = $1, version = version + 1, updated_at = $2 \
             WHERE id = $3",
        )
        .bind(screener.map(|c| c.0))
        .bind(ts(at))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let clients: Vec<ClientId> = client.into_iter().collect();
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::ReferralTransition, &clients).object(id),
        )
        .await?;
        let referral = self.referral_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(referral)
    }

    /// Records a group-readiness screening. A referral still in `referred` moves to
    /// `screening` first; `ready` then moves it to `ready`, `refer_elsewhere` withdraws it,
    /// `not_ready` leaves it in screening.
    pub async fn record_screening(
        &self,
        a: &ReferralAccess<purpose::ScreeningCreate>,
        s: &NewScreening,
        at: Timestamp,
    ) -> Result<Screening, StoreError> {
        let (id, ctx) = (a.referral(), a.audit());
        let mut tx = self.begin_write().await?;
        let (mut state, client) = lock_referral(&mut tx, id).await?;
        if state == ReferralState::Referred {
            check_transition(state, ReferralState::Screening)?;
            move_to(&mut tx, id, state, ReferralState::Screening, client, at).await?;
            insert_transition(
                &mut tx,
                id,
                Some(state),
                ReferralState::Screening,
                ctx.actor_user_id(),
                None,
                at,
            )
            .await?;
            state = ReferralState::Screening;
        }
        if state != ReferralState::Screening {
            return Err(DomainError::conflict(
                Rule::IllegalTransition,
                format!(
                    "a screening is recorded for a referral in referred or screening; this one is {state}"
                ),
            )
            .into());
        }
        // The screening instrument's response, when given, must be the referral's client's.
        if let Some(response) = s.measure_response_id {
            let owner: Option<i64> =
                sqlx::query_scalar("SELECT client_id FROM measure_responses WHERE id = $1")
                    .bind(response)
                    .fetch_optional(&mut *tx)
                    .await?;
            if owner.is_none() || owner != client.map(|c| c.0) {
                return Err(DomainError::invalid(
                    "measure_response_id",
                    "must be a measure response of the client linked to this referral",
                )
                .into());
            }
        }
        let sid: i64 = sqlx::query_scalar(
            "INSERT INTO screenings (referral_id, decision, measure_response_id, screened_by, \
             screened_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5, $5) RETURNING id",
        )
        .bind(id)
        .bind(s.decision.as_str())
        .bind(s.measure_response_id)
        .bind(ctx.actor_user_id().map(|u| u.0))
        .bind(ts(at))
        .fetch_one(&mut *tx)
        .await?;
        if let Some(reasons) = &s.reasons {
            let sealed = self.seal(reasons.as_str(), &aad("screenings.reasons", sid))?;
            sqlx::query("UPDATE screenings SET reasons = $1 WHERE id = $2")
                .bind(sealed)
                .bind(sid)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(next) = s.decision.next_state() {
            check_transition(state, next)?;
            move_to(&mut tx, id, state, next, client, at).await?;
            insert_transition(
                &mut tx,
                id,
                Some(state),
                next,
                ctx.actor_user_id(),
                None,
                at,
            )
            .await?;
        }
        let clients: Vec<ClientId> = client.into_iter().collect();
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::ScreeningCreate, &clients).object(id),
        )
        .await?;
        let row = sqlx::query_as::<_, ScreeningRow>(
            "SELECT id, referral_id, decision, reasons, measure_response_id, screened_by, screened_at \
             FROM screenings WHERE id = $1",
        )
        .bind(sid)
        .fetch_one(&mut *tx)
        .await?;
        let screening = self.screening_of(row)?;
        tx.commit().await?;
        Ok(screening)
    }

    // Consents.

    /// Records a group agreement signature (the current version).
    pub async fn sign_group_agreement(
        &self,
        a: &ClientAccess<purpose::AgreementSign>,
        signed_on: Date,
        method: SignatureMethod,
        at: Timestamp,
    ) -> Result<AgreementSignature, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_write().await?;
        client_in(&mut tx, client).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO group_agreements (client_id, version, signed_on, method, recorded_by, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(client.0)
        .bind(GROUP_AGREEMENT_VERSION)
        .bind(date(signed_on))
        .bind(method.as_str())
        .bind(ctx.actor_user_id().map(|u| u.0))
        .bind(ts(at))
        .fetch_one(&mut *tx)
        .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::ConsentCreate, &[client])
                .object(format!("agreement-{id}")),
        )
        .await?;
        tx.commit().await?;
        Ok(AgreementSignature {
            id,
            client_id: client,
            version: GROUP_AGREEMENT_VERSION.to_owned(),
            signed_on,
            method,
            recorded_by: ctx.actor_user_id(),
        })
    }

    async fn part2_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        client: ClientId,
        at: Timestamp,
        on: Date,
    ) -> Result<Vec<(Part2Consent, Option<Timestamp>)>, StoreError> {
        let rows = sqlx::query_as::<_, Part2Row>(
            "SELECT id, client_id, terms, expires_on, revoked_at, revocation_reason, recorded_by \
             FROM part2_consents WHERE client_id = $1 ORDER BY id",
        )
        .bind(client.0)
        .fetch_all(&mut *conn)
        .await?;
        rows.into_iter()
            .map(|r| {
                let id = r.id;
                let terms: Part2Terms =
                    self.open_json(&r.terms, "part2_consents.terms", id, "part2_consents.terms")?;
                let revoked_at = read::opt_ts(r.revoked_at.as_deref(), "revoked_at")?;
                let mut c = Part2Consent {
                    id,
                    client_id: ClientId(r.client_id),
                    terms,
                    expires_on: read::opt_date(r.expires_on.as_deref(), "expires_on")?,
                    revoked_at,
                    revocation_reason: read::opt_vocab(
                        r.revocation_reason.as_deref(),
                        "revocation_reason",
                        RevocationReason::parse,
                    )?,
                    recorded_by: r.recorded_by.map(UserId),
                    in_force: false,
                };
                c.in_force = c.in_force(revoked_at, at, on);
                Ok((c, revoked_at))
            })
            .collect()
    }

    /// A client's group agreement signatures and Part 2 consents.
    pub async fn consents<P: purpose::ReadsConsents>(
        &self,
        a: &ClientAccess<P>,
        at: Timestamp,
        on: Date,
    ) -> Result<Consents, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_read().await?;
        client_in(&mut tx, client).await?;
        let rows = sqlx::query_as::<_, AgreementRow>(
            "SELECT id, client_id, version, signed_on, method, recorded_by FROM group_agreements \
             WHERE client_id = $1 ORDER BY signed_on, id",
        )
        .bind(client.0)
        .fetch_all(&mut *tx)
        .await?;
        let group_agreements = rows
            .into_iter()
            .map(|r| {
                Ok(AgreementSignature {
                    id: r.id,
                    client_id: ClientId(r.client_id),
                    version: r.version,
                    signed_on: read::date(&r.signed_on, "signed_on")?,
                    method: read::vocab(&r.method, "method", SignatureMethod::parse)?,
                    recorded_by: r.recorded_by.map(UserId),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let part2 = self
            .part2_in(&mut tx, client, at, on)
            .await?
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::ConsentRead, &[client]),
        )
        .await?;
        Ok(Consents {
            group_agreements,
            part2,
        })
    }

    /// Records a complete 42 CFR 2.31 consent.
    pub async fn record_part2_consent(
        &self,
        a: &ClientAccess<purpose::Part2ConsentCreate>,
        terms: &Part2Terms,
        expires_on: Option<Date>,
        at: Timestamp,
        on: Date,
    ) -> Result<Part2Consent, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_write().await?;
        client_in(&mut tx, client).await?;
        let now = ts(at);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO part2_consents (client_id, expires_on, recorded_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(client.0)
        .bind(expires_on.map(date))
        .bind(ctx.actor_user_id().map(|u| u.0))
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        let sealed = self.seal_json(terms, "part2_consents.terms", id)?;
        sqlx::query("UPDATE part2_consents SET terms = $1 WHERE id = $2")
            .bind(sealed)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.finish_part2(tx, client, id, AuditAction::ConsentCreate, ctx, at, on)
            .await
    }

    /// Revokes a consent (or records its expiry event): from this instant it permits no
    /// disclosure.
    pub async fn revoke_part2_consent(
        &self,
        a: &ClientAccess<purpose::ConsentRevoke>,
        consent: i64,
        reason: RevocationReason,
        at: Timestamp,
        on: Date,
    ) -> Result<Part2Consent, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE part2_consents SET version = version WHERE id = $1 AND client_id = $2",
        )
        .bind(consent)
        .bind(client.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(DomainError::not_found("consent").into());
        }
        let done = sqlx::query(
            "UPDATE part2_consents SET revoked_at = $1, revocation_reason = $2, revoked_by = $3, \
             version = version + 1, updated_at = $1 WHERE id = $4 AND revoked_at IS NULL",
        )
        .bind(ts(at))
        .bind(reason.as_str())
        .bind(ctx.actor_user_id().map(|u| u.0))
        .bind(consent)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(DomainError::conflict(
                Rule::ConsentRevoked,
                "the consent was already revoked",
            )
            .into());
        }
        self.finish_part2(tx, client, consent, AuditAction::ConsentRevoke, ctx, at, on)
            .await
    }

    /// Audits a change to one Part 2 consent, reads it back as it now stands, and commits.
    #[allow(
        clippy::too_many_arguments,
        reason = "one transaction's context, passed through"
    )]
    async fn finish_part2(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        client: ClientId,
        consent: i64,
        action: AuditAction,
        ctx: &AuditContext,
        at: Timestamp,
        on: Date,
    ) -> Result<Part2Consent, StoreError> {
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, action, &[client]).object(format!("part2-{consent}")),
        )
        .await?;
        let c = self
            .part2_in(&mut tx, client, at, on)
            .await?
            .into_iter()
            .map(|(c, _)| c)
            .find(|c| c.id == consent)
            .ok_or(StoreError::Corrupt("part2_consents.id"))?;
        tx.commit().await?;
        Ok(c)
    }

    /// Records a disclosure. For a client with a substance-use concern (42 CFR Part 2) it
    /// needs a consent in force at this instant naming the recipient; refused otherwise.
    pub async fn record_disclosure(
        &self,
        a: &ClientAccess<purpose::DisclosureCreate>,
        new: &NewDisclosure,
        at: Timestamp,
        on: Date,
    ) -> Result<Disclosure, StoreError> {
        self.disclose(a, new, at, on, None)
            .await?
            .ok_or(StoreError::Corrupt("disclosures.export_job_id"))
    }

    /// Records a Bulk Data export's disclosure of one client, once per job: a job re-run
    /// after its server stopped finds the disclosure it recorded before and records none
    /// (`false`). The Part 2 consent is checked again either way (it may have been revoked
    /// since).
    pub async fn record_export_disclosure(
        &self,
        a: &ClientAccess<purpose::DisclosureCreate>,
        job: i64,
        new: &NewDisclosure,
        at: Timestamp,
        on: Date,
    ) -> Result<bool, StoreError> {
        Ok(self.disclose(a, new, at, on, Some(job)).await?.is_some())
    }

    /// The disclosure itself; `None` when `export_job` already disclosed this client.
    async fn disclose(
        &self,
        a: &ClientAccess<purpose::DisclosureCreate>,
        new: &NewDisclosure,
        at: Timestamp,
        on: Date,
        export_job: Option<i64>,
    ) -> Result<Option<Disclosure>, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_write().await?;
        let c = client_in(&mut tx, client).await?;
        let consent_id = if c.concerns.contains(&Concern::SubstanceUse) {
            let consents = self.part2_in(&mut tx, client, at, on).await?;
            match disclosure_permitted(
                &consents,
                new.recipient.as_str(),
                new.purpose.as_str(),
                at,
                on,
            ) {
                Some(consent) => Some(consent.id),
                None => {
                    return Err(DomainError::conflict(
                        Rule::NoConsentInForce,
                        "this client's substance-use treatment information is protected by \
                         42 CFR Part 2: no consent in force names this recipient for this \
                         purpose (it may be missing, revoked or expired)",
                    )
                    .into());
                }
            }
        } else {
            None
        };
        if let Some(job) = export_job {
            let before: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM disclosures WHERE export_job_id = $1 AND client_id = $2",
            )
            .bind(job)
            .bind(client.0)
            .fetch_optional(&mut *tx)
            .await?;
            if before.is_some() {
                tx.commit().await?;
                return Ok(None);
            }
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO disclosures (client_id, consent_id, disclosed_at, disclosed_by, export_job_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $3, $3) RETURNING id",
        )
        .bind(client.0)
        .bind(consent_id)
        .bind(ts(at))
        .bind(ctx.actor_user_id().map(|u| u.0))
        .bind(export_job)
        .fetch_one(&mut *tx)
        .await?;
        let details = DisclosureDetails {
            recipient: new.recipient.clone(),
            information: new.information.clone(),
            purpose: new.purpose.clone(),
        };
        let sealed = self.seal_json(&details, "disclosures.details", id)?;
        sqlx::query("UPDATE disclosures SET details = $1 WHERE id = $2")
            .bind(sealed)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::DisclosureCreate, &[client]).object(id),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(Disclosure {
            id,
            client_id: client,
            recipient: details.recipient,
            information: details.information,
            purpose: details.purpose,
            disclosed_at: whole_second(at),
            disclosed_by: ctx.actor_user_id(),
            consent_id,
            notice: circle_domain::intake::disclosure_notice(consent_id),
        }))
    }

    /// The accounting of a client's disclosures, oldest first.
    pub async fn disclosures(
        &self,
        a: &ClientAccess<purpose::DisclosureRead>,
        at: Timestamp,
    ) -> Result<Vec<Disclosure>, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_write().await?;
        client_in(&mut tx, client).await?;
        let rows = sqlx::query_as::<_, DisclosureRow>(
            "SELECT id, client_id, consent_id, details, disclosed_at, disclosed_by FROM disclosures \
             WHERE client_id = $1 ORDER BY id",
        )
        .bind(client.0)
        .fetch_all(&mut *tx)
        .await?;
        let list = rows
            .into_iter()
            .map(|r| {
                let id = r.id;
                let d: DisclosureDetails =
                    self.open_json(&r.details, "disclosures.details", id, "disclosures.details")?;
                Ok(Disclosure {
                    id,
                    client_id: ClientId(r.client_id),
                    recipient: d.recipient,
                    information: d.information,
                    purpose: d.purpose,
                    disclosed_at: read::ts(&r.disclosed_at, "disclosed_at")?,
                    disclosed_by: r.disclosed_by.map(UserId),
                    consent_id: r.consent_id,
                    notice: circle_domain::intake::disclosure_notice(r.consent_id),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::DisclosureRead, &[client]),
        )
        .await?;
        tx.commit().await?;
        Ok(list)
    }
}

#[derive(Serialize, Deserialize)]
struct DisclosureDetails {
    recipient: Label,
    information: ShortText,
    purpose: ShortText,
}

/// Locks a referral row; returns its state and linked client.
async fn lock_referral(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: i64,
) -> Result<(ReferralState, Option<ClientId>), StoreError> {
    let done = sqlx::query("UPDATE referrals SET version = version WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(DomainError::not_found("referral").into());
    }
    let row = sqlx::query_as::<_, ReferralStateRow>(
        "SELECT state, client_id FROM referrals WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    Ok((
        read::vocab(&row.state, "state", ReferralState::parse)?,
        row.client_id.map(ClientId),
    ))
}

async fn move_to(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: i64,
    from: ReferralState,
    to: ReferralState,
    client: Option<ClientId>,
    at: Timestamp,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE referrals SET state = $1, client_id = $2, version = version + 1, updated_at = $3 \
         WHERE id = $4 AND state = $5",
    )
    .bind(to.as_str())
    .bind(client.map(|c| c.0))
    .bind(ts(at))
    .bind(id)
    .bind(from.as_str())
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(stale());
    }
    Ok(())
}

async fn insert_transition(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    referral: i64,
    from: Option<ReferralState>,
    to: ReferralState,
    by: Option<UserId>,
    reason: Option<String>,
    at: Timestamp,
) -> Result<i64, StoreError> {
    let now = ts(at);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO referral_transitions (referral_id, from_state, to_state, at, by_user_id, \
         reason, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $4, $4) RETURNING id",
    )
    .bind(referral)
    .bind(from.map(|s| s.as_str()))
    .bind(to.as_str())
    .bind(&now)
    .bind(by.map(|u| u.0))
    .bind(reason)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

/// The date of the client's earliest group agreement signature, if any (used inside the
/// attendance transaction: attending needs an agreement signed on or before the session).
pub(crate) async fn check_agreement_signed(
    conn: &mut sqlx::AnyConnection,
    client: ClientId,
    attended: bool,
    session_date: Date,
) -> Result<(), StoreError> {
    if !attended {
        return Ok(());
    }
    let first: Option<String> =
        sqlx::query_scalar("SELECT MIN(signed_on) FROM group_agreements WHERE client_id = $1")
            .bind(client.0)
            .fetch_one(&mut *conn)
            .await?;
    let first = first
        .map(|s| {
            s.parse::<Date>()
                .map_err(|_| StoreError::Corrupt("signed_on"))
        })
        .transpose()?;
    intake::check_agreement_for_attendance(attended, first, session_date)?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct StateCountRow {
    state: String,
    n: i64,
}

/// Whose referrals a listing reaches: `(screener, director)` — a clinician only those
/// they screen, a scoped director those of their programs, a client none.
fn referral_scope(
    listing: &Listing<purpose::ReferralList>,
) -> (Option<ClinicianId>, Option<UserId>) {
    match listing.scope() {
        ListScope::All => (None, None),
        ListScope::Programs { director, .. } => (None, Some(*director)),
        ListScope::Caseload { clinician, .. } => (Some(*clinician), None),
        ListScope::Own(_) => (Some(ClinicianId(-1)), None),
    }
}
