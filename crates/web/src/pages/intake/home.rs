//! `/intake`: the referrals by state and the form that records one (the three ways in).

use super::*;

pub(super) struct ReferralRow {
    id: i64,
    name: String,
    path: &'static str,
    /// The level of care of the admission a referral asks for, if it asks for one.
    admission: Option<&'static str>,
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
    /// Each refused field's rule, shown by the field (the summary at the top names them all).
    errors: HashMap<String, String>,
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
    fn err(&self, k: &str) -> Option<&str> {
        self.errors.get(k).map(String::as_str)
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
    render_home(
        &app,
        &signed,
        &[],
        &FieldErrors::default(),
        vec![],
        StatusCode::OK,
    )
    .await
}

pub(super) async fn render_home(
    app: &App,
    signed: &Signed,
    fields: &[(String, String)],
    errors: &FieldErrors,
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
                        admission: r.level_of_care.map(|l| l.label()),
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
            errors: by_field(errors),
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

/// The record-a-referral form: who, how to reach them, and the chosen client record and
/// screener (picked by name, resolved to ids before parsing). The way in ([`WayIn`]) is
/// read on its own, so its rule is named whatever else is wrong; the fields of one way in
/// are read only for that way ([`AdmissionFields`], [`TherapistFields`]): the others may
/// hold what was typed before the way was changed.
#[derive(Deserialize)]
pub(super) struct ReferralForm {
    name: PersonName,
    email: Option<Email>,
    phone: Option<Phone>,
    reason: Option<ShortText>,
    #[serde(default, deserialize_with = "optional_choice")]
    client_id: Option<ClientId>,
    #[serde(default, deserialize_with = "optional_choice")]
    screener_id: Option<ClinicianId>,
}

/// How the person came to us; `None` when no way was chosen (its own sentence).
#[derive(Deserialize)]
struct WayIn {
    path: Option<ReferralSource>,
}

/// A program admission's own fields.
#[derive(Deserialize)]
struct AdmissionFields {
    #[serde(default, deserialize_with = "optional_choice")]
    program_id: Option<ProgramId>,
    level_of_care: Option<LevelOfCare>,
}

/// A referral from an individual therapist: the referring provider.
#[derive(Deserialize)]
struct TherapistFields {
    provider_name: Option<PersonName>,
    provider_practice: Option<Label>,
    provider_contact: Option<Label>,
}

/// The referral the form describes (`fields`: as posted, with the pickers' words resolved
/// to ids); each field that breaks its rule is named, the way-in's fields with the others.
pub(super) fn new_referral(
    form: Result<ReferralForm, FieldErrors>,
    fields: &[(String, String)],
) -> Result<NewReferral, AppError> {
    use super::super::form::parse;
    fn keep<T>(r: Result<T, FieldErrors>, e: &mut FieldErrors) -> Option<T> {
        r.map_err(|errors| e.0.extend(errors.0)).ok()
    }
    let mut e = FieldErrors::default();
    let way: Option<WayIn> = keep(parse(fields), &mut e);
    if way.as_ref().is_some_and(|w| w.path.is_none()) {
        e.push("path", "choose how the person was referred");
    }
    let form = keep(form, &mut e);
    let path = way.as_ref().and_then(|w| w.path);
    let admission: Option<AdmissionFields> = match path {
        Some(ReferralSource::ProgramAdmission) => keep(parse(fields), &mut e),
        _ => None,
    };
    let therapist: Option<TherapistFields> = match path {
        Some(ReferralSource::TherapistReferral) => keep(parse(fields), &mut e),
        _ => None,
    };
    e.into_result().map_err(AppError::Domain)?;
    let (Some(f), Some(path)) = (form, path) else {
        return Err(invalid(FieldErrors::default()));
    };
    let new = NewReferral {
        path,
        name: f.name,
        email: f.email,
        phone: f.phone,
        reason: f.reason,
        preferred_times: vec![],
        program_id: admission.as_ref().and_then(|a| a.program_id),
        level_of_care: admission.and_then(|a| a.level_of_care),
        provider: therapist.and_then(|t| {
            t.provider_name.map(|name| ReferringProviderDetails {
                name,
                practice: t.provider_practice,
                contact: t.provider_contact,
            })
        }),
        client_id: f.client_id,
        screener_id: f.screener_id,
    };
    new.validate().map_err(AppError::Domain)?;
    Ok(new)
}

pub(super) async fn record_referral(
    State(app): State<App>,
    signed: Signed,
    form: PageForm<ReferralForm>,
) -> Result<Response, PageError> {
    require_intake(&signed)?;
    // The page again shows what was typed, not the id it was resolved to.
    let fields = form.fields().to_vec();
    let mut resolved = fields.clone();
    crate::pages::picker::resolve_clients(&app, &signed.actor, &mut resolved, &["client_id"]).await;
    crate::pages::picker::resolve_clinicians(&app, &signed.actor, &mut resolved, &["screener_id"])
        .await;
    let (parsed, _) = form.reparse(resolved.clone()).into_parts();
    let result = match new_referral(parsed, &resolved) {
        Ok(new) => app.create_referral(&signed.actor, &new).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => Ok(Redirect::to(&format!("/referrals/{}?ok=recorded", r.id)).into_response()),
        Err(e) => {
            let errors = field_errors(&e);
            let why = refusal(e)?;
            render_home(
                &app,
                &signed,
                &fields,
                &errors,
                vec![format!("The referral was not recorded: {why}")],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}
