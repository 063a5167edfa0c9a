// Package chart draws charts as SVG files with the standard library only,
// for gpuqctl's reports: StackedBars, one bar per hour with a segment per
// team, shows how the GPU-hours pass from team to team over the day.
//
// The output is deterministic: the same chart gives the same bytes, numbers
// are written with a fixed precision and nothing depends on map order, so
// charts can be compared with golden files.
package chart
