//! Intake: referrals by state and the form that records one (the three ways in), a
//! referral's page (its moves as buttons, the group-readiness screening, consents, and the
//! ranked placement suggestions with their reasons, from which a coordinator places the
//! client or waitlists them), and the waitlists with their offers.
//!
//! Everything goes through the intake and placement services, which check the role, reach
//! and write the audit trail. Intake never sees screening comments (the service blanks them):
//! intake records a screening's decision, clinicians and directors its comments too.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use circle_app::purpose;
use circle_app::{App, AppError, PageRequest};
use circle_domain::care::{Concern, LevelOfCare};
use circle_domain::client::{Client, ReferralSource};
use circle_domain::ids::{ClientId, ClinicianId, GroupId, OfferId, ProgramId, WaitlistEntryId};
use circle_domain::intake::{
    NewPart2Consent, NewReferral, NewScreening, NewTransition, Referral, ReferralState,
    ReferringProviderDetails, ScreeningDecision, SignAgreement,
};
use circle_domain::membership::NewMembership;
use circle_domain::placement::{NewWaitlistEntry, OfferState};
use circle_domain::text::{Email, Label, PersonName, Phone, RecordNumber, ShortText};
use circle_domain::{DomainError, FieldErrors, Rule};
use serde::Deserialize;

use super::fields::{Day, GridCell, choice};
use super::form::{Button, PageForm, optional_choice};
use super::vocab::Label as _;
use super::{Nav, PageError, Signed, explain, form_value, html, refusal};

mod home;
mod placement;
mod referral;
mod screening;

use home::*;
use placement::*;
use referral::*;
use screening::*;

pub fn routes() -> super::PageRoutes {
    super::PageRoutes::new()
        .route("/intake", get(intake_home))
        .route("/intake/referrals", post(record_referral))
        .route("/referrals/{id}", get(referral_page))
        .route("/referrals/{id}/transition", post(transition))
        .route("/referrals/{id}/screening", post(screening))
        .route("/referrals/{id}/screener", post(assign_screener))
        .route("/referrals/{id}/client", post(create_client))
        .route("/referrals/{id}/episode", post(open_episode))
        .route("/referrals/{id}/agreement", post(agreement))
        .route("/referrals/{id}/part2", post(part2))
        .route("/referrals/{id}/place", post(place))
        .route("/referrals/{id}/waitlist", post(waitlist_add))
        .route("/waitlist", get(waitlist_page))
        .route("/offers/{id}/accept", post(accept_offer))
        .route("/offers/{id}/decline", post(decline_offer))
        .route("/waitlist/{id}/remove", post(remove_from_waitlist))
}

const PAGE: PageRequest = PageRequest {
    after: 0,
    limit: 200,
};

/// The most client records a search on a referral shows.
const FOUND: u32 = 20;

/// Intake and directors work referrals and waitlists.
fn require_intake(signed: &Signed) -> Result<(), PageError> {
    if signed.actor.may::<purpose::ReferralTransition>() {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

fn invalid(errors: FieldErrors) -> AppError {
    AppError::Domain(DomainError::Invalid(errors))
}

/// Each refused field's rule by the field's name on the page, for the template to show
/// next to it (a field with two rules shows both).
fn by_field(errors: &FieldErrors) -> HashMap<String, String> {
    let mut by_field: HashMap<String, String> = HashMap::new();
    for e in &errors.0 {
        // The domain's `provider` is the provider's name on the referral form.
        let field = match e.field.as_str() {
            "provider" => "provider_name".to_owned(),
            f => f.to_owned(),
        };
        by_field
            .entry(field)
            .and_modify(|m| {
                m.push_str("; ");
                m.push_str(&e.message);
            })
            .or_insert_with(|| e.message.clone());
    }
    by_field
}

/// The rules of a refused change's fields (none for any other refusal).
fn field_errors(e: &AppError) -> FieldErrors {
    match e {
        AppError::Domain(DomainError::Invalid(errors)) => errors.clone(),
        _ => FieldErrors::default(),
    }
}

/// The client record chosen on a referral's page before the referral is linked to one:
/// every form of the page carries it, so the work goes on with that record.
#[derive(Deserialize)]
struct Chosen {
    #[serde(default, deserialize_with = "optional_choice")]
    client_id: Option<ClientId>,
}

/// The chosen client record of a posted form (none when blank), or its field's rule.
fn chosen(fields: &[(String, String)]) -> Result<Option<ClientId>, FieldErrors> {
    super::form::parse::<Chosen>(fields).map(|c| c.client_id)
}

fn path_label(p: ReferralSource) -> &'static str {
    p.label()
}

fn state_label(s: ReferralState) -> &'static str {
    s.label()
}

/// "Mon 4 May 2026" in the clinic's time zone.
fn day_of(app: &App, t: jiff::Timestamp) -> String {
    super::vocab::day(t.to_zoned(app.clinic_time_zone().clone()).date())
}

/// "Mon 4 May, 14:05" in the clinic's time zone.
fn moment(app: &App, t: jiff::Timestamp) -> String {
    super::vocab::when(app.clinic_time_zone(), t)
}

/// A client as intake picks them: full name and record number (demographics are intake's).
fn full_name(c: &Client) -> String {
    format!("{} {} ({})", c.given_name, c.family_name, c.record_number)
}
