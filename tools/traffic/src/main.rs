//! `traffic`: a traffic generator for the blog platform, so that a trace viewer has realistic
//! traces to show. It logs in as the administrator, creates a few users for the run (readers and
//! writers), then sends a weighted mix of requests at a steady rate for a while and prints a
//! summary with links to interesting traces. `traffic seed` makes the accounts and blogs
//! `scripts/bench.sh` measures with. See docs/traffic.md, "Traffic" and "In Jaeger".

mod cli;
mod mix;
mod platform;
mod progress;
mod report;
mod seed;
mod setup;

use std::{
    process::ExitCode,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use clap::Parser;
use launcher::signal::stop_requested;
use loadgen::{OpenLoop, Progress, Rng, Tally};

use crate::{
    cli::{Cli, Command, Settings},
    platform::Client,
    report::{RunInfo, rate, summary},
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = |name: &str| std::env::var(name).ok();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("traffic: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match cli.command {
        None => cli
            .run
            .settings(&env)
            .map(|settings| runtime.block_on(run(settings))),
        Some(Command::Seed(args)) => args.platform.target(&env).map(|target| {
            match runtime.block_on(seed::seed(&args, target, clock_seed())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("traffic: seed: {message}");
                    ExitCode::FAILURE
                }
            }
        }),
    };
    match outcome {
        Ok(code) => code,
        Err(message) => {
            eprintln!("traffic: {message}");
            ExitCode::from(2)
        }
    }
}

/// A run id that differs between runs even with the same seed: user names must be new each time.
fn run_id() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:x}-{:04x}", now.as_secs(), clock_seed() & 0xffff)
}

/// A seed from the clock: differs between runs started close together.
fn clock_seed() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Rng::new(now.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32)).next_u64()
}

async fn run(settings: Settings) -> ExitCode {
    let seed = settings.seed.unwrap_or_else(clock_seed);
    let run_id = run_id();
    let t = &settings.target;
    eprintln!(
        "traffic: run {run_id}, seed {seed}: {}/s for {:?} against {}, {}, {}",
        rate(settings.rate),
        settings.duration,
        t.authen,
        t.user,
        t.blog
    );
    // Setup draws from its own stream, so the mix of a seed does not depend on how many blogs
    // setup had to post.
    let mut setup_rng = Rng::new(seed ^ 0x5e70_5e70_5e70_5e70);
    let client = match setup::setup(&settings, &run_id, &mut setup_rng).await {
        Ok(client) => Arc::new(client),
        Err(message) => {
            eprintln!("traffic: setup failed: {message}");
            return ExitCode::FAILURE;
        }
    };
    let tally = send(&settings, seed, &client).await;
    let info = RunInfo {
        run_id: &run_id,
        seed,
        target_rate: settings.rate,
        tally: &tally,
        concurrency: settings.concurrency,
        users: &[],
        jaeger_ui: &settings.jaeger_ui,
    };
    report(&client, info)
}

/// The open-loop schedule of the run, with the progress line while it goes on.
async fn send(settings: &Settings, seed: u64, client: &Arc<Client>) -> Tally {
    let counters = Arc::new(Progress::default());
    let line = progress::start(
        Arc::clone(client),
        Arc::clone(&counters),
        settings.concurrency,
    );
    let plan = OpenLoop {
        rate: settings.rate,
        duration: settings.duration,
        max_in_flight: settings.concurrency,
        late_grace: None,
    };
    let (mix, mut run_rng) = (mix::mix(), Rng::new(seed));
    let sender = Arc::clone(client);
    // Every planned send draws its request, sent or skipped: a seed always means the same mix.
    let prepare = move |n| {
        let (kind, rng) = mix.draw(run_rng.next_u64());
        let client = Arc::clone(&sender);
        async move { client.run_one(kind, rng, n).await }
    };
    let tally = plan
        .run(&counters, stop_requested(), stop_requested(), prepare)
        .await;
    line.finish().await;
    tally
}

/// Prints the report; fails when every request failed.
fn report(client: &Client, info: RunInfo) -> ExitCode {
    let Ok(stats) = client.summary.lock() else {
        eprintln!("traffic: the statistics were lost (a sender panicked)");
        return ExitCode::FAILURE;
    };
    let readers = client.readers.iter().map(|u| format!("{} (READ)", u.name));
    let writers = client
        .writers
        .iter()
        .map(|u| format!("{} (READ, WRITE)", u.name));
    let users: Vec<String> = readers.chain(writers).collect();
    print!(
        "{}",
        summary(
            &stats,
            &RunInfo {
                users: &users,
                ..info
            }
        )
    );
    let completed = stats.answered() + stats.transport_errors();
    if completed > 0 && stats.failed() == completed {
        eprintln!(
            "traffic: every request failed ({} without an answer, the rest 5xx): is the platform \
             still running?",
            stats.transport_errors()
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
