//! Ways in and intake: referrals, their states and screenings; the group agreement; 42 CFR
//! Part 2 consents and the accounting of disclosures.
//!
//! Access (DESIGN.md's role table): intake and directors work referrals, assign screeners
//! and screen; a clinician sees and screens the referrals assigned to them; intake records
//! and sees a screening's decision but never its comments. Consents: the client reads and signs their own, staff record paper
//! signatures, consents and disclosures for clients they may reach. Every refusal is
//! audited.

use circle_domain::DomainError;
use circle_domain::ids::{ClientId, ClinicianId, GroupId};
use circle_domain::intake::{
    AgreementSignature, Consents, Disclosure, NewDisclosure, NewPart2Consent, NewReferral,
    NewScreening, NewTransition, Part2Consent, Referral, ReferralState, RevokeConsent, Screening,
    SelfReferralForm, SignAgreement, SignatureMethod,
};
use circle_domain::user::Role;
use circle_store::access::{AuditContext, purpose};
use circle_store::intake::{PublicSource, RateLimit, SelfReferralOutcome};

use crate::{Actor, App, AppResult, Page, PageRequest, RequestMeta};

/// Public self-referrals allowed per source address per hour.
pub const SELF_REFERRALS_PER_HOUR: i64 = 5;

/// Public referrals (self and therapists' together) allowed per hour from everyone: far
/// above what a clinic receives, low enough that a flood cannot bury intake's queue.
pub const PUBLIC_REFERRALS_PER_HOUR: i64 = 60;

/// Public referrals naming one group allowed per hour.
pub const PUBLIC_REFERRALS_PER_GROUP_PER_HOUR: i64 = 15;

/// Where a public referral came from, for its limits.
pub(crate) fn public_source(request: &RequestMeta, group: Option<GroupId>) -> PublicSource<'_> {
    PublicSource {
        address: request.source.as_deref().unwrap_or("unknown"),
        group,
    }
}

/// The limit both public referral forms share.
pub(crate) fn public_limit() -> RateLimit {
    RateLimit {
        max: SELF_REFERRALS_PER_HOUR,
        overall: PUBLIC_REFERRALS_PER_HOUR,
        per_group: PUBLIC_REFERRALS_PER_GROUP_PER_HOUR,
        window: jiff::SignedDuration::from_hours(1),
    }
}

pub use circle_store::intake::SelfReferralOutcome as SelfReferralAnswer;

impl App {
    /// The public self-referral form: no sign-in; rate-limited per source address.
    /// `group` is the group the page it came from named, if any.
    pub async fn submit_self_referral(
        &self,
        form: &SelfReferralForm,
        group: Option<GroupId>,
        request: &RequestMeta,
    ) -> AppResult<SelfReferralOutcome> {
        let ctx = AuditContext::public(request);
        let source = public_source(request, group);
        Ok(self
            .store
            .submit_self_referral(form, source, public_limit(), &ctx, self.now())
            .await?)
    }

    /// A referral entered by staff. The program it is aimed at must be one the caller
    /// reaches, and a client it names one the caller may place.
    pub async fn create_referral(&self, actor: &Actor, new: &NewReferral) -> AppResult<Referral> {
        let who = self.access_role::<purpose::Refer>(actor).await?;
        let program = self
            .access_program_opt::<purpose::Refer>(actor, new.program_id)
            .await?;
        let client = match new.client_id {
            Some(c) => Some(self.access_place::<purpose::Refer>(actor, c).await?),
            None => None,
        };
        Ok(self
            .store
            .create_referral(&who, program.as_ref(), client.as_ref(), new, self.now())
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
        let listing = self.listing::<purpose::ReferralList>(actor).await?;
        let mut page = self
            .store
            .list_referrals(&listing, state, page, self.now())
            .await?;
        for r in &mut page.items {
            Self::hide_for(actor, r);
        }
        Ok(page)
    }

    /// How many referrals in the caller's reach are in each state (as `list_referrals`
    /// would list them); states with none are left out.
    pub async fn referral_counts(&self, actor: &Actor) -> AppResult<Vec<(ReferralState, i64)>> {
        let listing = self.listing::<purpose::ReferralList>(actor).await?;
        Ok(self.store.referral_counts(&listing).await?)
    }

    /// Screening comments are clinical: only directors and clinicians read them.
    fn hide_for(actor: &Actor, r: &mut Referral) {
        if !actor.may::<purpose::ScreeningComments>() {
            for s in &mut r.screenings {
                s.reasons = None;
            }
        }
    }

    pub async fn referral(&self, actor: &Actor, id: i64) -> AppResult<Referral> {
        let a = self
            .access_referral::<purpose::ReferralRead>(actor, id)
            .await?;
        let mut r = self.store.referral(&a, self.now()).await?;
        Self::hide_for(actor, &mut r);
        Ok(r)
    }

    /// Moves a referral on. Linking a client (`client_id`) needs that client to be one the
    /// caller may place: a referral aimed at a scoped director's program cannot pull
    /// another program's client into their reach.
    pub async fn transition_referral(
        &self,
        actor: &Actor,
        id: i64,
        t: &NewTransition,
    ) -> AppResult<Referral> {
        let a = self
            .access_referral::<purpose::ReferralTransition>(actor, id)
            .await?;
        let link = match t.client_id {
            Some(c) => Some(self.access_place::<purpose::LinkReferral>(actor, c).await?),
            None => None,
        };
        let mut r = self
            .store
            .transition_referral(&a, link.as_ref(), t, self.now())
            .await?;
        Self::hide_for(actor, &mut r);
        Ok(r)
    }

    /// Assigns the clinician who screens the referral (or clears it with `None`).
    pub async fn assign_screener(
        &self,
        actor: &Actor,
        id: i64,
        screener: Option<ClinicianId>,
    ) -> AppResult<Referral> {
        let a = self
            .access_referral::<purpose::ReferralTransition>(actor, id)
            .await?;
        let mut r = self.store.assign_screener(&a, screener, self.now()).await?;
        Self::hide_for(actor, &mut r);
        Ok(r)
    }

    /// A group-readiness screening, by a director, the assigned clinician or intake (the
    /// role table gives intake screening). Comments are clinical: intake records the
    /// decision only, since it could never read its comments back.
    pub async fn record_screening(
        &self,
        actor: &Actor,
        id: i64,
        s: &NewScreening,
    ) -> AppResult<Screening> {
        let a = self
            .access_referral::<purpose::ScreeningCreate>(actor, id)
            .await?;
        if s.reasons.is_some() && !actor.may::<purpose::ScreeningComments>() {
            return Err(DomainError::invalid(
                "reasons",
                "screening comments are clinical: the screening clinician or a director writes them; record the decision only",
            )
            .into());
        }
        Ok(self.store.record_screening(&a, s, self.now()).await?)
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
        let a = self
            .access_client::<purpose::AgreementSign>(actor, client)
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
        let (signed_on, method) = if actor.role() == Role::Client {
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
            .sign_group_agreement(&a, signed_on, method, self.now())
            .await?)
    }

    pub async fn consents(&self, actor: &Actor, client: ClientId) -> AppResult<Consents> {
        let a = self
            .access_client::<purpose::ConsentRead>(actor, client)
            .await?;
        Ok(self.store.consents(&a, self.now(), self.today()).await?)
    }

    pub async fn record_part2_consent(
        &self,
        actor: &Actor,
        client: ClientId,
        new: &NewPart2Consent,
    ) -> AppResult<Part2Consent> {
        let a = self
            .access_client::<purpose::Part2ConsentCreate>(actor, client)
            .await?;
        let terms = new.validate(self.today())?;
        Ok(self
            .store
            .record_part2_consent(&a, &terms, new.expires_on, self.now(), self.today())
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
        let a = self
            .access_client::<purpose::ConsentRevoke>(actor, client)
            .await?;
        Ok(self
            .store
            .revoke_part2_consent(&a, consent, body.reason, self.now(), self.today())
            .await?)
    }

    pub async fn record_disclosure(
        &self,
        actor: &Actor,
        client: ClientId,
        new: &NewDisclosure,
    ) -> AppResult<Disclosure> {
        let a = self
            .access_client::<purpose::DisclosureCreate>(actor, client)
            .await?;
        Ok(self
            .store
            .record_disclosure(&a, new, self.now(), self.today())
            .await?)
    }

    /// A Bulk Data export's disclosure of one client, recorded once per job (a job re-run
    /// after a restart records none again): `true` when recorded now.
    pub async fn record_export_disclosure(
        &self,
        actor: &Actor,
        client: ClientId,
        job: i64,
        new: &NewDisclosure,
    ) -> AppResult<bool> {
        let a = self
            .access_client::<purpose::DisclosureCreate>(actor, client)
            .await?;
        Ok(self
            .store
            .record_export_disclosure(&a, job, new, self.now(), self.today())
            .await?)
    }

    /// The accounting of disclosures: staff who may reach the client, and the client
    /// themself (the right to an accounting, 45 CFR 164.528; 42 CFR 2.24).
    pub async fn disclosures(&self, actor: &Actor, client: ClientId) -> AppResult<Vec<Disclosure>> {
        let a = self
            .access_client::<purpose::DisclosureRead>(actor, client)
            .await?;
        Ok(self.store.disclosures(&a, self.now()).await?)
    }
}
