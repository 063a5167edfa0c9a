// Package batch owns batch scripts as users submit them: it reads the
// directives of a script the way sbatch does, accepts Slurm's #SBATCH lines
// beside gpuq's own #GPUQ lines so that existing Slurm scripts submit
// unchanged, and turns directives and command-line flags into a
// gpuqv1.JobSpec.
//
// A submission goes through three steps:
//
//	ds, warns, err := batch.ParseDirectives(script)   // the #GPUQ/#SBATCH header
//	var o batch.Options
//	more, err := o.ApplyDirectives(ds)                // #SBATCH, then #GPUQ on top
//	w, err := o.Set("time", "30")                     // each command-line flag overrides
//	spec, err := o.Spec(script, now, os.Environ())
//
// Directives are read from the top of the script until the first line that
// is neither blank nor a comment, as sbatch does; directive lines further down
// are ignored with a warning. #GPUQ lines override #SBATCH lines wherever they
// stand, so a script shared with a Slurm cluster can carry gpuq's values.
//
// Slurm options that gpuq cannot honour (--mail-user, --constraint, ...) and
// unknown options are accepted with a Warning, never an error, so a script
// written for Slurm still runs; malformed values are errors that name the
// option and the line. The parsers of single values (ParseTimeLimit,
// ParseGPUs, ParseArray, ParseDependency, ParseSignal, ParseBegin,
// ParseMemory) are exported for the command line and its help.
//
// The package is pure: it reads no clock, file or environment of its own.
// What depends on the server's configuration (that a team, GPU type or pool
// exists, that a job fits a node) is checked by the server, not here.
package batch
