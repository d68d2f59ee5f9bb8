//! `/intake`: the referrals by state and the form that records one (the three ways in).

use super::*;

pub(super) struct ReferralRow {
    id: i64,
    name: String,
    path: &'static str,
    received: String,
}

pub(super) struct StateList {
    key: &'static str,
    label: &'static str,
    rows: Vec<ReferralRow>,
    more: bool,
}

#[derive(Template)]
#[template(path = "intake_home.html")]
pub(super) struct IntakePage {
    nav: Option<Nav>,
    csrf: String,
    counts: Vec<(&'static str, &'static str, String, bool)>,
    lists: Vec<StateList>,
    messages: Vec<String>,
    /// The form's values after a refusal.
    v: HashMap<String, String>,
    paths: Vec<(&'static str, &'static str)>,
    programs: Vec<(i64, String)>,
    levels: Vec<(&'static str, &'static str)>,
    clients: Vec<(i64, String)>,
    clinicians: Vec<(i64, String)>,
}

impl IntakePage {
    fn val(&self, k: &str) -> &str {
        self.v.get(k).map_or("", String::as_str)
    }
    fn is(&self, k: &str, want: &str) -> bool {
        self.val(k) == want
    }
}

/// The states whose referrals are listed: those someone still has to act on.
pub(super) const WORKING: [ReferralState; 5] = [
    ReferralState::Referred,
    ReferralState::Screening,
    ReferralState::Ready,
    ReferralState::Waitlisted,
    ReferralState::Placed,
];

pub(super) async fn intake_home(
    State(app): State<App>,
    signed: Signed,
) -> Result<Response, PageError> {
    render_home(&app, &signed, &[], vec![], StatusCode::OK).await
}

pub(super) async fn render_home(
    app: &App,
    signed: &Signed,
    fields: &[(String, String)],
    messages: Vec<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    require_intake(signed)?;
    let actor = &signed.actor;
    let mut counts = vec![];
    let mut lists = vec![];
    for state in ReferralState::ALL {
        let found = app.list_referrals(actor, Some(*state), PAGE).await?;
        let more = found.next_after.is_some();
        let count = if more {
            "more than 200".to_owned()
        } else {
            found.items.len().to_string()
        };
        counts.push((
            state.as_str(),
            state_label(*state),
            count,
            WORKING.contains(state),
        ));
        if WORKING.contains(state) {
            lists.push(StateList {
                key: state.as_str(),
                label: state_label(*state),
                rows: found
                    .items
                    .iter()
                    .map(|r| ReferralRow {
                        id: r.id,
                        name: r.details.name.to_string(),
                        path: path_label(r.path),
                        received: day_of(app, r.received_at),
                    })
                    .collect(),
                more,
            });
        }
    }
    let programs = app
        .list_programs(actor, PAGE)
        .await?
        .items
        .iter()
        .map(|p| {
            (
                p.id.0,
                format!("{} ({}, {})", p.name, p.site, p.level_of_care.label()),
            )
        })
        .collect();
    let clients = app
        .list_clients(actor, PAGE)
        .await?
        .items
        .iter()
        .map(|c| (c.id.0, full_name(c)))
        .collect();
    let clinicians = app
        .list_clinicians(actor, PAGE)
        .await?
        .items
        .iter()
        .map(|c| (c.id.0, format!("{} {}", c.given_name, c.family_name)))
        .collect();
    Ok(html(
        status,
        IntakePage {
            nav: Some(signed.nav()),
            csrf: signed.csrf(),
            counts,
            lists,
            messages,
            v: fields.iter().cloned().collect(),
            paths: ReferralSource::ALL
                .iter()
                .map(|p| (p.as_str(), path_label(*p)))
                .collect(),
            programs,
            levels: [LevelOfCare::Residential, LevelOfCare::Php, LevelOfCare::Iop]
                .iter()
                .map(|l| (l.as_str(), l.label()))
                .collect(),
            clients,
            clinicians,
        },
    ))
}

/// Reads the record-a-referral form; each field that breaks its rule is named.
pub(super) fn new_referral(fields: &[(String, String)]) -> Result<NewReferral, AppError> {
    let mut e = FieldErrors::default();
    let path = match ReferralSource::parse(form_value(fields, "path")) {
        Some(p) => Some(p),
        None => {
            e.push("path", "choose how the person was referred");
            None
        }
    };
    let name = required(fields, "name", PersonName::parse, &mut e);
    let email = optional(fields, "email", Email::parse, &mut e);
    let phone = optional(fields, "phone", Phone::parse, &mut e);
    let reason = optional(fields, "reason", ShortText::parse, &mut e);
    let admission = path == Some(ReferralSource::ProgramAdmission);
    let therapist = path == Some(ReferralSource::TherapistReferral);
    // Only the path's own fields count: the others may hold what was typed before the
    // path was changed.
    let program_id = if admission {
        optional(fields, "program_id", parse_id, &mut e).map(ProgramId)
    } else {
        None
    };
    let level_of_care = if admission {
        optional(
            fields,
            "level_of_care",
            |v| LevelOfCare::parse(v).ok_or_else(|| "must be one of the listed levels".to_owned()),
            &mut e,
        )
    } else {
        None
    };
    let provider = if therapist {
        let pname = optional(fields, "provider_name", PersonName::parse, &mut e);
        let practice = optional(fields, "provider_practice", Label::parse, &mut e);
        let contact = optional(fields, "provider_contact", Label::parse, &mut e);
        pname.map(|name| ReferringProviderDetails {
            name,
            practice,
            contact,
        })
    } else {
        None
    };
    let client_id = optional(fields, "client_id", parse_id, &mut e).map(ClientId);
    let screener_id = optional(fields, "screener_id", parse_id, &mut e).map(ClinicianId);
    e.into_result().map_err(AppError::Domain)?;
    let Some(path) = path else {
        return Err(AppError::Domain(DomainError::invalid(
            "path",
            "is required",
        )));
    };
    let Some(name) = name else {
        return Err(AppError::Domain(DomainError::invalid(
            "name",
            "is required",
        )));
    };
    let new = NewReferral {
        path,
        name,
        email,
        phone,
        reason,
        preferred_times: vec![],
        program_id,
        level_of_care,
        provider,
        client_id,
        screener_id,
    };
    new.validate().map_err(AppError::Domain)?;
    Ok(new)
}

pub(super) async fn record_referral(
    State(app): State<App>,
    signed: Signed,
    form: PageForm<Untyped>,
) -> Result<Response, PageError> {
    let fields = form.into_fields();
    require_intake(&signed)?;
    // The page again shows what was typed, not the id it was resolved to.
    let typed = fields.clone();
    let mut fields = fields;
    crate::pages::picker::resolve_clients(&app, &signed.actor, &mut fields, &["client_id"]).await;
    crate::pages::picker::resolve_clinicians(&app, &signed.actor, &mut fields, &["screener_id"])
        .await;
    let fields_resolved = fields;
    let fields = typed;
    let result = match new_referral(&fields_resolved) {
        Ok(new) => app.create_referral(&signed.actor, &new).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => Ok(Redirect::to(&format!("/referrals/{}?ok=recorded", r.id)).into_response()),
        Err(e) => {
            let why = refusal(e)?;
            render_home(
                &app,
                &signed,
                &fields,
                vec![format!("The referral was not recorded: {why}")],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}
