//! Before a run: the administrator logs in, creates the run's users, and there are blogs to read.

use std::sync::Arc;

use loadgen::Rng;

use crate::{
    cli::Settings,
    platform::{Client, User},
};

/// Setup posts blogs until at least this many are known, so that there is something to read.
const KNOWN_BLOGS_MIN: usize = 5;

/// A client with the run's users logged in and blogs to read. Progress goes to stderr; the
/// error is one line.
pub async fn setup(settings: &Settings, run_id: &str, rng: &mut Rng) -> Result<Client, String> {
    let mut client = Client::new(&settings.target, run_id, settings.concurrency)?;
    client.check_reachable().await?;
    let admin = client.admin_token(std::time::Duration::ZERO).await?;
    eprintln!(
        "traffic: the administrator '{}' logged in",
        client.target.admin_user
    );
    create_users(&mut client, &admin, settings, run_id, rng).await?;
    let (newest, _) = client.list(&client.writers[0].token(), 100).await?;
    client.remember_blogs(newest);
    let posted = client
        .post_until_known(&client.writers[0], KNOWN_BLOGS_MIN, rng)
        .await?;
    let now = if posted > 0 {
        format!(" ({posted} posted now)")
    } else {
        String::new()
    };
    eprintln!("traffic: {} blogs known to read{now}", client.known_blogs());
    Ok(client)
}

/// Half readers, half writers (the odd one out writes), named `<prefix>-<run id>-r1`, `-w1`, ...
async fn create_users(
    client: &mut Client,
    admin: &str,
    settings: &Settings,
    run_id: &str,
    rng: &mut Rng,
) -> Result<(), String> {
    let writers = settings.users.div_ceil(2);
    let readers = settings.users - writers;
    let specs = (1..=readers)
        .map(|i| (format!("r{i}"), false))
        .chain((1..=writers).map(|i| (format!("w{i}"), true)));
    for (suffix, writer) in specs {
        let name = format!("{}-{run_id}-{suffix}", settings.prefix);
        let password = format!("traffic-pass-{:016x}", rng.next_u64());
        let permissions: &[&str] = if writer {
            &["READ", "WRITE"]
        } else {
            &["READ"]
        };
        let permissions: Vec<String> = permissions.iter().map(|p| p.to_string()).collect();
        let user = Arc::new(
            client
                .create_user(admin, &name, &password, &permissions)
                .await?,
        );
        if writer {
            client.writers.push(user);
        } else {
            client.readers.push(user);
        }
    }
    eprintln!(
        "traffic: created and logged in {} (READ) and {} (READ, WRITE)",
        names(&client.readers),
        names(&client.writers)
    );
    Ok(())
}

fn names(users: &[Arc<User>]) -> String {
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    names.join(", ")
}
