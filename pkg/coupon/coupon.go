package coupon

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/segflow/segflow/pkg/money"
)

// Kind is what a coupon's value is.
type Kind string

// Kinds of value.
const (
	Percent Kind = "percent" // off the order, 0 < value <= 100
	Amount  Kind = "amount"  // off the order, in major units of the shop's currency
)

// Bounds on codes.
const (
	// MaxCodeLength is the longest code, from a pool or generated with its prefix.
	MaxCodeLength = 64
	// MinGenerated and DefaultGenerated are the shortest and the default
	// length of a generated code's random part, in base32 characters (5
	// bits each): 60 and 80 bits.
	MinGenerated     = 12
	DefaultGenerated = 16
	// MinSecret is the shortest secret generated codes accept, in bytes.
	MinSecret = 16
)

// Definition is a coupon: where its codes come from, what they are worth and
// how long they are valid. Exactly one of Pool and Generate is set.
type Definition struct {
	// Name identifies the coupon in campaigns and keys; unique.
	Name string `yaml:"name"`
	// Pool is a file of codes, one a line (blank lines and lines starting
	// with # are skipped), relative to the campaigns file. Each code is
	// issued once; codes added to the file later are added to the pool.
	Pool string `yaml:"pool"`
	// Generate makes a code per decision instead.
	Generate *Generate `yaml:"generate"`
	// Value is what a code is worth.
	Value Value `yaml:"value"`
	// Valid is how long a code is valid.
	Valid Validity `yaml:"valid"`

	codes  []string // the pool, normalized
	loaded string   // the pool's name and a hash of its codes
	secret []byte
	until  time.Time
	values map[string]string // by tier; "" is the default
	kind   Kind
}

// Generate configures generated codes: Prefix followed by Length base32
// characters of HMAC-SHA256(secret, coupon, customer, decision id).
type Generate struct {
	// Length of the generated part; 0 means DefaultGenerated.
	Length int `yaml:"length"`
	// Prefix, optional, makes the codes recognisable ("BDAY-").
	Prefix string `yaml:"prefix"`
	// SecretEnv names the environment variable that holds the secret, at
	// least MinSecret bytes; the secret is never written in the file.
	SecretEnv string `yaml:"secret_env"`
}

// Value is a percent or an amount off (decimal strings), optionally another
// one for customers of some tiers.
type Value struct {
	Percent string            `yaml:"percent"`
	Amount  string            `yaml:"amount"`
	Tiers   map[string]string `yaml:"tiers"`
}

// Validity is either Days from issue or a fixed end, Until (RFC 3339).
type Validity struct {
	Days  int    `yaml:"days"`
	Until string `yaml:"until"`
}

// Issued is a code issued with a decision: what the trigger carries.
type Issued struct {
	Code    string    `json:"code"`
	Kind    Kind      `json:"kind"`
	Value   string    `json:"value"`
	Expires time.Time `json:"expires"`
}

// Normalize is how a code is compared: without surrounding space, in upper
// case, as a customer may type it.
func Normalize(code string) string { return strings.ToUpper(strings.TrimSpace(code)) }

// Compile checks d, reads its pool file (relative to dir) or its secret
// (from the environment), and prepares its values. It reports every problem
// it finds.
func (d *Definition) Compile(dir string) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if d.Name == "" {
		fail("name: missing")
	}
	switch {
	case d.Pool == "" && d.Generate == nil:
		fail("pool, generate: one is needed, to say where the codes come from")
	case d.Pool != "" && d.Generate != nil:
		fail("pool, generate: only one of them")
	case d.Pool != "":
		path := d.Pool
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		codes, err := readPool(path)
		if err != nil {
			fail("pool: %w", err)
		}
		d.codes = codes
		h := sha256.Sum256([]byte(strings.Join(codes, "\n")))
		d.loaded = d.Name + "\x00" + string(h[:])
	default:
		g := d.Generate
		if g.Length == 0 {
			g.Length = DefaultGenerated
		}
		if g.Length < MinGenerated || len(g.Prefix)+g.Length > MaxCodeLength {
			fail("generate: length: %d is not from %d to %d less the prefix", g.Length, MinGenerated, MaxCodeLength)
		}
		if g.Prefix != Normalize(g.Prefix) || strings.ContainsAny(g.Prefix, " \t") {
			fail("generate: prefix: %q must be upper case without spaces", g.Prefix)
		}
		switch s := os.Getenv(g.SecretEnv); {
		case g.SecretEnv == "":
			fail("generate: secret_env: missing; name the environment variable that holds the secret")
		case len(s) < MinSecret:
			fail("generate: secret_env: %s holds %d bytes, want at least %d", g.SecretEnv, len(s), MinSecret)
		default:
			d.secret = []byte(s)
		}
	}
	errs = append(errs, d.compileValue()...)
	switch v := d.Valid; {
	case v.Days != 0 && v.Until != "", v.Days == 0 && v.Until == "":
		fail("valid: give one of days (from issue) and until (a fixed end)")
	case v.Days < 0:
		fail("valid: days: %d is negative", v.Days)
	case v.Until != "":
		t, err := time.Parse(time.RFC3339, v.Until)
		if err != nil {
			fail("valid: until: %q is not an RFC 3339 time (2026-12-31T23:59:59+08:00)", v.Until)
		}
		d.until = t
	}
	return errs
}

func (d *Definition) compileValue() []error {
	v := d.Value
	var check func(string) error
	switch {
	case (v.Percent == "") == (v.Amount == ""):
		return []error{errors.New("value: give one of percent and amount")}
	case v.Percent != "":
		d.kind, check = Percent, checkPercent
	default:
		d.kind, check = Amount, checkAmount
	}
	var errs []error
	d.values = map[string]string{"": v.Percent + v.Amount}
	if err := check(d.values[""]); err != nil {
		errs = append(errs, fmt.Errorf("value: %s: %w", d.kind, err))
	}
	for tier, s := range v.Tiers {
		if err := check(s); err != nil {
			errs = append(errs, fmt.Errorf("value: tiers: %s: %w", tier, err))
		}
		d.values[tier] = s
	}
	return errs
}

func checkPercent(s string) error {
	m, err := money.ParseDecimal(s)
	if err != nil || m <= 0 || m > 100_000_000 {
		return fmt.Errorf("%q is not a percentage above 0 and at most 100", s)
	}
	return nil
}

func checkAmount(s string) error {
	m, err := money.ParseDecimal(s)
	if err != nil || m <= 0 || money.CheckAmount(m) != nil {
		return fmt.Errorf("%q is not an amount above 0 and at most %s", s, money.MaxAmount)
	}
	return nil
}

// readPool reads a pool file: one code a line, normalized, each once.
func readPool(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var codes []string
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		c := Normalize(sc.Text())
		if c == "" || strings.HasPrefix(c, "#") {
			continue
		}
		switch {
		case len(c) > MaxCodeLength:
			return nil, fmt.Errorf("%s:%d: a code of %d bytes, longer than %d", path, line, len(c), MaxCodeLength)
		case strings.ContainsAny(c, " \t"):
			return nil, fmt.Errorf("%s:%d: a code with a space", path, line)
		case seen[c] != 0:
			return nil, fmt.Errorf("%s:%d: code already on line %d (codes are compared in upper case)", path, line, seen[c])
		}
		seen[c] = line
		codes = append(codes, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(codes) == 0 {
		return nil, fmt.Errorf("%s: no codes", path)
	}
	return codes, nil
}

// Codes returns the codes of a pool, normalized, in the file's order; nil
// for generated codes.
func (d *Definition) Codes() []string { return d.codes }

// Generated returns the code of a generated coupon for a decision; "" for a
// pool.
func (d *Definition) Generated(customer, decision string) string {
	if d.Generate == nil {
		return ""
	}
	mac := hmac.New(sha256.New, d.secret)
	mac.Write([]byte(d.Name + "\x00" + customer + "\x00" + decision))
	s := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(mac.Sum(nil))
	return d.Generate.Prefix + s[:d.Generate.Length]
}

// Issue returns what a code issued at T to a customer of tier carries.
func (d *Definition) Issue(code, tier string, T time.Time) Issued {
	v, ok := d.values[tier]
	if !ok {
		v = d.values[""]
	}
	return Issued{Code: code, Kind: d.kind, Value: v, Expires: d.Expires(T)}
}

// Expires returns when a code issued at T stops being valid: the end of
// its validity is the last instant it redeems.
func (d *Definition) Expires(T time.Time) time.Time {
	if d.Valid.Days > 0 {
		return T.Add(time.Duration(d.Valid.Days) * 24 * time.Hour)
	}
	return d.until
}
