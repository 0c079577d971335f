//! The command line, and the defaults it takes from the environment like `scripts/up.sh` and
//! `scripts/demo.sh` do (`AUTHEN_PORT`, `USER_PORT`, `BLOG_PORT`, `ADMIN_USERNAME`,
//! `ADMIN_PASSWORD`, `.data/admin-password`, `JAEGER_UI`).

use std::time::Duration;

use clap::Parser;

/// Sends a realistic, weighted mix of requests to the blog platform at a steady rate, so that a
/// trace viewer (Jaeger) has traffic to show, then prints what came back: counts per request
/// kind and status, latency percentiles, and links to the slowest and the failed requests' traces.
#[derive(Debug, Parser)]
#[command(name = "traffic", version)]
pub struct Cli {
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

    /// authen-service's base URL [default: http://127.0.0.1:$AUTHEN_PORT, port 3001]
    #[arg(long, value_name = "URL")]
    pub authen: Option<String>,

    /// user-service's base URL [default: http://127.0.0.1:$USER_PORT, port 3002]
    #[arg(long, value_name = "URL")]
    pub user: Option<String>,

    /// blog-service's base URL [default: http://127.0.0.1:$BLOG_PORT, port 3003]
    #[arg(long, value_name = "URL")]
    pub blog: Option<String>,

    /// The administrator who creates the run's users [default: $ADMIN_USERNAME, else admin]
    #[arg(long, value_name = "NAME")]
    pub admin_user: Option<String>,

    /// The administrator's password [default: $ADMIN_PASSWORD, else the contents of
    /// .data/admin-password, which scripts/up.sh writes]. Prefer the environment: a command
    /// line is visible to every user of the machine.
    #[arg(long, value_name = "PASSWORD")]
    pub admin_password: Option<String>,

    /// Seed of the request mix [default: from the clock]; printed, so a run can be repeated.
    #[arg(long)]
    pub seed: Option<u64>,

    /// The Jaeger UI that trace links point to [default: $JAEGER_UI, else http://localhost:16686]
    #[arg(long, value_name = "URL")]
    pub jaeger_ui: Option<String>,

    /// Start of the run's user names: <prefix>-<run id>-r1, -w1, ...
    #[arg(long, default_value = "traffic", value_parser = parse_prefix)]
    pub prefix: String,

    /// Give up on a request after this long (counted as a transport error).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// The settings with every default filled in.
#[derive(Debug)]
pub struct Settings {
    pub duration: Duration,
    pub rate: f64,
    pub users: u32,
    pub concurrency: usize,
    pub authen: String,
    pub user: String,
    pub blog: String,
    pub admin_user: String,
    pub admin_password: String,
    pub seed: Option<u64>,
    pub jaeger_ui: String,
    pub prefix: String,
    pub timeout: Duration,
}

/// Where `scripts/up.sh` keeps the administrator's password, relative to the project root.
pub const ADMIN_PASSWORD_FILE: &str = ".data/admin-password";

impl Cli {
    /// Fills in the defaults from `env` (a lookup, so that tests need not touch the process's
    /// environment) and the admin password file.
    pub fn settings(self, env: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let env = |name: &str| env(name).filter(|v| !v.is_empty());
        let url = |given: Option<String>, var: &str, port: u16| -> Result<String, String> {
            let url = match given {
                Some(url) => url,
                None => {
                    let port = match env(var) {
                        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                            format!("{var}={p} is not a TCP port number (1-65535)")
                        })?,
                        None => port,
                    };
                    format!("http://127.0.0.1:{port}")
                }
            };
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("{url}: a base URL starts with http:// or https://"));
            }
            Ok(url.trim_end_matches('/').to_owned())
        };
        let admin_password = match self.admin_password.or_else(|| env("ADMIN_PASSWORD")) {
            Some(password) => password,
            None => match std::fs::read_to_string(ADMIN_PASSWORD_FILE) {
                Ok(text) if !text.trim().is_empty() => {
                    text.trim_end_matches(['\r', '\n']).to_owned()
                }
                _ => {
                    return Err(format!(
                        "no admin password: pass --admin-password or set ADMIN_PASSWORD, or run from \
                         the project root, where scripts/up.sh saves it in {ADMIN_PASSWORD_FILE}"
                    ));
                }
            },
        };
        Ok(Settings {
            duration: self.duration,
            rate: self.rate,
            users: self.users,
            concurrency: self.concurrency as usize,
            authen: url(self.authen, "AUTHEN_PORT", 3001)?,
            user: url(self.user, "USER_PORT", 3002)?,
            blog: url(self.blog, "BLOG_PORT", 3003)?,
            admin_user: self
                .admin_user
                .or_else(|| env("ADMIN_USERNAME"))
                .unwrap_or_else(|| "admin".to_owned()),
            admin_password,
            seed: self.seed,
            jaeger_ui: self
                .jaeger_ui
                .or_else(|| env("JAEGER_UI"))
                .unwrap_or_else(|| "http://localhost:16686".to_owned())
                .trim_end_matches('/')
                .to_owned(),
            prefix: self.prefix,
            timeout: self.timeout,
        })
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
    fn rates_and_prefixes() {
        assert_eq!(parse_rate("20"), Ok(20.0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        for bad in ["0", "-1", "abc", "inf", "NaN", "1000000"] {
            assert!(parse_rate(bad).is_err(), "{bad} parsed");
        }
        assert!(parse_prefix("traffic").is_ok());
        for bad in ["", "with space", "waytoolongprefix", "é"] {
            assert!(parse_prefix(bad).is_err(), "{bad} parsed");
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
        assert_eq!(cli.duration, Duration::from_secs(60));
        assert_eq!(cli.rate, 20.0);
        assert_eq!(cli.users, 4);
        assert_eq!(cli.concurrency, 16);

        let s = Cli::parse_from(["traffic"])
            .settings(env_of(&[("ADMIN_PASSWORD", "pw"), ("BLOG_PORT", "4003")]))
            .unwrap();
        assert_eq!(s.authen, "http://127.0.0.1:3001");
        assert_eq!(s.user, "http://127.0.0.1:3002");
        assert_eq!(s.blog, "http://127.0.0.1:4003");
        assert_eq!(s.admin_user, "admin");
        assert_eq!(s.admin_password, "pw");
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
        .settings(env_of(&[("ADMIN_PASSWORD", "pw"), ("AUTHEN_PORT", "x")]))
        .unwrap();
        assert_eq!(s.authen, "http://h:1");
        assert_eq!(s.admin_password, "given");
        assert_eq!(s.admin_user, "root");
        assert_eq!(s.jaeger_ui, "http://j:16686");
        assert_eq!(s.duration, Duration::from_secs(120));

        let err = Cli::parse_from(["traffic"])
            .settings(env_of(&[("ADMIN_PASSWORD", "pw"), ("USER_PORT", "70000")]))
            .unwrap_err();
        assert!(err.contains("USER_PORT=70000"), "{err}");
        assert!(Cli::try_parse_from(["traffic", "--users", "1"]).is_err());
        assert!(Cli::try_parse_from(["traffic", "--duration", "0"]).is_err());
    }
}
