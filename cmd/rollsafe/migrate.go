package main

func migrateCommand() command {
	return command{
		name:    "migrate",
		summary: "check migrations for reversibility and compatibility; create them; run them up and down; repair a failed one",
		usage:   "rollsafe migrate SUBCOMMAND [flags] DIR",
		subs: []command{
			// sub-commands: one entry per file migrate_*.go
			migrateUpCommand(),
			migrateDownCommand(),
			migrateStatusCommand(),
			migrateCreateCommand(),
			migrateRepairCommand(),
			migrateCheckCommand(),
			migrateHashCommand(),
		},
	}
}
