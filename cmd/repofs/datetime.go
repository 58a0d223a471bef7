package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseDate reads a DATE as `ostree prune --keep-younger-than` takes it
// (gnulib's parse_datetime), for the forms people use: "@SECONDS",
// "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]", RFC 3339, "now", "today",
// "yesterday", and "N UNIT[s] [ago]" with UNIT one of second, minute,
// hour, day, week, fortnight, month, year. Dates without a zone are local
// time, as in ostree.
func parseDate(s string, now time.Time) (time.Time, error) {
	bad := fmt.Errorf("Could not parse '%s'", s)
	v := strings.ToLower(strings.TrimSpace(s))
	if secs, ok := strings.CutPrefix(v, "@"); ok {
		n, err := strconv.ParseInt(secs, 10, 64)
		if err != nil {
			return time.Time{}, bad
		}
		return time.Unix(n, 0), nil
	}
	switch v {
	case "now":
		return now, nil
	case "today":
		y, m, d := now.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, now.Location()), nil
	case "yesterday":
		return now.AddDate(0, 0, -1), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if t, ok := parseRelative(v, now); ok {
		return t, nil
	}
	return time.Time{}, bad
}

// parseRelative reads "N UNIT[s] [ago]" (N may be negative).
func parseRelative(v string, now time.Time) (time.Time, bool) {
	f := strings.Fields(v)
	ago := len(f) == 3 && f[2] == "ago"
	if len(f) != 2 && !ago {
		return time.Time{}, false
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return time.Time{}, false
	}
	if ago {
		n = -n
	}
	switch strings.TrimSuffix(f[1], "s") {
	case "sec", "second":
		return now.Add(time.Duration(n) * time.Second), true
	case "min", "minute":
		return now.Add(time.Duration(n) * time.Minute), true
	case "hour":
		return now.Add(time.Duration(n) * time.Hour), true
	case "day":
		return now.AddDate(0, 0, n), true
	case "week":
		return now.AddDate(0, 0, 7*n), true
	case "fortnight":
		return now.AddDate(0, 0, 14*n), true
	case "month":
		return now.AddDate(0, n, 0), true
	case "year":
		return now.AddDate(n, 0, 0), true
	}
	return time.Time{}, false
}
