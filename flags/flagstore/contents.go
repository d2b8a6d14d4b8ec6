package flagstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/rollsafe/rollsafe/flags"
	"github.com/rollsafe/rollsafe/internal/textcut"
)

// contents is the store's flag set as its rows hold it: each flag's
// definition as written, the shared rules and the set-level metadata.
type contents struct {
	revision   int64
	flags      map[string]json.RawMessage
	evaluators json.RawMessage // a JSON object; "{}" when there are none
	metadata   json.RawMessage // likewise
}

var emptyObject = json.RawMessage(`{}`)

func newContents() *contents {
	return &contents{flags: map[string]json.RawMessage{}, evaluators: emptyObject, metadata: emptyObject}
}

func (c *contents) clone() *contents {
	return &contents{revision: c.revision, flags: maps.Clone(c.flags), evaluators: c.evaluators, metadata: c.metadata}
}

// document writes the contents in the flagd format, with the keys given
// (all when keys is nil). A row that is not JSON (changed by hand) is
// written as a JSON string, which the flags parser refuses for that flag
// alone, naming it.
func (c *contents) document(keys []string) []byte {
	if keys == nil {
		keys = slices.Sorted(maps.Keys(c.flags))
	}
	var b bytes.Buffer
	b.WriteString(`{"flags":{`)
	n := 0
	for _, k := range keys {
		def, ok := c.flags[k]
		if !ok {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		kj, _ := json.Marshal(k) // a string always encodes
		b.Write(kj)
		b.WriteByte(':')
		if json.Valid(def) {
			b.Write(def)
		} else {
			bad, _ := json.Marshal("a definition that is not JSON: " + clip(string(def), 80))
			b.Write(bad)
		}
	}
	b.WriteByte('}')
	if !isEmptyObject(c.evaluators) {
		b.WriteString(`,"$evaluators":`)
		writeJSONOrString(&b, c.evaluators)
	}
	if !isEmptyObject(c.metadata) {
		b.WriteString(`,"metadata":`)
		writeJSONOrString(&b, c.metadata)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func writeJSONOrString(b *bytes.Buffer, v json.RawMessage) {
	if json.Valid(v) {
		b.Write(v)
		return
	}
	bad, _ := json.Marshal("not JSON: " + clip(string(v), 80))
	b.Write(bad)
}

func isEmptyObject(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || bytes.Equal(v, emptyObject)
}

// set parses the contents as a [flags.Source] delivers them: a Set that
// may hold invalid flags beside the error naming them, or nil and a
// [*flags.DocumentError].
func (c *contents) set() (*flags.Set, error) {
	set, err := flags.Parse(c.document(nil))
	if set == nil {
		return nil, err
	}
	return set.WithRevision(c.revision), err
}

// fromDocument reads a flagd document into contents: what Import and a
// whole replacement write. The document must validate entirely.
func fromDocument(data []byte) (*contents, error) {
	if _, err := flags.Parse(data); err != nil {
		return nil, err
	}
	var doc struct {
		Flags      map[string]json.RawMessage `json:"flags"`
		Evaluators json.RawMessage            `json:"$evaluators"`
		Metadata   json.RawMessage            `json:"metadata"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("flagstore: read flag definitions: %w", err)
	}
	c := newContents()
	for k, def := range doc.Flags {
		c.flags[k] = compact(def)
	}
	if len(doc.Evaluators) > 0 && !bytes.Equal(bytes.TrimSpace(doc.Evaluators), []byte("null")) {
		c.evaluators = compact(doc.Evaluators)
	}
	if len(doc.Metadata) > 0 && !bytes.Equal(bytes.TrimSpace(doc.Metadata), []byte("null")) {
		c.metadata = compact(doc.Metadata)
	}
	return c, nil
}

// definitionIn returns the definition of key in the flagd document that
// set writes.
func definitionIn(set *flags.Set, key string) (json.RawMessage, error) {
	data, err := set.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var doc struct {
		Flags map[string]json.RawMessage `json:"flags"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	def, ok := doc.Flags[key]
	if !ok {
		return nil, fmt.Errorf("flagstore: flag %q: %w", key, flags.ErrNotFound)
	}
	return compact(def), nil
}

// compact returns v without insignificant white space, so that equal
// definitions compare equal; v must be valid JSON.
func compact(v json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return slices.Clone(v)
	}
	return b.Bytes()
}

// clip cuts s to at most n bytes at a rune boundary, marking the cut.
func clip(s string, n int) string { return textcut.Mark(s, n) }
