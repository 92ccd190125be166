package api

import (
	"io"
	"strings"
)

// csvWriter writes CSV (RFC 4180, CRLF line ends) that a spreadsheet reads
// as text, whatever a cell holds, as OWASP's CSV Injection page recommends:
// every cell is quoted, so that a separator inside one ("," or the ";" or
// tab another locale splits on) cannot start a new cell, and a cell a
// spreadsheet could read as a formula gets a leading single quote
// (formulaSafe). The first error of the underlying writer is kept.
type csvWriter struct {
	w   io.Writer
	buf []byte
	err error
}

// row writes one row.
func (c *csvWriter) row(cells ...string) {
	if c.err != nil {
		return
	}
	c.buf = c.buf[:0]
	for i, cell := range cells {
		if i > 0 {
			c.buf = append(c.buf, ',')
		}
		c.buf = append(c.buf, '"')
		c.buf = append(c.buf, strings.ReplaceAll(formulaSafe(cell), `"`, `""`)...)
		c.buf = append(c.buf, '"')
	}
	c.buf = append(c.buf, '\r', '\n')
	_, c.err = c.w.Write(c.buf)
}

// formulaSafe returns cell with a single quote before it if a spreadsheet
// could read it as a formula: it begins with =, +, -, @, a tab or a carriage
// return, or with one of =, +, -, @ after leading spaces, line breaks or
// quotes, which spreadsheets may strip. A spreadsheet shows the quoted cell
// as text; other readers see the quote.
func formulaSafe(cell string) string {
	if cell == "" {
		return cell
	}
	if cell[0] == '\t' || cell[0] == '\r' {
		return "'" + cell
	}
	if rest := strings.TrimLeft(cell, " \t\r\n\"'"); rest != "" && strings.IndexByte("=+-@", rest[0]) >= 0 {
		return "'" + cell
	}
	return cell
}
