//! Configuration from the environment, read once at start.
//!
//! Every binary has one `Config::from_env()` built on [`Env`], which collects every missing
//! or malformed variable and reports them all at once, so that a broken deployment is
//! fixed in one round instead of one variable at a time.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration is incomplete: {}", problems.join("; "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

/// Reads variables from a lookup function (the process environment in production,
/// a map in tests) and remembers what was wrong.
pub struct Env<F> {
    lookup: F,
    problems: Vec<String>,
}

impl Env<fn(&str) -> Option<String>> {
    pub fn process() -> Self {
        Env::new(|name: &str| std::env::var(name).ok())
    }
}

/// Every variable a configuration reads, found by reading it from an empty environment.
pub fn variables_read<T>(read: impl FnOnce(Env<Box<dyn Fn(&str) -> Option<String>>>) -> T) -> Vec<String> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let record = seen.clone();
    let _ = read(Env::new(Box::new(move |name: &str| {
        record.lock().unwrap().push(name.to_owned());
        None
    })));
    let mut names = seen.lock().unwrap().clone();
    names.sort();
    names.dedup();
    names
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn new(lookup: F) -> Self {
        Self {
            lookup,
            problems: Vec::new(),
        }
    }

    /// A variable that must be set and not blank.
    pub fn required(&mut self, name: &str) -> String {
        self.optional(name).unwrap_or_else(|| {
            self.problems.push(format!("{name} is not set"));
            String::new()
        })
    }

    /// A variable with a default; when set, it must parse.
    pub fn parsed_or<T>(&mut self, name: &str, default: T) -> T
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.optional(name) {
            None => default,
            Some(raw) => match raw.trim().parse() {
                Ok(v) => v,
                Err(e) => {
                    self.problems.push(format!("{name}={raw:?} is malformed: {e}"));
                    default
                }
            },
        }
    }

    /// A URL that must be set and be absolute http(s).
    pub fn required_url(&mut self, name: &str) -> String {
        let v = self.required(name);
        if !(v.is_empty() || v.starts_with("https://") || v.starts_with("http://")) {
            self.problem(format!("{name}={v:?} is malformed: not an http(s) URL"));
        }
        v
    }

    /// A variable that may be unset; blank is unset.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    /// A problem found in what the variables say together.
    pub fn problem(&mut self, problem: String) {
        self.problems.push(problem);
    }

    pub fn finish(self) -> Result<(), ConfigError> {
        let problems = self.problems;
        match problems.is_empty() {
            true => Ok(()),
            false => Err(ConfigError { problems }),
        }
    }
}

/// Names of the variables shared across the project.
pub mod vars {
    pub const CONNECTIONS_TABLE: &str = "CONNECTIONS_TABLE";
    pub const STATE_TABLE: &str = "STATE_TABLE";
    pub const VERDEELBAK_BUCKET: &str = "VERDEELBAK_BUCKET";
    pub const EVENT_BUS_NAME: &str = "EVENT_BUS_NAME";
    pub const FETCH_FUNCTION_NAME: &str = "FETCH_FUNCTION_NAME";
    pub const EBOX_TOKEN_URL: &str = "EBOX_TOKEN_URL";
    pub const EBOX_AUDIENCE: &str = "EBOX_AUDIENCE";
    pub const EBOX_PROVIDER_REGISTRY_URL: &str = "EBOX_PROVIDER_REGISTRY_URL";
    pub const EBOX_SCOPES: &str = "EBOX_SCOPES";
    pub const SCHEDULE_EXPRESSION: &str = "SCHEDULE_EXPRESSION";
    pub const SCHEDULE_TIMEZONE: &str = "SCHEDULE_TIMEZONE";
}

/// infra/'s default schedule: hourly on weekdays, office hours, in Brussels.
pub const DEFAULT_SCHEDULE: &str = "cron(0 6-20 ? * MON-FRI *)";
pub const DEFAULT_TIMEZONE: &str = "Europe/Brussels";

pub use crate::schema::StorageNames;

impl StorageNames {
    pub fn read<F: Fn(&str) -> Option<String>>(env: &mut Env<F>) -> Self {
        Self {
            connections_table: env.required(vars::CONNECTIONS_TABLE),
            state_table: env.required(vars::STATE_TABLE),
            verdeelbak_bucket: env.required(vars::VERDEELBAK_BUCKET),
            event_bus: env.required(vars::EVENT_BUS_NAME),
        }
    }
}

/// The e-Box endpoints and scopes, from `EBOX_*`. `EBOX_SCOPES` is optional: unset, a
/// token request names no scope and the token carries every scope the client was granted.
pub fn ebox_config<F: Fn(&str) -> Option<String>>(env: &mut Env<F>) -> ebox::EboxConfig {
    ebox::EboxConfig::new(
        &env.required_url(vars::EBOX_TOKEN_URL),
        &env.required(vars::EBOX_AUDIENCE),
        env.optional(vars::EBOX_SCOPES)
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        &env.required_url(vars::EBOX_PROVIDER_REGISTRY_URL),
    )
}

/// The fetch function's process runs with these settings of glibc's allocator, in
/// `GLIBC_TUNABLES` (Terraform sets it; the benchmarks start the process with it). By
/// default glibc raises its mmap threshold to the largest block freed so far, so after the
/// first large HTTP read buffer (128 kB and more) every later one comes from the heap,
/// which then stays as large as the most that was ever in flight, and keeps 128 kB of
/// padding on top. Fixed thresholds return large buffers to the system when they are
/// freed, and the heap's top when 128 kB of it is free: peak RSS of a first run over 300
/// messages 1.1 MB lower. Each large buffer then costs its page faults: streaming a 200 MB
/// attachment takes about 90 ms more CPU; a first run's CPU moved less than it varies.
pub const FETCH_MALLOC_TUNABLES: (&str, &str) = (
    "GLIBC_TUNABLES",
    "glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072:glibc.malloc.top_pad=65536",
);

/// Everything the fetch function reads from its environment.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub storage: StorageNames,
    pub ebox: ebox::EboxConfig,
    pub settings: crate::fetch::FetchSettings,
    pub secrets_cache_ttl: std::time::Duration,
}

impl FetchConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(Env::process())
    }

    pub fn read<F: Fn(&str) -> Option<String>>(mut env: Env<F>) -> Result<Self, ConfigError> {
        let storage = StorageNames::read(&mut env);
        let ebox = ebox_config(&mut env);
        let defaults = crate::fetch::FetchSettings::default();
        let settings = crate::fetch::FetchSettings {
            concurrency: env.parsed_or("FETCH_CONCURRENCY", defaults.concurrency),
            lease_duration: chrono::Duration::seconds(
                env.parsed_or("LEASE_SECONDS", defaults.lease_duration.num_seconds()),
            ),
            time_margin: std::time::Duration::from_secs(
                env.parsed_or("TIME_MARGIN_SECONDS", defaults.time_margin.as_secs()),
            ),
            unreadable_hold: chrono::Duration::days(
                env.parsed_or("UNREADABLE_HOLD_DAYS", defaults.unreadable_hold.num_days()),
            ),
            // 0: only when asked for (`digipost-ebox run --reconcile`).
            reconcile_interval: Some(env.parsed_or("RECONCILE_INTERVAL_HOURS", 24i64))
                .filter(|&h| h > 0)
                .map(chrono::Duration::hours),
            ..defaults
        };
        let secrets_cache_ttl = std::time::Duration::from_secs(env.parsed_or("SECRETS_CACHE_SECONDS", 300u64));
        env.finish()?;
        // As many requests open with e-Box as messages in flight: one each on average
        // (its body is read beside its attachments, which come one after the other).
        let ebox = ebox::EboxConfig {
            max_in_flight: settings.concurrency.max(1),
            ..ebox
        };
        Ok(Self {
            storage,
            ebox,
            settings,
            secrets_cache_ttl,
        })
    }
}

/// Everything the fanout function reads from its environment.
#[derive(Debug, Clone)]
pub struct FanoutConfig {
    pub connections_table: String,
    /// Where the last runs are, for the count of the fleet.
    pub state_table: String,
    pub fetch_function_name: String,
    pub settings: crate::fanout::FanoutSettings,
    /// How the fleet is counted; none only when its configuration was refused.
    pub fleet: Option<crate::fleet::FleetRules>,
}

impl FanoutConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(Env::process())
    }

    pub fn read<F: Fn(&str) -> Option<String>>(mut env: Env<F>) -> Result<Self, ConfigError> {
        let defaults = crate::fanout::FanoutSettings::default();
        // The schedule fanout runs on (infra/ passes the Scheduler's own), so that "stale"
        // counts scheduled runs missed.
        let expression = env
            .optional(vars::SCHEDULE_EXPRESSION)
            .unwrap_or_else(|| DEFAULT_SCHEDULE.into());
        let timezone = env
            .optional(vars::SCHEDULE_TIMEZONE)
            .unwrap_or_else(|| DEFAULT_TIMEZONE.into());
        let missed_runs = env.parsed_or("STALE_AFTER_MISSED_RUNS", 3u32);
        let stuck_days = env.parsed_or(
            "ONBOARDING_STUCK_AFTER_DAYS",
            crate::fleet::DEFAULT_ONBOARDING_STUCK_DAYS as u32,
        );
        let fleet = match crate::fleet::Schedule::parse(&expression, &timezone) {
            Ok(schedule) => Some(crate::fleet::FleetRules {
                missed_runs: missed_runs.max(1),
                onboarding_stuck_after: chrono::Duration::days(i64::from(stuck_days.max(1))),
                ..crate::fleet::FleetRules::new(schedule)
            }),
            Err(e) => {
                env.problem(format!(
                    "{}/{}: {e}",
                    vars::SCHEDULE_EXPRESSION,
                    vars::SCHEDULE_TIMEZONE
                ));
                None
            }
        };
        let config = Self {
            connections_table: env.required(vars::CONNECTIONS_TABLE),
            state_table: env.required(vars::STATE_TABLE),
            fetch_function_name: env.required(vars::FETCH_FUNCTION_NAME),
            settings: crate::fanout::FanoutSettings {
                concurrency: env.parsed_or("FANOUT_CONCURRENCY", defaults.concurrency),
                ..defaults
            },
            fleet,
        };
        env.finish()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env::new(move |k: &str| map.get(k).cloned())
    }

    #[test]
    fn names_every_missing_and_malformed_variable() {
        let mut e = env(&[
            ("STATE_TABLE", "state"),
            ("VERDEELBAK_BUCKET", "  "),
            ("FETCH_CONCURRENCY", "lots"),
            ("EBOX_TOKEN_URL", "ftp://x"),
        ]);
        let names = StorageNames::read(&mut e);
        let _: usize = e.parsed_or("FETCH_CONCURRENCY", 8);
        let _ = e.required_url("EBOX_TOKEN_URL");
        assert_eq!(names.state_table, "state");
        let err = e.finish().unwrap_err();
        assert_eq!(
            err.problems,
            vec![
                "CONNECTIONS_TABLE is not set".to_string(),
                "VERDEELBAK_BUCKET is not set".to_string(),
                "EVENT_BUS_NAME is not set".to_string(),
                "FETCH_CONCURRENCY=\"lots\" is malformed: invalid digit found in string".to_string(),
                "EBOX_TOKEN_URL=\"ftp://x\" is malformed: not an http(s) URL".to_string(),
            ]
        );
        assert!(
            err.to_string()
                .starts_with("configuration is incomplete: CONNECTIONS_TABLE")
        );
    }

    #[test]
    fn complete_configuration_passes() {
        let mut e = env(&[
            ("CONNECTIONS_TABLE", "c"),
            ("STATE_TABLE", "s"),
            ("VERDEELBAK_BUCKET", "b"),
            ("EVENT_BUS_NAME", "e"),
            ("EBOX_SCOPES", "a  b"),
        ]);
        let names = StorageNames::read(&mut e);
        assert_eq!(e.parsed_or("FETCH_CONCURRENCY", 8usize), 8);
        e.finish().unwrap();
        assert_eq!(names.verdeelbak_bucket, "b");
    }
}
