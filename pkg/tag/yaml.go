package tag

import (
	"bytes"
	"errors"
	"io"

	"go.yaml.in/yaml/v3"
)

// DecodeYAML decodes the YAML document b into v strictly, as rule files are
// read: a field v lacks is an error, so that a misspelt key does not
// silently drop a rule, and so is a second document, which would be
// ignored. An empty b leaves v as it is.
func DecodeYAML(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document")
	}
	return nil
}
