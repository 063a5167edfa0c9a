// Package ctl is gpuqctl, the command-line client of gpuqd, built on
// urfave/cli. It owns the command line and the output formats; it talks to
// gpuqd through package client and reads batch scripts through package batch.
//
// Commands, with the Slurm command each one follows:
//
//	submit  sbatch           submit [options] SCRIPT [ARGS...] | --wrap CMD
//	queue   squeue           queue [--me] [-u USERS] [-t STATES] [-j JOBS] [-o FORMAT] [-h] [-r] [--json]
//	cancel  scancel          cancel [filters] [JOB...]
//	hold    scontrol hold    hold JOB...
//	release scontrol release release JOB...
//	show    scontrol show    show job [--json] JOB | show node [--json] [NAME...]
//	nodes   sinfo -N -l      nodes [-t STATES] [-p POOLS] [-h] [--json] | nodes [--json] NAME...
//	node    scontrol update  node drain --reason REASON NAME... | node resume NAME...
//	acct    sacct            acct [-S TIME] [-E TIME] [-A TEAMS] [-u USERS] [-s STATES] [-j JOBS] [-o FIELDS]
//	                         [-P | --csv | --json] [-n] [--tz ZONE]
//	cost    (none)           cost [--month YYYY-MM | -S TIME [-E TIME]] [--tz ZONE] [--model chargeback|split]
//	                         [--bill POOL=AMOUNT]... [--idle proportional|shares|even|platform] [--json]
//	budget  (none)           budget [-A TEAMS] [--at TIME] [--tz ZONE] [--json]
//	priority sprio           priority [-j JOBS] [-u USERS] [--team TEAMS] [-n] [-h] [--json]
//	share   sshare           share [-h] [--json]
//
// The command line is read the getopt way, as Slurm reads it: -t10 and
// -t 10, -HW for -H -W, --nice without a value; flags may follow job ids
// (cancel 42 --me) and --server may follow the command. submit's flags end
// at the script; what follows belongs to the script. -h is --noheader for
// queue and nodes as in squeue and sinfo; everywhere else it is --help.
//
// Exit status, which scripts can rely on:
//
//	0    success
//	1    the action failed for at least one job or node (not found, wrong state: a node
//	     named to nodes, show node, node drain or node resume that gpuqd does not know,
//	     node resume of a DOWN node), or gpuqd failed
//	2    usage error or bad input: bad flags, a bad batch script, or input gpuqd
//	     rejected as invalid (InvalidArgument)
//	3    gpuqd cannot be reached, or said it is unavailable
//	130  interrupted
//
// submit --wait exits with the job's exit code instead, like sbatch --wait:
// the highest exit code of an array's tasks, 128+N for a task killed by
// signal N, and 1 for a job that ended FAILED, CANCELLED, TIMEOUT, ... with
// exit code 0.
//
// queue's --format takes squeue's %[.][WIDTH]CODE fields; `gpuqctl queue
// --help` lists the codes (%i job id, %j name, %u user, %a team, %T state,
// %t compact state, %M time used, %l time limit, %b GPUs, %R node or
// reason, ...). gpuq has teams where Slurm has accounts, so %a is the team,
// and pools where Slurm has partitions, so %P is the pool.
//
// acct lists accounting records, one line per run, of the runs that overlap
// the window from --starttime to --endtime (by default midnight today in
// --tz to now), with sacct's --format field list (JobID,JobName%30,...;
// `gpuqctl acct --help` lists the fields), -P and the time specs
// YYYY-MM-DD[THH:MM[:SS]], now-7days, today, ... read by package
// accounting. Times are shown in --tz, UTC unless set. cost prints a cost
// report per team (chargeback, or a split of the pools' bills) with a TOTAL
// that is the exact sum of its rows; budget shows each team's month against
// its budget. gpuqd computes both.
//
// nodes shows gpuqd's node states (UP, DRAIN, DOWN) in sinfo's lowercase
// words, refined by how many GPUs jobs hold:
//
//	UP     no jobs                         idle
//	UP     jobs hold some GPUs, or none    mixed
//	UP     jobs hold every GPU             allocated
//	DRAIN  no jobs                         drained
//	DRAIN  jobs still running              draining
//	DOWN                                   down
//	other                                  unknown
//
// with a trailing * when the node daemon is not connected, like sinfo's "not
// responding" marker, and "(simulated)" after the GPUs of a node with
// simulated GPUs. show node writes scontrol's form: IDLE, MIXED, ALLOCATED,
// +DRAIN for a drained node, DOWN, with the * after the base state
// (IDLE*+DRAIN). nodes --state takes the sinfo words, and drain (drained and
// draining), up and no_respond.
//
// Every run of gpuqctl is a process of its own, so nothing here works at init
// time and the client dials lazily: a submit is one round trip.
package ctl
