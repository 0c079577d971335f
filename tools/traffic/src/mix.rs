//! What to send: the kinds of request, their weights in the mix, and the small seeded PRNG that
//! picks them (SplitMix64: a few lines, and the same sequence for a seed on every platform and
//! every version of this tool, which is what `--seed` promises).

/// One kind of request in the mix. Each has the status it should get from a healthy platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `GET /blogs?limit=20&offset=<small>` by any user.
    ListBlogs,
    /// `GET /blogs/{id}` of a known blog (200), now and then of an unknown id (404).
    GetBlog,
    /// `POST /blogs` by a user with `WRITE` (201).
    WriterPost,
    /// `POST /blogs` by a user with only `READ` (403).
    ReaderPost,
    /// `POST /login` with a wrong password or an unknown user (401).
    BadLogin,
    /// `POST /login` with the right password (200).
    GoodLogin,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::ListBlogs,
        Kind::GetBlog,
        Kind::WriterPost,
        Kind::ReaderPost,
        Kind::BadLogin,
        Kind::GoodLogin,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Kind::ListBlogs => "GET /blogs",
            Kind::GetBlog => "GET /blogs/{id}",
            Kind::WriterPost => "POST /blogs (writer)",
            Kind::ReaderPost => "POST /blogs (reader)",
            Kind::BadLogin => "POST /login (bad)",
            Kind::GoodLogin => "POST /login (good)",
        }
    }

    /// Its share of the mix, in percent (they add up to 100).
    pub fn weight(self) -> u64 {
        match self {
            Kind::ListBlogs => 60,
            Kind::GetBlog => 15,
            Kind::WriterPost => 10,
            Kind::ReaderPost => 7,
            Kind::BadLogin => 5,
            Kind::GoodLogin => 3,
        }
    }

    /// Whether a healthy platform answers this kind with `status`.
    pub fn expects(self, status: u16) -> bool {
        match self {
            Kind::ListBlogs | Kind::GoodLogin => status == 200,
            Kind::GetBlog => status == 200 || status == 404,
            Kind::WriterPost => status == 201,
            Kind::ReaderPost => status == 403,
            Kind::BadLogin => status == 401,
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough to pick requests.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
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

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            items.get(self.below(items.len() as u64) as usize)
        }
    }
}

/// Picks a kind of request with the probabilities of [`Kind::weight`].
pub fn choose(rng: &mut Rng) -> Kind {
    let total: u64 = Kind::ALL.iter().map(|kind| kind.weight()).sum();
    let mut ticket = rng.below(total);
    for kind in Kind::ALL {
        if ticket < kind.weight() {
            return kind;
        }
        ticket -= kind.weight();
    }
    Kind::ALL[Kind::ALL.len() - 1]
}

/// The next request of a run: its kind, and a generator of its own for its details (which user,
/// which blog, ...). Each request takes exactly one number from the run's stream, so a seed
/// gives the same sequence of requests whether or not some were skipped.
pub fn next_request(run: &mut Rng) -> (Kind, Rng) {
    let mut request = Rng::new(run.next_u64());
    (choose(&mut request), request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_add_up_to_100() {
        assert_eq!(Kind::ALL.iter().map(|k| k.weight()).sum::<u64>(), 100);
        for (i, kind) in Kind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_sequence() {
        let a: Vec<u64> = {
            let mut rng = Rng::new(42);
            (0..8).map(|_| rng.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut rng = Rng::new(42);
            (0..8).map(|_| rng.next_u64()).collect()
        };
        assert_eq!(a, b);
        let mut other = Rng::new(43);
        assert_ne!(a[0], other.next_u64());
        // SplitMix64's published first output for seed 0 (e.g. in the xoshiro reference seeding).
        assert_eq!(Rng::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
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
    fn the_weighted_choice_follows_the_weights() {
        const DRAWS: u64 = 200_000;
        let mut rng = Rng::new(20_240_601);
        let mut counts = [0u64; 6];
        for _ in 0..DRAWS {
            counts[choose(&mut rng).index()] += 1;
        }
        for kind in Kind::ALL {
            let share = counts[kind.index()] as f64 / DRAWS as f64 * 100.0;
            // The standard deviation of a share p over 200 000 draws is at most 0.11 points;
            // half a point is more than four of them.
            assert!(
                (share - kind.weight() as f64).abs() < 0.5,
                "{}: {share:.2}% instead of {}%",
                kind.label(),
                kind.weight()
            );
        }
    }

    #[test]
    fn the_requests_of_a_run_follow_the_weights() {
        // The way a run draws them, over several seeds.
        let mut counts = [0u64; 6];
        let mut draws = 0u64;
        for seed in [0, 1, 42, 1_195_658_576_390_188_212, u64::MAX] {
            let mut run = Rng::new(seed);
            for _ in 0..50_000 {
                counts[next_request(&mut run).0.index()] += 1;
                draws += 1;
            }
        }
        for kind in Kind::ALL {
            let share = counts[kind.index()] as f64 / draws as f64 * 100.0;
            assert!(
                (share - kind.weight() as f64).abs() < 0.5,
                "{}: {share:.2}% instead of {}%",
                kind.label(),
                kind.weight()
            );
        }
        // The same seed, the same requests.
        let kinds = |seed| {
            let mut run = Rng::new(seed);
            (0..50)
                .map(|_| next_request(&mut run).0)
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds(9), kinds(9));
        assert_ne!(kinds(9), kinds(10));
    }

    #[test]
    fn chance_follows_its_percent() {
        let mut rng = Rng::new(1);
        let hits = (0..100_000).filter(|_| rng.chance(10)).count();
        assert!((9_500..10_500).contains(&hits), "{hits}");
    }
}
