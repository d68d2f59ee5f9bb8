//! The group-readiness screening and the consents recorded from a referral's page (the
//! group agreement and 42 CFR Part 2).

use super::*;

/// A screening's outcome and, from a clinician, its comments (the service refuses
/// comments from intake, naming the field).
#[derive(Deserialize)]
pub(super) struct ScreeningForm {
    decision: ScreeningDecision,
    reasons: Option<ShortText>,
}

pub(super) async fn screening(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<ScreeningForm>,
) -> Result<Response, PageError> {
    let fields = form.fields().to_vec();
    let result = match form.into_parsed() {
        Ok(f) => {
            let s = NewScreening {
                decision: f.decision,
                reasons: f.reasons,
                measure_response_id: None,
            };
            app.record_screening(&signed.actor, id, &s)
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    };
    match result {
        // The chosen (not yet linked) record stays chosen across the screening.
        Ok(()) => Ok(done_with(id, "screened", &fields)),
        Err(e) => {
            refused(
                &app,
                &signed,
                id,
                &fields,
                "The screening was not recorded",
                e,
            )
            .await
        }
    }
}

/// The referral's linked client, else the client record chosen on the page, else the rule
/// that one is needed.
pub(super) async fn linked_client(
    app: &App,
    signed: &Signed,
    id: i64,
    fields: &[(String, String)],
) -> Result<ClientId, AppError> {
    let r = app.referral(&signed.actor, id).await?;
    if let Some(c) = r.client_id {
        return Ok(c);
    }
    match chosen(fields).map_err(invalid)? {
        Some(c) => Ok(c),
        None => Err(AppError::Domain(DomainError::conflict(
            Rule::ReferralNeedsClient,
            "link the referral to a client record first: choose the client's record on this page",
        ))),
    }
}

/// A paper group agreement's signature date, recorded by staff.
#[derive(Deserialize)]
pub(super) struct AgreementForm {
    signed_on: Day,
}

pub(super) async fn agreement(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<AgreementForm>,
) -> Result<Response, PageError> {
    let fields = form.fields().to_vec();
    let result = async {
        // Which client comes first: a form for nobody is not worth correcting.
        let client = linked_client(&app, &signed, id, &fields).await?;
        let f = form.into_parsed()?;
        let body = SignAgreement {
            signed_on: Some(f.signed_on.0),
            version: None,
        };
        app.sign_group_agreement(&signed.actor, client, &body)
            .await
            .map(|_| ())
    }
    .await;
    match result {
        Ok(()) => Ok(done_with(id, "agreement", &fields)),
        Err(e) => {
            refused(
                &app,
                &signed,
                id,
                &fields,
                "The group agreement was not recorded",
                e,
            )
            .await
        }
    }
}

/// A 42 CFR 2.31 consent as typed from the paper form. Every element is optional here:
/// the domain's check names each missing one (not only the first), as the API does.
#[derive(Deserialize)]
pub(super) struct Part2Form {
    patient_name: Option<PersonName>,
    discloser: Option<Label>,
    recipient: Option<Label>,
    information: Option<ShortText>,
    purpose: Option<ShortText>,
    expires_on: Option<Day>,
    expiry_event: Option<ShortText>,
    right_to_revoke_acknowledged: bool,
    signature: Option<PersonName>,
    signed_on: Option<Day>,
}

pub(super) async fn part2(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<Part2Form>,
) -> Result<Response, PageError> {
    let fields = form.fields().to_vec();
    let result = async {
        let client = linked_client(&app, &signed, id, &fields).await?;
        let f = form.into_parsed()?;
        let new = NewPart2Consent {
            patient_name: f.patient_name,
            discloser: f.discloser,
            recipient: f.recipient,
            information: f.information,
            purpose: f.purpose,
            expires_on: f.expires_on.map(|d| d.0),
            expiry_event: f.expiry_event,
            right_to_revoke_acknowledged: Some(f.right_to_revoke_acknowledged),
            signature: f.signature,
            signed_on: f.signed_on.map(|d| d.0),
        };
        app.record_part2_consent(&signed.actor, client, &new)
            .await
            .map(|_| ())
    }
    .await;
    match result {
        Ok(()) => Ok(done_with(id, "part2", &fields)),
        Err(e) => {
            refused(
                &app,
                &signed,
                id,
                &fields,
                "The Part 2 consent was not recorded",
                e,
            )
            .await
        }
    }
}

/// The states from which a referral is placed or waitlisted.
pub(super) const PLACEABLE: [ReferralState; 2] = [ReferralState::Ready, ReferralState::Waitlisted];
