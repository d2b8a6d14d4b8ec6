package main

import "time"

// timeline is what a run saw, as the chart draws it: times are from the
// start of the run.
type timeline struct {
	// Fault is the --fault of the run, for the title.
	Fault string
	// End is how long the run lasted.
	End time.Duration
	// Bucket is the width of each entry of New and Old.
	Bucket time.Duration
	// New and Old are the responses of each code path, per bucket: entry i
	// covers [i·Bucket, (i+1)·Bucket).
	New, Old []rate
	// Weights are the canary shares the release wrote, in order.
	Weights []weightChange
	// FaultFirst is when the fault first showed in a response; nil when it
	// never did.
	FaultFirst *time.Duration
	// Trips are the moments an instance's breaker opened.
	Trips []trip
	// Rollback is the commit of the rollback; nil when there was none.
	Rollback *time.Duration
	// Promoted is when the release was promoted; nil when it was not.
	Promoted *time.Duration
	// Killed is when --chaos killed an instance; nil without chaos.
	Killed *time.Duration
}

// rate counts the responses of one code path in one bucket.
type rate struct {
	Calls, Failed int
}

// weightChange is the release setting a flag's canary share.
type weightChange struct {
	At      time.Duration
	Flag    string
	Percent int
}

// trip is an instance's breaker opening on a flag.
type trip struct {
	At       time.Duration
	Instance string // the instance's name in the run: "instance 1", ...
	Flag     string
}
