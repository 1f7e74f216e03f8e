//! Constructors for filter verdicts, in upstream's terms.

use crate::types::{Code, ExtensionPoints};

/// A filter verdict for one node, as a plugin returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The verdict.
    pub code: Code,
    /// Human-readable reasons in upstream's wording, e.g. "Insufficient cpu".
    pub reasons: Vec<String>,
}

impl Status {
    /// The node passes.
    pub fn success() -> Self {
        Status {
            code: Code::Success,
            reasons: Vec::new(),
        }
    }

    /// The node fails now but could pass after a cluster change or preemption.
    pub fn unschedulable(reason: impl Into<String>) -> Self {
        Status {
            code: Code::Unschedulable,
            reasons: vec![reason.into()],
        }
    }

    /// The node fails and preemption would not help.
    pub fn unresolvable(reason: impl Into<String>) -> Self {
        Status {
            code: Code::UnschedulableAndUnresolvable,
            reasons: vec![reason.into()],
        }
    }

    /// The plugin could not decide.
    pub fn error(reason: impl Into<String>) -> Self {
        Status {
            code: Code::Error,
            reasons: vec![reason.into()],
        }
    }

    /// Whether the node passes.
    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }
}

// wit-bindgen puts `additional_derives` on records and variants but not on
// flags; serialize them as their bits so every WIT type round-trips.
impl serde::Serialize for ExtensionPoints {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.bits())
    }
}

impl<'de> serde::Deserialize<'de> for ExtensionPoints {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <u8 as serde::Deserialize>::deserialize(d).map(ExtensionPoints::from_bits_truncate)
    }
}
