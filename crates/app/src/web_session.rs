//! What the web pages need beyond bearer tokens: the session cookie carries a sign-in
//! token (same lifetimes and revocation as API tokens), and every state-changing form
//! carries a CSRF token derived from it, so a form from another site cannot act for the
//! signed-in user even where `SameSite=Strict` is not honoured.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The CSRF token for forms of the session holding `session_token`: a digest, so the page
/// never shows the session token itself.
pub fn csrf_token(session_token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"circle csrf v1\0");
    h.update(session_token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize())
}

/// Whether a form's CSRF token belongs to the session, compared in constant time.
pub fn csrf_matches(session_token: &str, presented: &str) -> bool {
    secrets_match(&csrf_token(session_token), presented)
}

/// Constant-time equality of two secrets (lengths are not secret).
pub fn secrets_match(expected: &str, presented: &str) -> bool {
    expected.len() == presented.len() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// A fresh random value (256 bits) for a pre-sign-in form's double-submit cookie.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csrf_token_belongs_to_one_session() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        assert!(csrf_matches(&a, &csrf_token(&a)));
        assert!(!csrf_matches(&b, &csrf_token(&a)));
        assert!(!csrf_matches(&a, ""));
        assert_ne!(csrf_token(&a), a, "the page never shows the session token");
    }
}
