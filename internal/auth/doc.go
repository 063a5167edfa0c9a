// Package auth is who may do what in gpuq: identities and roles, the tokens
// gpuqd signs for users, the cluster's certificate authority (the server's
// certificate and the nodes' client certificates), the join token nodes
// present once, peer credentials on the unix socket, the authorisation rules
// every RPC is checked against, per-user rate limits and the audit log.
//
// The rules (policy.go) are pure functions of an Identity and the resource
// asked for; internal/server calls them on every request. Files this package
// writes that hold secrets (the CA key, the server key, the token-signing key,
// the join token) are created with mode 0600; secrets never appear in logs or
// errors: tokens are named by their id.
package auth
