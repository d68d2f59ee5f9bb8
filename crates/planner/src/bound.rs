//! An upper bound without an LP solver: Lagrangian relaxation of the group capacities.
//!
//! With a price λ_g ≥ 0 on each seat, dropping minimum sizes and separations (which only
//! enlarges the feasible set), the problem splits into one small problem per client:
//! `L(λ) = Σ_g λ_g·max_g + Σ_c max_S [Σ_{p∈S} (gain_p − λ_g(p)) + unmet_value_c(S)]`,
//! where S ranges over the client's sets of non-overlapping groups under the weekly cap.
//! Every `L(λ)` is an upper bound; subgradient steps look for a small one.

use std::time::Instant;

use crate::model::Model;

/// Per-client structure that makes the client subproblem easy: the client's groups fall
/// into classes of mutually overlapping groups (no overlap across classes) and all have the
/// same minutes, so the best set takes the best group of the `k` best classes.
pub(crate) struct ClientShape {
    /// Class of each of the client's pairs (index into the client's classes), the number
    /// of classes and the minutes every option has; `None` when the client does not have
    /// this shape.
    pub classes: Option<(Vec<u32>, usize, i64)>,
}

pub(crate) fn shape(m: &Model, c: usize) -> ClientShape {
    let range = m.pairs_of(c);
    let n = range.len();
    if n == 0 {
        return ClientShape {
            classes: Some((Vec::new(), 0, 0)),
        };
    }
    let minutes = m.p_minutes[range.start];
    if range.clone().any(|p| m.p_minutes[p] != minutes) {
        return ClientShape { classes: None };
    }
    // Work on the client's distinct time slots: pairs in one slot overlap each other
    // exactly when the slot overlaps itself (any meeting does), and a pair's overlaps are
    // its slot's. A client has dozens of options but only a few slots.
    let mut slots: Vec<u32> = Vec::new();
    let mut mult: Vec<usize> = Vec::new();
    let slot_at: Vec<usize> = range
        .clone()
        .map(|p| {
            let s = m.p_slot[p];
            slots.iter().position(|&t| t == s).unwrap_or_else(|| {
                slots.push(s);
                mult.push(0);
                slots.len() - 1
            })
        })
        .collect();
    for &j in &slot_at {
        mult[j] += 1;
    }
    let d = slots.len();
    let ov = |j: usize, l: usize| m.slot_overlaps(slots[j] as usize, slots[l] as usize);
    let mut slot_class = vec![u32::MAX; d];
    let mut class = vec![u32::MAX; n];
    let mut count = 0usize;
    let mut sizes = Vec::new();
    for (i, &j) in slot_at.iter().enumerate() {
        if !ov(j, j) {
            // A slot without meetings overlaps nothing: each of its pairs is a class.
            class[i] = count as u32;
            sizes.push(1);
            count += 1;
            continue;
        }
        if slot_class[j] == u32::MAX {
            slot_class[j] = count as u32;
            let mut size = mult[j];
            for l in (0..d).filter(|&l| l != j && ov(j, l)) {
                slot_class[l] = count as u32;
                size += mult[l];
            }
            sizes.push(size);
            count += 1;
        }
        class[i] = slot_class[j];
    }
    // Transitive only if every slot overlaps exactly the rest of its class.
    for j in (0..d).filter(|&j| ov(j, j)) {
        let k = slot_class[j] as usize;
        let mut size = mult[j];
        for l in (0..d).filter(|&l| l != j && ov(j, l)) {
            if slot_class[l] as usize != k {
                return ClientShape { classes: None };
            }
            size += mult[l];
        }
        if size != sizes[k] {
            return ClientShape { classes: None };
        }
    }
    ClientShape {
        classes: Some((class, count, minutes)),
    }
}

/// Best value of client `c`'s subproblem under prices `price` (per local group); marks the
/// chosen pairs in `chosen`. Exact for shaped clients, else a depth-first search with a
/// node limit that falls back to a valid over-estimate. Pairs marked in `banned` (and pairs
/// of groups priced at infinity) are never taken.
pub(crate) fn client_best(
    m: &Model,
    c: usize,
    shape: &ClientShape,
    price: &[f64],
    banned: Option<&[bool]>,
    chosen: &mut Vec<usize>,
    scratch: &mut Vec<(f64, usize)>,
) -> f64 {
    chosen.clear();
    let range = m.pairs_of(c);
    let w = |p: usize| {
        if banned.is_some_and(|b| b[p]) {
            f64::NEG_INFINITY
        } else {
            m.p_gain[p] as f64 - price[m.p_group[p] as usize]
        }
    };
    if let Some((class, count, minutes)) = &shape.classes {
        scratch.clear();
        scratch.resize(*count, (f64::NEG_INFINITY, usize::MAX));
        for (i, p) in range.clone().enumerate() {
            let k = class[i] as usize;
            let v = w(p);
            if v > scratch[k].0 {
                scratch[k] = (v, p);
            }
        }
        scratch.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let k_max = if *minutes > 0 {
            (m.c_max[c] / minutes) as usize
        } else {
            usize::MAX
        };
        let mut best = m.unmet_value(c, 0) as f64;
        let mut best_k = 0;
        let mut sum = 0.0;
        for (k, &(v, _)) in scratch.iter().enumerate().take(k_max.min(*count)) {
            sum += v;
            let total = sum + m.unmet_value(c, (k as i64 + 1) * minutes) as f64;
            if total > best {
                best = total;
                best_k = k + 1;
            }
        }
        chosen.extend(scratch[..best_k].iter().map(|&(_, p)| p));
        return best;
    }
    // General client: depth-first search over include/exclude.
    let pairs: Vec<usize> = range.collect();
    let mut best = m.unmet_value(c, 0) as f64;
    let mut best_set: Vec<usize> = Vec::new();
    let mut nodes = 0u32;
    let mut stack_set: Vec<usize> = Vec::new();
    let suffix_pos: Vec<f64> = {
        let mut s = vec![0.0; pairs.len() + 1];
        for i in (0..pairs.len()).rev() {
            s[i] = s[i + 1] + w(pairs[i]).max(0.0);
        }
        s
    };
    let suffix_min: Vec<i64> = {
        let mut s = vec![0; pairs.len() + 1];
        for i in (0..pairs.len()).rev() {
            s[i] = s[i + 1] + m.p_minutes[pairs[i]];
        }
        s
    };
    if pairs.len() > 256 {
        // Too deep to search on a worker thread's stack: the valid over-estimate.
        return suffix_pos[0] + m.unmet_value(c, suffix_min[0].min(m.c_max[c])) as f64;
    }
    #[allow(clippy::too_many_arguments, reason = "a local recursive helper")]
    fn dfs(
        m: &Model,
        c: usize,
        pairs: &[usize],
        w: &dyn Fn(usize) -> f64,
        suffix_pos: &[f64],
        suffix_min: &[i64],
        i: usize,
        weight: f64,
        minutes: i64,
        set: &mut Vec<usize>,
        best: &mut f64,
        best_set: &mut Vec<usize>,
        nodes: &mut u32,
    ) -> bool {
        *nodes += 1;
        if *nodes > 20_000 {
            return false;
        }
        let here = weight + m.unmet_value(c, minutes) as f64;
        if here > *best {
            *best = here;
            best_set.clone_from(set);
        }
        if i == pairs.len() {
            return true;
        }
        let reach = (minutes + suffix_min[i]).min(m.c_max[c]);
        if weight + suffix_pos[i] + m.unmet_value(c, reach) as f64 <= *best {
            return true;
        }
        let p = pairs[i];
        let fits = minutes + m.p_minutes[p] <= m.c_max[c] && !set.iter().any(|&q| m.overlaps(p, q));
        if fits {
            set.push(p);
            let ok = dfs(
                m,
                c,
                pairs,
                w,
                suffix_pos,
                suffix_min,
                i + 1,
                weight + w(p),
                minutes + m.p_minutes[p],
                set,
                best,
                best_set,
                nodes,
            );
            set.pop();
            if !ok {
                return false;
            }
        }
        dfs(
            m,
            c,
            pairs,
            w,
            suffix_pos,
            suffix_min,
            i + 1,
            weight,
            minutes,
            set,
            best,
            best_set,
            nodes,
        )
    }
    let complete = dfs(
        m,
        c,
        &pairs,
        &w,
        &suffix_pos,
        &suffix_min,
        0,
        0.0,
        0,
        &mut stack_set,
        &mut best,
        &mut best_set,
        &mut nodes,
    );
    chosen.extend_from_slice(&best_set);
    if complete {
        best
    } else {
        // Over-estimate: every positive weight, and the minutes of every option.
        suffix_pos[0] + m.unmet_value(c, suffix_min[0].min(m.c_max[c])) as f64
    }
}

/// The result of [`lagrangian`]: the bound, the prices that gave it, and each client's
/// best response at those prices (pairs the client would take if seats cost `price`).
pub(crate) struct Relaxation {
    pub bound: i64,
    pub price: Vec<f64>,
    pub wanted: Vec<bool>,
}

/// An upper bound on the component's best value, given a known feasible `incumbent`.
/// The bound is an integer no smaller than the true optimum.
pub(crate) fn lagrangian(
    m: &Model,
    incumbent: i64,
    start: Option<&[f64]>,
    iterations: u32,
    deadline: Instant,
) -> Relaxation {
    let shapes: Vec<ClientShape> = (0..m.n_clients()).map(|c| shape(m, c)).collect();
    let mut price = start.map_or_else(|| vec![0.0f64; m.n_groups()], <[f64]>::to_vec);
    let mut usage = vec![0u32; m.n_groups()];
    let mut chosen = Vec::new();
    let mut scratch = Vec::new();
    let mut best = f64::INFINITY;
    let mut best_price = price.clone();
    let mut wanted = vec![false; m.n_pairs()];
    let mut best_wanted = wanted.clone();
    let mut theta = if start.is_some() { 0.1 } else { 1.0 };
    let mut since_improved = 0;
    for it in 0..iterations {
        if it % 16 == 0 && Instant::now() >= deadline && best.is_finite() {
            break;
        }
        usage.iter_mut().for_each(|u| *u = 0);
        wanted.iter_mut().for_each(|w| *w = false);
        let mut value: f64 = price
            .iter()
            .zip(&m.g_max)
            .map(|(l, &cap)| l * cap as f64)
            .sum();
        for (c, sh) in shapes.iter().enumerate() {
            value += client_best(m, c, sh, &price, None, &mut chosen, &mut scratch);
            for &p in &chosen {
                usage[m.p_group[p] as usize] += 1;
                wanted[p] = true;
            }
        }
        if value < best - 1e-9 {
            best = value;
            best_price.clone_from(&price);
            best_wanted.clone_from(&wanted);
            since_improved = 0;
        } else {
            since_improved += 1;
            if since_improved >= 20 {
                theta *= 0.5;
                since_improved = 0;
            }
        }
        if best.floor() as i64 <= incumbent || theta < 1e-4 {
            break;
        }
        // Subgradient of L at λ: capacity minus usage; projected onto λ ≥ 0.
        let mut norm = 0.0;
        for g in 0..m.n_groups() {
            let s = m.g_max[g] as f64 - usage[g] as f64;
            if price[g] > 0.0 || s < 0.0 {
                norm += s * s;
            }
        }
        if norm == 0.0 {
            break;
        }
        let step = theta * (value - incumbent as f64).max(1.0) / norm;
        for g in 0..m.n_groups() {
            let s = m.g_max[g] as f64 - usage[g] as f64;
            price[g] = (price[g] - step * s).max(0.0);
        }
    }
    Relaxation {
        // Values are integers, so the bound rounds down; the epsilon absorbs float error.
        bound: (best + 1e-6).floor() as i64,
        price: best_price,
        wanted: best_wanted,
    }
}
