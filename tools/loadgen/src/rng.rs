//! The seeded generator the load is drawn with: rand_chacha's ChaCha8, whose sequence for a seed
//! is the same on every platform and in every version of the crate, which is what
//! `traffic --seed` promises. The services' scenario flags draw from the same generator.

use rand_chacha::{
    ChaCha8Rng,
    rand_core::{RngCore, SeedableRng},
};

/// A seeded pseudo-random number generator.
#[derive(Clone, Debug)]
pub struct Rng(ChaCha8Rng);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `0..n` (0 when `n` is 0). Multiply-shift; the bias is below 2^-40 for the
    /// small `n` used here.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True `percent` times out of 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of a slice (`None` when it is empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            items.get(self.below(items.len() as u64) as usize)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_sequence() {
        let sequence = |seed| {
            let mut rng = Rng::new(seed);
            (0..8).map(|_| rng.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(sequence(42), sequence(42));
        assert_ne!(sequence(42)[0], sequence(43)[0]);
        // The sequence is pinned: a change would change every `traffic --seed` run.
        assert_eq!(Rng::new(0).next_u64(), 0xb585_f767_a79a_3b6c);
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = Rng::new(7);
        for n in [1, 2, 3, 10, 100, 1_000_003] {
            for _ in 0..1000 {
                assert!(rng.below(n) < n);
            }
        }
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng.pick::<u8>(&[]), None);
        assert_eq!(rng.pick(&[5]), Some(&5));
    }

    #[test]
    fn chance_follows_its_percent() {
        let mut rng = Rng::new(1);
        let hits = (0..100_000).filter(|_| rng.chance(10)).count();
        assert!((9_500..10_500).contains(&hits), "{hits}");
    }
}
