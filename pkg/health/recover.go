package health

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Recover returns h made to survive a panic in any handler: the request is
// answered 500 {"error":"internal error"} (unless the handler had already
// begun its answer), the panic is logged with its stack and a description
// of its value (see describe; never the request, which may carry personal
// data) and counted in
// segflow_http_panics_total. Every other request goes on being served.
// http.ErrAbortHandler is passed on, as net/http means it.
func Recover(h http.Handler, log *zap.Logger, reg prometheus.Registerer) (http.Handler, error) {
	panics := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "segflow_http_panics_total",
		Help: "HTTP requests whose handler panicked, answered 500.",
	})
	if err := reg.Register(panics); err != nil {
		return nil, fmt.Errorf("register panic counter: %w", err)
	}
	log = log.Named("http")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &started{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			panics.Inc()
			log.Error("handler panicked", zap.String("method", r.Method), zap.String("pattern", r.Pattern),
				zap.String("panic", describe(v)), zap.ByteString("stack", debug.Stack()))
			if !rw.began {
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
			}
		}()
		h.ServeHTTP(rw, r)
	}), nil
}

// describe names a panic value without what it may carry: a runtime error's
// message ("index out of range [3] with length 3") is the runtime's own, any
// other value may hold request data (an id, an email) and is named by its
// type only.
func describe(v any) string {
	if err, ok := v.(runtime.Error); ok {
		return err.Error()
	}
	return fmt.Sprintf("a value of type %T", v)
}

// started tells whether a handler began its answer.
type started struct {
	http.ResponseWriter
	began bool
}

func (s *started) WriteHeader(code int) {
	s.began = true
	s.ResponseWriter.WriteHeader(code)
}

func (s *started) Write(b []byte) (int, error) {
	s.began = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *started) Unwrap() http.ResponseWriter { return s.ResponseWriter }
