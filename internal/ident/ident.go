package ident

// class is a set of byte classes, one bit each.
type class uint8

const (
	upper class = 1 << iota
	lower
	digit
	dot
	under
	dash

	alnum = upper | lower | digit
)

// classes maps each ASCII byte to its class; other bytes have none.
var classes = func() (t [256]class) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = upper
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = lower
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = digit
	}
	t['.'], t['_'], t['-'] = dot, under, dash
	return t
}()

// match reports whether s is one byte of class first followed by at most
// max-1 bytes of class rest.
func match(s string, first, rest class, max int) bool {
	if s == "" || len(s) > max || classes[s[0]]&first == 0 {
		return false
	}
	for i := 1; i < len(s); i++ {
		if classes[s[i]]&rest == 0 {
			return false
		}
	}
	return true
}

// Name reports whether s is a team, pool or node name: a letter or digit,
// then letters, digits, '.', '_' or '-', at most 64 bytes in all. Names
// appear in command lines, logs and store keys.
func Name(s string) bool { return match(s, alnum, alnum|dot|under|dash, 64) }

// GPUType reports whether s is a GPU type such as a100 or h100-80gb: a
// lowercase letter, then lowercase letters, digits, '_' or '-', at most 32
// bytes in all.
func GPUType(s string) bool { return match(s, lower, lower|digit|under|dash, 32) }

// Region reports whether s is a cloud-style region such as us-west1: a
// lowercase letter or digit, then lowercase letters, digits, '.', '_' or
// '-', at most 64 bytes in all.
func Region(s string) bool { return match(s, lower|digit, lower|digit|dot|under|dash, 64) }

// QOS reports whether s is a QOS name: a letter or digit, then letters,
// digits, '_' or '-', at most 32 bytes in all (Slurm's QOS names are
// words).
func QOS(s string) bool { return match(s, alnum, alnum|under|dash, 32) }
