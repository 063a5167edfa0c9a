package ctl

import "github.com/urfave/cli/v2"

// urfave/cli computes a flag's names with a regular expression on every
// call of Names, and looks flags up by scanning every flag's names, so a
// command's time grows with the square of its flags: most of a submit's time
// in process went there. These wrappers compute the names once.

type stringFlag struct {
	*cli.StringFlag
	names []string
}

func (f *stringFlag) Names() []string { return f.names }

func newStringFlag(f *cli.StringFlag) cli.Flag { return &stringFlag{f, f.Names()} }

type stringSliceFlag struct {
	*cli.StringSliceFlag
	names []string
}

func (f *stringSliceFlag) Names() []string { return f.names }

func newStringSliceFlag(f *cli.StringSliceFlag) cli.Flag {
	return &stringSliceFlag{f, f.Names()}
}

// boolFlag is also never shown with "(default: false)".
type boolFlag struct {
	*cli.BoolFlag
	names []string
}

func (f *boolFlag) Names() []string { return f.names }

func (f *boolFlag) GetDefaultText() string { return "" }

// String is the help line; the promoted one would not see GetDefaultText.
func (f *boolFlag) String() string { return cli.FlagStringer(f) }

func newBoolFlag(f *cli.BoolFlag) cli.Flag { return &boolFlag{f, f.Names()} }
