//! `traffic seed`: the accounts and blogs a benchmark measures with, made through the API.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use loadgen::{Answer, ClosedLoop, Record, Rng, Summary, error_chain, latency_percentile};

use crate::{cli::SeedArgs, mix::Kind, platform::Client};

/// How long the administrator may take to appear: user-service creates it in the background once
/// MongoDB answers, a moment after every service is ready.
const ADMIN_PATIENCE: Duration = Duration::from_secs(30);

/// Creates the accounts, logs them in, posts the blogs and checks that all are listed;
/// prints `{"accounts": {NAME: {"password", "token"}}, "blogs": N}` on stdout.
pub async fn seed(args: &SeedArgs, target: crate::cli::Target, seed: u64) -> Result<(), String> {
    let concurrency = args.concurrency as usize;
    let client = Arc::new(Client::new(&target, "seed", concurrency)?);
    client.check_reachable().await?;
    let admin = client.admin_token(ADMIN_PATIENCE).await?;
    let mut rng = Rng::new(seed);
    let mut accounts = BTreeMap::new();
    let mut writer = None;
    for (name, permissions) in &args.accounts {
        let password = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
        let user = client
            .create_user(&admin, name, &password, permissions)
            .await?;
        if writer.is_none() && permissions.iter().any(|p| p == "WRITE") {
            writer = Some(user.token());
        }
        let entry = serde_json::json!({ "password": user.password(), "token": user.token() });
        accounts.insert(name.clone(), entry);
    }
    if args.blogs > 0 {
        let token = writer.ok_or("--blogs needs an --account with WRITE to post them")?;
        let (_, before) = client.list(&token, 1).await?;
        post_blogs(&client, &token, args).await?;
        let (_, total) = client.list(&token, 1).await?;
        if total != before + args.blogs {
            return Err(format!(
                "GET /blogs reports {total} blogs after posting {} to the {before} there were",
                args.blogs
            ));
        }
    }
    println!(
        "{}",
        serde_json::json!({ "accounts": accounts, "blogs": args.blogs })
    );
    Ok(())
}

/// Posts `args.blogs` blogs, `args.concurrency` at a time; fails if any was refused.
async fn post_blogs(client: &Arc<Client>, token: &str, args: &SeedArgs) -> Result<(), String> {
    let records: Arc<Mutex<Vec<Record<Kind>>>> = Arc::default();
    let (client, token, content, recorded) = (
        Arc::clone(client),
        Arc::<str>::from(token),
        Arc::<str>::from(args.content.as_str()),
        Arc::clone(&records),
    );
    let started = Instant::now();
    ClosedLoop::counted(args.concurrency as usize, args.blogs, move |n| {
        let (client, token, content, recorded) = (
            client.clone(),
            token.clone(),
            content.clone(),
            recorded.clone(),
        );
        async move {
            let started = Instant::now();
            let result = client
                .post(&token, &format!("Seeded blog {}", n + 1), &content)
                .await;
            let record = Record {
                kind: Kind::WriterPost,
                started,
                latency: started.elapsed(),
                outcome: result
                    .map(|r| Answer {
                        status: r.status,
                        trace: None,
                    })
                    .map_err(|e| error_chain(&e)),
                note: (),
            };
            let failed = record.failed();
            recorded.lock().expect("the records").push(record);
            failed
        }
    })
    .finished()
    .await;
    let records = std::mem::take(&mut *records.lock().expect("the records"));
    let mut summary = Summary::default();
    records.iter().for_each(|record| summary.record(record));
    eprintln!(
        "traffic: posted {} blogs in {:.1} s ({}; p50 {:?}, p99 {:?})",
        records.len(),
        started.elapsed().as_secs_f64(),
        summary.status_counts(),
        latency_percentile(&records, 50),
        latency_percentile(&records, 99),
    );
    if records.iter().all(Record::succeeded) {
        Ok(())
    } else {
        Err(format!(
            "seeding the blogs failed:\n{}",
            summary.counts_table()
        ))
    }
}
