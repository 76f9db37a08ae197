//! Comparisons whose timing must not depend on the data.

/// Whether `a` and `b` are equal, in a time that depends on their length
/// only: no early exit at the first difference, so timing reveals nothing
/// about how much of a guessed digest response or admin token was right.
/// Slices of different lengths are unequal at once; the lengths compared
/// (a hash's, a configured token's) are not secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equal_and_unequal() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
