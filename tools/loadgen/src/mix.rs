//! What to send: kinds of request in their proportions.

use std::fmt::Debug;

use crate::Rng;

/// A kind of request: how reports name it and what a healthy platform answers it with.
pub trait Kind: Copy + Ord + Debug + Send + Sync + 'static {
    /// E.g. `GET /blogs/{id}`.
    fn label(self) -> &'static str;
    /// Whether a healthy platform answers this kind with `status`.
    fn expects(self, status: u16) -> bool;
}

/// Kinds of request with their weights: each is drawn with the probability of its weight over
/// the sum of them all.
#[derive(Clone, Debug)]
pub struct Mix<K> {
    weights: Vec<(K, u64)>,
    total: u64,
}

impl<K: Copy> Mix<K> {
    /// A mix of `weights`, e.g. `&[(List, 6), (Write, 1)]`. Panics when they add up to 0.
    pub fn new(weights: &[(K, u64)]) -> Self {
        let total = weights.iter().map(|(_, weight)| weight).sum();
        assert!(total > 0, "a mix needs a kind with a weight above 0");
        Self {
            weights: weights.to_vec(),
            total,
        }
    }

    /// A kind, with the probabilities of the weights.
    pub fn choose(&self, rng: &mut Rng) -> K {
        let mut ticket = rng.below(self.total);
        for (kind, weight) in &self.weights {
            if ticket < *weight {
                return *kind;
            }
            ticket -= weight;
        }
        unreachable!("the ticket is below the total of the weights")
    }

    /// The request numbered or seeded `seed`: its kind, and a generator of its own for its
    /// details (which user, which blog, ...). A run that draws `mix.draw(run.next_u64())` for
    /// every request it plans, sent or skipped, sends the same requests for the same seed.
    pub fn draw(&self, seed: u64) -> (K, Rng) {
        let mut rng = Rng::new(seed);
        (self.choose(&mut rng), rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEIGHTS: [(char, u64); 4] = [('a', 60), ('b', 25), ('c', 10), ('d', 5)];

    fn shares(draws: impl Iterator<Item = char>) -> Vec<f64> {
        let mut counts = [0u64; 4];
        let mut total = 0;
        for kind in draws {
            counts[(kind as u8 - b'a') as usize] += 1;
            total += 1;
        }
        counts
            .iter()
            .map(|n| *n as f64 * 100.0 / total as f64)
            .collect()
    }

    fn assert_follows_the_weights(shares: &[f64]) {
        for ((kind, weight), share) in WEIGHTS.iter().zip(shares) {
            // Over 200 000 draws the standard deviation of a share is at most 0.11 points; half
            // a point is more than four of them.
            assert!(
                (share - *weight as f64).abs() < 0.5,
                "{kind}: {share:.2}% instead of {weight}%"
            );
        }
    }

    #[test]
    fn choices_follow_the_weights() {
        let mix = Mix::new(&WEIGHTS);
        let mut rng = Rng::new(20_240_601);
        assert_follows_the_weights(&shares((0..200_000).map(|_| mix.choose(&mut rng))));
    }

    #[test]
    fn draws_follow_the_weights_and_repeat_for_a_seed() {
        let mix = Mix::new(&WEIGHTS);
        let seeds = [0, 1, 42, 1_195_658_576_390_188_212, u64::MAX];
        let draws = seeds.iter().flat_map(|&seed| {
            let mut run = Rng::new(seed);
            (0..40_000)
                .map(|_| mix.draw(run.next_u64()).0)
                .collect::<Vec<_>>()
        });
        assert_follows_the_weights(&shares(draws));
        // Consecutive numbers (a counter as the seed) are spread as well.
        assert_follows_the_weights(&shares((0..200_000).map(|n| mix.draw(n).0)));
        let kinds = |seed| {
            let mut run = Rng::new(seed);
            (0..50)
                .map(|_| mix.draw(run.next_u64()).0)
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds(9), kinds(9));
        assert_ne!(kinds(9), kinds(10));
    }

    #[test]
    #[should_panic(expected = "a weight above 0")]
    fn a_mix_of_nothing_is_refused() {
        Mix::new(&[('a', 0)]);
    }
}
