// Package ctrdrun is gpuq-node's containerd runtime: it runs each job
// (a jobrun.Spec) as a container and task in gpuq's containerd namespace,
// and is the only package of gpuq that imports the containerd client.
//
// What it owns:
//
//   - Start: the container from an image already in the namespace (gpuq
//     never pulls; an image present but not unpacked for the snapshotter
//     is unpacked), with a static tini mounted read-only and run as
//     "tini -g -- ARGS" so the script is not PID 1; the job's bind mounts,
//     environment (over the image's), working directory, host devices, CDI
//     devices (from its own CDI cache over Options.CDISpecDirs), memory and
//     CPU limits, user, group and supplementary groups (the Spec's, not the
//     image's /etc/group), and labels. Jobs share the host's network
//     and hostname, see their own cgroup read-only, and get a /dev/shm as
//     large as their memory limit.
//   - Output: written by containerd's shim, not by this process, so it
//     survives a restart of gpuq-node. The files are made and opened here,
//     as the job's user when the Spec has a UID (internal/fsuser), and
//     handed to the shim as /proc/<pid>/fd/<n> paths of those open files,
//     which it opens for appending when the task is made: the shim runs as
//     root and must not follow a link the user planted. Equal paths are
//     one file. gpuq-node must therefore share containerd's pid namespace
//     and /proc; Start checks it.
//   - Wait: the exit status exactly; OOM from containerd's /tasks/oom
//     event or, failing that, the task's cgroup OOM-kill counter (v1 or
//     v2); Signal when the status is 128+N and N was sent through Signal
//     or Delete (or SIGKILL after an OOM kill). Signals sent and OOM kills
//     seen are also recorded as container labels, so that a later gpuq-node
//     re-attaches (List, Wait) with the same answers. Wait rides out a
//     restart of containerd.
//   - Signal to every process of the job; Delete of task, container and
//     snapshot, idempotent.
//
// Package ctrdtest starts a private containerd and builds a test image
// for the tests of this and other packages.
package ctrdrun
