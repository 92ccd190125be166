package event

import (
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// Backfill tells whether e is marked as an event of the past (ExtBackfill),
// whether the mark was set in process (a boolean) or came as a Kafka header
// (a string).
func Backfill(e cloudevents.Event) bool {
	v, ok := e.Extensions()[ExtBackfill]
	return ok && fmt.Sprint(v) == "true"
}
