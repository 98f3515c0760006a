//! `f64::max` / `f64::min` for the solvers' hot loops, without a libm call.
//!
//! On wasm32 `f64::max` (LLVM `maxnum`: a NaN operand yields the other one)
//! cannot use wasm's `f64.max` (which propagates NaN), so LLVM emits an
//! out-of-line call to compiler-builtins' `fmax` for every use: in the
//! level-2 move evaluation that was a quarter of the wasm solve time and
//! kept the loop from staying in registers. These are plain compares and
//! selects with the same NaN rule (a NaN operand yields the other one).
//! Only the sign of an equal pair of zeros may differ from `f64::max`
//! (which leaves it unspecified too); callers only add and compare results.

/// The larger of `x` and `y`; if one is NaN, the other.
#[inline(always)]
pub fn max(x: f64, y: f64) -> f64 {
    if x > y || y.is_nan() {
        x
    } else {
        y
    }
}

/// The smaller of `x` and `y`; if one is NaN, the other.
#[inline(always)]
pub fn min(x: f64, y: f64) -> f64 {
    if x < y || y.is_nan() {
        x
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_as_std_except_zero_sign() {
        let v = [f64::NAN, f64::NEG_INFINITY, -2.5, -0.0, 0.0, 1e-300, 3.0, f64::INFINITY];
        for &x in &v {
            for &y in &v {
                let (a, b) = (super::max(x, y), x.max(y));
                assert!(a == b || (a.is_nan() && b.is_nan()), "max({x}, {y}) = {a}, std {b}");
                let (a, b) = (super::min(x, y), x.min(y));
                assert!(a == b || (a.is_nan() && b.is_nan()), "min({x}, {y}) = {a}, std {b}");
            }
        }
    }
}
