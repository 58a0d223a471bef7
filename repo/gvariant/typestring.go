package gvariant

// nextType returns the length of the single complete type at the start of t,
// or 0 if t does not start with one. depth bounds nesting.
func nextType(t string, depth int) int {
	if len(t) == 0 || depth > maxDepth {
		return 0
	}
	switch t[0] {
	case 'y', 'b', 'n', 'q', 'i', 'u', 'x', 't', 'd', 's', 'o', 'g', 'v', 'h':
		return 1
	case 'a', 'm':
		n := nextType(t[1:], depth+1)
		if n == 0 {
			return 0
		}
		return 1 + n
	case '(':
		i := 1
		for i < len(t) && t[i] != ')' {
			n := nextType(t[i:], depth+1)
			if n == 0 {
				return 0
			}
			i += n
		}
		if i >= len(t) {
			return 0
		}
		return i + 1
	case '{':
		if len(t) < 2 || !isBasic(t[1]) {
			return 0
		}
		n := nextType(t[2:], depth+1)
		if n == 0 || 2+n >= len(t) || t[2+n] != '}' {
			return 0
		}
		return 3 + n
	}
	return 0
}

func isBasic(c byte) bool {
	switch c {
	case 'y', 'b', 'n', 'q', 'i', 'u', 'x', 't', 'd', 's', 'o', 'g', 'h':
		return true
	}
	return false
}

// ValidType reports whether t is exactly one complete GVariant type.
func ValidType(t string) bool {
	n := nextType(t, 0)
	return n > 0 && n == len(t)
}

// memberTypes splits the inside of a tuple or dict entry type into its
// member types. t must be valid.
func memberTypes(t string) []string {
	inner := t[1 : len(t)-1]
	var out []string
	for len(inner) > 0 {
		n := nextType(inner, 0)
		out = append(out, inner[:n])
		inner = inner[n:]
	}
	return out
}

// typeInfo returns the alignment of a valid type and its size when fixed
// (0 when the type is variable-size).
func typeInfo(t string) (align, fixed int) {
	switch t[0] {
	case 'y', 'b':
		return 1, 1
	case 'n', 'q':
		return 2, 2
	case 'i', 'u', 'h':
		return 4, 4
	case 'x', 't', 'd':
		return 8, 8
	case 's', 'o', 'g':
		return 1, 0
	case 'v':
		return 8, 0
	case 'a', 'm':
		a, _ := typeInfo(t[1:])
		return a, 0
	}
	// tuple or dict entry
	align, size, variable := 1, 0, false
	for _, m := range memberTypes(t) {
		a, f := typeInfo(m)
		if a > align {
			align = a
		}
		if f == 0 {
			variable = true
		} else {
			size = alignUp(size, a) + f
		}
	}
	if variable {
		return align, 0
	}
	if size == 0 {
		return 1, 1 // the unit tuple "()" is one zero byte
	}
	return align, alignUp(size, align)
}
