package kafkac

/*
#include "glue.h"
*/
import "C"

import (
	"sort"
	"sync"
	"time"
	"unsafe"
)

// AdminClient creates and deletes topics (kc_client_t).
type AdminClient struct {
	g       guard
	closeMu sync.Mutex
	c       *C.kc_client_t
}

// NewAdminClient creates a client from conf ("bootstrap.servers" is required).
func NewAdminClient(conf ConfigMap) (*AdminClient, error) {
	if err := conf.checkGoKeys(); err != nil {
		return nil, err
	}
	cconf, err := conf.newConf()
	if err != nil {
		return nil, err
	}
	defer C.kc_conf_free(cconf)
	a := &AdminClient{}
	var eb C.kc_go_errbuf
	if err := newError(C.kc_go_client_new(cconf, &a.c, &eb), &eb); err != nil {
		return nil, err
	}
	return a, nil
}

func durationMs(d time.Duration) C.int32_t {
	if d < 0 {
		return -1
	}
	return C.int32_t(clampMs(int(d / time.Millisecond)))
}

// CreateTopic creates a topic with partitions partitions and replicationFactor
// replicas (-1: the broker's default for either) and topic configs. The topic's own
// error comes back as an Error (ErrTopicAlreadyExists, ErrInvalidReplicationFactor, ...).
func (a *AdminClient) CreateTopic(topic string, partitions, replicationFactor int, configs map[string]string, timeout time.Duration) error {
	if !a.g.enter() {
		return errClosed("admin client")
	}
	defer a.g.exit()
	names := make([]string, 0, len(configs))
	for k := range configs {
		names = append(names, k)
	}
	sort.Strings(names)
	v := C.kc_go_strv_new(C.size_t(2 * len(names)))
	defer C.kc_go_strv_free(v, C.size_t(2*len(names)))
	for i, k := range names {
		C.kc_go_strv_set(v, C.size_t(2*i), C.CString(k))
		C.kc_go_strv_set(v, C.size_t(2*i+1), C.CString(configs[k]))
	}
	cfgs := v
	if len(names) == 0 {
		cfgs = nil
	}
	t := C.CString(topic)
	defer C.free(unsafe.Pointer(t))
	var eb C.kc_go_errbuf
	return newError(C.kc_go_client_create_topic(a.c, t, C.int32_t(partitions), C.int32_t(replicationFactor),
		cfgs, C.size_t(len(names)), durationMs(timeout), &eb), &eb)
}

// DeleteTopic deletes a topic.
func (a *AdminClient) DeleteTopic(topic string, timeout time.Duration) error {
	if !a.g.enter() {
		return errClosed("admin client")
	}
	defer a.g.exit()
	t := C.CString(topic)
	defer C.free(unsafe.Pointer(t))
	var eb C.kc_go_errbuf
	return newError(C.kc_go_client_delete_topic(a.c, t, durationMs(timeout), &eb), &eb)
}

// Close frees the client. Closing again does nothing.
func (a *AdminClient) Close() {
	a.closeMu.Lock()
	defer a.closeMu.Unlock()
	if !a.g.shut() {
		return
	}
	C.kc_client_free(a.c)
	a.c = nil
}
