//! The engine's one pseudo-random generator: splitmix64, self-written so the
//! same seed gives the same stream natively and in wasm. Callers derive their
//! own starting state from the seed (and the layer, where layers must be
//! independent of how they are split over workers).

/// splitmix64; the field is the state.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n >= 1`).
    pub fn below(&mut self, n: usize) -> usize {
        mul_hi(self.next(), n as u64) as usize
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// Approximately standard normal (Irwin-Hall of four uniforms).
    pub fn gauss(&mut self) -> f64 {
        (self.unit() + self.unit() + self.unit() + self.unit() - 2.0) * 1.732_050_807_568_877_2
    }
}

/// The high 64 bits of `a * b` (what `((a as u128 * b as u128) >> 64)` gives).
#[cfg(not(target_arch = "wasm32"))]
#[inline(always)]
fn mul_hi(a: u64, b: u64) -> u64 {
    ((a as u128 * b as u128) >> 64) as u64
}

/// The high 64 bits of `a * b` from 32-bit halves: wasm has no 64x64->128
/// multiply, and `u128` there is a call to a full 128x128 `__multi3`.
#[cfg(target_arch = "wasm32")]
#[inline(always)]
fn mul_hi(a: u64, b: u64) -> u64 {
    mul_hi_halves(a, b)
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
#[inline(always)]
fn mul_hi_halves(a: u64, b: u64) -> u64 {
    const LO: u64 = 0xffff_ffff;
    let (a0, a1, b0, b1) = (a & LO, a >> 32, b & LO, b >> 32);
    let (p00, p01, p10, p11) = (a0 * b0, a0 * b1, a1 * b0, a1 * b1);
    let mid = (p00 >> 32) + (p01 & LO) + (p10 & LO);
    p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32)
}

#[cfg(test)]
mod tests {
    #[test]
    fn mul_hi_halves_is_the_u128_high_word() {
        let mut r = super::SplitMix64(7);
        let edge = [0u64, 1, 2, 0xffff_ffff, 0x1_0000_0000, u64::MAX - 1, u64::MAX];
        for &a in &edge {
            for &b in &edge {
                assert_eq!(super::mul_hi_halves(a, b), ((a as u128 * b as u128) >> 64) as u64);
            }
        }
        for _ in 0..100_000 {
            let (a, b) = (r.next(), r.next() >> (r.next() % 64));
            assert_eq!(super::mul_hi_halves(a, b), ((a as u128 * b as u128) >> 64) as u64);
        }
    }
}
