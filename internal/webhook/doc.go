// Package webhook posts JSON payloads to an HTTP endpoint: one POST per
// attempt, each with a timeout, retried with a doubling backoff while the
// endpoint fails in a way a retry can fix (a network error, a timeout,
// 408, 429 or a 5xx answer). Every request carries an idempotency key so
// that the receiver can drop a repeat.
//
// Webhook URLs often carry a secret in their path or query (Slack's and
// Teams' do), so the package never puts a URL in an error: Redact gives the
// form that is safe to log, its scheme and host.
package webhook
