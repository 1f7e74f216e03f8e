//! Host-side bindings generated from `wit/scheduler.wit`.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    world: "scheduler-plugin",
    path: "../wit",
    additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
});

/// The WIT types as the host builds and reads them.
pub mod wit {
    pub use super::SchedulerPlugin;
    pub use super::SchedulerPluginPre;
    pub use super::wasm_scheduler::plugin::host::Level;
    pub use super::wasm_scheduler::plugin::types::*;
}

use self::wasm_scheduler::plugin::types::ExtensionPoints;

/// The flags in WIT order, each with the bit the SDK serializes it as.
const EXTENSION_POINT_BITS: [(ExtensionPoints, u8); 3] = [
    (ExtensionPoints::FILTER, 1),
    (ExtensionPoints::SCORE, 2),
    (ExtensionPoints::NORMALIZE_SCORE, 4),
];

// wasmtime's bindgen puts `additional_derives` on records and variants but not
// on flags; they (de)serialize as the bits the guest SDK uses.
impl serde::Serialize for ExtensionPoints {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bits = EXTENSION_POINT_BITS
            .iter()
            .filter(|(f, _)| self.contains(*f))
            .fold(0u8, |acc, (_, b)| acc | b);
        s.serialize_u8(bits)
    }
}

impl<'de> serde::Deserialize<'de> for ExtensionPoints {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bits = <u8 as serde::Deserialize>::deserialize(d)?;
        Ok(EXTENSION_POINT_BITS
            .iter()
            .filter(|(_, b)| bits & b != 0)
            .fold(ExtensionPoints::empty(), |acc, (f, _)| acc | *f))
    }
}
