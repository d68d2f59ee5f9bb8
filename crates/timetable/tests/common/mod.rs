//! Random small instances for the property tests: a few tracks, groups, rooms and
//! clinicians with random windows, caps and sites, including groups that cannot run,
//! clinicians at two sites (travel) and current entries that no longer fit.
#![allow(dead_code, reason = "each test file uses part of this module")]

use circle_timetable::format::{
    Clinician, Current, Grid, Group, GroupKind, INSTANCE_FORMAT, Instance, Level, Room, Track,
    Weights, Window,
};

/// A tiny generator local to the tests (SplitMix64).
pub struct Draw(u64);

impl Draw {
    pub fn new(seed: u64) -> Draw {
        Draw(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn windows(r: &mut Draw, days: i64, percent: u64) -> Vec<Window> {
    let mut out = Vec::new();
    for day in 0..days {
        if r.chance(percent) {
            let from = 420 + 15 * r.int(0, 30);
            let to = (from + 15 * r.int(8, 50)).min(1290);
            out.push(Window { day, from, to });
        }
    }
    out
}

pub fn weights() -> Weights {
    Weights {
        unmet_minute: 20,
        unscheduled_group: 600,
        preference: 10,
        empty_seat: 2,
        telehealth_meeting: 15,
        extra_day: 150,
        idle_minute: 3,
        keep_meeting: 40,
        keep_lead: 120,
    }
}

pub fn random_instance(seed: u64) -> Instance {
    let r = &mut Draw::new(seed);
    let days = 6;
    let sites: Vec<String> = (1..=r.int(1, 2)).map(|i| format!("s{i}")).collect();
    let pick_site = |r: &mut Draw| sites[r.int(0, sites.len() as i64 - 1) as usize].clone();
    let mut tracks = Vec::new();
    for i in 0..r.int(1, 3) {
        let tdays: Vec<i64> = (0..days).filter(|_| r.chance(75)).collect();
        let from = 420 + 15 * r.int(4, 30);
        tracks.push(Track {
            id: format!("t{i}"),
            site: pick_site(r),
            level: Level::Iop,
            cohort: true,
            days: tdays,
            from,
            to: (from + 15 * r.int(12, 40)).min(1290),
            required_minutes: 60 * r.int(0, 12),
            max_minutes: r.chance(70).then(|| 60 * r.int(3, 20)),
            days_target: Some(r.int(1, 5)),
            idle_allowance: Some(15 * r.int(0, 4)),
        });
    }
    tracks.push(Track {
        id: "out".into(),
        site: pick_site(r),
        level: Level::Outpatient,
        cohort: false,
        days: (0..days).collect(),
        from: 420,
        to: 1290,
        required_minutes: 0,
        max_minutes: None,
        days_target: None,
        idle_allowance: None,
    });
    let modalities = ["cbt", "dbt", "act"];
    let n_rooms = r.int(1, 3);
    let mut rooms: Vec<Room> = (0..n_rooms)
        .map(|i| Room {
            id: format!("r{i}"),
            site: Some(pick_site(r)),
            capacity: Some(r.int(6, 14)),
            telehealth: false,
            available: windows(r, days, 85),
        })
        .collect();
    if r.chance(60) {
        rooms.push(Room {
            id: "tele".into(),
            site: None,
            capacity: None,
            telehealth: true,
            available: windows(r, days, 100),
        });
    }
    let n_clin = r.int(2, 5);
    let clinicians: Vec<Clinician> = (0..n_clin)
        .map(|i| {
            let mut ks = vec![pick_site(r)];
            if sites.len() > 1 && r.chance(40) {
                ks = sites.clone();
            }
            Clinician {
                id: format!("k{i}"),
                sites: ks,
                licensed: r.chance(80),
                modalities: modalities
                    .iter()
                    .filter(|_| r.chance(50))
                    .map(|m| m.to_string())
                    .collect(),
                max_minutes: 60 * r.int(2, 15),
                available: windows(r, days, 75),
                prefers: windows(r, days, 30),
            }
        })
        .collect();
    let mut groups = Vec::new();
    for i in 0..r.int(2, 8) {
        let track = &tracks[r.int(0, tracks.len() as i64 - 1) as usize];
        let mut gsites = vec![track.site.clone()];
        if sites.len() > 1 && !track.cohort && r.chance(40) {
            gsites = sites.clone();
        }
        let current = r.chance(40).then(|| Current {
            days: (0..days).filter(|_| r.chance(40)).collect(),
            start: 420 + 15 * r.int(0, 50),
            room: Some(rooms[r.int(0, rooms.len() as i64 - 1) as usize].id.clone()),
            lead: Some(clinicians[r.int(0, n_clin - 1) as usize].id.clone()),
            co: None,
        });
        let meetings = if track.cohort { r.int(1, 3) } else { 1 };
        groups.push(Group {
            id: format!("g{i}"),
            track: track.id.clone(),
            kind: GroupKind::Process,
            modality: None,
            lead_modality: r
                .chance(30)
                .then(|| modalities[r.int(0, 2) as usize].to_string()),
            meetings,
            minutes: [60, 90, 120][r.int(0, 2) as usize],
            size: r.int(5, 12),
            trauma: false,
            co_required: r.chance(30),
            sites: gsites,
            telehealth: r.chance(40),
            current,
        });
    }
    Instance {
        format: INSTANCE_FORMAT.into(),
        name: format!("random-{seed}"),
        grid: Grid {
            days,
            open: 420,
            close: 1290,
            step: 15,
        },
        travel_minutes: 30,
        weights: weights(),
        sites,
        tracks,
        groups,
        rooms,
        clinicians,
    }
}
