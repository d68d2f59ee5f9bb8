//! The checker's rules and objective (`shared/bench/check_timetable.py`), rewritten over a
//! [`Solution`] as written on disk, independently of the search state: the solver's report
//! counts hard violations with it, and the tests hold it to the Python checker.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::format::{Solution, Window};
use crate::validate::Problem;

/// The objective's terms before weighting, named as the checker names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Parts {
    pub unmet_minutes: i64,
    pub unscheduled: i64,
    pub preferred_meetings: i64,
    pub empty_seats: i64,
    pub telehealth_meetings: i64,
    pub extra_days: i64,
    pub idle_minutes: i64,
    pub kept_meetings: i64,
    pub kept_leads: i64,
}

/// A solution judged by the checker's rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    pub feasible: bool,
    /// Each broken rule, tagged H1–H11 as the checker tags it.
    pub violations: Vec<String>,
    pub score: i64,
    pub parts: Parts,
    pub scheduled: usize,
    /// Weekly group minutes per track, in instance order.
    pub track_minutes: Vec<i64>,
}

fn inside(windows: &[Window], day: i64, s: i64, e: i64) -> bool {
    windows
        .iter()
        .any(|w| w.day == day && w.from <= s && e <= w.to)
}

/// Meetings on one resource's day: (start, end, group).
type Meetings = BTreeMap<(usize, i64), Vec<(i64, i64, usize)>>;
/// A clinician's meetings on a day: (start, end, group, site held at).
type HeldMeetings = BTreeMap<(usize, i64), Vec<(i64, i64, usize, Option<usize>)>>;

/// Reports overlapping neighbours in `items` (start, end, group) sorted by start.
fn overlaps(items: &mut [(i64, i64, usize)], what: &str, bad: &mut Vec<String>) {
    items.sort_unstable();
    for pair in items.windows(2) {
        if pair[1].0 < pair[0].1 {
            bad.push(format!(
                "{what}: groups #{} and #{} overlap",
                pair[0].2, pair[1].2
            ));
        }
    }
}

/// Scores `sol` and lists every hard rule it breaks.
pub fn evaluate(p: &Problem, sol: &Solution) -> Evaluation {
    let inst = &p.instance;
    let w = &inst.weights;
    let grid = &inst.grid;
    let travel = inst.travel_minutes;
    let mut bad = Vec::new();
    // H1
    let mut plan: Vec<(usize, usize, usize, usize, Option<usize>)> = Vec::new(); // entry, g, room, lead, co
    let mut seen = HashSet::new();
    for (ei, e) in sol.groups.iter().enumerate() {
        let Some(&g) = p.group_index.get(&e.group) else {
            bad.push(format!("H1 entry {ei}: unknown group"));
            continue;
        };
        if !seen.insert(g) {
            bad.push(format!("H1 group {}: listed twice", e.group));
            continue;
        }
        let Some(&r) = p.room_index.get(&e.room) else {
            bad.push(format!("H1 group {}: unknown room", e.group));
            continue;
        };
        let Some(&k) = p.clin_index.get(&e.lead) else {
            bad.push(format!("H1 group {}: unknown lead", e.group));
            continue;
        };
        let co = match &e.co {
            None => None,
            Some(c) => match p.clin_index.get(c) {
                Some(&c) => Some(c),
                None => {
                    bad.push(format!("H1 group {}: unknown co-facilitator", e.group));
                    continue;
                }
            },
        };
        plan.push((ei, g, r, k, co));
    }
    // (group, day, start, end, room)
    let mut by_room: Meetings = BTreeMap::new();
    let mut by_clin: HeldMeetings = BTreeMap::new();
    let mut by_track: Meetings = BTreeMap::new();
    let mut clin_minutes: HashMap<usize, i64> = HashMap::new();
    let mut track_minutes = vec![0i64; inst.tracks.len()];
    let mut parts = Parts::default();
    for &(ei, g, r, k, co) in &plan {
        let e = &sol.groups[ei];
        let grp = &inst.groups[g];
        let gp = &p.groups[g];
        let t = &inst.tracks[gp.track];
        let (start, end) = (e.start, e.start.saturating_add(grp.minutes));
        let room = &inst.rooms[r];
        let id = &grp.id;
        // H2
        let distinct: HashSet<i64> = e.days.iter().copied().collect();
        if distinct.len() != e.days.len() || e.days.len() as i64 != grp.meetings {
            bad.push(format!(
                "H2 group {id}: needs {} meetings on distinct days",
                grp.meetings
            ));
        }
        if !e.days.iter().all(|d| t.days.contains(d)) {
            bad.push(format!("H2 group {id}: a day outside the track's days"));
        }
        if (start - grid.open).rem_euclid(grid.step) != 0
            || start < grid.open.max(t.from)
            || end > grid.close.min(t.to)
        {
            bad.push(format!(
                "H2 group {id}: off the grid or outside the track's window"
            ));
        }
        // H3
        let site = if room.telehealth {
            None
        } else {
            p.rooms[r].site
        };
        if room.telehealth {
            if !grp.telehealth {
                bad.push(format!(
                    "H3 group {id}: telehealth room but the group is in-person only"
                ));
            }
        } else {
            if !site.is_some_and(|s| gp.sites.contains(&s)) {
                bad.push(format!(
                    "H3 group {id}: room not at one of the group's sites"
                ));
            }
            if room.capacity.unwrap_or(0) < grp.size {
                bad.push(format!("H3 group {id}: room too small"));
            }
        }
        for &d in &e.days {
            if !inside(&room.available, d, start, end) {
                bad.push(format!("H3 group {id}: room not available on day {d}"));
            }
        }
        // H4
        let lead = &inst.clinicians[k];
        if !lead.licensed {
            bad.push(format!("H4 group {id}: lead is not licensed"));
        }
        if let Some(m) = &grp.lead_modality
            && !lead.modalities.contains(m)
        {
            bad.push(format!("H4 group {id}: lead lacks the modality"));
        }
        // H5
        if grp.co_required && co.is_none() {
            bad.push(format!("H5 group {id}: co-facilitator required"));
        }
        if co == Some(k) {
            bad.push(format!("H5 group {id}: co-facilitator is the lead"));
        }
        for (who, kk) in [("lead", Some(k)), ("co-facilitator", co)] {
            let Some(kk) = kk else { continue };
            let c = &p.clins[kk];
            if !c.sites.iter().any(|s| gp.sites.contains(s)) {
                bad.push(format!(
                    "H4 group {id}: {who} works at none of the group's sites"
                ));
            } else if site.is_some_and(|s| !c.sites.contains(&s)) {
                bad.push(format!(
                    "H4 group {id}: {who} does not work at the room's site"
                ));
            }
            for &d in &e.days {
                if !inside(&inst.clinicians[kk].available, d, start, end) {
                    bad.push(format!("H4 group {id}: {who} not available on day {d}"));
                }
            }
        }
        for &d in &e.days {
            if !room.telehealth {
                by_room.entry((r, d)).or_default().push((start, end, g));
            }
            let people: HashSet<usize> = std::iter::once(k).chain(co).collect();
            for kk in people {
                let held = site.or_else(|| {
                    gp.sites
                        .iter()
                        .copied()
                        .find(|s| p.clins[kk].sites.contains(s))
                });
                by_clin
                    .entry((kk, d))
                    .or_default()
                    .push((start, end, g, held));
                *clin_minutes.entry(kk).or_default() += end - start;
            }
            if t.cohort {
                by_track
                    .entry((gp.track, d))
                    .or_default()
                    .push((start, end, g));
            }
        }
        track_minutes[gp.track] += grp.meetings * grp.minutes;
        // objective terms of the group
        for &d in &e.days {
            if inside(&lead.prefers, d, start, end) {
                parts.preferred_meetings += 1;
            }
        }
        if room.telehealth {
            parts.telehealth_meetings += e.days.len() as i64;
        } else {
            parts.empty_seats +=
                (room.capacity.unwrap_or(0) - grp.size).max(0) * e.days.len() as i64;
        }
        if let Some(cur) = &grp.current {
            if e.start == cur.start {
                let cd: HashSet<i64> = cur.days.iter().copied().collect();
                parts.kept_meetings += e
                    .days
                    .iter()
                    .copied()
                    .collect::<HashSet<i64>>()
                    .intersection(&cd)
                    .count() as i64;
            }
            if cur.lead.as_deref() == Some(e.lead.as_str()) {
                parts.kept_leads += 1;
            }
        }
    }
    for ((r, d), items) in by_room.iter_mut() {
        overlaps(
            items,
            &format!("H6 room {} day {d}", inst.rooms[*r].id),
            &mut bad,
        );
    }
    for ((k, d), items) in &by_clin {
        let mut plain: Vec<(i64, i64, usize)> = items.iter().map(|x| (x.0, x.1, x.2)).collect();
        overlaps(
            &mut plain,
            &format!("H7 clinician {} day {d}", inst.clinicians[*k].id),
            &mut bad,
        );
        // H8
        let mut spans: BTreeMap<usize, (i64, i64)> = BTreeMap::new();
        for &(s, e, _, site) in items {
            if let Some(site) = site {
                let sp = spans.entry(site).or_insert((s, e));
                sp.0 = sp.0.min(s);
                sp.1 = sp.1.max(e);
            }
        }
        let mut spans: Vec<(i64, i64)> = spans.into_values().collect();
        spans.sort_unstable();
        for pair in spans.windows(2) {
            if pair[1].0 < pair[0].1 + travel {
                bad.push(format!(
                    "H8 clinician {} day {d}: not {travel} minutes between sites",
                    inst.clinicians[*k].id
                ));
            }
        }
    }
    // H9
    let mut clin_sorted: Vec<_> = clin_minutes.into_iter().collect();
    clin_sorted.sort_unstable();
    for (k, m) in clin_sorted {
        if m > inst.clinicians[k].max_minutes {
            bad.push(format!(
                "H9 clinician {}: group minutes over max",
                inst.clinicians[k].id
            ));
        }
    }
    for ((t, d), items) in by_track.iter_mut() {
        overlaps(
            items,
            &format!("H10 track {} day {d}", inst.tracks[*t].id),
            &mut bad,
        );
    }
    // H11
    for (t, tr) in inst.tracks.iter().enumerate() {
        if let Some(max) = tr.max_minutes
            && track_minutes[t] > max
        {
            bad.push(format!("H11 track {}: minutes over max", tr.id));
        }
    }
    for (t, tr) in inst.tracks.iter().enumerate() {
        parts.unmet_minutes += (tr.required_minutes - track_minutes[t]).max(0);
        if !tr.cohort {
            continue;
        }
        let mut used = 0;
        for d in 0..grid.days {
            if let Some(items) = by_track.get(&(t, d))
                && !items.is_empty()
            {
                used += 1;
                let lo = items.iter().map(|x| x.0).min().unwrap_or(0);
                let hi = items.iter().map(|x| x.1).max().unwrap_or(0);
                let busy: i64 = items.iter().map(|x| x.1 - x.0).sum();
                parts.idle_minutes += (hi - lo - busy - tr.idle_allowance.unwrap_or(0)).max(0);
            }
        }
        parts.extra_days += (used - tr.days_target.unwrap_or(0)).max(0);
    }
    parts.unscheduled = (inst.groups.len() - plan.len()) as i64;
    let score = -w.unmet_minute * parts.unmet_minutes - w.unscheduled_group * parts.unscheduled
        + w.preference * parts.preferred_meetings
        - w.empty_seat * parts.empty_seats
        - w.telehealth_meeting * parts.telehealth_meetings
        - w.extra_day * parts.extra_days
        - w.idle_minute * parts.idle_minutes
        + w.keep_meeting * parts.kept_meetings
        + w.keep_lead * parts.kept_leads;
    Evaluation {
        feasible: bad.is_empty(),
        violations: bad,
        score,
        parts,
        scheduled: plan.len(),
        track_minutes,
    }
}
