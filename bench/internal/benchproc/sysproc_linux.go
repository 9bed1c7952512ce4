package benchproc

import "syscall"

// SysProcAttr puts a child in its own process group, so that a Ctrl-C at the
// terminal reaches only the measurement program, which then stops the children
// in order; and has the kernel kill the child if the program dies without
// cleaning up.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
