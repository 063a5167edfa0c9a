// Package sched decides what runs where. Decide is a pure function from a
// Snapshot to a Plan: it reads no clock, does no I/O and keeps no state, so
// the same snapshot always gives the same plan. The daemon builds snapshots,
// applies plans and re-checks them against its current state.
//
// This first version decides eligibility (holds, begin times, dependencies,
// singleton, array concurrency limits), orders eligible jobs by a simple
// priority and places them first-fit on nodes with free GPUs of the right
// type. The multifactor priority, fair share by time zone, backfill and
// preemption are issue #4.
package sched
