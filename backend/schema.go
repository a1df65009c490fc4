package backend

import (
	"fmt"
	"strconv"
)

// SchemaVersionText is a schema version as message_schema_version holds it
// (text, as in Emmett for Node's schema): "1" for 0 or 1.
func SchemaVersionText(v int) string {
	if v <= 1 {
		return "1"
	}
	return strconv.Itoa(v)
}

// ParseSchemaVersion reads message_schema_version: a positive number ("1"
// for every event Emmett for Node writes).
func ParseSchemaVersion[T ~string | ~[]byte](text T) (int, error) {
	if len(text) == 1 && text[0] == '1' {
		return 1, nil
	}
	v, err := strconv.Atoi(string(text))
	if err != nil || v < 1 {
		return 0, fmt.Errorf("malformed message_schema_version %q", string(text))
	}
	return v, nil
}
