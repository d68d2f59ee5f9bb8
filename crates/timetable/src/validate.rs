//! Validation: an [`Instance`] becomes a [`Problem`] (ids resolved to indices, every rule a
//! file can break checked once, and each resource's availability turned into bit masks of
//! grid starts). A `Problem` that exists is valid; the scorer and the solver take nothing
//! else.

use std::collections::HashMap;

use crate::format::{INSTANCE_FORMAT, Instance, Window};

/// Upper limit on minute counts and weights, so that no sum can overflow `i64`.
const MAX_QUANTITY: i64 = 1_000_000;
/// Starts on the grid are bits of a `u128`.
pub(crate) const MAX_STARTS: i64 = 128;
/// Day sets are bits of a `u8`.
const MAX_DAYS: i64 = 7;

/// A set of grid starts (bit `i` is `open + i × step`).
pub(crate) type Mask = u128;

/// Why an instance was refused. Each variant names the item and the field, and says the
/// rule; none echoes free text beyond ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("format is {found:?}, expected \"circle-timetable/1\"")]
    WrongFormat { found: String },
    #[error("grid.{field}: {rule}")]
    BadGrid {
        field: &'static str,
        rule: &'static str,
    },
    #[error("travel_minutes must be between 0 and 1440")]
    BadTravel,
    #[error("weights.{name} must be between 0 and {MAX_QUANTITY}")]
    WeightOutOfRange { name: &'static str },
    #[error("{kind} id {id:?} appears more than once")]
    Duplicate { kind: &'static str, id: String },
    #[error("{kind} {id:?}: {field} names unknown {target} {name:?}")]
    Unknown {
        kind: &'static str,
        id: String,
        field: &'static str,
        target: &'static str,
        name: String,
    },
    #[error("{kind} {id:?}: {field} {rule}")]
    Invalid {
        kind: &'static str,
        id: String,
        field: &'static str,
        rule: &'static str,
    },
}

fn invalid(
    kind: &'static str,
    id: &str,
    field: &'static str,
    rule: &'static str,
) -> ValidationError {
    ValidationError::Invalid {
        kind,
        id: id.to_string(),
        field,
        rule,
    }
}

#[derive(Debug, Clone)]
pub(crate) struct TrackP {
    pub cohort: bool,
    pub days: u8,
    pub required: i64,
    pub max: Option<i64>,
    pub target: i64,
    pub idle: i64,
    pub groups: Vec<usize>,
}

#[derive(Debug, Clone)]
pub(crate) struct CurrentP {
    pub days: u8,
    /// The current start as a grid index, when it is on the grid.
    pub start: Option<usize>,
    pub lead: Option<usize>,
}

#[derive(Debug, Clone)]
pub(crate) struct GroupP {
    pub track: usize,
    pub meetings: usize,
    pub minutes: i64,
    /// Index into `Problem::durations`.
    pub dur: usize,
    pub size: i64,
    pub co_required: bool,
    /// In the instance's order: a telehealth meeting is held at the first one the
    /// clinician works at.
    pub sites: Vec<usize>,
    pub current: Option<CurrentP>,
    /// Day sets with `meetings` days inside the track's days.
    pub combos: Vec<u8>,
    /// Starts inside the track's window and the grid.
    pub base: Mask,
    /// Rooms it may use (telehealth only if allowed; in person at its sites, big enough),
    /// best value first.
    pub rooms: Vec<usize>,
    /// Licensed clinicians with the lead modality, at one of its sites, with the hours.
    pub leads: Vec<usize>,
    /// Co-facilitator candidates (only when one is required): trainees first.
    pub cos: Vec<usize>,
}

#[derive(Debug, Clone)]
pub(crate) struct RoomP {
    pub site: Option<usize>,
    pub capacity: i64,
    pub tele: bool,
    /// `avail[dur][day]`: starts whose meeting of that duration fits a window.
    pub avail: Vec<Vec<Mask>>,
}

#[derive(Debug, Clone)]
pub(crate) struct ClinP {
    pub sites: Vec<usize>,
    pub licensed: bool,
    pub max_minutes: i64,
    pub avail: Vec<Vec<Mask>>,
    pub prefers: Vec<Vec<Mask>>,
}

/// A validated instance with ids resolved to indices.
#[derive(Debug, Clone)]
pub struct Problem {
    pub instance: Instance,
    pub(crate) days: usize,
    pub(crate) open: i64,
    pub(crate) step: i64,
    pub(crate) n_starts: usize,
    pub(crate) tracks: Vec<TrackP>,
    pub(crate) groups: Vec<GroupP>,
    pub(crate) rooms: Vec<RoomP>,
    pub(crate) clins: Vec<ClinP>,
    pub(crate) group_index: HashMap<String, usize>,
    pub(crate) room_index: HashMap<String, usize>,
    pub(crate) clin_index: HashMap<String, usize>,
}

fn index<'a>(
    kind: &'static str,
    ids: impl Iterator<Item = &'a String>,
) -> Result<HashMap<String, usize>, ValidationError> {
    let mut map = HashMap::new();
    for (i, id) in ids.enumerate() {
        if map.insert(id.clone(), i).is_some() {
            return Err(ValidationError::Duplicate {
                kind,
                id: id.clone(),
            });
        }
    }
    Ok(map)
}

fn resolve(
    map: &HashMap<String, usize>,
    name: &str,
    kind: &'static str,
    id: &str,
    field: &'static str,
    target: &'static str,
) -> Result<usize, ValidationError> {
    map.get(name)
        .copied()
        .ok_or_else(|| ValidationError::Unknown {
            kind,
            id: id.to_string(),
            field,
            target,
            name: name.to_string(),
        })
}

impl Problem {
    pub fn new(instance: Instance) -> Result<Problem, ValidationError> {
        if instance.format != INSTANCE_FORMAT {
            return Err(ValidationError::WrongFormat {
                found: instance.format.clone(),
            });
        }
        let g = instance.grid;
        let grid_err = |field, rule| ValidationError::BadGrid { field, rule };
        if !(1..=MAX_DAYS).contains(&g.days) {
            return Err(grid_err("days", "must be between 1 and 7"));
        }
        if g.step <= 0 || g.step > 1440 {
            return Err(grid_err("step", "must be between 1 and 1440"));
        }
        if g.open < 0 || g.close > 1440 || g.open >= g.close {
            return Err(grid_err("open", "must satisfy 0 <= open < close <= 1440"));
        }
        if (g.close - g.open) / g.step + 1 > MAX_STARTS {
            return Err(grid_err(
                "step",
                "leaves more than 128 starts between open and close",
            ));
        }
        if !(0..=1440).contains(&instance.travel_minutes) {
            return Err(ValidationError::BadTravel);
        }
        let w = instance.weights;
        for (name, v) in [
            ("unmet_minute", w.unmet_minute),
            ("unscheduled_group", w.unscheduled_group),
            ("preference", w.preference),
            ("empty_seat", w.empty_seat),
            ("telehealth_meeting", w.telehealth_meeting),
            ("extra_day", w.extra_day),
            ("idle_minute", w.idle_minute),
            ("keep_meeting", w.keep_meeting),
            ("keep_lead", w.keep_lead),
        ] {
            if !(0..=MAX_QUANTITY).contains(&v) {
                return Err(ValidationError::WeightOutOfRange { name });
            }
        }
        let days = g.days as usize;
        let n_starts = ((g.close - g.open) / g.step + 1) as usize;
        let sites = index("site", instance.sites.iter())?;
        let track_index = index("track", instance.tracks.iter().map(|t| &t.id))?;
        let group_index = index("group", instance.groups.iter().map(|x| &x.id))?;
        let room_index = index("room", instance.rooms.iter().map(|r| &r.id))?;
        let clin_index = index("clinician", instance.clinicians.iter().map(|k| &k.id))?;

        let day_mask = |list: &[i64], kind, id: &str, field| -> Result<u8, ValidationError> {
            let mut mask = 0u8;
            for &d in list {
                if !(0..g.days).contains(&d) {
                    return Err(invalid(kind, id, field, "holds a day outside the grid"));
                }
                if mask & (1 << d) != 0 {
                    return Err(invalid(kind, id, field, "holds a day twice"));
                }
                mask |= 1 << d;
            }
            Ok(mask)
        };
        let check_windows = |list: &[Window], kind, id: &str, field| {
            for win in list {
                if !(0..g.days).contains(&win.day) {
                    return Err(invalid(
                        kind,
                        id,
                        field,
                        "has a window on a day outside the grid",
                    ));
                }
                if win.from >= win.to || win.from < 0 || win.to > 1440 {
                    return Err(invalid(
                        kind,
                        id,
                        field,
                        "has a window whose from is not before its to (minutes 0-1440)",
                    ));
                }
            }
            Ok(())
        };

        let mut tracks = Vec::with_capacity(instance.tracks.len());
        for t in &instance.tracks {
            let id = t.id.as_str();
            resolve(&sites, &t.site, "track", id, "site", "site")?;
            let tdays = day_mask(&t.days, "track", id, "days")?;
            if t.from >= t.to {
                return Err(invalid("track", id, "from", "must be before to"));
            }
            if !(0..=MAX_QUANTITY).contains(&t.required_minutes) {
                return Err(invalid(
                    "track",
                    id,
                    "required_minutes",
                    "must be between 0 and 1000000",
                ));
            }
            if t.max_minutes
                .is_some_and(|m| !(0..=MAX_QUANTITY).contains(&m))
            {
                return Err(invalid(
                    "track",
                    id,
                    "max_minutes",
                    "must be between 0 and 1000000",
                ));
            }
            let (target, idle) = if t.cohort {
                let target = t.days_target.ok_or_else(|| {
                    invalid("track", id, "days_target", "is required for a cohort track")
                })?;
                let idle = t.idle_allowance.ok_or_else(|| {
                    invalid(
                        "track",
                        id,
                        "idle_allowance",
                        "is required for a cohort track",
                    )
                })?;
                if !(0..=g.days).contains(&target) {
                    return Err(invalid(
                        "track",
                        id,
                        "days_target",
                        "must be between 0 and grid.days",
                    ));
                }
                if !(0..=1440).contains(&idle) {
                    return Err(invalid(
                        "track",
                        id,
                        "idle_allowance",
                        "must be between 0 and 1440",
                    ));
                }
                (target, idle)
            } else {
                (0, 0)
            };
            tracks.push(TrackP {
                cohort: t.cohort,
                days: tdays,
                required: t.required_minutes,
                max: t.max_minutes,
                target,
                idle,
                groups: Vec::new(),
            });
        }

        let mut modalities: HashMap<&str, usize> = HashMap::new();
        for k in &instance.clinicians {
            for m in &k.modalities {
                let n = modalities.len();
                modalities.entry(m.as_str()).or_insert(n);
            }
        }
        let mut durations: Vec<i64> = instance.groups.iter().map(|x| x.minutes).collect();
        durations.sort_unstable();
        durations.dedup();
        let masks = |list: &[Window]| -> Vec<Vec<Mask>> {
            durations
                .iter()
                .map(|&dur| {
                    (0..days as i64)
                        .map(|d| {
                            let mut m: Mask = 0;
                            for i in 0..n_starts {
                                let s = g.open + i as i64 * g.step;
                                if s + dur <= g.close
                                    && list
                                        .iter()
                                        .any(|w| w.day == d && w.from <= s && s + dur <= w.to)
                                {
                                    m |= 1 << i;
                                }
                            }
                            m
                        })
                        .collect()
                })
                .collect()
        };

        let mut rooms = Vec::with_capacity(instance.rooms.len());
        for r in &instance.rooms {
            let id = r.id.as_str();
            check_windows(&r.available, "room", id, "available")?;
            let (site, capacity) = if r.telehealth {
                (None, 0)
            } else {
                let site = r.site.as_deref().ok_or_else(|| {
                    invalid("room", id, "site", "is required for an in-person room")
                })?;
                let cap = r.capacity.ok_or_else(|| {
                    invalid("room", id, "capacity", "is required for an in-person room")
                })?;
                if !(0..=MAX_QUANTITY).contains(&cap) {
                    return Err(invalid(
                        "room",
                        id,
                        "capacity",
                        "must be between 0 and 1000000",
                    ));
                }
                (
                    Some(resolve(&sites, site, "room", id, "site", "site")?),
                    cap,
                )
            };
            rooms.push(RoomP {
                site,
                capacity,
                tele: r.telehealth,
                avail: masks(&r.available),
            });
        }

        let mut clins = Vec::with_capacity(instance.clinicians.len());
        let mut clin_mods = Vec::with_capacity(instance.clinicians.len());
        for k in &instance.clinicians {
            let id = k.id.as_str();
            check_windows(&k.available, "clinician", id, "available")?;
            check_windows(&k.prefers, "clinician", id, "prefers")?;
            if !(0..=MAX_QUANTITY).contains(&k.max_minutes) {
                return Err(invalid(
                    "clinician",
                    id,
                    "max_minutes",
                    "must be between 0 and 1000000",
                ));
            }
            let mut ks = Vec::new();
            for s in &k.sites {
                ks.push(resolve(&sites, s, "clinician", id, "sites", "site")?);
            }
            clin_mods.push(
                k.modalities
                    .iter()
                    .filter_map(|m| modalities.get(m.as_str()).copied())
                    .collect::<Vec<_>>(),
            );
            clins.push(ClinP {
                sites: ks,
                licensed: k.licensed,
                max_minutes: k.max_minutes,
                avail: masks(&k.available),
                prefers: masks(&k.prefers),
            });
        }

        let w = instance.weights;
        let mut groups = Vec::with_capacity(instance.groups.len());
        for (gi, x) in instance.groups.iter().enumerate() {
            let id = x.id.as_str();
            let track = resolve(&track_index, &x.track, "group", id, "track", "track")?;
            let t = &instance.tracks[track];
            if !(1..=g.days).contains(&x.meetings) {
                return Err(invalid(
                    "group",
                    id,
                    "meetings",
                    "must be between 1 and grid.days",
                ));
            }
            if x.minutes <= 0 || x.minutes > g.close - g.open {
                return Err(invalid(
                    "group",
                    id,
                    "minutes",
                    "must be positive and fit between open and close",
                ));
            }
            if !(0..=MAX_QUANTITY).contains(&x.size) {
                return Err(invalid(
                    "group",
                    id,
                    "size",
                    "must be between 0 and 1000000",
                ));
            }
            if x.sites.is_empty() {
                return Err(invalid("group", id, "sites", "must name at least one site"));
            }
            let mut gsites = Vec::new();
            for s in &x.sites {
                gsites.push(resolve(&sites, s, "group", id, "sites", "site")?);
            }
            let dur = durations.binary_search(&x.minutes).unwrap_or(0);
            // A current entry that names a room or clinician no longer in the instance is
            // kept for its days and start: the clinic may have lost that room or person.
            let current = match &x.current {
                None => None,
                Some(c) => {
                    let cdays = day_mask(&c.days, "group", id, "current.days")?;
                    // A start off the grid keeps nothing; it is not an error (the
                    // clinic's current week may predate the grid).
                    let start = c.start.checked_sub(g.open).and_then(|off| {
                        (off >= 0 && off % g.step == 0 && off / g.step < n_starts as i64)
                            .then_some((off / g.step) as usize)
                    });
                    Some(CurrentP {
                        days: cdays,
                        start,
                        lead: c.lead.as_deref().and_then(|l| clin_index.get(l).copied()),
                    })
                }
            };
            let tdays = tracks[track].days;
            let combos: Vec<u8> = (0u16..(1 << days))
                .map(|m| m as u8)
                .filter(|&m| m & !tdays == 0 && m.count_ones() as usize == x.meetings as usize)
                .collect();
            let lo = t.from.max(g.open);
            let hi = t.to.min(g.close);
            let mut base: Mask = 0;
            for i in 0..n_starts {
                let s = g.open + i as i64 * g.step;
                if s >= lo && s + x.minutes <= hi {
                    base |= 1 << i;
                }
            }
            let weekly = x.meetings * x.minutes;
            let mut grooms: Vec<usize> = (0..rooms.len())
                .filter(|&r| {
                    let room = &rooms[r];
                    if room.tele {
                        x.telehealth
                    } else {
                        room.site.is_some_and(|s| gsites.contains(&s)) && room.capacity >= x.size
                    }
                })
                .collect();
            let room_value = |r: usize| -> i64 {
                let room = &rooms[r];
                if room.tele {
                    -w.telehealth_meeting * x.meetings
                } else {
                    -w.empty_seat * (room.capacity - x.size) * x.meetings
                }
            };
            grooms.sort_by_key(|&r| (-room_value(r), r));
            // An unknown modality is held by nobody: the group has no lead (`Some(None)`).
            let lead_mod = x
                .lead_modality
                .as_ref()
                .map(|m| modalities.get(m.as_str()).copied());
            let works = |k: usize| clins[k].sites.iter().any(|s| gsites.contains(s));
            let leads: Vec<usize> = (0..clins.len())
                .filter(|&k| {
                    clins[k].licensed
                        && works(k)
                        && clins[k].max_minutes >= weekly
                        && match lead_mod {
                            None => true,
                            Some(None) => false,
                            Some(Some(m)) => clin_mods[k].contains(&m),
                        }
                })
                .collect();
            let mut cos: Vec<usize> = if x.co_required {
                (0..clins.len())
                    .filter(|&k| works(k) && clins[k].max_minutes >= weekly)
                    .collect()
            } else {
                Vec::new()
            };
            cos.sort_by_key(|&k| (clins[k].licensed, k));
            tracks[track].groups.push(gi);
            groups.push(GroupP {
                track,
                meetings: x.meetings as usize,
                minutes: x.minutes,
                dur,
                size: x.size,
                co_required: x.co_required,
                sites: gsites,
                current,
                combos,
                base,
                rooms: grooms,
                leads,
                cos,
            });
        }
        Ok(Problem {
            days,
            open: g.open,
            step: g.step,
            n_starts,
            tracks,
            groups,
            rooms,
            clins,
            group_index,
            room_index,
            clin_index,
            instance,
        })
    }

    /// The minute of grid start `i`.
    pub(crate) fn start_minute(&self, i: usize) -> i64 {
        self.open + i as i64 * self.step
    }

    /// Where clinician `k` holds a meeting of group `g` in room `r`: the room's site, or for
    /// telehealth the first of the group's sites `k` works at.
    pub(crate) fn held(&self, k: usize, g: usize, r: usize) -> Option<usize> {
        match self.rooms[r].site {
            Some(s) => Some(s),
            None => self.groups[g]
                .sites
                .iter()
                .copied()
                .find(|s| self.clins[k].sites.contains(s)),
        }
    }

    /// The value of placing group `g` in room `r` (empty seats or telehealth).
    pub(crate) fn room_value(&self, g: usize, r: usize) -> i64 {
        let w = &self.instance.weights;
        let grp = &self.groups[g];
        let room = &self.rooms[r];
        if room.tele {
            -w.telehealth_meeting * grp.meetings as i64
        } else {
            -w.empty_seat * (room.capacity - grp.size) * grp.meetings as i64
        }
    }

    pub fn group_count(&self) -> usize {
        self.groups.len()
    }
}
