// Package stream is segflow's Kafka layer: the CloudEvents Kafka protocol binding
// for kafka-go, writers and readers configured the way the pipeline needs them,
// and topic creation.
//
// Every message segflow writes is a CloudEvent in binary content mode: the
// attributes travel as ce_* headers, the data as the value, the content type in
// the content-type header, and the partitionkey extension (the canonical
// customer id) as the message key, so one customer's events stay in order on one
// partition. Readers also accept structured content mode.
package stream

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/segmentio/kafka-go"
)

const (
	headerPrefix      = "ce_"
	headerContentType = "content-type"
	structuredPrefix  = "application/cloudevents"
	extPartitionKey   = "partitionkey"
)

// ErrNotCloudEvent is returned for a Kafka message that is not a CloudEvent in
// either content mode.
var ErrNotCloudEvent = errors.New("not a CloudEvent")

// ToMessage encodes e for topic in binary content mode.
func ToMessage(topic string, e cloudevents.Event) (kafka.Message, error) {
	if err := e.Validate(); err != nil {
		return kafka.Message{}, fmt.Errorf("encode event %s: %w", e.ID(), err)
	}
	m := kafka.Message{Topic: topic, Value: e.Data()}
	var t string
	if at := e.Time(); !at.IsZero() {
		t = types.FormatTime(at)
	}
	attrs := [...][2]string{
		{headerPrefix + "specversion", e.SpecVersion()},
		{headerPrefix + "id", e.ID()},
		{headerPrefix + "source", e.Source()},
		{headerPrefix + "type", e.Type()},
		{headerPrefix + "time", t},
		{headerPrefix + "subject", e.Subject()},
		{headerPrefix + "dataschema", e.DataSchema()},
		{headerContentType, e.DataContentType()},
	}
	exts := e.Extensions()
	n := 0
	for _, a := range attrs {
		n += len(a[1])
	}
	var extBuf [4][2]string
	values := extBuf[:0] // of the extensions but partitionkey: header and value
	for name, v := range exts {
		s, err := types.Format(v)
		if err != nil {
			return kafka.Message{}, fmt.Errorf("encode event %s: extension %s: %w", e.ID(), name, err)
		}
		if name == extPartitionKey {
			m.Key = []byte(s)
			continue
		}
		values, n = append(values, [2]string{headerPrefix + name, s}), n+len(s)
	}
	// The headers' values share one buffer, each capped at its end.
	buf := make([]byte, 0, n)
	h := make([]kafka.Header, 0, len(attrs)+len(values))
	add := func(k, v string) {
		if v != "" {
			lo := len(buf)
			buf = append(buf, v...)
			h = append(h, kafka.Header{Key: k, Value: buf[lo:len(buf):len(buf)]})
		}
	}
	for _, a := range attrs {
		add(a[0], a[1])
	}
	for _, v := range values {
		add(v[0], v[1])
	}
	m.Headers = h
	return m, nil
}

// FromMessage decodes a CloudEvent from a Kafka message in binary or structured
// content mode. The message key becomes the partitionkey extension.
func FromMessage(m kafka.Message) (cloudevents.Event, error) {
	var ct string
	for _, h := range m.Headers {
		if strings.EqualFold(h.Key, headerContentType) {
			ct = string(h.Value)
		}
	}
	e := cloudevents.NewEvent()
	if strings.HasPrefix(ct, structuredPrefix) {
		if err := json.Unmarshal(m.Value, &e); err != nil {
			return e, fmt.Errorf("%w: structured mode: %v", ErrNotCloudEvent, err)
		}
	} else if err := decodeBinary(m, ct, &e); err != nil {
		return e, err
	}
	if len(m.Key) > 0 && e.Extensions()[extPartitionKey] == nil {
		e.SetExtension(extPartitionKey, string(m.Key))
	}
	if err := e.Validate(); err != nil {
		return e, fmt.Errorf("%w: %v", ErrNotCloudEvent, err)
	}
	return e, nil
}

func decodeBinary(m kafka.Message, ct string, e *cloudevents.Event) error {
	seen := false
	for _, h := range m.Headers {
		name, ok := strings.CutPrefix(strings.ToLower(h.Key), headerPrefix)
		if !ok {
			continue
		}
		v := string(h.Value)
		switch name {
		case "specversion":
			seen = true
			e.SetSpecVersion(v)
		case "id":
			e.SetID(v)
		case "source":
			e.SetSource(v)
		case "type":
			e.SetType(v)
		case "subject":
			e.SetSubject(v)
		case "dataschema":
			e.SetDataSchema(v)
		case "time":
			t, err := types.ParseTime(v)
			if err != nil {
				return fmt.Errorf("%w: ce_time: %v", ErrNotCloudEvent, err)
			}
			e.SetTime(t)
		default:
			e.SetExtension(name, v)
		}
	}
	if !seen {
		return fmt.Errorf("%w: no ce_specversion header", ErrNotCloudEvent)
	}
	if ct != "" {
		e.SetDataContentType(ct)
	}
	e.DataEncoded = m.Value
	return nil
}
