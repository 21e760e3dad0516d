package config

import (
	"reflect"
	"strings"
)

// Keys returns the top-level JSON keys qinq reads from a network
// configuration. Parse ignores unknown keys (a runtime adds its own), so a
// misspelt key ("svlan") would silently be ignored; tools that check
// configurations written by people (the manifest test) compare against this
// set. It is derived from the decoding structs' tags, so it cannot drift.
func Keys() map[string]bool {
	keys := map[string]bool{}
	for _, v := range []any{rawConfig{}, argsCNI{}} {
		addKeys(reflect.TypeOf(v), keys)
	}
	return keys
}

// addKeys collects the json names of t's fields, descending into embedded
// structs without a tag (types.NetConf) as encoding/json does.
func addKeys(t reflect.Type, keys map[string]bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
		case name == "" && f.Anonymous && f.Type.Kind() == reflect.Struct:
			addKeys(f.Type, keys)
		case name != "":
			keys[name] = true
		case f.IsExported():
			keys[f.Name] = true
		}
	}
}
