//! Failed logins are limited per username and client address, per address, and per username
//! (429 with `Retry-After`), and no lock outlives its `Retry-After`.
//!
//! Clients at other addresses are 127.0.0.x: the whole 127/8 block is loopback on Linux, so a
//! client bound to 127.0.0.2 reaches the service on 127.0.0.1 from a different peer address.

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use e2e_tests::{Platform, PlatformOptions, Reply};
use serde_json::json;

/// Budgets small enough to spend in a test: 3 failures per username and address (one back every
/// 8 s), 6 per address (one per 4 s), 8 per username (one per 3 s). The intervals are long beside
/// an argon2 check, so a budget cannot earn an allowance back while a test is spending it.
fn limits() -> PlatformOptions {
    PlatformOptions {
        env: [
            ("LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS", "3"),
            ("LOGIN_FAILURES_PER_ADDRESS", "6"),
            ("LOGIN_FAILURES_PER_USERNAME", "8"),
            ("LOGIN_FAILURE_WINDOW_SECONDS", "24"),
        ]
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .to_vec(),
        ..PlatformOptions::default()
    }
}

async fn login_from(platform: &Platform, source: &str, username: &str, password: &str) -> Reply {
    let url = format!("{}/login", platform.url("authen"));
    let credentials = json!({ "username": username, "password": password });
    login_at(&url, source, credentials, None).await
}

/// A login sent from `source`, with the `X-Forwarded-For` a client may write itself.
async fn login_at(
    url: &str,
    source: &str,
    credentials: serde_json::Value,
    forwarded_for: Option<&str>,
) -> Reply {
    let client = reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    let mut request = client.post(url).json(&credentials);
    if let Some(forwarded_for) = forwarded_for {
        request = request.header("X-Forwarded-For", forwarded_for);
    }
    e2e_tests::read(request.send().await.expect("the service answers")).await
}

fn retry_after(reply: &Reply) -> u64 {
    assert_eq!(reply.status, 429, "{}", reply.text);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
    reply
        .header("retry-after")
        .expect("a 429 says when to retry")
        .parse()
        .expect("Retry-After in seconds")
}

#[tokio::test(flavor = "multi_thread")]
async fn guessing_one_account_is_stopped_for_that_client_only_and_not_for_long() {
    let platform = Platform::start_with(limits()).await;
    platform.user_token("alice", &["READ"]).await;
    let attacker = "127.0.0.2";

    for _ in 0..3 {
        let reply = login_from(&platform, attacker, "alice", "wrong-password").await;
        assert_eq!(reply.status, 401, "{}", reply.text);
    }
    let limited = login_from(&platform, attacker, "alice", "wrong-password").await;
    let wait = retry_after(&limited);
    assert!((1..=8).contains(&wait), "Retry-After {wait}");
    // Even the right password is refused while limited: otherwise the 429 would be an oracle.
    let right = login_from(&platform, attacker, "alice", "alice-password").await;
    assert_eq!(right.status, 429);
    assert!(!right.text.contains("access_token"));

    // The real user, elsewhere, is not locked out by the attacker.
    let owner = login_from(&platform, "127.0.0.6", "alice", "alice-password").await;
    assert_eq!(owner.status, 200, "{}", owner.text);

    // Nor for longer than Retry-After said.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let later = login_from(&platform, attacker, "alice", "alice-password").await;
    assert_eq!(later.status, 200, "{}", later.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn spraying_many_accounts_from_one_address_is_stopped() {
    let platform = Platform::start_with(limits()).await;
    let sprayer = "127.0.0.3";
    for n in 0..6 {
        let reply = login_from(&platform, sprayer, &format!("user{n}"), "password1").await;
        assert_eq!(reply.status, 401, "{}", reply.text);
    }
    let limited = login_from(&platform, sprayer, "user6", "password1").await;
    let wait = retry_after(&limited);
    assert!((1..=4).contains(&wait), "Retry-After {wait}");
    // Another address is unaffected.
    let elsewhere = login_from(&platform, "127.0.0.4", "user6", "password1").await;
    assert_eq!(elsewhere.status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_distributed_attack_on_one_account_is_stopped_and_lifts_when_it_ends() {
    let platform = Platform::start_with(limits()).await;
    platform.user_token("bob", &["READ"]).await;
    // Eight addresses, one guess each: no per-address budget is touched much.
    for last in 10..18 {
        let reply = login_from(&platform, &format!("127.0.0.{last}"), "bob", "guess-1234").await;
        assert_eq!(reply.status, 401, "{}", reply.text);
    }
    let limited = login_from(&platform, "127.0.0.30", "bob", "guess-1234").await;
    let wait = retry_after(&limited);
    assert!((1..=3).contains(&wait), "Retry-After {wait}");
    // The owner is refused too while it lasts (the price of stopping a distributed attack)...
    let owner = login_from(&platform, "127.0.0.7", "bob", "bob-password").await;
    assert_eq!(owner.status, 429);
    // ...but only until Retry-After.
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let owner = login_from(&platform, "127.0.0.7", "bob", "bob-password").await;
    assert_eq!(owner.status, 200, "{}", owner.text);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn successful_logins_are_never_limited() {
    let platform = Platform::start_with(limits()).await;
    platform.user_token("carol", &["READ"]).await;
    for _ in 0..20 {
        let reply = login_from(&platform, "127.0.0.5", "carol", "carol-password").await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
}

/// dave's login to the balancer's authen port from `source` (nginx appends the address it saw to
/// `X-Forwarded-For`).
async fn login_through_balancer(
    platform: &Platform,
    source: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> Reply {
    let balancer = platform.balancer.as_ref().unwrap().ports()["authen"];
    let url = format!("http://127.0.0.1:{balancer}/login");
    let credentials = json!({ "username": "dave", "password": password });
    login_at(&url, source, credentials, forwarded_for).await
}

/// Fails dave's logins from `source` until one is refused; how many failed with 401. Each
/// attempt forges a new `X-Forwarded-For`, as an attacker wanting a fresh budget would.
async fn failures_through_balancer_until_limited(platform: &Platform, source: &str) -> u32 {
    let mut failures = 0;
    loop {
        let forged = format!("198.51.100.{failures}");
        let reply = login_through_balancer(platform, source, "wrong-password", Some(&forged)).await;
        if reply.status != 401 {
            assert_eq!(reply.status, 429, "{}", reply.text);
            return failures;
        }
        failures += 1;
        assert!(failures <= 8, "never limited");
    }
}

async fn replicas_behind_nginx(env: &[(&str, &str)]) -> Platform {
    let mut options = limits();
    options.replicas = 2;
    options.env.extend(
        env.iter()
            .map(|(key, value)| (key.to_string(), value.to_string())),
    );
    let platform = Platform::start_with(options).await;
    platform.user_token("dave", &["READ"]).await;
    platform
}

/// Behind a balancer each authen-service replica keeps its own budgets, and by default sees the
/// balancer's address rather than the client's: one client guessing one account gets one budget
/// per replica, and an attacker's failures count against the owner's address too. docs/deploy.md
/// ("What each replica keeps to itself") says so and what to do about it.
#[tokio::test(flavor = "multi_thread")]
async fn behind_a_balancer_each_replica_counts_alone_and_every_client_shares_its_address() {
    let platform = replicas_behind_nginx(&[]).await;
    // Three failures per username and address, per replica: nginx alternates, so six pass.
    let failures = failures_through_balancer_until_limited(&platform, "127.0.0.2").await;
    println!("failed logins before a 429, two replicas behind nginx: {failures}");
    assert_eq!(failures, 6);
    // The owner, at another address, is refused as well: both replicas see nginx's address.
    let owner = login_through_balancer(&platform, "127.0.0.6", "dave-password", None).await;
    assert_eq!(owner.status, 429, "{}", owner.text);
}

/// With nginx named in `TRUSTED_PROXIES`, authen-service takes the client from the address nginx
/// appends to `X-Forwarded-For`: the attacker's failures are its own, whatever it forges.
#[tokio::test(flavor = "multi_thread")]
async fn behind_a_trusted_balancer_each_client_keeps_its_own_budget() {
    let platform = replicas_behind_nginx(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    // Had a forged address been believed, every attempt would have had a fresh budget.
    let failures = failures_through_balancer_until_limited(&platform, "127.0.0.2").await;
    assert_eq!(failures, 6);
    let owner = login_through_balancer(&platform, "127.0.0.6", "dave-password", None).await;
    assert_eq!(owner.status, 200, "{}", owner.text);
    // A client reaching a replica directly is no trusted proxy: the address it forges is ignored.
    let url = format!("{}/login", platform.url("authen"));
    let credentials = json!({ "username": "dave", "password": "dave-password" });
    let direct = login_at(&url, "127.0.0.2", credentials, Some("127.0.0.7")).await;
    assert_eq!(direct.status, 429, "{}", direct.text);
}
