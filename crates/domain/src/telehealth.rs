//! Telehealth and calendar words (issue 15): a group's join URL and the clinic's setting
//! for staff calendar titles.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::DomainError;

/// The longest join URL kept (video services' links are well under this).
pub const MAX_JOIN_URL: usize = 2000;

/// A telehealth session's join URL: an absolute `https` URL with a host, no spaces or
/// control characters, at most [`MAX_JOIN_URL`] bytes. Plain `http` is refused: the link
/// opens a clinical conversation and must not travel in clear text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "https://video.example.org/room/abc")]
pub struct JoinUrl(String);

impl JoinUrl {
    /// Parses `raw` for the field named `field` (the error names the field and the rule,
    /// never the value).
    pub fn parse_field(field: &str, raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim();
        let rule = "must be an https:// address with a host, no spaces, at most 2000 characters";
        if s.len() > MAX_JOIN_URL || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(DomainError::invalid(field, rule));
        }
        let Some(rest) = s
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case("https://"))
            .and_then(|_| s.get(8..))
        else {
            return Err(DomainError::invalid(field, rule));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        // A user name or password in the link would be copied into every calendar.
        let host_port = authority;
        if host_port.contains('@') {
            return Err(DomainError::invalid(field, rule));
        }
        let host = match host_port.rsplit_once(':') {
            Some((h, port)) if !h.starts_with('[') || h.ends_with(']') => {
                if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(DomainError::invalid(field, rule));
                }
                h
            }
            _ => host_port,
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b))
            && !host.starts_with('.')
            && !host.starts_with('-');
        if !host_ok {
            return Err(DomainError::invalid(field, rule));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for JoinUrl {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse_field("join_url", &s)
    }
}

impl From<JoinUrl> for String {
    fn from(u: JoinUrl) -> Self {
        u.0
    }
}

impl std::fmt::Display for JoinUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A change to a group's or a session's join URL: `null` removes it (a session then
/// falls back to its group's).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinUrlInput {
    pub join_url: Option<JoinUrl>,
}

/// The clinic's calendar settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarSettings {
    /// Whether staff calendar feeds title sessions with the group's name. Off by default:
    /// titles read "Group session — Room 2", because a phone's lock screen or a calendar
    /// shared with family shows titles to whoever is near it.
    pub staff_feed_group_names: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_links_with_a_host_and_no_credentials_are_join_urls() {
        for ok in [
            "https://video.example.org/j/123?pwd=abc",
            "HTTPS://meet.example.com",
            "https://meet.example.com:8443/x",
        ] {
            assert!(JoinUrl::parse_field("join_url", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://video.example.org/j/1",
            "https://",
            "https:///path",
            "javascript:alert(1)",
            "https://user:pw@example.org/x",
            "https://exa mple.org",
            "ftp://example.org",
            "https://example.org:/x",
            "https://.example.org",
        ] {
            let e = JoinUrl::parse_field("join_url", bad).expect_err(bad);
            assert!(format!("{e:?}").contains("join_url"), "{bad}");
        }
        assert!(
            JoinUrl::parse_field("join_url", &format!("https://e.org/{}", "a".repeat(2000)))
                .is_err()
        );
    }

    #[test]
    fn serde_goes_through_the_same_check() {
        assert!(serde_json::from_str::<JoinUrlInput>(r#"{"join_url":"http://x.org"}"#).is_err());
        let ok: JoinUrlInput = serde_json::from_str(r#"{"join_url":"https://x.org/a"}"#).unwrap();
        assert_eq!(ok.join_url.unwrap().as_str(), "https://x.org/a");
        let none: JoinUrlInput = serde_json::from_str(r#"{"join_url":null}"#).unwrap();
        assert!(none.join_url.is_none());
    }
}
