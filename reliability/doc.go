// Package reliability holds the end-to-end reliability tests listed in RELIABILITY.md:
// ERP faults, crashes of the real binary, hostile input and load. It has no code of its
// own; see its _test.go files.
package reliability
