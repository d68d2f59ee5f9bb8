//! Clinical notes: one group note per session and one individual progress note per
//! attending member per session (PHP/IOP members attend several groups a day, so a
//! note per day would not do).
//!
//! A note is a `draft` until its author signs it; a signed note is locked (its content
//! hash is kept) and changes only by addenda, each its own signed text. A note whose
//! author holds no license active on the session's date (a supervised trainee) waits in
//! `awaiting_cosign` until a licensed clinician co-signs it. A member's progress note must
//! not name other members — their chart may be released to them or to an insurer — so
//! signing checks the text for the names of the others on the session's roster.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::care::vocab;
use crate::ids::{AddendumId, ClientId, ClinicianId, GroupId, NoteId, SessionId};
use crate::text::{NoteText, ShortText};
use crate::{DomainError, FieldErrors, Rule};

vocab!(
    /// Where a note stands. A note counts as signed exactly when its state is `signed`.
    NoteState {
        Draft = "draft",
        /// Signed by a trainee; waits for a licensed clinician's co-signature.
        AwaitingCosign = "awaiting_cosign",
        Signed = "signed",
    }
);

vocab!(
    /// Which kind of note.
    NoteKind {
        Group = "group",
        Progress = "progress",
    }
);

/// The clinical content of a group note (sealed at rest). Unknown fields are refused by
/// the inputs that flatten it (not here: a response flattens it too, and a closed schema
/// would refuse the note's other fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupNoteBody {
    /// The topic covered (defaults to the session's topic).
    #[serde(default)]
    pub topic: Option<ShortText>,
    #[serde(default = "empty")]
    pub themes: NoteText,
    #[serde(default = "empty")]
    pub interventions: NoteText,
    /// The facilitators who ran the session.
    #[serde(default)]
    pub facilitators: Vec<ClinicianId>,
}

/// The clinical content of an individual progress note (sealed at rest); see
/// `GroupNoteBody` on unknown fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProgressNoteBody {
    #[serde(default = "empty")]
    pub presentation: NoteText,
    #[serde(default = "empty")]
    pub participation: NoteText,
    /// Progress toward the member's goals.
    #[serde(default = "empty")]
    pub progress: NoteText,
    #[serde(default = "empty")]
    pub plan: NoteText,
}

fn empty() -> NoteText {
    NoteText::empty()
}

impl GroupNoteBody {
    /// The free-text fields by name.
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("topic", self.topic.as_ref().map_or("", ShortText::as_str)),
            ("themes", self.themes.as_str()),
            ("interventions", self.interventions.as_str()),
        ]
    }

    pub fn validate(&self) -> Result<(), DomainError> {
        let mut errors = FieldErrors::default();
        if self.facilitators.len() > 4 {
            errors.push("facilitators", "must list at most 4 clinicians");
        }
        for (i, c) in self.facilitators.iter().enumerate() {
            if self.facilitators[..i].contains(c) {
                errors.push(format!("facilitators/{i}"), "is listed twice");
            }
        }
        errors.into_result()
    }
}

impl ProgressNoteBody {
    /// The free-text fields by name.
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("presentation", self.presentation.as_str()),
            ("participation", self.participation.as_str()),
            ("progress", self.progress.as_str()),
            ("plan", self.plan.as_str()),
        ]
    }
}

/// Create or update (autosave) a draft group note. `version` is required to update an
/// existing draft and absent to create one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupNoteInput {
    pub version: Option<i64>,
    #[serde(flatten)]
    pub body: GroupNoteBody,
}

/// Create or update (autosave) a draft progress note.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressNoteInput {
    pub version: Option<i64>,
    #[serde(flatten)]
    pub body: ProgressNoteBody,
}

/// Sign a note. `confirm_names_checked` signs a progress note even though names of other
/// members were found in it (the author checked: for instance a common word); it is
/// recorded on the note.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignNote {
    pub version: i64,
    #[serde(default)]
    pub confirm_names_checked: bool,
}

/// Co-sign a trainee's note.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CosignNote {
    pub version: i64,
}

/// Amend a signed note.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAddendum {
    pub text: NoteText,
}

impl NewAddendum {
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.text.as_str().is_empty() {
            return Err(DomainError::invalid("text", "must not be empty"));
        }
        Ok(())
    }
}

/// An addendum: its own signed text, with author and time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Addendum {
    pub id: AddendumId,
    pub author_clinician_id: ClinicianId,
    pub text: NoteText,
    /// SHA-256 of the addendum's content, hex.
    pub content_hash: String,
    /// UTC, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub signed_at: Timestamp,
}

/// What every note carries besides its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NoteMeta {
    pub id: NoteId,
    pub kind: NoteKind,
    pub session_id: SessionId,
    pub author_clinician_id: ClinicianId,
    pub state: NoteState,
    /// SHA-256 of the signed content, hex; set when the author signs.
    pub content_hash: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub signed_at: Option<Timestamp>,
    pub cosigned_by: Option<ClinicianId>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cosigned_at: Option<Timestamp>,
    /// The author signed although other members' names were found in the text.
    pub names_check_confirmed: bool,
    pub addenda: Vec<Addendum>,
    pub version: i64,
}

/// A group note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupNote {
    #[serde(flatten)]
    pub meta: NoteMeta,
    #[serde(flatten)]
    pub body: GroupNoteBody,
}

/// An individual progress note about one member at one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProgressNote {
    #[serde(flatten)]
    pub meta: NoteMeta,
    pub client_id: ClientId,
    #[serde(flatten)]
    pub body: ProgressNoteBody,
}

/// A note not signed within the program's window after the session ended (a missing
/// note has no id and no state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OverdueNote {
    pub kind: NoteKind,
    pub session_id: SessionId,
    pub group_id: GroupId,
    pub client_id: Option<ClientId>,
    pub note_id: Option<NoteId>,
    /// None when the note has not been started.
    pub state: Option<NoteState>,
    /// When it was due (UTC, RFC 3339).
    #[schema(value_type = String, format = DateTime)]
    pub due_at: Timestamp,
}

/// One clinician's overdue notes: the author's, or the session lead's for a missing note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OverdueForClinician {
    pub clinician_id: ClinicianId,
    pub notes: Vec<OverdueNote>,
}

/// A draft may be changed; a note awaiting co-signature or signed may not.
pub fn check_editable(state: NoteState) -> Result<(), DomainError> {
    match state {
        NoteState::Draft => Ok(()),
        NoteState::AwaitingCosign => Err(DomainError::conflict(
            Rule::NoteAwaitingCosign,
            "the note is awaiting a co-signature and cannot be edited",
        )),
        NoteState::Signed => Err(DomainError::conflict(
            Rule::NoteSigned,
            "a signed note is locked; amend it with an addendum",
        )),
    }
}

/// The state a draft moves to when its author signs: `signed` when the author holds a
/// license active on the session's date, else `awaiting_cosign`.
pub fn sign(
    state: NoteState,
    author: ClinicianId,
    signer: ClinicianId,
    author_licensed: bool,
) -> Result<NoteState, DomainError> {
    check_editable(state)?;
    if author != signer {
        return Err(DomainError::conflict(
            Rule::NoteAuthor,
            "only the note's author may sign it",
        ));
    }
    Ok(if author_licensed {
        NoteState::Signed
    } else {
        NoteState::AwaitingCosign
    })
}

/// A co-signature: a note awaiting one, by a licensed clinician other than the author.
pub fn cosign(
    state: NoteState,
    author: ClinicianId,
    cosigner: ClinicianId,
    cosigner_licensed: bool,
) -> Result<(), DomainError> {
    if state != NoteState::AwaitingCosign {
        return Err(DomainError::conflict(
            Rule::NoteState,
            "only a note awaiting co-signature can be co-signed",
        ));
    }
    if author == cosigner {
        return Err(DomainError::conflict(
            Rule::NoteAuthor,
            "a note's author cannot co-sign it",
        ));
    }
    if !cosigner_licensed {
        return Err(DomainError::conflict(
            Rule::LicenseNotActive,
            "a co-signature needs a license active on the session's date",
        ));
    }
    Ok(())
}

/// Addenda amend signed notes only (a draft is simply edited).
pub fn check_addendum(state: NoteState) -> Result<(), DomainError> {
    if state == NoteState::Signed {
        Ok(())
    } else {
        Err(DomainError::conflict(
            Rule::NoteState,
            "only a signed note takes addenda; edit the draft instead",
        ))
    }
}

/// Names of other members found in a note: how many distinct names, and in which fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameHits {
    pub names: usize,
    pub fields: Vec<&'static str>,
}

impl NameHits {
    pub fn is_empty(&self) -> bool {
        self.names == 0
    }

    /// The refusal: says how many names and where, never which.
    pub fn refusal(&self) -> DomainError {
        DomainError::conflict(
            Rule::OtherMembersNamed,
            format!(
                "{} name{} of other members of this session {} found in: {}. Remove them, or \
                 sign with confirm_names_checked: true if they are not about those members",
                self.names,
                if self.names == 1 { "" } else { "s" },
                if self.names == 1 { "was" } else { "were" },
                self.fields.join(", ")
            ),
        )
    }
}

/// Looks for `names` (first, last and preferred names of the other members) in the
/// note's fields, as whole words and case-insensitively. Names of one letter are skipped,
/// and so are names the member the note is about also bears (`own`), which would make
/// every mention of the member a false alarm.
pub fn find_names(fields: &[(&'static str, &str)], names: &[String], own: &[String]) -> NameHits {
    let own: Vec<String> = own.iter().map(|n| n.trim().to_lowercase()).collect();
    let mut wanted: Vec<String> = names
        .iter()
        .map(|n| n.trim().to_lowercase())
        .filter(|n| n.chars().count() > 1 && !own.contains(n))
        .collect();
    wanted.sort();
    wanted.dedup();
    let lowered: Vec<(&'static str, String)> = fields
        .iter()
        .map(|(f, text)| (*f, text.to_lowercase()))
        .collect();
    let mut hits = NameHits::default();
    for name in &wanted {
        let mut found = false;
        for (field, text) in &lowered {
            if contains_word(text, name) {
                found = true;
                if !hits.fields.contains(field) {
                    hits.fields.push(field);
                }
            }
        }
        if found {
            hits.names += 1;
        }
    }
    // Fields in the note's order, not the order names were found.
    hits.fields
        .sort_by_key(|f| fields.iter().position(|(g, _)| g == f));
    hits
}

/// Whether `word` occurs in `text` with no letter or digit right before or after it.
fn contains_word(text: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(i) = text[from..].find(word) {
        let start = from + i;
        let end = start + word.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        if boundary(before) && boundary(after) {
            return true;
        }
        from = start + text[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn names_are_found_as_whole_words_in_any_case() {
        let fields = [
            ("presentation", "Engaged; responded to JORDAN's feedback."),
            ("participation", "Shared about the week."),
            ("plan", "Continue; discuss with Sam-Lee next time"),
        ];
        let hits = find_names(&fields, &names(&["Jordan", "Lee", "Ed", "Q"]), &[]);
        assert_eq!(hits.names, 2, "Jordan and Lee; 'Ed' only inside words");
        assert_eq!(hits.fields, vec!["presentation", "plan"]);
        let none = find_names(&fields, &names(&["Jord", "Week"]), &names(&["week"]));
        assert!(
            none.is_empty(),
            "partial words and the member's own names do not count"
        );
    }

    #[test]
    fn the_refusal_counts_names_without_echoing_them() {
        let fields = [("plan", "Follow up with Morgan and Reyes")];
        let hits = find_names(&fields, &names(&["Morgan", "Reyes"]), &[]);
        let msg = hits.refusal().to_string();
        assert!(msg.contains("2 names"), "{msg}");
        assert!(msg.contains("plan"));
        assert!(!msg.contains("Morgan") && !msg.contains("Reyes"));
        assert_eq!(hits.refusal().rule(), Some(Rule::OtherMembersNamed));
    }

    #[test]
    fn note_inputs_refuse_unknown_fields() {
        let ok: Result<ProgressNoteInput, _> =
            serde_json::from_value(serde_json::json!({"version": 1, "plan": "p"}));
        assert!(ok.is_ok());
        let bad: Result<ProgressNoteInput, _> =
            serde_json::from_value(serde_json::json!({"plan": "p", "diagnosis": "x"}));
        assert!(bad.is_err());
        let bad: Result<GroupNoteInput, _> =
            serde_json::from_value(serde_json::json!({"themes": "t", "score": 3}));
        assert!(bad.is_err());
    }

    #[test]
    fn unicode_boundaries_hold() {
        assert!(contains_word("with zoë today", "zoë"));
        assert!(!contains_word("zoëlle", "zoë"));
        assert!(contains_word("élodie.", "élodie"));
    }

    #[test]
    fn a_trainees_note_waits_for_a_licensed_cosigner() {
        let (author, other) = (ClinicianId(1), ClinicianId(2));
        assert_eq!(
            sign(NoteState::Draft, author, author, false),
            Ok(NoteState::AwaitingCosign)
        );
        assert_eq!(
            sign(NoteState::Draft, author, author, true),
            Ok(NoteState::Signed)
        );
        assert_eq!(
            sign(NoteState::Draft, author, other, true)
                .unwrap_err()
                .rule(),
            Some(Rule::NoteAuthor)
        );
        assert!(cosign(NoteState::AwaitingCosign, author, other, true).is_ok());
        assert_eq!(
            cosign(NoteState::AwaitingCosign, author, other, false)
                .unwrap_err()
                .rule(),
            Some(Rule::LicenseNotActive)
        );
        assert_eq!(
            cosign(NoteState::AwaitingCosign, author, author, true)
                .unwrap_err()
                .rule(),
            Some(Rule::NoteAuthor)
        );
        assert!(cosign(NoteState::Draft, author, other, true).is_err());
    }

    #[test]
    fn a_signed_note_is_locked_and_takes_addenda() {
        assert_eq!(
            check_editable(NoteState::Signed).unwrap_err().rule(),
            Some(Rule::NoteSigned)
        );
        assert!(check_editable(NoteState::Draft).is_ok());
        assert!(check_addendum(NoteState::Signed).is_ok());
        assert!(check_addendum(NoteState::Draft).is_err());
        assert_eq!(
            sign(NoteState::Signed, ClinicianId(1), ClinicianId(1), true)
                .unwrap_err()
                .rule(),
            Some(Rule::NoteSigned)
        );
    }
}
