package kafkac

/*
#include "glue.h"
*/
import "C"

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unsafe"
)

// ConfigValue is a property's value: a string, a bool, an integer or anything
// fmt.Sprint turns into what the property takes.
type ConfigValue interface{}

// ConfigMap holds configuration properties with librdkafka's names
// ("bootstrap.servers", "group.id", "linger.ms", ...). Properties starting with "go."
// configure this package, not the C library (see NewProducer and NewConsumer), as does
// oauthbearer_token_refresh_cb, which takes a Go function.
type ConfigMap map[string]ConfigValue

// SetKey sets a property.
func (m ConfigMap) SetKey(key string, value ConfigValue) { m[key] = value }

// Get returns a property's value, or def when it is not set.
func (m ConfigMap) Get(key string, def ConfigValue) ConfigValue {
	if v, ok := m[key]; ok {
		return v
	}
	return def
}

func valueString(v ConfigValue) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

// goBool reads a "go." property that takes a boolean.
func (m ConfigMap) goBool(key string, def bool) (bool, error) {
	v, ok := m[key]
	if !ok {
		return def, nil
	}
	if b, ok := v.(bool); ok {
		return b, nil
	}
	b, err := strconv.ParseBool(valueString(v))
	if err != nil {
		return def, NewError(ErrLocalInvalidConfig, fmt.Sprintf("invalid value %q for property %s: expected true or false", valueString(v), key), false)
	}
	return b, nil
}

// goInt reads a "go." property that takes a non-negative integer.
func (m ConfigMap) goInt(key string, def int) (int, error) {
	v, ok := m[key]
	if !ok {
		return def, nil
	}
	if n, ok := v.(int); ok && n >= 0 {
		return n, nil
	}
	n, err := strconv.Atoi(valueString(v))
	if err != nil || n < 0 {
		return def, NewError(ErrLocalInvalidConfig, fmt.Sprintf("invalid value %q for property %s: expected an integer >= 0", valueString(v), key), false)
	}
	return n, nil
}

// checkGoKeys fails on a "go." property this package does not know.
func (m ConfigMap) checkGoKeys(known ...string) error {
	for k := range m {
		if !strings.HasPrefix(k, "go.") {
			continue
		}
		found := false
		for _, n := range known {
			found = found || n == k
		}
		if !found {
			return NewError(ErrUnknownConfig, fmt.Sprintf("unknown configuration property %q", k), false)
		}
	}
	return nil
}

// newConf builds a kc_conf_t from the map's properties (not the "go." ones), in name
// order so that the first bad property reported is always the same. The caller frees
// it with kc_conf_free.
func (m ConfigMap) newConf() (*C.kc_conf_t, error) {
	conf := C.kc_conf_new()
	if conf == nil {
		return nil, NewError(ErrPanic, "kc_conf_new failed", false)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if !strings.HasPrefix(k, "go.") && k != oauthCbKey {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		ck := C.CString(k)
		cv := C.CString(valueString(m[k]))
		var eb C.kc_go_errbuf
		code := C.kc_go_conf_set(conf, ck, cv, &eb)
		C.free(unsafe.Pointer(ck))
		C.free(unsafe.Pointer(cv))
		if err := newError(code, &eb); err != nil {
			C.kc_conf_free(conf)
			return nil, err
		}
	}
	return conf, nil
}
