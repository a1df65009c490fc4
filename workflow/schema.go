package workflow

import (
	"strings"

	"github.com/emmett-go/emmett/emmett"
)

// recordKinds are the kinds of records, by the registry of their payload.
var (
	inputKinds  = []Kind{Received, Scheduled}
	outputKinds = []Kind{Sent, Published}
)

// Upgrade returns the emmett.UpgradeFunc of the records of a workflow's
// instances, whose inputs and outputs the given registries read: a record
// (kind:type, see Kind) is upgraded as its payload's registry upgrades
// the payload, and keeps its kind. Give it, with the application's other
// registries' (emmett.UpgradeAny), to the readers that serve or print
// events (httpapi.WithUpgrade, cli.WithUpgrade).
func Upgrade[I, O any](inputs *emmett.Events[I], outputs *emmett.Events[O]) emmett.UpgradeFunc {
	return func(typeName string, version int, data []byte) (string, int, []byte, error) {
		kind, name, ok := strings.Cut(typeName, ":")
		if !ok {
			return "", 0, nil, &emmett.UnknownEventTypeError{Type: typeName}
		}
		var up emmett.UpgradeFunc
		switch Kind(kind) {
		case Received, Scheduled:
			up = inputs.Upgrade
		case Sent, Published:
			up = outputs.Upgrade
		default:
			return "", 0, nil, &emmett.UnknownEventTypeError{Type: typeName}
		}
		name, version, data, err := up(name, version, data)
		if err != nil {
			return "", 0, nil, err
		}
		return kind + ":" + name, version, data, nil
	}
}

// Schema returns the schema of the records of a workflow's instances,
// whose inputs and outputs the given registries read: each payload type
// under each kind of record it can be (kind:type), for emmett check
// (merged with the application's other schemas, emmett.MergeSchemas).
func Schema[I, O any](inputs *emmett.Events[I], outputs *emmett.Events[O]) emmett.Schema {
	s := emmett.Schema{Types: map[string]int{}}
	add := func(kinds []Kind, payload emmett.Schema) {
		for _, k := range kinds {
			for name, v := range payload.Types {
				s.Types[string(k)+":"+name] = v
			}
			for old, name := range payload.Renamed {
				if s.Renamed == nil {
					s.Renamed = map[string]string{}
				}
				s.Renamed[string(k)+":"+old] = string(k) + ":" + name
			}
		}
	}
	add(inputKinds, inputs.Schema())
	add(outputKinds, outputs.Schema())
	return s
}
