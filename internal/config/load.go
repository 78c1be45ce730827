package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts the name of every configuration environment variable.
const EnvPrefix = "FIFTHWHEEL_"

// PassphraseEnv holds the passphrase protecting the fleet CA's keys. It is a
// secret, not a setting: ApplyEnv ignores it, so it is never printed by
// `config print` nor reported as unknown.
const PassphraseEnv = EnvPrefix + "CA_PASSPHRASE"

// envReserved are prefixes of FIFTHWHEEL_ variables that are not settings:
// the test tooling's, and the CA passphrase. ApplyEnv neither reads nor
// reports them.
var envReserved = []string{EnvPrefix + "TEST_", EnvPrefix + "SKIP_", PassphraseEnv}

// Key names one setting.
type Key struct {
	Path string // dotted YAML path, e.g. "heartbeat.interval"
	Env  string // environment variable, e.g. "FIFTHWHEEL_HEARTBEAT_INTERVAL"
}

// leaf is one setting: where it sits in Config and how to parse it.
type leaf struct {
	Key
	index []int
	typ   reflect.Type
}

var (
	leaves = collect(reflect.TypeFor[Config](), "", nil)
	byPath = indexLeaves(func(l *leaf) string { return l.Path })
	byEnv  = indexLeaves(func(l *leaf) string { return l.Env })
)

var durationType = reflect.TypeFor[time.Duration]()

func collect(t reflect.Type, prefix string, index []int) []*leaf {
	var out []*leaf
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		path := prefix + name
		idx := append(slices.Clone(index), i)
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			out = append(out, collect(f.Type, path+".", idx)...)
			continue
		}
		env := EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
		out = append(out, &leaf{Key: Key{Path: path, Env: env}, index: idx, typ: f.Type})
	}
	return out
}

func indexLeaves(key func(*leaf) string) map[string]*leaf {
	m := make(map[string]*leaf, len(leaves))
	for _, l := range leaves {
		m[key(l)] = l
	}
	return m
}

// Keys returns every setting's path and environment variable, in file order.
func Keys() []Key {
	out := make([]Key, len(leaves))
	for i, l := range leaves {
		out[i] = l.Key
	}
	return out
}

// Load reads and parses the YAML file at path over the defaults. Errors
// carry "path:line" sources.
func Load(path string) (Config, Sources, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, nil, fmt.Errorf("read configuration: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return Config{}, nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(data, path)
}

// Parse parses a YAML document over the defaults. name labels sources and
// errors (usually the file name). The error, if any, is Errors listing every
// problem found; the returned Config then holds what could be read.
func Parse(data []byte, name string) (Config, Sources, error) {
	cfg := Default()
	src := Sources{}
	if len(data) > MaxFileBytes {
		return cfg, src, Errors{{Source: name, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileBytes)}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return cfg, src, nil // empty file: the defaults
		}
		return cfg, src, Errors{yamlError(err, name)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return cfg, src, Errors{{Source: name, Msg: "more than one YAML document; a configuration is one document"}}
	}
	w := walker{name: name, src: src}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return cfg, src, nil // "---" alone: the defaults
	}
	w.mapping(root, reflect.ValueOf(&cfg).Elem(), "")
	if len(w.errs) > 0 {
		return cfg, src, w.errs
	}
	return cfg, src, nil
}

// yamlError turns a go.yaml.in/yaml/v3 syntax error ("yaml: line 3: ...") into a
// FieldError whose source is "name:3".
func yamlError(err error, name string) FieldError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if _, err := strconv.Atoi(n); err == nil {
				return FieldError{Source: name + ":" + n, Msg: after}
			}
		}
	}
	return FieldError{Source: name, Msg: msg}
}

// walker decodes a YAML node tree into a Config by hand, so that every
// problem is reported with its path and line, and all of them at once.
type walker struct {
	name string
	src  Sources
	errs Errors
}

func (w *walker) fail(n *yaml.Node, path, format string, args ...any) {
	w.errs = append(w.errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...), Source: w.at(n)})
}

func (w *walker) at(n *yaml.Node) string {
	return fmt.Sprintf("%s:%d", w.name, n.Line)
}

func (w *walker) mapping(n *yaml.Node, v reflect.Value, prefix string) {
	path := strings.TrimSuffix(prefix, ".")
	switch {
	case n.Kind == yaml.AliasNode:
		w.fail(n, path, "YAML aliases are not supported; write the value out")
		return
	case n.Kind != yaml.MappingNode:
		w.fail(n, path, "must be a mapping of keys to values")
		return
	}
	t := v.Type()
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			w.fail(k, path, "keys must be plain strings")
			continue
		}
		kpath := prefix + k.Value
		if line, dup := seen[k.Value]; dup {
			w.fail(k, kpath, "duplicate key (first set on line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		fi := fieldByTag(t, k.Value)
		if fi < 0 {
			w.fail(k, kpath, "unknown key (known keys here: %s)", strings.Join(tagsOf(t), ", "))
			continue
		}
		fv := v.Field(fi)
		if fv.Kind() == reflect.Struct && fv.Type() != durationType {
			w.mapping(val, fv, kpath+".")
			continue
		}
		switch {
		case val.Kind == yaml.AliasNode:
			w.fail(val, kpath, "YAML aliases are not supported; write the value out")
		case val.Kind != yaml.ScalarNode:
			w.fail(val, kpath, "must be a single value, not a list or mapping")
		case val.Tag == "!!null":
			w.fail(val, kpath, "has no value; remove the key to use the default")
		default:
			if msg := setValue(fv, val.Value); msg != "" {
				w.fail(val, kpath, "%s", msg)
				continue
			}
			w.src[kpath] = w.at(val)
		}
	}
}

func fieldByTag(t reflect.Type, key string) int {
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == key {
			return i
		}
	}
	return -1
}

func tagsOf(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		out = append(out, name)
	}
	return out
}

// setValue parses s into v by v's type. It returns a message for the
// operator, or "" on success. Messages never repeat the value: it might be a
// secret.
func setValue(v reflect.Value, s string) string {
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return "must be a duration with a unit, such as 1s, 500ms or 2m"
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return "must be true or false"
		}
		v.SetBool(b)
	case v.CanInt():
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return "must be a whole number"
		}
		v.SetInt(n)
	case v.CanFloat():
		f, err := strconv.ParseFloat(s, v.Type().Bits())
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return "must be a finite number, such as 0.2 or 5"
		}
		v.SetFloat(f)
	default:
		// A field type this file does not handle yet is a programming error
		// caught by the tests that set every key.
		return fmt.Sprintf("cannot be set (unsupported type %s)", v.Type())
	}
	return ""
}

// Set parses value into the setting at path, as the environment and flags
// do. The error is a FieldError naming the path.
func (c *Config) Set(path, value string) error {
	l, ok := byPath[path]
	if !ok {
		return FieldError{Path: path, Msg: "unknown setting"}
	}
	if msg := setValue(reflect.ValueOf(c).Elem().FieldByIndex(l.index), value); msg != "" {
		return FieldError{Path: path, Msg: msg}
	}
	return nil
}

// ApplyEnv applies FIFTHWHEEL_* variables from environ (os.Environ form) and
// records them in src. A variable with an empty value is treated as unset.
// It returns the names of FIFTHWHEEL_* variables that name no setting, for
// the caller to warn about, and Errors for values that do not parse.
func (c *Config) ApplyEnv(environ []string, src Sources) (unknown []string, err error) {
	var errs Errors
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || reserved(name) {
			continue
		}
		l, ok := byEnv[name]
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		if value == "" {
			continue
		}
		if err := c.Set(l.Path, value); err != nil {
			var fe FieldError
			errors.As(err, &fe)
			fe.Source = name
			errs = append(errs, fe)
			continue
		}
		if src != nil {
			src[l.Path] = name
		}
	}
	slices.Sort(unknown)
	if len(errs) > 0 {
		return unknown, errs
	}
	return unknown, nil
}

func reserved(name string) bool {
	for _, p := range envReserved {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Marshal renders c as YAML, with the store URL's password masked.
func (c Config) Marshal() ([]byte, error) {
	return yaml.Marshal(c.Redacted())
}
