//! Score normalization helpers, as upstream's `helper.DefaultNormalizeScore`.

/// Upstream's `MaxNodeScore`.
pub const MAX_NODE_SCORE: i64 = 100;

/// Scales scores so the highest becomes `MAX_NODE_SCORE`; with `reverse`, the
/// highest becomes 0 and a zero becomes `MAX_NODE_SCORE`. All zero stays zero
/// (or all `MAX_NODE_SCORE` when reversed).
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max <= 0 {
        if reverse {
            scores.fill(MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        let scaled = MAX_NODE_SCORE * *s / max;
        *s = if reverse {
            MAX_NODE_SCORE - scaled
        } else {
            scaled
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_maps_most_to_zero_and_none_to_max() {
        let mut s = [0, 1, 2];
        default_normalize(&mut s, true);
        assert_eq!(s, [100, 50, 0]);
        let mut zeros = [0, 0];
        default_normalize(&mut zeros, true);
        assert_eq!(zeros, [100, 100]);
    }

    #[test]
    fn forward_uses_integer_division() {
        let mut s = [1, 2, 3];
        default_normalize(&mut s, false);
        assert_eq!(s, [33, 66, 100]);
    }
}
