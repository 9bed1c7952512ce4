//go:build !linux

package main

import "syscall"

// sysProcAttr: elsewhere than Linux the children keep the defaults; this
// program still stops them on exit, on error and on SIGINT/SIGTERM.
func sysProcAttr() *syscall.SysProcAttr { return nil }
