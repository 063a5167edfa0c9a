// Package store keeps gpuqd's state durably in an embedded badger/v4 database.
//
// It knows keys and encodings and nothing of scheduling: callers hand it
// protobuf messages inside a transaction, and every committed transaction is
// synced to disk before Update returns (unless Options.NoSync is set for
// benchmarks and tests that do not need durability).
//
// # Key schema, version 2
//
//	m/schema                 "2"                        schema version, checked on open
//	m/next_id                uint64 big-endian          the next job id to hand out
//	m/max_run                uint64 big-endian          the longest run of any record, in nanoseconds:
//	                                                    a scan for a period's runs stops this long
//	                                                    after the period ends
//	j/<id>                   gpuq.v1.JobSpec            a submission without script, environment, array task ids
//	p/<id>                   gpuq.v1.JobSpec            the same submission's script, environment, array task ids
//	t/<id>/<task>            gpuq.v1.Job                one job, or one array task; spec unset
//	r/<request id>           uint64 big-endian          idempotency: request id -> job id
//	a/<end>/<allocation>     gpuq.v1.RunRecord          accounting: one record per run, <end> the
//	                                                    run's end as 8 bytes of Unix nanoseconds
//	x/<id>/<task>/<end>/<allocation>  (empty)           the job-id index of the records: the key of a
//	                                                    record a/<end>/<allocation> is a/ and what
//	                                                    follows x/<id>/<task>/; written in the same
//	                                                    transaction as the record
//	u/<key>                  gpuq.v1.DecayedUsage       billed usage per team ("sf") and user ("sf/alice")
//	b/<month>/<team>/<pct>   gpuq.v1.BudgetAlertEvent   a budget alert: <month> YYYY-MM, <pct> the
//	                                                    threshold as three digits ("080", "100")
//	o/<team>                 gpuq.v1.BudgetOverride     a team's monthly budget set by an operator
//	k/<token id>             gpuq.v1.TokenInfo          an issued token (never the token itself)
//
// <id> is the job id as 8 bytes big-endian, so keys sort by id. <task> is 5
// bytes: 0x00 and four zero bytes for a job that is not an array, 0x01 and the
// task id big-endian for an array task, so a job's tasks sort after it in
// task order.
//
// A record of a job that never ran has <job>.<run>.- as its <allocation>,
// such as 42_3.0.-.
//
// A change to this schema bumps SchemaVersion and adds a migration in Open.
// Version 2 added the job-id index (x/) and m/max_run: Open indexes the
// records of a version 1 store, then marks it version 2.
package store
