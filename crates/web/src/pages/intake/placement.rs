//! Placement from a referral (into a group, or onto a waitlist) and the waitlists with
//! their offers (`/waitlist`).

use super::*;

/// Placement follows screening: a referral is placed once it is ready or waitlisted.
pub(super) async fn ready_for_placement(
    app: &App,
    signed: &Signed,
    id: i64,
) -> Result<(), AppError> {
    let r = app.referral(&signed.actor, id).await?;
    if PLACEABLE.contains(&r.state) {
        return Ok(());
    }
    Err(AppError::Domain(DomainError::conflict(
        Rule::IllegalTransition,
        format!(
            "a referral is placed once screening finds the person ready (or from the waitlist); this one is {}",
            r.state
        ),
    )))
}

/// Moves the referral to `to` when its state allows it; a referral elsewhere in its way
/// stays where it is (the placement itself stands).
pub(super) async fn follow(
    app: &App,
    signed: &Signed,
    id: i64,
    client: ClientId,
    to: ReferralState,
) {
    let Ok(r) = app.referral(&signed.actor, id).await else {
        return;
    };
    if !r.state.allowed_next().contains(&to) {
        return;
    }
    let t = NewTransition {
        to,
        reason: None,
        client_id: Some(client),
    };
    if let Err(e) = app.transition_referral(&signed.actor, id, &t).await {
        tracing::warn!(referral.id = id, error = %explain(&e), "the referral did not follow its placement");
    }
}

/// A place in a suggested group from a start date.
#[derive(Deserialize)]
pub(super) struct PlaceForm {
    #[serde(deserialize_with = "choice")]
    group_id: GroupId,
    start_date: Day,
}

pub(super) async fn place(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<PlaceForm>,
) -> Result<Response, PageError> {
    let fields = form.fields().to_vec();
    let result = async {
        let client = linked_client(&app, &signed, id, &fields).await?;
        ready_for_placement(&app, &signed, id).await?;
        let f = form.into_parsed()?;
        let new = NewMembership {
            client_id: client,
            start_date: f.start_date.0,
        };
        app.enroll(&signed.actor, f.group_id, &new).await?;
        Ok(client)
    }
    .await;
    match result {
        Ok(client) => {
            follow(&app, &signed, id, client, ReferralState::Placed).await;
            Ok(done_with(id, "placed", &fields))
        }
        Err(e) => refused(&app, &signed, id, &fields, "The client was not placed", e).await,
    }
}

/// A waitlist priority: 1 (most urgent) to 5, as the waitlist orders people.
#[derive(Deserialize)]
#[serde(try_from = "String")]
pub(super) struct Priority(u8);

impl TryFrom<String> for Priority {
    type Error = &'static str;

    fn try_from(v: String) -> Result<Self, Self::Error> {
        // The range is the service's rule (it names the field too); here only a number.
        v.trim()
            .parse()
            .map(Priority)
            .map_err(|_| "must be 1 (most urgent) to 5")
    }
}

/// A place on a suggested group's waitlist, with its priority.
#[derive(Deserialize)]
pub(super) struct WaitlistForm {
    #[serde(deserialize_with = "choice")]
    group_id: GroupId,
    priority: Priority,
}

pub(super) async fn waitlist_add(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<WaitlistForm>,
) -> Result<Response, PageError> {
    let fields = form.fields().to_vec();
    let result = async {
        let client = linked_client(&app, &signed, id, &fields).await?;
        ready_for_placement(&app, &signed, id).await?;
        let f = form.into_parsed()?;
        let new = NewWaitlistEntry {
            client_id: client,
            priority: f.priority.0,
            note: None,
        };
        app.add_to_waitlist(&signed.actor, f.group_id, &new).await?;
        Ok(client)
    }
    .await;
    match result {
        Ok(client) => {
            follow(&app, &signed, id, client, ReferralState::Waitlisted).await;
            Ok(done_with(id, "waitlisted", &fields))
        }
        Err(e) => {
            refused(
                &app,
                &signed,
                id,
                &fields,
                "The client was not added to the waitlist",
                e,
            )
            .await
        }
    }
}

pub(super) struct WaitRow {
    id: i64,
    /// Still in line (not yet offered a seat): may be taken off the list.
    waiting: bool,
    position: usize,
    client: String,
    priority: u8,
    status: &'static str,
    added: String,
}

pub(super) struct WaitGroup {
    id: i64,
    name: String,
    rows: Vec<WaitRow>,
}

pub(super) struct OfferRow {
    id: i64,
    client: String,
    group: String,
    start: String,
    offered: String,
    expires: String,
    answered: Option<String>,
}

pub(super) struct OfferList {
    key: &'static str,
    label: &'static str,
    open: bool,
    rows: Vec<OfferRow>,
}

#[derive(Template)]
#[template(path = "intake_waitlist.html")]
pub(super) struct WaitlistPage {
    nav: Option<Nav>,
    csrf: String,
    groups: Vec<WaitGroup>,
    offers: Vec<OfferList>,
    messages: Vec<String>,
    ok: Option<String>,
}

pub(super) async fn waitlist_page(
    State(app): State<App>,
    signed: Signed,
    Query(q): Query<OkQuery>,
) -> Result<Response, PageError> {
    let ok = ok_message(q.ok.as_deref());
    render_waitlist(&app, &signed, vec![], ok, StatusCode::OK).await
}

pub(super) async fn render_waitlist(
    app: &App,
    signed: &Signed,
    messages: Vec<String>,
    ok: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    require_intake(signed)?;
    let actor = &signed.actor;
    // One listing of the waitlists, one of the offers and one audited read of the names
    // they hold (the page once read each group's list and each name on its own, audited
    // one by one: the slowest page, issue 14).
    let mut group_names: HashMap<GroupId, String> = HashMap::new();
    let mut order = vec![];
    let mut page = PAGE;
    loop {
        let found = app.list_groups(actor, None, page).await?;
        for g in &found.items {
            group_names.insert(g.id, g.name.to_string());
            order.push(g.id);
        }
        match found.next_after {
            Some(after) => page.after = after,
            None => break,
        }
    }
    let entries = app.waitlists(actor).await?;
    let all = app.offers(actor, None).await?;
    let ids: Vec<ClientId> = entries
        .iter()
        .map(|w| w.client_id)
        .chain(all.iter().map(|o| o.client_id))
        .collect();
    let names: HashMap<ClientId, String> = app
        .clients_with_ids(actor, &ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c.roster_name()))
        .collect();
    let name_of = |id: ClientId| {
        names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| "A client".to_owned())
    };
    let mut groups = vec![];
    for g in order {
        let rows: Vec<WaitRow> = entries
            .iter()
            .filter(|w| w.group_id == g)
            .enumerate()
            .map(|(i, w)| WaitRow {
                id: w.id.0,
                waiting: w.status == circle_domain::placement::WaitlistStatus::Waiting,
                position: i + 1,
                client: name_of(w.client_id),
                priority: w.priority,
                status: w.status.label(),
                added: day_of(app, w.added_at),
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        groups.push(WaitGroup {
            id: g.0,
            name: group_names.get(&g).cloned().unwrap_or_default(),
            rows,
        });
    }
    let mut offers = vec![];
    for (state, key, label) in [
        (OfferState::Open, "open", "Waiting for an answer"),
        (OfferState::Accepted, "accepted", "Accepted"),
        (OfferState::Declined, "declined", "Declined"),
        (OfferState::Expired, "expired", "Expired"),
        (OfferState::Withdrawn, "withdrawn", "Withdrawn"),
    ] {
        let rows = all
            .iter()
            .filter(|o| o.state == state)
            .map(|o| OfferRow {
                id: o.id.0,
                client: name_of(o.client_id),
                group: group_names
                    .get(&o.group_id)
                    .cloned()
                    .unwrap_or_else(|| "a group".to_owned()),
                start: o.start_date.to_string(),
                offered: moment(app, o.offered_at),
                expires: moment(app, o.expires_at),
                answered: o.responded_at.map(|t| moment(app, t)),
            })
            .collect();
        offers.push(OfferList {
            key,
            label,
            open: state == OfferState::Open,
            rows,
        });
    }
    Ok(html(
        status,
        WaitlistPage {
            nav: Some(signed.nav()),
            csrf: signed.csrf(),
            groups,
            offers,
            messages,
            ok,
        },
    ))
}

pub(super) async fn accept_offer(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    _: PageForm<Button>,
) -> Result<Response, PageError> {
    let done = app.accept_offer(&signed.actor, OfferId(id)).await;
    waitlist_outcome(
        &app,
        &signed,
        done,
        "accepted",
        "The offer was not accepted",
    )
    .await
}

pub(super) async fn decline_offer(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    _: PageForm<Button>,
) -> Result<Response, PageError> {
    let done = app.decline_offer(&signed.actor, OfferId(id)).await;
    waitlist_outcome(
        &app,
        &signed,
        done,
        "declined",
        "The offer was not declined",
    )
    .await
}

/// Takes someone off a waitlist (they found another group, or no longer want one).
pub(super) async fn remove_from_waitlist(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    _: PageForm<Button>,
) -> Result<Response, PageError> {
    let done = app
        .remove_from_waitlist(&signed.actor, WaitlistEntryId(id))
        .await;
    waitlist_outcome(
        &app,
        &signed,
        done,
        "removed",
        "Nobody was taken off the list",
    )
    .await
}

/// After a change on the waitlist page: back to it with the change's notice, or the page
/// again with the refusal explained and nothing changed.
pub(super) async fn waitlist_outcome<T>(
    app: &App,
    signed: &Signed,
    done: Result<T, AppError>,
    ok: &str,
    refused: &str,
) -> Result<Response, PageError> {
    match done {
        Ok(_) => Ok(Redirect::to(&format!("/waitlist?ok={ok}")).into_response()),
        Err(e) => {
            let why = refusal(e)?;
            render_waitlist(
                app,
                signed,
                vec![format!("{refused}: {why}")],
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}
