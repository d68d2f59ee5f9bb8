//! An upper bound on every timetable's score, from per-track relaxations.
//!
//! The score is a sum over tracks of the track's own terms (unmet minutes, extra days, idle
//! time) and its groups' terms (preferences, seats, telehealth, kept meetings and leads,
//! the unscheduled penalty). Dropping every rule that links two groups through a room or a
//! clinician, and every rule inside a track except its cap, leaves one small problem per
//! track:
//!
//! - each group's best own terms alone: the best room, lead and start that are available
//!   on some allowed day set, chosen independently (a relaxation of choosing them
//!   together);
//! - which groups the track runs: every subset under the cap is tried (tracks of up to 16
//!   groups), charging unmet minutes exactly and extra days from a lower bound on the days
//!   the subset needs (its longest group's meetings, and its minutes over the window).
//!
//! Each part only relaxes a rule, so the sum bounds the optimum from above.

use crate::validate::{Mask, Problem};

/// Tracks with more groups than this drop the unmet-minutes term (still a bound) rather
/// than enumerate subsets.
const MAX_EXACT_GROUPS: usize = 16;

/// The best own terms group `g` can earn in any placement that is available for a room, a
/// lead and (when required) a co-facilitator, each checked alone; `None` when no placement
/// is available at all.
fn group_best(p: &Problem, g: usize) -> Option<i64> {
    let w = &p.instance.weights;
    let grp = &p.groups[g];
    let weekly = grp.minutes * grp.meetings as i64;
    let and_days = |f: &[Mask], combo: u8| -> Mask {
        let mut m = Mask::MAX;
        for (d, &x) in f.iter().enumerate() {
            if combo & (1 << d) != 0 {
                m &= x;
            }
        }
        m
    };
    let mut best: Option<i64> = None;
    for &combo in &grp.combos {
        let base = grp.base;
        let mut room_any: Mask = 0;
        // rooms sorted best value first: the first room covering a start is its best
        let mut rv = [i64::MIN; 128];
        for &r in &grp.rooms {
            let m = and_days(&p.rooms[r].avail[grp.dur], combo) & base & !room_any;
            let v = p.room_value(g, r);
            let mut b = m;
            while b != 0 {
                let i = b.trailing_zeros() as usize;
                b &= b - 1;
                rv[i] = v;
            }
            room_any |= m;
        }
        if room_any == 0 {
            continue;
        }
        let mut co_any: Mask = if grp.co_required { 0 } else { Mask::MAX };
        for &k in &grp.cos {
            if p.clins[k].max_minutes >= weekly {
                co_any |= and_days(&p.clins[k].avail[grp.dur], combo);
            }
        }
        let mut lv = [i64::MIN; 128];
        let mut lead_any: Mask = 0;
        for &k in &grp.leads {
            let m = and_days(&p.clins[k].avail[grp.dur], combo) & room_any & co_any;
            let keep = if grp.current.as_ref().is_some_and(|c| c.lead == Some(k)) {
                w.keep_lead
            } else {
                0
            };
            let pref = &p.clins[k].prefers[grp.dur];
            let mut b = m;
            while b != 0 {
                let i = b.trailing_zeros() as usize;
                b &= b - 1;
                let mut v = keep;
                for (d, &x) in pref.iter().enumerate() {
                    if combo & (1 << d) != 0 && x & (1 << i) != 0 {
                        v += w.preference;
                    }
                }
                lv[i] = lv[i].max(v);
            }
            lead_any |= m;
        }
        let mut b = lead_any;
        while b != 0 {
            let i = b.trailing_zeros() as usize;
            b &= b - 1;
            let mut v = rv[i] + lv[i];
            if let Some(c) = &grp.current
                && c.start == Some(i)
            {
                v += w.keep_meeting * (c.days & combo).count_ones() as i64;
            }
            if best.is_none_or(|x| v > x) {
                best = Some(v);
            }
        }
    }
    best
}

/// The per-track relaxation bound (see the module comment).
pub(crate) fn upper_bound(p: &Problem) -> i64 {
    let w = &p.instance.weights;
    let grid = &p.instance.grid;
    let own: Vec<Option<i64>> = (0..p.groups.len()).map(|g| group_best(p, g)).collect();
    let mut total = 0i64;
    for (t, tr) in p.tracks.iter().enumerate() {
        let inst_t = &p.instance.tracks[t];
        let window = inst_t.to.min(grid.close) - inst_t.from.max(grid.open);
        // Groups that can run at all, with their gain over staying unscheduled.
        let mut items: Vec<(i64, i64, usize)> = Vec::new(); // gain, weekly, meetings
        for &g in &tr.groups {
            total -= w.unscheduled_group;
            let grp = &p.groups[g];
            let weekly = grp.minutes * grp.meetings as i64;
            if let Some(v) = own[g]
                && tr.max.is_none_or(|m| weekly <= m)
            {
                items.push((v + w.unscheduled_group, weekly, grp.meetings));
            }
        }
        if items.len() > MAX_EXACT_GROUPS {
            total += items.iter().map(|x| x.0.max(0)).sum::<i64>();
            continue;
        }
        let mut best = i64::MIN;
        for subset in 0u32..(1 << items.len()) {
            let (mut gain, mut minutes, mut days) = (0i64, 0i64, 0i64);
            for (j, &(v, weekly, meetings)) in items.iter().enumerate() {
                if subset & (1 << j) != 0 {
                    gain += v;
                    minutes += weekly;
                    days = days.max(meetings as i64);
                }
            }
            if tr.max.is_some_and(|m| minutes > m) {
                continue;
            }
            let mut v = gain - w.unmet_minute * (tr.required - minutes).max(0);
            if tr.cohort && minutes > 0 {
                if window > 0 {
                    days = days.max((minutes + window - 1) / window);
                }
                v -= w.extra_day * (days - tr.target).max(0);
            }
            best = best.max(v);
        }
        total += best;
    }
    total
}
