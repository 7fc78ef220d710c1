package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// envPrefix names every setting's environment variable: --access-ttl is
// STOMPD_ACCESS_TTL.
const envPrefix = "STOMPD"

// configFlag is the setting that names the TOML config file.
const configFlag = "config"

// settingsHint tells where every setting, so every config file key, is
// listed.
const settingsHint = "stompd --help lists every setting"

// envName is the environment variable of the setting name.
func envName(name string) string {
	return envPrefix + "_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// settingSources says where parseSettings reads the flags of a flag set
// from besides the command line.
type settingSources struct {
	// shared lists the flags that the environment and the config file may
	// set; nil means all of them. The config file's other keys must be
	// settings of the server (settingNames), left to it; any other key is
	// an error, as the server would refuse the file.
	shared []string
	// hint tells where the flags are listed, for errors about them.
	hint string
	// set, when not nil, records where each setting taken from the
	// environment or the config file came from.
	set setFrom
}

// setFrom records, by flag name, where the settings the user set were
// set, so that an error about one names it as the user wrote it.
type setFrom map[string]source

// has reports whether the user set the setting name, anywhere.
func (sf setFrom) has(name string) bool {
	_, ok := sf[name]
	return ok
}

// source is where a setting was set: its environment variable, else a
// key of the config file, else (both empty) the command line.
type source struct{ env, file string }

// spelled returns err, naming a setting by its flag, with the setting
// named as the user set it: its environment variable, or its key in the
// config file.
func (sf setFrom) spelled(err error) error {
	ve, ok := err.(valueError)
	if !ok {
		return err
	}
	name := strings.TrimPrefix(ve.setting, "--")
	switch src := sf[name]; {
	case src.env != "":
		ve.setting = src.env
	case src.file != "":
		ve.setting = name
		return fmt.Errorf("config file %s: %w", src.file, ve)
	}
	return ve
}

func (src settingSources) reads(name string) bool {
	return src.shared == nil || slices.Contains(src.shared, name)
}

// parseSettings sets the flags from, in order of precedence, the
// command line args, their STOMPD_* environment variables and the keys of
// the TOML file named by the config flag. It returns flag.ErrHelp when
// args ask for help, and otherwise errors of one line that name the
// setting the way the user wrote it.
func parseSettings(flags *flag.FlagSet, args []string, src settingSources) error {
	refused := explainValues(flags)
	out := flags.Output()
	flags.SetOutput(io.Discard)
	flags.Usage = func() {}
	err := flags.Parse(args)
	flags.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return err
	case err != nil && refused.setting != "":
		return usageError{*refused}
	case err != nil:
		return usageError{fmt.Errorf("%w; %s", err, src.hint)}
	case flags.NArg() > 0:
		return usageError{fmt.Errorf("unexpected argument %q; %s", flags.Arg(0), src.hint)}
	}
	set := make(map[string]bool)
	flags.Visit(func(f *flag.Flag) {
		set[f.Name] = true
		if src.set != nil {
			src.set[f.Name] = source{}
		}
	})
	if err := setFromEnv(flags, set, src); err != nil {
		return usageError{err}
	}
	if err := setFromFile(flags, set, src); err != nil {
		return usageError{err}
	}
	return nil
}

// setFromEnv sets each flag that args left unset from its non-empty
// environment variable.
func setFromEnv(flags *flag.FlagSet, set map[string]bool, src settingSources) error {
	var err error
	flags.VisitAll(func(f *flag.Flag) {
		env := envName(f.Name)
		v := os.Getenv(env)
		if err != nil || set[f.Name] || v == "" || !src.reads(f.Name) {
			return
		}
		if serr := flags.Set(f.Name, v); serr != nil {
			err = valueError{setting: env, value: v, hint: serr.Error()}
		}
		set[f.Name] = true
		if src.set != nil {
			src.set[f.Name] = source{env: env}
		}
	})
	return err
}

// setFromFile sets each flag still unset from the config file's top-level
// key of its name. The [[rules]] tables are loadRules's, and skipped here.
func setFromFile(flags *flag.FlagSet, set map[string]bool, src settingSources) error {
	f := flags.Lookup(configFlag)
	if f == nil || f.Value.String() == "" {
		return nil
	}
	file := f.Value.String()
	var doc map[string]any
	if _, err := toml.DecodeFile(file, &doc); err != nil {
		return fileError(configFlag, file, err)
	}
	known := settingNames()
	for _, key := range slices.Sorted(maps.Keys(doc)) {
		v := doc[key]
		switch {
		case key == rulesKey:
			continue
		case !slices.Contains(known, key):
			return fmt.Errorf("config file %s: unknown key %q; %s", file, key, settingsHint)
		case set[key] || !src.reads(key):
			continue
		}
		s, err := tomlScalar(v)
		if err != nil {
			return fmt.Errorf("config file %s: key %q: %w", file, key, err)
		}
		if err := flags.Set(key, s); err != nil {
			return fmt.Errorf("config file %s: %w", file, valueError{setting: key, value: s, hint: err.Error()})
		}
		if src.set != nil {
			src.set[key] = source{file: file}
		}
	}
	return nil
}

// fileError is the error of setting name, which names a file: an error
// of the file system is told by its reason alone, since it repeats the path.
func fileError(name, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("--%s %s: %w", name, path, err)
}

// tomlScalar is a config file value as the text of a flag value; a list of
// strings is joined with commas.
func tomlScalar(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case int64, float64, bool:
		return fmt.Sprint(v), nil
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return "", fmt.Errorf("list element %v is not a string", e)
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("a %T is not a setting value", v)
}

// valueError is a value a setting refused, with how to write it instead.
type valueError struct {
	setting string // as the user wrote it: --access-ttl, STOMPD_ACCESS_TTL or a config file key
	value   string
	hint    string
}

func (e valueError) Error() string {
	head, tail := clip(e.value)
	return fmt.Sprintf("%s %q%s: %s", e.setting, head, tail, e.hint)
}

// maxEchoed bounds the bytes of a value an error quotes back.
const maxEchoed = 64

// clip returns s as an error echoes it: all of it, or, when longer than
// maxEchoed bytes, its start as head and tail saying how long it is, so
// that an error quoting a huge value stays short.
func clip(s string) (head, tail string) {
	if len(s) <= maxEchoed {
		return s, ""
	}
	cut := maxEchoed
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut], fmt.Sprintf("... (%d bytes)", len(s))
}

// explainValues makes every flag of flags explain a value it refuses, by
// what the value should look like. The flag package turns the refusal of a
// command-line value into text, so the last refusal is also kept where
// explainValues returns.
func explainValues(flags *flag.FlagSet) *valueError {
	last := new(valueError)
	flags.VisitAll(func(f *flag.Flag) {
		v := explained{Value: f.Value, name: f.Name, last: last}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			f.Value = explainedBool{v}
			return
		}
		f.Value = v
	})
	return last
}

// explained is a flag value whose refusals say how to write the value.
type explained struct {
	flag.Value
	name string
	last *valueError
}

func (v explained) Set(s string) error {
	if err := v.Value.Set(s); err != nil {
		*v.last = valueError{setting: "--" + v.name, value: s, hint: valueHint(v.Value, s, err)}
		return errors.New(v.last.hint)
	}
	return nil
}

// explainedBool keeps a boolean flag usable without a value.
type explainedBool struct{ explained }

func (explainedBool) IsBoolFlag() bool { return true }

// valueHint says how to write a value of v's type, which s is not.
func valueHint(v flag.Value, s string, err error) string {
	g, ok := v.(flag.Getter)
	if !ok {
		return err.Error()
	}
	switch g.Get().(type) {
	case time.Duration:
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return "a duration needs a unit, such as 15m, 336h or 30s"
		}
		return "not a duration: write a number and a unit, such as 15m, 336h or 30s"
	case int:
		return "not a whole number"
	case bool:
		return "not true or false"
	}
	return err.Error()
}
