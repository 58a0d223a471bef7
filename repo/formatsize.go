package repo

import "fmt"

// FormatSize formats n bytes as GLib's g_format_size does (decimal units,
// one decimal place, a no-break space before the unit), which is how
// ostree's messages and listings give sizes.
func FormatSize(n uint64) string {
	if n < 1000 {
		if n == 1 {
			return "1 byte"
		}
		return fmt.Sprintf("%d bytes", n)
	}
	units := []string{"kB", "MB", "GB", "TB", "PB", "EB"}
	f := float64(1000)
	for i, u := range units {
		if i == len(units)-1 || float64(n) < f*1000 {
			return fmt.Sprintf("%.1f\u00a0%s", float64(n)/f, u)
		}
		f *= 1000
	}
	return ""
}
