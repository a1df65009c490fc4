package backend_test

import (
	"encoding/json"
	"testing"

	"github.com/emmett-go/emmett/backend"
	"github.com/emmett-go/emmett/emmett"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var metadataSamples = []string{
	`{}`,
	`{"correlationId": "corr-1"}`,
	`{"causationId": "cause-1", "correlationId": "corr-1"}`,
	`{"causationId": "", "correlationId": "c"}`,
	`{"correlationId": "with \"escape\""}`,
	`{"correlationId": "x", "userId": "u-1"}`,
	`{"correlationId": 42}`,
	`{"correlationId": "ü-ünïcode"}`,
	`{"correlationId":"compact"}`,
	`{"streamName": "s", "correlationId": "c"}`,
	`{"nested": {"a": [1, 2]}}`,
	`null`,
	`{"correlationId": "a", }`,
	`{"correlationId": "a"} `,
	`{"causationId":"cause-1","correlationId":"corr-1"}`,
	`{"correlationId":"corr-1"}`,
	` { "correlationId" :	"a" ,
"causationId":"b" } `,
	`{"correlationId":"a","causationId":"b","correlationId":"c"}`,
	`{"correlationId":"a",}`,
	`{"correlationId":"a"}}`,
	`{"correlationId":"a" "causationId":"b"}`,
	`{"correlationId":"a\u00e9"}`,
	`{"correlationId":null}`,
	`{ }`,
	`{"correlationId":"\xff"}`,
}

func TestDecodeMetadataAsEncodingJSON(t *testing.T) {
	for _, in := range metadataSamples {
		var fast, slow emmett.Metadata
		errFast := backend.DecodeMetadata([]byte(in), &fast)
		errSlow := json.Unmarshal([]byte(in), &slow)
		if errSlow != nil {
			assert.Error(t, errFast, in)
			continue
		}
		require.NoError(t, errFast, in)
		assert.Equal(t, slow, fast, in)
	}
}

func FuzzDecodeMetadata(f *testing.F) {
	for _, in := range metadataSamples {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return // a NULL, which the column never holds: read as no metadata
		}
		var fast, slow emmett.Metadata
		errFast := backend.DecodeMetadata(in, &fast)
		errSlow := json.Unmarshal(in, &slow)
		if (errFast == nil) != (errSlow == nil) {
			t.Fatalf("%q: fast %v, encoding/json %v", in, errFast, errSlow)
		}
		if errSlow == nil {
			assert.Equal(t, slow, fast)
		}
	})
}
