package gvariant

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// Print renders v in GVariant text format exactly as GLib's
// g_variant_print does, which is what the ostree CLI shows users.
func Print(v Value, annotate bool) string {
	var b strings.Builder
	printValue(&b, v, annotate)
	return b.String()
}

func printValue(b *strings.Builder, v Value, annotate bool) {
	t := v.Type
	switch t[0] {
	case 'm':
		if annotate {
			fmt.Fprintf(b, "@%s ", t)
		}
		if len(v.Elems) == 0 {
			b.WriteString("nothing")
			return
		}
		// Nested maybes need "just" to be unambiguous.
		c := v.Elems[0]
		for c.Type[0] == 'm' {
			b.WriteString("just ")
			if len(c.Elems) == 0 {
				b.WriteString("nothing")
				return
			}
			c = c.Elems[0]
		}
		printValue(b, c, false)
	case 'a':
		printArray(b, v, annotate)
	case '(':
		b.WriteByte('(')
		for i, c := range v.Elems {
			printValue(b, c, annotate)
			if len(v.Elems) == 1 {
				b.WriteByte(',')
			} else if i < len(v.Elems)-1 {
				b.WriteString(", ")
			}
		}
		b.WriteByte(')')
	case '{':
		b.WriteByte('{')
		printValue(b, v.Elems[0], annotate)
		b.WriteString(", ")
		printValue(b, v.Elems[1], annotate)
		b.WriteByte('}')
	case 'v':
		b.WriteByte('<')
		if len(v.Elems) == 1 {
			printValue(b, v.Elems[0], true)
		}
		b.WriteByte('>')
	case 'b':
		if v.Num != 0 {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case 's':
		printString(b, v.Str)
	case 'o', 'g':
		if annotate {
			if t[0] == 'o' {
				b.WriteString("objectpath ")
			} else {
				b.WriteString("signature ")
			}
		}
		b.WriteString("'" + v.Str + "'")
	case 'y':
		if annotate {
			b.WriteString("byte ")
		}
		fmt.Fprintf(b, "0x%02x", v.Num)
	case 'n':
		annot(b, annotate, "int16 ")
		fmt.Fprintf(b, "%d", int16(v.Num))
	case 'q':
		annot(b, annotate, "uint16 ")
		fmt.Fprintf(b, "%d", uint16(v.Num))
	case 'i':
		fmt.Fprintf(b, "%d", int32(v.Num)) // the default number type is never annotated
	case 'u':
		annot(b, annotate, "uint32 ")
		fmt.Fprintf(b, "%d", uint32(v.Num))
	case 'x':
		annot(b, annotate, "int64 ")
		fmt.Fprintf(b, "%d", int64(v.Num))
	case 't':
		annot(b, annotate, "uint64 ")
		fmt.Fprintf(b, "%d", v.Num)
	case 'h':
		annot(b, annotate, "handle ")
		fmt.Fprintf(b, "%d", int32(v.Num))
	case 'd':
		f := math.Float64frombits(v.Num)
		var s string
		switch {
		// GLib's words, which its parser and ParseText read; Go's
		// NaN and +Inf they do not.
		case math.IsNaN(f):
			s = "nan"
		case math.IsInf(f, 1):
			s = "inf"
		case math.IsInf(f, -1):
			s = "-inf"
		default:
			s = strconv.FormatFloat(f, 'g', 17, 64)
			if !strings.ContainsAny(s, ".e") {
				s += ".0"
			}
		}
		b.WriteString(s)
	}
}

func annot(b *strings.Builder, annotate bool, s string) {
	if annotate {
		b.WriteString(s)
	}
}

func printArray(b *strings.Builder, v Value, annotate bool) {
	if v.Type[1] == 'y' {
		// A byte array whose only NUL is its last byte prints as a bytestring.
		if i := strings.IndexByte(string(v.Bytes), 0); i >= 0 && i == len(v.Bytes)-1 {
			s := v.Bytes[:i]
			q := byte('\'')
			if strings.IndexByte(string(s), '\'') >= 0 {
				q = '"'
			}
			b.WriteByte('b')
			b.WriteByte(q)
			b.WriteString(strescape(s))
			b.WriteByte(q)
			return
		}
		elems := make([]Value, len(v.Bytes))
		for i, c := range v.Bytes {
			elems[i] = Value{Type: "y", Num: uint64(c)}
		}
		v.Elems = elems
	}
	open, close := "[", "]"
	if v.Type[1] == '{' {
		open, close = "{", "}"
	}
	if len(v.Elems) == 0 {
		if annotate {
			fmt.Fprintf(b, "@%s ", v.Type)
		}
		b.WriteString(open + close)
		return
	}
	b.WriteString(open)
	for i, c := range v.Elems {
		if i > 0 {
			b.WriteString(", ")
		}
		if v.Type[1] == '{' {
			printValue(b, c.Elems[0], annotate)
			b.WriteString(": ")
			printValue(b, c.Elems[1], annotate)
		} else {
			printValue(b, c, annotate)
		}
		annotate = false
	}
	b.WriteString(close)
}

// printString quotes s the way GLib does: single quotes unless s contains
// one, backslash escapes for the quote, backslash and unprintable runes.
func printString(b *strings.Builder, s string) {
	q := '\''
	if strings.ContainsRune(s, '\'') {
		q = '"'
	}
	b.WriteRune(q)
	for _, c := range s {
		if c == q || c == '\\' {
			b.WriteByte('\\')
		}
		if glibIsPrint(c) {
			b.WriteRune(c)
			continue
		}
		b.WriteByte('\\')
		switch c {
		case '\a':
			b.WriteByte('a')
		case '\b':
			b.WriteByte('b')
		case '\f':
			b.WriteByte('f')
		case '\n':
			b.WriteByte('n')
		case '\r':
			b.WriteByte('r')
		case '\t':
			b.WriteByte('t')
		case '\v':
			b.WriteByte('v')
		default:
			if c < 0x10000 {
				fmt.Fprintf(b, "u%04x", c)
			} else {
				fmt.Fprintf(b, "U%08x", c)
			}
		}
	}
	b.WriteRune(q)
}

// glibIsPrint mirrors g_unichar_isprint: everything but control, format,
// surrogate and unassigned code points.
func glibIsPrint(c rune) bool {
	if unicode.In(c, unicode.Cc, unicode.Cf, unicode.Cs) {
		return false
	}
	return unicode.In(c, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.Co)
}

// strescape mirrors GLib's g_strescape with no exceptions.
func strescape(s []byte) string {
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\v':
			b.WriteString(`\v`)
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		default:
			if c < ' ' || c >= 0177 {
				fmt.Fprintf(&b, "\\%03o", c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}
