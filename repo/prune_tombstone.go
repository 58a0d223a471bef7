package repo

import (
	"github.com/repofs/repofs/repo/gvariant"
)

// writeTombstone records that commit c was deleted on purpose, so that a
// pull does not treat it as missing: objects/XX/REST.tombstone-commit
// holding {"commit": <bytestring c>}, as ostree writes it.
func (r *Repo) writeTombstone(c Checksum) error {
	v := gvariant.BytesVariant(append([]byte(c.String()), 0))
	data := gvariant.EncodeMetadata(gvariant.Metadata{{Key: "commit", Value: v}})
	return WriteFileAtomic(r.objectPath(c, ObjTombstone), data, 0o644)
}
