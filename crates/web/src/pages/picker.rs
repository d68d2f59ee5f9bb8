//! Searchable pickers (issue 14): a text field with a `<datalist>` of choices instead of a
//! dropdown of seventy names. The browser filters the list as a person types (no script);
//! the form posts the chosen words ("Robin Intaketest (R-0001)", "Lead Facilitator"), which
//! are resolved here to the record they name before the form is parsed. A value that names
//! nothing stays as typed and is refused by the form's usual rule ("must be one of the
//! listed choices"). A bare number is still taken as the record's id, as the API and older
//! forms send it.

use circle_app::{Actor, App, PageRequest};

const PAGE: PageRequest = PageRequest {
    after: 0,
    limit: 200,
};

/// The record number in a client choice's trailing parentheses: "Ana Pryce (DEMO-0042)".
fn record_number(choice: &str) -> Option<&str> {
    let open = choice.rfind('(')?;
    let inner = choice[open + 1..].strip_suffix(')')?.trim();
    (!inner.is_empty()).then_some(inner)
}

/// Rewrites the named client fields from a chosen label to the client's id.
pub async fn resolve_clients(
    app: &App,
    actor: &Actor,
    fields: &mut [(String, String)],
    names: &[&str],
) {
    for (k, v) in fields.iter_mut() {
        let value = v.trim();
        if !names.contains(&k.as_str()) || value.is_empty() || value.parse::<i64>().is_ok() {
            continue;
        }
        let Some(record) = record_number(value) else {
            continue;
        };
        // A listing narrowed to the caller's reach (and audited as one), as the choices were.
        if let Ok(found) = app.search_clients(actor, record, PAGE).await
            && let Some(c) = found
                .items
                .iter()
                .find(|c| c.record_number.to_string().eq_ignore_ascii_case(record))
        {
            *v = c.id.0.to_string();
        }
    }
}

/// Rewrites the named clinician fields from a chosen name to the clinician's id.
pub async fn resolve_clinicians(
    app: &App,
    actor: &Actor,
    fields: &mut [(String, String)],
    names: &[&str],
) {
    let wanted = fields.iter().any(|(k, v)| {
        names.contains(&k.as_str()) && !v.trim().is_empty() && v.trim().parse::<i64>().is_err()
    });
    if !wanted {
        return;
    }
    let Ok(all) = app.list_clinicians(actor, PAGE).await else {
        return;
    };
    for (k, v) in fields.iter_mut() {
        if !names.contains(&k.as_str()) {
            continue;
        }
        let value = v.trim().to_lowercase();
        let mut matching = all
            .items
            .iter()
            .filter(|c| format!("{} {}", c.given_name, c.family_name).to_lowercase() == value);
        // Two clinicians with one name: the person must choose more precisely.
        if let (Some(c), None) = (matching.next(), matching.next()) {
            *v = c.id.0.to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::record_number;

    #[test]
    fn a_client_choice_names_its_record_number_last() {
        assert_eq!(record_number("Ana Pryce (DEMO-0042)"), Some("DEMO-0042"));
        assert_eq!(record_number("Ana (Annie) Pryce (R-1)"), Some("R-1"));
        assert_eq!(record_number("Ana Pryce"), None);
        assert_eq!(record_number("Ana Pryce ()"), None);
    }
}
