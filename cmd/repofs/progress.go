package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/pull"
	"github.com/repofs/repofs/repo"
)

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progressLine is the live line: objects, bytes, rate and ETA; while
// static delta parts download, bytes of their known total.
func progressLine(p pull.Progress) string {
	secs := p.Elapsed.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(p.BytesTransferred) / secs
	}
	if p.DeltaBytesTotal > 0 && p.DeltaParts < p.DeltaPartsTotal {
		eta := "?"
		if rate > 0 && p.DeltaBytesTotal > p.DeltaBytes {
			eta = (time.Duration(float64(p.DeltaBytesTotal-p.DeltaBytes)/rate) * time.Second).Round(time.Second).String()
		}
		return fmt.Sprintf("Receiving delta parts: %d/%d parts, %s/%s at %s/s; ETA %s",
			p.DeltaParts, p.DeltaPartsTotal, repo.FormatSize(uint64(p.DeltaBytes)), repo.FormatSize(uint64(p.DeltaBytesTotal)), repo.FormatSize(uint64(rate)), eta)
	}
	eta := "?"
	if p.ContentFetched > 0 && p.ContentTotal > p.ContentFetched {
		left := time.Duration(float64(p.Elapsed) * float64(p.ContentTotal-p.ContentFetched) / float64(p.ContentFetched))
		eta = left.Round(time.Second).String()
	}
	return fmt.Sprintf("Receiving objects: %d/%d content, %d metadata; %s at %s/s; ETA %s",
		p.ContentFetched, p.ContentTotal, p.MetadataFetched, repo.FormatSize(uint64(p.BytesTransferred)), repo.FormatSize(uint64(rate)), eta)
}

// statusLine is ostree's final line.
func statusLine(p pull.Progress) string {
	transferred := fmt.Sprintf("%d B", p.BytesTransferred)
	if p.BytesTransferred >= 1024 {
		transferred = fmt.Sprintf("%d KiB", p.BytesTransferred/1024)
	}
	return fmt.Sprintf("%d metadata, %d content objects fetched; %s transferred in %d seconds; %s content written",
		p.MetadataFetched, p.ContentFetched, transferred, int(p.Elapsed.Seconds()), repo.FormatSize(uint64(p.ContentBytesWritten)))
}
