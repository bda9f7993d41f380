//! `lifeboat prune`: apply keep rules per set name, safety backups by their
//! own rule, and say why each set stays or goes.

use crate::app::outcome::{self, Ending, Outcome};
use crate::cli::PruneArgs;
use crate::commands::{Cmd, Context};
use crate::config::Config;
use crate::config::{Draft, override_with, usage};
use crate::progress::Reporter;
use crate::retention::{self, Candidate, Decision, Policy, parse_span};
use crate::store::{self, SetEntry, Store};
use anyhow::Result;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize)]
pub struct PrunePlan {
    pub dry_run: bool,
    pub groups: Vec<Group>,
    /// Files of interrupted runs that were (or would be) removed.
    pub leftovers: Vec<PathBuf>,
    pub removed_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub set: String,
    pub dir: PathBuf,
    pub safety: bool,
    pub decisions: Vec<Decision>,
}

pub fn prune(config: &Config, dry_run: bool, reporter: &Reporter) -> Result<PrunePlan> {
    if config.retention.is_empty() {
        crate::usage_bail!(
            "no keep rules: pass --keep-last, --keep-daily, --keep-weekly, --keep-monthly or --keep-within, or set [retention] in lifeboat.toml"
        );
    }
    let mut plan = PrunePlan {
        dry_run,
        groups: Vec::new(),
        leftovers: Vec::new(),
        removed_bytes: 0,
    };
    let main = store::open(&config.out_dir, &config.store)?;
    // Safety backups are local files; a bucket holds none.
    let safety_dir = config
        .safety_dir
        .clone()
        .unwrap_or_else(|| config.out_dir.join("safety"));
    let mut stores = vec![(main, &config.retention, false)];
    if !store::is_url(&config.out_dir) && safety_dir.is_dir() {
        stores.push((store::open(&safety_dir, &config.store)?, &config.safety_retention, true));
    }
    for (store, policy, safety) in stores {
        let entries = store.list()?;
        prune_store(store.as_ref(), &entries, policy, safety, dry_run, &mut plan, reporter)?;
        for (set, leftover) in store.leftovers()? {
            // A backup of this set that is still running holds its lock;
            // without it, anything left is from a run that ended. (A
            // bucket's leftovers are only those old enough that no upload
            // can still own them.)
            let free = match store.local_dir() {
                Some(dir) => match crate::lock::try_lock(&crate::lock::set_lock_path(dir, &set)) {
                    Ok(crate::lock::Attempt::Locked(lock)) => Some(Some(lock)),
                    _ => None,
                },
                None => Some(None),
            };
            if free.is_some() {
                if !dry_run {
                    store.remove_leftover(&leftover);
                    reporter.log(&format!("prune removed leftover {}", leftover.display()));
                }
                plan.leftovers.push(leftover);
            }
        }
    }
    Ok(plan)
}

fn prune_store(
    store: &dyn Store,
    entries: &[SetEntry],
    policy: &Policy,
    safety: bool,
    dry_run: bool,
    plan: &mut PrunePlan,
    reporter: &Reporter,
) -> Result<()> {
    let mut names: Vec<&str> = entries.iter().map(|e| e.name.set.as_str()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let group: Vec<&SetEntry> = entries.iter().filter(|e| e.name.set == name).collect();
        // A set proven by restoring it is the good one to keep; where none
        // was, one that passed the quick level stands in.
        let passed = |e: &SetEntry, restore_only: bool| {
            e.verified
                .as_ref()
                .is_some_and(|v| v.passed && (!restore_only || v.level == "restore"))
        };
        let restore_proven = group.iter().any(|e| passed(e, true));
        let candidates: Vec<Candidate> = group
            .iter()
            .map(|e| Candidate {
                id: e.file_name.clone(),
                time: e.name.time,
                good: passed(e, restore_proven),
                failed: e.verified.as_ref().is_some_and(|v| !v.passed),
            })
            .collect();
        let decisions = retention::plan(policy, &candidates);
        for d in decisions.iter().filter(|d| !d.keep) {
            let entry = group
                .iter()
                .find(|e| e.file_name == d.id)
                .expect("decision for a listed set");
            if dry_run {
                plan.removed_bytes += entry.stored_bytes;
            } else {
                plan.removed_bytes += store.remove_set(entry)?;
                reporter.log(&format!("prune removed {}", entry.path.display()));
            }
        }
        plan.groups.push(Group {
            set: name.to_string(),
            dir: PathBuf::from(store.location()),
            safety,
            decisions,
        });
    }
    Ok(())
}

impl PrunePlan {
    pub fn text(&self) -> String {
        let mut out = String::new();
        let (keep, remove) = if self.dry_run {
            ("keep", "would remove")
        } else {
            ("keep", "removed")
        };
        for g in &self.groups {
            let _ = writeln!(
                out,
                "{}{} in {}:",
                g.set,
                if g.safety { " (safety backups)" } else { "" },
                g.dir.display()
            );
            for d in &g.decisions {
                let _ = writeln!(
                    out,
                    "  {:<12} {:<55} {}",
                    if d.keep { keep } else { remove },
                    d.id,
                    d.reasons.join(", ")
                );
            }
        }
        for l in &self.leftovers {
            let _ = writeln!(out, "  {:<12} {:<55} left by an interrupted run", remove, l.display());
        }
        let removed: usize = self
            .groups
            .iter()
            .map(|g| g.decisions.iter().filter(|d| !d.keep).count())
            .sum();
        let _ = writeln!(
            out,
            "{} {} sets ({})",
            if self.dry_run { "would remove" } else { "removed" },
            removed,
            crate::progress::human_bytes(self.removed_bytes)
        );
        out
    }
}

impl Cmd for PruneArgs {
    fn configure<'a>(&'a self, draft: &mut Draft<'a>) -> Result<()> {
        let (a, config) = (self, &mut draft.config);
        override_with(&mut config.out_dir, a.dir.clone());
        let flags = Policy {
            keep_last: a.keep_last,
            keep_hourly: a.keep_hourly,
            keep_daily: a.keep_daily,
            keep_weekly: a.keep_weekly,
            keep_monthly: a.keep_monthly,
            keep_yearly: a.keep_yearly,
            keep_within: a.keep_within.as_deref().map(parse_span).transpose().map_err(usage)?,
        };
        // Flags replace the file's policy as a whole: mixing rules from
        // two places would keep sets nobody asked to keep.
        if !flags.is_empty() {
            config.retention = flags;
        }
        if let Some(span) = &a.keep_safety {
            config.safety_retention = Policy {
                keep_within: Some(parse_span(span).map_err(usage)?),
                ..Default::default()
            };
        }
        draft.store = Some(&a.store);
        draft.alerts = Some(&a.alerts);
        Ok(())
    }

    /// `lifeboat prune` as the CLI runs it.
    fn run(&self, cx: &Context) -> Result<Outcome> {
        let (args, config, reporter) = (self, cx.config, cx.reporter);
        let plan = prune(config, args.dry_run, reporter)?;
        Ok(
            Outcome::printed(outcome::stdout(args.json, &plan, || plan.text())?).with_ending(Ending::new(
                "prune",
                None,
                false,
                String::new(),
            )),
        )
    }
}
