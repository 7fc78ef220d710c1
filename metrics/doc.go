// Package metrics declares stompd's Prometheus metric families (prefix
// stompd_) and registers them on a registry the caller provides; it never
// touches the global default registry.
//
// The package is a leaf: it imports nothing from stompd. It only declares
// families and their label sets. Packages that count resolve the label
// children they need once, when they are constructed, and then update them
// with atomics on the hot path: no map lookup, lock or label resolution per
// frame.
//
// Every label has a small fixed set of values, listed next to its family.
// Destination names, users and session ids are never label values.
//
// A *Set is safe for concurrent use, as are all prometheus collectors.
package metrics
