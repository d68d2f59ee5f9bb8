//! Typed ids: a `GroupId` cannot be passed where a `ClientId` is meant.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = i64)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type!(
    /// A program (service line at a site).
    ProgramId,
    /// A clinician.
    ClinicianId,
    /// A client.
    ClientId,
    /// A level-of-care episode.
    EpisodeId,
    /// A standing therapy group.
    GroupId,
    /// A client's membership in a group.
    MembershipId,
    /// One meeting of a group.
    SessionId,
    /// A room at a site.
    RoomId,
    /// A user account.
    UserId,
    /// A separation between two clients.
    SeparationId,
    /// A client waiting for a seat in a group.
    WaitlistEntryId,
    /// A time-limited offer of a seat to a waitlisted client.
    OfferId,
    /// A clinical note (a group note or an individual progress note).
    NoteId,
    /// An addendum to a signed note.
    AddendumId,
);
