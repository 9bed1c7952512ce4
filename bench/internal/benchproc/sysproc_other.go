//go:build !linux

package benchproc

import "syscall"

// SysProcAttr: elsewhere than Linux the children keep the defaults; the
// measurement programs still stop them on exit, on error and on SIGINT/SIGTERM.
func SysProcAttr() *syscall.SysProcAttr { return nil }
