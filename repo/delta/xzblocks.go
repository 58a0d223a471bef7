package delta

import (
	"errors"

	"github.com/repofs/repofs/internal/xzdec"
)

// decodeXZ decodes a part's whole xz stream held in memory with xzdec:
// the output sized by the stream's index, its blocks on every core. It
// returns ok false for what that decoder leaves to the sequential one
// (features it does not do, payloads over memLimit that must spill to a
// file), which then decides.
func decodeXZ(x []byte, limit uint64) (data []byte, ok bool, err error) {
	data, err = xzdec.Decode(x, xzdec.Options{Limit: min(limit, uint64(memLimit)), MaxDict: MaxDictSize})
	switch {
	case err == nil:
		return data, true, nil
	case errors.Is(err, xzdec.ErrUnsupported):
		return nil, false, nil
	case errors.Is(err, xzdec.ErrTooLarge):
		if limit > uint64(memLimit) {
			return nil, false, nil
		}
		return nil, true, invalidf("part payload over %d bytes: %v", limit, err)
	case errors.Is(err, xzdec.ErrDictTooLarge):
		return nil, true, ErrDictTooLarge
	}
	return nil, true, invalidf("part payload: %v", err)
}
