package main

// releaseUsage is the usage of the release group.
const releaseUsage = "rollsafe release validate|start|status|promote|pause|resume|abort|history|runbook|rollback [flags] ARGS\n\n" +
	"A release moves flags from their baseline to their canary variant in the\n" +
	"steps of a plan (a JSON or YAML file), judging each step and rolling back\n" +
	"by itself when the canary does worse."

func releaseCommand() command {
	return command{
		name:    "release",
		summary: "check a release plan, write its runbook; run progressive releases that judge and reverse themselves",
		usage:   releaseUsage,
		subs:    releaseSubs(),
	}
}

// releaseSubs are the release commands, one entry each.
func releaseSubs() []command {
	return []command{
		releaseValidateCommand(),
		releaseStartCommand(),
		releaseStatusCommand(),
		releasePromoteCommand(),
		releasePauseCommand(),
		releaseResumeCommand(),
		releaseAbortCommand(),
		releaseHistoryCommand(),
		releaseRunbookCommand(),
		releaseRollbackCommand(),
	}
}
