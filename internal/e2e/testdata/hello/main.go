// Command hello does nothing: the baseline of process start-up.
package main

func main() {}
