package gvariant

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrText is wrapped by every error of ParseText.
var ErrText = errors.New("invalid GVariant text")

// ParseText parses one value in GVariant text format, as g_variant_parse
// does without an expected type (ostree commit --add-metadata=KEY=VALUE):
//
//	'string' "string"   s (escapes \n \t \uXXXX … as GLib)
//	b'bytes'            ay, with a trailing NUL as GLib's bytestrings
//	5  -5  0x1f  017    i, unless the context wants another number type
//	1.5  2e3  inf  nan  d
//	true false          b
//	byte 5, int16, uint16, int32, uint32, int64, uint64, handle,
//	double, boolean, string, objectpath, signature: a value of that type
//	[a, b]              an array; its elements share one type
//	(a, b) (a,) ()      a tuple
//	{k: v, …}           a dictionary, a{kv}; {k, v} a dictionary entry
//	<v>                 a variant
//	@TYPE value         a value of TYPE ("@as []", "@a{sv} {}")
//	just v, nothing     a maybe (nothing needs a type from context)
//
// Numbers default to int32 and double, as GLib's do; an array of numbers
// some of which are floating takes double. Text after the value is an
// error.
func ParseText(s string) (Value, error) {
	p := &textParser{s: s}
	n, err := p.value(0)
	if err != nil {
		return Value{}, err
	}
	p.space()
	if p.i != len(p.s) {
		return Value{}, p.errf("unexpected %q after the value", p.rest())
	}
	pat := n.pattern()
	t, err := pat.concrete()
	if err != nil {
		return Value{}, fmt.Errorf("%w: %v", ErrText, err)
	}
	return n.build(t, 0)
}

// ParseTextAs parses s as a value of type t.
func ParseTextAs(t, s string) (Value, error) {
	if !ValidType(t) {
		return Value{}, fmt.Errorf("%w: bad type %q", ErrText, t)
	}
	p := &textParser{s: s}
	n, err := p.value(0)
	if err != nil {
		return Value{}, err
	}
	p.space()
	if p.i != len(p.s) {
		return Value{}, p.errf("unexpected %q after the value", p.rest())
	}
	return n.build(t, 0)
}

type nodeKind int

const (
	nStr nodeKind = iota
	nBytes
	nInt
	nFloat
	nBool
	nArray
	nTuple
	nDict
	nEntry
	nVariant
	nTyped // @TYPE or a keyword: typ set, elems[0] the value
	nNothing
	nJust
)

type node struct {
	kind  nodeKind
	str   string // nStr, nBytes, nInt and nFloat (the literal)
	b     bool
	typ   string
	elems []*node // nDict: key, value, key, value…
}

type textParser struct {
	s string
	i int
}

func (p *textParser) rest() string {
	r := p.s[p.i:]
	if len(r) > 20 {
		r = r[:20] + "…"
	}
	return r
}

func (p *textParser) errf(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", ErrText, p.i, fmt.Sprintf(format, args...))
}

func (p *textParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\n\r\f\v", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *textParser) peek() byte {
	p.space()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *textParser) eat(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (p *textParser) word() string {
	j := p.i
	for j < len(p.s) && isWordByte(p.s[j]) {
		j++
	}
	return p.s[p.i:j]
}

var keywordTypes = map[string]string{
	"boolean": "b", "byte": "y", "int16": "n", "uint16": "q", "int32": "i",
	"uint32": "u", "int64": "x", "uint64": "t", "handle": "h", "double": "d",
	"string": "s", "objectpath": "o", "signature": "g",
}

func (p *textParser) value(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, p.errf("nesting deeper than %d", maxDepth)
	}
	c := p.peek()
	switch {
	case c == 0:
		return nil, p.errf("expected a value")
	case c == '\'' || c == '"':
		s, err := p.quoted()
		return &node{kind: nStr, str: s}, err
	case c == 'b' && p.i+1 < len(p.s) && (p.s[p.i+1] == '\'' || p.s[p.i+1] == '"'):
		p.i++
		s, err := p.quoted()
		return &node{kind: nBytes, str: s}, err
	case c == '[':
		p.i++
		return p.list(nArray, ']', false, depth)
	case c == '(':
		p.i++
		// GLib takes a trailing comma in a tuple: (1,) is a 1-tuple.
		return p.list(nTuple, ')', true, depth)
	case c == '{':
		p.i++
		n := &node{kind: nDict}
		if p.eat('}') {
			return n, nil
		}
		k, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.eat(',') { // {k, v}: one entry
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			if !p.eat('}') {
				return nil, p.errf("expected '}'")
			}
			return &node{kind: nEntry, elems: []*node{k, v}}, nil
		}
		for {
			if !p.eat(':') {
				return nil, p.errf("expected ':'")
			}
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			n.elems = append(n.elems, k, v)
			if p.eat('}') {
				return n, nil
			}
			if !p.eat(',') {
				return nil, p.errf("expected ',' or '}'")
			}
			if k, err = p.value(depth + 1); err != nil {
				return nil, err
			}
		}
	case c == '<':
		p.i++
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if !p.eat('>') {
			return nil, p.errf("expected '>'")
		}
		return &node{kind: nVariant, elems: []*node{v}}, nil
	case c == '@':
		p.i++
		p.space()
		n := nextType(p.s[p.i:], 0)
		if n == 0 {
			return nil, p.errf("bad type after '@'")
		}
		t := p.s[p.i : p.i+n]
		p.i += n
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		return &node{kind: nTyped, typ: t, elems: []*node{v}}, nil
	case c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9':
		return p.number()
	}
	w := p.word()
	switch w {
	case "true", "false":
		p.i += len(w)
		return &node{kind: nBool, b: w == "true"}, nil
	case "nothing":
		p.i += len(w)
		return &node{kind: nNothing}, nil
	case "just":
		p.i += len(w)
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		return &node{kind: nJust, elems: []*node{v}}, nil
	case "inf", "nan":
		return p.number()
	}
	if t, ok := keywordTypes[w]; ok {
		p.i += len(w)
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		return &node{kind: nTyped, typ: t, elems: []*node{v}}, nil
	}
	return nil, p.errf("unexpected %q", p.rest())
}

func (p *textParser) number() (*node, error) {
	j := p.i
	if j < len(p.s) && (p.s[j] == '-' || p.s[j] == '+') {
		j++
	}
	for j < len(p.s) && (isWordByte(p.s[j]) || p.s[j] == '.' ||
		(p.s[j] == '-' || p.s[j] == '+') && (p.s[j-1] == 'e' || p.s[j-1] == 'E')) {
		j++
	}
	lit := p.s[p.i:j]
	body := strings.TrimLeft(lit, "+-")
	hex := strings.HasPrefix(body, "0x") || strings.HasPrefix(body, "0X")
	kind := nInt
	if body == "inf" || body == "nan" || !hex && strings.ContainsAny(body, ".eE") {
		kind = nFloat
		if _, err := strconv.ParseFloat(lit, 64); err != nil {
			return nil, p.errf("bad number %q", lit)
		}
	} else if _, _, err := parseInt(lit); err != nil {
		return nil, p.errf("bad number %q", lit)
	}
	p.i = j
	return &node{kind: kind, str: lit}, nil
}

// parseInt reads an integer literal as GLib does (0x hex, leading-0
// octal): its magnitude and sign.
func parseInt(lit string) (mag uint64, neg bool, err error) {
	s := lit
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	base := 10
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		base, s = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, s = 8, s[1:]
	}
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, false, fmt.Errorf("bad number %q", lit)
	}
	mag, err = strconv.ParseUint(s, base, 64)
	return mag, neg, err
}

func (p *textParser) quoted() (string, error) {
	q := p.s[p.i]
	p.i++
	var b strings.Builder
	for {
		if p.i >= len(p.s) {
			return "", p.errf("unterminated string")
		}
		c := p.s[p.i]
		p.i++
		if c == q {
			return b.String(), nil
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if p.i >= len(p.s) {
			return "", p.errf("unterminated string")
		}
		e := p.s[p.i]
		p.i++
		switch e {
		case 'a':
			b.WriteByte(7)
		case 'b':
			b.WriteByte(8)
		case 'f':
			b.WriteByte(12)
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte(11)
		case 'u', 'U':
			n := 4
			if e == 'U' {
				n = 8
			}
			if p.i+n > len(p.s) {
				return "", p.errf("short \\%c escape", e)
			}
			r, err := strconv.ParseUint(p.s[p.i:p.i+n], 16, 32)
			if err != nil || !utf8.ValidRune(rune(r)) {
				return "", p.errf("bad \\%c escape", e)
			}
			p.i += n
			b.WriteRune(rune(r))
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := int(e - '0')
			for k := 0; k < 2 && p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '7'; k++ {
				v = v*8 + int(p.s[p.i]-'0')
				p.i++
			}
			b.WriteByte(byte(v))
		default:
			b.WriteByte(e)
		}
	}
}

// pat is a type that may still hold unknowns: N an integer literal, D a
// floating one, S a string literal, * anything.
type pat struct {
	c     byte // a type character, or N D S *
	elems []*pat
}

func (n *node) pattern() *pat {
	switch n.kind {
	case nStr:
		return &pat{c: 'S'}
	case nBytes:
		return &pat{c: 'a', elems: []*pat{{c: 'y'}}}
	case nInt:
		return &pat{c: 'N'}
	case nFloat:
		return &pat{c: 'D'}
	case nBool:
		return &pat{c: 'b'}
	case nVariant:
		return &pat{c: 'v'}
	case nTyped:
		return typePat(n.typ)
	case nNothing:
		return &pat{c: 'm', elems: []*pat{{c: '*'}}}
	case nJust:
		return &pat{c: 'm', elems: []*pat{n.elems[0].pattern()}}
	case nArray:
		e := &pat{c: '*'}
		for _, c := range n.elems {
			e = unify(e, c.pattern())
		}
		return &pat{c: 'a', elems: []*pat{e}}
	case nTuple:
		t := &pat{c: '('}
		for _, c := range n.elems {
			t.elems = append(t.elems, c.pattern())
		}
		return t
	case nEntry:
		return &pat{c: '{', elems: []*pat{n.elems[0].pattern(), n.elems[1].pattern()}}
	case nDict:
		k, v := &pat{c: '*'}, &pat{c: '*'}
		for i := 0; i < len(n.elems); i += 2 {
			k = unify(k, n.elems[i].pattern())
			v = unify(v, n.elems[i+1].pattern())
		}
		return &pat{c: 'a', elems: []*pat{{c: '{', elems: []*pat{k, v}}}}
	}
	return &pat{c: '*'}
}

// typePat is the pattern of a valid type string.
func typePat(t string) *pat {
	switch t[0] {
	case 'a', 'm':
		return &pat{c: t[0], elems: []*pat{typePat(t[1:])}}
	case '(', '{':
		p := &pat{c: t[0]}
		for _, m := range memberTypes(t) {
			p.elems = append(p.elems, typePat(m))
		}
		return p
	}
	return &pat{c: t[0]}
}

// unify merges two patterns; a conflict leaves the first, for build to
// report against the concrete type.
func unify(a, b *pat) *pat {
	switch {
	case a.c == '*':
		return b
	case b.c == '*':
		return a
	case a.c == b.c && len(a.elems) == len(b.elems):
		out := &pat{c: a.c}
		for i := range a.elems {
			out.elems = append(out.elems, unify(a.elems[i], b.elems[i]))
		}
		return out
	case a.c == 'N' && isNumeric(b.c), a.c == 'D' && b.c == 'd', a.c == 'S' && strings.IndexByte("sog", b.c) >= 0:
		return b
	case b.c == 'N' && isNumeric(a.c) || a.c == 'N' && b.c == 'D', b.c == 'D' && a.c == 'd', b.c == 'S' && strings.IndexByte("sog", a.c) >= 0:
		if a.c == 'N' {
			return b
		}
		return a
	}
	return a
}

func isNumeric(c byte) bool { return strings.IndexByte("ynqiuxthdD", c) >= 0 }

// concrete fills the unknowns with GLib's defaults.
func (p *pat) concrete() (string, error) {
	var b strings.Builder
	if err := p.write(&b); err != nil {
		return "", err
	}
	return b.String(), nil
}

func (p *pat) write(b *strings.Builder) error {
	switch p.c {
	case '*':
		return errors.New("unable to infer the type (annotate it: @as [])")
	case 'N':
		b.WriteByte('i')
	case 'D':
		b.WriteByte('d')
	case 'S':
		b.WriteByte('s')
	default:
		b.WriteByte(p.c)
	}
	for _, e := range p.elems {
		if err := e.write(b); err != nil {
			return err
		}
	}
	switch p.c {
	case '(':
		b.WriteByte(')')
	case '{':
		b.WriteByte('}')
	}
	return nil
}

// build makes the value of type t that n stands for.
func (n *node) build(t string, depth int) (Value, error) {
	if depth > maxDepth {
		return Value{}, fmt.Errorf("%w: nesting deeper than %d", ErrText, maxDepth)
	}
	bad := func() (Value, error) {
		return Value{}, fmt.Errorf("%w: a %s does not fit type %q", ErrText, n.what(), t)
	}
	v := Value{Type: t}
	if t[0] == 'm' && n.kind != nNothing && n.kind != nJust && n.kind != nTyped {
		c, err := n.build(t[1:], depth+1)
		if err != nil {
			return Value{}, err
		}
		v.Elems = []Value{c}
		return v, nil
	}
	switch n.kind {
	case nTyped:
		if n.typ != t {
			if !(t[0] == 'm' && n.typ == t[1:]) {
				return Value{}, fmt.Errorf("%w: a value of type %q where %q is wanted", ErrText, n.typ, t)
			}
		}
		return n.elems[0].buildKeyword(n.typ, t, depth)
	case nStr:
		if strings.IndexByte("sog", t[0]) < 0 {
			return bad()
		}
		if !utf8.ValidString(n.str) || strings.IndexByte(n.str, 0) >= 0 {
			return Value{}, fmt.Errorf("%w: a string must be UTF-8 without NUL", ErrText)
		}
		if t == "o" && !validObjectPath(n.str) || t == "g" && !validSignature(n.str) {
			return Value{}, fmt.Errorf("%w: %q is no valid %s", ErrText, n.str, map[string]string{"o": "object path", "g": "signature"}[t])
		}
		v.Str = n.str
	case nBytes:
		if t != "ay" {
			return bad()
		}
		v.Bytes = append([]byte(n.str), 0)
	case nInt, nFloat:
		num, err := numberValue(n, t)
		if err != nil {
			return Value{}, err
		}
		v.Num = num
	case nBool:
		if t != "b" {
			return bad()
		}
		if n.b {
			v.Num = 1
		}
	case nVariant:
		if t != "v" {
			return bad()
		}
		ct, err := n.elems[0].pattern().concrete()
		if err != nil {
			return Value{}, fmt.Errorf("%w: %v", ErrText, err)
		}
		c, err := n.elems[0].build(ct, depth+1)
		if err != nil {
			return Value{}, err
		}
		v.Elems = []Value{c}
	case nNothing:
		if t[0] != 'm' {
			return bad()
		}
	case nJust:
		if t[0] != 'm' {
			return bad()
		}
		c, err := n.elems[0].build(t[1:], depth+1)
		if err != nil {
			return Value{}, err
		}
		v.Elems = []Value{c}
	case nArray:
		if t[0] != 'a' {
			return bad()
		}
		if t == "ay" {
			for _, e := range n.elems {
				c, err := e.build("y", depth+1)
				if err != nil {
					return Value{}, err
				}
				v.Bytes = append(v.Bytes, byte(c.Num))
			}
			if v.Bytes == nil {
				v.Bytes = []byte{}
			}
			return v, nil
		}
		for _, e := range n.elems {
			c, err := e.build(t[1:], depth+1)
			if err != nil {
				return Value{}, err
			}
			v.Elems = append(v.Elems, c)
		}
	case nTuple:
		if t[0] != '(' {
			return bad()
		}
		ms := memberTypes(t)
		if len(ms) != len(n.elems) {
			return bad()
		}
		for i, e := range n.elems {
			c, err := e.build(ms[i], depth+1)
			if err != nil {
				return Value{}, err
			}
			v.Elems = append(v.Elems, c)
		}
	case nEntry:
		if t[0] != '{' {
			return bad()
		}
		ms := memberTypes(t)
		for i, e := range n.elems {
			c, err := e.build(ms[i], depth+1)
			if err != nil {
				return Value{}, err
			}
			v.Elems = append(v.Elems, c)
		}
	case nDict:
		if len(t) < 2 || t[:2] != "a{" {
			if t[0] == 'a' && len(n.elems) == 0 {
				return v, nil // {} is also an empty array
			}
			return bad()
		}
		ms := memberTypes(t[1:])
		for i := 0; i < len(n.elems); i += 2 {
			k, err := n.elems[i].build(ms[0], depth+1)
			if err != nil {
				return Value{}, err
			}
			val, err := n.elems[i+1].build(ms[1], depth+1)
			if err != nil {
				return Value{}, err
			}
			v.Elems = append(v.Elems, Value{Type: t[1:], Elems: []Value{k, val}})
		}
	}
	return v, nil
}

// buildKeyword builds n, the value after "@typ" or a type keyword, where
// t (typ or a maybe of it) is wanted.
func (n *node) buildKeyword(typ, t string, depth int) (Value, error) {
	c, err := n.build(typ, depth+1)
	if err != nil {
		return Value{}, err
	}
	if typ == t {
		return c, nil
	}
	return Value{Type: t, Elems: []Value{c}}, nil
}

func (n *node) what() string {
	return [...]string{"string", "bytestring", "number", "number", "boolean", "array", "tuple",
		"dictionary", "dictionary entry", "variant", "typed value", "nothing", "just"}[n.kind]
}

// numberValue converts a number literal to type t's representation.
func numberValue(n *node, t string) (uint64, error) {
	if t == "d" {
		f, err := strconv.ParseFloat(n.str, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: bad number %q", ErrText, n.str)
		}
		return math.Float64bits(f), nil
	}
	if n.kind == nFloat {
		return 0, fmt.Errorf("%w: %s is not an integer (type %q)", ErrText, n.str, t)
	}
	mag, neg, err := parseInt(n.str)
	if err != nil {
		return 0, fmt.Errorf("%w: bad number %q", ErrText, n.str)
	}
	var lo int64
	var hi uint64
	switch t {
	case "y":
		hi = math.MaxUint8
	case "n":
		lo, hi = math.MinInt16, math.MaxInt16
	case "q":
		hi = math.MaxUint16
	case "i", "h":
		lo, hi = math.MinInt32, math.MaxInt32
	case "u":
		hi = math.MaxUint32
	case "x":
		lo, hi = math.MinInt64, math.MaxInt64
	case "t":
		hi = math.MaxUint64
	default:
		return 0, fmt.Errorf("%w: a number does not fit type %q", ErrText, t)
	}
	if neg {
		if mag == 0 {
			return 0, nil
		}
		if lo == 0 || mag-1 > uint64(-(lo+1)) {
			return 0, fmt.Errorf("%w: %s is out of range for type %q", ErrText, n.str, t)
		}
		return uint64(-int64(mag-1) - 1), nil
	}
	if mag > hi {
		return 0, fmt.Errorf("%w: %s is out of range for type %q", ErrText, n.str, t)
	}
	return mag, nil
}

func validObjectPath(s string) bool {
	if s == "/" {
		return true
	}
	if !strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") {
		return false
	}
	for e := range strings.SplitSeq(s[1:], "/") {
		if e == "" {
			return false
		}
		for i := 0; i < len(e); i++ {
			if !isWordByte(e[i]) {
				return false
			}
		}
	}
	return true
}

func validSignature(s string) bool {
	for s != "" {
		n := nextType(s, 0)
		if n == 0 {
			return false
		}
		s = s[n:]
	}
	return true
}

// list parses the elements of an array or a tuple up to end, the opening
// bracket already taken; trailing allows a comma before end.
func (p *textParser) list(kind nodeKind, end byte, trailing bool, depth int) (*node, error) {
	n := &node{kind: kind}
	if p.eat(end) {
		return n, nil
	}
	for {
		e, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.elems = append(n.elems, e)
		if p.eat(end) {
			return n, nil
		}
		if !p.eat(',') {
			return nil, p.errf("expected ',' or '%c'", end)
		}
		if trailing && p.eat(end) {
			return n, nil
		}
	}
}
