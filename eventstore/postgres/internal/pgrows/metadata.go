package pgrows

import (
	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/emmett"
)

// DecodeMetadata decodes stored metadata (emt_messages.message_metadata):
// backend.DecodeMetadata, which decodes the common cases (no metadata, only
// a correlation and a causation id) without encoding/json, for the SQLite
// store too.
func DecodeMetadata(data []byte, m *emmett.Metadata) error {
	return backend.DecodeMetadata(data, m)
}
