//go:build !linux

package fluximagetest

import "syscall"

// procAttr: elsewhere the emulator is stopped by Close and t.Cleanup only.
func procAttr() *syscall.SysProcAttr { return nil }
