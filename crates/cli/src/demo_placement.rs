//! The demo clinic's waitlists, offers and a taper (issue 3, "Placement and waitlist").
//!
//! Played forward through the store, as a coordinator would have done it:
//! - a waitlist on the full IOP evening process group: five days ago a member left and the
//!   first in line was offered the seat; the offer went unanswered and expired, the next
//!   declined, and the one after accepted today, so the group is full again with two people
//!   still waiting;
//! - the evening relapse-prevention group, capped at its census a week ago (a smaller
//!   room), has a waitlist; a member leaves today and the first person on it holds an open
//!   offer;
//! - an IOP evening client stepped down to outpatient a week ago, keeping their IOP group as
//!   a two-week taper.
//!
//! All people are synthetic; the five waitlisted clients are added to `clients`.

use anyhow::{Context, Result, bail};
use circle_domain::care::LevelOfCare;
use circle_domain::ids::{ClientId, GroupId};
use circle_domain::membership::{Membership, MembershipStatus};
use circle_domain::placement::OfferState;
use circle_store::access::purpose;
use circle_store::{PageRequest, Store};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde_json::json;

/// The waitlisted newcomers: (given, family, priority on the full group).
const WAITING: &[(&str, &str, u8)] = &[
    ("Odalys", "Brennan", 1),
    ("Teodor", "Vance", 2),
    ("Marguerite", "Okonjo", 2),
    ("Anselm", "Fairweather", 3),
    ("Priya", "Castellano", 4),
];

const ALL: PageRequest = PageRequest {
    after: 0,
    limit: 200,
};

fn input<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T> {
    serde_json::from_value(v).context("demo input does not match the domain's input schema")
}

/// A current member who joined before `before`, in a stable order.
async fn long_standing_member(store: &Store, group: GroupId, before: Date) -> Result<Membership> {
    store
        .list_memberships(
            &store.op().group::<purpose::GroupMemberships>(group).await?,
            ALL,
            Timestamp::now(),
        )
        .await?
        .items
        .into_iter()
        .find(|m| {
            m.end_date.is_none() && m.status == MembershipStatus::Active && m.start_date < before
        })
        .context("the demo group has no long-standing member")
}

pub(crate) async fn seed_placement(
    store: &Store,
    today: Date,
    now: Timestamp,
    full_group: GroupId,
    relapse_group: GroupId,
    clients: &mut Vec<ClientId>,
) -> Result<()> {
    let five_days_ago = now
        .checked_sub(SignedDuration::from_hours(5 * 24))
        .context("a demo instant")?;
    let a_week_ago = now
        .checked_sub(SignedDuration::from_hours(7 * 24))
        .context("a demo instant")?;

    // Five people waiting for the evening track, all at IOP and free in the evenings.
    let evenings: Vec<_> = ["monday", "tuesday", "thursday"]
        .iter()
        .map(|d| json!({"weekday": d, "start": "17:30", "end": "21:30"}))
        .collect();
    let mut waiting = Vec::new();
    for (i, (given, family, _)) in WAITING.iter().enumerate() {
        let new = input(json!({
            "record_number": format!("DEMO-W{:03}", i + 1), "given_name": given,
            "family_name": family, "date_of_birth": format!("19{}-0{}-1{}", 70 + i * 5, i + 1, i),
            "concerns": ["depression", "substance_use"], "availability": evenings,
            "referral_source": "program_admission",
        }))?;
        let c = store
            .create_client(
                &store.op().role::<purpose::ClientCreate>().await?,
                &new,
                today,
                a_week_ago,
            )
            .await?;
        let episode = input(json!({
            "level_of_care": LevelOfCare::Iop,
            "started_on": today.checked_sub(10.days()).context("a demo date")?,
        }))?;
        store
            .change_level(
                &store.op().client::<purpose::EpisodeCreate>(c.id).await?,
                &episode,
                a_week_ago,
            )
            .await?;
        // Intake has the group agreement signed at admission, before any group.
        store
            .sign_group_agreement(
                &store.op().client::<purpose::AgreementSign>(c.id).await?,
                today.checked_sub(10.days()).context("a demo date")?,
                circle_domain::intake::SignatureMethod::Paper,
                a_week_ago,
            )
            .await
            .context("signing a demo group agreement")?;
        waiting.push(c.id);
        clients.push(c.id);
    }
    for (i, (_, _, priority)) in WAITING.iter().enumerate() {
        let at = a_week_ago
            .checked_add(SignedDuration::from_mins(i64::try_from(i)? * 30))
            .context("a demo instant")?;
        let note = (i == 0).then_some("discharged from PHP; wants the evening track for work");
        let new = input(json!({"client_id": waiting[i], "priority": priority, "note": note}))?;
        store
            .add_to_waitlist(
                &store
                    .op()
                    .group::<purpose::WaitlistWrite>(full_group)
                    .await?,
                &store.op().place::<purpose::Waitlist>(waiting[i]).await?,
                &new,
                at,
            )
            .await?;
    }
    // The relapse-prevention group meets in a smaller room this term: capped at its
    // census, so the next seat goes to its waitlist.
    let census = store
        .list_memberships(
            &store
                .op()
                .group::<purpose::GroupMemberships>(relapse_group)
                .await?,
            ALL,
            a_week_ago,
        )
        .await?
        .items
        .iter()
        .filter(|m| m.end_date.is_none())
        .count();
    let g = store.group(relapse_group).await?;
    let cap = input(json!({"version": g.version, "max_size": census}))?;
    store
        .update_group(
            &store
                .op()
                .group::<purpose::GroupDesign>(relapse_group)
                .await?,
            &cap,
            today,
            a_week_ago,
        )
        .await
        .context("capping the relapse-prevention group")?;
    let relapse_wait = input(json!({"client_id": waiting[3], "priority": 2}))?;
    store
        .add_to_waitlist(
            &store
                .op()
                .group::<purpose::WaitlistWrite>(relapse_group)
                .await?,
            &store.op().place::<purpose::Waitlist>(waiting[3]).await?,
            &relapse_wait,
            a_week_ago,
        )
        .await?;

    // Five days ago a member left the full group: the first in line was offered the seat.
    let leaving = long_standing_member(
        store,
        full_group,
        today.checked_sub(5.days()).context("a demo date")?,
    )
    .await?;
    let change = input(json!({"version": leaving.version, "status": "withdrawn",
        "end_date": today.checked_sub(5.days()).context("a demo date")?}))?;
    store
        .change_membership(
            &store
                .op()
                .group::<purpose::MembershipUpdate>(full_group)
                .await?,
            leaving.id,
            &change,
            five_days_ago,
        )
        .await?;

    // Today: that offer has expired and moved on; the next declines, the one after accepts.
    let every = store.op().listing::<purpose::OfferList>().await?;
    let open = store.offers(&every, Some(OfferState::Open), now).await?;
    let Some(declining) = open.iter().find(|o| o.group_id == full_group) else {
        bail!("the demo's expired offer did not move on");
    };
    store
        .decline_offer(
            &store
                .op()
                .offer::<purpose::OfferWrite>(declining.id)
                .await?,
            now,
        )
        .await?;
    let open = store.offers(&every, Some(OfferState::Open), now).await?;
    let Some(accepting) = open.iter().find(|o| o.group_id == full_group) else {
        bail!("the demo's declined offer did not move on");
    };
    store
        .accept_offer(
            &store
                .op()
                .offer::<purpose::OfferWrite>(accepting.id)
                .await?,
            now,
        )
        .await?;

    // Today a member of the relapse-prevention group leaves: an open offer.
    let leaving = long_standing_member(store, relapse_group, today).await?;
    let change = input(json!({"version": leaving.version, "status": "completed",
        "end_date": today}))?;
    store
        .change_membership(
            &store
                .op()
                .group::<purpose::MembershipUpdate>(relapse_group)
                .await?,
            leaving.id,
            &change,
            now,
        )
        .await?;

    // A week ago an IOP evening client stepped down to outpatient with a two-week taper.
    let stepped_on = today.checked_sub(7.days()).context("a demo date")?;
    let mut tapered = None;
    for &c in clients.iter() {
        let current: Vec<Membership> = store
            .client_memberships(
                &store.op().client::<purpose::ClientMemberships>(c).await?,
                now,
            )
            .await?
            .into_iter()
            .filter(|m| m.end_date.is_none())
            .collect();
        let episodes = store
            .episodes(&store.op().client::<purpose::EpisodeRead>(c).await?, now)
            .await?;
        let open_iop = episodes.iter().any(|e| {
            e.ended_on.is_none() && e.level_of_care == LevelOfCare::Iop && e.started_on < stepped_on
        });
        if open_iop && current.len() == 1 && current[0].start_date < stepped_on {
            tapered = Some(c);
            break;
        }
    }
    let Some(tapered) = tapered else {
        bail!("the demo has no IOP client with one group to taper");
    };
    let step_down = input(json!({"level_of_care": LevelOfCare::Outpatient,
        "started_on": stepped_on, "taper_weeks": 2}))?;
    store
        .change_level(
            &store.op().client::<purpose::EpisodeCreate>(tapered).await?,
            &step_down,
            a_week_ago,
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[tokio::test]
    async fn the_demo_has_a_waitlist_offers_in_every_state_and_a_taper() {
        let db = circle_testkit::TestDb::new().await;
        let today = date(2026, 5, 6);
        let summary = crate::demo::seed(&db.store, today)
            .await
            .expect("the demo seeds");
        let store = &db.store;
        // Read as of the demo's own day, before its open offer would expire.
        let now: Timestamp = "2026-05-06T13:00:00Z".parse().expect("an instant");
        let waitlist = store
            .waitlist(
                &store
                    .op()
                    .group::<purpose::WaitlistRead>(summary.full_group)
                    .await
                    .expect("access"),
                now,
            )
            .await
            .expect("waitlist");
        assert!(waitlist.len() >= 2, "{waitlist:?}");
        assert!(waitlist.windows(2).all(|w| w[0].priority <= w[1].priority));
        let offers = store
            .offers(
                &store
                    .op()
                    .listing::<purpose::OfferList>()
                    .await
                    .expect("access"),
                None,
                now,
            )
            .await
            .expect("offers");
        let count = |s: OfferState| offers.iter().filter(|o| o.state == s).count();
        assert_eq!(count(OfferState::Declined), 1, "{offers:?}");
        assert_eq!(count(OfferState::Expired), 1, "{offers:?}");
        assert_eq!(count(OfferState::Accepted), 1, "{offers:?}");
        let open: Vec<_> = offers
            .iter()
            .filter(|o| o.state == OfferState::Open)
            .collect();
        assert_eq!(open.len(), 1, "{offers:?}");
        assert_ne!(open[0].group_id, summary.full_group);

        // One client is mid-taper: outpatient now, an IOP group ending within two weeks.
        let mut tapering = 0;
        for c in store
            .list_clients(
                &store
                    .op()
                    .listing::<purpose::ClientList>()
                    .await
                    .expect("access"),
                ALL,
                now,
            )
            .await
            .expect("clients")
            .items
        {
            if c.current_level != Some(LevelOfCare::Outpatient) {
                continue;
            }
            for m in store
                .client_memberships(
                    &store
                        .op()
                        .client::<purpose::ClientMemberships>(c.id)
                        .await
                        .expect("access"),
                    now,
                )
                .await
                .expect("memberships")
            {
                let g = store.group(m.group_id).await.expect("group");
                if !g.eligible_levels.contains(&LevelOfCare::Outpatient)
                    && m.end_date.is_some_and(|e| e > today)
                {
                    tapering += 1;
                }
            }
        }
        assert_eq!(tapering, 1);
    }
}
