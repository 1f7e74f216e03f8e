//! Kubernetes resource quantities (`100m`, `1.5`, `512Mi`, `1e3`) as integers,
//! rounded up as upstream's `MilliValue()` and `Value()` do.

/// Why a quantity string is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid quantity {0:?}")]
pub struct QuantityError(pub String);

/// The value in thousandths of the unit (`cpu` in millicores), rounded up.
pub fn milli_value(q: &str) -> Result<i64, QuantityError> {
    scaled(q, 3)
}

/// The value in units (bytes for memory), rounded up.
pub fn value(q: &str) -> Result<i64, QuantityError> {
    scaled(q, 0)
}

/// `q` × 10^`extra_decimals`, rounded up to an integer.
fn scaled(q: &str, extra_decimals: i32) -> Result<i64, QuantityError> {
    let bad = || QuantityError(q.to_string());
    let s = q.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    if number.is_empty() {
        return Err(bad());
    }
    // Binary suffixes multiply by 2^(10k); decimal ones and exponents shift decimals.
    let (binary_power, mut exponent): (u32, i32) = match suffix {
        "" => (0, 0),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        e if e.starts_with(['e', 'E']) => (0, e[1..].parse().map_err(|_| bad())?),
        _ => return Err(bad()),
    };
    exponent += extra_decimals;
    let negative = number.starts_with('-');
    let digits = number.trim_start_matches(['+', '-']);
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    if !(int_part.chars().all(|c| c.is_ascii_digit())
        && frac_part.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(bad());
    }
    // mantissa × 10^(exponent - frac digits) × 2^binary_power, in i128 to stay exact.
    let mantissa: i128 = format!("{int_part}{frac_part}")
        .parse()
        .map_err(|_| bad())?;
    let shift = exponent - frac_part.len() as i32;
    let numerator = mantissa * (1i128 << binary_power);
    let result = if shift >= 0 {
        numerator
            .checked_mul(10i128.checked_pow(shift as u32).ok_or_else(bad)?)
            .ok_or_else(bad)?
    } else {
        let divisor = 10i128.checked_pow((-shift) as u32).ok_or_else(bad)?;
        // Round away from zero, as resource.Quantity's ceil does for positive values.
        (numerator + divisor - 1) / divisor
    };
    let result = if negative { -result } else { result };
    i64::try_from(result).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_in_millicores_rounds_up() {
        for (q, m) in [
            ("100m", 100),
            ("1", 1000),
            ("1.5", 1500),
            ("0.0001", 1),
            ("2k", 2_000_000),
            ("1e-3", 1),
        ] {
            assert_eq!(milli_value(q), Ok(m), "{q}");
        }
    }

    #[test]
    fn memory_in_bytes_with_binary_and_decimal_suffixes() {
        for (q, b) in [
            ("512Mi", 512 << 20),
            ("1Gi", 1 << 30),
            ("1G", 1_000_000_000),
            ("1.5Ki", 1536),
            ("128974848", 128_974_848),
            ("129e6", 129_000_000),
            ("123Mi", 123 << 20),
            ("1m", 1),
        ] {
            assert_eq!(value(q), Ok(b), "{q}");
        }
    }

    #[test]
    fn garbage_is_an_error() {
        for q in ["", "Mi", "1.2.3", "1Xi", "abc"] {
            assert!(value(q).is_err(), "{q}");
        }
    }
}
