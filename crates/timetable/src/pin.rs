//! Pins: a director fixes parts of a group's weekly pattern (its days and start, its room,
//! its lead) and the solver works around them. A pin narrows the group's candidates in the
//! validated problem, so every construction and search step honours it (they only choose
//! among candidates) and the bound stays a bound of the narrowed problem. A pin that names
//! a candidate the group never had (a day outside its track, a room too small, a lead
//! without the licence or modality) is refused with the part it breaks.

use crate::validate::{Mask, Problem};

/// Parts of one group's pattern to keep; `None` leaves that part to the solver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pin {
    /// Days (0 = Monday) and start minute after midnight, together.
    pub slot: Option<(Vec<i64>, i64)>,
    pub room: Option<String>,
    pub lead: Option<String>,
}

/// Why a pin cannot be kept: which part, and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{part}: {rule}")]
pub struct PinError {
    pub part: &'static str,
    pub rule: &'static str,
}

fn refuse(part: &'static str, rule: &'static str) -> PinError {
    PinError { part, rule }
}

impl Problem {
    /// Narrows group `group`'s candidates to what `pin` fixes.
    pub fn pin(&mut self, group: &str, pin: &Pin) -> Result<(), PinError> {
        let g = *self
            .group_index
            .get(group)
            .ok_or(refuse("group", "is not part of this timetable"))?;
        if let Some((days, start)) = &pin.slot {
            let mut mask = 0u8;
            for &d in days {
                if !(0..self.days as i64).contains(&d) || mask & (1 << d) != 0 {
                    return Err(refuse("days", "must be distinct days of the week"));
                }
                mask |= 1 << d;
            }
            let grp = &self.groups[g];
            if !grp.combos.contains(&mask) {
                return Err(refuse(
                    "days",
                    "must be as many days as the group meets, on days its program runs",
                ));
            }
            let off = start - self.open;
            if off < 0 || off % self.step != 0 || off / self.step >= self.n_starts as i64 {
                return Err(refuse("start", "must be on the grid's quarter hours"));
            }
            let bit: Mask = 1 << (off / self.step);
            if grp.base & bit == 0 {
                return Err(refuse(
                    "start",
                    "must let the meeting lie inside its program's daily window",
                ));
            }
            let grp = &mut self.groups[g];
            grp.combos = vec![mask];
            grp.base = bit;
        }
        if let Some(room) = &pin.room {
            let r = *self
                .room_index
                .get(room.as_str())
                .ok_or(refuse("room", "is not a room of this timetable"))?;
            let grp = &mut self.groups[g];
            if !grp.rooms.contains(&r) {
                return Err(refuse(
                    "room",
                    "must seat the group at its site (or be telehealth for a group that may meet by video)",
                ));
            }
            grp.rooms = vec![r];
        }
        if let Some(lead) = &pin.lead {
            let k = *self
                .clin_index
                .get(lead.as_str())
                .ok_or(refuse("lead", "is not a clinician of this timetable"))?;
            let grp = &mut self.groups[g];
            if !grp.leads.contains(&k) {
                return Err(refuse(
                    "lead",
                    "must hold an active licence, the group's modality and enough weekly hours",
                ));
            }
            grp.leads = vec![k];
            grp.cos.retain(|&c| c != k);
        }
        Ok(())
    }

    /// Whether group `group` can be given a lead at all (for explaining an unscheduled
    /// group), and whether any room may hold it.
    pub fn candidates(&self, group: &str) -> Option<(usize, usize, usize)> {
        let g = *self.group_index.get(group)?;
        let grp = &self.groups[g];
        Some((grp.leads.len(), grp.rooms.len(), grp.cos.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Instance;
    use crate::{SolveOptions, solve};

    fn instance() -> Instance {
        let week: Vec<serde_json::Value> = (0..5)
            .map(|d| serde_json::json!({"day": d, "from": 480, "to": 1260}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "format": "circle-timetable/1", "name": "pin",
            "grid": {"days": 5, "open": 480, "close": 1260, "step": 15},
            "travel_minutes": 30,
            "weights": {"unmet_minute": 20, "unscheduled_group": 600, "preference": 10,
                "empty_seat": 2, "telehealth_meeting": 15, "extra_day": 150, "idle_minute": 3,
                "keep_meeting": 40, "keep_lead": 120},
            "sites": ["s"],
            "tracks": [{"id": "t", "site": "s", "level": "iop", "cohort": true,
                "days": [0, 1, 2, 3, 4], "from": 540, "to": 1260, "required_minutes": 270,
                "max_minutes": null, "days_target": 3, "idle_allowance": 15}],
            "groups": [{"id": "g", "track": "t", "kind": "process", "modality": null,
                "lead_modality": null, "meetings": 3, "minutes": 90, "size": 8,
                "trauma": false, "co_required": false, "sites": ["s"], "telehealth": false,
                "current": {"days": [0, 2, 4], "start": 600, "room": "r1", "lead": "k1"}}],
            "rooms": [
                {"id": "r1", "site": "s", "capacity": 8, "telehealth": false,
                 "available": week},
                {"id": "r2", "site": "s", "capacity": 12, "telehealth": false,
                 "available": week}],
            "clinicians": [
                {"id": "k1", "sites": ["s"], "licensed": true, "max_minutes": 1200,
                 "available": week},
                {"id": "k2", "sites": ["s"], "licensed": true, "max_minutes": 1200,
                 "available": week}]
        }))
        .expect("a valid instance")
    }

    #[test]
    fn a_pinned_slot_room_and_lead_are_what_the_solver_returns() {
        let mut p = Problem::new(instance()).expect("valid");
        let pin = Pin {
            slot: Some((vec![1, 2, 3], 1080)),
            room: Some("r2".to_owned()),
            lead: Some("k2".to_owned()),
        };
        p.pin("g", &pin).expect("a pin within the candidates");
        let (sol, report) = solve(&p, &SolveOptions::default());
        assert_eq!(report.hard_violations, 0);
        let e = &sol.groups[0];
        assert_eq!((e.days.clone(), e.start), (vec![1, 2, 3], 1080));
        assert_eq!((e.room.as_str(), e.lead.as_str()), ("r2", "k2"));
    }

    #[test]
    fn a_pin_outside_the_groups_candidates_is_refused_with_its_part() {
        let mut p = Problem::new(instance()).expect("valid");
        let early = Pin {
            slot: Some((vec![0, 2, 4], 480)),
            ..Pin::default()
        };
        assert_eq!(p.pin("g", &early).unwrap_err().part, "start");
        let two_days = Pin {
            slot: Some((vec![0, 2], 600)),
            ..Pin::default()
        };
        assert_eq!(p.pin("g", &two_days).unwrap_err().part, "days");
        let nobody = Pin {
            lead: Some("k9".to_owned()),
            ..Pin::default()
        };
        assert_eq!(p.pin("g", &nobody).unwrap_err().part, "lead");
    }
}
