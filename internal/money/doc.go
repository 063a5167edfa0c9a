// Package money owns exact amounts of money: an Amount counts millionths of
// the currency unit in an int64, so that per-GPU-hour rates multiplied by
// fractional hours stay exact to a micro-unit and sums never drift the way
// floats do. It parses and prints amounts as decimal strings ("3.50",
// "0.000001"), rounds them to cents for invoices, and reads and writes them in
// YAML configs. It knows nothing about currencies: every amount in gpuq is in
// the one currency the operator bills in.
package money
