package wasm

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/emmett-go/emmett/projection/wasm/internal/jsonx"
)

// The calls of ABI version 2, and the reading of their results: many
// documents or events per call. The results are read with a scanner that
// checks their grammar as encoding/json would, without reflection, and the
// documents and data copied out of the instance's memory.

// batchError is the failure a result of version 2 may report instead:
// {"error": "...", "index": i} (and, for evolve, "document": d).
type batchError struct {
	msg             *string
	document, index int
}

// readBatchError reads the members of a failure result that are not the
// result's own; it reports whether key was one.
func (b *batchError) read(s *jsonx.Scanner, key []byte) (bool, error) {
	var err error
	switch string(key) {
	case "error":
		var msg string
		if msg, err = s.String(); err == nil {
			b.msg = &msg
		}
	case "document":
		var v int64
		v, err = s.Int64()
		b.document = int(v)
	case "index":
		var v int64
		v, err = s.Int64()
		b.index = int(v)
	default:
		return false, nil
	}
	return true, err
}

// evolveBatch calls emmett_evolve_batch with input, which holds n
// documents: it returns their new versions (nil: delete), or the error
// and, when the module said which, the index of the failing document and
// of its event (else -1).
func (m *Module) evolveBatch(ctx context.Context, inst *instance, input []byte, n int) ([][]byte, int, int, error) {
	out, err := m.call(ctx, inst, exportEvolveBatch, inst.fn(exportEvolveBatch), input)
	if err != nil {
		return nil, -1, -1, err
	}
	fail := batchError{document: -1, index: -1}
	var docs [][]byte
	seen := false
	s := &jsonx.Scanner{B: out}
	err = s.Object(func(key []byte) error {
		if string(key) != "documents" {
			if ok, err := fail.read(s, key); ok {
				return err
			}
			return s.Skip()
		}
		seen = true
		docs = make([][]byte, 0, n)
		return s.Array(func() error {
			if len(docs) == n {
				return fmt.Errorf("more than the %d documents given", n)
			}
			doc, err := readEvolved(s)
			docs = append(docs, doc)
			return err
		})
	})
	if err == nil {
		err = s.End()
	}
	switch {
	case err != nil:
		return nil, -1, -1, m.malformed(inst, exportEvolveBatch, out, err)
	case fail.msg != nil:
		return nil, fail.document, fail.index, m.guestError(exportEvolveBatch, *fail.msg)
	case !seen:
		return nil, -1, -1, m.malformed(inst, exportEvolveBatch, out, errors.New("no documents or error"))
	case len(docs) != n:
		return nil, -1, -1, m.malformed(inst, exportEvolveBatch, out, fmt.Errorf("%d documents for the %d given", len(docs), n))
	}
	return docs, -1, -1, nil
}

// readEvolved reads one document's result: {"document": ...} or
// {"delete": true}; a null document is a delete.
func readEvolved(s *jsonx.Scanner) ([]byte, error) {
	var doc []byte
	hasDoc, del := false, false
	err := s.Object(func(key []byte) error {
		switch string(key) {
		case "document":
			raw, err := s.Raw()
			doc, hasDoc = raw, true
			return err
		case "delete":
			if s.Peek() == 't' {
				del = true
				return s.Literal("true")
			}
			return s.Skip()
		}
		return s.Skip()
	})
	null := hasDoc && isNull(doc)
	switch {
	case err != nil:
		return nil, err
	case del && hasDoc && !null:
		return nil, errors.New("both document and delete")
	case del || null:
		return nil, nil
	case !hasDoc:
		return nil, errors.New("no document or delete")
	}
	return slices.Clone(doc), nil
}

// documentIDsBatch calls emmett_document_ids_batch with input, which
// holds n events: it returns the ids of each one's documents, or the error
// and, when the module said which, the index of the failing event (else
// -1).
func (m *Module) documentIDsBatch(ctx context.Context, inst *instance, input []byte, n int) ([][]string, int, error) {
	out, err := m.call(ctx, inst, exportDocumentIDsBatch, inst.fn(exportDocumentIDsBatch), input)
	if err != nil {
		return nil, -1, err
	}
	fail := batchError{document: -1, index: -1}
	var ids [][]string
	seen := false
	s := &jsonx.Scanner{B: out}
	err = s.Object(func(key []byte) error {
		if string(key) != "ids" {
			if ok, err := fail.read(s, key); ok {
				return err
			}
			return s.Skip()
		}
		seen = true
		ids = make([][]string, 0, n)
		return s.Array(func() error {
			if len(ids) == n {
				return fmt.Errorf("more than the %d events given", n)
			}
			one := []string{}
			err := s.Array(func() error {
				id, err := s.String()
				if err == nil && id == "" {
					err = errors.New("an empty document id")
				}
				one = append(one, id)
				return err
			})
			ids = append(ids, one)
			return err
		})
	})
	if err == nil {
		err = s.End()
	}
	switch {
	case err != nil:
		return nil, -1, m.malformed(inst, exportDocumentIDsBatch, out, err)
	case fail.msg != nil:
		return nil, fail.index, m.guestError(exportDocumentIDsBatch, *fail.msg)
	case !seen:
		return nil, -1, m.malformed(inst, exportDocumentIDsBatch, out, errors.New("no ids or error"))
	case len(ids) != n:
		return nil, -1, m.malformed(inst, exportDocumentIDsBatch, out, fmt.Errorf("ids for %d events of the %d given", len(ids), n))
	}
	return ids, -1, nil
}

// transformBatch calls emmett_transform_batch with input, which holds n
// events: it returns the events that replace each one, or the error and,
// when the module said which, the index of the failing event (else -1).
func (m *Module) transformBatch(ctx context.Context, inst *instance, input []byte, n int) ([][]resultEvent, int, error) {
	out, err := m.call(ctx, inst, exportTransformBatch, inst.fn(exportTransformBatch), input)
	if err != nil {
		return nil, -1, err
	}
	fail := batchError{document: -1, index: -1}
	var results [][]resultEvent
	seen := false
	s := &jsonx.Scanner{B: out}
	err = s.Object(func(key []byte) error {
		if string(key) != "events" {
			if ok, err := fail.read(s, key); ok {
				return err
			}
			return s.Skip()
		}
		seen = true
		results = make([][]resultEvent, 0, n)
		return s.Array(func() error {
			if len(results) == n {
				return fmt.Errorf("more than the %d events given", n)
			}
			var events []resultEvent
			err := s.Array(func() error {
				e, err := readResultEvent(s)
				if err != nil {
					return fmt.Errorf("event %d of event %d: %w", len(events), len(results), err)
				}
				events = append(events, e)
				return nil
			})
			results = append(results, events)
			return err
		})
	})
	if err == nil {
		err = s.End()
	}
	switch {
	case err != nil:
		return nil, -1, m.malformed(inst, exportTransformBatch, out, err)
	case fail.msg != nil:
		return nil, fail.index, m.guestError(exportTransformBatch, *fail.msg)
	case !seen:
		return nil, -1, m.malformed(inst, exportTransformBatch, out, errors.New("no events or error"))
	case len(results) != n:
		return nil, -1, m.malformed(inst, exportTransformBatch, out, fmt.Errorf("results for %d events of the %d given", len(results), n))
	}
	return results, -1, nil
}

// readResultEvent reads an event a transformation returned; its data and
// metadata are copied.
func readResultEvent(s *jsonx.Scanner) (resultEvent, error) {
	var e resultEvent
	err := s.Object(func(key []byte) error {
		var err error
		switch string(key) {
		case "type":
			e.Type, err = s.String()
		case "data":
			var raw []byte
			if raw, err = s.Raw(); err == nil {
				e.Data = slices.Clone(raw)
			}
		case "metadata":
			var raw []byte
			if raw, err = s.Raw(); err == nil && !isNull(raw) {
				e.Metadata = slices.Clone(raw)
			}
		case "messageId":
			if !s.Null() {
				e.MessageID, err = s.String()
			}
		case "schemaVersion":
			if !s.Null() {
				var v int64
				v, err = s.Int64()
				e.SchemaVersion = int(v)
			}
		default:
			err = s.Skip()
		}
		return err
	})
	switch {
	case err != nil:
		return e, err
	case e.Type == "":
		return e, errors.New("no type")
	case e.Data == nil:
		return e, errors.New("no data")
	}
	return e, nil
}
