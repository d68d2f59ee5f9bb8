//! The solver entry point:
//!
//! 1. two constructions, and the better is kept: the current timetable where it still
//!    fits, completed greedily; and a plain greedy pass. The greedy places groups hardest
//!    first (cohort tracks, longest weekly time, a co-facilitator needed) at their best
//!    placement against what is already placed ([`State::best`]);
//! 2. ruin and recreate under simulated annealing (temperature 60 → 2). A step takes a
//!    group (half the time one that is not running) and, by a fixed mix:
//!    - 35%: ejects whatever stands where the group's rooms and people are available (a
//!      random such placement) and places the group there;
//!    - 10%: takes out the groups of one or two clinicians the group could use;
//!    - 5%: the groups of one of its rooms; 10%: its whole cohort track;
//!    - otherwise up to three groups in its way or at its site;
//!
//!    then puts every group taken out back at its best placement (an unscheduled seed
//!    first), and keeps the result by the annealing rule;
//! 3. the bound ([`crate::bound`]): per-track relaxations, then Lagrangian prices on the
//!    clinicians' weekly minutes, in what is left of the limit.
//!
//! Determinism: the work is fixed by a budget of best-placement calls
//! (`CALLS_PER_SECOND` × seconds, or [`SolveOptions::calls`]), and all randomness comes
//! from the seed, so the same instance, seed and budget give the same timetable. The wall
//! clock is a cap: when it runs out first the report says `timed_out`, and only then can
//! two runs differ.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::bound::{lagrangian, track_bounds};
use crate::evaluate::{Parts, evaluate};
use crate::format::{Entry, SOLUTION_FORMAT, Solution};
use crate::rng::Rng;
use crate::state::{Placement, State};
use crate::validate::Problem;

/// Best-placement calls budgeted per second of time limit (calibrated so that this 2-core
/// machine spends the budget within the limit on every size).
pub const CALLS_PER_SECOND: u64 = 50_000;

/// How to solve.
#[derive(Debug, Clone, Copy)]
pub struct SolveOptions {
    pub seed: u64,
    /// Wall-clock cap; also sets the default budget.
    pub time_limit: Duration,
    /// Search budget in best-placement calls; `None` derives it from `time_limit`.
    pub calls: Option<u64>,
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            seed: 1,
            time_limit: Duration::from_secs(1),
            calls: None,
        }
    }
}

/// A track's week as the timetable gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackHours {
    pub track: String,
    pub cohort: bool,
    pub required_minutes: i64,
    pub scheduled_minutes: i64,
    pub max_minutes: Option<i64>,
    pub days_used: usize,
    pub days_target: Option<i64>,
    pub groups: usize,
    pub groups_scheduled: usize,
    /// The track's share of the score (its own terms and its groups' terms) ...
    pub value: i64,
    /// ... and the most any timetable can earn from it (per-track relaxation).
    pub bound: i64,
}

/// What [`solve`] did and how good the result is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The checker's score of the timetable.
    pub score: i64,
    /// No timetable scores higher (per-track relaxation).
    pub bound: i64,
    /// `bound − score`: how far from optimal the timetable can at most be.
    pub gap: i64,
    /// Score of the plain greedy construction.
    pub greedy_score: i64,
    /// Score of the current timetable kept where it fits, completed greedily.
    pub current_score: i64,
    /// Hard-rule violations found by re-checking the written timetable (always 0).
    pub hard_violations: usize,
    pub violations: Vec<String>,
    pub scheduled: usize,
    pub groups: usize,
    pub parts: Parts,
    pub tracks: Vec<TrackHours>,
    /// Best-placement calls spent, and ruin-and-recreate steps tried and kept.
    pub calls: u64,
    pub steps: u64,
    pub accepted: u64,
    pub seconds: f64,
    pub timed_out: bool,
}

/// Groups in construction order: cohort tracks first, then the longest weekly time and
/// groups that need a co-facilitator; ties by instance order.
fn construction_order(p: &Problem) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p.groups.len()).collect();
    order.sort_by_key(|&g| {
        let grp = &p.groups[g];
        (
            !p.tracks[grp.track].cohort,
            -(grp.minutes * grp.meetings as i64),
            !grp.co_required,
            g,
        )
    });
    order
}

fn greedy<'p>(p: &'p Problem, keep_current: bool) -> State<'p> {
    let mut s = State::new(p);
    if keep_current {
        for g in construction_order(p) {
            if let Some(pl) = current_placement(p, g)
                && s.fits(g, &pl)
            {
                s.insert(g, pl);
            }
        }
    }
    for g in construction_order(p) {
        if s.place[g].is_none()
            && let Some((pl, delta)) = s.best(g, None)
            && delta > 0
        {
            s.insert(g, pl);
        }
    }
    s
}

/// The group's current weekly pattern, when every part of it names something in the
/// instance (an optional co-facilitator is dropped: it earns nothing).
fn current_placement(p: &Problem, g: usize) -> Option<Placement> {
    let grp = &p.groups[g];
    let cur = p.instance.groups[g].current.as_ref()?;
    let cp = grp.current.as_ref()?;
    let room = *p.room_index.get(cur.room.as_deref()?)?;
    let co = if grp.co_required {
        Some(*p.clin_index.get(cur.co.as_deref()?)?)
    } else {
        None
    };
    Some(Placement {
        days: cp.days,
        start: cp.start?,
        room,
        lead: cp.lead?,
        co,
    })
}

/// Groups sharing a site with each group (the neighbourhood of a ruin step), same track
/// first.
fn neighbours(p: &Problem) -> Vec<Vec<usize>> {
    let mut by_site: Vec<Vec<usize>> = vec![Vec::new(); p.instance.sites.len()];
    for (g, grp) in p.groups.iter().enumerate() {
        for &s in &grp.sites {
            by_site[s].push(g);
        }
    }
    (0..p.groups.len())
        .map(|g| {
            let mut list: Vec<usize> = p.groups[g]
                .sites
                .iter()
                .flat_map(|&s| by_site[s].iter().copied())
                .filter(|&h| h != g)
                .collect();
            list.sort_unstable();
            list.dedup();
            list
        })
        .collect()
}

/// Solves a validated problem: returns the timetable and the report.
pub fn solve(p: &Problem, options: &SolveOptions) -> (Solution, Report) {
    let started = Instant::now();
    // The search stops at 90% of the limit; the bound gets the rest.
    let deadline = started + options.time_limit.mul_f64(0.9);
    let budget = options
        .calls
        .unwrap_or((options.time_limit.as_secs_f64() * CALLS_PER_SECOND as f64) as u64);
    let mut rng = Rng::new(options.seed, 1);

    let plain = greedy(p, false);
    let from_current = greedy(p, true);
    let (greedy_score, current_score) = (plain.score, from_current.score);
    let mut s = if from_current.score >= plain.score {
        from_current
    } else {
        plain
    };
    let n = p.groups.len();
    let near = neighbours(p);
    let mut rank = vec![0usize; n];
    for (i, g) in construction_order(p).into_iter().enumerate() {
        rank[g] = i;
    }
    let mut best = s.place.clone();
    let mut best_score = s.score;
    let mut calls = 0u64;
    let (mut steps, mut accepted) = (0u64, 0u64);
    let mut timed_out = false;
    let (t_start, t_end) = (60.0f64, 2.0f64);
    let mut taken: Vec<(usize, Option<Placement>)> = Vec::new();
    let mut pool: Vec<usize> = Vec::new();
    while calls < budget && n > 0 {
        if steps % 64 == 0 && Instant::now() >= deadline {
            timed_out = true;
            break;
        }
        steps += 1;
        let progress = calls as f64 / budget as f64;
        let temp = t_start * (t_end / t_start).powf(progress);
        let unplaced: Vec<usize> = if rng.unit() < 0.5 {
            (0..n).filter(|&g| s.place[g].is_none()).collect()
        } else {
            Vec::new()
        };
        let seed = if unplaced.is_empty() {
            rng.below(n)
        } else {
            unplaced[rng.below(unplaced.len())]
        };
        let before = s.score;
        taken.clear();
        let mut chosen = vec![seed];
        let grp = &p.groups[seed];
        let kind = rng.unit();
        let mut ejected = false;
        if kind < 0.35 {
            // Ejection: the seed goes where its rooms' and people's availability allows,
            // and whatever stands there is taken out and placed again.
            if let Some(pl) = s.sample_free_of_others(seed, &mut rng) {
                taken.push((seed, s.remove(seed)));
                s.eject_for(seed, &pl, &mut rng, &mut taken);
                calls += 1;
                if s.fits(seed, &pl) {
                    s.insert(seed, pl);
                }
                chosen.clear();
                chosen.extend(taken[1..].iter().map(|x| x.0));
                chosen.sort_by_key(|&g| rank[g]);
                if s.place[seed].is_none() {
                    chosen.push(seed);
                }
                ejected = true;
            }
        } else if kind < 0.45 && !(grp.leads.is_empty() && grp.cos.is_empty()) {
            // One or two clinicians the group could use (a lead and a co-facilitator may
            // both be short of hours): their groups may move to someone else.
            for _ in 0..1 + rng.below(2) {
                let j = rng.below(grp.leads.len() + grp.cos.len());
                let k = grp
                    .leads
                    .get(j)
                    .copied()
                    .unwrap_or_else(|| grp.cos[j - grp.leads.len()]);
                s.groups_of_clinician(k, &mut pool);
                for &h in pool.iter().take(6) {
                    if !chosen.contains(&h) {
                        chosen.push(h);
                    }
                }
            }
        } else if kind < 0.5 && !grp.rooms.is_empty() {
            let r = grp.rooms[rng.below(grp.rooms.len())];
            s.groups_of_room(r, &mut pool);
            chosen.extend(pool.iter().copied().filter(|&h| h != seed).take(6));
        } else if kind < 0.6 && p.tracks[grp.track].cohort {
            // The whole cohort track: its days and idle time are decided together.
            chosen.extend(
                p.tracks[grp.track]
                    .groups
                    .iter()
                    .copied()
                    .filter(|&h| h != seed),
            );
        } else {
            let k = rng.below(4);
            let hood = if rng.unit() < 0.7 {
                s.blockers(seed, &mut pool);
                &pool
            } else {
                &near[seed]
            };
            for _ in 0..k {
                if hood.is_empty() {
                    break;
                }
                let h = hood[rng.below(hood.len())];
                if !chosen.contains(&h) {
                    chosen.push(h);
                }
            }
        }
        if !ejected {
            for &g in &chosen {
                taken.push((g, s.remove(g)));
            }
            // The seed first when it was not running (an ejection); the rest hardest first
            // or in a random order.
            let first = usize::from(taken[0].1.is_none());
            if rng.unit() < 0.5 {
                for i in (first + 1..chosen.len()).rev() {
                    let j = first + rng.below(i + 1 - first);
                    chosen.swap(i, j);
                }
            } else {
                chosen[first..].sort_by_key(|&g| rank[g]);
            }
        }
        for &g in &chosen {
            calls += 1;
            if let Some((pl, delta)) = s.best(g, Some((&mut rng, 0.15)))
                && delta > 0
            {
                s.insert(g, pl);
            }
        }
        let delta = s.score - before;
        if delta >= 0 || rng.unit() < (delta as f64 / temp).exp() {
            accepted += 1;
            if s.score > best_score {
                best_score = s.score;
                best.clone_from(&s.place);
            }
        } else {
            for &(g, _) in &taken {
                s.remove(g);
            }
            for &(g, pl) in &taken {
                if let Some(pl) = pl {
                    s.insert(g, pl);
                }
            }
            debug_assert_eq!(s.score, before);
        }
    }
    let solution = to_solution(p, &best);
    let eval = evaluate(p, &solution);
    let mut staff_cache = Vec::new();
    let bounds = track_bounds(p, &mut staff_cache);
    // The Lagrangian gets what is left of the limit, and at least a twentieth of it.
    let until = (started + options.time_limit).max(Instant::now() + options.time_limit / 20);
    let bound = lagrangian(
        p,
        bounds.iter().sum::<i64>(),
        eval.score,
        60,
        until,
        &mut staff_cache,
    )
    .max(eval.score);
    let mut last = State::new(p);
    for (g, pl) in best.iter().enumerate() {
        if let Some(pl) = pl {
            last.insert(g, *pl);
        }
    }
    debug_assert_eq!(last.score, eval.score);
    let tracks = track_hours(p, &best, &eval.track_minutes, &last, &bounds);
    let report = Report {
        score: eval.score,
        bound,
        gap: bound - eval.score,
        greedy_score,
        current_score,
        hard_violations: eval.violations.len(),
        violations: eval.violations.iter().take(20).cloned().collect(),
        scheduled: eval.scheduled,
        groups: n,
        parts: eval.parts,
        tracks,
        calls,
        steps,
        accepted,
        seconds: started.elapsed().as_secs_f64(),
        timed_out,
    };
    (solution, report)
}

fn to_solution(p: &Problem, place: &[Option<Placement>]) -> Solution {
    let inst = &p.instance;
    let groups = place
        .iter()
        .enumerate()
        .filter_map(|(g, pl)| {
            let pl = pl.as_ref()?;
            Some(Entry {
                group: inst.groups[g].id.clone(),
                days: (0..p.days as i64)
                    .filter(|d| pl.days & (1 << d) != 0)
                    .collect(),
                start: p.start_minute(pl.start),
                room: inst.rooms[pl.room].id.clone(),
                lead: inst.clinicians[pl.lead].id.clone(),
                co: pl.co.map(|c| inst.clinicians[c].id.clone()),
            })
        })
        .collect();
    Solution {
        format: SOLUTION_FORMAT.to_string(),
        instance: inst.name.clone(),
        groups,
    }
}

fn track_hours(
    p: &Problem,
    place: &[Option<Placement>],
    minutes: &[i64],
    state: &State,
    bounds: &[i64],
) -> Vec<TrackHours> {
    p.instance
        .tracks
        .iter()
        .enumerate()
        .map(|(t, tr)| {
            let mine = &p.tracks[t].groups;
            let days = mine
                .iter()
                .filter_map(|&g| place[g].map(|pl| pl.days))
                .fold(0u8, |a, b| a | b);
            TrackHours {
                track: tr.id.clone(),
                cohort: tr.cohort,
                required_minutes: tr.required_minutes,
                scheduled_minutes: minutes[t],
                max_minutes: tr.max_minutes,
                days_used: days.count_ones() as usize,
                days_target: tr.days_target,
                groups: mine.len(),
                groups_scheduled: mine.iter().filter(|&&g| place[g].is_some()).count(),
                value: state.track_share(t),
                bound: bounds[t],
            }
        })
        .collect()
}
