//! Outcome measures as data: an instrument's items, response options, scoring, severity
//! bands, LOINC codes, who may answer it, which items raise a safety alert and how large a
//! change is reliable. PHQ-9 and GAD-7 are built in (free to use); a clinic adds the
//! instruments it holds a licence for through the API, and they pass the same validation.
//!
//! Scores here are sums of item values; the total range follows from the options, and the
//! severity bands must cover it exactly. Direction says whether lower totals are better.

use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::care::vocab;
use crate::error::{DomainError, FieldErrors};

vocab!(
    /// Who may answer an instrument.
    Respondent {
        /// The client, as a self-report check-in.
        Client = "client",
        /// A clinician rating the client.
        Clinician = "clinician",
    }
);

vocab!(
    /// Which way a total moves when the client gets better.
    Direction {
        /// Symptom scales such as PHQ-9 and GAD-7: a lower total is better.
        LowerIsBetter = "lower_is_better",
        /// Well-being or alliance scales: a higher total is better.
        HigherIsBetter = "higher_is_better",
    }
);

vocab!(
    /// Whether the change from the first to the latest total is reliable.
    ChangeFlag {
        ReliableImprovement = "reliable_improvement",
        ReliableDeterioration = "reliable_deterioration",
        NoReliableChange = "no_reliable_change",
    }
);

vocab!(
    /// A safety alert is open until a clinician acknowledges it.
    AlertState {
        Open = "open",
        Acknowledged = "acknowledged",
    }
);

vocab!(
    /// Why a measure is due.
    DueReason {
        /// No response since the current episode of care began.
        Intake = "intake",
        /// The program's cadence has passed since the last response.
        Routine = "routine",
        /// The episode ended with no response in its last week.
        Discharge = "discharge",
    }
);

/// One answer an item accepts: the integer it scores and the words the respondent sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseOption {
    pub value: i64,
    pub label: String,
}

/// One question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Unique within the instrument: letters, digits, `_`, `-` or `.`, 1–32 characters.
    pub id: String,
    pub text: String,
    /// The item's LOINC code, when it has one (`NNNNN-N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loinc: Option<String>,
    pub options: Vec<ResponseOption>,
}

/// A severity band: totals from `min` to `max` inclusive carry `label`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub min: i64,
    pub max: i64,
    pub label: String,
}

/// An instrument as written by whoever defines it: unchecked until `Instrument::parse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstrumentDefinition {
    /// Lower-case letters, digits, `_` and `-`, starting with a letter; 1–32 characters.
    pub code: String,
    pub name: String,
    pub items: Vec<Item>,
    /// Contiguous bands covering every possible total, without gaps or overlaps.
    pub bands: Vec<Band>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loinc_panel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loinc_total: Option<String>,
    /// Who may answer: the client (self-report) and/or a clinician.
    pub respondents: Vec<Respondent>,
    /// Items where any answer above 0 raises a safety alert.
    #[serde(default)]
    pub safety_items: Vec<String>,
    /// The smallest change in the total, in points, that counts as reliable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reliable_change: Option<i64>,
    /// Which way the total moves when the client gets better.
    pub direction: Direction,
}

/// A validated instrument. Deserializing goes through the same validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "InstrumentDefinition", into = "InstrumentDefinition")]
#[schema(value_type = InstrumentDefinition)]
pub struct Instrument(InstrumentDefinition);

const MAX_ITEMS: usize = 100;
const MAX_OPTIONS: usize = 20;
const MAX_BANDS: usize = 20;
const MAX_VALUE: i64 = 1000;

fn is_code(v: &str) -> bool {
    (1..=32).contains(&v.len())
        && v.starts_with(|c: char| c.is_ascii_lowercase())
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn is_item_id(v: &str) -> bool {
    (1..=32).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

fn is_text(v: &str, max: usize) -> bool {
    let n = v.trim().chars().count();
    (1..=max).contains(&n) && !v.chars().any(char::is_control)
}

/// A LOINC code's shape: 1–7 digits, a hyphen, and the check digit (`^\d{1,7}-\d$`).
pub fn is_loinc(v: &str) -> bool {
    match v.split_once('-') {
        Some((num, check)) => {
            (1..=7).contains(&num.len())
                && num.bytes().all(|b| b.is_ascii_digit())
                && check.len() == 1
                && check.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

impl Instrument {
    /// Checks every rule and reports each broken one by field.
    pub fn parse(def: InstrumentDefinition) -> Result<Self, DomainError> {
        let mut e = FieldErrors::default();
        if !is_code(&def.code) {
            e.push(
                "code",
                "must be 1–32 lower-case letters, digits, _ or -, starting with a letter",
            );
        }
        if !is_text(&def.name, 200) {
            e.push(
                "name",
                "must be 1–200 characters without control characters",
            );
        }
        if def.items.is_empty() || def.items.len() > MAX_ITEMS {
            e.push("items", "must list 1–100 items");
        }
        let mut ids = BTreeSet::new();
        for (i, item) in def.items.iter().enumerate() {
            let at = format!("items[{i}]");
            if !is_item_id(&item.id) {
                e.push(
                    format!("{at}.id"),
                    "must be 1–32 letters, digits, _, - or .",
                );
            } else if !ids.insert(item.id.as_str()) {
                e.push(format!("{at}.id"), "duplicates another item's id");
            }
            if !is_text(&item.text, 500) {
                e.push(
                    format!("{at}.text"),
                    "must be 1–500 characters without control characters",
                );
            }
            if let Some(l) = &item.loinc
                && !is_loinc(l)
            {
                e.push(
                    format!("{at}.loinc"),
                    "must be a LOINC code: 1–7 digits, a hyphen and a check digit",
                );
            }
            if item.options.len() < 2 || item.options.len() > MAX_OPTIONS {
                e.push(format!("{at}.options"), "must list 2–20 response options");
            }
            let mut values = BTreeSet::new();
            for (k, o) in item.options.iter().enumerate() {
                if !(-MAX_VALUE..=MAX_VALUE).contains(&o.value) {
                    e.push(
                        format!("{at}.options[{k}].value"),
                        "must be between -1000 and 1000",
                    );
                } else if !values.insert(o.value) {
                    e.push(
                        format!("{at}.options[{k}].value"),
                        "duplicates another option's value",
                    );
                }
                if !is_text(&o.label, 200) {
                    e.push(
                        format!("{at}.options[{k}].label"),
                        "must be 1–200 characters without control characters",
                    );
                }
            }
        }
        for (field, code) in [
            ("loinc_panel", &def.loinc_panel),
            ("loinc_total", &def.loinc_total),
        ] {
            if let Some(c) = code
                && !is_loinc(c)
            {
                e.push(
                    field,
                    "must be a LOINC code: 1–7 digits, a hyphen and a check digit",
                );
            }
        }
        if def.respondents.is_empty() {
            e.push(
                "respondents",
                "must name who may answer: client and/or clinician",
            );
        } else if def.respondents.iter().collect::<BTreeSet<_>>().len() != def.respondents.len() {
            e.push("respondents", "must not repeat a respondent");
        }
        let mut safety = BTreeSet::new();
        for (i, s) in def.safety_items.iter().enumerate() {
            if !def.items.iter().any(|it| &it.id == s) {
                e.push(
                    format!("safety_items[{i}]"),
                    "names no item of the instrument",
                );
            } else if !safety.insert(s) {
                e.push(format!("safety_items[{i}]"), "repeats a safety item");
            }
        }
        if let Some(r) = def.reliable_change
            && !(1..=MAX_VALUE * MAX_ITEMS as i64).contains(&r)
        {
            e.push("reliable_change", "must be a positive number of points");
        }
        // Bands are checked against the range only when the items themselves are sound.
        let items_ok = !def.items.is_empty()
            && def.items.len() <= MAX_ITEMS
            && def.items.iter().all(|i| {
                !i.options.is_empty()
                    && i.options
                        .iter()
                        .all(|o| (-MAX_VALUE..=MAX_VALUE).contains(&o.value))
            });
        if def.bands.is_empty() || def.bands.len() > MAX_BANDS {
            e.push("bands", "must list 1–20 severity bands");
        } else if items_ok {
            let (lo, hi) = total_range(&def.items);
            for (i, b) in def.bands.iter().enumerate() {
                if b.min > b.max {
                    e.push(format!("bands[{i}]"), "min must not exceed max");
                }
                if !is_text(&b.label, 200) {
                    e.push(
                        format!("bands[{i}].label"),
                        "must be 1–200 characters without control characters",
                    );
                }
            }
            let mut sorted: Vec<&Band> = def.bands.iter().collect();
            sorted.sort_by_key(|b| (b.min, b.max));
            let mut next = lo;
            let mut covered = true;
            for b in &sorted {
                if b.min != next {
                    covered = false;
                }
                next = b.max.saturating_add(1);
            }
            if !covered || next != hi.saturating_add(1) {
                e.push(
                    "bands",
                    format!(
                        "must cover every possible total from {lo} to {hi} contiguously, without gaps or overlaps"
                    ),
                );
            }
        }
        e.into_result()?;
        Ok(Self(def))
    }

    pub fn definition(&self) -> &InstrumentDefinition {
        &self.0
    }

    pub fn code(&self) -> &str {
        &self.0.code
    }

    /// Whether `who` may answer it.
    pub fn answerable_by(&self, who: Respondent) -> bool {
        self.0.respondents.contains(&who)
    }

    /// The lowest and highest possible totals.
    pub fn total_range(&self) -> (i64, i64) {
        total_range(&self.0.items)
    }

    /// The band a total falls in (every total in range has exactly one).
    pub fn band(&self, total: i64) -> Option<&Band> {
        self.0
            .bands
            .iter()
            .find(|b| (b.min..=b.max).contains(&total))
    }

    /// Checks a set of answers (item id → option value) and scores them: every item
    /// answered with one of its options, no unknown items. Reports each broken rule.
    pub fn score(&self, answers: &BTreeMap<String, i64>) -> Result<Scored, DomainError> {
        let mut e = FieldErrors::default();
        // An unknown key is not echoed: it is caller-supplied text.
        if answers
            .keys()
            .any(|id| !self.0.items.iter().any(|i| &i.id == id))
        {
            e.push("answers", "names an item the instrument does not have");
        }
        let mut total = 0i64;
        // Option values are bounded by validation, so the sum cannot overflow.
        for item in &self.0.items {
            match answers.get(&item.id) {
                None => e.push(format!("answers.{}", item.id), "must be answered"),
                Some(v) if !item.options.iter().any(|o| o.value == *v) => e.push(
                    format!("answers.{}", item.id),
                    "must be one of the item's option values",
                ),
                Some(v) => total += v,
            }
        }
        e.into_result()?;
        let severity = self
            .band(total)
            .map(|b| b.label.clone())
            .unwrap_or_default();
        let safety_items = self
            .0
            .safety_items
            .iter()
            .filter(|id| answers.get(*id).is_some_and(|v| *v > 0))
            .cloned()
            .collect();
        Ok(Scored {
            total,
            severity,
            safety_items,
        })
    }

    /// Classifies the change from `first` to `latest` by the instrument's reliable-change
    /// threshold and direction; `None` when the instrument sets no threshold.
    pub fn change_flag(&self, first: i64, latest: i64) -> Option<ChangeFlag> {
        let threshold = self.0.reliable_change?;
        let better = match self.0.direction {
            Direction::LowerIsBetter => first - latest,
            Direction::HigherIsBetter => latest - first,
        };
        Some(if better >= threshold {
            ChangeFlag::ReliableImprovement
        } else if -better >= threshold {
            ChangeFlag::ReliableDeterioration
        } else {
            ChangeFlag::NoReliableChange
        })
    }
}

impl TryFrom<InstrumentDefinition> for Instrument {
    type Error = DomainError;
    fn try_from(d: InstrumentDefinition) -> Result<Self, DomainError> {
        Self::parse(d)
    }
}

impl From<Instrument> for InstrumentDefinition {
    fn from(i: Instrument) -> Self {
        i.0
    }
}

fn total_range(items: &[Item]) -> (i64, i64) {
    items.iter().fold((0, 0), |(lo, hi), i| {
        let min = i.options.iter().map(|o| o.value).min().unwrap_or(0);
        let max = i.options.iter().map(|o| o.value).max().unwrap_or(0);
        (lo.saturating_add(min), hi.saturating_add(max))
    })
}

/// The result of scoring one administration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scored {
    pub total: i64,
    /// The label of the band the total falls in.
    pub severity: String,
    /// Safety items answered above 0 (each raises the alert).
    pub safety_items: Vec<String>,
}

/// When a measure is due, given the client's latest episode of care, the program's cadence
/// and the date of the last response (all dates in the clinic's time zone).
///
/// - An open episode with no response since it began: due at intake, from its start.
/// - Otherwise every `cadence_days` since the last response: due routinely from then.
/// - An ended episode with no response in its last week (or after it): due at discharge,
///   from a week before the end.
pub fn due(
    episode_start: Date,
    episode_end: Option<Date>,
    cadence_days: i64,
    last: Option<Date>,
    today: Date,
) -> Option<(DueReason, Date)> {
    match episode_end {
        None => {
            if episode_start > today {
                return None;
            }
            match last {
                Some(l) if l >= episode_start => {
                    let next = l.saturating_add(jiff::Span::new().days(cadence_days));
                    (next <= today).then_some((DueReason::Routine, next))
                }
                _ => Some((DueReason::Intake, episode_start)),
            }
        }
        Some(end) => {
            let week_before = end.saturating_sub(jiff::Span::new().days(7));
            match last {
                Some(l) if l >= week_before => None,
                _ => Some((DueReason::Discharge, week_before.max(episode_start))),
            }
        }
    }
}

/// The built-in instruments' codes, in the order the due list offers them.
pub const DEFAULT_DUE: &[&str] = &["phq9", "gad7"];

const FREQUENCY: [(i64, &str); 4] = [
    (0, "Not at all"),
    (1, "Several days"),
    (2, "More than half the days"),
    (3, "Nearly every day"),
];

fn frequency_items(items: &[(&str, &str)]) -> Vec<Item> {
    items
        .iter()
        .enumerate()
        .map(|(i, (loinc, t))| Item {
            id: (i + 1).to_string(),
            text: (*t).to_owned(),
            loinc: Some((*loinc).to_owned()),
            options: FREQUENCY
                .iter()
                .map(|(v, l)| ResponseOption {
                    value: *v,
                    label: (*l).to_owned(),
                })
                .collect(),
        })
        .collect()
}

fn bands(list: &[(i64, i64, &str)]) -> Vec<Band> {
    list.iter()
        .map(|(min, max, label)| Band {
            min: *min,
            max: *max,
            label: (*label).to_owned(),
        })
        .collect()
}

/// The Patient Health Questionnaire-9 (Kroenke, Spitzer & Williams 2001; free to use).
/// Items 1–9 over the last two weeks, each 0–3; total 0–27 banded 0–4 minimal, 5–9 mild,
/// 10–14 moderate, 15–19 moderately severe, 20–27 severe. LOINC panel 44249-1, total
/// 44261-6. Item 9 (thoughts of being better off dead or of self-harm) is the safety item.
/// Item codes 44250-9 … 44260-8 are LOINC's PHQ-9 item terms ("… in last 2 weeks
/// [Reported.PHQ]"), as used e.g. by HL7 SDC / LHC-Forms questionnaires for panel 44249-1;
/// each passes LOINC's mod-10 check digit (tested below).
///
/// Reliable change is 6 points: the NHS Talking Therapies (formerly IAPT) manual counts a
/// PHQ-9 reduction of 6 or more as reliable improvement (and GAD-7 4 or more), as quoted
/// e.g. at <http://www.cbtwatch.com/tag/no-justification-for-nhs-talking-theapies/>
/// ("According to the IAPT Manual – a reduction of 6 or more on the PHQ-9 and a reduction
/// of 4 or more on the GAD-7 is taken as clinically meaningful improvement").
pub fn phq9() -> Instrument {
    Instrument(InstrumentDefinition {
        code: "phq9".to_owned(),
        name: "Patient Health Questionnaire-9 (PHQ-9)".to_owned(),
        items: frequency_items(&[
            ("44250-9", "Little interest or pleasure in doing things"),
            ("44255-8", "Feeling down, depressed, or hopeless"),
            (
                "44259-0",
                "Trouble falling or staying asleep, or sleeping too much",
            ),
            ("44254-1", "Feeling tired or having little energy"),
            ("44251-7", "Poor appetite or overeating"),
            (
                "44258-2",
                "Feeling bad about yourself — or that you are a failure or have let yourself or your family down",
            ),
            (
                "44252-5",
                "Trouble concentrating on things, such as reading the newspaper or watching television",
            ),
            (
                "44253-3",
                "Moving or speaking so slowly that other people could have noticed? Or the opposite — being so fidgety or restless that you have been moving around a lot more than usual",
            ),
            (
                "44260-8",
                "Thoughts that you would be better off dead or of hurting yourself in some way",
            ),
        ]),
        bands: bands(&[
            (0, 4, "minimal"),
            (5, 9, "mild"),
            (10, 14, "moderate"),
            (15, 19, "moderately severe"),
            (20, 27, "severe"),
        ]),
        loinc_panel: Some("44249-1".to_owned()),
        loinc_total: Some("44261-6".to_owned()),
        respondents: vec![Respondent::Client, Respondent::Clinician],
        safety_items: vec!["9".to_owned()],
        reliable_change: Some(6),
        direction: Direction::LowerIsBetter,
    })
}

/// The Generalized Anxiety Disorder-7 (Spitzer et al. 2006; free to use). Items 1–7, each
/// 0–3; total 0–21 banded 0–4 minimal, 5–9 mild, 10–14 moderate, 15–21 severe. LOINC panel
/// 69737-5, total 70274-6; item codes 69725-0 … 69736-7 as listed for panel 69737-5 (each
/// passes LOINC's mod-10 check digit). Reliable change is 4 points (NHS Talking Therapies manual's
/// reliable-improvement criterion; see `phq9`).
pub fn gad7() -> Instrument {
    Instrument(InstrumentDefinition {
        code: "gad7".to_owned(),
        name: "Generalized Anxiety Disorder-7 (GAD-7)".to_owned(),
        items: frequency_items(&[
            ("69725-0", "Feeling nervous, anxious, or on edge"),
            ("68509-9", "Not being able to stop or control worrying"),
            ("69733-4", "Worrying too much about different things"),
            ("69734-2", "Trouble relaxing"),
            ("69735-9", "Being so restless that it is hard to sit still"),
            ("69689-8", "Becoming easily annoyed or irritable"),
            (
                "69736-7",
                "Feeling afraid, as if something awful might happen",
            ),
        ]),
        bands: bands(&[
            (0, 4, "minimal"),
            (5, 9, "mild"),
            (10, 14, "moderate"),
            (15, 21, "severe"),
        ]),
        loinc_panel: Some("69737-5".to_owned()),
        loinc_total: Some("70274-6".to_owned()),
        respondents: vec![Respondent::Client, Respondent::Clinician],
        safety_items: vec![],
        reliable_change: Some(4),
        direction: Direction::LowerIsBetter,
    })
}

/// The instruments every clinic has.
pub fn built_in() -> Vec<Instrument> {
    vec![phq9(), gad7()]
}

/// Whether `code` names a built-in instrument (a clinic cannot replace one).
pub fn is_built_in(code: &str) -> bool {
    DEFAULT_DUE.contains(&code)
}

// --- wire types ---------------------------------------------------------------------

/// An instrument as the API shows it: its definition's fields, plus whether it is built
/// in and its total range. (Spelled out rather than `serde(flatten)`ed: the definition
/// refuses unknown fields, and a flattened schema would then refuse these extra ones.)
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstrumentView {
    pub code: String,
    pub name: String,
    pub items: Vec<Item>,
    pub bands: Vec<Band>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loinc_panel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loinc_total: Option<String>,
    pub respondents: Vec<Respondent>,
    pub safety_items: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reliable_change: Option<i64>,
    pub direction: Direction,
    /// Built into Circle (PHQ-9, GAD-7) rather than added by the clinic.
    pub built_in: bool,
    /// The lowest and highest possible totals.
    pub total_min: i64,
    pub total_max: i64,
}

impl From<&Instrument> for InstrumentView {
    fn from(i: &Instrument) -> Self {
        let (total_min, total_max) = i.total_range();
        let d = i.definition().clone();
        Self {
            code: d.code,
            name: d.name,
            items: d.items,
            bands: d.bands,
            loinc_panel: d.loinc_panel,
            loinc_total: d.loinc_total,
            respondents: d.respondents,
            safety_items: d.safety_items,
            reliable_change: d.reliable_change,
            direction: d.direction,
            built_in: is_built_in(i.code()),
            total_min,
            total_max,
        }
    }
}

/// One administration to record.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMeasureResponse {
    /// The instrument's code, e.g. `phq9`.
    pub instrument: String,
    /// Item id → the chosen option's value, for every item.
    pub answers: BTreeMap<String, i64>,
    /// When it was answered (RFC 3339); defaults to now. Never in the future.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub administered_at: Option<Timestamp>,
}

/// A recorded, scored administration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MeasureResponse {
    pub id: i64,
    pub client_id: crate::ids::ClientId,
    pub instrument: String,
    pub answers: BTreeMap<String, i64>,
    pub total: i64,
    /// The severity band's label.
    pub severity: String,
    /// UTC, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub administered_at: Timestamp,
    /// The safety alert this response raised (shown to clinical staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<i64>,
}

/// One safety item answered above 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AlertItem {
    pub item_id: String,
    pub value: i64,
}

/// A safety alert raised by a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SafetyAlert {
    pub id: i64,
    pub client_id: crate::ids::ClientId,
    pub response_id: i64,
    pub instrument: String,
    pub items: Vec<AlertItem>,
    /// The total score of the response that raised it.
    pub total: i64,
    /// UTC, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub raised_at: Timestamp,
    pub state: AlertState,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acknowledged_at: Option<Timestamp>,
    pub acknowledged_by: Option<crate::ids::UserId>,
    /// What was done, as recorded when acknowledging (encrypted at rest).
    pub action_taken: Option<String>,
}

/// Acknowledge an alert, saying what was done.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    /// 1–2000 characters.
    pub action_taken: String,
}

impl Acknowledgement {
    pub fn validate(&self) -> Result<(), DomainError> {
        if is_text_multiline(&self.action_taken, 2000) {
            Ok(())
        } else {
            Err(DomainError::invalid(
                "action_taken",
                "must be 1–2000 characters",
            ))
        }
    }
}

fn is_text_multiline(v: &str, max: usize) -> bool {
    let n = v.trim().chars().count();
    (1..=max).contains(&n)
        && !v
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
}

/// One end of a change: a response's total at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ScorePoint {
    pub response_id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub administered_at: Timestamp,
    pub total: i64,
    pub severity: String,
}

/// Change over time on one instrument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct InstrumentSummary {
    pub instrument: String,
    pub responses: usize,
    pub first: ScorePoint,
    pub latest: ScorePoint,
    /// Latest total minus first total.
    pub change: i64,
    /// Absent when the instrument sets no reliable-change threshold.
    pub flag: Option<ChangeFlag>,
    pub reliable_change: Option<i64>,
    pub direction: Direction,
}

/// A measure due for a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DueMeasure {
    pub client_id: crate::ids::ClientId,
    pub instrument: String,
    pub reason: DueReason,
    /// Due since this date (clinic time zone).
    #[schema(value_type = String)]
    pub since: Date,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use jiff::civil::date;

    fn answers(values: &[i64]) -> BTreeMap<String, i64> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| ((i + 1).to_string(), *v))
            .collect()
    }

    /// Answers summing to `total` over `n` items of 0–3.
    fn summing(n: usize, total: i64) -> BTreeMap<String, i64> {
        let mut left = total;
        let v: Vec<i64> = (0..n)
            .map(|_| {
                let x = left.min(3);
                left -= x;
                x
            })
            .collect();
        assert_eq!(left, 0);
        answers(&v)
    }

    fn fields(e: DomainError) -> Vec<String> {
        match e {
            DomainError::Invalid(f) => f.0.into_iter().map(|x| x.field).collect(),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn built_ins_are_valid_definitions() {
        for i in built_in() {
            assert!(
                Instrument::parse(i.definition().clone()).is_ok(),
                "{}",
                i.code()
            );
        }
        assert_eq!(phq9().total_range(), (0, 27));
        assert_eq!(gad7().total_range(), (0, 21));
    }

    #[test]
    fn phq9_bands_at_every_edge() {
        let p = phq9();
        for (total, band) in [
            (0, "minimal"),
            (4, "minimal"),
            (5, "mild"),
            (9, "mild"),
            (10, "moderate"),
            (14, "moderate"),
            (15, "moderately severe"),
            (19, "moderately severe"),
            (20, "severe"),
            (27, "severe"),
        ] {
            let s = p.score(&summing(9, total)).unwrap();
            assert_eq!((s.total, s.severity.as_str()), (total, band));
        }
    }

    #[test]
    fn gad7_bands_at_every_edge() {
        let g = gad7();
        for (total, band) in [
            (0, "minimal"),
            (4, "minimal"),
            (5, "mild"),
            (9, "mild"),
            (10, "moderate"),
            (14, "moderate"),
            (15, "severe"),
            (21, "severe"),
        ] {
            let s = g.score(&summing(7, total)).unwrap();
            assert_eq!((s.total, s.severity.as_str()), (total, band));
        }
    }

    #[test]
    fn item_nine_above_zero_is_a_safety_answer() {
        let p = phq9();
        assert!(
            p.score(&answers(&[0, 0, 0, 0, 0, 0, 0, 0, 0]))
                .unwrap()
                .safety_items
                .is_empty()
        );
        assert_eq!(
            p.score(&answers(&[0, 0, 0, 0, 0, 0, 0, 0, 1]))
                .unwrap()
                .safety_items,
            vec!["9".to_owned()]
        );
        // A high total without item 9 raises nothing.
        assert!(
            p.score(&answers(&[3, 3, 3, 3, 3, 3, 3, 3, 0]))
                .unwrap()
                .safety_items
                .is_empty()
        );
    }

    #[test]
    fn answers_must_cover_every_item_with_an_option_value() {
        let p = phq9();
        let mut a = answers(&[0, 0, 0, 0, 0, 0, 0, 0]);
        a.insert("2".to_owned(), 4);
        a.insert("10".to_owned(), 0);
        let f = fields(p.score(&a).unwrap_err());
        assert!(f.contains(&"answers.9".to_owned()));
        assert!(f.contains(&"answers.2".to_owned()));
        assert!(f.contains(&"answers".to_owned()));
    }

    fn tiny() -> InstrumentDefinition {
        InstrumentDefinition {
            code: "wellbeing".to_owned(),
            name: "Well-being check".to_owned(),
            items: vec![
                Item {
                    id: "a".to_owned(),
                    text: "I felt calm".to_owned(),
                    loinc: None,
                    options: vec![
                        ResponseOption {
                            value: 0,
                            label: "No".to_owned(),
                        },
                        ResponseOption {
                            value: 2,
                            label: "Yes".to_owned(),
                        },
                    ],
                },
                Item {
                    id: "b".to_owned(),
                    text: "I slept well".to_owned(),
                    loinc: None,
                    options: vec![
                        ResponseOption {
                            value: 0,
                            label: "No".to_owned(),
                        },
                        ResponseOption {
                            value: 1,
                            label: "Yes".to_owned(),
                        },
                    ],
                },
            ],
            bands: vec![
                Band {
                    min: 0,
                    max: 1,
                    label: "low".to_owned(),
                },
                Band {
                    min: 2,
                    max: 3,
                    label: "high".to_owned(),
                },
            ],
            loinc_panel: None,
            loinc_total: None,
            respondents: vec![Respondent::Client],
            safety_items: vec![],
            reliable_change: Some(2),
            direction: Direction::HigherIsBetter,
        }
    }

    #[test]
    fn a_sound_clinic_instrument_parses_and_scores() {
        let i = Instrument::parse(tiny()).unwrap();
        assert_eq!(i.total_range(), (0, 3));
        let mut a = BTreeMap::new();
        a.insert("a".to_owned(), 2);
        a.insert("b".to_owned(), 1);
        let s = i.score(&a).unwrap();
        assert_eq!((s.total, s.severity.as_str()), (3, "high"));
    }

    #[test]
    fn invalid_definitions_name_each_broken_field() {
        let mut d = tiny();
        d.code = "Bad Code".to_owned();
        d.items[1].id = "a".to_owned();
        d.items[0].options.clear();
        d.loinc_panel = Some("12345".to_owned());
        d.loinc_total = Some("12345678-1".to_owned());
        d.safety_items = vec!["zz".to_owned()];
        d.respondents.clear();
        d.reliable_change = Some(0);
        let f = fields(Instrument::parse(d).unwrap_err());
        for want in [
            "code",
            "items[1].id",
            "items[0].options",
            "loinc_panel",
            "loinc_total",
            "safety_items[0]",
            "respondents",
            "reliable_change",
        ] {
            assert!(f.contains(&want.to_owned()), "{want} missing from {f:?}");
        }
    }

    #[test]
    fn bands_must_cover_the_range_without_gaps_or_overlaps() {
        let gap = {
            let mut d = tiny();
            d.bands[1].min = 3;
            d
        };
        let overlap = {
            let mut d = tiny();
            d.bands[1].min = 1;
            d
        };
        let short = {
            let mut d = tiny();
            d.bands[1].max = 2;
            d
        };
        let beyond = {
            let mut d = tiny();
            d.bands[1].max = 4;
            d
        };
        for d in [gap, overlap, short, beyond] {
            assert_eq!(
                fields(Instrument::parse(d).unwrap_err()),
                vec!["bands".to_owned()]
            );
        }
        // Order in the list does not matter.
        let mut d = tiny();
        d.bands.reverse();
        assert!(Instrument::parse(d).is_ok());
    }

    #[test]
    fn huge_option_values_are_refused_without_overflow() {
        let mut d = tiny();
        d.items[0].options[0].value = i64::MAX;
        d.items[1].options[0].value = i64::MAX;
        let f = fields(Instrument::parse(d).unwrap_err());
        assert!(f.contains(&"items[0].options[0].value".to_owned()), "{f:?}");
    }

    /// LOINC's mod-10 check digit (the LOINC Users' Guide's algorithm, Luhn-equivalent).
    fn loinc_check_digit(num: &str) -> u32 {
        let sum: u32 = num
            .chars()
            .rev()
            .enumerate()
            .map(|(i, c)| {
                let d = c.to_digit(10).unwrap();
                if i % 2 == 0 {
                    let x = d * 2;
                    x / 10 + x % 10
                } else {
                    d
                }
            })
            .sum();
        (10 - sum % 10) % 10
    }

    #[test]
    fn built_in_loinc_codes_pass_the_check_digit() {
        assert_eq!(loinc_check_digit("12345"), 5, "the Users' Guide example");
        let mut codes = vec![];
        for i in built_in() {
            let d = i.definition();
            codes.extend(d.loinc_panel.clone());
            codes.extend(d.loinc_total.clone());
            codes.extend(d.items.iter().filter_map(|it| it.loinc.clone()));
        }
        assert_eq!(codes.len(), 4 + 9 + 7);
        for code in codes {
            let (num, check) = code.split_once('-').unwrap();
            assert_eq!(
                loinc_check_digit(num),
                check.parse::<u32>().unwrap(),
                "{code}"
            );
        }
    }

    #[test]
    fn loinc_shape() {
        for ok in ["44249-1", "1-0", "1234567-8"] {
            assert!(is_loinc(ok), "{ok}");
        }
        for bad in [
            "",
            "44249",
            "44249-12",
            "a4249-1",
            "12345678-1",
            "-1",
            "44249-x",
        ] {
            assert!(!is_loinc(bad), "{bad}");
        }
    }

    #[test]
    fn reliable_change_follows_threshold_and_direction() {
        let p = phq9();
        assert_eq!(p.change_flag(18, 12), Some(ChangeFlag::ReliableImprovement));
        assert_eq!(p.change_flag(18, 13), Some(ChangeFlag::NoReliableChange));
        assert_eq!(
            p.change_flag(10, 16),
            Some(ChangeFlag::ReliableDeterioration)
        );
        let g = gad7();
        assert_eq!(g.change_flag(12, 8), Some(ChangeFlag::ReliableImprovement));
        assert_eq!(g.change_flag(12, 9), Some(ChangeFlag::NoReliableChange));
        let up = Instrument::parse(tiny()).unwrap();
        assert_eq!(up.change_flag(0, 2), Some(ChangeFlag::ReliableImprovement));
        assert_eq!(
            up.change_flag(3, 1),
            Some(ChangeFlag::ReliableDeterioration)
        );
        let mut none = tiny();
        none.reliable_change = None;
        assert_eq!(Instrument::parse(none).unwrap().change_flag(0, 3), None);
    }

    #[test]
    fn due_at_intake_routinely_and_at_discharge() {
        let today = date(2026, 5, 20);
        let start = date(2026, 5, 1);
        assert_eq!(
            due(start, None, 14, None, today),
            Some((DueReason::Intake, start))
        );
        // A response before this episode began does not count for it.
        assert_eq!(
            due(start, None, 14, Some(date(2026, 4, 28)), today),
            Some((DueReason::Intake, start))
        );
        assert_eq!(due(start, None, 14, Some(date(2026, 5, 7)), today), None);
        assert_eq!(
            due(start, None, 14, Some(date(2026, 5, 6)), today),
            Some((DueReason::Routine, date(2026, 5, 20)))
        );
        assert_eq!(due(date(2026, 6, 1), None, 14, None, today), None);
        let end = date(2026, 5, 18);
        assert_eq!(
            due(start, Some(end), 14, Some(date(2026, 5, 10)), today),
            Some((DueReason::Discharge, date(2026, 5, 11)))
        );
        assert_eq!(
            due(start, Some(end), 14, Some(date(2026, 5, 11)), today),
            None
        );
    }

    #[test]
    fn stored_definitions_revalidate_on_read() {
        let mut d = tiny();
        d.bands.pop();
        let json = serde_json::to_string(&d).unwrap();
        assert!(serde_json::from_str::<Instrument>(&json).is_err());
    }
}
