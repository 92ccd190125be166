package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/segflow/segflow/pkg/event"
)

// A Rejection is an error that retrying cannot cure: the event it is about can
// never be handled (it does not decode, has no customer, Redis refuses what it
// asks). A Consumer dead-letters that event with Reason and goes on.
type Rejection struct {
	// Reason is the dead letter's reason: a short word such as "undecodable".
	Reason string
	Err    error
	// Message is the message rejected; nil when the handler does not know
	// which of its batch it is, and the consumer finds it by handling the
	// messages one at a time.
	Message *kafka.Message
}

func (r *Rejection) Error() string {
	if r.Message != nil {
		return fmt.Sprintf("%s/%d/%d rejected (%s): %v", r.Message.Topic, r.Message.Partition, r.Message.Offset, r.Reason, r.Err)
	}
	return fmt.Sprintf("rejected (%s): %v", r.Reason, r.Err)
}

func (r *Rejection) Unwrap() error { return r.Err }

// Reject returns a Rejection of an event of the batch being handled.
func Reject(reason string, err error) error {
	return &Rejection{Reason: reason, Err: err}
}

// RejectMessage returns a Rejection of m. A handler returns the rejections of
// all the messages of its batch it cannot handle, joined (errors.Join).
func RejectMessage(m kafka.Message, reason string, err error) error {
	return &Rejection{Reason: reason, Err: err, Message: &m}
}

// ReasonRefused is the reason of an event Redis refuses.
const ReasonRefused = "refused"

// Permanent tells whether err will come back however often the step is
// retried, and why: a Rejection, Redis refusing a command for good (a
// script error, a key of the wrong type), or an error that says so (a
// Permanent method that returns true). Everything else (a server
// unreachable, busy, loading, failing over, a timeout) is transient.
func Permanent(err error) (reason string, ok bool) {
	var r *Rejection
	if errors.As(err, &r) {
		return r.Reason, true
	}
	var p interface{ Permanent() bool }
	if refused(err) || errors.As(err, &p) && p.Permanent() {
		return ReasonRefused, true
	}
	return "", false
}

// refused tells whether err is Redis refusing a command for good, rather than
// being unreachable or busy, which retrying cures.
func refused(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	for _, transient := range []string{"LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "READONLY", "NOSCRIPT", "MOVED", "ASK"} {
		if redis.HasErrorPrefix(err, transient) {
			return false
		}
	}
	return true
}

// rejected returns the rejections in err's tree that name their message.
func rejected(err error) []*Rejection {
	var out []*Rejection
	var walk func(error)
	walk = func(err error) {
		if r, ok := err.(*Rejection); ok && r.Message != nil {
			out = append(out, r)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			if e := u.Unwrap(); e != nil {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

// DeadLetter wraps m, which source (a CloudEvent source such as
// "/profile-updater") cannot handle for reason, as a Rejected event for
// event.TopicInvalid, keyed like m.
func DeadLetter(m kafka.Message, source, reason string, cause error) (kafka.Message, error) {
	d := event.DeadLetter{
		Reason: reason, Errors: []event.FieldError{{Rule: reason, Message: cause.Error()}},
		Format: "kafka", Source: fmt.Sprintf("%s/%d/%d", m.Topic, m.Partition, m.Offset),
		ReceivedAt: time.Now().UTC(), Headers: map[string]string{},
	}
	for _, h := range m.Headers {
		d.Headers[h.Key] = string(h.Value)
	}
	d.SetRaw(m.Value)
	e, err := d.Event(source, string(m.Key), "")
	if err != nil {
		return kafka.Message{}, err
	}
	return ToMessage(event.TopicInvalid, e)
}

// Unavailable tells whether err is a dependency (Redis, Kafka) being out of
// reach for now: unreachable, closing connections, timing out, loading,
// failing over. Asking again later may succeed; a server answers 503 to it.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	var rerr redis.Error
	var kerr kafka.Error
	switch {
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrClosed):
		return true
	case errors.As(err, &rerr):
		return !refused(err)
	case errors.As(err, &kerr):
		return kerr.Temporary()
	}
	return false
}
