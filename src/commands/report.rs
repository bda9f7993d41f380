//! `lifeboat report`: the action's last step says how the job's other
//! steps ended, so GitHub gets a summary and the failure issue as it does
//! for lifeboat's own commands.

use crate::app::outcome::{Ending, Outcome};
use crate::cli::ReportArgs;
use crate::commands::{Cmd, Context};
use crate::usage_bail;
use anyhow::Result;

impl Cmd for ReportArgs {
    fn run(&self, cx: &Context) -> Result<Outcome> {
        let (args, config) = (self, cx.config);
        if !crate::github::workflow::in_actions() {
            usage_bail!(
                "report tells GitHub how a workflow step ended, and this is not a GitHub Actions step (GITHUB_ACTIONS is not true): nothing was reported"
            );
        }
        let failed = match args.outcome.as_str() {
            "failure" | "failed" => true,
            "success" | "succeeded" => false,
            other => usage_bail!("--outcome is failure or success, not {other:?}"),
        };
        let details = args.message.clone().unwrap_or_else(|| {
            if failed {
                "A step of the lifeboat action failed; see the run's log.".into()
            } else {
                "All steps succeeded.".into()
            }
        });
        let ending = Ending::new(
            &args.class,
            config.set_name.clone(),
            failed,
            format!("### lifeboat {}\n\n{details}\n", args.class),
        );
        // The steps it speaks for sent their own alerts.
        let mut outcome = Outcome::printed(String::new()).with_ending(ending);
        outcome.alert = false;
        Ok(outcome)
    }
}
