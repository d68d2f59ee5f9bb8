//! Program directors and the programs they direct (migration 0015). A director with no
//! linked program is clinic-wide (a medical director); one with links is scoped to those
//! programs. The SQL conditions here are the one definition of "in a scoped director's
//! programs" that every scoped query shares, so the services cannot drift apart.

use crate::access::{RoleAccess, purpose};
use circle_domain::DomainError;
use circle_domain::audit::AuditAction;
use circle_domain::ids::{ClientId, GroupId, ProgramId, UserId};
use circle_domain::user::Role;
use jiff::Timestamp;

use crate::audit::{Record, append};
use crate::codec::ts;
use crate::{Store, StoreError};

/// The condition that program `program` (an SQL expression) is one of the programs linked
/// to the director whose user id is bound at placeholder `user`.
pub(crate) fn director_program(user: &str, program: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM director_programs dp WHERE dp.user_id = {user} \
         AND dp.program_id = {program})"
    )
}

/// The condition that client `c` is reached through one of the programs linked to the
/// director bound at `user`: an episode (any date) in the program, a membership (any date)
/// in one of its groups, a referral aimed at it, or a waitlist entry (a placement request)
/// for one of its groups.
pub(crate) fn director_client(user: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM director_programs dp WHERE dp.user_id = {user} AND (\
         EXISTS (SELECT 1 FROM episodes de WHERE de.client_id = c.id AND de.program_id = dp.program_id) \
         OR EXISTS (SELECT 1 FROM memberships dm JOIN therapy_groups dg ON dg.id = dm.group_id \
                    WHERE dm.client_id = c.id AND dg.program_id = dp.program_id) \
         OR EXISTS (SELECT 1 FROM referrals dr WHERE dr.client_id = c.id AND dr.program_id = dp.program_id) \
         OR EXISTS (SELECT 1 FROM waitlist_entries dw JOIN therapy_groups dwg ON dwg.id = dw.group_id \
                    WHERE dw.client_id = c.id AND dwg.program_id = dp.program_id)))"
    )
}

/// The condition that some program holds client `c`: an episode in a program, a
/// membership, a referral aimed at a program or a waitlist entry.
pub(crate) fn attached_client() -> &'static str {
    "(EXISTS (SELECT 1 FROM episodes ae WHERE ae.client_id = c.id AND ae.program_id IS NOT NULL) \
     OR EXISTS (SELECT 1 FROM memberships am WHERE am.client_id = c.id) \
     OR EXISTS (SELECT 1 FROM referrals ar WHERE ar.client_id = c.id AND ar.program_id IS NOT NULL) \
     OR EXISTS (SELECT 1 FROM waitlist_entries aw WHERE aw.client_id = c.id))"
}

#[derive(sqlx::FromRow)]
struct DirectorLinkRow {
    user_id: i64,
    program_id: i64,
}

impl Store {
    /// The programs linked to a user (empty for a clinic-wide director and for everyone
    /// who is not a director), by id.
    pub async fn director_programs(&self, user: UserId) -> Result<Vec<ProgramId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT program_id FROM director_programs WHERE user_id = $1 ORDER BY program_id",
        )
        .bind(user.0)
        .fetch_all(self.pool())
        .await?;
        Ok(ids.into_iter().map(ProgramId).collect())
    }

    /// Whether a director's account is set clinic-wide (false for every other account).
    pub async fn clinic_wide(&self, user: UserId) -> Result<bool, StoreError> {
        let v: Option<i64> = sqlx::query_scalar("SELECT clinic_wide FROM users WHERE id = $1")
            .bind(user.0)
            .fetch_optional(self.pool())
            .await?;
        Ok(v.unwrap_or(0) != 0)
    }

    /// Every link, by user then program (the administrators' user page).
    pub async fn director_links(&self) -> Result<Vec<(UserId, ProgramId)>, StoreError> {
        let rows = sqlx::query_as::<_, DirectorLinkRow>(
            "SELECT user_id, program_id FROM director_programs ORDER BY user_id, program_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| Ok((UserId(r.user_id), ProgramId(r.program_id))))
            .collect()
    }

    /// Replaces the programs linked to a director's account (an empty list makes them
    /// clinic-wide again); audited as `user.programs_change` in the same transaction. Only
    /// a director's account is linked, and every program must exist.
    pub async fn set_director_programs(
        &self,
        who: &RoleAccess<purpose::UserProgramsChange>,
        user: UserId,
        programs: &[ProgramId],
        clinic_wide: bool,
        at: Timestamp,
    ) -> Result<Vec<ProgramId>, StoreError> {
        let ctx = who.audit();
        if clinic_wide && !programs.is_empty() {
            return Err(DomainError::invalid(
                "clinic_wide",
                "a clinic-wide director is linked to no programs; clear the programs or untick clinic-wide",
            )
            .into());
        }
        let now = ts(at);
        let mut tx = self.begin_write().await?;
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
            .bind(user.0)
            .fetch_optional(&mut *tx)
            .await?;
        let role = role.ok_or(DomainError::not_found("user"))?;
        if Role::parse(&role) != Some(Role::Director) {
            return Err(DomainError::invalid(
                "program_ids",
                "only a director's account is linked to programs",
            )
            .into());
        }
        let mut wanted: Vec<i64> = programs.iter().map(|p| p.0).collect();
        wanted.sort_unstable();
        wanted.dedup();
        for p in &wanted {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM programs WHERE id = $1")
                .bind(*p)
                .fetch_one(&mut *tx)
                .await?;
            if n == 0 {
                return Err(DomainError::invalid("program_ids", "names no program").into());
            }
        }
        sqlx::query("UPDATE users SET clinic_wide = $2 WHERE id = $1")
            .bind(user.0)
            .bind(i64::from(clinic_wide))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM director_programs WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        for p in &wanted {
            sqlx::query(
                "INSERT INTO director_programs (user_id, program_id, created_at) VALUES ($1, $2, $3)",
            )
            .bind(user.0)
            .bind(*p)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::UserProgramsChange, &[])
                .object(format!("user:{}", user.0)),
        )
        .await?;
        tx.commit().await?;
        Ok(wanted.into_iter().map(ProgramId).collect())
    }

    /// Whether a client is reached through one of the director's linked programs (see
    /// [`director_client`]). Nothing clinical is read, so nothing is audited.
    pub async fn director_reaches_client(
        &self,
        user: UserId,
        client: ClientId,
    ) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM clients c WHERE c.id = $1 AND {}",
            director_client("$2")
        ))
        .bind(client.0)
        .bind(user.0)
        .fetch_one(self.pool())
        .await?;
        Ok(n > 0)
    }

    /// Whether any program holds the client: an episode in a program, a membership, a
    /// referral aimed at a program or a waitlist entry (nothing clinical is read).
    pub async fn client_attached(&self, client: ClientId) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM clients c WHERE c.id = $1 AND {}",
            attached_client()
        ))
        .bind(client.0)
        .fetch_one(self.pool())
        .await?;
        Ok(n > 0)
    }

    /// The clients a scoped director may place: those reached through their programs and
    /// those no program holds yet (nothing clinical is read).
    pub(crate) async fn placeable_by(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        director: UserId,
    ) -> Result<Vec<ClientId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT c.id FROM clients c WHERE {} OR NOT {} ORDER BY c.id",
            director_client("$1"),
            attached_client()
        ))
        .bind(director.0)
        .fetch_all(&mut **tx)
        .await?;
        Ok(ids.into_iter().map(ClientId).collect())
    }

    /// The program a group belongs to (no clinical content: nothing is audited).
    pub async fn group_program(&self, group: GroupId) -> Result<ProgramId, StoreError> {
        let p: Option<i64> =
            sqlx::query_scalar("SELECT program_id FROM therapy_groups WHERE id = $1")
                .bind(group.0)
                .fetch_optional(self.pool())
                .await?;
        Ok(ProgramId(p.ok_or(DomainError::not_found("group"))?))
    }
}
