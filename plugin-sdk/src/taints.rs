//! Toleration matching with upstream's semantics.

use crate::types::{Taint, TaintEffect, Toleration, TolerationOperator};

/// Whether `toleration` tolerates `taint` (upstream `Toleration.ToleratesTaint`).
///
/// An empty key with `Exists` tolerates every key; no effect tolerates every effect.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if toleration.effect.is_some_and(|e| e != taint.effect) {
        return false;
    }
    if !toleration.key.is_empty() && toleration.key != taint.key {
        return false;
    }
    match toleration.operator {
        TolerationOperator::Exists => true,
        TolerationOperator::Equal => toleration.value == taint.value,
    }
}

/// Whether any toleration tolerates `taint`.
pub fn tolerated_by_any(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// The first taint with one of `effects` that no toleration tolerates.
pub fn first_untolerated<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    effects: &[TaintEffect],
) -> Option<&'a Taint> {
    taints
        .iter()
        .find(|t| effects.contains(&t.effect) && !tolerated_by_any(tolerations, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{taint, toleration};

    #[test]
    fn equal_needs_the_same_value_and_exists_any() {
        let t = taint("k", "v", TaintEffect::NoSchedule);
        assert!(tolerates(
            &toleration("k", TolerationOperator::Equal, "v", None),
            &t
        ));
        assert!(!tolerates(
            &toleration("k", TolerationOperator::Equal, "w", None),
            &t
        ));
        assert!(tolerates(
            &toleration("k", TolerationOperator::Exists, "", None),
            &t
        ));
        assert!(tolerates(
            &toleration("", TolerationOperator::Exists, "", None),
            &t
        ));
    }

    #[test]
    fn effect_must_match_when_given() {
        let t = taint("k", "v", TaintEffect::NoExecute);
        let wrong = toleration(
            "k",
            TolerationOperator::Exists,
            "",
            Some(TaintEffect::NoSchedule),
        );
        assert!(!tolerates(&wrong, &t));
        let right = toleration(
            "k",
            TolerationOperator::Exists,
            "",
            Some(TaintEffect::NoExecute),
        );
        assert!(tolerates(&right, &t));
    }
}
