package event

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/segflow/segflow/schemas"
)

const schemaBase = "https://segflow.io/schemas/"

// FieldError is one rule an event broke.
type FieldError struct {
	// Field is a JSON pointer into the event ("/data/total"), or the name of a
	// CloudEvent attribute ("type").
	Field string `json:"field"`
	// Rule is the schema keyword or attribute rule that failed ("required", "pattern").
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

func (e FieldError) String() string {
	return fmt.Sprintf("%s: %s", e.Field, e.Message)
}

// InvalidError is returned for an event that breaks its contract. It lists every
// rule broken, so a producer can fix them all at once.
type InvalidError struct {
	Errors []FieldError
}

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.String()
	}
	return "invalid event: " + strings.Join(parts, "; ")
}

// Invalid returns an InvalidError with one field error.
func Invalid(field, rule, format string, args ...any) *InvalidError {
	return &InvalidError{Errors: []FieldError{{Field: field, Rule: rule, Message: fmt.Sprintf(format, args...)}}}
}

// Validator checks event data against the schemas. It is safe for concurrent use.
type Validator struct {
	schemas map[string]*jsonschema.Schema

	// mu guards c, which compiles a schema that a "not" names to explain it.
	mu sync.Mutex
	c  *jsonschema.Compiler
}

// NewValidator compiles the schema of every event type.
func NewValidator() (*Validator, error) {
	c := jsonschema.NewCompiler()
	files, err := fs.Glob(schemas.FS, "*.json")
	if err != nil {
		return nil, err
	}
	for _, name := range files {
		b, err := fs.ReadFile(schemas.FS, name)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		if err := c.AddResource(schemaBase+name, doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
	}
	v := &Validator{schemas: make(map[string]*jsonschema.Schema, len(Types)), c: c}
	for _, typ := range Types {
		s, err := c.Compile(schemaBase + typ + ".json")
		if err != nil {
			return nil, fmt.Errorf("compile schema of %s: %w", typ, err)
		}
		v.schemas[typ] = s
	}
	return v, nil
}

// SchemaURL returns the URL of the schema of an event type, for the CloudEvent
// dataschema attribute.
func SchemaURL(typ string) string { return schemaBase + typ + ".json" }

var printer = message.NewPrinter(language.English)

// Validate checks data, the JSON data of an event of type typ. It returns an
// *InvalidError naming each field that breaks the schema.
func (v *Validator) Validate(typ string, data []byte) error {
	s, ok := v.schemas[typ]
	if !ok {
		_, err := Topic(typ)
		if err == nil {
			err = fmt.Errorf("unknown event type %q", typ)
		}
		return Invalid("/type", "enum", "%v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return Invalid("/data", "json", "data is not valid JSON: %v", err)
	}
	err = s.Validate(inst)
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		ie := &InvalidError{}
		v.collect(ve, &ie.Errors)
		slices.SortStableFunc(ie.Errors, func(a, b FieldError) int { return strings.Compare(a.Field, b.Field) })
		return ie
	}
	return err
}

// collect flattens a validation error tree into field errors. An anyOf or oneOf
// is reported once, with its alternatives joined, rather than as one error per
// alternative.
func (v *Validator) collect(ve *jsonschema.ValidationError, out *[]FieldError) {
	switch k := ve.ErrorKind.(type) {
	case *kind.Not:
		// "'not' failed" says nothing: the schema's description says what
		// the value must not be.
		*out = append(*out, FieldError{Field: pointer(ve.InstanceLocation), Rule: "not", Message: "is not allowed: " + v.description(ve.SchemaURL)})
		return
	case *kind.OneOf:
		if strings.HasSuffix(ve.SchemaURL, "/$defs/money") {
			// Say what the bound is, rather than which pattern failed.
			*out = append(*out, FieldError{Field: pointer(ve.InstanceLocation), Rule: "money", Message: amountMessage()})
			return
		}
		*out = append(*out, v.alternatives(ve, k))
		return
	case *kind.AnyOf:
		*out = append(*out, v.alternatives(ve, k))
		return
	case *kind.Required:
		for _, m := range k.Missing {
			*out = append(*out, FieldError{Field: pointer(append(ve.InstanceLocation, m)), Rule: "required", Message: "is required"})
		}
		return
	}
	if len(ve.Causes) == 0 {
		*out = append(*out, FieldError{Field: pointer(ve.InstanceLocation), Rule: rule(ve.ErrorKind), Message: ve.ErrorKind.LocalizedString(printer)})
		return
	}
	for _, c := range ve.Causes {
		v.collect(c, out)
	}
}

// description returns the description of the schema at url.
func (v *Validator) description(url string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, err := v.c.Compile(url)
	if err != nil || s.Description == "" {
		return "the schema " + strings.TrimPrefix(url, schemaBase) + " rules it out"
	}
	return s.Description
}

// alternatives is one field error for an anyOf or oneOf, its alternatives joined.
func (v *Validator) alternatives(ve *jsonschema.ValidationError, k jsonschema.ErrorKind) FieldError {
	msgs := make([]string, 0, len(ve.Causes))
	for _, c := range ve.Causes {
		msgs = append(msgs, v.leafMessage(c))
	}
	return FieldError{Field: pointer(ve.InstanceLocation), Rule: rule(k), Message: strings.Join(msgs, ", or ")}
}

func (v *Validator) leafMessage(ve *jsonschema.ValidationError) string {
	var fes []FieldError
	v.collect(ve, &fes)
	msgs := make([]string, len(fes))
	for i, fe := range fes {
		if fe.Field != pointer(ve.InstanceLocation) {
			msgs[i] = fe.String()
		} else {
			msgs[i] = fe.Message
		}
	}
	return strings.Join(msgs, " and ")
}

func rule(k jsonschema.ErrorKind) string {
	p := k.KeywordPath()
	if len(p) == 0 {
		return "schema"
	}
	return p[0]
}

// pointer renders an instance location inside the data as a JSON pointer rooted
// at the event ("/data/items/0/sku").
func pointer(loc []string) string {
	var b strings.Builder
	b.WriteString("/data")
	for _, t := range loc {
		b.WriteByte('/')
		t = strings.ReplaceAll(t, "~", "~0")
		b.WriteString(strings.ReplaceAll(t, "/", "~1"))
	}
	return b.String()
}
