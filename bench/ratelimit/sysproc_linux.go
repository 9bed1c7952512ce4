package main

import "syscall"

// sysProcAttr puts a child in its own process group, so that a Ctrl-C at the
// terminal reaches only this program, which then stops the children in order;
// and has the kernel kill the child if this program dies without cleaning up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
