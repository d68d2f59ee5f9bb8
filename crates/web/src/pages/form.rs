//! Page forms (issue 14): one extractor, [`PageForm`], for every form a signed-in user
//! posts. It refuses a form whose CSRF token is not the session's (the calm "Form expired"
//! page, 403, before anything is read or written), then parses the fields into the
//! handler's typed struct through the domain constructors (serde `try_from`), collecting
//! the rule of *every* field that breaks one, not only the first. A handler never sees the
//! token. A form posted before anyone signs in (join, refer, a message's link) has its
//! own extractor, [`PublicForm`]: the pre-session token and the honeypot instead, the same
//! typed parse.
//!
//! Forms post text, so the parser reads them as people fill them in: values are trimmed
//! (except [`Untrimmed`], for passwords); a blank or absent field is `None` for an `Option`,
//! `false` for a `bool`, empty for a `Vec` (a checkbox list's repeated name) and `""`
//! otherwise, so a blank required value is "required"; a text area's line breaks, which a
//! browser always posts as CR LF, are read as `\n`. Forms whose field names carry a row's
//! id (`status_12`, `minutes_12`) are read into [`Rows`]: one typed row per id, each error
//! named by the field as posted (`status_12`), so the page can show it by its row.
//!
//! [`after_post`] is the one shape of a form's answer: 303 to the next page when the change
//! is made; else the page again (422) with each error next to its field and what was typed
//! kept ([`Filled`]).

use std::fmt;

use axum::Form;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use circle_app::{App, AppError};
use circle_domain::{DomainError, FieldErrors};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};

use super::PageError;

/// The page session's token, left in the request by the `Signed` extractor for the form
/// extractor that follows it (a form without a signed-in session has no valid token).
#[derive(Clone)]
pub(super) struct SessionToken(pub(super) String);

/// A form posted by the signed-in user: its CSRF token checked, its fields parsed into `T`
/// (or every field's broken rule), and the fields as posted, for the page again.
///
/// Place it last among a handler's arguments, after `Signed`.
pub struct PageForm<T> {
    parsed: Result<T, FieldErrors>,
    fields: Vec<(String, String)>,
}

impl<T> PageForm<T> {
    /// The typed form, or each field's broken rule as the 422 a page explains.
    pub fn parsed(&self) -> Result<&T, AppError> {
        self.parsed
            .as_ref()
            .map_err(|e| AppError::Domain(DomainError::Invalid(e.clone())))
    }

    /// The typed form, consumed (see [`PageForm::parsed`]).
    pub fn into_parsed(self) -> Result<T, AppError> {
        self.parsed
            .map_err(|e| AppError::Domain(DomainError::Invalid(e)))
    }

    /// The fields as posted (names and untrimmed values; the CSRF token left out).
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// Parses `resolved` instead: the fields with a picker's chosen words rewritten to the
    /// record's id, say. The fields as posted stay what the page shows again.
    pub fn reparse(mut self, resolved: Vec<(String, String)>) -> Self
    where
        T: DeserializeOwned,
    {
        self.parsed = parse(&resolved);
        self
    }

    /// The typed form (or its errors) and the fields as posted, for the page again.
    pub fn into_parts(self) -> (Result<T, FieldErrors>, Filled) {
        (self.parsed, Filled::new(self.fields))
    }
}

impl<T: DeserializeOwned> FromRequest<App> for PageForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        let token = req.extensions().get::<SessionToken>().cloned();
        let Form(mut fields) = Form::<Vec<(String, String)>>::from_request(req, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let presented = fields
            .iter()
            .find(|(k, _)| k == "csrf")
            .map_or("", |(_, v)| v.trim());
        match token {
            Some(SessionToken(t)) if circle_app::web_session::csrf_matches(&t, presented) => {}
            // The notes' autosave script posts the draft form with `action=autosave` and
            // shows a JSON answer; every other form is refused with the calm page.
            _ if fields.iter().any(|(k, v)| k == "action" && v == "autosave") => {
                return Err((
                    StatusCode::FORBIDDEN,
                    axum::Json(serde_json::json!({
                        "error": "this page is from an earlier sign-in; reload it"
                    })),
                )
                    .into_response());
            }
            _ => return Err(PageError::Csrf.into_response()),
        }
        fields.retain(|(k, _)| k != "csrf");
        let parsed = parse(&fields);
        Ok(PageForm { parsed, fields })
    }
}

/// A form posted before anyone signs in (the public join and referral forms, the answer
/// to a message's link): the PRE-SESSION check (the double-submit cookie the page set), the
/// honeypot, then the fields parsed into `T` with every field's broken rule, as
/// [`PageForm`] does for a signed-in user. The page's own answer to an expired form or a
/// robot differs (its form again, 403; a thank-you that keeps nothing), so the extractor
/// says which ([`Public`]) rather than answering itself.
pub struct PublicForm<T> {
    posted: Public<T>,
    fields: Vec<(String, String)>,
}

/// What a public form came to.
pub enum Public<T> {
    /// The token is not the cookie's (the page was open too long, or is not ours).
    Expired,
    /// The field people cannot see was filled: a robot, to be thanked and forgotten.
    Robot,
    /// The typed form, or every field's broken rule.
    Parsed(Result<T, FieldErrors>),
}

impl<T> PublicForm<T> {
    /// What the form came to, and the fields as posted for the page again.
    pub fn into_parts(self) -> (Public<T>, Filled) {
        (self.posted, Filled::new(self.fields))
    }
}

impl<T: DeserializeOwned> FromRequest<App> for PublicForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let policy = req.extensions().get::<super::CookiePolicy>().copied();
        let Form(mut fields) = Form::<Vec<(String, String)>>::from_request(req, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let presented = super::form_value(&fields, "csrf");
        let fresh = policy.is_some_and(|p| super::auth::presession_ok(&headers, p, presented));
        let robot = super::honeypot_filled(&fields);
        fields.retain(|(k, _)| k != "csrf" && k != "website");
        let posted = if !fresh {
            Public::Expired
        } else if robot {
            Public::Robot
        } else {
            Public::Parsed(parse(&fields))
        };
        Ok(PublicForm { posted, fields })
    }
}

/// A form's typed fields checked with the page's rules across fields (`rules`, found on what
/// was typed): the fields, or every field's own rule and every rule across them, in the
/// order the page shows its fields (`order`), so each is reported at once.
pub fn with_rules<T>(
    parsed: Result<T, FieldErrors>,
    rules: FieldErrors,
    order: &[&str],
) -> Result<T, FieldErrors> {
    match parsed {
        Ok(t) if rules.is_empty() => Ok(t),
        parsed => {
            let mut errors = parsed.err().unwrap_or_default();
            errors.0.extend(rules.0);
            errors
                .0
                .sort_by_key(|e| order.iter().position(|k| *k == e.field));
            Err(errors)
        }
    }
}

/// The CSRF check of a form [`PageForm`] cannot read: a multipart upload (the import page)
/// reads its parts itself and hands the token here, so the rule stays in this one module.
pub(super) fn check_upload_token(signed: &super::Signed, presented: &str) -> Result<(), PageError> {
    if circle_app::web_session::csrf_matches(&signed.token, presented.trim()) {
        Ok(())
    } else {
        Err(PageError::Csrf)
    }
}

/// No typed fields: a form that is only a button (its CSRF token is still checked).
#[derive(serde::Deserialize)]
pub struct Button {}

/// A value kept exactly as typed (a passphrase's spaces are part of it).
#[derive(serde::Deserialize)]
pub struct Untrimmed(pub String);

// Redacted: an untrimmed value is most often a password.
impl fmt::Debug for Untrimmed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Untrimmed(…)")
    }
}

/// A record chosen from a list or picker (an id), or none when blank: anything else is
/// "one of the listed choices", not "a whole number".
pub fn optional_choice<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: de::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    let raw = <String as serde::Deserialize>::deserialize(d)?;
    if raw.is_empty() {
        return Ok(None);
    }
    let id: i64 = raw
        .parse()
        .map_err(|_| de::Error::custom("must be one of the listed choices"))?;
    T::deserialize(IntoDeserializer::<D::Error>::into_deserializer(id)).map(Some)
}

/// Records chosen from a list of boxes (a repeated name, each an id): anything else is
/// "one of the listed choices".
pub fn choices<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: de::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    let raw = <Vec<String> as serde::Deserialize>::deserialize(d)?;
    raw.iter()
        .map(|v| {
            let id: i64 = v
                .parse()
                .map_err(|_| de::Error::custom("must be one of the listed choices"))?;
            T::deserialize(IntoDeserializer::<D::Error>::into_deserializer(id))
        })
        .collect()
}

/// A calendar date as a date field posts it (`2026-05-04`).
pub fn date<'de, D>(d: D) -> Result<jiff::civil::Date, D::Error>
where
    D: de::Deserializer<'de>,
{
    let raw = <String as serde::Deserialize>::deserialize(d)?;
    raw.parse()
        .map_err(|_| de::Error::custom("must be a date (YYYY-MM-DD)"))
}

/// Parses fields into `T`, collecting every field's broken rule: each pass that meets a
/// bad value records it and leaves that field out of the next pass, until a pass gets past
/// every remaining field (serde stops at the first error of a pass).
pub fn parse<T: DeserializeOwned>(fields: &[(String, String)]) -> Result<T, FieldErrors> {
    let mut skip = Skip::default();
    let mut errors = FieldErrors::default();
    loop {
        let form = FormDeserializer {
            form: Posted {
                fields,
                skip: &skip,
            },
        };
        match T::deserialize(form) {
            Ok(t) if errors.is_empty() => return Ok(t),
            Ok(_) => return Err(errors),
            // A field already left out cannot break a rule again: stop rather than loop.
            Err(Fault::Field { field, .. }) if skip.fields.contains(&field) => {
                return Err(errors);
            }
            Err(Fault::Field { field, message }) => {
                errors.push(field.clone(), message);
                skip.fields.push(field);
            }
            // Fields left out are missing at the end of a pass: every other field was read.
            Err(Fault::Missing(field)) => {
                if !skip.fields.contains(&field) {
                    errors.push(field, "is required");
                }
                return Err(errors);
            }
            Err(Fault::Row { row, .. }) if skip.rows.contains(&row) => return Err(errors),
            // A row is read whole before it reports a field missing, but the rows after it
            // are not read yet: the row is left out and the next pass reads on.
            Err(Fault::Row {
                row,
                field,
                message,
            }) => {
                if !skip.fields.contains(&field) {
                    errors.push(field, message);
                }
                skip.rows.push(row);
            }
            Err(Fault::Rule(message)) => {
                errors.push("form", message);
                return Err(errors);
            }
        }
    }
}

/// Why a form's field was refused. Messages are rules, never the value typed.
#[derive(Debug)]
enum Fault {
    /// A rule broken by a value not yet tied to its field.
    Rule(String),
    Field {
        field: String,
        message: String,
    },
    Missing(String),
    /// A row of [`Rows`] that cannot be read whole: the error of one of its fields (as
    /// posted, `status_12`), and the row (its first field as posted) to leave out.
    Row {
        row: String,
        field: String,
        message: String,
    },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Rule(m) => f.write_str(m),
            Fault::Field { field, message } | Fault::Row { field, message, .. } => {
                write!(f, "{field}: {message}")
            }
            Fault::Missing(field) => write!(f, "{field}: is required"),
        }
    }
}

impl std::error::Error for Fault {}

impl de::Error for Fault {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        Fault::Rule(msg.to_string())
    }

    // serde's own messages quote the value; a form's error never does (it may be PHI).
    fn invalid_type(_: de::Unexpected<'_>, _: &dyn de::Expected) -> Self {
        Fault::Rule("is not valid".to_owned())
    }

    fn invalid_value(_: de::Unexpected<'_>, _: &dyn de::Expected) -> Self {
        Fault::Rule("is not valid".to_owned())
    }

    fn invalid_length(_: usize, _: &dyn de::Expected) -> Self {
        Fault::Rule("has the wrong number of values".to_owned())
    }

    fn unknown_variant(_: &str, _: &'static [&'static str]) -> Self {
        Fault::Rule("must be one of the listed choices".to_owned())
    }

    fn unknown_field(_: &str, _: &'static [&'static str]) -> Self {
        Fault::Rule("is not a field of this form".to_owned())
    }

    fn missing_field(field: &'static str) -> Self {
        Fault::Missing(field.to_owned())
    }

    fn duplicate_field(_: &'static str) -> Self {
        Fault::Rule("was sent twice".to_owned())
    }
}

/// The fields and rows a pass leaves out, each already refused.
#[derive(Default)]
struct Skip {
    /// Fields by their name as posted.
    fields: Vec<String>,
    /// Rows by their first field as posted.
    rows: Vec<String>,
}

/// The form a pass reads: every field as posted, and what it leaves out.
#[derive(Clone, Copy)]
struct Posted<'a> {
    fields: &'a [(String, String)],
    skip: &'a Skip,
}

/// The whole form, as a struct's fields.
struct FormDeserializer<'a> {
    form: Posted<'a>,
}

impl<'de> de::Deserializer<'de> for FormDeserializer<'_> {
    type Error = Fault;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Fault> {
        Err(Fault::Rule(
            "a page form is read into a struct with named fields".to_owned(),
        ))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        names: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Fault> {
        if name == ROWS {
            return visitor.visit_map(RowsAccess::new(self.form, names));
        }
        // Every field the struct names, with all its values (a checkbox list repeats its
        // name); an absent field as no value, as a browser leaves out an unticked box.
        let entries = names
            .iter()
            .filter(|n| !self.form.skip.fields.iter().any(|s| s == *n))
            .map(|n| {
                let values = self
                    .form
                    .fields
                    .iter()
                    .filter(|(k, _)| k == n)
                    .map(|(_, v)| v.as_str())
                    .collect();
                (*n, values)
            })
            .collect::<Vec<(&'static str, Vec<&str>)>>();
        visitor.visit_map(FieldsAccess {
            entries: entries.into_iter(),
            current: None,
            form: self.form,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}

struct FieldsAccess<'a> {
    entries: std::vec::IntoIter<(&'static str, Vec<&'a str>)>,
    current: Option<(&'static str, Vec<&'a str>)>,
    form: Posted<'a>,
}

impl<'de> de::MapAccess<'de> for FieldsAccess<'_> {
    type Error = Fault;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Fault> {
        match self.entries.next() {
            Some((name, values)) => {
                self.current = Some((name, values));
                seed.deserialize(name.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Fault> {
        let (field, values) = self
            .current
            .take()
            .ok_or_else(|| Fault::Rule("a value without its field".to_owned()))?;
        let value = Value {
            values: &values,
            trim: true,
            form: self.form,
        };
        seed.deserialize(value).map_err(|fault| match fault {
            // A blank field that cannot be blank is required, whatever its type.
            Fault::Rule(_) if values.iter().all(|v| v.trim().is_empty()) => Fault::Field {
                field: field.to_owned(),
                message: "is required".to_owned(),
            },
            Fault::Rule(message) => Fault::Field {
                field: field.to_owned(),
                message: without_value(message, &values),
            },
            other => other,
        })
    }
}

/// The struct name by which [`Rows`] asks the form for its rows.
const ROWS: &str = "circle_web::pages::form::Rows";

/// The rows of a form whose field names carry a row's id: `status_12`, `minutes_12` and
/// `part_12` are row 12's `status`, `minutes` and `part`. `R` is a struct with named
/// fields, read as a form of its own (the same rules: blank, absent, repeated names); `K`
/// is the row's id, read from the name. A row's error is named by the field as posted
/// (`status_12: must be one of the listed choices`), so a page can show it by its row, and
/// every row's errors are collected. Rows keep the order the page posted them in.
///
/// A form of rows only is `PageForm<Rows<K, R>>`; a form with other fields too has a field
/// of type `Rows<K, R>` (its own name is not posted).
#[derive(Debug)]
pub struct Rows<K, R>(Vec<(K, R)>);

impl<K: PartialEq, R> Rows<K, R> {
    /// The row of `id`, when the form posted one.
    pub fn get(&self, id: &K) -> Option<&R> {
        self.0.iter().find(|(k, _)| k == id).map(|(_, r)| r)
    }
}

impl<K, R> IntoIterator for Rows<K, R> {
    type Item = (K, R);
    type IntoIter = std::vec::IntoIter<(K, R)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// The name a row's field is posted under: `row_field("status", 12)` is `status_12`.
pub fn row_field(name: &str, id: impl fmt::Display) -> String {
    format!("{name}_{id}")
}

impl<'de, K: serde::Deserialize<'de>, R: serde::Deserialize<'de>> serde::Deserialize<'de>
    for Rows<K, R>
{
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RowsVisitor<K, R>(std::marker::PhantomData<(K, R)>);

        impl<'de, K: serde::Deserialize<'de>, R: serde::Deserialize<'de>> Visitor<'de>
            for RowsVisitor<K, R>
        {
            type Value = Rows<K, R>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("rows of a form")
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut rows = vec![];
                while let Some(id) = map.next_key::<K>()? {
                    rows.push((id, map.next_value::<R>()?));
                }
                Ok(Rows(rows))
            }
        }

        d.deserialize_struct(
            ROWS,
            field_names::<R>(),
            RowsVisitor(std::marker::PhantomData),
        )
    }
}

/// The field names of the struct `R` (serde gives them to the deserializer it is read
/// from: this one only notes them).
fn field_names<'de, R: serde::Deserialize<'de>>() -> &'static [&'static str] {
    struct Names<'n>(&'n mut &'static [&'static str]);

    impl<'de> de::Deserializer<'de> for Names<'_> {
        type Error = Fault;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Fault> {
            Err(Fault::Rule(
                "a row is a struct with named fields".to_owned(),
            ))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            names: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Fault> {
            *self.0 = names;
            Err(Fault::Rule("only the names were read".to_owned()))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    let mut names: &'static [&'static str] = &[];
    // The answer is always the error above; what counts is the names it noted.
    let _noted = R::deserialize(Names(&mut names)).is_ok();
    names
}

/// One row of [`Rows`]: its fields by the row struct's names.
struct Row {
    /// The id as posted (`12` of `status_12`).
    id: String,
    /// The row's first field as posted: its mark among the rows left out, and the field
    /// named by an error of the whole row.
    key: String,
    fields: Vec<(String, String)>,
    /// The row's fields a pass leaves out, by the row struct's names.
    skip: Skip,
}

/// The rows of a form, in the order they were posted.
struct RowsAccess {
    rows: std::vec::IntoIter<Row>,
    current: Option<Row>,
}

impl RowsAccess {
    fn new(form: Posted<'_>, names: &'static [&'static str]) -> Self {
        let mut rows: Vec<Row> = vec![];
        for (key, value) in form.fields {
            let Some((name, id)) = key
                .rsplit_once('_')
                .filter(|(name, id)| !id.is_empty() && names.contains(name))
            else {
                continue;
            };
            let i = match rows.iter().position(|r| r.id == id) {
                Some(i) => i,
                None => {
                    rows.push(Row {
                        id: id.to_owned(),
                        key: key.clone(),
                        fields: vec![],
                        skip: Skip::default(),
                    });
                    rows.len() - 1
                }
            };
            rows[i].fields.push((name.to_owned(), value.clone()));
        }
        rows.retain(|r| !form.skip.rows.contains(&r.key));
        // A field refused may be one the form left out (a required one, blank).
        for row in &mut rows {
            row.skip.fields = names
                .iter()
                .filter(|n| form.skip.fields.contains(&row_field(n, &row.id)))
                .map(|n| (*n).to_owned())
                .collect();
        }
        RowsAccess {
            rows: rows.into_iter(),
            current: None,
        }
    }
}

impl<'de> de::MapAccess<'de> for RowsAccess {
    type Error = Fault;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Fault> {
        let Some(row) = self.rows.next() else {
            return Ok(None);
        };
        let no_skip = Skip::default();
        let id = [row.id.as_str()];
        let key = Value {
            values: &id,
            trim: true,
            form: Posted {
                fields: &[],
                skip: &no_skip,
            },
        };
        match seed.deserialize(key) {
            Ok(k) => {
                self.current = Some(row);
                Ok(Some(k))
            }
            Err(_) => Err(Fault::Row {
                row: row.key.clone(),
                field: row.key,
                message: "is not a row of this form".to_owned(),
            }),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Fault> {
        let row = self
            .current
            .take()
            .ok_or_else(|| Fault::Rule("a row without its id".to_owned()))?;
        let form = FormDeserializer {
            form: Posted {
                fields: &row.fields,
                skip: &row.skip,
            },
        };
        let id = &row.id;
        seed.deserialize(form).map_err(|fault| match fault {
            Fault::Field { field, message } => Fault::Field {
                field: row_field(&field, id),
                message,
            },
            Fault::Missing(field) => Fault::Row {
                row: row.key.clone(),
                field: row_field(&field, id),
                message: "is required".to_owned(),
            },
            Fault::Rule(message) => Fault::Row {
                row: row.key.clone(),
                field: row.key.clone(),
                message,
            },
            Fault::Row { field, message, .. } => Fault::Row {
                row: row.key.clone(),
                field,
                message,
            },
        })
    }
}

/// A rule's message, unless it repeats what was typed (a parser's own message may quote
/// the value, and a value may be PHI): then only that the value is not valid.
fn without_value(message: String, values: &[&str]) -> String {
    let echoes = values.iter().any(|v| {
        let v = v.trim();
        v.chars().count() >= 3 && message.contains(v)
    });
    if echoes {
        "is not valid".to_owned()
    } else {
        message
    }
}

/// One field's values (none when the form left it out).
struct Value<'a> {
    values: &'a [&'a str],
    trim: bool,
    /// The whole form, for a [`Rows`] field.
    form: Posted<'a>,
}

impl Value<'_> {
    fn text(&self) -> &str {
        let v = self.values.first().copied().unwrap_or("");
        if self.trim { v.trim() } else { v }
    }

    fn number<T: std::str::FromStr>(&self, rule: &str) -> Result<T, Fault> {
        self.text()
            .parse()
            .map_err(|_| Fault::Rule(rule.to_owned()))
    }
}

macro_rules! numbers {
    ($($method:ident $visit:ident $ty:ty, $rule:literal;)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Fault> {
            visitor.$visit(self.number::<$ty>($rule)?)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Value<'_> {
    type Error = Fault;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Fault> {
        // A text area's line breaks come as CR LF (the HTML form encoding); people typed
        // line breaks.
        visitor.visit_string(self.text().replace("\r\n", "\n"))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Fault> {
        // A ticked box posts its value ("on" unless the page sets one); an unticked box
        // posts nothing.
        match self.text() {
            "" | "no" | "false" | "off" | "0" => visitor.visit_bool(false),
            _ => visitor.visit_bool(true),
        }
    }

    numbers! {
        deserialize_i8 visit_i8 i8, "must be a whole number";
        deserialize_i16 visit_i16 i16, "must be a whole number";
        deserialize_i32 visit_i32 i32, "must be a whole number";
        deserialize_i64 visit_i64 i64, "must be a whole number";
        deserialize_u8 visit_u8 u8, "must be a whole number, 0 or more";
        deserialize_u16 visit_u16 u16, "must be a whole number, 0 or more";
        deserialize_u32 visit_u32 u32, "must be a whole number, 0 or more";
        deserialize_u64 visit_u64 u64, "must be a whole number, 0 or more";
        deserialize_f32 visit_f32 f32, "must be a number";
        deserialize_f64 visit_f64 f64, "must be a number";
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Fault> {
        if self.values.iter().all(|v| v.trim().is_empty()) {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Fault> {
        let items: Vec<&[&str]> = self
            .values
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(i, _)| &self.values[i..=i])
            .collect();
        let (trim, form) = (self.trim, self.form);
        visitor.visit_seq(de::value::SeqDeserializer::new(
            items
                .into_iter()
                .map(move |values| Value { values, trim, form }),
        ))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Fault> {
        let trim = self.trim && name != "Untrimmed";
        visitor.visit_newtype_struct(Value {
            values: self.values,
            trim,
            form: self.form,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        names: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Fault> {
        if name == ROWS {
            visitor.visit_map(RowsAccess::new(self.form, names))
        } else {
            self.deserialize_any(visitor)
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Fault> {
        if self.text().is_empty() {
            return Err(Fault::Rule("choose one of the listed choices".to_owned()));
        }
        visitor.visit_enum(self.text().to_owned().into_deserializer())
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Fault> {
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Fault> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit_struct tuple tuple_struct map
        identifier
    }
}

impl<'de, 'a> IntoDeserializer<'de, Fault> for Value<'a> {
    type Deserializer = Value<'a>;

    fn into_deserializer(self) -> Self::Deserializer {
        self
    }
}

/// One field of a form drawn again: what was typed, and its error (shown next to it, and
/// linked to it with `aria-describedby`).
#[derive(Default)]
pub struct FieldView {
    pub value: String,
    pub error: Option<String>,
}

/// A form coming back to its page: what was typed (never a password) and each field's
/// error, for the template to show next to the field (`error`) and in a summary at the top
/// (`summary`).
#[derive(Default)]
pub struct Filled {
    values: Vec<(String, String)>,
    errors: Vec<(String, String)>,
    /// Refusals that name no field of the form (a conflict, a rule of the whole change).
    pub messages: Vec<String>,
}

impl Filled {
    /// A form's values as typed (or as a page starts it), with no errors yet.
    pub fn new(mut values: Vec<(String, String)>) -> Self {
        values.retain(|(k, _)| !k.contains("password"));
        Filled {
            values,
            errors: vec![],
            messages: vec![],
        }
    }

    /// A field's value as typed; `""` when it was not sent.
    pub fn value(&self, name: &str) -> &str {
        self.values
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of a field posted under one name (a list of boxes), as typed.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether the form posted the field at all (a blank value counts).
    pub fn has(&self, name: &str) -> bool {
        self.values.iter().any(|(k, _)| k == name)
    }

    /// The field's error in plain words, when it has one.
    pub fn error(&self, name: &str) -> Option<String> {
        let messages: Vec<&str> = self
            .errors
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, m)| m.as_str())
            .collect();
        (!messages.is_empty()).then(|| messages.join("; "))
    }

    /// One field as its template shows it: the value typed and its error.
    pub fn field(&self, name: &str) -> FieldView {
        FieldView {
            value: self.value(name).to_owned(),
            error: self.error(name),
        }
    }

    /// Every field's error as recorded: the field's name as posted, and the rule.
    pub fn errors(&self) -> impl Iterator<Item = (&str, &str)> {
        self.errors.iter().map(|(k, m)| (k.as_str(), m.as_str()))
    }

    /// `notices` (refusals of no one field) and every field's error, each named by the
    /// page's own `label` of the field: a public page's summary.
    pub fn summary_by(&self, notices: Vec<String>, label: fn(&str) -> &str) -> Vec<String> {
        notices
            .into_iter()
            .chain(
                self.errors
                    .iter()
                    .map(|(k, m)| format!("{}: {m}", label(k))),
            )
            .collect()
    }

    /// Every error, each with the name of its field as the page labels it.
    pub fn summary(&self) -> Vec<String> {
        self.messages
            .iter()
            .cloned()
            .chain(
                self.errors
                    .iter()
                    .map(|(k, m)| super::vocab::field_message(k, m)),
            )
            .collect()
    }

    /// Records each field's broken rule.
    pub fn field_errors(&mut self, errors: FieldErrors) {
        self.errors
            .extend(errors.0.into_iter().map(|e| (e.field, e.message)));
    }

    /// Records a refused change: each field's rule next to it, anything else as a message.
    /// An internal failure stays a failure (logged by its cause, never client data).
    pub fn refusal(&mut self, e: AppError) -> Result<(), PageError> {
        match e {
            AppError::Domain(DomainError::Invalid(errors)) => self.field_errors(errors),
            e => self.messages.push(super::refusal(e)?),
        }
        Ok(())
    }
}

/// What a posted form comes to (issue 14; STYLE.md "Web UI"): see [`after_post`].
pub enum Answer {
    /// 303 to the next page: the change was made.
    Redirect(Response),
    /// The page again, status 422, with each error by its field and the values kept.
    Again(Filled),
}

/// The one shape of a form's answer: `outcome` is the change made (the next page's
/// address) or why it was refused. A refusal a person can act on (a field's rule, the
/// service's rule) comes back as the form `Filled` with it, for the page to be drawn again
/// with [`again`]; an internal failure is the calm error page.
pub fn after_post(
    outcome: Result<String, AppError>,
    mut filled: Filled,
) -> Result<Answer, PageError> {
    match outcome {
        Ok(next) => Ok(Answer::Redirect(Redirect::to(&next).into_response())),
        Err(e) => {
            filled.refusal(e)?;
            Ok(Answer::Again(filled))
        }
    }
}

/// A page drawn again for a refused form: 422, whatever status it was drawn with.
pub fn again(page: Result<Response, PageError>) -> Result<Response, PageError> {
    let mut page = page?;
    if page.status().is_success() {
        *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use circle_domain::ids::{ClientId, ClinicianId};
    use circle_domain::session::{AttendanceStatus, Participation};
    use circle_domain::text::Email;
    use circle_domain::user::Role;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    struct Account {
        email: Email,
        role: Role,
        #[serde(default, deserialize_with = "optional_choice")]
        clinician_id: Option<ClinicianId>,
        program: Vec<i64>,
        clinic_wide: bool,
        password: Untrimmed,
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_form_is_read_as_people_fill_it_in() {
        let a: Account = parse(&fields(&[
            ("email", " a@example.org "),
            ("role", "clinician"),
            ("clinician_id", ""),
            ("program", "3"),
            ("program", "5"),
            ("password", " pass phrase "),
            ("status_4", "present"),
        ]))
        .unwrap();
        assert_eq!(a.email.as_str(), "a@example.org");
        assert_eq!(a.role, Role::Clinician);
        assert_eq!(a.clinician_id, None);
        assert_eq!(a.program, vec![3, 5]);
        assert!(!a.clinic_wide, "an unticked box is not sent");
        assert_eq!(a.password.0, " pass phrase ");
    }

    #[test]
    fn every_broken_field_is_named_with_its_rule_and_never_its_value() {
        let e = parse::<Account>(&fields(&[
            ("email", "not-an-address"),
            ("role", "wizard"),
            ("clinician_id", "Morgan"),
            ("program", "3"),
            ("program", "x"),
            ("clinic_wide", "on"),
            ("password", "p"),
        ]))
        .unwrap_err();
        let named: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        for f in ["email", "role", "clinician_id", "program"] {
            assert!(named.contains(&f), "{f} missing from {named:?}");
        }
        assert_eq!(named.len(), 4, "{named:?}");
        for f in &e.0 {
            for typed in ["not-an-address", "wizard", "Morgan"] {
                assert!(!f.message.contains(typed), "{}: {}", f.field, f.message);
            }
        }
        let role = e.0.iter().find(|f| f.field == "role").unwrap();
        assert_eq!(role.message, "must be one of the listed choices");
        let clinician = e.0.iter().find(|f| f.field == "clinician_id").unwrap();
        assert_eq!(clinician.message, "must be one of the listed choices");
    }

    #[test]
    fn a_blank_required_value_reports_its_own_rule() {
        let e = parse::<Account>(&fields(&[("password", "p")])).unwrap_err();
        let named: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(named, ["email", "role"]);
        assert_eq!(e.0[0].message, "is required");
        assert_eq!(e.0[1].message, "is required");
    }

    #[derive(Deserialize, Debug)]
    struct Row {
        status: Option<AttendanceStatus>,
        minutes: Option<u32>,
        part: Vec<Participation>,
    }

    #[derive(Deserialize, Debug)]
    #[expect(dead_code, reason = "only the errors of these rows are read")]
    struct Strict {
        status: AttendanceStatus,
        minutes: Option<u32>,
    }

    fn named(e: &FieldErrors) -> Vec<(&str, &str)> {
        e.0.iter()
            .map(|f| (f.field.as_str(), f.message.as_str()))
            .collect()
    }

    #[test]
    fn rows_are_read_by_the_id_in_their_names_in_the_order_posted() {
        let rows: Rows<ClientId, Row> = parse(&fields(&[
            ("status_5", "late"),
            ("minutes_5", " 40 "),
            ("status_3", "present"),
            ("part_3", "shared"),
            ("part_3", "gave_feedback"),
            ("action", "save"),
            ("minutes_", "7"),
        ]))
        .unwrap();
        let ids: Vec<i64> = rows.0.iter().map(|(id, _)| id.0).collect();
        assert_eq!(ids, [5, 3]);
        let late = rows.get(&ClientId(5)).unwrap();
        assert_eq!(
            (late.status, late.minutes),
            (Some(AttendanceStatus::Late), Some(40))
        );
        assert!(late.part.is_empty());
        let present = rows.get(&ClientId(3)).unwrap();
        assert_eq!(
            present.part,
            [Participation::Shared, Participation::GaveFeedback]
        );
        assert!(rows.get(&ClientId(4)).is_none());
    }

    #[test]
    fn every_bad_field_of_every_row_is_named_as_posted_and_never_echoed() {
        let e = parse::<Rows<ClientId, Row>>(&fields(&[
            ("status_3", "wizard"),
            ("minutes_3", "soon"),
            ("status_5", "present"),
            ("status_7", ""),
            ("minutes_7", "-2"),
            ("part_9", "dancing"),
        ]))
        .unwrap_err();
        assert_eq!(
            named(&e),
            [
                ("status_3", "must be one of the listed choices"),
                ("minutes_3", "must be a whole number, 0 or more"),
                ("minutes_7", "must be a whole number, 0 or more"),
                ("part_9", "must be one of the listed choices"),
            ]
        );
    }

    #[test]
    fn a_row_missing_a_required_field_does_not_stop_the_rows_after_it() {
        let e = parse::<Rows<ClientId, Strict>>(&fields(&[
            ("minutes_3", "10"),
            ("status_4", "wizard"),
            ("minutes_4", "x"),
            ("status_5", "present"),
            ("status_6", "asleep"),
            ("status_abc", "present"),
        ]))
        .unwrap_err();
        assert_eq!(
            named(&e),
            [
                ("status_3", "is required"),
                ("status_4", "must be one of the listed choices"),
                ("minutes_4", "must be a whole number, 0 or more"),
                ("status_6", "must be one of the listed choices"),
                ("status_abc", "is not a row of this form"),
            ]
        );
    }

    #[test]
    fn rows_sit_beside_the_forms_other_fields() {
        #[derive(Deserialize, Debug)]
        struct Sheet {
            version: i64,
            members: Rows<ClientId, Row>,
        }
        let sheet: Sheet = parse(&fields(&[
            ("version", "4"),
            ("status_12", "absent_excused"),
        ]))
        .unwrap();
        assert_eq!(sheet.version, 4);
        assert_eq!(sheet.members.into_iter().count(), 1);
        let e = parse::<Sheet>(&fields(&[("version", "x"), ("minutes_12", "y")])).unwrap_err();
        assert_eq!(
            named(&e),
            [
                ("version", "must be a whole number"),
                ("minutes_12", "must be a whole number, 0 or more"),
            ]
        );
    }

    #[test]
    fn line_breaks_are_read_as_typed_and_a_list_of_ids_names_its_rule() {
        #[derive(Deserialize, Debug)]
        struct Note {
            text: String,
            #[serde(deserialize_with = "choices")]
            facilitator: Vec<ClinicianId>,
        }
        let n: Note = parse(&fields(&[
            ("text", "one\r\ntwo"),
            ("facilitator", "3"),
            ("facilitator", "4"),
        ]))
        .unwrap();
        assert_eq!(n.text, "one\ntwo");
        assert_eq!(n.facilitator, [ClinicianId(3), ClinicianId(4)]);
        let e =
            parse::<Note>(&fields(&[("facilitator", "3"), ("facilitator", "Morgan")])).unwrap_err();
        assert_eq!(
            named(&e),
            [("facilitator", "must be one of the listed choices")]
        );
    }

    #[test]
    fn a_form_coming_back_keeps_what_was_typed_but_never_a_password() {
        let mut filled = Filled::new(fields(&[("email", "a@b"), ("password", "secret")]));
        let mut errors = FieldErrors::default();
        errors.push("email", "must be an email address");
        filled.field_errors(errors);
        assert_eq!(filled.value("email"), "a@b");
        assert_eq!(filled.value("password"), "");
        assert_eq!(
            filled.error("email").as_deref(),
            Some("must be an email address")
        );
        assert_eq!(filled.error("role"), None);
        assert_eq!(filled.summary(), ["Email: must be an email address"]);
    }
}
