//! A fast, non-keyed hasher for the small maps plugins build every cycle
//! (label values, node ids). std's SipHash defends against hash flooding,
//! which plugin-local maps of cluster data do not need, and costs several
//! times more per short key inside a component.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a, 64-bit.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A `HashMap` with [`Fnv`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;
/// A `HashSet` with [`Fnv`].
pub type FastSet<K> = HashSet<K, BuildHasherDefault<Fnv>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_work_and_hashes_are_stable() {
        let mut m: FastMap<String, i64> = FastMap::default();
        *m.entry("zone-a".into()).or_insert(0) += 2;
        *m.entry("zone-a".into()).or_insert(0) += 1;
        assert_eq!(m.get("zone-a"), Some(&3));
        // FNV-1a of "a" is a published test vector.
        let mut h = Fnv::default();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
    }
}
