//! The schedule fanout runs on, as EventBridge Scheduler writes it, and how many of its
//! moments fall between two times.

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};

/// When fanout runs: an EventBridge Scheduler expression (`cron(...)` with six fields,
/// minutes to year, or `rate(n unit)`) in its time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Cron {
        cron: Box<croner::Cron>,
        zone: chrono_tz::Tz,
    },
    Rate(Duration),
}

impl Schedule {
    pub fn parse(expression: &str, timezone: &str) -> Result<Self, String> {
        let expression = expression.trim();
        let inner = |prefix: &str| {
            expression
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(')'))
                .map(str::trim)
        };
        let kind = if let Some(fields) = inner("cron(") {
            if fields.split_whitespace().count() != 6 {
                return Err(format!(
                    "{expression}: a cron expression has six fields (minutes hours day-of-month month day-of-week year)"
                ));
            }
            // EventBridge's fields, with the seconds croner also reads put in front; its
            // weekdays count from SUN=1, as Quartz's do.
            let cron = croner::parser::CronParser::builder()
                .seconds(croner::parser::Seconds::Required)
                .year(croner::parser::Year::Required)
                .alternative_weekdays(true)
                .build()
                .parse(&format!("0 {fields}"))
                .map_err(|e| format!("{expression}: {e}"))?;
            let zone = chrono_tz::Tz::from_str(timezone).map_err(|e| format!("time zone {timezone}: {e}"))?;
            Kind::Cron {
                cron: Box::new(cron),
                zone,
            }
        } else if let Some(rate) = inner("rate(") {
            Kind::Rate(
                parse_rate(rate).ok_or_else(|| format!("{expression}: a rate is `rate(<n> minutes|hours|days)`"))?,
            )
        } else {
            return Err(format!(
                "{expression}: a recurring schedule is `cron(...)` or `rate(...)`"
            ));
        };
        Ok(Self { kind })
    }

    /// How many scheduled moments fall in `(after, until]`, counting no further than `cap`.
    pub fn ticks_between(&self, after: DateTime<Utc>, until: DateTime<Utc>, cap: u32) -> u32 {
        if until <= after {
            return 0;
        }
        match &self.kind {
            Kind::Cron { cron, zone } => cron
                .iter_after(after.with_timezone(zone))
                .take_while(|t| t.with_timezone(&Utc) <= until)
                .take(cap as usize)
                .count() as u32,
            Kind::Rate(every) => {
                let n = (until - after).num_seconds() / every.num_seconds().max(1);
                n.clamp(0, i64::from(cap)) as u32
            }
        }
    }
}

fn parse_rate(rate: &str) -> Option<Duration> {
    let (n, unit) = rate.split_once(' ')?;
    let n: i64 = n.trim().parse().ok().filter(|n| *n > 0)?;
    match unit.trim() {
        "minute" | "minutes" => Some(Duration::minutes(n)),
        "hour" | "hours" => Some(Duration::hours(n)),
        "day" | "days" => Some(Duration::days(n)),
        _ => None,
    }
}

#[cfg(test)]
pub(super) mod testing {
    use chrono::{DateTime, TimeZone, Utc};

    pub const WEEKDAYS: &str = "cron(0 6-20 ? * MON-FRI *)";

    /// Brussels wall-clock time in December 2026 (UTC+1).
    pub fn brussels(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        chrono_tz::Europe::Brussels
            .with_ymd_and_hms(2026, 12, day, hour, minute, 0)
            .unwrap()
            .with_timezone(&Utc)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{WEEKDAYS, brussels};
    use super::*;

    #[test]
    fn the_weekday_schedule_ticks_hourly_in_brussels_on_weekdays_only() {
        let s = Schedule::parse(WEEKDAYS, "Europe/Brussels").unwrap();
        // Friday 4 December 06:00 to 20:00: fifteen ticks; none on the weekend.
        assert_eq!(s.ticks_between(brussels(4, 5, 59), brussels(4, 20, 0), 100), 15);
        assert_eq!(s.ticks_between(brussels(4, 20, 0), brussels(7, 5, 59), 100), 0);
        assert_eq!(s.ticks_between(brussels(4, 20, 0), brussels(7, 6, 0), 100), 1);
        // Counting stops at the cap.
        assert_eq!(s.ticks_between(brussels(1, 0, 0), brussels(4, 0, 0), 3), 3);
        // Quartz weekdays, as EventBridge's: 2-6 is MON-FRI.
        let numeric = Schedule::parse("cron(0 6-20 ? * 2-6 *)", "Europe/Brussels").unwrap();
        assert_eq!(numeric.ticks_between(brussels(4, 20, 0), brussels(7, 6, 0), 100), 1);
    }

    #[test]
    fn rates_and_refusals() {
        let s = Schedule::parse("rate(15 minutes)", "UTC").unwrap();
        assert_eq!(s.ticks_between(brussels(1, 0, 0), brussels(1, 1, 0), 100), 4);
        for bad in [
            "cron(0 6 * *)",
            "cron(0 61 ? * MON-FRI *)",
            "rate(0 hours)",
            "rate(1 fortnight)",
            "at(2026-12-01T00:00:00)",
        ] {
            assert!(Schedule::parse(bad, "Europe/Brussels").is_err(), "{bad}");
        }
        assert!(Schedule::parse(WEEKDAYS, "Europe/Nowhere").is_err());
    }
}
