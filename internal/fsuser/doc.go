// Package fsuser runs file-system operations as another user: on an
// operating-system thread of their own whose file-system uid, gid and
// supplementary groups are that user's. The kernel then checks
// permissions, follows symbolic links and sets the owner of new files as
// it would for the user's own processes, so a root daemon can create a
// job's files in the user's directories without being tricked into
// writing where the user may not.
package fsuser
