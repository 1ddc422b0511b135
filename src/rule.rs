//! The rules imgseal enforces: R1-R9 from the vendor's spec, B1 imgseal's own (boot
//! readiness). A leaf module, so that profiles can validate their `[severity]` keys and
//! checks and operations can be tagged without any of them importing the others.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One rule; serialised as its name (`"R1"`), ordered as reports list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RuleId {
    R1,
    R2,
    R3,
    R4,
    R5,
    R6,
    R7,
    R8,
    R9,
    B1,
}

impl RuleId {
    /// Every rule, in report order.
    pub const ALL: [RuleId; 10] = [
        RuleId::R1,
        RuleId::R2,
        RuleId::R3,
        RuleId::R4,
        RuleId::R5,
        RuleId::R6,
        RuleId::R7,
        RuleId::R8,
        RuleId::R9,
        RuleId::B1,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::R1 => "R1",
            RuleId::R2 => "R2",
            RuleId::R3 => "R3",
            RuleId::R4 => "R4",
            RuleId::R5 => "R5",
            RuleId::R6 => "R6",
            RuleId::R7 => "R7",
            RuleId::R8 => "R8",
            RuleId::R9 => "R9",
            RuleId::B1 => "B1",
        }
    }

    /// A short title, as report headings show it.
    pub fn title(self) -> &'static str {
        match self {
            RuleId::R1 => "system update sources configured, not changed",
            RuleId::R2 => "firewall off at boot",
            RuleId::R3 => "NIC MTU left to DHCP",
            RuleId::R4 => "CentOS: the vendor's cloud-init",
            RuleId::R5 => "Ubuntu/Debian: the vendor's cloud-init and datasources",
            RuleId::R6 => "Windows: cloudbase-init",
            RuleId::R7 => "Windows: updates installed",
            RuleId::R8 => "no traces of the image build",
            RuleId::R9 => "no reboot pending",
            RuleId::B1 => "boots on the target cloud's KVM (virtio)",
        }
    }

    /// `R1, R2, ..., B1`: what an error about an unknown rule offers instead.
    pub fn list() -> String {
        RuleId::ALL.map(RuleId::as_str).join(", ")
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRule(pub String);

impl fmt::Display for UnknownRule {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "unknown rule '{}' (rules: {})", self.0, RuleId::list())
    }
}

impl std::error::Error for UnknownRule {}

impl FromStr for RuleId {
    type Err = UnknownRule;

    fn from_str(s: &str) -> Result<RuleId, UnknownRule> {
        RuleId::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRule(s.to_string()))
    }
}

/// What a check or an operation serves: one rule, or one per package format where the
/// spec splits a requirement by distribution (cloud-init is R4 on CentOS, R5 on Debian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleTag {
    One(RuleId),
    ByFormat { rpm: RuleId, deb: RuleId },
}

impl RuleTag {
    /// `R4/R5`: R4 on rpm guests, R5 on deb guests.
    pub const R4_R5: RuleTag = RuleTag::ByFormat {
        rpm: RuleId::R4,
        deb: RuleId::R5,
    };

    /// The rules it may stand for, in report order.
    pub fn rules(self) -> Vec<RuleId> {
        match self {
            RuleTag::One(r) => vec![r],
            RuleTag::ByFormat { rpm, deb } => vec![rpm, deb],
        }
    }
}

impl From<RuleId> for RuleTag {
    fn from(r: RuleId) -> RuleTag {
        RuleTag::One(r)
    }
}

/// `R2`, or `R4/R5` (the rpm rule first), as reports and `imgseal rules` spell it.
impl fmt::Display for RuleTag {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            RuleTag::One(r) => write!(f, "{r}"),
            RuleTag::ByFormat { rpm, deb } => write!(f, "{rpm}/{deb}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_is_the_report_order() {
        for r in RuleId::ALL {
            assert_eq!(r.as_str().parse::<RuleId>(), Ok(r));
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
            assert!(!r.title().is_empty());
        }
        assert!(RuleId::ALL.windows(2).all(|w| w[0] < w[1]));
        let e = "R99".parse::<RuleId>().unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown rule 'R99' (rules: R1, R2, R3, R4, R5, R6, R7, R8, R9, B1)"
        );
    }

    #[test]
    fn tags_print_as_before() {
        assert_eq!(RuleTag::from(RuleId::R2).to_string(), "R2");
        assert_eq!(RuleTag::R4_R5.to_string(), "R4/R5");
        assert_eq!(RuleTag::R4_R5.rules(), vec![RuleId::R4, RuleId::R5]);
    }
}
