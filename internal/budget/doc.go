// Package budget watches the teams' spending against their monthly budgets
// inside gpuqd. It keeps each team's spending in its current month up to
// date as runs end (the queue hands it every record it writes), and checks
// the budgets when a run ends and every check interval:
//
//   - An alert is raised when a team's spending reaches 80% and 100% of its
//     budget: once per team, month and threshold. It is recorded in the
//     store first, then logged, then posted to the webhook when one is
//     configured; a restart neither raises it again nor sends it again once
//     the webhook took it, and one the webhook did not take is tried again
//     at the next checks until its month ends.
//   - With a hard limit, a team that has spent its whole budget has its
//     new jobs held with reason Budget (the queue asks OverBudget at each
//     submission). When the team is under its budget again (an operator
//     raised it, or a new month began) those jobs are released.
//   - An operator may set a team's budget in place of the config's
//     (SetBudget); the change is durable.
//
// The arithmetic is internal/accounting's; this package adds the state, the
// store and the webhook. Time comes from Options.Now.
package budget
