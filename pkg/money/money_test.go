package money

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// schemaMoney is the form of the decimals Decimal returns; schemas/defs.json
// accepts those of them from 0 to MaxAmount (bounds_test.go in package event).
var schemaMoney = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,6})?$`)

func TestDecimal(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		err  error
	}{
		{"a price with cents is kept as is", "19.99", "19.99", nil},
		{"a whole number has no fraction", "100", "100", nil},
		{"an exponent is expanded", "1e2", "100", nil},
		{"an upper-case exponent with a plus sign is expanded", "1E+2", "100", nil},
		{"a negative exponent moves the point left", "12.5e-1", "1.25", nil},
		{"a negative amount keeps its sign", "-0.5", "-0.5", nil},
		{"trailing fraction zeros are trimmed", "19.990000", "19.99", nil},
		{"a float sum from JavaScript rounds to what was meant", "0.30000000000000004", "0.3", nil},
		{"a float sum just below a cent rounds up to it", "0.07999999999999999", "0.08", nil},
		{"zero is zero", "0", "0", nil},
		{"negative zero loses its sign", "-0", "0", nil},
		{"a negative amount that rounds to zero loses its sign", "-0.0000001", "0", nil},
		{"half a micro rounds down to even zero", "0.0000005", "0", nil},
		{"one and a half micros round up to even two", "0.0000015", "0.000002", nil},
		{"two and a half micros round down to even two", "0.0000025", "0.000002", nil},
		{"just above half a micro rounds up", "0.00000250001", "0.000003", nil},
		{"rounding is symmetric for negative amounts", "-0.0000015", "-0.000002", nil},
		{"below half a micro rounds down", "0.1234564999", "0.123456", nil},
		{"a tie after an even sixth digit stays", "0.1234565", "0.123456", nil},
		{"a tie after an odd sixth digit rounds up", "0.1234575", "0.123458", nil},
		{"a carry propagates into the integer part", "9.9999995", "10", nil},
		{"the largest amount is accepted", "999999999999999999.999999", "999999999999999999.999999", nil},
		{"eighteen integer digits are accepted", "123456789012345678", "123456789012345678", nil},
		{"a value that rounds down to the largest amount is accepted", "999999999999999999.9999994", "999999999999999999.999999", nil},
		{"a value that rounds up past eighteen digits is out of range", "999999999999999999.9999995", "", ErrRange},
		{"ten to the eighteenth is out of range", "1e18", "", ErrRange},
		{"minus ten to the eighteenth is out of range", "-1e18", "", ErrRange},
		{"ten to the seventeenth is in range", "1e17", "100000000000000000", nil},
		{"a tiny exponent rounds to zero", "1e-7", "0", nil},
		{"six tenths of a micro rounds to one", "6e-7", "0.000001", nil},
		{"the smallest float rounds to zero", "5e-324", "0", nil},
		{"the largest float is out of range", "1.7976931348623157e308", "", ErrRange},
		{"an enormous exponent is out of range", "1e999999999999999999999", "", ErrRange},
		{"an enormous negative exponent rounds to zero", "1e-999999999999999999999", "0", nil},
		{"zero with an enormous exponent is zero", "0e999999999999", "0", nil},
		{"an empty literal is not a number", "", "", ErrSyntax},
		{"a leading zero is not JSON", "01", "", ErrSyntax},
		{"a trailing point is not JSON", "1.", "", ErrSyntax},
		{"a leading point is not JSON", ".5", "", ErrSyntax},
		{"a plus sign is not JSON", "+1", "", ErrSyntax},
		{"an exponent without digits is not JSON", "1e", "", ErrSyntax},
		{"an exponent sign without digits is not JSON", "1e+", "", ErrSyntax},
		{"NaN is not JSON", "NaN", "", ErrSyntax},
		{"Infinity is not JSON", "Infinity", "", ErrSyntax},
		{"surrounding space is not part of a literal", " 1", "", ErrSyntax},
		{"hexadecimal is not JSON", "0x10", "", ErrSyntax},
		{"digit separators are not JSON", "1_000", "", ErrSyntax},
		{"a lone minus is not a number", "-", "", ErrSyntax},
		{"two points are not a number", "1.2.3", "", ErrSyntax},
		{"non-ASCII digits are not JSON", "١٢", "", ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decimal(json.Number(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("Decimal(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if got != tt.want {
				t.Errorf("Decimal(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if err == nil && !schemaMoney.MatchString(got) {
				t.Errorf("Decimal(%q) = %q does not match the schema pattern", tt.in, got)
			}
		})
	}
}

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Micros
		err  error
	}{
		{"a price in major units becomes micros", "12.50", 12_500_000, nil},
		{"a whole amount becomes micros", "3", 3_000_000, nil},
		{"zero is zero", "0", 0, nil},
		{"negative zero is zero", "-0.0", 0, nil},
		{"one micro is the smallest unit", "0.000001", 1, nil},
		{"a negative micro keeps its sign", "-0.000001", -1, nil},
		{"the largest Micros is accepted", "9223372036854.775807", math.MaxInt64, nil},
		{"the smallest Micros is accepted", "-9223372036854.775808", math.MinInt64, nil},
		{"one micro more than the largest overflows", "9223372036854.775808", 0, ErrRange},
		{"one micro less than the smallest overflows", "-9223372036854.775809", 0, ErrRange},
		{"eighteen integer digits are valid but overflow", "999999999999999999", 0, ErrRange},
		{"seven fraction digits are not a canonical amount", "12.5000000", 0, ErrSyntax},
		{"an exponent is not a canonical amount", "1e2", 0, ErrSyntax},
		{"a leading zero is not a canonical amount", "012", 0, ErrSyntax},
		{"nineteen integer digits are not a canonical amount", "1234567890123456789", 0, ErrSyntax},
		{"a leading point is not a canonical amount", ".5", 0, ErrSyntax},
		{"a trailing point is not a canonical amount", "12.", 0, ErrSyntax},
		{"a plus sign is not a canonical amount", "+1", 0, ErrSyntax},
		{"an empty string is not an amount", "", 0, ErrSyntax},
		{"a lone minus is not an amount", "-", 0, ErrSyntax},
		{"a decimal comma is not an amount", "1,5", 0, ErrSyntax},
		{"a currency symbol is not an amount", "$12.50", 0, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDecimal(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("ParseDecimal(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if got != tt.want {
				t.Errorf("ParseDecimal(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		currency string
		want     Micros
		err      error
	}{
		{"a string is a decimal in major units", `"12.50"`, "USD", 12_500_000, nil},
		{"a string ignores the currency's exponent", `"12.50"`, "JPY", 12_500_000, nil},
		{"an integer is cents of a currency with cents", `1250`, "USD", 12_500_000, nil},
		{"an integer is whole yen", `1250`, "JPY", 1_250_000_000, nil},
		{"an integer is whole won", `1250`, "KRW", 1_250_000_000, nil},
		{"an integer is fils of Kuwaiti dinar", `1250`, "KWD", 1_250_000, nil},
		{"an integer is ten-thousandths of a Unidad de Fomento", `1250`, "CLF", 125_000, nil},
		{"an unknown currency has cents", `1250`, "EUR", 12_500_000, nil},
		{"no currency means cents", `1250`, "", 12_500_000, nil},
		{"a lower-case code is understood", `1250`, "jpy", 1_250_000_000, nil},
		{"a negative integer is a negative amount", `-1250`, "USD", -12_500_000, nil},
		{"an integer written with an exponent is accepted", `1.25e3`, "USD", 12_500_000, nil},
		{"an integer written with a zero fraction is accepted", `1250.0`, "USD", 12_500_000, nil},
		{"surrounding space is ignored", " 1250\n", "USD", 12_500_000, nil},
		{"a string with escapes is decoded first", `"1\u0032.5"`, "USD", 12_500_000, nil},
		{"the largest yen amount that fits is accepted", `9223372036854`, "JPY", 9_223_372_036_854_000_000, nil},
		{"one yen more overflows", `9223372036855`, "JPY", 0, ErrRange},
		{"a huge number of cents overflows", `92233720368547758`, "USD", 0, ErrRange},
		{"an enormous exponent overflows", `1e400`, "USD", 0, ErrRange},
		{"a fraction of a minor unit is not a number of minor units", `12.5`, "USD", 0, ErrSyntax},
		{"a tiny fraction is not a number of minor units", `1e-400`, "USD", 0, ErrSyntax},
		{"null is not an amount", `null`, "USD", 0, ErrSyntax},
		{"a boolean is not an amount", `true`, "USD", 0, ErrSyntax},
		{"an object is not an amount", `{"amount":1}`, "USD", 0, ErrSyntax},
		{"a string that is not a decimal is not an amount", `"abc"`, "USD", 0, ErrSyntax},
		{"a string with an exponent is not an amount", `"1e2"`, "USD", 0, ErrSyntax},
		{"an unterminated string is not an amount", `"12`, "USD", 0, ErrSyntax},
		{"nothing is not an amount", ``, "USD", 0, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(json.RawMessage(tt.raw), tt.currency)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Parse(%s, %q) error = %v, want %v", tt.raw, tt.currency, err, tt.err)
			}
			if got != tt.want {
				t.Errorf("Parse(%s, %q) = %d, want %d", tt.raw, tt.currency, got, tt.want)
			}
		})
	}
}

func TestMicrosString(t *testing.T) {
	tests := []struct {
		name string
		in   Micros
		want string
	}{
		{"trailing zeros are dropped", 12_500_000, "12.5"},
		{"a whole amount has no point", 1_000_000, "1"},
		{"zero is zero", 0, "0"},
		{"one micro keeps all six digits", 1, "0.000001"},
		{"a negative micro keeps its sign", -1, "-0.000001"},
		{"a hundred micros", 100, "0.0001"},
		{"the largest Micros", math.MaxInt64, "9223372036854.775807"},
		{"the smallest Micros", math.MinInt64, "-9223372036854.775808"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("Micros(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name     string
		in       Micros
		currency string
		want     string
	}{
		{"dollars show two digits of cents", 12_500_000, "USD", "12.50"},
		{"zero dollars show cents", 0, "USD", "0.00"},
		{"a negative amount keeps its sign", -5_000_000, "USD", "-5.00"},
		{"an amount finer than a cent is not rounded", 12_345_000, "USD", "12.345"},
		{"yen have no fraction", 1_250_000_000, "JPY", "1250"},
		{"half a yen is not rounded away", 500_000, "JPY", "0.5"},
		{"Kuwaiti dinar show three digits", 1_250_000, "KWD", "1.250"},
		{"a Unidad de Fomento shows four digits", 10_000_000, "CLF", "10.0000"},
		{"a micro of a Unidad de Fomento shows six digits", 1, "CLF", "0.000001"},
		{"an unknown currency shows two digits", 7_000_000, "XXX", "7.00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Format(tt.in, tt.currency); got != tt.want {
				t.Errorf("Format(%d, %q) = %q, want %q", int64(tt.in), tt.currency, got, tt.want)
			}
		})
	}
}

func TestExponent(t *testing.T) {
	tests := []struct {
		currency string
		want     int
	}{
		{"USD", 2}, {"EUR", 2}, {"TWD", 2}, {"", 2},
		{"JPY", 0}, {"KRW", 0}, {"VND", 0}, {"CLP", 0}, {"ISK", 0}, {"UGX", 0}, {"XAF", 0},
		{"XOF", 0}, {"XPF", 0}, {"PYG", 0}, {"RWF", 0}, {"KMF", 0}, {"GNF", 0}, {"DJF", 0},
		{"BIF", 0}, {"VUV", 0}, {"jpy", 0},
		{"BHD", 3}, {"IQD", 3}, {"JOD", 3}, {"KWD", 3}, {"LYD", 3}, {"OMR", 3}, {"TND", 3},
		{"CLF", 4}, {"UYW", 4},
	}
	for _, tt := range tests {
		if got := Exponent(tt.currency); got != tt.want {
			t.Errorf("Exponent(%q) = %d, want %d", tt.currency, got, tt.want)
		}
	}
}

// FuzzDecimal checks Decimal against big.Rat, an independent exact
// implementation, and that its output survives a round trip through
// ParseDecimal, Parse and String unchanged.
func FuzzDecimal(f *testing.F) {
	for _, s := range []string{
		"19.99", "1e2", "-0.5", "0.30000000000000004", "0.0000005", "0.0000015", "-0",
		"999999999999999999.9999995", "9223372036854.775807", "1e-7", "12.5e-1", "01", "1.",
		"1e999999999999999999999", "5e-324", "123456789012345678.1234564", "0 ",
	} {
		f.Add(s)
	}
	million := big.NewRat(1_000_000, 1)
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(24), nil)
	f.Fuzz(func(t *testing.T, lit string) {
		got, err := Decimal(json.Number(lit))
		// json.Valid allows whitespace around a value; a number literal has none.
		isJSONNumber := json.Valid([]byte(lit)) && strings.TrimSpace(lit) == lit && lit != "" &&
			(lit[0] == '-' || ('0' <= lit[0] && lit[0] <= '9'))
		if errors.Is(err, ErrSyntax) != !isJSONNumber {
			t.Fatalf("Decimal(%q) error = %v, but json.Valid says number = %v", lit, err, isJSONNumber)
		}
		if err != nil && !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrRange) {
			t.Fatalf("Decimal(%q) error = %v, want ErrSyntax or ErrRange", lit, err)
		}
		if isJSONNumber && moderate(lit) {
			// Round lit × 10^6 half to even with big.Rat and compare.
			r, ok := new(big.Rat).SetString(lit)
			if !ok {
				t.Fatalf("big.Rat cannot parse %q", lit)
			}
			r.Mul(r, million)
			num, den := new(big.Int).Abs(r.Num()), r.Denom()
			q, m := new(big.Int).QuoRem(num, den, new(big.Int))
			switch new(big.Int).Lsh(m, 1).Cmp(den) {
			case 1:
				q.Add(q, big.NewInt(1))
			case 0:
				if q.Bit(0) == 1 {
					q.Add(q, big.NewInt(1))
				}
			}
			if q.Cmp(limit) >= 0 {
				if !errors.Is(err, ErrRange) {
					t.Fatalf("Decimal(%q) = %q, %v; want ErrRange", lit, got, err)
				}
				return
			}
			if r.Sign() < 0 {
				q.Neg(q)
			}
			if err != nil {
				t.Fatalf("Decimal(%q) error = %v, want %s micros", lit, err, q)
			}
			back, _ := new(big.Rat).SetString(got)
			if want := new(big.Rat).SetFrac(q, big.NewInt(1_000_000)); back == nil || back.Cmp(want) != 0 {
				t.Fatalf("Decimal(%q) = %q, want the value %s", lit, got, want.FloatString(6))
			}
		}
		if err != nil {
			return
		}
		if !schemaMoney.MatchString(got) {
			t.Fatalf("Decimal(%q) = %q does not match the schema pattern", lit, got)
		}
		if again, err := Decimal(json.Number(got)); err != nil || again != got {
			t.Fatalf("Decimal(Decimal(%q)) = %q, %v; want %q", lit, again, err, got)
		}
		m, err := ParseDecimal(got)
		if errors.Is(err, ErrRange) {
			return // valid in the schema, too large for Micros
		}
		if err != nil {
			t.Fatalf("ParseDecimal(%q) error = %v", got, err)
		}
		if s := m.String(); s != got {
			t.Fatalf("ParseDecimal(%q).String() = %q", got, s)
		}
		if p, err := Parse(json.RawMessage(strconv.Quote(got)), "USD"); err != nil || p != m {
			t.Fatalf("Parse(%q) = %d, %v; want %d", strconv.Quote(got), p, err, m)
		}
	})
}

// moderate reports whether big.Rat can parse lit quickly: its exponent is small.
func moderate(lit string) bool {
	if len(lit) > 200 {
		return false
	}
	i := strings.IndexAny(lit, "eE")
	if i < 0 {
		return true
	}
	e, err := strconv.Atoi(lit[i+1:])
	return err == nil && -400 < e && e < 400
}

// FuzzParse checks that any amount Parse accepts renders canonically and reads
// back the same, and that minor units are whole.
func FuzzParse(f *testing.F) {
	for _, s := range []struct{ raw, cur string }{
		{`"12.50"`, "USD"}, {`1250`, "USD"}, {`1250`, "JPY"}, {`1250`, "KWD"}, {`1250`, "CLF"},
		{`-1`, "BHD"}, {`1.25e3`, "USD"}, {`12.5`, "USD"}, {`null`, ""}, {`"9223372036854.775807"`, ""},
	} {
		f.Add([]byte(s.raw), s.cur)
	}
	f.Fuzz(func(t *testing.T, raw []byte, currency string) {
		m, err := Parse(raw, currency)
		if err != nil {
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrRange) {
				t.Fatalf("Parse(%q, %q) error = %v, want ErrSyntax or ErrRange", raw, currency, err)
			}
			return
		}
		s := m.String()
		if !schemaMoney.MatchString(s) {
			t.Fatalf("Parse(%q).String() = %q does not match the schema pattern", raw, s)
		}
		if back, err := ParseDecimal(s); err != nil || back != m {
			t.Fatalf("ParseDecimal(%q) = %d, %v; want %d", s, back, err, m)
		}
		if trimmed := strings.TrimSpace(string(raw)); trimmed != "" && trimmed[0] != '"' {
			unit := int64(math.Pow10(6 - Exponent(currency)))
			if int64(m)%unit != 0 {
				t.Fatalf("Parse(%s, %q) = %d is not a whole number of minor units", raw, currency, m)
			}
		}
	})
}
