// Package money handles amounts of money exactly, as segflow's schemas carry
// them: a decimal string in major units ("12.50") or an integer in minor units
// of an ISO 4217 currency (1250).
//
// Its invariant is that no amount ever passes through a binary float: literals
// are read digit by digit, arithmetic is done on integers (math/big where the
// values may exceed 64 bits), and the only rounding is the documented one of
// Decimal, half to even at the sixth fraction digit.
package money

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Micros is an amount in millionths of the major unit of its currency:
// 12_500_000 is 12.50 USD, and 1_250_000_000 is 1250 JPY.
type Micros int64

// Errors callers may tell apart. Both mean bad input.
var (
	// ErrSyntax is returned for a literal that is not a number of the expected form.
	ErrSyntax = errors.New("not a valid amount")
	// ErrRange is returned for an amount too large to represent.
	ErrRange = errors.New("amount out of range")
)

const (
	// fracDigits is the number of fraction digits a canonical decimal may have.
	fracDigits = 6
	// maxIntDigits is the number of integer digits a canonical decimal may have,
	// as the schemas' money pattern allows.
	maxIntDigits = 18
)

// Decimal turns a JSON number literal, as a client sent it ("19.99", "1e2",
// "-0.5", "0.30000000000000004"), into the canonical decimal string the schemas
// accept: no exponent, no trailing fraction zeros, no negative zero, at most six
// fraction digits and eighteen integer digits. A literal with more fraction
// digits is rounded half to even at the sixth, so a JavaScript client's
// 0.1+0.2 becomes "0.3". The conversion is exact otherwise. It returns ErrSyntax
// for anything that is not a JSON number literal and ErrRange for an amount
// whose integer part needs more than eighteen digits.
func Decimal(n json.Number) (string, error) {
	d, err := parseNumber(string(n))
	if err != nil {
		return "", err
	}
	v, _, err := d.scaled(fracDigits, maxIntDigits+fracDigits)
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, clip(string(n)))
	}
	return format(v.String(), fracDigits, 0), nil
}

// ParseDecimal reads a decimal string in major units of the form the schemas
// accept ("12.50", "-3", "0.000001"; pattern ^-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,6})?$).
// It returns ErrRange for an amount that does not fit in Micros (beyond about
// 9.2 trillion major units).
func ParseDecimal(s string) (Micros, error) {
	rest, neg := strings.CutPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(rest, ".")
	if !digitsOnly(intPart) || len(intPart) > maxIntDigits || (len(intPart) > 1 && intPart[0] == '0') ||
		(hasFrac && (len(frac) == 0 || len(frac) > fracDigits || !digitsOnly(frac))) {
		return 0, fmt.Errorf("%w: %q is not a decimal with at most %d integer and %d fraction digits", ErrSyntax, clip(s), maxIntDigits, fracDigits)
	}
	// Eighteen integer digits fit in a uint64 but their micros may not, so
	// the bound is checked before scaling.
	var units uint64
	for _, c := range intPart {
		units = units*10 + uint64(c-'0')
	}
	var micros uint64
	for i := range fracDigits {
		micros *= 10
		if i < len(frac) {
			micros += uint64(frac[i] - '0')
		}
	}
	limit := uint64(1<<63 - 1)
	if neg {
		limit = 1 << 63
	}
	if units > (limit-micros)/1_000_000 {
		return 0, fmt.Errorf("%w: %s", ErrRange, s)
	}
	u := units*1_000_000 + micros
	if neg {
		return Micros(-u), nil // two's complement: -(1<<63) is MinInt64
	}
	return Micros(u), nil
}

// Parse reads an amount as the schemas carry it. A JSON string is a decimal in
// major units, read by ParseDecimal ("12.50" is 12_500_000). A JSON number must
// be a whole number of minor units of currency, scaled by the currency's ISO
// 4217 exponent: 1250 is 12_500_000 in USD, 1_250_000_000 in JPY and 1_250_000
// in KWD. It returns ErrRange when the amount does not fit in Micros.
func Parse(raw json.RawMessage, currency string) (Micros, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		return ParseDecimal(s)
	}
	d, err := parseNumber(string(raw))
	if err != nil {
		return 0, err
	}
	if _, exact, err := d.scaled(0, 40); err != nil {
		return 0, fmt.Errorf("%w: %s", ErrRange, clip(string(raw)))
	} else if !exact {
		return 0, fmt.Errorf("%w: %s is not a whole number of minor units", ErrSyntax, clip(string(raw)))
	}
	v, _, err := d.scaled(int64(fracDigits-Exponent(currency)), 19)
	if err != nil || !v.IsInt64() {
		return 0, fmt.Errorf("%w: %s %s", ErrRange, clip(string(raw)), currency)
	}
	return Micros(v.Int64()), nil
}

// String renders m as a canonical decimal in major units: "12.5", "-3",
// "0.000001". Decimal and ParseDecimal accept what it returns.
func (m Micros) String() string {
	return format(m.digits(), fracDigits, 0)
}

// Format renders m in major units with at least the minor digits of currency:
// 12_500_000 is "12.50" in USD, 1_250_000_000 is "1250" in JPY. It never
// rounds: an amount finer than the currency's minor unit keeps the digits it
// needs ("12.345" in USD).
func Format(m Micros, currency string) string {
	return format(m.digits(), fracDigits, Exponent(currency))
}

// digits returns m as a signed integer string.
func (m Micros) digits() string {
	return big.NewInt(int64(m)).String()
}

// format renders the signed integer v divided by 10^scale as a decimal with at
// least minFrac and at most scale fraction digits, dropping trailing zeros
// beyond minFrac and the sign of zero.
func format(v string, scale, minFrac int) string {
	abs, neg := strings.CutPrefix(v, "-")
	if len(abs) <= scale {
		abs = strings.Repeat("0", scale-len(abs)+1) + abs
	}
	intPart, frac := abs[:len(abs)-scale], abs[len(abs)-scale:]
	keep := len(strings.TrimRight(frac, "0"))
	frac = frac[:max(keep, min(minFrac, scale))]
	var b strings.Builder
	if neg && strings.Trim(abs, "0") != "" {
		b.WriteByte('-')
	}
	b.WriteString(intPart)
	if frac != "" {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

// number is an exact decimal value: neg × digits × 10^exp, digits holding no
// leading zeros ("" for zero).
type number struct {
	neg    bool
	digits string
	exp    int64
}

// expLimit bounds exponents; anything beyond it is out of range or rounds to
// zero alike, and the bound keeps exponent arithmetic from overflowing.
const expLimit = 1 << 40

// parseNumber reads a JSON number literal exactly (RFC 8259 section 6).
func parseNumber(s string) (number, error) {
	bad := func() (number, error) {
		return number{}, fmt.Errorf("%w: %q is not a JSON number", ErrSyntax, clip(s))
	}
	var n number
	rest, neg := strings.CutPrefix(s, "-")
	n.neg = neg
	i := 0
	for i < len(rest) && isDigit(rest[i]) {
		i++
	}
	intPart := rest[:i]
	if intPart == "" || (len(intPart) > 1 && intPart[0] == '0') {
		return bad()
	}
	rest = rest[i:]
	var frac string
	if r, ok := strings.CutPrefix(rest, "."); ok {
		i = 0
		for i < len(r) && isDigit(r[i]) {
			i++
		}
		if i == 0 {
			return bad()
		}
		frac, rest = r[:i], r[i:]
	}
	var exp int64
	if rest != "" {
		if rest[0] != 'e' && rest[0] != 'E' {
			return bad()
		}
		rest = rest[1:]
		eneg := false
		if rest != "" && (rest[0] == '+' || rest[0] == '-') {
			eneg = rest[0] == '-'
			rest = rest[1:]
		}
		if rest == "" || !digitsOnly(rest) {
			return bad()
		}
		for _, c := range rest {
			if exp < expLimit {
				exp = exp*10 + int64(c-'0')
			}
		}
		exp = min(exp, expLimit)
		if eneg {
			exp = -exp
		}
	}
	n.digits = strings.TrimLeft(intPart+frac, "0")
	n.exp = exp - int64(len(frac))
	if n.digits == "" {
		n.neg = false
	}
	return n, nil
}

// scaled returns n × 10^shift rounded half to even to an integer, and whether
// no rounding was needed. It returns ErrRange when the result has more than
// maxDigits digits.
func (n number) scaled(shift int64, maxDigits int) (*big.Int, bool, error) {
	v := new(big.Int)
	if n.digits == "" {
		return v, true, nil
	}
	s := n.exp + shift
	if s >= 0 {
		if int64(len(n.digits))+s > int64(maxDigits) {
			return nil, false, ErrRange
		}
		v.SetString(n.digits+strings.Repeat("0", int(s)), 10)
		if n.neg {
			v.Neg(v)
		}
		return v, true, nil
	}
	drop := -s
	if drop > int64(len(n.digits)) {
		// Less than a tenth of the last unit kept: rounds to zero.
		return v, false, nil
	}
	kept, dropped := n.digits[:int64(len(n.digits))-drop], n.digits[int64(len(n.digits))-drop:]
	if len(kept) > maxDigits {
		return nil, false, ErrRange
	}
	if kept != "" {
		v.SetString(kept, 10)
	}
	exact := strings.Trim(dropped, "0") == ""
	var up bool
	switch {
	case dropped[0] > '5':
		up = true
	case dropped[0] == '5':
		// Above half when anything follows the 5; a tie goes to the even neighbour.
		up = strings.Trim(dropped[1:], "0") != "" || v.Bit(0) == 1
	}
	if up {
		v.Add(v, big.NewInt(1))
		if len(v.String()) > maxDigits {
			return nil, false, ErrRange
		}
	}
	if n.neg {
		v.Neg(v)
	}
	return v, exact, nil
}

// Exponent returns the ISO 4217 minor-unit exponent of a currency: the number
// of digits after the decimal point of its minor unit. It is 2 for currencies
// not in the table, which is every currency with cents.
func Exponent(currency string) int {
	if e, ok := exponents[strings.ToUpper(currency)]; ok {
		return e
	}
	return 2
}

// exponents lists the ISO 4217 currencies whose minor unit is not a hundredth.
var exponents = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
	"XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func digitsOnly(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// clip shortens a literal for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}
