//go:build linux

package fluximagetest

import "syscall"

// procAttr asks Linux to SIGTERM the emulator when the test binary dies, even by SIGKILL or a
// test timeout's panic, when no cleanup runs.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
