package importer

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/segflow/segflow/pkg/event"
)

// row is one historical order as read from a file.
type row struct {
	line     int
	orderID  string
	customer string
	time     string
	total    json.RawMessage // a JSON string (decimal) or integer (minor units)
	currency string
	items    json.RawMessage
	kind     string // "order" (default) or "refund"
	channel  string
}

func (r row) refund() (bool, error) {
	switch strings.ToLower(r.kind) {
	case "", "order", "completed", "order_completed":
		return false, nil
	case "refund", "refunded", "order_refunded", "return":
		return true, nil
	}
	return false, fmt.Errorf("type %q: want order or refund", r.kind)
}

// orderData is the data of the purchase event a row becomes.
type orderData struct {
	UserID   string          `json:"user_id"`
	OrderID  string          `json:"order_id"`
	Total    json.RawMessage `json:"total,omitempty"`
	Currency string          `json:"currency,omitempty"`
	Items    json.RawMessage `json:"items,omitempty"`
	Channel  string          `json:"channel,omitempty"`
}

func (r row) data(channel string) ([]byte, error) {
	if len(r.items) > 0 && !json.Valid(r.items) {
		return nil, errors.New("items: not JSON (want an array of line items)")
	}
	// Marshalling would read bytes that are not UTF-8 as U+FFFD, so that
	// two different ids became one customer or order.
	for name, v := range map[string]string{"customer": r.customer, "order id": r.orderID, "currency": r.currency, "channel": channel} {
		if !utf8.ValidString(v) {
			return nil, fmt.Errorf("%s: not UTF-8 text", name)
		}
	}
	if errs := event.TextErrors("/items", r.items); len(errs) > 0 {
		return nil, &event.InvalidError{Errors: errs}
	}
	return json.Marshal(orderData{UserID: r.customer, OrderID: r.orderID, Total: r.total, Currency: r.currency, Items: r.items, Channel: channel})
}

type rowReader interface {
	// next returns the next row, a RowError for a row that cannot be read,
	// io.EOF at the end, or another error when reading fails.
	next() (row, error)
}

// Columns of a CSV file: the header names each is recognised by, after
// lower-casing and turning spaces and dashes into underscores.
var columns = map[string][]string{
	"order_id":    {"order_id", "orderid", "order", "id", "invoice", "invoice_no", "invoiceno"},
	"customer_id": {"customer_id", "customerid", "customer", "user_id", "userid"},
	"time":        {"time", "timestamp", "date", "order_time", "ordered_at", "created_at", "invoice_date", "invoicedate"},
	"total":       {"total", "amount", "value", "order_total"},
	"currency":    {"currency"},
	"items":       {"items"},
	"type":        {"type", "kind"},
	"channel":     {"channel"},
}

type csvReader struct {
	r   *csv.Reader
	col map[string]int
}

func newCSVReader(r io.Reader) (*csvReader, error) {
	cr := csv.NewReader(bufio.NewReaderSize(r, 1<<20))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read CSV header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))))
		for name, aliases := range columns {
			for _, a := range aliases {
				if h == a {
					if _, dup := col[name]; dup {
						return nil, fmt.Errorf("CSV header: two columns for %s", name)
					}
					col[name] = i
				}
			}
		}
	}
	var missing []string
	for _, name := range []string{"order_id", "customer_id", "time", "total"} {
		if _, ok := col[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("CSV header %q has no column for %s", header, strings.Join(missing, ", "))
	}
	return &csvReader{r: cr, col: col}, nil
}

func (c *csvReader) next() (row, error) {
	rec, err := c.r.Read()
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return row{}, RowError{Line: pe.StartLine, Err: pe.Err}
	}
	if err != nil {
		return row{}, err // io.EOF, or the file cannot be read
	}
	line, _ := c.r.FieldPos(0)
	field := func(name string) string {
		i, ok := c.col[name]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	r := row{
		line: line, orderID: field("order_id"), customer: field("customer_id"), time: field("time"),
		currency: field("currency"), kind: field("type"), channel: field("channel"),
	}
	if t := field("total"); t != "" {
		r.total, _ = json.Marshal(t)
	}
	if it := field("items"); it != "" {
		r.items = json.RawMessage(it)
	}
	return r, nil
}

type jsonReader struct {
	sc   *bufio.Scanner
	line int
}

func newJSONReader(r io.Reader) *jsonReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	return &jsonReader{sc: sc}
}

// jsonRow is a JSON line. total is a decimal string or an integer in minor
// units, as the purchase schema has it.
type jsonRow struct {
	OrderID    string          `json:"order_id"`
	CustomerID string          `json:"customer_id"`
	UserID     string          `json:"user_id"`
	Time       string          `json:"time"`
	Total      json.RawMessage `json:"total"`
	Currency   string          `json:"currency"`
	Items      json.RawMessage `json:"items"`
	Type       string          `json:"type"`
	Channel    string          `json:"channel"`
}

func (j *jsonReader) next() (row, error) {
	for j.sc.Scan() {
		j.line++
		b := strings.TrimSpace(j.sc.Text())
		if b == "" {
			continue
		}
		var jr jsonRow
		if err := json.Unmarshal([]byte(b), &jr); err != nil {
			return row{}, RowError{Line: j.line, Err: fmt.Errorf("not a JSON object of an order: %v", err)}
		}
		customer := jr.CustomerID
		if customer == "" {
			customer = jr.UserID
		}
		return row{
			line: j.line, orderID: jr.OrderID, customer: customer, time: jr.Time, total: jr.Total,
			currency: jr.Currency, items: jr.Items, kind: jr.Type, channel: jr.Channel,
		}, nil
	}
	if err := j.sc.Err(); err != nil {
		return row{}, fmt.Errorf("read line %d: %w", j.line+1, err)
	}
	return row{}, io.EOF
}
