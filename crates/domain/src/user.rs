//! User accounts and roles (DESIGN.md "Who uses it").

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::care::vocab;
use crate::ids::{ClientId, ClinicianId, UserId};
use crate::text::Email;

vocab!(
    /// What a user may do; the authorizer in `app` turns a role into capabilities.
    Role {
        Admin = "admin",
        Director = "director",
        Clinician = "clinician",
        Intake = "intake",
        Client = "client",
    }
);

/// A user account as shown to administrators (never with its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub role: Role,
    pub clinician_id: Option<ClinicianId>,
    pub client_id: Option<ClientId>,
    pub disabled: bool,
}

/// A user account as the administrators' user list shows it: who it is linked to and
/// the state of its sign-in, never a secret (no password hash, TOTP secret or codes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserAccount {
    pub id: UserId,
    pub email: Email,
    pub role: Role,
    pub clinician_id: Option<ClinicianId>,
    pub client_id: Option<ClientId>,
    /// A TOTP second factor is enrolled.
    pub mfa_enrolled: bool,
    pub disabled: bool,
    /// A director who reaches every program (an explicit setting; a director with no
    /// programs and without it reaches nothing).
    pub clinic_wide: bool,
}

/// Minimum and maximum password lengths (NIST SP 800-63B: at least 8, allow at least 64;
/// Circle asks 12 for accounts that open clinical records).
pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 128;

/// The password rule, without ever returning the password itself.
pub fn check_password(password: &str) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < PASSWORD_MIN {
        Err("must be at least 12 characters")
    } else if n > PASSWORD_MAX {
        Err("must be at most 128 characters")
    } else {
        Ok(())
    }
}
