//! Ways in and intake: referrals, their states and screenings; the group agreement; 42 CFR
//! Part 2 consents and the accounting of disclosures.
//!
//! Access (DESIGN.md's role table): intake and directors work referrals; a clinician sees
//! and screens the referrals assigned to them; intake sees a screening's decision but never
//! its comments. Consents: the client reads and signs their own, staff record paper
//! signatures, consents and disclosures for clients they may reach. Every refusal is
//! audited.

use circle_domain::DomainError;
use circle_domain::audit::{AuditAction, AuditContext};
use circle_domain::ids::ClientId;
use circle_domain::intake::{
    AgreementSignature, Consents, Disclosure, NewDisclosure, NewPart2Consent, NewReferral,
    NewScreening, NewTransition, Part2Consent, Referral, ReferralState, RevokeConsent, Screening,
    SelfReferralForm, SignAgreement, SignatureMethod,
};
use circle_domain::user::Role;
use circle_store::intake::{RateLimit, SelfReferralOutcome};

use crate::{Actor, App, AppResult, CLINICAL, Page, PageRequest, RequestMeta};

/// Who works referrals.
const INTAKE: &[Role] = &[Role::Director, Role::Intake];
/// Staff who record consents and disclosures (clinicians for their caseload).
const CONSENT_STAFF: &[Role] = &[Role::Director, Role::Intake, Role::Clinician];

/// Public self-referrals allowed per source address per hour.
pub const SELF_REFERRALS_PER_HOUR: i64 = 5;

pub use circle_store::intake::SelfReferralOutcome as SelfReferralAnswer;

impl App {
    /// The public self-referral form: no sign-in; rate-limited per source address.
    pub async fn submit_self_referral(
        &self,
        form: &SelfReferralForm,
        request: &RequestMeta,
    ) -> AppResult<SelfReferralOutcome> {
        let ctx = AuditContext {
            request_id: request.request_id.clone(),
            source: request.source.clone(),
            ..AuditContext::default()
        };
        let limit = RateLimit {
            max: SELF_REFERRALS_PER_HOUR,
            window: jiff::SignedDuration::from_hours(1),
        };
        let source = request.source.as_deref().unwrap_or("unknown");
        Ok(self
            .store
            .submit_self_referral(form, source, limit, &ctx, self.now())
            .await?)
    }

    pub async fn create_referral(&self, actor: &Actor, new: &NewReferral) -> AppResult<Referral> {
        self.require_audited(actor, INTAKE, AuditAction::ReferralCreate, &[])
            .await?;
        // A scoped director refers only to their programs, and only clients they reach
        // (or new ones): a referral to their program would bring a chart into reach.
        if let Some(p) = new.program_id {
            self.check_program_reach(actor, p).await?;
        }
        if let Some(c) = new.client_id {
            self.check_client_placeable(actor, c, AuditAction::ReferralCreate)
                .await?;
        }
        Ok(self
            .store
            .create_referral(new, &actor.audit(), self.now())
            .await?)
    }

    /// Intake and directors list every referral (a scoped director those aimed at their
    /// programs); a clinician lists those they screen.
    pub async fn list_referrals(
        &self,
        actor: &Actor,
        state: Option<ReferralState>,
        page: PageRequest,
    ) -> AppResult<Page<Referral>> {
        let screener = match (actor.role, actor.clinician_id) {
            (Role::Director | Role::Intake, _) => None,
            (Role::Clinician, Some(c)) => Some(c),
            _ => {
                self.deny(actor, AuditAction::ReferralList, &[], None)
                    .await?;
                return Err(DomainError::Forbidden.into());
            }
        };
        let director = self.scoped_director(actor).await?;
        let mut page = self
            .store
            .list_referrals_within(state, screener, director, page, &actor.audit(), self.now())
            .await?;
        for r in &mut page.items {
            self.hide_for(actor, r);
        }
        Ok(page)
    }

    /// Whether the actor may reach this referral: intake and clinic-wide directors always,
    /// a scoped director when it is aimed at one of their programs, a clinician when
    /// assigned to screen it. Refusals are audited and answered 404.
    async fn check_referral_access(
        &self,
        actor: &Actor,
        id: i64,
        action: AuditAction,
    ) -> AppResult<()> {
        let screener = self.store.referral_screener(id).await?;
        let allowed = match actor.role {
            Role::Intake => true,
            // A scoped director: referrals aimed at one of their programs.
            Role::Director => match self.director_scope(actor).await? {
                Some(crate::scope::DirectorScope::Programs(list)) => self
                    .store
                    .referral_program(id)
                    .await?
                    .is_some_and(|p| list.contains(&p)),
                _ => true,
            },
            Role::Clinician => actor.clinician_id.is_some() && actor.clinician_id == screener,
            Role::Admin | Role::Client => false,
        };
        if allowed {
            return Ok(());
        }
        self.deny(actor, action, &[], Some(id.to_string())).await?;
        Err(match actor.role {
            Role::Admin | Role::Client => DomainError::Forbidden,
            _ => DomainError::not_found("referral"),
        }
        .into())
    }

    /// Screening comments are clinical: only directors and clinicians read them.
    fn hide_for(&self, actor: &Actor, r: &mut Referral) {
        if !CLINICAL.contains(&actor.role) {
            for s in &mut r.screenings {
                s.reasons = None;
            }
        }
    }

    pub async fn referral(&self, actor: &Actor, id: i64) -> AppResult<Referral> {
        self.check_referral_access(actor, id, AuditAction::ReferralRead)
            .await?;
        let mut r = self.store.referral(id, &actor.audit(), self.now()).await?;
        self.hide_for(actor, &mut r);
        Ok(r)
    }

    pub async fn transition_referral(
        &self,
        actor: &Actor,
        id: i64,
        t: &NewTransition,
    ) -> AppResult<Referral> {
        self.require_audited(actor, INTAKE, AuditAction::ReferralTransition, &[])
            .await?;
        self.check_referral_access(actor, id, AuditAction::ReferralTransition)
            .await?;
        let mut r = self
            .store
            .transition_referral(id, t, &actor.audit(), self.now())
            .await?;
        self.hide_for(actor, &mut r);
        Ok(r)
    }

    /// A group-readiness screening, by a director or the assigned clinician.
    pub async fn record_screening(
        &self,
        actor: &Actor,
        id: i64,
        s: &NewScreening,
    ) -> AppResult<Screening> {
        self.require_audited(actor, CLINICAL, AuditAction::ScreeningCreate, &[])
            .await?;
        self.check_referral_access(actor, id, AuditAction::ScreeningCreate)
            .await?;
        Ok(self
            .store
            .record_screening(id, s, &actor.audit(), self.now())
            .await?)
    }

    // Consents.

    /// The client signs the group agreement today; staff record a paper signature with its
    /// date.
    pub async fn sign_group_agreement(
        &self,
        actor: &Actor,
        client: ClientId,
        body: &SignAgreement,
    ) -> AppResult<AgreementSignature> {
        let roles = [Role::Director, Role::Intake, Role::Clinician, Role::Client];
        self.require_audited(actor, &roles, AuditAction::ConsentCreate, &[client])
            .await?;
        let ctx = self
            .check_client_access(actor, client, AuditAction::ConsentCreate)
            .await?;
        if let Some(v) = &body.version
            && v != circle_domain::intake::GROUP_AGREEMENT_VERSION
        {
            return Err(DomainError::invalid(
                "version",
                "must be the current version of the group agreement",
            )
            .into());
        }
        let today = self.today();
        let (signed_on, method) = if actor.role == Role::Client {
            if body.signed_on.is_some_and(|d| d != today) {
                return Err(DomainError::invalid(
                    "signed_on",
                    "a client signs today; leave it out",
                )
                .into());
            }
            (today, SignatureMethod::Electronic)
        } else {
            let Some(on) = body.signed_on else {
                return Err(DomainError::invalid(
                    "signed_on",
                    "is required: the date on the paper signature",
                )
                .into());
            };
            if on > today {
                return Err(DomainError::invalid("signed_on", "must not be in the future").into());
            }
            if on.year() < 1900 {
                return Err(DomainError::invalid("signed_on", "must be in 1900 or later").into());
            }
            (on, SignatureMethod::Paper)
        };
        Ok(self
            .store
            .sign_group_agreement(client, signed_on, method, &ctx, self.now())
            .await?)
    }

    pub async fn consents(&self, actor: &Actor, client: ClientId) -> AppResult<Consents> {
        let roles = [Role::Director, Role::Intake, Role::Clinician, Role::Client];
        self.require_audited(actor, &roles, AuditAction::ConsentRead, &[client])
            .await?;
        let ctx = self
            .check_client_access(actor, client, AuditAction::ConsentRead)
            .await?;
        Ok(self
            .store
            .consents(client, &ctx, self.now(), self.today())
            .await?)
    }

    pub async fn record_part2_consent(
        &self,
        actor: &Actor,
        client: ClientId,
        new: &NewPart2Consent,
    ) -> AppResult<Part2Consent> {
        self.require_audited(actor, CONSENT_STAFF, AuditAction::ConsentCreate, &[client])
            .await?;
        let ctx = self
            .check_client_access(actor, client, AuditAction::ConsentCreate)
            .await?;
        let terms = new.validate(self.today())?;
        Ok(self
            .store
            .record_part2_consent(
                client,
                &terms,
                new.expires_on,
                &ctx,
                self.now(),
                self.today(),
            )
            .await?)
    }

    /// Revokes a consent: staff, or the patient themself (§2.31(a)(6)).
    pub async fn revoke_part2_consent(
        &self,
        actor: &Actor,
        client: ClientId,
        consent: i64,
        body: &RevokeConsent,
    ) -> AppResult<Part2Consent> {
        let roles = [Role::Director, Role::Intake, Role::Clinician, Role::Client];
        self.require_audited(actor, &roles, AuditAction::ConsentRevoke, &[client])
            .await?;
        let ctx = self
            .check_client_access(actor, client, AuditAction::ConsentRevoke)
            .await?;
        Ok(self
            .store
            .revoke_part2_consent(client, consent, body.reason, &ctx, self.now(), self.today())
            .await?)
    }

    pub async fn record_disclosure(
        &self,
        actor: &Actor,
        client: ClientId,
        new: &NewDisclosure,
    ) -> AppResult<Disclosure> {
        self.require_audited(
            actor,
            CONSENT_STAFF,
            AuditAction::DisclosureCreate,
            &[client],
        )
        .await?;
        let ctx = self
            .check_client_access(actor, client, AuditAction::DisclosureCreate)
            .await?;
        Ok(self
            .store
            .record_disclosure(client, new, &ctx, self.now(), self.today())
            .await?)
    }

    /// The accounting of disclosures: staff who may reach the client, and the client
    /// themself (the right to an accounting, 45 CFR 164.528; 42 CFR 2.24).
    pub async fn disclosures(&self, actor: &Actor, client: ClientId) -> AppResult<Vec<Disclosure>> {
        let roles = [Role::Director, Role::Intake, Role::Clinician, Role::Client];
        self.require_audited(actor, &roles, AuditAction::DisclosureRead, &[client])
            .await?;
        let ctx = self
            .check_client_access(actor, client, AuditAction::DisclosureRead)
            .await?;
        Ok(self.store.disclosures(client, &ctx, self.now()).await?)
    }
}
