package collector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/types"

	"github.com/segflow/segflow/pkg/event"
)

// Content types of the CloudEvents HTTP binding.
const (
	contentStructured = "application/cloudevents+json"
	contentBatch      = "application/cloudevents-batch+json"
)

// maxSource is the longest source attribute, in characters, accepted.
const maxSource = 1024

// extName is the CloudEvents rule for extension attribute names.
var extName = regexp.MustCompile(`^[a-z0-9]{1,20}$`)

// decodeCloudEvents reads the body of POST /v1/events in any of the three
// modes of the CloudEvents HTTP binding: binary (ce-* headers), structured, or
// batch. A body that is not JSON at all is one malformed item.
func decodeCloudEvents(h http.Header, body []byte) []*item {
	if h.Get("ce-specversion") != "" {
		return []*item{decodeBinary(h, body)}
	}
	ct, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if ct == contentBatch || (ct != contentStructured && len(trimmed) > 0 && trimmed[0] == '[') {
		var raws []json.RawMessage
		if err := json.Unmarshal(body, &raws); err != nil {
			return []*item{malformed(0, body, formatCloudEvents, "", "the body must be a JSON array of CloudEvents: %v", err)}
		}
		items := make([]*item, len(raws))
		for i, raw := range raws {
			items[i] = decodeStructured(i, raw)
		}
		return items
	}
	return []*item{decodeStructured(0, body)}
}

// decodeStructured decodes one CloudEvent in structured JSON mode.
func decodeStructured(index int, raw []byte) *item {
	var attrs map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&attrs); err != nil || attrs == nil {
		if err == nil {
			err = fmt.Errorf("null")
		}
		return malformed(index, raw, formatCloudEvents, "", "a CloudEvent must be a JSON object: %v", err)
	}
	it := &item{index: index, raw: raw, format: formatCloudEvents}
	it.errs = append(it.errs, event.TextErrors("", raw)...)
	str := func(name string) (string, bool) {
		v, ok := attrs[name]
		if !ok {
			return "", false
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			it.reject("/"+name, "type", "%s must be a string", name)
			return "", false
		}
		return s, true
	}
	e := cloudevents.NewEvent()
	fields := map[string]string{}
	for _, name := range []string{"specversion", "id", "source", "type", "time", "subject", "dataschema", "datacontenttype"} {
		if s, ok := str(name); ok {
			fields[name] = s
		}
	}
	data, hasData := attrs["data"]
	if _, ok := attrs["data_base64"]; ok {
		it.reject("/data_base64", "format", "data must be JSON; data_base64 is not accepted")
	}
	for name, v := range attrs {
		switch name {
		case "specversion", "id", "source", "type", "time", "subject", "dataschema", "datacontenttype", "data", "data_base64":
			continue
		}
		var x any
		d := json.NewDecoder(bytes.NewReader(v))
		d.UseNumber()
		_ = d.Decode(&x)
		switch x := x.(type) {
		case string:
			fields["ext:"+name] = x
		case json.Number:
			fields["ext:"+name] = x.String()
		case bool:
			fields["ext:"+name] = fmt.Sprint(x)
		default:
			it.reject("/"+name, "type", "extension attribute %s must be a string, number or boolean", name)
		}
	}
	buildEvent(it, &e, fields, data, hasData)
	return it
}

// decodeBinary decodes one CloudEvent in HTTP binary mode: attributes in ce-*
// headers, data in the body.
func decodeBinary(h http.Header, body []byte) *item {
	it := &item{raw: body, format: formatCloudEvents}
	fields := map[string]string{}
	for k, vs := range h {
		name, ok := strings.CutPrefix(strings.ToLower(k), "ce-")
		if !ok || len(vs) == 0 {
			continue
		}
		if !utf8.ValidString(vs[0]) {
			it.reject("/"+name, "utf8", "the ce-%s header must be valid UTF-8 text", name)
		}
		switch name {
		case "specversion", "id", "source", "type", "time", "subject", "dataschema":
			fields[name] = vs[0]
		default:
			fields["ext:"+name] = vs[0]
		}
	}
	if ct := h.Get("Content-Type"); ct != "" {
		fields["datacontenttype"] = ct
	}
	it.errs = append(it.errs, event.TextErrors("/data", body)...)
	e := cloudevents.NewEvent()
	buildEvent(it, &e, fields, body, len(bytes.TrimSpace(body)) > 0)
	// Keep the attributes with the raw body so a dead letter can be replayed.
	if len(it.errs) > 0 {
		it.raw = binaryAsStructured(fields, body)
	}
	return it
}

// buildEvent checks the context attributes and fills e. Problems are recorded
// on it as field errors.
func buildEvent(it *item, e *cloudevents.Event, f map[string]string, data []byte, hasData bool) {
	if v := f["specversion"]; v != "1.0" {
		if v == "" {
			it.reject("/specversion", "required", "specversion is required and must be \"1.0\"")
		} else {
			it.reject("/specversion", "enum", "specversion %q is not supported; use \"1.0\"", v)
		}
	}
	for _, name := range []string{"id", "source", "type"} {
		if f[name] == "" {
			it.reject("/"+name, "required", "%s is required and must be a non-empty string", name)
		}
	}
	for name, max := range map[string]int{"id": event.MaxID, "source": maxSource} {
		if utf8.RuneCountInString(f[name]) > max {
			it.reject("/"+name, "maxLength", "%s must be at most %d characters", name, max)
		}
	}
	e.SetID(f["id"])
	e.SetSource(f["source"])
	e.SetType(f["type"])
	if f["type"] != "" {
		if _, err := event.Topic(f["type"]); err != nil {
			it.reject("/type", "enum", "%v", err)
			it.reason = reasonUnknownType
		}
	}
	if t := f["time"]; t != "" {
		ts, err := types.ParseTime(t)
		if err != nil {
			it.reject("/time", "format", "time must be an RFC 3339 timestamp: %v", err)
		} else {
			e.SetTime(ts)
		}
	}
	if s := f["subject"]; s != "" {
		e.SetSubject(s)
	}
	if s := f["dataschema"]; s != "" {
		e.SetDataSchema(s)
	}
	ct := f["datacontenttype"]
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			it.reject("/datacontenttype", "enum", "datacontenttype must be application/json, not %q", ct)
		}
	}
	e.SetDataContentType(cloudevents.ApplicationJSON)
	for k, v := range f {
		name, ok := strings.CutPrefix(k, "ext:")
		if !ok {
			continue
		}
		if !extName.MatchString(name) {
			it.reject("/"+name, "pattern", "extension attribute names are 1-20 lower-case letters or digits")
			continue
		}
		// The collector sets these itself.
		if name == event.ExtPartitionKey || name == event.ExtReceivedAt || name == event.ExtChannel {
			continue
		}
		e.SetExtension(name, v)
	}
	if !hasData {
		it.reject("/data", "required", "data is required: a JSON object with the event's fields")
	} else if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		it.reject("/data", "type", "data must be a JSON object")
	} else if !json.Valid(data) {
		it.reject("/data", "format", "data is not valid JSON")
	} else {
		e.DataEncoded = compact(data)
	}
	it.ev = *e
}

func binaryAsStructured(f map[string]string, body []byte) []byte {
	m := map[string]any{}
	for k, v := range f {
		m[strings.TrimPrefix(k, "ext:")] = v
	}
	if json.Valid(body) {
		m["data"] = json.RawMessage(body)
	} else {
		m["data"] = string(body)
	}
	b, _ := json.Marshal(m)
	return b
}

func compact(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}
