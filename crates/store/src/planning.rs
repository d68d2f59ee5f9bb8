//! The facts a placement plan is built from, read in one audited transaction: clients with
//! their open episode, availability and concerns; groups with their schedule and rules;
//! open memberships; separations. The app turns them into a `circle-placement/1` instance.

use crate::access::{ListScope, Listing, ProgramAccess, purpose};
use circle_domain::audit::AuditAction;
use circle_domain::care::{Concern, LevelOfCare};
use circle_domain::group::Group;
use circle_domain::ids::{ClientId, GroupId, ProgramId, UserId};
use circle_domain::schedule::AvailabilityWindow;
use jiff::Timestamp;

use crate::audit::Record;
use crate::codec::read;
use crate::groups::GROUP_COLUMNS;
use crate::groups::GroupRow;
use crate::{Store, StoreError};

/// One client as the planner sees them.
#[derive(Debug, Clone)]
pub struct PlanningClient {
    pub id: ClientId,
    /// The level of the open episode; none when no episode is open.
    pub level: Option<LevelOfCare>,
    /// The open episode's program, when it names one.
    pub episode_program: Option<ProgramId>,
    /// That program's weekly required minutes, when the episode names a program.
    pub program_required_minutes: Option<u32>,
    pub availability: Vec<AvailabilityWindow>,
    pub concerns: Vec<Concern>,
}

/// Everything a plan needs, for one program or the whole clinic.
#[derive(Debug, Clone, Default)]
pub struct PlanningFacts {
    /// Groups in scope.
    pub groups: Vec<Group>,
    /// Clients in scope: every client with an open episode (of the program, or at a level
    /// one of its groups accepts, when one program is planned) and every current member of
    /// a group in scope.
    pub clients: Vec<PlanningClient>,
    /// Open memberships (no end date) of the clients in scope, in any group: those in
    /// groups out of scope still take the client's time.
    pub memberships: Vec<(ClientId, GroupId)>,
    /// Open memberships' groups outside the scope (for their meeting minutes).
    pub outside_groups: Vec<Group>,
    /// Separation pairs among the clients in scope.
    pub separations: Vec<(ClientId, ClientId)>,
}

#[derive(sqlx::FromRow)]
struct OpenMembershipRow {
    client_id: i64,
    group_id: i64,
}

#[derive(sqlx::FromRow)]
struct PlanningClientRow {
    id: i64,
    level_of_care: Option<String>,
    program_id: Option<i64>,
    weekly_required_minutes: Option<i64>,
    availability: String,
    concerns: String,
}

#[derive(sqlx::FromRow)]
struct SeparationPairRow {
    client_low: i64,
    client_high: i64,
}

impl Store {
    /// Reads the facts of a placement plan in one transaction and audits the read of every
    /// client involved as one `client.list` entry (a failed audit write fails the read).
    /// For a scoped director, only the clients they may place: those they reach and those
    /// no program holds yet (a plan must not bring another program's client into reach).
    pub async fn planning_facts(
        &self,
        listing: &Listing<purpose::PlanRun>,
        program: Option<&ProgramAccess<purpose::PlanRun>>,
        at: Timestamp,
    ) -> Result<PlanningFacts, StoreError> {
        let ctx = listing.audit();
        let program: Option<ProgramId> = program.map(|p| p.program());
        let director: Option<UserId> = match listing.scope() {
            ListScope::Programs { director, .. } => Some(*director),
            _ => None,
        };
        let mut tx = self.begin_read().await?;
        let placeable = match director {
            Some(d) => Some(Store::placeable_by(&mut tx, d).await?),
            None => None,
        };
        let scope = program.map_or(-1, |p| p.0);
        let groups = sqlx::query_as::<_, GroupRow>(&format!(
            "SELECT {GROUP_COLUMNS} FROM therapy_groups WHERE ($1 = -1 OR program_id = $1) ORDER BY id"
        ))
        .bind(scope)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(Group::try_from)
        .collect::<Result<Vec<_>, _>>()?;
        let rows = sqlx::query_as::<_, PlanningClientRow>(
            "SELECT c.id, c.concerns, c.availability, e.level_of_care, e.program_id, \
             p.weekly_required_minutes \
             FROM clients c \
             LEFT JOIN episodes e ON e.client_id = c.id AND e.ended_on IS NULL \
             LEFT JOIN programs p ON p.id = e.program_id \
             WHERE e.id IS NOT NULL OR EXISTS (SELECT 1 FROM memberships m \
               WHERE m.client_id = c.id AND m.end_date IS NULL) \
             ORDER BY c.id",
        )
        .fetch_all(&mut *tx)
        .await?;
        let all_memberships: Vec<(ClientId, GroupId)> = sqlx::query_as::<_, OpenMembershipRow>(
            "SELECT client_id, group_id FROM memberships WHERE end_date IS NULL ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (ClientId(r.client_id), GroupId(r.group_id)))
        .collect();
        let in_scope = |g: GroupId| groups.iter().any(|x| x.id == g);
        let mut clients = Vec::new();
        for r in rows {
            let id = ClientId(r.id);
            let level = r
                .level_of_care
                .map(|l| LevelOfCare::parse(&l).ok_or(StoreError::Corrupt("level_of_care")))
                .transpose()?;
            let episode_program = r.program_id.map(ProgramId);
            let member_here = all_memberships
                .iter()
                .any(|(c, g)| *c == id && in_scope(*g));
            let wanted = match program {
                None => true,
                Some(p) => {
                    member_here
                        || episode_program == Some(p)
                        || (episode_program.is_none()
                            && level.is_some_and(|l| {
                                groups.iter().any(|g| g.eligible_levels.contains(&l))
                            }))
                }
            };
            if !wanted || placeable.as_ref().is_some_and(|p| !p.contains(&id)) {
                continue;
            }
            clients.push(PlanningClient {
                id,
                level,
                episode_program,
                program_required_minutes: r
                    .weekly_required_minutes
                    .map(|m| {
                        u32::try_from(m).map_err(|_| StoreError::Corrupt("weekly_required_minutes"))
                    })
                    .transpose()?,
                availability: read::json(&r.availability, "availability")?,
                concerns: read::json(&r.concerns, "concerns")?,
            });
        }
        let ids: Vec<ClientId> = clients.iter().map(|c| c.id).collect();
        let memberships: Vec<(ClientId, GroupId)> = all_memberships
            .into_iter()
            .filter(|(c, _)| ids.contains(c))
            .collect();
        let mut outside_ids: Vec<i64> = memberships
            .iter()
            .filter(|(_, g)| !in_scope(*g))
            .map(|(_, g)| g.0)
            .collect();
        outside_ids.sort_unstable();
        outside_ids.dedup();
        let mut outside_groups = Vec::new();
        for g in outside_ids {
            outside_groups.push(crate::groups::group_in(&mut tx, GroupId(g)).await?);
        }
        let separations = sqlx::query_as::<_, SeparationPairRow>(
            "SELECT client_low, client_high FROM separations ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| Ok((ClientId(r.client_low), ClientId(r.client_high))))
        .collect::<Result<Vec<_>, StoreError>>()?
        .into_iter()
        .filter(|(a, b)| ids.contains(a) && ids.contains(b))
        .collect();
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::ClientList, &ids).object("placement-plan"),
        )
        .await?;
        Ok(PlanningFacts {
            groups,
            clients,
            memberships,
            outside_groups,
            separations,
        })
    }
}
