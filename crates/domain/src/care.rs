//! Clinical vocabulary: levels of care, presenting concerns, group kinds and modalities.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! vocab {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
        // `schema(rename)` repeats `serde(rename)` for the OpenAPI document: utoipa reads
        // serde's attribute token by token and does not see a literal passed into a macro.
        pub enum $name { $($(#[$vdoc])* #[serde(rename = $text)] #[schema(rename = $text)] $variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The stable text used in storage and on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use vocab;

vocab!(
    /// ASAM-style level of care. A client is in one level at a time (see `Episode`).
    LevelOfCare {
        Residential = "residential",
        /// Partial hospitalization.
        Php = "php",
        /// Intensive outpatient.
        Iop = "iop",
        Outpatient = "outpatient",
    }
);

impl LevelOfCare {
    /// Default weekly group-minutes requirement (DESIGN.md "Clinical numbers"):
    /// residential is set by the program (15 h default, ASAM 3.x); PHP ≥ 20 h
    /// (42 CFR 410.43(c)(1)); IOP ≥ 9 h (ASAM 2.1, Medicare IOP 2024); a stand-alone
    /// outpatient group is usually one 60–90 minute session a week (ASAM 1).
    pub fn default_weekly_minutes(self) -> u32 {
        match self {
            Self::Residential => 15 * 60,
            Self::Php => 20 * 60,
            Self::Iop => 9 * 60,
            Self::Outpatient => 60,
        }
    }

    /// Higher number, more intensive care. Stepping down moves to a lower rank.
    pub fn intensity(self) -> u8 {
        match self {
            Self::Residential => 4,
            Self::Php => 3,
            Self::Iop => 2,
            Self::Outpatient => 1,
        }
    }
}

vocab!(
    /// Presenting concerns a client brings and a group focuses on.
    Concern {
        Depression = "depression",
        AnxietyPanic = "anxiety_panic",
        Bipolar = "bipolar",
        PtsdTrauma = "ptsd_trauma",
        SubstanceUse = "substance_use",
        GriefLoss = "grief_loss",
        EmotionalDysregulation = "emotional_dysregulation",
        EatingDisorder = "eating_disorder",
        Psychosis = "psychosis",
        Relationships = "relationships",
    }
);

vocab!(
    /// What a group is for (DESIGN.md "Group").
    GroupKind {
        Process = "process",
        Psychoeducation = "psychoeducation",
        Skills = "skills",
        RelapsePrevention = "relapse_prevention",
        Transition = "transition",
    }
);

vocab!(
    /// A therapeutic approach a skills group teaches and a clinician is trained in.
    Modality {
        Cbt = "cbt",
        Dbt = "dbt",
        Act = "act",
        Mindfulness = "mindfulness",
        TraumaFocused = "trauma_focused",
        Sud = "sud",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for l in LevelOfCare::ALL {
            assert_eq!(LevelOfCare::parse(l.as_str()), Some(*l));
            let json = serde_json::to_string(l).unwrap();
            assert_eq!(json, format!("\"{}\"", l.as_str()));
        }
        for c in Concern::ALL {
            assert_eq!(Concern::parse(c.as_str()), Some(*c));
        }
    }

    #[test]
    fn default_hours_follow_the_design_table() {
        assert_eq!(LevelOfCare::Php.default_weekly_minutes(), 1200);
        assert_eq!(LevelOfCare::Iop.default_weekly_minutes(), 540);
        assert_eq!(LevelOfCare::Residential.default_weekly_minutes(), 900);
    }
}
