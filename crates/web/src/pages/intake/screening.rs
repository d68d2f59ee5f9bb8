//! The group-readiness screening and the consents recorded from a referral's page (the
//! group agreement and 42 CFR Part 2).

use super::*;

pub(super) async fn screening(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<Untyped>,
) -> Result<Response, PageError> {
    let fields = form.into_fields();
    let mut e = FieldErrors::default();
    let decision = ScreeningDecision::parse(form_value(&fields, "decision"));
    if decision.is_none() {
        e.push("decision", "choose the outcome of the screening");
    }
    let reasons = optional(&fields, "reasons", ShortText::parse, &mut e);
    let result = match (e.into_result(), decision) {
        (Ok(()), Some(decision)) => {
            let s = NewScreening {
                decision,
                reasons,
                measure_response_id: None,
            };
            app.record_screening(&signed.actor, id, &s)
                .await
                .map(|_| ())
        }
        (Err(errors), _) => Err(AppError::Domain(errors)),
        (Ok(()), None) => Err(invalid(FieldErrors::default())),
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
    match form_value(fields, "client_id") {
        "" => Err(AppError::Domain(DomainError::conflict(
            Rule::ReferralNeedsClient,
            "link the referral to a client record first: choose the client's record on this page",
        ))),
        v => v.parse::<i64>().map(ClientId).map_err(|_| {
            AppError::Domain(DomainError::invalid(
                "client_id",
                "must be one of the listed clients",
            ))
        }),
    }
}

pub(super) async fn agreement(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<Untyped>,
) -> Result<Response, PageError> {
    let fields = form.into_fields();
    let result = async {
        let client = linked_client(&app, &signed, id, &fields).await?;
        let mut e = FieldErrors::default();
        let signed_on = required(&fields, "signed_on", parse_date, &mut e);
        e.into_result().map_err(AppError::Domain)?;
        let body = SignAgreement {
            signed_on,
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

pub(super) async fn part2(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<Untyped>,
) -> Result<Response, PageError> {
    let fields = form.into_fields();
    let result = async {
        let client = linked_client(&app, &signed, id, &fields).await?;
        let mut e = FieldErrors::default();
        let new = NewPart2Consent {
            patient_name: optional(&fields, "patient_name", PersonName::parse, &mut e),
            discloser: optional(&fields, "discloser", Label::parse, &mut e),
            recipient: optional(&fields, "recipient", Label::parse, &mut e),
            information: optional(&fields, "information", ShortText::parse, &mut e),
            purpose: optional(&fields, "purpose", ShortText::parse, &mut e),
            expires_on: optional(&fields, "expires_on", parse_date, &mut e),
            expiry_event: optional(&fields, "expiry_event", ShortText::parse, &mut e),
            right_to_revoke_acknowledged: Some(
                form_value(&fields, "right_to_revoke_acknowledged") == "yes",
            ),
            signature: optional(&fields, "signature", PersonName::parse, &mut e),
            signed_on: optional(&fields, "signed_on", parse_date, &mut e),
        };
        e.into_result().map_err(AppError::Domain)?;
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
