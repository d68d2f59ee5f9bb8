//! iCalendar (RFC 5545) writing for every calendar feed Circle serves: a client's own
//! (`/feed/{secret}.ics`) and the staff feeds of a clinician or a room
//! (`/staff-feed/{secret}.ics`).
//!
//! Written by hand rather than with the `icalendar` crate: a feed needs a VTIMEZONE built
//! from the zone's real transitions (which that crate does not generate), and the rest is a
//! dozen property lines whose escaping (§3.3.11) and line folding (§3.1) are done here and
//! unit-tested — a dependency would not save code. Third-party parsers check the output in
//! CI (`.ci/ical-validate.sh`).

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};

/// One event of a feed, as the feed's reader may see it: the caller chose the title (a
/// client's own group's name; for staff, discreet unless the clinic shows names) and
/// whether a join URL belongs in it.
#[derive(Debug, Clone)]
pub struct FeedEvent {
    pub session_id: i64,
    pub title: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// The program's IANA zone, in which the group meets.
    pub time_zone: String,
    /// The room's name, or "Telehealth".
    pub location: String,
    pub cancelled: bool,
    pub join_url: Option<String>,
}

/// TEXT values escape backslash, semicolon, comma and newlines (§3.3.11).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Folds a content line at 75 octets, never inside a UTF-8 character (§3.1), and ends it
/// with CRLF.
pub fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

fn utc(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

fn offset(o: Offset) -> String {
    let s = o.seconds();
    let sign = if s < 0 { '-' } else { '+' };
    let a = s.unsigned_abs();
    format!("{sign}{:02}{:02}", a / 3600, (a % 3600) / 60)
}

/// The VTIMEZONE for `name` covering `[from, until]`: each transition in that span as its
/// own STANDARD or DAYLIGHT observance (no RRULE to get wrong), starting with the one in
/// force at `from`.
fn vtimezone(name: &str, tz: &TimeZone, from: Timestamp, until: Timestamp, out: &mut Vec<String>) {
    out.push("BEGIN:VTIMEZONE".to_owned());
    out.push(format!("TZID:{name}"));
    let mut observances = Vec::new();
    if let Some(t) = tz.preceding(from).next() {
        observances.push(t.timestamp());
    }
    observances.extend(
        tz.following(from)
            .take_while(|t| t.timestamp() <= until)
            .map(|t| t.timestamp()),
    );
    if observances.is_empty() {
        let o = tz.to_offset(from);
        out.extend([
            "BEGIN:STANDARD".to_owned(),
            "DTSTART:19700101T000000".to_owned(),
            format!("TZOFFSETFROM:{}", offset(o)),
            format!("TZOFFSETTO:{}", offset(o)),
            "END:STANDARD".to_owned(),
        ]);
    }
    for at in observances {
        let info = tz.to_offset_info(at);
        let before = tz.to_offset(
            at.checked_sub(jiff::SignedDuration::from_secs(1))
                .unwrap_or(at),
        );
        let kind = if info.dst().is_dst() {
            "DAYLIGHT"
        } else {
            "STANDARD"
        };
        // DTSTART is the local time of the change as read before it (§3.6.5).
        let local = before.to_datetime(at);
        out.push(format!("BEGIN:{kind}"));
        out.push(format!("DTSTART:{}", local.strftime("%Y%m%dT%H%M%S")));
        out.push(format!("TZOFFSETFROM:{}", offset(before)));
        out.push(format!("TZOFFSETTO:{}", offset(info.offset())));
        out.push(format!("TZNAME:{}", escape(info.abbreviation())));
        out.push(format!("END:{kind}"));
    }
    out.push("END:VTIMEZONE".to_owned());
}

/// The calendar named `name`: one VTIMEZONE per zone used, one VEVENT per event (its
/// title, local time with its TZID, location, and for online sessions the join URL as
/// `URL` and in the description); nothing about members, no clinical content.
pub fn calendar(name: &str, events: &[FeedEvent], now: Timestamp) -> String {
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//Circle//Group schedule//EN".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
        "METHOD:PUBLISH".to_owned(),
        format!("X-WR-CALNAME:{}", escape(name)),
    ];
    let zones: BTreeSet<&str> = events.iter().map(|s| s.time_zone.as_str()).collect();
    if let Some(first) = zones.iter().next() {
        lines.push(format!("X-WR-TIMEZONE:{first}"));
    }
    let from = events.iter().map(|s| s.starts_at).min().unwrap_or(now);
    let until = events.iter().map(|s| s.ends_at).max().unwrap_or(now);
    for name in &zones {
        if let Ok(tz) = TimeZone::get(name) {
            vtimezone(name, &tz, from, until, &mut lines);
        }
    }
    for s in events {
        lines.push("BEGIN:VEVENT".to_owned());
        lines.push(format!("UID:session-{}@circle", s.session_id));
        lines.push(format!("DTSTAMP:{}", utc(now)));
        match TimeZone::get(&s.time_zone) {
            Ok(tz) => {
                let local =
                    |t: Timestamp| t.to_zoned(tz.clone()).strftime("%Y%m%dT%H%M%S").to_string();
                lines.push(format!(
                    "DTSTART;TZID={}:{}",
                    s.time_zone,
                    local(s.starts_at)
                ));
                lines.push(format!("DTEND;TZID={}:{}", s.time_zone, local(s.ends_at)));
            }
            // A zone this build does not know: exact UTC times are still right.
            Err(_) => {
                lines.push(format!("DTSTART:{}", utc(s.starts_at)));
                lines.push(format!("DTEND:{}", utc(s.ends_at)));
            }
        }
        lines.push(format!("SUMMARY:{}", escape(&s.title)));
        lines.push(format!("LOCATION:{}", escape(&s.location)));
        if let Some(url) = &s.join_url {
            // URI values are not TEXT-escaped (§3.3.13); JoinUrl holds no spaces or
            // control characters, so the line folds safely.
            lines.push(format!("URL:{url}"));
            lines.push(format!(
                "DESCRIPTION:{}",
                escape(&format!("Join online: {url}"))
            ));
        }
        lines.push(
            if s.cancelled {
                "STATUS:CANCELLED"
            } else {
                "STATUS:CONFIRMED"
            }
            .to_owned(),
        );
        lines.push("TRANSP:OPAQUE".to_owned());
        lines.push("END:VEVENT".to_owned());
    }
    lines.push("END:VCALENDAR".to_owned());
    let mut out = String::new();
    for l in &lines {
        fold(l, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_long_lines_fold_at_75_octets_between_characters() {
        assert_eq!(escape("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
        let mut out = String::new();
        let long = format!("SUMMARY:{}", "é".repeat(60));
        fold(&long, &mut out);
        for line in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= 75, "{line}");
        }
        let unfolded = out.replace("\r\n ", "");
        assert_eq!(unfolded, format!("{long}\r\n"));
    }

    fn event(id: i64, start: &str, end: &str) -> FeedEvent {
        FeedEvent {
            session_id: id,
            title: "Monday, process".to_owned(),
            starts_at: start.parse().unwrap(),
            ends_at: end.parse().unwrap(),
            time_zone: "America/New_York".to_owned(),
            location: "Telehealth".to_owned(),
            cancelled: false,
            join_url: None,
        }
    }

    #[test]
    fn summer_and_winter_sessions_carry_their_local_times_and_the_zone() {
        let cal = calendar(
            "My groups",
            &[
                event(1, "2026-10-26T14:00:00Z", "2026-10-26T15:30:00Z"),
                event(2, "2026-11-02T15:00:00Z", "2026-11-02T16:30:00Z"),
            ],
            "2026-10-20T12:00:00Z".parse().unwrap(),
        );
        assert!(cal.contains("DTSTART;TZID=America/New_York:20261026T100000\r\n"));
        assert!(cal.contains("DTSTART;TZID=America/New_York:20261102T100000\r\n"));
        assert!(cal.contains("TZID:America/New_York\r\n"));
        // The fall-back change on 1 November 2026 at 02:00 EDT.
        assert!(cal.contains(
            "BEGIN:STANDARD\r\nDTSTART:20261101T020000\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nTZNAME:EST\r\n"
        ), "{cal}");
        assert!(cal.contains("SUMMARY:Monday\\, process\r\n"));
        assert!(cal.contains("LOCATION:Telehealth\r\n"));
        assert!(cal.contains("X-WR-CALNAME:My groups\r\n"));
        assert!(!cal.contains("URL:"), "no join URL given, none written");
        assert!(cal.starts_with("BEGIN:VCALENDAR\r\n") && cal.ends_with("END:VCALENDAR\r\n"));
    }

    #[test]
    fn a_join_url_is_the_events_url_and_is_in_its_description() {
        let mut e = event(3, "2026-10-26T14:00:00Z", "2026-10-26T15:30:00Z");
        e.join_url = Some("https://video.example.org/j/1?pwd=a,b".to_owned());
        let cal = calendar("C", &[e], "2026-10-20T12:00:00Z".parse().unwrap());
        let unfolded = cal.replace("\r\n ", "");
        assert!(
            unfolded.contains("URL:https://video.example.org/j/1?pwd=a,b\r\n"),
            "{cal}"
        );
        assert!(
            unfolded
                .contains("DESCRIPTION:Join online: https://video.example.org/j/1?pwd=a\\,b\r\n"),
            "{cal}"
        );
    }
}
