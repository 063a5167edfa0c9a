// Package reclog is an append-only file of records, one a line: the
// journals of gpuq-node and its supervisor, which keep per-run state
// without making a file per run (on a journal-less ext4, each new inode
// costs hundreds of microseconds of CPU while many were deleted recently).
//
// A record is written with one write(2) on a file opened O_APPEND, so a
// reader sees whole lines, except a last one cut short by a crash: Lines
// skips a last line without its newline, and Open cuts it off, so that
// the next record starts a line of its own. Append with durable returns once
// the record is on disk (fdatasync); appends that wait meanwhile share
// one sync. Rewrite replaces the content (a temporary file, synced and
// renamed over the log) for compaction; the log has one writer, which
// decides when.
package reclog
