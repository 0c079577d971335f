//! The command line, and the defaults it takes from the environment like `scripts/up.sh` and
//! `scripts/demo.sh` do (the services' port variables, `ADMIN_USERNAME`, `ADMIN_PASSWORD`,
//! `.data/admin-password`, `JAEGER_UI`).

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Sends a realistic, weighted mix of requests to the blog platform at a steady rate, so that a
/// trace viewer (Jaeger) has traffic to show, then prints what came back: counts per request
/// kind and status, latency percentiles, and links to the slowest and the failed requests' traces.
#[derive(Debug, Parser)]
#[command(name = "traffic", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Creates accounts and blogs for a benchmark and prints the accounts' passwords and tokens
    /// as JSON: {"accounts": {NAME: {"password", "token"}}, "blogs": N}.
    Seed(SeedArgs),
}

/// Where the platform answers, and who may create users there.
#[derive(Debug, Args)]
pub struct PlatformArgs {
    /// authen-service's base URL [default: http://127.0.0.1:$AUTHEN_PORT, port 3001]
    #[arg(long, value_name = "URL")]
    pub authen: Option<String>,

    /// user-service's base URL [default: http://127.0.0.1:$USER_PORT, port 3002]
    #[arg(long, value_name = "URL")]
    pub user: Option<String>,

    /// blog-service's base URL [default: http://127.0.0.1:$BLOG_PORT, port 3003]
    #[arg(long, value_name = "URL")]
    pub blog: Option<String>,

    /// The administrator who creates the users [default: $ADMIN_USERNAME, else admin]
    #[arg(long, value_name = "NAME")]
    pub admin_user: Option<String>,

    /// The administrator's password [default: $ADMIN_PASSWORD, else the contents of
    /// .data/admin-password, which scripts/up.sh writes]. Prefer the environment: a command
    /// line is visible to every user of the machine.
    #[arg(long, value_name = "PASSWORD")]
    pub admin_password: Option<String>,

    /// Give up on a request after this long (counted as a transport error).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// How long to send: `30s`, `2m`, `1h`, `500ms`, or plain seconds.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Requests per second to start (an open-loop schedule: sends that cannot start on time are
    /// counted as skipped, not sent late).
    #[arg(long, default_value_t = 20.0, value_parser = parse_rate)]
    pub rate: f64,

    /// Users to create for this run, half of them READ-only, half READ+WRITE (at least 2).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(2..=100))]
    pub users: u32,

    /// At most this many requests in flight at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,

    #[command(flatten)]
    pub platform: PlatformArgs,

    /// Seed of the request mix [default: from the clock]; printed, so a run can be repeated.
    #[arg(long)]
    pub seed: Option<u64>,

    /// The Jaeger UI that trace links point to [default: $JAEGER_UI, else http://localhost:16686]
    #[arg(long, value_name = "URL")]
    pub jaeger_ui: Option<String>,

    /// Start of the run's user names: <prefix>-<run id>-r1, -w1, ...
    #[arg(long, default_value = "traffic", value_parser = parse_prefix)]
    pub prefix: String,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub platform: PlatformArgs,

    /// An account to create and log in: NAME=PERMISSION[,PERMISSION...], e.g.
    /// bench-writer=READ,WRITE. Repeat for more; the first with WRITE posts the blogs.
    #[arg(long = "account", value_name = "NAME=PERMISSIONS", value_parser = parse_account, required = true)]
    pub accounts: Vec<(String, Vec<String>)>,

    /// Blogs to post.
    #[arg(long, default_value_t = 0)]
    pub blogs: u64,

    /// Each blog's content.
    #[arg(long, default_value = "Seeded to be read.")]
    pub content: String,

    /// Blogs posted at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,
}

/// Where the platform answers and the administrator, with every default filled in.
#[derive(Debug, Clone)]
pub struct Target {
    pub authen: String,
    pub user: String,
    pub blog: String,
    pub admin_user: String,
    pub admin_password: String,
    pub timeout: Duration,
}

/// A traffic run's settings, with every default filled in.
#[derive(Debug)]
pub struct Settings {
    pub target: Target,
    pub duration: Duration,
    pub rate: f64,
    pub users: u32,
    pub concurrency: usize,
    pub seed: Option<u64>,
    pub jaeger_ui: String,
    pub prefix: String,
}

/// Where `scripts/up.sh` keeps the administrator's password, relative to the project root.
pub const ADMIN_PASSWORD_FILE: &str = ".data/admin-password";

/// The environment as a lookup (so that tests need not touch the process's), empty values unset.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl PlatformArgs {
    /// Fills in the defaults from `env` and the admin password file.
    pub fn target(&self, env: Env) -> Result<Target, String> {
        let env = |name: &str| env(name).filter(|v| !v.is_empty());
        let admin_password = match self
            .admin_password
            .clone()
            .or_else(|| env("ADMIN_PASSWORD"))
        {
            Some(password) => password,
            None => admin_password_from_file()?,
        };
        Ok(Target {
            authen: base_url(self.authen.clone(), "authen", &env)?,
            user: base_url(self.user.clone(), "user", &env)?,
            blog: base_url(self.blog.clone(), "blog", &env)?,
            admin_user: self
                .admin_user
                .clone()
                .or_else(|| env("ADMIN_USERNAME"))
                .unwrap_or_else(|| "admin".to_owned()),
            admin_password,
            timeout: self.timeout,
        })
    }
}

impl RunArgs {
    pub fn settings(self, env: Env) -> Result<Settings, String> {
        let jaeger_ui = self
            .jaeger_ui
            .or_else(|| env("JAEGER_UI").filter(|v| !v.is_empty()));
        Ok(Settings {
            target: self.platform.target(env)?,
            duration: self.duration,
            rate: self.rate,
            users: self.users,
            concurrency: self.concurrency as usize,
            seed: self.seed,
            jaeger_ui: jaeger_ui
                .unwrap_or_else(|| "http://localhost:16686".to_owned())
                .trim_end_matches('/')
                .to_owned(),
            prefix: self.prefix,
        })
    }
}

/// A service's base URL: `given`, or loopback at the port its variable names (else its own).
fn base_url(
    given: Option<String>,
    service: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let url = match given {
        Some(url) => url,
        None => {
            let service =
                launcher::definition::service(service).expect("a service of the platform");
            let port = match env(service.port_variable) {
                Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                    format!(
                        "{}={p} is not a TCP port number (1-65535)",
                        service.port_variable
                    )
                })?,
                None => service.port,
            };
            format!("http://127.0.0.1:{port}")
        }
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("{url}: a base URL starts with http:// or https://"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn admin_password_from_file() -> Result<String, String> {
    match std::fs::read_to_string(ADMIN_PASSWORD_FILE) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim_end_matches(['\r', '\n']).to_owned()),
        _ => Err(format!(
            "no admin password: pass --admin-password or set ADMIN_PASSWORD, or run from the \
             project root, where scripts/up.sh saves it in {ADMIN_PASSWORD_FILE}"
        )),
    }
}

/// `30s`, `2m`, `1h`, `250ms`, `1.5m` or plain seconds (`45`); more than zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 0.001,
        "m" | "min" | "mins" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`: use ms, s, m or h, e.g. 30s or 2m"
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: use e.g. 30s, 2m or 45"))?;
    let secs = value * scale;
    if !secs.is_finite() || secs <= 0.0 || secs > 366.0 * 86_400.0 {
        return Err(format!(
            "`{text}`: a duration is more than 0 and at most a year"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of requests per second"))?;
    if !rate.is_finite() || rate <= 0.0 || rate > 100_000.0 {
        return Err(format!(
            "`{text}`: the rate is more than 0 and at most 100000 per second"
        ));
    }
    Ok(rate)
}

/// User names are 3-32 of `[A-Za-z0-9_.-]`; the run id and suffix take 17 of them.
fn parse_prefix(text: &str) -> Result<String, String> {
    if text.is_empty()
        || text.len() > 12
        || !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(format!(
            "`{text}`: the prefix is 1-12 of A-Z a-z 0-9 _ . - (user names are at most 32)"
        ));
    }
    Ok(text.to_owned())
}

/// `NAME=READ,WRITE`.
fn parse_account(text: &str) -> Result<(String, Vec<String>), String> {
    let (name, permissions) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: give NAME=PERMISSION[,PERMISSION...]"))?;
    let permissions: Vec<String> = permissions.split(',').map(str::to_owned).collect();
    if name.is_empty()
        || permissions
            .iter()
            .any(|p| !["READ", "WRITE", "ADMIN"].contains(&p.as_str()))
    {
        return Err(format!(
            "`{text}`: a name, then permissions among READ, WRITE and ADMIN"
        ));
    }
    Ok((name.to_owned(), permissions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let secs = Duration::from_secs;
        assert_eq!(parse_duration("30s"), Ok(secs(30)));
        assert_eq!(parse_duration("2m"), Ok(secs(120)));
        assert_eq!(parse_duration("45"), Ok(secs(45)));
        assert_eq!(parse_duration("1h"), Ok(secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5m"), Ok(secs(90)));
        assert_eq!(parse_duration(" 20s "), Ok(secs(20)));
        assert_eq!(parse_duration("10 s"), Ok(secs(10)));
        for bad in [
            "",
            "s",
            "0",
            "0s",
            "-5s",
            "5x",
            "5 minutes",
            "1e3",
            "1.2.3s",
            "99999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn rates_prefixes_and_accounts() {
        assert_eq!(parse_rate("20"), Ok(20.0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        for bad in ["0", "-1", "abc", "inf", "NaN", "1000000"] {
            assert!(parse_rate(bad).is_err(), "{bad} parsed");
        }
        assert!(parse_prefix("traffic").is_ok());
        for bad in ["", "with space", "waytoolongprefix", "é"] {
            assert!(parse_prefix(bad).is_err(), "{bad} parsed");
        }
        assert_eq!(
            parse_account("bench-writer=READ,WRITE"),
            Ok((
                "bench-writer".to_owned(),
                vec!["READ".to_owned(), "WRITE".to_owned()]
            ))
        );
        for bad in ["bench-writer", "=READ", "w=READ,SUPER", "w="] {
            assert!(parse_account(bad).is_err(), "{bad} parsed");
        }
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn defaults_follow_the_environment() {
        let cli = Cli::parse_from(["traffic"]);
        assert!(cli.command.is_none());
        assert_eq!(cli.run.duration, Duration::from_secs(60));
        assert_eq!(cli.run.rate, 20.0);
        assert_eq!(cli.run.users, 4);
        assert_eq!(cli.run.concurrency, 16);

        let s = Cli::parse_from(["traffic"])
            .run
            .settings(&env_of(&[("ADMIN_PASSWORD", "pw"), ("BLOG_PORT", "4003")]))
            .unwrap();
        assert_eq!(s.target.authen, "http://127.0.0.1:3001");
        assert_eq!(s.target.user, "http://127.0.0.1:3002");
        assert_eq!(s.target.blog, "http://127.0.0.1:4003");
        assert_eq!(s.target.admin_user, "admin");
        assert_eq!(s.target.admin_password, "pw");
        assert_eq!(s.jaeger_ui, "http://localhost:16686");

        let s = Cli::parse_from([
            "traffic",
            "--authen",
            "http://h:1/",
            "--admin-password",
            "given",
            "--admin-user",
            "root",
            "--jaeger-ui",
            "http://j:16686/",
            "--duration",
            "2m",
        ])
        .run
        .settings(&env_of(&[("ADMIN_PASSWORD", "pw"), ("AUTHEN_PORT", "x")]))
        .unwrap();
        assert_eq!(s.target.authen, "http://h:1");
        assert_eq!(s.target.admin_password, "given");
        assert_eq!(s.target.admin_user, "root");
        assert_eq!(s.jaeger_ui, "http://j:16686");
        assert_eq!(s.duration, Duration::from_secs(120));

        let err = Cli::parse_from(["traffic"])
            .run
            .settings(&env_of(&[("ADMIN_PASSWORD", "pw"), ("USER_PORT", "70000")]))
            .unwrap_err();
        assert!(err.contains("USER_PORT=70000"), "{err}");
        assert!(Cli::try_parse_from(["traffic", "--users", "1"]).is_err());
        assert!(Cli::try_parse_from(["traffic", "--duration", "0"]).is_err());
    }

    #[test]
    fn seed_takes_accounts_and_the_same_platform_options() {
        let cli = Cli::parse_from([
            "traffic",
            "seed",
            "--blog",
            "http://b:1",
            "--account",
            "w=READ,WRITE",
            "--account",
            "r=READ",
            "--blogs",
            "100",
        ]);
        let Some(Command::Seed(seed)) = cli.command else {
            panic!("not the seed command: {cli:?}");
        };
        assert_eq!(seed.accounts.len(), 2);
        assert_eq!(seed.blogs, 100);
        let target = seed
            .platform
            .target(&env_of(&[("ADMIN_PASSWORD", "pw")]))
            .unwrap();
        assert_eq!(
            (target.blog.as_str(), target.authen.as_str()),
            ("http://b:1", "http://127.0.0.1:3001")
        );
        assert!(
            Cli::try_parse_from(["traffic", "seed", "--blogs", "1"]).is_err(),
            "an account is required"
        );
    }
}
