//! The search state: who meets when, with per-resource busy lists kept in step, the score
//! kept incrementally, and the one operation everything else is built from — the best
//! placement of a single group against everything else in the timetable.
//!
//! Feasible starts are bit masks over the grid: a resource's free starts for a meeting of
//! `dur` minutes on a day are its availability minus, for each busy interval `[a, b)`, the
//! contiguous run of starts `s` with `a − dur < s < b`. A group's starts on a day set are
//! the AND over its days, so a whole (days, room, lead) choice costs a few word operations.

use crate::rng::Rng;
use crate::validate::{Mask, Problem};

/// One group's weekly pattern, by index. `start` is a grid index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
    pub days: u8,
    pub start: usize,
    pub room: usize,
    pub lead: usize,
    pub co: Option<usize>,
}

/// A meeting on a resource's day: `[s, e)`, its group and (for clinicians) the site it is
/// held at.
#[derive(Debug, Clone, Copy)]
struct Busy {
    s: i64,
    e: i64,
    g: usize,
    site: Option<usize>,
}

#[derive(Debug, Clone)]
pub(crate) struct State<'p> {
    pub p: &'p Problem,
    pub place: Vec<Option<Placement>>,
    room_busy: Vec<Vec<Vec<Busy>>>,
    clin_busy: Vec<Vec<Vec<Busy>>>,
    pub clin_min: Vec<i64>,
    track_busy: Vec<Vec<Vec<Busy>>>,
    pub track_min: Vec<i64>,
    group_val: Vec<i64>,
    track_val: Vec<i64>,
    pub score: i64,
}

fn bits(mut m: Mask) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if m == 0 {
            None
        } else {
            let i = m.trailing_zeros() as usize;
            m &= m - 1;
            Some(i)
        }
    })
}

fn day_bits(mut m: u8) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if m == 0 {
            None
        } else {
            let d = m.trailing_zeros() as usize;
            m &= m - 1;
            Some(d)
        }
    })
}

/// Summary of a cohort track's day: first start, last end, busy minutes, meetings.
#[derive(Debug, Clone, Copy, Default)]
struct DaySpan {
    lo: i64,
    hi: i64,
    busy: i64,
    n: usize,
}

impl<'p> State<'p> {
    pub fn new(p: &'p Problem) -> State<'p> {
        let days = p.days;
        let unscheduled = p.instance.weights.unscheduled_group;
        let mut s = State {
            p,
            place: vec![None; p.groups.len()],
            room_busy: vec![vec![Vec::new(); days]; p.rooms.len()],
            clin_busy: vec![vec![Vec::new(); days]; p.clins.len()],
            clin_min: vec![0; p.clins.len()],
            track_busy: vec![vec![Vec::new(); days]; p.tracks.len()],
            track_min: vec![0; p.tracks.len()],
            group_val: vec![-unscheduled; p.groups.len()],
            track_val: vec![0; p.tracks.len()],
            score: 0,
        };
        for t in 0..p.tracks.len() {
            s.track_val[t] = s.track_value(t);
        }
        s.score = s.group_val.iter().sum::<i64>() + s.track_val.iter().sum::<i64>();
        s
    }

    /// Starts (grid indices) whose meeting of `dur` minutes overlaps an item of `list`.
    fn conflicts(&self, list: &[Busy], dur: i64) -> Mask {
        let p = self.p;
        let n = p.n_starts as i64;
        let mut m: Mask = 0;
        for b in list {
            // s = open + i·step overlaps [a, b) when a − dur < s < b.
            let lo = (b.s - dur - p.open).div_euclid(p.step) + 1;
            let hi = (b.e - p.open + p.step - 1).div_euclid(p.step) - 1;
            let lo = lo.max(0);
            let hi = hi.min(n - 1);
            if lo <= hi {
                let width = (hi - lo + 1) as u32;
                let run: Mask = if width >= 128 {
                    Mask::MAX
                } else {
                    ((1 as Mask) << width) - 1
                };
                m |= run << lo;
            }
        }
        m
    }

    fn span(list: &[Busy]) -> DaySpan {
        let mut sp = DaySpan::default();
        for b in list {
            if sp.n == 0 {
                sp.lo = b.s;
                sp.hi = b.e;
            } else {
                sp.lo = sp.lo.min(b.s);
                sp.hi = sp.hi.max(b.e);
            }
            sp.busy += b.e - b.s;
            sp.n += 1;
        }
        sp
    }

    fn idle_of(sp: DaySpan, allowance: i64) -> i64 {
        if sp.n == 0 {
            0
        } else {
            (sp.hi - sp.lo - sp.busy - allowance).max(0)
        }
    }

    /// The track's own terms: unmet minutes, extra days and idle time.
    fn track_value(&self, t: usize) -> i64 {
        let w = &self.p.instance.weights;
        let tr = &self.p.tracks[t];
        let mut v = -w.unmet_minute * (tr.required - self.track_min[t]).max(0);
        if tr.cohort {
            let mut used = 0i64;
            for day in &self.track_busy[t] {
                if !day.is_empty() {
                    used += 1;
                    v -= w.idle_minute * Self::idle_of(Self::span(day), tr.idle);
                }
            }
            v -= w.extra_day * (used - tr.target).max(0);
        }
        v
    }

    /// Track `t`'s share of the score: its own terms and its groups' terms.
    pub fn track_share(&self, t: usize) -> i64 {
        self.track_val[t]
            + self.p.tracks[t]
                .groups
                .iter()
                .map(|&g| self.group_val[g])
                .sum::<i64>()
    }

    /// The group's own terms when placed as `pl`.
    pub fn local_value(&self, g: usize, pl: &Placement) -> i64 {
        let p = self.p;
        let w = &p.instance.weights;
        let grp = &p.groups[g];
        let mut v = p.room_value(g, pl.room);
        let prefers = &p.clins[pl.lead].prefers[grp.dur];
        for d in day_bits(pl.days) {
            if prefers[d] & (1 << pl.start) != 0 {
                v += w.preference;
            }
        }
        if let Some(c) = &grp.current {
            if c.start == Some(pl.start) {
                v += w.keep_meeting * (c.days & pl.days).count_ones() as i64;
            }
            if c.lead == Some(pl.lead) {
                v += w.keep_lead;
            }
        }
        v
    }

    pub fn insert(&mut self, g: usize, pl: Placement) {
        debug_assert!(self.place[g].is_none());
        let p = self.p;
        let grp = &p.groups[g];
        let t = grp.track;
        let s = p.start_minute(pl.start);
        let e = s + grp.minutes;
        let weekly = grp.minutes * grp.meetings as i64;
        let cohort = p.tracks[t].cohort;
        for d in day_bits(pl.days) {
            if !p.rooms[pl.room].tele {
                self.room_busy[pl.room][d].push(Busy {
                    s,
                    e,
                    g,
                    site: None,
                });
            }
            for k in std::iter::once(pl.lead).chain(pl.co) {
                let site = p.held(k, g, pl.room);
                self.clin_busy[k][d].push(Busy { s, e, g, site });
            }
            if cohort {
                self.track_busy[t][d].push(Busy {
                    s,
                    e,
                    g,
                    site: None,
                });
            }
        }
        for k in std::iter::once(pl.lead).chain(pl.co) {
            self.clin_min[k] += weekly;
        }
        self.track_min[t] += weekly;
        let gv = self.local_value(g, &pl);
        self.score += gv - self.group_val[g];
        self.group_val[g] = gv;
        let tv = self.track_value(t);
        self.score += tv - self.track_val[t];
        self.track_val[t] = tv;
        self.place[g] = Some(pl);
    }

    pub fn remove(&mut self, g: usize) -> Option<Placement> {
        let pl = self.place[g].take()?;
        let p = self.p;
        let grp = &p.groups[g];
        let t = grp.track;
        let weekly = grp.minutes * grp.meetings as i64;
        for d in day_bits(pl.days) {
            self.room_busy[pl.room][d].retain(|b| b.g != g);
            for k in std::iter::once(pl.lead).chain(pl.co) {
                self.clin_busy[k][d].retain(|b| b.g != g);
            }
            self.track_busy[t][d].retain(|b| b.g != g);
        }
        for k in std::iter::once(pl.lead).chain(pl.co) {
            self.clin_min[k] -= weekly;
        }
        self.track_min[t] -= weekly;
        let gv = -p.instance.weights.unscheduled_group;
        self.score += gv - self.group_val[g];
        self.group_val[g] = gv;
        let tv = self.track_value(t);
        self.score += tv - self.track_val[t];
        self.track_val[t] = tv;
        Some(pl)
    }

    /// Starts at which clinician `k` can hold a meeting of group `g`'s length on day `d`
    /// at site `held`: available, not busy, and leaving the travel time to every other
    /// site's span that day (H8).
    fn clin_free(&self, k: usize, g: usize, d: usize, held: Option<usize>) -> Mask {
        let p = self.p;
        let grp = &p.groups[g];
        let list = &self.clin_busy[k][d];
        let mut m = p.clins[k].avail[grp.dur][d] & !self.conflicts(list, grp.minutes);
        if m == 0 || p.clins[k].sites.len() < 2 || list.is_empty() {
            return m;
        }
        let Some(h) = held else { return m };
        if list.iter().all(|b| b.site.is_none() || b.site == Some(h)) {
            return m;
        }
        let travel = p.instance.travel_minutes;
        let mine = Self::span(
            &list
                .iter()
                .copied()
                .filter(|b| b.site == Some(h))
                .collect::<Vec<_>>(),
        );
        let mut others: Vec<(Option<usize>, i64, i64)> = Vec::new();
        for b in list {
            if b.site.is_some() && b.site != Some(h) {
                match others.iter_mut().find(|o| o.0 == b.site) {
                    Some(o) => {
                        o.1 = o.1.min(b.s);
                        o.2 = o.2.max(b.e);
                    }
                    None => others.push((b.site, b.s, b.e)),
                }
            }
        }
        for i in bits(m) {
            let s = p.start_minute(i);
            let e = s + grp.minutes;
            let (lo, hi) = if mine.n == 0 {
                (s, e)
            } else {
                (mine.lo.min(s), mine.hi.max(e))
            };
            if !others
                .iter()
                .all(|&(_, a, b)| hi + travel <= a || b + travel <= lo)
            {
                m &= !((1 as Mask) << i);
            }
        }
        m
    }

    /// The best placement of unplaced group `g` against the rest of the timetable, and the
    /// change in score it brings. With `blink`, each (days, location) option is skipped
    /// with that probability, so repeated calls explore near-best alternatives.
    pub fn best(&self, g: usize, mut blink: Option<(&mut Rng, f64)>) -> Option<(Placement, i64)> {
        debug_assert!(self.place[g].is_none());
        let p = self.p;
        let w = &p.instance.weights;
        let grp = &p.groups[g];
        let t = grp.track;
        let tr = &p.tracks[t];
        let weekly = grp.minutes * grp.meetings as i64;
        if tr.max.is_some_and(|max| self.track_min[t] + weekly > max) {
            return None;
        }
        let days = p.days;
        let dur = grp.minutes;
        let fixed = w.unscheduled_group
            + w.unmet_minute
                * ((tr.required - self.track_min[t]).max(0)
                    - (tr.required - self.track_min[t] - weekly).max(0));
        let mut spans = [DaySpan::default(); 8];
        let mut used = 0u8;
        let mut tfree = [0 as Mask; 8];
        for d in 0..days {
            tfree[d] = grp.base;
            if tr.cohort {
                let list = &self.track_busy[t][d];
                spans[d] = Self::span(list);
                if spans[d].n > 0 {
                    used |= 1 << d;
                }
                tfree[d] &= !self.conflicts(list, dur);
            }
        }
        let extra_now = (used.count_ones() as i64 - tr.target).max(0);
        // Per-day free masks of the candidate rooms.
        let room_free: Vec<[Mask; 8]> = grp
            .rooms
            .iter()
            .map(|&r| {
                let mut f = [0 as Mask; 8];
                for d in 0..days {
                    f[d] = p.rooms[r].avail[grp.dur][d] & tfree[d];
                    if !p.rooms[r].tele && f[d] != 0 {
                        f[d] &= !self.conflicts(&self.room_busy[r][d], dur);
                    }
                }
                f
            })
            .collect();
        // Locations: each of the group's sites in person, then telehealth.
        let tele_ok = grp.rooms.iter().any(|&r| p.rooms[r].tele);
        let locations: Vec<Option<usize>> = grp
            .sites
            .iter()
            .map(|&s| Some(s))
            .chain(tele_ok.then_some(None))
            .collect();
        let clin_ok = |k: usize, loc: Option<usize>| {
            self.clin_min[k] + weekly <= p.clins[k].max_minutes
                && loc.is_none_or(|s| p.clins[k].sites.contains(&s))
        };
        let held = |k: usize, loc: Option<usize>| {
            loc.or_else(|| {
                grp.sites
                    .iter()
                    .copied()
                    .find(|s| p.clins[k].sites.contains(s))
            })
        };
        let mut best: Option<(Placement, i64)> = None;
        let mut rv = [0i64; 128];
        let mut rsel = [0usize; 128];
        let mut lv = [0i64; 128];
        let mut lsel = [0usize; 128];
        let mut c1 = [0usize; 128];
        let mut c2 = [0usize; 128];
        // Clinician free masks per (clinician, location), computed once per call.
        let mut lead_free: Vec<Vec<Option<[Mask; 8]>>> = Vec::with_capacity(locations.len());
        let mut co_free: Vec<Vec<Option<[Mask; 8]>>> = Vec::with_capacity(locations.len());
        let free_days = |k: usize, loc: Option<usize>| -> [Mask; 8] {
            let h = held(k, loc);
            let mut f = [0 as Mask; 8];
            for (d, slot) in f.iter_mut().enumerate().take(days) {
                *slot = self.clin_free(k, g, d, h);
            }
            f
        };
        for &loc in &locations {
            lead_free.push(
                grp.leads
                    .iter()
                    .map(|&k| clin_ok(k, loc).then(|| free_days(k, loc)))
                    .collect(),
            );
            co_free.push(
                grp.cos
                    .iter()
                    .map(|&k| clin_ok(k, loc).then(|| free_days(k, loc)))
                    .collect(),
            );
        }
        let and_days = |f: &[Mask; 8], combo: u8| -> Mask {
            let mut m = Mask::MAX;
            for d in day_bits(combo) {
                m &= f[d];
            }
            m
        };
        let cur = grp.current.as_ref();
        for &combo in &grp.combos {
            let mut tmask = grp.base;
            for d in day_bits(combo) {
                tmask &= tfree[d];
            }
            if tmask == 0 {
                continue;
            }
            let new_used = (used | combo).count_ones() as i64;
            let extra_delta = if tr.cohort {
                -w.extra_day * ((new_used - tr.target).max(0) - extra_now)
            } else {
                0
            };
            for (li, &loc) in locations.iter().enumerate() {
                if let Some((rng, prob)) = blink.as_mut()
                    && rng.unit() < *prob
                {
                    continue;
                }
                let mut covered: Mask = 0;
                for (ri, &r) in grp.rooms.iter().enumerate() {
                    if p.rooms[r].site != loc {
                        continue;
                    }
                    let m = and_days(&room_free[ri], combo) & tmask & !covered;
                    if m == 0 {
                        continue;
                    }
                    let v = p.room_value(g, r);
                    for i in bits(m) {
                        rv[i] = v;
                        rsel[i] = r;
                    }
                    covered |= m;
                }
                if covered == 0 {
                    continue;
                }
                let mut lcov: Mask = 0;
                for (ki, &k) in grp.leads.iter().enumerate() {
                    let Some(f) = &lead_free[li][ki] else {
                        continue;
                    };
                    let m = and_days(f, combo) & covered;
                    if m == 0 {
                        continue;
                    }
                    let keep = if cur.is_some_and(|c| c.lead == Some(k)) {
                        w.keep_lead
                    } else {
                        0
                    };
                    let pref = &p.clins[k].prefers[grp.dur];
                    for i in bits(m) {
                        let mut v = keep;
                        for d in day_bits(combo) {
                            if pref[d] & (1 << i) != 0 {
                                v += w.preference;
                            }
                        }
                        if lcov & (1 << i) == 0 || v > lv[i] {
                            lv[i] = v;
                            lsel[i] = k;
                        }
                    }
                    lcov |= m;
                }
                let mut ok = covered & lcov;
                let (mut co1, mut co2): (Mask, Mask) = (0, 0);
                if grp.co_required {
                    for (ki, &k) in grp.cos.iter().enumerate() {
                        let Some(f) = &co_free[li][ki] else { continue };
                        let m = and_days(f, combo) & ok & !co2;
                        if m == 0 {
                            continue;
                        }
                        for i in bits(m) {
                            if co1 & (1 << i) == 0 {
                                c1[i] = k;
                            } else {
                                c2[i] = k;
                            }
                        }
                        co2 |= m & co1;
                        co1 |= m;
                    }
                    ok &= co1;
                }
                for i in bits(ok) {
                    let co = if grp.co_required {
                        if c1[i] != lsel[i] {
                            Some(c1[i])
                        } else if co2 & (1 << i) != 0 {
                            Some(c2[i])
                        } else {
                            continue;
                        }
                    } else {
                        None
                    };
                    let mut v = fixed + extra_delta + rv[i] + lv[i];
                    if let Some(c) = cur
                        && c.start == Some(i)
                    {
                        v += w.keep_meeting * (c.days & combo).count_ones() as i64;
                    }
                    if tr.cohort {
                        let s = p.start_minute(i);
                        let e = s + dur;
                        for d in day_bits(combo) {
                            let sp = spans[d];
                            let before = Self::idle_of(sp, tr.idle);
                            let after = if sp.n == 0 {
                                0
                            } else {
                                Self::idle_of(
                                    DaySpan {
                                        lo: sp.lo.min(s),
                                        hi: sp.hi.max(e),
                                        busy: sp.busy + dur,
                                        n: sp.n + 1,
                                    },
                                    tr.idle,
                                )
                            };
                            v -= w.idle_minute * (after - before);
                        }
                    }
                    if best.is_none_or(|(_, bv)| v > bv) {
                        best = Some((
                            Placement {
                                days: combo,
                                start: i,
                                room: rsel[i],
                                lead: lsel[i],
                                co,
                            },
                            v,
                        ));
                    }
                }
            }
        }
        best
    }

    /// Groups that hold a resource group `g` could use (one of its leads or
    /// co-facilitators, one of its in-person rooms, its cohort track), once per meeting:
    /// the groups that may stand in its way.
    pub fn blockers(&self, g: usize, out: &mut Vec<usize>) {
        out.clear();
        let p = self.p;
        let grp = &p.groups[g];
        for &k in grp.leads.iter().chain(&grp.cos) {
            for day in &self.clin_busy[k] {
                out.extend(day.iter().map(|b| b.g));
            }
        }
        for &r in &grp.rooms {
            for day in &self.room_busy[r] {
                out.extend(day.iter().map(|b| b.g));
            }
        }
        for day in &self.track_busy[grp.track] {
            out.extend(day.iter().map(|b| b.g));
        }
        out.retain(|&h| h != g);
    }

    /// A placement of group `g` that its rooms', leads' and co-facilitators' availability
    /// allow, ignoring every other group: drawn at random, `None` after a few misses.
    pub fn sample_free_of_others(&self, g: usize, rng: &mut Rng) -> Option<Placement> {
        let p = self.p;
        let grp = &p.groups[g];
        if grp.combos.is_empty() || grp.rooms.is_empty() || grp.leads.is_empty() {
            return None;
        }
        let all = |f: &[Mask], combo: u8| day_bits(combo).fold(Mask::MAX, |m, d| m & f[d]);
        for _ in 0..8 {
            let combo = grp.combos[rng.below(grp.combos.len())];
            let room = grp.rooms[rng.below(grp.rooms.len())];
            let loc = p.rooms[room].site;
            let m = grp.base & all(&p.rooms[room].avail[grp.dur], combo);
            if m == 0 {
                continue;
            }
            let starts: Vec<usize> = bits(m).collect();
            let start = starts[rng.below(starts.len())];
            let bit = (1 as Mask) << start;
            let usable = |k: usize| {
                loc.is_none_or(|s| p.clins[k].sites.contains(&s))
                    && all(&p.clins[k].avail[grp.dur], combo) & bit != 0
            };
            let leads: Vec<usize> = grp.leads.iter().copied().filter(|&k| usable(k)).collect();
            if leads.is_empty() {
                continue;
            }
            let lead = leads[rng.below(leads.len())];
            let co = if grp.co_required {
                let cos: Vec<usize> = grp
                    .cos
                    .iter()
                    .copied()
                    .filter(|&k| k != lead && usable(k))
                    .collect();
                if cos.is_empty() {
                    continue;
                }
                Some(cos[rng.below(cos.len())])
            } else {
                None
            };
            return Some(Placement {
                days: combo,
                start,
                room,
                lead,
                co,
            });
        }
        None
    }

    /// Takes out every group that stands in the way of placing unplaced group `g` as `pl`
    /// (same room, lead, co-facilitator or cohort track at an overlapping time; then
    /// groups of a clinician or track over its weekly cap), pushing them and where they
    /// were onto `out`.
    pub fn eject_for(
        &mut self,
        g: usize,
        pl: &Placement,
        rng: &mut Rng,
        out: &mut Vec<(usize, Option<Placement>)>,
    ) {
        let p = self.p;
        let grp = &p.groups[g];
        let s = p.start_minute(pl.start);
        let e = s + grp.minutes;
        let weekly = grp.minutes * grp.meetings as i64;
        let mut hit: Vec<usize> = Vec::new();
        let overlapping = |list: &[Busy], hit: &mut Vec<usize>| {
            hit.extend(list.iter().filter(|b| b.s < e && s < b.e).map(|b| b.g));
        };
        for d in day_bits(pl.days) {
            if !p.rooms[pl.room].tele {
                overlapping(&self.room_busy[pl.room][d], &mut hit);
            }
            for k in std::iter::once(pl.lead).chain(pl.co) {
                overlapping(&self.clin_busy[k][d], &mut hit);
            }
            if p.tracks[grp.track].cohort {
                overlapping(&self.track_busy[grp.track][d], &mut hit);
            }
        }
        hit.sort_unstable();
        hit.dedup();
        for h in hit {
            if let Some(old) = self.remove(h) {
                out.push((h, Some(old)));
            }
        }
        let mut pool = Vec::new();
        for k in std::iter::once(pl.lead).chain(pl.co) {
            while self.clin_min[k] + weekly > p.clins[k].max_minutes {
                self.groups_of_clinician(k, &mut pool);
                if pool.is_empty() {
                    break;
                }
                let h = pool[rng.below(pool.len())];
                let old = self.remove(h);
                out.push((h, old));
            }
        }
        let t = grp.track;
        if let Some(max) = p.tracks[t].max {
            while self.track_min[t] + weekly > max {
                let placed: Vec<usize> = p.tracks[t]
                    .groups
                    .iter()
                    .copied()
                    .filter(|&h| self.place[h].is_some())
                    .collect();
                if placed.is_empty() {
                    break;
                }
                let h = placed[rng.below(placed.len())];
                let old = self.remove(h);
                out.push((h, old));
            }
        }
    }

    /// Groups that clinician `k` leads or co-facilitates.
    pub fn groups_of_clinician(&self, k: usize, out: &mut Vec<usize>) {
        out.clear();
        for day in &self.clin_busy[k] {
            out.extend(day.iter().map(|b| b.g));
        }
        out.sort_unstable();
        out.dedup();
    }

    /// Groups meeting in room `r`.
    pub fn groups_of_room(&self, r: usize, out: &mut Vec<usize>) {
        out.clear();
        for day in &self.room_busy[r] {
            out.extend(day.iter().map(|b| b.g));
        }
        out.sort_unstable();
        out.dedup();
    }

    /// Whether `pl` is a legal placement of unplaced group `g` against the rest.
    pub fn fits(&self, g: usize, pl: &Placement) -> bool {
        let p = self.p;
        let grp = &p.groups[g];
        let tr = &p.tracks[grp.track];
        let weekly = grp.minutes * grp.meetings as i64;
        if !grp.combos.contains(&pl.days)
            || grp.base & (1 << pl.start) == 0
            || !grp.rooms.contains(&pl.room)
            || !grp.leads.contains(&pl.lead)
            || tr
                .max
                .is_some_and(|m| self.track_min[grp.track] + weekly > m)
        {
            return false;
        }
        match pl.co {
            Some(c) if c == pl.lead || !grp.cos.contains(&c) => return false,
            None if grp.co_required => return false,
            _ => {}
        }
        let loc = p.rooms[pl.room].site;
        let bit = (1 as Mask) << pl.start;
        for k in std::iter::once(pl.lead).chain(pl.co) {
            if self.clin_min[k] + weekly > p.clins[k].max_minutes
                || loc.is_some_and(|s| !p.clins[k].sites.contains(&s))
            {
                return false;
            }
            let h = p.held(k, g, pl.room);
            if day_bits(pl.days).any(|d| self.clin_free(k, g, d, h) & bit == 0) {
                return false;
            }
        }
        let room = &p.rooms[pl.room];
        for d in day_bits(pl.days) {
            if room.avail[grp.dur][d] & bit == 0 {
                return false;
            }
            if !room.tele && self.conflicts(&self.room_busy[pl.room][d], grp.minutes) & bit != 0 {
                return false;
            }
            if tr.cohort && self.conflicts(&self.track_busy[grp.track][d], grp.minutes) & bit != 0 {
                return false;
            }
        }
        true
    }
}
