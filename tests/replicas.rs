//! Two replicas of every service behind nginx, as docs/deploy.md ("Replicas behind a load
//! balancer") runs them: the services reach author-service through the balancer too. A user's
//! story works through it, a logout reaches every author-service replica within a second, and a
//! rolling restart, a crashed replica and a key rotation cost the users what the deployment guide
//! says: nothing, except the writes the crashed replica had in hand.
//!
//! The load tests take the machine one at a time and print their figures (`--nocapture`).

use std::time::{Duration, Instant};

use e2e_tests::{
    Api, BACK_IN_ROTATION, Platform, PlatformOptions, Route, SERVICES, generate_keys,
    load::{self, Kind, Mix, OpenLoop, Record},
    project_root, site_config,
};
use mongodb::bson::doc;

async fn replicated() -> Platform {
    Platform::start_with(PlatformOptions {
        replicas: 2,
        ..PlatformOptions::default()
    })
    .await
}

/// The load tests run one at a time: together they would measure the machine, not the platform.
async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// Every request of the mix but the administrator's, whose argon2 hashing would dominate two
/// cores: reads, writes and logins.
const MIX: [(Kind, u64); 4] = [
    (Kind::List, 4),
    (Kind::Read, 3),
    (Kind::Write, 2),
    (Kind::Login, 1),
];

/// Requests a second: steady, and well below what two cores serve (see docs/benchmarks.md).
const RATE: f64 = 25.0;

/// Open-loop load on `platform` for `duration`, in the background.
fn load_for(
    platform: &Platform,
    mix: &Mix,
    duration: Duration,
) -> tokio::task::JoinHandle<OpenLoop> {
    let (api, mix) = (platform.api.clone(), mix.clone());
    tokio::spawn(async move { load::open_loop(&api, &mix, RATE, duration, 64).await })
}

/// Prints what the load did and returns the requests that were not answered as a healthy
/// platform answers; when there are some, prints what nginx logged about failed attempts.
fn report(platform: &Platform, what: &str, run: &OpenLoop, origin: Instant) -> Vec<Record> {
    let failed: Vec<Record> = run
        .records
        .iter()
        .filter(|record| !record.succeeded())
        .cloned()
        .collect();
    println!(
        "{what}: {} requests sent in {:.1} s ({} skipped), {} failed; statuses {:?}",
        run.records.len(),
        run.elapsed.as_secs_f64(),
        run.skipped,
        failed.len(),
        load::status_counts(&run.records),
    );
    let balancer = platform.balancer.as_ref().expect("a balancer");
    println!(
        "nginx sent {} requests again to the other replica",
        balancer.retried()
    );
    for record in &failed {
        println!("  failed: {}", record.describe(origin));
    }
    if !failed.is_empty() {
        println!("nginx's error log:\n{}", balancer.error_log());
    }
    failed
}

/// The blogs answered 201 under load, and how many blogs the database holds beyond the mix's
/// seeds.
async fn writes(platform: &Platform, run: &OpenLoop) -> (u64, u64) {
    let created = run
        .records
        .iter()
        .filter(|record| record.kind == Kind::Write && record.status() == Some(201))
        .count() as u64;
    let blogs = platform.mongo.collection("blogs").await;
    let stored = blogs.count_documents(doc! {}).await.unwrap() - Mix::SEED_BLOGS;
    println!("writes: {created} answered 201, {stored} stored");
    (created, stored)
}

/// A client for each of the service's replicas, to ask each one directly.
fn replica_apis(platform: &Platform, service: &str) -> Vec<Api> {
    platform
        .replicas(service)
        .iter()
        .map(|replica| platform.replica_api(replica))
        .collect()
}

/// One step of a rolling restart, as docs/deploy.md gives it: stops a replica with SIGTERM,
/// waits until it has exited, starts it again (with `env`, if any), waits until it is ready, and
/// then until nginx sends it requests again.
async fn restart(platform: &mut Platform, replica: &str, env: &[(&str, &str)]) {
    let took = platform.stop_service(replica);
    assert!(
        took.is_some(),
        "{replica} did not stop within 10 s of SIGTERM"
    );
    if !env.is_empty() {
        platform.set_service_env(replica, env);
    }
    platform.start_service(replica);
    platform.wait_ready(replica).await;
    tokio::time::sleep(BACK_IN_ROTATION).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_story_goes_through_the_balancer_to_both_replicas() {
    let platform = replicated().await;
    let admin = platform.admin_token().await;
    let created = platform
        .api
        .create_user(&admin, "writer", "writer-password", &["READ", "WRITE"])
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let token = platform.api.token("writer", "writer-password").await;
    for title in ["First", "Second", "Third"] {
        let posted = platform.api.post_blog(Some(&token), title, "Hello.").await;
        assert_eq!(posted.status, 201, "{}", posted.text);
    }
    let listed = platform.api.list_blogs(Some(&token), "").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body["total"], 3, "{}", listed.text);
    // When every replica refuses the token: the next test.
    assert_eq!(platform.api.logout(Some(&token)).await.status, 204);

    // nginx took turns: blog-service's and author-service's two replicas each served some of it.
    let log = platform.balancer.as_ref().unwrap().access_log();
    for service in ["blog", "author"] {
        for replica in platform.replicas(service) {
            let upstream = platform.url(&replica).replace("http://", "upstream=");
            assert!(log.contains(&upstream), "{replica} served nothing:\n{log}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logout_through_one_authen_replica_is_refused_by_both_author_replicas_within_1_s() {
    let platform = replicated().await;
    let token = platform.user_token("reader", &["READ"]).await;
    let authors = replica_apis(&platform, "author");
    for author in &authors {
        assert_eq!(author.authorize(Some(&token), "READ").await.status, 200);
    }

    // authen-service's own call reaches one author-service replica, through the balancer; the
    // other learns of the logout from the database.
    let logout = platform.replica_api("authen#2").logout(Some(&token)).await;
    assert_eq!(logout.status, 204, "{}", logout.text);
    let logged_out = Instant::now();
    let mut statuses = Vec::new();
    loop {
        statuses.clear();
        for author in &authors {
            statuses.push(author.authorize(Some(&token), "READ").await.status);
        }
        if statuses.iter().all(|status| *status == 401) {
            break;
        }
        assert!(
            logged_out.elapsed() < Duration::from_secs(1),
            "1 s after the logout the author-service replicas answer {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "both author-service replicas refuse the token {:?} after the logout",
        logged_out.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_restart_under_load_fails_no_request_and_loses_no_write() {
    let _serial = one_at_a_time().await;
    let mut platform = replicated().await;
    let mix = Mix::prepare(&platform, &MIX).await;
    let origin = Instant::now();
    // Eight restarts of about 3 s each (1 s retiring connections, the start, 2 s back in
    // rotation), with room for a slower machine.
    let load = load_for(&platform, &mix, Duration::from_secs(40));
    tokio::time::sleep(Duration::from_secs(1)).await;
    for service in SERVICES {
        for replica in platform.replicas(service.name) {
            let started = Instant::now();
            restart(&mut platform, &replica, &[]).await;
            println!("restarted {replica} in {:?}", started.elapsed());
        }
    }
    let restarted = origin.elapsed();
    let run = load.await.unwrap();
    assert!(
        restarted < run.elapsed,
        "the restarts took {restarted:?}, longer than the load ({:?})",
        run.elapsed
    );
    let failed = report(&platform, "rolling restart", &run, origin);
    assert!(failed.is_empty(), "{} requests failed", failed.len());
    let (created, stored) = writes(&platform, &run).await;
    assert_eq!(stored, created, "blogs stored against POSTs answered 201");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_replica_fails_only_the_writes_it_was_serving() {
    let _serial = one_at_a_time().await;
    let mut platform = replicated().await;
    // Half of the requests write, and blog-service#2 waits a second before each database call
    // (the scenario flag of docs/scenarios.md), so that it has writes in hand when it is killed.
    let mix = Mix::prepare(&platform, &[(Kind::Read, 1), (Kind::Write, 1)]).await;
    let dir = tempfile::tempdir().unwrap();
    let flags = dir.path().join("flags.json");
    let mut slow: serde_json::Value =
        serde_json::from_slice(&std::fs::read(project_root().join("flags.json")).unwrap()).unwrap();
    slow["flags"]["blogDatabaseLatencyMs"]["state"] = "ENABLED".into();
    slow["flags"]["blogDatabaseLatencyMs"]["defaultVariant"] = "1000ms".into();
    std::fs::write(&flags, slow.to_string()).unwrap();
    let flags = flags.display().to_string();
    restart(&mut platform, "blog#2", &[("FLAGS_FILE", &flags)]).await;

    let origin = Instant::now();
    let load = load_for(&platform, &mix, Duration::from_secs(10));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let kill_sent = Instant::now();
    platform.kill_service("blog#2");
    let killed = Instant::now();
    let run = load.await.unwrap();
    let failed = report(&platform, "blog-service#2 killed", &run, origin);

    // nginx sends again what never reached blog-service#2 (a refused connection) and every GET
    // it had in hand; a POST /blogs it had in hand may have been stored, so nginx answers 502
    // rather than store it twice. Those are the only requests that may fail.
    let in_hand = |record: &Record| record.started < killed && record.finished() > kill_sent;
    let writes_in_hand = run
        .records
        .iter()
        .filter(|record| record.kind == Kind::Write && in_hand(record))
        .count();
    let balancer = platform.balancer.as_ref().unwrap();
    let killed_replica = format!(
        "{} statuses=",
        platform.url("blog#2").replace("http://", "upstream=")
    );
    let posts_lost_by_nginx = balancer
        .access_log()
        .lines()
        .filter(|line| line.starts_with("POST /blogs 502 ") && line.contains(&killed_replica))
        .count();
    println!(
        "killed at +{:.3} s with {writes_in_hand} POST /blogs in flight (on either replica); \
         nginx answered 502 to {posts_lost_by_nginx} that blog-service#2 had",
        kill_sent.duration_since(origin).as_secs_f64()
    );
    for record in &failed {
        assert!(
            record.kind == Kind::Write && in_hand(record) && record.status() == Some(502),
            "not explained by the kill: {}",
            record.describe(origin)
        );
    }
    assert_eq!(failed.len(), posts_lost_by_nginx);
    assert!(failed.len() <= writes_in_hand);
    // Each of those may or may not have been stored before the kill; nothing else is missing.
    let (created, stored) = writes(&platform, &run).await;
    assert!(
        (created..=created + failed.len() as u64).contains(&stored),
        "{stored} blogs stored for {created} POSTs answered 201 and {} failed",
        failed.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_rotation_on_replicas_under_load_fails_no_request() {
    let _serial = one_at_a_time().await;
    let mut platform = replicated().await;
    let keys = platform.keys_dir().to_owned();
    let next = tempfile::tempdir().unwrap();
    generate_keys(next.path()).expect("a key pair");
    let file = |dir: &std::path::Path, name: &str| dir.join(name).display().to_string();
    let (old_public, old_private) = (file(&keys, "public.pem"), file(&keys, "private.pem"));
    let (new_public, new_private) = (
        file(next.path(), "public.pem"),
        file(next.path(), "private.pem"),
    );
    let both = format!("{old_public},{new_public}");
    let old_token = platform.user_token("reader", &["READ"]).await;
    let mix = Mix::prepare(&platform, &MIX).await;

    // keys/README.md's steps 1 (every author-service, then every authen-service, lists both
    // public keys) and 2 (every authen-service signs with the new key), one replica at a time,
    // under load.
    let origin = Instant::now();
    let load = load_for(&platform, &mix, Duration::from_secs(20));
    let steps = [
        ("author", both.as_str(), old_private.as_str()),
        ("authen", &both, &old_private),
        ("authen", &both, &new_private),
    ];
    rotate(&mut platform, &steps).await;
    let rotated = origin.elapsed();
    let run = load.await.unwrap();
    assert!(rotated < run.elapsed, "the rotation outlasted the load");
    let failed = report(&platform, "key rotation, steps 1 and 2", &run, origin);
    assert!(failed.is_empty(), "{} requests failed", failed.len());

    // Tokens of both keys are accepted by every author-service replica...
    let new_token = platform.api.token("reader", "reader-password").await;
    let authors = replica_apis(&platform, "author");
    for author in &authors {
        for token in [&old_token, &new_token] {
            assert_eq!(author.authorize(Some(token), "READ").await.status, 200);
        }
    }
    // ...until step 4 removes the old public key (the load's tokens are old ones: it is over).
    let steps = [
        ("author", new_public.as_str(), new_private.as_str()),
        ("authen", &new_public, &new_private),
    ];
    rotate(&mut platform, &steps).await;
    for author in &authors {
        assert_eq!(author.authorize(Some(&old_token), "READ").await.status, 401);
        assert_eq!(author.authorize(Some(&new_token), "READ").await.status, 200);
    }
}

/// Restarts every replica of each step's service, one at a time, with the step's public and
/// private keys. After each restart, a token issued now by each authen-service replica is
/// accepted by every author-service replica: the order of the steps keeps every replica able to
/// verify what any replica signs.
async fn rotate(platform: &mut Platform, steps: &[(&str, &str, &str)]) {
    for (service, public, private) in steps {
        let env = [("JWT_PUBLIC_KEY", *public), ("JWT_PRIVATE_KEY", *private)];
        for replica in platform.replicas(service) {
            restart(platform, &replica, &env).await;
            for authen in replica_apis(platform, "authen") {
                let token = authen.token("reader", "reader-password").await;
                for author in replica_apis(platform, "author") {
                    let reply = author.authorize(Some(&token), "READ").await;
                    assert_eq!(reply.status, 200, "after {replica}: {}", reply.text);
                }
            }
        }
    }
}

/// docs/deploy.md shows the configuration the tests run nginx with, for four hosts of two
/// replicas each.
#[test]
fn the_documented_nginx_configuration_is_the_one_the_tests_use() {
    let routes: Vec<Route> = SERVICES
        .iter()
        .map(|service| Route {
            service: *service,
            listen: service.port.to_string(),
            replicas: (1..=2)
                .map(|n| format!("{}-{n}:{}", service.name, service.port))
                .collect(),
        })
        .collect();
    let config = site_config(&routes);
    let deploy = std::fs::read_to_string(project_root().join("docs/deploy.md")).unwrap();
    assert!(
        deploy.contains(&format!("```nginx\n{config}```")),
        "docs/deploy.md should show this nginx configuration:\n{config}"
    );
}
