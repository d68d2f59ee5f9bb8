//! Typed values of page forms that have no domain type of their own: a calendar day as a
//! browser's date input posts it, a ticked cell of the weekly times grid, and a record
//! chosen from a list. Each parses through its
//! constructor (serde `try_from`), so a form's struct holds the value or the field's rule
//! in plain words ([`super::form::parse`] names the field), never the text typed.

use circle_domain::intake::{PartOfDay, PreferredTime};
use circle_domain::schedule::Weekday;
use jiff::civil::Date;
use serde::Deserialize;

/// A day typed as `YYYY-MM-DD` (a date input's value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Day(pub Date);

impl TryFrom<String> for Day {
    type Error = &'static str;

    fn try_from(v: String) -> Result<Self, Self::Error> {
        v.trim()
            .parse::<Date>()
            .map(Day)
            .map_err(|_| "must be a date (YYYY-MM-DD)")
    }
}

/// A ticked cell of the weekly times grid (the join form's, intake's): `wednesday/morning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct GridCell(pub PreferredTime);

impl TryFrom<String> for GridCell {
    type Error = &'static str;

    fn try_from(v: String) -> Result<Self, Self::Error> {
        v.split_once('/')
            .and_then(|(d, p)| {
                Some(GridCell(PreferredTime {
                    weekday: Weekday::parse(d)?,
                    part_of_day: PartOfDay::parse(p)?,
                }))
            })
            .ok_or("choose times from the grid")
    }
}

/// A record chosen from a list (an id) that the form cannot go without: blank is
/// "required", anything else not an id is "one of the listed choices".
pub fn choice<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    super::form::optional_choice(d)?
        .ok_or_else(|| serde::de::Error::custom("choose one of the listed choices"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::form::parse;

    #[derive(Deserialize, Debug)]
    struct When {
        on: Day,
        until: Option<Day>,
    }

    #[derive(Deserialize, Debug)]
    struct Pick {
        #[serde(deserialize_with = "choice")]
        group_id: circle_domain::ids::GroupId,
    }

    #[test]
    fn a_required_choice_is_an_id_from_the_list() {
        let p: Pick = parse(&fields(&[("group_id", "12")])).unwrap();
        assert_eq!(p.group_id.0, 12);
        let e = parse::<Pick>(&fields(&[("group_id", "Tuesday group")])).unwrap_err();
        assert_eq!(e.0[0].message, "must be one of the listed choices");
        let e = parse::<Pick>(&fields(&[])).unwrap_err();
        assert_eq!(e.0[0].message, "is required");
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_day_is_read_as_its_input_posts_it() {
        let w: When = parse(&fields(&[("on", " 2026-05-04 "), ("until", "")])).unwrap();
        assert_eq!(w.on.0, jiff::civil::date(2026, 5, 4));
        assert_eq!(w.until, None, "a blank optional day is none");
    }

    #[test]
    fn a_broken_day_names_its_rule_never_the_text() {
        let e = parse::<When>(&fields(&[("on", "4 May 2026"), ("until", "soon")])).unwrap_err();
        let got: Vec<(&str, &str)> =
            e.0.iter()
                .map(|f| (f.field.as_str(), f.message.as_str()))
                .collect();
        assert_eq!(
            got,
            [
                ("on", "must be a date (YYYY-MM-DD)"),
                ("until", "must be a date (YYYY-MM-DD)")
            ]
        );
        let e = parse::<When>(&fields(&[("on", "")])).unwrap_err();
        assert_eq!(e.0[0].message, "is required");
    }
}
