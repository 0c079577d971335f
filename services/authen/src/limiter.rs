//! Limits on failed logins, so passwords cannot be guessed at the speed of the hardware.
//!
//! Three budgets are checked before a password is, and each failure spends from all three:
//! - **per username and client address** (`LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS`, default 5):
//!   one client guessing one account. Since it is keyed by the pair, an attacker somewhere else
//!   never locks the real user out;
//! - **per client address** (`LOGIN_FAILURES_PER_ADDRESS`, default 50): one client trying many
//!   accounts (password spraying);
//! - **per username** (`LOGIN_FAILURES_PER_USERNAME`, default 100): many clients guessing one
//!   account. Set well above the first, it only closes during a distributed attack.
//!
//! Each budget holds its maximum and earns it back evenly over `LOGIN_FAILURE_WINDOW_SECONDS`
//! (default 300): with the defaults, one more guess every 60 s per pair. No lock is permanent:
//! an exhausted budget answers 429 with the `Retry-After` of its next allowance, and a successful
//! login restores the pair's budget. Budgets are per process (replicas each keep their own). The
//! address is the client's as `client_address` finds it: the TCP peer, or behind a proxy named
//! in `TRUSTED_PROXIES`, the address that proxy forwarded.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use platform::{
    ApiError, SettingsError,
    settings::{Variable, parse_var},
};

/// The budgets' sizes and the window over which each is earned back.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    pub per_username_and_address: u32,
    pub per_address: u32,
    pub per_username: u32,
    pub window: Duration,
}

impl LoginLimits {
    pub const VARIABLES: &[Variable] = &[
        Variable {
            name: "LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS",
            default: Some("5"),
            help: "failed logins allowed per username from one address",
        },
        Variable {
            name: "LOGIN_FAILURES_PER_ADDRESS",
            default: Some("50"),
            help: "failed logins allowed from one address",
        },
        Variable {
            name: "LOGIN_FAILURES_PER_USERNAME",
            default: Some("100"),
            help: "failed logins allowed per username",
        },
        Variable {
            name: "LOGIN_FAILURE_WINDOW_SECONDS",
            default: Some("300"),
            help: "the time in which each budget is earned back",
        },
    ];

    pub fn from_env() -> Result<Self, SettingsError> {
        let positive = |variable: &'static str, default: u32| -> Result<u32, SettingsError> {
            match parse_var(variable, default)? {
                0 => Err(SettingsError::new(variable, "must be at least 1")),
                value => Ok(value),
            }
        };
        Ok(Self {
            per_username_and_address: positive("LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS", 5)?,
            per_address: positive("LOGIN_FAILURES_PER_ADDRESS", 50)?,
            per_username: positive("LOGIN_FAILURES_PER_USERNAME", 100)?,
            window: Duration::from_secs(u64::from(positive("LOGIN_FAILURE_WINDOW_SECONDS", 300)?)),
        })
    }
}

/// What a budget is kept for. Usernames are cut to [`MAX_KEY_USERNAME`] bytes: no real one is
/// longer, and a 64 KiB "username" must not cost 64 KiB of memory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    UsernameAndAddress(String, IpAddr),
    Address(IpAddr),
    Username(String),
}

const MAX_KEY_USERNAME: usize = 64;

pub struct LoginLimiter {
    limits: LoginLimits,
    budgets: Mutex<Budgets>,
}

#[derive(Default)]
struct Budgets {
    /// Per key, the instant at which its budget is full again (the GCRA "theoretical arrival
    /// time"). A key whose instant has passed holds no information and is swept away.
    full_at: HashMap<Key, Instant>,
    /// How many keys the last sweep kept: the next one runs when the map has doubled since.
    kept_by_last_sweep: usize,
}

impl LoginLimiter {
    pub fn new(limits: LoginLimits) -> Self {
        Self {
            limits,
            budgets: Mutex::default(),
        }
    }

    /// 429 when any budget of this attempt is spent; otherwise the attempt may check a password.
    pub fn check(&self, username: &str, address: IpAddr) -> Result<(), ApiError> {
        self.check_at(username, address, Instant::now())
    }

    /// Spends one allowance from each budget of the attempt.
    pub fn record_failure(&self, username: &str, address: IpAddr) {
        self.record_failure_at(username, address, Instant::now());
    }

    /// The account's owner got in from this address: their own earlier typos no longer count.
    pub fn record_success(&self, username: &str, address: IpAddr) {
        let key = Key::UsernameAndAddress(key_username(username), client(address));
        self.budgets().full_at.remove(&key);
    }

    fn check_at(&self, username: &str, address: IpAddr, now: Instant) -> Result<(), ApiError> {
        let budgets = self.budgets();
        let wait = self
            .keys(username, address)
            .into_iter()
            .filter_map(|(key, interval, size)| {
                let full_at = *budgets.full_at.get(&key)?;
                // Spending one more would leave the budget owing more than its size.
                let owed_after = full_at.max(now) + interval - now;
                owed_after
                    .checked_sub(interval * size)
                    .filter(|wait| !wait.is_zero())
            })
            .max();
        match wait {
            None => Ok(()),
            Some(wait) => Err(ApiError::TooManyRequests {
                retry_after_seconds: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }),
        }
    }

    fn record_failure_at(&self, username: &str, address: IpAddr, now: Instant) {
        let mut budgets = self.budgets();
        for (key, interval, size) in self.keys(username, address) {
            let full_at = budgets.full_at.entry(key).or_insert(now);
            // Capped at a full debt, so requests racing past `check` cannot lengthen a lock.
            *full_at = ((*full_at).max(now) + interval).min(now + interval * size);
        }
        // Memory stays proportional to the keys that failed within the last window.
        if budgets.full_at.len() > (2 * budgets.kept_by_last_sweep).max(1024) {
            budgets.full_at.retain(|_, full_at| *full_at > now);
            budgets.kept_by_last_sweep = budgets.full_at.len();
        }
    }

    /// The attempt's three keys, each with the time one allowance takes to come back and the
    /// budget's size.
    fn keys(&self, username: &str, address: IpAddr) -> [(Key, Duration, u32); 3] {
        let username = key_username(username);
        let address = client(address);
        let limits = &self.limits;
        let interval = |size: u32| limits.window / size;
        [
            (
                Key::UsernameAndAddress(username.clone(), address),
                interval(limits.per_username_and_address),
                limits.per_username_and_address,
            ),
            (
                Key::Address(address),
                interval(limits.per_address),
                limits.per_address,
            ),
            (
                Key::Username(username),
                interval(limits.per_username),
                limits.per_username,
            ),
        ]
    }

    fn budgets(&self) -> std::sync::MutexGuard<'_, Budgets> {
        // Every update leaves the map consistent, so a panic elsewhere cannot have broken it.
        self.budgets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn key_username(username: &str) -> String {
    let mut end = username.len().min(MAX_KEY_USERNAME);
    while !username.is_char_boundary(end) {
        end -= 1;
    }
    username[..end].to_owned()
}

/// One client: an IPv4 address, or an IPv6 /64, the block a single host usually holds.
fn client(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & (u128::MAX << 64)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    fn limiter(pair: u32, address: u32, username: u32) -> LoginLimiter {
        LoginLimiter::new(LoginLimits {
            per_username_and_address: pair,
            per_address: address,
            per_username: username,
            window: Duration::from_secs(60),
        })
    }

    fn retry_after(result: Result<(), ApiError>) -> Option<u64> {
        match result {
            Ok(()) => None,
            Err(ApiError::TooManyRequests {
                retry_after_seconds,
            }) => Some(retry_after_seconds),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn the_pair_budget_closes_after_its_size_and_reopens_one_interval_later() {
        let limiter = limiter(3, 100, 100);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(retry_after(limiter.check_at("alice", A, t0)), None);
            limiter.record_failure_at("alice", A, t0);
        }
        // 3 per 60 s: one allowance every 20 s.
        assert_eq!(retry_after(limiter.check_at("alice", A, t0)), Some(20));
        let later = t0 + Duration::from_secs(15);
        assert_eq!(retry_after(limiter.check_at("alice", A, later)), Some(5));
        let reopened = t0 + Duration::from_secs(20);
        assert_eq!(retry_after(limiter.check_at("alice", A, reopened)), None);
        limiter.record_failure_at("alice", A, reopened);
        assert_eq!(
            retry_after(limiter.check_at("alice", A, reopened)),
            Some(20)
        );
    }

    #[test]
    fn an_attacker_elsewhere_does_not_lock_the_user_out() {
        let limiter = limiter(3, 100, 100);
        let now = Instant::now();
        for _ in 0..10 {
            limiter.record_failure_at("alice", A, now);
        }
        assert!(retry_after(limiter.check_at("alice", A, now)).is_some());
        assert_eq!(retry_after(limiter.check_at("alice", B, now)), None);
        // Nor does it touch other users at its own address, until its address budget is spent.
        assert_eq!(retry_after(limiter.check_at("bob", A, now)), None);
    }

    #[test]
    fn the_lock_is_bounded_however_many_failures_race_past_the_check() {
        let limiter = limiter(3, 100, 100);
        let now = Instant::now();
        for _ in 0..1000 {
            limiter.record_failure_at("alice", A, now);
        }
        assert_eq!(retry_after(limiter.check_at("alice", A, now)), Some(20));
    }

    #[test]
    fn the_address_budget_stops_spraying_across_usernames() {
        let limiter = limiter(3, 4, 100);
        let now = Instant::now();
        for user in ["u1", "u2", "u3", "u4"] {
            assert_eq!(retry_after(limiter.check_at(user, A, now)), None);
            limiter.record_failure_at(user, A, now);
        }
        assert_eq!(retry_after(limiter.check_at("u5", A, now)), Some(15));
        assert_eq!(retry_after(limiter.check_at("u5", B, now)), None);
    }

    #[test]
    fn the_username_budget_stops_a_distributed_attack() {
        let limiter = limiter(3, 100, 4);
        let now = Instant::now();
        for last in 1..=4u8 {
            let address = IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 0, last));
            limiter.record_failure_at("alice", address, now);
        }
        assert_eq!(retry_after(limiter.check_at("alice", B, now)), Some(15));
    }

    #[test]
    fn success_restores_only_the_pair_budget() {
        let limiter = limiter(2, 3, 100);
        let now = Instant::now();
        limiter.record_failure_at("alice", A, now);
        limiter.record_failure_at("alice", A, now);
        assert!(retry_after(limiter.check_at("alice", A, now)).is_some());
        limiter.record_success("alice", A);
        assert_eq!(retry_after(limiter.check_at("alice", A, now)), None);
        // The address budget still remembers both failures.
        limiter.record_failure_at("alice", A, now);
        assert!(retry_after(limiter.check_at("carol", A, now)).is_some());
    }

    #[test]
    fn keys_whose_budgets_are_full_again_are_swept() {
        let limiter = limiter(3, 100_000, 100_000);
        let t0 = Instant::now();
        for n in 0..2000 {
            limiter.record_failure_at(&format!("user{n}"), A, t0);
        }
        // 4001 keys (two per username, one address), all spent at t0 and full again by `later`.
        let later = t0 + Duration::from_secs(61);
        for n in 0..1200 {
            limiter.record_failure_at(&format!("other{n}"), A, later);
        }
        let kept = limiter.budgets().full_at.len();
        assert!(
            kept <= 2401,
            "{kept} keys kept; the 4001 stale ones should be gone"
        );
    }

    #[test]
    fn ipv6_clients_are_their_64_block_and_mapped_ipv4_is_ipv4() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let same_block: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other_block: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client(one), client(same_block));
        assert_ne!(client(one), client(other_block));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client(mapped), A);
    }

    #[test]
    fn long_usernames_are_cut_on_a_character_boundary() {
        let long = "é".repeat(100);
        let key = key_username(&long);
        assert!(key.len() <= MAX_KEY_USERNAME);
        assert!(long.starts_with(&key));
    }
}
