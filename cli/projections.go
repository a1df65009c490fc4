package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/emmett-go/emmett/projection"
)

// defaultVersionWait bounds -drop-version and -activate when -wait is not
// given: dropping a version first waits for an instance still running it
// to stop.
const defaultVersionWait = 30 * time.Second

// projections lists the recorded versions of projections (see
// projection.Versions), drops a retired one (projection.DropVersion) or
// makes one active again (projection.ActivateVersion).
func (t *tool) projections(ctx context.Context, args []string) error {
	var drop, activate string
	var wait time.Duration
	var asJSON bool
	name, err := parseOptional("projections", args, func(fs *flag.FlagSet) {
		fs.StringVar(&drop, "drop-version", "", "drop version N of the projection NAME: its read model, checkpoint and record")
		fs.StringVar(&activate, "activate", "", "make the retired version N of the projection NAME the active one again")
		fs.DurationVar(&wait, "wait", defaultVersionWait, "with -drop-version or -activate: give up after this long")
		fs.BoolVar(&asJSON, "json", false, "print the versions as JSON lines")
	})
	if err != nil {
		return err
	}
	var version int
	switch {
	case drop != "" && activate != "":
		return usageError("projections: -drop-version or -activate, not both")
	case drop != "":
		if version, err = versionArg("-drop-version", drop, name); err != nil {
			return err
		}
	case activate != "":
		if version, err = versionArg("-activate", activate, name); err != nil {
			return err
		}
	}
	if wait <= 0 {
		return usageError("projections: -wait takes a positive duration")
	}
	s, err := t.open(ctx, false)
	if err != nil {
		return err
	}
	defer s.Close()
	procs := s.Processors()

	switch {
	case drop != "":
		return t.dropVersion(ctx, procs, name, version, wait)
	case activate != "":
		return t.activateVersion(ctx, procs, name, version, wait)
	}
	vs, err := projection.Versions(ctx, procs, name)
	if err != nil {
		return err
	}
	cps := make([]string, len(vs)) // the processors' stored checkpoints; "" for none
	for i, v := range vs {
		cp, found, err := procs.ReadCheckpoint(ctx, v.Processor)
		if err != nil {
			return err
		}
		if found {
			cps[i] = cp.String()
		}
	}
	if asJSON {
		for i, v := range vs {
			if err := t.printEvent(versionJSON(v, cps[i])); err != nil {
				return err
			}
		}
		return nil
	}
	w := tabwriter.NewWriter(t.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROJECTION\tVERSION\tSTATUS\tPROCESSOR\tCHECKPOINT\tCOLLECTIONS\tUPDATED")
	for i, v := range vs {
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", v.Name, v.Version, v.Status, v.Processor, orDash(cps[i]),
			orDash(strings.Join(v.Collections, ",")), stamp(v.Updated))
	}
	return w.Flush()
}

// versionArg reads the version number of -drop-version or -activate, which
// go with a projection's NAME.
func versionArg(flagName, value, name string) (int, error) {
	v, err := strconv.Atoi(value)
	if err != nil || v <= 0 {
		return 0, usageError(fmt.Sprintf("projections: %s %q: a version number, from 1", flagName, value))
	}
	if name == "" {
		return 0, usageError(fmt.Sprintf("projections: %s N takes the projection's NAME", flagName))
	}
	return v, nil
}

// dropVersion drops version of the projection name, waiting at most wait
// for an instance still running it to stop, and prints what it dropped.
func (t *tool) dropVersion(ctx context.Context, procs projection.CheckpointStore, name string, version int, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	vs, err := projection.Versions(ctx, procs, name)
	if err != nil {
		return t.versionError(ctx, err, "dropped", name, version, wait)
	}
	var dropped projection.ProjectionVersion
	for _, v := range vs {
		if v.Version == version {
			dropped = v
		}
	}
	if err := projection.DropVersion(ctx, procs, name, version); err != nil {
		return t.versionError(ctx, err, "dropped", name, version, wait)
	}
	fmt.Fprintf(t.stdout, "version %d of projection %s dropped: processor %s, collections %s\n",
		version, name, dropped.Processor, orDash(strings.Join(dropped.Collections, ",")))
	return nil
}

// activateVersion makes version of the projection name the active one
// again, and prints the one it replaced.
func (t *tool) activateVersion(ctx context.Context, procs projection.CheckpointStore, name string, version int, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	was, found, err := projection.ActiveVersion(ctx, procs, name)
	if err != nil {
		return t.versionError(ctx, err, "activated", name, version, wait)
	}
	if found && was.Version == version {
		fmt.Fprintf(t.stdout, "version %d of projection %s is active already\n", version, name)
		return nil
	}
	if err := projection.ActivateVersion(ctx, procs, name, version); err != nil {
		return t.versionError(ctx, err, "activated", name, version, wait)
	}
	replaced := "none was"
	if found {
		replaced = fmt.Sprintf("version %d retired", was.Version)
	}
	fmt.Fprintf(t.stdout, "version %d of projection %s is active (%s): its processor catches up from its checkpoint\n",
		version, name, replaced)
	return nil
}

// versionError explains the running out of -wait; other errors are
// returned as they are (ErrVersionActive and ErrVersionNotFound say what
// was refused).
func (t *tool) versionError(ctx context.Context, err error, what, name string, version int, wait time.Duration) error {
	if ctx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		return fmt.Errorf("version %d of projection %s was not %s within %v: is an instance still running it? (-wait waits longer)",
			version, name, what, wait)
	}
	return err
}

// versionJSON is the JSON form of a recorded version, with its processor's
// checkpoint ("" for none).
func versionJSON(v projection.ProjectionVersion, checkpoint string) map[string]any {
	collections := v.Collections
	if collections == nil {
		collections = []string{}
	}
	return map[string]any{
		"name": v.Name, "version": v.Version, "status": v.Status, "processor": v.Processor, "checkpoint": checkpoint,
		"kind": v.Kind, "collections": collections, "created": v.Created.UTC(), "updated": v.Updated.UTC(),
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
