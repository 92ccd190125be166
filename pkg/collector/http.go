package collector

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/segment"
)

// response is the body of every answer to an ingest request. It says what
// became of each event: written (accepted), written before (duplicates),
// dropped because its customer was erased after it happened (erased),
// rejected, or not written because Kafka did not acknowledge it (unwritten,
// with a 503: retry the request).
type response struct {
	Accepted   int        `json:"accepted"`
	Duplicates int        `json:"duplicates"`
	Erased     int        `json:"erased,omitempty"`
	Rejected   []rejected `json:"rejected,omitempty"`
	Unwritten  []int      `json:"unwritten,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// allRejected tells whether every event of the request was rejected.
func (r response) allRejected() bool {
	return r.Accepted+r.Duplicates+r.Erased+len(r.Unwritten) == 0 && len(r.Rejected) > 0
}

// status is the HTTP status of a request whose events were all rejected: 413
// if each was too large, else 400.
func (r response) status() int {
	for _, rj := range r.Rejected {
		if !rj.tooLarge {
			return http.StatusBadRequest
		}
	}
	return http.StatusRequestEntityTooLarge
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, received time.Time) (response, error)

// handle wraps an ingest handler with CORS, metrics and the mapping of errors
// and results to status codes.
func (c *Collector) handle(endpoint string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received := c.cfg.Now()
		start := time.Now()
		c.cors(w, r)
		resp, err := h(w, r, received)
		code := http.StatusOK
		switch {
		case err != nil:
			code = statusOf(err)
			resp.Error = err.Error()
			if code == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", strconv.Itoa(int(c.cfg.RetryAfter.Seconds()+0.5)))
			}
			if code >= 500 {
				c.log.Warn("request failed", zap.String("endpoint", endpoint), zap.Error(err))
			}
		case resp.allRejected():
			code = resp.status()
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(resp)
		c.m.latency.WithLabelValues(endpoint, strconv.Itoa(code)).Observe(time.Since(start).Seconds())
	})
}

// cors lets browsers call the collector. With no configured origins any page
// may send events, but without credentials (Access-Control-Allow-Origin: *):
// browser libraries send the write key in the body or an Authorization
// header set by script, which needs none. A configured origin is echoed and
// allowed credentials; any other gets no CORS headers.
func (c *Collector) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	if len(c.cfg.AllowedOrigins) == 0 {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		return
	}
	w.Header().Add("Vary", "Origin")
	if !slices.Contains(c.cfg.AllowedOrigins, origin) {
		return
	}
	w.Header().Set("Access-Control-Allow-Origin", origin)
	w.Header().Set("Access-Control-Allow-Credentials", "true")
}

func (c *Collector) preflight(w http.ResponseWriter, r *http.Request) {
	c.cors(w, r)
	w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	if h := r.Header.Get("Access-Control-Request-Headers"); h != "" {
		w.Header().Set("Access-Control-Allow-Headers", h)
	}
	w.Header().Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// readBody reads the request body, decompressing gzip, and answers errTooLarge
// beyond the configured limit (before and after decompression).
func (c *Collector) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := c.cfg.MaxBodyBytes
	var body io.Reader = http.MaxBytesReader(w, r.Body, limit)
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, tooLargeOr(fmt.Errorf("%w: gzip body: %v", errMalformed, err), err)
		}
		defer zr.Close()
		body = zr
	default:
		return nil, fmt.Errorf("%w: Content-Encoding %q is not supported; use gzip or none", errMalformed, enc)
	}
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, tooLargeOr(fmt.Errorf("%w: read body: %v", errMalformed, err), err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: the body is larger than %d bytes", errTooLarge, limit)
	}
	return b, nil
}

func tooLargeOr(other, err error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return fmt.Errorf("%w: the body is larger than %d bytes", errTooLarge, mb.Limit)
	}
	return other
}

func (c *Collector) serveCloudEvents(w http.ResponseWriter, r *http.Request, received time.Time) (response, error) {
	src, ok := c.source(writeKey(r))
	if !ok {
		return response{}, errUnauthorized
	}
	body, err := c.readBody(w, r)
	if err != nil {
		return response{}, err
	}
	items := decodeCloudEvents(r.Header, body)
	if len(items) > c.cfg.MaxEvents {
		return response{}, fmt.Errorf("%w: %d events in one request; the limit is %d", errTooLarge, len(items), c.cfg.MaxEvents)
	}
	return c.ingest(r.Context(), src, items, received)
}

func (c *Collector) serveSegment(call string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, received time.Time) (response, error) {
		key := writeKey(r)
		if key != "" {
			if _, ok := c.source(key); !ok {
				return response{}, errUnauthorized
			}
		}
		body, err := c.readBody(w, r)
		if err != nil {
			return response{}, err
		}
		batch, decodeErr := segment.Decode(call, body)
		if key == "" {
			key = batch.WriteKey
		}
		src, ok := c.source(key)
		if !ok {
			return response{}, errUnauthorized
		}
		if decodeErr != nil {
			return c.ingest(r.Context(), src, []*item{malformed(0, body, formatSegment, "", "%v", decodeErr)}, received)
		}
		if len(batch.Messages) > c.cfg.MaxEvents {
			return response{}, fmt.Errorf("%w: %d events in one request; the limit is %d", errTooLarge, len(batch.Messages), c.cfg.MaxEvents)
		}
		opts := segment.Options{
			Source:          sourceURI(src),
			DefaultChannel:  src.Channel,
			DefaultCurrency: c.cfg.DefaultCurrency,
			ReceivedAt:      received,
			MaxSkew:         c.cfg.MaxFuture,
		}
		items := make([]*item, len(batch.Messages))
		for i, msg := range batch.Messages {
			it := &item{index: i, raw: msg, format: formatSegment}
			ev, err := segment.ToEvent(msg, batch.SentAt, opts)
			if err != nil {
				it.fail(err)
			}
			it.ev = ev
			items[i] = it
		}
		return c.ingest(r.Context(), src, items, received)
	}
}

func sourceURI(s Source) string { return "/sources/" + s.Name }
