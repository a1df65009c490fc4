package storetest

import "encoding/json"

// compactJSON re-encodes a JSON object with sorted keys and no spaces, so
// that data read back from a database that normalises JSON can be scanned.
func compactJSON(data []byte) string {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return string(data)
	}
	out, _ := json.Marshal(v)
	return string(out)
}
