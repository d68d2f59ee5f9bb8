//! Validated text values. Each constructor names the rule it enforces; error messages never
//! repeat the rejected value, because it may be protected health information.

use serde::{Deserialize, Serialize};

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $check:expr, $rule:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(try_from = "String", into = "String")]
        #[schema(value_type = String)]
        pub struct $name(String);

        impl $name {
            /// The rule a valid value follows, for error messages and documentation.
            pub const RULE: &'static str = $rule;

            pub fn parse(raw: &str) -> Result<Self, String> {
                let value = raw.trim();
                let check: fn(&str) -> bool = $check;
                if check(value) {
                    Ok(Self(value.to_owned()))
                } else {
                    Err(Self::RULE.to_owned())
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(raw: String) -> Result<Self, String> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        // Debug is redacted: these values are often names and contact details.
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "(…)"))
            }
        }
    };
}

fn is_name(v: &str) -> bool {
    let n = v.chars().count();
    (1..=120).contains(&n) && !v.chars().any(char::is_control)
}

fn is_label(v: &str) -> bool {
    let n = v.chars().count();
    (1..=200).contains(&n) && !v.chars().any(char::is_control)
}

fn is_code(v: &str) -> bool {
    (1..=32).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn is_email(v: &str) -> bool {
    let Some((local, domain)) = v.split_once('@') else {
        return false;
    };
    v.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !v.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

fn is_us_state(v: &str) -> bool {
    v.len() == 2 && v.chars().all(|c| c.is_ascii_uppercase())
}

fn is_phone(v: &str) -> bool {
    (7..=20).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
}

fn is_time_zone(v: &str) -> bool {
    v.contains('/') && jiff::tz::TimeZone::get(v).is_ok()
}

fn is_free_text(v: &str) -> bool {
    v.chars().count() <= 2000
}

fn is_note_text(v: &str) -> bool {
    v.chars().count() <= 8000
}

text_type!(
    /// One field of a clinical note (free text): at most 8000 characters.
    NoteText, is_note_text, "must be at most 8000 characters"
);
text_type!(
    /// A person's given, family or preferred name: 1–120 characters.
    PersonName, is_name, "must be 1–120 characters without control characters"
);
text_type!(
    /// A label such as a program, group, site or room name: 1–200 characters.
    Label, is_label, "must be 1–200 characters without control characters"
);
text_type!(
    /// A clinic's medical record number: letters, digits and hyphens.
    RecordNumber, is_code, "must be 1–32 letters, digits or hyphens"
);
text_type!(
    /// A professional license number as issued by a state board.
    LicenseNumber, is_code, "must be 1–32 letters, digits or hyphens"
);
text_type!(
    /// An email address (shape only; delivery is never assumed).
    Email, is_email, "must be an email address such as name@example.org"
);
text_type!(
    /// A two-letter US state or territory code, upper case.
    UsState, is_us_state, "must be a two-letter upper-case state code such as MA"
);
text_type!(
    /// A telephone number: digits, spaces and + - ( ) . only.
    Phone, is_phone, "must be 7–20 characters of digits, spaces and + - ( ) ."
);
text_type!(
    /// An IANA time zone name such as America/New_York.
    TimeZoneName, is_time_zone, "must be an IANA time zone such as America/New_York"
);
text_type!(
    /// Short free text (a reason, a topic): at most 2000 characters.
    ShortText, is_free_text, "must be at most 2000 characters"
);

impl NoteText {
    /// An empty field (a draft may leave any field empty).
    pub fn empty() -> Self {
        Self(String::new())
    }
}

impl Email {
    /// Emails compare case-insensitively; they are stored lower-cased.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

impl TimeZoneName {
    pub fn time_zone(&self) -> jiff::tz::TimeZone {
        // The constructor proved the name resolves, and the bundled database does not change
        // while the process runs.
        jiff::tz::TimeZone::get(&self.0).unwrap_or(jiff::tz::TimeZone::UTC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            PersonName::parse("  Ana ").map(|n| n.0),
            Ok("Ana".to_owned())
        );
        assert!(PersonName::parse("   ").is_err());
        assert!(PersonName::parse(&"x".repeat(121)).is_err());
    }

    #[test]
    fn errors_never_echo_the_value() {
        let err = Email::parse("secret-person-name").unwrap_err();
        assert!(!err.contains("secret"));
    }

    #[test]
    fn emails_need_a_domain_with_a_dot() {
        assert!(Email::parse("a@b.org").is_ok());
        assert!(Email::parse("a@b").is_err());
        assert!(Email::parse("a b@c.org").is_err());
        assert!(Email::parse("@c.org").is_err());
    }

    #[test]
    fn time_zones_must_resolve() {
        assert!(TimeZoneName::parse("America/New_York").is_ok());
        assert!(TimeZoneName::parse("Mars/Olympus").is_err());
        assert!(TimeZoneName::parse("UTC").is_err());
    }

    #[test]
    fn debug_is_redacted() {
        let n = PersonName::parse("Ana").unwrap();
        assert_eq!(format!("{n:?}"), "PersonName(…)");
    }

    #[test]
    fn serde_goes_through_the_constructor() {
        let r: Result<RecordNumber, _> = serde_json::from_str("\"MRN 1\"");
        assert!(r.is_err());
        let r: RecordNumber = serde_json::from_str("\"MRN-1\"").unwrap();
        assert_eq!(r.as_str(), "MRN-1");
    }
}
