//! Keep policies: the union of keep-last, -hourly, -daily, -weekly,
//! -monthly, -yearly and -within, never the newest good set, and a reason
//! for every decision.

use anyhow::{Result, bail};
use chrono::{DateTime, Datelike, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How many sets each rule keeps; `None` means the rule is off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub keep_last: Option<u32>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
    /// Keeps every set taken within this span of the newest set, as restic
    /// does, so that a backup job that stopped does not empty the directory.
    #[serde(default, with = "span_serde")]
    pub keep_within: Option<Duration>,
}

impl Policy {
    pub fn is_empty(&self) -> bool {
        self == &Policy::default()
    }

    /// The policy for safety sets taken before restores: 7 days.
    pub fn safety_default() -> Policy {
        Policy {
            keep_within: Some(Duration::days(7)),
            ..Default::default()
        }
    }

    /// Fills the rules `self` leaves off from `other`.
    pub fn or(self, other: &Policy) -> Policy {
        Policy {
            keep_last: self.keep_last.or(other.keep_last),
            keep_hourly: self.keep_hourly.or(other.keep_hourly),
            keep_daily: self.keep_daily.or(other.keep_daily),
            keep_weekly: self.keep_weekly.or(other.keep_weekly),
            keep_monthly: self.keep_monthly.or(other.keep_monthly),
            keep_yearly: self.keep_yearly.or(other.keep_yearly),
            keep_within: self.keep_within.or(other.keep_within),
        }
    }
}

/// A set as retention sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: String,
    pub time: DateTime<Utc>,
    /// Passed its last verification.
    pub good: bool,
    /// Failed its last verification: no rule keeps it in place of a set
    /// that may be intact.
    pub failed: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Decision {
    pub id: String,
    pub time: DateTime<Utc>,
    pub keep: bool,
    pub reasons: Vec<String>,
}

/// Decides for every candidate; the result is newest first.
pub fn plan(policy: &Policy, candidates: &[Candidate]) -> Vec<Decision> {
    let mut sorted: Vec<&Candidate> = candidates.iter().collect();
    sorted.sort_by(|a, b| b.time.cmp(&a.time).then(b.id.cmp(&a.id)));
    let mut decisions: Vec<Decision> = sorted
        .iter()
        .map(|c| Decision {
            id: c.id.clone(),
            time: c.time,
            keep: false,
            reasons: Vec::new(),
        })
        .collect();

    let failed: Vec<bool> = sorted.iter().map(|c| c.failed).collect();
    if let Some(n) = policy.keep_last {
        for (_, d) in decisions
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| !failed[*i])
            .take(n as usize)
        {
            d.reasons.push(format!("last {n}"));
        }
    }
    type Bucket = fn(&DateTime<Utc>) -> String;
    let buckets: [(&str, Option<u32>, Bucket); 5] = [
        ("hourly", policy.keep_hourly, |t| t.format("%Y-%m-%d %H:00").to_string()),
        ("daily", policy.keep_daily, |t| t.format("%Y-%m-%d").to_string()),
        ("weekly", policy.keep_weekly, |t| {
            let w = t.iso_week();
            format!("{}-W{:02}", w.year(), w.week())
        }),
        ("monthly", policy.keep_monthly, |t| t.format("%Y-%m").to_string()),
        ("yearly", policy.keep_yearly, |t| t.year().to_string()),
    ];
    for (rule, count, bucket) in buckets {
        let Some(mut left) = count else { continue };
        let mut last: Option<String> = None;
        for (_, d) in decisions.iter_mut().enumerate().filter(|(i, _)| !failed[*i]) {
            if left == 0 {
                break;
            }
            let key = bucket(&d.time);
            if last.as_ref() != Some(&key) {
                d.reasons.push(format!("{rule} {key}"));
                last = Some(key);
                left -= 1;
            }
        }
    }
    if let (Some(span), Some(newest)) = (policy.keep_within, decisions.first().map(|d| d.time)) {
        // A span reaching before the calendar's start keeps everything.
        let since = newest.checked_sub_signed(span).unwrap_or(DateTime::<Utc>::MIN_UTC);
        for (_, d) in decisions
            .iter_mut()
            .enumerate()
            .filter(|(i, d)| !failed[*i] && d.time >= since)
        {
            d.reasons.push(format!("within {} of the newest", format_span(span)));
        }
    }
    // The newest set that passed verification is never removed; when none
    // has been verified, the newest set stands in for it.
    let protected = sorted
        .iter()
        .position(|c| c.good)
        .map(|i| (i, "newest verified set"))
        .or_else(|| {
            sorted
                .iter()
                .position(|c| !c.failed)
                .map(|i| (i, "newest set (none verified yet)"))
        });
    if let Some((i, why)) = protected {
        decisions[i].reasons.push(why.to_string());
    }
    for d in &mut decisions {
        d.keep = !d.reasons.is_empty();
    }
    for (i, d) in decisions.iter_mut().enumerate() {
        if !d.keep {
            d.reasons.push(if failed[i] {
                "failed its last verification".to_string()
            } else {
                "no rule keeps it".to_string()
            });
        }
    }
    decisions
}

/// Reads spans like `30d`, `26h`, `2w`, `90m`, `1y`, `1d12h`.
pub fn parse_span(text: &str) -> Result<Duration> {
    let text = text.trim();
    if text.is_empty() {
        bail!("empty duration: write it like 30d, 26h, 2w, 1y");
    }
    let mut total = Duration::zero();
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number
            .parse()
            .map_err(|_| anyhow::anyhow!("bad duration {text:?}: write it like 30d, 26h, 2w, 1y"))?;
        number.clear();
        let part = match c {
            's' => Duration::try_seconds(n),
            'm' => Duration::try_minutes(n),
            'h' => Duration::try_hours(n),
            'd' => Duration::try_days(n),
            'w' => Duration::try_weeks(n),
            'y' => n.checked_mul(365).and_then(Duration::try_days),
            _ => bail!("bad duration {text:?}: units are s, m, h, d, w, y"),
        };
        // Checked: a span like 1000000000y is a mistake to report, not a
        // reason to crash.
        total = part
            .and_then(|p| total.checked_add(&p))
            .filter(|t| *t <= Duration::days(365 * 10_000))
            .ok_or_else(|| anyhow::anyhow!("duration {text:?} is too long: at most 10000y"))?;
    }
    if !number.is_empty() {
        bail!("bad duration {text:?}: the number needs a unit (s, m, h, d, w, y)");
    }
    Ok(total)
}

pub fn format_span(d: Duration) -> String {
    let s = d.num_seconds();
    if s % 86400 == 0 {
        format!("{}d", s / 86400)
    } else if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

mod span_serde {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&super::format_span(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| super::parse_span(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).unwrap()
    }

    fn sets(times: &[DateTime<Utc>], good: &[usize]) -> Vec<Candidate> {
        times
            .iter()
            .enumerate()
            .map(|(i, t)| Candidate {
                id: format!("s{i}"),
                time: *t,
                good: good.contains(&i),
                failed: false,
            })
            .collect()
    }

    #[test]
    fn a_failed_set_never_takes_an_intact_ones_place() {
        let times = [at(2026, 1, 1, 0), at(2026, 1, 2, 0), at(2026, 1, 3, 0)];
        let mut candidates = sets(&times, &[]);
        candidates[2].failed = true;
        let policy = Policy {
            keep_last: Some(1),
            ..Policy::default()
        };
        let kept: Vec<(String, Vec<String>)> = plan(&policy, &candidates)
            .into_iter()
            .map(|d| (d.id, if d.keep { d.reasons } else { vec!["removed".into()] }))
            .collect();
        assert_eq!(
            kept,
            vec![
                ("s2".to_string(), vec!["removed".to_string()]),
                (
                    "s1".to_string(),
                    vec!["last 1".to_string(), "newest set (none verified yet)".to_string()]
                ),
                ("s0".to_string(), vec!["removed".to_string()]),
            ]
        );
    }

    #[test]
    fn spans_too_long_are_errors_not_panics() {
        assert!(parse_span("1000000y").is_err());
        assert!(parse_span("99999999999999999w").is_err());
        assert_eq!(parse_span("10000y").unwrap(), Duration::days(3_650_000));
    }

    type Case = (
        &'static str,
        Policy,
        Vec<DateTime<Utc>>,
        Vec<usize>,
        Vec<(&'static str, &'static str)>,
    );

    /// Every case: policy, set times (oldest first), which are verified,
    /// and which ids stay, each with one reason that must appear.
    #[test]
    fn table_of_cases() {
        let daily: Vec<_> = (1..=10).map(|d| at(2026, 11, d, 3)).collect();
        let twice_a_day: Vec<_> = (1..=4)
            .flat_map(|d| [at(2026, 11, d, 3), at(2026, 11, d, 15)])
            .collect();
        let cases: Vec<Case> = vec![
            (
                "keep-last 3 keeps the three newest",
                Policy {
                    keep_last: Some(3),
                    ..Default::default()
                },
                daily.clone(),
                vec![],
                vec![("s9", "last 3"), ("s8", "last 3"), ("s7", "last 3")],
            ),
            (
                "keep-daily 2 keeps the newest of each of the two newest days",
                Policy {
                    keep_daily: Some(2),
                    ..Default::default()
                },
                twice_a_day.clone(),
                vec![],
                vec![("s7", "daily 2026-11-04"), ("s5", "daily 2026-11-03")],
            ),
            (
                "keep-within 3d counts from the newest set",
                Policy {
                    keep_within: Some(Duration::days(3)),
                    ..Default::default()
                },
                daily.clone(),
                vec![],
                vec![
                    ("s9", "within 3d"),
                    ("s8", "within 3d"),
                    ("s7", "within 3d"),
                    ("s6", "within 3d"),
                ],
            ),
            (
                "the newest verified set survives a policy that keeps only the last",
                Policy {
                    keep_last: Some(1),
                    ..Default::default()
                },
                daily.clone(),
                vec![4],
                vec![("s9", "last 1"), ("s4", "newest verified set")],
            ),
            (
                "without verified sets the newest is protected",
                Policy {
                    keep_weekly: Some(0),
                    ..Default::default()
                },
                daily.clone(),
                vec![],
                vec![("s9", "newest set (none verified yet)")],
            ),
            (
                "rules are a union: last 1 plus weekly 2",
                Policy {
                    keep_last: Some(1),
                    keep_weekly: Some(2),
                    ..Default::default()
                },
                daily.clone(),
                vec![],
                // Nov 9 and 10 2026 are in ISO week 46; Nov 2..8 in week 45.
                vec![("s9", "weekly 2026-W46"), ("s9", "last 1"), ("s7", "weekly 2026-W45")],
            ),
            (
                "monthly and yearly buckets",
                Policy {
                    keep_monthly: Some(2),
                    keep_yearly: Some(2),
                    ..Default::default()
                },
                vec![
                    at(2025, 6, 1, 0),
                    at(2025, 12, 31, 0),
                    at(2026, 1, 15, 0),
                    at(2026, 2, 1, 0),
                ],
                vec![],
                vec![
                    ("s3", "monthly 2026-02"),
                    ("s2", "monthly 2026-01"),
                    ("s3", "yearly 2026"),
                    ("s1", "yearly 2025"),
                ],
            ),
        ];
        for (what, policy, times, good, expect) in cases {
            let decisions = plan(&policy, &sets(&times, &good));
            let kept: Vec<&str> = decisions.iter().filter(|d| d.keep).map(|d| d.id.as_str()).collect();
            let mut want: Vec<&str> = expect.iter().map(|(id, _)| *id).collect();
            want.dedup();
            let mut kept_sorted = kept.clone();
            kept_sorted.sort();
            want.sort();
            want.dedup();
            assert_eq!(kept_sorted, want, "{what}");
            for (id, reason) in expect {
                let d = decisions.iter().find(|d| d.id == id).unwrap();
                assert!(
                    d.reasons.iter().any(|r| r.starts_with(reason)),
                    "{what}: {id} lacks {reason:?}: {:?}",
                    d.reasons
                );
            }
            for d in decisions.iter().filter(|d| !d.keep) {
                assert_eq!(d.reasons, vec!["no rule keeps it"], "{what}");
            }
        }
    }

    #[test]
    fn spans_parse_and_print() {
        assert_eq!(parse_span("30d").unwrap(), Duration::days(30));
        assert_eq!(parse_span("26h").unwrap(), Duration::hours(26));
        assert_eq!(parse_span("1d12h").unwrap(), Duration::hours(36));
        assert_eq!(parse_span("2w").unwrap(), Duration::days(14));
        assert!(parse_span("30").is_err());
        assert!(parse_span("3x").is_err());
        assert_eq!(format_span(Duration::hours(26)), "26h");
    }
}
