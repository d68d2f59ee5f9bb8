//! Upper bounds on every timetable's score, from per-track relaxations.
//!
//! The score is a sum over tracks of the track's own terms (unmet minutes, extra days, idle
//! time) and its groups' terms (preferences, seats, telehealth, kept meetings and leads,
//! the unscheduled penalty). Dropping every rule that links two groups through a room or a
//! clinician, and every rule inside a track except its cap, leaves one small problem per
//! track:
//!
//! - each group's best own terms alone: the best room, lead and start that are available
//!   on some allowed day set, each checked alone (a relaxation of choosing them together);
//! - which groups the track runs: every subset under the cap is tried (tracks of up to 16
//!   groups), charging unmet minutes exactly and extra days from a lower bound on the days
//!   the subset needs (its longest group's meetings, and its minutes over the window),
//!   and keeping only subsets the clinicians who could run them can staff on their own:
//!   each group's lead and co-facilitator minutes, as a flow into the weekly hours of the
//!   clinicians available for that role (other tracks' use of them ignored, minutes
//!   splittable — both relaxations).
//!
//! Each part only relaxes a rule, so the sum bounds the optimum from above
//! ([`track_bounds`]). The clinicians' weekly hours (H9), the rule that binds on tight
//! instances, then come back as a Lagrangian relaxation ([`lagrangian`]): a price `λ_k ≥ 0`
//! per minute of clinician `k` is charged to every group that uses `k` and credited as
//! `λ_k × max_minutes_k`. Any price vector gives a bound (a feasible timetable uses at most
//! `max_minutes_k` of everyone), and subgradient steps look for low ones.

use std::time::Instant;

use crate::validate::{Mask, Problem};

/// Tracks with more groups than this drop the unmet-minutes term (still a bound) rather
/// than enumerate subsets.
const MAX_EXACT_GROUPS: usize = 16;

/// A group's best own terms under prices, and the clinicians that earn them.
#[derive(Debug, Clone, Copy)]
struct Own {
    value: f64,
    lead: usize,
    co: Option<usize>,
}

fn each_bit(mut m: Mask, mut f: impl FnMut(usize)) {
    while m != 0 {
        let i = m.trailing_zeros() as usize;
        m &= m - 1;
        f(i);
    }
}

/// The best own terms group `g` can earn, less its clinicians' prices, in any placement
/// whose room, lead and co-facilitator are each available (other groups ignored); `None`
/// when no placement is available at all.
fn group_best(p: &Problem, g: usize, price: &[f64]) -> Option<Own> {
    let w = &p.instance.weights;
    let grp = &p.groups[g];
    let weekly = (grp.minutes * grp.meetings as i64) as f64;
    let and_days = |f: &[Mask], combo: u8| -> Mask {
        let mut m = Mask::MAX;
        for (d, &x) in f.iter().enumerate() {
            if combo & (1 << d) != 0 {
                m &= x;
            }
        }
        m
    };
    let mut best: Option<Own> = None;
    for &combo in &grp.combos {
        let mut room_any: Mask = 0;
        // rooms come best value first: the first room covering a start is its best
        let mut rv = [i64::MIN; 128];
        for &r in &grp.rooms {
            let m = and_days(&p.rooms[r].avail[grp.dur], combo) & grp.base & !room_any;
            let v = p.room_value(g, r);
            each_bit(m, |i| rv[i] = v);
            room_any |= m;
        }
        if room_any == 0 {
            continue;
        }
        // the two cheapest co-facilitators per start (the lead cannot be both)
        let mut co: [[Option<(f64, usize)>; 2]; 128] = [[None; 2]; 128];
        let mut co_any: Mask = if grp.co_required { 0 } else { Mask::MAX };
        if grp.co_required {
            for &k in &grp.cos {
                let m = and_days(&p.clins[k].avail[grp.dur], combo) & room_any;
                let cost = price[k] * weekly;
                each_bit(m, |i| {
                    let slot = &mut co[i];
                    if slot[0].is_none_or(|(c, _)| cost < c) {
                        slot[1] = slot[0];
                        slot[0] = Some((cost, k));
                    } else if slot[1].is_none_or(|(c, _)| cost < c) {
                        slot[1] = Some((cost, k));
                    }
                });
                co_any |= m;
            }
        }
        for &k in &grp.leads {
            let m = and_days(&p.clins[k].avail[grp.dur], combo) & room_any & co_any;
            let keep = if grp.current.as_ref().is_some_and(|c| c.lead == Some(k)) {
                w.keep_lead
            } else {
                0
            };
            let pref = &p.clins[k].prefers[grp.dur];
            each_bit(m, |i| {
                let (co_cost, co_k) = if grp.co_required {
                    match co[i] {
                        [Some((_, c)), second] if c == k => match second {
                            Some(x) => x,
                            None => return,
                        },
                        [Some(x), _] => x,
                        [None, _] => return,
                    }
                } else {
                    (0.0, usize::MAX)
                };
                let mut v = keep + rv[i];
                for (d, &x) in pref.iter().enumerate() {
                    if combo & (1 << d) != 0 && x & (1 << i) != 0 {
                        v += w.preference;
                    }
                }
                if let Some(c) = &grp.current
                    && c.start == Some(i)
                {
                    v += w.keep_meeting * (c.days & combo).count_ones() as i64;
                }
                let value = v as f64 - price[k] * weekly - co_cost;
                if best.is_none_or(|b| value > b.value) {
                    best = Some(Own {
                        value,
                        lead: k,
                        co: grp.co_required.then_some(co_k),
                    });
                }
            });
        }
    }
    best
}

/// Clinicians who could lead, and who could co-facilitate, group `g` if it were alone:
/// available on every day of some allowed day set at a start some room also allows.
fn staff_candidates(p: &Problem, g: usize) -> (Vec<usize>, Vec<usize>) {
    let grp = &p.groups[g];
    let and_days = |f: &[Mask], combo: u8| -> Mask {
        let mut m = Mask::MAX;
        for (d, &x) in f.iter().enumerate() {
            if combo & (1 << d) != 0 {
                m &= x;
            }
        }
        m
    };
    let fits = |k: usize| {
        grp.combos.iter().any(|&combo| {
            let rooms = grp.rooms.iter().fold(0 as Mask, |m, &r| {
                m | and_days(&p.rooms[r].avail[grp.dur], combo)
            });
            rooms & grp.base & and_days(&p.clins[k].avail[grp.dur], combo) != 0
        })
    };
    let leads = grp.leads.iter().copied().filter(|&k| fits(k)).collect();
    let cos = grp.cos.iter().copied().filter(|&k| fits(k)).collect();
    (leads, cos)
}

/// Whether the roles (weekly minutes, candidate clinicians) fit into the candidates'
/// weekly hours when minutes may be split: a max-flow from roles to clinicians.
fn staffable(p: &Problem, roles: &[(i64, &[usize])]) -> bool {
    let mut people: Vec<usize> = roles.iter().flat_map(|r| r.1.iter().copied()).collect();
    people.sort_unstable();
    people.dedup();
    let (nr, nk) = (roles.len(), people.len());
    // nodes: 0 source, 1..=nr roles, then clinicians, then the sink
    let n = nr + nk + 2;
    let sink = n - 1;
    let mut cap = vec![vec![0i64; n]; n];
    let mut demand = 0;
    for (i, &(minutes, cands)) in roles.iter().enumerate() {
        cap[0][1 + i] = minutes;
        demand += minutes;
        for k in cands {
            if let Ok(j) = people.binary_search(k) {
                cap[1 + i][1 + nr + j] = minutes;
            }
        }
    }
    for (j, &k) in people.iter().enumerate() {
        cap[1 + nr + j][sink] = p.clins[k].max_minutes;
    }
    let mut flow = 0;
    loop {
        // breadth-first augmenting path (Edmonds–Karp)
        let mut prev = vec![usize::MAX; n];
        prev[0] = 0;
        let mut queue = std::collections::VecDeque::from([0usize]);
        while let Some(u) = queue.pop_front() {
            for v in 0..n {
                if prev[v] == usize::MAX && cap[u][v] > 0 {
                    prev[v] = u;
                    queue.push_back(v);
                }
            }
        }
        if prev[sink] == usize::MAX {
            break;
        }
        let mut push = i64::MAX;
        let mut v = sink;
        while v != 0 {
            push = push.min(cap[prev[v]][v]);
            v = prev[v];
        }
        let mut v = sink;
        while v != 0 {
            cap[prev[v]][v] -= push;
            cap[v][prev[v]] += push;
            v = prev[v];
        }
        flow += push;
        if flow >= demand {
            return true;
        }
    }
    flow >= demand
}

/// Per track, which subsets (bit sets over the track's runnable groups) the staffing check
/// has refused or passed.
pub(crate) type StaffCache = Vec<std::collections::HashMap<u32, bool>>;

/// Track `t`'s relaxation under the groups' own terms: its best value and the groups it
/// runs.
fn track_best(
    p: &Problem,
    t: usize,
    own: &[Option<Own>],
    staff: &[(Vec<usize>, Vec<usize>)],
    cache: &mut StaffCache,
) -> (f64, Vec<usize>) {
    let w = &p.instance.weights;
    let grid = &p.instance.grid;
    let tr = &p.tracks[t];
    let inst_t = &p.instance.tracks[t];
    let window = inst_t.to.min(grid.close) - inst_t.from.max(grid.open);
    let mut base = 0.0;
    // Groups that can run at all, with their gain over staying unscheduled.
    let mut items: Vec<(f64, i64, usize, usize)> = Vec::new(); // gain, weekly, meetings, group
    for &g in &tr.groups {
        base -= w.unscheduled_group as f64;
        let grp = &p.groups[g];
        let weekly = grp.minutes * grp.meetings as i64;
        if let Some(o) = own[g]
            && tr.max.is_none_or(|m| weekly <= m)
        {
            items.push((
                o.value + w.unscheduled_group as f64,
                weekly,
                grp.meetings,
                g,
            ));
        }
    }
    // Without a requirement, a cap or shared days, each group runs when it gains.
    let independent = !tr.cohort && tr.required == 0 && tr.max.is_none();
    if independent || items.len() > MAX_EXACT_GROUPS {
        let chosen: Vec<usize> = items.iter().filter(|x| x.0 > 0.0).map(|x| x.3).collect();
        let gain: f64 = items.iter().map(|x| x.0.max(0.0)).sum();
        return (base + gain, chosen);
    }
    let mut options: Vec<(f64, u32)> = Vec::new();
    for subset in 0u32..(1 << items.len()) {
        let (mut gain, mut minutes, mut days) = (0.0, 0i64, 0i64);
        for (j, &(v, weekly, meetings, _)) in items.iter().enumerate() {
            if subset & (1 << j) != 0 {
                gain += v;
                minutes += weekly;
                days = days.max(meetings as i64);
            }
        }
        if tr.max.is_some_and(|m| minutes > m) {
            continue;
        }
        let mut v = gain - (w.unmet_minute * (tr.required - minutes).max(0)) as f64;
        if tr.cohort && minutes > 0 {
            if window > 0 {
                days = days.max((minutes + window - 1) / window);
            }
            v -= (w.extra_day * (days - tr.target).max(0)) as f64;
        }
        options.push((v, subset));
    }
    options.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    // The best subset the track's own candidates can staff (the empty one always can).
    let mut best = (f64::NEG_INFINITY, 0u32);
    for (v, subset) in options {
        let ok = *cache[t].entry(subset).or_insert_with(|| {
            let mut roles: Vec<(i64, &[usize])> = Vec::new();
            for (j, item) in items.iter().enumerate() {
                if subset & (1 << j) != 0 {
                    let g = item.3;
                    roles.push((item.1, &staff[g].0));
                    if p.groups[g].co_required {
                        roles.push((item.1, &staff[g].1));
                    }
                }
            }
            staffable(p, &roles)
        });
        if ok {
            best = (v, subset);
            break;
        }
    }
    let chosen = items
        .iter()
        .enumerate()
        .filter(|(j, _)| best.1 & (1 << j) != 0)
        .map(|(_, x)| x.3)
        .collect();
    (base + best.0, chosen)
}

/// The relaxation without prices, track by track: no timetable earns more than
/// `bound[t]` from track `t`'s own terms and its groups' terms.
pub(crate) fn track_bounds(p: &Problem, cache: &mut StaffCache) -> Vec<i64> {
    let price = vec![0.0; p.clins.len()];
    let own: Vec<Option<Own>> = (0..p.groups.len())
        .map(|g| group_best(p, g, &price))
        .collect();
    let staff: Vec<_> = (0..p.groups.len())
        .map(|g| staff_candidates(p, g))
        .collect();
    cache.resize_with(p.tracks.len(), Default::default);
    (0..p.tracks.len())
        .map(|t| (track_best(p, t, &own, &staff, cache).0 + 1e-6).floor() as i64)
        .collect()
}

/// The Lagrangian bound over clinicians' weekly minutes: at most `rounds` subgradient
/// steps (Polyak steps towards `target`, the best score known), stopping at `until`.
/// Returns the lowest bound seen, never above `start` (the bound without prices).
pub(crate) fn lagrangian(
    p: &Problem,
    start: i64,
    target: i64,
    rounds: usize,
    until: Instant,
    cache: &mut StaffCache,
) -> i64 {
    let staff: Vec<_> = (0..p.groups.len())
        .map(|g| staff_candidates(p, g))
        .collect();
    cache.resize_with(p.tracks.len(), Default::default);
    let mut price = vec![0.0f64; p.clins.len()];
    let mut best = start;
    let mut scale = 1.0;
    let mut since = 0;
    for _ in 0..rounds {
        if Instant::now() >= until || best <= target {
            break;
        }
        let own: Vec<Option<Own>> = (0..p.groups.len())
            .map(|g| group_best(p, g, &price))
            .collect();
        let mut used = vec![0i64; p.clins.len()];
        let mut value: f64 = price
            .iter()
            .zip(&p.clins)
            .map(|(l, k)| l * k.max_minutes as f64)
            .sum();
        for t in 0..p.tracks.len() {
            let (v, chosen) = track_best(p, t, &own, &staff, cache);
            value += v;
            for g in chosen {
                let weekly = p.groups[g].minutes * p.groups[g].meetings as i64;
                if let Some(o) = own[g] {
                    used[o.lead] += weekly;
                    if let Some(c) = o.co {
                        used[c] += weekly;
                    }
                }
            }
        }
        let bound = (value + 1e-6).floor() as i64;
        if bound < best {
            best = bound;
            since = 0;
        } else {
            since += 1;
            if since >= 5 {
                scale /= 2.0;
                since = 0;
            }
        }
        // subgradient of the dual: max_minutes − used; prices fall where hours are spare
        let grad: Vec<f64> = p
            .clins
            .iter()
            .zip(&used)
            .map(|(k, &u)| (k.max_minutes - u) as f64)
            .collect();
        let norm: f64 = grad
            .iter()
            .zip(&price)
            .map(|(g, &l)| if l <= 0.0 && *g > 0.0 { 0.0 } else { g * g })
            .sum();
        if norm <= 0.0 {
            break;
        }
        let step = scale * (value - target as f64).max(1.0) / norm;
        for (l, g) in price.iter_mut().zip(&grad) {
            *l = (*l - step * g).max(0.0);
        }
    }
    best
}
